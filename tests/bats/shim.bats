#!/usr/bin/env bats
# dk-shim: one container's monitor, driven from a shell through its socket
# (`dk-shim ctl`).  Every scenario runs twice: under Debian's runc and under
# our dk-run (SHIM_RUNTIME=path replaces dk-run, e.g. with crun).

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SHIM=$REPO/bin/dk-shim

setup() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, cgroups)"
  RUNTIME=/usr/sbin/runc
  T=$(mktemp -d)
  ID=shimtest-$$-$RANDOM$RANDOM
  STATE=$T/state
  RTROOT=$T/rt
  make_bundle "$T/bundle"
}

teardown() {
  [ -n "${T:-}" ] || return 0
  if [ -f "$STATE/shim.pid" ]; then
    "$RUNTIME" --root "$RTROOT" kill "$ID" KILL 2>/dev/null || true
    timeout 5 "$SHIM" ctl "$STATE" '{"op":"release"}' >/dev/null 2>&1 || true
    for _ in $(seq 50); do [ -e "$STATE/shim.sock" ] || break; sleep 0.1; done
  fi
  "$RUNTIME" --root "$RTROOT" delete --force "$ID" 2>/dev/null || true
  rm -rf "$T"
}

# A busybox bundle: rootfs with the static busybox and applet links,
# config.json from `runc spec` (not read-only: tests write files).
make_bundle() {
  local b=$1
  mkdir -p "$b/rootfs/bin" "$b/rootfs/tmp"
  cp /bin/busybox "$b/rootfs/bin/"
  for a in sh cat echo sleep stty ls true seq tail head yes wc; do ln -s busybox "$b/rootfs/bin/$a"; done
  (cd "$b" && runc spec)
  jq '.process.terminal = false | .root.readonly = false | .hostname = "shimtest"' \
    "$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
}

# set_args 'sh' '-c' '...' : the container's command
set_args() {
  local args
  args=$(printf '%s\n' "$@" | jq -R . | jq -s .)
  jq --argjson a "$args" '.process.args = $a' "$T/bundle/config.json" >"$T/c.json"
  mv "$T/c.json" "$T/bundle/config.json"
}

set_tty() {
  jq '.process.terminal = true' "$T/bundle/config.json" >"$T/c.json"
  mv "$T/c.json" "$T/bundle/config.json"
}

shim() {
  "$SHIM" --id "$ID" --bundle "$T/bundle" --dir "$STATE" --runtime "$RUNTIME" \
    --runtime-root "$RTROOT" "$@"
}

# use_runtime runc|dk-run: the OCI runtime under the shim for this test
use_runtime() {
  case $1 in
  runc) RUNTIME=/usr/sbin/runc ;;
  dk-run) RUNTIME=${SHIM_RUNTIME:-$REPO/bin/dk-run} ;;
  esac
  [ -x "$RUNTIME" ] || skip "no runtime at $RUNTIME"
  # the foundation's stub dk-run has no commands yet
  "$RUNTIME" features >/dev/null 2>&1 || skip "$RUNTIME is not a working runtime yet (features fails)"
}

ctl() {
  "$SHIM" ctl "$STATE" "$@"
}

status_field() {
  ctl '{"op":"status"}' | jq -r ".$1"
}

wait_for() {
  # wait_for SECONDS COMMAND...: retry until it succeeds
  local n=$(($1 * 10)); shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
  "$@"
}

# the container's output reaches the log in json-file format, with rotation
scenario_1() {
  set_args sh -c 'i=0; while [ $i -lt 300 ]; do echo "line $i of the output"; i=$((i+1)); done; echo to-stderr >&2'
  run shim --start --log-opt max-size=2k --log-opt max-file=3
  assert_success
  assert_output --regexp '^\{"type":"ready","pid":[0-9]+\}$'
  run ctl '{"op":"wait"}'
  assert_success
  assert_output --partial '"exit_code":0'
  log=$STATE/$ID-json.log
  [ -f "$log.1" ] && [ -f "$log.2" ]
  [ ! -e "$log.3" ]
  for f in "$log" "$log.1" "$log.2"; do
    jq -e 'has("log") and has("stream") and has("time")' "$f" >/dev/null
    # each file stops growing just past max-size (Docker rotates before the write)
    [ "$(stat -c %s "$f")" -lt 2200 ]
  done
  run jq -r 'select(.stream=="stdout") | .log' "$log.1"
  assert_line --regexp '^line [0-9]+ of the output$'
  run jq -c 'select(.stream=="stderr")' "$log"
  assert_output --regexp '^\{"log":"to-stderr\\n","stream":"stderr","time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z"\}$'
  # the last line is whole: the newest file ends with the last lines
  run jq -r .log "$log"
  assert_line "line 299 of the output"
}

