#!/usr/bin/env bash
# Prints the --build-arg flags that give the project image its own OCI labels
# (docker/Dockerfile, runtime stage), one per line, derived from this checkout:
#   ECC_CACHE_VERSION   package.json "version"
#   ECC_CACHE_LICENSES  package.json "license" (an SPDX expression)
#   ECC_CACHE_REVISION  `git rev-parse HEAD`; "unknown" outside a git checkout
#   ECC_CACHE_SOURCE    the repository's URL: $ECC_CACHE_SOURCE_URL if set, else the `origin`
#                       remote as a web URL (git@host:path and ssh:// forms as https, any
#                       user:password@ removed so no credential lands in an image), else
#                       package.json "repository", else "unknown" (with a warning on stderr)
# Without them the image would show its base image's labels (title ecc-cache-base).
#
# Usage (from anywhere; scripts/ci_docker.sh does this):
#   docker build $(bash docker/build_args.sh) -f docker/Dockerfile ...
# No value contains white space (checked), so the unquoted $(...) splits into flag and value.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
die() { echo "build_args: error: $*" >&2; exit 1; }

package_field() {
  node -e '
    const pkg = require(process.argv[1]);
    const value = process.argv[2] === "repository" && typeof pkg.repository === "object" ? pkg.repository.url : pkg[process.argv[2]];
    process.stdout.write(typeof value === "string" ? value : "");
  ' "$repo/package.json" "$1"
}

# A web URL for a git remote (ssh forms become https), or nothing for a local path.
https_url() {
  local url="$1" authority rest scheme=https
  [[ "$url" != http://* ]] || scheme=http
  case "$url" in
    git@*:*) authority="${url#git@}"; authority="${authority%%:*}"; rest="${url#*:}" ;;
    ssh://* | git+ssh://* | https://* | http://* | git+https://*)
      rest="${url#*://}"; authority="${rest%%/*}"; rest="${rest#*/}"
      authority="${authority##*@}"                                  # user[:password]@
      [[ "$url" == *ssh://* ]] && authority="${authority%%:*}"      # ssh port
      ;;
    *) return 0 ;;
  esac
  rest="${rest%.git}"
  echo "$scheme://$authority/${rest#/}"
}

version="$(package_field version)"
licenses="$(package_field license)"
[[ -n "$version" ]] || die "package.json has no version"
[[ -n "$licenses" ]] || die "package.json has no license"

revision=unknown
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  revision="$(git -C "$repo" rev-parse HEAD)"
fi

source="${ECC_CACHE_SOURCE_URL:-}"
if [[ -z "$source" ]]; then
  source="$(https_url "$(git -C "$repo" remote get-url origin 2>/dev/null || true)")"
fi
if [[ -z "$source" ]]; then
  source="$(https_url "$(package_field repository)")"
fi
if [[ -z "$source" ]]; then
  echo "build_args: warning: no origin remote and no repository in package.json; org.opencontainers.image.source=unknown (set ECC_CACHE_SOURCE_URL)" >&2
  source=unknown
fi

for pair in "ECC_CACHE_VERSION=$version" "ECC_CACHE_LICENSES=$licenses" "ECC_CACHE_REVISION=$revision" "ECC_CACHE_SOURCE=$source"; do
  [[ "$pair" != *[[:space:]]* ]] || die "build arg '$pair' contains white space"
  echo "--build-arg $pair"
done
