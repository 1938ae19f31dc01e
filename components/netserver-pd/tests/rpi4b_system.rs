//! `system/sel4/node-a-rpi4b.system` against the Raspberry Pi 4's board
//! facts (`board_rpi4b::facts`) and against node A on QEMU virt: the same
//! PDs and channels, the Pi's devices where virt has its own.

use board_rpi4b::facts;
use sdf::{ProtectionDomain, SystemDescription};
use std::path::Path;

fn load(name: &str) -> SystemDescription {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../system/sel4")
        .join(name);
    // The prefill files (the demo's bundle and key) only need to exist here.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rpi4b-system-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["node-a.bundle", "admin.pub"] {
        std::fs::write(dir.join(f), b"x").unwrap();
    }
    let cfg = sdf::Config {
        search_paths: vec![dir],
        ..sdf::Config::default()
    };
    let sd = sdf::parse_file(&path, &cfg);
    let _ = std::fs::remove_dir_all(&cfg.search_paths[0]);
    sd.expect("the system description parses")
}

fn pd<'a>(sd: &'a SystemDescription, name: &str) -> &'a ProtectionDomain {
    sd.protection_domains
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no PD {name}"))
}

/// (physical address, size, cached) of what `pd` maps with `setvar_vaddr = var`.
fn mapping(sd: &SystemDescription, pd: &ProtectionDomain, var: &str) -> (Option<u64>, u64, bool) {
    let m = pd
        .maps
        .iter()
        .find(|m| m.setvar_vaddr.as_deref() == Some(var))
        .unwrap_or_else(|| panic!("{} maps no {var}", pd.name));
    let mr = sd
        .memory_regions
        .iter()
        .find(|r| r.name == m.mr)
        .expect("mapped region exists");
    (mr.phys_addr, mr.size, m.cached)
}

#[test]
fn the_netserver_has_the_pi_devices_of_the_board_facts() {
    let sd = load("node-a-rpi4b.system");
    let ns = pd(&sd, "netserver");
    assert_eq!(
        mapping(&sd, ns, "genet"),
        (Some(facts::GENET.base), facts::GENET.size, false)
    );
    let (phys, size, cached) = mapping(&sd, ns, "net_dma");
    assert_eq!(phys, None, "DMA memory is allocated RAM");
    assert!(!cached, "the GENET is not cache-coherent");
    // RING_LEN (src/genet.rs) descriptors each way, BUFFER_SIZE each
    assert!(size >= 2 * 64 * board_rpi4b::genet::BUFFER_SIZE as u64);
    assert!(ns
        .setvars
        .iter()
        .any(|v| format!("{v:?}").contains("net_dma_paddr")));
    let (phys, _, cached) = mapping(&sd, ns, "systimer");
    assert_eq!(phys, Some(facts::SYSTEM_TIMER.base));
    assert!(!cached);
    let irq = |id: u8| {
        ns.irqs
            .iter()
            .find(|i| i.id == id)
            .unwrap_or_else(|| panic!("no IRQ on channel {id}"))
    };
    assert_eq!(irq(3).irq, u64::from(facts::GENET_IRQ_0));
    assert!(!irq(3).edge_triggered);
    assert_eq!(irq(4).irq, u64::from(facts::SYSTEM_TIMER_IRQ_C1));
    assert!(!irq(4).edge_triggered);
    // no virt devices
    for var in ["dtb", "vetted_rtc", "virtio_mmio"] {
        assert!(
            sd.protection_domains.iter().all(|p| p
                .maps
                .iter()
                .all(|m| m.setvar_vaddr.as_deref() != Some(var))),
            "{var} is mapped"
        );
    }
}

#[test]
fn only_the_probe_child_touches_the_rng200_and_runs_first() {
    let sd = load("node-a-rpi4b.system");
    let ns_index = sd
        .protection_domains
        .iter()
        .position(|p| p.name == "netserver")
        .unwrap();
    let probe = pd(&sd, "hwprobe");
    assert_eq!(probe.parent, Some(ns_index));
    assert_eq!(probe.child_id, Some(5));
    assert!(probe.priority > sd.protection_domains[ns_index].priority);
    assert_eq!(probe.program_image, "rpi4b-hwprobe.elf");
    let (phys, _, cached) = mapping(&sd, probe, "rng200");
    assert_eq!(phys, Some(facts::RNG200.base & !0xfff));
    assert!(!cached);
    let (phys, _, _) = mapping(&sd, probe, "genet_probe");
    assert_eq!(phys, Some(facts::GENET.base));
    // the probe page is shared, nothing else maps the RNG200
    assert_eq!(mapping(&sd, probe, "hwprobe").0, None);
    let ns = &sd.protection_domains[ns_index];
    assert_eq!(
        mapping(&sd, ns, "hwprobe").1,
        mapping(&sd, probe, "hwprobe").1
    );
    let rng_mr = &probe
        .maps
        .iter()
        .find(|m| m.setvar_vaddr.as_deref() == Some("rng200"))
        .unwrap()
        .mr;
    let users: Vec<_> = sd
        .protection_domains
        .iter()
        .filter(|p| p.maps.iter().any(|m| &m.mr == rng_mr))
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(users, ["hwprobe"]);
}

#[test]
fn the_same_pds_and_channels_as_node_a_on_virt() {
    let pi = load("node-a-rpi4b.system");
    let virt = load("node-a-virt.system");
    let pds = |sd: &SystemDescription| {
        let mut v: Vec<_> = sd
            .protection_domains
            .iter()
            .filter(|p| p.name != "hwprobe")
            .map(|p| {
                (
                    p.name.clone(),
                    p.program_image.clone(),
                    p.priority,
                    p.passive,
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(pds(&pi), pds(&virt));
    let channels = |sd: &SystemDescription| {
        let name = |i: usize| sd.protection_domains[i].name.clone();
        let mut v: Vec<_> = sd
            .channels
            .iter()
            .map(|c| {
                (
                    name(c.end_a.pd),
                    c.end_a.id,
                    c.end_a.pp,
                    name(c.end_b.pd),
                    c.end_b.id,
                    c.end_b.pp,
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(channels(&pi), channels(&virt));
    // and the same buffers per PD
    let bufs = |sd: &SystemDescription| {
        let mut v: Vec<_> = sd
            .protection_domains
            .iter()
            .flat_map(|p| {
                p.maps.iter().filter_map(move |m| {
                    m.setvar_vaddr
                        .as_deref()
                        .filter(|s| {
                            s.starts_with("buf_")
                                || s.starts_with("policy")
                                || s.starts_with("admin")
                        })
                        .map(|s| (p.name.clone(), s.to_string(), m.mr.clone()))
                })
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(bufs(&pi), bufs(&virt));
}
