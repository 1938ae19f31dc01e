//! One test per rule of the Microkit 2.3.0 system description checks: each
//! asserts the error kind and the line it is reported at.

mod common;
use common::*;

fn dflt() -> Config {
    Config::default()
}

// ---------------------------------------------------------------- XML ----

rejects!(
    xml_not_well_formed,
    dflt(),
    3,
    "<system>\n  <protection_domain name=\"a\">\n  </system>",
    ErrorKind::Xml(_)
);
rejects!(
    xml_dtd_rejected,
    dflt(),
    1,
    "<!DOCTYPE system [<!ENTITY x \"y\">]>\n<system/>",
    ErrorKind::Xml(_)
);
rejects!(
    xml_root_not_system,
    dflt(),
    2,
    "<?xml version=\"1.0\"?>\n<sys>\n</sys>",
    ErrorKind::RootNotSystem(_)
);
rejects!(
    xml_text_in_system,
    dflt(),
    1,
    "<system>asdf\n<protection_domain name=\"a\"><program_image path=\"a\"/></protection_domain>\n</system>",
    ErrorKind::UnexpectedText(_)
);
rejects!(
    xml_text_between_elements,
    dflt(),
    3,
    "<system>\n<protection_domain name=\"a\"><program_image path=\"a\"/></protection_domain>\n  stray\n</system>",
    ErrorKind::UnexpectedText(_)
);
rejects!(
    xml_unknown_top_element,
    dflt(),
    8,
    &with_ab("  <protection_domains/>"),
    ErrorKind::InvalidElement { .. }
);
rejects!(
    xml_unknown_pd_element,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <mapping mr=\"x\" vaddr=\"0\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidElement { .. }
);
rejects!(
    xml_unknown_channel_element,
    dflt(),
    10,
    &with_ab(
        "  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <ending pd=\"b\" id=\"0\"/>\n  </channel>"
    ),
    ErrorKind::InvalidElement { .. }
);

// ---------------------------------------------------- attributes ----

rejects!(
    attr_unknown_on_pd,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\" foo=\"1\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_id_on_root_pd,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\" id=\"1\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_unknown_on_program_image,
    dflt(),
    3,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\" foo=\"x\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_unknown_on_map,
    dflt(),
    4,
    "<system>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n  <protection_domain name=\"a\">\n    <map mr=\"m\" vaddr=\"0x1000\" page_size=\"0x1000\"/>\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_unknown_on_memory_region,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x1000\" page_count=\"1\"/>"),
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_unknown_on_channel,
    dflt(),
    8,
    &with_ab("  <channel foo=\"bar\">\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>"),
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_unknown_on_end,
    dflt(),
    9,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\" prio=\"1\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>"),
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_unknown_on_irq,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <irq irq=\"33\" id=\"1\" level=\"yes\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_unknown_on_setvar,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <setvar symbol=\"s\" region_paddr=\"m\" vaddr=\"1\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    attr_missing_pd_name,
    dflt(),
    2,
    "<system>\n  <protection_domain priority=\"1\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "name", .. }
);
rejects!(
    attr_missing_program_image_path,
    dflt(),
    3,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "path", .. }
);
rejects!(
    attr_missing_map_mr,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <map vaddr=\"0x1000\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "mr", .. }
);
rejects!(
    attr_missing_map_vaddr,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <map mr=\"m\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "vaddr", .. }
);
rejects!(
    attr_missing_irq_id,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <irq irq=\"33\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "id", .. }
);
rejects!(
    attr_missing_irq_number,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <irq id=\"1\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "irq", .. }
);
rejects!(
    attr_missing_setvar_symbol,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <setvar region_paddr=\"m\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "symbol", .. }
);
rejects!(
    attr_missing_setvar_region,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <setvar symbol=\"s\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "region_paddr", .. }
);
rejects!(
    attr_missing_mr_name,
    dflt(),
    8,
    &with_ab("  <memory_region size=\"0x1000\"/>"),
    ErrorKind::MissingAttribute {
        attribute: "name",
        ..
    }
);
rejects!(
    attr_missing_end_pd,
    dflt(),
    9,
    &with_ab("  <channel>\n    <end id=\"0\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>"),
    ErrorKind::MissingAttribute {
        attribute: "pd",
        ..
    }
);
rejects!(
    attr_missing_end_id,
    dflt(),
    10,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\"/>\n  </channel>"),
    ErrorKind::MissingAttribute {
        attribute: "id",
        ..
    }
);

// ------------------------------------------------------- numbers ----

rejects!(
    number_malformed,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x200_000sd\"/>"),
    ErrorKind::InvalidNumber { .. }
);
rejects!(
    number_uppercase_hex_prefix,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0X1000\"/>"),
    ErrorKind::InvalidNumber { .. }
);
rejects!(
    number_too_large,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x1_0000_0000_0000_0000\"/>"),
    ErrorKind::InvalidNumber { .. }
);
rejects!(
    number_empty,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"\"/>"),
    ErrorKind::InvalidNumber { .. }
);
rejects!(
    number_hex_channel_id,
    dflt(),
    9,
    &with_ab(
        "  <channel>\n    <end pd=\"a\" id=\"0x1\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>"
    ),
    ErrorKind::InvalidNumber { .. }
);
rejects!(
    number_hex_irq,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <irq irq=\"0x21\" id=\"1\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidNumber { .. }
);

// ------------------------------------------------------ booleans ----

