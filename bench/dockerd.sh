#!/usr/bin/env bash
# Our dockerd against moby's (Debian's docker.io /usr/sbin/dockerd), each on
# its own socket, data root, exec root and pidfile, through the docker CLI:
#  1. `docker run --rm busybox true` with `--bridge=none --iptables=false`
#     (the image pulled by each from a local registry);
#  2. the same on the default bridge: each daemon restarted on its data
#     root inside a network namespace this script creates (one per daemon),
#     so each makes its own docker0 and iptables rules there;
#  3. `docker pull` of the bench image (tests/fixtures/build-bench-image,
#     cached at /var/tmp/dk-bench-image) from the local registry, a fresh
#     data root each (cold store), registry blobs in the page cache first;
#     BENCH_PULL_RUNS rounds (default 3, the daemon going first alternates),
#     each data root on a file system of its own made for the round
#     (BENCH_PULL_FS=ext4, the default: mkfs.ext4 with its journal on a
#     sparse image in /dev/shm, loop-mounted; =host: a directory of the
#     host's /var/tmp, whose state - here a journal-less ext4 that skips
#     recently freed inodes one by one - swings both daemons' times 3x).
# Prints medians and ratios, and both daemons' idle RSS.
# Targets: run ratio <= 0.2, RSS < 10 MB, pull 3x faster than moby.
# Usage: bench/dockerd.sh [RUNS] [--no-bridge] [--no-pull]   (RUNS default 20)
# Env: BENCH_IMAGE_DIR (default /var/tmp/dk-bench-image).
#      BENCH_VS=spawned: the other daemon is ours too, with DK_TOOLSERVER=0
#      (every tool spawned, docs/toolserver.md) in moby's place and under
#      the label "moby": an A/B of the tool servers (no pull part).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=20 DO_BRIDGE=1 DO_PULL=1
for a in "$@"; do
  case "$a" in
  --no-bridge) DO_BRIDGE=0 ;;
  --no-pull) DO_PULL=0 ;;
  [0-9]*) RUNS=$a ;;
  *)
    echo "usage: bench/dockerd.sh [RUNS] [--no-bridge] [--no-pull]" >&2
    exit 2
    ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
[ -x bin/dockerd ] || { echo "build first: make" >&2; exit 1; }
[ -x /usr/sbin/dockerd ] || { echo "moby's dockerd (/usr/sbin/dockerd) is not installed" >&2; exit 1; }
BENCH_IMG_DIR=${BENCH_IMAGE_DIR:-/var/tmp/dk-bench-image}
PULL_RUNS=${BENCH_PULL_RUNS:-3}
[ "${BENCH_VS:-}" = spawned ] && DO_PULL=0
PULL_FS=${BENCH_PULL_FS:-ext4}
case $PULL_FS in ext4 | host) ;; *)
  echo "BENCH_PULL_FS must be ext4 or host" >&2
  exit 2
  ;;
esac
FSIMG=

load() { :; }
# shellcheck source=/dev/null
source tests/bats/helpers.bash

T=$(mktemp -d /var/tmp/dk-bench-dockerd.XXXXXX)
SFX=$(random_suffix)
NS_OURS=dkbo-$SFX NS_MOBY=dkbm-$SFX
OURS= MOBY=
export DOCKER_CONFIG=$T/dockercfg # never the machine's own CLI config
mkdir -p "$DOCKER_CONFIG"

# stop_daemons: removes their containers, ends both, waits for them
stop_daemons() {
  local s p
  for s in "$T/ours.sock" "$T/moby.sock"; do
    # shellcheck disable=SC2046
    [ -S "$s" ] && DOCKER_HOST=unix://$s docker rm -f $(DOCKER_HOST=unix://$s docker ps -aq) >/dev/null 2>&1 || true
  done
  for p in $OURS $MOBY; do kill "$p" 2>/dev/null || true; done
  for p in $OURS $MOBY; do
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
  OURS= MOBY=
  rm -f "$T/ours.sock" "$T/moby.sock"
  true
}
cleanup() {
  set +e # a failing step (no mount left to grep) must not skip the rest
  stop_daemons
  stop_registry "${REGISTRY_PID:-}" >/dev/null 2>&1
  grep -o " $T/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  ip netns del "$NS_OURS" 2>/dev/null
  ip netns del "$NS_MOBY" 2>/dev/null
  [ -z "$FSIMG" ] || rm -rf "$FSIMG"
  rm -rf "$T"
}
trap cleanup EXIT

