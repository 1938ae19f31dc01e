#!/usr/bin/env bash
# KeyNote engine (components/keynote) and the kn tool (tools/kn).
#   packages: openssl is used by the kn end-to-end tests to prove the
#             RSA-SHA1 (RFC 2792 / libkeynote) signature bytes; Debian has
#             no libkeynote/keynote(1) package to cross-check against.
#   test:     bounded fuzzing of the parser + evaluator (about 60 s); the
#             unit, end-to-end and property tests run in `cargo test`.
#   bench:    checks per second, cases (a), (b), (c) of issue 2.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages) echo openssl ;;
tools) echo cargo-fuzz ;;
test)
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "cargo-fuzz missing: run ./run.sh setup" >&2
        exit 1
    fi
    echo "fuzz: keynote parse_eval (60 s)"
    mkdir -p components/keynote/fuzz/corpus/parse_eval
    (cd components/keynote && RUSTC_BOOTSTRAP=1 cargo fuzz run parse_eval \
        fuzz/corpus/parse_eval fuzz/seeds -- \
        -max_total_time="${KEYNOTE_FUZZ_SECONDS:-60}" -rss_limit_mb=2048)
    ;;
bench) cargo bench -p keynote --bench checks ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
