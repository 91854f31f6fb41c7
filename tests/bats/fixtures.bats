#!/usr/bin/env bats
# The test harness itself: registries, fixture images, pushes.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load helpers

setup_file() {
  load helpers
  fixtures_build
  # a registry for the whole file: must survive every test's teardown
  start_registry plain
  export FILE_REGISTRY=$REGISTRY FILE_REGISTRY_PID=$REGISTRY_PID
}

teardown_file() {
  stop_registry
}

teardown() {
  stop_registry
}

# media type of the manifest and of its layers, as "TYPE layer,layer"
media_types() {
  skopeo inspect "$@" --raw | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(m["mediaType"], ",".join(l["mediaType"] for l in m.get("layers", [])))'
}

@test "a plain registry answers /v2/ on a loopback port and stops by pid" {
  start_registry plain
  [[ $REGISTRY =~ ^127\.0\.0\.1:[0-9]+$ ]]
  run curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
  assert_output 200
  pid=$REGISTRY_PID
  stop_registry
  run kill -0 "$pid"
  assert_failure
}

@test "a registry started in setup_file outlives the tests' teardown" {
  run curl -s -o /dev/null -w '%{http_code}' "http://$FILE_REGISTRY/v2/"
  assert_output 200
  start_registry plain
  stop_registry
  run kill -0 "$FILE_REGISTRY_PID"
  assert_success
  run curl -s -o /dev/null -w '%{http_code}' "http://$FILE_REGISTRY/v2/"
  assert_output 200
}

@test "stop_registry also stops pids a test added by hand" {
  sleep 300 3>&- &
  bare=$!
  DK_REGISTRY_PIDS="${DK_REGISTRY_PIDS:-} $bare"
  sleep 300 3>&- &
  adopted=$!
  registry_adopt "$adopted"
  stop_registry
  run kill -0 "$bare"
  assert_failure
  run kill -0 "$adopted"
  assert_failure
  run kill -0 "$FILE_REGISTRY_PID"
  assert_success
}

@test "two registries run side by side" {
  start_registry plain
  first=$REGISTRY
  start_registry plain
  assert [ "$first" != "$REGISTRY" ]
  run curl -s -o /dev/null -w '%{http_code}' "http://$first/v2/"
  assert_output 200
  run curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
  assert_output 200
}

@test "the fixture builder is deterministic" {
  out=$BATS_TEST_TMPDIR/again
  "$DK_REPO_ROOT/tests/fixtures/build-images" "$out"
  for n in busybox layers multiarch oci busybox.zstd layers.zstd multiarch.zstd oci.zstd; do
    run cmp "$FIXTURES/$n/index.json" "$out/$n/index.json"
    assert_success
  done
}

@test "the busybox fixture holds busybox, its applets and /etc files" {
  layout=$(fixture_layout busybox)
  run skopeo inspect --config "oci:$layout:latest"
  assert_success
  assert_output --partial '"Cmd": ['
  blob=$(skopeo inspect "oci:$layout:latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Layers"][0][7:])')
  run tar -tvzf "$layout/blobs/sha256/$blob"
  assert_output --regexp 'bin/busybox'
  assert_output --regexp 'bin/sh -> busybox'
  assert_output --regexp 'etc/passwd'
  assert_output --regexp 'etc/group'
  assert_output --regexp 'drwxrwxrwt .* tmp/'
}

