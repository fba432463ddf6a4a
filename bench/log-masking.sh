#!/usr/bin/env bash
# What masking secrets costs a build's log: `brig run` (release) of a script that prints
# LINES ordinary lines, with SECRETS project secrets and with none, the fastest of RUNS each.
#   bench/log-masking.sh [LINES] [SECRETS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-100000}
secrets=${2:-20}
runs=${3:-5}

work=$(mktemp -d /tmp/brig-bench-masking-XXXX)
trap 'rm -rf "$work"' EXIT
swift build -c release --product brig > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
cat > "$work/brigade.js" <<JS
require('brigadier').events.on('exec', () => {
  for (let i = 0; i < $lines; i++) console.log('line ' + i + ' of ordinary output, with nothing secret in it at all');
});
JS
flags=()
for i in $(seq 1 "$secrets"); do flags+=(--secret "S$i=secret-value-number-$i"); done
# Seconds of the fastest of $runs runs of brig run with the given flags.
fastest() {
  for _ in $(seq 1 "$runs"); do
    start=$(date +%s.%N)
    .build/release/brig run -f "$work/brigade.js" -e exec --data "$work/data" "$@" > /dev/null
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}'
  done | sort -n | head -1
}
with=$(fastest "${flags[@]}")
without=$(fastest)
echo "# $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
awk -v w="$with" -v wo="$without" -v n="$lines" -v s="$secrets" 'BEGIN {
  printf "log masking: %d lines, %d secrets: %.2f µs a line with them, %.2f µs without; masking %.2f µs a line\n",
    n, s, w / n * 1e6, wo / n * 1e6, (w - wo) / n * 1e6 }'
