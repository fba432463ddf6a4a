#!/usr/bin/env bash
# The gateway kept at saturation: wrk posts webhooks flat out for SECONDS, then the
# backlog runs for up to DRAIN seconds. Reports whether the gateway survived, how many
# builds ended, and the gateway's resident memory idle and at the end.
# Installs wrk and sqlite3 if missing.
#   [STORE=postgres] bench/gateway-soak.sh [SECONDS] [DRAIN]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
drain=${2:-120}
source bench/gateway-common.sh
install_tools wrk sqlite3
start_gateway bench/gateway-handler.js 7793
rss() { awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/$pid/status"; }
idle=$(rss)
rate=$(wrk -t2 -c32 -d"${seconds}s" -s bench/post-payload.lua "$url" | awk '/Requests\/sec/ {print $2}')
state=alive
for _ in $(seq 1 "$drain"); do
  kill -0 "$pid" 2>/dev/null || { state=died; break; }
  [ "$(pending)" = 0 ] && break
  sleep 1
done
kill -0 "$pid" 2>/dev/null || state=died
after=$([ "$state" = alive ] && { sleep 2; rss; } || echo "?")
counts=$(sql "select status, count(*) from builds group by status order by status" | tr '|' ' ' | paste -sd, | sed 's/,/, /g')
echo "# $(date -u +%Y-%m-%d), $(nproc) cores; wrk -t2 -c32 for ${seconds}s, then up to ${drain}s of backlog"
echo "soak: ${rate} webhooks/s acknowledged; gateway ${state}; builds: ${counts}; RSS ${idle} MiB idle, ${after} MiB at the end"
if [ "$state" = died ]; then tail -40 "$root/gateway.log" >&2; exit 1; fi
