#!/usr/bin/env bash
# create + start + wait + delete of /bin/true, dk-run against Debian's runc,
# each runtime with its own state root, runs interleaved.  Two bundles:
#   runc-spec: `runc spec` with pid, mount, uts, ipc and network namespaces
#              and a memory limit (no seccomp);
#   dockerd:   the config.json our dockerd writes for `docker run --rm
#              busybox true` (bench/runtime-dockerd-config.json: Docker's
#              default seccomp profile, 14 capabilities, its mounts, masked
#              paths, device rules), paths pointed at the bench's bundle.
# Prints the medians and their ratio per bundle.
# Usage: [DKRUN=path] bench/runtime.sh [RUNS]   (needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
dkrun=${DKRUN:-$PWD/bin/dk-run} # DKRUN=path: another build (A/B)
runc=$(command -v runc || echo /usr/sbin/runc)
[ -x "$dkrun" ] || { echo "bench: build bin/dk-run first (make)" >&2; exit 1; }
[ -x "$runc" ] || { echo "bench: runc is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
cg=/dk-run-bench-$$
trap 'rm -rf "$tmp"; for d in /sys/fs/cgroup/*"$cg"; do rmdir "$d" 2>/dev/null; done' EXIT
tests/fixtures/runtime/mkbundle "$tmp/b" \
  ".linux.namespaces = [{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"uts\"},{\"type\":\"ipc\"},{\"type\":\"network\"}]
   | .linux.resources.memory = {\"limit\": 67108864} | .linux.cgroupsPath = \"$cg\"" -- /bin/true
mkdir -p "$tmp/d"
cp -a "$tmp/b/rootfs" "$tmp/d/rootfs"
for f in resolv.conf hostname hosts; do echo "# bench" >"$tmp/d/$f"; done
jq --arg b "$tmp/d" --arg cg "$cg" '.linux.cgroupsPath = $cg
   | .mounts |= map(if .type == "bind" then .source |= sub("^BUNDLE"; $b) else . end)' \
  bench/runtime-dockerd-config.json >"$tmp/d/config.json"

# one container life: create, start, wait for the exit, delete
cat >"$tmp/cycle" <<'EOS'
#!/bin/sh
rt=$1 root=$2 bundle=$3 id=c$$
"$rt" --root "$root" create --bundle "$bundle" --pid-file "$root.pid" "$id" </dev/null >/dev/null || exit 1
pid=$(cat "$root.pid")
"$rt" --root "$root" start "$id" || exit 1
# wait: until the process is gone or a zombie
while [ -e /proc/$pid ] && [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" != Z ]; do :; done
"$rt" --root "$root" delete "$id"
EOS
chmod +x "$tmp/cycle"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

one() { # runtime root bundle -> microseconds of one cycle
  local t0 t1
  t0=$(date +%s%N)
  "$tmp/cycle" "$1" "$2" "$3" || { echo "bench: $1 failed" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000))
}

echo "runtime: create+start+wait+delete of /bin/true ($runs runs each, interleaved)"
for b in b d; do
  # warm up both (page cache, cgroup parents, dk-run's seccomp cache)
  "$tmp/cycle" "$dkrun" "$tmp/dk" "$tmp/$b"
  "$tmp/cycle" "$runc" "$tmp/rc" "$tmp/$b"
  : >"$tmp/dk.times"
  : >"$tmp/rc.times"
  for i in $(seq "$runs"); do
    one "$dkrun" "$tmp/dk" "$tmp/$b" >>"$tmp/dk.times"
    one "$runc" "$tmp/rc" "$tmp/$b" >>"$tmp/rc.times"
  done
  dk=$(median <"$tmp/dk.times" | awk '{printf "%.2f", $1 / 1000}')
  rc=$(median <"$tmp/rc.times" | awk '{printf "%.2f", $1 / 1000}')
  if [ "$b" = b ]; then
    echo "  runc-spec bundle (pid/mount/uts/ipc/net namespaces, memory limit):"
  else
    echo "  dockerd bundle (Docker's seccomp profile, capabilities, mounts, device rules):"
  fi
  printf '    %-8s median %8s ms\n' dk-run "$dk" runc "$rc"
  awk -v a="$dk" -v b="$rc" 'BEGIN {printf "    ratio dk-run/runc: %.2f (target <= 0.50)\n", a / b}'
done
