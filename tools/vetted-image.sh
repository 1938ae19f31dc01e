#!/usr/bin/env bash
# Builds seL4 Microkit images of a vetted system, and boots them in QEMU.
#
#   tools/vetted-image.sh image  [options]   PD ELFs + Microkit loader image
#   tools/vetted-image.sh qemu   [options]   the image, then boot it in QEMU (Ctrl-a x quits)
#   tools/vetted-image.sh sdcard [options]   Raspberry Pi 4 SD-card image (FAT boot partition:
#                                            Pi firmware, U-Boot, config.txt, boot.scr, loader.img)
#   tools/vetted-image.sh qemu-cmd [options] print the QEMU command line for the image
#
# options: --board B    Microkit board: qemu_virt_aarch64 (default), rpi4b_1gb|2gb|4gb|8gb
#                       (QEMU's raspi4b has 2 GB: rpi4b_2gb; `rpi4b` means rpi4b_2gb)
#          --config C   debug (default; PDs print through the kernel), release, benchmark
#          --system F   system description (default system/example.system)
#          --out DIR    output directory (default target/sel4/<board>-<config>/<system name>)
#
# Needs MICROKIT_SDK (the Microkit 2.3.0 SDK directory). The PDs themselves build without it
# (cargo build --release --target aarch64-unknown-none); only the image needs the SDK's tool,
# kernel, loader and monitor. sdcard also needs dosfstools, mtools, u-boot-tools and fetches
# the Pi's boot files from Debian's arm64 packages (see boards/README.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

die() { echo "vetted-image: $*" >&2; exit 1; }

cmd=${1:-}; [ $# -gt 0 ] && shift
BOARD=qemu_virt_aarch64 CONFIG=debug SYSTEM=system/example.system OUT=
while [ $# -gt 0 ]; do
    case $1 in
    --board) BOARD=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --system) SYSTEM=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
done
[ "$BOARD" = rpi4b ] && BOARD=rpi4b_2gb
NAME=$(basename "$SYSTEM" .system)
OUT=${OUT:-target/sel4/$BOARD-$CONFIG/$NAME}

need_sdk() {
    if [ -z "${MICROKIT_SDK:-}" ]; then
        die "MICROKIT_SDK is not set: point it at a Microkit 2.3.0 SDK (e.g. export MICROKIT_SDK=/opt/microkit-sdk/microkit-sdk-2.3.0). The PDs alone build without it: cargo build --release --target aarch64-unknown-none -p <crate>"
    fi
    [ -x "$MICROKIT_SDK/bin/microkit" ] || die "MICROKIT_SDK=$MICROKIT_SDK has no bin/microkit"
    [ -d "$MICROKIT_SDK/board/$BOARD/$CONFIG" ] || die "the SDK has no board/config $BOARD/$CONFIG"
}

# The physical load address of the Microkit loader = its ELF's first PT_LOAD
# (0x70000000 on qemu_virt_aarch64, 0x10000000 on rpi4b_*), read from the SDK.
loader_addr() {
    python3 - "$MICROKIT_SDK/board/$BOARD/$CONFIG/elf/loader.elf" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
phoff, = struct.unpack_from("<Q", d, 0x20); phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
for i in range(phnum):
    ptype, _, _, _, paddr = struct.unpack_from("<IIQQQ", d, phoff + i * phentsize)
    if ptype == 1:
        print(hex(paddr)); break
PY
}

build_image() {
    need_sdk
    mkdir -p "$OUT"
    # program_image paths of the system -> cargo binaries (file name without .elf)
    local images
    images=$(python3 - "$SYSTEM" <<'PY'
import sys, xml.etree.ElementTree as ET
seen = []
for e in ET.parse(sys.argv[1]).iter("program_image"):
    p = e.get("path")
    if p not in seen: seen.append(p)
print("\n".join(seen))
PY
)
    local meta
    meta=$(cargo metadata --format-version 1 --no-deps --locked)
    local args=()
    for img in $images; do
        local bin=${img%.elf}
        local pkg
        pkg=$(printf '%s' "$meta" | python3 -c '
import json, sys
m = json.load(sys.stdin)
for p in m["packages"]:
    for t in p["targets"]:
        if "bin" in t["kind"] and t["name"] == sys.argv[1]:
            print(p["name"]); sys.exit(0)
sys.exit(1)' "$bin") || die "no cargo binary named $bin (program_image $img in $SYSTEM)"
        args+=(-p "$pkg" --bin "$bin")
    done
    echo "building PDs for $BOARD/$CONFIG: ${args[*]}"
    VETTED_SEL4_BOARD=$BOARD VETTED_SEL4_CONFIG=$CONFIG \
        cargo build --locked --release --target aarch64-unknown-none "${args[@]}"
    for img in $images; do
        cp "target/aarch64-unknown-none/release/${img%.elf}" "$OUT/$img"
    done
    "$MICROKIT_SDK/bin/microkit" "$SYSTEM" --search-path "$OUT" --board "$BOARD" \
        --config "$CONFIG" -o "$OUT/loader.img" -r "$OUT/report.txt"
    echo "image: $OUT/loader.img"
}

qemu_cmd() {
    local addr
    addr=$(loader_addr)
    case $BOARD in
    qemu_virt_aarch64)
        echo "qemu-system-aarch64 -machine virt,virtualization=on -cpu cortex-a53 -m size=2G -nographic -serial mon:stdio -device loader,file=$OUT/loader.img,addr=$addr,cpu-num=0" ;;
    rpi4b_2gb)
        # the console is the mini UART = QEMU's second serial port; raspi4b has a fixed 2 GB
        echo "qemu-system-aarch64 -machine raspi4b -nographic -serial null -serial mon:stdio -device loader,file=$OUT/loader.img,addr=$addr,cpu-num=0" ;;
    *) die "QEMU models only qemu_virt_aarch64 and rpi4b_2gb (raspi4b), not $BOARD" ;;
    esac
}

