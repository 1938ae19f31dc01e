#!/usr/bin/env bash
# seL4 / Microkit area (issue 6): PD ELFs for aarch64-unknown-none, Microkit images,
# boot tests in QEMU (virt and raspi4b) and the boot benchmark.
#
#   packages  Debian packages: QEMU 10 (bookworm-backports) and the SD-card tools,
#             only when MICROKIT_SDK is set (without the SDK nothing here boots)
#   test      PD ELFs of every system/*.system and system/sel4/*.system PD (always); with
#             MICROKIT_SDK: images and boots of system/example.system on QEMU virt and raspi4b,
#             the runtime self-test (debug and release) on virt, the example's SD card
#             (vetted-sdcard, which fetches Debian's Pi boot files into its cache once) from
#             U-Boot on in raspi4b, the seL4 netserver against a host node B
#             (system/sel4/netserver-testbed-virt.system, netserver-pd's tests/sel4_virt.rs),
#             the boot checks of trust/policyrepo (trust-check.system) and of the demo apps
#             (demo-mock.system), and the demo's node A on seL4 (system/sel4/node-a-virt.system) against the
#             demo's node B on the host backend, over QEMU's dgram network; node A for the
#             Pi 4 (system/sel4/node-a-rpi4b.system) on raspi4b and from its SD card
#   bench     boot time, ELF sizes and memory per PD, protected-call round trips in QEMU;
#             node A on seL4: QEMU start to the first app output, its PDs' sizes
set -euo pipefail
cd "$(dirname "$0")/.."

sdk_ok() {
    [ -n "${MICROKIT_SDK:-}" ] && [ -x "$MICROKIT_SDK/bin/microkit" ]
}

skip() {
    echo "SKIP (seL4 boot): $* — set MICROKIT_SDK to a Microkit 2.3.0 SDK (see components/microkit/README.md) to run it"
}

# Every program image named by a system description (system/*.system and the seL4
# self-test's), built as an ELF for the target.
pd_elfs() {
    local args=()
    while read -r pkg bin; do args+=(-p "$pkg" --bin "$bin"); done < <(
        python3 - <<'PY'
import glob, json, subprocess, xml.etree.ElementTree as ET
meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"]))
bins = {t["name"]: p["name"] for p in meta["packages"] for t in p["targets"] if "bin" in t["kind"]}
cross = {p["name"] for p in meta["packages"]
         if ((p.get("metadata") or {}).get("vetted") or {}).get("cross")}
want = []
said = set()
def say(msg):
    if msg not in said:
        said.add(msg)
        print(msg, file=__import__("sys").stderr)
for f in (sorted(glob.glob("system/*.system")) + sorted(glob.glob("system/sel4/*.system"))
          + ["components/microkit/sel4/selftest-virt.system"]):
    for e in ET.parse(f).iter("program_image"):
        b = e.get("path").removesuffix(".elf")
        if b in bins and bins[b] not in cross:
            say(f"# {f}: {b} ({bins[b]}) is host-only for now (its crate is not cross = true)")
        elif b in bins and (bins[b], b) not in want:
            want.append((bins[b], b))
        elif b not in bins:
            say(f"# {f}: no cargo binary {b} yet")
for p, b in want:
    print(p, b)
PY
    )
    echo "PD ELFs (aarch64-unknown-none, release): ${args[*]}"
    cargo build --locked --release --target aarch64-unknown-none "${args[@]}"
    # The PDs with board-specific code (the netserver's platform, chosen by VETTED_SEL4_BOARD)
    # once more for the Raspberry Pi 4, so its GENET/system-timer/RNG200 platform compiles too.
    echo "PD ELFs for rpi4b (VETTED_SEL4_BOARD=rpi4b_2gb): netserver, rpi4b-hwprobe"
    VETTED_SEL4_BOARD=rpi4b_2gb cargo build --locked --release --target aarch64-unknown-none \
        -p netserver-pd --bin netserver --bin rpi4b-hwprobe
}

QEMU_BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-120}

