#!/usr/bin/env bats
# docker import (POST /images/create?fromSrc=-) and dk-graph import: a root
# filesystem tar (busybox-static's /bin/busybox) becomes a one-layer image.

load api_helpers
load helpers

setup() {
  DK_HOSTNET=1 start_dockerd
  ROOTFS=$T/rootfs
  mkdir -p "$ROOTFS/bin" "$ROOTFS/etc"
  cp /bin/busybox "$ROOTFS/bin/busybox"
  ln -s busybox "$ROOTFS/bin/sh"
  ln -s busybox "$ROOTFS/bin/echo"
  ln -s busybox "$ROOTFS/bin/cat"
  echo imported >"$ROOTFS/etc/marker"
}
teardown() { stop_dockerd; }

@test "import: tar | docker import --change ... - imp:1, then run, inspect and history" {
  run bash -c "tar -C '$ROOTFS' -c . | docker import --change 'CMD [\"/bin/sh\",\"-c\",\"echo hi\"]' --change 'ENV A=b' - imp:1"
  assert_success
  assert_output --regexp '^sha256:[0-9a-f]{64}$'
  id=$output
  run docker run --rm imp:1
  assert_success
  assert_output hi
  run docker inspect -f '{{json .Config.Env}} {{json .Config.Cmd}} {{.Comment}} {{.Os}}/{{.Architecture}} {{len .RootFS.Layers}}' imp:1
  assert_output '["A=b"] ["/bin/sh","-c","echo hi"] Imported from - linux/amd64 1'
  run docker inspect -f '{{.Id}}' imp:1
  assert_output "$id"
  run docker history --no-trunc --format '{{.ID}} {{.Comment}}' imp:1
  assert_output "$id Imported from -"
  run docker run --rm imp:1 cat /etc/marker
  assert_output imported
}

@test "import: gzip'd tar, --message, the other change instructions, API answer" {
  tar -C "$ROOTFS" -cz . >"$T/rootfs.tgz"
  run docker import -m "my message" \
    --change 'ENTRYPOINT ["/bin/echo"]' --change 'EXPOSE 80 53/udp' --change 'WORKDIR /srv' \
    --change 'LABEL a=b "c d"=e' --change 'USER 1000' --change 'VOLUME ["/data"]' \
    --change 'ENV X=1 Y="two words"' "$T/rootfs.tgz" imp:2
  assert_success
  run docker inspect -f '{{json .Config.Entrypoint}} {{json .Config.ExposedPorts}} {{.Config.WorkingDir}} {{json .Config.Labels}} {{.Config.User}} {{json .Config.Volumes}} {{json .Config.Env}} {{.Comment}}' imp:2
  assert_output '["/bin/echo"] {"53/udp":{},"80/tcp":{}} /srv {"a":"b","c d":"e"} 1000 {"/data":{}} ["X=1","Y=two words"] my message'
  run docker history --format '{{.Comment}}' imp:2
  assert_output "my message"
  # the raw API: a JSON stream with the image ID as status
  tar -C "$ROOTFS" -c . >"$T/rootfs.tar"
  run curl -sS --unix-socket "$SOCK" -X POST --data-binary @"$T/rootfs.tar" \
    -H 'Content-Type: application/x-tar' 'http://d/v1.44/images/create?fromSrc=-&repo=imp&tag=3&changes=CMD%20echo%20x'
  assert_success
  assert_output --regexp '^\{"status":"sha256:[0-9a-f]{64}"\}'
  run docker inspect -f '{{json .Config.Cmd}}' imp:3
  assert_output '["/bin/sh","-c","echo x"]'
}

@test "import: a bad change is refused with moby's message, nothing registered" {
  run bash -c "tar -C '$ROOTFS' -c . | docker import --change 'RUN echo' - bad:1"
  assert_failure
  assert_output --partial "RUN is not a valid change command"
  run bash -c "tar -C '$ROOTFS' -c . | docker import --change 'ENV' - bad:1"
  assert_failure
  assert_output --partial "dockerfile parse error on line 1: ENV requires at least one argument"
  run docker images -q
  assert_output ""
  # the daemon still answers on the same socket
  run docker version --format '{{.Server.Version}}'
  assert_success
}

