# Shared bats helpers: a real docker-registry on a loopback port, fixture
# images (OCI layouts built from busybox-static) and pushing them with skopeo.
# Load with:  load helpers   (after bats-support and bats-assert)
#
#   start_registry [plain|tls|htpasswd]   exports REGISTRY=127.0.0.1:PORT,
#       REGISTRY_PID, REGISTRY_DIR; tls: REGISTRY_CA, REGISTRY_CERTS_DIR
#       (certs.d layout: $REGISTRY_CERTS_DIR/$REGISTRY/ca.crt);
#       htpasswd: REGISTRY_USER, REGISTRY_PASS
#   stop_registry [PID]                   stops one; without PID, those this test
#                                         started (in teardown_file: those of setup_file)
#   registry_adopt PID                    a registry started by hand, for stop_registry
#   fixtures_build                        builds/caches the fixture layouts, exports FIXTURES
#   fixture_layout NAME                   prints the OCI layout dir of a fixture
#   push_fixture NAME REPO:TAG [--format v2s2|oci] [--compress gzip|zstd]
#                [--tls-verify=false] [--creds u:p]
#       default format v2s2 (oci with --compress zstd); REPO without a host
#       goes to $REGISTRY; multiarch is pushed with all its platforms
#   fixture_docker_archive NAME REPO:TAG FILE   a `docker save`-style tar
#   fixture_image_id NAME                 sha256:<config digest> (Docker's image ID;
#                                         for multiarch, the host platform's)
#   registry_auth_file FILE               a Docker config.json with the htpasswd
#                                         registry's credentials ({"auths":{...}})
#   registry_auth_b64                     an X-Registry-Auth header value for them
#   free_port                             prints a free 127.0.0.1 TCP port
#   random_suffix                         6 random [a-z0-9] characters

DK_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export DK_REPO_ROOT
DK_FIXTURES_CACHE=${DK_FIXTURES_CACHE:-$DK_REPO_ROOT/tests/tmp/fixtures}
DK_FIXTURE_NAMES=(busybox layers multiarch oci)

random_suffix() {
  head -c 64 /dev/urandom | tr -dc 'a-z0-9' | head -c 6
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# A scratch dir for this test, or for this file in setup_file (bats removes
# BATS_TEST_TMPDIR and BATS_FILE_TMPDIR afterwards).
_dk_tmpdir() {
  local base=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-}}
  if [ -n "$base" ]; then
    mktemp -d "$base/dk.XXXXXX"
  else
    mktemp -d /tmp/dk-test.XXXXXX
  fi
}

_dk_make_tls() {
  # $1: dir.  A CA and a server certificate for 127.0.0.1 and localhost.
  local d=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=dk test CA" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || return 1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/ext.cnf" -out "$d/server.crt" 2>/dev/null || return 1
}