rejects!(
    bool_passive,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\" passive=\"yes\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidBool { attribute: "passive", .. }
);
rejects!(
    bool_fpu,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\" fpu=\"1\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidBool { attribute: "fpu", .. }
);
rejects!(
    bool_smc,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\" smc=\"on\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::InvalidBool { attribute: "smc", .. }
);
rejects!(
    bool_cached,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <map mr=\"m\" vaddr=\"0x1000\" cached=\"True\"/>\n  </protection_domain>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n</system>",
    ErrorKind::InvalidBool { attribute: "cached", .. }
);
rejects!(
    bool_pp,
    dflt(),
    9,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\" pp=\"TRUE\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>"),
    ErrorKind::InvalidBool { attribute: "pp", .. }
);
rejects!(
    bool_notify,
    dflt(),
    10,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\" id=\"0\" notify=\"no\"/>\n  </channel>"),
    ErrorKind::InvalidBool { attribute: "notify", .. }
);

// ------------------------------------------- protection domains ----

const ONE_PD: &str = "<system>\n  <protection_domain name=\"a\" ATTRS>\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>";

fn pd_with(attrs: &str) -> String {
    ONE_PD.replace("ATTRS", attrs)
}

rejects!(
    pd_priority_255,
    dflt(),
    2,
    &pd_with("priority=\"255\""),
    ErrorKind::PriorityOutOfRange { priority: 255, .. }
);
rejects!(
    pd_budget_above_period,
    dflt(),
    2,
    &pd_with("budget=\"1000\" period=\"100\""),
    ErrorKind::BudgetExceedsPeriod {
        budget: 1000,
        period: 100,
        ..
    }
);
rejects!(
    pd_period_below_default_budget,
    dflt(),
    2,
    &pd_with("period=\"999\""),
    ErrorKind::BudgetExceedsPeriod {
        budget: 1000,
        period: 999,
        ..
    }
);
rejects!(
    pd_stack_too_small,
    dflt(),
    2,
    &pd_with("stack_size=\"0x800\""),
    ErrorKind::StackSizeOutOfRange { stack_size: 0x800 }
);
rejects!(
    pd_stack_too_large,
    dflt(),
    2,
    &pd_with("stack_size=\"0x1001000\""),
    ErrorKind::StackSizeOutOfRange { .. }
);
rejects!(
    pd_stack_unaligned,
    dflt(),
    2,
    &pd_with("stack_size=\"0x1800\""),
    ErrorKind::StackSizeUnaligned {
        stack_size: 0x1800,
        ..
    }
);
rejects!(
    pd_cpu_out_of_range,
    dflt(),
    2,
    &pd_with("cpu=\"1\""),
    ErrorKind::CpuOutOfRange {
        cpu: 1,
        num_cores: 1,
        ..
    }
);
rejects!(
    pd_cpu_out_of_range_smp,
    Config::default().smp(4),
    2,
    &pd_with("cpu=\"4\""),
    ErrorKind::CpuOutOfRange {
        cpu: 4,
        num_cores: 4,
        ..
    }
);
rejects!(
    pd_smc_not_enabled,
    Config {
        arm_smc: Some(false),
        ..Config::default()
    },
    2,
    &pd_with("smc=\"true\""),
    ErrorKind::SmcNotEnabled
);
rejects!(
    pd_smc_on_x86,
    Config::x86_64(),
    2,
    &pd_with("smc=\"true\""),
    ErrorKind::SmcUnsupportedArch
);
rejects!(
    pd_missing_program_image,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\">\n  </protection_domain>\n</system>",
    ErrorKind::MissingProgramImage { .. }
);
rejects!(
    pd_two_program_images,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <program_image path=\"b\"/>\n  </protection_domain>\n</system>",
    ErrorKind::Duplicate { what: "program_image", .. }
);
rejects!(
    pd_child_missing_id,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <protection_domain name=\"c\">\n      <program_image path=\"c\"/>\n    </protection_domain>\n  </protection_domain>\n</system>",
    ErrorKind::MissingAttribute { attribute: "id", .. }
);
rejects!(
    pd_child_duplicate_id,
    dflt(),
    7,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <protection_domain name=\"c\" id=\"0\">\n      <program_image path=\"c\"/>\n    </protection_domain>\n    <protection_domain name=\"d\" id=\"0\">\n      <program_image path=\"d\"/>\n    </protection_domain>\n  </protection_domain>\n</system>",
    ErrorKind::DuplicateChildId { id: 0, .. }
);
rejects!(
    pd_child_id_too_large,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <protection_domain name=\"c\" id=\"62\">\n      <program_image path=\"c\"/>\n    </protection_domain>\n  </protection_domain>\n</system>",
    ErrorKind::ChildIdTooLarge { id: 62 }
);
rejects!(
    pd_duplicate_setvar,
    dflt(),
    5,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <setvar symbol=\"test\" region_paddr=\"m\"/>\n    <setvar symbol=\"test\" region_paddr=\"m\"/>\n  </protection_domain>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n</system>",
    ErrorKind::DuplicateSetVar { .. }
);
rejects!(
    pd_setvar_vaddr_clashes_with_child_setvar_id,
    dflt(),
    5,
    "<system>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n  <protection_domain name=\"a\">\n    <map mr=\"m\" vaddr=\"0x1000\" setvar_vaddr=\"sym\"/>\n    <protection_domain name=\"c\" id=\"1\" setvar_id=\"sym\">\n      <program_image path=\"c\"/>\n    </protection_domain>\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::DuplicateSetVar { .. }
);

// ---------------------------------------------------------- maps ----

fn one_map(map: &str) -> String {
    format!(
        "<system>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    {map}\n  </protection_domain>\n</system>"
    )
}

