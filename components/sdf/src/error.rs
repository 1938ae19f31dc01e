//! Errors of the parser and validator.
//!
//! Every error carries the file name, the position of the element (or
//! attribute) that breaks a rule, and an [`ErrorKind`] naming the rule. The
//! wording of [`ErrorKind`]'s `Display` follows the Microkit 2.3.0 tool's
//! messages so that users of both see the same text.

use crate::model::Loc;
use core::fmt;

/// A system description was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdfError {
    /// File name as given to [`crate::parse`] (or the path of [`crate::parse_file`]).
    pub file: String,
    /// Where the rule is broken; `None` only for errors about the whole file
    /// (e.g. it cannot be read).
    pub loc: Option<Loc>,
    /// Which rule is broken.
    pub kind: ErrorKind,
}

impl SdfError {
    /// 1-based line of the error, 0 when there is no location.
    pub fn line(&self) -> u32 {
        self.loc.map_or(0, |l| l.line)
    }
}

impl fmt::Display for SdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.loc {
            Some(loc) => write!(
                f,
                "{}:{}:{}: {}",
                self.file, loc.line, loc.column, self.kind
            ),
            None => write!(f, "{}: {}", self.file, self.kind),
        }
    }
}

impl std::error::Error for SdfError {}

/// The rule a system description breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    // ----- the file and the XML -----
    /// The file could not be read.
    Io(String),
    /// The text is not well-formed XML (roxmltree's message).
    Xml(String),
    /// The root element is not `<system>`.
    RootNotSystem(String),
    /// Non-whitespace text directly inside `<system>`.
    UnexpectedText(String),
    /// An element that is not allowed where it appears.
    InvalidElement {
        /// The element found.
        element: String,
        /// The element it appears in.
        parent: String,
    },
    /// An attribute the element does not have.
    InvalidAttribute {
        /// The attribute.
        attribute: String,
        /// The element.
        element: String,
    },
    /// A required attribute is missing.
    MissingAttribute {
        /// The attribute.
        attribute: &'static str,
        /// The element.
        element: String,
    },
    /// An attribute that must be an integer is not one (or does not fit).
    InvalidNumber {
        /// The text found.
        value: String,
        /// The element.
        element: String,
        /// Why it does not parse (Rust's `ParseIntError` text).
        reason: String,
    },
    /// A boolean attribute is neither `true` nor `false`.
    InvalidBool {
        /// The attribute.
        attribute: &'static str,
        /// The element.
        element: String,
    },
    /// An element that may appear once appears twice.
    Duplicate {
        /// The repeated element.
        what: &'static str,
        /// The element it appears in.
        element: String,
    },
    /// An id (channel end, irq, ioport, vcpu) above 61.
    IdTooLarge {
        /// The id.
        id: i64,
        /// The element.
        element: String,
    },
    /// An id below 0.
    IdNegative {
        /// The id.
        id: i64,
        /// The element.
        element: String,
    },

    // ----- protection domains -----
    /// `priority` above 254.
    PriorityOutOfRange {
        /// The priority.
        priority: u64,
        /// The element.
        element: String,
    },
    /// `budget` greater than `period`.
    BudgetExceedsPeriod {
        /// The budget.
        budget: u64,
        /// The period.
        period: u64,
        /// The element.
        element: String,
    },
    /// `stack_size` outside 0x1000..=0x1000000.
    StackSizeOutOfRange {
        /// The stack size.
        stack_size: u64,
    },
    /// `stack_size` not a multiple of the smallest page size.
    StackSizeUnaligned {
        /// The stack size.
        stack_size: u64,
        /// The smallest page size.
        page_size: u64,
    },
    /// `cpu` not below the number of cores.
    CpuOutOfRange {
        /// The core.
        cpu: u64,
        /// Number of cores of the kernel configuration.
        num_cores: u8,
        /// The element.
        element: String,
    },
    /// `smc="true"` but the kernel does not forward SMC calls.
    SmcNotEnabled,
    /// `smc="true"` on an architecture without SMC.
    SmcUnsupportedArch,
    /// No `<program_image>` in a PD.
    MissingProgramImage {
        /// The PD.
        pd: String,
    },
    /// A program symbol is patched twice in one PD.
    DuplicateSetVar {
        /// The symbol.
        symbol: String,
        /// The element.
        element: String,
    },
    /// A child PD id above 61 (Microkit 2.3.0 does not check it and builds a
    /// broken image; earlier releases rejected it, and so do we).
    ChildIdTooLarge {
        /// The id.
        id: u64,
    },
    /// Two children of one PD with the same id.
    DuplicateChildId {
        /// The id.
        id: u64,
        /// The parent PD.
        pd: String,
    },
    /// A child PD id equal to a vcpu id of the parent's virtual machine.
    ChildIdClashesVcpu {
        /// The id.
        id: u64,
        /// The parent PD.
        pd: String,
    },
    /// `<ioport>` on an architecture other than x86-64.
    IoPortsUnsupported,
    /// `<ioport>` with size 0 (or negative).
    IoPortSizeZero,
    /// Two ioports with the same id in one PD.
    DuplicateIoPortId {
        /// The id.
        id: u8,
        /// The PD.
        pd: String,
    },
    /// Two ioport ranges overlap.
    IoPortOverlap {
        /// This port's id.
        id: u8,
        /// This port's range start.
        start: u64,
        /// This port's range end.
        end: u64,
        /// This port's PD.
        pd: String,
        /// The other port's id.
        other_id: u8,
        /// The other port's start.
        other_start: u64,
        /// The other port's end.
        other_end: u64,
        /// The other port's PD.
        other_pd: String,
        /// Where the other port is.
        other_loc: Loc,
    },

    // ----- maps -----
    /// `perms` with letters other than r, w, x.
    InvalidPerms {
        /// The text found.
        perms: String,
    },
    /// `perms="w"`: the kernel has no write-only mappings.
    WriteOnlyMapping,
    /// `vaddr` at or above the top of the usable address space.
    VaddrTooHigh {
        /// The address.
        vaddr: u64,
        /// First address not allowed.
        max: u64,
    },
    /// A map names a memory region that does not exist.
    UnknownMemoryRegion {
        /// The region name.
        mr: String,
        /// `map` or `iomap`.
        element: &'static str,
    },
    /// A map address is not aligned to the region's page size.
    MapUnaligned {
        /// `vaddr` or `iovaddr`.
        addr_name: &'static str,
        /// `map` or `iomap`.
        element: &'static str,
        /// The address.
        addr: u64,
        /// The page size.
        page_size: u64,
    },
    /// A map's end address overflows 64 bits.
    MapOverflow {
        /// The region name.
        mr: String,
        /// `map` or `iomap`.
        element: &'static str,
    },
    /// A map's range goes past the end of the address space.
    MapOutOfRange {
        /// The region name.
        mr: String,
        /// `map` or `iomap`.
        element: &'static str,
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// First address not allowed.
        max: u64,
    },
    /// Two maps of one address space overlap.
    MapOverlap {
        /// The region name.
        mr: String,
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// The other region.
        other_mr: String,
        /// Other start.
        other_start: u64,
        /// Other end.
        other_end: u64,
        /// `protection domain 'x'`, `virtual machine 'y'` or a PCI device.
        space: String,
        /// `virtual address range` or `io address range`.
        range_name: &'static str,
    },

    // ----- interrupts -----
    /// An interrupt kind the architecture does not have.
    IrqKindUnsupported(&'static str),
    /// `trigger` is neither `level` nor `edge`.
    InvalidTrigger,
    /// `polarity` is neither `low` nor `high`.
    InvalidPolarity,
    /// A value that must not be negative (`ioapic`, `pin`, `handle`).
    NegativeValue(&'static str),
    /// An x86 vector outside 0..=107.
    VectorOutOfRange {
        /// The vector.
        vector: i64,
    },
    /// A malformed PCI address.
    InvalidPci(String),
    /// Two interrupts with the same hardware number.
    DuplicateIrq {
        /// The IRQ number (x86: vector).
        irq: u64,
        /// The PD holding the second one.
        pd: String,
    },

    // ----- memory regions -----
    /// `page_size` not supported by the architecture.
    UnsupportedPageSize {
        /// The page size.
        page_size: u64,
    },
    /// `size` not a multiple of the page size.
    SizeNotPageMultiple {
        /// The size.
        size: u64,
        /// The page size.
        page_size: u64,
    },
    /// `phys_addr` not aligned to the page size.
    PhysAddrUnaligned {
        /// The address.
        phys_addr: u64,
        /// The page size.
        page_size: u64,
    },
    /// No `size` and no prefill.
    MissingSize,
    /// `prefill_path` not found on the search paths.
    PrefillNotFound(String),
    /// `prefill_path` could not be read.
    PrefillUnreadable(String),
    /// `prefill_path` is an empty file.
    PrefillEmpty(String),
    /// The prefill file is bigger than `size`.
    PrefillTooLarge {
        /// File length.
        len: u64,
        /// Region size.
        size: u64,
    },
    /// Unknown `prefill_bootinfo` kind.
    InvalidBootInfo(String),
    /// Both `prefill_path` and `prefill_bootinfo`.
    PrefillBothKinds,
    /// `setvar_prefill_size` on a region without `prefill_path`.
    PrefillSizeWithoutPrefill {
        /// The region.
        mr: String,
    },
    /// `<setvar region_paddr>` of a region without `phys_addr` on x86-64.
    RegionPaddrUnsupported {
        /// The region.
        mr: String,
    },
    /// Two regions with fixed physical addresses overlap.
    PhysOverlap {
        /// The region.
        mr: String,
        /// Its start.
        start: u64,
        /// Its end.
        end: u64,
        /// The other region.
        other_mr: String,
        /// Other start.
        other_start: u64,
        /// Other end.
        other_end: u64,
    },

    // ----- channels -----
    /// A channel without exactly two `<end>`s.
    ChannelEndCount,
    /// A reference to a PD that does not exist.
    UnknownPd {
        /// The name.
        name: String,
    },
    /// Both ends have `pp="true"`.
    BidirectionalPpc,
    /// A protected call towards a PD of equal or lower priority.
    PpcPriority {
        /// Caller.
        from: String,
        /// Caller priority.
        from_priority: u8,
        /// Callee.
        to: String,
        /// Callee priority.
        to_priority: u8,
    },
    /// Two channels or interrupts with the same id in one PD.
    DuplicateChannelId {
        /// The id.
        id: u8,
        /// The PD.
        pd: String,
    },

    // ----- whole system -----
    /// No protection domain at all.
    NoProtectionDomains,
    /// More than 63 protection domains.
    TooManyProtectionDomains {
        /// How many.
        count: usize,
    },
    /// Two PDs with the same name.
    DuplicatePdName(String),
    /// A PD named `monitor`.
    ReservedPdName,
    /// Two memory regions with the same name.
    DuplicateMrName(String),
    /// Two virtual machines with the same name.
    DuplicateVmName(String),

    // ----- virtual machines -----
    /// The kernel is not built as a hypervisor.
    HypervisorDisabled,
    /// `<virtual_machine>` directly in `<system>`.
    VirtualMachineNotChild,
    /// A virtual machine without `<vcpu>`.
    MissingVcpu {
        /// The VM.
        vm: String,
    },
    /// Two vcpus with the same id.
    DuplicateVcpuId {
        /// The id.
        id: u64,
        /// The VM.
        vm: String,
    },
    /// x86-64: a PD with a vCPU cannot have children.
    VmWithChildrenX86 {
        /// The PD.
        pd: String,
    },
    /// x86-64: no protected calls to a PD with a vCPU.
    PpcToVmX86 {
        /// The PD with the VM.
        to: String,
        /// The caller.
        from: String,
    },

    // ----- cspace -----
    /// Cap slot 0 is Microkit's.
    CapSlotReserved,
    /// Cap slot 128 or above.
    CapSlotTooLarge,
    /// `<cap_x>` with an unknown x.
    UnsupportedCapType(String),
    /// Two caps in one slot.
    OverlappingCaps {
        /// The slot.
        slot: u64,
        /// The PD.
        pd: String,
    },

    // ----- IOMMU -----
    /// `<io_address_space>` without an IOMMU kernel.
    IommuDisabled,
    /// Two I/O address spaces with one name.
    DuplicateDeviceName(String),
    /// Two I/O address spaces with one domain id.
    DuplicateDomainId,
    /// A device identifier the architecture cannot parse.
    InvalidPeripheralId {
        /// The text.
        value: String,
        /// Why.
        reason: String,
    },
    /// Two I/O address spaces for one device.
    DuplicatePeripheralId(PciDeviceName),
    /// `iovaddr` beyond the IOMMU's address space.
    IovaddrTooHigh {
        /// The address.
        iovaddr: u64,
    },
    /// `perms` on an iomap with letters other than r, w (or empty).
    InvalidIoPerms,
    /// Large pages in an IOMMU mapping.
    IommuLargePage,

    // ----- domains -----
    /// The domain scheduler on a multicore kernel.
    DomainsOnSmp,
    /// Two domains with one name.
    DuplicateDomainName(String),
    /// Two domains with one id.
    DuplicateDomainIdValue(u8),
    /// More domains than the kernel has.
    TooManyDomains(u8),
    /// A domain id at or above the kernel's number of domains.
    DomainIdTooLarge {
        /// The id.
        id: u64,
        /// Kernel's number of domains.
        num_domains: u8,
    },
    /// No `<domain_schedule>`.
    MissingDomainSchedule,
    /// More schedule entries than the kernel has room for.
    TooManyScheduleEntries(u64),
    /// `start_index` beyond the schedule.
    StartIndexOutOfRange {
        /// The index.
        index: u64,
        /// Schedule length.
        len: usize,
    },
    /// `index_shift` + length beyond the kernel's schedule.
    IndexShiftOutOfRange {
        /// The shift.
        shift: u64,
        /// Schedule length.
        len: usize,
        /// Kernel limit.
        max: u64,
    },
    /// A schedule entry or PD names an undeclared domain.
    UnknownDomain(String),
    /// A PD with `domain` but the file has no domain schedule.
    DomainWithoutSchedule(String),
    /// A malformed duration.
    InvalidDuration(String),
    /// A zero duration.
    ZeroDuration(String),
}

/// A PCI device as shown in messages (`PCI device 00:03.0`).
pub type PciDeviceName = crate::model::PciDevice;

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Io(e) => write!(f, "cannot read the file: {e}"),
            Xml(e) => write!(f, "not well-formed XML: {e}"),
            RootNotSystem(e) => write!(f, "the root element must be 'system', found '{e}'"),
            UnexpectedText(e) => write!(f, "unexpected text found in element '{e}'"),
            InvalidElement { element, parent } => {
                write!(f, "invalid XML element '{element}' in '{parent}'")
            }
            InvalidAttribute { attribute, element } => {
                write!(f, "invalid attribute '{attribute}' on element '{element}'")
            }
            MissingAttribute { attribute, element } => write!(
                f,
                "Missing required attribute '{attribute}' on element '{element}'"
            ),
            InvalidNumber { value, element, reason } => write!(
                f,
                "failed to parse integer '{value}' on element '{element}': {reason}"
            ),
            InvalidBool { attribute, element } => {
                write!(f, "{attribute} must be 'true' or 'false' on element '{element}'")
            }
            Duplicate { what, element } => {
                write!(f, "{what} must only be specified once on element '{element}'")
            }
            IdTooLarge { id, element } => {
                write!(f, "id must be < 62 on element '{element}' (found {id})")
            }
            IdNegative { id, element } => {
                write!(f, "id must be >= 0 on element '{element}' (found {id})")
            }
            PriorityOutOfRange { priority, element } => write!(
                f,
                "priority must be between 0 and 254 on element '{element}' (found {priority})"
            ),
            BudgetExceedsPeriod { budget, period, element } => write!(
                f,
                "budget ({budget}) must be less than, or equal to, period ({period}) on element '{element}'"
            ),
            StackSizeOutOfRange { stack_size } => write!(
                f,
                "stack size must be between 0x1000 bytes and 0x1000000 bytes (found {stack_size:#x})"
            ),
            StackSizeUnaligned { stack_size, page_size } => write!(
                f,
                "stack size must be aligned to the smallest page size, {page_size} bytes (found {stack_size:#x})"
            ),
            CpuOutOfRange { cpu, num_cores, element } => write!(
                f,
                "cpu core must be less than {num_cores}, got {cpu} on element '{element}'"
            ),
            SmcNotEnabled => write!(
                f,
                "Using SMC support without ARM SMC forwarding support enabled in the kernel for this platform"
            ),
            SmcUnsupportedArch => {
                write!(f, "ARM SMC forwarding support is not available for this architecture")
            }
            MissingProgramImage { pd } => {
                write!(f, "missing 'program_image' element on protection_domain: '{pd}'")
            }
            DuplicateSetVar { symbol, element } => {
                write!(f, "setvar on symbol '{symbol}' already exists on element '{element}'")
            }
            ChildIdTooLarge { id } => {
                write!(f, "child protection domain id must be < 62 (found {id})")
            }
            DuplicateChildId { id, pd } => {
                write!(f, "duplicate id: {id} in protection domain: '{pd}'")
            }
            ChildIdClashesVcpu { id, pd } => write!(
                f,
                "duplicate id: {id} clashes with virtual machine vcpu id in protection domain: '{pd}'"
            ),
            IoPortsUnsupported => write!(f, "I/O Ports are only available on x86"),
            IoPortSizeZero => write!(f, "size must be > 0 on element 'ioport'"),
            DuplicateIoPortId { id, pd } => {
                write!(f, "duplicate I/O port id: {id} in protection domain: '{pd}'")
            }
            IoPortOverlap {
                id,
                start,
                end,
                pd,
                other_id,
                other_start,
                other_end,
                other_pd,
                other_loc,
            } => write!(
                f,
                "I/O port id: {id}, half-open range: [{start:#x}, {end:#x}) in protection domain: '{pd}' overlaps with I/O port id: {other_id}, half-open range: [{other_start:#x}, {other_end:#x}) in protection domain: '{other_pd}' (line {})",
                other_loc.line
            ),
            InvalidPerms { perms } => write!(
                f,
                "perms must only be a combination of 'r', 'w', and 'x' on element 'map' (found '{perms}')"
            ),
            WriteOnlyMapping => write!(
                f,
                "perms must not be 'w', write-only mappings are not allowed on element 'map'"
            ),
            VaddrTooHigh { vaddr, max } => {
                write!(f, "vaddr ({vaddr:#x}) must be less than {max:#x} on element 'map'")
            }
            UnknownMemoryRegion { mr, element } => {
                write!(f, "invalid memory region name '{mr}' on '{element}'")
            }
            MapUnaligned { addr_name, element, addr, page_size } => write!(
                f,
                "invalid {addr_name} alignment on '{element}' ({addr:#x} is not a multiple of the page size {page_size:#x})"
            ),
            MapOverflow { mr, element } => {
                write!(f, "{element} for '{mr}' has address range that overflows")
            }
            MapOutOfRange { mr, element, start, end, max } => write!(
                f,
                "{element} for '{mr}' has range [{start:#x}..{end:#x}) which exceeds valid address space [0x0..{max:#x})"
            ),
            MapOverlap {
                mr,
                start,
                end,
                other_mr,
                other_start,
                other_end,
                space,
                range_name,
            } => write!(
                f,
                "map for '{mr}' has {range_name} [{start:#x}..{end:#x}) which overlaps with map for '{other_mr}' [{other_start:#x}..{other_end:#x}) in {space}"
            ),
            IrqKindUnsupported(what) => write!(f, "{what} on element 'irq'"),
            InvalidTrigger => write!(f, "trigger must be either 'level' or 'edge' on element 'irq'"),
            InvalidPolarity => write!(f, "polarity must be either 'low' or 'high' on element 'irq'"),
            NegativeValue(what) => write!(f, "{what} must be >= 0"),
            VectorOutOfRange { vector } => {
                write!(f, "vector must be within [0..107] on element 'irq' (found {vector})")
            }
            InvalidPci(e) => write!(f, "{e}"),
            DuplicateIrq { irq, pd } => {
                write!(f, "duplicate irq: {irq} in protection domain: '{pd}'")
            }
            UnsupportedPageSize { page_size } => {
                write!(f, "page size {page_size:#x} not supported on element 'memory_region'")
            }
            SizeNotPageMultiple { size, page_size } => write!(
                f,
                "size is not a multiple of the page size on element 'memory_region' ({size:#x} is not a multiple of {page_size:#x})"
            ),
            PhysAddrUnaligned { phys_addr, page_size } => write!(
                f,
                "phys_addr is not aligned to the page size on element 'memory_region' ({phys_addr:#x} is not a multiple of {page_size:#x})"
            ),
            MissingSize => write!(
                f,
                "size must be specified if memory region is not prefilled on element 'memory_region'"
            ),
            PrefillNotFound(p) => write!(f, "unable to find prefill file: '{p}'"),
            PrefillUnreadable(p) => write!(f, "failed to read file '{p}' at prefill_path"),
            PrefillEmpty(p) => write!(f, "prefill file '{p}' is empty"),
            PrefillTooLarge { len, size } => write!(
                f,
                "size of prefill file exceeds memory region size: {len:x} > {size:x}"
            ),
            InvalidBootInfo(t) => write!(f, "BootInfoMap type: '{t}' is not supported"),
            PrefillBothKinds => write!(f, "prefill_path and prefill_bootinfo cannot be both specified"),
            PrefillSizeWithoutPrefill { mr } => write!(
                f,
                "'setvar_prefill_size' used for MR without a `prefill_path` @ '{mr}'"
            ),
            RegionPaddrUnsupported { mr } => write!(
                f,
                "setvar with 'region_paddr' for MR without a specified paddr is unsupported on x86-64 @ '{mr}'"
            ),
            PhysOverlap { mr, start, end, other_mr, other_start, other_end } => write!(
                f,
                "memory region '{mr}' physical address range [{start:#x}..{end:#x}) overlaps with another memory region '{other_mr}' [{other_start:#x}..{other_end:#x})"
            ),
            ChannelEndCount => write!(f, "exactly two end elements must be specified on element 'channel'"),
            UnknownPd { name } => write!(f, "invalid PD name '{name}'"),
            BidirectionalPpc => write!(f, "cannot ppc bidirectionally on element 'channel'"),
            PpcPriority { from, from_priority, to, to_priority } => write!(
                f,
                "PPCs must be to protection domains of strictly higher priorities; channel with PPC exists from pd {from} (priority: {from_priority}) to pd {to} (priority: {to_priority})"
            ),
            DuplicateChannelId { id, pd } => {
                write!(f, "duplicate channel id: {id} in protection domain: '{pd}'")
            }
            NoProtectionDomains => write!(f, "at least one protection domain must be defined"),
            TooManyProtectionDomains { count } => write!(
                f,
                "too many protection domains ({count}) defined. Maximum is 63."
            ),
            DuplicatePdName(n) => write!(f, "duplicate protection domain name '{n}'."),
            ReservedPdName => write!(f, "the PD name 'monitor' is reserved for the Microkit Monitor."),
            DuplicateMrName(n) => write!(f, "duplicate memory region name '{n}'."),
            DuplicateVmName(n) => write!(f, "duplicate virtual machine name '{n}'."),
            HypervisorDisabled => write!(
                f,
                "seL4 has not been built as a hypervisor, virtual machines are disabled"
            ),
            VirtualMachineNotChild => {
                write!(f, "virtual machine must be a child of a protection domain")
            }
            MissingVcpu { vm } => write!(f, "missing 'vcpu' element on virtual_machine: '{vm}'"),
            DuplicateVcpuId { id, vm } => {
                write!(f, "duplicate vcpu id {id} in virtual machine '{vm}'")
            }
            VmWithChildrenX86 { pd } => write!(
                f,
                "It is not possible for PD '{pd}' with a bound vCPU to have children on x86_64"
            ),
            PpcToVmX86 { to, from } => write!(
                f,
                "It is not possible to PPC to PD '{to}' with a bound vCPU from PD '{from}' on x86_64"
            ),
            CapSlotReserved => write!(f, "The destination slot 0 has been reserved for Microkit CNode"),
            CapSlotTooLarge => write!(f, "There are only 128 destination cspace slots available."),
            UnsupportedCapType(t) => write!(f, "Cap type: '{t}' is not supported"),
            OverlappingCaps { slot, pd } => {
                write!(f, "overlapping user caps in slot {slot} of protection domain '{pd}'")
            }
            IommuDisabled => write!(
                f,
                "io address space requires seL4 to be built with IOMMU support"
            ),
            DuplicateDeviceName(n) => write!(f, "duplicate device name '{n}'"),
            DuplicateDomainId => write!(f, "reusing a domain id is forbidden"),
            InvalidPeripheralId { value, reason } => {
                write!(f, "failed to parse device peripheral_id '{value}': {reason}")
            }
            DuplicatePeripheralId(p) => write!(f, "duplicate device peripheral_id 'PCI device {p}'"),
            IovaddrTooHigh { iovaddr } => write!(
                f,
                "iovaddr ({iovaddr:#x}) must be less than 0x8000000000 on element 'iomap'"
            ),
            InvalidIoPerms => write!(
                f,
                "perms for io mapped memory must only be a combination of 'r' and 'w' on element 'iomap'"
            ),
            IommuLargePage => write!(f, "currently seL4 does not have large page support for the IOMMU"),
            DomainsOnSmp => write!(
                f,
                "The domain scheduler is not supported in multicore builds of seL4"
            ),
            DuplicateDomainName(n) => write!(f, "Each <domain>'s name element must be unique: '{n}'"),
            DuplicateDomainIdValue(i) => write!(f, "Each <domain>'s id element must be unique: {i}"),
            TooManyDomains(n) => write!(f, "Number of domains exceeds {n}"),
            DomainIdTooLarge { id, num_domains } => write!(
                f,
                "domain id {id} should be less than the configured KernelNumDomains value of {num_domains}"
            ),
            MissingDomainSchedule => write!(f, "The <domain_schedule> element must appear once"),
            TooManyScheduleEntries(n) => write!(
                f,
                "More than configured KernelNumDomainSchedules {n} number of <schedule_entry> elements found"
            ),
            StartIndexOutOfRange { index, len } => write!(
                f,
                "schedule_start_index '{index}' is greater than the length of the schedule '{len}'"
            ),
            IndexShiftOutOfRange { shift, len, max } => write!(
                f,
                "schedule_index_shift '{shift}' on top of the schedule length '{len}' would exceed the configured KernelNumDomainSchedules {max}"
            ),
            UnknownDomain(d) => write!(f, "domain '{d}' not declared in <domains>"),
            DomainWithoutSchedule(d) => write!(
                f,
                "Specifying a domain '{d}' without declaring a domain schedule is not allowed"
            ),
            InvalidDuration(d) => write!(
                f,
                "The duration '{d}' must contain a value and a unit ('us' or 'ticks'), e.g. '1000 us'"
            ),
            ZeroDuration(d) => write!(f, "The duration '{d}' must be non-zero"),
        }
    }
}
