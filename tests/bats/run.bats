#!/usr/bin/env bats
# dk-run: lifecycle, namespaces, bad input and what it leaves behind.

load run_helpers
bats_require_minimum_version 1.5.0

setup_file() { run_setup_file; }
setup() { run_setup; }
teardown() { run_teardown; }

@test "run: a busybox container runs as pid 1 in its own namespaces and returns its exit status" {
  bundle "$T/b" '.hostname = "box1"' -- sh -c 'echo pid=$$; hostname; ip -o link | wc -l; exit 7'
  cd "$T/b"
  run dkrun run "$ID"
  assert_equal "$status" 7
  assert_line --index 0 "pid=1"
  assert_line --index 1 "box1"
  # only lo: no interface of the host
  assert_line --index 2 "1"
  # run deletes what it created
  run dkrun state "$ID"
  assert_failure
  assert_output --partial "container does not exist"
}

@test "run: env, cwd and user of the process" {
  bundle "$T/b" '.process.env += ["FOO=bar"] | .process.cwd = "/tmp" | .process.user = {"uid": 1000, "gid": 1001, "additionalGids": [1002]}' \
    -- sh -c 'echo $FOO; pwd; id -u; id -g; id -G'
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_line --index 0 "bar"
  assert_line --index 1 "/tmp"
  assert_line --index 2 "1000"
  assert_line --index 3 "1001"
  assert_line --index 4 "1001 1002"
}

@test "run: the environment has one entry per name, the last given; an empty HOME becomes the user's" {
  bundle "$T/b" '.process.env = ["ONE=two", "HOME=/x", "ONE=", "PATH=/usr/bin:/bin", "HOME="]' -- env
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_output "ONE=
PATH=/usr/bin:/bin
HOME=/root"
}

@test "run: the process's stdio belongs to its user, /dev/null excepted" {
  bundle "$T/b" '.process.user = {"uid": 1000, "gid": 1001}' \
    -- sh -c 'stat -L -c %u /proc/self/fd/0 /proc/self/fd/1'
  run dkrun run --bundle "$T/b" "$ID" </dev/null
  assert_success
  assert_output "0
1000"
}

@test "create waits on exec.fifo until start; state, kill and delete" {
  bundle "$T/b" . -- sleep 1000
  dkrun_bg create --bundle "$T/b" --pid-file "$T/pid" "$ID"
  [ "$(status_of "$ID")" = created ]
  pid=$(cat "$T/pid")
  [ "$(dkrun state "$ID" | jq .pid)" = "$pid" ]
  # still the runtime, not yet sleep
  run cat /proc/$pid/comm
  refute_output sleep
  dkrun start "$ID"
  [ "$(status_of "$ID")" = running ]
  run cat /proc/$pid/comm
  assert_output sleep
  run dkrun start "$ID"
  assert_failure
  assert_output --partial "cannot start an already running container"
  run dkrun delete "$ID"
  assert_failure
  assert_output --partial "that is not stopped: running"
  dkrun kill "$ID" KILL
  for i in $(seq 50); do [ "$(status_of "$ID")" = stopped ] && break; sleep 0.1; done
  [ "$(status_of "$ID")" = stopped ]
  dkrun delete "$ID"
  run dkrun state "$ID"
  assert_failure
  [ ! -e "$ROOT/$ID" ]
  [ ! -e "/sys/fs/cgroup/memory$CG" ]
}

@test "mounts: proc, sysfs, tmpfs, devpts, mqueue and a minimal /dev" {
  bundle "$T/b" . -- sh -c 'mount | awk "{print \$3, \$5}" | sort; ls /dev | sort | tr "\n" " "'
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_line "/proc proc"
  assert_line "/sys sysfs"
  assert_line "/dev tmpfs"
  assert_line "/dev/pts devpts"
  assert_line "/dev/mqueue mqueue"
  assert_line "/dev/shm tmpfs"
  assert_output --partial "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"
}

@test "a command not found gives 127 and runc's message, and leaves nothing" {
  bundle "$T/b" . -- nosuchcmd
  run -127 dkrun run --bundle "$T/b" "$ID"
  assert_equal "$status" 127
  assert_output --partial 'exec: \"nosuchcmd\": executable file not found in $PATH'
  run dkrun list -q
  assert_output ""
  [ ! -e "/sys/fs/cgroup/memory$CG" ]
  [ ! -e "/sys/fs/cgroup/pids$CG" ]
}

