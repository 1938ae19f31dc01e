#!/usr/bin/env bash
# Checks of the board drivers beyond `cargo test`: the virtio-net driver against QEMU's
# real virtio-net device. The bare-metal example boards/qemu_virt_aarch64/examples/
# virtio_smoke.rs (no seL4 needed) boots in `qemu-system-aarch64 -M virt`, finds the
# card, ARPs QEMU's user-mode gateway and runs a smoltcp TCP echo server that this
# script sends 1 MiB through, once per virtio-mmio transport (legacy and modern).
# The packages also let `cargo test` check the board facts against QEMU's own device
# tree (virt, needs dtc) and memory map (raspi4b): tests/qemu_facts.rs in both crates.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/qemu.sh
. ci/lib/qemu.sh
case "${1:-}" in
packages) qemu_packages qemu-system-arm; echo device-tree-compiler; echo python3 ;;
tools) ;;
test)
    if ! command -v qemu-system-aarch64 >/dev/null; then
        echo "SKIP virtio-net QEMU smoke test: qemu-system-aarch64 is not installed"
        exit 0
    fi
    if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-none; then
        echo "SKIP virtio-net QEMU smoke test: rust target aarch64-unknown-none is missing"
        exit 0
    fi
    ld="$PWD/boards/qemu_virt_aarch64/examples/virtio_smoke.ld"
    # A target directory of its own: the link script must not leak into other builds.
    RUSTFLAGS="-C link-arg=-T$ld" CARGO_TARGET_DIR=target/drivers-smoke \
        cargo build --locked --release --target aarch64-unknown-none \
        -p board-qemu-virt-aarch64 --example virtio_smoke
    kernel=target/drivers-smoke/aarch64-unknown-none/release/examples/virtio_smoke
    for legacy in true false; do
        echo "virtio-net smoke test in QEMU (virtio-mmio force-legacy=$legacy)"
        python3 - "$kernel" "$legacy" <<'PY'
import os, socket, subprocess, sys, threading, time

kernel, legacy = sys.argv[1], sys.argv[2]
with socket.socket() as s:  # a free loopback port for the forward
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
qemu = subprocess.Popen(
    ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a53", "-m", "256M",
     "-nographic", "-monitor", "none", "-serial", "stdio", "-kernel", kernel,
     "-global", f"virtio-mmio.force-legacy={legacy}",
     "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:7",
     "-device", "virtio-net-device,netdev=n0"],
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
lines, listening = [], threading.Event()
def pump():
    for line in qemu.stdout:
        lines.append(line.rstrip())
        if "LISTENING" in line:
            listening.set()
threading.Thread(target=pump, daemon=True).start()
def fail(msg):
    qemu.kill()
    print("\n".join("  guest: " + l for l in lines))
    sys.exit(f"virtio-net smoke test FAILED: {msg}")
if not listening.wait(30):
    fail("the guest never listened")
data = os.urandom(1 << 20)
got = bytearray()
start = time.time()
with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
    def reader():
        try:
            while chunk := c.recv(65536):
                got.extend(chunk)
        except OSError:
            pass
    r = threading.Thread(target=reader)
    r.start()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    r.join()
took = time.time() - start
try:
    qemu.wait(30)
except subprocess.TimeoutExpired:
    fail("the guest did not power off")
if bytes(got) != data:
    fail(f"echo returned {len(got)} of {len(data)} bytes or different bytes")
if not any("SMOKE PASS" in l for l in lines):
    fail("the guest did not report success")
print("\n".join("  guest: " + l for l in lines if "state" not in l))
print(f"  host: 1 MiB echoed intact through the driver in {took:.2f} s")
PY
    done
    ;;
bench)
    cargo bench --locked -p board-qemu-virt-aarch64 -p board-rpi4b --bench throughput
    ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
