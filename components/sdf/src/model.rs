//! The validated form of a system description. Everything the runtimes need
//! (the host runner and the seL4 image builder) is here; names are resolved
//! and every id is already checked.
//!
//! Contract between crates: fields may be added, none renamed or removed.

/// Where in the source file an element starts, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number.
    pub column: u32,
}

/// A whole system description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemDescription {
    /// Protection domains, top level and children (children have `parent`).
    pub protection_domains: Vec<ProtectionDomain>,
    /// Memory regions.
    pub memory_regions: Vec<MemoryRegion>,
    /// Channels between two protection domains.
    pub channels: Vec<Channel>,
    /// IOMMU mappings (`<iomap>` inside `<io_address_space>`, x86-64 only).
    pub io_maps: Vec<IoMap>,
    /// The domain schedule (`<domains>`), if the file declares one.
    pub domains: Option<Domains>,
    /// Non-fatal findings the Microkit tool prints as `WARNING:` (e.g. unused regions).
    pub warnings: Vec<Warning>,
}

impl SystemDescription {
    /// Index of the protection domain called `name`.
    pub fn pd_index(&self, name: &str) -> Option<usize> {
        self.protection_domains.iter().position(|p| p.name == name)
    }

    /// The memory region called `name`.
    pub fn memory_region(&self, name: &str) -> Option<&MemoryRegion> {
        self.memory_regions.iter().find(|m| m.name == name)
    }

    /// Every channel end of PD `pd` with the end at the other side, as
    /// `(local, remote)`. A loop-back channel (both ends in `pd`) appears
    /// twice, once from each end.
    pub fn channel_ends(&self, pd: usize) -> impl Iterator<Item = (&ChannelEnd, &ChannelEnd)> + '_ {
        self.channels.iter().flat_map(move |ch| {
            let a = (ch.end_a.pd == pd).then_some((&ch.end_a, &ch.end_b));
            let b = (ch.end_b.pd == pd).then_some((&ch.end_b, &ch.end_a));
            a.into_iter().chain(b)
        })
    }

    /// The children of PD `pd` (indices).
    pub fn children(&self, pd: usize) -> impl Iterator<Item = usize> + '_ {
        self.protection_domains
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.parent == Some(pd))
            .map(|(i, _)| i)
    }
}

impl Perms {
    /// Rights as Microkit's `perms` string (`r`, `w`, `x` in that order).
    pub fn as_microkit_str(&self) -> String {
        let mut s = String::new();
        for (on, c) in [(self.read, 'r'), (self.write, 'w'), (self.execute, 'x')] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// Access rights of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

/// A memory region mapped into a protection domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// Name of the memory region.
    pub mr: String,
    /// Virtual address in the PD.
    pub vaddr: u64,
    /// Access rights.
    pub perms: Perms,
    /// Whether the mapping is cached (default true).
    pub cached: bool,
    /// Name of the program symbol patched with `vaddr`, if any.
    pub setvar_vaddr: Option<String>,
    /// Name of the program symbol patched with the region's size, if any.
    pub setvar_size: Option<String>,
    /// Name of the program symbol patched with the size of the region's prefill data.
    pub setvar_prefill_size: Option<String>,
    /// Source location.
    pub loc: Loc,
}

/// An interrupt delivered to a PD as a notification on channel `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Irq {
    /// Hardware IRQ number.
    pub irq: u64,
    /// Channel id it arrives on.
    pub id: u8,
    /// Edge (true) or level (false) triggered.
    pub edge_triggered: bool,
    /// Name of the program symbol patched with `id`, if any.
    pub setvar_id: Option<String>,
    /// Which kind of interrupt (ARM/RISC-V, or x86 I/O APIC or MSI). For x86
    /// interrupts `irq` holds the vector and `edge_triggered` the I/O APIC
    /// trigger (false for MSI).
    pub kind: IrqKind,
    /// Source location.
    pub loc: Loc,
}

/// A `<setvar symbol=".." region_paddr=".."/>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetVar {
    /// Program symbol to patch.
    pub symbol: String,
    /// Memory region whose physical address is written there.
    pub region_paddr: String,
    /// Source location.
    pub loc: Loc,
}

