#!/usr/bin/env bash
# The network server (components/netserver, components/netserver-pd) and the
# microkit host extensions it uses. `cargo test` runs the tests (two-node
# core tests incl. 10,000 connect/close cycles; the PD on the host backend).
# `test` adds a smoke run of the real netserver PD with the real policyrepo
# and trust PDs and the demo bundle: the netserver must come up with the
# bundle's applications and SAs. `bench` prints the connection-path figures.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages) echo python3 ;;
tools) ;;
test)
    cargo build --locked -q -p trust-pd -p policyrepo-pd -p netserver-pd -p vetted -p vetted-policy
    policies/demo/rebuild.sh bundles
    sys=$(mktemp --suffix=.system)
    trap 'rm -f "$sys"' EXIT
    # node A without its applications (their images belong to the demo).
    python3 - "$sys" <<'PY'
import re, sys
s = open("system/node-a.system").read()
s = re.sub(r'\s*<protection_domain name="(client|intruder|lowball)".*?</protection_domain>', '', s, flags=re.S)
s = re.sub(r'\s*<channel>(?:(?!</channel>).)*pd="(client|intruder|lowball)"(?:(?!</channel>).)*</channel>', '', s, flags=re.S)
open(sys.argv[1], "w").write(s)
PY
    out=$(VETTED_NIC=none timeout 30 target/debug/vetted run "$sys" --search-path target/demo --timeout 3 2>&1)
    echo "$out"
    if ! grep -q "netserver: up (3 applications, 6 SAs)" <<<"$out"; then
        echo "netpd smoke: the netserver PD did not come up with the demo bundle" >&2
        exit 1
    fi
    echo "netpd smoke: ok"
    ;;
bench)
    cargo bench --locked -p netserver --bench connect
    cargo bench --locked -p netserver-pd --bench pd_connect
    ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
