#!/usr/bin/env bash
# The gateway under load, on loopback: acknowledged (durable) webhooks per second at
# saturation (wrk), ack latency at a fixed 500 requests/s (hey), time from ack to build
# done, and the gateway's CPU time and peak RSS. Installs wrk, hey and sqlite3 if missing.
#   bench/gateway-load.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
for tool in wrk hey sqlite3; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tool" >/dev/null
done
swift build -c release --product brig >/dev/null 2>&1
root=$(mktemp -d /tmp/gwload-XXXX)
port=7791
mkdir -p "$root/projects"
cp bench/gateway-handler.js "$root/projects/handler.js"
printf 'name: bench\ndefaultScriptFile: handler.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n' > "$root/projects/bench.yaml"
.build/release/brig gateway --projects "$root/projects" --data "$root/data" --host 127.0.0.1 --port $port --lanes 2 \
  >"$root/gateway.out" 2>"$root/gateway.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
until grep -q listening "$root/gateway.out" 2>/dev/null; do sleep 0.1; done
url="http://127.0.0.1:$port/events/webhook/bench"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
pending() { sqlite3 "$root/data/brigantine.sqlite" "select count(*) from builds where status in ('Pending','Running')"; }
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
