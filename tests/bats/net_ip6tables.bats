#!/usr/bin/env bats
# dk-netsetup: ip6tables rules of networks with IPv6 (icc, internal
# networks, published ports, masquerade, teardown).  Every test in a
# network namespace of its own; "outside" is a second namespace joined to
# the test's by a veth pair (2001:db8:99::1 there, 2001:db8:99::2 outside).
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

setup() { net_setup; OUT=$NS-out; }
teardown() {
  ip netns del "$OUT" 2>/dev/null
  net_teardown
}

# ip6tables-save without comments and counters.
rules6() { ns ip6tables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//'; }

# The outside namespace.  With $1 = route, it routes back to $2 (a v6
# subnet) through the test's namespace: a reply then needs no masquerade.
outside() {
  ip netns add "$OUT"
  ip link add dko$$ netns "$NS" type veth peer name eth0 netns "$OUT"
  ns ip link set dko$$ up
  ns ip -6 addr add 2001:db8:99::1/64 dev dko$$ nodad
  ip netns exec "$OUT" ip link set lo up
  ip netns exec "$OUT" ip link set eth0 up
  ip netns exec "$OUT" ip -6 addr add 2001:db8:99::2/64 dev eth0 nodad
  if [ "${1:-}" = route ]; then
    ip netns exec "$OUT" ip -6 route add "$2" via 2001:db8:99::1
  fi
}

@test "--icc=false: containers cannot reach each other over IPv6 either" {
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 --icc false >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" >/dev/null
  run ns ip6tables -S FORWARD
  assert_output --partial -- '-A FORWARD -i docker0 -o docker0 -j DROP'
  run in_ctr c1 busybox ping -6 -c1 -W1 fd00:dead:beef::3
  assert_failure
  run in_ctr c2 busybox ping -6 -c1 -W1 fd00:dead:beef::2
  assert_failure
  # IPv4 as before, and the host still answers
  run in_ctr c1 busybox ping -c1 -W1 172.17.0.3
  assert_failure
  run in_ctr c1 busybox ping -6 -c1 -W2 fd00:dead:beef::1
  assert_success
  # icc back on: they reach each other again
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 --icc true >/dev/null
  run ns ip6tables -S FORWARD
  refute_output --partial -- '-j DROP'
  assert_output --partial -- '-A FORWARD -i docker0 -o docker0 -j ACCEPT'
  run in_ctr c1 busybox ping -6 -c1 -W2 fd00:dead:beef::3
  assert_success
}

@test "an internal network with --ipv6 has no way out over IPv6" {
  ns_tool init >/dev/null
  ns_tool network-create secret --internal --subnet 10.124.0.0/24 --ipv6 --subnet fd00:124::/64 >/dev/null
  outside route fd00:124::/64
  ns_tool connect --id c1 --network secret --files-dir "$T/c1" >/dev/null
  run ns ip6tables -S DOCKER-ISOLATION-STAGE-1
  assert_output --partial -- '! -s fd00:124::/64 -o br-'
  # even with a route of its own, nothing leaves the bridge
  in_ctr c1 ip -6 route add default via fd00:124::1
  run ns busybox ping -6 -c1 -W2 2001:db8:99::2
  assert_success
  run in_ctr c1 busybox ping -6 -c1 -W1 2001:db8:99::2
  assert_failure
  # nor comes in from outside
  run ip netns exec "$OUT" busybox ping -6 -c1 -W1 fd00:124::2
  assert_failure
  ns_tool disconnect --id c1 >/dev/null
  ns_tool network-rm secret >/dev/null
  run rules6
  refute_output --partial fd00:124
}

@test "a published port answers on the host's IPv6 address via DNAT" {
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 >/dev/null
  outside
  run ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 -p 127.0.0.1:8081:81
  assert_success
  mkdir -p "$T/www"
  echo "hello from c1" >"$T/www/index.html"
  bg_ctr c1 busybox httpd -f -p 80 -h "$T/www"
  wait_listen "$T/exec/netns/c1" 80
  run ns ip6tables -t nat -S DOCKER
  assert_output --partial -- '-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:dead:beef::2]:80'
  # a port published on an IPv4 address has no IPv6 rule
  refute_output --partial 8081
  # one on an IPv6 address has its own, for that address only
  run ns_tool connect --id c2 --files-dir "$T/c2" -p '[2001:db8:99::1]:8082:80'
  assert_success
  run ns ip6tables -t nat -S DOCKER
  assert_output --partial -- '-A DOCKER -d 2001:db8:99::1/128 ! -i docker0 -p tcp -m tcp --dport 8082 -j DNAT --to-destination [fd00:dead:beef::3]:80'
  run ns iptables-save -t nat
  refute_output --partial 8082
  bg_ctr c2 busybox httpd -f -p 80 -h "$T/www"
  wait_listen "$T/exec/netns/c2" 80
  run ip netns exec "$OUT" curl -gsS -m 5 'http://[2001:db8:99::1]:8082/'
  assert_output 'hello from c1'
  ns_tool disconnect --id c2 >/dev/null
  run ns ip6tables-save -t nat
  refute_output --partial 8082
  run ns ip6tables -S DOCKER
  assert_output --partial -- '-A DOCKER -d fd00:dead:beef::2/128 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT'
  run ip netns exec "$OUT" curl -gsS -m 5 'http://[2001:db8:99::1]:8080/'
  assert_output 'hello from c1'
  # from the host itself, to its own v6 address (nat OUTPUT)
  run ns curl -gsS -m 5 'http://[2001:db8:99::1]:8080/'
  assert_output 'hello from c1'
  # the masquerade of the v6 subnet: the outside has no route back
  run ns ip6tables -t nat -S POSTROUTING
  assert_output --partial -- '-A POSTROUTING -s fd00:dead:beef::/64 ! -o docker0 -j MASQUERADE'
  run in_ctr c1 busybox ping -6 -c1 -W2 2001:db8:99::2
  assert_success
}

@test "the userland proxy listens on [::] too, TCP and UDP, relaying to the container's IPv6 address" {
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 -p 5353:53/udp -p 127.0.0.1:8081:81 >/dev/null
  mkdir -p "$T/www"
  echo "hello from c1" >"$T/www/index.html"
  bg_ctr c1 busybox httpd -f -p 80 -h "$T/www"
  udp_echo c1
  wait_listen "$T/exec/netns/c1" 80
  wait_listen "$T/exec/netns/c1" 53 udp
  run ns curl -gsS -m 5 'http://[::1]:8080/'
  assert_output 'hello from c1'
  run ns python3 -c 'import socket
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.settimeout(3)
for i in range(2): s.sendto(b"ping%d" % i,("::1",5353)); print(s.recvfrom(100)[0].decode())'
  assert_output $'pong ping0\npong ping1'
  pid=$(cat "$T/state/proxy-v2.pid")
  # 8080 and 5353 on 0.0.0.0 and [::], 8081 on 127.0.0.1 only
  [ "$(ns ss -Htulnp | grep -c "pid=$pid,")" -eq 5 ]
  run ns ss -Htlnp 'sport = :8081'
  refute_output --partial '[::]'
  # [::] relays to the container's IPv6 address, 0.0.0.0 to its IPv4 one,
  # as Docker's proxy (the container sees the bridge's address of each)
  ns_tool connect --id c3 --files-dir "$T/c3" -p 8082:82 -p '[::1]:8083:82' >/dev/null
  tcp_peer c3 82
  wait_listen "$T/exec/netns/c3" 82
  run ns busybox nc ::1 8082 </dev/null
  assert_output fd00:dead:beef::1
  run ns busybox nc ::1 8083 </dev/null
  assert_output fd00:dead:beef::1
  run ns busybox nc 127.0.0.1 8082 </dev/null
  assert_output 172.17.0.1
  ns_tool disconnect --id c3 >/dev/null
  ns_tool disconnect --id c1 >/dev/null
  [ -z "$(ns ss -Htulnp | grep "pid=$pid,")" ]
  # without IPv6 on the network [::] relays to the IPv4 address, as Docker
  ns_tool init --ipv6=false >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" -p 8080:82 >/dev/null
  run ns ss -Htlnp 'sport = :8080'
  assert_output --partial '[::]:8080'
  assert_output --partial '0.0.0.0:8080'
  tcp_peer c2 82
  wait_listen "$T/exec/netns/c2" 82
  run ns busybox nc ::1 8080 </dev/null
  assert_output 172.17.0.1
}

@test "--userland-proxy=false: a container reaches its own port on the host's v6 address" {
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 --userland-proxy false >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  mkdir -p "$T/www"
  echo "hello from c1" >"$T/www/index.html"
  bg_ctr c1 busybox httpd -f -p 80 -h "$T/www"
  wait_listen "$T/exec/netns/c1" 80
  run ns ip6tables -t nat -S DOCKER
  assert_output --partial -- '-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:dead:beef::2]:80'
  run in_ctr c1 curl -gsS -m 5 'http://[fd00:dead:beef::1]:8080/'
  assert_output 'hello from c1'
}

@test "--ip-masq=false: no IPv6 masquerade" {
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 --ip-masq false >/dev/null
  outside
  ns_tool connect --id c1 --files-dir "$T/c1" >/dev/null
  run ns ip6tables -t nat -S POSTROUTING
  refute_output --partial MASQUERADE
  run in_ctr c1 busybox ping -6 -c1 -W1 2001:db8:99::2
  assert_failure
}

@test "teardown, crash cleanup and init without --ipv6 leave ip6tables as before" {
  empty=$(rules6)
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 >/dev/null
  before=$(rules6)
  [ "$before" != "$empty" ]
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 -p 9000-9001:9000-9001/udp >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" -p 8082:80 >/dev/null
  [ "$(rules6 | grep -c DNAT)" -eq 4 ]
  ns_tool disconnect --id c1 >/dev/null
  ns_tool disconnect --id c2 >/dev/null
  assert_equal "$(rules6)" "$before"
  # with iptables-restore for the IPv4 rules too
  DK_NETSETUP_NO_NFT=1 ns_tool connect --id c3 --files-dir "$T/c3" -p 8083:80 >/dev/null
  DK_NETSETUP_NO_NFT=1 ns_tool disconnect --id c3 >/dev/null
  assert_equal "$(rules6)" "$before"
  # a crash in the middle of a connect, then cleanup
  ns_tool connect --id keep --files-dir "$T/k" -p 8084:80 >/dev/null
  DK_NETSETUP_TEST_CRASH=1 run ns_tool connect --id c4 --files-dir "$T/c4" -p 8085:80
  assert_failure 99
  rules6 | grep -q 'dport 8085'
  run ns_tool cleanup --keep keep
  assert_success
  assert_output --partial '"removed":["c4"]'
  run rules6
  refute_output --partial 8085
  assert_output --partial 'dport 8084'
  ns_tool disconnect --id keep >/dev/null
  assert_equal "$(rules6)" "$before"
  # a user network's rules go with it
  ns_tool network-create v6net --subnet 10.125.0.0/24 --ipv6 --subnet fd00:125::/64 >/dev/null
  rules6 | grep -q fd00:125::/64
  ns_tool network-rm v6net >/dev/null
  assert_equal "$(rules6)" "$before"
  # IPv6 turned off: its rules go, and a member's port rules with the member
  ns_tool connect --id c5 --files-dir "$T/c5" -p 8086:80 >/dev/null
  ns_tool init --ipv6=false >/dev/null
  rules6 | grep -q 'dport 8086'
  ns_tool disconnect --id c5 >/dev/null
  run rules6
  refute_output --partial fd00:dead:beef
  refute_output --partial docker0
  refute_output --partial 8086
}

@test "--ip6tables=false: no IPv6 rules, and those of an earlier init go" {
  empty=$(rules6)
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 >/dev/null
  rules6 | grep -q 'fd00:dead:beef::/64'
  run ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 --ip6tables false
  assert_success
  run rules6
  refute_output --partial docker0
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  run rules6
  refute_output --partial 8080
  ns_tool disconnect --id c1 >/dev/null
  ns_tool network-create v6net --subnet 10.125.0.0/24 --ipv6 --subnet fd00:125::/64 >/dev/null
  run rules6
  refute_output --partial fd00:125
  ns_tool network-rm v6net >/dev/null
  run ns_tool init --ip6tables maybe
  assert_failure
  assert_output --partial 'invalid value for --ip6tables: maybe'
}

@test "a connect that fails at its links leaves no IPv6 rule" {
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 >/dev/null
  before=$(rules6)
  ns ip link del docker0
  run ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80
  assert_failure 1
  assert_output --partial '"message":"bridge docker0 not found"'
  assert_equal "$(rules6)" "$before"
  DK_NETSETUP_NO_NFT=1 run ns_tool connect --id c2 --files-dir "$T/c2" -p 8080:80
  assert_failure 1
  assert_equal "$(rules6)" "$before"
  [ ! -e "$T/exec/ipam/bridge.json" ]
}

@test "without --ipv6, or with --iptables=false, ip6tables is not touched" {
  empty=$(rules6)
  ns_tool init >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  ns_tool network-create appnet --subnet 10.124.0.0/24 >/dev/null
  assert_equal "$(rules6)" "$empty"
  ns_tool disconnect --id c1 >/dev/null
  ns_tool network-rm appnet >/dev/null
  ns_tool init --ipv6=true --fixed-cidr-v6 fd00:dead:beef::/64 --iptables false >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" -p 8080:80 >/dev/null
  assert_equal "$(rules6)" "$empty"
}