/// A protection domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionDomain {
    /// Unique name. Any length is accepted, as by Microkit; its monitor keeps
    /// the first 64 bytes (see [`Warning::LongPdName`]).
    pub name: String,
    /// Priority, 0..=254.
    pub priority: u8,
    /// Budget in microseconds.
    pub budget: u64,
    /// Period in microseconds (defaults to the budget).
    pub period: u64,
    /// Passive PDs run only on protected calls.
    pub passive: bool,
    /// Stack size in bytes.
    pub stack_size: u64,
    /// Program image path, as written in the file.
    pub program_image: String,
    /// Memory mappings.
    pub maps: Vec<Map>,
    /// Interrupts.
    pub irqs: Vec<Irq>,
    /// Symbols patched with region physical addresses.
    pub setvars: Vec<SetVar>,
    /// Index of the parent PD in `protection_domains`, for child PDs.
    pub parent: Option<usize>,
    /// Child PD id (from the `id` attribute), for child PDs.
    pub child_id: Option<u8>,
    /// Symbol in the parent's program patched with `child_id`, for child PDs.
    pub setvar_id: Option<String>,
    /// `path_for_symbols` of `<program_image>`, if given.
    pub program_image_for_symbols: Option<String>,
    /// ARM SMC forwarding allowed (`smc`, default false).
    pub smc: bool,
    /// CPU core the PD runs on (`cpu`, default 0).
    pub cpu: u8,
    /// Scheduling domain (index into `SystemDescription::domains`), when the
    /// file declares a domain schedule.
    pub domain: Option<u8>,
    /// FPU enabled (`fpu`, default true).
    pub fpu: bool,
    /// x86 I/O ports.
    pub ioports: Vec<IoPort>,
    /// Extra capabilities placed in the PD's CSpace (`<cspace>`).
    pub cap_maps: Vec<CapMap>,
    /// The virtual machine this PD manages, if any.
    pub virtual_machine: Option<VirtualMachine>,
    /// Source location.
    pub loc: Loc,
}

/// Page size of a memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB.
    Small,
    /// 2 MiB.
    Large,
}

impl PageSize {
    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Small => 0x1000,
            PageSize::Large => 0x20_0000,
        }
    }
}

/// A memory region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Unique name.
    pub name: String,
    /// Size in bytes, a multiple of the page size.
    pub size: u64,
    /// Page size.
    pub page_size: PageSize,
    /// Fixed physical address (device memory), if any.
    pub phys_addr: Option<u64>,
    /// Whether `page_size` was written in the file. When it was not, the
    /// page size is the one the Microkit tool picks: the largest page size
    /// that divides the size and every address the region is mapped at.
    pub page_size_specified: bool,
    /// Physical address is chosen by the tool because a `<setvar
    /// region_paddr>` names this region and `phys_addr` is absent.
    pub paddr_tool_allocated: bool,
    /// Prefill data read from `prefill_path`.
    pub prefill: Option<Prefill>,
    /// Boot-information prefill (`prefill_bootinfo`).
    pub prefill_bootinfo: Option<BootInfoFill>,
    /// Source location.
    pub loc: Loc,
}

/// One end of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEnd {
    /// Index of the PD in `protection_domains`.
    pub pd: usize,
    /// Channel id at this end, 0..=61.
    pub id: u8,
    /// This end may make protected calls over the channel.
    pub pp: bool,
    /// This end may notify the other end.
    pub notify: bool,
    /// Name of the program symbol patched with `id`, if any.
    pub setvar_id: Option<String>,
    /// Source location of the `<end>` element.
    pub loc: Loc,
}

/// A channel between two PDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// First `<end>`.
    pub end_a: ChannelEnd,
    /// Second `<end>`.
    pub end_b: ChannelEnd,
    /// Source location.
    pub loc: Loc,
}

/// What kind of interrupt an `<irq>` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqKind {
    /// ARM or RISC-V interrupt (`irq` attribute).
    Conventional,
    /// x86-64 I/O APIC interrupt (`pin` attribute).
    IoApic {
        /// I/O APIC unit (default 0).
        ioapic: u64,
        /// Pin on the unit.
        pin: u64,
        /// Active low (`polarity="low"`); default high.
        polarity_low: bool,
    },
    /// x86-64 message-signalled interrupt (`pcidev` attribute).
    Msi {
        /// PCI device.
        pci: PciDevice,
        /// MSI handle.
        handle: u64,
    },
}

/// A PCI address `bus:device.function`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciDevice {
    /// Bus, 0..=255.
    pub bus: u8,
    /// Device, 0..=31.
    pub device: u8,
    /// Function, 0..=7.
    pub function: u8,
}

impl core::fmt::Display for PciDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{:x}",
            self.bus, self.device, self.function
        )
    }
}

/// An x86 I/O port range given to a PD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoPort {
    /// Id (0..=61) the capability is reached by.
    pub id: u8,
    /// First port.
    pub addr: u64,
    /// Number of ports (> 0).
    pub size: u64,
    /// Symbol patched with `id`, if any.
    pub setvar_id: Option<String>,
    /// Symbol patched with `addr`, if any.
    pub setvar_addr: Option<String>,
    /// Source location.
    pub loc: Loc,
}