@test "import: a body that is no tar is an error and registers nothing" {
  run bash -c "head -c 300000 /dev/urandom | docker import - junk:1"
  assert_failure
  assert_output --partial "Error response from daemon"
  run docker images -qa
  assert_output ""
  [ -z "$(ls -A "$T/data/overlay2/layers")" ]
  [ -z "$(ls -A "$T/data/tmp" | grep -v '\.lock$' || true)" ]
}

@test "import from a URL: fetched over HTTP with progress, then imported; 404 and a dead port are errors" {
  tar -C "$ROOTFS" -czf "$T/root.tgz" .
  port=$(free_port)
  (cd "$T" && exec /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
  HPID=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/root.tgz" -o /dev/null && break; sleep 0.1; done
  run docker import --change 'CMD ["/bin/cat","/etc/marker"]' "http://127.0.0.1:$port/root.tgz" web:1
  assert_success
  assert_line "Downloading from http://127.0.0.1:$port/root.tgz"
  assert_line --regexp '^sha256:[0-9a-f]{64}$'
  run docker run --rm web:1
  assert_output imported
  run docker inspect -f '{{.Comment}}' web:1
  assert_output "Imported from http://127.0.0.1:$port/root.tgz"
  # the stream moby sends: where from, the bytes, then the ID
  run curl -s -X POST --unix-socket "$SOCK" "http://d/v1.44/images/create?fromSrc=127.0.0.1:$port/root.tgz&repo=web&tag=2"
  assert_line --partial "\"status\":\"Downloading from http://127.0.0.1:$port/root.tgz\""
  assert_line --partial '"status":"Importing","progressDetail":{"current":'
  assert_equal "$(tail -n 1 <<<"$output" | jq -r .status)" "$(docker inspect -f '{{.Id}}' web:2)"
  run docker import "http://127.0.0.1:$port/nope.tgz" nope:1
  assert_failure
  # moby: the status line and the body the server sent
  assert_output --partial "failed to GET http://127.0.0.1:$port/nope.tgz with status 404 File not found: <!DOCTYPE"
  kill "$HPID"
  wait "$HPID" 2>/dev/null || true
  run docker import "http://127.0.0.1:$port/root.tgz" gone:1
  assert_failure
  assert_output --partial "http://127.0.0.1:$port/root.tgz"
  run docker images -q --filter reference=nope --filter reference=gone
  assert_output ""
  [ -z "$(ls -A "$T/data/tmp" | grep -v '\.lock$' || true)" ]
}

@test "dk-graph import: --ref, JSON Lines result, config as moby's import, bad tar leaves no layer" {
  R=$T/graph
  run bash -c "tar -C '$ROOTFS' -c . | '$DK_BIN/dk-graph' --root '$R' import --ref imp:5 --change 'STOPSIGNAL SIGTERM' --change 'ONBUILD RUN true' -"
  assert_success
  assert_output --regexp '^\{"type":"result","id":"sha256:[0-9a-f]{64}"\}$'
  id=$(jq -r .id <<<"$output")
  diff_id=sha256:$(tar -C "$ROOTFS" -c . | sha256sum | cut -d' ' -f1)
  run "$DK_BIN/dk-graph" --root "$R" inspect imp:5
  assert_equal "$(jq -c '.image.RootFS.Layers' <<<"$output")" "[\"$diff_id\"]"
  assert_equal "$(jq -r '.image.Id' <<<"$output")" "$id"
  assert_equal "$(jq -c '[.image.Config.StopSignal, .image.Config.OnBuild]' <<<"$output")" '["SIGTERM",["RUN true"]]'
  run bash -c "echo not a tar | '$DK_BIN/dk-graph' --root '$R' import --ref junk:1 -"
  assert_failure
  assert_output --partial '"type":"error"'
  run "$DK_BIN/dk-graph" --root "$R" resolve junk:1
  assert_failure
  assert_equal "$(ls "$R/overlay2/layers" | wc -l)" 1
  run "$DK_BIN/dk-graph" --root "$R" import --change 'FROM x' - </dev/null
  assert_failure
  assert_output --partial "FROM is not a valid change command"
}

@test "import: twelve --change instructions are all applied (no limit of ten)" {
  changes=()
  for i in $(seq 11); do changes+=(--change "ENV V$i=$i"); done
  run bash -c "tar -C '$ROOTFS' -c . | docker import ${changes[*]@Q} --change 'CMD [\"/bin/sh\"]' - many:1"
  assert_success
  run docker inspect -f '{{len .Config.Env}} {{json .Config.Cmd}}' many:1
  assert_output '11 ["/bin/sh"]'
}
