#!/usr/bin/env bats
# docker images filters, history, prune; logs options; stop with a signal
# and a timeout: what the CLI shows against our daemon.

bats_require_minimum_version 1.5.0

load api_helpers
load helpers

setup_file() { registry_with_busybox; }
teardown_file() { stop_registry; }

setup() {
  seed_images "$REGISTRY/library/busybox:latest"
  DK_HOSTNET=1 start_dockerd
  docker tag "$REGISTRY/library/busybox:latest" busybox
}

teardown() {
  stop_dockerd
}

# an image of its own: busybox's layer and a changed config (import of a tar)
labelled_image() {
  mkdir -p "$T/ctx/etc"
  echo "$1" >"$T/ctx/etc/which"
  tar -C "$T/ctx" -c . | docker import --change "LABEL which=$1" - "$1:1" >/dev/null
}

@test "images filters: reference, label, dangling, before, since" {
  labelled_image first
  sleep 1.1
  labelled_image second
  run docker images --filter label=which=first --format '{{.Repository}}'
  assert_output first
  run docker images --filter label=which --format '{{.Repository}}'
  assert_output "$(printf 'second\nfirst')"
  run docker images --filter before=second:1 --format '{{.Repository}}'
  assert_line first
  refute_line second
  run docker images --filter since=first:1 --format '{{.Repository}}'
  assert_output second
  run docker images --filter reference='fir*' --format '{{.Repository}}:{{.Tag}}'
  assert_output first:1
  old=$(docker images -q second:1)
  [ -n "$old" ]
  docker tag first:1 second:1
  run docker images --filter dangling=true -q
  assert_output "$old"
  run docker images --filter dangling=bogus
  assert_failure
  assert_output --partial "bogus"
}

@test "history lists the layers; image prune removes dangling images" {
  run docker history --format '{{.CreatedBy}}' busybox
  assert_success
  [ "${#lines[@]}" -ge 1 ]
  labelled_image temp
  docker tag busybox temp:1
  run docker image prune -f
  assert_success
  assert_output --partial "Total reclaimed space"
  run docker images --filter dangling=true -q
  assert_output ""
  run docker images busybox -q
  [ -n "$output" ]
}

@test "logs: --tail, --timestamps, --since and --until" {
  id=$(docker run -d busybox sh -c 'for i in 1 2 3 4 5; do echo line$i; done')
  docker wait "$id" >/dev/null
  run docker logs --tail 2 "$id"
  assert_output "$(printf 'line4\nline5')"
  run docker logs --timestamps --tail 1 "$id"
  assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z line5$'
  run docker logs --since 2000-01-01T00:00:00Z "$id"
  assert_equal "${#lines[@]}" 5
  run docker logs --until 2000-01-01T00:00:00Z "$id"
  assert_output ""
  run docker logs --since 1h "$id"
  assert_equal "${#lines[@]}" 5
}

@test "stop sends the stop signal, then SIGKILL after the timeout; --signal and StopSignal" {
  id=$(docker run -d busybox sh -c 'trap "echo got-term; exit 3" TERM; while :; do sleep 0.1; done')
  sleep 0.3
  run docker stop -t 5 "$id"
  assert_success
  run docker inspect -f '{{.State.ExitCode}}' "$id"
  assert_output 3
  run docker logs "$id"
  assert_output got-term
  id2=$(docker run -d --stop-signal USR1 busybox sh -c 'trap "" TERM; trap "exit 7" USR1; while :; do sleep 0.1; done')
  sleep 0.3
  run docker stop "$id2"
  run docker inspect -f '{{.State.ExitCode}}' "$id2"
  assert_output 7
  id3=$(docker run -d busybox sh -c 'trap "" TERM; while :; do sleep 0.1; done')
  sleep 0.3
  start=$(date +%s)
  run docker stop -t 1 "$id3"
  assert_success
  run docker inspect -f '{{.State.ExitCode}}' "$id3"
  assert_output 137
  [ $(($(date +%s) - start)) -lt 8 ]
  id4=$(docker run -d busybox sh -c 'trap "exit 9" HUP; while :; do sleep 0.1; done')
  sleep 0.3
  run docker stop -s HUP "$id4"
  run docker inspect -f '{{.State.ExitCode}}' "$id4"
  assert_output 9
}

@test "save of two images in one archive, load -q brings both back" {
  labelled_image other
  docker save -o "$T/two.tar" busybox other:1
  run tar -xOf "$T/two.tar" manifest.json
  assert_equal "$(jq length <<<"$output")" 2
  docker rmi other:1 busybox >/dev/null
  run docker load -q -i "$T/two.tar"
  assert_success
  assert_line --partial "Loaded image: other:1"
  assert_line --partial "Loaded image: busybox:latest"
  run docker images --format '{{.Repository}}:{{.Tag}}' busybox
  assert_output busybox:latest
}

@test "save of 30 references in one archive keeps every one (no argument limit)" {
  refs=()
  for i in $(seq 30); do
    docker tag busybox "many$i:1"
    refs+=("many$i:1")
  done
  docker save -o "$T/many.tar" "${refs[@]}"
  run tar -xOf "$T/many.tar" manifest.json
  assert_equal "$(jq '[.[].RepoTags[]] | length' <<<"$output")" 30
}
