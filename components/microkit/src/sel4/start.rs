//! PD start-up: `_start`, the stack, the symbols the Microkit tool patches,
//! and the registry of memory-region symbols.
#![allow(non_upper_case_globals)]

use core::ptr::NonNull;

use super::facts;
use crate::{MemoryRegion, MemoryRegionError, Perms};

// `_start`: Microkit starts the PD with only `pc` and `sp` set (sp = 4 KiB
// below the IPC buffer, which the tool maps in the highest page of the user
// address space) and a small stack (`stack_size` in the system description,
// default 8 KiB). We keep that initial sp (to find the IPC buffer), switch to
// the PD's own stack `__vetted_stack` of `__vetted_stack_size` bytes
// (`protection_domain!(init, stack_size = N)`, in `.bss`, with an unmapped
// guard page below it: see sel4/vetted-pd.ld), and enter Rust.
core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x0, sp",
    "    adrp x9, __vetted_stack",
    "    add x9, x9, :lo12:__vetted_stack",
    "    adrp x10, __vetted_stack_size",
    "    ldr x10, [x10, :lo12:__vetted_stack_size]",
    "    add x9, x9, x10",
    "    and x9, x9, #0xfffffffffffffff0",
    "    mov sp, x9",
    "    bl __vetted_sel4_entry",
    "1:  b 1b",
);

/// A stack or heap arena; the `protection_domain!` macro places one of each.
#[doc(hidden)]
#[repr(C, align(4096))]
pub struct Arena<const N: usize>(pub core::cell::UnsafeCell<[u8; N]>);

