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

/// Node B's NIC, losing the `lose`-th inbound ESP frame (1-based).
struct Lossy<D> {
    inner: D,
    lose: usize,
    esp_seen: usize,
    lost: Arc<AtomicUsize>,
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
        if is_esp(&frame) {
            self.esp_seen += 1;
            if self.esp_seen == self.lose {
                // Lost: node B polls again and takes the next frame then.
                self.lost.fetch_add(1, Ordering::SeqCst);
                return None;
            }
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

/// Boots node A with the card's MAC `mac` against node B (losing node A's
/// first SYN); `extra` lines must appear too.
fn boot_node_a(mac: &str, extra: &[&str]) {
    let Ok(loader) = std::env::var("NETSERVER_SEL4_LOADER") else {
        eprintln!(
            "SKIP: NETSERVER_SEL4_LOADER is not set (ci/sel4.sh test sets it with MICROKIT_SDK)"
        );
        return;
    };
    let timeout = std::env::var("QEMU_BOOT_TIMEOUT").unwrap_or_else(|_| "120".into());
    let boot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/vetted-boot.py");
    let lost = Arc::new(AtomicUsize::new(0));
    let l2 = lost.clone();
    let lossy = move |inner| Lossy {
        inner,
        lose: 2,
        esp_seen: 0,
        lost: l2,
    };
    let (ok, out) = with_node_b_on(lossy, |pa, pb| {
        let mut cmd = Command::new("python3");
        cmd.arg(&boot)
            .args(["--timeout", &timeout, "--quiet", "--first", "testpd client: udp sendto"])
            .args(["--expect", "netserver: up (1 applications, 6 SAs)"])
            .args(["--expect", "netserver: timer interrupt (INTID 30)"])
            .args(["--expect", "testpd client: udp sendto: Ok(Sent(9))"])
            .args([
                "--expect",
                "testpd client: udp echo: udp hello alg=Some(ChaCha20Poly1305) spi=Some(8194)",
            ])
            .args(["--expect", "testpd client: tcp connect: true"])
            .args(["--expect", "testpd client: tcp send: Ok(Sent(9))"])
            .args([
                "--expect",
                "testpd client: tcp echo: tcp hello alg=Some(ChaCha20Poly1305) key=Some(\"\\\"node-b-key\\\"\")",
            ])
            .args(["--expect", "testpd client: close: Ok(Ok)"])
            .args(["--expect", "testpd client: done"]);
        for e in extra {
            cmd.args(["--expect", e]);
        }
        let out = cmd
            .args(["--fail", "MON|ERROR", "--fail", "panicked"])
            .args(["--", "qemu-system-aarch64"])
            .args(["-machine", "virt,virtualization=on", "-cpu", "cortex-a53"])
            .args(["-m", "size=2G", "-nographic", "-serial", "mon:stdio"])
            .arg("-device")
            .arg(format!("loader,file={loader},addr=0x70000000,cpu-num=0"))
            .arg("-netdev")
            .arg(format!(
                "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={pa},\
                 remote.type=inet,remote.host=127.0.0.1,remote.port={pb}"
            ))
            .arg("-device")
            .arg(format!("virtio-net-device,netdev=n0,mac={mac}"))
            .output()
            .expect("python3 runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    });
    println!("{out}");
    assert!(ok, "the seL4 node A did not echo through node B:\n{out}");
    assert_eq!(
        lost.load(Ordering::SeqCst),
        1,
        "node B lost no SYN: the retransmission was not tested"
    );
}

#[test]
fn sel4_netserver_in_qemu_echoes_over_esp_with_a_host_node() {
    boot_node_a("02:00:00:00:00:01", &[]);
}

/// The card's MAC differs from the bundle's: the bundle's is the node's
/// (node B's ARP and SAs know it), the PD says so, and traffic flows.
#[test]
fn sel4_netserver_uses_the_bundles_mac_over_the_cards() {
    boot_node_a(
        "52:54:00:12:34:56",
        &["netserver: the card's MAC 52:54:00:12:34:56 differs from the bundle's 02:00:00:00:00:01: the bundle's is used"],
    );
}
