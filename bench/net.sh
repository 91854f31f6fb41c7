#!/usr/bin/env bash
# dk-netsetup benchmark, inside a network namespace of its own:
#  1. setup + teardown of one endpoint on the default bridge with one
#     published port (connect + disconnect), N rounds, median and p90, with
#     rounds apart and back to back; the same without a port;
#  2. 100 endpoints connected concurrently: 100 distinct addresses, and after
#     teardown no veth, rule, allocation or namespace is left;
#  3. part 1's setup + teardown with a port on a bridge with IPv6.
# Parts 1 and 3 time each command two ways, round by round in turn: started
# by posix_spawn (as from a shell), and through `dk-netsetup serve` (the
# warm fork server dockerd runs it through, docs/toolserver.md).
# Usage: bench/net.sh [rounds]   (needs root; bin/dk-netsetup built, or
#        DK_NETSETUP_BIN=path to measure another build; DK_NETSETUP_BASE=path
#        times a baseline build too, round by round in turn with this
#        one (parts 1 and 3), and prints the medians and their ratios)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
bin=${DK_NETSETUP_BIN:-$PWD/bin/dk-netsetup}  # another build, for A/B runs
base=${DK_NETSETUP_BASE:-}                    # a baseline, alternated round by round
T=$(mktemp -d)
NS=dkb-$$-$RANDOM
ip netns add "$NS"
# the exec root on a tmpfs, as /var/run (Docker's /var/run/docker) is; the
# state dir on the disk, as /var/lib/docker/network
# (a baseline gets roots of its own, $T/b, on the same bridge: builds with
# another state layout must not share one)
mkdir -p "$T/exec" "$T/b/exec"
mount -t tmpfs -o mode=0711 dkb-exec "$T/exec"
mount -t tmpfs -o mode=0711 dkb-exec "$T/b/exec"
cleanup() {
  for p in "$T"/exec/netns/* "$T"/b/exec/netns/*; do [ -e "$p" ] && umount -l "$p" 2>/dev/null; done
  for f in "$T/state/proxy-v2.pid" "$T/b/state/proxy-v2.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  ip netns del "$NS" 2>/dev/null
  umount -l "$T/exec" "$T/b/exec" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
ns() { nsenter --net="/run/netns/$NS" "$@"; }
tool() { ns "$bin" --state-dir "$T/state" --exec-root "$T/exec" "$@"; }
base_tool() { ns "$base" --state-dir "$T/b/state" --exec-root "$T/b/exec" "$@"; }
ns ip link set lo up
tool init >/dev/null
[ -z "$base" ] || base_tool init >/dev/null

snapshot() {
  { ns ip -br link | awk '{print $1}' | sort
    ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//'
    cat "$T"/exec/ipam/*.json 2>/dev/null || true
    ls "$T/exec/netns" 2>/dev/null || true; }
}
before=$(snapshot)

# 1. one endpoint with one published port, set up and torn down.  Each
#    command is started with posix_spawn, as a C caller (dockerd) starts it;
#    the same harness's cost for /bin/true is printed.  Two ways: rounds 30
#    ms apart ("isolated": the kernel has finished freeing the previous
#    round's netns, veth and rules, as between containers started and
#    removed by dockerd), and back to back ("churn": each round also waits
#    for the previous round's deferred kernel work: RCU grace periods, netns
#    cleanup).  The target applies to one endpoint's setup + teardown.
cat >"$T/part1.py" <<'PY'
import os, sys, time, statistics, socket, json, subprocess
t, n, cases, all_bins = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
null = os.open("/dev/null", os.O_WRONLY)
nulr = os.open("/dev/null", os.O_RDONLY)
acts = [(os.POSIX_SPAWN_DUP2, null, 1)]
def argv_of(b, a):
    r = t if b == all_bins[0] else t + "/b"  # the baseline's own roots
    return [b] + (["--state-dir", r + "/state", "--exec-root", r + "/exec"] if a else []) + list(a)
def spawned(b, *a):
    s = time.perf_counter()
    pid = os.posix_spawn(b, argv_of(b, a), os.environ, file_actions=acts)
    _, st = os.waitpid(pid, 0)
    if st != 0:
        sys.exit("%s %s failed" % (b, " ".join(a)))
    return (time.perf_counter() - s) * 1000
# "served": as dockerd runs dk-netsetup, through `dk-netsetup serve` (a warm
# fork server; docs/toolserver.md): the request with its stdout pipe, read
# to the end, and the exit status
servers = {}
def served(b, *a):
    if b not in servers:
        c, s = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        servers[b] = (c, subprocess.Popen([b, "serve"], stdin=s, stdout=subprocess.DEVNULL))
        s.close()
    c = servers[b][0]
    s = time.perf_counter()
    r, w = os.pipe()
    socket.send_fds(c, [json.dumps({"id": 1, "argv": argv_of(b, a)}).encode()], [nulr, w, 2])
    os.close(w)
    while os.read(r, 65536):
        pass
    os.close(r)
    while True:
        m = json.loads(c.recv(65536))
        if m["type"] != "started":
            break
    if m.get("status") != 0:
        sys.exit("%s %s failed: %s" % (b, " ".join(a), m))
    return (time.perf_counter() - s) * 1000
run = spawned
med = statistics.median
print("harness: posix_spawn + wait of /bin/true: median %.2f ms"
      % med([spawned("/bin/true") for _ in range(30)]))
every = (("1 port, userland proxy", ["-p", "8080:80"]), ("no port", []))
if cases == "v6":
    every = (("1 port, userland proxy, network with IPv6", ["-p", "8080:80"]),)
can_serve = [b for b in all_bins
             if "serve" in subprocess.run([b, "--help"], capture_output=True, text=True).stdout]
# the runners, taking turns round by round: each build started by
# posix_spawn, and through its server where it has one (a baseline from
# before `serve` has not)
runners = [(b, "spawned", spawned) for b in all_bins] + [(b, "served", served) for b in can_serve]
def who(r):
    b, way, _ = r
    build = "" if len(all_bins) == 1 else ("this build, " if b == all_bins[0] else "baseline, ")
    return build + way
for label, extra in every:
    for mode, gap in (("isolated", 0.03), ("churn", 0))[: 1 if cases == "v6" else 2]:
        conn = {r: [] for r in runners}
        disc = {r: [] for r in runners}
        for i in range(n):
            k = i % len(runners)
            for r in runners[k:] + runners[:k]:
                time.sleep(gap)
                b, _, run = r
                conn[r].append(run(b, "connect", "--id", "bench%d" % i, "--files-dir", t + "/f", *extra))
                disc[r].append(run(b, "disconnect", "--id", "bench%d" % i))
        tot = {r: sorted(c + d for c, d in zip(conn[r], disc[r])) for r in runners}
        for r in runners:
            v = tot[r]
            print("setup+teardown, %s, %s [%s]: median %.1f ms (connect %.1f, disconnect %.1f), "
                  "p90 %.1f ms, min %.1f ms (%d rounds%s)"
                  % (label, mode, who(r), statistics.median(v), med(conn[r]), med(disc[r]),
                     v[int(len(v) * 0.9) - 1], v[0], n,
                     "; target < 10 ms" if mode == "isolated" and cases == "v4" else ""))
        ref = runners[1] if len(all_bins) == 2 else runners[0]  # the baseline, else spawned
        for r in runners:
            if r != ref:
                print("setup+teardown, %s, %s: %s / %s = %.2f (medians)"
                      % (label, mode, who(r), who(ref), med(tot[r]) / med(tot[ref])))
for c, p in servers.values():
    c.close()
    p.wait()
PY
echo "load average: $(cut -d" " -f1-3 /proc/loadavg)"
ns python3 "$T/part1.py" "$T" "$rounds" v4 "$bin" $base

# 2. 100 concurrent endpoints
start=$(date +%s.%N)
for i in $(seq 1 100); do
  tool connect --id c$i --files-dir "$T/c$i" >"$T/out$i" &
done
wait
mid=$(date +%s.%N)
distinct=$(cat "$T"/out* | jq -r .ip | sort -u | grep -c .)
veths=$(ns ip -br link | grep -c '^veth')
for i in $(seq 1 100); do tool disconnect --id c$i >/dev/null & done
wait
end=$(date +%s.%N)
after=$(snapshot)
printf '100 concurrent connects: %d distinct addresses, %d veths, %.2f s; 100 concurrent disconnects: %.2f s\n' \
  "$distinct" "$veths" "$(echo "$mid - $start" | bc)" "$(echo "$end - $mid" | bc)"
if [ "$before" = "$after" ]; then
  echo "teardown leaves nothing: links, iptables rules, IPAM and netns identical to before"
  echo "spare namespaces held for the next connect (none mounted; they go after 60 s unused): $(ls "$T/exec/netns-spare" 2>/dev/null | grep -c .)"
else
  echo "teardown LEFT SOMETHING:"; diff <(echo "$before") <(echo "$after") || true
  exit 1
fi
[ "$distinct" -eq 100 ]

# 3. the same on a default bridge with IPv6 (ip6tables rules too)
tool init --ipv6 true --fixed-cidr-v6 fd00:b::/64 >/dev/null
[ -z "$base" ] || base_tool init --ipv6 true --fixed-cidr-v6 fd00:b::/64 >/dev/null
ns python3 "$T/part1.py" "$T" "$rounds" v6 "$bin" $base
