#!/usr/bin/env bats
# dk-run: cgroups (this machine: v1 controllers, hybrid), limits enforced,
# OOM reported, removed on delete.

load run_helpers
bats_require_minimum_version 1.5.0

setup_file() { run_setup_file; }
setup() {
  run_setup
  [ -d /sys/fs/cgroup/memory ] || skip "cgroup v1 memory controller not mounted"
}
teardown() { run_teardown; }

cg() { cat "/sys/fs/cgroup/$1$CG/$2"; }

@test "resources are written to the container's cgroups and removed on delete" {
  bundle "$T/b" '.linux.resources = {
      "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "swappiness": 10},
      "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
      "pids": {"limit": 42},
      "blockIO": {"weight": 300},
      "devices": [{"allow": false, "access": "rwm"}]}' -- sleep 1000
  dkrun_bg create --bundle "$T/b" --pid-file "$T/pid" "$ID"
  pid=$(cat "$T/pid")
  [ "$(cg memory memory.limit_in_bytes)" = 67108864 ]
  [ "$(cg memory memory.soft_limit_in_bytes)" = 33554432 ]
  [ "$(cg memory memory.memsw.limit_in_bytes)" = 134217728 ]
  [ "$(cg memory memory.swappiness)" = 10 ]
  [ "$(cg cpu cpu.shares)" = 512 ]
  [ "$(cg cpu cpu.cfs_quota_us)" = 50000 ]
  [ "$(cg cpu cpu.cfs_period_us)" = 100000 ]
  [ "$(cg cpuset cpuset.cpus)" = 0 ]
  [ "$(cg pids pids.max)" = 42 ]
  if [ -e "/sys/fs/cgroup/blkio$CG/blkio.weight" ]; then
    [ "$(cg blkio blkio.weight)" = 300 ]
  elif [ -e "/sys/fs/cgroup/blkio$CG/blkio.bfq.weight" ]; then
    [ "$(cg blkio blkio.bfq.weight | awk '{print $NF}')" = 300 ]
  fi
  # deny all, then the devices every container needs
  run cg devices devices.list
  refute_line "a *:* rwm"
  assert_line "c 1:3 rwm"
  assert_line "c 136:* rwm"
  # the process is in every hierarchy
  for ctl in memory cpu cpuset pids blkio devices freezer; do
    grep -qx "$pid" "/sys/fs/cgroup/$ctl$CG/cgroup.procs"
  done
  dkrun delete --force "$ID"
  for ctl in memory cpu cpuset pids blkio devices freezer; do
    [ ! -e "/sys/fs/cgroup/$ctl$CG" ]
  done
}

@test "memory limit: the container is OOM-killed and the kill is reported" {
  bundle "$T/b" '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}' -- dkinit alloc 128
  dkrun_bg create --bundle "$T/b" "$ID"
  dkrun start "$ID"
  for i in $(seq 100); do [ "$(status_of "$ID")" = stopped ] && break; sleep 0.1; done
  run dkrun state "$ID"
  assert_output --partial '"status":"stopped"'
  assert_output --partial '"oomKilled":true'
  [ "$(awk '/^oom_kill / {print $2}' "/sys/fs/cgroup/memory$CG/memory.oom_control")" -ge 1 ]
  run cat "$T/ctr.out"
  refute_output --partial allocated
}

@test "memory limit: run returns 137 when the init is OOM-killed" {
  bundle "$T/b" '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}' -- dkinit alloc 128
  run -137 dkrun run --bundle "$T/b" "$ID"
  refute_output --partial allocated
}

@test "pids limit refuses forks" {
  bundle "$T/b" '.linux.resources.pids = {"limit": 10}' -- dkinit forks 30
  run dkrun run --bundle "$T/b" "$ID"
  # dkinit itself counts: at most 9 children
  [ "$output" -le 9 ]
  [ "$output" -ge 1 ]
}

@test "a cgroup namespace shows the container's cgroup as its root" {
  bundle "$T/b" '.linux.namespaces += [{"type": "cgroup"}]' -- cat /proc/self/cgroup
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_line --regexp '^[0-9]+:memory:/$'
  assert_line --regexp '^[0-9]+:pids:/$'
}

@test "the cgroup mount shows the container's own cgroup, read-only" {
  bundle "$T/b" '.linux.resources.pids = {"limit": 77}' -- sh -c 'cat /sys/fs/cgroup/pids/pids.max; touch /sys/fs/cgroup/pids/x; echo rc=$?'
  run dkrun run --bundle "$T/b" "$ID"
  assert_line --index 0 77
  assert_line "rc=1"
}

