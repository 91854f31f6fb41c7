#!/usr/bin/env bats
# Container endpoints through curl: Docker's errors and shapes.

load api_helpers

setup() { start_dockerd; }
teardown() { stop_dockerd; }

@test "create with a missing image is a 404 'No such image' so the CLI pulls" {
  run curl -s -w ' %{http_code}' -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["true"]}' --unix-socket "$SOCK" http://d/v1.44/containers/create
  assert_output '{"message":"No such image: busybox:latest"}
 404'
}

@test "create refuses a bad body, a bad name" {
  run curl -s -w ' %{http_code}' -d '{"Image":' --unix-socket "$SOCK" http://d/v1.44/containers/create
  assert_output --partial '400'
  run curl -s -w ' %{http_code}' -d '{"Image":"x"}' --unix-socket "$SOCK" \
    "http://d/v1.44/containers/create?name=bad%20name"
  assert_output --partial 'Invalid container name (bad name)'
  assert_output --partial ' 400'
}

@test "unknown containers are 404 'No such container' on every endpoint" {
  for ep in "GET /containers/nope/json" "POST /containers/nope/start" "POST /containers/nope/wait" \
    "POST /containers/nope/kill" "DELETE /containers/nope"; do
    run curl -s -w ' %{http_code}' -X "${ep% *}" --unix-socket "$SOCK" "http://d/v1.44${ep#* }"
    assert_output '{"message":"No such container: nope"}
 404'
  done
}

@test "docker ps on an empty daemon" {
  run docker ps -a --format '{{.ID}}'
  assert_success
  assert_output ""
  run api GET /v1.44/containers/json
  assert_output "[]"
}
