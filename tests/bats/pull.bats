#!/usr/bin/env bats
# dk-pull against a real docker-registry on loopback: transports, auth,
# manifest resolution, verification, resume, and the store.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load helpers
load pull_helpers

setup() {
  pull_setup
}

teardown() {
  pull_teardown
}

@test "pull: plain HTTP registry on loopback, every blob verified, Docker's statuses in order" {
  start_registry plain
  push_fixture layers "$REGISTRY/dk/layers:latest"
  run "$DK_PULL" --output-dir "$WORK/out" "$REGISTRY/dk/layers:latest"
  assert_success
  assert_line --index 0 '{"type":"progress","status":"Pulling from dk/layers","id":"latest"}'
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Pulling fs layer"')" 4
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Pull complete"')" 4
  assert_line --partial '"status":"Downloading","id":'
  assert_line --partial '"progressDetail":{"current":'
  assert_line --regexp '^\{"type":"progress","status":"Digest: sha256:[0-9a-f]{64}"\}$'
  assert_line "{\"type\":\"progress\",\"status\":\"Status: Downloaded newer image for $REGISTRY/dk/layers:latest\"}"
  last=$(last_line)
  [[ $last == '{"type":"result","id":"sha256:'* ]]
  # each layer: Pulling fs layer < Verifying Checksum < Download complete < Pull complete
  for id in $(printf '%s\n' "$output" | jq -r 'select(.status=="Pulling fs layer") | .id'); do
    seq=$(printf '%s\n' "$output" | jq -r --arg id "$id" 'select(.id==$id and .status!="Downloading" and .status!="Waiting") | .status' | tr '\n' ,)
    assert_equal "$seq" "Pulling fs layer,Verifying Checksum,Download complete,Pull complete,"
  done
  for d in $(jq -r '.layers[].digest, .config.digest' "$WORK/out/manifest.json"); do
    blob_ok "$WORK/out" "$d"
  done
}

@test "pull: by digest, and a digest the registry does not have" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  digest=$("$DK_PULL" --output-dir "$WORK/a" "$REGISTRY/dk/bb:latest" | tail -n 1 | jq -r .digest)
  run "$DK_PULL" --output-dir "$WORK/b" "$REGISTRY/dk/bb@$digest"
  assert_success
  assert_line --index 0 "{\"type\":\"progress\",\"status\":\"Pulling from dk/bb\",\"id\":\"$digest\"}"
  assert_equal "$(last_line | jq -r .digest)" "$digest"
  run "$DK_PULL" --output-dir "$WORK/c" "$REGISTRY/dk/bb@sha256:$(printf x | sha256sum | cut -d' ' -f1)"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" not_found
  assert_output --partial "manifest unknown"
}

@test "pull: unknown tag and unknown repository give Docker's messages" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bb:latest"
  run "$DK_PULL" --output-dir "$WORK/o" "$REGISTRY/dk/bb:nope"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "manifest for $REGISTRY/dk/bb:nope not found: manifest unknown: manifest unknown"
  # docker-registry answers MANIFEST_UNKNOWN for a repository it never saw (Docker prints the same)
  run "$DK_PULL" --output-dir "$WORK/o" "$REGISTRY/dk/nothing:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" not_found
  assert_output --partial "manifest for $REGISTRY/dk/nothing:latest not found"
}

