#!/usr/bin/env bash
# One entry point for users and CI.
#
#   ./run.sh demo    set up, build and run the demo system on the host backend
#   ./run.sh test    set up and run every test (what CI runs)
#   ./run.sh bench   run the benchmarks and print their figures
#   ./run.sh setup   only install what the project needs (apt packages, rustup
#                    targets, cargo tools); idempotent
#
# Each area of the project adds its own needs and checks in ci/<area>.sh, a
# script that answers the sub-commands `packages` (Debian packages it needs,
# one per line), `tools` (cargo tools it needs, as `crate[@version]`) and
# `test` (checks beyond `cargo test`, e.g. cross builds and bounded fuzzing).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

log() { printf '\n==> %s\n' "$*"; }

area_scripts() { ls ci/*.sh 2>/dev/null || true; }

# Debian's bookworm-backports suite (QEMU 10), added when a package needs it.
ensure_backports() {
    if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return
    fi
    local src=/etc/apt/sources.list.d/debian-backports.sources
    local body='Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg'
    log "adding Debian bookworm-backports to $src"
    if [ "$(id -u)" = 0 ]; then
        printf '%s\n' "$body" >"$src"
    else
        printf '%s\n' "$body" | sudo tee "$src" >/dev/null
    fi
}

setup() {
    local pkgs=() missing=() tools=()
    for s in $(area_scripts); do
        while read -r p; do [ -n "$p" ] && pkgs+=("$p"); done < <(bash "$s" packages)
        while read -r t; do [ -n "$t" ] && tools+=("$t"); done < <(bash "$s" tools)
    done
    local backports=0
    for p in "${pkgs[@]}"; do
        # NAME/bookworm-backports asks for the package from that suite.
        [[ $p == */bookworm-backports ]] && backports=1
        dpkg-query -W -f='${Status}' "${p%%/*}" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$backports" = 1 ]; then ensure_backports; fi
        if [ "$(id -u)" = 0 ]; then
            log "installing Debian packages: ${missing[*]}"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
        elif command -v sudo >/dev/null; then
            log "installing Debian packages with sudo: ${missing[*]}"
            sudo apt-get update -qq
            sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
        else
            echo "missing Debian packages (install them and re-run): ${missing[*]}" >&2
            exit 1
        fi
    fi
    # rust-toolchain.toml names the targets; make sure they are present.
    rustup target add aarch64-unknown-none >/dev/null 2>&1 || rustup target add aarch64-unknown-none
    for t in "${tools[@]}"; do
        local name=${t%@*}
        if ! cargo "${name#cargo-}" --version >/dev/null 2>&1; then
            log "installing $t"
            if [[ $t == *@* ]]; then
                cargo install --locked "$name" --version "${t#*@}"
            else
                cargo install --locked "$name"
            fi
        fi
    done
}

# Sum the `test result:` lines of cargo test so the run ends with one total.
PASSED=0 FAILED=0 IGNORED=0
count_results() {
    local log=$1 p f i
    while read -r p f i; do
        PASSED=$((PASSED + p)) FAILED=$((FAILED + f)) IGNORED=$((IGNORED + i))
    done < <(sed -n 's/.*test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$log")
}

run_tests() {
    setup
    tmp=$(mktemp -d)
    trap 'rm -rf "${tmp:-}"' EXIT
    log "cargo fmt --check"
    cargo fmt --all -- --check
    log "cargo clippy (all targets, warnings are errors)"
    cargo clippy --workspace --all-targets --locked -- -D warnings
    log "cargo doc (warnings are errors)"
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
    # Set-up installed QEMU and the rest: tests that boot VMs must run, not skip.
    export LINUXVM_REQUIRE=1
    log "cargo test --workspace"
    local status=0
    cargo test --workspace --locked 2>&1 | tee "$tmp/cargo-test.log" || status=$?
    count_results "$tmp/cargo-test.log"
    if [ "$status" != 0 ]; then
        echo "cargo test failed" >&2
        echo "run.sh: $PASSED passed, $((FAILED > 0 ? FAILED : 1)) failed, $IGNORED skipped"
        exit 1
    fi
    for s in $(area_scripts); do
        log "$s test"
        bash "$s" test 2>&1 | tee "$tmp/area.log"
        count_results "$tmp/area.log"
    done
    echo
    echo "run.sh: $PASSED passed, $FAILED failed, $IGNORED skipped"
    [ "$FAILED" = 0 ]
}

run_benches() {
    setup
    for s in $(area_scripts); do
        bash "$s" bench
    done
}

run_demo() {
    setup
    if [ -x ci/demo.sh ] || [ -f ci/demo.sh ]; then
        bash ci/demo.sh demo
    else
        echo "no demo yet" >&2
        exit 1
    fi
}

case "${1:-}" in
    setup) setup ;;
    test) run_tests ;;
    bench) run_benches ;;
    demo) run_demo ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