start_registry() {
  local mode=${1:-plain}
  case "$mode" in plain | tls | htpasswd) ;; *)
    echo "start_registry: unknown mode $mode" >&2
    return 2
    ;;
  esac
  local dir
  dir=$(_dk_tmpdir)
  mkdir -p "$dir/data"
  local scheme=http
  if [ "$mode" = tls ]; then
    _dk_make_tls "$dir" || { echo "start_registry: openssl failed" >&2; return 1; }
    scheme=https
  fi
  if [ "$mode" = htpasswd ]; then
    REGISTRY_USER=dkuser
    REGISTRY_PASS=pw-$(random_suffix)
    htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASS" >"$dir/htpasswd" 2>/dev/null || return 1
    export REGISTRY_USER REGISTRY_PASS
  fi
  local attempt port pid
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    {
      printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n'
      printf 'storage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\n' "$dir"
      printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
      if [ "$mode" = tls ]; then
        printf '  tls:\n    certificate: %s/server.crt\n    key: %s/server.key\n' "$dir" "$dir"
      fi
      if [ "$mode" = htpasswd ]; then
        printf 'auth:\n  htpasswd:\n    realm: dk-test\n    path: %s/htpasswd\n' "$dir"
      fi
    } >"$dir/config.yml"
    # fd 3 closed so that bats does not wait for the registry
    /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 3>&- &
    pid=$!
    # recorded at once, so that teardown stops it even if this function aborts
    DK_REGISTRY_PIDS="${DK_REGISTRY_PIDS:-} $(_dk_scope)=$pid"
    export DK_REGISTRY_PIDS
    local i code
    for i in $(seq 1 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.crt" \
        "$scheme://127.0.0.1:$port/v2/" 2>/dev/null) || true
      if [ "$code" = 200 ] || [ "$code" = 401 ]; then
        REGISTRY=127.0.0.1:$port
        REGISTRY_PID=$pid
        REGISTRY_DIR=$dir
        REGISTRY_MODE=$mode
        export REGISTRY REGISTRY_PID REGISTRY_DIR REGISTRY_MODE
        if [ "$mode" = tls ]; then
          REGISTRY_CA=$dir/ca.crt
          REGISTRY_CERTS_DIR=$dir/certs.d
          mkdir -p "$REGISTRY_CERTS_DIR/$REGISTRY"
          cp "$dir/ca.crt" "$REGISTRY_CERTS_DIR/$REGISTRY/ca.crt"
          export REGISTRY_CA REGISTRY_CERTS_DIR
        fi
        return 0
      fi
      sleep 0.1
    done
    # the port was taken in the meantime, or the registry did not come up
    stop_registry "$pid"
  done
  echo "start_registry: docker-registry did not start; log:" >&2
  cat "$dir/registry.log" >&2
  return 1
}

# Registries belong to the test that started them, or to the file when
# started in setup_file; a bare stop_registry stops only its own scope's.
_dk_scope() {
  if [ -n "${BATS_TEST_NAME:-}" ]; then echo "t${BATS_SUITE_TEST_NUMBER:-0}"; else echo file; fi
}