# fresh_fs DIR: DIR becomes the root of a new, empty file system (PULL_FS)
fresh_fs() {
  local d=$1 img
  if mountpoint -q "$d"; then umount "$d"; fi
  rm -rf "$d"
  mkdir -p "$d"
  [ "$PULL_FS" = ext4 ] || return 0
  [ -n "$FSIMG" ] || FSIMG=$(mktemp -d /dev/shm/dk-bench-dockerd.XXXXXX)
  img=$FSIMG/$(basename "$d").img
  rm -f "$img"
  truncate -s 6G "$img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img"
  mount -o loop "$img" "$d"
}
drop_fs() {
  if mountpoint -q "$1"; then umount "$1" || umount -l "$1"; fi
  rm -rf "$1"
  [ -z "$FSIMG" ] || rm -f "$FSIMG/$(basename "$1").img"
}

wait_sock() {
  for _ in $(seq 600); do
    curl -sf --unix-socket "$1" http://d/_ping >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "daemon on $1 did not come up; its log:" >&2
  tail -n 20 "$3" >&2
  return 1
}

# start_daemons ROOT_SUFFIX NET: NET is none (host netns, no bridge) or
# bridge (each in its own netns, default docker0 and iptables)
start_daemons() {
  local r=$1 net=$2 pre_o=() pre_m=() nargs=()
  if [ "$net" = none ]; then
    nargs=(--bridge=none --iptables=false)
  else
    pre_o=(nsenter "--net=/var/run/netns/$NS_OURS")
    pre_m=(nsenter "--net=/var/run/netns/$NS_MOBY")
  fi
  echo '{}' >"$T/ours.json"
  "${pre_o[@]}" bin/dockerd -H "unix://$T/ours.sock" --data-root "$T/ours$r" \
    --exec-root "$T/ours-exec" --pidfile "$T/ours.pid" --config-file "$T/ours.json" \
    "${nargs[@]}" --add-runtime hostrunc=/usr/sbin/runc >>"$T/ours.log" 2>&1 &
  OURS=$!
  echo '{}' >"$T/moby.json"
  local margs=("${nargs[@]}")
  [ "$net" = none ] && margs+=(--ip6tables=false)
  local mbin=(/usr/sbin/dockerd)
  [ "${BENCH_VS:-}" = spawned ] && mbin=(env DK_TOOLSERVER=0 bin/dockerd) margs=("${nargs[@]}")
  "${pre_m[@]}" "${mbin[@]}" -H "unix://$T/moby.sock" --data-root "$T/moby$r" \
    --exec-root "$T/moby-exec" --pidfile "$T/moby.pid" --config-file "$T/moby.json" \
    "${margs[@]}" >>"$T/moby.log" 2>&1 &
  MOBY=$!
  wait_sock "$T/ours.sock" "$OURS" "$T/ours.log"
  wait_sock "$T/moby.sock" "$MOBY" "$T/moby.log"
}

median() {
  sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

# bench_run: RUNS timed `docker run --rm` on each daemon, alternated (so a
# load swing of the shared machine hits both), after one warm-up each;
# sets OURS_MS, MOBY_MS (medians)
bench_run() {
  local i t0 t1 to=() tm=()
  DOCKER_HOST=unix://$T/ours.sock docker run --rm "${RUNARGS[@]}" "$IMG" true >/dev/null
  DOCKER_HOST=unix://$T/moby.sock docker run --rm "$IMG" true >/dev/null
  for i in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    DOCKER_HOST=unix://$T/ours.sock docker run --rm "${RUNARGS[@]}" "$IMG" true >/dev/null
    t1=$(date +%s%N)
    to+=($(((t1 - t0) / 1000000)))
    t0=$(date +%s%N)
    DOCKER_HOST=unix://$T/moby.sock docker run --rm "$IMG" true >/dev/null
    t1=$(date +%s%N)
    tm+=($(((t1 - t0) / 1000000)))
  done
  OURS_MS=$(printf '%s\n' "${to[@]}" | median)
  MOBY_MS=$(printf '%s\n' "${tm[@]}" | median)
}

report_run() {
  awk -v o="$OURS_MS" -v m="$MOBY_MS" -v n="$RUNS" -v rt="$RUNTIME_NOTE" -v what="$1" 'BEGIN {
    printf "docker run --rm busybox true, %s, median of %d alternated (ours on %s)\n", what, n, rt
    printf "  ours: %d ms   moby: %d ms   ratio: %.2f (target <= 0.20)\n", o, m, o / m
  }'
}

start_registry >/dev/null
push_fixture busybox library/busybox:latest >/dev/null
IMG=$REGISTRY/library/busybox:latest

