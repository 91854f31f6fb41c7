#!/usr/bin/env bash
# Unpack benchmark, side by side in one run on the bench image
# (tests/fixtures/build-bench-image):
#   1. the largest layer: bin/dk-unpack vs `tar -xzf` into an empty dir
#      (page cache warm for both), best of BENCH_RUNS; ratio and max RSS
#      (/usr/bin/time -v) printed; goals: ratio >= 1.5, RSS < 32 MB.
#   2. all layers registered at once with dk-graph (overlay2, --parent-wait):
#      CPU time / wall time shows whether both cores are used.
# Env: BENCH_IMAGE_DIR (default /var/tmp/dk-bench-image), BENCH_RUNS (3),
#      DK_UNPACK_THREADS (file-creating threads per layer, lib/filepool.c),
#      BENCH_TMP (where the trees are written, default /var/tmp; /dev/shm
#      takes the disk out and measures CPU alone).
set -euo pipefail
cd "$(dirname "$0")/.."
IMG=${BENCH_IMAGE_DIR:-/var/tmp/dk-bench-image}
RUNS=${BENCH_RUNS:-3}
[ -x bin/dk-unpack ] && [ -x bin/dk-graph ] || { echo "bench/unpack: build first (make)" >&2; exit 2; }
T=$(mktemp -d "${BENCH_TMP:-/var/tmp}/dk-bench-unpack.XXXXXX")
trap 'rm -rf "$T"' EXIT

python3 tests/fixtures/build-bench-image "$IMG" --if-missing >/dev/null
manifest=$IMG/blobs/sha256/$(jq -r '.manifests[0].digest' "$IMG/index.json" | cut -d: -f2)
config=$IMG/blobs/sha256/$(jq -r '.config.digest' "$manifest" | cut -d: -f2)
largest=$(jq -r '.layers | max_by(.size) | .digest' "$manifest")
blob=$IMG/blobs/sha256/${largest#sha256:}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; trees written under $(dirname "$T")"
echo "largest layer: $largest ($(stat -c %s "$blob") bytes compressed)"
cat "$blob" >/dev/null

# run NAME CMD...: elapsed seconds and max RSS (KB) of one run, into $T/NAME.N
measure() {
  /usr/bin/time -v -o "$T/time" "$@" >/dev/null 2>"$T/stderr" || { cat "$T/stderr" "$T/time" >&2; return 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; e = s }
              /Maximum resident set size/ { r = $2 } END { printf "%.3f %d\n", e, r }' "$T/time"
}

best_dk= best_tar= rss_dk=0 rss_tar=0
for i in $(seq 1 "$RUNS"); do
  rm -rf "$T/dk" "$T/tar"
  read -r e r < <(measure bin/dk-unpack --target "$T/dk" --digest "$largest" "$blob")
  [ -z "$best_dk" ] || [ "$(echo "$e < $best_dk" | bc)" = 1 ] && best_dk=$e
  [ "$r" -gt "$rss_dk" ] && rss_dk=$r
  mkdir "$T/tar"
  read -r e r < <(measure tar -C "$T/tar" -xzf "$blob")
  [ -z "$best_tar" ] || [ "$(echo "$e < $best_tar" | bc)" = 1 ] && best_tar=$e
  [ "$r" -gt "$rss_tar" ] && rss_tar=$r
  echo "run $i: dk-unpack ${best_dk}s (best so far), tar -xzf ${best_tar}s (best so far)"
done
diff <(cd "$T/dk" && find . | sort) <(cd "$T/tar" && find . | sort) >/dev/null ||
  { echo "bench/unpack: dk-unpack and tar produced different trees" >&2; exit 1; }
ratio=$(echo "scale=2; $best_tar / $best_dk" | bc)
echo "dk-unpack: ${best_dk}s, max RSS $((rss_dk / 1024)) MB"
echo "tar -xzf:  ${best_tar}s, max RSS $((rss_tar / 1024)) MB"
echo "ratio tar/dk-unpack: ${ratio}x (goal >= 1.5)  $([ "$(echo "$ratio >= 1.5" | bc)" = 1 ] && echo PASS || echo FAIL)"
echo "dk-unpack RSS < 32 MB: $([ "$rss_dk" -lt 32768 ] && echo PASS || echo FAIL)"
rm -rf "$T/dk" "$T/tar"

# all layers at once; each waits for its parent only at commit time
mapfile -t digests < <(jq -r '.layers[].digest' "$manifest")
mapfile -t diffids < <(jq -r '.rootfs.diff_ids[]' "$config")
for d in "${digests[@]}"; do cat "$IMG/blobs/sha256/${d#sha256:}" >/dev/null; done
{
  echo 'set -e'
  parent=
  for i in "${!digests[@]}"; do
    d=${digests[$i]}
    echo "( /usr/bin/time -f '%e %U %S' -o '$T/t.$i' bin/dk-graph --root '$T/graph' layer-register ${parent:+--parent $parent --parent-wait 600} --diff-id ${diffids[$i]} --digest $d '$IMG/blobs/sha256/${d#sha256:}' >'$T/reg.$i' && date +%s.%N >'$T/end.$i' ) &"
    if [ -z "$parent" ]; then parent=${diffids[$i]}; else
      parent=sha256:$(printf '%s %s' "$parent" "${diffids[$i]}" | sha256sum | cut -d' ' -f1); fi
  done
  echo 'for p in $(jobs -p); do wait $p; done'
} >"$T/parallel.sh"
t0=$(date +%s.%N)
/usr/bin/time -v -o "$T/time" bash "$T/parallel.sh" || { cat "$T"/reg.* "$T/time" >&2; exit 1; }
# where the wall time goes: a layer waits for its parent's commit
for i in "${!digests[@]}"; do
  read -r e u s <"$T/t.$i"
  printf '  layer %d (%s bytes): done at %.2fs, %ss user %ss sys\n' "$i" \
    "$(stat -c %s "$IMG/blobs/sha256/${digests[$i]#sha256:}")" "$(echo "$(cat "$T/end.$i") - $t0" | bc)" "$u" "$s"
done
grep -q '"existed":false' "$T/reg.$((${#digests[@]} - 1))" || { cat "$T"/reg.* >&2; exit 1; }
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$T/time")
cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$T/time")
pct=$(awk -F': ' '/Percent of CPU/ { print $2 }' "$T/time")
echo "parallel registration of ${#digests[@]} layers (overlay2): ${wall}s wall, ${cpu}s CPU, ${pct} of one core"
echo "uses more than one core: $([ "${pct%\%}" -gt 110 ] && echo PASS || echo FAIL)"
