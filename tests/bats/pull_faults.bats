#!/usr/bin/env bats
# dk-pull against failures docker-registry cannot produce by itself: a
# fault-injecting proxy (tests/fixtures/fault-proxy.py) in front of the real
# registry answers 429/5xx, oversized or unknown manifests, cut or wrong
# blobs; and --registry-mirror with a local registry standing for Docker Hub
# (DK_PULL_TEST_HUB_URL).

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load helpers
load pull_helpers

setup_file() {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  push_fixture busybox "$REGISTRY/library/dkhub:latest"
  big_layout "$BATS_FILE_TMPDIR/big" 3
  push_layout "$BATS_FILE_TMPDIR/big" "$REGISTRY/dk/big:latest"
  BB_MANIFEST=$(curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/dk/bb/manifests/latest")
  BB_DIGEST=sha256:$(printf '%s' "$BB_MANIFEST" | sha256sum | cut -d' ' -f1)
  BB_LAYER=$(printf '%s' "$BB_MANIFEST" | jq -r '.layers[0].digest')
  BB_CONFIG=$(printf '%s' "$BB_MANIFEST" | jq -r '.config.digest')
  BIG_LAYER=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/dk/big/manifests/latest" | jq -r '.layers[0].digest')
  export BB_DIGEST BB_LAYER BB_CONFIG BIG_LAYER
}

teardown_file() {
  stop_registry
}

setup() {
  pull_setup
  start_fault_proxy P "$REGISTRY"
}

teardown() {
  pull_teardown
}

# gaps LOG REGEX: seconds between consecutive logged requests whose path
# matches REGEX, one per line.
gaps() {
  jq -s -r --arg re "$2" '[sort_by(.t)[] | select(.path | test($re)) | .t]
    | range(1; length) as $i | .[$i] - .[$i - 1]' "$1"
}

# nothing_registered ROOT REF: the store has no image for REF and no layer.
nothing_registered() {
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$1" resolve "$2"
  assert_failure
  [ -z "$(find "$1" -path '*/layers/*' -name meta.json 2>/dev/null)" ]
}

@test "faults: a manifest answered 503 twice is retried with growing backoff, then pulled" {
  fault_rules "$P_RULES" '[{"path": "/manifests/", "status": 503, "times": 2}]'
  run "$DK_PULL" --output-dir "$WORK/o" "$P/dk/bb:latest"
  assert_success
  assert_equal "$(last_line | jq -r .digest)" "$BB_DIGEST"
  assert_equal "$(fault_count "$P_LOG" '.path | test("/manifests/")')" 3
  mapfile -t g < <(gaps "$P_LOG" /manifests/)
  # 0.25 s, then 0.5 s
  jq -en --argjson a "${g[0]}" --argjson b "${g[1]}" '$a >= 0.24 and $b >= 0.49 and $b > $a'
}

@test "faults: 500, 502, 503 for good: Docker's message, exactly --retries attempts, bounded time" {
  for st in 500:'Internal Server Error' 502:'Bad Gateway' 503:'Service Unavailable'; do
    : >"$P_LOG"
    fault_rules "$P_RULES" "[{\"path\": \"/manifests/\", \"status\": ${st%%:*}}]"
    run "$DK_PULL" --root "$WORK/root" --retries 3 "$P/dk/bb:latest"
    assert_failure 1
    assert_equal "$(last_line | jq -r .message)" "received unexpected HTTP status: ${st%%:*} ${st#*:}"
    assert_equal "$(last_line | jq -r .code)" unavailable
    assert_equal "$(fault_count "$P_LOG" '.path | test("/manifests/")')" 3
    # 0.25 + 0.5 s of backoff between the attempts, and no more than that
    # (with room for a loaded machine)
    jq -se 'add | . >= 0.74 and . < 4' < <(gaps "$P_LOG" /manifests/)
  done
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: a layer blob answered 502 for good: error, nothing registered in the store" {
  graph_ready || skip "dk-graph does not implement the layer store yet"
  fault_rules "$P_RULES" "[{\"path\": \"/blobs/$BB_LAYER\", \"status\": 502}]"
  run "$DK_PULL" --root "$WORK/root" --retries 2 "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "received unexpected HTTP status: 502 Bad Gateway"
  assert_equal "$(fault_count "$P_LOG" ".path | test(\"/blobs/$BB_LAYER\")")" 2
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: 429 without Retry-After: retried after the backoff; for good: toomanyrequests" {
  fault_rules "$P_RULES" '[{"path": "/manifests/", "status": 429, "times": 1}]'
  run "$DK_PULL" --output-dir "$WORK/once" "$P/dk/bb:latest"
  assert_success
  assert_equal "$(fault_count "$P_LOG" '.path | test("/manifests/")')" 2
  jq -en --argjson a "$(gaps "$P_LOG" /manifests/)" '$a >= 0.24 and $a < 3'
  # the Hub's rate limit answer: its own words
  body='{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}'
  fault_rules "$P_RULES" "$(jq -cn --arg b "$body" '[{path: "/manifests/", status: 429, body: $b,
    headers: {"Content-Type": "application/json"}}]')"
  run "$DK_PULL" --root "$WORK/root" --retries 2 "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "toomanyrequests: You have reached your pull rate limit."
  assert_equal "$(last_line | jq -r .code)" unavailable
  # no body at all
  fault_rules "$P_RULES" '[{"path": "/manifests/", "status": 429}]'
  run "$DK_PULL" --root "$WORK/root" --retries 2 "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "toomanyrequests: too many requests"
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: Retry-After (seconds or an HTTP date): waited for when short, not at all beyond 30 s" {
  fault_rules "$P_RULES" '[{"path": "/manifests/", "status": 429, "times": 1, "headers": {"Retry-After": "1"}}]'
  run "$DK_PULL" --output-dir "$WORK/short" "$P/dk/bb:latest"
  assert_success
  # the registry's 1 s, not our 0.25 s
  jq -en --argjson a "$(gaps "$P_LOG" /manifests/)" '$a >= 0.95 and $a < 4'
  # an HTTP date 3 s ahead
  : >"$P_LOG"
  when=$(LC_ALL=C date -u -d '+3 seconds' '+%a, %d %b %Y %H:%M:%S GMT')
  fault_rules "$P_RULES" "[{\"path\": \"/manifests/\", \"status\": 503, \"times\": 1, \"headers\": {\"Retry-After\": \"$when\"}}]"
  run "$DK_PULL" --output-dir "$WORK/date" "$P/dk/bb:latest"
  assert_success
  jq -en --argjson a "$(gaps "$P_LOG" /manifests/)" '$a >= 1 and $a < 5'
  : >"$P_LOG"
  fault_rules "$P_RULES" '[{"path": "/manifests/", "status": 429, "headers": {"Retry-After": "3600"}}]'
  start=$(date +%s)
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb:latest"
  assert_failure 1
  [ $(($(date +%s) - start)) -lt 10 ]
  assert_equal "$(fault_count "$P_LOG" '.path | test("/manifests/")')" 1
  assert_equal "$(last_line | jq -r .message)" "toomanyrequests: too many requests (the registry asks to retry after 3600 s)"
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: a manifest over 4 MiB is refused, not retried, nothing registered" {
  fault_rules "$P_RULES" '[{"path": "/manifests/", "big": 5242880}]'
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" invalid
  assert_equal "$(last_line | jq -r .message)" "manifest for $P/dk/bb:latest is too big: more than 4194304 bytes (4 MiB, the limit of registries and of Docker)"
  assert_equal "$(fault_count "$P_LOG" '.path | test("/manifests/")')" 1
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: a manifest of unknown media type is refused with Docker's message" {
  fault_rules "$P_RULES" '[{"path": "/manifests/", "media_type": "application/vnd.dk.unknown.v1+json"}]'
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" invalid
  assert_equal "$(last_line | jq -r .message)" "unsupported manifest media type and no default available: application/vnd.dk.unknown.v1+json"
  assert_equal "$(fault_count "$P_LOG" '.path | test("/blobs/")')" 0
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: manifest bytes that do not match their digest (by tag and by digest)" {
  fault_rules "$P_RULES" '[{"path": "/manifests/", "corrupt": true}]'
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "manifest verification failed for digest $BB_DIGEST"
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb@$BB_DIGEST"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "manifest verification failed for digest $BB_DIGEST"
  assert_equal "$(fault_count "$P_LOG" '.path | test("/blobs/")')" 0
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: 403 denied gives Docker's pull access denied" {
  body='{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'
  fault_rules "$P_RULES" "$(jq -cn --arg b "$body" '[{path: "/manifests/", status: 403, body: $b}]')"
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "pull access denied for $P/dk/bb, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
  assert_equal "$(fault_count "$P_LOG" '.path | test("/manifests/")')" 1
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "faults: a blob cut mid-body resumes with a Range request and registers a correct layer" {
  graph_ready || skip "dk-graph does not implement the layer store yet"
  fault_rules "$P_RULES" "[{\"path\": \"/blobs/$BIG_LAYER\", \"method\": \"GET\", \"cut\": 1000000, \"times\": 1}]"
  run "$DK_PULL" --root "$WORK/root" --log-level debug "$P/dk/big:latest"
  assert_success
  mapfile -t ranges < <(fault_log "$P_LOG" | jq -r "select(.path | test(\"/blobs/$BIG_LAYER\")) | .range")
  assert_equal "${#ranges[@]}" 2
  assert_equal "${ranges[0]}" null
  # the second request asks for the rest only
  [[ ${ranges[1]} =~ ^bytes=([0-9]+)-$ ]]
  [ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[1]}" -le 1000000 ]
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$P/dk/big:latest"
  assert_success
  # the registered layer is the image's: its tar is the blob's uncompressed bytes
  want=sha256:$(gzip -dc "$(registry_blob_path "$BIG_LAYER")" | sha256sum | cut -d' ' -f1)
  if graph_has_layer_diff; then
    got=sha256:$("$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" layer-diff "$want" -o - | sha256sum | cut -d' ' -f1)
    assert_equal "$got" "$want"
  fi
  [ -z "$(find "$WORK/root/tmp/dk-pull-partial" -type f 2>/dev/null)" ]
}