boot_example() { # board
    local board=$1
    tools/vetted-image.sh image --board "$board" --system system/example.system >/dev/null
    python3 tools/vetted-boot.py --timeout "$QEMU_BOOT_TIMEOUT" --quiet \
        --log "target/sel4/$board-debug/example/boot.log" \
        --first "hello_server up" \
        --expect "MON|INFO: Microkit Monitor started!" \
        --expect "hello_server up (passive: true)" \
        --expect "PD 'hello_server' is now passive!" \
        --expect "Add(2, 40) -> Ok(Ok(Value(42)))" \
        --expect "Divide(7, 0) -> Ok(Err(DivideByZero))" \
        --expect "notified on {0}" \
        --expect "Stats -> Ok(Ok(Stats { requests: 3, notifications: 1 }))" \
        --expect "all answers as expected" \
        --fail "UNEXPECTED ANSWER" --fail "MON|ERROR" --fail "panicked" \
        -- $(tools/vetted-image.sh qemu-cmd --board "$board" --system system/example.system)
}

selftest() { # config
    local config=$1 sys=components/microkit/sel4/selftest-virt.system extra=()
    if [ "$config" = debug ]; then
        # the panic message and the monitor's reports exist only with the kernel console
        extra=(--expect "selftest: panicked at components/pd-bench/src/bin/sel4-selftest.rs"
            --expect ": deliberate panic 42"
            --expect "MON|ERROR: faulting PD: selftest"
            --expect "MON|ERROR: faulting PD: overflow"
            --expect "fault_addr=0x00000000001ff")
    fi
    tools/vetted-image.sh image --config "$config" --system $sys >/dev/null
    python3 tools/vetted-boot.py --timeout "$QEMU_BOOT_TIMEOUT" --quiet \
        --log "target/sel4/qemu_virt_aarch64-$config/selftest-virt/boot.log" \
        --expect "selftest: ok heap reuses freed memory" \
        --expect "selftest: ok unpatched region" \
        --expect "selftest: ok random source fails closed before seeding" \
        --expect "selftest: ok read-only region" \
        --expect "selftest: ok rng-seed from the device tree" \
        --expect "selftest: ok random source after seeding" \
        --expect "selftest: ok ring SHA-256 known answer" \
        --expect "selftest: ok ring P-256 ECDSA sign and verify" \
        --expect "selftest: ok ring AES-128-GCM seal and open" \
        --expect "selftest: all checks passed" \
        --expect "overflow: recursing into the stack guard page" \
        --send-after "irq: ready" "ab" \
        --send-after "irq: 2 chars received via IRQ, acked" "c" \
        --send-after "irq: 3 chars received via IRQ, acked" "d" \
        --expect "irq: wait_notified woke on {7}" \
        --expect "irq: got 'a' via IRQ" --expect "irq: got 'c' via IRQ" \
        --expect "irq: got 'd' via IRQ" --expect "irq: 4 chars received via IRQ, acked" \
        --expect "child: faulting on purpose" \
        --expect "parent: fault from child 1 (seL4 fault label 3), leaving it stopped" \
        "${extra[@]}" \
        --fail "selftest: FAILED" --fail "irq: FAILED" \
        -- $(tools/vetted-image.sh qemu-cmd --config "$config" --system $sys)
}

# The SD card of system/example.system (made by vetted-sdcard) booted in QEMU raspi4b the way
# the Pi boots after its firmware: U-Boot and the DTB taken from the card itself.
boot_sdcard() {
    local out=target/sel4/rpi4b_2gb-debug/example
    rm -rf "$out/card" && mkdir -p "$out/card"
    mcopy -n -i "$out/sdcard.img@@1M" ::u-boot.bin ::bcm2711-rpi-4-b.dtb "$out/card/"
    python3 tools/vetted-boot.py --timeout "$QEMU_BOOT_TIMEOUT" --quiet --log "$out/sdcard-boot.log" \
        --expect "Found U-Boot script /boot.scr" \
        --expect "MON|INFO: Microkit Monitor started!" \
        --expect "all answers as expected" \
        --fail "UNEXPECTED ANSWER" --fail "MON|ERROR" --fail "panicked" \
        -- qemu-system-aarch64 -machine raspi4b -nographic -serial null -serial mon:stdio \
        -kernel "$out/card/u-boot.bin" -dtb "$out/card/bcm2711-rpi-4-b.dtb" \
        -drive "file=$out/sdcard.img,if=sd,format=raw"
}

free_ports() {
    python3 - <<'PY'
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])
PY
}

