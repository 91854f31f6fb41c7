#!/usr/bin/env bats
# The daemon's options and daemon.json, seen through the docker CLI.

load api_helpers

teardown() {
  [ -n "${DPID2:-}" ] && kill "$DPID2" 2>/dev/null
  stop_dockerd
  [ -n "${T2:-}" ] && rm -rf "$T2"
  true
}

free_port() {
  echo $((20000 + RANDOM % 20000))
}

@test "docker version and docker info against the daemon" {
  start_dockerd --label team=dk
  run docker version --format '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}'
  assert_success
  assert_output "1.44 1.24 linux"
  run docker info --format '{{.Driver}} {{.DockerRootDir}} {{json .Labels}} {{.OSType}}'
  assert_success
  assert_output --regexp "^(overlay2|vfs) $T/data \[\"team=dk\"\] linux$"
}

@test "a setting both in daemon.json and as a flag refuses to start, naming it" {
  T=$(mktemp -d)
  echo '{"debug": true, "labels": ["a=b"]}' >"$T/daemon.json"
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" --config-file "$T/daemon.json" --label c=d
  assert_failure
  assert_output --partial "the following directives are specified both as a flag and in the configuration file: labels"
  [ ! -S "$T/d.sock" ]
}

@test "an unknown key in daemon.json is an error" {
  T=$(mktemp -d)
  echo '{"no-such-option": 1}' >"$T/daemon.json"
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/d.pid" --config-file "$T/daemon.json"
  assert_failure
  assert_output --partial "the following directives don't match any configuration option: no-such-option"
}

@test "options of later work are refused clearly, not ignored" {
  T=$(mktemp -d)
  echo '{}' >"$T/none.json"
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --pidfile "$T/d.pid" \
    --config-file "$T/none.json" --userns-remap default
  assert_failure
  assert_output --partial "not supported yet"
  run "$DK_BIN/dockerd" --no-such-flag
  assert_failure
  assert_output --partial "unknown flag: --no-such-flag"
}

@test "an explicit --config-file that does not exist is an error" {
  T=$(mktemp -d)
  run "$DK_BIN/dockerd" -H "unix://$T/d.sock" --data-root "$T/data" --pidfile "$T/d.pid" \
    --config-file "$T/missing.json"
  assert_failure
  assert_output --partial "missing.json"
}

@test "the pidfile of a live daemon refuses a second one" {
  start_dockerd
  run "$DK_BIN/dockerd" -H "unix://$T/other.sock" --data-root "$T/data2" --exec-root "$T/exec2" \
    --pidfile "$T/d.pid" --config-file "$T/daemon.json"
  assert_failure
  assert_output --partial "pid file found, ensure docker is not running or delete $T/d.pid"
  run api GET /_ping
  assert_output OK
}

@test "SIGHUP reloads labels and debug; a bad file is reported and the daemon keeps running" {
  start_dockerd
  echo '{"labels": ["stage=one"], "debug": true}' >"$T/daemon.json"
  kill -HUP "$DPID"
  sleep 0.3
  run docker info --format '{{json .Labels}} {{.Debug}}'
  assert_output '["stage=one"] true'
  echo '{"labels": [' >"$T/daemon.json"
  kill -HUP "$DPID"
  sleep 0.3
  run docker info --format '{{json .Labels}}'
  assert_output '["stage=one"]'
  run grep -c "error reloading configuration" "$T/log"
  assert_output 1
}

@test "tcp listener next to the unix socket" {
  port=$(free_port)
  start_dockerd -H "tcp://127.0.0.1:$port"
  run nsenter --net=/var/run/netns/"$NS" docker -H "tcp://127.0.0.1:$port" version --format '{{.Server.APIVersion}}'
  assert_success
  assert_output "1.44"
  run api GET /_ping
  assert_output OK
}

@test "two daemons side by side with their own socket, roots and pidfile" {
  start_dockerd --label which=one
  T2=$(mktemp -d)
  echo '{}' >"$T2/none.json"
  "$DK_BIN/dockerd" -H "unix://$T2/d.sock" --data-root "$T2/data" --exec-root "$T2/exec" \
    --pidfile "$T2/d.pid" --config-file "$T2/none.json" --bridge none --label which=two >"$T2/log" 2>&1 &
  DPID2=$!
  for _ in $(seq 100); do [ -S "$T2/d.sock" ] && break; sleep 0.05; done
  run docker info --format '{{json .Labels}} {{.DockerRootDir}}'
  assert_output "[\"which=one\"] $T/data"
  run docker -H "unix://$T2/d.sock" info --format '{{json .Labels}} {{.DockerRootDir}}'
  assert_output "[\"which=two\"] $T2/data"
  [ "$(cat "$T2/d.pid")" = "$DPID2" ]
}

make_certs() {
  # $1: dir.  A CA, a server certificate for 127.0.0.1, a client certificate.
  local d=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=dk test CA" -keyout "$d/ca-key.pem" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/server-key.pem" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/server.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$d/server.cnf" -out "$d/server-cert.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=client" \
    -keyout "$d/key.pem" -out "$d/client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$d/client.cnf"
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$d/client.cnf" -out "$d/cert.pem" 2>/dev/null
}

@test "--tlsverify: the CLI with a client certificate connects, a client without one is refused" {
  C=$(mktemp -d)
  make_certs "$C"
  port=$(free_port)
  start_dockerd -H "tcp://127.0.0.1:$port" --tlsverify --tlscacert "$C/ca.pem" \
    --tlscert "$C/server-cert.pem" --tlskey "$C/server-key.pem"
  run nsenter --net=/var/run/netns/"$NS" env DOCKER_HOST="tcp://127.0.0.1:$port" DOCKER_TLS_VERIFY=1 \
    DOCKER_CERT_PATH="$C" docker version --format '{{.Server.APIVersion}}'
  assert_success
  assert_output "1.44"
  run nsenter --net=/var/run/netns/"$NS" curl -s --cacert "$C/ca.pem" "https://127.0.0.1:$port/_ping"
  assert_failure
  run nsenter --net=/var/run/netns/"$NS" curl -s --cacert "$C/ca.pem" --cert "$C/cert.pem" \
    --key "$C/key.pem" "https://127.0.0.1:$port/_ping"
  assert_success
  assert_output "OK"
  run nsenter --net=/var/run/netns/"$NS" curl -s "http://127.0.0.1:$port/_ping"
  refute_output "OK"
  # the daemon is unaffected, and its unix socket stays plain
  run api GET /_ping
  assert_output OK
  rm -rf "$C"
}
