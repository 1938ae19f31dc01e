#!/usr/bin/env bash
# Linux-in-QEMU test support (components/linuxvm) and the IPsec interop test
# against the Linux kernel's XFRM (components/ipsec/tests/linux_interop.rs).
#
#   packages  Debian packages: QEMU for x86, busybox-static, iproute2.
#   test      make sure the stock Debian cloud kernel can be fetched (apt lists
#             present), then run the VM tests with LINUXVM_REQUIRE=1 so that a
#             missing prerequisite fails instead of skipping. When the caller
#             already exported LINUXVM_REQUIRE=1 for `cargo test --workspace`,
#             the tests ran strictly there and are not repeated.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/qemu.sh
. ci/lib/qemu.sh

ensure_kernel_available() {
    if ! apt-cache depends linux-image-cloud-amd64 2>/dev/null | grep -q 'Depends: linux-image-'; then
        echo "apt lists do not know linux-image-cloud-amd64: running apt-get update"
        if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
    fi
}

case "${1:-}" in
packages)
    qemu_packages qemu-system-x86
    echo busybox-static
    echo iproute2
    ;;
tools) ;;
test)
    ensure_kernel_available
    if [ "${LINUXVM_REQUIRE:-}" = 1 ] && [ "${LINUXVM_RERUN:-}" != 1 ]; then
        # The caller already ran `cargo test --workspace` with
        # LINUXVM_REQUIRE=1, so the VM tests ran strictly there.
        echo "linuxvm: VM tests already ran with LINUXVM_REQUIRE=1 (LINUXVM_RERUN=1 to run again)"
        exit 0
    fi
    export LINUXVM_REQUIRE=1
    cargo test --locked -p linuxvm --test boot
    if [ -f components/ipsec/tests/linux_interop.rs ]; then
        cargo test --locked -p ipsec --test linux_interop
    fi
    ;;
bench) ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
