#!/usr/bin/env bats
# dk-netsetup: the pool of ready network namespaces (nspool.c).  Every test
# in a network namespace of its own; the holders are processes dk-netsetup
# leaves behind, found by the spare files that name them.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

setup() { net_setup; }
teardown() { net_teardown; }

# The spare files (PID-INODE), one per line.
spares() { ls "$T/exec/netns-spare" 2>/dev/null; }
# Waits (up to 5 s) until there are $1 spares.
wait_spares() {
  local i
  for i in $(seq 100); do [ "$(spares | grep -c .)" -eq "$1" ] && return 0; sleep 0.05; done
  return 1
}
# The inode of the namespace at path $1.
ns_inode() { stat -L -c %i "$1"; }

@test "init leaves one ready namespace; a connect takes it and its holder goes" {
  ns_tool init >/dev/null
  wait_spares 1
  spare=$(spares)
  pid=${spare%-*} ino=${spare#*-}
  # a namespace of its own, held by a process, with lo up, mounted nowhere
  [ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$ino" ]
  [ "$(stat -L -c %i /proc/self/ns/net)" != "$ino" ]
  run grep -c "$ino" /proc/self/mountinfo
  assert_output 0
  run nsenter --net="/proc/$pid/ns/net" ip -br link show lo
  assert_output --partial UNKNOWN
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_success
  [ "$(ns_inode "$T/exec/netns/c1")" = "$ino" ]
  for _ in $(seq 100); do gone "$pid" && break; sleep 0.05; done
  gone "$pid"
  # the container's namespace works as a fresh one does
  run in_ctr c1 ip -br addr show eth0
  assert_output --partial 172.17.0.2/16
  run in_ctr c1 busybox ping -c1 -W2 172.17.0.1
  assert_success
}

@test "a disconnect leaves a new spare behind (from its lingerer), never two" {
  ns_tool init >/dev/null
  wait_spares 1
  ns_tool connect --id c1 --files-dir "$T/c1" >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" >/dev/null
  wait_spares 0
  ns_tool disconnect --id c1 >/dev/null
  wait_spares 1
  first=$(spares)
  ns_tool disconnect --id c2 >/dev/null
  sleep 0.5
  assert_equal "$(spares)" "$first"
  # teardown still removes the container's namespace and nothing else
  [ ! -e "$T/exec/netns/c1" ] && [ ! -e "$T/exec/netns/c2" ]
}

@test "a spare whose holder died is skipped and its file removed" {
  ns_tool init >/dev/null
  wait_spares 1
  spare=$(spares)
  kill -9 "${spare%-*}"
  for _ in $(seq 100); do gone "${spare%-*}" && break; sleep 0.05; done
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_success
  [ "$(ns_inode "$T/exec/netns/c1")" != "${spare#*-}" ]
  [ ! -e "$T/exec/netns-spare/$spare" ]
  run in_ctr c1 busybox ping -c1 -W2 172.17.0.1
  assert_success
}

@test "unclaimed spares go after DK_NETSETUP_SPARE_TTL_MS, or with their exec root" {
  DK_NETSETUP_SPARE_TTL_MS=300 ns_tool init >/dev/null
  wait_spares 1
  pid=$(spares | cut -d- -f1)
  for _ in $(seq 60); do gone "$pid" && break; sleep 0.05; done
  gone "$pid"
  wait_spares 0
  ns_tool init >/dev/null
  wait_spares 1
  pid=$(spares | cut -d- -f1)
  rm -rf "$T/exec"
  for _ in $(seq 60); do gone "$pid" && break; sleep 0.05; done
  gone "$pid"
}

@test "DK_NETSETUP_SPARES=0: no pool" {
  DK_NETSETUP_SPARES=0 ns_tool init >/dev/null
  DK_NETSETUP_SPARES=0 ns_tool connect --id c1 --files-dir "$T/c1" >/dev/null
  DK_NETSETUP_SPARES=0 ns_tool disconnect --id c1 >/dev/null
  sleep 0.3
  run spares
  assert_output ''
}