# --log-driver none writes no log
scenario_2() {
  set_args echo quiet
  run shim --start --log-driver none
  assert_success
  run ctl '{"op":"wait"}'
  assert_output --partial '"exit_code":0'
  run ls "$STATE"
  refute_output --partial json.log
}

# two clients attach at once and both get the output
scenario_3() {
  set_args sh -c 'sleep 1; echo to-out; echo to-err >&2; sleep 0.2'
  run shim
  assert_success
  assert_equal "$(status_field status)" created
  ctl --no-stdin '{"op":"attach","stdout":true,"stderr":true}' >"$T/a1.out" 2>"$T/a1.err" &
  p1=$!
  ctl --no-stdin '{"op":"attach","stdout":true,"stderr":false}' >"$T/a2.out" 2>"$T/a2.err" &
  p2=$!
  sleep 0.2
  run ctl '{"op":"start"}'
  assert_output '{"type":"ok"}'
  wait "$p1"
  wait "$p2"
  run cat "$T/a1.out"
  assert_output to-out
  run cat "$T/a1.err"
  assert_line '{"type":"ok"}'
  assert_line to-err
  run cat "$T/a2.out"
  assert_output to-out
  refute grep -q to-err "$T/a2.err"
  assert_equal "$(status_field exit_code)" 0
}

# stdin reaches cat and its echo comes back; half-close ends it with --stdin-once
scenario_4() {
  set_args cat
  run shim --start --stdin --stdin-once
  assert_success
  run bash -c "printf 'hello through cat\nsecond line\n' | '$SHIM' ctl '$STATE' '{\"op\":\"attach\",\"stdin\":true,\"stdout\":true,\"stderr\":true}'"
  assert_success
  assert_line 'hello through cat'
  assert_line 'second line'
  run ctl '{"op":"wait"}'
  assert_output --partial '"exit_code":0'
}

# close-stdin ends cat; without --stdin-once a client's EOF does not
scenario_5() {
  set_args cat
  run shim --start --stdin
  assert_success
  run bash -c "echo first | timeout 2 '$SHIM' ctl '$STATE' '{\"op\":\"attach\",\"stdin\":true,\"stdout\":true}'"
  assert_output --partial first
  assert_equal "$(status_field status)" running
  run ctl '{"op":"close-stdin"}'
  assert_output '{"type":"ok"}'
  run timeout 5 "$SHIM" ctl "$STATE" '{"op":"wait"}'
  assert_success
  assert_output --partial '"exit_code":0'
}

# exec runs a process with its own stdio and exit code
scenario_6() {
  set_args sleep 60
  run shim --start
  assert_success
  run ctl --no-stdin '{"op":"exec","exec_id":"e1","process":{"args":["sh","-c","echo in-exec; echo exec-err >&2; exit 3"],"cwd":"/","env":["PATH=/bin"]}}'
  assert_equal "$status" 3
  assert_line in-exec
  assert_line exec-err
  assert_line --regexp '^\{"type":"ok","pid":[0-9]+\}$'
  run ctl '{"op":"exec-status","exec_id":"e1"}'
  assert_output --regexp '"running":false.*"exit_code":3'
  # stdin of an exec, closed by the client's EOF
  run bash -c "echo piped | '$SHIM' ctl '$STATE' '{\"op\":\"exec\",\"exec_id\":\"e2\",\"process\":{\"args\":[\"cat\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"]}}'"
  assert_success
  assert_line piped
  # a detached exec
  run ctl '{"op":"exec","exec_id":"e3","detach":true,"process":{"args":["sh","-c","exit 5"],"cwd":"/","env":["PATH=/bin"]}}'
  assert_success
  wait_for 5 bash -c "'$SHIM' ctl '$STATE' '{\"op\":\"exec-status\",\"exec_id\":\"e3\"}' | grep -q '\"exit_code\":5'"
  # a command that does not exist is a clear error
  run ctl --no-stdin '{"op":"exec","exec_id":"e4","process":{"args":["nonexistent-cmd"],"cwd":"/","env":["PATH=/bin"]}}'
  assert_failure
  assert_output --partial '"type":"error"'
  assert_output --partial 'nonexistent-cmd'
  assert_equal "$(status_field status)" running
}

