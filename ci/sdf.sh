#!/usr/bin/env bash
# System-description parser (components/sdf): bounded fuzzing beyond
# `cargo test` (which already runs the rule tests and a mutation test).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${SDF_FUZZ_SECONDS:-30}
case "${1:-}" in
packages) echo g++ ;; # libfuzzer-sys compiles libFuzzer (C++)
tools) echo cargo-fuzz ;;
test)
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "sdf: cargo-fuzz is not installed, skipping the fuzz run (./run.sh setup installs it)"
        echo "test result: ok. 0 passed; 0 failed; 1 ignored (sdf fuzz: cargo-fuzz missing)"
        exit 0
    fi
    echo "sdf: fuzzing sdf::parse for ${FUZZ_SECONDS} s"
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    status=0
    # New inputs go to corpus/parse (not committed); seeds/ holds the start set.
    mkdir -p components/sdf/fuzz/corpus/parse
    RUSTC_BOOTSTRAP=1 nice cargo fuzz run --fuzz-dir components/sdf/fuzz parse \
        components/sdf/fuzz/corpus/parse components/sdf/fuzz/seeds -- \
        -max_total_time="$FUZZ_SECONDS" -max_len=8192 >"$log" 2>&1 || status=$?
    grep -E "^(Done|SUMMARY)|INFO: Seed" "$log" || true
    if [ "$status" = 0 ]; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
        echo "test result: ok. 1 passed; 0 failed; 0 ignored (sdf fuzz parse: ${runs:-?} runs in ${FUZZ_SECONDS} s, no crash)"
    else
        tail -40 "$log"
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (sdf fuzz parse found a crash, see components/sdf/fuzz/artifacts)"
        exit 1
    fi
    ;;
bench) ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
