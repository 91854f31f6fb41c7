# Shared setup of the dk-run suites: a state root, a unique id and cgroup
# per test, bundles made from busybox-static and the static helper.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
DKRUN=${DKRUN:-$REPO/bin/dk-run}
FIX=$REPO/tests/fixtures/runtime

run_setup_file() {
  [ "$(id -u)" -eq 0 ] || return 0
  gcc -static -O2 -o "$BATS_FILE_TMPDIR/dkinit" "$FIX/dkinit.c"
  # one template bundle per file; each test copies it
  DKINIT=$BATS_FILE_TMPDIR/dkinit "$FIX/mkbundle" "$BATS_FILE_TMPDIR/tpl" . -- true
}

run_setup() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, cgroups, mounts)"
  [ -x "$DKRUN" ] || skip "bin/dk-run not built"
  T=$(mktemp -d)
  ROOT=$T/state
  ID=dkt-$$-$RANDOM$RANDOM
  CG=/dk-run-test/$ID
  export DKINIT=$BATS_FILE_TMPDIR/dkinit
}

run_teardown() {
  [ -n "${T:-}" ] || return 0
  for id in $(ls "$ROOT" 2>/dev/null); do "$DKRUN" --root "$ROOT" delete --force "$id" 2>/dev/null || true; done
  for id in $(ls "$T/runc-state" 2>/dev/null); do runc --root "$T/runc-state" delete --force "$id" 2>/dev/null || true; done
  for d in /sys/fs/cgroup/*/dk-run-test/"$ID" /sys/fs/cgroup/*/dk-run-test/"$ID"-*; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
  done
  # a test's own mounts (a private cgroup root) go first, deepest first:
  # rm -rf must never walk into a cgroup hierarchy
  grep -o " $T/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$T"
}

# bundle DIR [JQ-FILTER] -- ARGS...: a busybox bundle with a unique cgroup
bundle() {
  local dir=$1 filter=${2:-.}
  shift 2
  [ "${1:-}" = -- ] && shift
  cp -a "$BATS_FILE_TMPDIR/tpl" "$dir"
  jq --argjson args "$(for a in "$@"; do jq -n --arg a "$a" '$a'; done | jq -s .)" \
    ".process.args = \$args | $filter | .linux.cgroupsPath = \"${CGX:-$CG}\"" \
    "$BATS_FILE_TMPDIR/tpl/config.json" >"$dir/config.json"
}

dkrun() {
  "$DKRUN" --root "$ROOT" "$@"
}

# the state's status field
status_of() {
  dkrun state "$1" | jq -r .status
}

# create / run -d: the container keeps the stdio it inherits, so it must not
# be bats' output pipe (bats would wait for the container to exit)
dkrun_bg() {
  dkrun "$@" </dev/null >>"$T/ctr.out" 2>&1
}
