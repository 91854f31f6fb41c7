#!/usr/bin/env bash
# Unpack benchmark, side by side in one run on the bench image
# (tests/fixtures/build-bench-image):
#   1. the largest layer: bin/dk-unpack vs `tar -xzf` into an empty dir
#      (page cache warm for both), alternated, best of BENCH_RUNS; ratio and
#      max RSS (/usr/bin/time -v) printed; goals: ratio >= 1.5, RSS < 32 MB.
#   2. all layers registered at once with dk-graph (overlay2, --parent-wait),
#      BENCH_REG_RUNS times: CPU time / wall time shows whether both cores
#      are used (goal > 150% of one core). The machine is shared, so before
#      each run two busy loops measure what it leaves us (200% when idle);
#      the median, the best run and our share of that are printed.
# Every measured run writes into a file system made for it alone, so the
# host's state (e.g. ext4 scanning recently deleted inodes, docs/store.md)
# cannot favour one side:
#   BENCH_FS=ext4   (default) mkfs.ext4 (with journal) on a sparse image file
#                   in /dev/shm, loop-mounted: ext4's costs without the disk
#   BENCH_FS=tmpfs  a fresh tmpfs mount: CPU alone
#   BENCH_FS=host   a directory under BENCH_TMP (default /var/tmp), as before
# Env: BENCH_IMAGE_DIR (default /var/tmp/dk-bench-image), BENCH_RUNS (3),
#      BENCH_REG_RUNS (5), BENCH_FS, BENCH_FS_SIZE (3G), BENCH_BIN (where
#      dk-unpack and dk-graph are, default bin: another build for an A/B),
#      DK_UNPACK_THREADS (file-creating threads per layer, lib/filepool.c).
set -euo pipefail
cd "$(dirname "$0")/.."
IMG=${BENCH_IMAGE_DIR:-/var/tmp/dk-bench-image}
RUNS=${BENCH_RUNS:-3}
REG_RUNS=${BENCH_REG_RUNS:-5}
FS=${BENCH_FS:-ext4}
FS_SIZE=${BENCH_FS_SIZE:-3G}
case $FS in ext4 | tmpfs | host) ;; *)
  echo "bench/unpack: BENCH_FS must be ext4, tmpfs or host" >&2
  exit 2
  ;;
esac
BIN=${BENCH_BIN:-bin}
[ -x "$BIN/dk-unpack" ] && [ -x "$BIN/dk-graph" ] || { echo "bench/unpack: build first (make)" >&2; exit 2; }
T=$(mktemp -d "${BENCH_TMP:-/var/tmp}/dk-bench-unpack.XXXXXX")
FSIMG=
cleanup() {
  { grep -o " $T/[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  [ -z "$FSIMG" ] || rm -rf "$FSIMG"
  rm -rf "$T"
}
trap cleanup EXIT

# fresh_fs DIR: DIR becomes the root of a new, empty file system (BENCH_FS)
fresh_fs() {
  local d=$1
  if mountpoint -q "$d"; then umount "$d"; fi
  rm -rf "$d"
  mkdir -p "$d"
  case $FS in
    ext4)
      [ -n "$FSIMG" ] || FSIMG=$(mktemp -d /dev/shm/dk-bench-unpack.XXXXXX)
      local img=$FSIMG/$(basename "$d").img
      rm -f "$img"
      truncate -s "$FS_SIZE" "$img"
      mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img"
      mount -o loop "$img" "$d"
      ;;
    tmpfs) mount -t tmpfs -o size="$FS_SIZE" dk-bench "$d" ;;
    host) ;;
  esac
}
# drop_fs DIR: unmount (the loop image's space goes back) and remove DIR
drop_fs() {
  if mountpoint -q "$1"; then umount "$1"; fi
  rm -rf "$1"
  [ -z "$FSIMG" ] || rm -f "$FSIMG/$(basename "$1").img"
}