stop_registry() {
  local scope entry keep=
  scope=$(_dk_scope)
  for entry in ${DK_REGISTRY_PIDS:-}; do
    local p=${entry#*=} owner=$scope
    # a bare pid (appended by a test that restarted a registry itself)
    # belongs to whoever stops registries next
    if [[ $entry == *=* ]]; then owner=${entry%%=*}; fi
    if { [ -n "${1:-}" ] && [ "$p" = "$1" ]; } || { [ -z "${1:-}" ] && [ "$owner" = "$scope" ]; }; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    else
      keep="$keep $entry"
    fi
  done
  DK_REGISTRY_PIDS=$keep
  return 0
}

# Hands a process (a registry the test started itself) to stop_registry.
registry_adopt() {
  DK_REGISTRY_PIDS="${DK_REGISTRY_PIDS:-} $(_dk_scope)=$1"
  export DK_REGISTRY_PIDS
}

# Builds the fixture layouts once per builder version; concurrent bats runs
# wait on the lock and share the result.
fixtures_build() {
  local key
  key=$(cat "$DK_REPO_ROOT/tests/fixtures/build-images" "$DK_REPO_ROOT/tests/fixtures/ocilayout.py" \
    /bin/busybox | sha256sum | cut -c1-16)
  FIXTURES=$DK_FIXTURES_CACHE/$key
  export FIXTURES
  [ -f "$FIXTURES/.done" ] && return 0
  mkdir -p "$DK_FIXTURES_CACHE"
  (
    flock 9
    if [ ! -f "$FIXTURES/.done" ]; then
      "$DK_REPO_ROOT/tests/fixtures/build-images" "$FIXTURES" && touch "$FIXTURES/.done"
    fi
  ) 9>"$DK_FIXTURES_CACHE/.lock"
  [ -f "$FIXTURES/.done" ]
}

fixture_layout() {
  fixtures_build || return 1
  local name=$1
  if [ ! -d "$FIXTURES/$name" ]; then
    echo "fixture_layout: no fixture $name (have: ${DK_FIXTURE_NAMES[*]})" >&2
    return 1
  fi
  echo "$FIXTURES/$name"
}

# The registry flags skopeo needs for the destination $1 (host:port).
_dk_dest_flags() {
  local host=$1
  if [ -n "${REGISTRY_CERTS_DIR:-}" ] && [ -d "$REGISTRY_CERTS_DIR/$host" ]; then
    echo "--dest-cert-dir=$REGISTRY_CERTS_DIR/$host"
  else
    echo "--dest-tls-verify=false"
  fi
}

push_fixture() {
  local name=$1 dest=$2
  shift 2 || { echo "usage: push_fixture NAME REPO:TAG [options]" >&2; return 2; }
  local format= compress=gzip tls= creds=
  while [ $# -gt 0 ]; do
    case "$1" in
    --format) format=$2; shift 2 ;;
    --format=*) format=${1#*=}; shift ;;
    --compress) compress=$2; shift 2 ;;
    --compress=*) compress=${1#*=}; shift ;;
    --tls-verify=*) tls=${1#*=}; shift ;;
    --creds) creds=$2; shift 2 ;;
    --creds=*) creds=${1#*=}; shift ;;
    *) echo "push_fixture: unknown option $1" >&2; return 2 ;;
    esac
  done
  # default: Docker schema2, as most registries serve; OCI when zstd is asked for
  if [ -z "$format" ]; then
    if [ "$compress" = zstd ]; then format=oci; else format=v2s2; fi
  fi
  case "$format" in v2s2 | oci) ;; *) echo "push_fixture: format v2s2|oci" >&2; return 2 ;; esac
  case "$compress" in gzip | zstd) ;; *) echo "push_fixture: compress gzip|zstd" >&2; return 2 ;; esac
  if [ "$format" = v2s2 ] && [ "$compress" = zstd ]; then
    echo "push_fixture: Docker schema2 has no zstd layer type; use --format oci with zstd" >&2
    return 2
  fi
  local layout
  layout=$(fixture_layout "$name") || return 1
  if [ "$compress" = zstd ]; then layout=$layout.zstd; fi
  # a destination without a registry host goes to $REGISTRY
  local first=${dest%%/*}
  if [ "$first" = "$dest" ] || { [[ $first != *.* ]] && [[ $first != *:* ]] && [ "$first" != localhost ]; }; then
    dest=$REGISTRY/$dest
  fi
  local host=${dest%%/*}
  # the layouts hold both compressions: skopeo copies layers as they are
  local args=(--insecure-policy copy --quiet --format "$format")
  if [ "$name" = multiarch ]; then args+=(--all); fi
  if [ -n "$tls" ]; then
    args+=("--dest-tls-verify=$tls")
  else
    args+=("$(_dk_dest_flags "$host")")
  fi
  # never read the machine's own credentials
  local authdir
  authdir=$(_dk_tmpdir)
  echo '{}' >"$authdir/auth.json"
  if [ -n "$creds" ]; then
    args+=(--dest-creds "$creds")
  else
    args+=(--dest-authfile "$authdir/auth.json")
  fi
  skopeo "${args[@]}" "oci:$layout:latest" "docker://$dest"
  local rc=$?
  rm -rf "$authdir"
  return $rc
}

fixture_docker_archive() {
  local name=$1 ref=$2 out=$3 layout
  layout=$(fixture_layout "$name") || return 1
  skopeo --insecure-policy copy --quiet "oci:$layout:latest" "docker-archive:$out:$ref"
}

fixture_image_id() {
  local layout
  layout=$(fixture_layout "$1") || return 1
  skopeo inspect --raw --config "oci:$layout:latest" >/dev/null || return 1
  # the config blob's digest, found through the (possibly nested) index
  python3 - "$layout" <<'PY'
import json, os, platform, sys
root = sys.argv[1]
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
def blob(d):
    with open(os.path.join(root, "blobs", "sha256", d[7:])) as f:
        return json.load(f)
desc = json.load(open(os.path.join(root, "index.json")))["manifests"][0]
while desc["mediaType"].endswith("index.v1+json"):
    desc = next(m for m in blob(desc["digest"])["manifests"] if m["platform"]["architecture"] == arch)
print(blob(desc["digest"])["config"]["digest"])
PY
}

registry_auth_file() {
  local auth
  auth=$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)
  printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REGISTRY" "$auth" >"$1"
}

registry_auth_b64() {
  printf '{"username":"%s","password":"%s","serveraddress":"%s"}' \
    "$REGISTRY_USER" "$REGISTRY_PASS" "$REGISTRY" | base64 -w0 | tr '+/' '-_'
}