# Pi 4 boot files from Debian bookworm's arm64 packages, fetched with a private apt
# configuration (the system's apt state and architectures are untouched):
#   u-boot-rpi (rpi_arm64/u-boot.bin), raspi-firmware (start4.elf, fixup4.dat),
#   linux-image-arm64 (only for broadcom/bcm2711-rpi-4-b.dtb).
PIDIR=$ROOT/target/sel4/pi-boot
pi_files() {
    if [ -f "$PIDIR/files/u-boot.bin" ] && [ -f "$PIDIR/files/start4.elf" ] &&
        [ -f "$PIDIR/files/bcm2711-rpi-4-b.dtb" ]; then return; fi
    command -v apt-get >/dev/null || die "apt-get is needed to fetch the Pi boot files"
    mkdir -p "$PIDIR/apt/state/lists/partial" "$PIDIR/apt/cache/archives/partial" "$PIDIR/debs" "$PIDIR/files"
    : >"$PIDIR/apt/status"
    echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main non-free-firmware" >"$PIDIR/apt/sources.list"
    cat >"$PIDIR/apt/apt.conf" <<CONF
Dir::Etc::SourceList "$PIDIR/apt/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State "$PIDIR/apt/state";
Dir::State::status "$PIDIR/apt/status";
Dir::Cache "$PIDIR/apt/cache";
APT::Architecture "arm64";
APT::Architectures "arm64";
CONF
    if [ -n "${VETTED_PI_DEBS:-}" ]; then
        # already downloaded u-boot-rpi, raspi-firmware and linux-image-*-arm64 .debs
        cp "$VETTED_PI_DEBS"/u-boot-rpi_*.deb "$VETTED_PI_DEBS"/raspi-firmware_*.deb \
            "$VETTED_PI_DEBS"/linux-image-*-arm64_*.deb "$PIDIR/debs/"
    else
        export APT_CONFIG=$PIDIR/apt/apt.conf
        apt-get update -qq
        local kernel
        kernel=$(apt-cache depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
        (cd "$PIDIR/debs" && apt-get download -qq u-boot-rpi raspi-firmware "$kernel")
        unset APT_CONFIG
    fi
    rm -rf "$PIDIR/x"
    for d in "$PIDIR"/debs/*.deb; do dpkg-deb -x "$d" "$PIDIR/x"; done
    cp "$PIDIR/x/usr/lib/u-boot/rpi_arm64/u-boot.bin" "$PIDIR/files/"
    cp "$PIDIR"/x/usr/lib/raspi-firmware/{start4.elf,fixup4.dat} "$PIDIR/files/"
    cp "$(find "$PIDIR/x/usr/lib" -name bcm2711-rpi-4-b.dtb | head -1)" "$PIDIR/files/"
    ls "$PIDIR"/debs >"$PIDIR/files/SOURCES"
}

sdcard() {
    case $BOARD in rpi4b_*) ;; *) die "sdcard is for rpi4b_* boards, not $BOARD" ;; esac
    for t in mkfs.vfat mcopy mkimage; do
        command -v $t >/dev/null || die "$t is missing (apt-get install dosfstools mtools u-boot-tools)"
    done
    build_image
    pi_files
    local dir=$OUT/boot
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$PIDIR"/files/{u-boot.bin,start4.elf,fixup4.dat,bcm2711-rpi-4-b.dtb} "$dir/"
    cp "$ROOT/boards/rpi4b/boot/config.txt" "$dir/"
    cp "$OUT/loader.img" "$dir/"
    mkimage -A arm64 -O linux -T script -C none -n "vetted microkit boot" \
        -d "$ROOT/boards/rpi4b/boot/boot.cmd" "$dir/boot.scr" >/dev/null
    local img=$OUT/sdcard.img
    # 64 MiB: an MBR with one FAT32 (LBA) partition from 1 MiB to the end.
    rm -f "$img"
    python3 - "$img" <<'PY'
import struct, sys
size = 64 << 20; start = 2048; count = size // 512 - start
mbr = bytearray(512)
mbr[440:444] = b"vtd1"
mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x0c, b"\xfe\xff\xff", start, count)
mbr[510:512] = b"\x55\xaa"
with open(sys.argv[1], "wb") as f:
    f.write(mbr); f.truncate(size)
PY
    mkfs.vfat -F 32 -n BOOT --offset 2048 "$img" $(((64 << 10) - 1024)) >/dev/null
    mcopy -i "$img@@1M" "$dir"/* ::/
    echo "SD-card image: $img (write it with: sudo dd if=$img of=/dev/sdX bs=4M conv=fsync)"
}

case $cmd in
image) build_image ;;
qemu-cmd) need_sdk; qemu_cmd ;;
qemu) build_image; c=$(qemu_cmd); echo "$c"; exec $c ;;
sdcard) sdcard ;;
pi-files) pi_files; ls "$PIDIR/files" ;;
*) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
