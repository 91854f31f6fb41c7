#!/usr/bin/env bats
# dk-graph: the layer and image store, used from a shell.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
bats_require_minimum_version 1.5.0

setup() {
  BIN=${DK_BIN:-"$BATS_TEST_DIRNAME/../../bin"}
  T=$(mktemp -d)
  R="$T/root"
  G=("$BIN/dk-graph" --root "$R")
}

teardown() {
  # a load left waiting on its fifo by a failed test
  if [ -n "${loader:-}" ]; then kill "$loader" 2>/dev/null || true; fi
  for m in $(awk -v t="$T" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$T"
}

# layer NAME: a gzip layer from the directory $T/NAME; prints its diff ID.
layer() {
  tar --numeric-owner -C "$T/$1" -czf "$T/$1.tgz" .
  echo "sha256:$(gzip -dc "$T/$1.tgz" | sha256sum | cut -d' ' -f1)"
}

# image TAG DIFFID...: registers nothing; writes the config $T/config.json.
config() {
  local ids
  ids=$(printf '"%s",' "$@")
  cat >"$T/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z","config":{"Cmd":["sh"],"Labels":{"org.test":"yes"}},"rootfs":{"type":"layers","diff_ids":[${ids%,}]},"history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD base"},{"created":"2024-01-01T00:00:01Z","created_by":"CMD [\"sh\"]","empty_layer":true},{"created":"2024-01-02T03:04:05Z","created_by":"ADD top"}]}
JSON
}

# two_layer_image TAG: base (busybox) + top (/etc/hello), tagged TAG.
two_layer_image() {
  mkdir -p "$T/base/bin" "$T/top/etc"
  cp /bin/busybox "$T/base/bin/busybox"
  ln -s busybox "$T/base/bin/sh"
  echo hello >"$T/top/etc/hello"
  D1=$(layer base)
  D2=$(layer top)
  run "${G[@]}" layer-register --diff-id "$D1" "$T/base.tgz"
  assert_success
  C1=$(jq -r .chain_id <<<"$output")
  run "${G[@]}" layer-register --parent "$C1" - <"$T/top.tgz"
  assert_success
  C2=$(jq -r .chain_id <<<"$output")
  config "$D1" "$D2"
  run "${G[@]}" image-add --config "$T/config.json" --tag "$1"
  assert_success
  ID=$(jq -r .id <<<"$output")
}

@test "graph: layer-register computes chain IDs and is idempotent" {
  two_layer_image busybox:latest
  assert_equal "$C1" "$D1"
  want=sha256:$(printf '%s %s' "$D1" "$D2" | sha256sum | cut -d' ' -f1)
  assert_equal "$C2" "$want"
  run "${G[@]}" layer-register --parent "$C1" "$T/top.tgz"
  assert_success
  assert_equal "$(jq -r .existed <<<"$output")" true
  run "${G[@]}" layer-exists "$C2"
  assert_output '{"type":"result","exists":true}'
  run "${G[@]}" layer-register --parent "sha256:$(printf 'f%.0s' $(seq 64))" "$T/top.tgz"
  assert_failure 1
  assert_output --partial '"code":"not_found"'
  assert_equal "$ID" "sha256:$(sha256sum "$T/config.json" | cut -d' ' -f1)"
}

@test "graph: image-add refuses an image whose layers are not registered" {
  config "sha256:$(printf 'e%.0s' $(seq 64))"
  run "${G[@]}" image-add --config "$T/config.json" --tag x:1
  assert_failure 1
  assert_output --partial "is not registered"
}

@test "graph: ls, inspect and history give Engine API objects" {
  two_layer_image busybox:latest
  run "${G[@]}" ls
  assert_success
  assert_equal "$(jq -c '.images[0] | [.Id, .RepoTags, .Created, .Labels, .ParentId]' <<<"$output")" \
    "[\"$ID\",[\"busybox:latest\"],1704164645,{\"org.test\":\"yes\"},\"\"]"
  size=$(jq .images[0].Size <<<"$output")
  assert [ "$size" -ge "$(stat -c %s /bin/busybox)" ]
  run "${G[@]}" inspect busybox
  assert_success
  assert_equal "$(jq -c '.image | [.Id, .RepoTags, .Os, .Architecture, .Config.Cmd, .RootFS.Layers, .GraphDriver.Name]' <<<"$output")" \
    "[\"$ID\",[\"busybox:latest\"],\"linux\",\"amd64\",[\"sh\"],[\"$D1\",\"$D2\"],\"overlay2\"]"
  run "${G[@]}" history busybox
  assert_success
  assert_equal "$(jq -c '[.history[] | [.Id[0:9], .CreatedBy, .Size > 0]]' <<<"$output")" \
    '[["sha256:'"${ID:7:2}"'","ADD top",true],["<missing>","CMD [\"sh\"]",false],["<missing>","ADD base",true]]'
  run "${G[@]}" inspect nosuch
  assert_failure 1
  assert_output --partial '"message":"No such image: nosuch"'
}

@test "graph: resolve by reference, full ID, short ID" {
  two_layer_image busybox:latest
  for ref in busybox busybox:latest docker.io/library/busybox:latest "$ID" "${ID#sha256:}" "${ID:7:12}"; do
    run "${G[@]}" resolve "$ref"
    assert_success
    assert_equal "$(jq -r .id <<<"$output")" "$ID"
  done
  run "${G[@]}" resolve busybox:other
  assert_failure 1
  assert_output --partial "No such image: busybox:other"
}

