#!/usr/bin/env bash
# Starts N (default 50) idle busybox containers, each under its own dk-shim,
# reports the time to start them, the shims' total and per-shim RSS (and
# PSS, which shares library pages fairly) once idle, then stops them all and
# reports that time.  Runtime: SHIM_RUNTIME (default Debian's runc).
# Usage: bench/shim.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
RUNTIME=${SHIM_RUNTIME:-/usr/sbin/runc}
SHIM=$PWD/bin/dk-shim
[ -x "$SHIM" ] || { echo "build first: make" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
T=$(mktemp -d)
PFX=shimbench-$$-$RANDOM
cleanup() {
  for i in $(seq "$N"); do
    "$RUNTIME" --root "$T/rt" delete --force "$PFX-$i" >/dev/null 2>&1 || true
    if [ -f "$T/s$i/shim.pid" ]; then "$SHIM" ctl "$T/s$i" '{"op":"release"}' >/dev/null 2>&1 || true; fi
  done
  rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/bundle/rootfs/bin"
cp /bin/busybox "$T/bundle/rootfs/bin/"
ln -s busybox "$T/bundle/rootfs/bin/sleep"
(cd "$T/bundle" && "$RUNTIME" spec 2>/dev/null || runc spec)
jq '.process.terminal = false | .process.args = ["sleep", "3600"]' "$T/bundle/config.json" >"$T/c.json"
mv "$T/c.json" "$T/bundle/config.json"

now() { date +%s.%N; }
t0=$(now)
for i in $(seq "$N"); do
  "$SHIM" --id "$PFX-$i" --bundle "$T/bundle" --dir "$T/s$i" --runtime "$RUNTIME" \
    --runtime-root "$T/rt" --start --log-opt max-size=1m >/dev/null
done
t1=$(now)
measure() {
  rss=0 pss=0 max=0
  for i in $(seq "$N"); do
    pid=$(cat "$T/s$i/shim.pid")
    r=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
    p=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup")
    rss=$((rss + r)) pss=$((pss + p))
    if [ "$r" -gt "$max" ]; then max=$r; fi
  done
}
# right after the start: the last shims are still busy
measure
busy_rss=$rss
# once idle, every shim gives its memory back (docs/shim.md)
sleep 4
measure
t2=$(now)
for i in $(seq "$N"); do
  "$SHIM" ctl "$T/s$i" '{"op":"kill","signal":9}' >/dev/null
done
for i in $(seq "$N"); do
  "$SHIM" ctl "$T/s$i" '{"op":"wait"}' >/dev/null
done
t3=$(now)

awk -v n="$N" -v s="$(echo "$t1 - $t0" | bc)" -v k="$(echo "$t3 - $t2" | bc)" \
  -v rss="$rss" -v pss="$pss" -v max="$max" -v rt="$RUNTIME" -v busy="$busy_rss" 'BEGIN {
  printf "runtime: %s\n", rt
  printf "start %d containers under dk-shim: %.2f s (%.1f ms each)\n", n, s, s * 1000 / n
  printf "idle shims: total RSS %d kB (%.0f kB per shim, max %d kB), total PSS %d kB (%.0f kB per shim)\n", rss, rss / n, max, pss, pss / n
  printf "right after starting: total RSS %d kB (%.0f kB per shim)\n", busy, busy / n
  printf "ratio of per-shim RSS to the 1 MB budget: %.2f\n", (rss / n) / 1024
  printf "kill -9 and wait for %d containers: %.2f s\n", n, k
}'
