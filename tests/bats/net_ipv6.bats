#!/usr/bin/env bats
# dk-netsetup IPv6 (--ipv6, --fixed-cidr-v6, --default-gateway-v6) and
# names on user networks (--name, --alias): every test in a network
# namespace of its own.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

setup() { net_setup; }
teardown() { net_teardown; }

@test "--ipv6: the bridge gets the v6 gateway, two containers ping6 each other" {
  run ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64
  assert_success
  assert_output --partial '"subnet6":"fd00:dead:beef::/64","gateway6":"fd00:dead:beef::1"'
  run ns ip -6 addr show docker0
  assert_output --partial 'inet6 fd00:dead:beef::1/64'
  run ns_tool connect --id c1 --files-dir "$T/c1"
  assert_success
  assert_output --partial '"ipv6":"fd00:dead:beef::2","ipv6_prefix_len":64,"ipv6_gateway":"fd00:dead:beef::1"'
  run ns_tool connect --id c2 --files-dir "$T/c2" --hostname web
  assert_output --partial '"ipv6":"fd00:dead:beef::3"'
  run in_ctr c1 ip -6 addr show eth0
  assert_output --partial 'inet6 fd00:dead:beef::2/64'
  run in_ctr c1 ip -6 route
  assert_output --partial 'default via fd00:dead:beef::1 dev eth0'
  run in_ctr c1 busybox ping -6 -c1 -W2 fd00:dead:beef::3
  assert_success
  run in_ctr c2 busybox ping -6 -c1 -W2 fd00:dead:beef::2
  assert_success
  run in_ctr c2 busybox ping -6 -c1 -W2 fd00:dead:beef::1
  assert_success
  # IPv4 as before
  run in_ctr c2 busybox ping -c1 -W2 172.17.0.2
  assert_success
  run cat "$T/c2/hosts"
  assert_output --partial $'fd00:dead:beef::3\tweb'
  run ns_tool network-inspect bridge
  assert_output --partial '"EnableIPv6":true'
  assert_output --partial '{"Subnet":"fd00:dead:beef::/64","Gateway":"fd00:dead:beef::1"}'
  assert_output --partial '"IPv6Address":"fd00:dead:beef::2/64"'
  # teardown gives both addresses back
  ns_tool disconnect --id c1 >/dev/null
  run cat "$T/exec/ipam/bridge.json"
  refute_output --partial 'fd00:dead:beef::2'
  refute_output --partial '172.17.0.2"'
  assert_output --partial 'fd00:dead:beef::3'
  ns_tool disconnect --id c2 >/dev/null
  [ ! -e "$T/exec/ipam/bridge.json" ]
  run ns ip -br link
  refute_output --partial veth
}

@test "--ip6 is honoured once, --default-gateway-v6 is the containers' route" {
  ns_tool init --ipv6=true --fixed-cidr-v6 2001:db8:42::/80 --default-gateway-v6 2001:db8:42::fe >/dev/null
  run ns_tool connect --id c1 --ip6 2001:db8:42::99 --files-dir "$T/c1"
  assert_success
  assert_output --partial '"ipv6":"2001:db8:42::99","ipv6_prefix_len":80'
  run in_ctr c1 ip -6 route
  assert_output --partial 'default via 2001:db8:42::fe dev eth0'
  run ns_tool connect --id c2 --ip6 2001:db8:42::99 --files-dir "$T/c2"
  assert_failure 1
  assert_output --partial '"code":"conflict","message":"Address already in use"'
  run ns_tool connect --id c3 --ip6 2001:db8:43::5 --files-dir "$T/c3"
  assert_failure 1
  assert_output --partial '"code":"invalid"'
  # the failed attempts left no address behind
  run cat "$T/exec/ipam/bridge.json"
  assert_output '{"172.17.0.2":"c1","2001:db8:42::99":"c1"}'
  [ ! -e "$T/exec/netns/c2" ] && [ ! -e "$T/exec/netns/c3" ]
}

