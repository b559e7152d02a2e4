#!/usr/bin/env bash
# Benchmark: `berth validate` on a generated spec of 1,000 containers and 20 networks.
# Targets: under 100 ms (hyperfine mean) and under 50 MiB peak RSS (/usr/bin/time -v),
# with the release binary. Exits 1 when a target is missed.
#
#   bench/validate-bench.sh [path/to/berth]     (default: .build/release/berth)
#
# Environment: CONTAINERS (1000), NETWORKS (20), RUNS (50), WARMUP (5), OUT (bench/results).
#
# Build first: swift build -c release --static-swift-stdlib
set -euo pipefail
cd "$(dirname "$0")/.."

BERTH=${1:-${BERTH:-.build/release/berth}}
CONTAINERS=${CONTAINERS:-1000}
NETWORKS=${NETWORKS:-20}
MAX_MS=100
MAX_RSS_KIB=$((50 * 1024))
RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
OUT=${OUT:-bench/results}
SPEC=$OUT/validate-$CONTAINERS.yaml

[ -x "$BERTH" ] || { echo "no berth binary at $BERTH (build with: swift build -c release --static-swift-stdlib)" >&2; exit 1; }
mkdir -p "$OUT"
python3 bench/gen-spec.py --containers "$CONTAINERS" --networks "$NETWORKS" > "$SPEC"
echo "spec: $SPEC ($(wc -l < "$SPEC") lines, $(wc -c < "$SPEC") bytes, $CONTAINERS containers, $NETWORKS networks)"

# The spec must be valid, or the benchmark measures the error path.
"$BERTH" validate -f "$SPEC"

if command -v hyperfine >/dev/null; then
    hyperfine --warmup "$WARMUP" --runs "$RUNS" --shell=none --export-json "$OUT/validate-hyperfine.json" \
        "$BERTH validate -f $SPEC"
    read -r mean_ms details < <(python3 - "$OUT/validate-hyperfine.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
ms = lambda s: "%.1f" % (s * 1000)
print(ms(r["mean"]), f"median {ms(r['median'])} ms, min {ms(r['min'])} ms, cpu {ms(r['user'] + r['system'])} ms (user+system)")
PY
)
else
    # Without hyperfine: the mean of $RUNS runs by the clock.
    start=$(date +%s%N)
    for _ in $(seq "$RUNS"); do "$BERTH" validate -f "$SPEC" >/dev/null; done
    mean_ms=$(( ($(date +%s%N) - start) / RUNS / 1000000 ))
    details="(no hyperfine: mean by the clock)"
fi

/usr/bin/time -v "$BERTH" validate -f "$SPEC" >/dev/null 2> "$OUT/validate-time.txt"
rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/validate-time.txt")

echo
echo "berth validate, $CONTAINERS containers / $NETWORKS networks: mean ${mean_ms} ms (target < ${MAX_MS} ms), peak RSS $((rss_kib / 1024)) MiB = ${rss_kib} KiB (target < 50 MiB)"
echo "  $details; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (a busy machine inflates the wall-clock figures)"
status=0
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$mean_ms" "$MAX_MS" || { echo "FAIL: too slow"; status=1; }
[ "$rss_kib" -lt "$MAX_RSS_KIB" ] || { echo "FAIL: too much memory"; status=1; }
[ $status -eq 0 ] && echo "OK: both targets met"
exit $status
