#!/usr/bin/env bats
# dk-graph save/load: docker save archives and OCI layouts, on the fixture
# images (tests/fixtures/build-images), checked with skopeo as an
# independent reader.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load helpers
bats_require_minimum_version 1.5.0

setup() {
  BIN=${DK_BIN:-"$BATS_TEST_DIRNAME/../../bin"}
  T=$(mktemp -d)
  fixtures_build
}

teardown() {
  rm -rf "$T"
}

@test "saveload: a docker save archive of the fixture loads with its tag and image ID" {
  fixture_docker_archive layers layers:1 "$T/in.tar"
  run "$BIN/dk-graph" --root "$T/r1" load -i "$T/in.tar"
  assert_success
  assert_equal "$(tail -n1 <<<"$output")" '{"type":"result","loaded":["layers:1"]}'
  assert_equal "$(grep -c '"status":"Loading layer"' <<<"$output")" 8
  run "$BIN/dk-graph" --root "$T/r1" resolve layers:1
  assert_equal "$(jq -r .id <<<"$output")" "$(fixture_image_id layers)"
  # gzip'd archives on stdin too
  gzip -c "$T/in.tar" >"$T/in.tar.gz"
  run "$BIN/dk-graph" --root "$T/r2" load --quiet <"$T/in.tar.gz"
  assert_success
  assert_output '{"type":"result","loaded":["layers:1"]}'
}

@test "saveload: save gives back the exact layers, skopeo reads it, overlay2 and vfs agree byte for byte" {
  fixture_docker_archive layers layers:1 "$T/in.tar"
  for drv in overlay2 vfs; do
    "$BIN/dk-graph" --root "$T/$drv" --driver $drv load --quiet -i "$T/in.tar" >/dev/null
    run "$BIN/dk-graph" --root "$T/$drv" --driver $drv save layers:1 -o "$T/$drv.tar"
    assert_success
  done
  assert_equal "$(sha256sum <"$T/overlay2.tar")" "$(sha256sum <"$T/vfs.tar")"
  tar -C "$T" -xf "$T/overlay2.tar" manifest.json repositories index.json
  assert_equal "$(jq -c '.[0].RepoTags' "$T/manifest.json")" '["layers:1"]'
  assert_equal "$(jq -r '.layers["1"]' "$T/repositories")" "$(fixture_image_id layers | cut -d: -f2)"
  assert_equal "$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' "$T/index.json")" \
    docker.io/library/layers:1
  # an independent reader takes it, as a docker archive and as an OCI layout
  run skopeo --insecure-policy copy --quiet "docker-archive:$T/overlay2.tar" "oci:$T/oci:x"
  assert_success
  mkdir "$T/layout"
  tar -C "$T/layout" -xf "$T/overlay2.tar"
  run skopeo inspect --config "oci:$T/layout:1"
  assert_success
  # the layer blobs are the registered bytes: their digests are the diff IDs
  for l in $(jq -r '.[0].Layers[]' "$T/manifest.json"); do
    assert_equal "$(sha256sum "$T/layout/$l" | cut -d' ' -f1)" "$(basename "$l")"
  done
  # load of our own save, then save again: identical
  "$BIN/dk-graph" --root "$T/again" load --quiet -i "$T/overlay2.tar" >/dev/null
  "$BIN/dk-graph" --root "$T/again" save layers >"$T/again.tar"
  assert_equal "$(sha256sum <"$T/again.tar")" "$(sha256sum <"$T/overlay2.tar")"
}

@test "saveload: an OCI image layout loads by ID (no name in its index)" {
  tar -C "$(fixture_layout oci)" -cf "$T/oci.tar" .
  run "$BIN/dk-graph" --root "$T/r" load --quiet -i "$T/oci.tar"
  assert_success
  assert_output "{\"type\":\"result\",\"loaded\":[\"$(fixture_image_id oci)\"]}"
  run "$BIN/dk-graph" --root "$T/r" save "$(fixture_image_id oci)" -o "$T/out.tar"
  assert_success
  tar -C "$T" -xf "$T/out.tar" manifest.json
  assert_equal "$(jq -c '.[0].RepoTags' "$T/manifest.json")" '[]'
}

@test "saveload: malformed archives are clean errors" {
  echo garbage >"$T/bad.tar"
  run --separate-stderr "$BIN/dk-graph" --root "$T/r" load -i "$T/bad.tar"
  assert_failure 1
  assert_equal "$(jq -r .type <<<"$output")" error
  mkdir -p "$T/x"
  echo '[{"Config":"../../../etc/passwd","RepoTags":["x:1"],"Layers":[]}]' >"$T/x/manifest.json"
  tar -C "$T/x" -cf "$T/evil.tar" manifest.json
  run "$BIN/dk-graph" --root "$T/r" load -i "$T/evil.tar"
  assert_failure 1
  run "$BIN/dk-graph" --root "$T/r" ls
  assert_output '{"type":"result","images":[]}'
  assert_equal "$(ls "$T/r/tmp" | wc -l)" 0
}

@test "saveload: the fixture with whiteouts, opaque dirs, links and xattrs looks the same on overlay2 and vfs" {
  fixture_docker_archive layers layers:1 "$T/in.tar"
  for drv in overlay2 vfs; do
    g=("$BIN/dk-graph" --root "$T/$drv" --driver $drv)
    "${g[@]}" load --quiet -i "$T/in.tar" >/dev/null
    run "${g[@]}" container-create c1 --image layers:1
    assert_success
    p=$("${g[@]}" container-mount c1 | jq -r .path)
    (cd "$p" && find . -mindepth 1 -printf '%p %y %m %U:%G %s %l\n' | sort) >"$T/$drv.tree"
    python3 -c 'import os, sys
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        for k in sorted(os.listxattr(p, follow_symlinks=False)):
            print(os.path.relpath(p, root), k, os.getxattr(p, k, follow_symlinks=False).hex())' "$p" | sort >"$T/$drv.xattrs"
    run "${g[@]}" container-changes c1
    assert_output '{"type":"result","changes":[]}'
  done
  assert [ "$(wc -l <"$T/vfs.tree")" -gt 10 ]
  run grep -c security.capability "$T/vfs.xattrs"
  assert_output 1
  run diff "$T/overlay2.tree" "$T/vfs.tree"
  assert_success
  run diff "$T/overlay2.xattrs" "$T/vfs.xattrs"
  assert_success
  for drv in overlay2 vfs; do
    "$BIN/dk-graph" --root "$T/$drv" --driver $drv container-rm c1 >/dev/null
  done
}
