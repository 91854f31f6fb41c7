#!/usr/bin/env bats
# dk-pull push: store -> registry, then pulled back; skips, mounts, auth.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load helpers
load pull_helpers

GRAPH=$DK_REPO_ROOT/bin/dk-graph

setup() {
  pull_setup
  graph_ready || skip "dk-graph does not implement the layer store yet"
  graph_has_layer_diff || skip "dk-graph has no layer-diff yet (push reads layers with it)"
}

teardown() {
  pull_teardown
}

# pull_into_store REF: pulls a fixture image into $WORK/root
pull_into_store() {
  "$DK_PULL" --root "$WORK/root" "$1" >/dev/null
}

@test "push: to a new registry, then pulled back with the same image ID" {
  start_registry plain
  src=$REGISTRY
  push_fixture layers "$src/dk/layers:latest"
  pull_into_store "$src/dk/layers:latest"
  id=$("$GRAPH" --root "$WORK/root" resolve "$src/dk/layers:latest" | jq -r .id)
  start_registry plain
  dst=$REGISTRY
  "$GRAPH" --root "$WORK/root" tag "$src/dk/layers:latest" "$dst/copy/layers:v1" >/dev/null
  run "$DK_PULL" --root "$WORK/root" push "$dst/copy/layers:v1"
  assert_success
  assert_line --index 0 "{\"type\":\"progress\",\"status\":\"The push refers to repository [$dst/copy/layers]\"}"
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Preparing"')" 4
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Pushed"')" 4
  assert_line --regexp '^\{"type":"progress","status":"v1: digest: sha256:[0-9a-f]{64} size: [0-9]+"\}$'
  digest=$(last_line | jq -r .digest)
  size=$(last_line | jq -r .size)
  # what the registry holds is what we said
  got=$(curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$dst/v2/copy/layers/manifests/v1")
  assert_equal "sha256:$(printf '%s' "$got" | sha256sum | cut -d' ' -f1)" "$digest"
  assert_equal "$(printf '%s' "$got" | wc -c)" "$size"
  run "$DK_PULL" --output-dir "$WORK/back" "$dst/copy/layers:v1"
  assert_success
  assert_equal "$(last_line | jq -r .id)" "$id"
  assert_equal "$(last_line | jq -r .digest)" "$digest"
}

@test "push: twice; the second time every layer already exists" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  pull_into_store "$REGISTRY/dk/bb:latest"
  src=$REGISTRY
  start_registry plain
  "$GRAPH" --root "$WORK/root" tag "$src/dk/bb:latest" "$REGISTRY/y/bb:latest" >/dev/null
  run "$DK_PULL" --root "$WORK/root" push "$REGISTRY/y/bb:latest"
  assert_success
  assert_line --partial '"Pushed"'
  first=$(last_line | jq -r .digest)
  run "$DK_PULL" --root "$WORK/root" push "$REGISTRY/y/bb:latest"
  assert_success
  assert_line --partial '"Layer already exists"'
  refute_line --partial '"Pushed"'
  assert_equal "$(last_line | jq -r .digest)" "$first"
}

@test "push: a layer already in another repository of the registry is mounted" {
  start_registry plain
  push_fixture layers "$REGISTRY/dk/orig:latest"
  pull_into_store "$REGISTRY/dk/orig:latest"
  "$GRAPH" --root "$WORK/root" tag "$REGISTRY/dk/orig:latest" "$REGISTRY/dk/copy:latest" >/dev/null
  run "$DK_PULL" --root "$WORK/root" push "$REGISTRY/dk/copy:latest"
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Mounted from dk/orig"')" 4
  refute_line --partial '"Pushed"'
  run "$DK_PULL" --output-dir "$WORK/back" "$REGISTRY/dk/copy:latest"
  assert_success
}

@test "push: Bearer token registry: anonymous push denied, with credentials it works" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  pull_into_store "$REGISTRY/dk/bb:latest"
  src=$REGISTRY
  start_token_registry
  "$GRAPH" --root "$WORK/root" tag "$src/dk/bb:latest" "$REGISTRY/priv/bb:latest" >/dev/null
  run "$DK_PULL" --root "$WORK/root" push "$REGISTRY/priv/bb:latest"
  assert_failure 1
  assert_output --partial "denied"
  run "$DK_PULL" --root "$WORK/root" --auth-file "$(auth_file "$TOKEN_USER" "$TOKEN_PASS")" push "$REGISTRY/priv/bb:latest"
  assert_success
  assert_line --partial '"Pushed"'
  grep -q 'repository:priv/bb:pull,push' "$TOKEN_LOG"
}

