//! What Microkit 2.3.0 accepts, including its defaults and its quirks, and
//! how it lands in the model.

mod common;
use common::*;

const RW: Perms = Perms {
    read: true,
    write: true,
    execute: false,
};

fn one_pd(attrs: &str, body: &str) -> String {
    format!(
        "<system>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n  <protection_domain name=\"a\" {attrs}>\n    <program_image path=\"a.elf\"/>\n{body}\n  </protection_domain>\n</system>"
    )
}

#[test]
fn defaults() {
    let sd = ok(&with_ab(
        "  <memory_region name=\"m\" size=\"0x1000\"/>\n  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>",
    ));
    let a = &sd.protection_domains[0];
    assert_eq!(a.priority, 1);
    assert_eq!((a.budget, a.period), (BUDGET_DEFAULT, BUDGET_DEFAULT));
    assert!(!a.passive && !a.smc && a.fpu);
    assert_eq!(
        (a.stack_size, a.cpu, a.domain),
        (PD_DEFAULT_STACK_SIZE, 0, None)
    );
    let ch = &sd.channels[0];
    assert!(ch.end_a.notify && !ch.end_a.pp && ch.end_b.notify && !ch.end_b.pp);
    assert_eq!(sd.memory_regions[0].page_size, PageSize::Small);

    let sd = ok(&one_pd(
        "",
        "    <map mr=\"m\" vaddr=\"0x1000\"/>\n    <irq irq=\"9\" id=\"0\"/>",
    ));
    let a = &sd.protection_domains[0];
    assert_eq!(a.priority, 0);
    assert_eq!(a.maps[0].perms, RW);
    assert!(a.maps[0].cached);
    assert!(!a.irqs[0].edge_triggered);
    assert_eq!(a.irqs[0].kind, IrqKind::Conventional);
}

#[test]
fn budget_alone_sets_the_period() {
    let sd = ok(&one_pd("budget=\"2000\"", ""));
    assert_eq!(sd.protection_domains[0].period, 2000);
    let sd = ok(&one_pd("budget=\"2000\" period=\"2000\"", ""));
    assert_eq!(sd.protection_domains[0].budget, 2000);
}

#[test]
fn bounds_are_inclusive() {
    assert_eq!(
        ok(&one_pd("priority=\"254\"", "")).protection_domains[0].priority,
        254
    );
    assert_eq!(
        ok(&one_pd("stack_size=\"0x1000\"", "")).protection_domains[0].stack_size,
        0x1000
    );
    assert_eq!(
        ok(&one_pd("stack_size=\"0x1000000\"", "")).protection_domains[0].stack_size,
        0x100_0000
    );
    let sd = ok(&one_pd(
        "",
        "    <irq irq=\"1\" id=\"0\"/>\n    <irq irq=\"2\" id=\"61\"/>",
    ));
    assert_eq!(sd.protection_domains[0].irqs[1].id, 61);
    // The last page below the stack (default 8 KiB, guard page, IPC buffer).
    let sd = ok(&one_pd("", "    <map mr=\"m\" vaddr=\"0xffffffb000\"/>"));
    assert_eq!(sd.protection_domains[0].maps[0].vaddr, 0xff_ffff_b000);
}

#[test]
fn numbers_decimal_hex_underscores_and_plus() {
    let sd = ok(&with_ab(
        "  <memory_region name=\"a1\" size=\"4096\"/>\n  <memory_region name=\"a2\" size=\"0x1_000\"/>\n  <memory_region name=\"a3\" size=\"+8192\"/>\n  <memory_region name=\"a4\" size=\"1_6384\"/>",
    ));
    let sizes: Vec<u64> = sd.memory_regions.iter().map(|m| m.size).collect();
    assert_eq!(sizes, [0x1000, 0x1000, 0x2000, 0x4000]);
}

#[test]
fn perms_combinations() {
    let sd = ok(&one_pd(
        "",
        "    <map mr=\"m\" vaddr=\"0x1000\" perms=\"\"/>\n    <map mr=\"m\" vaddr=\"0x2000\" perms=\"x\"/>\n    <map mr=\"m\" vaddr=\"0x3000\" perms=\"xwr\"/>\n    <map mr=\"m\" vaddr=\"0x4000\" perms=\"wx\"/>",
    ));
    let perms: Vec<Perms> = sd.protection_domains[0]
        .maps
        .iter()
        .map(|m| m.perms)
        .collect();
    assert_eq!(perms[0], Perms::default());
    assert!(perms[1].execute && !perms[1].read && !perms[1].write);
    assert!(perms[2].read && perms[2].write && perms[2].execute);
    assert!(perms[3].write && perms[3].execute && !perms[3].read);
}

