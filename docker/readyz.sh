#!/bin/sh
# ecc-cache-readyz PORT: exits 0 when the node's HTTP admin port on 127.0.0.1:PORT answers
# GET /readyz with 200 (the node serves), non-zero otherwise (refused, no answer within 2 s,
# 503 not ready). The compose files' healthchecks and the image's HEALTHCHECK run it.
# busybox nc, not wget: Debian's static busybox wget dies with SIGSEGV (exit 139) on every
# request here, even to an IP literal. HTTP/1.0, so the node closes the connection after
# its answer and nc returns at once.
port="${1:?usage: ecc-cache-readyz PORT}"
printf 'GET /readyz HTTP/1.0\r\n\r\n' | nc -w 2 127.0.0.1 "$port" 2>/dev/null | head -n 1 | grep -q '^HTTP/1\.[01] 200 '