@test "faults: blob bytes that are wrong: layer and config verification fail, nothing registered" {
  graph_ready || skip "dk-graph does not implement the layer store yet"
  fault_rules "$P_RULES" "[{\"path\": \"/blobs/$BB_LAYER\", \"corrupt\": true}]"
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "filesystem layer verification failed for digest $BB_LAYER"
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
  [ -z "$(find "$WORK/root/tmp/dk-pull-partial" -type f 2>/dev/null)" ]
  fault_rules "$P_RULES" "[{\"path\": \"/blobs/$BB_CONFIG\", \"corrupt\": true}]"
  run "$DK_PULL" --root "$WORK/root" "$P/dk/bb:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "image config verification failed for digest $BB_CONFIG"
  nothing_registered "$WORK/root" "$P/dk/bb:latest"
}

@test "mirror: a mirror that serves the image is used; Docker Hub (DK_PULL_TEST_HUB_URL) is not asked" {
  start_fault_proxy HUB "$REGISTRY"
  export DK_PULL_TEST_HUB_URL=http://$HUB
  run "$DK_PULL" --output-dir "$WORK/o" --registry-mirror "http://$P" dkhub
  assert_success
  assert_equal "$(last_line | jq -r .ref)" docker.io/library/dkhub:latest
  assert_equal "$(fault_count "$P_LOG" '.path | test("/v2/library/dkhub/manifests/latest")')" 1
  assert_equal "$(fault_count "$P_LOG" '.path | test("/v2/library/dkhub/blobs/")')" 2
  assert_equal "$(wc -l <"$HUB_LOG")" 0
}

