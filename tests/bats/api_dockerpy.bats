#!/usr/bin/env bats
# docker-py (Debian's python3-docker, run with /usr/bin/python3) against our
# daemon: version negotiation, chunked streams, list-form filters, attach
# sockets with half-close.  Cases are in tests/py/dockerpy_cases.py.

load api_helpers
load helpers

setup_file() { registry_with_busybox; }
teardown_file() { stop_registry; }

setup() {
  /usr/bin/python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed"
  DK_HOSTNET=1 start_dockerd --add-runtime hostrunc=/usr/sbin/runc
  export IMAGE=$REGISTRY/library/busybox:latest PULL_REF=$REGISTRY/library/busybox:latest
  docker pull -q "$IMAGE" >/dev/null
  # our runtime when it runs the smoke container, else the host's runc
  if ! docker run --rm --network none "$IMAGE" true >/dev/null 2>&1; then
    stop_dockerd
    echo '{"default-runtime": "hostrunc"}' >"$BATS_TEST_TMPDIR/daemon.json"
    T=$(mktemp -d)
    cp "$BATS_TEST_TMPDIR/daemon.json" "$T/daemon.json"
    DK_HOSTNET=1 start_dockerd --add-runtime hostrunc=/usr/sbin/runc
    docker pull -q "$IMAGE" >/dev/null
  fi
}

teardown() {
  [ -n "${T:-}" ] || return 0
  docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
  stop_dockerd
}

py() {
  /usr/bin/python3 "$BATS_TEST_DIRNAME/../py/dockerpy_cases.py" "$1"
}

@test "docker-py: version 'auto' negotiates 1.44, ping" {
  run py version
  assert_success
}

@test "docker-py: pull stream is chunked JSON messages" {
  run py pull_stream
  assert_success
}

@test "docker-py: containers.run(remove=True) returns the output" {
  run py run_remove
  assert_success
}

@test "docker-py: list-form filters and containers.list" {
  run py list_filters
  assert_success
}

@test "docker-py: wait status, logs per stream, reload" {
  run py wait_and_logs
  assert_success
}

@test "docker-py: events with since/until and filters" {
  run py events
  assert_success
}

@test "docker-py: attach socket, stdin half-close ends the container" {
  run py attach_socket
  assert_success
}

@test "docker-py: NotFound errors" {
  run py errors
  assert_success
}
