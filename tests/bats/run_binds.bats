#!/usr/bin/env bats
# dk-run: bind mounts with the options dockerd writes (rbind + propagation, ro).

load run_helpers
bats_require_minimum_version 1.5.0

setup_file() { run_setup_file; }
setup() { run_setup; }
teardown() { run_teardown; }

@test "binds: a file and a directory bound rprivate, as dockerd mounts /etc/resolv.conf" {
  mkdir -p "$T/src"
  echo "nameserver 192.0.2.1" >"$T/resolv"
  echo inside >"$T/src/f"
  bundle "$T/b" ".mounts += [{\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\",\"source\":\"$T/resolv\",\"options\":[\"rbind\",\"rprivate\"]},{\"destination\":\"/mnt\",\"type\":\"bind\",\"source\":\"$T/src\",\"options\":[\"rbind\",\"rprivate\"]}]" \
    -- sh -c 'cat /etc/resolv.conf; cat /mnt/f; grep -c " /mnt " /proc/self/mountinfo'
  run dkrun run --bundle "$T/b" "$ID"
  assert_success
  assert_line --index 0 "nameserver 192.0.2.1"
  assert_line --index 1 "inside"
  assert_line --index 2 "1"
}

@test "binds: a read-only bind refuses writes, the source stays untouched" {
  mkdir -p "$T/src"
  echo keep >"$T/src/f"
  bundle "$T/b" ".mounts += [{\"destination\":\"/mnt\",\"type\":\"bind\",\"source\":\"$T/src\",\"options\":[\"rbind\",\"ro\",\"rprivate\"]}]" \
    -- sh -c 'echo x >/mnt/f && echo wrote; cat /mnt/f'
  run dkrun run --bundle "$T/b" "$ID"
  assert_output --partial "Read-only file system"
  refute_output --partial "wrote"
  run cat "$T/src/f"
  assert_output "keep"
}