@test "pull: multi-arch index, the host's platform by default, --platform for the other" {
  start_registry plain
  push_fixture multiarch "$REGISTRY/dk/multi:latest"
  run "$DK_PULL" --output-dir "$WORK/host" "$REGISTRY/dk/multi:latest"
  assert_success
  host_cfg=$(jq -r .config.digest "$WORK/host/manifest.json")
  arch=$(jq -r .architecture "$WORK/host/blobs/sha256/${host_cfg#sha256:}")
  assert_equal "$arch" "$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')"
  other=amd64
  [ "$arch" = amd64 ] && other=arm64
  run "$DK_PULL" --output-dir "$WORK/other" --platform "linux/$other" "$REGISTRY/dk/multi:latest"
  assert_success
  other_cfg=$(jq -r .config.digest "$WORK/other/manifest.json")
  assert_equal "$(jq -r .architecture "$WORK/other/blobs/sha256/${other_cfg#sha256:}")" "$other"
  # the Digest line names the index in both cases
  assert_equal "$(last_line | jq -r .digest)" "$(printf '%s\n' "$output" | grep -o 'Digest: sha256:[0-9a-f]*' | cut -c9-)"
  run "$DK_PULL" --output-dir "$WORK/none" --platform linux/s390x "$REGISTRY/dk/multi:latest"
  assert_failure 1
  assert_output --partial "no matching manifest for linux/s390x in the manifest list entries"
}

@test "pull: htpasswd registry: Basic credentials from an auth config file, wrong ones refused" {
  start_registry htpasswd
  push_fixture busybox "$REGISTRY/dk/priv:latest" --tls-verify=false --creds "$REGISTRY_USER:$REGISTRY_PASS"
  run "$DK_PULL" --output-dir "$WORK/anon" "$REGISTRY/dk/priv:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" unauthorized
  assert_equal "$(last_line | jq -r .message)" "pull access denied for $REGISTRY/dk/priv, repository does not exist or may require 'docker login': unauthorized: authentication required"
  run "$DK_PULL" --output-dir "$WORK/bad" --auth-file "$(auth_file "$REGISTRY_USER" wrong)" "$REGISTRY/dk/priv:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" unauthorized
  assert_output --partial "may require 'docker login'"
  run "$DK_PULL" --output-dir "$WORK/ok" --auth-file "$(auth_file "$REGISTRY_USER" "$REGISTRY_PASS")" "$REGISTRY/dk/priv:latest"
  assert_success
  # the same credentials as base64url (what dockerd gets in X-Registry-Auth), on stdin
  b64=$(printf '{"username":"%s","password":"%s"}' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0 | tr '+/' '-_' | tr -d =)
  run bash -c "printf '%s' '$b64' | '$DK_PULL' --output-dir '$WORK/ok2' --auth-file - '$REGISTRY/dk/priv:latest'"
  assert_success
}

@test "pull: Bearer token auth through the token server, token asked once per scope" {
  start_token_registry
  push_fixture busybox "$REGISTRY/dk/tok:latest" --tls-verify=false --creds "$TOKEN_USER:$TOKEN_PASS"
  : >"$TOKEN_LOG"
  run "$DK_PULL" --output-dir "$WORK/anon" "$REGISTRY/dk/tok:latest"
  assert_failure 1
  assert_output --partial "pull access denied for $REGISTRY/dk/tok"
  run "$DK_PULL" --output-dir "$WORK/bad" --auth-file "$(auth_file "$TOKEN_USER" nope)" "$REGISTRY/dk/tok:latest"
  assert_failure 1
  assert_output --partial "incorrect username or password"
  : >"$TOKEN_LOG"
  run "$DK_PULL" --output-dir "$WORK/ok" --auth-file "$(auth_file "$TOKEN_USER" "$TOKEN_PASS")" "$REGISTRY/dk/tok:latest"
  assert_success
  assert_equal "$(jq -r '.scopes[]' "$TOKEN_LOG" | sort -u)" "repository:dk/tok:pull"
  assert_equal "$(jq -r .user "$TOKEN_LOG" | sort -u)" "$TOKEN_USER"
  assert_equal "$(wc -l <"$TOKEN_LOG")" 1
}

@test "pull: TLS with the registry's CA in a certs.d directory; unknown CA names certs.d and --insecure-registry" {
  start_registry tls
  push_fixture busybox "$REGISTRY/dk/tls:latest"
  export DK_PULL_LOOPBACK_SECURE=1
  run "$DK_PULL" --output-dir "$WORK/ok" --certs-dir "$REGISTRY_CERTS_DIR" "$REGISTRY/dk/tls:latest"
  assert_success
  run "$DK_PULL" --output-dir "$WORK/bad" --certs-dir "$WORK/empty" --retries 1 "$REGISTRY/dk/tls:latest"
  assert_failure 1
  assert_output --partial "certificate"
  assert_output --partial "$WORK/empty/$REGISTRY/ca.crt"
  assert_output --partial "--insecure-registry $REGISTRY"
  run "$DK_PULL" --output-dir "$WORK/insecure" --certs-dir "$WORK/empty" --insecure-registry "$REGISTRY" "$REGISTRY/dk/tls:latest"
  assert_success
  unset DK_PULL_LOOPBACK_SECURE
  # loopback is insecure by default, as in Docker: TLS without verification
  run "$DK_PULL" --output-dir "$WORK/loop" --certs-dir "$WORK/empty" "$REGISTRY/dk/tls:latest"
  assert_success
}

@test "pull: docker.io images go through --registry-mirror" {
  start_registry plain
  push_fixture busybox "$REGISTRY/library/dkmirror:latest"
  run "$DK_PULL" --output-dir "$WORK/m" --registry-mirror "http://$REGISTRY" dkmirror
  assert_success
  assert_line --index 0 '{"type":"progress","status":"Pulling from library/dkmirror","id":"latest"}'
  assert_line '{"type":"progress","status":"Status: Downloaded newer image for dkmirror:latest"}'
  assert_equal "$(last_line | jq -r .ref)" "docker.io/library/dkmirror:latest"
}

@test "pull: a corrupted blob in the registry's storage is detected and nothing is kept" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bad:latest"
  "$DK_PULL" --output-dir "$WORK/good" "$REGISTRY/dk/bad:latest" >/dev/null
  layer=$(jq -r '.layers[0].digest' "$WORK/good/manifest.json")
  f=$(registry_blob_path "$layer")
  # same size, one byte different in the middle
  size=$(stat -c %s "$f")
  printf 'X' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
  run "$DK_PULL" --output-dir "$WORK/bad" "$REGISTRY/dk/bad:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "filesystem layer verification failed for digest $layer"
  [ ! -e "$WORK/bad/blobs/sha256/${layer#sha256:}" ]
  [ -z "$(ls -A "$WORK/bad/blobs/sha256")" ]
}

