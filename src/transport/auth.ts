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

export const TOKEN_ROTATED_DETAILS = "the cluster's token changed: this call was admitted under the old one; reconnect";

/**
 * Server options' interceptors: none without a token, else the check. The token is checked
 * when a call starts, and the data path's calls are long-lived streams; so when the token
 * changes (a reload on SIGHUP), every call admitted under the old one is ended, with
 * UNAVAILABLE: a client that holds the new token (the node's peers, which share the
 * process's live token) reconnects and is let in, one that holds the old one is refused
 * when it reconnects. Creates one listener on `token` per call of this function (one per
 * server).
 */
export function authServerInterceptors(token: AuthToken | null): ServerInterceptor[] {
  if (token === null) return [];
  /** Calls admitted and not finished; bounded by the server's own stream limits. */
  const admitted = new Set<ServerInterceptingCall>();
  token.onChange(() => {
    const calls = [...admitted];
    admitted.clear();
    for (const call of calls) call.sendStatus({ code: GrpcStatus.UNAVAILABLE, details: TOKEN_ROTATED_DETAILS, metadata: new Metadata() });
  });
  return [
    (_method, call) => {
      const intercepting: ServerInterceptingCall = new ServerInterceptingCall(call, {
        start: (next) => {
          next({
            onReceiveMetadata: (metadata, nextMetadata) => {
              const problem = bearerProblem(token, metadata.get(AUTH_METADATA_KEY)[0]);
              if (problem !== null) {
                call.sendStatus({ code: GrpcStatus.UNAUTHENTICATED, details: UNAUTHENTICATED_DETAILS[problem], metadata: new Metadata() });
                return;
              }
              admitted.add(intercepting);
              nextMetadata(metadata);
            },
            onCancel: () => admitted.delete(intercepting),
          });
        },
        sendStatus: (status, nextStatus) => {
          admitted.delete(intercepting);
          nextStatus(status);
        },
      });
      return intercepting;
    },
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
