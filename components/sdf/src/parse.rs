//! The parser and validator. It walks the XML in the same order as the
//! Microkit 2.3.0 tool (`tool/microkit/src/sdf.rs`) so that the first error
//! reported for a file is the one the tool reports, and it accepts exactly
//! the files the tool accepts (see the README for the few deliberate
//! differences).

use crate::config::{Arch, Config, SMALL_PAGE};
use crate::error::{ErrorKind, SdfError};
use crate::model::*;
use roxmltree::{Document, Node};

/// Largest channel, irq, ioport and vcpu id (the badge has 64 bits, two are
/// taken by Microkit).
pub const PD_MAX_ID: u64 = 61;
/// Highest priority a PD may have (255 is the monitor's).
pub const PD_MAX_PRIORITY: u64 = 254;
/// Budget (and period) when none is given, in microseconds.
pub const BUDGET_DEFAULT: u64 = 1000;
/// Stack size when none is given.
pub const PD_DEFAULT_STACK_SIZE: u64 = 0x2000;
/// Smallest stack size.
pub const PD_MIN_STACK_SIZE: u64 = 0x1000;
/// Largest stack size.
pub const PD_MAX_STACK_SIZE: u64 = 16 * 1024 * 1024;
/// Most protection domains in a system.
pub const MAX_PDS: usize = 63;
/// Longest PD name the monitor keeps.
pub const PD_MAX_NAME_LENGTH: usize = 64;
/// Name reserved for the Microkit monitor.
pub const MONITOR_PD_NAME: &str = "monitor";
/// User capability slots in a PD's CSpace.
pub const CAP_MAP_MAX_SLOT: u64 = 128;
/// Largest x86 interrupt vector.
pub const X86_IRQ_VECTOR_MAX: i64 = 107;
/// Largest I/O virtual address of the x86 IOMMU.
pub const MAX_IOVA: u64 = 0x7f_ffff_ffff;

type Result<T> = core::result::Result<T, SdfError>;

/// Parse and validate the text of a `.system` file. `file_name` is only
/// used in error messages.
pub fn parse(text: &str, file_name: &str, cfg: &Config) -> Result<SystemDescription> {
    let doc = Document::parse(text).map_err(|e| {
        let p = e.pos();
        SdfError {
            file: file_name.to_string(),
            loc: Some(Loc {
                line: p.row,
                column: p.col,
            }),
            kind: ErrorKind::Xml(e.to_string()),
        }
    })?;
    let line_starts = core::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let cx = Cx {
        file: file_name,
        doc: &doc,
        cfg,
        line_starts,
    };
    cx.system()
}

/// Read and parse a `.system` file.
pub fn parse_file(path: impl AsRef<std::path::Path>, cfg: &Config) -> Result<SystemDescription> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SdfError {
        file: name.clone(),
        loc: None,
        kind: ErrorKind::Io(e.to_string()),
    })?;
    parse(&text, &name, cfg)
}

struct Cx<'a, 'i> {
    file: &'a str,
    doc: &'a Document<'i>,
    cfg: &'a Config,
    /// Byte offset of the start of every line (the first is 0).
    line_starts: Vec<usize>,
}

/// A PD as parsed, before the tree is flattened.
struct PdTree {
    pd: ProtectionDomain,
    children: Vec<PdTree>,
    /// Every program symbol patched in this PD so far.
    symbols: Vec<String>,
    /// `<cspace>` entries with the PD still named.
    caps: Vec<(CapType, String, u64, Loc)>,
}

fn tag(node: Node) -> String {
    node.tag_name().name().to_string()
}