@test "mirror: a mirror that is down, or answers 404 or 500, falls back to Docker Hub" {
  start_fault_proxy HUB "$REGISTRY"
  export DK_PULL_TEST_HUB_URL=http://$HUB
  # nothing listens on the mirror's port
  down=$(free_port)
  run "$DK_PULL" --output-dir "$WORK/down" --retries 1 --registry-mirror "http://127.0.0.1:$down" dkhub
  assert_success
  assert_output --partial "mirror http://127.0.0.1:$down"
  assert_equal "$(fault_count "$HUB_LOG" '.path | test("/v2/library/dkhub/blobs/")')" 2
  for st in 404 500; do
    : >"$HUB_LOG"
    : >"$P_LOG"
    fault_rules "$P_RULES" "[{\"path\": \"/manifests/\", \"status\": $st}]"
    run "$DK_PULL" --output-dir "$WORK/m$st" --retries 1 --registry-mirror "http://$P" library/dkhub:latest
    assert_success
    assert_equal "$(last_line | jq -r .ref)" docker.io/library/dkhub:latest
    assert_equal "$(fault_count "$P_LOG" '.path | test("/manifests/")')" 1
    assert_equal "$(fault_count "$P_LOG" '.path | test("/blobs/")')" 0
    assert_equal "$(fault_count "$HUB_LOG" '.path | test("/v2/library/dkhub/manifests/latest")')" 1
    assert_equal "$(fault_count "$HUB_LOG" '.path | test("/v2/library/dkhub/blobs/")')" 2
  done
  # the mirror is only for docker.io: another registry is asked directly
  : >"$P_LOG"
  run "$DK_PULL" --output-dir "$WORK/direct" --registry-mirror "http://$P" "$REGISTRY/dk/bb:latest"
  assert_success
  assert_equal "$(wc -l <"$P_LOG")" 0
}

