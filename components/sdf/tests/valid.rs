//! Valid descriptions parse into exactly the expected model.

use sdf::*;

fn loc(line: u32, column: u32) -> Loc {
    Loc { line, column }
}

fn pd(name: &str, priority: u8, image: &str, l: Loc) -> ProtectionDomain {
    ProtectionDomain {
        name: name.into(),
        priority,
        budget: 1000,
        period: 1000,
        passive: false,
        stack_size: 0x2000,
        program_image: image.into(),
        maps: vec![],
        irqs: vec![],
        setvars: vec![],
        parent: None,
        child_id: None,
        loc: l,
        setvar_id: None,
        program_image_for_symbols: None,
        smc: false,
        cpu: 0,
        domain: None,
        fpu: true,
        ioports: vec![],
        cap_maps: vec![],
        virtual_machine: None,
    }
}

fn mr(name: &str, size: u64, page_size: PageSize, l: Loc) -> MemoryRegion {
    MemoryRegion {
        name: name.into(),
        size,
        page_size,
        phys_addr: None,
        loc: l,
        page_size_specified: false,
        paddr_tool_allocated: false,
        prefill: None,
        prefill_bootinfo: None,
    }
}

const RW: Perms = Perms {
    read: true,
    write: true,
    execute: false,
};
const R: Perms = Perms {
    read: true,
    write: false,
    execute: false,
};

fn map(mr: &str, vaddr: u64, perms: Perms, cached: bool, l: Loc) -> Map {
    Map {
        mr: mr.into(),
        vaddr,
        perms,
        cached,
        setvar_vaddr: None,
        setvar_size: None,
        setvar_prefill_size: None,
        loc: l,
    }
}

#[test]
fn full_example_parses_into_the_exact_model() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/valid_full.system"
    );
    let sd = parse_file(path, &Config::default()).expect("valid");

    let mut client = pd("client", 10, "client.elf", loc(8, 5));
    client.budget = 500;
    client.period = 2000;
    client.stack_size = 0x4000;
    client.maps = vec![
        Map {
            setvar_vaddr: Some("shared_vaddr".into()),
            ..map("shared", 0x400_0000, RW, true, loc(10, 9))
        },
        map("big", 0x2000_0000, R, false, loc(11, 9)),
    ];
    client.setvars = vec![SetVar {
        symbol: "shared_paddr".into(),
        region_paddr: "shared".into(),
        loc: loc(12, 9),
    }];

    let mut server = pd("server", 20, "server.elf", loc(15, 5));
    server.passive = true;
    server.maps = vec![
        map("shared", 0x500_0000, R, true, loc(17, 9)),
        map("uart", 0x600_0000, RW, false, loc(18, 9)),
    ];
    server.irqs = vec![Irq {
        irq: 33,
        id: 5,
        edge_triggered: true,
        setvar_id: None,
        kind: IrqKind::Conventional,
        loc: loc(19, 9),
    }];

    let mut child = pd("child", 5, "child.elf", loc(20, 9));
    child.parent = Some(1);
    child.child_id = Some(1);

    let mut shared = mr("shared", 0x1000, PageSize::Small, loc(4, 5));
    shared.paddr_tool_allocated = true;
    let mut uart = mr("uart", 0x1000, PageSize::Small, loc(5, 5));
    uart.phys_addr = Some(0x900_0000);
    // 4 MiB, mapped at a 2 MiB-aligned address: the tool picks large pages.
    let big = mr("big", 0x40_0000, PageSize::Large, loc(6, 5));

    let expected = SystemDescription {
        protection_domains: vec![client, server, child],
        memory_regions: vec![shared, uart, big],
        channels: vec![Channel {
            end_a: ChannelEnd {
                pd: 0,
                id: 0,
                pp: true,
                notify: false,
                setvar_id: None,
                loc: loc(26, 9),
            },
            end_b: ChannelEnd {
                pd: 1,
                id: 3,
                pp: false,
                notify: true,
                setvar_id: Some("client_ch".into()),
                loc: loc(27, 9),
            },
            loc: loc(25, 5),
        }],
        io_maps: vec![],
        domains: None,
        warnings: vec![],
    };
    assert_eq!(sd, expected);
}
