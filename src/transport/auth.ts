// The gRPC side of client auth (src/core/auth_token.ts): a server interceptor that checks
// `authorization: Bearer <token>` on every call before any handler sees it, and a client
// interceptor that sends it. Every RPC of a node's server is covered: the client data path,
// ecc's node-to-node operations (they share the EccNode service), the view control plane and
// the Raft peer service. Peers authenticate with the same token: each node sends the token
// it holds, so a process without it cannot forge a view change or a Raft message either.
//
// A refused call ends with UNAUTHENTICATED before its first message is read, so it changed
// nothing; clients map the status to UnauthenticatedError (status.ts).
import {
  InterceptingCall,
  Interceptor,
  Metadata,
  ServerInterceptingCall,
  ServerInterceptor,
  status as GrpcStatus,
} from "@grpc/grpc-js";
import { AuthToken, BEARER, bearerProblem } from "../core/auth_token";

export const AUTH_METADATA_KEY = "authorization";

export const UNAUTHENTICATED_DETAILS = {
  missing: "authentication required: this node needs the cluster's token (--auth-token or --auth-token-file) and none was sent",
  wrong: "authentication failed: the token sent is not the cluster's token",
} as const;

/** Server options' interceptors: none without a token, else the check. */
export function authServerInterceptors(token: AuthToken | null): ServerInterceptor[] {
  if (token === null) return [];
  return [
    (_method, call) =>
      new ServerInterceptingCall(call, {
        start: (next) => {
          next({
            onReceiveMetadata: (metadata, nextMetadata) => {
              const problem = bearerProblem(token, metadata.get(AUTH_METADATA_KEY)[0]);
              if (problem === null) nextMetadata(metadata);
              else call.sendStatus({ code: GrpcStatus.UNAUTHENTICATED, details: UNAUTHENTICATED_DETAILS[problem], metadata: new Metadata() });
            },
          });
        },
      }),
  ];
}

/** Client options' interceptors: none without a token, else one that sends the current token on every call. */
export function authClientInterceptors(token: AuthToken | null): Interceptor[] {
  if (token === null) return [];
  return [
    (options, nextCall) =>
      new InterceptingCall(nextCall(options), {
        start: (metadata, listener, next) => {
          metadata.set(AUTH_METADATA_KEY, BEARER + token.current);
          next(metadata, listener);
        },
      }),
  ];
}
