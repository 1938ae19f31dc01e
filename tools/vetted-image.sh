#!/usr/bin/env bash
# Builds seL4 Microkit images of a vetted system, and boots them in QEMU.
#
#   tools/vetted-image.sh image  [options]   PD ELFs + Microkit loader image
#   tools/vetted-image.sh qemu   [options]   the image, then boot it in QEMU (Ctrl-a x quits)
#   tools/vetted-image.sh sdcard [options]   Raspberry Pi 4 SD-card image around the loader image
#                                            (vetted-sdcard: Pi firmware, U-Boot, config.txt, boot.scr)
#   tools/vetted-image.sh qemu-cmd [options] print the QEMU command line for the image
#
# options: --board B    Microkit board: qemu_virt_aarch64 (default), rpi4b_1gb|2gb|4gb|8gb
#                       (QEMU's raspi4b has 2 GB: rpi4b_2gb; `rpi4b` means rpi4b_2gb)
#          --config C   debug (default; PDs print through the kernel), release, benchmark
#          --system F   system description (default system/example.system)
#          --out DIR    output directory (default target/sel4/<board>-<config>/<system name>)
#          --search-path DIR   also look there for program images and prefill_path files
#                       (repeatable; e.g. target/demo for the demo's policy bundles)
#          --net LOCAL:REMOTE  qemu/qemu-cmd on virt: a virtio-net card (MAC --mac, default
#                       02:00:00:00:00:01, node A of the demo) on QEMU's dgram network, one
#                       Ethernet frame per UDP datagram from 127.0.0.1:LOCAL to 127.0.0.1:REMOTE
#                       (a host node with VETTED_NIC=udp:REMOTE:LOCAL is on the other end)
#          --mac MAC    the card's MAC address
#
# Needs MICROKIT_SDK (the Microkit 2.3.0 SDK directory). The PDs themselves build without it
# (cargo build --release --target aarch64-unknown-none); only the image needs the SDK's tool,
# kernel, loader and monitor. sdcard: see boards/rpi4b/SDCARD.md (dosfstools, mtools,
# u-boot-tools; the Pi's boot files come from Debian's arm64 packages).
# prefill_path files shorter than their region are padded with zeros into the output directory
# (Microkit 2.3.0's tool panics on a prefill more than a page shorter than its region).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

die() { echo "vetted-image: $*" >&2; exit 1; }

cmd=${1:-}; [ $# -gt 0 ] && shift
BOARD=qemu_virt_aarch64 CONFIG=debug SYSTEM=system/example.system OUT=
SEARCH=() NET= MAC=02:00:00:00:00:01
while [ $# -gt 0 ]; do
    case $1 in
    --board) BOARD=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --system) SYSTEM=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --search-path) SEARCH+=("$2"); shift 2 ;;
    --net) NET=$2; shift 2 ;;
    --mac) MAC=$2; shift 2 ;;
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

# Microkit 2.3.0's tool panics ("range start index .. out of range", capdl/builder.rs:553)
# when a prefill_path file is more than a page shorter than its memory region (it slices
# past the file's end for the remaining pages). Work-around: a copy of such a file, padded
# with zeros to the region's size, goes into $OUT, which is searched first. The PD sees
# the same bytes either way (the rest of a prefilled region is zero, as on the host).
pad_prefills() {
    python3 - "$SYSTEM" "$OUT" "${SEARCH[@]}" <<'PY'
import os, sys, xml.etree.ElementTree as ET
system, out, search = sys.argv[1], sys.argv[2], sys.argv[3:]
for mr in ET.parse(system).iter("memory_region"):
    name, size = mr.get("prefill_path"), mr.get("size")
    if not name or not size:
        continue
    size = int(size, 0)
    src = next((os.path.join(d, name) for d in [out] + search
                if os.path.isfile(os.path.join(d, name))), None)
    if src is None:
        continue  # the tool reports the missing file
    data = open(src, "rb").read()
    if len(data) < size:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data + bytes(size - len(data)))
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
    pad_prefills
    "$MICROKIT_SDK/bin/microkit" "$SYSTEM" --search-path "$OUT" "${SEARCH[@]}" --board "$BOARD" \
        --config "$CONFIG" -o "$OUT/loader.img" -r "$OUT/report.txt"
    echo "image: $OUT/loader.img"
}

qemu_cmd() {
    local addr
    addr=$(loader_addr)
    case $BOARD in
    qemu_virt_aarch64)
        local net=
        if [ -n "$NET" ]; then
            local l=${NET%%:*} r=${NET#*:}
            case "$l:$r" in *[!0-9:]* | :* | *: ) die "--net wants LOCALPORT:REMOTEPORT, not $NET" ;; esac
            # the first virtio-mmio device lands in slot 31 (0x0a003e00, INTID 79)
            net=" -netdev dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=$l,remote.type=inet,remote.host=127.0.0.1,remote.port=$r -device virtio-net-device,netdev=n0,mac=$MAC"
        fi
        echo "qemu-system-aarch64 -machine virt,virtualization=on -cpu cortex-a53 -m size=2G -nographic -serial mon:stdio -device loader,file=$OUT/loader.img,addr=$addr,cpu-num=0$net" ;;
    rpi4b_2gb)
        # the console is the mini UART = QEMU's second serial port; raspi4b has a fixed 2 GB
        echo "qemu-system-aarch64 -machine raspi4b -nographic -serial null -serial mon:stdio -device loader,file=$OUT/loader.img,addr=$addr,cpu-num=0" ;;
    *) die "QEMU models only qemu_virt_aarch64 and rpi4b_2gb (raspi4b), not $BOARD" ;;
    esac
}

# The SD card is made by vetted-sdcard (tools/sdcard, boards/rpi4b/SDCARD.md) around the
# loader image: Debian's Pi firmware, DTB and U-Boot (fetched once into its cache), config.txt,
# boot.scr. VETTED_SDCARD_ARGS passes more options (e.g. "--offline", "--cache DIR").
sdcard() {
    case $BOARD in rpi4b_*) ;; *) die "sdcard is for rpi4b_* boards, not $BOARD" ;; esac
    build_image
    # shellcheck disable=SC2086
    cargo run --locked --release -q -p vetted-sdcard -- --loader "$OUT/loader.img" \
        --board "$BOARD" --out "$OUT/sdcard.img" ${VETTED_SDCARD_ARGS:-}
    echo "SD-card image: $OUT/sdcard.img (writing it to a card: boards/rpi4b/SDCARD.md)"
}

case $cmd in
image) build_image ;;
qemu-cmd) need_sdk; qemu_cmd ;;
qemu) build_image; c=$(qemu_cmd); echo "$c"; exec $c ;;
sdcard) sdcard ;;
*) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
