#!/usr/bin/env bash
# TEST-ONLY demo keys and credentials: never use them for anything real.
#
# Rebuilds the demo's KeyNote material and policy bundles with the project's
# own tools (`kn` and `vetted-policy`):
#
#   policies/demo/rebuild.sh keys      create the keys that are missing (never overwrites)
#   policies/demo/rebuild.sh creds     render templates/ into node-*/policy.kn and
#                                      credentials/*.cred, signing with `kn sign`
#   policies/demo/rebuild.sh bundles   sign node-a.toml and node-b.toml into
#                                      target/demo/node-{a,b}.bundle (+ admin.pub)
#   policies/demo/rebuild.sh check     re-render credentials into a temporary folder
#                                      and compare them with the committed ones
#                                      (Ed25519 signatures are deterministic), then
#                                      build and verify both bundles
#   policies/demo/rebuild.sh all       keys, creds, bundles
#
# KN and VETTED_POLICY name the tools; by default they are built with cargo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${DEMO_OUT:-$root/target/demo}"
KEYS="authority client intruder lowball echo node-a node-b"

tools() {
    if [ -z "${KN:-}" ] || [ -z "${VETTED_POLICY:-}" ]; then
        (cd "$root" && cargo build -q --locked -p kn -p vetted-policy)
        KN="${KN:-$root/target/debug/kn}"
        VETTED_POLICY="${VETTED_POLICY:-$root/target/debug/vetted-policy}"
    fi
}

# The key of a kn key file on one line, without quotes or continuations.
plain_key() { tr -d ' "\\\n' < "$1"; }

keys() {
    tools
    cd "$here"
    [ -e admin ] || "$VETTED_POLICY" keygen admin
    for k in $KEYS; do
        if [ ! -e "keys/$k.priv" ]; then
            "$KN" keygen ed25519-hex: 256 "keys/$k.pub" "keys/$k.priv"
        fi
        plain_key "keys/$k.pub" > "keys/$k.key"
        echo >> "keys/$k.key"
    done
}

# render TEMPLATE: replaces @name@ by the plain key of keys/name.
render() {
    local text
    text="$(cat "$1")"
    for k in $KEYS; do
        text="${text//@$k@/$(plain_key "$here/keys/$k.pub")}"
    done
    printf '%s\n' "$text"
}

# creds DEST: policies into DEST/node-*/policy.kn, credentials into DEST/credentials/.
creds() {
    tools
    local dest="$1"
    mkdir -p "$dest/node-a" "$dest/node-b" "$dest/credentials"
    render "$here/templates/node-a.policy.kn" > "$dest/node-a/policy.kn"
    render "$here/templates/node-b.policy.kn" > "$dest/node-b/policy.kn"
    for t in "$here"/templates/*.cred; do
        local name signer cred
        name="$(basename "$t")"
        # The first line of a template names the signing key: "# signer: KEY".
        signer="$(sed -n '1s/^# signer: *//p' "$t")"
        cred="$dest/credentials/$name"
        render "$t" | sed 1d > "$cred"
        "$KN" sign sig-ed25519-hex: "$cred" "$here/keys/$signer.priv" >> "$cred"
        "$KN" sigver "$cred" | grep -q '^Signature verified' \
            || { echo "$cred: signature does not verify" >&2; exit 1; }
    done
    # The intruder's forged credential: the client's, re-licensed to the
    # intruder's key, with the client's signature kept (it cannot verify).
    sed "s/$(plain_key "$here/keys/client.pub")/$(plain_key "$here/keys/intruder.pub")/" \
        "$dest/credentials/client.cred" > "$dest/credentials/intruder-forged.cred"
    if "$KN" sigver "$dest/credentials/intruder-forged.cred" | grep -q '^Signature verified'; then
        echo "the forged credential verifies: something is wrong" >&2
        exit 1
    fi
}

bundles() {
    tools
    mkdir -p "$out"
    for n in node-a node-b; do
        "$VETTED_POLICY" build "$here/$n.toml" "$here/admin" "$out/$n.bundle"
        "$VETTED_POLICY" verify "$out/$n.bundle" "$here/admin.pub" > /dev/null
    done
    cp "$here/admin.pub" "$out/admin.pub"
}

case "${1:-}" in
keys) keys ;;
creds) creds "$here" ;;
bundles) bundles ;;
all) keys; creds "$here"; bundles ;;
check)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    creds "$tmp"
    cd "$here"
    for f in node-a/policy.kn node-b/policy.kn credentials/*.cred; do
        if ! cmp -s "$here/$f" "$tmp/$f"; then
            echo "policies/demo/$f is not what rebuild.sh creds makes; run it and commit" >&2
            diff "$here/$f" "$tmp/$f" >&2 || true
            exit 1
        fi
    done
    for f in "$tmp"/credentials/*.cred; do
        [ -e "$here/credentials/$(basename "$f")" ] || { echo "missing credentials/$(basename "$f")" >&2; exit 1; }
    done
    out="$tmp/out"
    bundles
    echo "demo policies, credentials and bundles are consistent"
    ;;
*) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
