#!/usr/bin/env bats
# dk-unpack: one layer blob applied to a directory, confined to it.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
bats_require_minimum_version 1.5.0

setup() {
  BIN=${DK_BIN:-"$BATS_TEST_DIRNAME/../../bin"}
  T=$(mktemp -d)
  mkdir -p "$T/src"
}

teardown() {
  rm -rf "$T"
}

# mk_tar OUT PYTHON-BODY: builds a tar with python's tarfile; the body sees
# `t` (the open TarFile), `info(name, **kw)` and `add(info, data=b"")`.
mk_tar() {
  local out=$1
  shift
  /usr/bin/python3 - "$out" <<PY
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def info(name, **kw):
    i = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(i, k, v)
    return i
def add(i, data=b""):
    i.size = len(data) if i.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    t.addfile(i, io.BytesIO(data) if data else None)
$*
t.close()
PY
}

@test "unpack: plain, gzip and zstd layers give the same diff ID and tree" {
  mkdir -p "$T/src/etc/sub"
  echo hello >"$T/src/etc/hello"
  ln "$T/src/etc/hello" "$T/src/etc/hardlink"
  ln -s ../hello "$T/src/etc/sub/sym"
  mkfifo "$T/src/fifo"
  mknod "$T/src/null" c 1 3
  chmod 4755 "$T/src/etc/hello"
  chown -h 1234:5678 "$T/src/etc/sub/sym"
  touch -d '2001-02-03 04:05:06' "$T/src/etc/sub"
  tar --xattrs --numeric-owner -C "$T/src" -cf "$T/l.tar" .
  gzip -k "$T/l.tar"
  zstd -q "$T/l.tar" -o "$T/l.tar.zst"
  want=sha256:$(sha256sum "$T/l.tar" | cut -d' ' -f1)
  for f in l.tar l.tar.gz l.tar.zst; do
    run "$BIN/dk-unpack" --target "$T/out-$f" "$T/$f"
    assert_success
    assert_equal "$(jq -r .diff_id <<<"$output")" "$want"
    assert_equal "$(jq -r .digest <<<"$output")" "sha256:$(sha256sum "$T/$f" | cut -d' ' -f1)"
    assert_equal "$(jq -r .size <<<"$output")" 6
    run diff <(cd "$T/src" && find . -mindepth 1 -printf '%p %M %U:%G %s %l %n\n' | sort) \
      <(cd "$T/out-$f" && find . -mindepth 1 -printf '%p %M %U:%G %s %l %n\n' | sort)
    assert_success
    assert_equal "$(stat -c %Y "$T/out-$f/etc/sub")" "$(stat -c %Y "$T/src/etc/sub")"
    assert_equal "$(stat -c %t,%T "$T/out-$f/null")" "1,3"
  done
}

@test "unpack: security.capability and user xattrs survive, after chown" {
  mk_tar "$T/l.tar" '
i = info("ping", mode=0o755, uid=0, gid=0)
i.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "SCHILY.xattr.user.note": "yes"}
add(i, b"#!/bin/sh\n")'
  run "$BIN/dk-unpack" --target "$T/out" "$T/l.tar"
  assert_success
  run python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.note").decode(), len(os.getxattr(sys.argv[1], "security.capability")))' "$T/out/ping"
  assert_output "yes 20"
}

@test "unpack: long names and a sparse file" {
  long=$(printf 'd%.0s' $(seq 120))/$(printf 'f%.0s' $(seq 200))
  mkdir -p "$T/src/$(dirname "$long")"
  echo x >"$T/src/$long"
  truncate -s 64M "$T/src/sparse"
  tar --format=gnu -S -C "$T/src" -cf "$T/l.tar" .
  run "$BIN/dk-unpack" --target "$T/out" "$T/l.tar"
  assert_success
  assert [ -f "$T/out/$long" ]
  assert_equal "$(stat -c %s "$T/out/sparse")" 67108864
  assert [ "$(stat -c %b "$T/out/sparse")" -lt 1024 ]
}

@test "unpack: overlay2 whiteouts become 0/0 char devices and opaque xattrs" {
  mk_tar "$T/l.tar" '
add(info("dir", type=tarfile.DIRTYPE, mode=0o755))
add(info("dir/.wh..wh..opq"))
add(info("dir/new", mode=0o644), b"n")
add(info(".wh.gone"))'
  run "$BIN/dk-unpack" --driver overlay2 --target "$T/out" "$T/l.tar"
  assert_success
  assert_equal "$(stat -c '%F %t:%T %u:%g' "$T/out/gone")" "character special file 0:0 0:0"
  run python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())' "$T/out/dir"
  assert_output "y"
  assert [ ! -e "$T/out/dir/.wh..wh..opq" ]
}