#[test]
fn xml_leniency_of_the_tool() {
    // Attributes on <system>, comments, processing instructions, text inside
    // elements other than <system>, and namespace prefixes are all accepted.
    let text = "<?xml version=\"1.0\"?>\n<!-- c -->\n<system version=\"9\" xmlns:q=\"urn:q\">\n  <?pi data?>\n  <q:protection_domain name=\"a\">hello\n    <program_image path=\"a\">text</program_image>\n  </q:protection_domain>\n</system>\n<!-- trailing -->";
    let sd = ok(text);
    assert_eq!(sd.protection_domains[0].name, "a");
    assert_eq!(sd.protection_domains[0].loc, Loc { line: 5, column: 3 });
}

#[test]
fn channel_to_itself_with_the_same_id_is_accepted() {
    // Microkit 2.3.0 checks both ends against ids seen before the channel,
    // so a loop-back channel may use one id twice.
    let sd = ok(&with_ab(
        "  <channel>\n    <end pd=\"a\" id=\"4\"/>\n    <end pd=\"a\" id=\"4\"/>\n  </channel>",
    ));
    assert_eq!((sd.channels[0].end_a.pd, sd.channels[0].end_b.pd), (0, 0));
}

#[test]
fn protected_call_to_higher_priority_either_end() {
    let sd = ok(&with_ab(
        "  <channel>\n    <end pd=\"a\" id=\"0\" pp=\"true\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>\n  <channel>\n    <end pd=\"b\" id=\"1\"/>\n    <end pd=\"a\" id=\"1\" pp=\"true\" notify=\"false\"/>\n  </channel>",
    ));
    assert!(sd.channels[0].end_a.pp);
    assert!(sd.channels[1].end_b.pp && !sd.channels[1].end_b.notify);
}

#[test]
fn unused_region_and_long_name_are_warnings() {
    let long = "p".repeat(65);
    let text = format!(
        "<system>\n  <memory_region name=\"spare\" size=\"0x1000\"/>\n  <protection_domain name=\"{long}\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>"
    );
    let sd = ok(&text);
    assert_eq!(
        sd.warnings,
        vec![
            Warning::UnusedMemoryRegion {
                name: "spare".into(),
                loc: Loc { line: 2, column: 3 }
            },
            Warning::LongPdName {
                name: long.clone(),
                loc: Loc { line: 3, column: 3 }
            },
        ]
    );
    assert_eq!(sd.warnings[0].to_string(), "unused memory region 'spare'");
    // 64 bytes is fine.
    assert!(ok(&text.replace(&long, &"p".repeat(64))).warnings.len() == 1);
}

#[test]
fn page_size_is_chosen_like_the_tool() {
    let text = "<system>\n  <memory_region name=\"aligned\" size=\"0x400000\"/>\n  <memory_region name=\"unaligned\" size=\"0x400000\"/>\n  <memory_region name=\"fixed\" size=\"0x400000\" page_size=\"0x1000\"/>\n  <memory_region name=\"dev\" size=\"0x200000\" phys_addr=\"0x9001000\"/>\n  <memory_region name=\"odd\" size=\"0x201000\"/>\n  <memory_region name=\"unmapped\" size=\"0x200000\"/>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <map mr=\"aligned\" vaddr=\"0x20000000\"/>\n    <map mr=\"unaligned\" vaddr=\"0x30001000\"/>\n    <map mr=\"fixed\" vaddr=\"0x40000000\"/>\n    <map mr=\"dev\" vaddr=\"0x50000000\"/>\n    <map mr=\"odd\" vaddr=\"0x60000000\"/>\n  </protection_domain>\n</system>";
    let sd = ok(text);
    let sizes: Vec<(&str, PageSize, bool)> = sd
        .memory_regions
        .iter()
        .map(|m| (m.name.as_str(), m.page_size, m.page_size_specified))
        .collect();
    assert_eq!(
        sizes,
        [
            ("aligned", PageSize::Large, false),
            ("unaligned", PageSize::Small, false),
            ("fixed", PageSize::Small, true),
            ("dev", PageSize::Small, false),
            ("odd", PageSize::Small, false),
            ("unmapped", PageSize::Large, false),
        ]
    );
}

