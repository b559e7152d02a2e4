#!/usr/bin/env bash
# Pull of a ~100 MB, 5-layer image from a local docker-registry (127.0.0.1): berth image pull
# vs skopeo copy docker://… oci:… of the same image, alternating, RUNS times each.
# Usage: bench/registry-pull.sh [BERTH] [RUNS]   (BERTH defaults to .build/release/berth)
set -euo pipefail
BERTH=${1:-.build/release/berth}
RUNS=${2:-5}
work=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { [ -n "${reg:-}" ] && kill "$reg" 2>/dev/null && wait "$reg" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: 127.0.0.1:$port, secret: bench}
CFG
docker-registry serve "$work/config.yml" 2>"$work/registry.log" & reg=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
umoci init --layout "$work/src" && umoci new --image "$work/src:1"
for i in 1 2 3 4 5; do
  mkdir -p "$work/l$i" && head -c 20000000 /dev/urandom > "$work/l$i/blob$i"
  tar -C "$work/l$i" -cf "$work/l$i.tar" . && umoci raw add-layer --image "$work/src:1" "$work/l$i.tar"
done
skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:1" "docker://127.0.0.1:$port/bench/app:1"
now() { date +%s.%N; }
for r in $(seq "$RUNS"); do
  rm -rf "$work/state" "$work/skopeo"
  t0=$(now); "$BERTH" image pull -q --state-dir "$work/state" --insecure-registry "127.0.0.1:$port" "127.0.0.1:$port/bench/app:1" >/dev/null; t1=$(now)
  skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$port/bench/app:1" "oci:$work/skopeo:1"; t2=$(now)
  printf 'run %d  berth %.3f s  skopeo %.3f s\n' "$r" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
done