# resize changes stty size in a tty container
scenario_7() {
  set_tty
  set_args sh -c 'while :; do stty size; sleep 0.1; done'
  run shim --start --terminal
  assert_success
  run ctl '{"op":"resize","height":41,"width":123}'
  assert_output '{"type":"ok"}'
  wait_for 5 grep -q '41 123' "$STATE/$ID-json.log"
  run jq -r .log "$STATE/$ID-json.log"
  assert_output --partial $'41 123\r'
  # a tty attach gets everything as stdout
  run timeout 2 "$SHIM" ctl --no-stdin "$STATE" '{"op":"attach","stdout":true,"stderr":true}'
  assert_output --partial '41 123'
}

# a tty container echoes stdin and a tty exec gets its own size
scenario_8() {
  set_tty
  set_args sh
  run shim --start --terminal --stdin
  assert_success
  run bash -c "(printf 'echo marker-\$((6*7))\n'; sleep 0.5) | timeout 2 '$SHIM' ctl '$STATE' '{\"op\":\"attach\",\"stdin\":true,\"stdout\":true}'"
  assert_output --partial marker-42
  ctl '{"op":"exec","exec_id":"t1","process":{"terminal":true,"args":["sh","-c","sleep 1; stty size"],"cwd":"/","env":["PATH=/bin"]}}' </dev/null >"$T/exec.out" 2>&1 &
  client=$!
  wait_for 5 bash -c "'$SHIM' ctl '$STATE' '{\"op\":\"resize-exec\",\"exec_id\":\"t1\",\"height\":22,\"width\":77}' | grep -q '\"ok\"'"
  wait "$client"
  run cat "$T/exec.out"
  assert_output --partial '22 77'
}

# kill -9 of a client leaves the container running; a new client reattaches
scenario_9() {
  set_args sh -c 'i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done'
  run shim --start
  assert_success
  ctl --no-stdin '{"op":"attach","stdout":true}' >"$T/first.out" 2>/dev/null &
  client=$!
  wait_for 5 grep -q tick "$T/first.out"
  kill -9 "$client"
  wait "$client" || true
  assert_equal "$(status_field status)" running
  run timeout 2 "$SHIM" ctl --no-stdin "$STATE" '{"op":"attach","stdout":true}'
  assert_output --regexp 'tick [0-9]+'
  run ctl '{"op":"kill","signal":9}'
  assert_output '{"type":"ok"}'
  run ctl '{"op":"wait"}'
  assert_output --partial '"exit_code":137'
}

# exit.json is written when the container exits; the shim leaves once the status is fetched
scenario_10() {
  set_args sh -c 'sleep 0.2; exit 7'
  run shim --start
  assert_success
  shim_pid=$(cat "$STATE/shim.pid")
  wait_for 5 test -f "$STATE/exit.json"
  run jq -c . "$STATE/exit.json"
  assert_output --regexp '^\{"exit_code":7,"finished_at":"[0-9T:.-]+Z","oom_killed":false'
  # still there for a client that was away (dockerd restarting)
  kill -0 "$shim_pid"
  run ctl '{"op":"status"}'
  assert_output --partial '"status":"exited"'
  assert_output --partial '"exit_code":7'
  wait_for 5 bash -c "! kill -0 $shim_pid 2>/dev/null"
  [ ! -e "$STATE/shim.sock" ]
  run "$RUNTIME" --root "$RTROOT" state "$ID"
  assert_failure
}

# a memory limit's OOM kill is reported
scenario_11() {
  jq '.linux.resources.memory = {"limit": 16777216, "swap": 16777216}' "$T/bundle/config.json" >"$T/c.json"
  mv "$T/c.json" "$T/bundle/config.json"
  set_args sh -c 'tail /dev/zero'
  run shim --start
  assert_success
  run timeout 20 "$SHIM" ctl "$STATE" '{"op":"wait"}'
  assert_success
  assert_output --partial '"oom_killed":true'
  assert_output --partial '"exit_code":137'
}

# a bad bundle gives a clear error and leaves nothing behind
scenario_12() {
  rm -rf "$T/bundle/rootfs"
  run shim --start
  assert_failure
  assert_output --partial '"type":"error"'
  assert_output --partial 'rootfs'
  [ ! -e "$STATE" ]
  run "$RUNTIME" --root "$RTROOT" list -q
  refute_output --partial "$ID"
}

# a command missing from the container is the runtime's error and nothing stays
scenario_13() {
  set_args no-such-command
  run shim --start
  assert_failure
  assert_output --partial '"type":"error"'
  assert_output --partial 'no-such-command'
  [ ! -e "$STATE" ]
  run "$RUNTIME" --root "$RTROOT" list -q
  refute_output --partial "$ID"
  [ ! -e "/sys/fs/cgroup/memory/$ID" ]
}

