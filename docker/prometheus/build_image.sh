#!/usr/bin/env bash
# Builds the Prometheus image of the bench stack (default tag ecc-cache-prometheus:dev) from
# Debian's `prometheus` package on this host, without any image registry (none is reachable
# on the project's machines, so `FROM prom/prometheus` cannot be pulled).
#
# The image is a minimal root filesystem built FROM scratch:
#   - /bin/prometheus and /bin/promtool (the host's, from the Debian package; Go binaries
#     linked against glibc only) and the libraries `ldd` lists, at the paths it prints;
#   - a static busybox (Debian busybox-static) for the healthcheck (sh, nc, head, grep; not
#     wget, which dies with SIGSEGV in Debian's static build);
#   - /etc/passwd with `nobody` (the user Prometheus runs as), /etc/nsswitch.conf ("hosts:
#     files dns": glibc >= 2.34 has both built in), the data directory /prometheus;
#   - docker/prometheus/prometheus.yml as the default config (the compose file mounts the
#     same file, so an edit needs no rebuild).
#
# Usage: docker/prometheus/build_image.sh [--force] [--tag TAG]
# Idempotent: an existing image is kept unless --force; the staging dir is always removed.
set -euo pipefail
cd "$(dirname "$0")"

force=0
tag="ecc-cache-prometheus:dev"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) force=1 ;;
    --tag) tag="${2:?--tag needs an image name}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "build_prometheus_image: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "build_prometheus_image: $*"; }
die() { echo "build_prometheus_image: error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "no docker client on PATH"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd first, e.g. scripts/ci_docker.sh)"
if [[ $force -eq 0 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag exists (use --force to rebuild)"
  exit 0
fi
prometheus_bin=$(command -v prometheus || true)
promtool_bin=$(command -v promtool || true)
[[ -n "$prometheus_bin" && -n "$promtool_bin" ]] || die "no prometheus/promtool on PATH (apt-get install --no-install-recommends prometheus)"
busybox_bin=""
for candidate in /bin/busybox /usr/bin/busybox; do
  if [[ -x "$candidate" ]] && ! ldd "$candidate" >/dev/null 2>&1; then busybox_bin="$candidate"; break; fi
done
[[ -n "$busybox_bin" ]] || die "no static busybox found (apt-get install busybox-static)"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rootfs="$stage/rootfs"
mkdir -p "$rootfs"/{bin,etc/prometheus,tmp} "$stage/data"
chmod 1777 "$rootfs/tmp"
install -m 0755 "$prometheus_bin" "$rootfs/bin/prometheus"
install -m 0755 "$promtool_bin" "$rootfs/bin/promtool"
install -m 0755 "$busybox_bin" "$rootfs/bin/busybox"
for applet in sh nc head grep; do ln -s busybox "$rootfs/bin/$applet"; done
for lib in $( { ldd "$prometheus_bin"; ldd "$promtool_bin"; } | grep -o "/[^ ]*" | sort -u); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
cp prometheus.yml "$rootfs/etc/prometheus/prometheus.yml"
version=$("$prometheus_bin" --version 2>&1 | head -1 | awk '{print $3}')

cat > "$stage/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
COPY --chown=65534:65534 data/ /prometheus/
USER nobody
EXPOSE 9090
WORKDIR /prometheus
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \\
  CMD ["/bin/sh", "-c", "printf 'GET /-/ready HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 2 127.0.0.1 9090 | head -n 1 | grep -q ' 200 '"]
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090"]
LABEL org.opencontainers.image.title="ecc-cache-prometheus" \\
      org.opencontainers.image.description="Prometheus ${version} from Debian's package, for the ecc-cache bench stack" \\
      org.opencontainers.image.version="${version}"
DOCKERFILE
log "building $tag (prometheus $version from $prometheus_bin)"
docker build -q -t "$tag" "$stage" >/dev/null
log "built $tag: $(docker image inspect -f '{{.Size}}' "$tag") bytes"
