#!/usr/bin/env bash
# The network server (components/netserver, components/netserver-pd) and the
# microkit host extensions it uses. `cargo test` runs every test (two-node
# core tests incl. 10,000 connect/close cycles, the PD on the host backend);
# nothing more is needed in CI. `bench` prints the connection-path figures.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages) ;;
tools) ;;
test) echo "netpd: covered by cargo test (-p netserver -p netserver-pd -p microkit)" ;;
bench) cargo bench --locked -p netserver --bench connect ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
