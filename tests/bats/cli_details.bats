#!/usr/bin/env bats
# Details clients rely on (found by docker-py's own suite): kill answers once
# the container is dead, inspect and ps list bind and tmpfs mounts, attach
# honours detach keys.

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
  docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
  stop_dockerd
}

@test "kill answers after the container has exited: inspect shows it dead, rm needs no -f" {
  docker run -d --name kk busybox sleep 300
  run docker kill kk
  assert_success
  run docker inspect -f '{{.State.Running}} {{.State.Status}} {{.State.ExitCode}}' kk
  assert_output "false exited 137"
  run docker rm kk
  assert_success
}

@test "a kill with another signal answers at once and the container may live on" {
  docker run -d --name tt busybox sh -c 'trap "" USR1; sleep 300'
  sleep 0.3
  run docker kill -s USR1 tt
  assert_success
  run docker inspect -f '{{.State.Running}}' tt
  assert_output true
}

@test "inspect and ps list binds and bind/tmpfs mounts" {
  d=$(mktemp -d -p "$T")
  docker create --name mm -v "$d:/mnt:ro" --mount "type=bind,src=$d,dst=/m2" \
    --mount type=tmpfs,dst=/t busybox true
  run docker inspect -f '{{json .Mounts}}' mm
  assert_success
  echo "$output" | jq -e --arg d "$d" 'length == 3
    and (.[] | select(.Destination == "/mnt") | .Type == "bind" and .Source == $d and .Mode == "ro" and .RW == false and .Propagation == "rprivate")
    and (.[] | select(.Destination == "/m2") | .Type == "bind" and .Source == $d and .RW == true)
    and (.[] | select(.Destination == "/t") | .Type == "tmpfs" and .RW == true)'
  run api GET '/containers/json?all=1'
  echo "$output" | jq -e '.[0].Mounts | length == 3'
}

# the daemon's side of detaching: it closes the hijacked connection (the CLI
# only detects the keys itself on a tty)
DETACH_PY='
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(("POST /containers/%s/attach?stream=1&stdin=1&stdout=1&detachKeys=%s HTTP/1.1\r\n"
           "Host: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
           % (sys.argv[2], sys.argv[3])).encode())
s.settimeout(20)
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
print(head.split(b"\r\n")[0].decode())
s.sendall(sys.argv[4].encode("latin-1"))
out = b""
t0 = time.time()
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
print("closed after %.1f s, %d bytes" % (time.time() - t0, len(out)))
'

@test "attach: the detach keys close the stream, the container runs on" {
  docker run -d -i --name aa busybox cat
  run /usr/bin/python3 -c "$DETACH_PY" "$SOCK" aa ctrl-x $'hello\n\030more'
  assert_success
  assert_line --index 0 --partial '101'
  assert_line --index 1 --regexp '^closed after [0-9.]+ s'
  run docker inspect -f '{{.State.Running}}' aa
  assert_output true
  # what came before the keys reached cat: its output is in the log
  run docker logs aa
  assert_output hello
  # default keys ctrl-p,ctrl-q
  run /usr/bin/python3 -c "$DETACH_PY" "$SOCK" aa '' $'\020\021'
  assert_success
  assert_line --index 1 --regexp '^closed after'
  run docker inspect -f '{{.State.Running}}' aa
  assert_output true
  run api POST '/containers/aa/attach?stream=1&stdin=1&detachKeys=ctrl-zz'
  assert_output --partial 'Invalid detach keys (ctrl-zz) provided'
}

@test "log drivers and options are checked at create with moby's messages" {
  run docker create --log-driver asdf busybox true
  assert_failure
  assert_output --partial "logger: no log driver named 'asdf' is registered"
  run docker create --log-opt foo=bar busybox true
  assert_failure
  assert_output --partial "unknown log opt 'foo' for json-file log driver"
  run docker create --log-opt compress=true busybox true
  assert_failure
  assert_output --partial "not supported yet"
  run docker create --log-opt max-size=1m --log-opt max-file=2 busybox true
  assert_success
  run docker create --log-driver none busybox true
  assert_success
}