#[test]
fn zero_sized_region_is_accepted() {
    let sd = ok(&one_pd("", "    <map mr=\"z\" vaddr=\"0x1000\"/>")
        .replace("name=\"m\" size=\"0x1000\"", "name=\"z\" size=\"0\""));
    assert_eq!(sd.memory_regions[0].size, 0);
}

#[test]
fn region_paddr_marks_tool_allocation() {
    let sd = ok(&one_pd(
        "",
        "    <setvar symbol=\"m_paddr\" region_paddr=\"m\"/>\n    <setvar symbol=\"x_paddr\" region_paddr=\"nonexistent\"/>",
    ));
    assert!(sd.memory_regions[0].paddr_tool_allocated);
    assert_eq!(
        sd.protection_domains[0].setvars[1].region_paddr,
        "nonexistent"
    );
    // With a fixed address there is nothing to allocate, also on x86.
    let fixed = one_pd("", "    <setvar symbol=\"m_paddr\" region_paddr=\"m\"/>").replace(
        "size=\"0x1000\"",
        "size=\"0x1000\" phys_addr=\"0x10000000\"",
    );
    let sd = ok_with(&Config::x86_64(), &fixed);
    assert!(!sd.memory_regions[0].paddr_tool_allocated);
    assert_eq!(sd.memory_regions[0].phys_addr, Some(0x1000_0000));
}

#[test]
fn all_setvar_kinds_land_in_the_model() {
    let sd = ok(&one_pd(
        "",
        "    <map mr=\"m\" vaddr=\"0x1000\" setvar_vaddr=\"v\" setvar_size=\"s\"/>\n    <irq irq=\"40\" id=\"2\" setvar_id=\"i\"/>\n    <protection_domain name=\"c\" id=\"3\" setvar_id=\"c_id\">\n      <program_image path=\"c\" path_for_symbols=\"c.debug\"/>\n    </protection_domain>",
    ));
    let a = &sd.protection_domains[0];
    assert_eq!(a.maps[0].setvar_vaddr.as_deref(), Some("v"));
    assert_eq!(a.maps[0].setvar_size.as_deref(), Some("s"));
    assert_eq!(a.irqs[0].setvar_id.as_deref(), Some("i"));
    let c = &sd.protection_domains[1];
    assert_eq!(
        (c.parent, c.child_id, c.setvar_id.as_deref()),
        (Some(0), Some(3), Some("c_id"))
    );
    assert_eq!(c.program_image_for_symbols.as_deref(), Some("c.debug"));
}

#[test]
fn nested_children_flatten_depth_first() {
    // A has children B and C, B has child D: the order is A, B, D, C.
    let text = "<system>\n  <protection_domain name=\"A\" priority=\"10\">\n    <program_image path=\"a\"/>\n    <protection_domain name=\"B\" id=\"0\">\n      <program_image path=\"b\"/>\n      <protection_domain name=\"D\" id=\"0\">\n        <program_image path=\"d\"/>\n      </protection_domain>\n    </protection_domain>\n    <protection_domain name=\"C\" id=\"1\">\n      <program_image path=\"c\"/>\n    </protection_domain>\n  </protection_domain>\n  <protection_domain name=\"E\">\n    <program_image path=\"e\"/>\n  </protection_domain>\n</system>";
    let sd = ok(text);
    let got: Vec<(&str, Option<usize>, Option<u8>)> = sd
        .protection_domains
        .iter()
        .map(|p| (p.name.as_str(), p.parent, p.child_id))
        .collect();
    assert_eq!(
        got,
        [
            ("A", None, None),
            ("B", Some(0), Some(0)),
            ("D", Some(1), Some(0)),
            ("C", Some(0), Some(1)),
            ("E", None, None),
        ]
    );
}

#[test]
fn smc_and_cpu_follow_the_config() {
    let sd = ok(&one_pd("smc=\"true\"", ""));
    assert!(sd.protection_domains[0].smc);
    let sd = ok_with(&Config::default().smp(4), &one_pd("cpu=\"3\"", ""));
    assert_eq!(sd.protection_domains[0].cpu, 3);
}