# The seL4 netserver (stand-in policy PDs and a client, netserver-testpd) in QEMU virt
# against node B of netserver::testbed in the test process (components/netserver-pd/tests/sel4_virt.rs).
netserver_testbed() {
    local sys=system/sel4/netserver-testbed-virt.system
    tools/vetted-image.sh image --system $sys >/dev/null
    NETSERVER_SEL4_LOADER=$PWD/target/sel4/qemu_virt_aarch64-debug/netserver-testbed-virt/loader.img \
        QEMU_BOOT_TIMEOUT=$QEMU_BOOT_TIMEOUT nice cargo test --locked -q -p netserver-pd --test sel4_virt -- --nocapture
}

# The demo's host binaries (release) and policy bundles (target/demo), as ci/demo.sh builds them.
demo_inputs() {
    local rel=target/release
    nice cargo build --release --locked -q -p vetted -p netserver-pd -p trust-pd -p policyrepo-pd \
        -p demo-apps -p kn -p vetted-policy
    KN=$rel/kn VETTED_POLICY=$rel/vetted-policy DEMO_OUT=target/demo policies/demo/rebuild.sh bundles >/dev/null
}

# The boot checks of the trust/policyrepo PDs and of the demo apps (see
# components/trust-pd/README.md and components/demo-apps/README.md).
service_checks() {
    demo_inputs
    echo "== trust and policyrepo PDs on seL4 (system/sel4/trust-check.system)"
    tools/vetted-image.sh image --system system/sel4/trust-check.system --search-path target/demo >/dev/null
    python3 tools/vetted-boot.py --timeout "$QEMU_BOOT_TIMEOUT" --quiet \
        --log target/sel4/qemu_virt_aarch64-debug/trust-check/boot.log \
        --expect "trust-check: all checks passed" \
        --fail "FAILED" --fail "MON|ERROR" --fail "panicked" \
        -- $(tools/vetted-image.sh qemu-cmd --system system/sel4/trust-check.system)
    echo "== demo apps and secsock on seL4 without a network (system/sel4/demo-mock.system)"
    tools/vetted-image.sh image --system system/sel4/demo-mock.system >/dev/null
    python3 tools/vetted-boot.py --timeout "$QEMU_BOOT_TIMEOUT" --quiet \
        --log target/sel4/qemu_virt_aarch64-debug/demo-mock/boot.log \
        --expect "mock-netserver: ok intruder refused by policy" \
        --expect "mock-netserver: ok lowball refused below its floor" \
        --expect "mock-netserver: ok client's TCP data echoed back in full" \
        --expect "mock-netserver: ok client sent its datagram again after a receive timeout" \
        --expect "mock-netserver: ok echo answered the datagram and the client received it" \
        --expect "all fresh and distinct" \
        --fail "FAILED" --fail "MON|ERROR" --fail "panicked" \
        -- $(tools/vetted-image.sh qemu-cmd --system system/sel4/demo-mock.system)
}

# Program images of system/sel4/node-a-virt.system whose crate does not build for seL4 yet.
node_a_not_cross() {
    cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys, xml.etree.ElementTree as ET
m = json.load(sys.stdin)
bins = {t["name"]: p for p in m["packages"] for t in p["targets"] if "bin" in t["kind"]}
out = []
for e in ET.parse("system/sel4/node-a-virt.system").iter("program_image"):
    b = e.get("path").removesuffix(".elf")
    p = bins.get(b)
    if p is None or not ((p.get("metadata") or {}).get("vetted") or {}).get("cross"):
        if b not in out: out.append(b)
print(" ".join(out))'
}

