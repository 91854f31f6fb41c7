#!/usr/bin/env bats
# dk-netsetup: every test runs the tool inside a network namespace it
# creates (netfilter and links are per namespace), state under a temp dir.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

setup() { net_setup; }
teardown() { net_teardown; }

@test "init creates the default bridge with Docker's first pool and rules" {
  run ns_tool init
  assert_success
  assert_output --partial '"bridge":"docker0","subnet":"172.17.0.0/16","gateway":"172.17.0.1"'
  run ns ip -br addr show docker0
  assert_output --partial 172.17.0.1/16
  run ns iptables -t nat -S POSTROUTING
  assert_output --partial -- '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'
  run ns iptables -t nat -S PREROUTING
  assert_output --partial -- '-j DOCKER'
  # idempotent: a second init keeps the same network and adds no rule twice
  run ns_tool init
  assert_success
  [ "$(ns iptables-save | grep -c -- '-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE')" -eq 1 ]
}

@test "two containers on the bridge reach each other by IP" {
  ns_tool init >/dev/null
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_success
  assert_output --partial '"ip":"172.17.0.2","prefix_len":16,"gateway":"172.17.0.1","mac":"02:42:ac:11:00:02"'
  run ns_tool connect --id c2 --files-dir "$T/c2"
  assert_output --partial '"ip":"172.17.0.3"'
  run in_ctr c1 busybox ping -c1 -W2 172.17.0.3
  assert_success
  run in_ctr c2 busybox ping -c1 -W2 172.17.0.2
  assert_success
  run in_ctr c1 busybox ping -c1 -W2 172.17.0.1
  assert_success
  run in_ctr c1 ip route
  assert_output --partial 'default via 172.17.0.1 dev eth0'
  # no IPv6 on the network: IPv6 is off on eth0 (no fe80:: address), as Docker
  run in_ctr c1 cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6
  assert_output 1
  run in_ctr c1 ip -6 addr show dev eth0
  assert_output ''
}

@test "the container gets resolv.conf, hosts and hostname" {
  ns_tool init >/dev/null
  printf 'nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\noptions ndots:2\n' >"$T/resolv"
  DK_HOST_RESOLV_CONF="$T/resolv" ns_tool connect --id 0123456789abcdef --files-dir "$T/f" \
    --add-host db.example:192.0.2.9 >/dev/null
  run cat "$T/f/resolv.conf"
  refute_output --partial 127.0.0.53
  assert_output --partial 'nameserver 192.0.2.53'
  assert_output --partial 'search example.test'
  assert_output --partial 'options ndots:2'
  run cat "$T/f/hosts"
  assert_output --partial $'127.0.0.1\tlocalhost'
  assert_output --partial $'192.0.2.9\tdb.example'
  assert_output --partial $'172.17.0.2\t0123456789ab'
  run cat "$T/f/hostname"
  assert_output 0123456789ab
  ns_tool connect --id c2 --files-dir "$T/g" --hostname web --domainname example.org \
    --dns 192.0.2.1 --dns-search a.test --dns-opt timeout:1 >/dev/null
  run cat "$T/g/resolv.conf"
  assert_output $'search a.test\nnameserver 192.0.2.1\noptions timeout:1'
  run cat "$T/g/hosts"
  assert_output --partial $'172.17.0.3\tweb.example.org web'
}

@test "a requested IP is honoured and never handed out twice" {
  ns_tool init --bip 10.77.0.1/24 >/dev/null
  run ns_tool connect --id c1 --ip 10.77.0.50 --files-dir "$T/c1"
  assert_success
  assert_output --partial '"ip":"10.77.0.50","prefix_len":24'
  run ns_tool connect --id c2 --ip 10.77.0.50 --files-dir "$T/c2"
  assert_failure 1
  assert_output --partial '"code":"conflict","message":"Address already in use"'
  run ns_tool connect --id c3 --ip 10.78.0.5 --files-dir "$T/c3"
  assert_failure 1
  assert_output --partial '"code":"invalid"'
  # the failed attempts left nothing
  [ ! -e "$T/exec/netns/c2" ] && [ ! -e "$T/exec/netns/c3" ]
  [ ! -e "$T/exec/endpoints/c2.json" ]
  run jq -c . "$T/exec/ipam/bridge.json"
  assert_output '{"10.77.0.50":"c1"}'
}

@test "--fixed-cidr limits container addresses to a sub-range" {
  run ns_tool init --bip 10.88.0.1/16 --fixed-cidr 10.88.5.0/24
  assert_success
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_output --partial '"ip":"10.88.5.1"'
}

@test "concurrent connects get distinct addresses" {
  ns_tool init --bip 10.66.0.1/24 >/dev/null
  for i in $(seq 1 20); do
    ns_tool connect --id p$i --files-dir "$T/p$i" >"$T/out$i" &
  done
  wait
  run bash -c "cat $T/out* | jq -r .ip | sort | uniq | wc -l"
  assert_output 20
  run bash -c "jq length $T/exec/ipam/bridge.json"
  assert_output 20
}

