#!/usr/bin/env bats
# dk-netsetup: user-defined networks and a bridge built by hand.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

setup() { net_setup; }
teardown() { net_teardown; }

@test "a user-defined network resolves its members by name through hosts" {
  ns_tool init >/dev/null
  run ns_tool network-create appnet --subnet 10.123.0.0/24 --label team=web
  assert_success
  assert_output --partial '"Name":"appnet"'
  assert_output --partial '"IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"10.123.0.0/24","Gateway":"10.123.0.1"}]}'
  id=$(echo "$output" | jq -r .id)
  ns_tool connect --id c1 --network appnet --name web --alias www --files-dir "$T/c1" >/dev/null
  ns_tool connect --id c2 --network appnet --name db --files-dir "$T/c2" >/dev/null
  run cat "$T/c1/hosts"
  assert_output --partial $'10.123.0.3\tdb'
  run cat "$T/c2/hosts"
  assert_output --partial $'10.123.0.2\tweb\twww'
  run in_ctr c1 busybox ping -c1 -W2 10.123.0.3
  assert_success
  run ns_tool network-inspect "${id:0:12}"
  assert_output --partial '"Containers":{"c1":{"Name":"web"'
  assert_output --partial '"Labels":{"team":"web"}'
  # leaving updates the others' hosts
  ns_tool disconnect --id c2 >/dev/null
  run cat "$T/c1/hosts"
  refute_output --partial db
  run ns_tool network-rm appnet
  assert_failure 1
  assert_output --partial 'has active endpoints'
  ns_tool disconnect --id c1 >/dev/null
  run ns_tool network-rm appnet
  assert_success
  run ns ip link show "br-${id:0:12}"
  assert_failure
  run ns iptables-save
  refute_output --partial 10.123.0.0/24
}

@test "networks are isolated from each other and a container can join two" {
  ns_tool init >/dev/null
  ns_tool network-create n1 >/dev/null
  run ns_tool network-inspect n1
  assert_output --partial '"Subnet":"172.18.0.0/16"'
  ns_tool connect --id a --files-dir "$T/a" >/dev/null
  ns_tool connect --id b --network n1 --files-dir "$T/b" >/dev/null
  run in_ctr a busybox ping -c1 -W1 172.18.0.2
  assert_failure
  # connect a running container to a second network: eth1
  run ns_tool connect --id a --network n1 --files-dir "$T/a"
  assert_success
  assert_output --partial '"ip":"172.18.0.3"'
  run in_ctr a ip -br addr show eth1
  assert_output --partial 172.18.0.3/16
  run in_ctr a busybox ping -c1 -W2 172.18.0.2
  assert_success
  ns_tool disconnect --id a --network n1 >/dev/null
  run in_ctr a ip link show eth1
  assert_failure
}

@test "a member's hosts is rewritten in place, so a bind mount of it sees joins" {
  ns_tool init >/dev/null
  ns_tool network-create appnet --subnet 10.124.0.0/24 >/dev/null
  ns_tool connect --id c1 --network appnet --name web --files-dir "$T/c1" >/dev/null
  ino=$(stat -c %i "$T/c1/hosts")
  ns_tool connect --id c2 --network appnet --name db --files-dir "$T/c2" >/dev/null
  run cat "$T/c1/hosts"
  assert_output --partial $'10.124.0.3\tdb'
  [ "$(stat -c %i "$T/c1/hosts")" = "$ino" ]
  ns_tool disconnect --id c2 >/dev/null
  run cat "$T/c1/hosts"
  refute_output --partial db
  [ "$(stat -c %i "$T/c1/hosts")" = "$ino" ]
  ns_tool disconnect --id c1 >/dev/null
}

@test "network-create rejects bad and overlapping subnets and duplicate names" {
  ns_tool init >/dev/null
  run ns_tool network-create x --subnet 10.1.0.0/33
  assert_failure 1
  assert_output --partial '"code":"invalid","message":"invalid subnet 10.1.0.0/33"'
  ns_tool network-create a --subnet 10.50.0.0/16 >/dev/null
  run ns_tool network-create b --subnet 10.50.1.0/24
  assert_failure 1
  assert_output --partial 'Pool overlaps with other one on this address space'
  run ns_tool network-create a --subnet 10.60.0.0/16
  assert_failure 1
  assert_output --partial '"code":"conflict","message":"network with name a already exists"'
  run ns_tool network-create c --subnet 10.70.0.0/24 --gateway 10.71.0.1
  assert_failure 1
  assert_output --partial 'no matching subnet for gateway 10.71.0.1'
  run ns_tool network-rm bridge
  assert_failure 1
  assert_output --partial 'pre-defined network and cannot be removed'
  # only network a's bridge exists: the failures left nothing
  [ "$(ns ip -br link | grep -c '^br-')" -eq 1 ]
}

@test "--bridge uses a bridge built by hand (build your own bridge)" {
  ns ip link add bridge0 type bridge
  ns ip addr add 192.168.5.1/24 dev bridge0
  ns ip link set dev bridge0 up
  run ns_tool init --bridge bridge0
  assert_success
  assert_output --partial '"bridge":"bridge0","subnet":"192.168.5.0/24","gateway":"192.168.5.1"'
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_output --partial '"ip":"192.168.5.2"'
  run in_ctr c1 busybox ping -c1 -W2 192.168.5.1
  assert_success
  run ns ip -br link show master bridge0
  assert_output --partial veth
  ns_tool disconnect --id c1 >/dev/null
  # the bridge is the user's: it stays
  run ns ip -br addr show bridge0
  assert_output --partial 192.168.5.1/24
}

@test "--bridge none: no default network" {
  run ns_tool init --bridge none
  assert_success
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_failure 1
  assert_output --partial 'not_found'
  run ns ip -br link
  refute_output --partial docker0
}

@test "an internal network has no way out, and networks are found by ID" {
  ns_tool init >/dev/null
  id=$(ns_tool network-create --internal --subnet 10.124.0.0/24 secret | jq -r .id)
  run ns_tool connect --id c1 --network "${id:0:10}" --files-dir "$T/c1"
  assert_success
  assert_output --partial '"ip":"10.124.0.2"'
  run in_ctr c1 ip route
  refute_output --partial default
  run ns iptables -S DOCKER-ISOLATION-STAGE-1
  assert_output --partial -- '! -s 10.124.0.0/24 -o br-'
  run ns iptables -t nat -S POSTROUTING
  refute_output --partial 10.124.0.0/24
  run ns_tool disconnect --id c1 --network "$id"
  assert_success
  [ ! -e "$T/exec/ipam/secret.json" ]
}

@test "--iptables=false touches no rules" {
  run ns_tool init --iptables false
  assert_success
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  run ns iptables-save
  refute_output --partial DOCKER
  refute_output --partial MASQUERADE
}
