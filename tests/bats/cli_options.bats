#!/usr/bin/env bats
# Documented dockerd options and API details not covered elsewhere: socket
# activation, CORS, default ulimits, runtimes with arguments, DOCKER_TMPDIR,
# `docker system df`, `docker ps -s` and wait conditions.

bats_require_minimum_version 1.5.0

load api_helpers
load helpers

setup_file() { registry_with_busybox; }
teardown_file() { stop_registry; }

setup() {
  seed_images "$REGISTRY/library/busybox:latest"
}

teardown() {
  [ -n "${APID:-}" ] && kill "$APID" 2>/dev/null
  APID=
  stop_dockerd
}

ready() {
  start_dockerd "$@"
  docker tag "$REGISTRY/library/busybox:latest" busybox
}

# fd://: a listening socket handed over as systemd does (LISTEN_FDS, LISTEN_PID)
ACTIVATE_PY='
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
os.dup2(s.fileno(), 3)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
'

@test "fd://: the daemon serves on a socket passed by socket activation" {
  T=$(mktemp -d)
  echo '{}' >"$T/none.json"
  python3 -c "$ACTIVATE_PY" "$T/act.sock" "$DK_BIN/dockerd" -H fd:// --data-root "$T/data" \
    --exec-root "$T/exec" --pidfile "$T/d.pid" --config-file "$T/none.json" --bridge none \
    >"$T/log" 2>&1 &
  DPID=$!
  for _ in $(seq 100); do curl -sf --unix-socket "$T/act.sock" http://d/_ping >/dev/null && break; sleep 0.05; done
  run docker -H "unix://$T/act.sock" version --format '{{.Server.APIVersion}}'
  assert_success
  assert_output 1.44
}

@test "fd:// without activated sockets is a clear error" {
  T=$(mktemp -d)
  echo '{}' >"$T/none.json"
  run env -u LISTEN_FDS "$DK_BIN/dockerd" -H fd:// --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" --config-file "$T/none.json" --bridge none
  assert_failure
  assert_output --partial "no sockets found via socket activation"
}

@test "--api-cors-header: the CORS headers on answers, and OPTIONS preflight" {
  start_dockerd --api-cors-header 'http://example.test'
  run curl -si --unix-socket "$SOCK" -H 'Origin: http://example.test' http://d/version
  assert_output --partial "Access-Control-Allow-Origin: http://example.test"
  assert_output --partial "Access-Control-Allow-Methods: HEAD, GET, POST, DELETE, PUT, OPTIONS"
  run curl -si -X OPTIONS --unix-socket "$SOCK" -H 'Origin: http://example.test' http://d/v1.44/containers/json
  assert_line --partial "HTTP/1.1 200"
  stop_dockerd
  start_dockerd
  run curl -si --unix-socket "$SOCK" http://d/version
  refute_output --partial "Access-Control-Allow-Origin"
}

@test "--default-ulimit applies to containers; a container's own --ulimit wins" {
  ready --default-ulimit nofile=1024:2048
  run docker run --rm --network none busybox sh -c 'ulimit -Sn; ulimit -Hn'
  assert_success
  assert_output "$(printf '1024\n2048')"
  run docker run --rm --network none --ulimit nofile=512:600 busybox sh -c 'ulimit -Sn; ulimit -Hn'
  assert_output "$(printf '512\n600')"
}

@test "a ulimit above the host's hard limit is a clear error and leaves no container running" {
  hard=$(ulimit -Hn)
  [ "$hard" != unlimited ] || skip "the host's hard nofile limit is unlimited"
  ready
  over=$((hard + 1000))
  run docker run --rm --network none --ulimit "nofile=$over:$over" busybox true
  assert_failure
  assert_output --partial "ulimit nofile: hard limit $over exceeds hard limit $hard of the daemon"
  run docker ps -aq
  assert_output ""
}

@test "runtimes with runtimeArgs in daemon.json: the runtime gets the arguments" {
  cat >"$T/rt" <<SH
#!/bin/sh
echo "\$*" >>"$T/rt.args"
exec "$DK_BIN/dk-run" "\$@"
SH
  chmod +x "$T/rt"
  printf '{"runtimes": {"wrapped": {"path": "%s", "runtimeArgs": ["--debug"]}}}\n' "$T/rt" >"$T/daemon.json"
  ready
  run docker run --rm --network none --runtime wrapped busybox echo via-wrapper
  assert_success
  assert_output via-wrapper
  run grep -c -- "--debug create --bundle" "$T/rt.args"
  assert_output 1
  run docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}'
  assert_output --partial wrapped
}

