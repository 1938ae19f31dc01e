#!/usr/bin/env bash
# The PD runtime (components/microkit, components/ipc, components/example-*,
# tools/vetted): checks beyond `cargo test`, and the benchmarks.
#   test   `vetted check` on every system/*.system, then the example system
#          run end to end on the host backend (bounded by --timeout)
#   bench  host IPC latency vs Unix sockets, queue throughput vs Unix sockets
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages) ;;
tools) ;;
test)
    cargo build --locked -q -p vetted -p example-hello
    # The demo nodes' systems prefill their regions with the signed policy
    # bundles, which are build outputs.
    bash policies/demo/rebuild.sh bundles >/dev/null
    pass=0 fail=0
    for s in system/*.system; do
        if target/debug/vetted check "$s" --search-path target/demo; then
            pass=$((pass + 1))
        else
            echo "FAILED: vetted check $s" >&2
            fail=$((fail + 1))
        fi
    done
    out=$(mktemp)
    if timeout 60 target/debug/vetted run system/example.system --timeout 30 >"$out" 2>&1 \
        && grep -q '^\[hello_client\] all answers as expected$' "$out" \
        && grep -q "^\[vetted\] every active PD stopped: system done$" "$out"; then
        echo "example system: ok"
        pass=$((pass + 1))
    else
        echo "FAILED: vetted run system/example.system" >&2
        fail=$((fail + 1))
    fi
    cat "$out"
    rm -f "$out"
    echo "runtime: $pass passed, $fail failed"
    [ "$fail" = 0 ]
    ;;
bench)
    cargo bench --locked -q -p microkit
    cargo bench --locked -q -p ipc
    ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