# The demo (ci/demo.sh) with node A on seL4: node B (echo) on the host backend with
# VETTED_NIC=udp:PB:PA, node A (policyrepo, trust, netserver, client, intruder, lowball)
# booted in QEMU virt with -netdev dgram from 127.0.0.1:PA to 127.0.0.1:PB.
# Prints BOOT-TIME lines (QEMU start to the first app output: lowball's refusal, the first
# application to run, see the system file's priorities).
node_a_virt() {
    local sys=system/sel4/node-a-virt.system demo=target/demo rel=target/release
    local missing
    missing=$(node_a_not_cross)
    if [ -n "$missing" ]; then
        echo "SKIP (node A on seL4): not yet built for seL4 (their crates are not cross = true): $missing"
        return 0
    fi
    demo_inputs
    tools/vetted-image.sh image --system $sys --search-path $demo >/dev/null
    local pa pb logs b_pid rc=0
    read -r pa pb < <(free_ports)
    logs=$(mktemp -d)
    VETTED_NIC=udp:$pb:$pa $rel/vetted run system/node-b.system --search-path $demo \
        --timeout $((QEMU_BOOT_TIMEOUT + 60)) >"$logs/b.log" 2>&1 &
    b_pid=$!
    local up=0
    for _ in $(seq 150); do
        if grep -q '^\[echo\] echo: listening' "$logs/b.log"; then up=1; break; fi
        sleep 0.2
    done
    if [ $up = 1 ]; then
        python3 tools/vetted-boot.py --timeout "$QEMU_BOOT_TIMEOUT" --quiet \
            --log target/sel4/qemu_virt_aarch64-debug/node-a-virt/boot.log \
            --first "Sec_connect refused" \
            --expect "MON|INFO: Microkit Monitor started!" \
            --expect "PD 'policyrepo' is now passive!" \
            --expect "PD 'trust' is now passive!" \
            --expect "netserver: virtio-net in slot 31" \
            --expect "netserver: up (3 applications, 6 SAs)" \
            --expect "netserver: timer interrupt (INTID 30)" \
            --expect "requested level Use is below the administrator's floor Require" \
            --expect "refused by policy (errno 13); why: denied by policy (compliance value DENY)" \
            --count "RESULT: refused as expected" 2 \
            --expect "connected from 192.0.2.1:" \
            --expect "TCP echo: \"hello node B, over ESP\" (ESP aes-gcm-256" \
            --expect "UDP echo from 192.0.2.2:7: \"a datagram for node B\" (ESP aes-gcm-256" \
            --expect "RESULT: echo ok" \
            --fail "MON|ERROR" --fail "panicked" --fail "RESULT: FAIL" \
            -- $(tools/vetted-image.sh qemu-cmd --system $sys --net "$pa:$pb") || rc=1
    else
        echo "node B did not come up:"; rc=1
    fi
    # node B saw the client's bytes arrive over ESP
    if [ $rc = 0 ] && ! grep -q -E '^\[echo\] TCP [0-9]+ bytes from 192\.0\.2\.1:[0-9]+ \(ESP aes-gcm-256' "$logs/b.log"; then
        echo "FAIL: node B did not report the client's TCP bytes over ESP"; rc=1
    fi
    kill -TERM "$b_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$b_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$b_pid" 2>/dev/null || true
    wait "$b_pid" 2>/dev/null || true
    if [ $rc != 0 ]; then echo "== node B (host) output"; cat "$logs/b.log"; fi
    rm -rf "$logs"
    return $rc
}

# The demo's node A built for the Raspberry Pi 4 (system/sel4/node-a-rpi4b.system), booted in
# QEMU raspi4b, which has neither the GENET nor the RNG200: every PD starts, the hwprobe child
# faults on the RNG200, the netserver starts no network and says why, the apps are told
# "network server unreachable". Also checks the system timer's compare (polled; QEMU does not
# deliver its interrupt).
node_a_rpi4b() {
    local sys=system/sel4/node-a-rpi4b.system
    demo_inputs
    tools/vetted-image.sh image --board rpi4b_2gb --system $sys --search-path target/demo >/dev/null
    python3 tools/vetted-boot.py --timeout "$QEMU_BOOT_TIMEOUT" --quiet \
        --log target/sel4/rpi4b_2gb-debug/node-a-rpi4b/boot.log \
        --first "RESULT:" \
        --expect "MON|INFO: Microkit Monitor started!" \
        --expect "policy bundle version 1 for node node-a verified" \
        --expect "PD 'policyrepo' is now passive!" \
        --expect "PD 'trust' is now passive!" \
        --expect "netserver: hardware probe: reading the RNG200 faulted: this machine has no RNG200 (QEMU raspi4b?): no network" \
        --expect "netserver: no real-time clock on the Pi 4: Unix time is the build time plus uptime" \
        --expect "netserver: system timer C1 compare matched" \
        --expect "netserver: no NIC: serving nothing" \
        --expect "netserver: the hardware probe faulted (seL4 fault label 6) and stays stopped" \
        --expect "RESULT: FAIL Sec_connect: network server unreachable (errno 113)" \
        --count "RESULT: FAIL Sec_why: network server unreachable" 2 \
        --fail "MON|ERROR" --fail "panicked" --fail "RESULT: echo ok" \
        -- $(tools/vetted-image.sh qemu-cmd --board rpi4b_2gb --system $sys)
}