rejects!(
    map_invalid_perms,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0x1000\" perms=\"rwz\"/>"),
    ErrorKind::InvalidPerms { .. }
);
rejects!(
    map_write_only,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0x1000\" perms=\"w\"/>"),
    ErrorKind::WriteOnlyMapping
);
rejects!(
    map_write_only_repeated,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0x1000\" perms=\"ww\"/>"),
    ErrorKind::WriteOnlyMapping
);
rejects!(
    map_vaddr_too_high,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0x1000000000000000\"/>"),
    ErrorKind::VaddrTooHigh {
        vaddr: 0x1000_0000_0000_0000,
        max: 0xff_ffff_c000
    }
);
rejects!(
    map_vaddr_at_stack_bottom,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0xffffffc000\"/>"),
    ErrorKind::VaddrTooHigh { .. }
);
rejects!(
    map_unknown_region,
    dflt(),
    5,
    &one_map("<map mr=\"foos\" vaddr=\"0x1000\"/>"),
    ErrorKind::UnknownMemoryRegion { element: "map", .. }
);
rejects!(
    map_unaligned,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0x1001\"/>"),
    ErrorKind::MapUnaligned { addr: 0x1001, .. }
);
rejects!(
    map_range_past_stack,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0xffffffb000\"/>")
        .replace("0x1000\"/>\n  <protection", "0x2000\"/>\n  <protection"),
    ErrorKind::MapOutOfRange {
        start: 0xff_ffff_b000,
        end: 0xff_ffff_d000,
        max: 0xff_ffff_c000,
        ..
    }
);
rejects!(
    map_range_overflows,
    Config {
        vspace_user_top: u64::MAX,
        ..Config::default()
    },
    5,
    &one_map("<map mr=\"m\" vaddr=\"0x1000\"/>")
        .replace("size=\"0x1000\"", "size=\"0xffff_ffff_ffff_f000\""),
    ErrorKind::MapOverflow { .. }
);
rejects!(
    map_unaligned_large_page,
    dflt(),
    5,
    &one_map("<map mr=\"m\" vaddr=\"0x1000\"/>").replace(
        "size=\"0x1000\"",
        "size=\"0x200000\" page_size=\"0x200000\""
    ),
    ErrorKind::MapUnaligned {
        page_size: 0x20_0000,
        ..
    }
);
rejects!(
    map_overlap,
    dflt(),
    7,
    "<system>\n  <memory_region name=\"mr1\" size=\"0x1000\"/>\n  <memory_region name=\"mr2\" size=\"0x1000\"/>\n  <protection_domain name=\"hello\">\n    <program_image path=\"a\"/>\n    <map mr=\"mr1\" vaddr=\"0x1000000\"/>\n    <map mr=\"mr2\" vaddr=\"0x1000000\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MapOverlap { start: 0x100_0000, end: 0x100_1000, .. }
);
rejects!(
    map_overlap_mixed_page_sizes,
    dflt(),
    7,
    "<system>\n  <memory_region name=\"large\" size=\"0x200000\" page_size=\"0x200000\"/>\n  <memory_region name=\"small\" size=\"0x1000\"/>\n  <protection_domain name=\"test\">\n    <program_image path=\"a\"/>\n    <map mr=\"large\" vaddr=\"0x200000\"/>\n    <map mr=\"small\" vaddr=\"0x201000\"/>\n  </protection_domain>\n</system>",
    ErrorKind::MapOverlap { start: 0x20_1000, other_start: 0x20_0000, other_end: 0x40_0000, .. }
);

// ---------------------------------------------------- interrupts ----

fn irqs(body: &str) -> String {
    format!(
        "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n{body}\n  </protection_domain>\n</system>"
    )
}

rejects!(
    irq_id_62,
    dflt(),
    4,
    &irqs("    <irq irq=\"33\" id=\"62\"/>"),
    ErrorKind::IdTooLarge { id: 62, .. }
);
rejects!(
    irq_id_negative,
    dflt(),
    4,
    &irqs("    <irq irq=\"33\" id=\"-1\"/>"),
    ErrorKind::IdNegative { id: -1, .. }
);
rejects!(
    irq_invalid_trigger,
    dflt(),
    4,
    &irqs("    <irq irq=\"33\" id=\"1\" trigger=\"rising\"/>"),
    ErrorKind::InvalidTrigger
);
rejects!(
    irq_duplicate_id_in_pd,
    dflt(),
    5,
    &irqs("    <irq irq=\"33\" id=\"3\"/>\n    <irq irq=\"34\" id=\"3\"/>"),
    ErrorKind::DuplicateChannelId { id: 3, .. }
);
rejects!(
    irq_duplicate_number_across_pds,
    dflt(),
    8,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <irq irq=\"112\" id=\"1\"/>\n  </protection_domain>\n  <protection_domain name=\"b\">\n    <program_image path=\"b\"/>\n    <irq irq=\"112\" id=\"2\"/>\n  </protection_domain>\n</system>",
    ErrorKind::DuplicateIrq { irq: 112, .. }
);
rejects!(
    irq_ioapic_on_arm,
    dflt(),
    4,
    &irqs("    <irq pin=\"3\" vector=\"1\" id=\"1\"/>"),
    ErrorKind::IrqKindUnsupported(_)
);
rejects!(
    irq_msi_on_arm,
    dflt(),
    4,
    &irqs("    <irq pcidev=\"0:1.0\" handle=\"0\" vector=\"1\" id=\"1\"/>"),
    ErrorKind::IrqKindUnsupported(_)
);
rejects!(
    irq_arm_on_x86,
    Config::x86_64(),
    4,
    &irqs("    <irq irq=\"33\" id=\"1\"/>"),
    ErrorKind::IrqKindUnsupported(_)
);
rejects!(
    irq_x86_missing_kind,
    Config::x86_64(),
    4,
    &irqs("    <irq id=\"1\"/>"),
    ErrorKind::MissingAttribute {
        attribute: "pin",
        ..
    }
);
rejects!(
    irq_ioapic_negative,
    Config::x86_64(),
    4,
    &irqs("    <irq ioapic=\"-1\" pin=\"3\" vector=\"1\" id=\"1\"/>"),
    ErrorKind::NegativeValue("ioapic")
);
rejects!(
    irq_ioapic_pin_negative,
    Config::x86_64(),
    4,
    &irqs("    <irq pin=\"-3\" vector=\"1\" id=\"1\"/>"),
    ErrorKind::NegativeValue("pin")
);
rejects!(
    irq_ioapic_polarity,
    Config::x86_64(),
    4,
    &irqs("    <irq pin=\"3\" vector=\"1\" id=\"1\" polarity=\"mid\"/>"),
    ErrorKind::InvalidPolarity
);
rejects!(
    irq_ioapic_vector_108,
    Config::x86_64(),
    4,
    &irqs("    <irq pin=\"3\" vector=\"108\" id=\"1\"/>"),
    ErrorKind::VectorOutOfRange { vector: 108 }
);
rejects!(
    irq_ioapic_missing_vector,
    Config::x86_64(),
    4,
    &irqs("    <irq pin=\"3\" id=\"1\"/>"),
    ErrorKind::MissingAttribute {
        attribute: "vector",
        ..
    }
);
rejects!(
    irq_msi_bad_pci,
    Config::x86_64(),
    4,
    &irqs("    <irq pcidev=\"0:1\" handle=\"0\" vector=\"1\" id=\"1\"/>"),
    ErrorKind::InvalidPci(_)
);
rejects!(
    irq_msi_pci_device_32,
    Config::x86_64(),
    4,
    &irqs("    <irq pcidev=\"0:20.0\" handle=\"0\" vector=\"1\" id=\"1\"/>"),
    ErrorKind::InvalidPci(_)
);
rejects!(
    irq_msi_negative_handle,
    Config::x86_64(),
    4,
    &irqs("    <irq pcidev=\"0:1.0\" handle=\"-1\" vector=\"1\" id=\"1\"/>"),
    ErrorKind::NegativeValue("handle")
);
rejects!(
    irq_duplicate_x86_vector,
    Config::x86_64(),
    5,
    &irqs("    <irq pin=\"3\" vector=\"7\" id=\"1\"/>\n    <irq pcidev=\"0:1.0\" handle=\"0\" vector=\"7\" id=\"2\"/>"),
    ErrorKind::DuplicateIrq { irq: 7, .. }
);

