#!/bin/sh
# The image's entrypoint: runs the CLI the way src/cli/supervisor.ts starts node processes on
# a host — with the node flags of NODE_PROCESS_ARGS (src/core/limits.ts) and, when the image
# carries libjemalloc (docker/base/build_base_image.sh copies the host's), on jemalloc with
# the settings of JEMALLOC_CONF (src/core/allocator.ts, which says why). As there,
# ECC_CACHE_ALLOCATOR=system, or an LD_PRELOAD / MALLOC_CONF of the caller's, keeps the
# system allocator. A unit test keeps the flags and settings here equal to the code's.
if [ "${ECC_CACHE_ALLOCATOR:-auto}" != "system" ] && [ -z "${LD_PRELOAD:-}" ] && [ -z "${MALLOC_CONF:-}" ]; then
  for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2; do
    if [ -e "$lib" ]; then
      export LD_PRELOAD="$lib"
      export MALLOC_CONF="background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0,tcache:false,narenas:1"
      break
    fi
  done
fi
# The bench service of docker/compose.bench.yml names the node containers it samples by
# Compose service (ECC_CACHE_COMPOSE_CONTAINERS="node0=ecc0,..."), since Compose v1 and v2
# name containers differently; their IDs are looked up here and handed to the bench.
if [ "${1:-}" = bench ] && [ -n "${ECC_CACHE_COMPOSE_CONTAINERS:-}" ]; then
  containers="$(node /app/docker/compose_containers.js "$ECC_CACHE_COMPOSE_CONTAINERS")" || exit $?
  set -- "$@" --containers "$containers"
fi
exec node --max-semi-space-size=1 --no-sparkplug --optimize-for-size /app/dist/src/cli/main.js "$@"
