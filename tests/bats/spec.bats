#!/usr/bin/env bats
# lib/ocispec end to end: a create body -> config.json (tests/fixtures/spec/
# mkspec) -> run by Debian's runc on a busybox rootfs, observed from inside.
# SPEC_RUNTIME=/abs/path/to/bin/dk-run runs the same bundles with another
# runc-compatible runtime.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load api_helpers
load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup_file() {
  [ "$(id -u)" -eq 0 ] || return 0
  command -v runc >/dev/null || return 0
  [ -x /bin/busybox ] || return 0
  [ -f "$ROOT/build/release/libdk.a" ] || make -C "$ROOT" -s build/release/libdk.a >&2
  gcc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$ROOT/lib" \
    -o "$BATS_FILE_TMPDIR/mkspec" "$ROOT/tests/fixtures/spec/mkspec.c" \
    "$ROOT/build/release/libdk.a" -ljq -lm
  local r="$BATS_FILE_TMPDIR/rootfs"
  mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp,data,home/app}
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$r/etc/passwd"
  printf 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nvideo:x:44:\n' >"$r/etc/group"
  cli_daemon_up >"$BATS_FILE_TMPDIR/cli.why" 2>&1 || true
}

# The "through the docker CLI" tests: our dockerd (lib/ocispec inside) with
# Debian's runc as its runtime, busybox from a local registry.  The state
# goes to cli.env for the tests; cli.why says why they skip otherwise.
cli_daemon_up() {
  command -v docker >/dev/null || { echo "no docker CLI"; return 1; }
  [ -x "$ROOT/bin/dockerd" ] && [ -x "$ROOT/bin/dk-shim" ] || { echo "dockerd/dk-shim not built"; return 1; }
  "$ROOT/bin/dk-shim" --help 2>&1 | grep -q -- --bundle || { echo "dk-shim not ready"; return 1; }
  start_registry || { echo "registry did not start"; return 1; }
  push_fixture busybox library/busybox:latest || { echo "push of busybox failed"; return 1; }
  seed_images "$REGISTRY/library/busybox:latest" || { echo "seeding busybox failed"; return 1; }
  start_dockerd --add-runtime hostrunc=/usr/sbin/runc --default-runtime hostrunc ||
    { echo "dockerd did not start"; return 1; }
  docker tag "$REGISTRY/library/busybox:latest" busybox || return 1
  declare -p T SOCK DOCKER_HOST DPID NS >"$BATS_FILE_TMPDIR/cli.env"
}

teardown_file() {
  if [ -f "$BATS_FILE_TMPDIR/cli.env" ]; then
    source "$BATS_FILE_TMPDIR/cli.env"
    docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
    stop_dockerd
  fi
  stop_registry
}

cli_ready() {
  [ -f "$BATS_FILE_TMPDIR/cli.env" ] || skip "no daemon for the CLI tests: $(tail -1 "$BATS_FILE_TMPDIR/cli.why")"
  source "$BATS_FILE_TMPDIR/cli.env"
  export DOCKER_HOST
}

setup() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, cgroups)"
  command -v runc >/dev/null || skip "needs runc (Debian's runc package)"
  [ -x /bin/busybox ] || skip "needs busybox-static"
  SUFFIX=$(head -c 64 /dev/urandom | tr -dc 'a-z0-9' | head -c 8)
  CG_PARENT="/dk-spec-$SUFFIX"
  NAME="dk-spec-$SUFFIX"
  ID=$(printf '%s' "$NAME" | sha256sum | cut -c1-64)
  BUNDLE="$BATS_TEST_TMPDIR/bundle"
  mkdir -p "$BUNDLE"
}