@test "--ipv6 alone picks a unique local /64 and keeps it; without --ipv6 the v6 flags are ignored" {
  run ns_tool init --ipv6=true
  assert_success
  [[ "$output" =~ \"subnet6\":\"(fd[0-9a-f:]*[0-9a-f])::/64\" ]]
  prefix=${BASH_REMATCH[1]}
  run ns_tool init --ipv6=true
  assert_output --partial "\"subnet6\":\"$prefix::/64\",\"gateway6\":\"$prefix::1\""
  run ns_tool connect --id c0 --files-dir "$T/c0"
  assert_output --partial "\"ipv6\":\"$prefix::2\""
  ns_tool disconnect --id c0 >/dev/null
  run ns_tool init --ipv6=true --fixed-cidr-v6 fd00::/129
  assert_failure
  assert_output --partial 'invalid --fixed-cidr-v6'
  run ns_tool init --fixed-cidr-v6 fd00:1::/64
  assert_success
  refute_output --partial subnet6
  run ns_tool connect --id c1 --files-dir "$T/c1"
  refute_output --partial ipv6
  run ns_tool connect --id c2 --ip6 fd00:1::5 --files-dir "$T/c2"
  assert_failure 1
  # turning IPv6 off again removes the bridge's v6 address
  ns_tool disconnect --id c1 >/dev/null
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:2::/64 >/dev/null
  run ns ip -6 addr show docker0
  assert_output --partial fd00:2::1/64
  ns_tool init --ipv6=false >/dev/null
  run ns ip -6 addr show docker0
  refute_output --partial fd00:2::1
}

@test "names and repeated aliases on a user network follow joins and leaves" {
  ns_tool init >/dev/null
  ns_tool network-create appnet --subnet 10.124.0.0/24 >/dev/null
  ns_tool connect --id c1 --network appnet --name web --alias www --alias front --files-dir "$T/c1" >/dev/null
  ns_tool connect --id c2 --network appnet --name db --alias pg --files-dir "$T/c2" >/dev/null
  run cat "$T/c2/hosts"
  assert_output --partial $'10.124.0.2\tweb\twww\tfront'
  run cat "$T/c1/hosts"
  assert_output --partial $'10.124.0.3\tdb\tpg'
  # a third member appears in both, and leaves both when it goes
  ns_tool connect --id c3 --network appnet --name cache --alias redis --files-dir "$T/c3" >/dev/null
  run cat "$T/c1/hosts"
  assert_output --partial $'10.124.0.4\tcache\tredis'
  run cat "$T/c3/hosts"
  assert_output --partial $'10.124.0.2\tweb\twww\tfront'
  assert_output --partial $'10.124.0.3\tdb\tpg'
  ns_tool disconnect --id c3 >/dev/null
  run cat "$T/c1/hosts"
  refute_output --partial cache
  run cat "$T/c2/hosts"
  refute_output --partial redis
  ns_tool disconnect --id c1 >/dev/null
  ns_tool disconnect --id c2 >/dev/null
  run ns_tool network-rm appnet
  assert_success
}

@test "a user network with --ipv6: v6 subnet, members reach and name each other over v6" {
  ns_tool init >/dev/null
  run ns_tool network-create v6net --subnet 10.125.0.0/24 --ipv6 --subnet fd00:125::/64
  assert_success
  assert_output --partial '"EnableIPv6":true'
  assert_output --partial '{"Subnet":"fd00:125::/64","Gateway":"fd00:125::1"}'
  run ns_tool network-create other --ipv6 --subnet fd00:125:0:0:1::/80
  assert_failure
  assert_output --partial 'overlaps'
  run ns_tool network-create nov6 --subnet fd00:126::/64
  assert_failure
  assert_output --partial 'needs --ipv6'
  run ns_tool connect --id c1 --network v6net --name alpha --files-dir "$T/c1"
  assert_output --partial '"ipv6":"fd00:125::2","ipv6_prefix_len":64,"ipv6_gateway":"fd00:125::1"'
  ns_tool connect --id c2 --network v6net --name beta --alias b --files-dir "$T/c2" >/dev/null
  run in_ctr c1 busybox ping -6 -c1 -W2 fd00:125::3
  assert_success
  run in_ctr c1 ip -6 route
  assert_output --partial 'default via fd00:125::1 dev eth0'
  run cat "$T/c1/hosts"
  assert_output --partial $'fd00:125::3\tbeta\tb'
  assert_output --partial $'10.125.0.3\tbeta\tb'
  ns_tool disconnect --id c2 >/dev/null
  ns_tool disconnect --id c1 >/dev/null
  [ ! -e "$T/exec/ipam/v6net.json" ]
  run ns_tool network-rm v6net
  assert_success
}