#[test]
fn virtual_machine_on_aarch64() {
    let text = "<system>\n  <memory_region name=\"ram\" size=\"0x10000000\" page_size=\"0x200000\"/>\n  <protection_domain name=\"vmm\" priority=\"254\">\n    <program_image path=\"vmm.elf\"/>\n    <virtual_machine name=\"guest\" priority=\"300\" budget=\"100\" period=\"200\">\n      <vcpu id=\"0\" setvar_id=\"ignored\"/>\n      <vcpu id=\"1\"/>\n      <map mr=\"ram\" vaddr=\"0x40000000\" perms=\"rwx\"/>\n    </virtual_machine>\n  </protection_domain>\n</system>";
    let sd = ok(text);
    let vm = sd.protection_domains[0].virtual_machine.as_ref().unwrap();
    assert_eq!(vm.name, "guest");
    assert_eq!(vm.vcpus.len(), 2);
    // Microkit 2.3.0 reads a vcpu's setvar_id from the wrong element.
    assert_eq!(vm.vcpus[0].setvar_id, None);
    // ... and keeps the low 8 bits of an unbounded VM priority.
    assert_eq!(vm.priority, (300u32 % 256) as u8);
    assert_eq!((vm.budget, vm.period), (100, 200));
    assert_eq!(vm.maps[0].vaddr, 0x4000_0000);
    // The VM maps count as uses of the region.
    assert!(sd.warnings.is_empty());
    // VM maps may go up to the top of the address space (no stack there).
    let top = text.replace("0x40000000", "0xfff0000000");
    assert!(parse(&top, "t", &Config::default()).is_ok());
}

#[test]
fn cspace_entries_resolve_pd_indices() {
    let text = "<system>\n  <protection_domain name=\"a\" priority=\"2\">\n    <program_image path=\"a\"/>\n    <cspace>\n      <cap_tcb slot=\"1\" pd=\"b\"/>\n      <cap_sc slot=\"2\" pd=\"b\"/>\n      <cap_vspace slot=\"127\" pd=\"a\"/>\n    </cspace>\n  </protection_domain>\n  <protection_domain name=\"b\" priority=\"1\">\n    <program_image path=\"b\"/>\n  </protection_domain>\n</system>";
    let sd = ok(text);
    let caps: Vec<(CapType, usize, u64)> = sd.protection_domains[0]
        .cap_maps
        .iter()
        .map(|c| (c.cap_type, c.pd, c.slot))
        .collect();
    assert_eq!(
        caps,
        [
            (CapType::Tcb, 1, 1),
            (CapType::Sc, 1, 2),
            (CapType::VSpace, 0, 127)
        ]
    );
}

#[test]
fn x86_interrupts_ioports_and_iommu() {
    let text = "<system>\n  <memory_region name=\"dma\" size=\"0x2000\"/>\n  <protection_domain name=\"drv\" priority=\"10\">\n    <program_image path=\"drv\"/>\n    <irq pin=\"4\" ioapic=\"1\" vector=\"20\" id=\"0\" trigger=\"edge\" polarity=\"low\"/>\n    <irq pcidev=\"1f:1f.7\" handle=\"2\" vector=\"21\" id=\"1\"/>\n    <ioport id=\"2\" addr=\"0x3f8\" size=\"8\" setvar_addr=\"com1\"/>\n    <ioport id=\"3\" addr=\"0x400\" size=\"8\"/>\n  </protection_domain>\n  <io_address_space name=\"nic\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <iomap mr=\"dma\" iovaddr=\"0x0\" perms=\"w\"/>\n  </io_address_space>\n  <io_address_space name=\"disk\" peripheral_id=\"0:4.0\" domain_id=\"2\">\n    <iomap mr=\"dma\" iovaddr=\"0x0\"/>\n  </io_address_space>\n</system>";
    let sd = ok_with(&Config::x86_64(), text);
    let drv = &sd.protection_domains[0];
    assert_eq!(
        drv.irqs[0].kind,
        IrqKind::IoApic {
            ioapic: 1,
            pin: 4,
            polarity_low: true
        }
    );
    assert_eq!((drv.irqs[0].irq, drv.irqs[0].edge_triggered), (20, true));
    assert_eq!(
        drv.irqs[1].kind,
        IrqKind::Msi {
            pci: PciDevice {
                bus: 0x1f,
                device: 0x1f,
                function: 7
            },
            handle: 2
        }
    );
    assert_eq!(drv.ioports[0].setvar_addr.as_deref(), Some("com1"));
    assert_eq!((drv.ioports[1].addr, drv.ioports[1].size), (0x400, 8));
    assert_eq!(sd.io_maps.len(), 2);
    assert_eq!(sd.io_maps[0].perms, IoPerms::Write);
    assert_eq!(sd.io_maps[1].perms, IoPerms::ReadWrite);
    assert_eq!(sd.io_maps[1].pci.to_string(), "00:04.0");
    // The region is only used by IOMMU maps: the tool warns about it.
    assert_eq!(sd.warnings.len(), 1);
}

