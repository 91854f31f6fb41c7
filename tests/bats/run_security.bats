#!/usr/bin/env bats
# dk-run: capabilities, seccomp, read-only and masked paths, user
# namespaces, fd and cwd leaks, and the same bundle under runc.

load run_helpers
bats_require_minimum_version 1.5.0

setup_file() { run_setup_file; }
setup() { run_setup; }
teardown() { run_teardown; }

@test "capabilities are effective as configured" {
  bundle "$T/b" '.process.capabilities = {"bounding": ["CAP_CHOWN", "CAP_NET_RAW"], "effective": ["CAP_CHOWN", "CAP_NET_RAW"], "permitted": ["CAP_CHOWN", "CAP_NET_RAW"]}' \
    -- grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  # CAP_CHOWN is bit 0, CAP_NET_RAW bit 13
  assert_line "CapEff:	0000000000002001"
  assert_line "CapPrm:	0000000000002001"
  assert_line "CapBnd:	0000000000002001"
  assert_line "CapInh:	0000000000000000"
}

@test "ambient capabilities reach a non-root user" {
  bundle "$T/b" '.process.user = {"uid": 1000, "gid": 1000} | .process.noNewPrivileges = false
    | .process.capabilities = {"bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"], "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]}' \
    -- grep -E '^(CapEff|CapAmb|NoNewPrivs)' /proc/self/status
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_line "CapEff:	0000000000000400"
  assert_line "CapAmb:	0000000000000400"
  assert_line "NoNewPrivs:	0"
}

@test "seccomp: a rule blocks a syscall with the configured errno, argument conditions apply" {
  bundle "$T/b" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [
      {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [{"index": 1, "value": 493, "op": "SCMP_CMP_EQ"}]},
      {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [{"index": 2, "value": 493, "op": "SCMP_CMP_EQ"}]},
      {"names": ["chroot"], "action": "SCMP_ACT_ERRNO"}]}' \
    -- sh -c 'dkinit mkdir /tmp/a; mkdir -m 700 /tmp/b && echo mode-700-ok; chroot / true; echo chroot=$?; grep ^Seccomp: /proc/self/status'
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  # mode 0755 (493) is refused with ENOSYS (38), another mode passes
  assert_line --index 0 "38"
  assert_line "mode-700-ok"
  assert_output --partial "Operation not permitted"
  assert_line "Seccomp:	2"
}

@test "seccomp: a default errno action with an allow list, loaded without no_new_privs" {
  # what runs after the filter: the end of dk-run's setup, then dkinit
  allow='"execve","exit_group","exit","brk","mmap","munmap","mprotect","arch_prctl","set_tid_address","set_robust_list","rseq","prlimit64","getrandom","uname","readlinkat","fstat","newfstatat","futex","write","writev","rt_sigaction","rt_sigprocmask","rt_sigreturn","capget","capset","prctl","setgroups","setresuid","setresgid","chdir","getcwd","close","fcntl","close_range","read"'
  bundle "$T/b" ".process.noNewPrivileges = false | .linux.seccomp = {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1, \"syscalls\": [{\"names\": [$allow], \"action\": \"SCMP_ACT_ALLOW\"}]}" \
    -- dkinit mkdir /tmp/x
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_output "1"
}

