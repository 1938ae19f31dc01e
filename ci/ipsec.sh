#!/usr/bin/env bash
# IPsec ESP data plane (components/ipsec): bounded fuzzing of inbound
# processing and the benchmarks. `cargo test --workspace` already runs the
# unit, vector, engine and smoltcp tests (and the Linux interop test).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages)
    # libfuzzer-sys builds libFuzzer from C++ source.
    echo g++
    ;;
tools)
    echo cargo-fuzz
    ;;
test)
    secs=${IPSEC_FUZZ_SECONDS:-60}
    echo "ipsec: fuzzing inbound ESP processing for ${secs} s"
    cd components/ipsec/fuzz
    RUSTC_BOOTSTRAP=1 nice cargo fuzz run inbound -- \
        -max_total_time="$secs" -max_len=2048 -print_final_stats=1 2>&1 | tail -n 25
    status=${PIPESTATUS[0]}
    if [ "$status" != 0 ]; then
        echo "ipsec: fuzzing found a failure (see components/ipsec/fuzz/artifacts)" >&2
        exit "$status"
    fi
    echo "ipsec: fuzzing finished without a crash"
    ;;
bench)
    cargo bench -p ipsec --bench esp
    ;;
*)
    echo "usage: $0 packages|tools|test|bench" >&2
    exit 2
    ;;
esac