teardown() {
  [ -n "${NAME:-}" ] || return 0
  if [ -n "${SHARED_MNT:-}" ] && mountpoint -q "$SHARED_MNT"; then
    umount -l "$SHARED_MNT" || true
  fi
  "${SPEC_RUNTIME:-runc}" --root "$BATS_FILE_TMPDIR/runc" delete -f "$NAME" >/dev/null 2>&1 || true
  local d
  for d in /sys/fs/cgroup/*/"dk-spec-$SUFFIX" /sys/fs/cgroup/"dk-spec-$SUFFIX"; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# spec_doc CREATE_JSON [EXTRA_INPUT_JSON]: the mkspec input document.
spec_doc() {
  jq -n --arg id "$ID" --arg rootfs "$BATS_FILE_TMPDIR/rootfs" --arg cg "$CG_PARENT" \
    --argjson create "$1" --argjson extra "${2:-{\}}" \
    '{id: $id, rootfs: $rootfs, cgroup_parent: $cg, create: $create} + $extra'
}

# run_ctr CREATE_JSON [EXTRA]: builds config.json and runs it with runc.
run_ctr() {
  spec_doc "$@" | "$BATS_FILE_TMPDIR/mkspec" >"$BUNDLE/config.json"
  run timeout 60 "${SPEC_RUNTIME:-runc}" --root "$BATS_FILE_TMPDIR/runc" run --bundle "$BUNDLE" "$NAME"
}

sh_cmd() {
  jq -n --arg c "$1" '["sh", "-c", $c]'
}

@test "default container: Docker's 14 capabilities, seccomp filter, no new privileges unset" {
  run_ctr "{\"Cmd\": $(sh_cmd 'grep -E "^(CapEff|CapBnd|CapInh|Seccomp|NoNewPrivs):" /proc/self/status')}"
  assert_success
  assert_line --regexp '^CapEff:[[:space:]]+00000000a80425fb$'
  assert_line --regexp '^CapBnd:[[:space:]]+00000000a80425fb$'
  assert_line --regexp '^CapInh:[[:space:]]+0000000000000000$'
  assert_line --regexp '^Seccomp:[[:space:]]+2$'
  assert_line --regexp '^NoNewPrivs:[[:space:]]+0$'
}

@test "--cap-drop ALL --cap-add net_admin leaves exactly CAP_NET_ADMIN" {
  run_ctr "{\"Cmd\": $(sh_cmd 'grep ^CapEff: /proc/self/status'), \"HostConfig\": {\"CapDrop\": [\"ALL\"], \"CapAdd\": [\"net_admin\"]}}"
  assert_success
  assert_output --regexp 'CapEff:[[:space:]]+0000000000001000'
}

@test "the default seccomp profile blocks unshare; seccomp=unconfined does not" {
  [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" -gt 0 ] ||
    skip "user namespaces disabled on this host"
  run_ctr "{\"Cmd\": $(sh_cmd 'e=$(unshare -U true 2>&1); echo "rc=$? $e"')}"
  assert_success
  assert_line "rc=1 unshare: unshare(0x10000000): Operation not permitted"
  run_ctr "{\"Cmd\": $(sh_cmd 'e=$(unshare -U true 2>&1); echo "rc=$? $e"'), \"HostConfig\": {\"SecurityOpt\": [\"seccomp=unconfined\"]}}"
  assert_success
  assert_line "rc=0 "
}

@test "masked and read-only /proc paths" {
  [ -n "$(head -c 1 /proc/interrupts)" ] || skip "/proc/interrupts is empty on the host"
  run_ctr "{\"Cmd\": $(sh_cmd 'echo "interrupts=$(wc -c </proc/interrupts)"; ls /sys/firmware | wc -l; [ -e /proc/kcore ] && echo "kcore=$(wc -c </proc/kcore)"; e=$( (echo x >/proc/sys/kernel/domainname) 2>&1); echo "w=$? $e"')}"
  assert_success
  assert_line "interrupts=0"
  if [ -e /proc/kcore ]; then assert_line "kcore=0"; fi
  assert_line --index 1 "0"
  assert_line --regexp '^w=1 .*Read-only file system$'
}

@test "read-only root filesystem with a writable tmpfs" {
  run_ctr "{\"Cmd\": $(sh_cmd 'e=$(touch /x 2>&1); echo "root=$? $e"; touch /tmp/y; echo tmp=$?; grep " /tmp " /proc/mounts'), \"HostConfig\": {\"ReadonlyRootfs\": true, \"Tmpfs\": {\"/tmp\": \"size=1m\"}}}"
  assert_success
  assert_line "root=1 touch: /x: Read-only file system"
  assert_line "tmp=0"
  assert_output --regexp 'tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k'
}

@test "user by name with supplementary and added groups, env, hostname, working dir" {
  run_ctr "{\"Cmd\": $(sh_cmd 'id; hostname; pwd; echo "$GREETING $FROM_IMAGE $HOSTNAME $PATH"'), \"User\": \"app\", \"Hostname\": \"web-$SUFFIX\", \"Env\": [\"GREETING=hello\"], \"HostConfig\": {\"GroupAdd\": [\"video\", \"3000\"]}}" \
    '{"image_config": {"Env": ["FROM_IMAGE=img", "PATH=/bin:/usr/bin"], "WorkingDir": "/home/app"}}'
  assert_success
  assert_line "uid=1000(app) gid=1000(app) groups=44(video),1000(app),2000(extra),3000"
  assert_line "web-$SUFFIX"
  assert_line "/home/app"
  assert_line "hello img web-$SUFFIX /bin:/usr/bin"
}

@test "numeric user:group without passwd entries" {
  run_ctr "{\"Cmd\": [\"id\"], \"User\": \"4242:4343\"}"
  assert_success
  assert_output "uid=4242 gid=4343 groups=4343"
}

@test "bind mount read-only and read-write" {
  local host="$BATS_TEST_TMPDIR/hostdir"
  mkdir -p "$host/rw"
  echo "from host" >"$host/file"
  run_ctr "{\"Cmd\": $(sh_cmd 'cat /data/file; e=$( (echo x >/data/file) 2>&1); echo "ro=$? $e"; echo hi >/rw/new; echo rw=$?'), \"HostConfig\": {\"Binds\": [\"$host:/data:ro\", \"$host/rw:/rw\"]}}"
  assert_success
  assert_line "from host"
  assert_line --regexp '^ro=1 .*Read-only file system$'
  assert_line "rw=0"
  run cat "$host/rw/new"
  assert_output "hi"
}

@test "memory and pids limits land in the container's cgroup" {
  local files
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    files='cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
  else
    files='cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'
  fi
  run_ctr "{\"Cmd\": $(sh_cmd "$files"), \"HostConfig\": {\"Memory\": 67108864, \"PidsLimit\": 50}}"
  assert_success
  assert_line --index 0 "67108864"
  assert_line --index 1 "50"
}

@test "--privileged: all capabilities of the daemon, no seccomp, /sys writable" {
  local host_eff
  host_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  run_ctr "{\"Cmd\": $(sh_cmd 'grep -E "^(CapEff|Seccomp):" /proc/self/status; grep " /sys " /proc/mounts'), \"HostConfig\": {\"Privileged\": true}}"
  assert_success
  assert_line --regexp "^CapEff:[[:space:]]+$host_eff\$"
  assert_line --regexp '^Seccomp:[[:space:]]+0$'
  assert_output --regexp 'sysfs /sys sysfs rw,'
}

@test "no-new-privileges, ulimits and oom_score_adj" {
  run_ctr "{\"Cmd\": $(sh_cmd 'grep ^NoNewPrivs: /proc/self/status; ulimit -n; cat /proc/self/oom_score_adj'), \"HostConfig\": {\"SecurityOpt\": [\"no-new-privileges\"], \"Ulimits\": [{\"Name\": \"nofile\", \"Soft\": 512, \"Hard\": 1024}], \"OomScoreAdj\": 300}}"
  assert_success
  assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
  assert_line "512"
  assert_line "300"
}

@test "create-time validation gives Docker's messages" {
  run "$BATS_FILE_TMPDIR/mkspec" --validate <<<'{"create": {"HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}}'
  assert_failure 1
  assert_output --partial "invalid restart policy: unknown policy 'sometimes'"
  run "$BATS_FILE_TMPDIR/mkspec" --validate <<<'{"create": {"HostConfig": {"Binds": ["/a:/b:nonsense"]}}}'
  assert_failure 1
  assert_output --partial "invalid mode: nonsense"
  run "$BATS_FILE_TMPDIR/mkspec" --validate <<<'{"create": {"HostConfig": {"CapAdd": ["NOPE"]}}}'
  assert_failure 1
  assert_output --partial 'unknown capability: "CAP_NOPE"'
  local hard
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] && skip "no hard nofile limit here"
  run "$BATS_FILE_TMPDIR/mkspec" --validate <<<"{\"create\": {\"HostConfig\": {\"Ulimits\": [{\"Name\": \"nofile\", \"Soft\": 1024, \"Hard\": $((hard + 1))}]}}}"
  assert_failure 1
  assert_output --partial "exceeds hard limit $hard"
}

@test "daemon default ulimits above the hard limit are clamped and the container starts" {
  local hard
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] && skip "no hard nofile limit here"
  run_ctr "{\"Cmd\": $(sh_cmd 'ulimit -Hn')}" \
    "{\"default_ulimits\": [{\"Name\": \"nofile\", \"Soft\": $((hard * 4)), \"Hard\": $((hard * 4))}]}"
  assert_success
  assert_output "$hard"
}

@test "the docker CLI's body for 'docker create busybox sh' runs as Docker would" {
  local body
  body=$(jq -c --argjson cmd "$(sh_cmd 'grep -E "^(CapEff|Seccomp):" /proc/self/status; hostname; echo "$HOSTNAME $PATH"; ulimit -Hn')" \
    '.Cmd = $cmd' "$ROOT/tests/fixtures/spec/cli-create-default.json")
  run_ctr "$body"
  assert_success
  assert_line --regexp '^CapEff:[[:space:]]+00000000a80425fb$'
  assert_line --regexp '^Seccomp:[[:space:]]+2$'
  assert_line "${ID:0:12}"
  assert_line "${ID:0:12} /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  assert_line "$(ulimit -Hn)"
}

@test "the docker CLI's body with many flags: --init refused, the rest honoured" {
  local fixture="$ROOT/tests/fixtures/spec/cli-create-many-flags.json"
  run "$BATS_FILE_TMPDIR/mkspec" --validate <<<"{\"create\": $(cat "$fixture")}"
  assert_failure 1
  assert_output --partial "Init (--init) is not supported yet"

  local host="$BATS_TEST_TMPDIR/data" body
  mkdir -p "$host"
  echo "bound" >"$host/f"
  body=$(jq -c --arg bind "$host:/data:ro" \
    --argjson cmd "$(sh_cmd 'id; hostname; pwd; echo "A=$A"; cat /data/f; echo "nofile=$(ulimit -n)"; grep -E "^(CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; grep -E " /(run|cache|dev/shm) " /proc/mounts; ls -l /dev/xnull; echo "oom=$(cat /proc/self/oom_score_adj)"')" \
    '.Cmd = $cmd | .Tty = false | .HostConfig.Init = false | .HostConfig.Binds = [$bind]' "$fixture")
  run_ctr "$body"
  assert_success
  assert_line "uid=1000(app) gid=44(video) groups=44(video)"
  assert_line "host1"
  assert_line "/w"
  assert_line "A=1"
  assert_line "bound"
  assert_line "nofile=100"
  # defaults minus CHOWN plus NET_ADMIN
  assert_line --regexp '^CapBnd:[[:space:]]+00000000a80435fa$'
  assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
  assert_line --regexp '^Seccomp:[[:space:]]+0$'
  assert_output --regexp 'tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k'
  assert_output --regexp 'tmpfs /cache tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k'
  assert_output --regexp 'shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k'
  assert_output --regexp 'crw-rw-rw- +1 root +root +1, +3 .* /dev/xnull'
  assert_line "oom=100"
  [ -d "$BATS_FILE_TMPDIR/rootfs/w" ]
}

@test "/etc/hosts, /etc/hostname, /etc/resolv.conf, volumes and a shared /dev/shm from dockerd's paths" {
  local d="$BATS_TEST_TMPDIR/daemon"
  mkdir -p "$d/vol-named" "$d/vol-anon" "$d/shm"
  echo "10.9.8.7 peer" >"$d/hosts"
  echo "ctr-$SUFFIX" >"$d/hostname"
  echo "nameserver 10.0.0.53" >"$d/resolv.conf"
  echo "named volume" >"$d/vol-named/f"
  echo "in shm" >"$d/shm/seg"
  run_ctr "{\"Cmd\": $(sh_cmd 'cat /etc/hosts /etc/hostname /etc/resolv.conf /named/f /dev/shm/seg; echo new >/anon/g; e=$( (echo x >/etc/hosts) 2>&1); echo "hosts=$? $e"'), \"Volumes\": {\"/anon\": {}}, \"HostConfig\": {\"Binds\": [\"myvol:/named\"], \"IpcMode\": \"shareable\", \"ReadonlyRootfs\": true}}" \
    "{\"hosts_path\": \"$d/hosts\", \"hostname_path\": \"$d/hostname\", \"resolv_path\": \"$d/resolv.conf\", \"shm_path\": \"$d/shm\", \"volume_paths\": {\"myvol\": \"$d/vol-named\", \"/anon\": \"$d/vol-anon\"}}"
  assert_success
  assert_line "10.9.8.7 peer"
  assert_line "ctr-$SUFFIX"
  assert_line "nameserver 10.0.0.53"
  assert_line "named volume"
  assert_line "in shm"
  assert_line --regexp '^hosts=1 .*Read-only file system$'
  run cat "$d/vol-anon/g"
  assert_output "new"
}

@test "host network, PID, IPC and UTS namespaces" {
  run_ctr "{\"Cmd\": $(sh_cmd 'ls /sys/class/net | sort | tr "\n" " "; echo; hostname; for n in pid net ipc uts; do readlink /proc/self/ns/$n; done'), \"HostConfig\": {\"NetworkMode\": \"host\", \"PidMode\": \"host\", \"IpcMode\": \"host\", \"UTSMode\": \"host\"}}"
  assert_success
  assert_line "$(ls /sys/class/net | sort | tr '\n' ' ')"
  assert_line "$(hostname)"
  assert_line "$(readlink /proc/self/ns/pid)"
  assert_line "$(readlink /proc/self/ns/net)"
  assert_line "$(readlink /proc/self/ns/ipc)"
  assert_line "$(readlink /proc/self/ns/uts)"
}

@test "default namespaces: only loopback, pid 1 is the command, sysctls set in its own netns" {
  run_ctr "{\"Cmd\": $(sh_cmd 'ls /sys/class/net; cat /proc/1/cmdline | tr "\0" " "; echo; cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ip_forward'), \"HostConfig\": {\"Sysctls\": {\"net.ipv4.ip_forward\": \"1\"}}}"
  assert_success
  assert_line --index 0 "lo"
  assert_line --index 1 --regexp '^sh -c '
  assert_line --index 2 "0"
  assert_line --index 3 "1"
}

@test "CPU quota from NanoCpus and CpuShares in the container's cgroup" {
  [ -f /sys/fs/cgroup/cgroup.controllers ] && skip "cgroup v1 files checked; this host is v2"
  run_ctr "{\"Cmd\": $(sh_cmd 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares'), \"HostConfig\": {\"NanoCpus\": 500000000, \"CpuShares\": 512}}"
  assert_success
  assert_line --index 0 "50000"
  assert_line --index 1 "100000"
  assert_line --index 2 "512"
}

@test "shared bind propagation: refused on a private mount, honoured on a shared one" {
  local priv="$BATS_TEST_TMPDIR/private"
  mkdir -p "$priv"
  if ! grep -qE "^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / .* shared:" /proc/self/mountinfo; then
    run "$BATS_FILE_TMPDIR/mkspec" <<<"$(spec_doc "{\"Cmd\": [\"true\"], \"HostConfig\": {\"Binds\": [\"$priv:/data:shared\"]}}")"
    assert_failure 1
    assert_output --partial "is mounted on / but it is not a shared mount"
  fi
  SHARED_MNT="$BATS_TEST_TMPDIR/shared"
  mkdir -p "$SHARED_MNT"
  mount -t tmpfs -o size=1m "dk-spec-$SUFFIX" "$SHARED_MNT"
  mount --make-shared "$SHARED_MNT"
  echo here >"$SHARED_MNT/f"
  run_ctr "{\"Cmd\": $(sh_cmd 'cat /data/f; grep " /data " /proc/self/mountinfo'), \"HostConfig\": {\"Binds\": [\"$SHARED_MNT:/data:shared\"]}}"
  assert_success
  assert_line "here"
  assert_output --regexp ' /data .* shared:[0-9]+'
  run jq -r .linux.rootfsPropagation "$BUNDLE/config.json"
  assert_output "shared"
}

@test "docker run: default capabilities, --cap-drop ALL --cap-add, seccomp default and unconfined" {
  cli_ready
  run docker run --rm --network none busybox grep -E '^(CapEff|Seccomp):' /proc/self/status
  assert_success
  assert_line --regexp '^CapEff:[[:space:]]+00000000a80425fb$'
  assert_line --regexp '^Seccomp:[[:space:]]+2$'
  run docker run --rm --network none --cap-drop ALL --cap-add net_admin busybox grep ^CapEff: /proc/self/status
  assert_output --regexp 'CapEff:[[:space:]]+0000000000001000'
  run docker run --rm --network none busybox sh -c 'e=$(unshare -U true 2>&1); echo "rc=$? $e"'
  assert_output --partial "rc=1 "
  assert_output --partial "Operation not permitted"
  run docker run --rm --network none --security-opt seccomp=unconfined busybox sh -c 'unshare -U true; echo rc=$?'
  assert_output "rc=0"
}

@test "docker run: user, group-add, workdir, env, hostname, read-only root with tmpfs, bind, memory" {
  cli_ready
  local host="$BATS_TEST_TMPDIR/bind"
  mkdir -p "$host"
  echo hello >"$host/f"
  run docker run --rm --network none -u 1000:1000 --group-add 44 -w /made/here -e X=1 -h box-$$ \
    --read-only --tmpfs /run -v "$host:/data:ro" -m 64m busybox \
    sh -c 'id; pwd; echo "X=$X $HOSTNAME"; hostname; cat /data/f; e=$(touch /x 2>&1); echo "root=$? $e"; touch /run/y && echo run=ok; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
  assert_success
  assert_line "uid=1000 gid=1000 groups=44,1000"
  assert_line "/made/here"
  assert_line "X=1 box-$$"
  assert_line "box-$$"
  assert_line "hello"
  assert_line "root=1 touch: /x: Read-only file system"
  assert_line "run=ok"
  assert_line "67108864"
}

@test "docker run --privileged: the daemon's capabilities, no seccomp, host devices" {
  cli_ready
  local eff
  eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  run docker run --rm --network none --privileged busybox sh -c 'grep -E "^(CapEff|Seccomp):" /proc/self/status; ls /dev | wc -l'
  assert_success
  assert_line --regexp "^CapEff:[[:space:]]+$eff\$"
  assert_line --regexp '^Seccomp:[[:space:]]+0$'
  [ "$(echo "$output" | tail -1)" -gt 10 ]
}

@test "docker create: Docker's errors for bad capabilities, --init, ulimits above the hard limit" {
  cli_ready
  run docker create --network none --cap-add NOPE busybox true
  assert_failure
  assert_output --partial 'invalid CapAdd: unknown capability: "CAP_NOPE"'
  run docker create --network none --init busybox true
  assert_failure
  assert_output --partial "Init (--init) is not supported yet"
  local hard
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] && skip "no hard nofile limit here"
  run docker create --network none --ulimit "nofile=1024:$((hard + 1))" busybox true
  assert_failure
  assert_output --partial "exceeds hard limit $hard"
}
