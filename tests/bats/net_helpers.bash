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
# Starts a background process and remembers its pid for teardown.
bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }

net_teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -f "$T/state/proxy.pid" ]; then kill "$(cat "$T/state/proxy.pid")" 2>/dev/null; fi
  for p in "$T"/exec/netns/*; do [ -e "$p" ] && umount -l "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}
