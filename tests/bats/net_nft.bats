#!/usr/bin/env bats
# dk-netsetup's port rules straight over nf_tables (nftrules.c) must be the
# rules iptables-restore makes, and teardown must stay complete when the
# rules were changed behind its back.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

setup() {
  iptables -V | grep -q nf_tables || skip "iptables is not iptables-nft here"
  net_setup
}
teardown() { net_teardown; }

rules() { ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//'; }

@test "direct nf_tables rules are exactly iptables-restore's" {
  ns_tool init >/dev/null
  before=$(rules)
  ports=(-p 127.0.0.1:8080:80 -p 5353:53/udp -p 9000:9000)
  DK_NETSETUP_NO_NFT=1 ns_tool connect --id c1 --files-dir "$T/c1" "${ports[@]}" >/dev/null
  by_restore=$(rules)
  ns_tool disconnect --id c1 >/dev/null
  [ "$(rules)" = "$before" ]
  ns_tool connect --id c1 --files-dir "$T/c1" "${ports[@]}" >/dev/null
  run jq -c '.networks.bridge.nft.rules | length' "$T/exec/endpoints/c1.json"
  assert_output 9
  direct=$(rules)
  [ "$direct" = "$by_restore" ]
  # iptables itself finds them rule by rule
  run ns iptables -t nat -C DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
  assert_success
  run ns iptables -t filter -C DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p udp -m udp --dport 53 -j ACCEPT
  assert_success
  ns_tool disconnect --id c1 >/dev/null
  [ "$(rules)" = "$before" ]
}

@test "IPv6: direct nf_tables rules are exactly ip6tables-restore's, both families in the record" {
  ip6tables -V | grep -q nf_tables || skip "ip6tables is not ip6tables-nft here"
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 >/dev/null
  ns ip -6 addr add 2001:db8::5/128 dev lo nodad
  rules6() { ns ip6tables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//'; }
  before=$(rules6) before4=$(rules)
  ports=(-p 127.0.0.1:8080:80 -p 5353:53/udp -p 9000:9000 -p '[2001:db8::5]:9001:91' -p '[::1]:9002:92')
  DK_NETSETUP_NO_NFT=1 ns_tool connect --id c1 --files-dir "$T/c1" "${ports[@]}" >/dev/null
  by_restore=$(rules6) by_restore4=$(rules)
  ns_tool disconnect --id c1 >/dev/null
  [ "$(rules6)" = "$before" ] && [ "$(rules)" = "$before4" ]
  ns_tool connect --id c1 --files-dir "$T/c1" "${ports[@]}" >/dev/null
  # v4: 127.0.0.1, 5353, 9000; v6: 5353, 9000, 2001:db8::5 (none for ::1)
  run jq -c '.networks.bridge | [.nft.rules, .nft6.rules] | map(length)' "$T/exec/endpoints/c1.json"
  assert_output '[9,9]'
  [ "$(rules6)" = "$by_restore" ]
  [ "$(rules)" = "$by_restore4" ]
  run ns ip6tables -t nat -C DOCKER -d 2001:db8::5/128 ! -i docker0 -p tcp -m tcp --dport 9001 -j DNAT --to-destination '[fd00:dead:beef::2]:91'
  assert_success
  ns_tool disconnect --id c1 >/dev/null
  [ "$(rules6)" = "$before" ] && [ "$(rules)" = "$before4" ]
}

@test "teardown is complete when a rule or a whole table changed behind it" {
  ns_tool init >/dev/null
  before=$(rules)
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  ns iptables -t nat -D POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
  run ns_tool disconnect --id c1
  assert_success
  [ "$(rules)" = "$before" ]
  # a flushed chain (rule handles gone) is no error either
  ns_tool connect --id c2 --files-dir "$T/c2" -p 8081:81 >/dev/null
  ns iptables -t filter -F DOCKER
  run ns_tool disconnect --id c2
  assert_success
  run rules
  refute_output --partial 172.17.0.2/32
  refute_output --partial dport
  run ns ip -br link
  refute_output --partial veth
}

@test "up to 16 ports in one nf_tables batch, more through iptables-restore" {
  ns_tool init >/dev/null
  before=$(rules)
  DK_NETSETUP_NO_NFT=1 ns_tool connect --id c1 --files-dir "$T/c1" -p 7000-7015:7000-7015/udp >/dev/null
  by_restore=$(rules)
  ns_tool disconnect --id c1 >/dev/null
  run ns_tool connect --id c1 --files-dir "$T/c1" -p 7000-7015:7000-7015/udp
  assert_success
  run jq -c '.networks.bridge.nft.rules | length' "$T/exec/endpoints/c1.json"
  assert_output 48
  [ "$(rules)" = "$by_restore" ]
  run ns_tool connect --id c2 --files-dir "$T/c2" -p 8000-8016:8000-8016
  assert_success
  refute_output --partial warning
  run jq -c '.networks.bridge.nft' "$T/exec/endpoints/c2.json"
  assert_output null
  [ "$(rules | grep -c 'dport 80[01][0-9] -j DNAT')" -eq 17 ]
  ns_tool disconnect --id c1 >/dev/null
  ns_tool disconnect --id c2 >/dev/null
  [ "$(rules)" = "$before" ]
}
