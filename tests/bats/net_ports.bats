#!/usr/bin/env bats
# dk-netsetup: published ports (DNAT, userland proxy, hairpin NAT), icc,
# crash cleanup.  Everything inside a namespace the test creates.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

setup() { net_setup; }
teardown() { net_teardown; }

# A web server inside container $1 on port $2.
serve() {
  mkdir -p "$T/www"
  echo "hello from $1" >"$T/www/index.html"
  bg_ctr "$1" busybox httpd -f -p "$2" -h "$T/www"
  wait_listen "$T/exec/netns/$1" "$2"
}

@test "a published port answers from the host via DNAT and via localhost" {
  ns_tool init >/dev/null
  run ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80
  assert_success
  assert_output --partial '"ports":[{"container_port":80,"proto":"tcp","host_ip":"0.0.0.0","host_port":8080,"host_ip6":"::"}]'
  serve c1 80
  run ns iptables -t nat -S DOCKER
  assert_output --partial -- '-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80'
  run ns curl -sS -m 5 http://172.17.0.1:8080/
  assert_output 'hello from c1'
  run ns curl -sS -m 5 http://127.0.0.1:8080/
  assert_output 'hello from c1'
  # and on [::] (relayed to the container's IPv4 address), as Docker 27
  run ns curl -gsS -m 5 'http://[::1]:8080/'
  assert_output 'hello from c1'
  # one proxy process holds the listener
  run ns ss -Htlnp 'sport = :8080'
  assert_output --partial "pid=$(cat "$T/state/proxy-v2.pid")"
}

@test "IPv6 host addresses: the proxy carries them to an IPv4-only container" {
  ns_tool init >/dev/null
  # bracketed and bare, as Docker's parser; [::] is every IPv6 address
  run ns_tool connect --id c1 --files-dir "$T/c1" -p '[::1]:8080:80' -p '::1:8081:80' -p '[::]:8082:80'
  assert_success
  assert_output --partial '{"container_port":80,"proto":"tcp","host_ip":"::1","host_port":8080}'
  assert_output --partial '"host_ip":"::1","host_port":8081'
  assert_output --partial '"host_ip":"::","host_port":8082'
  serve c1 80
  run ns curl -gsS -m 5 'http://[::1]:8080/'
  assert_output 'hello from c1'
  run ns curl -gsS -m 5 'http://[::1]:8082/'
  assert_output 'hello from c1'
  # IPv6 only: nothing on IPv4, and no IPv4 rule for them
  run ns curl -sS -m 2 http://127.0.0.1:8080/
  assert_failure
  run ns iptables-save -t nat
  refute_output --partial 808
  # the address is taken for the next one; a bad address is an error
  run ns_tool connect --id c2 --files-dir "$T/c2" -p '[::1]:8080:80'
  assert_failure
  assert_output --partial 'Bind for [::1]:8080 failed: port is already allocated'
  run ns_tool connect --id c3 --files-dir "$T/c3" -p '[fe80::zz]:8090:80'
  assert_failure
  assert_output --partial 'invalid IP address: fe80::zz'
  ns_tool disconnect --id c1 >/dev/null
  run ns ss -Htln 'sport = :8080'
  assert_output ''
  # without the proxy an IPv4-only container cannot be reached from IPv6:
  # the binding is left out, as Docker
  ns_tool init --userland-proxy=false >/dev/null
  run ns_tool connect --id c4 --files-dir "$T/c4" -p '[::1]:8080:80' -p 8083:80
  assert_success
  assert_output --partial '"ports":[{"container_port":80,"proto":"tcp","host_ip":"0.0.0.0","host_port":8083}]'
  assert_output --partial 'cannot map from IPv6 to an IPv4-only container because the userland proxy is disabled'
}

