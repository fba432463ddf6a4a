#!/usr/bin/env bash
# Container runner overhead per job against the engine's own CLI (`docker run --rm`),
# on a private dockerd with a busybox image imported from Debian's busybox-static.
# Needs root, docker.io, busybox-static and the docker CLI. Not part of the tests.
#   bench/container-overhead.sh [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-20}
root=$(mktemp -d /tmp/bco-XXXX)
trap 'kill $(cat "$root/pid" 2>/dev/null) 2>/dev/null || true; sleep 1; rm -rf "$root"' EXIT

swift build -c release --product brig-bench >/dev/null
dockerd --host "unix://$root/d.sock" --data-root "$root/data" --exec-root "$root/x" --pidfile "$root/pid" \
  --iptables=false --ip6tables=false --bridge=none >"$root/dockerd.log" 2>&1 &
until curl -s --unix-socket "$root/d.sock" http://engine/_ping >/dev/null 2>&1; do sleep 0.1; done
mkdir -p "$root/rootfs/bin" "$root/rootfs/etc" "$root/rootfs/tmp" "$root/rootfs/proc" "$root/rootfs/sys" "$root/rootfs/dev"
cp /bin/busybox "$root/rootfs/bin/busybox"
for applet in sh true echo; do ln -s busybox "$root/rootfs/bin/$applet"; done
tar -C "$root/rootfs" -c . | curl -s --unix-socket "$root/d.sock" -X POST -H 'Content-Type: application/x-tar' \
  --data-binary @- "http://engine/v1.41/images/create?fromSrc=-&repo=localhost/busybox&tag=test" >/dev/null

echo "# $(date -u +%Y-%m-%d), $(nproc) cores; dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,), docker CLI $(docker --version | cut -d' ' -f3 | tr -d ,)"
.build/release/brig-bench --container "$root/d.sock" --jobs "$jobs"
