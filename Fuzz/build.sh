#!/usr/bin/env bash
# Builds berth's libFuzzer targets into .build/fuzz/ (a fuzz-only build: the sources of
# the module under test compiled with -sanitize=fuzzer,address, apart from `swift build`).
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFTC=${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}
OUT=.build/fuzz
mkdir -p "$OUT"

# spec-loader: YAML through validation (BerthSpec and libyaml).
mapfile -t spec_sources < <(find Sources/BerthSpec -name '*.swift' | sort)
if [ -x "$OUT/spec-loader" ] && [ -z "$(find Sources/BerthSpec Sources/CYAML Fuzz -newer "$OUT/spec-loader" -type f)" ]; then
    echo "$OUT/spec-loader is up to date"
    exit 0
fi
"$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O -g -module-name BerthSpec \
    -I Sources/CYAML $(pkg-config --cflags-only-I yaml-0.1 | sed 's/-I/-Xcc -I/g') \
    "${spec_sources[@]}" Fuzz/SpecLoaderFuzz.swift \
    $(pkg-config --libs yaml-0.1) -o "$OUT/spec-loader" 2>&1 \
    | { grep -v "Cannot export local symbol '__asan" || true; }  # gold's noise about ASan's own symbols
echo "built $OUT/spec-loader"
