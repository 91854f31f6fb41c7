# Helpers of the dk-netsetup suites: a private network namespace per test.
NET_BIN=${NET_BIN:-$BATS_TEST_DIRNAME/../../bin/dk-netsetup}

net_setup() {
  T=$(mktemp -d)
  NS=dkt-$$-$RANDOM$RANDOM
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
  PIDS=()
}

# Runs a command in the test's namespace.  nsenter --net keeps our mount
# namespace, so the netns bind mounts dk-netsetup makes stay visible
# (ip netns exec would give every command a private mount namespace).
ns() { nsenter --net="/run/netns/$NS" "$@"; }
ns_tool() { ns "$NET_BIN" --state-dir "$T/state" --exec-root "$T/exec" "$@"; }
in_ctr() { local id=$1; shift; nsenter --net="$T/exec/netns/$id" "$@"; }
# Starts a program in the background inside namespace $1 (a path) and
# remembers its pid for teardown (nsenter execs it: the pid is the program's).
# fd 3 is bats' own: a background program must not hold it.
bg_in() { local nsp=$1; shift; nsenter --net="$nsp" "$@" >/dev/null 2>&1 3>&- & PIDS+=($!); }
bg_ctr() { local id=$1; shift; bg_in "$T/exec/netns/$id" "$@"; }
bg_ns() { bg_in "/run/netns/$NS" "$@"; }

# Waits (up to 5 s) until a socket listens on port $2 in namespace $1 (a
# path), TCP (or bound, with $3 = udp): a program started in the
# background needs a moment, more on a loaded machine.
wait_listen() {
  local hex i files=(/proc/net/tcp /proc/net/tcp6) state=0A
  [ "${3:-tcp}" = udp ] && files=(/proc/net/udp /proc/net/udp6) && state=07
  hex=$(printf ':%04X' "$2")
  for i in $(seq 100); do
    nsenter --net="$1" cat "${files[@]}" 2>/dev/null |
      awk -v p="$hex" -v s="$state" '$4 == s && substr($2, length($2) - 4) == p { f = 1 }
        END { exit !f }' && return 0
    sleep 0.05
  done
  return 1
}

# A UDP echo server ("pong " + what it got) on port 53 of container $1,
# IPv4 and IPv6.
udp_echo() {
  bg_ctr "$1" python3 -c 'import socket
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0); s.bind(("::",53))
while True:
    d,a=s.recvfrom(100); s.sendto(b"pong "+d,a)'
}

# A TCP server on port $2 of container $1 that answers with the address
# the connection came from (IPv4 and IPv6).
tcp_peer() {
  bg_ctr "$1" python3 -c 'import socket,sys
s=socket.socket(socket.AF_INET6,socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(("::",int(sys.argv[1]))); s.listen(8)
while True:
    c,a=s.accept(); c.sendall(a[0].removeprefix("::ffff:").encode()+b"\n"); c.close()' "$2"
}

net_teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -f "$T/state/proxy-v2.pid" ]; then kill "$(cat "$T/state/proxy-v2.pid")" 2>/dev/null; fi
  for p in "$T"/exec/netns/*; do [ -e "$p" ] && umount -l "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}

# True when pid is gone (a zombie counts: its parent may be a slow init).
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status"; }
# The proxy leaves ~2 s after its last port.
wait_gone() { local i; for i in $(seq 50); do gone "$1" && return 0; sleep 0.1; done; gone "$1"; }
wait_gone_slow() { local i; for i in $(seq 80); do gone "$1" && return 0; sleep 0.1; done; gone "$1"; }