// ------------------------------------------------------- ioports ----

rejects!(
    ioport_on_arm,
    dflt(),
    2,
    &irqs("    <ioport id=\"0\" addr=\"0x3f8\" size=\"8\"/>"),
    ErrorKind::IoPortsUnsupported
);
rejects!(
    ioport_size_zero,
    Config::x86_64(),
    4,
    &irqs("    <ioport id=\"0\" addr=\"0x3f8\" size=\"0\"/>"),
    ErrorKind::IoPortSizeZero
);
rejects!(
    ioport_duplicate_id,
    Config::x86_64(),
    5,
    &irqs("    <ioport id=\"0\" addr=\"0x3f8\" size=\"8\"/>\n    <ioport id=\"0\" addr=\"0x2f8\" size=\"8\"/>"),
    ErrorKind::DuplicateIoPortId { id: 0, .. }
);
rejects!(
    ioport_overlap,
    Config::x86_64(),
    5,
    &irqs("    <ioport id=\"0\" addr=\"0x3f8\" size=\"8\"/>\n    <ioport id=\"1\" addr=\"0x3ff\" size=\"8\"/>"),
    ErrorKind::IoPortOverlap { id: 1, start: 0x3ff, end: 0x407, other_id: 0, .. }
);

// ------------------------------------------------ memory regions ----

rejects!(
    mr_unsupported_page_size,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x200001\" page_size=\"0x200001\"/>"),
    ErrorKind::UnsupportedPageSize {
        page_size: 0x20_0001
    }
);
rejects!(
    mr_huge_page_unsupported,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x40000000\" page_size=\"0x40000000\"/>"),
    ErrorKind::UnsupportedPageSize { .. }
);
rejects!(
    mr_size_not_page_multiple,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x1001\"/>"),
    ErrorKind::SizeNotPageMultiple { size: 0x1001, .. }
);
rejects!(
    mr_size_not_large_page_multiple,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x1000\" page_size=\"0x200000\"/>"),
    ErrorKind::SizeNotPageMultiple { .. }
);
rejects!(
    mr_phys_addr_unaligned,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" size=\"0x1000\" phys_addr=\"0x9000800\"/>"),
    ErrorKind::PhysAddrUnaligned { .. }
);
rejects!(
    mr_missing_size,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\"/>"),
    ErrorKind::MissingSize
);
rejects!(
    mr_phys_overlap,
    dflt(),
    9,
    &with_ab("  <memory_region name=\"mr1\" size=\"0x2000\" phys_addr=\"0x9000000\"/>\n  <memory_region name=\"mr2\" size=\"0x1000\" phys_addr=\"0x9001000\"/>"),
    ErrorKind::PhysOverlap { start: 0x900_1000, end: 0x900_2000, other_start: 0x900_0000, other_end: 0x900_2000, .. }
);
rejects!(
    mr_duplicate_name,
    dflt(),
    9,
    &with_ab("  <memory_region name=\"test\" size=\"0x1000\"/>\n  <memory_region name=\"test\" size=\"0x2000\"/>"),
    ErrorKind::DuplicateMrName(_)
);
rejects!(
    mr_prefill_not_found,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" prefill_path=\"abcxyz.bin\"/>"),
    ErrorKind::PrefillNotFound(_)
);
rejects!(
    mr_bootinfo_invalid,
    dflt(),
    8,
    &with_ab("  <memory_region name=\"m\" prefill_bootinfo=\"x86_invalid\"/>"),
    ErrorKind::InvalidBootInfo(_)
);
rejects!(
    mr_region_paddr_on_x86,
    Config::x86_64(),
    2,
    "<system>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <setvar symbol=\"p\" region_paddr=\"m\"/>\n  </protection_domain>\n</system>",
    ErrorKind::RegionPaddrUnsupported { .. }
);

