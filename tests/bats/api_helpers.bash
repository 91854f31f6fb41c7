# Helpers of the dockerd suites: a daemon per test under a mktemp -d root,
# on its own unix socket, pidfile and roots.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

DK_BIN=${DK_BIN:-$BATS_TEST_DIRNAME/../../bin}

# start_dockerd [extra dockerd args...]: sets T, SOCK, DOCKER_HOST, DPID
start_dockerd() {
  T=$(mktemp -d)
  SOCK=$T/d.sock
  [ -f "$T/daemon.json" ] || echo '{}' >"$T/daemon.json"
  "$DK_BIN/dockerd" -H "unix://$SOCK" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" --config-file "$T/daemon.json" "$@" >"$T/log" 2>&1 &
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

stop_dockerd() {
  if [ -n "${DPID:-}" ] && kill -0 "$DPID" 2>/dev/null; then
    kill "$DPID"
    for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$DPID" 2>/dev/null || true
  fi
  DPID=
  [ -n "${T:-}" ] && rm -rf "$T"
  T=
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
