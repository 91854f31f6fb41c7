#!/usr/bin/env bats
# docker search through our daemon (dk-pull search).  docker-registry has
# no search API; tests/fixtures/fault-proxy.py in front of it answers
# GET /v1/search with a fixed JSON to stand for a registry that has one, and
# also stands for Docker Hub's index through DK_PULL_TEST_HUB_URL (nothing
# leaves loopback).

load api_helpers
load helpers
load pull_helpers

setup_file() {
  start_registry
  export REGISTRY
}

teardown_file() {
  stop_registry
}

# four results, more than some limits below; the proxy ignores n=
search_body() {
  jq -nc '{num_results: 4, query: "foo", results: [
    {name: "foo/a", description: "the first", star_count: 5, is_official: true, is_automated: false},
    {name: "foo/b", description: "the second", star_count: 1, is_official: false, is_automated: false},
    {name: "foo/c", star_count: 10},
    {name: "foo/d", description: "built", star_count: 2, is_official: false, is_automated: true}]}'
}

setup() {
  FAULT_PIDS=
  start_fault_proxy P "$REGISTRY"
  fault_rules "$P_RULES" "$(jq -nc --arg b "$(search_body)" \
    '[{path: "^/v1/search", status: 200, headers: {"Content-Type": "application/json"}, body: $b}]')"
  # the daemon's dk-pull takes the proxy for Docker Hub's index
  export DK_PULL_TEST_HUB_URL=http://$P
  DK_HOSTNET=1 start_dockerd
}

teardown() {
  stop_dockerd
  local p
  for p in ${FAULT_PIDS:-}; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  unset DK_PULL_TEST_HUB_URL
}

# searched: the queries the proxy saw, "q n" per line
searched() {
  jq -r 'select(.path | startswith("/v1/search")) | .path' "$P_LOG" |
    sed -E 's/.*q=([^&]*)&n=([0-9]+).*/\1 \2/'
}

@test "search: a registry without a search API is a clear error naming it" {
  run docker search "$REGISTRY/foo"
  assert_failure
  assert_output --partial "registry $REGISTRY does not support search (GET /v1/search answered 404 Not Found)"
}

@test "search: a registry with one lists its results with moby's fields" {
  run docker search --format '{{.Name}}|{{.Description}}|{{.StarCount}}|{{.IsOfficial}}' "$P/foo"
  assert_success
  assert_output "foo/a|the first|5|[OK]
foo/b|the second|1|
foo/c||10|
foo/d|built|2|"
  assert_equal "$(searched)" "foo 25"
  # the table the CLI draws by default
  run docker search "$P/foo"
  assert_success
  assert_line --regexp '^NAME +DESCRIPTION +STARS +OFFICIAL'
  assert_line --regexp '^foo/a +the first +5 +\[OK\]'
  # the API's shape
  run api GET "/images/search?term=$P/foo&limit=1"
  assert_success
  assert_equal "$(jq -c . <<<"$output")" \
    '[{"name":"foo/a","description":"the first","star_count":5,"is_official":true,"is_automated":false}]'
}

@test "search: --limit is passed to the registry and bounds the rows; out of range is refused" {
  run docker search --limit 2 --format '{{.Name}}' "$P/foo"
  assert_success
  assert_output "foo/a
foo/b"
  assert_equal "$(searched)" "foo 2"
  run docker search --limit 101 "$P/foo"
  assert_failure
  assert_output --partial "limit 101 is outside the range of [1, 100]"
  run api GET "/images/search?term=$P/foo&limit=abc" -o /dev/null -w '%{http_code}'
  assert_output 400
}

@test "search: --filter stars, is-official and is-automated are applied by the daemon" {
  run docker search --filter stars=3 --format '{{.Name}}' "$P/foo"
  assert_success
  assert_output "foo/a
foo/c"
  run docker search --filter stars=2 --filter stars=6 --format '{{.Name}}' "$P/foo"
  assert_output "foo/c"
  run docker search --filter is-official=true --format '{{.Name}}' "$P/foo"
  assert_success
  assert_output "foo/a"
  run docker search --filter is-official=false --filter stars=2 --format '{{.Name}}' "$P/foo"
  assert_output "foo/c
foo/d"
  # deprecated in moby 28: =true finds nothing, =false everything, and
  # is_automated is always false
  run docker search --filter is-automated=true --format '{{.Name}}' "$P/foo"
  assert_success
  refute_output --partial "foo/"
  run docker search --filter is-automated=false --format '{{.Name}}' "$P/foo"
  assert_equal "$(grep -c '^foo/' <<<"$output")" 4
  run api GET "/images/search?term=$P/foo"
  assert_equal "$(jq -c '[.[] | .is_automated]' <<<"$output")" '[false,false,false,false]'
  run docker search --filter stars=many "$P/foo"
  assert_failure
  assert_output --partial "invalid filter 'stars=many'"
  run docker search --filter is-official=maybe "$P/foo"
  assert_failure
  assert_output --partial "invalid filter 'is-official=maybe'"
  run docker search --filter color=red "$P/foo"
  assert_failure
  assert_output --partial "invalid filter 'color'"
}

@test "search: a term without a registry asks Docker Hub's index (the test knob), library/ dropped" {
  run docker search --format '{{.Name}}' library/foo
  assert_success
  assert_line "foo/a"
  run docker search --limit 3 --format '{{.Name}}' "bar baz"
  assert_success
  assert_equal "$(searched)" "foo 25
bar%20baz 3"
}

@test "search: a registry error is worded as pull words it" {
  fault_rules "$P_RULES" '[{"path": "^/v1/search", "status": 400, "headers": {"Content-Type": "application/json"}, "body": "{\"errors\":[{\"code\":\"UNSUPPORTED\",\"message\":\"the query is too short\"}]}"}]'
  run docker search "$P/x"
  assert_failure
  assert_output --partial "the query is too short"
}

@test "search: a 503 is retried as pull retries it; a lasting 502 is worded as pull words it" {
  fault_rules "$P_RULES" "$(jq -nc --arg b "$(search_body)" '[
    {path: "^/v1/search", status: 503, times: 1},
    {path: "^/v1/search", status: 200, headers: {"Content-Type": "application/json"}, body: $b}]')"
  run docker search --format '{{.Name}}' "$P/foo"
  assert_success
  assert_line "foo/c"
  assert_equal "$(searched | wc -l)" 2
  fault_rules "$P_RULES" '[{"path": "^/v1/search", "status": 502}]'
  run docker search "$P/foo"
  assert_failure
  assert_output --partial "received unexpected HTTP status: 502 Bad Gateway"
}