@test "a plain directory next to the v1 hierarchies is not taken for one" {
  # a private cgroup root: two real v1 hierarchies and a directory that is
  # no cgroup mount (as a stray /sys/fs/cgroup/hugetlb once was on this host)
  grep -q "^cgroup /sys/fs/cgroup/pids cgroup" /proc/self/mounts || skip "no v1 pids hierarchy"
  mkdir -p "$T/cg"
  mount -t tmpfs -o mode=755 tmpfs "$T/cg"
  mkdir "$T/cg/pids" "$T/cg/memory" "$T/cg/hugetlb"
  mount -t cgroup -o pids cgroup "$T/cg/pids"
  mount -t cgroup -o memory cgroup "$T/cg/memory"
  export DK_CGROUP_ROOT=$T/cg
  bundle "$T/b" '.linux.resources = {"pids": {"limit": 20}}' -- sh -c 'grep -E ":(pids|memory):" /proc/self/cgroup; ls /sys/fs/cgroup'
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_line --regexp "^[0-9]+:pids:$CG\$"
  assert_line --regexp "^[0-9]+:memory:$CG\$"
  refute_line "hugetlb"
  [ ! -e "$T/cg/hugetlb$CG" ]
  [ ! -e "$T/cg/pids$CG" ]
  umount "$T/cg/pids" "$T/cg/memory" "$T/cg"
}

@test "cgroup v2 code path on the unified hierarchy: placed, listed, killed and removed" {
  [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] || skip "no cgroup2 at /sys/fs/cgroup/unified"
  export DK_CGROUP_ROOT=/sys/fs/cgroup/unified
  bundle "$T/b" . -- sh -c 'sleep 1000 & exec sleep 1001'
  dkrun_bg run -d --pid-file "$T/pid" --bundle "$T/b" "$ID"
  pid=$(cat "$T/pid")
  grep -qx "0::$CG" /proc/$pid/cgroup
  for i in $(seq 50); do [ "$(dkrun ps --format json "$ID" | jq length)" = 2 ] && break; sleep 0.1; done
  [ "$(dkrun ps --format json "$ID" | jq length)" = 2 ]
  dkrun delete --force "$ID"
  [ ! -e "/sys/fs/cgroup/unified$CG" ]
  run dkrun state "$ID"
  assert_failure
}

@test "pause and resume freeze the container; update changes its limits" {
  bundle "$T/b" '.linux.resources = {"memory": {"limit": 67108864}, "pids": {"limit": 50}}' -- sh -c 'while :; do echo tick >>/tmp/ticks; sleep 0.1; done'
  dkrun_bg run -d --bundle "$T/b" "$ID"
  dkrun pause "$ID"
  [ "$(status_of "$ID")" = paused ]
  [ "$(cat "/sys/fs/cgroup/freezer$CG/freezer.state")" = FROZEN ]
  n=$(wc -l <"$T/b/rootfs/tmp/ticks")
  sleep 0.5
  [ "$(wc -l <"$T/b/rootfs/tmp/ticks")" = "$n" ]
  run dkrun delete "$ID"
  assert_failure
  assert_output --partial "that is not stopped: paused"
  dkrun resume "$ID"
  [ "$(status_of "$ID")" = running ]
  for i in $(seq 30); do [ "$(wc -l <"$T/b/rootfs/tmp/ticks")" -gt "$n" ] && break; sleep 0.1; done
  [ "$(wc -l <"$T/b/rootfs/tmp/ticks")" -gt "$n" ]
  dkrun update --memory 134217728 --pids-limit 60 "$ID"
  [ "$(cat "/sys/fs/cgroup/memory$CG/memory.limit_in_bytes")" = 134217728 ]
  [ "$(cat "/sys/fs/cgroup/pids$CG/pids.max")" = 60 ]
  echo '{"pids": {"limit": 70}}' | dkrun update -r - "$ID"
  [ "$(cat "/sys/fs/cgroup/pids$CG/pids.max")" = 70 ]
  dkrun pause "$ID"
  dkrun delete --force "$ID"
  [ ! -e "/sys/fs/cgroup/freezer$CG" ]
}

# dk-run with a time limit, its output in $T/tout: a process stuck in a
# frozen cgroup would hold bats' output pipe open
dkrun_limited() {
  timeout 10 "$DKRUN" --root "$ROOT" "$@" >"$T/tout" 2>&1
}