@test "graph: tag, untag and rm follow Docker's rules" {
  two_layer_image busybox:latest
  run "${G[@]}" tag busybox localhost:5000/my/box:v1
  assert_success
  # as Docker: a matching image is listed with its matching references only
  run "${G[@]}" ls --filter reference='localhost:5000/my/*'
  assert_equal "$(jq -c '.images[0].RepoTags' <<<"$output")" '["localhost:5000/my/box:v1"]'
  run "${G[@]}" ls --filter reference='localhost:5000/my/*' --filter reference=busybox
  assert_equal "$(jq -c '.images[0].RepoTags' <<<"$output")" '["busybox:latest","localhost:5000/my/box:v1"]'
  run "${G[@]}" rm "${ID:7:12}"
  assert_failure 1
  assert_output --partial "image is referenced in multiple repositories"
  run "${G[@]}" rm localhost:5000/my/box:v1
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" '[{"Untagged":"localhost:5000/my/box:v1"}]'
  run "${G[@]}" untag busybox:latest
  assert_success
  run "${G[@]}" ls --filter dangling=true
  assert_equal "$(jq -c '[.images[] | .RepoTags]' <<<"$output")" '[[]]'
  run "${G[@]}" rm "$ID"
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[{\"Deleted\":\"$ID\"},{\"Deleted\":\"$C2\"},{\"Deleted\":\"$C1\"}]"
  run "${G[@]}" layer-exists "$C1"
  assert_output --partial '"exists":false'
  assert_equal "$(ls "$R/overlay2/l" | wc -l)" 0
}

@test "graph: rm keeps layers another image shares" {
  two_layer_image one:1
  first=$ID
  cat >"$T/config2.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2024-02-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":["$D1"]}}
JSON
  run "${G[@]}" image-add --config "$T/config2.json" --tag two:1
  assert_success
  run "${G[@]}" rm one:1
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[{\"Untagged\":\"one:1\"},{\"Deleted\":\"$first\"},{\"Deleted\":\"$C2\"}]"
  run "${G[@]}" layer-exists "$C1"
  assert_output --partial '"exists":true'
}

@test "graph: two registrations of different layers run at once" {
  for i in 1 2 3 4; do
    mkdir -p "$T/l$i"
    head -c 4000000 /dev/urandom >"$T/l$i/data"
    layer "l$i" >/dev/null
  done
  for i in 1 2 3 4; do
    "${G[@]}" layer-register "$T/l$i.tgz" >"$T/out$i" &
  done
  wait
  for i in 1 2 3 4; do
    assert_equal "$(jq -r .existed <"$T/out$i")" false
  done
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 4
  assert_equal "$(ls "$R/tmp" | wc -l)" 0
}

@test "graph: kill -9 in the middle of an import leaves nothing half-registered" {
  mkdir -p "$T/big"
  head -c 20000000 /dev/urandom >"$T/big/data"
  d=$(layer big)
  mkfifo "$T/fifo"
  "${G[@]}" layer-register "$T/fifo" >/dev/null 2>&1 &
  pid=$!
  exec 7>"$T/fifo"
  head -c 8000000 "$T/big.tgz" >&7
  sleep 0.3
  assert [ -n "$(ls "$R/tmp")" ]
  kill -9 "$pid"
  wait "$pid" || true
  exec 7>&-
  run "${G[@]}" layer-exists "$d"
  assert_output --partial '"exists":false'
  assert_equal "$(ls "$R/tmp" | wc -l)" 0
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 0
  run "${G[@]}" layer-register "$T/big.tgz"
  assert_success
  assert_equal "$(jq -r .chain_id <<<"$output")" "$d"
}

@test "graph: a layer waiting for its parent gives up when the process that started it is gone" {
  mkdir -p "$T/top/etc" && echo t >"$T/top/etc/t"
  layer top >/dev/null
  # the parent never comes and the starter dies (a pull killed by dockerd)
  bash -c '"$@" >/dev/null 2>&1 & echo $! >"$0"; sleep 1; kill -9 $$' "$T/pid" \
    "${G[@]}" layer-register --parent "sha256:$(printf 'a%.0s' $(seq 64))" --parent-wait 600 "$T/top.tgz" || true
  pid=$(cat "$T/pid")
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  alive=
  kill -0 "$pid" 2>/dev/null && alive=yes && kill "$pid"
  assert_equal "alive: $alive" "alive: "
  assert_equal "$(ls "$R/tmp")" ""
}

@test "graph: a root on a tmpfs too small fails cleanly and registers nothing" {
  mkdir -p "$R" "$T/big"
  mount -t tmpfs -o size=2m tmpfs "$R" || skip "cannot mount a tmpfs here"
  head -c 6000000 /dev/urandom >"$T/big/data"
  d=$(layer big)
  run --separate-stderr "${G[@]}" layer-register "$T/big.tgz"
  assert_failure 1
  assert_equal "$(jq -r .type <<<"$output")" error
  assert_output --partial "No space left on device"
  run "${G[@]}" layer-exists "$d"
  assert_output --partial '"exists":false'
  assert_equal "$(ls "$R/tmp" | wc -l)" 0
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 0
}

# visible DIR: the tree as a container sees it (path, type, mode, size, link).
visible() {
  (cd "$1" && find . -mindepth 1 -printf '%p %y %m %s %l\n' | sort)
}

# whiteout_image: base has /a/{x,y}, /b/z, /keep; top deletes /a/x and makes
# /b opaque with a new file.
whiteout_image() {
  mkdir -p "$T/base/a" "$T/base/b"
  echo x >"$T/base/a/x"
  echo y >"$T/base/a/y"
  echo z >"$T/base/b/z"
  echo k >"$T/base/keep"
  D1=$(layer base)
  /usr/bin/python3 - "$T/top.tar" <<'PY'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, data=None, **kw):
    i = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(i, k, v)
    i.size = len(data) if data else 0
    t.addfile(i, io.BytesIO(data) if data else None)
add("a", type=tarfile.DIRTYPE, mode=0o755)
add("a/.wh.x")
add("b", type=tarfile.DIRTYPE, mode=0o755)
add("b/.wh..wh..opq")
add("b/new", b"new\n", mode=0o644)
t.close()
PY
  D2=sha256:$(sha256sum "$T/top.tar" | cut -d' ' -f1)
  config "$D1" "$D2"
}

@test "graph: overlay2 (mounted) and vfs show the same tree after whiteouts" {
  whiteout_image
  for drv in overlay2 vfs; do
    g=("$BIN/dk-graph" --root "$T/$drv" --driver $drv)
    run "${g[@]}" layer-register "$T/base.tgz"
    assert_success
    run "${g[@]}" layer-register --parent "$D1" "$T/top.tar"
    assert_success
    run "${g[@]}" image-add --config "$T/config.json" --tag wh:1
    assert_success
    run "${g[@]}" container-create c1 --image wh:1
    assert_success
    run "${g[@]}" container-mount c1
    assert_success
    visible "$(jq -r .path <<<"$output")" >"$T/$drv.tree"
  done
  run diff "$T/overlay2.tree" "$T/vfs.tree"
  assert_success
  run cut -d' ' -f1 "$T/vfs.tree"
  assert_output "./a
./a/y
./b
./b/new
./keep"
}

@test "graph: container-create --mount creates and mounts in one run (overlay2 and vfs)" {
  whiteout_image
  for drv in overlay2 vfs; do
    g=("$BIN/dk-graph" --root "$T/$drv" --driver $drv)
    "${g[@]}" layer-register "$T/base.tgz" >/dev/null
    "${g[@]}" layer-register --parent "$D1" "$T/top.tar" >/dev/null
    "${g[@]}" image-add --config "$T/config.json" --tag wh:1 >/dev/null
    run "${g[@]}" container-create c1 --image wh:1 --mount
    assert_success
    p=$(jq -r .path <<<"$output")
    assert_equal "$(jq -r .id <<<"$output")" c1
    # the same path container-mount gives, with the image's tree in it
    assert_equal "$("${g[@]}" container-mount c1 | jq -r .path)" "$p"
    assert [ -f "$p/keep" ]
    assert [ -f "$p/b/new" ]
    if [ $drv = overlay2 ]; then
      run findmnt -n -o FSTYPE "$p"
      assert_output overlay
    fi
    run "${g[@]}" container-rm c1
    assert_success
    assert [ ! -e "$p" ]
  done
}

@test "graph: container-*, ls, inspect and du start without libarchive or libcrypto; save loads them" {
  two_layer_image busybox:latest
  loaded() { LD_DEBUG=files "$@" 2>&1 >/dev/null | grep -oE 'file=[^ ]*(archive|crypto)[^ ]*' | sort -u; }
  assert_equal "$(loaded "${G[@]}" container-create c1 --image busybox:latest --mount)" ""
  assert_equal "$(loaded "${G[@]}" ls)" ""
  assert_equal "$(loaded "${G[@]}" inspect busybox:latest)" ""
  # du takes the layers from the chain the image's meta stores, as rm does
  assert_equal "$(loaded "${G[@]}" du)" ""
  assert_equal "$(loaded "${G[@]}" container-rm c1)" ""
  run loaded "${G[@]}" save busybox:latest -o "$T/img.tar"
  assert_output --partial "libarchive.so"
  assert_output --partial "libcrypto.so"
  assert_equal "$(tar -tf "$T/img.tar" | grep -c '^blobs/sha256/.')" 4
}

# mounts_under DIR: how many mount points are at or under DIR.
mounts_under() {
  awk -v d="$1" 'index($5, d) == 1' /proc/self/mountinfo | wc -l
}

@test "graph: container-rm is immediate, cleans up in the background, and survives a kill -9" {
  two_layer_image busybox:latest
  run "${G[@]}" container-create c1 --image busybox:latest --mount
  assert_success
  p=$(jq -r .path <<<"$output")
  echo data >"$p/written"
  run "${G[@]}" container-rm c1
  assert_success
  assert_output '{"type":"result"}'
  # gone for every command at once, and the ID is free again
  assert [ ! -e "$R/overlay2/containers/c1" ]
  run "${G[@]}" container-changes c1
  assert_failure 1
  assert_output --partial '"code":"not_found"'
  run "${G[@]}" container-create c1 --image busybox:latest --mount
  assert_success
  assert [ ! -e "$(jq -r .path <<<"$output")/written" ]
  run "${G[@]}" container-rm c1
  assert_success
  # the background cleanup unmounts and deletes everything
  for _ in $(seq 100); do
    [ -z "$(ls "$R/tmp")" ] && [ "$(mounts_under "$R/")" = 0 ] && break
    sleep 0.1
  done
  assert_equal "$(ls "$R/tmp")" ""
  assert_equal "$(mounts_under "$R/")" 0

  # killed right after the rename: the layer is gone, its mount and files
  # sit under tmp/ until the next dk-graph run removes them
  run "${G[@]}" container-create c2 --image busybox:latest --mount
  assert_success
  run env DK_GRAPH_RM_CRASH=1 "${G[@]}" container-rm c2
  assert_failure 9
  assert [ ! -e "$R/overlay2/containers/c2" ]
  assert_equal "$(mounts_under "$R/tmp/")" 1
  run "${G[@]}" ls
  assert_success
  assert_equal "$(ls "$R/tmp")" ""
  assert_equal "$(mounts_under "$R/")" 0
  # the image's layers are untouched
  run "${G[@]}" container-create c3 --image busybox:latest --mount
  assert_success
  assert [ -x "$(jq -r .path <<<"$output")/bin/busybox" ]
}

@test "graph: container changes and diff round-trip through a layer (overlay2 and vfs)" {
  whiteout_image
  for drv in overlay2 vfs; do
    g=("$BIN/dk-graph" --root "$T/$drv" --driver $drv)
    "${g[@]}" layer-register "$T/base.tgz" >/dev/null
    "${g[@]}" layer-register --parent "$D1" "$T/top.tar" >/dev/null
    "${g[@]}" image-add --config "$T/config.json" --tag wh:1 >/dev/null
    "${g[@]}" container-create c1 --image wh:1 >/dev/null
    p=$("${g[@]}" container-mount c1 | jq -r .path)
    rm "$p/a/y"
    echo added >"$p/a/added"
    echo more >>"$p/keep"
    mkdir "$p/newdir"
    run "${g[@]}" container-changes c1
    assert_success
    assert_equal "$(jq -c '[.changes[] | [.Path, .Kind]]' <<<"$output")" \
      '[["/a",0],["/a/added",1],["/a/y",2],["/keep",0],["/newdir",1]]'
    # what docker ps -s shows: the files written, then plus the image's layers
    run "${g[@]}" container-size c1
    assert_success
    assert_equal "$(jq '.sizes.c1.size_rw' <<<"$output")" "$((6 + $(stat -c %s "$p/keep")))"
    assert [ "$(jq '.sizes.c1.size_root_fs > .sizes.c1.size_rw' <<<"$output")" = true ]
    run "${g[@]}" container-diff c1 -o "$T/$drv-diff.tar"
    assert_success
    assert_equal "$(tar -tf "$T/$drv-diff.tar" | sort | tr '\n' ' ')" "a/ a/.wh.y a/added keep newdir/ "
    # the diff applied as a new layer on the image gives the container's tree
    c2=sha256:$(printf '%s %s' "$D1" "$D2" | sha256sum | cut -d' ' -f1)
    run "${g[@]}" layer-register --parent "$c2" "$T/$drv-diff.tar"
    assert_success
    c3=$(jq -r .chain_id <<<"$output")
    d3=$(jq -r .diff_id <<<"$output")
    jq -c --arg d "$d3" '.rootfs.diff_ids += [$d]' "$T/config.json" >"$T/config3.json"
    "${g[@]}" image-add --config "$T/config3.json" --tag committed:1 >/dev/null
    "${g[@]}" container-create c2 --image committed:1 >/dev/null
    p2=$("${g[@]}" container-mount c2 | jq -r .path)
    run diff <(visible "$p") <(visible "$p2")
    assert_success
    # and layer-diff of that layer gives back the same entries
    assert_equal "$("${g[@]}" layer-diff "$c3" | tar -tf - | sort | tr '\n' ' ')" "a/ a/.wh.y a/added keep newdir/ "
    run "${g[@]}" container-unmount c1
    assert_success
    run "${g[@]}" container-rm c1
    assert_success
    run "${g[@]}" container-changes c1
    assert_failure 1
  done
}

@test "graph: an image of 125 layers mounts on overlay2" {
  ids=()
  parent=
  for i in $(seq 1 125); do
    mkdir -p "$T/l/$i"
    echo "$i" >"$T/l/$i/f$i"
    tar -C "$T/l/$i" -cf "$T/l/$i.tar" .
    out=$("${G[@]}" layer-register ${parent:+--parent "$parent"} "$T/l/$i.tar")
    parent=$(jq -r .chain_id <<<"$out")
    ids+=("\"$(jq -r .diff_id <<<"$out")\"")
  done
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$(IFS=,; echo "${ids[*]}")" >"$T/config.json"
  run "${G[@]}" image-add --config "$T/config.json" --tag many:1
  assert_success
  run "${G[@]}" container-create c1 --image many:1
  assert_success
  run "${G[@]}" container-mount c1
  assert_success
  p=$(jq -r .path <<<"$output")
  assert_equal "$(cat "$p/f1") $(cat "$p/f125") $(ls "$p" | wc -l)" "1 125 125"
}

@test "graph: prune removes dangling images (all unused with --all) and du counts shared layers" {
  two_layer_image keep:1
  first=$ID
  cat >"$T/config2.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2024-02-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":["$D1"]}}
