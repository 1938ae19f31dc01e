//! The board facts against QEMU's `raspi4b` memory map (`info mtree -f`): the devices
//! QEMU models sit where `facts` says, and the two it does not model (GENET, RNG200)
//! are really absent. Skips, saying why, without `qemu-system-aarch64`.

use board_rpi4b::facts::{self, Region};
use std::io::Write;
use std::process::{Command, Stdio};

/// (start, end inclusive, name) of every flat-view region.
fn mtree() -> Vec<(u64, u64, String)> {
    let mut child = Command::new("qemu-system-aarch64")
        .args(["-M", "raspi4b", "-S", "-nographic", "-display", "none"])
        .args(["-serial", "none", "-monitor", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run qemu");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"info mtree -f\nquit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (range, rest) = l.trim().split_once(' ')?;
            let (a, b) = range.split_once('-')?;
            let name = rest.rsplit_once("): ")?.1.to_string();
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
                name,
            ))
        })
        .collect()
}

fn covering(map: &[(u64, u64, String)], addr: u64) -> Vec<&str> {
    map.iter()
        .filter(|(a, b, _)| *a <= addr && addr <= *b)
        .map(|(_, _, n)| n.as_str())
        .collect()
}

fn starts(map: &[(u64, u64, String)], r: Region, name: &str) -> bool {
    map.iter().any(|(a, _, n)| *a == r.base && n == name)
}

#[test]
fn facts_match_qemus_raspi4b() {
    if !Command::new("qemu-system-aarch64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("SKIP facts_match_qemus_raspi4b: needs qemu-system-aarch64");
        return;
    }
    let map = mtree();
    assert!(!map.is_empty(), "no memory map from QEMU");
    assert!(starts(&map, facts::UART0, "pl011"), "UART0");
    assert!(starts(&map, facts::AUX, "bcm2835-aux"), "AUX / mini UART");
    assert!(
        starts(&map, facts::GIC_DISTRIBUTOR, "gic_dist"),
        "GIC distributor"
    );
    assert!(
        starts(&map, facts::GIC_CPU_INTERFACE, "gic_cpu"),
        "GIC CPU interface"
    );
    assert!(
        covering(&map, facts::MAILBOX.base).contains(&"bcm2835-mbox"),
        "mailbox"
    );
    assert!(
        starts(&map, facts::SYSTEM_TIMER, "bcm2835-sys-timer"),
        "system timer"
    );
    // What QEMU leaves out: nothing answers at the GENET or the RNG200 but the
    // catch-all peripherals window.
    for (r, has) in [
        (facts::GENET, facts::QEMU_RASPI4B_HAS_GENET),
        (facts::RNG200, facts::QEMU_RASPI4B_HAS_RNG200),
    ] {
        let devices: Vec<&str> = covering(&map, r.base)
            .into_iter()
            .filter(|n| !n.contains("peripherals") && *n != "ram")
            .collect();
        assert_eq!(!devices.is_empty(), has, "{:#x}: {devices:?}", r.base);
    }
}