@test "init's error is never lost to its early exit (150 creates of a missing command)" {
  # init exits before reading the runtime's last sync byte; the kernel then
  # reports ECONNRESET ahead of init's queued message (3 in 200 lost before)
  bundle "$T/b" . -- nosuchcmd
  for i in $(seq 150); do
    run -127 dkrun create --bundle "$T/b" "$ID-$i"
    assert_output --partial 'executable file not found in $PATH'
  done
  run dkrun list -q
  assert_output ""
}

@test "a directory as command gives 126" {
  bundle "$T/b" . -- /tmp
  run -126 dkrun run --bundle "$T/b" "$ID"
  assert_equal "$status" 126
}

@test "bad input: invalid config.json, missing rootfs, unknown capability, bad seccomp rule" {
  bundle "$T/b" . -- true
  cp "$T/b/config.json" "$T/good.json"
  echo '{"ociVersion": ' >"$T/b/config.json"
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial "config.json"

  jq '.root.path = "nosuchdir"' "$T/good.json" >"$T/b/config.json"
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial "rootfs ($T/b/nosuchdir) does not exist"

  jq '.process.capabilities.bounding += ["CAP_NOT_A_CAP"]' "$T/good.json" >"$T/b/config.json"
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial 'unknown capability \"CAP_NOT_A_CAP\"'

  jq '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}' "$T/good.json" >"$T/b/config.json"
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial 'unknown action \"SCMP_ACT_BOGUS\"'

  # a failure inside the container's setup (a mount on a bad source)
  jq '.mounts += [{"destination": "/mnt", "type": "bind", "source": "/nonexistent", "options": ["bind"]}]' "$T/good.json" >"$T/b/config.json"
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial "/nonexistent"

  # nothing half-created remains
  run dkrun state "$ID"
  assert_output --partial "container does not exist"
  [ -z "$(ls "$ROOT" 2>/dev/null)" ]
  [ ! -e "/sys/fs/cgroup/memory$CG" ]
  [ ! -e "/sys/fs/cgroup/cpu$CG" ]
  run grep -c "$T/b/rootfs" /proc/self/mountinfo
  assert_output 0
}

@test "the same id twice is refused" {
  bundle "$T/b" . -- sleep 1000
  dkrun_bg create --bundle "$T/b" "$ID"
  run dkrun create --bundle "$T/b" "$ID"
  assert_failure
  assert_output --partial "container with given ID already exists"
  [ "$(status_of "$ID")" = created ]
}

@test "list, ps and features" {
  bundle "$T/b" . -- sleep 1000
  dkrun_bg run -d --bundle "$T/b" "$ID"
  run dkrun list
  assert_success
  assert_line --index 0 --regexp '^ID +PID +STATUS +BUNDLE +CREATED +OWNER$'
  assert_output --partial "$ID"
  [ "$(dkrun list --format json | jq -r '.[0].status')" = running ]
  pid=$(dkrun state "$ID" | jq .pid)
  [ "$(dkrun ps --format json "$ID")" = "[$pid]" ]
  run dkrun ps "$ID"
  assert_line --index 0 --partial PID
  assert_output --partial "sleep 1000"
  run dkrun features
  assert_success
  echo "$output" | jq -e '.linux.seccomp.enabled and any(.hooks[]; . == "poststop")'
}

@test "kill --all signals every process of the container" {
  bundle "$T/b" . -- sh -c 'sleep 1000 & sleep 1000 & wait'
  dkrun_bg run -d --bundle "$T/b" "$ID"
  for i in $(seq 50); do [ "$(dkrun ps --format json "$ID" | jq length)" = 3 ] && break; sleep 0.1; done
  dkrun kill --all "$ID" SIGKILL
  for i in $(seq 50); do [ "$(status_of "$ID")" = stopped ] && break; sleep 0.1; done
  [ "$(status_of "$ID")" = stopped ]
  run dkrun kill "$ID" TERM
  assert_failure
  assert_output --partial "container not running"
}

@test "a container survives kill -9 of the dk-run process that created it" {
  bundle "$T/b" . -- sleep 1000
  dkrun_bg create --bundle "$T/b" "$ID"
  dkrun start "$ID"
  [ "$(status_of "$ID")" = running ]
  CGX=$CG-2 bundle "$T/b2" . -- sleep 1000
  "$DKRUN" --root "$ROOT" run --bundle "$T/b2" "$ID-2" </dev/null >/dev/null 2>&1 &
  runner=$!
  for i in $(seq 50); do [ "$(status_of "$ID-2" 2>/dev/null)" = running ] && break; sleep 0.1; done
  kill -9 "$runner"
  wait "$runner" || true
  [ "$(status_of "$ID-2")" = running ]
  dkrun delete --force "$ID-2"
  [ ! -e "/sys/fs/cgroup/memory$CG-2" ]
  [ "$(status_of "$ID")" = running ]
}