// ------------------------------------------------------ channels ----

rejects!(
    ch_one_end,
    dflt(),
    8,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\"/>\n  </channel>"),
    ErrorKind::ChannelEndCount
);
rejects!(
    ch_three_ends,
    dflt(),
    8,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\" id=\"0\"/>\n    <end pd=\"b\" id=\"1\"/>\n  </channel>"),
    ErrorKind::ChannelEndCount
);
rejects!(
    ch_unknown_pd,
    dflt(),
    10,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"invalidpd\" id=\"0\"/>\n  </channel>"),
    ErrorKind::UnknownPd { .. }
);
rejects!(
    ch_id_62,
    dflt(),
    9,
    &with_ab(
        "  <channel>\n    <end pd=\"a\" id=\"62\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>"
    ),
    ErrorKind::IdTooLarge { id: 62, .. }
);
rejects!(
    ch_id_negative,
    dflt(),
    10,
    &with_ab(
        "  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\" id=\"-1\"/>\n  </channel>"
    ),
    ErrorKind::IdNegative { id: -1, .. }
);
rejects!(
    ch_bidirectional_pp,
    dflt(),
    8,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\" pp=\"true\"/>\n    <end pd=\"b\" id=\"0\" pp=\"true\"/>\n  </channel>"),
    ErrorKind::BidirectionalPpc
);
rejects!(
    ch_pp_to_lower_priority,
    dflt(),
    8,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\" id=\"0\" pp=\"true\"/>\n  </channel>"),
    ErrorKind::PpcPriority { from_priority: 2, to_priority: 1, .. }
);
rejects!(
    ch_pp_to_equal_priority,
    dflt(),
    2,
    "<system>\n  <channel>\n    <end pd=\"a\" id=\"0\" pp=\"true\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>\n  <protection_domain name=\"a\" priority=\"7\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n  <protection_domain name=\"b\" priority=\"7\">\n    <program_image path=\"b\"/>\n  </protection_domain>\n</system>",
    ErrorKind::PpcPriority { from_priority: 7, to_priority: 7, .. }
);
rejects!(
    ch_duplicate_id_end_a,
    dflt(),
    13,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"5\"/>\n    <end pd=\"b\" id=\"0\"/>\n  </channel>\n  <channel>\n    <end pd=\"a\" id=\"5\"/>\n    <end pd=\"b\" id=\"1\"/>\n  </channel>"),
    ErrorKind::DuplicateChannelId { id: 5, .. }
);
rejects!(
    ch_duplicate_id_end_b,
    dflt(),
    14,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\"/>\n    <end pd=\"b\" id=\"5\"/>\n  </channel>\n  <channel>\n    <end pd=\"a\" id=\"1\"/>\n    <end pd=\"b\" id=\"5\"/>\n  </channel>"),
    ErrorKind::DuplicateChannelId { id: 5, .. }
);
rejects!(
    ch_id_clashes_with_irq,
    dflt(),
    9,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <irq irq=\"33\" id=\"3\"/>\n  </protection_domain>\n  <protection_domain name=\"b\"><program_image path=\"b\"/></protection_domain>\n  <channel>\n    <end pd=\"b\" id=\"0\"/>\n    <end pd=\"a\" id=\"3\"/>\n  </channel>\n</system>",
    ErrorKind::DuplicateChannelId { id: 3, .. }
);
rejects!(
    ch_setvar_id_clashes,
    dflt(),
    8,
    &with_ab("  <channel>\n    <end pd=\"a\" id=\"0\" setvar_id=\"x\"/>\n    <end pd=\"a\" id=\"1\" setvar_id=\"x\"/>\n  </channel>"),
    ErrorKind::DuplicateSetVar { .. }
);

// -------------------------------------------------- whole system ----

rejects!(
    sys_no_pds,
    dflt(),
    1,
    "<system>\n  <memory_region name=\"m\" size=\"0x1000\"/>\n</system>",
    ErrorKind::NoProtectionDomains
);
rejects!(
    sys_duplicate_pd_name,
    dflt(),
    5,
    "<system>\n  <protection_domain name=\"test\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n  <protection_domain name=\"test\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::DuplicatePdName(_)
);
rejects!(
    sys_duplicate_pd_name_child,
    dflt(),
    4,
    "<system>\n  <protection_domain name=\"test\">\n    <program_image path=\"a\"/>\n    <protection_domain name=\"test\" id=\"0\">\n      <program_image path=\"a\"/>\n    </protection_domain>\n  </protection_domain>\n</system>",
    ErrorKind::DuplicatePdName(_)
);
rejects!(
    sys_reserved_monitor_name,
    dflt(),
    2,
    &ONE_PD.replace("\"a\" ATTRS", "\"monitor\""),
    ErrorKind::ReservedPdName
);

#[test]
fn sys_too_many_pds() {
    let mut text = String::from("<system>\n");
    for i in 0..64 {
        text.push_str(&format!(
            "  <protection_domain name=\"pd{i}\"><program_image path=\"x\"/></protection_domain>\n"
        ));
    }
    text.push_str("</system>");
    let e = err_with(&Config::default(), &text);
    assert!(
        matches!(e.kind, ErrorKind::TooManyProtectionDomains { count: 64 }),
        "{e}"
    );
    assert_eq!(e.line(), 65, "the 64th PD: {e}");
    // 63 is the limit and is accepted.
    let cut = text.replace(
        "  <protection_domain name=\"pd63\"><program_image path=\"x\"/></protection_domain>\n",
        "",
    );
    assert_eq!(ok(&cut).protection_domains.len(), 63);
}

