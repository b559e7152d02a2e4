#!/usr/bin/env bash
# `make bench`: berth's benchmarks side by side with runc, crun and the CNI bridge
# plugin (issue 7; method and latest figures in docs/benchmarks.md).
#
#   bench/run.sh [--quick] [--out DIR] [--only validate,attach,start,scale,steady]
#
# Builds berth and berth-bench in release mode (swift build -c release
# --static-swift-stdlib) unless BERTH and BERTH_BENCH name binaries to use,
# installs the peers when missing (Debian runc, crun, containernetworking-plugins,
# hyperfine; BERTH_BENCH_NO_INSTALL=1 to refuse), and runs bench/bench.py as root.
# Results: DIR/latest.md and DIR/latest.json (default bench/results, git-ignored).
# --quick: tiny counts, seconds instead of minutes; for the smoke test, not figures.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "bench: needs root (cgroups, namespaces, bridges)" >&2; exit 1; }
export PATH="/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

# The peers and the tools the harness uses, by Debian package.
need=()
command -v runc >/dev/null || need+=(runc)
command -v crun >/dev/null || need+=(crun)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v gcc >/dev/null || need+=(gcc)
[ -x /usr/bin/time ] || need+=(time)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
python3 -c 'import jsonschema' 2>/dev/null || need+=(python3-jsonschema)
# The chart of the scale rows (bench/chart.py) is drawn with matplotlib, from PyPI.
python3 -c 'import matplotlib' 2>/dev/null || need_pip=1
if [ "${need_pip:-}" = 1 ] && [ "${BERTH_BENCH_NO_INSTALL:-}" != 1 ]; then
    echo "bench: installing matplotlib (pip)" >&2
    # The harness runs on Debian's python3, which refuses pip without this (PEP 668).
    python3 -m pip install -q --break-system-packages matplotlib >&2
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "${BERTH_BENCH_NO_INSTALL:-}" = 1 ]; then
        echo "bench: missing ${need[*]} (BERTH_BENCH_NO_INSTALL=1: not installing)" >&2
        exit 1
    fi
    echo "bench: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -z "${BERTH:-}" ] || [ -z "${BERTH_BENCH:-}" ]; then
    swift build -c release --static-swift-stdlib --product berth >&2
    swift build -c release --static-swift-stdlib --product berth-init >&2
    swift build -c release --static-swift-stdlib --product berth-bench >&2
    bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
    BERTH=${BERTH:-$bin/berth}
    BERTH_BENCH=${BERTH_BENCH:-$bin/berth-bench}
fi

exec python3 bench/bench.py --berth "$BERTH" --berth-bench "$BERTH_BENCH" "$@"
