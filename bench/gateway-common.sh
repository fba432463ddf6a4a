# Shared by the gateway benchmarks (sourced, not run): installs the tools named, builds
# the release binary, and starts `brig gateway` on loopback with one insecure project
# "bench" whose script is the handler given, run on the simulate runner.
#   start_gateway HANDLER.js PORT [GATEWAY OPTIONS...]   sets root, pid and url
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
  mkdir -p "$root/projects"
  cp "$handler" "$root/projects/handler.js"
  printf 'name: bench\ndefaultScriptFile: handler.js\ninsecure: true\ngateways: [container-registry]\nrunner: simulate\n' \
    > "$root/projects/bench.yaml"
  .build/release/brig gateway --projects "$root/projects" --data "$root/data" --host 127.0.0.1 --port "$port" "$@" \
    >"$root/gateway.out" 2>"$root/gateway.log" &
  pid=$!
  # KEEP=1 keeps the data and logs for a look afterwards.
  trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
  until grep -q listening "$root/gateway.out" 2>/dev/null; do sleep 0.1; done
  url="http://127.0.0.1:$port/events/webhook/bench"
}

# Builds not yet ended.
pending() { sqlite3 "$root/data/brigantine.sqlite" "select count(*) from builds where status in ('Pending','Running')"; }
