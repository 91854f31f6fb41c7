#!/usr/bin/env bash
# `docker run --rm busybox true` through the docker CLI: our dockerd against
# moby's (Debian's docker.io /usr/sbin/dockerd), each on its own socket,
# data root, exec root and pidfile, `--bridge=none --iptables=false`, the
# image pulled by each from a local registry.  Prints the medians, the
# ratio, and both daemons' idle RSS.  Targets: ratio <= 0.2, RSS < 10 MB.
# Usage: bench/dockerd.sh [RUNS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
[ -x bin/dockerd ] || { echo "build first: make" >&2; exit 1; }
[ -x /usr/sbin/dockerd ] || { echo "moby's dockerd (/usr/sbin/dockerd) is not installed" >&2; exit 1; }

load() { :; }
# shellcheck source=/dev/null
source tests/bats/helpers.bash

T=$(mktemp -d)
OURS= MOBY=
cleanup() {
  set +e # a failing step (no mount left to grep) must not skip the rest
  for s in "$T/ours.sock" "$T/moby.sock"; do
    [ -S "$s" ] && DOCKER_HOST=unix://$s docker rm -f $(DOCKER_HOST=unix://$s docker ps -aq) >/dev/null 2>&1 || true
  done
  for p in $OURS $MOBY; do kill "$p" 2>/dev/null || true; done
  for p in $OURS $MOBY; do
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
  stop_registry "${REGISTRY_PID:-}" >/dev/null 2>&1 || true
  grep -o " $T/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

start_registry >/dev/null
push_fixture busybox library/busybox:latest >/dev/null
IMG=$REGISTRY/library/busybox:latest

wait_sock() {
  for _ in $(seq 600); do
    curl -sf --unix-socket "$1" http://d/_ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "daemon on $1 did not come up" >&2
  return 1
}

echo '{}' >"$T/ours.json"
bin/dockerd -H "unix://$T/ours.sock" --data-root "$T/ours" --exec-root "$T/ours-exec" \
  --pidfile "$T/ours.pid" --config-file "$T/ours.json" --bridge=none --iptables=false \
  --add-runtime hostrunc=/usr/sbin/runc >"$T/ours.log" 2>&1 &
OURS=$!
echo '{}' >"$T/moby.json"
/usr/sbin/dockerd -H "unix://$T/moby.sock" --data-root "$T/moby" --exec-root "$T/moby-exec" \
  --pidfile "$T/moby.pid" --config-file "$T/moby.json" --bridge=none --iptables=false \
  --ip6tables=false >"$T/moby.log" 2>&1 &
MOBY=$!
wait_sock "$T/ours.sock"
wait_sock "$T/moby.sock"

export DOCKER_HOST=unix://$T/ours.sock
docker pull -q "$IMG" >/dev/null
RUNTIME_NOTE="our runtime (dk-run)"
if ! docker run --rm "$IMG" true >/dev/null 2>&1; then
  RUNTIME_NOTE="host runc (dk-run failed the smoke run)"
  RUNARGS=(--runtime hostrunc)
else
  RUNARGS=()
fi
DOCKER_HOST=unix://$T/moby.sock docker pull -q "$IMG" >/dev/null

# median of RUNS timed runs (ms), after one warm-up
median_run() {
  local sock=$1
  shift
  DOCKER_HOST=unix://$sock docker run --rm "$@" "$IMG" true >/dev/null
  local i t0 t1 times=()
  for i in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    DOCKER_HOST=unix://$sock docker run --rm "$@" "$IMG" true >/dev/null
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

ours_ms=$(median_run "$T/ours.sock" "${RUNARGS[@]}")
moby_ms=$(median_run "$T/moby.sock")
sleep 2
ours_rss=$(awk '/^VmRSS:/{print $2}' "/proc/$OURS/status")
moby_rss=$(awk '/^VmRSS:/{print $2}' "/proc/$MOBY/status")

awk -v o="$ours_ms" -v m="$moby_ms" -v orss="$ours_rss" -v mrss="$moby_rss" -v n="$RUNS" \
  -v rt="$RUNTIME_NOTE" 'BEGIN {
  printf "docker run --rm busybox true, median of %d (ours on %s)\n", n, rt
  printf "  ours: %d ms   moby: %d ms   ratio: %.2f (target <= 0.20)\n", o, m, o / m
  printf "idle daemon RSS\n"
  printf "  ours: %.1f MB   moby: %.1f MB   ratio: %.2f (target: ours < 10 MB)\n", orss / 1024, mrss / 1024, orss / mrss
}'
