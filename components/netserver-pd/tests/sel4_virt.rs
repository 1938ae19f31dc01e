//! The seL4 `netserver` PD in QEMU `virt` against node B of the testbed in
//! this process, over QEMU's `-netdev dgram` (one Ethernet frame per UDP
//! datagram on 127.0.0.1): node A is `system/sel4/netserver-testbed-virt.system`
//! (the real netserver with stand-in policy PDs and a client, see
//! `src/bin/netserver-testpd/sel4.rs`), booted from its Microkit loader image.
//!
//! Node B loses the second ESP frame node A sends (the TCP SYN; the first is
//! the UDP datagram, answered before the TCP connection starts): the
//! connection is only made if node A's smoltcp retransmits the SYN, and
//! nothing but the netserver's timer (INTID 30) wakes it for that. So this
//! also checks that the timer drives smoltcp's timers.
//!
//! Needs the image, so it runs only when `NETSERVER_SEL4_LOADER` names it
//! (`ci/sel4.sh test` builds it with `tools/vetted-image.sh` and sets it);
//! otherwise it says it skipped.

mod common;

use common::with_node_b_on;
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Node B's NIC, losing the `lose`-th inbound ESP frame (1-based); `esp`
/// counts the inbound ESP frames (the lost one included).
struct Lossy<D> {
    inner: D,
    lose: usize,
    esp: Arc<AtomicUsize>,
}

struct Rx(Vec<u8>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

fn is_esp(frame: &[u8]) -> bool {
    frame.len() > 23 && frame[12..14] == [0x08, 0x00] && frame[23] == 50
}

impl<D: Device> Device for Lossy<D> {
    type RxToken<'a>
        = Rx
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Rx, D::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        let frame = phy::RxToken::consume(rx, |f| f.to_vec());
        if is_esp(&frame) && self.esp.fetch_add(1, Ordering::SeqCst) + 1 == self.lose {
            // Lost: node B polls again and takes the next frame then.
            return None;
        }
        Some((Rx(frame), tx))
    }

    fn transmit(&mut self, now: Instant) -> Option<D::TxToken<'_>> {
        self.inner.transmit(now)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// What a boot of node A must show.
struct Boot<'a> {
    /// QEMU `-machine` value.
    machine: &'a str,
    /// The card's MAC.
    mac: &'a str,
    /// Console lines that must appear.
    expect: &'a [&'a str],
    /// Whether the echo lines must appear and node B lose one SYN.
    echo: bool,
}

/// The console lines of a working node A (the testpd client's echoes).
const ECHOED: &[&str] = &[
    "netserver: up (1 applications, 6 SAs)",
    "netserver: timer interrupt (INTID 30)",
    "testpd client: udp sendto: Ok(Sent(9))",
    "testpd client: udp echo: udp hello alg=Some(ChaCha20Poly1305) spi=Some(8194)",
    "testpd client: tcp connect: true",
    "testpd client: tcp send: Ok(Sent(9))",
    "testpd client: tcp echo: tcp hello alg=Some(ChaCha20Poly1305) key=Some(\"\\\"node-b-key\\\"\")",
    "testpd client: close: Ok(Ok)",
    "testpd client: done",
];

const MACHINE: &str = "virt,virtualization=on";

/// Boots node A against node B (which loses node A's second ESP frame, the
/// first TCP SYN) and checks the console.
fn boot_node_a(boot: Boot<'_>) {
    let Ok(loader) = std::env::var("NETSERVER_SEL4_LOADER") else {
        eprintln!(
            "SKIP: NETSERVER_SEL4_LOADER is not set (ci/sel4.sh test sets it with MICROKIT_SDK)"
        );
        return;
    };
    let timeout = std::env::var("QEMU_BOOT_TIMEOUT").unwrap_or_else(|_| "120".into());
    let boot_py = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/vetted-boot.py");
    let esp = Arc::new(AtomicUsize::new(0));
    let e2 = esp.clone();
    let lossy = move |inner| Lossy {
        inner,
        lose: 2,
        esp: e2,
    };
    let (ok, out) = with_node_b_on(lossy, |pa, pb| {
        let mut cmd = Command::new("python3");
        cmd.arg(&boot_py).args([
            "--timeout",
            &timeout,
            "--quiet",
            "--first",
            "testpd client:",
        ]);
        let echoed = if boot.echo { ECHOED } else { &[] };
        for e in echoed.iter().chain(boot.expect) {
            cmd.args(["--expect", e]);
        }
        let out = cmd
            .args(["--fail", "MON|ERROR", "--fail", "panicked"])
            .args(["--", "qemu-system-aarch64"])
            .args(["-machine", boot.machine, "-cpu", "cortex-a53"])
            .args(["-m", "size=2G", "-nographic", "-serial", "mon:stdio"])
            .arg("-device")
            .arg(format!("loader,file={loader},addr=0x70000000,cpu-num=0"))
            .arg("-netdev")
            .arg(format!(
                "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={pa},\
                 remote.type=inet,remote.host=127.0.0.1,remote.port={pb}"
            ))
            .arg("-device")
            .arg(format!("virtio-net-device,netdev=n0,mac={}", boot.mac))
            .output()
            .expect("python3 runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    });
    println!("{out}");
    assert!(ok, "the seL4 node A did not behave as expected:\n{out}");
    let esp = esp.load(Ordering::SeqCst);
    if boot.echo {
        assert!(
            esp >= 2,
            "node B lost no SYN: the retransmission was not tested"
        );
    } else {
        assert_eq!(esp, 0, "node A sent ESP frames without a network");
    }
}

#[test]
fn sel4_netserver_in_qemu_echoes_over_esp_with_a_host_node() {
    boot_node_a(Boot {
        machine: MACHINE,
        mac: "02:00:00:00:00:01",
        expect: &[],
        echo: true,
    });
}

/// The card's MAC differs from the bundle's: the bundle's is the node's
/// (node B's ARP and SAs know it), the PD says so, and traffic flows.
#[test]
fn sel4_netserver_uses_the_bundles_mac_over_the_cards() {
    boot_node_a(Boot {
        machine: MACHINE,
        mac: "52:54:00:12:34:56",
        expect: &["netserver: the card's MAC 52:54:00:12:34:56 differs from the bundle's 02:00:00:00:00:01: the bundle's is used"],
        echo: true,
    });
}

/// Without `/chosen/rng-seed` (QEMU's `dtb-randomness=off`) the netserver
/// has no random source and starts no network: applications get
/// `Unreachable`, nothing is sent.
#[test]
fn sel4_netserver_without_a_seed_starts_no_network() {
    boot_node_a(Boot {
        machine: "virt,virtualization=on,dtb-randomness=off",
        mac: "02:00:00:00:00:01",
        expect: &[
            "netserver: no seed from the device tree (/chosen/rng-seed: no such node or property in the device tree): no network",
            "netserver: no NIC: serving nothing",
            "testpd client: socket: Err(Unreachable)",
        ],
        echo: false,
    });
}
