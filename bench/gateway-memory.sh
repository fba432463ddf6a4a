#!/usr/bin/env bash
# The gateway's memory: RSS when idle, then with BUILDS live builds at once, each a
# context whose handler awaits a 30-second timer (bench/timer-handler.js).
#   bench/gateway-memory.sh [BUILDS]
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${1:-1000}
command -v sqlite3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q sqlite3 >/dev/null
swift build -c release --product brig >/dev/null 2>&1
root=$(mktemp -d /tmp/gwmem-XXXX)
port=7792
mkdir -p "$root/projects"
cp bench/timer-handler.js "$root/projects/handler.js"
printf 'name: bench\ndefaultScriptFile: handler.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n' > "$root/projects/bench.yaml"
# Every build may run at once: one lane each.
.build/release/brig gateway --projects "$root/projects" --data "$root/data" --host 127.0.0.1 --port $port \
  --lanes "$builds" --per-project "$builds" >"$root/gateway.out" 2>"$root/gateway.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$root"' EXIT
until grep -q listening "$root/gateway.out" 2>/dev/null; do sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }
running() { sqlite3 "$root/data/brigantine.sqlite" "select count(*) from builds where status = 'Running'"; }
sleep 2
idle=$(rss)

url="http://127.0.0.1:$port/events/webhook/bench"
seq "$builds" | xargs -P 32 -I{} curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
  --data-binary @samples/dockerhub/payload.json "$url"
until [ "$(running)" = "$builds" ]; do sleep 0.5; done
sleep 2 # the last ones reach their timer
live=$(rss)
threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")
until [ "$(sqlite3 "$root/data/brigantine.sqlite" "select count(*) from builds where status in ('Pending','Running')")" = 0 ]; do sleep 1; done
succeeded=$(sqlite3 "$root/data/brigantine.sqlite" "select count(*) from builds where status = 'Succeeded'")
echo "# $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB"
echo "gateway memory: idle RSS ${idle} MiB; with ${builds} live builds awaiting a timer ${live} MiB ($(( (live - idle) * 1024 / builds )) KiB per build, ${threads} threads); ${succeeded}/${builds} then succeeded"
