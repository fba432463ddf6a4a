#!/usr/bin/env bash
# The gateway under load, on loopback: acknowledged (durable) webhooks per second at
# saturation (wrk), ack latency at 500 requests/s (steady Poisson arrivals from
# `brig-bench --paced`, and hey's bursts), time from ack to build done, and the gateway's
# CPU time and peak RSS. Installs wrk, hey and sqlite3 if missing.
#   [STORE=postgres] bench/gateway-load.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
source bench/gateway-common.sh
install_tools wrk hey sqlite3
start_gateway bench/gateway-handler.js 7791
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
# Milliseconds from acknowledgement to build done, p50 and p99, for builds created since $1.
done_times() {
  sql "select (finished_at - created_at) * 1000 from builds where created_at >= $1 order by 1" |
    awk '{v[NR]=$1} END {printf "%.0f %.0f\n", v[int(NR*0.5)+1], v[int(NR*0.99)+1]}'
}

# 0. The disk under the store, idle: every acknowledgement waits for a synced commit, so
#    its tail can be no shorter than this disk's fdatasync tail (SQLite only: PostgreSQL's
#    data is elsewhere).
[ -n "${pgdir:-}" ] || .build/release/brig-bench --disk-sync "$root/data" --seconds "$seconds" > "$root/disk-sync.txt"

# 1. Saturation: as many webhooks as the gateway will acknowledge.
cpu0=$(cpu)
wrk -t2 -c32 -d"${seconds}s" -s bench/post-payload.lua "$url" > "$root/wrk.txt"
cpu1=$(cpu)
rate=$(awk '/Requests\/sec/ {print $2}' "$root/wrk.txt")
errors=$(awk '/Non-2xx/ {print $5}' "$root/wrk.txt"); errors=${errors:-0}
until [ "$(pending)" = 0 ]; do sleep 0.5; done
# How fast the lanes ran that backlog: builds finished per second of running.
ran=$(sql "select cast(count(*) / (max(finished_at) - min(started_at)) as integer) from builds")

# 2. A steady 500 requests/s, Poisson arrivals (brig-bench --paced): acknowledgement latency,
#    then the time from ack to build done once the lanes have run the queue that builds up.
paced() { .build/release/brig-bench --paced "$url" --body samples/dockerhub/payload.json --rate "$1" --seconds "$seconds" --latencies "$root/paced-$1.latencies"; }
since=$(date +%s.%N)
paced 500 > "$root/paced-500.txt"
read -r p50 p99 < <(awk '{for (i = 1; i < NF; i++) {if ($i == "p50") a = $(i + 1); if ($i == "p99") b = $(i + 1)}} END {print a, b}' "$root/paced-500.txt")
until [ "$(pending)" = 0 ]; do sleep 0.5; done
read -r queued50 queued99 < <(done_times "$since")

# 3. The same rate from hey (20 workers at 25/s each): its workers' tickers start together,
#    so requests come in bursts of 20 every 40 ms. Reported beside the steady figure.
hey -z "${seconds}s" -q 25 -c 20 -m POST -T application/json -D samples/dockerhub/payload.json "$url" > "$root/hey.txt"
burst50=$(awk '/ 50% in/ {print $3 * 1000}' "$root/hey.txt")
burst99=$(awk '/ 99% in/ {print $3 * 1000}' "$root/hey.txt")
until [ "$(pending)" = 0 ]; do sleep 0.5; done

# 4. A rate the lanes keep up with (100/s, steady): acknowledgement to build done without a queue.
since=$(date +%s.%N)
paced 100 > "$root/paced-100.txt"
until [ "$(pending)" = 0 ]; do sleep 0.5; done
read -r done50 done99 < <(done_times "$since")
failed=$(sql "select count(*) from builds where status = 'Failed'")
rss=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
cpus=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$ticks" -v s="$seconds" 'BEGIN {printf "%.2f", (b - a) / t / s}')

echo "# $(date -u +%Y-%m-%d), $(nproc) cores, store ${STORE:-sqlite}; wrk -t2 -c32, then 500/s steady, 500/s in bursts (hey), 100/s steady, ${seconds}s each"
disk=""
if [ -s "$root/disk-sync.txt" ]; then
  disk=$(awk '{for (i = 1; i < NF; i++) {if ($i == "p99") p = $(i + 1); if ($i == "max") m = $(i + 1); if ($i == "over") n = $(i - 1)}}
              END {printf "; disk idle before: fdatasync p99 %s ms, max %s ms, %s over 10 ms", p, m, n}' "$root/disk-sync.txt")
fi
echo "gateway: ${rate} acknowledged webhooks/s at saturation (${errors} non-2xx, ${cpus} CPUs busy), backlog run at ${ran} builds/s; ack latency at 500/s p50 ${p50} ms p99 ${p99} ms (bursts of 20: p50 ${burst50} ms p99 ${burst99} ms); ack to build done at 100/s p50 ${done50} ms p99 ${done99} ms (at 500/s, queued: p50 ${queued50} ms p99 ${queued99} ms); ${failed} builds failed; peak RSS ${rss} MiB${disk}"
