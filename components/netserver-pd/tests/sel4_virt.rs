//! The seL4 `netserver` PD in QEMU `virt` against node B of the testbed in
//! this process, over QEMU's `-netdev dgram` (one Ethernet frame per UDP
//! datagram on 127.0.0.1): node A is `system/sel4/netserver-testbed-virt.system`
//! (the real netserver with stand-in policy PDs and a client, see
//! `src/bin/netserver-testpd/sel4.rs`), booted from its Microkit loader image.
//!
//! Needs the image, so it runs only when `NETSERVER_SEL4_LOADER` names it
//! (`ci/sel4.sh test` builds it with `tools/vetted-image.sh` and sets it);
//! otherwise it says it skipped.

mod common;

use common::with_node_b;
use std::path::Path;
use std::process::Command;

#[test]
fn sel4_netserver_in_qemu_echoes_over_esp_with_a_host_node() {
    let Ok(loader) = std::env::var("NETSERVER_SEL4_LOADER") else {
        eprintln!(
            "SKIP: NETSERVER_SEL4_LOADER is not set (ci/sel4.sh test sets it with MICROKIT_SDK)"
        );
        return;
    };
    let timeout = std::env::var("QEMU_BOOT_TIMEOUT").unwrap_or_else(|_| "120".into());
    let boot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/vetted-boot.py");
    let (ok, out) = with_node_b(|pa, pb| {
        let out = Command::new("python3")
            .arg(&boot)
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
            .args(["--expect", "testpd client: done"])
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
            .args(["-device", "virtio-net-device,netdev=n0,mac=02:00:00:00:00:01"])
            .output()
            .expect("python3 runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    });
    println!("{out}");
    assert!(ok, "the seL4 node A did not echo through node B:\n{out}");
}