@test "one proxy process serves every published port, UDP too" {
  ns_tool init >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8081:80 -p 5353:53/udp >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" -p 8082:80 >/dev/null
  serve c1 80
  bg_ctr c2 busybox httpd -f -p 80 -h "$T/www"
  udp_echo c1
  wait_listen "$T/exec/netns/c2" 80
  wait_listen "$T/exec/netns/c1" 53 udp
  run ns curl -sS -m 5 http://127.0.0.1:8082/
  assert_output 'hello from c1'
  run ns python3 -c 'import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"ping",("127.0.0.1",5353)); print(s.recvfrom(100)[0].decode())'
  assert_output 'pong ping'
  pid=$(cat "$T/state/proxy-v2.pid")
  # 8081, 5353/udp and 8082, each on 0.0.0.0 and [::]
  [ "$(ns ss -Htulnp | grep -c "pid=$pid,")" -eq 6 ]
  [ "$(pgrep -c -f "exec-root $T/exec proxy")" -eq 1 ]
  ns_tool disconnect --id c1 >/dev/null
  ns_tool disconnect --id c2 >/dev/null
  # the last port gone, the proxy leaves (after a short linger)
  wait_gone "$pid"
}

@test "an endpoint with more sockets than one proxy request carries (8)" {
  ns_tool init >/dev/null
  run ns_tool connect --id c1 --files-dir "$T/c1" -p 9200:80 -p 9201:80 -p 9202:80 -p 9203:80 -p 9204:80
  assert_success
  serve c1 80
  pid=$(cat "$T/state/proxy-v2.pid")
  # 5 ports on 0.0.0.0 and [::]
  [ "$(ns ss -Htlnp | grep -c "pid=$pid,")" -eq 10 ]
  run ns curl -gsS -m 5 'http://[::1]:9204/'
  assert_output 'hello from c1'
  run ns curl -sS -m 5 http://127.0.0.1:9200/
  assert_output 'hello from c1'
}

@test "an older dk-netsetup's proxy (dk-proxy.sock) gets no new ports, only removals" {
  ns_tool init >/dev/null
  # a stand-in for the old proxy: it logs each request and answers ok
  mkdir -p "$T/exec"
  bg_ns python3 -c 'import socket,sys,os
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
while True:
    c,_=s.accept(); d=c.recv(4096); open(sys.argv[2],"ab").write(d); c.sendall(b"ok\n"); c.close()' \
    "$T/exec/dk-proxy.sock" "$T/v1.log"
  for _ in $(seq 100); do [ -S "$T/exec/dk-proxy.sock" ] && break; sleep 0.05; done
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  serve c1 80
  run ns curl -sS -m 5 http://127.0.0.1:8080/
  assert_output 'hello from c1'
  [ ! -s "$T/v1.log" ]
  ns_tool disconnect --id c1 >/dev/null
  run cat "$T/v1.log"
  assert_output '{"op":"remove","key":"c1/bridge"}'
}

@test "port ranges, -P and a taken host port" {
  ns_tool init >/dev/null
  run ns_tool connect --id c1 --files-dir "$T/c1" -p 127.0.0.1:9000-9002:7000-7002 -P --expose 80/tcp
  assert_success
  assert_output --partial '{"container_port":7000,"proto":"tcp","host_ip":"127.0.0.1","host_port":9000}'
  assert_output --partial '{"container_port":7002,"proto":"tcp","host_ip":"127.0.0.1","host_port":9002}'
  lo=$(ns cat /proc/sys/net/ipv4/ip_local_port_range | awk '{print $1}')
  assert_output --partial "{\"container_port\":80,\"proto\":\"tcp\",\"host_ip\":\"0.0.0.0\",\"host_port\":$lo,\"host_ip6\":\"::\"}"
  run ns_tool connect --id c2 --files-dir "$T/c2" -p 9001:80
  assert_failure 1
  assert_output --partial 'Bind for 0.0.0.0:9001 failed: port is already allocated'
  # a port some other program holds
  bg_ns busybox nc -l -p 9100
  wait_listen "/run/netns/$NS" 9100
  run ns_tool connect --id c3 --files-dir "$T/c3" -p 9100:80
  assert_failure 1
  assert_output --partial 'failed to bind host port 0.0.0.0:9100/tcp: Address already in use'
  # one that holds [::] only
  bg_ns python3 -c 'import socket,time
s=socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,1)
s.bind(("::",9101)); s.listen(1); time.sleep(60)'
  wait_listen "/run/netns/$NS" 9101
  run ns_tool connect --id c4 --files-dir "$T/c4" -p 9101:80
  assert_failure 1
  assert_output --partial 'failed to bind host port [::]:9101/tcp: Address already in use'
  [ ! -e "$T/exec/netns/c2" ] && [ ! -e "$T/exec/netns/c3" ] && [ ! -e "$T/exec/netns/c4" ]
  [ "$(ns ip -br link | grep -c veth)" -eq 1 ]
}