@test "DOCKER_TMPDIR: the daemon makes it and it is the TMPDIR of its tools" {
  DOCKER_TMPDIR=$T/dtmp ready
  [ -d "$T/dtmp" ]
  id=$(docker run -d --network none busybox sleep 60)
  shim=$(pgrep -f "dk-shim.*$id" | head -1)
  [ -n "$shim" ]
  run grep -z '^TMPDIR=' "/proc/$shim/environ"
  assert_output "TMPDIR=$T/dtmp"
  docker rm -f "$id" >/dev/null
  stop_dockerd
  T=$(mktemp -d)
  run env DOCKER_TMPDIR=/proc/no/such "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" \
    --exec-root "$T/exec" --pidfile "$T/d.pid" --bridge none
  assert_failure
  assert_output --partial "DOCKER_TMPDIR"
}

@test "docker system df counts images and containers" {
  ready
  docker create --name c1 busybox true >/dev/null
  run docker system df --format '{{.Type}} {{.TotalCount}} {{.Active}}'
  assert_success
  assert_line "Images 1 1"
  assert_line "Containers 1 0"
  run api GET /system/df
  run jq -r '.LayersSize > 0' <<<"$output"
  assert_output true
}

@test "docker ps -s shows a container's size" {
  ready
  docker run --name s1 --network none busybox sh -c 'head -c 100000 /dev/zero >/big'
  run docker ps -as --format '{{.Names}} {{.Size}}'
  assert_success
  assert_output --regexp '^s1 (100kB|98.*kB|10[0-9]kB) \(virtual '
}

@test "wait condition=next-exit waits for the next exit; not-running returns at once for a created one" {
  ready
  id=$(docker create --network none busybox true)
  run timeout 5 curl -s -X POST --unix-socket "$SOCK" "http://d/containers/$id/wait?condition=not-running"
  assert_output --partial '"StatusCode":0'
  curl -s -X POST --unix-socket "$SOCK" "http://d/containers/$id/wait?condition=next-exit" >"$T/w.out" &
  w=$!
  sleep 0.3
  [ ! -s "$T/w.out" ]
  docker start "$id" >/dev/null
  for _ in $(seq 50); do [ -s "$T/w.out" ] && break; sleep 0.1; done
  wait "$w"
  run cat "$T/w.out"
  assert_output --partial '"StatusCode":0'
  run curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$SOCK" "http://d/containers/$id/wait?condition=bogus"
  assert_output 400
}

@test "ps filters: before, since, network, publish, expose, volume, health, is-task" {
  ready
  docker create --name f1 --network none busybox true >/dev/null
  docker create --name f2 -p 8080:80 --expose 9000 -v "$T:/data" busybox true >/dev/null
  docker create --name f3 --network none busybox true >/dev/null
  run docker ps -a --filter before=f3 --format '{{.Names}}'
  assert_output "$(printf 'f2\nf1')"
  run docker ps -a --filter since=f1 --format '{{.Names}}'
  assert_output "$(printf 'f3\nf2')"
  run docker ps -a --filter network=none --format '{{.Names}}'
  assert_output "$(printf 'f3\nf1')"
  run docker ps -a --filter publish=80 --format '{{.Names}}'
  assert_output f2
  run docker ps -a --filter publish=79-81/tcp --format '{{.Names}}'
  assert_output f2
  run docker ps -a --filter publish=80/udp --format '{{.Names}}'
  assert_output ""
  run docker ps -a --filter expose=9000 --format '{{.Names}}'
  assert_output f2
  run docker ps -a --filter volume=/data --format '{{.Names}}'
  assert_output f2
  run docker ps -a --filter health=none --format '{{.Names}}'
  assert_output "$(printf 'f3\nf2\nf1')"
  run docker ps -a --filter is-task=true --format '{{.Names}}'
  assert_output ""
  run docker ps -a --filter before=nosuch
  assert_failure
  assert_output --partial "No such container: nosuch"
  run docker ps -a --filter health=bogus
  assert_failure
  assert_output --partial "Unrecognised filter value for health: bogus"
  run docker ps -a --filter publish=eighty
  assert_failure
  assert_output --partial "error while looking up for publish eighty"
  run docker ps -a --filter expose=90-80
  assert_failure
  # a host address or port is not a filter value (moby's wording)
  run docker ps -a --filter publish=0.0.0.0:8080
  assert_failure
  assert_output --partial "filter for 'publish' should not contain ':': 0.0.0.0:8080"
  run docker ps -a --filter is-task=maybe
  assert_failure
  assert_output --partial "invalid filter 'is-task=[maybe]'"
  run docker ps -a --filter is-task=true --filter is-task=false
  assert_failure
  assert_output --regexp "invalid filter 'is-task=\[(true false|false true)\]'"
  # 0 and 1 are booleans too
  run docker ps -aq --filter is-task=0
  assert_success
  [ -n "$output" ]
  run docker ps -aq --filter is-task=1
  assert_output ""
}