// ----------------------------------------------- virtual machines ----

fn vm(body: &str) -> String {
    format!(
        "<system>\n  <protection_domain name=\"vmm\" priority=\"100\">\n    <program_image path=\"vmm\"/>\n{body}\n  </protection_domain>\n</system>"
    )
}

rejects!(
    vm_hypervisor_disabled,
    Config::aarch64_el1(),
    2,
    &vm("    <virtual_machine name=\"g\"><vcpu id=\"0\"/></virtual_machine>"),
    ErrorKind::HypervisorDisabled
);
rejects!(
    vm_not_child,
    dflt(),
    8,
    &with_ab("  <virtual_machine name=\"g\"><vcpu id=\"0\"/></virtual_machine>"),
    ErrorKind::VirtualMachineNotChild
);
rejects!(
    vm_missing_vcpu,
    dflt(),
    4,
    &vm("    <virtual_machine name=\"g\">\n    </virtual_machine>"),
    ErrorKind::MissingVcpu { .. }
);
rejects!(
    vm_vcpu_id_62,
    dflt(),
    5,
    &vm("    <virtual_machine name=\"g\">\n      <vcpu id=\"62\"/>\n    </virtual_machine>"),
    ErrorKind::IdTooLarge { id: 62, .. }
);
rejects!(
    vm_vcpu_missing_id,
    dflt(),
    5,
    &vm("    <virtual_machine name=\"g\">\n      <vcpu/>\n    </virtual_machine>"),
    ErrorKind::MissingAttribute {
        attribute: "id",
        ..
    }
);
rejects!(
    vm_duplicate_vcpu,
    dflt(),
    6,
    &vm("    <virtual_machine name=\"g\">\n      <vcpu id=\"1\"/>\n      <vcpu id=\"1\"/>\n    </virtual_machine>"),
    ErrorKind::DuplicateVcpuId { id: 1, .. }
);
rejects!(
    vm_twice,
    dflt(),
    2,
    &vm("    <virtual_machine name=\"g\"><vcpu id=\"0\"/></virtual_machine>\n    <virtual_machine name=\"h\"><vcpu id=\"0\"/></virtual_machine>"),
    ErrorKind::Duplicate { what: "virtual_machine", .. }
);
rejects!(
    vm_priority_on_x86,
    Config::x86_64(),
    4,
    &vm("    <virtual_machine name=\"g\" priority=\"5\"><vcpu id=\"0\"/></virtual_machine>"),
    ErrorKind::InvalidAttribute { .. }
);
rejects!(vm_budget_above_period, dflt(), 4, &vm("    <virtual_machine name=\"g\" budget=\"5\" period=\"4\"><vcpu id=\"0\"/></virtual_machine>"), ErrorKind::BudgetExceedsPeriod { .. });
rejects!(
    vm_setvar_vaddr_not_allowed,
    dflt(),
    6,
    &vm("    <virtual_machine name=\"g\">\n      <vcpu id=\"0\"/>\n      <map mr=\"ram\" vaddr=\"0x40000000\" setvar_vaddr=\"x\"/>\n    </virtual_machine>"),
    ErrorKind::InvalidAttribute { .. }
);
rejects!(
    vm_duplicate_name,
    dflt(),
    7,
    "<system>\n  <protection_domain name=\"a\" priority=\"100\">\n    <program_image path=\"a\"/>\n    <virtual_machine name=\"guest\"><vcpu id=\"0\"/></virtual_machine>\n  </protection_domain>\n  <protection_domain name=\"b\" priority=\"100\">\n    <virtual_machine name=\"guest\"><vcpu id=\"0\"/></virtual_machine>\n    <program_image path=\"b\"/>\n  </protection_domain>\n</system>",
    ErrorKind::DuplicateVmName(_)
);
rejects!(
    vm_child_id_clashes_vcpu,
    dflt(),
    5,
    &vm("    <virtual_machine name=\"g\"><vcpu id=\"0\"/></virtual_machine>\n    <protection_domain name=\"c\" id=\"0\"><program_image path=\"c\"/></protection_domain>"),
    ErrorKind::ChildIdClashesVcpu { id: 0, .. }
);
rejects!(
    vm_unknown_region,
    dflt(),
    6,
    &vm("    <virtual_machine name=\"g\">\n      <vcpu id=\"0\"/>\n      <map mr=\"mr1\" vaddr=\"0x40000000\"/>\n    </virtual_machine>"),
    ErrorKind::UnknownMemoryRegion { .. }
);
rejects!(
    vm_x86_with_children,
    Config::x86_64(),
    2,
    &vm("    <virtual_machine name=\"g\"><vcpu id=\"0\"/></virtual_machine>\n    <protection_domain name=\"c\" id=\"1\"><program_image path=\"c\"/></protection_domain>"),
    ErrorKind::VmWithChildrenX86 { .. }
);
rejects!(
    vm_x86_ppc_to_vmm,
    Config::x86_64(),
    9,
    "<system>\n  <protection_domain name=\"vmm\" priority=\"100\">\n    <program_image path=\"vmm\"/>\n    <virtual_machine name=\"g\"><vcpu id=\"0\"/></virtual_machine>\n  </protection_domain>\n  <protection_domain name=\"svc\" priority=\"1\">\n    <program_image path=\"s\"/>\n  </protection_domain>\n  <channel>\n    <end pd=\"svc\" id=\"0\" pp=\"true\"/>\n    <end pd=\"vmm\" id=\"1\"/>\n  </channel>\n</system>",
    ErrorKind::PpcToVmX86 { .. }
);