@test "teardown leaves no veth, rule, namespace or allocation" {
  ns_tool init >/dev/null
  before_links=$(ns ip -br link | awk '{print $1}' | sort)
  before_rules=$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 -p 9000-9001:9000-9001/udp >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" >/dev/null
  [ "$(ns ip -br link | grep -c veth)" -eq 2 ]
  run ns_tool disconnect --id c1
  assert_success
  run ns_tool disconnect --id c2
  assert_success
  after_links=$(ns ip -br link | awk '{print $1}' | sort)
  after_rules=$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')
  assert_equal "$after_links" "$before_links"
  assert_equal "$after_rules" "$before_rules"
  [ ! -e "$T/exec/ipam/bridge.json" ]
  [ -z "$(ls "$T/exec/netns")" ]
  ! grep -q "$T/exec/netns" /proc/self/mountinfo
}

@test "state records are read up to their newline (an in-place rewrite cut short by kill -9)" {
  ns_tool init >/dev/null
  before_rules=$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  # what a kill between the new text and the ftruncate leaves: an older,
  # longer text after the newline
  printf '{"stale":' >>"$T/exec/endpoints/c1.json"
  printf '{"172.17.0.9":"gone"}\n' >>"$T/exec/ipam/bridge.json"
  run ns_tool connect --id c2 --files-dir "$T/c2"
  assert_success
  assert_output --partial '"ip":"172.17.0.3"'
  run jq -c . "$T/exec/ipam/bridge.json"
  assert_output '{"172.17.0.2":"c1","172.17.0.3":"c2"}'
  run ns_tool disconnect --id c1
  assert_success
  run ns_tool disconnect --id c2
  assert_success
  assert_equal "$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')" "$before_rules"
  [ ! -e "$T/exec/ipam/bridge.json" ] && [ ! -e "$T/exec/endpoints/c1.json" ]
}

@test "bad input is a clear error" {
  run ns_tool init --bip 10.0.0.300/8
  assert_failure 1
  assert_output --partial '"code":"invalid","message":"invalid --bip: 10.0.0.300/8"'
  ns_tool init >/dev/null
  run ns_tool connect --id c1 --network nosuch --files-dir "$T/c1"
  assert_failure 1
  assert_output --partial '"code":"not_found","message":"network nosuch not found"'
  run ns_tool connect --id c1 -p 80:70000 --files-dir "$T/c1"
  assert_failure 1
  assert_output --partial 'invalid port specification: \"80:70000\"'
  run ns_tool connect --id c1 -p '[::1:80:80' --files-dir "$T/c1"
  assert_failure 1
  assert_output --partial 'invalid IP address: [::1'
  run ns_tool connect --id ../x --files-dir "$T/c1"
  assert_failure 1
  [ -z "$(ls "$T/exec/netns" 2>/dev/null)" ]
}

@test "--mtu applies to the bridge and the container's interface" {
  run ns_tool init --mtu 1400 --bip 10.99.0.1/24
  assert_success
  ns_tool connect --id c1 --files-dir "$T/c1" >/dev/null
  run ns ip link show docker0
  assert_output --partial 'mtu 1400'
  run in_ctr c1 ip link show eth0
  assert_output --partial 'mtu 1400'
  run ns cat /proc/sys/net/ipv4/ip_forward
  assert_output 1
}

@test "init again with other flags replaces the rules they shape" {
  ns_tool init >/dev/null
  run ns_tool init --ip-masq false --icc false --userland-proxy false
  assert_success
  run ns iptables-save
  refute_output --partial -- '-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'
  refute_output --partial -- '-i docker0 -o docker0 -j ACCEPT'
  assert_output --partial -- '-i docker0 -o docker0 -j DROP'
  assert_output --partial -- '-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER'
  refute_output --partial -- '! -d 127.0.0.0/8'
}

@test "init with another --bip moves the bridge to the new subnet" {
  ns_tool init --bip 10.97.0.1/24 >/dev/null
  run ns_tool init --bip 10.98.0.1/24
  assert_success
  run ns ip -br addr show docker0
  assert_output --partial 10.98.0.1/24
  refute_output --partial 10.97.0.1
  run ns iptables-save
  refute_output --partial 10.97.0.0/24
  assert_output --partial -- '-s 10.98.0.0/24 ! -o docker0 -j MASQUERADE'
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_output --partial '"ip":"10.98.0.2"'
}

@test "runtime state an older dk-netsetup kept in the state dir moves to the exec root; teardown stays complete" {
  ns_tool init >/dev/null
  before_rules=$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')
  before_links=$(ns ip -br link | awk '{print $1}' | sort)
  ns_tool connect --id old1 --files-dir "$T/old1" -p 8080:80 >/dev/null
  # the layout before: allocations and records under the state dir
  mkdir -p "$T/state/ipam" "$T/state/endpoints"
  mv "$T/exec/ipam/bridge.json" "$T/state/ipam/"
  mv "$T/exec/endpoints/old1.json" "$T/state/endpoints/"
  run ns_tool connect --id new1 --files-dir "$T/new1"
  assert_success
  # the old allocation was honoured (no address handed out twice)
  assert_output --partial '"ip":"172.17.0.3"'
  [ ! -e "$T/state/ipam" ] && [ ! -e "$T/state/endpoints" ]
  run jq -c . "$T/exec/ipam/bridge.json"
  assert_output '{"172.17.0.2":"old1","172.17.0.3":"new1"}'
  ns_tool disconnect --id old1 >/dev/null
  ns_tool disconnect --id new1 >/dev/null
  assert_equal "$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')" "$before_rules"
  assert_equal "$(ns ip -br link | awk '{print $1}' | sort)" "$before_links"
  [ ! -e "$T/exec/ipam/bridge.json" ] && [ ! -e "$T/exec/endpoints/old1.json" ]
  [ -z "$(ls "$T/exec/netns")" ]
}