@test "unpack: vfs copies the parent, deletes whiteouts and empties opaque dirs" {
  mkdir -p "$T/parent/dir" "$T/parent/keep"
  echo old >"$T/parent/dir/old"
  echo gone >"$T/parent/gone"
  echo k >"$T/parent/keep/k"
  mk_tar "$T/l.tar" '
add(info("dir", type=tarfile.DIRTYPE, mode=0o755))
add(info("dir/new", mode=0o644), b"n")
add(info("dir/.wh..wh..opq"))
add(info(".wh.gone"))'
  run "$BIN/dk-unpack" --driver vfs --parent-dir "$T/parent" --target "$T/out" "$T/l.tar"
  assert_success
  assert_equal "$(cd "$T/out" && find . | sort | tr '\n' ' ')" ". ./dir ./dir/new ./keep ./keep/k "
  assert [ -f "$T/parent/gone" ]
}

@test "unpack: --uidmap/--gidmap shift owners with several ranges" {
  mk_tar "$T/l.tar" '
add(info("a", uid=0, gid=0), b"a")
add(info("b", uid=1000, gid=5), b"b")'
  run "$BIN/dk-unpack" --uidmap 0:100000:1000 --uidmap 1000:300000:10 --gidmap 0:200000:65536 --target "$T/out" "$T/l.tar"
  assert_success
  assert_equal "$(stat -c %u:%g "$T/out/a")" "100000:200000"
  assert_equal "$(stat -c %u:%g "$T/out/b")" "300000:200005"
  run "$BIN/dk-unpack" --uidmap 0:100000:10 --target "$T/out2" "$T/l.tar"
  assert_failure 1
  assert_output --partial "cannot be mapped"
}

@test "unpack: a digest mismatch fails and removes the target" {
  echo x >"$T/src/x"
  tar -C "$T/src" -czf "$T/l.tgz" .
  run --separate-stderr "$BIN/dk-unpack" --digest "sha256:$(printf '0%.0s' $(seq 64))" --target "$T/out" "$T/l.tgz"
  assert_failure 1
  assert_equal "$(jq -r .type <<<"$output")" error
  assert_equal "$(jq -r .code <<<"$output")" invalid
  assert_output --partial "digest mismatch"
  assert [ ! -e "$T/out" ]
  run "$BIN/dk-unpack" --diff-id "sha256:$(printf '1%.0s' $(seq 64))" --target "$T/out" - <"$T/l.tgz"
  assert_failure 1
  assert_output --partial "diff ID mismatch"
  good=sha256:$(gzip -dc "$T/l.tgz" | sha256sum | cut -d' ' -f1)
  run "$BIN/dk-unpack" --diff-id "$good" --target "$T/out" - <"$T/l.tgz"
  assert_success
}

@test "unpack: a corrupt gzip stream is a clean error" {
  echo x >"$T/src/x"
  tar -C "$T/src" -czf "$T/l.tgz" .
  head -c 60 "$T/l.tgz" >"$T/cut.tgz"
  run "$BIN/dk-unpack" --target "$T/out" "$T/cut.tgz"
  assert_failure 1
  assert_output --partial "gzip"
}

# The blob is mapped a window at a time: another process truncating it under
# the reader must give the tool contract's error, not SIGBUS (exit 135).
@test "unpack: a blob truncated while it is read is a clean error, plain and gzip" {
  mk_tar "$T/l.tar" '
import os
for f in range(30000):
    add(info("f%05d" % f, mode=0o644), os.urandom(2048))
'
  gzip -1 -c "$T/l.tar" >"$T/l.tgz"
  for f in l.tar l.tgz; do
    cp "$T/$f" "$T/blob"
    "$BIN/dk-unpack" --target "$T/out" "$T/blob" >"$T/stdout" 2>"$T/stderr" &
    local pid=$! st=0
    # once the apply is under way the reader is mid-file (a few MB ahead)
    while kill -0 $pid 2>/dev/null && [ "$(ls "$T/out" 2>/dev/null | wc -l)" -lt 1000 ]; do
      sleep 0.01
    done
    truncate -s 0 "$T/blob"
    wait $pid || st=$?
    assert_equal "$f exit $st" "$f exit 1"
    assert_equal "$(jq -r .type "$T/stdout")" error
    assert_equal "$(jq -r .message "$T/stdout")" "read layer: the file shrank while it was read"
    assert_equal "$(cat "$T/stderr")" "dk-unpack: error: read layer: the file shrank while it was read"
    assert [ ! -e "$T/out" ]
  done
}