@test "a connect that fails at its links (before its port rules) leaves nothing" {
  ns_tool init >/dev/null
  before=$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')
  ns ip link del docker0
  run ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80
  assert_failure 1
  assert_output --partial '"message":"bridge docker0 not found"'
  assert_equal "$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')" "$before"
  [ ! -e "$T/exec/netns/c1" ] && [ ! -e "$T/exec/endpoints/c1.json" ]
  [ ! -e "$T/exec/ipam/bridge.json" ]
  # the host port was let go: a connect after init binds it again
  ns_tool init >/dev/null
  run ns_tool connect --id c2 --files-dir "$T/c2" -p 8080:80
  assert_success
}

@test "--userland-proxy=false reaches localhost through hairpin NAT" {
  ns_tool init --userland-proxy false >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  serve c1 80
  [ ! -e "$T/state/proxy-v2.pid" ]
  run ns cat /proc/sys/net/ipv4/conf/docker0/route_localnet
  assert_output 1
  run ns curl -sS -m 5 http://127.0.0.1:8080/
  assert_output 'hello from c1'
  # the container reaches its own published port through the host's address
  run in_ctr c1 curl -sS -m 5 http://172.17.0.1:8080/
  assert_output 'hello from c1'
}

@test "with --icc=false containers cannot reach each other" {
  ns_tool init --icc false >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" >/dev/null
  ns_tool connect --id c2 --files-dir "$T/c2" -p 8080:80 >/dev/null
  run ns iptables -S FORWARD
  assert_output --partial -- '-A FORWARD -i docker0 -o docker0 -j DROP'
  run in_ctr c1 busybox ping -c1 -W1 172.17.0.3
  assert_failure
  # the host and published ports still work
  run in_ctr c1 busybox ping -c1 -W1 172.17.0.1
  assert_success
  serve c2 80
  run ns curl -sS -m 5 http://172.17.0.1:8080/
  assert_output 'hello from c2'
}

@test "cleanup after a crash leaves no trace" {
  ns_tool init >/dev/null
  before_links=$(ns ip -br link | awk '{print $1}' | sort)
  before_rules=$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')
  ns_tool connect --id keep --files-dir "$T/k" >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  # dk-netsetup dies in the middle of a connect: links, rules and proxy are set up
  DK_NETSETUP_TEST_CRASH=1 run ns_tool connect --id c2 --files-dir "$T/c2" -p 8081:80
  assert_failure 99
  [ -e "$T/exec/netns/c2" ]
  proxy=$(cat "$T/state/proxy-v2.pid")
  run ns_tool cleanup --keep keep
  assert_success
  assert_output --partial '"removed":["c1","c2"]'
  [ "$(ls "$T/exec/netns")" = keep ]
  run jq -c . "$T/exec/ipam/bridge.json"
  assert_output '{"172.17.0.2":"keep"}'
  ns_tool disconnect --id keep >/dev/null
  after_links=$(ns ip -br link | awk '{print $1}' | sort)
  after_rules=$(ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//')
  assert_equal "$after_links" "$before_links"
  assert_equal "$after_rules" "$before_rules"
  [ ! -e "$T/exec/ipam/bridge.json" ]
  wait_gone "$proxy"
}

@test "the proxy leaves when its exec root is removed under it" {
  ns_tool init >/dev/null
  ns_tool connect --id c1 --files-dir "$T/c1" -p 8080:80 >/dev/null
  pid=$(cat "$T/state/proxy-v2.pid")
  # what a test that forgets to disconnect leaves behind
  umount -l "$T/exec/netns/c1"
  rm -rf "$T/exec"
  run wait_gone_slow "$pid"
  assert_success
}