# 1. --bridge=none
start_daemons "" none
DOCKER_HOST=unix://$T/ours.sock docker pull -q "$IMG" >/dev/null
RUNTIME_NOTE="our runtime (dk-run)"
RUNARGS=()
if ! DOCKER_HOST=unix://$T/ours.sock docker run --rm "$IMG" true >/dev/null 2>&1; then
  RUNTIME_NOTE="host runc (dk-run failed the smoke run)"
  RUNARGS=(--runtime hostrunc)
fi
DOCKER_HOST=unix://$T/moby.sock docker pull -q "$IMG" >/dev/null
bench_run
report_run "--bridge=none"
sleep 2
ours_rss=$(awk '/^VmRSS:/{print $2}' "/proc/$OURS/status")
moby_rss=$(awk '/^VmRSS:/{print $2}' "/proc/$MOBY/status")
# and with the long-lived children each keeps (ours: the tool servers,
# docs/toolserver.md; moby: its containerd)
kids_rss() { { ps -o rss= --ppid "$1" || true; } | awk '{ s += $1 } END { print s + 0 }'; }
ours_all=$((ours_rss + $(kids_rss "$OURS")))
moby_all=$((moby_rss + $(kids_rss "$MOBY")))
awk -v orss="$ours_rss" -v mrss="$moby_rss" -v oall="$ours_all" -v mall="$moby_all" 'BEGIN {
  printf "idle daemon RSS (after the runs)\n"
  printf "  ours: %.1f MB   moby: %.1f MB   ratio: %.2f (target: ours < 10 MB)\n", orss / 1024, mrss / 1024, orss / mrss
  printf "  with their long-lived children: ours %.1f MB, moby %.1f MB\n", oall / 1024, mall / 1024
}'
stop_daemons

# 2. the default bridge, each daemon in a netns of its own
if [ "$DO_BRIDGE" = 1 ]; then
  for ns in "$NS_OURS" "$NS_MOBY"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  start_daemons "" bridge
  bench_run
  report_run "default bridge (docker0 in a netns per daemon)"
  ours_br=$(nsenter "--net=/var/run/netns/$NS_OURS" ip -br addr show docker0 | awk '{print $3}')
  moby_br=$(nsenter "--net=/var/run/netns/$NS_MOBY" ip -br addr show docker0 | awk '{print $3}')
  echo "  (docker0: ours $ours_br, moby $moby_br)"
  stop_daemons
fi

# 3. docker pull of the bench image, cold store each
if [ "$DO_PULL" = 1 ]; then
  python3 tests/fixtures/build-bench-image "$BENCH_IMG_DIR" --if-missing
  echo '{}' >"$T/auth.json"
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false --dest-authfile "$T/auth.json" \
    "oci:$BENCH_IMG_DIR:bench" "docker://$REGISTRY/bench:latest"
  # both read the registry's blobs from the page cache
  find "$REGISTRY_DIR/data" -type f -exec cat {} + >/dev/null
  po=() pm=()
  for i in $(seq "$PULL_RUNS"); do
    fresh_fs "$T/ours-pull"
    fresh_fs "$T/moby-pull"
    start_daemons -pull none
    sync
    for who in $( ((i % 2)) && echo ours moby || echo moby ours); do
      t0=$(date +%s%N)
      DOCKER_HOST=unix://$T/$who.sock docker pull -q "$REGISTRY/bench:latest" >/dev/null
      t1=$(date +%s%N)
      if [ "$who" = ours ]; then po+=($(((t1 - t0) / 1000000))); else pm+=($(((t1 - t0) / 1000000))); fi
      sync
    done
    layers=$(DOCKER_HOST=unix://$T/ours.sock docker image inspect -f '{{len .RootFS.Layers}}' "$REGISTRY/bench:latest")
    stop_daemons
    drop_fs "$T/ours-pull"
    drop_fs "$T/moby-pull"
  done
  ours_pull=$(printf '%s\n' "${po[@]}" | median)
  moby_pull=$(printf '%s\n' "${pm[@]}" | median)
  echo "docker pull rounds (ms), ours: ${po[*]}; moby: ${pm[*]}; data roots: $([ "$PULL_FS" = ext4 ] && echo "a fresh ext4 each per round" || echo "the host's /var/tmp")"
  awk -v o="$ours_pull" -v m="$moby_pull" -v l="$layers" 'BEGIN {
    printf "docker pull of the bench image (%d layers), cold store each, median of the rounds\n", l
    printf "  ours: %.2f s   moby: %.2f s   moby / ours: %.2fx (target >= 3x)\n", o / 1000, m / 1000, m / o
  }'
  stop_daemons
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: compare within one run)"