# The SD card of node A for the Pi 4 (rpi4b_2gb: QEMU raspi4b has 2 GB), booted from U-Boot on.
boot_sdcard_node_a() {
    local out=target/sel4/rpi4b_2gb-debug/node-a-rpi4b
    tools/vetted-image.sh sdcard --board rpi4b_2gb --system system/sel4/node-a-rpi4b.system \
        --search-path target/demo >/dev/null
    rm -rf "$out/card" && mkdir -p "$out/card"
    mcopy -n -i "$out/sdcard.img@@1M" ::u-boot.bin ::bcm2711-rpi-4-b.dtb "$out/card/"
    # U-Boot reads the ~75 MB loader image from the emulated card for about 80 s
    python3 tools/vetted-boot.py --timeout $((QEMU_BOOT_TIMEOUT + 120)) --quiet --log "$out/sdcard-boot.log" \
        --expect "Found U-Boot script /boot.scr" \
        --expect "MON|INFO: Microkit Monitor started!" \
        --expect "netserver: hardware probe: reading the RNG200 faulted" \
        --expect "RESULT: FAIL Sec_connect: network server unreachable (errno 113)" \
        --fail "MON|ERROR" --fail "panicked" \
        -- qemu-system-aarch64 -machine raspi4b -nographic -serial null -serial mon:stdio \
        -kernel "$out/card/u-boot.bin" -dtb "$out/card/bcm2711-rpi-4-b.dtb" \
        -drive "file=$out/sdcard.img,if=sd,format=raw"
}

case "${1:-}" in
packages)
    echo python3
    if sdk_ok; then
        echo qemu-system-arm/bookworm-backports
        echo mtools
    fi
    ;;
tools) ;;
test)
    pd_elfs
    # without the SDK the image command must say what is missing, and fail
    if out=$(MICROKIT_SDK= tools/vetted-image.sh image 2>&1); then
        echo "FAIL: tools/vetted-image.sh image succeeded without MICROKIT_SDK"; exit 1
    fi
    case $out in *"MICROKIT_SDK is not set"*) echo "ok: image without MICROKIT_SDK: $out" | cut -c1-120 ;;
    *) echo "FAIL: unexpected message without MICROKIT_SDK: $out"; exit 1 ;; esac
    if ! sdk_ok; then skip "images and QEMU boots (example, runtime self-test, seL4 netserver against a host node B, demo node A on seL4 against node B on the host, raspi4b, node A for the Pi 4 on raspi4b, SD cards)"; exit 0; fi
    command -v qemu-system-aarch64 >/dev/null || { echo "qemu-system-aarch64 is missing (ci/sel4.sh packages)"; exit 1; }
    echo "== boot system/example.system on QEMU virt (qemu_virt_aarch64, debug)"
    boot_example qemu_virt_aarch64
    echo "== seL4 runtime self-test on QEMU virt, debug config (components/microkit/sel4/selftest-virt.system)"
    selftest debug
    echo "== seL4 runtime self-test on QEMU virt, release config (no kernel console: PDs print via the PL011)"
    selftest release
    echo "== seL4 runtime self-test on QEMU virt, benchmark config"
    selftest benchmark
    echo "== seL4 netserver on QEMU virt against a host node B (system/sel4/netserver-testbed-virt.system)"
    netserver_testbed
    service_checks
    echo "== demo node A on seL4 (QEMU virt, system/sel4/node-a-virt.system) against node B on the host backend"
    node_a_virt
    echo "== boot system/example.system on QEMU raspi4b (rpi4b_2gb, debug)"
    boot_example rpi4b_2gb
    echo "== Raspberry Pi 4 SD card of the example (vetted-sdcard), booted from U-Boot on in QEMU raspi4b"
    tools/vetted-image.sh sdcard --board rpi4b_2gb --system system/example.system >/dev/null
    boot_sdcard
    echo "== demo node A for the Raspberry Pi 4 (system/sel4/node-a-rpi4b.system) on QEMU raspi4b: no GENET/RNG200 there, so no network"
    node_a_rpi4b
    echo "== its SD card (rpi4b_2gb), booted from U-Boot on in QEMU raspi4b"
    boot_sdcard_node_a
    ;;
