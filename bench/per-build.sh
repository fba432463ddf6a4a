#!/usr/bin/env bash
# Per-build cost of the script host against Brigade's model (a Node process per build).
# Run from anywhere; builds a release binary first. Not part of the tests.
#   bench/per-build.sh [BUILDS] [PROCESSES]
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${1:-500}
processes=${2:-40}

swift build -c release >/dev/null
echo "# $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); node $(node --version)"
.build/release/brig-bench --builds "$builds"
node bench/node/time-processes.js "Node process per build (Brigade's model)" "$processes" \
  node bench/node/brigade-worker.js bench/brigade.js samples/dockerhub/payload.json
node bench/node/time-processes.js "brig process per build (brig run --runner simulate)" "$processes" \
  .build/release/brig run --runner simulate -l none -f bench/brigade.js -e image_push -p samples/dockerhub/payload.json