#[test]
fn domains_and_schedule() {
    let text = "<system>\n  <protection_domain name=\"early\">\n    <program_image path=\"e\"/>\n  </protection_domain>\n  <domains>\n    <domain name=\"x\"/>\n    <domain name=\"y\" id=\"0\"/>\n    <domain_schedule start_index=\"1\" index_shift=\"2\">\n      <schedule_entry domain=\"x\" duration=\"0x10 ticks\"/>\n      <schedule_entry domain=\"y\" duration=\"500 us\"/>\n      <schedule_end_marker/>\n    </domain_schedule>\n  </domains>\n  <protection_domain name=\"late\" domain=\"x\">\n    <program_image path=\"l\"/>\n  </protection_domain>\n</system>";
    let sd = ok(text);
    // A PD before <domains> is parsed without a schedule and needs no domain.
    assert_eq!(sd.protection_domains[0].domain, None);
    assert_eq!(sd.protection_domains[1].domain, Some(1));
    let d = sd.domains.unwrap();
    assert_eq!(d.names, vec![("x".to_string(), 1), ("y".to_string(), 0)]);
    assert_eq!((d.start_index, d.index_shift), (1, Some(2)));
    assert_eq!(
        d.schedule,
        vec![
            ScheduleEntry {
                domain: 1,
                duration: Duration::Ticks(16)
            },
            ScheduleEntry {
                domain: 0,
                duration: Duration::Us(500)
            },
            ScheduleEntry {
                domain: 0,
                duration: Duration::EndMarker
            },
        ]
    );
}

// ------------------------------------------------------------ prefill ----

fn prefill_dir(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sdf-prefill-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
    dir
}

fn prefill_system(mr_attrs: &str, map_attrs: &str) -> String {
    format!(
        "<system>\n  <memory_region name=\"p\" {mr_attrs}/>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <map mr=\"p\" vaddr=\"0x10000000\" {map_attrs}/>\n  </protection_domain>\n</system>"
    )
}

