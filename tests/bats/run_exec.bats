#!/usr/bin/env bats
# dk-run: exec, terminals over --console-socket, hooks.

load run_helpers
bats_require_minimum_version 1.5.0

setup_file() { run_setup_file; }
setup() { run_setup; }
teardown() {
  [ -n "${RECV:-}" ] && kill "$RECV" 2>/dev/null
  run_teardown
}

running() {
  bundle "$T/b" "${1:-.}" -- sleep 1000
  dkrun_bg run -d --bundle "$T/b" "$ID"
}

# console_recv SOCKET OUT [INPUT]: receives the pty master in the background
console_recv() {
  "$FIX/console-recv" "$@" >"$T/recv.ready" 2>&1 &
  RECV=$!
  for i in $(seq 100); do [ -s "$T/recv.ready" ] && return 0; sleep 0.05; done
  return 1
}

@test "exec runs in the container's namespaces and returns the exit status" {
  running '.hostname = "exechost"'
  run dkrun exec "$ID" sh -c 'hostname; tr "\\0" " " </proc/1/cmdline; echo; readlink /proc/1/exe; exit 3'
  assert_equal "$status" 3
  assert_line --index 0 exechost
  assert_line --index 1 "sleep 1000 "
  assert_line --index 2 /bin/busybox
}

@test "exec: env, cwd, user and added capabilities" {
  running
  run dkrun exec --env FOO=bar --cwd /tmp --user 1000:1001 "$ID" sh -c 'echo $FOO; pwd; id -u; id -g'
  assert_success
  assert_output "$(printf 'bar\n/tmp\n1000\n1001')"
  run dkrun exec --cap CAP_SYS_ADMIN "$ID" grep CapEff /proc/self/status
  # runc's defaults plus CAP_SYS_ADMIN (bit 21)
  assert_output "CapEff:	0000000020200420"
}

@test "exec: a command not found gives 127 and the message" {
  running
  run -127 dkrun exec "$ID" nosuchcmd
  assert_output --partial 'exec: \"nosuchcmd\": executable file not found in $PATH'
}

