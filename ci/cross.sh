#!/usr/bin/env bash
# Cross-compiles for aarch64-unknown-none (seL4) every workspace crate that
# declares `[package.metadata.vetted] cross = true` in its Cargo.toml.
# ring builds there with clang (see .cargo/config.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages) echo clang; echo llvm; echo python3 ;;
tools) ;;
test)
    crates=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
m = json.load(sys.stdin)
for p in m["packages"]:
    if ((p.get("metadata") or {}).get("vetted") or {}).get("cross"):
        print(p["name"])')
    if [ -z "$crates" ]; then echo "no crate asks for a cross build"; exit 0; fi
    # One invocation per crate: features are not unified across crates, so
    # each builds as it would on its own (e.g. a PD that needs no allocator).
    for c in $crates; do
        echo "cross build: $c (aarch64-unknown-none, release)"
        cargo build --locked --release --target aarch64-unknown-none -p "$c"
    done
    ;;
bench) ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
