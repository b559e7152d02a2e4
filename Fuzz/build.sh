#!/usr/bin/env bash
# Builds berth's libFuzzer targets into .build/fuzz/ (a fuzz-only build: the sources of
# the code under test compiled with -sanitize=fuzzer,address, apart from `swift build`).
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFTC=${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}
OUT=.build/fuzz
mkdir -p "$OUT"

# build TARGET MODULE "EXTRA SWIFTC FLAGS" SOURCE...: one target, unless it is newer than
# every source it is made of.
build() {
    local target=$1 module=$2 flags=$3
    shift 3
    if [ -x "$OUT/$target" ] && [ -z "$(find "$@" -newer "$OUT/$target" -type f)" ]; then
        echo "$OUT/$target is up to date"
        return
    fi
    # -package-name: berth's modules share `package` declarations, as SwiftPM builds them.
    # shellcheck disable=SC2086 # the flags are words
    "$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O -g -module-name "$module" -package-name berth $flags \
        "$@" -o "$OUT/$target" 2>&1 \
        | { grep -v "Cannot export local symbol '__asan" || true; }  # gold's noise about ASan's own symbols
    echo "built $OUT/$target"
}

mapfile -t spec_sources < <(find Sources/BerthSpec -name '*.swift' | sort)
yaml="-I Sources/CYAML $(pkg-config --cflags-only-I yaml-0.1 | sed 's/-I/-Xcc -I/g') $(pkg-config --libs yaml-0.1)"

# spec-loader: YAML through validation (BerthSpec and libyaml).
build spec-loader BerthSpec "$yaml" "${spec_sources[@]}" Fuzz/SpecLoaderFuzz.swift
# image-decoders: the OCI index, manifest and config documents of layouts and archives.
build image-decoders BerthImage "$yaml" "${spec_sources[@]}" Sources/Berth/Image/OCI.swift Fuzz/ImageDecodersFuzz.swift
# tar-entry-path: a layer entry's name, the pure half of extraction.
build tar-entry-path BerthArchive "" Sources/BerthKernel/Archive/TarEntryPath.swift Fuzz/TarEntryPathFuzz.swift
# auth-challenge: a registry's WWW-Authenticate header.
build auth-challenge BerthRegistry "" Sources/BerthRegistry/Auth/Challenge.swift Fuzz/AuthChallengeFuzz.swift
