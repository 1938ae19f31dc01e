#!/usr/bin/env bash
# The vetted connection-path demo on the host backend: node B (echo service)
# and node A (client, intruder, lowball) as two `vetted run` systems joined by
# an Ethernet-over-UDP link on 127.0.0.1 (free ports chosen at run time).
#
#   bash ci/demo.sh demo       build (release), make the demo bundles, run both
#                              nodes, print every PD's output; exit 0 only if
#                              the client's echo worked and intruder and
#                              lowball were refused as expected
#   bash ci/demo.sh test       the same, as a CI check
#   bash ci/demo.sh bench      the secsock benchmarks (tests/benches)
#   bash ci/demo.sh packages   Debian packages needed
#   bash ci/demo.sh tools      cargo tools needed (none)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REL=$ROOT/target/release
DEMO=$ROOT/target/demo
# Bound on the whole run (seconds) once built.
LIMIT=${DEMO_LIMIT:-90}

free_ports() {
    python3 - <<'PY'
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])
PY
}

build() {
    echo "== building (release)"
    nice cargo build --release --locked -q -p vetted -p netserver-pd -p trust-pd -p policyrepo-pd \
        -p demo-apps -p kn -p vetted-policy ${EXTRA_BUILD:-}
    echo "== demo policy bundles (policies/demo/rebuild.sh bundles)"
    KN=$REL/kn VETTED_POLICY=$REL/vetted-policy DEMO_OUT=$DEMO policies/demo/rebuild.sh bundles
}

# wait_for FILE PATTERN SECONDS COUNT: until FILE has COUNT lines matching PATTERN.
wait_for() {
    local end=$((SECONDS + $3))
    while [ "$SECONDS" -lt "$end" ]; do
        if [ "$(grep -c -E "$2" "$1" 2>/dev/null || true)" -ge "$4" ]; then return 0; fi
        sleep 0.2
    done
    return 1
}

stop() {
    local pid=$1
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

run_demo() {
    build
    local logs pa pb a_pid b_pid ok=1
    logs=$(mktemp -d)
    read -r pa pb < <(free_ports)
    echo "== node B (192.0.2.2): VETTED_NIC=udp:$pb:$pa"
    VETTED_NIC=udp:$pb:$pa "$REL/vetted" run system/node-b.system --search-path "$DEMO" \
        --timeout "$LIMIT" >"$logs/b.log" 2>&1 &
    b_pid=$!
    trap 'kill -TERM $b_pid ${a_pid:-} 2>/dev/null || true' EXIT
    if ! wait_for "$logs/b.log" '^\[echo\] echo: listening' 30 1; then
        echo "node B did not come up:"; cat "$logs/b.log"; stop "$b_pid"; return 1
    fi
    echo "== node A (192.0.2.1): VETTED_NIC=udp:$pa:$pb"
    VETTED_NIC=udp:$pa:$pb "$REL/vetted" run system/node-a.system --search-path "$DEMO" \
        --timeout "$LIMIT" >"$logs/a.log" 2>&1 &
    a_pid=$!
    wait_for "$logs/a.log" '^\[(client|intruder|lowball)\] RESULT:' 60 3 || true
    stop "$a_pid"
    stop "$b_pid"
    trap - EXIT
    echo "== node A output"
    cat "$logs/a.log"
    echo "== node B output"
    cat "$logs/b.log"
    echo "== verdict"
    check() {
        if grep -q -E "^\[$1\] RESULT: $2\$" "$logs/a.log"; then
            echo "ok: $1: $2"
        else
            echo "FAILED: $1 did not report \"$2\""; ok=0
        fi
    }
    check client "echo ok"
    check intruder "refused as expected"
    check lowball "refused as expected"
    rm -rf "$logs"
    [ "$ok" = 1 ]
}

case "${1:-}" in
packages) echo python3; echo gcc; echo g++ ;;
tools) ;;
demo) run_demo ;;
test)
    # The demo as a check, then the end-to-end tests (tests/tests/nodes.rs)
    # on the same release binaries, each bounded; E2E_CYCLES (default 10000, paced at E2E_CYCLE_RATE=100 per second)
    # sets the connect/close cycles.
    EXTRA_BUILD="-p e2e -p secsock" run_demo
    E2E_REQUIRE=1 E2E_BIN_DIR=$REL E2E_DEMO_DIR=$DEMO timeout 900 \
        nice cargo test --release --locked -p e2e --test nodes -- --test-threads=2
    ;;
bench)
    # Through every PD of both nodes (tests/benches/secsock.rs); BENCH_N
    # (default 100) samples per figure.
    EXTRA_BUILD="-p e2e" build
    E2E_REQUIRE=1 E2E_BIN_DIR=$REL E2E_DEMO_DIR=$DEMO nice cargo bench --locked -p e2e --bench secsock
    ;;
*) echo "usage: $0 packages|tools|demo|test|bench" >&2; exit 2 ;;
esac