fn str_to_bool(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

impl<'a, 'i> Cx<'a, 'i> {
    fn loc(&self, node: Node) -> Loc {
        self.loc_at(node.range().start)
    }

    /// Line and column (in characters, both 1-based) of a byte offset, as
    /// roxmltree counts them; an offset inside a character counts as the
    /// start of that character.
    fn loc_at(&self, pos: usize) -> Loc {
        let text = self.doc.input_text();
        let mut pos = pos.min(text.len());
        while !text.is_char_boundary(pos) {
            pos -= 1;
        }
        let k = self.line_starts.partition_point(|&start| start <= pos);
        let line_start = self.line_starts[k - 1];
        Loc {
            line: k as u32,
            column: text[line_start..pos].chars().count() as u32 + 1,
        }
    }

    fn at(&self, loc: Loc, kind: ErrorKind) -> SdfError {
        SdfError {
            file: self.file.to_string(),
            loc: Some(loc),
            kind,
        }
    }

    fn err(&self, node: Node, kind: ErrorKind) -> SdfError {
        self.at(self.loc(node), kind)
    }

    fn check_attributes(&self, node: Node, allowed: &[&str]) -> Result<()> {
        for a in node.attributes() {
            if !allowed.contains(&a.name()) {
                return Err(self.err(
                    node,
                    ErrorKind::InvalidAttribute {
                        attribute: a.name().to_string(),
                        element: tag(node),
                    },
                ));
            }
        }
        Ok(())
    }

    fn required<'n>(&self, node: Node<'n, 'i>, attribute: &'static str) -> Result<&'n str> {
        node.attribute(attribute).ok_or_else(|| {
            self.err(
                node,
                ErrorKind::MissingAttribute {
                    attribute,
                    element: tag(node),
                },
            )
        })
    }

    /// Microkit's `sdf_parse_number`: decimal or `0x` hexadecimal, `_`
    /// ignored, as a `u64`.
    fn number(&self, node: Node, s: &str) -> Result<u64> {
        let cleaned: String = s.chars().filter(|&c| c != '_').collect();
        let (digits, radix) = match cleaned.strip_prefix("0x") {
            Some(rest) => (rest, 16),
            None => (cleaned.as_str(), 10),
        };
        u64::from_str_radix(digits, radix).map_err(|e| self.bad_number(node, s, e.to_string()))
    }

    fn bad_number(&self, node: Node, s: &str, reason: String) -> SdfError {
        self.err(
            node,
            ErrorKind::InvalidNumber {
                value: s.to_string(),
                element: tag(node),
                reason,
            },
        )
    }

    /// A plain decimal `i64` (the tool uses `str::parse` and crashes on
    /// anything else; we report it).
    fn decimal_i64(&self, node: Node, s: &str) -> Result<i64> {
        s.parse::<i64>()
            .map_err(|e| self.bad_number(node, s, e.to_string()))
    }

    fn decimal_u64(&self, node: Node, s: &str) -> Result<u64> {
        s.parse::<u64>()
            .map_err(|e| self.bad_number(node, s, e.to_string()))
    }

    fn boolean(&self, node: Node, attribute: &'static str, default: bool) -> Result<bool> {
        match node.attribute(attribute) {
            None => Ok(default),
            Some(s) => str_to_bool(s).ok_or_else(|| {
                self.err(
                    node,
                    ErrorKind::InvalidBool {
                        attribute,
                        element: tag(node),
                    },
                )
            }),
        }
    }

    /// An id of a channel end, irq or ioport: decimal, 0..=61.
    fn id(&self, node: Node) -> Result<u8> {
        let id = self.decimal_i64(node, self.required(node, "id")?)?;
        if id > PD_MAX_ID as i64 {
            return Err(self.err(
                node,
                ErrorKind::IdTooLarge {
                    id,
                    element: tag(node),
                },
            ));
        }
        if id < 0 {
            return Err(self.err(
                node,
                ErrorKind::IdNegative {
                    id,
                    element: tag(node),
                },
            ));
        }
        Ok(id as u8)
    }

    fn add_symbol(&self, symbols: &mut Vec<String>, symbol: &str, node: Node) -> Result<()> {
        if symbols.iter().any(|s| s == symbol) {
            return Err(self.err(
                node,
                ErrorKind::DuplicateSetVar {
                    symbol: symbol.to_string(),
                    element: tag(node),
                },
            ));
        }
        symbols.push(symbol.to_string());
        Ok(())
    }

    fn invalid_element(&self, child: Node, parent: Node) -> SdfError {
        self.err(
            child,
            ErrorKind::InvalidElement {
                element: tag(child),
                parent: tag(parent),
            },
        )
    }

    // ------------------------------------------------------------------
    // <system>
    // ------------------------------------------------------------------

    fn system(&self) -> Result<SystemDescription> {
        let root = self.doc.root_element();
        if root.tag_name().name() != "system" {
            return Err(self.err(root, ErrorKind::RootNotSystem(tag(root))));
        }
        let system = root;
        self.check_no_text(system)?;

        let mut roots = Vec::new();
        let mut mrs: Vec<MemoryRegion> = Vec::new();
        let mut io_maps: Vec<IoMap> = Vec::new();
        let mut device_names: Vec<String> = Vec::new();
        let mut iommu_domain_ids: Vec<u64> = Vec::new();
        let mut device_ids: Vec<PciDevice> = Vec::new();
        let mut domains: Option<Domains> = None;
        let mut channel_nodes = Vec::new();

        for child in system.children().filter(|c| c.is_element()) {
            match child.tag_name().name() {
                "protection_domain" => roots.push(self.pd(child, false, domains.as_ref())?),
                "channel" => channel_nodes.push(child),
                "memory_region" => mrs.push(self.memory_region(child)?),
                "io_address_space" => io_maps.extend(self.io_address_space(
                    child,
                    &mut device_names,
                    &mut iommu_domain_ids,
                    &mut device_ids,
                )?),
                "virtual_machine" => {
                    return Err(self.err(child, ErrorKind::VirtualMachineNotChild));
                }
                "domains" => {
                    if domains.is_some() {
                        return Err(self.err(
                            child,
                            ErrorKind::Duplicate {
                                what: "domains",
                                element: "domains".into(),
                            },
                        ));
                    }
                    domains = Some(self.domains(child)?);
                }
                _ => return Err(self.invalid_element(child, system)),
            }
        }

        // Flatten the PD trees: each PD followed by its children, depth first.
        let mut pds: Vec<ProtectionDomain> = Vec::new();
        let mut symbols: Vec<Vec<String>> = Vec::new();
        let mut caps: Vec<Vec<(CapType, String, u64, Loc)>> = Vec::new();
        for tree in roots {
            self.flatten(tree, None, &mut pds, &mut symbols, &mut caps)?;
        }

        let mut channels = Vec::new();
        for node in channel_nodes {
            let ch = self.channel(node, &pds)?;
            for end in [&ch.end_a, &ch.end_b] {
                if let Some(sym) = &end.setvar_id {
                    self.add_symbol(&mut symbols[end.pd], sym, node)?;
                }
            }
            channels.push(ch);
        }

        for (i, pd_caps) in caps.into_iter().enumerate() {
            for (cap_type, name, slot, loc) in pd_caps {
                let Some(target) = pds.iter().position(|p| p.name == name) else {
                    return Err(self.at(loc, ErrorKind::UnknownPd { name }));
                };
                pds[i].cap_maps.push(CapMap {
                    cap_type,
                    pd: target,
                    slot,
                    loc,
                });
            }
        }

        let mut sd = SystemDescription {
            protection_domains: pds,
            memory_regions: mrs,
            channels,
            io_maps,
            domains,
            warnings: Vec::new(),
        };
        self.check_system(system, &mut sd)?;
        Ok(sd)
    }

    fn check_no_text(&self, system: Node) -> Result<()> {
        for child in system.children() {
            if child.is_text() {
                if let Some(text) = child.text() {
                    if !text.trim().is_empty() {
                        // Point at the text itself, not the whitespace before it.
                        let lead = text.len() - text.trim_start().len();
                        return Err(self.at(
                            self.loc_at(child.range().start + lead),
                            ErrorKind::UnexpectedText(tag(system)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn flatten(
        &self,
        tree: PdTree,
        parent: Option<usize>,
        pds: &mut Vec<ProtectionDomain>,
        symbols: &mut Vec<Vec<String>>,
        caps: &mut Vec<Vec<(CapType, String, u64, Loc)>>,
    ) -> Result<()> {
        let PdTree {
            mut pd,
            children,
            symbols: syms,
            caps: pd_caps,
        } = tree;
        let mut ids: Vec<u8> = Vec::new();
        for child in &children {
            let Some(id) = child.pd.child_id else {
                continue;
            };
            if ids.contains(&id) {
                return Err(self.at(
                    child.pd.loc,
                    ErrorKind::DuplicateChildId {
                        id: id.into(),
                        pd: pd.name.clone(),
                    },
                ));
            }
            if let Some(vm) = &pd.virtual_machine {
                if vm.vcpus.iter().any(|v| v.id == id) {
                    return Err(self.at(
                        child.pd.loc,
                        ErrorKind::ChildIdClashesVcpu {
                            id: id.into(),
                            pd: pd.name.clone(),
                        },
                    ));
                }
            }
            ids.push(id);
        }
        let me = pds.len();
        pd.parent = parent;
        pds.push(pd);
        symbols.push(syms);
        caps.push(pd_caps);
        for child in children {
            self.flatten(child, Some(me), pds, symbols, caps)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // <protection_domain>
    // ------------------------------------------------------------------

    fn pd(&self, node: Node, is_child: bool, domains: Option<&Domains>) -> Result<PdTree> {
        let mut attrs = vec![
            "name",
            "priority",
            "budget",
            "period",
            "passive",
            "stack_size",
            "smc",
            "cpu",
            "domain",
            "fpu",
        ];
        if is_child {
            attrs.push("id");
            attrs.push("setvar_id");
        }
        self.check_attributes(node, &attrs)?;
        let name = self.required(node, "name")?.to_string();

        let (child_id, setvar_id) = if is_child {
            let id = self.number(node, self.required(node, "id")?)?;
            // Microkit 2.3.0 does not bound child ids (earlier releases
            // did); an id above 61 corrupts the fault badge, so we reject it.
            if id > PD_MAX_ID {
                return Err(self.err(node, ErrorKind::ChildIdTooLarge { id }));
            }
            (
                Some(id as u8),
                node.attribute("setvar_id").map(str::to_string),
            )
        } else {
            (None, None)
        };

        let (budget, period) = self.budget_period(node)?;
        let passive = self.boolean(node, "passive", false)?;
        let stack_size = match node.attribute("stack_size") {
            Some(s) => self.number(node, s)?,
            None => PD_DEFAULT_STACK_SIZE,
        };

        let smc = self.boolean(node, "smc", false)?;
        if smc {
            match self.cfg.arm_smc {
                Some(true) => {}
                Some(false) => return Err(self.err(node, ErrorKind::SmcNotEnabled)),
                None => return Err(self.err(node, ErrorKind::SmcUnsupportedArch)),
            }
        }

        let cpu = self.number(node, node.attribute("cpu").unwrap_or("0"))?;
        if cpu >= u64::from(self.cfg.num_cores) {
            return Err(self.err(
                node,
                ErrorKind::CpuOutOfRange {
                    cpu,
                    num_cores: self.cfg.num_cores,
                    element: tag(node),
                },
            ));
        }

        let domain = match domains {
            Some(d) => {
                let dn = self.required(node, "domain")?;
                match d.names.iter().find(|(n, _)| n == dn) {
                    Some((_, id)) => Some(*id),
                    None => return Err(self.err(node, ErrorKind::UnknownDomain(dn.to_string()))),
                }
            }
            None => {
                if let Some(dn) = node.attribute("domain") {
                    return Err(self.err(node, ErrorKind::DomainWithoutSchedule(dn.to_string())));
                }
                None
            }
        };

        if !(PD_MIN_STACK_SIZE..=PD_MAX_STACK_SIZE).contains(&stack_size) {
            return Err(self.err(node, ErrorKind::StackSizeOutOfRange { stack_size }));
        }
        if stack_size % SMALL_PAGE != 0 {
            return Err(self.err(
                node,
                ErrorKind::StackSizeUnaligned {
                    stack_size,
                    page_size: SMALL_PAGE,
                },
            ));
        }

        let priority = match node.attribute("priority") {
            Some(s) => self.number(node, s)?,
            None => 0,
        };
        if priority > PD_MAX_PRIORITY {
            return Err(self.err(
                node,
                ErrorKind::PriorityOutOfRange {
                    priority,
                    element: tag(node),
                },
            ));
        }
        let fpu = self.boolean(node, "fpu", true)?;

        let mut pd = ProtectionDomain {
            name,
            priority: priority as u8,
            budget,
            period,
            passive,
            stack_size,
            program_image: String::new(),
            maps: Vec::new(),
            irqs: Vec::new(),
            setvars: Vec::new(),
            parent: None,
            child_id,
            loc: self.loc(node),
            setvar_id,
            program_image_for_symbols: None,
            smc,
            cpu: cpu as u8,
            domain,
            fpu,
            ioports: Vec::new(),
            cap_maps: Vec::new(),
            virtual_machine: None,
        };
        let mut have_image = false;
        let mut children = Vec::new();
        let mut symbols: Vec<String> = Vec::new();
        let mut caps = Vec::new();
        let mut have_cspace = false;

        for child in node.children().filter(|c| c.is_element()) {
            match child.tag_name().name() {
                "program_image" => {
                    self.check_attributes(child, &["path", "path_for_symbols"])?;
                    if have_image {
                        return Err(self.err(
                            node,
                            ErrorKind::Duplicate {
                                what: "program_image",
                                element: tag(node),
                            },
                        ));
                    }
                    have_image = true;
                    pd.program_image = self.required(child, "path")?.to_string();
                    pd.program_image_for_symbols =
                        child.attribute("path_for_symbols").map(str::to_string);
                }
                "map" => {
                    let max = self.cfg.pd_map_max_vaddr(stack_size);
                    let map = self.map(child, true, max)?;
                    for sym in [
                        &map.setvar_vaddr,
                        &map.setvar_size,
                        &map.setvar_prefill_size,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        self.add_symbol(&mut symbols, sym, child)?;
                    }
                    pd.maps.push(map);
                }
                "irq" => {
                    let irq = self.irq(child, &mut symbols)?;
                    pd.irqs.push(irq);
                }
                "ioport" => {
                    if self.cfg.arch != Arch::X86_64 {
                        return Err(self.err(node, ErrorKind::IoPortsUnsupported));
                    }
                    let port = self.ioport(child, &mut symbols)?;
                    pd.ioports.push(port);
                }
                "setvar" => {
                    self.check_attributes(child, &["symbol", "region_paddr"])?;
                    let symbol = self.required(child, "symbol")?.to_string();
                    let region_paddr = self.required(child, "region_paddr")?.to_string();
                    self.add_symbol(&mut symbols, &symbol, child)?;
                    pd.setvars.push(SetVar {
                        symbol,
                        region_paddr,
                        loc: self.loc(child),
                    });
                }
                "protection_domain" => {
                    let sub = self.pd(child, true, domains)?;
                    if let Some(sym) = &sub.pd.setvar_id {
                        self.add_symbol(&mut symbols, sym, child)?;
                    }
                    children.push(sub);
                }
                "virtual_machine" => {
                    if !self.cfg.hypervisor {
                        return Err(self.err(node, ErrorKind::HypervisorDisabled));
                    }
                    if pd.virtual_machine.is_some() {
                        return Err(self.err(
                            node,
                            ErrorKind::Duplicate {
                                what: "virtual_machine",
                                element: tag(node),
                            },
                        ));
                    }
                    let vm = self.virtual_machine(child)?;
                    for v in &vm.vcpus {
                        if let Some(sym) = &v.setvar_id {
                            self.add_symbol(&mut symbols, sym, child)?;
                        }
                    }
                    pd.virtual_machine = Some(vm);
                }
                "cspace" => {
                    if have_cspace {
                        return Err(self.err(
                            node,
                            ErrorKind::Duplicate {
                                what: "cspace",
                                element: tag(node),
                            },
                        ));
                    }
                    have_cspace = true;
                    caps = self.cspace(child)?;
                }
                _ => return Err(self.invalid_element(child, node)),
            }
        }

        if !have_image {
            return Err(self.err(node, ErrorKind::MissingProgramImage { pd: pd.name }));
        }
        Ok(PdTree {
            pd,
            children,
            symbols,
            caps,
        })
    }

    fn budget_period(&self, node: Node) -> Result<(u64, u64)> {
        let budget = match node.attribute("budget") {
            Some(s) => self.number(node, s)?,
            None => BUDGET_DEFAULT,
        };
        let period = match node.attribute("period") {
            Some(s) => self.number(node, s)?,
            None => budget,
        };
        if budget > period {
            return Err(self.err(
                node,
                ErrorKind::BudgetExceedsPeriod {
                    budget,
                    period,
                    element: tag(node),
                },
            ));
        }
        Ok((budget, period))
    }

    fn map(&self, node: Node, allow_setvar: bool, max_vaddr: u64) -> Result<Map> {
        let mut attrs = vec!["mr", "vaddr", "perms", "cached"];
        if allow_setvar {
            attrs.extend(["setvar_vaddr", "setvar_size", "setvar_prefill_size"]);
        }
        self.check_attributes(node, &attrs)?;
        let mr = self.required(node, "mr")?.to_string();
        let vaddr = self.number(node, self.required(node, "vaddr")?)?;
        if vaddr >= max_vaddr {
            return Err(self.err(
                node,
                ErrorKind::VaddrTooHigh {
                    vaddr,
                    max: max_vaddr,
                },
            ));
        }
        let perms = match node.attribute("perms") {
            None => Perms {
                read: true,
                write: true,
                execute: false,
            },
            Some(s) => {
                let mut p = Perms::default();
                for c in s.chars() {
                    match c {
                        'r' => p.read = true,
                        'w' => p.write = true,
                        'x' => p.execute = true,
                        _ => {
                            return Err(self.err(
                                node,
                                ErrorKind::InvalidPerms {
                                    perms: s.to_string(),
                                },
                            ))
                        }
                    }
                }
                p
            }
        };
        if perms
            == (Perms {
                read: false,
                write: true,
                execute: false,
            })
        {
            return Err(self.err(node, ErrorKind::WriteOnlyMapping));
        }
        let cached = self.boolean(node, "cached", true)?;
        Ok(Map {
            mr,
            vaddr,
            perms,
            cached,
            setvar_vaddr: node.attribute("setvar_vaddr").map(str::to_string),
            setvar_size: node.attribute("setvar_size").map(str::to_string),
            setvar_prefill_size: node.attribute("setvar_prefill_size").map(str::to_string),
            loc: self.loc(node),
        })
    }

    fn trigger_edge(&self, node: Node) -> Result<bool> {
        match node.attribute("trigger") {
            None | Some("level") => Ok(false),
            Some("edge") => Ok(true),
            Some(_) => Err(self.err(node, ErrorKind::InvalidTrigger)),
        }
    }

    fn vector(&self, node: Node) -> Result<u64> {
        let vector = self.decimal_i64(node, self.required(node, "vector")?)?;
        if !(0..=X86_IRQ_VECTOR_MAX).contains(&vector) {
            return Err(self.err(node, ErrorKind::VectorOutOfRange { vector }));
        }
        Ok(vector as u64)
    }

    fn non_negative(&self, node: Node, s: &str, what: &'static str) -> Result<u64> {
        let v = self.decimal_i64(node, s)?;
        if v < 0 {
            return Err(self.err(node, ErrorKind::NegativeValue(what)));
        }
        Ok(v as u64)
    }

    fn irq(&self, node: Node, symbols: &mut Vec<String>) -> Result<Irq> {
        let id = self.id(node)?;
        let setvar_id = node.attribute("setvar_id").map(str::to_string);
        if let Some(sym) = &setvar_id {
            self.add_symbol(symbols, sym, node)?;
        }
        let x86 = self.cfg.arch == Arch::X86_64;
        let (irq, edge_triggered, kind) = if let Some(irq_str) = node.attribute("irq") {
            if x86 {
                return Err(self.err(
                    node,
                    ErrorKind::IrqKindUnsupported("ARM and RISC-V IRQs are not supported on x86"),
                ));
            }
            self.check_attributes(node, &["irq", "id", "setvar_id", "trigger"])?;
            let irq = self.decimal_u64(node, irq_str)?;
            let edge = self.trigger_edge(node)?;
            (irq, edge, IrqKind::Conventional)
        } else if let Some(pin_str) = node.attribute("pin") {
            if !x86 {
                return Err(self.err(
                    node,
                    ErrorKind::IrqKindUnsupported(
                        "x86 I/O APIC IRQ isn't supported on ARM and RISC-V",
                    ),
                ));
            }
            self.check_attributes(
                node,
                &[
                    "id",
                    "setvar_id",
                    "ioapic",
                    "pin",
                    "trigger",
                    "polarity",
                    "vector",
                ],
            )?;
            let ioapic =
                self.non_negative(node, node.attribute("ioapic").unwrap_or("0"), "ioapic")?;
            let pin = self.non_negative(node, pin_str, "pin")?;
            let edge = self.trigger_edge(node)?;
            let polarity_low = match node.attribute("polarity") {
                None | Some("high") => false,
                Some("low") => true,
                Some(_) => return Err(self.err(node, ErrorKind::InvalidPolarity)),
            };
            let vector = self.vector(node)?;
            (
                vector,
                edge,
                IrqKind::IoApic {
                    ioapic,
                    pin,
                    polarity_low,
                },
            )
        } else if let Some(pci_str) = node.attribute("pcidev") {
            if !x86 {
                return Err(self.err(
                    node,
                    ErrorKind::IrqKindUnsupported("x86 MSI IRQ isn't supported on ARM and RISC-V"),
                ));
            }
            self.check_attributes(node, &["id", "setvar_id", "pcidev", "handle", "vector"])?;
            let pci = parse_pci(pci_str).map_err(|e| {
                self.err(node, ErrorKind::InvalidPci(format!("{e} on element 'irq'")))
            })?;
            let handle = self.non_negative(node, self.required(node, "handle")?, "handle")?;
            let vector = self.vector(node)?;
            (vector, false, IrqKind::Msi { pci, handle })
        } else {
            let missing = if x86 { "pin" } else { "irq" };
            return Err(self.err(
                node,
                ErrorKind::MissingAttribute {
                    attribute: missing,
                    element: tag(node),
                },
            ));
        };
        Ok(Irq {
            irq,
            id,
            edge_triggered,
            setvar_id,
            kind,
            loc: self.loc(node),
        })
    }

    fn ioport(&self, node: Node, symbols: &mut Vec<String>) -> Result<IoPort> {
        self.check_attributes(node, &["id", "setvar_id", "setvar_addr", "addr", "size"])?;
        let id = self.id(node)?;
        let setvar_id = node.attribute("setvar_id").map(str::to_string);
        if let Some(sym) = &setvar_id {
            self.add_symbol(symbols, sym, node)?;
        }
        let addr = self.number(node, self.required(node, "addr")?)?;
        let setvar_addr = node.attribute("setvar_addr").map(str::to_string);
        if let Some(sym) = &setvar_addr {
            self.add_symbol(symbols, sym, node)?;
        }
        let size = self.decimal_i64(node, self.required(node, "size")?)?;
        if size <= 0 {
            return Err(self.err(node, ErrorKind::IoPortSizeZero));
        }
        Ok(IoPort {
            id,
            addr,
            size: size as u64,
            setvar_id,
            setvar_addr,
            loc: self.loc(node),
        })
    }

    fn virtual_machine(&self, node: Node) -> Result<VirtualMachine> {
        let aarch64 = self.cfg.arch == Arch::Aarch64;
        if aarch64 {
            self.check_attributes(node, &["name", "budget", "period", "priority"])?;
        } else {
            self.check_attributes(node, &["name"])?;
        }
        let name = self.required(node, "name")?.to_string();
        let (budget, period, priority) = if aarch64 {
            let (b, p) = self.budget_period(node)?;
            let prio = match node.attribute("priority") {
                Some(s) => self.number(node, s)?,
                None => 0,
            };
            // Microkit 2.3.0 does not bound a VM's priority and keeps its
            // low 8 bits; we do the same.
            (b, p, prio as u8)
        } else {
            (BUDGET_DEFAULT, BUDGET_DEFAULT, 0)
        };
        let mut vcpus: Vec<VirtualCpu> = Vec::new();
        let mut maps = Vec::new();
        for child in node.children().filter(|c| c.is_element()) {
            match child.tag_name().name() {
                "vcpu" => {
                    self.check_attributes(child, &["id", "setvar_id", "cpu"])?;
                    let id = self.decimal_u64(child, self.required(child, "id")?)?;
                    if id > PD_MAX_ID {
                        return Err(self.err(
                            child,
                            ErrorKind::IdTooLarge {
                                id: id as i64,
                                element: tag(child),
                            },
                        ));
                    }
                    if vcpus.iter().any(|v| u64::from(v.id) == id) {
                        return Err(self.err(
                            child,
                            ErrorKind::DuplicateVcpuId {
                                id,
                                vm: name.clone(),
                            },
                        ));
                    }
                    // Microkit 2.3.0 reads `setvar_id` from the
                    // <virtual_machine> element (where it is not allowed),
                    // so a vcpu's setvar_id is accepted and has no effect.
                    let cpu = match child.attribute("cpu") {
                        Some(s) => {
                            let c = self.number(node, s)?;
                            if c >= u64::from(self.cfg.num_cores) {
                                return Err(self.err(
                                    child,
                                    ErrorKind::CpuOutOfRange {
                                        cpu: c,
                                        num_cores: self.cfg.num_cores,
                                        element: tag(child),
                                    },
                                ));
                            }
                            Some(c as u8)
                        }
                        None => None,
                    };
                    vcpus.push(VirtualCpu {
                        id: id as u8,
                        setvar_id: None,
                        cpu,
                        loc: self.loc(child),
                    });
                }
                "map" => maps.push(self.map(child, false, self.cfg.vm_map_max_vaddr())?),
                _ => return Err(self.invalid_element(child, node)),
            }
        }
        if vcpus.is_empty() {
            return Err(self.err(node, ErrorKind::MissingVcpu { vm: name }));
        }
        Ok(VirtualMachine {
            name,
            vcpus,
            maps,
            priority,
            budget,
            period,
            loc: self.loc(node),
        })
    }

    fn cspace(&self, node: Node) -> Result<Vec<(CapType, String, u64, Loc)>> {
        self.check_attributes(node, &[])?;
        let mut caps = Vec::new();
        for child in node.children().filter(|c| c.is_element()) {
            let cap_type = match child.tag_name().name() {
                "cap_tcb" => CapType::Tcb,
                "cap_sc" => CapType::Sc,
                "cap_vspace" => CapType::VSpace,
                other => {
                    return Err(match other.strip_prefix("cap_") {
                        Some(t) => self.err(child, ErrorKind::UnsupportedCapType(t.to_string())),
                        None => self.invalid_element(child, node),
                    })
                }
            };
            self.check_attributes(child, &["slot", "pd"])?;
            let pd = self.required(child, "pd")?.to_string();
            let slot = self.number(child, self.required(child, "slot")?)?;
            if slot == 0 {
                return Err(self.err(child, ErrorKind::CapSlotReserved));
            }
            if slot >= CAP_MAP_MAX_SLOT {
                return Err(self.err(child, ErrorKind::CapSlotTooLarge));
            }
            caps.push((cap_type, pd, slot, self.loc(child)));
        }
        Ok(caps)
    }

    // ------------------------------------------------------------------
    // <memory_region>
    // ------------------------------------------------------------------

    fn memory_region(&self, node: Node) -> Result<MemoryRegion> {
        self.check_attributes(
            node,
            &[
                "name",
                "size",
                "page_size",
                "phys_addr",
                "prefill_path",
                "prefill_bootinfo",
            ],
        )?;
        let name = self.required(node, "name")?.to_string();
        let (page_size, page_size_specified) = match node.attribute("page_size") {
            Some(s) => (self.number(node, s)?, true),
            None => (self.cfg.page_sizes()[0], false),
        };
        if !self.cfg.page_sizes().contains(&page_size) {
            return Err(self.err(node, ErrorKind::UnsupportedPageSize { page_size }));
        }

        let prefill = match node.attribute("prefill_path") {
            None => None,
            Some(p) => {
                let resolved = self
                    .cfg
                    .search_paths
                    .iter()
                    .map(|dir| dir.join(p))
                    .find(|full| full.exists())
                    .ok_or_else(|| self.err(node, ErrorKind::PrefillNotFound(p.to_string())))?;
                let bytes = std::fs::read(&resolved)
                    .map_err(|_| self.err(node, ErrorKind::PrefillUnreadable(p.to_string())))?;
                if bytes.is_empty() {
                    return Err(self.err(node, ErrorKind::PrefillEmpty(p.to_string())));
                }
                Some(Prefill {
                    path: p.to_string(),
                    resolved,
                    len: bytes.len() as u64,
                })
            }
        };
        let prefill_bootinfo = match node.attribute("prefill_bootinfo") {
            None => None,
            Some(t) => Some(match t {
                "x86_vbe" => BootInfoFill::X86Vbe,
                "x86_mbmmap" => BootInfoFill::X86Mbmmap,
                "x86_acpi_rsdp" => BootInfoFill::X86AcpiRsdp,
                "x86_framebuffer" => BootInfoFill::X86FrameBuffer,
                "x86_tsc_freq" => BootInfoFill::X86TscFreq,
                "fdt" => BootInfoFill::Fdt,
                _ => return Err(self.err(node, ErrorKind::InvalidBootInfo(t.to_string()))),
            }),
        };
        if prefill.is_some() && prefill_bootinfo.is_some() {
            return Err(self.err(node, ErrorKind::PrefillBothKinds));
        }

        let size = match node.attribute("size") {
            Some(s) => {
                let size = self.number(node, s)?;
                if size % page_size != 0 {
                    return Err(self.err(node, ErrorKind::SizeNotPageMultiple { size, page_size }));
                }
                if let Some(p) = &prefill {
                    if p.len > size {
                        return Err(self.err(node, ErrorKind::PrefillTooLarge { len: p.len, size }));
                    }
                }
                size
            }
            None => {
                if prefill_bootinfo.is_some() {
                    page_size
                } else if let Some(p) = &prefill {
                    p.len.div_ceil(page_size) * page_size
                } else {
                    return Err(self.err(node, ErrorKind::MissingSize));
                }
            }
        };

        let phys_addr = match node.attribute("phys_addr") {
            Some(s) => Some(self.number(node, s)?),
            None => None,
        };
        if let Some(phys_addr) = phys_addr {
            if phys_addr % page_size != 0 {
                return Err(self.err(
                    node,
                    ErrorKind::PhysAddrUnaligned {
                        phys_addr,
                        page_size,
                    },
                ));
            }
        }

        Ok(MemoryRegion {
            name,
            size,
            page_size: page_size_of(page_size),
            phys_addr,
            loc: self.loc(node),
            page_size_specified,
            paddr_tool_allocated: false,
            prefill,
            prefill_bootinfo,
        })
    }

    // ------------------------------------------------------------------
    // <channel>
    // ------------------------------------------------------------------

    fn channel(&self, node: Node, pds: &[ProtectionDomain]) -> Result<Channel> {
        self.check_attributes(node, &[])?;
        let mut ends = Vec::new();
        for child in node.children().filter(|c| c.is_element()) {
            ends.push(self.channel_end(child, node, pds)?);
        }
        let [end_a, end_b]: [ChannelEnd; 2] = ends
            .try_into()
            .map_err(|_| self.err(node, ErrorKind::ChannelEndCount))?;
        if end_a.pp && end_b.pp {
            return Err(self.err(node, ErrorKind::BidirectionalPpc));
        }
        Ok(Channel {
            end_a,
            end_b,
            loc: self.loc(node),
        })
    }

    fn channel_end(
        &self,
        node: Node,
        channel: Node,
        pds: &[ProtectionDomain],
    ) -> Result<ChannelEnd> {
        if node.tag_name().name() != "end" {
            return Err(self.invalid_element(node, channel));
        }
        self.check_attributes(node, &["pd", "id", "pp", "notify", "setvar_id"])?;
        let pd_name = self.required(node, "pd")?;
        let id = self.id(node)?;
        let notify = self.boolean(node, "notify", true)?;
        let pp = self.boolean(node, "pp", false)?;
        let Some(pd) = pds.iter().position(|p| p.name == pd_name) else {
            return Err(self.err(
                node,
                ErrorKind::UnknownPd {
                    name: pd_name.to_string(),
                },
            ));
        };
        Ok(ChannelEnd {
            pd,
            id,
            pp,
            notify,
            setvar_id: node.attribute("setvar_id").map(str::to_string),
            loc: self.loc(node),
        })
    }

    // ------------------------------------------------------------------
    // <io_address_space>
    // ------------------------------------------------------------------

    fn io_address_space(
        &self,
        node: Node,
        names: &mut Vec<String>,
        domain_ids: &mut Vec<u64>,
        devices: &mut Vec<PciDevice>,
    ) -> Result<Vec<IoMap>> {
        if !self.cfg.iommu {
            return Err(self.err(node, ErrorKind::IommuDisabled));
        }
        self.check_attributes(node, &["name", "peripheral_id", "domain_id"])?;
        let name = self.required(node, "name")?;
        if names.iter().any(|n| n == name) {
            return Err(self.err(node, ErrorKind::DuplicateDeviceName(name.to_string())));
        }
        names.push(name.to_string());
        let domain_id = if self.cfg.arch == Arch::X86_64 {
            let d = self.number(node, self.required(node, "domain_id")?)?;
            if domain_ids.contains(&d) {
                return Err(self.err(node, ErrorKind::DuplicateDomainId));
            }
            domain_ids.push(d);
            Some(d)
        } else {
            None
        };
        let pid = self.required(node, "peripheral_id")?;
        let pci = match self.cfg.arch {
            Arch::X86_64 => parse_pci(pid).map_err(|reason| {
                self.err(
                    node,
                    ErrorKind::InvalidPeripheralId {
                        value: pid.to_string(),
                        reason,
                    },
                )
            })?,
            arch => {
                return Err(self.err(
                    node,
                    ErrorKind::InvalidPeripheralId {
                        value: pid.to_string(),
                        reason: format!("IOMMU device identifiers are not supported on {arch}"),
                    },
                ))
            }
        };
        if devices.contains(&pci) {
            return Err(self.err(node, ErrorKind::DuplicatePeripheralId(pci)));
        }
        devices.push(pci);
        let mut maps = Vec::new();
        for child in node.children().filter(|c| c.is_element()) {
            if child.tag_name().name() != "iomap" {
                return Err(self.invalid_element(child, node));
            }
            self.check_attributes(child, &["mr", "iovaddr", "perms"])?;
            let mr = self.required(child, "mr")?.to_string();
            let iovaddr = self.number(child, self.required(child, "iovaddr")?)?;
            if iovaddr > MAX_IOVA {
                return Err(self.err(child, ErrorKind::IovaddrTooHigh { iovaddr }));
            }
            let perms = match child.attribute("perms") {
                None => IoPerms::ReadWrite,
                Some(s) => {
                    let (mut r, mut w) = (false, false);
                    for c in s.chars() {
                        match c {
                            'r' => r = true,
                            'w' => w = true,
                            _ => return Err(self.err(child, ErrorKind::InvalidIoPerms)),
                        }
                    }
                    match (r, w) {
                        (true, true) => IoPerms::ReadWrite,
                        (true, false) => IoPerms::Read,
                        (false, true) => IoPerms::Write,
                        (false, false) => return Err(self.err(child, ErrorKind::InvalidIoPerms)),
                    }
                }
            };
            maps.push(IoMap {
                device: name.to_string(),
                pci,
                domain_id: domain_id.unwrap_or(0),
                mr,
                iovaddr,
                perms,
                loc: self.loc(child),
            });
        }
        Ok(maps)
    }

    // ------------------------------------------------------------------
    // <domains>
    // ------------------------------------------------------------------

    fn domains(&self, node: Node) -> Result<Domains> {
        self.check_attributes(node, &[])?;
        if self.cfg.num_cores != 1 {
            return Err(self.err(node, ErrorKind::DomainsOnSmp));
        }
        let mut names: Vec<(String, Option<u8>)> = Vec::new();
        let mut schedule_node = None;
        for child in node.children().filter(|c| c.is_element()) {
            match child.tag_name().name() {
                "domain" => {
                    self.check_attributes(child, &["name", "id"])?;
                    let name = self.required(child, "name")?.to_string();
                    let id = match child.attribute("id") {
                        None => None,
                        Some(s) => {
                            let n = self.number(child, s)?;
                            if n >= u64::from(self.cfg.num_domains) {
                                return Err(self.err(
                                    child,
                                    ErrorKind::DomainIdTooLarge {
                                        id: n,
                                        num_domains: self.cfg.num_domains,
                                    },
                                ));
                            }
                            Some(n as u8)
                        }
                    };
                    if names.iter().any(|(n, _)| *n == name) {
                        return Err(self.err(child, ErrorKind::DuplicateDomainName(name)));
                    }
                    if let Some(id) = id {
                        if names.iter().any(|(_, i)| *i == Some(id)) {
                            return Err(self.err(child, ErrorKind::DuplicateDomainIdValue(id)));
                        }
                    }
                    names.push((name, id));
                }
                "domain_schedule" => {
                    if schedule_node.is_some() {
                        return Err(self.err(
                            child,
                            ErrorKind::Duplicate {
                                what: "domain_schedule",
                                element: "domains".into(),
                            },
                        ));
                    }
                    schedule_node = Some(child);
                }
                _ => return Err(self.invalid_element(child, node)),
            }
        }
        let Some(sched) = schedule_node else {
            return Err(self.err(node, ErrorKind::MissingDomainSchedule));
        };

        // Domains without an id take the lowest free id, in declaration
        // order. Microkit searches 0..=KernelNumDomains (inclusive).
        let mut taken: Vec<u8> = names.iter().filter_map(|(_, i)| *i).collect();
        let mut resolved = Vec::with_capacity(names.len());
        for (name, id) in names {
            let id = match id {
                Some(i) => i,
                None => {
                    let Some(free) = (0..=self.cfg.num_domains).find(|i| !taken.contains(i)) else {
                        return Err(self.err(node, ErrorKind::TooManyDomains(self.cfg.num_domains)));
                    };
                    taken.push(free);
                    free
                }
            };
            resolved.push((name, id));
        }

        self.check_attributes(sched, &["index_shift", "start_index"])?;
        let start_index = match sched.attribute("start_index") {
            Some(s) => self.number(sched, s)?,
            None => 0,
        };
        let index_shift = match sched.attribute("index_shift") {
            Some(s) => Some(self.number(sched, s)?),
            None => None,
        };
        let mut schedule = Vec::new();
        for child in sched.children().filter(|c| c.is_element()) {
            match child.tag_name().name() {
                "schedule_entry" => {
                    self.check_attributes(child, &["domain", "duration"])?;
                    let dn = self.required(child, "domain")?;
                    let ds = self.required(child, "duration")?;
                    let Some((_, domain)) = resolved.iter().find(|(n, _)| n == dn) else {
                        return Err(self.err(child, ErrorKind::UnknownDomain(dn.to_string())));
                    };
                    let Some((raw, unit)) = ds.split_once(' ') else {
                        return Err(self.err(child, ErrorKind::InvalidDuration(ds.to_string())));
                    };
                    let v = self.number(child, raw)?;
                    if v == 0 {
                        return Err(self.err(child, ErrorKind::ZeroDuration(ds.to_string())));
                    }
                    let duration = match unit {
                        "us" => Duration::Us(v),
                        "ticks" => Duration::Ticks(v),
                        _ => {
                            return Err(self.err(child, ErrorKind::InvalidDuration(ds.to_string())))
                        }
                    };
                    schedule.push(ScheduleEntry {
                        domain: *domain,
                        duration,
                    });
                }
                "schedule_end_marker" => {
                    self.check_attributes(child, &[])?;
                    schedule.push(ScheduleEntry {
                        domain: 0,
                        duration: Duration::EndMarker,
                    });
                }
                _ => return Err(self.invalid_element(child, sched)),
            }
        }
        let max = self.cfg.num_domain_schedules;
        if schedule.len() as u64 >= max {
            return Err(self.err(sched, ErrorKind::TooManyScheduleEntries(max)));
        }
        if start_index >= schedule.len() as u64 {
            return Err(self.err(
                sched,
                ErrorKind::StartIndexOutOfRange {
                    index: start_index,
                    len: schedule.len(),
                },
            ));
        }
        if let Some(shift) = index_shift {
            if shift
                .checked_add(schedule.len() as u64)
                .is_none_or(|e| e >= max)
            {
                return Err(self.err(
                    sched,
                    ErrorKind::IndexShiftOutOfRange {
                        shift,
                        len: schedule.len(),
                        max,
                    },
                ));
            }
        }
        Ok(Domains {
            names: resolved,
            start_index,
            index_shift,
            schedule,
        })
    }
}

fn page_size_of(bytes: u64) -> PageSize {
    if bytes == PageSize::Large.bytes() {
        PageSize::Large
    } else {
        PageSize::Small
    }
}

/// `bus:device.function`, each hexadecimal (Microkit's `PciDevice::from_str`).
fn parse_pci(s: &str) -> core::result::Result<PciDevice, String> {
    const FORM: &str = "expected PCI address in bus:device.function form";
    let (bus, rest) = s.split_once(':').ok_or(FORM)?;
    let (device, function) = rest.split_once('.').ok_or(FORM)?;
    let field = |t: &str, name: &str, max: i64| -> core::result::Result<u8, String> {
        let v =
            i64::from_str_radix(t.trim(), 16).map_err(|_| format!("failed to parse PCI {name}"))?;
        if (0..=max).contains(&v) {
            Ok(v as u8)
        } else {
            Err(format!("PCI {name} must be within [0..{max}]"))
        }
    };
    Ok(PciDevice {
        bus: field(bus, "bus", 255)?,
        device: field(device, "device", 31)?,
        function: field(function, "function", 7)?,
    })
}

mod checks;