JSON
  run "${G[@]}" image-add --config "$T/config2.json"
  assert_success
  dangling=$(jq -r .id <<<"$output")
  run "${G[@]}" du
  assert_success
  base=$(jq "[.images[] | select(.Id == \"$dangling\")][0].Size" <<<"$output")
  assert_equal "$(jq "[.images[] | select(.Id == \"$dangling\")][0].SharedSize" <<<"$output")" "$base"
  assert_equal "$(jq .layers_size <<<"$output")" "$(jq "[.images[] | select(.Id == \"$first\")][0].Size" <<<"$output")"
  run "${G[@]}" prune
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[{\"Deleted\":\"$dangling\"}]"
  assert_equal "$(jq .space_reclaimed <<<"$output")" 0
  run "${G[@]}" container-create c1 --image keep:1
  assert_success
  run "${G[@]}" container-create c2 --image keep:1
  assert_success
  run "${G[@]}" du
  assert_equal "$(jq "[.images[] | select(.Id == \"$first\")][0].Containers" <<<"$output")" 2
  run "${G[@]}" container-rm c2
  assert_success
  run "${G[@]}" prune --all
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[]"
  run "${G[@]}" container-rm c1
  run "${G[@]}" prune --all --filter label=org.test=yes
  assert_success
  assert_equal "$(jq -c '.deleted | length' <<<"$output")" 4
  assert [ "$(jq .space_reclaimed <<<"$output")" -gt 1000000 ]
  run "${G[@]}" ls
  assert_equal "$(jq -c .images <<<"$output")" "[]"
}

@test "graph: layer-diff gives back the exact bytes of the registered layer (tar-split)" {
  mkdir -p "$T/src/d"
  echo a >"$T/src/d/a"
  ln "$T/src/d/a" "$T/src/d/hard"
  ln -s a "$T/src/d/sym"
  head -c 100000 /dev/urandom >"$T/src/big"
  : >"$T/src/empty"
  long=$(printf 'n%.0s' $(seq 150))
  echo l >"$T/src/$long"
  for fmt in gnu pax ustar; do
    [ $fmt = ustar ] && rm "$T/src/$long"
    tar --format=$fmt -C "$T/src" -cf "$T/$fmt.tar" .
    want=sha256:$(sha256sum "$T/$fmt.tar" | cut -d' ' -f1)
    run "${G[@]}" layer-register "$T/$fmt.tar"
    assert_success
    run "${G[@]}" layer-diff "$want" -o "$T/$fmt.out"
    assert_success
    assert_equal "sha256:$(sha256sum "$T/$fmt.out" | cut -d' ' -f1)" "$want"
  done
}

@test "graph: --uidmap/--gidmap (userns-remap) shift the layers' owners and the container root" {
  mkdir -p "$T/base/etc"
  echo x >"$T/base/etc/x"
  chown 5:6 "$T/base/etc/x"
  d=$(layer base)
  g=("$BIN/dk-graph" --root "$R" --uidmap 0:200000:65536 --gidmap 0:300000:65536)
  run "${g[@]}" layer-register "$T/base.tgz"
  assert_success
  assert_equal "$(stat -c %u:%g "$R/overlay2/layers/${d#sha256:}/diff/etc/x")" "200005:300006"
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$d" >"$T/config.json"
  run "${g[@]}" image-add --config "$T/config.json" --tag remap:1
  assert_success
  run "${g[@]}" container-create c1 --image remap:1
  assert_success
  p=$("${g[@]}" container-mount c1 | jq -r .path)
  assert_equal "$(stat -c %u:%g "$p")" "200000:300000"
  assert_equal "$(stat -c %u:%g "$p/etc/x")" "200005:300006"
  # the saved layer is still the original tar
  assert_equal "sha256:$("${g[@]}" layer-diff "$d" | sha256sum | cut -d' ' -f1)" "$d"
}

@test "graph: prune removes layers no image holds once they are old enough" {
  two_layer_image keep:1
  mkdir -p "$T/orphan"
  echo o >"$T/orphan/o"
  d=$(layer orphan)
  run "${G[@]}" layer-register "$T/orphan.tgz"
  assert_success
  run "${G[@]}" prune
  assert_equal "$(jq -c .deleted <<<"$output")" "[]"
  DK_GRAPH_ORPHAN_AGE=0 run "${G[@]}" prune
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[{\"Deleted\":\"$d\"}]"
  run "${G[@]}" layer-exists "$C2"
  assert_output --partial '"exists":true'
}

@test "graph: with --parent-wait a child layer registers while its parent is still coming (overlay2)" {
  mkdir -p "$T/base/bin" "$T/top/etc"
  echo b >"$T/base/bin/b"
  echo t >"$T/top/etc/t"
  D1=$(layer base)
  D2=$(layer top)
  c2=sha256:$(printf '%s %s' "$D1" "$D2" | sha256sum | cut -d' ' -f1)
  "${G[@]}" layer-register --parent "$D1" --parent-wait 30 "$T/top.tgz" >"$T/child.out" &
  child=$!
  sleep 0.5
  run "${G[@]}" layer-exists "$c2"
  assert_output --partial '"exists":false'
  run "${G[@]}" layer-register "$T/base.tgz"
  assert_success
  wait "$child"
  assert_equal "$(jq -r .chain_id "$T/child.out")" "$c2"
  run "${G[@]}" layer-register --parent "sha256:$(printf 'a%.0s' $(seq 64))" --parent-wait 1 "$T/top.tgz"
  assert_failure 1
  assert_output --partial "parent layer"
  assert_equal "$(ls "$R/tmp" | wc -l)" 0
}

# parent_child: image parent:1 (base layer) and child:1 (base + top) whose
# parent is parent:1; sets P and C to their IDs.
parent_child() {
  two_layer_image child:1
  C=$ID
  config "$D1"
  cp "$T/config.json" "$T/pconfig.json"
  P=$("${G[@]}" image-add --config "$T/pconfig.json" --tag parent:1 | jq -r .id)
  config "$D1" "$D2"
  run "${G[@]}" image-add --config "$T/config.json" --tag child:1 --parent parent:1
  assert_success
  assert_equal "$(jq -r .id <<<"$output")" "$C"
}

@test "graph: rm and prune read each image's metadata and config once, however many images there are" {
  command -v strace >/dev/null || skip "needs strace"
  two_layer_image keep:1
  for i in $(seq 1 30); do
    printf '{"architecture":"amd64","os":"linux","created":"2024-02-01T00:00:%02dZ","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
      "$i" "$D1" >"$T/c$i.json"
    "${G[@]}" image-add --config "$T/c$i.json" >/dev/null
  done
  "${G[@]}" tag "sha256:$(sha256sum "$T/c30.json" | cut -d' ' -f1)" n:30 >/dev/null
  for cmd in "rm n:30" prune "prune --all"; do
    n=$(ls "$R/image/overlay2/images" | wc -l)
    ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=open,openat,access -o "$T/trace" "${G[@]}" $cmd >"$T/out"
    assert_equal "$(jq --arg c1 "$C1" --arg c2 "$C2" '[.deleted[] | .Deleted // empty | select(. != $c1 and . != $c2)] | length' "$T/out") images" \
      "$((n - $(ls "$R/image/overlay2/images" | wc -l))) images"
    metas=$(grep -cE '^[0-9]+ +open(at)?\(.*/images/[0-9a-f]{64}\.json"' "$T/trace" || true)
    configs=$(grep -cE '^[0-9]+ +open(at)?\(.*/content/sha256/[0-9a-f]{64}"' "$T/trace" || true)
    looks=$(grep -cE '^[0-9]+ +access\(.*/images/[0-9a-f]{64}\.json"' "$T/trace" || true)
    # (rm's resolve looks for the image it names once more)
    assert [ "$metas" -le "$n" ]
    assert [ "$configs" -le "$n" ]
    assert [ "$looks" -le $((n + 1)) ]
  done
  assert_equal "$(ls "$R/image/overlay2/images" | wc -l)" 0
}

@test "graph: deleting an image's layers reads each layer's metadata a bounded number of times" {
  command -v strace >/dev/null || skip "needs strace"
  parent="" ids=()
  for i in $(seq 1 20); do
    mkdir -p "$T/l$i"
    echo "$i" >"$T/l$i/f$i"
    d=$(layer "l$i")
    ids+=("$d")
    run "${G[@]}" layer-register ${parent:+--parent "$parent"} --diff-id "$d" "$T/l$i.tgz"
    assert_success
    parent=$(jq -r .chain_id <<<"$output")
  done
  config "${ids[@]}"
  "${G[@]}" image-add --config "$T/config.json" --tag many:1 >/dev/null
  ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=open,openat -o "$T/trace" "${G[@]}" rm many:1 >"$T/out"
  [ "$(jq '[.deleted[] | .Deleted // empty] | length' "$T/out")" -eq 21 ]
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 0
  metas=$(grep -cE '/layers/[0-9a-f]{64}/meta\.json"' "$T/trace" || true)
  # one read to learn every layer's parent, then a few per deleted layer
  # (it was every remaining layer's for each one deleted: 20 + 19 + ...)
  assert [ "$metas" -le 80 ]
}

@test "graph: an image with children cannot be deleted; untagged it is a hidden intermediate image" {
  parent_child
  assert_equal "$("${G[@]}" inspect child:1 | jq -r .image.Parent)" "$P"
  assert_equal "$("${G[@]}" ls | jq -r --arg c "$C" '.images[] | select(.Id == $c) | .ParentId')" "$P"
  run "${G[@]}" image-add --config "$T/pconfig.json" --parent child:1
  assert_failure 1
  assert_output --partial "no cycles"
  for f in "" --force; do
    run "${G[@]}" rm $f "${P#sha256:}"
    assert_failure 1
    assert_output --partial '"code":"conflict"'
    assert_output --partial "conflict: unable to delete ${P:7:12} (cannot be forced) - image has dependent child images"
  done
  # untagging works; the image stays as an intermediate of child:1
  run "${G[@]}" rm parent:1
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" '[{"Untagged":"parent:1"}]'
  run "${G[@]}" inspect "$P"
  assert_success
  assert_equal "$("${G[@]}" ls | jq -r '[.images[].Id] | join(" ")')" "$C"
  assert_equal "$("${G[@]}" ls --all | jq -r '[.images[].Id] | sort | join(" ")')" \
    "$(printf '%s\n' "$P" "$C" | sort | tr '\n' ' ' | sed 's/ $//')"
  assert_equal "$("${G[@]}" ls --filter dangling=true | jq -c .images)" "[]"
  run "${G[@]}" prune
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[]"
  # deleting the child takes the untagged parent along (moby's prune of parents)
  run "${G[@]}" rm child:1
  assert_success
  assert_equal "$(jq -r '[.deleted[] | .Untagged // .Deleted] | join(" ")' <<<"$output")" \
    "child:1 $C $C2 $P $C1"
  run "${G[@]}" ls --all
  assert_equal "$(jq -c .images <<<"$output")" "[]"
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 0
}

@test "graph: rm --no-prune keeps the untagged parent, which prune then removes" {
  parent_child
  "${G[@]}" untag parent:1 >/dev/null
  run "${G[@]}" rm --no-prune child:1
  assert_success
  assert_equal "$(jq -r '[.deleted[] | .Untagged // .Deleted] | .[0:2] | join(" ")' <<<"$output")" \
    "child:1 $C"
  # no child left: the parent is an ordinary dangling image now
  assert_equal "$("${G[@]}" ls | jq -r '[.images[].Id] | join(" ")')" "$P"
  run "${G[@]}" prune
  assert_success
  assert_equal "$(jq -r '.deleted[0].Deleted' <<<"$output")" "$P"
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 0
}

@test "graph: prune --all removes a child and then its tagged parent" {
  parent_child
  run "${G[@]}" prune --all
  assert_success
  # the layers left layers/ at once; their files go in the background
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 0
  for _ in $(seq 100); do
    [ -z "$(ls "$R/tmp")" ] && break
    sleep 0.1
  done
  assert_equal "$(ls "$R/tmp")" ""
  assert_equal "$(jq -r '[.deleted[] | .Deleted // empty | select(. == $p or . == $c)] | length' \
    --arg p "$P" --arg c "$C" <<<"$output")" 2
  assert_equal "$("${G[@]}" ls --all | jq -c .images)" "[]"
}

@test "graph: save writes the parent of an image saved with it; load restores it" {
  parent_child
  run "${G[@]}" save child:1 parent:1 -o "$T/pc.tar"
  assert_success
  tar -C "$T" -xf "$T/pc.tar" manifest.json
  assert_equal "$(jq -r --arg c "${C#sha256:}" '.[] | select(.Config | endswith($c)) | .Parent' "$T/manifest.json")" "$P"
  assert_equal "$(jq -r --arg p "${P#sha256:}" '.[] | select(.Config | endswith($p)) | .Parent // "none"' "$T/manifest.json")" none
  g2=("$BIN/dk-graph" --root "$T/r2")
  run "${g2[@]}" load -i "$T/pc.tar"
  assert_success
  assert_equal "$("${g2[@]}" inspect child:1 | jq -r .image.Parent)" "$P"
  run "${g2[@]}" rm "$P"
  assert_failure 1
  assert_output --partial "image has dependent child images"
  # saved alone, the child carries no parent
  run "${G[@]}" save child:1 -o "$T/c.tar"
  tar -C "$T" -xf "$T/c.tar" manifest.json
  assert_equal "$(jq -r '.[0].Parent // "none"' "$T/manifest.json")" none
}

@test "graph: container-create --volatile mounts overlay volatile and mounts again after an unmount" {
  two_layer_image busybox:latest
  run "${G[@]}" container-create c1 --image busybox:latest --volatile --mount
  assert_success
  p=$(jq -r .path <<<"$output")
  run findmnt -n -o OPTIONS "$p"
  assert_output --regexp 'volatile'
  echo kept >"$p/written"
  run "${G[@]}" container-unmount c1
  assert_success
  # the kernel leaves work/work/incompat/volatile and refuses a mount over it
  assert [ -d "$R/overlay2/containers/c1/work/work/incompat/volatile" ]
  run "${G[@]}" container-mount c1
  assert_success
  assert_equal "$(cat "$p/written")" kept
  run "${G[@]}" container-create c2 --image busybox:latest --mount
  run findmnt -n -o OPTIONS "$(jq -r .path <<<"$output")"
  refute_output --regexp 'volatile'
  run "${G[@]}" container-rm c1
  assert_success
}

@test "graph: import --change takes LABEL and ENV in the legacy KEY VALUE form, as Docker" {
  # (the value unquoted as Docker expands it)
  mkdir -p "$T/rootfs/etc" && echo x >"$T/rootfs/etc/x"
  tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
  run "${G[@]}" import --change 'LABEL a b c' --change 'ENV K v w' --change 'ENV Q "a  b"' --ref imp:1 "$T/rootfs.tar"
  assert_success
  run "${G[@]}" inspect imp:1
  assert_success
  assert_equal "$(jq -c '.image.Config.Labels' <<<"$output")" '{"a":"b c"}'
  assert_equal "$(jq -c '.image.Config.Env' <<<"$output")" '["K=v w","Q=a  b"]'
  run "${G[@]}" import --change 'LABEL a' "$T/rootfs.tar"
  assert_failure
  assert_output --partial "LABEL must have two arguments"
  # an unclosed quote: moby's lexer error on the word, key or value
  msg='unexpected end of statement while looking for matching'
  run --separate-stderr "${G[@]}" import --change 'ENV A=b C="d e' "$T/rootfs.tar"
  assert_failure 1
  assert_equal "$(jq -r .message <<<"$output")" "failed to process \"\\\"d e\": $msg double-quote"
  run --separate-stderr "${G[@]}" import --change "LABEL 'a=b" "$T/rootfs.tar"
  assert_equal "$(jq -r .message <<<"$output")" "failed to process \"'a\": $msg single-quote"
  run --separate-stderr "${G[@]}" import --change 'ENV A b "c' "$T/rootfs.tar"
  assert_equal "$(jq -r .message <<<"$output")" "failed to process \"b \\\"c\": $msg double-quote"
}

@test "graph: import --change refuses an unclosed quote in EXPOSE and VOLUME with Docker's message" {
  mkdir -p "$T/rootfs/etc" && echo x >"$T/rootfs/etc/x"
  tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
  msg='unexpected end of statement while looking for matching'
  for c in 'EXPOSE 80 "81/udp' "VOLUME '/data" 'VOLUME ["/a", "/b' 'VOLUME "/a b"'; do
    run --separate-stderr "${G[@]}" import --change "$c" "$T/rootfs.tar"
    assert_failure 1
    case $c in
      EXPOSE*) want="failed to process \"\\\"81/udp\": $msg double-quote" ;;
      "VOLUME '"*) want="failed to process \"'/data\": $msg single-quote" ;;
      'VOLUME ["'*) want="failed to process \"\\\"/b\": $msg double-quote" ;;
      *) want="failed to process \"\\\"/a\": $msg double-quote" ;;
    esac
    assert_equal "$(jq -r .message <<<"$output")" "$want"
    assert_equal "$(jq -r .code <<<"$output")" invalid
  done
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 0
  # quotes closed within a word are taken out, as Docker's shell lexer does
  run "${G[@]}" import --change 'EXPOSE "80"/tcp 8\1' --change 'VOLUME "/a\"b" /c' --ref q:1 "$T/rootfs.tar"
  assert_success
  run "${G[@]}" inspect q:1
  assert_equal "$(jq -c '.image.Config.ExposedPorts | keys' <<<"$output")" '["80/tcp","81/tcp"]'
  assert_equal "$(jq -c '.image.Config.Volumes | keys' <<<"$output")" '["/a\"b","/c"]'
}

@test "graph: an import whose image-add fails releases the layer it registered, keeps one that was there" {
  mkdir -p "$T/rootfs/etc" "$T/other" && echo x >"$T/rootfs/etc/x" && echo y >"$T/other/y"
  tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
  tar -C "$T/other" -cf "$T/other.tar" .
  run "${G[@]}" import --ref imp:1 "$T/rootfs.tar"
  assert_success
  layers=$(ls "$R/overlay2/layers") links=$(ls "$R/overlay2/l")
  # image-add cannot write the config: it fails once the layer is in
  c=$R/image/overlay2/content/sha256
  mount --bind "$c" "$c" && mount -o remount,bind,ro "$c" || skip "cannot bind-mount read-only here"
  for f in other rootfs; do
    run --separate-stderr "${G[@]}" import --ref imp:2 "$T/$f.tar"
    assert_failure 1
    assert_equal "$(jq -r .type <<<"$output")" error
    assert_equal "$(ls "$R/overlay2/layers")" "$layers"
    assert_equal "$(ls "$R/overlay2/l")" "$links"
  done
  umount "$c"
  run "${G[@]}" inspect imp:1
  assert_success
  run "${G[@]}" import --ref imp:2 "$T/other.tar"
  assert_success
}

# release_keeps CHAIN: a layer-release of CHAIN and a prune of the layers no
# image holds delete nothing.
release_keeps() {
  run "${G[@]}" layer-release "$1"
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[]"
  DK_GRAPH_ORPHAN_AGE=0 run "${G[@]}" prune
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[]"
}

@test "graph: a layer a pull in progress holds survives another pull's layer-release, rm and prune" {
  mkdir -p "$T/lone" && echo l >"$T/lone/l"
  D=$(layer lone)
  run "${G[@]}" layer-register "$T/lone.tgz"
  assert_success
  config "$D"
  run "${G[@]}" image-add --config "$T/config.json" --tag lone:1
  assert_success
  # a pull in progress (dk-pull's tmp/ entry, its lock held) that needs the layer
  mkdir -p "$R/tmp/dk-pull-test"
  echo "$D" >"$R/tmp/dk-pull-test/holds"
  flock -o "$R/tmp/dk-pull-test.lock" sleep 60 &
  holder=$!
  for _ in $(seq 50); do ! flock -n "$R/tmp/dk-pull-test.lock" true && break; sleep 0.1; done
  run "${G[@]}" rm lone:1
  assert_success
  release_keeps "$D"
  run "${G[@]}" layer-exists "$D"
  assert_output --partial '"exists":true'
  # that pull is over (its lock free): the layer is an orphan like any other
  kill "$holder"
  wait "$holder" || true
  run "${G[@]}" layer-release "$D"
  assert_success
  assert_equal "$(jq -c .deleted <<<"$output")" "[{\"Deleted\":\"$D\"}]"
}

@test "graph: layer-release drops the unheld layers given (top first), keeps what an image holds" {
  mkdir -p "$T/base/bin" "$T/top/etc" "$T/lone"
  echo b >"$T/base/bin/b" && echo t >"$T/top/etc/t" && echo l >"$T/lone/l"
  D1=$(layer base) && D2=$(layer top) && D3=$(layer lone)
  run "${G[@]}" layer-register "$T/base.tgz"
  C1=$(jq -r .chain_id <<<"$output")
  run "${G[@]}" layer-register --parent "$C1" "$T/top.tgz"
  C2=$(jq -r .chain_id <<<"$output")
  run "${G[@]}" layer-register "$T/lone.tgz"
  C3=$(jq -r .chain_id <<<"$output")
  config "$D3"
  run "${G[@]}" image-add --config "$T/config.json" --tag lone:1
  assert_success
  # given bottom-up as a pull gives them: the chain goes whole
  run "${G[@]}" layer-release "$C1" "$C2" "$C3"
  assert_success
  assert_equal "$(jq -c '[.deleted[].Deleted]' <<<"$output")" "[\"$C2\",\"$C1\"]"
  run "${G[@]}" layer-exists "$C1"
  assert_output '{"type":"result","exists":false}'
  run "${G[@]}" layer-exists "$C3"
  assert_output '{"type":"result","exists":true}'
  run "${G[@]}" layer-release
  assert_failure 2
  assert_output --partial "usage: layer-release"
}

@test "graph: a layer whose parent chain loops is an error, not an endless walk" {
  two_layer_image busybox:latest
  run "${G[@]}" container-create c1 --image busybox:latest
  assert_success
  m1="$R/overlay2/layers/${C1#sha256:}/meta.json" m2="$R/overlay2/layers/${C2#sha256:}/meta.json"
  cp "$m1" "$T/m1" && cp "$m2" "$T/m2"
  # the top layer its own parent, then the base the top's
  jq -c --arg p "$C2" '.parent = $p' "$T/m2" >"$m2"
  for _ in 1 2; do
    run timeout 10 "${G[@]}" container-mount c1
    assert_failure 1
    assert_output --partial "parent chain loops"
    # the walks that count what holds a layer end too
    run timeout 10 "${G[@]}" container-size c1
    assert_success
    DK_GRAPH_ORPHAN_AGE=0 run timeout 10 "${G[@]}" prune
    assert_success
    cp "$T/m2" "$m2"
    jq -c --arg p "$C2" '.parent = $p' "$T/m1" >"$m1"
  done
  cp "$T/m1" "$m1"
  run "${G[@]}" container-mount c1
  assert_success
}

@test "graph: an import holds its layer from its registration to its image-add" {
  command -v strace >/dev/null || skip "needs strace"
  mkdir -p "$T/rootfs/etc" && echo x >"$T/rootfs/etc/x"
  tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
  D="sha256:$(sha256sum "$T/rootfs.tar" | cut -d' ' -f1)"
  # strace stops the import for 3 s at its first unlink (the lock file of
  # the directory its layer was unpacked in): the layer is in, the image
  # not yet
  ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -e trace=unlink \
    -e inject=unlink:delay_exit=3000000:when=1 "${G[@]}" import --ref imp:1 "$T/rootfs.tar" >"$T/out" &
  importer=$!
  for _ in $(seq 200); do [ -e "$R/overlay2/layers/${D#sha256:}/meta.json" ] && break; sleep 0.05; done
  # a failed pull that had registered the same layer releases it; a prune
  # finds a layer no image holds
  release_keeps "$D"
  wait "$importer"
  assert_equal "$(jq -r .type "$T/out")" result
  run "${G[@]}" container-create c1 --image imp:1 --mount
  assert_success
  assert [ -f "$(jq -r .path <<<"$output")/etc/x" ]
  # done, the import holds nothing: its layer is the image's
  assert_equal "$(ls "$R/tmp")" ""
}

# load_paused TAR: a load in the background ($loader) that has reached the
# layer it reads from the archive's fifo and waits for a writer.
load_paused() {
  "${G[@]}" load --quiet -i "$1" >"$T/load.out" 2>&1 &
  loader=$!
  for _ in $(seq 200); do
    [ "$(cat "/proc/$loader/wchan" 2>/dev/null)" = wait_for_partner ] && return 0
    sleep 0.05
  done
  fail "the load did not reach its fifo"
}

@test "graph: a load holds the layers it found or registered until its image is added" {
  mkdir -p "$T/base" "$T/mid" "$T/top"
  echo b >"$T/base/b" && echo m >"$T/mid/m" && echo t >"$T/top/t"
  D1=$(layer base) && D2=$(layer mid) && D3=$(layer top)
  "${G[@]}" layer-register "$T/base.tgz" >/dev/null
  config "$D1"
  X=$("${G[@]}" image-add --config "$T/config.json" --tag x:1 | jq -r .id)
  # each archive's image ends with top, which the load reads from a fifo;
  # y:1 starts with x:1's base layer, z:1 with a layer the load registers
  for img in y:base z:mid; do
    a="$T/${img%%:*}" && mkdir "$a" && mkfifo "$a/top" && cp "$T/${img#*:}.tgz" "$a/bottom.tgz"
    config "$([ "${img#*:}" = base ] && echo "$D1" || echo "$D2")" "$D3" && cp "$T/config.json" "$a/c.json"
    echo "[{\"Config\":\"c.json\",\"RepoTags\":[\"${img%%:*}:1\"],\"Layers\":[\"bottom.tgz\",\"top\"]}]" >"$a/manifest.json"
    tar -C "$a" -cf "$a.tar" manifest.json c.json bottom.tgz top
  done
  load_paused "$T/y.tar"
  # x:1 goes; the base layer it held stays for y:1
  run "${G[@]}" rm x:1
  assert_success
  assert_equal "$(jq -c '[.deleted[].Deleted // empty]' <<<"$output")" "[\"$X\"]"
  cat "$T/top.tgz" >"$(echo "$R"/tmp/*/archive/top)"
  wait "$loader"
  assert_equal "$(jq -c . "$T/load.out")" '{"type":"result","loaded":["y:1"]}'
  load_paused "$T/z.tar"
  # the layer registered a moment ago has no image yet, and stays
  release_keeps "$D2"
  cat "$T/top.tgz" >"$(echo "$R"/tmp/*/archive/top)"
  wait "$loader"
  assert_equal "$(jq -c . "$T/load.out")" '{"type":"result","loaded":["z:1"]}'
  for img in y:1 z:1; do
    run "${G[@]}" container-create "c${img%%:*}" --image "$img" --mount
    assert_success
    assert [ -f "$(jq -r .path <<<"$output")/t" ]
  done
  assert_equal "$(ls "$R/tmp")" ""
}

@test "dk-graph serve without a seqpacket socket on stdin: the contract's error, exit 1" {
  run --separate-stderr "$BIN/dk-graph" serve </dev/null
  assert_failure 1
  assert_equal "$stderr" "dk-graph: error: serve: stdin must be a unix SOCK_SEQPACKET socket"
  assert_equal "$(jq -r '.type + " " + .code + " " + .message' <<<"$output")" \
    "error invalid serve: stdin must be a unix SOCK_SEQPACKET socket"
}
