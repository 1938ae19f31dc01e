#!/usr/bin/env bash
# Trust PD, policy repository PD and the demo policy material
# (components/trust, components/trust-pd, components/policyrepo-pd,
# components/policyrepo, policies/demo).
#   test:   the committed demo policies and credentials are exactly what
#           `kn sign` makes from policies/demo/templates (Ed25519 is
#           deterministic), and both demo bundles build with
#           `vetted-policy build` and verify. Unit and system tests (the PDs
#           through the real host runner) run in `cargo test`.
#   bench:  trust decisions warm (compiled policy and verified signature
#           reused) against cold, ratio printed.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages) ;;
tools) ;;
test) bash policies/demo/rebuild.sh check ;;
bench) cargo bench -p trust --bench decide ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