bench)
    if ! sdk_ok; then skip "boot benchmark"; exit 0; fi
    for board in qemu_virt_aarch64 rpi4b_2gb; do
        echo "== $board (debug): QEMU start -> first app output (hello_server up), 3 boots"
        for _ in 1 2 3; do boot_example "$board" | grep BOOT-TIME; done
        echo "== $board: protected-call round trips inside the QEMU guest (system/pd-bench.system)"
        tools/vetted-image.sh image --board "$board" --system system/pd-bench.system >/dev/null
        python3 tools/vetted-boot.py --timeout 300 --expect "pd-bench: done" \
            --fail "MON|ERROR" --fail panicked \
            -- $(tools/vetted-image.sh qemu-cmd --board "$board" --system system/pd-bench.system) |
            grep -E "pd-bench: [0-9]|ratio|PASS|FAIL"
    done
    echo "== host backend baseline: the same PD pair under vetted run"
    cargo build --locked --release -p vetted -p pd-bench >/dev/null 2>&1
    timeout 120 target/release/vetted run system/pd-bench.system 2>&1 | grep -E "pd-bench: [0-9]|ratio" || true
    echo "== demo node A on seL4 (QEMU virt) against node B on the host, 3 boots: QEMU start -> first app output"
    echo "   (first-output: lowball's refusal; all-expected: the client's TCP and UDP echoes over ESP done)"
    for _ in 1 2 3; do node_a_virt | grep -E "BOOT-TIME|SKIP|FAIL" || true; done
    if [ -f target/sel4/qemu_virt_aarch64-debug/node-a-virt/loader.img ]; then
        echo "node A loader image: $(stat -c %s target/sel4/qemu_virt_aarch64-debug/node-a-virt/loader.img) bytes (the PDs' .bss, stacks and heaps included)"
    fi
    echo "== PD ELF sizes and memory (qemu_virt_aarch64 debug builds; node A = system/sel4/node-a-virt.system)"
    python3 - target/sel4/qemu_virt_aarch64-debug/*/*.elf <<'PY'
import os, struct, sys
def sizes(path):
    d = open(path, "rb").read()
    phoff, = struct.unpack_from("<Q", d, 0x20); ent, num = struct.unpack_from("<HH", d, 0x36)
    fs = ms = 0
    for i in range(num):
        t, _, _, _, _, filesz, memsz = struct.unpack_from("<IIQQQQQ", d, phoff + i * ent)
        if t == 1:
            fs += filesz; ms += (memsz + 0xfff) & ~0xfff
    # the runtime's stack and heap arenas (symbols __vetted_stack / __vetted_heap)
    shoff, = struct.unpack_from("<Q", d, 0x28); shent, shnum = struct.unpack_from("<HH", d, 0x3a)
    secs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shent) for i in range(shnum)]
    arena = {}
    for sh in secs:
        if sh[1] == 2:  # SHT_SYMTAB
            strtab = secs[sh[6]]
            for j in range(sh[5] // 24):
                name, _, _, _, _, size = struct.unpack_from("<IBBHQQ", d, sh[4] + j * 24)
                start = strtab[4] + name
                n = d[start:d.index(b"\0", start)].decode()
                if n in ("__vetted_stack", "__vetted_heap"):
                    arena[n] = size
    return len(d), fs, ms, arena.get("__vetted_stack", 0), arena.get("__vetted_heap", 0)
node_a = {"policyrepo.elf", "trust.elf", "netserver.elf", "demo-client.elf"}
seen = {}
for f in sys.argv[1:]:
    b = os.path.basename(f)
    if b not in seen or "node-a-virt" in f:
        seen[b] = f
print(f"{'PD ELF':<24} {'file bytes':>10} {'loaded bytes':>12} {'memory bytes':>12} {'stack':>8} {'heap':>10}")
for b in sorted(seen, key=lambda b: (b not in node_a, b)):
    n, fs, ms, st, hp = sizes(seen[b])
    mark = " (node A)" if b in node_a else ""
    print(f"{b:<24} {n:>10} {fs:>12} {ms:>12} {st:>8} {hp:>10}{mark}")
PY
    echo "(memory = pages of the PT_LOAD segments, which include the stack and heap arenas in .bss; file size includes symbols and debug info, which the Microkit tool does not load)"
    ;;
*) echo "usage: $0 packages|tools|test|bench" >&2; exit 2 ;;
esac