@test "push: --upload-chunk-size: PATCH chunks with Content-Range, then PUT; a failed chunk resumes where the registry is, a lost upload starts again" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  pull_into_store "$REGISTRY/dk/bb:latest"
  id=$("$GRAPH" --root "$WORK/root" resolve "$REGISTRY/dk/bb:latest" | jq -r .id)
  src=$REGISTRY
  start_registry plain
  dst=$REGISTRY
  start_fault_proxy P "$dst"
  "$GRAPH" --root "$WORK/root" tag "$src/dk/bb:latest" "$P/ch/bb:latest" >/dev/null
  # the third PATCH gets a 503 (the registry never sees it); a later one
  # breaks half-way (the registry got part of it, which makes it refuse the
  # upload's state: the upload starts again)
  fault_rules "$P_RULES" '[{"method": "PATCH", "path": "/blobs/uploads/", "status": 503, "after": 2, "times": 1},
    {"method": "PATCH", "path": "/blobs/uploads/", "cut_request": 30000, "after": 5, "times": 1}]'
  run "$DK_PULL" --root "$WORK/root" --log-level debug push --upload-chunk-size 65536 "$P/ch/bb:latest"
  assert_success
  assert_line --partial '"Pushed"'
  assert_output --partial "resuming there"
  assert_output --partial "starting a new upload"
  # accepted chunks: contiguous, at most 64 KiB each, from 0 twice (the
  # first upload and the one after the break)
  mapfile -t ranges < <(fault_log "$P_LOG" | jq -r 'select(.method == "PATCH" and .status == 202) | .content_range')
  [ "${#ranges[@]}" -ge 8 ]
  next=0 starts=0
  for r in "${ranges[@]}"; do
    [[ $r =~ ^([0-9]+)-([0-9]+)$ ]]
    if [ "${BASH_REMATCH[1]}" = 0 ]; then starts=$((starts + 1)); else assert_equal "${BASH_REMATCH[1]}" "$next"; fi
    [ $((BASH_REMATCH[2] - BASH_REMATCH[1] + 1)) -le 65536 ]
    next=$((BASH_REMATCH[2] + 1))
  done
  assert_equal "$starts" 2
  # the failed one, then the upload's status asked, then the same range again
  jq -s -e 'sort_by(.t) | map(select(.path | test("/blobs/uploads/")))
    | (map(.status == 503) | index(true)) as $i
    | .[$i].method == "PATCH" and .[$i + 1].method == "GET" and .[$i + 1].status == 204
      and .[$i + 2].content_range == .[$i].content_range' "$P_LOG"
  # the break: no answer, the upload's status refused, a new upload
  jq -s -e 'sort_by(.t) | map(select(.path | test("/blobs/uploads/")))
    | (map(.status == 0) | index(true)) as $i
    | .[$i].method == "PATCH" and .[$i + 1].method == "GET" and .[$i + 1].status == 404
      and .[$i + 2].method == "POST" and .[$i + 3].content_range == "0-65535"' "$P_LOG"
  # the layer ends with an empty PUT ?digest=; the small config went up whole
  assert_equal "$(fault_count "$P_LOG" '.method == "PUT" and (.path | test("digest=")) and .length == 0 and .status == 201')" 1
  assert_equal "$(fault_count "$P_LOG" '.method == "PUT" and (.path | test("digest=")) and .length > 0 and .status == 201')" 1
  # the registry has the whole layer: pulled back, the same image
  run "$DK_PULL" --output-dir "$WORK/back" "$dst/ch/bb:latest"
  assert_success
  assert_equal "$(last_line | jq -r .id)" "$id"
}

@test "push: a blob PUT answered 503 starts a new upload; a manifest PUT failing for good gives Docker's message" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  pull_into_store "$REGISTRY/dk/bb:latest"
  src=$REGISTRY
  start_registry plain
  start_fault_proxy P "$REGISTRY"
  "$GRAPH" --root "$WORK/root" tag "$src/dk/bb:latest" "$P/f/bb:latest" >/dev/null
  fault_rules "$P_RULES" '[{"method": "PUT", "path": "digest=", "status": 503, "times": 1}]'
  run "$DK_PULL" --root "$WORK/root" --log-level debug push "$P/f/bb:latest"
  assert_success
  assert_output --partial "starting again"
  # layer and config, and the layer or config again
  assert_equal "$(fault_count "$P_LOG" '.method == "POST" and (.path | test("/blobs/uploads/"))')" 3
  assert_equal "$(fault_count "$P_LOG" '.method == "PUT" and .status == 201 and (.path | test("digest="))')" 2
  "$GRAPH" --root "$WORK/root" tag "$src/dk/bb:latest" "$P/f/bb:v2" >/dev/null
  fault_rules "$P_RULES" '[{"method": "PUT", "path": "/manifests/", "status": 500}]'
  : >"$P_LOG"
  run "$DK_PULL" --root "$WORK/root" --retries 2 push "$P/f/bb:v2"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "received unexpected HTTP status: 500 Internal Server Error"
  assert_equal "$(fault_count "$P_LOG" '.method == "PUT" and (.path | test("/manifests/"))')" 2
  assert_line --partial '"Layer already exists"'
}

@test "push: a docker.io name goes to Docker Hub (DK_PULL_TEST_HUB_URL), never to a mirror" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  pull_into_store "$REGISTRY/dk/bb:latest"
  src=$REGISTRY
  start_registry plain
  "$GRAPH" --root "$WORK/root" tag "$src/dk/bb:latest" dkpushhub:v1 >/dev/null
  DK_PULL_TEST_HUB_URL=http://$REGISTRY run "$DK_PULL" --root "$WORK/root" \
    --registry-mirror "http://127.0.0.1:$(free_port)" push dkpushhub:v1
  assert_success
  assert_line --index 0 '{"type":"progress","status":"The push refers to repository [docker.io/library/dkpushhub]"}'
  digest=$(last_line | jq -r .digest)
  got=$(curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$REGISTRY/v2/library/dkpushhub/manifests/v1")
  assert_equal "sha256:$(printf '%s' "$got" | sha256sum | cut -d' ' -f1)" "$digest"
}

@test "push: an image that is not in the store" {
  start_registry plain
  run "$DK_PULL" --root "$WORK/root" push "$REGISTRY/no/such:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" not_found
  assert_output --partial "An image does not exist locally with the tag: $REGISTRY/no/such"
}