@test "errors go to --log as json lines, as runc writes them" {
  run dkrun --log "$T/log" --log-format json state nosuch
  assert_failure
  jq -e '.level == "error" and .msg == "container does not exist"' "$T/log"
}

@test "namespaces given by path are joined" {
  bundle "$T/a" '.hostname = "first"' -- sleep 1000
  dkrun_bg create --pid-file "$T/a.pid" --bundle "$T/a" "$ID"
  dkrun start "$ID"
  a=$(cat "$T/a.pid")
  # the second container joins the first one's network, uts and pid namespaces
  CGX=$CG-2 bundle "$T/b" "del(.hostname) | .linux.namespaces |= map(if .type == \"network\" then .path = \"/proc/$a/ns/net\"
      elif .type == \"uts\" then .path = \"/proc/$a/ns/uts\" elif .type == \"pid\" then .path = \"/proc/$a/ns/pid\" else . end)" \
    -- sh -c 'readlink /proc/self/ns/net; hostname; ps -o args | grep -c "^sleep 1000"'
  run dkrun run --bundle "$T/b" "$ID-2"
  assert_success
  assert_line --index 0 "$(readlink /proc/$a/ns/net)"
  assert_line --index 1 first
  assert_line --index 2 1
}

@test "seccomp: SCMP_ACT_KILL_PROCESS ends the process with SIGSYS" {
  bundle "$T/b" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}' \
    -- dkinit mkdir /tmp/x
  run -159 dkrun run --bundle "$T/b" "$ID"
  refute_output ok
}

@test "rootfsPropagation: the container's root gets the propagation asked for" {
  bundle "$T/b" '.linux.rootfsPropagation = "rshared"' -- sh -c 'awk "\$5 == \"/\"" /proc/self/mountinfo'
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_output --partial "shared:"
  bundle "$T/c" . -- sh -c 'awk "\$5 == \"/\"" /proc/self/mountinfo'
  run dkrun run --bundle "$T/c" "$ID"
  assert_success
  refute_output --partial "shared:"
}

@test "run --no-pivot moves the rootfs over / instead of pivot_root" {
  bundle "$T/b" . -- sh -c 'ls /bin/busybox; echo pid=$$'
  run dkrun run --no-pivot --bundle "$T/b" "$ID"
  assert_success
  assert_line /bin/busybox
  assert_line pid=1
}

@test "spec writes runc's starter config.json, --rootless its rootless variant, never over a config" {
  mkdir -p "$T/s/rootfs" "$T/r" "$T/h"
  dkrun spec --bundle "$T/s"
  (cd "$T/r" && "$DKRUN" spec --rootless)
  run jq -c '[.process.args, .root, .linux.resources.devices, [.linux.namespaces[].type]]' "$T/s/config.json"
  assert_output '[["sh"],{"path":"rootfs","readonly":true},[{"allow":false,"access":"rwm"}],["pid","network","ipc","uts","mount"]]'
  run jq -c '[[.linux.namespaces[].type], .linux.uidMappings, .linux.resources, (.mounts[] | select(.destination == "/sys")), [.mounts[].options[]? | select(startswith("gid="))]]' "$T/r/config.json"
  assert_output "[[\"pid\",\"ipc\",\"uts\",\"mount\",\"user\"],[{\"containerID\":0,\"hostID\":$(id -u),\"size\":1}],null,{\"destination\":\"/sys\",\"type\":\"none\",\"source\":\"/sys\",\"options\":[\"rbind\",\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},[]]"
  # the same values as runc's (which older runc versions give ambient capabilities too)
  if command -v runc >/dev/null; then
    (cd "$T/h" && runc spec)
    assert_equal "$(jq -S 'del(.process.capabilities.ambient)' "$T/h/config.json")" "$(jq -S . "$T/s/config.json")"
  fi
  before=$(cat "$T/s/config.json")
  run -1 dkrun spec --bundle "$T/s"
  assert_output --partial "File config.json exists. Remove it first"
  assert_equal "$(cat "$T/s/config.json")" "$before"
  run -1 dkrun spec --bundle "$T/missing"
  [ ! -e "$T/missing" ]
}

@test "a bundle made with spec runs" {
  DKINIT= "$FIX/mkbundle" "$T/b" -- true
  rm "$T/b/config.json"
  dkrun spec --bundle "$T/b"
  jq --arg cg "$CG" '.process.terminal = false | .process.args = ["sh", "-c", "echo $(hostname) $(id -u)"] | .linux.cgroupsPath = $cg' "$T/b/config.json" >"$T/config.json"
  mv "$T/config.json" "$T/b/config.json"
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_output "runc 0"
}
