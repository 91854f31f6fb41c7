#!/usr/bin/env bats
# dk-netsetup serve: the warm fork server dockerd runs requests through
# (lib/toolserver.c, docs/toolserver.md).  Every test in a network
# namespace of its own; the client is tests/fixtures/toolserver-client.py.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load net_helpers

bats_require_minimum_version 1.5.0

CLIENT=$BATS_TEST_DIRNAME/../fixtures/toolserver-client.py

setup() { net_setup; }
teardown() { net_teardown; }

# serve REQUESTS: runs them through `dk-netsetup serve` in the test's netns
serve() { python3 "$CLIENT" "$1" nsenter --net="/run/netns/$NS" "$NET_BIN" serve; }
# argv_json ARGS...: a request's argv for dk-netsetup with the test's roots
argv_json() {
  python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
    "$NET_BIN" --state-dir "$T/state" --exec-root "$T/exec" "$@"
}
# jq -e that fails on empty input (jq 1.6 exits 0 when there is none)
jqe() {
  local in
  in=$(cat)
  [ -n "$in" ] || { echo "jqe: no input" >&2; return 1; }
  jq -e "$@" <<<"$in"
}
snapshot() {
  { ns ip -br link | awk '{print $1}' | sort
    ns iptables-save | grep -v '^#' | sed 's/\[[0-9:]*\]//'
    cat "$T"/exec/ipam/*.json 2>/dev/null || true
    ls "$T/exec/netns" 2>/dev/null || true; }
}

@test "a served connect and disconnect do what the command line does" {
  ns_tool init >/dev/null
  before=$(snapshot)
  reqs="[{\"argv\":$(argv_json connect --id c1 --files-dir "$T/c1" -p 18080:80)},
         {\"argv\":$(argv_json connect --files-dir "$T/c2")}]"
  run serve "$reqs"
  assert_success
  all=$output
  # the first: the CLI's result on stdout, exit status 0
  first=$(sed -n 1p <<<"$all")
  jqe '.replies[0].type == "started" and (.replies[0].pid | type) == "number"
         and .replies[1].type == "exit" and .replies[1].status == 0' <<<"$first"
  ip=$(jq -r '.stdout | fromjson | .ip' <<<"$first")
  [[ $ip == 172.* ]]
  run in_ctr c1 ip -4 -br addr show eth0
  assert_output --partial "$ip/"
  [ -f "$T/c1/hosts" ]
  ns iptables -t nat -S DOCKER | grep -q -- "--dport 18080"
  # the second, refused: the same status, stdout and stderr as from the CLI
  second=$(sed -n 2p <<<"$all")
  run --separate-stderr ns_tool connect --files-dir "$T/c2"
  [ "$status" -ne 0 ]
  jqe --argjson st "$status" --arg out "$output" --arg err "$stderr" \
    '.replies[-1].status == $st and .stdout == $out + "\n" and .stderr == $err + "\n"' <<<"$second"
  # the server ends at the end of its input, and says how many it ran
  jqe '.server_status == 0 and (.server_stdout | fromjson | .served == 2)' <<<"$(sed -n 3p <<<"$all")"
  # and the served disconnect leaves what was there before
  run serve "[{\"argv\":$(argv_json disconnect --id c1)}]"
  assert_success
  jqe '.replies[-1].status == 0' <<<"$(sed -n 1p <<<"$output")"
  [ "$(snapshot)" = "$before" ]
}

@test "malformed requests get an error reply and the server goes on" {
  reqs="[{\"raw\":\"not json\",\"fds\":3},
         {\"raw\":\"{\\\"id\\\":5}\",\"fds\":3},
         {\"raw\":\"{\\\"id\\\":6,\\\"argv\\\":[\\\"x\\\",1]}\",\"fds\":3},
         {\"raw\":\"{\\\"id\\\":7,\\\"argv\\\":[\\\"dk-netsetup\\\",\\\"--version\\\"]}\",\"fds\":1},
         {\"argv\":[\"dk-netsetup\",\"--version\"]}]"
  run serve "$reqs"
  assert_success
  all=$output
  run jq -r '.replies[0] // empty | select(.type == "error") | "\(.type) \(.id) \(.message)"' <<<"$all"
  assert_output "error -1 request is not a JSON object
error 5 request without argv
error 6 argv holds a value that is not a string
error 7 request without its three fds"
  # the good request after them was run
  run jq -r 'select(.stdout) | .stdout' <<<"$all"
  assert_output --partial "dk-netsetup version"
}

@test "serve without a seqpacket socket on stdin: a clear error, exit 1" {
  run --separate-stderr "$NET_BIN" serve </dev/null
  assert_failure 1
  assert_equal "$stderr" "dk-netsetup: error: serve: stdin must be a unix SOCK_SEQPACKET socket"
  # stdout keeps the tool contract: one final object, the error
  assert_equal "$(jq -r '.type + " " + .code' <<<"$output")" "error invalid"
}

@test "a server killed mid-request: the request still completes, nothing is lost" {
  ns_tool init >/dev/null
  before=$(snapshot)
  run serve "[{\"kill_server_after_start\":{\"argv\":$(argv_json connect --id k1 --files-dir "$T/k1" -p 18081:80)}}]"
  assert_success
  first=$(sed -n 1p <<<"$output")
  jqe '.replies == [.replies[0]] and .replies[0].type == "started"' <<<"$first"
  # the request ran to its end: its result, its namespace and its rule
  jqe '.stdout | fromjson | .type == "result"' <<<"$first"
  in_ctr k1 ip -4 -br addr show eth0 | grep -q UP
  ns iptables -t nat -S DOCKER | grep -q -- "--dport 18081"
  jqe '.server_status == -9' <<<"$(tail -1 <<<"$output")"
  ns_tool disconnect --id k1 >/dev/null
  [ "$(snapshot)" = "$before" ]
}