@test "--storage-opt: unknown keys and quotas are refused at start, override_kernel_check accepted" {
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" --bridge none -s vfs --storage-opt foo=bar
  assert_failure
  assert_output --partial "error initializing graphdriver: vfs: unknown option foo"
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" --bridge none --storage-opt overlay2.size=1G
  assert_failure
  assert_output --partial "storage option overlay2.size is not supported yet"
  start_dockerd --storage-opt overlay2.override_kernel_check=true
  run docker info --format '{{.Driver}}'
  assert_output overlay2
}

@test "--exec-opt native.cgroupdriver=systemd: info says so and containers get systemd's scope path" {
  ready --exec-opt native.cgroupdriver=systemd
  run docker info --format '{{.CgroupDriver}}'
  assert_output systemd
  id=$(docker run -d --network none busybox sleep 60)
  pid=$(docker inspect -f '{{.State.Pid}}' "$id")
  run grep -c "system.slice/docker-$id.scope" "/proc/$pid/cgroup"
  assert_success
  docker rm -f "$id" >/dev/null
}

@test "--ipv6 --fixed-cidr-v6: containers on the default bridge get an IPv6 address too" {
  ready --ipv6 --fixed-cidr-v6 fd00:dc::/64
  run docker run --rm busybox ip -6 addr show dev eth0
  assert_success
  assert_output --partial "inet6 fd00:dc::"
  id=$(docker run -d busybox sleep 60)
  run docker inspect -f '{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}' "$id"
  assert_output --regexp '^fd00:dc::[0-9a-f:]+/64 fd00:dc::1$'
  run docker inspect -f '{{.NetworkSettings.Networks.bridge.GlobalIPv6Address}} {{.NetworkSettings.EndpointID}}' "$id"
  assert_output --regexp '^fd00:dc::[0-9a-f:]+ [0-9a-f]{64}$'
  docker rm -f "$id" >/dev/null
}

@test "-b with a bridge that does not exist, or with --bip, refuses to start and leaves no pidfile" {
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" -b dk-no-such-br
  assert_failure
  assert_output --partial "Error initializing network controller"
  assert_output --partial "dk-no-such-br"
  [ ! -e "$T/d.pid" ]
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" -b dk-no-such-br --bip 10.9.0.1/24
  assert_failure
  assert_output --partial "You specified -b & --bip, mutually exclusive options"
}

@test "--bip and --mtu shape the default bridge the daemon makes" {
  DK_OWN_BRIDGE=1 ready --bip 10.217.3.1/24 --mtu 1400
  run docker run --rm busybox sh -c 'ip -4 addr show dev eth0; cat /sys/class/net/eth0/mtu'
  assert_success
  assert_output --partial "inet 10.217.3.2/24"
  assert_line 1400
  run nsenter --net=/var/run/netns/"$NS" ip -4 addr show dev docker0
  assert_output --partial "inet 10.217.3.1/24"
}

@test "--log-opt max-size/max-file rotate every container's json-file log; --log-driver none keeps none" {
  ready --log-opt max-size=2k --log-opt max-file=2
  id=$(docker run -d --network none busybox sh -c 'i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done')
  docker wait "$id" >/dev/null
  run docker inspect -f '{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-size"}}' "$id"
  assert_output "json-file 2k"
  logs=$(ls "$T/data/containers/$id/" | grep -c 'json.log')
  assert_equal "$logs" 2
  run docker logs "$id"
  assert_line line-399
  refute_line line-0
  # as moby: the daemon's options fill in what a container of the same driver leaves out
  id2=$(docker create --log-driver json-file --log-opt max-file=3 busybox true)
  run docker inspect -f '{{json .HostConfig.LogConfig.Config}}' "$id2"
  assert_output '{"max-file":"3","max-size":"2k"}'
  id3=$(docker create --log-driver none busybox true)
  run docker inspect -f '{{json .HostConfig.LogConfig}}' "$id3"
  assert_output '{"Type":"none","Config":{}}'
  stop_dockerd
  seed_images "$REGISTRY/library/busybox:latest"
  ready --log-driver none
  id=$(docker run -d --network none busybox echo quiet)
  docker wait "$id" >/dev/null
  run docker logs "$id"
  assert_failure
  assert_output --partial 'configured logging driver does not support reading'
  [ -z "$(ls "$T/data/containers/$id/" | grep 'json.log' || true)" ]
}
