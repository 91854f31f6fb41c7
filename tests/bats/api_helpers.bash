# Helpers of the dockerd suites: a daemon per test under a mktemp -d root,
# on its own unix socket, pidfile and roots.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

DK_BIN=${DK_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/bin}

# start_dockerd [extra dockerd args...]: sets T, SOCK, DOCKER_HOST, DPID, NS.
# The daemon runs in a network namespace of its own with a bridge of a
# unique name, so its bridge and iptables rules never touch the host's.
# DK_HOSTNET=1: in the host's namespace with --bridge none (to reach a
# registry on the host's loopback).  An existing $T (seed_images) is reused.
# DK_OWN_BRIDGE=1: in its netns without -b (the daemon makes docker0).
start_dockerd() {
  [ -n "${T:-}" ] && [ -d "$T" ] || T=$(mktemp -d)
  SOCK=$T/d.sock
  local sfx netargs=() prefix=()
  sfx=$(head -c 64 /dev/urandom | tr -dc 'a-z0-9' | head -c 6)
  if [ "${DK_HOSTNET:-0}" = 1 ]; then
    NS=
    netargs=(--bridge none)
  else
    NS=dkd-$sfx
    BRIDGE=dkb$sfx
    ip netns add "$NS"
    ip netns exec "$NS" ip link set lo up
    # -b names an existing bridge (Docker's meaning): made here, in the netns
    ip -n "$NS" link add "$BRIDGE" type bridge
    ip -n "$NS" addr add 10.231.0.1/24 dev "$BRIDGE"
    ip -n "$NS" link set "$BRIDGE" up
    # nsenter, not `ip netns exec`: that one remounts /sys and hides the cgroup mounts
    prefix=(nsenter "--net=/var/run/netns/$NS")
    netargs=(--bridge "$BRIDGE")
    # DK_OWN_BRIDGE=1: no -b, the daemon makes docker0 in the netns itself
    [ "${DK_OWN_BRIDGE:-0}" = 1 ] && netargs=()
  fi
  [ -f "$T/daemon.json" ] || echo '{}' >"$T/daemon.json"
  "${prefix[@]}" "$DK_BIN/dockerd" -H "unix://$SOCK" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" --config-file "$T/daemon.json" "${netargs[@]}" "$@" >>"$T/log" 2>&1 &
  DPID=$!
  export DOCKER_HOST=unix://$SOCK
  for _ in $(seq 100); do
    [ -S "$SOCK" ] && curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null && return 0
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$T/log" >&2
  return 1
}

# registry_with_busybox: a registry (helpers.bash) holding the busybox
# fixture as library/busybox:latest; exports REGISTRY (for setup_file)
registry_with_busybox() {
  start_registry || return 1
  push_fixture busybox library/busybox:latest || return 1
  export REGISTRY
}

# seed_images REF...: pulls into a fresh $T with a host-network daemon, then
# stops it; the next start_dockerd uses the same data root.
seed_images() {
  DK_HOSTNET=1 start_dockerd || return 1
  local r
  for r in "$@"; do docker pull -q "$r" >/dev/null || return 1; done
  kill "$DPID"
  for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
  DPID=
}

stop_dockerd() {
  if [ -n "${DPID:-}" ] && kill -0 "$DPID" 2>/dev/null; then
    kill "$DPID"
    for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$DPID" 2>/dev/null || true
  fi
  DPID=
  if [ -n "${T:-}" ]; then
    # what a daemon killed mid-way left mounted under its roots
    grep -o " $T/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$T"
  fi
  [ -n "${NS:-}" ] && ip netns del "$NS" 2>/dev/null
  T= NS=
  true
}

# api METHOD PATH [curl args...]: body on stdout
api() {
  local m=$1 p=$2
  shift 2
  curl -s -X "$m" --unix-socket "$SOCK" "http://d$p" "$@"
}

# raw_http: sends stdin as raw bytes on the socket, prints the reply
RAW_PY='
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(sys.stdin.buffer.read())
except OSError:
    pass
s.settimeout(3)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except Exception:
    pass
sys.stdout.write(out.decode("latin-1"))
'
raw_http() {
  /usr/bin/python3 -c "$RAW_PY" "$SOCK"
}
