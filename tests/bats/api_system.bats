#!/usr/bin/env bats
# The Engine API's protocol edges, driven with curl and raw bytes.

load api_helpers

setup() { start_dockerd; }
teardown() { stop_dockerd; }

@test "GET /_ping answers OK with the version headers" {
  run curl -si --unix-socket "$SOCK" http://d/_ping
  assert_success
  assert_line --partial "HTTP/1.1 200 OK"
  assert_line --partial "Api-Version: 1.44"
  assert_line --partial "Ostype: linux"
  assert_line --partial "Docker-Experimental: false"
  assert_line --partial "Builder-Version: 1"
  assert_line --partial "Server: Docker/"
  assert_line --regexp '^OK$'
}

@test "HEAD /_ping has headers and no body" {
  run curl -sI --unix-socket "$SOCK" http://d/_ping
  assert_success
  assert_line --partial "Content-Length: 0"
  assert_line --partial "Api-Version: 1.44"
}

@test "versioned paths from 1.24 to 1.44 are served, others refused as moby does" {
  run api GET /v1.24/version
  assert_output --partial '"ApiVersion":"1.44"'
  run api GET /v1.44/version
  assert_output --partial '"MinAPIVersion":"1.24"'
  run curl -s -o /dev/null -w '%{http_code} %{content_type}' --unix-socket "$SOCK" http://d/v1.12/version
  assert_output "400 application/json"
  run api GET /v1.12/version
  assert_output --partial "client version 1.12 is too old. Minimum supported API version is 1.24"
  run api GET /v1.45/info
  assert_output --partial "client version 1.45 is too new. Maximum supported API version is 1.44"
}

@test "unknown paths are a JSON 404" {
  run curl -s -w ' %{http_code} %{content_type}' --unix-socket "$SOCK" http://d/v1.44/nothing/here
  assert_output '{"message":"page not found"}
 404 application/json'
}

@test "keep-alive: two requests on one connection" {
  run curl -sv --unix-socket "$SOCK" http://d/_ping http://d/version
  assert_success
  assert_output --partial "Re-using existing connection"
  assert_output --partial '"ApiVersion":"1.44"'
}

@test "pipelined requests are answered in order" {
  run raw_http < <(printf 'GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /v1.44/version HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n')
  assert_success
  [ "$(grep -c 'HTTP/1.1 200 OK' <<<"$output")" -eq 2 ]
  assert_output --partial '"Os":"linux"'
}

@test "malformed HTTP is a 400 and the daemon keeps serving" {
  run raw_http < <(printf 'GARBAGE\x01\x02 / HTTP/9.9\r\n\r\n')
  assert_output --partial "HTTP/1.1 400 Bad Request"
  assert_output --partial '"message"'
  run api GET /_ping
  assert_output OK
}

@test "an oversized header is refused, the daemon unaffected" {
  big=$(head -c 1100000 /dev/zero | tr '\0' a)
  run raw_http < <(printf 'GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: %s\r\n\r\n' "$big")
  assert_output --partial "431"
  run api GET /_ping
  assert_output OK
}

@test "a chunked request body is read" {
  run curl -s -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' \
    --data-binary '{"nope"' --unix-socket "$SOCK" http://d/v1.44/auth
  assert_output --partial '"message":"invalid JSON body'
}

@test "/info has real fields the CLI reads" {
  run api GET /v1.44/info
  assert_success
  for k in '"Containers":0' '"Images":0' '"OSType":"linux"' '"CgroupDriver":"cgroupfs"' \
    '"Swarm":{' '"LocalNodeState":"inactive"' '"DefaultRuntime":"runc"' '"SecurityOptions":['; do
    assert_output --partial "$k"
  done
  assert_output --partial "\"DockerRootDir\":\"$T/data\""
}

@test "the socket is mode 0660" {
  run stat -c %a "$SOCK"
  assert_output 660
}

@test "events: a daemon reload is streamed to a follower and replayed with since/until" {
  t0=$(date +%s)
  curl -sN --unix-socket "$SOCK" "http://d/v1.44/events?filters=%7B%22type%22%3A%5B%22daemon%22%5D%7D" >"$T/ev" &
  cpid=$!
  sleep 0.3
  echo '{"labels":["a=b"]}' >"$T/daemon.json"
  kill -HUP "$DPID"
  for _ in $(seq 50); do grep -q reload "$T/ev" && break; sleep 0.05; done
  kill "$cpid"
  run cat "$T/ev"
  assert_output --partial '"Type":"daemon","Action":"reload"'
  run api GET "/v1.44/events?since=$t0&until=$(($(date +%s) + 1))"
  assert_output --partial '"Action":"reload"'
}