# a second shim on the same state dir is refused
scenario_14() {
  set_args sleep 60
  run shim
  assert_success
  # only its owner may talk to the shim
  assert_equal "$(stat -c %a "$STATE/shim.sock")" 600
  run "$SHIM" --id "$ID-2" --bundle "$T/bundle" --dir "$STATE" --runtime "$RUNTIME" --runtime-root "$RTROOT"
  assert_failure
  assert_output --partial 'already running'
  assert [ -S "$STATE/shim.sock" ]
}

# a restart right after the exit: the new shim takes over from the old one
scenario_15() {
  set_args sh -c 'echo run; exit 3'
  run shim --start
  assert_success
  old=$(cat "$STATE/shim.pid")
  wait_for 5 test -f "$STATE/exit.json"
  # nobody fetched the status: the old shim is still there
  kill -0 "$old"
  run shim --start
  assert_success
  ! kill -0 "$old" 2>/dev/null
  run ctl '{"op":"wait"}'
  assert_output --partial '"exit_code":3'
  run jq -j .log "$STATE/$ID-json.log"
  assert_output $'run\nrun'
}

@test "runc: the container's output reaches the log in json-file format, with rotation" {
  use_runtime runc
  scenario_1
}

@test "runc: --log-driver none writes no log" {
  use_runtime runc
  scenario_2
}

@test "runc: two clients attach at once and both get the output" {
  use_runtime runc
  scenario_3
}

@test "runc: stdin reaches cat and its echo comes back; half-close ends it with --stdin-once" {
  use_runtime runc
  scenario_4
}

@test "runc: close-stdin ends cat; without --stdin-once a client's EOF does not" {
  use_runtime runc
  scenario_5
}

@test "runc: exec runs a process with its own stdio and exit code" {
  use_runtime runc
  scenario_6
}

@test "runc: resize changes stty size in a tty container" {
  use_runtime runc
  scenario_7
}

@test "runc: a tty container echoes stdin and a tty exec gets its own size" {
  use_runtime runc
  scenario_8
}

@test "runc: kill -9 of a client leaves the container running; a new client reattaches" {
  use_runtime runc
  scenario_9
}

@test "runc: exit.json is written when the container exits; the shim leaves once the status is fetched" {
  use_runtime runc
  scenario_10
}

@test "runc: a memory limit's OOM kill is reported" {
  use_runtime runc
  scenario_11
}

@test "runc: a bad bundle gives a clear error and leaves nothing behind" {
  use_runtime runc
  scenario_12
}

@test "runc: a command missing from the container is the runtime's error and nothing stays" {
  use_runtime runc
  scenario_13
}

@test "runc: a second shim on the same state dir is refused" {
  use_runtime runc
  scenario_14
}

@test "dk-run: the container's output reaches the log in json-file format, with rotation" {
  use_runtime dk-run
  scenario_1
}

@test "dk-run: --log-driver none writes no log" {
  use_runtime dk-run
  scenario_2
}

@test "dk-run: two clients attach at once and both get the output" {
  use_runtime dk-run
  scenario_3
}

@test "dk-run: stdin reaches cat and its echo comes back; half-close ends it with --stdin-once" {
  use_runtime dk-run
  scenario_4
}

@test "dk-run: close-stdin ends cat; without --stdin-once a client's EOF does not" {
  use_runtime dk-run
  scenario_5
}

@test "dk-run: exec runs a process with its own stdio and exit code" {
  use_runtime dk-run
  scenario_6
}

@test "dk-run: resize changes stty size in a tty container" {
  use_runtime dk-run
  scenario_7
}

@test "dk-run: a tty container echoes stdin and a tty exec gets its own size" {
  use_runtime dk-run
  scenario_8
}

@test "dk-run: kill -9 of a client leaves the container running; a new client reattaches" {
  use_runtime dk-run
  scenario_9
}

@test "dk-run: exit.json is written when the container exits; the shim leaves once the status is fetched" {
  use_runtime dk-run
  scenario_10
}

@test "dk-run: a memory limit's OOM kill is reported" {
  use_runtime dk-run
  scenario_11
}

@test "dk-run: a bad bundle gives a clear error and leaves nothing behind" {
  use_runtime dk-run
  scenario_12
}

@test "dk-run: a command missing from the container is the runtime's error and nothing stays" {
  use_runtime dk-run
  scenario_13
}

@test "dk-run: a second shim on the same state dir is refused" {
  use_runtime dk-run
  scenario_14
}

@test "runc: a new shim for a restarted container takes over from the exited one" {
  use_runtime runc
  scenario_15
}

@test "dk-run: a new shim for a restarted container takes over from the exited one" {
  use_runtime dk-run
  scenario_15
}