python3 tests/fixtures/build-bench-image "$IMG" --if-missing >/dev/null
manifest=$IMG/blobs/sha256/$(jq -r '.manifests[0].digest' "$IMG/index.json" | cut -d: -f2)
config=$IMG/blobs/sha256/$(jq -r '.config.digest' "$manifest" | cut -d: -f2)
largest=$(jq -r '.layers | max_by(.size) | .digest' "$manifest")
blob=$IMG/blobs/sha256/${largest#sha256:}
case $FS in
  ext4) fsdesc="a fresh ext4 (mkfs.ext4 defaults, journal) on a $FS_SIZE loop image in /dev/shm for each run" ;;
  tmpfs) fsdesc="a fresh tmpfs for each run" ;;
  host) fsdesc="the host's $(stat -f -c %T "$T") under $(dirname "$T") (BENCH_FS=host: its state varies)" ;;
esac
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "trees written to $fsdesc"
echo "largest layer: $largest ($(stat -c %s "$blob") bytes compressed)"
cat "$blob" >/dev/null

# measure CMD...: elapsed seconds, max RSS (KB) and CPU seconds of one run
measure() {
  /usr/bin/time -v -o "$T/time" "$@" >/dev/null 2>"$T/stderr" || { cat "$T/stderr" "$T/time" >&2; return 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; e = s }
              /Maximum resident set size/ { r = $2 } /User time|System time/ { c += $2 }
              END { printf "%.3f %d %.2f\n", e, r, c }' "$T/time"
}
# probe: CPU% that two busy loops get in 2 s right now (what the other
# users of the machine leave us; 200 on an idle 2-core machine)
probe() {
  /usr/bin/time -f %P -o "$T/probe" bash -c 'for _ in 1 2; do timeout 2 sh -c "while :; do :; done" & done; wait' || true
  tr -d '%' <"$T/probe"
}
# smaller A B: 1 if A < B (or B is empty)
smaller() { [ -z "$2" ] || [ "$(echo "$1 < $2" | bc)" = 1 ]; }

best_dk= best_tar= rss_dk=0 rss_tar=0
for i in $(seq 1 "$RUNS"); do
  fresh_fs "$T/dk"
  read -r e r c < <(measure "$BIN/dk-unpack" --target "$T/dk/t" --digest "$largest" "$blob")
  smaller "$e" "$best_dk" && best_dk=$e
  [ "$r" -gt "$rss_dk" ] && rss_dk=$r
  cdk=$c edk=$e
  fresh_fs "$T/tar"
  mkdir "$T/tar/t"
  read -r e r c < <(measure tar -C "$T/tar/t" -xzf "$blob")
  smaller "$e" "$best_tar" && best_tar=$e
  [ "$r" -gt "$rss_tar" ] && rss_tar=$r
  echo "run $i: dk-unpack ${edk}s (${cdk}s CPU), tar -xzf ${e}s (${c}s CPU)"
  diff <(cd "$T/dk/t" && find . | sort) <(cd "$T/tar/t" && find . | sort) >/dev/null ||
    { echo "bench/unpack: dk-unpack and tar produced different trees" >&2; exit 1; }
  drop_fs "$T/dk"
  drop_fs "$T/tar"
done
ratio=$(echo "scale=2; $best_tar / $best_dk" | bc)
echo "dk-unpack: ${best_dk}s (best of $RUNS), max RSS $((rss_dk / 1024)) MB"
echo "tar -xzf:  ${best_tar}s (best of $RUNS), max RSS $((rss_tar / 1024)) MB"
echo "ratio tar/dk-unpack: ${ratio}x (goal >= 1.5)  $([ "$(echo "$ratio >= 1.5" | bc)" = 1 ] && echo PASS || echo FAIL)"
echo "dk-unpack RSS < 32 MB: $([ "$rss_dk" -lt 32768 ] && echo PASS || echo FAIL)"