# Every malicious layer must fail or stay inside the target; the sentinel
# next to the target must never change.
@test "unpack: malicious layers never touch anything outside the target" {
  mkdir -p "$T/outside"
  echo sentinel >"$T/outside/sentinel"
  mk_tar "$T/dotdot.tar" 'add(info("../outside/sentinel"), b"pwned")'
  mk_tar "$T/deepdotdot.tar" 'add(info("a/../../../outside/sentinel"), b"pwned")'
  mk_tar "$T/abs.tar" "add(info('$T/outside/sentinel'), b'pwned')"
  mk_tar "$T/symdir.tar" "
add(info('evil', type=tarfile.SYMTYPE, linkname='$T/outside'))
add(info('evil/sentinel'), b'pwned')"
  mk_tar "$T/symrel.tar" "
add(info('evil', type=tarfile.SYMTYPE, linkname='../../../../../../../$T/outside'))
add(info('evil/sentinel'), b'pwned')"
  mk_tar "$T/symfile.tar" "
add(info('evil', type=tarfile.SYMTYPE, linkname='$T/outside/sentinel'))
add(info('evil'), b'pwned')"
  mk_tar "$T/hardlink.tar" "
add(info('h', type=tarfile.LNKTYPE, linkname='../outside/sentinel'))"
  mk_tar "$T/hardlinkabs.tar" "
add(info('h', type=tarfile.LNKTYPE, linkname='$T/outside/sentinel'))
add(info('h'), b'pwned')"
  mk_tar "$T/symhard.tar" "
add(info('evil', type=tarfile.SYMTYPE, linkname='$T/outside'))
add(info('h', type=tarfile.LNKTYPE, linkname='evil/sentinel'))"
  mk_tar "$T/whiteout.tar" 'add(info("../outside/.wh.sentinel"))'
  mk_tar "$T/whiteoutsym.tar" "
add(info('evil', type=tarfile.SYMTYPE, linkname='$T/outside'))
add(info('evil/.wh.sentinel'))"
  mk_tar "$T/opaquesym.tar" "
add(info('evil', type=tarfile.SYMTYPE, linkname='$T/outside'))
add(info('evil/.wh..wh..opq'))"
  mk_tar "$T/dirsym.tar" "
add(info('evil', type=tarfile.SYMTYPE, linkname='$T/outside'))
add(info('evil', type=tarfile.DIRTYPE, mode=0o777))
add(info('evil/sentinel'), b'pwned')"
  for f in "$T"/*.tar; do
    for drv in overlay2 vfs; do
      rm -rf "$T/target"
      run "$BIN/dk-unpack" --driver $drv --target "$T/target" "$f"
      echo "# $(basename "$f") $drv: status $status: ${lines[-1]}" >&3
      assert_equal "$(cat "$T/outside/sentinel")" "sentinel"
      assert [ "$(ls "$T/outside")" = sentinel ]
      assert_equal "$(stat -c %a "$T/outside")" 755
      if [ "$status" -ne 0 ]; then
        assert_output --partial "layer entry"
      fi
    done
  done
}

# tree_list DIR: every entry below DIR with type, mode, owner, size, mtime,
# link target and content digest (implicit parents' times excluded).
tree_list() {
  (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %s %T@ %l\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0 -r sha256sum &&
    getfattr -R -d -m - . 2>/dev/null | sort)
}

@test "unpack: files created by worker threads give the tree one thread gives, names given twice included" {
  mk_tar "$T/l.tar" '
import random
random.seed(7)
for d in range(40):
    add(info("d%d" % d, type=tarfile.DIRTYPE, mode=0o755, mtime=1000 + d))
    for f in range(25):
        add(info("d%d/f%d" % (d, f), mode=random.choice([0o644, 0o600, 0o755, 0o4755]),
                 uid=1000 + f, gid=2000 + d, mtime=5000 + f, pax_headers={"SCHILY.xattr.user.k": "v%d" % f}),
            bytes(random.getrandbits(8) for _ in range(random.randrange(0, 3000))))
# the same name twice: the last one wins
add(info("d1/dup", mode=0o644), b"first")
add(info("d1/dup", mode=0o600), b"second")
# a file replaced by a directory, a directory (with files) replaced by a file
add(info("d2/x", mode=0o644), b"file")
add(info("d2/x", type=tarfile.DIRTYPE, mode=0o700))
add(info("d2/x/in", mode=0o644), b"inside")
add(info("d3/y", type=tarfile.DIRTYPE, mode=0o755))
for f in range(30):
    add(info("d3/y/z%d" % f, mode=0o644), b"z")
add(info("d3/y", mode=0o640), b"now a file")
# links to files still being written
add(info("d4/hard", type=tarfile.LNKTYPE, linkname="d5/f3"))
add(info("d6/sym", type=tarfile.SYMTYPE, linkname="../d7/f1"))
add(info("big", mode=0o644), bytes(2 << 20))
'
  for n in 1 4; do
    run env DK_UNPACK_THREADS=$n "$BIN/dk-unpack" --target "$T/t$n" "$T/l.tar"
    assert_success
  done
  assert_equal "$(tree_list "$T/t4")" "$(tree_list "$T/t1")"
  assert_equal "$(cat "$T/t4/d1/dup")" second
  assert_equal "$(stat -c %a "$T/t4/d1/dup")" 600
  assert_equal "$(cat "$T/t4/d2/x/in")" inside
  assert_equal "$(cat "$T/t4/d3/y")" "now a file"
  assert_equal "$(stat -c %i "$T/t4/d4/hard")" "$(stat -c %i "$T/t4/d5/f3")"
  assert_equal "$(stat -c %u:%g "$T/t4/d5/f3")" 1003:2005
  assert_equal "$(getfattr --only-values -n user.k "$T/t4/d9/f2")" v2
  assert_equal "$(find "$T/t4" -type f | wc -l)" 1005
}
