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
    /// Unique name (at most 64 bytes, as Microkit's `microkit_name`).
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
