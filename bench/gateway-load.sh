#!/usr/bin/env bash
# The gateway under load, on loopback: acknowledged (durable) webhooks per second at
# saturation (wrk), ack latency at a fixed 500 requests/s (hey), time from ack to build
# done, and the gateway's CPU time and peak RSS. Installs wrk, hey and sqlite3 if missing.
#   bench/gateway-load.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
source bench/gateway-common.sh
install_tools wrk hey sqlite3
start_gateway bench/gateway-handler.js 7791 --lanes 2
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
# Milliseconds from acknowledgement to build done, p50 and p99, for builds created since $1.
done_times() {
  sqlite3 "$root/data/brigantine.sqlite" \
    "select (finished_at - created_at) * 1000 from builds where created_at >= $1 order by 1" |
    awk '{v[NR]=$1} END {printf "%.0f %.0f\n", v[int(NR*0.5)+1], v[int(NR*0.99)+1]}'
}

# 1. Saturation: as many webhooks as the gateway will acknowledge.
cpu0=$(cpu)
wrk -t2 -c32 -d"${seconds}s" -s bench/post-payload.lua "$url" > "$root/wrk.txt"
cpu1=$(cpu)
rate=$(awk '/Requests\/sec/ {print $2}' "$root/wrk.txt")
errors=$(awk '/Non-2xx/ {print $5}' "$root/wrk.txt"); errors=${errors:-0}
until [ "$(pending)" = 0 ]; do sleep 0.5; done
# How fast the lanes ran that backlog: builds finished per second of running.
ran=$(sqlite3 "$root/data/brigantine.sqlite" "select printf('%.0f', count(*) / (max(finished_at) - min(started_at))) from builds")

# 2. A fixed 500 requests/s (20 workers at 25/s each): acknowledgement latency.
since=$(date +%s.%N)
hey -z "${seconds}s" -q 25 -c 20 -m POST -T application/json -D samples/dockerhub/payload.json "$url" > "$root/hey.txt"
p50=$(awk '/ 50% in/ {print $3 * 1000}' "$root/hey.txt")
p99=$(awk '/ 99% in/ {print $3 * 1000}' "$root/hey.txt")
until [ "$(pending)" = 0 ]; do sleep 0.5; done
read -r queued50 queued99 < <(done_times "$since")

# 3. A rate the lanes keep up with (100/s): acknowledgement to build done without a queue.
since=$(date +%s.%N)
hey -z "${seconds}s" -q 5 -c 20 -m POST -T application/json -D samples/dockerhub/payload.json "$url" > "$root/hey-100.txt"
until [ "$(pending)" = 0 ]; do sleep 0.5; done
read -r done50 done99 < <(done_times "$since")
failed=$(sqlite3 "$root/data/brigantine.sqlite" "select count(*) from builds where status = 'Failed'")
rss=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
cpus=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$ticks" -v s="$seconds" 'BEGIN {printf "%.2f", (b - a) / t / s}')

echo "# $(date -u +%Y-%m-%d), $(nproc) cores; wrk -t2 -c32, then hey -c20 at 500/s and 100/s, ${seconds}s each"
echo "gateway: ${rate} acknowledged webhooks/s at saturation (${errors} non-2xx, ${cpus} CPUs busy), backlog run at ${ran} builds/s; ack latency at 500/s p50 ${p50} ms p99 ${p99} ms; ack to build done at 100/s p50 ${done50} ms p99 ${done99} ms (at 500/s, queued: p50 ${queued50} ms p99 ${queued99} ms); ${failed} builds failed; peak RSS ${rss} MiB"