// SAFETY: an arena is only touched through raw pointers by the runtime (the
// stack by the CPU, the heap by the allocator, which serialises access).
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// A zeroed arena.
    pub const fn new() -> Self {
        Self(core::cell::UnsafeCell::new([0; N]))
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Default PD stack: 64 KiB (crypto code wants more than Microkit's 8 KiB).
#[doc(hidden)]
pub const DEFAULT_STACK_SIZE: usize = 0x10000;
/// Default PD heap: 1 MiB (`#[global_allocator]` over this static arena).
#[doc(hidden)]
pub const DEFAULT_HEAP_SIZE: usize = 0x10_0000;

/// The first element of `given`, or `default` (for optional macro arguments).
#[doc(hidden)]
pub const fn pick(given: &[usize], default: usize) -> usize {
    if given.is_empty() {
        default
    } else {
        given[0]
    }
}

// The symbols the Microkit tool patches into every PD ELF
// (`tool/microkit/src/symbols.rs`): all six must exist, or the tool panics.
// They are read once with volatile loads (the compiler would otherwise fold
// the zero initialisers).
#[no_mangle]
#[used]
static mut microkit_name: [u8; 64] = [0; 64];
#[no_mangle]
#[used]
static mut microkit_passive: bool = false;
#[no_mangle]
#[used]
static mut microkit_irqs: u64 = 0;
#[no_mangle]
#[used]
static mut microkit_notifications: u64 = 0;
#[no_mangle]
#[used]
static mut microkit_pps: u64 = 0;
#[no_mangle]
#[used]
static mut microkit_ioports: u64 = 0;

/// What the tool patched, read once at entry.
pub(crate) struct Patched {
    name: [u8; 64],
    pub(crate) passive: bool,
    pub(crate) irqs: u64,
    pub(crate) notifications: u64,
    pub(crate) pps: u64,
    ipc_buffer: usize,
}

impl Patched {
    pub(crate) fn name(&'static self) -> &'static str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(64);
        core::str::from_utf8(&self.name[..len]).unwrap_or("(non-UTF-8 PD name)")
    }
}

static mut PATCHED: Patched = Patched {
    name: *b"(PD not started)\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    passive: false,
    irqs: 0,
    notifications: 0,
    pps: 0,
    ipc_buffer: 0,
};

pub(crate) fn patched() -> &'static Patched {
    // SAFETY: PATCHED is written only in `__vetted_sel4_entry`, before any
    // other code of the PD runs; the PD has a single thread.
    unsafe { &*core::ptr::addr_of!(PATCHED) }
}

pub(crate) fn ipc_buffer() -> usize {
    patched().ipc_buffer
}

extern "C" {
    fn __vetted_microkit_main() -> !;
    static __vetted_heap: u8;
    static __vetted_heap_size: usize;
}

/// Called by `_start` on the PD's own stack with Microkit's initial sp.
#[no_mangle]
extern "C" fn __vetted_sel4_entry(initial_sp: usize) -> ! {
    // The IPC buffer is the highest page of the user address space (a
    // board fact from data); Microkit's initial stack top is one guard page
    // below it. A mismatch means this ELF was built for another board.
    let ipc_buffer = (facts::VSPACE_USER_TOP & !0xfff) as usize;
    // SAFETY: single-threaded start-up; the patched statics are plain data
    // in loaded segments; volatile reads see the tool's values.
    unsafe {
        let p = &mut *core::ptr::addr_of_mut!(PATCHED);
        p.name = core::ptr::read_volatile(core::ptr::addr_of!(microkit_name));
        p.passive =
            core::ptr::read_volatile(core::ptr::addr_of!(microkit_passive).cast::<u8>()) != 0;
        p.irqs = core::ptr::read_volatile(core::ptr::addr_of!(microkit_irqs));
        p.notifications = core::ptr::read_volatile(core::ptr::addr_of!(microkit_notifications));
        p.pps = core::ptr::read_volatile(core::ptr::addr_of!(microkit_pps));
        let _ = core::ptr::read_volatile(core::ptr::addr_of!(microkit_ioports));
        p.ipc_buffer = ipc_buffer;
        super::alloc::init(
            core::ptr::addr_of!(__vetted_heap).cast_mut(),
            core::ptr::read_volatile(core::ptr::addr_of!(__vetted_heap_size)),
        );
    }
    if initial_sp + 0x1000 != ipc_buffer {
        panic!(
            "built for board {} (IPC buffer {:#x}), but started with sp {:#x}: rebuild for this board",
            facts::BOARD,
            ipc_buffer,
            initial_sp
        );
    }
    // SAFETY: defined by `protection_domain!` in the PD binary.
    unsafe { __vetted_microkit_main() }
}

/// One entry of the memory-region registry, placed in section
/// `.vetted_regions` by [`memory_region_symbol!`](crate::memory_region_symbol).
#[doc(hidden)]
#[repr(C)]
pub struct RegionEntry {
    /// The `setvar_vaddr` symbol's name.
    pub name: &'static str,
    /// The symbol (patched with the mapping's virtual address).
    pub vaddr: &'static VaddrSymbol,
    /// Size in bytes the PD expects.
    pub size: usize,
    /// Whether the PD maps it writable.
    pub write: bool,
}

/// An 8-byte word the Microkit tool patches (`setvar_vaddr`).
#[doc(hidden)]
#[repr(transparent)]
pub struct VaddrSymbol(pub core::cell::UnsafeCell<u64>);

// SAFETY: written only by the Microkit tool in the ELF file; read with
// volatile loads.
unsafe impl Sync for VaddrSymbol {}

impl VaddrSymbol {
    /// An unpatched symbol (0).
    pub const fn new() -> Self {
        Self(core::cell::UnsafeCell::new(0))
    }

    fn get(&self) -> u64 {
        // SAFETY: a valid aligned word; volatile so the patched value is seen.
        unsafe { core::ptr::read_volatile(self.0.get()) }
    }
}

impl Default for VaddrSymbol {
    fn default() -> Self {
        Self::new()
    }
}

extern "C" {
    // Bounds of section `.vetted_regions` (an array of `RegionEntry`).
    static __vetted_regions_start: u8;
    static __vetted_regions_end: u8;
}

fn regions() -> &'static [RegionEntry] {
    // SAFETY: the linker script brackets section `.vetted_regions`, which
    // holds only `RegionEntry` values (8-aligned, emitted by the macro).
    unsafe {
        let start = core::ptr::addr_of!(__vetted_regions_start).cast::<RegionEntry>();
        let end = core::ptr::addr_of!(__vetted_regions_end);
        let n = (end as usize - start as usize) / core::mem::size_of::<RegionEntry>();
        core::slice::from_raw_parts(start, n)
    }
}

pub(crate) fn memory_region(name: &str) -> Result<MemoryRegion, MemoryRegionError> {
    let entry = regions()
        .iter()
        .find(|e| e.name == name)
        .ok_or(MemoryRegionError::NotFound)?;
    // 0 = the tool did not patch it: no `<map setvar_vaddr=..>` names it.
    let base =
        NonNull::new(entry.vaddr.get() as usize as *mut u8).ok_or(MemoryRegionError::NotFound)?;
    let perms = Perms {
        read: true,
        write: entry.write,
        execute: false,
    };
    // SAFETY: the Microkit tool patched the symbol with the vaddr of a
    // mapping of this PD that lasts for its life; its size and rights are
    // what the PD declared with `memory_region_symbol!` (the system
    // description must map at least that much: a smaller mapping makes an
    // access fault the PD, never touch another PD's memory).
    Ok(unsafe { MemoryRegion::from_raw_parts(base, entry.size, perms) })
}
