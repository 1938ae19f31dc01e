//! The board facts against the device tree QEMU itself generates for `virt`
//! (`-M virt,dumpdtb=...`, decoded with `dtc`). Skips, saying why, when
//! `qemu-system-aarch64` or `dtc` is missing (`ci/drivers.sh packages` installs both).

use board_qemu_virt_aarch64::facts::{self, Region};
use std::collections::HashMap;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Direct properties of every node, by node name (`pl011@9000000`), as cell lists.
fn parse_dts(dts: &str) -> HashMap<String, HashMap<String, Vec<u64>>> {
    let mut nodes: HashMap<String, HashMap<String, Vec<u64>>> = HashMap::new();
    let mut stack: Vec<String> = Vec::new();
    for line in dts.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_suffix(" {") {
            stack.push(name.to_string());
            nodes.entry(name.to_string()).or_default();
        } else if t == "};" {
            stack.pop();
        } else if let (Some(node), Some((key, value))) = (stack.last(), t.split_once(" = ")) {
            if let Some(cells) = value.strip_prefix('<').and_then(|v| v.strip_suffix(">;")) {
                let cells = cells
                    .split_whitespace()
                    .filter_map(|c| u64::from_str_radix(c.trim_start_matches("0x"), 16).ok())
                    .collect();
                nodes.get_mut(node).unwrap().insert(key.to_string(), cells);
            } else {
                nodes.get_mut(node).unwrap().insert(key.to_string(), vec![]);
            }
        }
    }
    nodes
}

fn dump(gic: u32) -> HashMap<String, HashMap<String, Vec<u64>>> {
    let dir = std::env::temp_dir().join(format!("board-virt-{}-{gic}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dtb = dir.join("virt.dtb");
    let st = Command::new("qemu-system-aarch64")
        .args([
            "-M",
            &format!("virt,gic-version={gic},dumpdtb={}", dtb.display()),
        ])
        .args([
            "-cpu",
            "cortex-a53",
            "-m",
            "2G",
            "-nographic",
            "-display",
            "none",
        ])
        .output()
        .expect("run qemu");
    assert!(
        st.status.success(),
        "qemu: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let out = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts"])
        .arg(&dtb)
        .output()
        .expect("run dtc");
    let _ = std::fs::remove_dir_all(&dir);
    parse_dts(&String::from_utf8_lossy(&out.stdout))
}

fn reg(r: Region) -> Vec<u64> {
    vec![
        r.base >> 32,
        r.base & 0xffff_ffff,
        r.size >> 32,
        r.size & 0xffff_ffff,
    ]
}

#[test]
fn facts_match_qemus_device_tree() {
    if !have("qemu-system-aarch64") || !have("dtc") {
        eprintln!("SKIP facts_match_qemus_device_tree: needs qemu-system-aarch64 and dtc");
        return;
    }
    for gic in [2, 3] {
        let n = dump(gic);
        let node = |name: &str| n.get(name).unwrap_or_else(|| panic!("no node {name}"));
        assert_eq!(
            node("memory@40000000")["reg"],
            reg(Region {
                base: facts::RAM_BASE,
                size: facts::RAM_SIZE
            })
        );
        assert_eq!(node("pl011@9000000")["reg"], reg(facts::UART));
        assert_eq!(
            node("pl011@9000000")["interrupts"],
            [0, u64::from(facts::UART_IRQ - 32), 4]
        );
        assert_eq!(node("pl031@9010000")["reg"], reg(facts::RTC));
        assert_eq!(
            node("pl031@9010000")["interrupts"],
            [0, u64::from(facts::RTC_IRQ - 32), 4]
        );
        assert_eq!(node("fw-cfg@9020000")["reg"], reg(facts::FW_CFG));
        assert_eq!(
            node("pl061@9030000")["interrupts"],
            [0, u64::from(facts::GPIO_IRQ - 32), 4]
        );
        for s in facts::virtio_slots() {
            let v = node(&format!("virtio_mmio@{:x}", s.region.base));
            assert_eq!(v["reg"], reg(s.region));
            let edge = if facts::VIRTIO_MMIO_IRQ_EDGE { 1 } else { 4 };
            assert_eq!(v["interrupts"], [0, u64::from(s.irq - 32), edge]);
        }
        let intc = &node("intc@8000000")["reg"];
        let expect: Vec<u64> = if gic == 2 {
            [
                reg(facts::GICV2_DISTRIBUTOR),
                reg(facts::GICV2_CPU_INTERFACE),
            ]
            .concat()
        } else {
            [
                reg(facts::GICV3_DISTRIBUTOR),
                reg(facts::GICV3_REDISTRIBUTORS),
            ]
            .concat()
        };
        assert_eq!(intc, &expect, "GICv{gic}");
        assert!(
            node("chosen").contains_key("rng-seed"),
            "rng-seed in /chosen"
        );
        let timer = &node("timer")["interrupts"];
        let ppis: Vec<u32> = timer.chunks(3).map(|c| c[1] as u32 + 16).collect();
        assert_eq!(ppis, facts::TIMER_IRQS);
    }
}