@test "exec --process, --detach and --pid-file; the process joins the cgroup" {
  running
  cat >"$T/p.json" <<'EOF'
{"args": ["sleep", "900"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
EOF
  dkrun_bg exec --process "$T/p.json" --detach --pid-file "$T/exec.pid" "$ID"
  pid=$(cat "$T/exec.pid")
  [ "$(cat /proc/$pid/comm)" = sleep ]
  grep -qx "$pid" "/sys/fs/cgroup/pids$CG/cgroup.procs"
  run dkrun ps --format json "$ID"
  assert_output --regexp "[\[,]$pid[],]"
}

@test "exec into a stopped container is refused" {
  bundle "$T/b" . -- true
  dkrun_bg create --bundle "$T/b" "$ID"
  dkrun start "$ID"
  for i in $(seq 50); do [ "$(status_of "$ID")" = stopped ] && break; sleep 0.1; done
  run dkrun exec "$ID" true
  assert_failure
  assert_output --partial "cannot exec in a stopped container"
}

@test "terminal: the pty master goes to --console-socket, the process has a controlling tty" {
  bundle "$T/b" '.process.terminal = true' -- sh -c 'tty; test -t 0 && test -t 1 && echo is-a-tty; read line; echo got:$line'
  console_recv "$T/console.sock" "$T/console.out" $'hello\n'
  dkrun_bg create --console-socket "$T/console.sock" --bundle "$T/b" "$ID"
  dkrun start "$ID"
  for i in $(seq 50); do grep -q got: "$T/console.out" && break; sleep 0.1; done
  run cat "$T/console.out"
  assert_line --index 0 --regexp '^name=/dev/pts/[0-9]+$'
  assert_output --partial "is-a-tty"
  assert_output --partial "got:hello"
}

@test "terminal without --console-socket is refused" {
  bundle "$T/b" '.process.terminal = true' -- true
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial "cannot allocate tty if runc will detach without setting console socket"
  [ -z "$(ls "$ROOT" 2>/dev/null)" ]
}

@test "exec --tty without a console socket relays the pty in the foreground; --detach is refused" {
  running
  run bash -c 'echo hello | "$@"' _ "$DKRUN" --root "$ROOT" exec --tty "$ID" sh -c 'readlink /proc/self/fd/0; read l; echo got=$l; exit 3'
  assert_equal "$status" 3
  # the pty echoes the input line too, as a terminal does
  assert_line --regexp '^/dev/pts/[0-9]+$'
  assert_line "got=hello"
  refute_output --partial $'\r'
  run dkrun exec --tty --detach "$ID" true
  assert_failure
  assert_output --partial "cannot allocate tty if runc will detach without setting console socket"
}

@test "exec --tty: process.consoleSize is the terminal's size from the start" {
  running
  echo '{"terminal": true, "consoleSize": {"height": 10, "width": 110}, "args": ["stty", "size"], "cwd": "/"}' >"$T/p.json"
  run dkrun exec --process "$T/p.json" "$ID" </dev/null
  assert_success
  assert_output "10 110"
}

@test "exec --tty over a console socket" {
  running
  console_recv "$T/exec.sock" "$T/exec.out"
  run dkrun exec --tty --console-socket "$T/exec.sock" "$ID" sh -c 'test -t 0 && echo exec-tty'
  assert_success
  for i in $(seq 50); do grep -q exec-tty "$T/exec.out" && break; sleep 0.1; done
  run cat "$T/exec.out"
  assert_output --partial exec-tty
}

@test "hooks run in order with the state on stdin" {
  cat >"$T/hook" <<EOF
#!/bin/sh
state=\$(cat)
echo "\$1 \$(echo "\$state" | jq -r '.status + " " + (.pid | tostring) + " " + .id')" >>"$T/hooks.log"
EOF
  chmod +x "$T/hook"
  h() { echo "{\"path\": \"$T/hook\", \"args\": [\"hook\", \"$1\"]}"; }
  bundle "$T/b" ".hooks = {\"prestart\": [$(h prestart)], \"createRuntime\": [$(h createRuntime)],
      \"createContainer\": [$(h createContainer)], \"poststart\": [$(h poststart)], \"poststop\": [$(h poststop)]}" -- true
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  run cut -d' ' -f1,2 "$T/hooks.log"
  assert_output "$(printf 'prestart creating\ncreateRuntime creating\ncreateContainer created\npoststart running\npoststop stopped')"
  run awk '$1 == "prestart" {print $4}' "$T/hooks.log"
  assert_output "$ID"
  # every hook sees the pid of the container on the host
  [ "$(awk '$1 != "poststop" {print $3}' "$T/hooks.log" | sort -u | wc -l)" = 1 ]
}

@test "a failing prestart hook fails create and leaves nothing" {
  bundle "$T/b" '.hooks.prestart = [{"path": "/bin/false"}]' -- sleep 1000
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial "error running prestart hook #0"
  [ -z "$(ls "$ROOT" 2>/dev/null)" ]
  [ ! -e "/sys/fs/cgroup/memory$CG" ]
}

@test "run with terminal: true and no console socket relays the pty itself" {
  bundle "$T/b" '.process.terminal = true' -- sh -c 'tty; read line; echo got=$line; exit 4'
  run -4 bash -c 'echo hello | "$@"' _ "$DKRUN" --root "$ROOT" run --bundle "$T/b" "$ID"
  assert_line --regexp '^/dev/pts/[0-9]+'
  assert_output --partial "got=hello"
  [ -z "$(ls "$ROOT")" ]
}

@test "run with terminal: true and no console socket relays the output without carriage returns" {
  bundle "$T/b" '.process.terminal = true' -- sh -c 'echo one; echo two'
  run bash -c '"$@" </dev/null | od -c' _ "$DKRUN" --root "$ROOT" run --bundle "$T/b" "$ID"
  assert_success
  assert_line --regexp '^0000000 +o +n +e +\\n +t +w +o +\\n$'
  refute_output --partial '\r'
}