# all layers at once; each waits for its parent only at commit time
mapfile -t digests < <(jq -r '.layers[].digest' "$manifest")
mapfile -t diffids < <(jq -r '.rootfs.diff_ids[]' "$config")
for d in "${digests[@]}"; do cat "$IMG/blobs/sha256/${d#sha256:}" >/dev/null; done
G=$T/reg/graph
{
  echo 'set -e'
  parent=
  for i in "${!digests[@]}"; do
    d=${digests[$i]}
    echo "( /usr/bin/time -f '%e %U %S %M' -o '$T/t.$i' '$BIN/dk-graph' --root '$G' layer-register ${parent:+--parent $parent --parent-wait 600} --diff-id ${diffids[$i]} --digest $d '$IMG/blobs/sha256/${d#sha256:}' >'$T/reg.$i' && date +%s.%N >'$T/end.$i' ) &"
    if [ -z "$parent" ]; then parent=${diffids[$i]}; else
      parent=sha256:$(printf '%s %s' "$parent" "${diffids[$i]}" | sha256sum | cut -d' ' -f1); fi
  done
  echo 'for p in $(jobs -p); do wait $p; done'
} >"$T/parallel.sh"
pcts=() rel=()
for run in $(seq 1 "$REG_RUNS"); do
  fresh_fs "$T/reg"
  avail=$(probe)
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$T/time" bash "$T/parallel.sh" || { cat "$T"/reg.* "$T/time" >&2; exit 1; }
  grep -q '"existed":false' "$T/reg.$((${#digests[@]} - 1))" || { cat "$T"/reg.* >&2; exit 1; }
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$T/time")
  cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$T/time")
  pct=$(awk -F': ' '/Percent of CPU/ { print $2 }' "$T/time")
  echo "registration run $run (load $(cut -d' ' -f1 /proc/loadavg); two busy loops got ${avail}% just before): ${wall}s wall, ${cpu}s CPU, ${pct} of one core"
  # where the wall time goes: a layer waits for its parent's commit
  for i in "${!digests[@]}"; do
    read -r e u s m <"$T/t.$i"
    printf '  layer %d (%s bytes): done at %.2fs, %ss user %ss sys, RSS %d MB\n' "$i" \
      "$(stat -c %s "$IMG/blobs/sha256/${digests[$i]#sha256:}")" "$(echo "$(cat "$T/end.$i") - $t0" | bc)" "$u" "$s" $((m / 1024))
  done
  pcts+=("${pct%\%}")
  [ "${avail:-0}" -gt 0 ] && rel+=("$(awk -v a="${pct%\%}" -v b="$avail" 'BEGIN { printf "%.2f", a / b }')")
  drop_fs "$T/reg"
done
# one more run under `perf sched record`: how many of our threads were
# runnable (running, or ready and waiting for a core) on average. Unlike the
# CPU%, this hardly depends on what else the machine runs; nor does the
# share of the time with two or more runnable (both cores busy if we were
# alone). bench/runnable.awk reads the scheduler events.
runnable=
if command -v perf >/dev/null && [ "${BENCH_SCHED:-1}" = 1 ]; then
  mkdir -p "$T/sbin"
  cp "$BIN/dk-graph" "$T/sbin/dk-graph-bench" # a name of our own to pick our threads by
  sed "s|'$BIN/dk-graph'|'$T/sbin/dk-graph-bench'|" "$T/parallel.sh" >"$T/parallel-sched.sh"
  fresh_fs "$T/reg"
  perf sched record -o "$T/sched.data" -- /usr/bin/time -f %e -o "$T/sched.wall" bash "$T/parallel-sched.sh" >/dev/null 2>"$T/perf.err" ||
    { cat "$T/perf.err" >&2; exit 1; }
  read -r runnable running both < <(perf script -i "$T/sched.data" 2>/dev/null |
    awk -v name=dk-graph-bench -v wall="$(cat "$T/sched.wall")" -f bench/runnable.awk)
  echo "registration under perf sched ($(cat "$T/sched.wall")s wall): dk-graph threads runnable (running or ready) on average: $runnable, running: $running; at least two runnable $(awk -v f="$both" 'BEGIN { printf "%d", f * 100 }')% of the time"
  rm -f "$T/sched.data"
  drop_fs "$T/reg"
fi
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
med=$(median "${pcts[@]}")
best=$(printf '%s\n' "${pcts[@]}" | sort -n | tail -1)
echo "parallel registration of ${#digests[@]} layers (overlay2): median ${med}% of one core over $REG_RUNS runs (${pcts[*]}), best ${best}%"
echo "  as a share of what two busy loops got just before: median $(median "${rel[@]}") (${rel[*]})"
echo "uses both cores (median > 150%): $([ "$med" -gt 150 ] && echo PASS || echo FAIL)"