@test "seccomp cache: cached and uncached runs deny the same; a corrupt or truncated cache file is rebuilt" {
  rule() { echo ".linux.seccomp = {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": $1}]}"; }
  bundle "$T/b13" "$(rule 13)" -- dkinit mkdir /tmp/x
  bundle "$T/b1" "$(rule 1)" -- dkinit mkdir /tmp/x
  cache=$ROOT/.seccomp-cache
  # uncached: compiled, and the program kept
  run dkrun run --bundle "$T/b13" "$ID"
  assert_success
  assert_output "13"
  run ls "$cache"
  assert_success
  [ "${#lines[@]}" -eq 1 ]
  f=$cache/${lines[0]}
  cp "$f" "$T/good.bpf"
  ino=$(stat -c %i "$f")
  # cached: the same file is loaded (not rewritten) and denies the same
  run dkrun run --bundle "$T/b13" "$ID"
  assert_output "13"
  [ "$(stat -c %i "$f")" = "$ino" ]
  # another profile gets its own program
  run dkrun run --bundle "$T/b1" "$ID"
  assert_output "1"
  [ "$(ls "$cache" | wc -l)" -eq 2 ]
  # truncated: rejected, compiled again, replaced
  truncate -s -8 "$f"
  run dkrun run --bundle "$T/b13" "$ID"
  assert_output "13"
  cmp "$f" "$T/good.bpf"
  # same size, last byte of the program changed (the final allow would
  # become another action): the checksum rejects it
  size=$(stat -c %s "$f")
  printf '\000' | dd of="$f" bs=1 seek=$((size - 1)) conv=notrunc status=none
  ! cmp -s "$f" "$T/good.bpf"
  run dkrun run --bundle "$T/b13" "$ID"
  assert_success
  assert_output "13"
  cmp "$f" "$T/good.bpf"
  # garbage of the right size is not loaded either
  head -c "$size" /dev/urandom >"$f"
  run dkrun run --bundle "$T/b13" "$ID"
  assert_output "13"
  cmp "$f" "$T/good.bpf"
}

@test "read-only root refuses writes" {
  bundle "$T/b" '.root.readonly = true' -- sh -c 'touch /newfile; echo rc=$?'
  run dkrun run --bundle "$T/b" "$ID"
  assert_output --partial "Read-only file system"
  assert_line "rc=1"
  [ ! -e "$T/b/rootfs/newfile" ]
}

@test "masked paths are unreadable, read-only paths refuse writes" {
  bundle "$T/b" '.linux.maskedPaths = ["/etc/secret", "/proc/acpi", "/nonexistent"] | .linux.readonlyPaths = ["/proc/sys"]' \
    -- sh -c 'echo "[$(cat /etc/secret)]"; ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/domainname; echo rc=$?'
  echo topsecret >"$T/b/rootfs/etc/secret"
  run dkrun run --bundle "$T/b" "$ID"
  assert_line --index 0 "[]"
  assert_line --index 1 "0"
  assert_line "rc=1"
  refute_output --partial topsecret
}

@test "user namespace: ids mapped as configured" {
  bundle "$T/b" '.linux.namespaces += [{"type": "user"}]
    | .linux.uidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    | .linux.gidMappings = [{"containerID": 0, "hostID": 300000, "size": 65536}]' -- sleep 1000
  # the mapped root must be able to reach its rootfs (mktemp -d is 0700)
  chmod 755 "$T"

  dkrun_bg create --bundle "$T/b" --pid-file "$T/pid" "$ID" || { cat "$T/ctr.out"; false; }
  dkrun start "$ID"
  pid=$(cat "$T/pid")
  run cat /proc/$pid/uid_map
  assert_output --regexp '^ +0 +200000 +65536$'
  run cat /proc/$pid/gid_map
  assert_output --regexp '^ +0 +300000 +65536$'
  # seen from the host, root of the container is uid 200000
  run awk '/^Uid:/ {print $2} /^Gid:/ {print $2}' /proc/$pid/status
  assert_line --index 0 200000
  assert_line --index 1 300000
  run dkrun exec "$ID" id -u
  assert_output 0
}

@test "no host fd and no host cwd reach the container" {
  bundle "$T/b" . -- sh -c 'dkinit fds; echo end; dkinit cwd; readlink /proc/1/cwd'
  cd "$T"
  exec 5<"$T/b/config.json" 7>"$T/leak"
  run dkrun run --bundle "$T/b" "$ID"
  exec 5<&- 7>&-
  assert_success
  assert_line --index 0 "end"
  assert_line --index 1 "/"
  assert_line --index 2 "/"
}

@test "a created container's init holds no fd of its caller, only stdio, preserved fds and exec.fifo" {
  bundle "$T/b" . -- true
  # fds 5 and 7 of the caller, fd 3 preserved
  bash -c 'exec 3<"$1" 5<"$1" 7>"$2"; shift 2; exec "$@"' _ "$T/b/config.json" "$T/leak" \
    "$DKRUN" --root "$ROOT" create --preserve-fds 1 --bundle "$T/b" "$ID" </dev/null >/dev/null 2>&1
  pid=$(dkrun state "$ID" | jq .pid)
  run bash -c 'cd /proc/$1/fd && for f in $(ls | sort -n); do echo "$f $(readlink $f)"; done' _ "$pid"
  assert_equal "${lines[*]:0:4}" "0 /dev/null 1 /dev/null 2 /dev/null 3 $T/b/config.json"
  assert_line --index 4 --regexp "^[0-9]+ $ROOT/$ID/exec.fifo\$"
  assert_equal "${#lines[@]}" 5
}

