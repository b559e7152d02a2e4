#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60). Seeds: the spec fixtures and the
# inputs of earlier crashes (Tests/BerthSpecTests/Fixtures/fuzz) for the spec loader,
# Fuzz/seeds/TARGET/ for the others. A crash leaves its input in .build/fuzz/crashes/
# and fails the run: with the fix, copy the input into the target's seeds (the spec
# loader's: Tests/BerthSpecTests/Fixtures/fuzz/), so that every later run tries it first.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
OUT=.build/fuzz
Fuzz/build.sh
mkdir -p "$OUT/crashes"
status=0
for target in spec-loader image-decoders tar-entry-path auth-challenge; do
    corpus="$OUT/corpus/$target"
    mkdir -p "$corpus"
    if [ "$target" = spec-loader ]; then
        # Every fixture spec and every input that once crashed the loader.
        find Tests/BerthSpecTests/Fixtures -type f \( -name '*.yaml' -o -path '*/fuzz/*' \) -exec cp -t "$corpus" {} +
    else
        cp -t "$corpus" Fuzz/seeds/"$target"/*
    fi
    echo "fuzzing $target for ${SECONDS_EACH}s ($(ls "$corpus" | wc -l) inputs in the corpus)"
    if ! "$OUT/$target" "$corpus" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/crashes/$target-" \
        >"$OUT/$target.log" 2>&1; then
        echo "berth: $target found a crash: see $OUT/$target.log and $OUT/crashes/" >&2
        tail -40 "$OUT/$target.log" >&2
        status=1
    else
        grep -E "^stat::(number_of_executed_units|new_units_added)" "$OUT/$target.log" || true
    fi
done
exit $status