@test "pull: the registry stopped mid-transfer; the blob resumes with a Range request after it returns" {
  start_registry plain
  big_layout "$WORK/big" 16
  push_layout "$WORK/big" "$REGISTRY/dk/big:latest"
  "$DK_PULL" --log-level debug --output-dir "$WORK/out" --limit-rate 4000000 "$REGISTRY/dk/big:latest" >"$WORK/pull.out" 2>"$WORK/pull.err" &
  pull=$!
  sleep 1
  stop_registry "$REGISTRY_PID"
  sleep 1
  /usr/bin/docker-registry serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_DIR/registry.log" 2>&1 3>&- &
  REGISTRY_PID=$!
  DK_REGISTRY_PIDS="$DK_REGISTRY_PIDS $REGISTRY_PID"
  status=0
  wait "$pull" || status=$?
  cat "$WORK/pull.out" "$WORK/pull.err"
  assert_equal "$status" 0
  layer=$(jq -r '.layers[0].digest' "$WORK/out/manifest.json")
  blob_ok "$WORK/out" "$layer"
  # the transfer broke part-way and went on from there instead of starting over
  grep -q "resuming at [1-9]" "$WORK/pull.err"
}

@test "pull: the registry stays down: a clean error after the retries, no partial blob" {
  start_registry plain
  big_layout "$WORK/big" 16
  push_layout "$WORK/big" "$REGISTRY/dk/big:latest"
  "$DK_PULL" --output-dir "$WORK/out" --retries 2 --limit-rate 4000000 "$REGISTRY/dk/big:latest" >"$WORK/pull.out" 2>"$WORK/pull.err" &
  pull=$!
  sleep 1
  stop_registry "$REGISTRY_PID"
  status=0
  wait "$pull" || status=$?
  cat "$WORK/pull.out" "$WORK/pull.err"
  assert_equal "$status" 1
  run tail -n 1 "$WORK/pull.out"
  assert_output --partial '"type":"error"'
  [ -z "$(find "$WORK/out/blobs" -type f -size +1M)" ]
}

@test "pull: usage errors exit 2" {
  run "$DK_PULL" --output-dir "$WORK/o"
  assert_failure 2
  run "$DK_PULL" pull
  assert_failure 2
  run "$DK_PULL" --root "$WORK/r" "Not/Valid"
  assert_failure 1
  assert_output --partial "invalid reference format"
}

@test "pull: into the store with dk-graph; a second pull says Already exists and up to date" {
  graph_ready || skip "dk-graph does not implement layer-exists/layer-register yet"
  start_registry plain
  push_fixture layers "$REGISTRY/dk/store:latest"
  run "$DK_PULL" --root "$WORK/root" "$REGISTRY/dk/store:latest"
  assert_success
  id=$(last_line | jq -r .id)
  run "$DK_PULL" --root "$WORK/root" "$REGISTRY/dk/store:latest"
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Already exists"')" 4
  assert_line "{\"type\":\"progress\",\"status\":\"Status: Image is up to date for $REGISTRY/dk/store:latest\"}"
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$REGISTRY/dk/store:latest"
  assert_success
  assert_output --partial "$id"
}

@test "pull: HTTP_PROXY/HTTPS_PROXY are not used for loopback registries (as Docker)" {
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/px:latest"
  # a proxy that does not exist: used, it would fail the pull
  dead=127.0.0.1:$(free_port)
  run env HTTP_PROXY="http://$dead" HTTPS_PROXY="http://$dead" http_proxy="http://$dead" \
    "$DK_PULL" --output-dir "$WORK/o" --retries 1 "$REGISTRY/dk/px:latest"
  assert_success
}