@test "--preserve-fds passes the named fds on" {
  bundle "$T/b" . -- sh -c 'dkinit fds'
  echo hello >"$T/f"
  # fd 3 belongs to bats: set it in a child shell only
  run bash -c 'exec 3<"$1"; shift; exec "$@"' _ "$T/f" "$DKRUN" --root "$ROOT" run --preserve-fds 1 --bundle "$T/b" "$ID"
  assert_success
  assert_output "3 -> $T/f"
}

@test "rlimits, oomScoreAdj, sysctl, umask, hostname and domainname" {
  bundle "$T/b" '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]
    | .process.oomScoreAdj = 123 | .process.user.umask = 63
    | .linux.sysctl = {"net.ipv4.ip_forward": "1"} | .hostname = "h1" | .domainname = "d1"' \
    -- sh -c 'ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; umask; cat /proc/sys/net/ipv4/ip_forward; hostname; cat /proc/sys/kernel/domainname'
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_output "$(printf '321\n654\n123\n0077\n1\nh1\nd1')"
}

@test "the same bundle run by runc gives the same observable results" {
  script='exec 2>&1; hostname; id; env | sort; grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status; ip -o link | cut -d" " -f2,3
    mount | awk "{print \$3, \$5, \$6}" | grep -v "^/sys/fs/cgroup/" | sort; ls /dev; dkinit fds; umask; ulimit -n
    cat /proc/self/oom_score_adj; ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/hostname; touch /etc/x; echo $?'
  bundle "$T/b" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}' \
    -- sh -c "$script; chroot / true"
  cd "$T/b"
  run dkrun run "$ID"
  dk_status=$status dk_output=$output
  run runc --root "$T/runc-state" run "$ID"
  assert_equal "$dk_status" "$status"
  assert_equal "$dk_output" "$output"
  assert_output --partial "Permission denied"
}

@test "the runtime binary cannot be reached through /proc/<init>/exe before start" {
  bundle "$T/b" . -- sleep 1000
  dkrun_bg create --bundle "$T/b" "$ID"
  # until execve, init runs dk-run itself: it is not dumpable, so another
  # process of the container cannot open its exe (CVE-2019-5736)
  run dkrun exec "$ID" sh -c 'readlink /proc/1/exe; echo rl=$?; cat /proc/1/exe >/dev/null; echo rc=$?'
  assert_line "rl=1"
  assert_line "rc=1"
  assert_output --partial "Permission denied"
  dkrun start "$ID"
  run dkrun exec "$ID" readlink /proc/1/exe
  assert_output /bin/busybox
}

@test "proc or sysfs on a symlink in the rootfs is refused and nothing is left" {
  bundle "$T/b" . -- true
  rm -rf "$T/b/rootfs/proc"
  mkdir "$T/b/rootfs/bad-proc"
  ln -s /bad-proc "$T/b/rootfs/proc"
  run -1 dkrun run --bundle "$T/b" "$ID"
  assert_output --partial 'filesystem \"proc\" must be mounted on ordinary directory'
  [ -z "$(ls "$ROOT")" ]
  [ ! -e "/sys/fs/cgroup/memory$CG" ]
  [ -z "$(ls "$T/b/rootfs/bad-proc")" ]
  # a file, or a symlink further up the path, is refused as well
  bundle "$T/c" '.mounts |= map(if .type == "sysfs" then .destination = "/lnk/sys" else . end)' -- true
  mkdir "$T/c/rootfs/real"
  ln -s /real "$T/c/rootfs/lnk"
  run -1 dkrun run --bundle "$T/c" "$ID"
  assert_output --partial 'filesystem \"sysfs\" must be mounted on ordinary directory'
  rm -rf "$T/c/rootfs/proc"
  touch "$T/c/rootfs/proc"
  run -1 dkrun run --bundle "$T/c" "$ID"
  assert_output --partial 'filesystem \"proc\" must be mounted on ordinary directory'
}
