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
  run jq -c '.networks.bridge.nft.rules | length' "$T/state/endpoints/c1.json"
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
  run jq -c '.networks.bridge.nft.rules | length' "$T/state/endpoints/c1.json"
  assert_output 48
  [ "$(rules)" = "$by_restore" ]
  run ns_tool connect --id c2 --files-dir "$T/c2" -p 8000-8016:8000-8016
  assert_success
  refute_output --partial warning
  run jq -c '.networks.bridge.nft' "$T/state/endpoints/c2.json"
  assert_output null
  [ "$(rules | grep -c 'dport 80[01][0-9] -j DNAT')" -eq 17 ]
  ns_tool disconnect --id c1 >/dev/null
  ns_tool disconnect --id c2 >/dev/null
  [ "$(rules)" = "$before" ]
}