@test "pull: dk-pull killed mid-download; the next pull resumes from the partial blob" {
  graph_ready || skip "dk-graph does not implement layer-exists/layer-register yet"
  start_registry plain
  big_layout "$WORK/big" 16
  push_layout "$WORK/big" "$REGISTRY/dk/big:latest"
  "$DK_PULL" --root "$WORK/root" --limit-rate 4000000 "$REGISTRY/dk/big:latest" >/dev/null 2>&1 &
  pull=$!
  sleep 1.5
  kill -9 "$pull"
  wait "$pull" || true
  partial=$(find "$WORK/root/tmp/dk-pull-partial" -type f)
  [ -n "$partial" ]
  size=$(stat -c %s "$partial")
  [ "$size" -gt 0 ]
  run "$DK_PULL" --root "$WORK/root" --log-level debug "$REGISTRY/dk/big:latest"
  assert_success
  assert_output --partial "resuming from $size bytes of an earlier pull"
  assert_line --partial '"Pull complete"'
  [ ! -e "$partial" ]
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$REGISTRY/dk/big:latest"
  assert_success
}

@test "pull: into the store, a corrupted blob registers nothing" {
  graph_ready || skip "dk-graph does not implement layer-exists/layer-register yet"
  start_registry plain
  push_fixture busybox "$REGISTRY/dk/bad:latest"
  "$DK_PULL" --output-dir "$WORK/good" "$REGISTRY/dk/bad:latest" >/dev/null
  layer=$(jq -r '.layers[0].digest' "$WORK/good/manifest.json")
  f=$(registry_blob_path "$layer")
  size=$(stat -c %s "$f")
  printf 'X' | dd of="$f" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
  run "$DK_PULL" --root "$WORK/root" "$REGISTRY/dk/bad:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "filesystem layer verification failed for digest $layer"
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$REGISTRY/dk/bad:latest"
  assert_failure
  [ -z "$(find "$WORK/root" -path '*/layers/*' -name meta.json)" ]
  [ -z "$(find "$WORK/root/tmp/dk-pull-partial" -type f)" ]
}

@test "pull: a schema 1 manifest is refused with Docker's notice" {
  start_registry_extra $'compatibility:\n  schema1:\n    enabled: true'
  echo '{}' >"$WORK/none.json"
  skopeo --insecure-policy copy --quiet --format v2s1 --dest-tls-verify=false \
    --dest-authfile "$WORK/none.json" "oci:$(fixture_layout busybox):latest" "docker://$REGISTRY/old/s1:latest"
  run "$DK_PULL" --output-dir "$WORK/o" "$REGISTRY/old/s1:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" invalid
  assert_output --partial "Docker Image manifest version 2, schema 1 support is disabled"
  assert_output --partial "Suggest the author of $REGISTRY/old/s1:latest to upgrade the image"
}

@test "login: Basic and Bearer registries check the credentials" {
  start_registry htpasswd
  run "$DK_PULL" login "$REGISTRY" --auth-file "$(auth_file "$REGISTRY_USER" "$REGISTRY_PASS")"
  assert_success
  assert_equal "$(last_line | jq -r .status)" "Login Succeeded"
  run "$DK_PULL" login "$REGISTRY" --auth-file "$(auth_file "$REGISTRY_USER" wrong)"
  assert_failure 1
  assert_equal "$(last_line | jq -r .code)" unauthorized
  start_token_registry
  run "$DK_PULL" login "http://$REGISTRY" --auth-file "$(auth_file "$TOKEN_USER" "$TOKEN_PASS")"
  assert_success
  run "$DK_PULL" login "$REGISTRY" --auth-file "$(auth_file "$TOKEN_USER" wrong)"
  assert_failure 1
  assert_output --partial "incorrect username or password"
}

@test "pull: zstd layers and Docker schema 2 media types into the store" {
  graph_ready || skip "dk-graph does not implement layer-exists/layer-register yet"
  start_registry plain
  push_fixture layers "$REGISTRY/dk/zst:latest" --compress zstd
  push_fixture oci "$REGISTRY/dk/v2s2:latest" --format v2s2
  run "$DK_PULL" --root "$WORK/root" "$REGISTRY/dk/zst:latest"
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Pull complete"')" 4
  run "$DK_PULL" --root "$WORK/root" "$REGISTRY/dk/v2s2:latest"
  assert_success
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$REGISTRY/dk/zst:latest"
  assert_success
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$REGISTRY/dk/v2s2:latest"
  assert_success
}

