#!/usr/bin/env bash
# Raspberry Pi 4 SD-card image (tools/sdcard, `vetted-sdcard`; boards/rpi4b/SDCARD.md).
#
#   packages  Debian (amd64) packages the tool runs: dosfstools (mkfs.vfat, fsck.fat), mtools
#             (mcopy, mdir), u-boot-tools (mkimage), apt/dpkg (private arm64 download and
#             dpkg-deb) and the archive keyring; with MICROKIT_SDK also QEMU 10 (raspi4b, from
#             bookworm-backports) and make (to build the SDK's hello example for the boot test).
#   test      the image layout test again with VETTED_SDCARD_REQUIRE=1, so that a missing tool
#             fails instead of skipping. The QEMU raspi4b boot test runs in `cargo test`
#             (tools/sdcard/tests/qemu_raspi4b.rs) when MICROKIT_SDK is set; it fetches the
#             Debian packages into ~/.cache/vetted-sdcard on its first run.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
packages)
    echo dosfstools
    echo mtools
    echo u-boot-tools
    echo apt
    echo dpkg
    echo debian-archive-keyring
    if [ -n "${MICROKIT_SDK:-}" ]; then
        echo qemu-system-arm/bookworm-backports
        echo make
    fi
    ;;
tools) ;;
test)
    VETTED_SDCARD_REQUIRE=1 cargo test -p vetted-sdcard --locked --test layout
    ;;
bench) ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
