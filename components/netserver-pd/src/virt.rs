//! seL4 on QEMU `virt`: the network server's NIC is the virtio-net card in
//! virtio-mmio slot 31 (the first `-device virtio-net-device`), driven in
//! this PD by `board_qemu_virt_aarch64::virtio_net` (no separate driver PD).
//!
//! The system description maps (see `system/sel4/node-a-virt.system`):
//! - `virtio_mmio`: the page 0x0a00_3000 (slots 24..=31), uncached; the card
//!   is at offset 0xe00;
//! - `net_dma`: [`DMA_SIZE`] bytes of RAM, **uncached**, whose physical
//!   address the tool patches into `net_dma_paddr` (`<setvar
//!   region_paddr>`);
//! - the card's interrupt, INTID 79, edge-triggered, as channel 3.
//!
//! Everything the device writes into the rings is checked by the driver
//! (typed errors, counted, never a panic).
#![allow(unsafe_code)] // a driver: raw register and DMA mappings

use board_qemu_virt_aarch64::facts;
use board_qemu_virt_aarch64::hal::{Mmio, RawDma};
use board_qemu_virt_aarch64::virtio_net::{self, VirtioNet};
use core::fmt;
use microkit::MemoryRegion;

/// The NIC type of the seL4 netserver.
pub type Nic = VirtioNet<Mmio, RawDma>;

/// Bytes of the DMA region (the driver's need).
pub const DMA_SIZE: usize = virtio_net::DMA_SIZE;
/// Size of the register mapping (one page).
pub const MMIO_PAGE: usize = 0x1000;
/// The card's slot and its offset in the mapped page.
pub const SLOT: u32 = facts::FIRST_VIRTIO_DEVICE_SLOT;
const SLOT_OFFSET: usize = (facts::VIRTIO_MMIO_BASE as usize
    + SLOT as usize * facts::VIRTIO_MMIO_SLOT_SIZE as usize)
    % MMIO_PAGE;

/// Why the NIC could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The register page is not mapped (or smaller than a page).
    NoRegisters,
    /// The DMA region is not mapped, too small, or not writable.
    NoDma,
    /// The DMA region's physical address was not patched in, or is not
    /// page-aligned.
    NoDmaAddress,
    /// The driver refused the device.
    Driver(virtio_net::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRegisters => f.write_str("virtio-mmio page not mapped (virtio_mmio)"),
            Self::NoDma => f.write_str("DMA region not mapped read-write (net_dma)"),
            Self::NoDmaAddress => {
                f.write_str("DMA region's physical address not patched (net_dma_paddr)")
            }
            Self::Driver(e) => write!(f, "virtio-net: {e}"),
        }
    }
}

/// Opens the card with the mapped `mmio` page and `dma` region (physical
/// address `dma_paddr`).
pub fn open(
    mmio: Option<MemoryRegion>,
    dma: Option<MemoryRegion>,
    dma_paddr: Option<u64>,
) -> Result<Nic, OpenError> {
    let mmio = mmio
        .filter(|m| m.size() >= MMIO_PAGE)
        .ok_or(OpenError::NoRegisters)?;
    let dma = dma
        .filter(|d| d.size() >= DMA_SIZE && d.perms().write)
        .ok_or(OpenError::NoDma)?;
    let paddr = dma_paddr
        .filter(|p| p.is_multiple_of(4096))
        .ok_or(OpenError::NoDmaAddress)?;
    // SAFETY: `mmio` is the PD's uncached mapping of the virtio-mmio page
    // (the system description maps it with cached="false"); the slot's 0x200
    // bytes lie inside it (SLOT_OFFSET + 0x200 <= 0x1000), the mapping lasts
    // for the PD's life, and only this driver touches the registers.
    let regs = unsafe {
        Mmio::new(
            mmio.as_ptr() as usize + SLOT_OFFSET,
            facts::VIRTIO_MMIO_SLOT_SIZE as usize,
        )
    };
    // SAFETY: `dma` is a read-write mapping of DMA_SIZE bytes or more,
    // uncached (system description), for the PD's life, used by nothing but
    // this driver and the device; `paddr` is its physical address, patched
    // by the Microkit tool from the same region (`region_paddr`).
    let dma = unsafe { RawDma::new(dma.as_ptr() as usize, DMA_SIZE, paddr) };
    VirtioNet::new(regs, dma).map_err(OpenError::Driver)
}