// ---------------------------------------------------------- cspace ----

fn caps(body: &str) -> String {
    format!(
        "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <cspace>\n{body}\n    </cspace>\n  </protection_domain>\n</system>"
    )
}

rejects!(
    cap_slot_zero,
    dflt(),
    5,
    &caps("      <cap_sc slot=\"0\" pd=\"a\"/>"),
    ErrorKind::CapSlotReserved
);
rejects!(
    cap_slot_128,
    dflt(),
    5,
    &caps("      <cap_sc slot=\"128\" pd=\"a\"/>"),
    ErrorKind::CapSlotTooLarge
);
rejects!(
    cap_unknown_type,
    dflt(),
    5,
    &caps("      <cap_gerbils slot=\"1\" pd=\"a\"/>"),
    ErrorKind::UnsupportedCapType(_)
);
rejects!(
    cap_not_a_cap,
    dflt(),
    5,
    &caps("      <tcb slot=\"1\" pd=\"a\"/>"),
    ErrorKind::InvalidElement { .. }
);
rejects!(
    cap_unknown_pd,
    dflt(),
    5,
    &caps("      <cap_tcb slot=\"1\" pd=\"invalid\"/>"),
    ErrorKind::UnknownPd { .. }
);
rejects!(
    cap_overlapping_slots,
    dflt(),
    6,
    &caps("      <cap_vspace slot=\"3\" pd=\"a\"/>\n      <cap_tcb slot=\"3\" pd=\"a\"/>"),
    ErrorKind::OverlappingCaps { slot: 3, .. }
);
rejects!(
    cap_cspace_twice,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n    <cspace/>\n    <cspace/>\n  </protection_domain>\n</system>",
    ErrorKind::Duplicate { what: "cspace", .. }
);

// ----------------------------------------------------------- IOMMU ----

fn iommu(body: &str) -> String {
    format!(
        "<system>\n  <memory_region name=\"ra\" size=\"0x1000\"/>\n  <memory_region name=\"rb\" size=\"0x1000\"/>\n  <protection_domain name=\"a\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n{body}\n</system>"
    )
}

rejects!(
    iommu_disabled,
    dflt(),
    7,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\"/>"),
    ErrorKind::IommuDisabled
);
rejects!(
    iommu_on_aarch64,
    Config {
        iommu: true,
        ..Config::default()
    },
    7,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\"/>"),
    ErrorKind::InvalidPeripheralId { .. }
);
rejects!(
    iommu_missing_domain_id,
    Config::x86_64(),
    7,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\"/>"),
    ErrorKind::MissingAttribute {
        attribute: "domain_id",
        ..
    }
);
rejects!(
    iommu_bad_pci,
    Config::x86_64(),
    7,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:g.0\" domain_id=\"1\"/>"),
    ErrorKind::InvalidPeripheralId { .. }
);
rejects!(
    iommu_duplicate_name,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\"/>\n  <io_address_space name=\"d\" peripheral_id=\"0:4.0\" domain_id=\"2\"/>"),
    ErrorKind::DuplicateDeviceName(_)
);
rejects!(
    iommu_duplicate_domain_id,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\"/>\n  <io_address_space name=\"e\" peripheral_id=\"0:4.0\" domain_id=\"1\"/>"),
    ErrorKind::DuplicateDomainId
);
rejects!(
    iommu_duplicate_device,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\"/>\n  <io_address_space name=\"e\" peripheral_id=\"00:03.0\" domain_id=\"2\"/>"),
    ErrorKind::DuplicatePeripheralId(_)
);
rejects!(
    iommu_iovaddr_too_high,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <iomap mr=\"ra\" iovaddr=\"0x8000000000\"/>\n  </io_address_space>"),
    ErrorKind::IovaddrTooHigh { .. }
);
rejects!(
    iommu_range_out_of_bound,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <iomap mr=\"ra\" iovaddr=\"0x7ffffff000\"/>\n  </io_address_space>").replace("name=\"ra\" size=\"0x1000\"", "name=\"ra\" size=\"0x2000\""),
    ErrorKind::MapOutOfRange { element: "iomap", .. }
);
rejects!(
    iommu_exec_perms,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <iomap mr=\"ra\" iovaddr=\"0\" perms=\"rx\"/>\n  </io_address_space>"),
    ErrorKind::InvalidIoPerms
);
rejects!(
    iommu_empty_perms,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <iomap mr=\"ra\" iovaddr=\"0\" perms=\"\"/>\n  </io_address_space>"),
    ErrorKind::InvalidIoPerms
);
rejects!(
    iommu_overlap_same_device,
    Config::x86_64(),
    9,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <iomap mr=\"ra\" iovaddr=\"0\"/>\n    <iomap mr=\"rb\" iovaddr=\"0\"/>\n  </io_address_space>"),
    ErrorKind::MapOverlap { .. }
);
rejects!(
    iommu_large_page,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <iomap mr=\"ra\" iovaddr=\"0\"/>\n  </io_address_space>").replace("name=\"ra\" size=\"0x1000\"", "name=\"ra\" size=\"0x200000\" page_size=\"0x200000\""),
    ErrorKind::IommuLargePage
);
rejects!(
    iommu_unknown_child,
    Config::x86_64(),
    8,
    &iommu("  <io_address_space name=\"d\" peripheral_id=\"0:3.0\" domain_id=\"1\">\n    <map mr=\"ra\" iovaddr=\"0\"/>\n  </io_address_space>"),
    ErrorKind::InvalidElement { .. }
);

// --------------------------------------------------------- domains ----

fn doms(domains: &str, pd_attr: &str) -> String {
    format!(
        "<system>\n  <domains>\n{domains}\n  </domains>\n  <protection_domain name=\"a\" {pd_attr}>\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>"
    )
}