#[test]
fn prefill_sizes_and_errors() {
    let dir = prefill_dir("small.bin", &[7u8; 5000]);
    let cfg = Config {
        search_paths: vec!["/nonexistent".into(), dir.clone()],
        ..Config::default()
    };
    // No size: rounded up to the page size.
    let sd = ok_with(
        &cfg,
        &prefill_system("prefill_path=\"small.bin\"", "setvar_prefill_size=\"n\""),
    );
    let mr = &sd.memory_regions[0];
    assert_eq!(mr.size, 0x2000);
    let p = mr.prefill.as_ref().unwrap();
    assert_eq!((p.path.as_str(), p.len), ("small.bin", 5000));
    assert_eq!(p.resolved, dir.join("small.bin"));
    // A size that holds the file.
    let sd = ok_with(
        &cfg,
        &prefill_system("prefill_path=\"small.bin\" size=\"0x3000\"", ""),
    );
    assert_eq!(sd.memory_regions[0].size, 0x3000);
    // Too small.
    let e = err_with(
        &cfg,
        &prefill_system("prefill_path=\"small.bin\" size=\"0x1000\"", ""),
    );
    assert!(
        matches!(
            e.kind,
            ErrorKind::PrefillTooLarge {
                len: 5000,
                size: 0x1000
            }
        ),
        "{e}"
    );
    assert_eq!(e.line(), 2);
    // Not on the search path.
    let e = err_with(
        &Config::default(),
        &prefill_system("prefill_path=\"small.bin\"", ""),
    );
    assert!(matches!(e.kind, ErrorKind::PrefillNotFound(_)), "{e}");
    // Both kinds.
    let e = err_with(
        &cfg,
        &prefill_system("prefill_path=\"small.bin\" prefill_bootinfo=\"fdt\"", ""),
    );
    assert!(matches!(e.kind, ErrorKind::PrefillBothKinds), "{e}");
    // A directory is found but cannot be read.
    let e = err_with(
        &Config {
            search_paths: vec![std::env::temp_dir()],
            ..Config::default()
        },
        &prefill_system(
            &format!(
                "prefill_path=\"{}\"",
                dir.file_name().unwrap().to_str().unwrap()
            ),
            "",
        ),
    );
    assert!(matches!(e.kind, ErrorKind::PrefillUnreadable(_)), "{e}");
    // setvar_prefill_size on a region that is not prefilled.
    let e = err_with(
        &cfg,
        &prefill_system("size=\"0x1000\"", "setvar_prefill_size=\"n\""),
    );
    assert!(
        matches!(e.kind, ErrorKind::PrefillSizeWithoutPrefill { .. }),
        "{e}"
    );
    assert_eq!(e.line(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn prefill_empty_file_is_rejected() {
    let dir = prefill_dir("empty.bin", &[]);
    let cfg = Config {
        search_paths: vec![dir.clone()],
        ..Config::default()
    };
    let e = err_with(&cfg, &prefill_system("prefill_path=\"empty.bin\"", ""));
    assert!(matches!(e.kind, ErrorKind::PrefillEmpty(_)), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bootinfo_prefill_takes_one_page() {
    let sd = ok_with(
        &Config::x86_64(),
        &prefill_system("prefill_bootinfo=\"x86_tsc_freq\"", ""),
    );
    assert_eq!(sd.memory_regions[0].size, 0x1000);
    assert_eq!(
        sd.memory_regions[0].prefill_bootinfo,
        Some(BootInfoFill::X86TscFreq)
    );
}

#[test]
fn error_messages_read_like_the_tool() {
    let e = err_with(
        &Config::default(),
        &with_ab("  <channel>\n    <end pd=\"b\" id=\"0\" pp=\"true\"/>\n    <end pd=\"a\" id=\"0\"/>\n  </channel>"),
    );
    assert_eq!(
        e.to_string(),
        "t.system:8:3: PPCs must be to protection domains of strictly higher priorities; channel with PPC exists from pd b (priority: 2) to pd a (priority: 1)"
    );
    let e = err_with(&Config::default(), &one_pd("foo=\"1\"", ""));
    assert_eq!(
        e.to_string(),
        "t.system:3:3: invalid attribute 'foo' on element 'protection_domain'"
    );
    let e = err_with(
        &Config::default(),
        &one_pd("", "    <map mr=\"m\" vaddr=\"0x1000000000000000\"/>"),
    );
    assert_eq!(
        e.to_string(),
        "t.system:5:5: vaddr (0x1000000000000000) must be less than 0xffffffc000 on element 'map'"
    );
}

#[test]
fn lookup_helpers() {
    let sd = ok(&with_ab(
        "  <memory_region name=\"m\" size=\"0x1000\"/>\n  <channel>\n    <end pd=\"a\" id=\"0\" pp=\"true\"/>\n    <end pd=\"b\" id=\"5\"/>\n  </channel>\n  <channel>\n    <end pd=\"a\" id=\"1\"/>\n    <end pd=\"a\" id=\"2\"/>\n  </channel>",
    ));
    assert_eq!(sd.pd_index("b"), Some(1));
    assert_eq!(sd.pd_index("nope"), None);
    assert_eq!(sd.memory_region("m").map(|m| m.size), Some(0x1000));
    let of_a: Vec<(u8, u8)> = sd.channel_ends(0).map(|(l, r)| (l.id, r.id)).collect();
    assert_eq!(of_a, [(0, 5), (1, 2), (2, 1)]);
    let of_b: Vec<(u8, usize)> = sd.channel_ends(1).map(|(l, r)| (l.id, r.pd)).collect();
    assert_eq!(of_b, [(5, 0)]);
    assert_eq!(sd.children(0).count(), 0);
    assert_eq!(RW.as_microkit_str(), "rw");
}

#[test]
fn board_presets() {
    assert_eq!(
        Config::for_board("qemu_virt_aarch64"),
        Some(Config::default())
    );
    assert!(
        !Config::for_board("qemu_virt_aarch64_el1")
            .unwrap()
            .hypervisor
    );
    assert_eq!(
        Config::for_board("rpi4b_4gb").unwrap().vspace_user_top,
        0xfff_ffff_ffff
    );
    assert_eq!(
        Config::for_board("x86_64_generic").unwrap().arch,
        Arch::X86_64
    );
    assert_eq!(Config::for_board("maaxboard"), None);
    // The Pi's larger address space admits mappings QEMU's does not.
    let text = "<system>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <map mr=\"m\" vaddr=\"0x10000000000\"/>\n  </protection_domain>\n</system>";
    assert!(parse(text, "t", &Config::rpi4b()).is_ok());
    assert!(matches!(
        parse(text, "t", &Config::default()).unwrap_err().kind,
        ErrorKind::VaddrTooHigh { .. }
    ));
}