/// Kind of capability in a `<cspace>` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapType {
    /// `<cap_tcb>`: the TCB of another PD.
    Tcb,
    /// `<cap_sc>`: the scheduling context of another PD.
    Sc,
    /// `<cap_vspace>`: the address space of another PD.
    VSpace,
}

/// A `<cap_*>` entry of a `<cspace>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapMap {
    /// Which capability.
    pub cap_type: CapType,
    /// Index of the PD the capability refers to.
    pub pd: usize,
    /// Destination slot, 1..=127.
    pub slot: u64,
    /// Source location.
    pub loc: Loc,
}

/// A virtual CPU of a virtual machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCpu {
    /// Id, 0..=61.
    pub id: u8,
    /// Symbol patched with `id`, if any.
    pub setvar_id: Option<String>,
    /// CPU core, if given.
    pub cpu: Option<u8>,
    /// Source location.
    pub loc: Loc,
}

/// A virtual machine managed by a PD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMachine {
    /// Unique name.
    pub name: String,
    /// Virtual CPUs (at least one).
    pub vcpus: Vec<VirtualCpu>,
    /// Guest-physical mappings.
    pub maps: Vec<Map>,
    /// Priority (aarch64 only; 0 elsewhere).
    pub priority: u8,
    /// Budget in microseconds (aarch64 only; default 1000).
    pub budget: u64,
    /// Period in microseconds (aarch64 only; defaults to the budget).
    pub period: u64,
    /// Source location.
    pub loc: Loc,
}

/// Data a memory region is prefilled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefill {
    /// `prefill_path` as written in the file.
    pub path: String,
    /// The file found on the search path.
    pub resolved: std::path::PathBuf,
    /// Length of the file in bytes.
    pub len: u64,
}

/// A `prefill_bootinfo` kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoFill {
    /// `x86_vbe`.
    X86Vbe,
    /// `x86_mbmmap`.
    X86Mbmmap,
    /// `x86_acpi_rsdp`.
    X86AcpiRsdp,
    /// `x86_framebuffer`.
    X86FrameBuffer,
    /// `x86_tsc_freq`.
    X86TscFreq,
    /// `fdt`.
    Fdt,
}

/// Access rights of an IOMMU mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPerms {
    /// Read only.
    Read,
    /// Write only.
    Write,
    /// Read and write.
    ReadWrite,
}

/// An `<iomap>`: a memory region mapped into a device's I/O address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoMap {
    /// Device name (the `<io_address_space name>`).
    pub device: String,
    /// Device identifier.
    pub pci: PciDevice,
    /// IOMMU domain id.
    pub domain_id: u64,
    /// Memory region name.
    pub mr: String,
    /// I/O virtual address.
    pub iovaddr: u64,
    /// Access rights.
    pub perms: IoPerms,
    /// Source location.
    pub loc: Loc,
}

/// How long a domain schedule entry lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    /// Microseconds (non-zero).
    Us(u64),
    /// Kernel ticks (non-zero).
    Ticks(u64),
    /// `<schedule_end_marker/>`.
    EndMarker,
}

/// One entry of the domain schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleEntry {
    /// Domain id.
    pub domain: u8,
    /// Duration.
    pub duration: Duration,
}

/// The `<domains>` element: named domains and their schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Domains {
    /// Domain names and their ids, in the order declared.
    pub names: Vec<(String, u8)>,
    /// `start_index` of the schedule (default 0).
    pub start_index: u64,
    /// `index_shift` of the schedule, if given.
    pub index_shift: Option<u64>,
    /// The schedule.
    pub schedule: Vec<ScheduleEntry>,
}

/// A non-fatal finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A memory region no PD or VM maps (Microkit: `WARNING: unused memory region`).
    UnusedMemoryRegion {
        /// Its name.
        name: String,
        /// Where it is declared.
        loc: Loc,
    },
    /// A PD name longer than 64 bytes: Microkit accepts it but the monitor
    /// only keeps the first 64 bytes.
    LongPdName {
        /// The name.
        name: String,
        /// Where the PD is declared.
        loc: Loc,
    },
}

impl core::fmt::Display for Warning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Warning::UnusedMemoryRegion { name, .. } => {
                write!(f, "unused memory region '{name}'")
            }
            Warning::LongPdName { name, .. } => write!(
                f,
                "protection domain name '{name}' is longer than 64 bytes and is truncated in the monitor"
            ),
        }
    }
}
