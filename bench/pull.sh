#!/usr/bin/env bash
# Pull benchmark: the bench image (tests/fixtures/build-bench-image, >= 400 MB
# compressed) from a local docker-registry, cold store each time:
#   floor   curl of every blob in parallel | gzip -dc > /dev/null
#   dk-pull download + verify + unpack + register (bin/dk-pull --root), also
#           with --parallel-unpack
#   moby    Debian's /usr/sbin/dockerd on its own socket/data root, `docker pull`
# Prints the times and the ratio moby / dk-pull.
# Env: BENCH_IMAGE_DIR (default /var/tmp/dk-bench-image, built once),
#      BENCH_DRIVER (overlay2), BENCH_SKIP_MOBY=1.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
IMG=${BENCH_IMAGE_DIR:-/var/tmp/dk-bench-image}
DRIVER=${BENCH_DRIVER:-overlay2}
T=$(mktemp -d /var/tmp/dk-bench-pull.XXXXXX)
REG_PID= MOBY_PID=

cleanup() {
  if [ -n "$MOBY_PID" ]; then
    kill "$MOBY_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$MOBY_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  # moby's overlay mounts under its data root go before the tree
  grep -o " $T/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

[ -x bin/dk-pull ] || { echo "bench/pull: build first (make)" >&2; exit 2; }
echo "bench image: $IMG"
python3 tests/fixtures/build-bench-image "$IMG" --if-missing

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$port
mkdir -p "$T/reg"
cat >"$T/reg.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/reg
http:
  addr: $REG
EOF
/usr/bin/docker-registry serve "$T/reg.yml" >"$T/reg.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
echo '{}' >"$T/auth.json"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false --dest-authfile "$T/auth.json" \
  "oci:$IMG:bench" "docker://$REG/bench:latest"
manifest=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$REG/v2/bench/manifests/latest")
total=$(printf '%s' "$manifest" | jq '[.layers[].size] | add')
echo "layers: $(printf '%s' "$manifest" | jq '.layers | length'), $((total / 1000000)) MB compressed"

sync
t0=$(now)
printf '%s' "$manifest" | jq -r '.layers[].digest' |
  xargs -P 8 -I{} sh -c "curl -sf 'http://$REG/v2/bench/blobs/{}' | gzip -dc >/dev/null"
floor=$(elapsed "$t0")
printf 'floor (curl | gzip -dc, parallel): %.2f s\n' "$floor"

sync
t0=$(now)
bin/dk-pull --root "$T/dk" --driver "$DRIVER" --serial-unpack "$REG/bench:latest" >"$T/dk.out"
dk=$(elapsed "$t0")
tail -n 1 "$T/dk.out"
printf 'dk-pull --serial-unpack (%s): %.2f s\n' "$DRIVER" "$dk"

sync
t0=$(now)
bin/dk-pull --root "$T/dkp" --driver "$DRIVER" --parallel-unpack "$REG/bench:latest" >"$T/dkp.out"
dkp=$(elapsed "$t0")
printf 'dk-pull (default: parallel unpack) (%s): %.2f s\n' "$DRIVER" "$dkp"
rm -rf "$T/dk" "$T/dkp"

if [ "${BENCH_SKIP_MOBY:-0}" = 1 ]; then exit 0; fi
[ -x /usr/sbin/dockerd ] || { echo "bench/pull: /usr/sbin/dockerd missing (scripts/install-deps bench)" >&2; exit 2; }
echo '{}' >"$T/daemon.json"
mkdir -p "$T/moby" "$T/mexec"
/usr/sbin/dockerd -H "unix://$T/moby.sock" --data-root "$T/moby" --exec-root "$T/mexec" \
  --pidfile "$T/moby.pid" --config-file "$T/daemon.json" --bridge=none --iptables=false \
  --ip6tables=false --storage-driver "$DRIVER" --insecure-registry "$REG" >"$T/moby.log" 2>&1 &
MOBY_PID=$!
export DOCKER_CONFIG=$T/dockercfg
mkdir -p "$DOCKER_CONFIG"
for _ in $(seq 1 300); do
  docker -H "unix://$T/moby.sock" version >/dev/null 2>&1 && break
  kill -0 "$MOBY_PID" 2>/dev/null || { cat "$T/moby.log" >&2; exit 1; }
  sleep 0.1
done
sync
t0=$(now)
docker -H "unix://$T/moby.sock" pull -q "$REG/bench:latest" >/dev/null
moby=$(elapsed "$t0")
printf 'moby dockerd (%s): %.2f s\n' "$DRIVER" "$moby"
printf 'ratio moby / dk-pull --serial-unpack: %.2fx   moby / dk-pull: %.2fx   dk-pull / floor: %.2fx\n' \
  "$(echo "$moby / $dk" | bc -l)" "$(echo "$moby / $dkp" | bc -l)" "$(echo "$dkp / $floor" | bc -l)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: compare within one run)"
