# Helpers of pull.bats and push.bats (on top of helpers.bash): a registry
# with Bearer token auth through tests/fixtures/token-server.py, a private
# store root, and reading dk-pull's JSON Lines.

DK_PULL=${DK_PULL:-$DK_REPO_ROOT/bin/dk-pull}

pull_setup() {
  WORK=$(mktemp -d "$BATS_TEST_TMPDIR/pull.XXXXXX")
  export WORK
  TOKEN_PID=
  FAULT_PIDS=
}

pull_teardown() {
  local p
  for p in ${FAULT_PIDS:-}; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ -n "${TOKEN_PID:-}" ]; then
    kill "$TOKEN_PID" 2>/dev/null
    wait "$TOKEN_PID" 2>/dev/null
  fi
  stop_registry
}

# start_token_registry [--anonymous-pull]: a registry whose auth is a Bearer
# token from our token server.  Exports REGISTRY, TOKEN_USER, TOKEN_PASS,
# TOKEN_LOG (one JSON line per token request).
start_token_registry() {
  local dir port
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/tok.XXXXXX")
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=dk token signer" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || return 1
  TOKEN_USER=tokuser
  TOKEN_PASS=pw-$(random_suffix)
  TOKEN_LOG=$dir/token.log
  TOKEN_REFRESH=rt-$(random_suffix)
  /usr/bin/python3 "$DK_REPO_ROOT/tests/fixtures/token-server.py" --key "$dir/key.pem" \
    --cert "$dir/cert.pem" --port-file "$dir/port" --user "$TOKEN_USER" \
    --password "$TOKEN_PASS" --refresh-token "$TOKEN_REFRESH" --log "$TOKEN_LOG" "$@" 3>&- &
  TOKEN_PID=$!
  local i
  for i in $(seq 1 100); do
    [ -s "$dir/port" ] && break
    sleep 0.05
  done
  port=$(cat "$dir/port") || return 1
  mkdir -p "$dir/data"
  local attempt rport pid code
  for attempt in 1 2 3; do
    rport=$(free_port)
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$rport
auth:
  token:
    realm: http://127.0.0.1:$port/token
    service: dk-test-registry
    issuer: dk-test-issuer
    rootcertbundle: $dir/cert.pem
EOF
    /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 3>&- &
    pid=$!
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rport/v2/") || true
      if [ "$code" = 401 ]; then
        REGISTRY=127.0.0.1:$rport
        REGISTRY_PID=$pid
        REGISTRY_DIR=$dir
        DK_REGISTRY_PIDS="${DK_REGISTRY_PIDS:-} $pid"
        export REGISTRY REGISTRY_PID REGISTRY_DIR DK_REGISTRY_PIDS TOKEN_USER TOKEN_PASS TOKEN_LOG TOKEN_REFRESH
        return 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  cat "$dir/registry.log" >&2
  return 1
}

# auth_file USER PASS: Docker's auth config JSON in a file; prints its path.
auth_file() {
  local f
  f=$(mktemp "$WORK/auth.XXXXXX")
  printf '{"username":"%s","password":"%s","serveraddress":"%s"}' "$1" "$2" "$REGISTRY" >"$f"
  echo "$f"
}

# The final line of dk-pull's output ($output of `run`).
last_line() {
  printf '%s\n' "$output" | tail -n 1
}

# registry_blob_path DIGEST: the blob's data file in the registry's storage.
registry_blob_path() {
  local hex=${1#sha256:}
  echo "$REGISTRY_DIR/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# Does dk-graph implement the store yet?  (The pull tests into --root need it.)
graph_ready() {
  local out
  out=$("$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/probe" layer-exists \
    sha256:0000000000000000000000000000000000000000000000000000000000000000 2>/dev/null)
  [[ $out == *'"exists":false'* ]]
}

# big_layout DIR MB: an OCI layout "latest" with one layer of MB megabytes of
# random (incompressible) data, for transfers that take a while.
big_layout() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import os, sys
sys.path.insert(0, os.environ["DK_REPO_ROOT"] + "/tests/fixtures")
import ocilayout as oci
path, mb = sys.argv[1], int(sys.argv[2])
layer = oci.Layer()
layer.file("big", os.urandom(mb << 20))
raw, gz = layer.finish()
lay = oci.Layout(path)
lay.write_index([(lay.image([(raw, oci.gzip_bytes(raw, 1))]), "latest")])
PY
}

# push_layout DIR REF: copies an OCI layout to the plain $REGISTRY.
push_layout() {
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$1:latest" "docker://$2"
}

# blob_ok DIR DIGEST: the blob is in an --output-dir and matches its digest.
blob_ok() {
  local f="$1/blobs/sha256/${2#sha256:}"
  [ -f "$f" ] && [ "sha256:$(sha256sum "$f" | cut -d' ' -f1)" = "$2" ]
}

# Does dk-graph have layer-diff yet?  (push reads layers with it.)
graph_has_layer_diff() {
  "$DK_REPO_ROOT/bin/dk-graph" --root "$WORK/probe" layer-diff \
    sha256:0000000000000000000000000000000000000000000000000000000000000000 -o - 2>&1 |
    grep -q '"not_found"'
}

# start_registry_extra YAML: a plain registry with YAML appended to its
# config (e.g. the schema 1 compatibility switch).  Exports like start_registry.
start_registry_extra() {
  local dir rport pid i code
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/reg.XXXXXX")
  mkdir -p "$dir/data"
  for _ in 1 2 3; do
    rport=$(free_port)
    printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n%s\n' \
      "$dir" "$rport" "$1" >"$dir/config.yml"
    /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 3>&- &
    pid=$!
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rport/v2/") || true
      if [ "$code" = 200 ]; then
        REGISTRY=127.0.0.1:$rport REGISTRY_PID=$pid REGISTRY_DIR=$dir
        DK_REGISTRY_PIDS="${DK_REGISTRY_PIDS:-} $pid"
        export REGISTRY REGISTRY_PID REGISTRY_DIR DK_REGISTRY_PIDS
        return 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  cat "$dir/registry.log" >&2
  return 1
}

# start_fault_proxy VAR UPSTREAM: tests/fixtures/fault-proxy.py in front of
# UPSTREAM (host:port).  Sets VAR=127.0.0.1:PORT, VAR_RULES (the rules file,
# "[]" at first) and VAR_LOG (one JSON line per request).
start_fault_proxy() {
  local var=$1 dir i
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/fault.XXXXXX")
  echo '[]' >"$dir/rules.json"
  /usr/bin/python3 "$DK_REPO_ROOT/tests/fixtures/fault-proxy.py" --upstream "http://$2" \
    --port-file "$dir/port" --rules "$dir/rules.json" --log "$dir/log" 3>&- &
  FAULT_PIDS="${FAULT_PIDS:-} $!"
  for i in $(seq 1 100); do
    [ -s "$dir/port" ] && break
    sleep 0.05
  done
  [ -s "$dir/port" ] || return 1
  touch "$dir/log"
  printf -v "$var" '127.0.0.1:%s' "$(cat "$dir/port")"
  printf -v "${var}_RULES" '%s' "$dir/rules.json"
  printf -v "${var}_LOG" '%s' "$dir/log"
}

# fault_rules FILE JSON: replaces the proxy's rules (read on every request).
fault_rules() {
  printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}

# fault_log LOG: the logged requests in the order they came in (the log is
# written as they finish, which under load is not always the same order).
fault_log() {
  jq -s -c 'sort_by(.t)[]' "$1"
}

# fault_count LOG JQ-FILTER: how many logged requests match the filter.
fault_count() {
  jq -c "select($2)" "$1" | wc -l
}
