#!/usr/bin/env bash
# The gateway's memory: RSS when idle, then with BUILDS live builds at once, each a
# context whose handler awaits a 30-second timer (bench/timer-handler.js).
#   [STORE=postgres] bench/gateway-memory.sh [BUILDS]
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${1:-1000}
source bench/gateway-common.sh
install_tools sqlite3 curl
# Every build may be live at once (on the default 2 lanes).
start_gateway bench/timer-handler.js 7792 --max-builds "$builds" --per-project "$builds"
rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }
running() { sql "select count(*) from builds where status = 'Running'"; }
sleep 2
idle=$(rss)

seq "$builds" | xargs -P 32 -I{} curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
  --data-binary @samples/dockerhub/payload.json "$url"
until [ "$(running)" = "$builds" ]; do sleep 0.5; done
sleep 2 # the last ones reach their timer
live=$(rss)
threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")
until [ "$(pending)" = 0 ]; do sleep 1; done
succeeded=$(sql "select count(*) from builds where status = 'Succeeded'")
echo "# $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB"
echo "gateway memory: idle RSS ${idle} MiB; with ${builds} live builds awaiting a timer ${live} MiB ($(( (live - idle) * 1024 / builds )) KiB per build, ${threads} threads); ${succeeded}/${builds} then succeeded"