@test "faults: blob redirects (307 to another host) are followed" {
  fault_rules "$P_RULES" "$(jq -cn --arg l "http://$REGISTRY/v2/dk/bb/blobs/$BB_LAYER" --arg p "/blobs/$BB_LAYER" \
    '[{path: $p, method: "GET", status: 307, headers: {Location: $l}}]')"
  run "$DK_PULL" --output-dir "$WORK/o" "$P/dk/bb:latest"
  assert_success
  assert_equal "$(fault_count "$P_LOG" '.status == 307')" 1
  blob_ok "$WORK/o" "$BB_LAYER"
}

@test "faults: a blob that keeps breaking: clean error, nothing registered; the next pull resumes from the partial blob" {
  graph_ready || skip "dk-graph does not implement the layer store yet"
  # 1 MB, then nothing at all on every later request
  fault_rules "$P_RULES" "[{\"path\": \"/blobs/$BIG_LAYER\", \"method\": \"GET\", \"cut\": 1000000, \"times\": 1},
    {\"path\": \"/blobs/$BIG_LAYER\", \"method\": \"GET\", \"cut\": 0}]"
  run "$DK_PULL" --root "$WORK/root" --retries 2 "$P/dk/big:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .type)" error
  assert_output --partial "$BIG_LAYER"
  nothing_registered "$WORK/root" "$P/dk/big:latest"
  # 1 request with the data, then one resume attempt and its retry
  assert_equal "$(fault_count "$P_LOG" ".path | test(\"/blobs/$BIG_LAYER\")")" 3
  part=$WORK/root/tmp/dk-pull-partial/${BIG_LAYER#sha256:}
  have=$(stat -c %s "$part")
  [ "$have" -gt 0 ] && [ "$have" -le 1000000 ]
  # the registry is well again: only the rest is asked for
  fault_rules "$P_RULES" '[]'
  : >"$P_LOG"
  run "$DK_PULL" --root "$WORK/root" "$P/dk/big:latest"
  assert_success
  assert_equal "$(jq -r "select(.path | test(\"/blobs/$BIG_LAYER\")) | .range" "$P_LOG")" "bytes=$have-"
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$P/dk/big:latest"
  assert_success
  [ ! -e "$part" ]
}

# two_images DIR: OCI layouts DIR/x (layers L, N) and DIR/y (layers L, M):
# one shared bottom layer.
two_images() {
  /usr/bin/python3 - "$1" <<'PY'
import os, sys
sys.path.insert(0, os.environ["DK_REPO_ROOT"] + "/tests/fixtures")
import ocilayout as oci
def layer(name):
    l = oci.Layer()
    l.file(name, os.urandom(64 << 10))
    raw, _ = l.finish()
    return raw, oci.gzip_bytes(raw, 1)
shared = layer("shared")
for name, top in (("x", layer("n")), ("y", layer("m"))):
    lay = oci.Layout(os.path.join(sys.argv[1], name))
    lay.write_index([(lay.image([shared, top]), "latest")])
PY
}

@test "faults: a failed pull does not release a layer another pull in progress found and needs" {
  two_images "$WORK/l"
  push_layout "$WORK/l/x" "$REGISTRY/dk/x:latest"
  push_layout "$WORK/l/y" "$REGISTRY/dk/y:latest"
  top() { curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/dk/$1/manifests/latest" | jq -r '.layers[1].digest'; }
  shared_diff=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/dk/x/manifests/latest" | jq -r .config.digest)
  shared_diff=$(curl -sf "http://$REGISTRY/v2/dk/x/blobs/$shared_diff" | jq -r '.rootfs.diff_ids[0]')
  # x registers the shared layer, then fails on its top layer; y finds the
  # shared layer there and is still fetching its own top layer meanwhile
  fault_rules "$P_RULES" "[{\"path\": \"$(top x)\", \"delay\": 3, \"status\": 404},
                          {\"path\": \"$(top y)\", \"delay\": 6}]"
  # (without the hold, y's top layer waits for its parent for good: bounded)
  timeout 60 "$DK_PULL" --root "$WORK/root" "$P/dk/x:latest" >"$WORK/x.out" 2>&1 &
  xpid=$!
  for _ in $(seq 100); do
    "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" layer-exists "$shared_diff" | grep -q '"exists":true' && break
    sleep 0.05
  done
  run timeout 60 "$DK_PULL" --root "$WORK/root" "$P/dk/y:latest"
  ystatus=$status youtput=$output
  wait "$xpid" && xstatus=0 || xstatus=$?
  assert_equal "x: $xstatus" "x: 1"
  status=$ystatus output=$youtput
  assert_success
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$P/dk/y:latest"
  assert_success
}