@test "exec into a paused container is refused at once; --ignore-paused waits for the resume" {
  bundle "$T/b" . -- sleep 1000
  dkrun_bg run -d --bundle "$T/b" "$ID"
  dkrun pause "$ID"
  run -255 dkrun_limited exec "$ID" echo ok
  run cat "$T/tout"
  assert_output --partial "exec failed: cannot exec in a paused container (use --ignore-paused to override)"
  (sleep 1 && "$DKRUN" --root "$ROOT" resume "$ID") &
  run dkrun_limited exec --ignore-paused "$ID" echo ok
  wait
  assert_success
  assert_equal "$(cat "$T/tout")" ok
}

@test "create refuses a cgroup that exists frozen or with processes in it, and leaves it be" {
  freezer=/sys/fs/cgroup/freezer$CG
  mkdir -p "$freezer"
  echo FROZEN >"$freezer/freezer.state"
  bundle "$T/b" . -- true
  run dkrun_limited run --bundle "$T/b" "$ID"
  state=$(cat "$freezer/freezer.state")
  echo THAWED >"$freezer/freezer.state"
  assert_equal "$status" 1
  assert_equal "$state" FROZEN
  run cat "$T/tout"
  assert_output --partial "container's cgroup unexpectedly frozen"
  [ ! -e "$ROOT/$ID" ]
  bundle "$T/c" . -- sleep 1000
  dkrun_bg run -d --bundle "$T/c" "$ID"
  run -1 dkrun_limited create --bundle "$T/b" "$ID-2"
  run cat "$T/tout"
  assert_output --partial "container's cgroup is not empty: 1 process(es) found"
  [ "$(status_of "$ID")" = running ]
}

# a device no driver serves: denied gives EPERM, allowed gives ENXIO
devices_script='mknod /tmp/k c 240 0; head -c1 /tmp/k; head -c 3 /dev/zero | wc -c'
devices_filter='.process.capabilities |= with_entries(.value += ["CAP_MKNOD"])'
deny_all='[{"allow": false, "access": "rwm"}]'
allow_240='[{"allow": true, "type": "c", "major": 240, "minor": 0, "access": "r"}]'

# devices_run DIR JQ-FILTER: the devices script in a bundle made with the filter
devices_run() {
  bundle "$1" "$devices_filter | $2" -- sh -c "$devices_script"
  run dkrun run --bundle "$1" "$ID"
}

@test "device rules: denied devices cannot be opened, the defaults can (v1)" {
  devices_run "$T/b" ".linux.resources.devices = $deny_all"
  assert_line --index 0 "head: /tmp/k: Operation not permitted"
  assert_line --index 1 3
  # an explicit allow after the deny opens it (240 has no driver: ENXIO)
  devices_run "$T/c" ".linux.resources.devices = $deny_all + $allow_240"
  assert_line --index 0 "head: /tmp/k: No such device or address"
}

@test "device rules: without any rule in the config every device but the defaults is denied" {
  devices_run "$T/b" "del(.linux.resources.devices)"
  assert_line --index 0 "head: /tmp/k: Operation not permitted"
  assert_line --index 1 3
  devices_run "$T/c" "del(.linux.resources)"
  assert_line --index 0 "head: /tmp/k: Operation not permitted"
}

@test "device rules: a device of linux.devices or a bind-mounted node is denied without an allow rule" {
  mknod "$T/hostk" c 240 1
  bundle "$T/b" ".linux.resources.devices = $deny_all
    | .linux.devices = [{\"path\": \"/dev/k240\", \"type\": \"c\", \"major\": 240, \"minor\": 0}]
    | .mounts += [{\"destination\": \"/hostk\", \"type\": \"bind\", \"source\": \"$T/hostk\", \"options\": [\"bind\"]}]" \
    -- sh -c 'ls -l /dev/k240 | cut -c1; head -c1 /dev/k240; head -c1 /hostk; echo x >/dev/k240'
  run dkrun run --bundle "$T/b" "$ID"
  assert_line --index 0 c
  assert_line --index 1 "head: /dev/k240: Operation not permitted"
  assert_line --index 2 "head: /hostk: Operation not permitted"
  assert_line --index 3 --partial "/dev/k240: Operation not permitted"
}

@test "device rules on cgroup v2 are an eBPF program on the container's cgroup" {
  [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] || skip "no cgroup2 at /sys/fs/cgroup/unified"
  export DK_CGROUP_ROOT=/sys/fs/cgroup/unified
  devices_run "$T/b" ".linux.resources.devices = $deny_all"
  assert_line --index 0 "head: /tmp/k: Operation not permitted"
  assert_line --index 1 3
  # an explicit allow after the deny opens it again (the last rule wins)
  devices_run "$T/c" ".linux.resources.devices = $deny_all + $allow_240"
  assert_line --index 0 "head: /tmp/k: No such device or address"
}
