//! Plain words the Microkit tool patches: `<setvar symbol="NAME"
//! region_paddr="REGION"/>` writes a region's physical address (e.g. a DMA
//! region a device must be told about) into the 8-byte symbol `NAME` of the
//! PD's ELF. Declare the symbol with [`crate::setvar_symbol!`] and read it
//! with [`SetVar::get`].

/// An 8-byte word patched by the Microkit tool (`<setvar symbol=..>`); 0
/// when the system description does not patch it.
#[repr(transparent)]
pub struct SetVar(core::cell::UnsafeCell<u64>);

// SAFETY: written only by the Microkit tool in the ELF file, before the PD
// runs; the PD only reads it (volatile loads).
#[allow(unsafe_code)]
unsafe impl Sync for SetVar {}

impl SetVar {
    /// An unpatched word (0).
    pub const fn new() -> Self {
        Self(core::cell::UnsafeCell::new(0))
    }

    /// The patched value, `None` when the tool left it 0 (no `<setvar>`
    /// names it; a region's physical address is never 0).
    pub fn get(&self) -> Option<u64> {
        // SAFETY: a valid, aligned word of this PD's data; volatile so the
        // value the tool wrote into the ELF is read, not the initialiser.
        #[allow(unsafe_code)]
        let v = unsafe { core::ptr::read_volatile(self.0.get()) };
        (v != 0).then_some(v)
    }
}

impl Default for SetVar {
    fn default() -> Self {
        Self::new()
    }
}

/// Declares `static NAME: microkit::sel4::SetVar`, an 8-byte symbol the
/// Microkit tool patches through `<setvar symbol="NAME" .../>` (seL4 only;
/// on the host it declares nothing, so use it from seL4-only code):
///
/// ```text
/// microkit::setvar_symbol!(net_dma_paddr);
/// // <setvar symbol="net_dma_paddr" region_paddr="net_dma"/>
/// let paddr: Option<u64> = net_dma_paddr.get();
/// ```
///
/// Put it in the PD binary's crate (a symbol in a library crate may be
/// dropped by the linker).
#[macro_export]
macro_rules! setvar_symbol {
    ($vis:vis $name:ident) => {
        #[cfg(target_os = "none")]
        #[no_mangle]
        #[used]
        #[allow(non_upper_case_globals)]
        $vis static $name: $crate::sel4::SetVar = $crate::sel4::SetVar::new();
    };
}