@test "the layers fixture has whiteouts, opaque dir, links, xattrs, setuid, fifo, long path" {
  layout=$(fixture_layout layers)
  run skopeo inspect "oci:$layout:latest"
  assert_success
  n=$(echo "$output" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')
  assert [ "$n" -ge 4 ]
  all=""
  for blob in $(echo "$output" | python3 -c 'import json,sys; print(" ".join(l[7:] for l in json.load(sys.stdin)["Layers"][1:]))'); do
    all+=$(tar --xattrs --xattrs-include='*' -tvvzf "$layout/blobs/sha256/$blob")$'\n'
  done
  run echo "$all"
  assert_output --partial 'data/.wh.a.txt'
  assert_output --partial 'data/opq/.wh..wh..opq'
  assert_output --partial 'data/.wh.gone'
  assert_output --regexp 'data/hl-dst link to data/hl-src'
  assert_output --regexp 'data/rel -> a.txt'
  assert_output --regexp 'data/abs -> /data/b.txt'
  assert_output --regexp '-rwsr-xr-x .* data/suid'
  assert_output --regexp 'prw-r--r-- .* data/fifo'
  assert_output --regexp 'data/empty/'
  assert_output --regexp 'x: +[0-9]+ user.dk.test'
  assert_output --regexp 'x: +[0-9]+ security.capability'
  assert_output --regexp 'data/long/d{60}/e{60}/f{80}.txt'
}

@test "busybox, layers and oci push as Docker schema2 with gzip layers" {
  start_registry plain
  for n in busybox layers oci; do
    push_fixture $n t/$n:v2s2 --format v2s2
    run media_types --tls-verify=false "docker://$REGISTRY/t/$n:v2s2"
    assert_success
    assert_output --regexp '^application/vnd.docker.distribution.manifest.v2\+json (application/vnd.docker.image.rootfs.diff.tar.gzip,?)+$'
  done
}

@test "busybox, layers and oci push as OCI with gzip and with zstd layers" {
  start_registry plain
  for n in busybox layers oci; do
    push_fixture $n t/$n:gz --format oci --compress gzip
    run media_types --tls-verify=false "docker://$REGISTRY/t/$n:gz"
    assert_output --regexp '^application/vnd.oci.image.manifest.v1\+json (application/vnd.oci.image.layer.v1.tar\+gzip,?)+$'
    push_fixture $n t/$n:zst --format oci --compress zstd
    run media_types --tls-verify=false "docker://$REGISTRY/t/$n:zst"
    assert_output --regexp '^application/vnd.oci.image.manifest.v1\+json (application/vnd.oci.image.layer.v1.tar\+zstd,?)+$'
  done
}

@test "push_fixture defaults to schema2, and to OCI for zstd" {
  start_registry plain
  push_fixture busybox t/def:gz
  run media_types --tls-verify=false "docker://$REGISTRY/t/def:gz"
  assert_output --regexp '^application/vnd.docker.distribution.manifest.v2\+json '
  push_fixture busybox t/def:zst --compress zstd
  run media_types --tls-verify=false "docker://$REGISTRY/t/def:zst"
  assert_output --regexp '^application/vnd.oci.image.manifest.v1\+json application/vnd.oci.image.layer.v1.tar\+zstd$'
}

@test "schema2 with zstd is refused with a reason" {
  run push_fixture busybox t/x:1 --format v2s2 --compress zstd
  assert_failure 2
  assert_output --partial 'no zstd'
}

@test "multiarch pushes as a manifest list (v2s2) and as an OCI index (zstd)" {
  start_registry plain
  push_fixture multiarch t/multi:v2s2 --format v2s2
  run skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/t/multi:v2s2"
  assert_output --partial '"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"'
  assert_output --partial '"architecture":"amd64"'
  assert_output --partial '"architecture":"arm64"'
  push_fixture multiarch t/multi:oci --format oci --compress zstd
  run skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/t/multi:oci"
  assert_output --partial '"mediaType":"application/vnd.oci.image.index.v1+json"'
  # the non-host manifest is there too, with its zstd layer
  for arch in amd64 arm64; do
    run skopeo inspect --tls-verify=false --override-arch $arch "docker://$REGISTRY/t/multi:oci"
    assert_success
    assert_output --partial "\"Architecture\": \"$arch\""
  done
}

@test "a TLS registry refuses a client without the CA and accepts one with it" {
  start_registry tls
  [ -f "$REGISTRY_CERTS_DIR/$REGISTRY/ca.crt" ]
  run curl -s -o /dev/null "https://$REGISTRY/v2/"
  assert_failure
  run curl -s -o /dev/null -w '%{http_code}' --cacert "$REGISTRY_CA" "https://$REGISTRY/v2/"
  assert_output 200
  push_fixture busybox t/busybox:tls
  run skopeo inspect --raw "docker://$REGISTRY/t/busybox:tls"
  assert_failure
  assert_output --partial 'certificate'
  run skopeo inspect --cert-dir "$REGISTRY_CERTS_DIR/$REGISTRY" --raw "docker://$REGISTRY/t/busybox:tls"
  assert_success
}

@test "an htpasswd registry refuses anonymous clients" {
  start_registry htpasswd
  run curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
  assert_output 401
  run push_fixture busybox t/busybox:auth
  assert_failure
  assert_output --partial 'authentication required'
  run push_fixture busybox t/busybox:auth --creds "$REGISTRY_USER:wrong"
  assert_failure
  push_fixture busybox t/busybox:auth --creds "$REGISTRY_USER:$REGISTRY_PASS"
  run curl -s -u "$REGISTRY_USER:$REGISTRY_PASS" "http://$REGISTRY/v2/t/busybox/tags/list"
  assert_output '{"name":"t/busybox","tags":["auth"]}'
  # the auth file helper holds credentials skopeo accepts
  registry_auth_file "$BATS_TEST_TMPDIR/config.json"
  run skopeo inspect --tls-verify=false --authfile "$BATS_TEST_TMPDIR/config.json" --raw \
    "docker://$REGISTRY/t/busybox:auth"
  assert_success
  b64=$(registry_auth_b64)
  run bash -c "printf '%s' '$b64' | tr -- '-_' '+/' | base64 -d"
  assert_output "{\"username\":\"$REGISTRY_USER\",\"password\":\"$REGISTRY_PASS\",\"serveraddress\":\"$REGISTRY\"}"
}

@test "fixture_image_id is the config digest, kept by a schema2 push" {
  start_registry plain
  id=$(fixture_image_id busybox)
  [[ $id =~ ^sha256:[0-9a-f]{64}$ ]]
  push_fixture busybox t/id:1 --format v2s2
  run skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/t/id:1"
  assert_output --partial "\"digest\":\"$id\""
  mid=$(fixture_image_id multiarch)
  assert_equal "$mid" "$id"
}

@test "a fixture becomes a docker-save archive" {
  out=$BATS_TEST_TMPDIR/busybox.tar
  fixture_docker_archive busybox busybox:fixture "$out"
  run tar -xOf "$out" manifest.json
  assert_output --partial 'busybox:fixture"]'
}

@test "the bench image builder makes a valid OCI image (small sizes)" {
  out=$BATS_TEST_TMPDIR/bench
  run "$DK_REPO_ROOT/tests/fixtures/build-bench-image" "$out" --total-mb 8 --big-mb 3 \
    --small-files 500 --libs-mb 1 --bins-mb 1
  assert_success
  assert_output --partial 'layer small files (500)'
  run skopeo inspect "oci:$out:bench"
  assert_success
  n=$(echo "$output" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')
  assert_equal "$n" 5
  # every blob matches its digest
  for f in "$out"/blobs/sha256/*; do
    assert_equal "$(sha256sum <"$f" | cut -c1-64)" "$(basename "$f")"
  done
  run "$DK_REPO_ROOT/tests/fixtures/build-bench-image" "$out" --if-missing
  assert_success
  assert_output ''
}