const D1: &str = "    <domain name=\"d1\"/>\n    <domain_schedule>\n      <schedule_entry domain=\"d1\" duration=\"1000 us\"/>\n    </domain_schedule>";

rejects!(
    dom_on_smp,
    Config::default().smp(4),
    2,
    &doms(D1, "domain=\"d1\""),
    ErrorKind::DomainsOnSmp
);
rejects!(
    dom_pd_unknown_domain,
    dflt(),
    8,
    &doms(D1, "domain=\"d2\""),
    ErrorKind::UnknownDomain(_)
);
rejects!(
    dom_pd_missing_domain,
    dflt(),
    8,
    &doms(D1, ""),
    ErrorKind::MissingAttribute {
        attribute: "domain",
        ..
    }
);
rejects!(
    dom_without_schedule,
    dflt(),
    2,
    "<system>\n  <protection_domain name=\"a\" domain=\"d1\">\n    <program_image path=\"a\"/>\n  </protection_domain>\n</system>",
    ErrorKind::DomainWithoutSchedule(_)
);
rejects!(
    dom_missing_schedule,
    dflt(),
    2,
    &doms("    <domain name=\"d1\"/>", "domain=\"d1\""),
    ErrorKind::MissingDomainSchedule
);
rejects!(
    dom_bad_unit,
    dflt(),
    5,
    &doms(&D1.replace("1000 us", "1000 kilometres"), "domain=\"d1\""),
    ErrorKind::InvalidDuration(_)
);
rejects!(
    dom_no_unit,
    dflt(),
    5,
    &doms(&D1.replace("1000 us", "1000"), "domain=\"d1\""),
    ErrorKind::InvalidDuration(_)
);
rejects!(
    dom_zero_duration,
    dflt(),
    5,
    &doms(&D1.replace("1000 us", "0 ticks"), "domain=\"d1\""),
    ErrorKind::ZeroDuration(_)
);
rejects!(
    dom_entry_unknown_domain,
    dflt(),
    5,
    &doms(
        &D1.replace("domain=\"d1\"", "domain=\"d9\""),
        "domain=\"d1\""
    ),
    ErrorKind::UnknownDomain(_)
);
rejects!(
    dom_start_index_out_of_range,
    dflt(),
    4,
    &doms(
        &D1.replace("<domain_schedule>", "<domain_schedule start_index=\"1\">"),
        "domain=\"d1\""
    ),
    ErrorKind::StartIndexOutOfRange { index: 1, len: 1 }
);
rejects!(
    dom_bad_start_index,
    dflt(),
    4,
    &doms(
        &D1.replace(
            "<domain_schedule>",
            "<domain_schedule start_index=\"zzzz\">"
        ),
        "domain=\"d1\""
    ),
    ErrorKind::InvalidNumber { .. }
);
rejects!(
    dom_index_shift_out_of_range,
    dflt(),
    4,
    &doms(
        &D1.replace("<domain_schedule>", "<domain_schedule index_shift=\"99\">"),
        "domain=\"d1\""
    ),
    ErrorKind::IndexShiftOutOfRange {
        shift: 99,
        len: 1,
        max: 100
    }
);
rejects!(
    dom_id_too_large,
    dflt(),
    3,
    &doms(
        &D1.replace("name=\"d1\"/>", "name=\"d1\" id=\"16\"/>"),
        "domain=\"d1\""
    ),
    ErrorKind::DomainIdTooLarge { id: 16, .. }
);
rejects!(
    dom_duplicate_name,
    dflt(),
    4,
    &doms(&format!("    <domain name=\"d1\"/>\n{D1}"), "domain=\"d1\""),
    ErrorKind::DuplicateDomainName(_)
);
rejects!(
    dom_duplicate_id,
    dflt(),
    4,
    &doms(
        &format!(
            "    <domain name=\"d0\" id=\"3\"/>\n{}",
            D1.replace("name=\"d1\"/>", "name=\"d1\" id=\"3\"/>")
        ),
        "domain=\"d1\""
    ),
    ErrorKind::DuplicateDomainIdValue(3)
);
rejects!(
    dom_twice,
    dflt(),
    8,
    &format!("<system>\n  <domains>\n{D1}\n  </domains>\n  <domains>\n{D1}\n  </domains>\n  <protection_domain name=\"a\" domain=\"d1\"><program_image path=\"a\"/></protection_domain>\n</system>"),
    ErrorKind::Duplicate { what: "domains", .. }
);

#[test]
fn dom_too_many_domains() {
    // Microkit hands out ids 0..=KernelNumDomains to domains without one:
    // 17 domains fit a 16-domain kernel, 18 do not.
    let decl = |n: usize| -> String {
        (0..n)
            .map(|i| format!("    <domain name=\"d{i}\"/>\n"))
            .collect::<String>()
            + "    <domain_schedule>\n      <schedule_entry domain=\"d0\" duration=\"1 us\"/>\n    </domain_schedule>"
    };
    let sd = ok(&doms(&decl(17), "domain=\"d16\""));
    assert_eq!(sd.protection_domains[0].domain, Some(16));
    let e = err_with(&Config::default(), &doms(&decl(18), "domain=\"d0\""));
    assert!(matches!(e.kind, ErrorKind::TooManyDomains(16)), "{e}");
    assert_eq!(e.line(), 2);
}

// ----------------------------------------------------- file access ----

#[test]
fn missing_file_is_an_io_error() {
    let e = parse_file("/nonexistent/dir/x.system", &Config::default()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io(_)), "{e}");
    assert_eq!(e.loc, None);
    assert!(e.to_string().starts_with("/nonexistent/dir/x.system: "));
}
