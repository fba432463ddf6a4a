# Shared by the gateway benchmarks (sourced, not run): installs the tools named, builds
# the release binary, and starts `brig gateway` on loopback with one insecure project
# "bench" whose script is the handler given, run on the simulate runner.
#   start_gateway HANDLER.js PORT [GATEWAY OPTIONS...]   sets root, pid and url
# With STORE=postgres the gateway's store is PostgreSQL instead of SQLite: a throwaway
# cluster of Debian's `postgresql` (installed if missing) on a unix socket, with the
# server's default durability (fsync and synchronous commits on), removed afterwards.
# PROJECT_SETTINGS adds lines to the project's YAML (e.g. 'maxConcurrentBuilds: 100').
install_tools() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tool" >/dev/null
  done
}

start_gateway() {
  local handler=$1 port=$2
  shift 2
  swift build -c release --product brig >/dev/null 2>&1
  swift build -c release --product brig-bench >/dev/null 2>&1
  root=$(mktemp -d /tmp/brig-bench-XXXX)
  local store=()
  if [ "${STORE:-sqlite}" = postgres ]; then
    start_postgres
    store=(--store "postgres://postgres@/brigantine?host=$pgdir")
  fi
  mkdir -p "$root/projects"
  cp "$handler" "$root/projects/handler.js"
  printf 'name: bench\ndefaultScriptFile: handler.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n%s\n' \
    "${PROJECT_SETTINGS:-}" > "$root/projects/bench.yaml"
  # No queue cap: a saturation run of 30 s or more queues over the default 100,000 builds,
  # and the benchmark measures what the gateway acknowledges, not what it refuses.
  .build/release/brig gateway --projects "$root/projects" --data "$root/data" --host 127.0.0.1 --port "$port" \
    --max-queued-builds 0 "${store[@]}" "$@" >"$root/gateway.out" 2>"$root/gateway.log" &
  pid=$!
  # KEEP=1 keeps the data and logs for a look afterwards. The gateway's exit and the removal
  # of its files (a few hundred MB) are over before the script ends, so they do not land
  # in the middle of a run started right after, and the port is free again for it.
  trap 'kill $pid 2>/dev/null && { wait $pid 2>/dev/null || true; }; stop_postgres; [ -n "${KEEP:-}" ] || { rm -rf "$root"; sync; }' EXIT
  until grep -q listening "$root/gateway.out" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "the gateway did not start:" >&2; cat "$root/gateway.log" >&2; exit 1; }
    sleep 0.1
  done
  url="http://127.0.0.1:$port/events/webhook/bench"
}

# initdb and postgres refuse to run as root: then they run as the postgres user.
as_postgres() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }

start_postgres() {
  [ -x "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/postgres" ] ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  # Not under $root: the postgres user must own it (initdb refuses to run as root).
  pgdir=$(mktemp -d /tmp/brig-bench-pg-XXXX)
  chown postgres: "$pgdir"
  as_postgres "$bin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  as_postgres "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
    -o "-c listen_addresses='' -k $pgdir -c max_connections=100" start >/dev/null
  as_postgres "$bin/createdb" -h "$pgdir" -U postgres brigantine
  pgbin=$bin
}

stop_postgres() {
  [ -n "${pgdir:-}" ] || return 0
  as_postgres "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$pgdir"
}

# One SQL query on the gateway's store, rows as plain text (the queries here are written
# in the SQL both databases take).
sql() {
  if [ -n "${pgdir:-}" ]; then
    psql -qAtX -h "$pgdir" -U postgres -d brigantine -c "$1"
  else
    sqlite3 "$root/data/brigantine.sqlite" "$1"
  fi
}

# Builds not yet ended.
pending() { sql "select count(*) from builds where status in ('Pending','Running')"; }