@test "pull: --max-concurrent-downloads 1 makes the other layers wait" {
  start_registry plain
  push_fixture layers "$REGISTRY/dk/seq:latest"
  run "$DK_PULL" --output-dir "$WORK/o" --max-concurrent-downloads 1 "$REGISTRY/dk/seq:latest"
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Waiting"')" 3
  # one at a time: a layer's download starts only after the previous one completed
  order=$(printf '%s\n' "$output" | jq -r 'select(.status=="Downloading" or .status=="Download complete") | .id' | uniq | tr '\n' ' ')
  assert_equal "$(echo "$order" | wc -w)" 4
}

@test "pull: --insecure-registry with a CIDR skips TLS verification" {
  start_registry tls
  push_fixture busybox "$REGISTRY/dk/cidr:latest"
  export DK_PULL_LOOPBACK_SECURE=1
  run "$DK_PULL" --output-dir "$WORK/o" --certs-dir "$WORK/empty" --insecure-registry 127.0.0.0/8 "$REGISTRY/dk/cidr:latest"
  assert_success
  run "$DK_PULL" --output-dir "$WORK/o2" --certs-dir "$WORK/empty" --retries 1 --insecure-registry 10.0.0.0/8 "$REGISTRY/dk/cidr:latest"
  assert_failure 1
}

@test "pull: into a vfs store (each layer registered after its parent)" {
  graph_ready || skip "dk-graph does not implement layer-exists/layer-register yet"
  start_registry plain
  push_fixture layers "$REGISTRY/dk/vfs:latest"
  run "$DK_PULL" --root "$WORK/root" --driver vfs "$REGISTRY/dk/vfs:latest"
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Pull complete"')" 4
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" --driver vfs resolve "$REGISTRY/dk/vfs:latest"
  assert_success
}

@test "pull: overlay2 layers unpack at once by default (--serial-unpack: in order); a bad first layer cancels the others" {
  graph_ready || skip "dk-graph does not implement layer-exists/layer-register yet"
  start_registry plain
  push_fixture layers "$REGISTRY/dk/par:latest"
  run "$DK_PULL" --root "$WORK/root" "$REGISTRY/dk/par:latest"
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Pull complete"')" 4
  par_id=$(last_line | jq -r .id)
  run "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/root" resolve "$REGISTRY/dk/par:latest"
  assert_success
  run "$DK_PULL" --root "$WORK/rootser" --serial-unpack "$REGISTRY/dk/par:latest"
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c '"Pull complete"')" 4
  assert_equal "$(last_line | jq -r .id)" "$par_id"
  # the same layers (chain IDs) whichever way they were unpacked
  par_layers=$(ls "$WORK/root/overlay2/layers" | sort | tr '\n' ' ')
  assert_equal "$(wc -w <<<"$par_layers")" 4
  assert_equal "$(ls "$WORK/rootser/overlay2/layers" | sort | tr '\n' ' ')" "$par_layers"
  # the base layer fails verification: the registers waiting for it must not hang
  push_fixture layers "$REGISTRY/dk/par2:latest"
  "$DK_PULL" --output-dir "$WORK/m" "$REGISTRY/dk/par2:latest" >/dev/null
  base=$(jq -r '.layers[0].digest' "$WORK/m/manifest.json")
  f=$(registry_blob_path "$base")
  printf 'X' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") - 100)) conv=notrunc 2>/dev/null
  run timeout 120 "$DK_PULL" --root "$WORK/root2" "$REGISTRY/dk/par2:latest"
  assert_failure 1
  assert_equal "$(last_line | jq -r .message)" "filesystem layer verification failed for digest $base"
  [ -z "$(find "$WORK/root2" -path '*/layers/*' -name meta.json)" ]
}

@test "pull: an identity token from the auth config is traded for a Bearer token (OAuth2 refresh)" {
  start_token_registry
  push_fixture busybox "$REGISTRY/dk/idt:latest" --tls-verify=false --creds "$TOKEN_USER:$TOKEN_PASS"
  printf '{"identitytoken":"%s"}' "$TOKEN_REFRESH" >"$WORK/idt.json"
  : >"$TOKEN_LOG"
  run "$DK_PULL" --output-dir "$WORK/o" --auth-file "$WORK/idt.json" "$REGISTRY/dk/idt:latest"
  assert_success
  assert_equal "$(jq -r .how "$TOKEN_LOG" | sort -u)" refresh_token
  printf '{"identitytoken":"wrong"}' >"$WORK/bad.json"
  run "$DK_PULL" --output-dir "$WORK/o2" --auth-file "$WORK/bad.json" "$REGISTRY/dk/idt:latest"
  assert_failure 1
}
