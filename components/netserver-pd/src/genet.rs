//! seL4 on the Raspberry Pi 4: the network server's NIC is the BCM2711's
//! GENET v5, driven in this PD by `board_rpi4b::genet` (no separate driver
//! PD), and its periodic work uses compare channel 1 of the BCM2711 system
//! timer (`board_rpi4b::systimer`): Microkit's Pi 4 kernel keeps the ARM
//! generic timer and does not give the EL1 physical timer to user level.
//!
//! The system description maps (see `system/sel4/node-a-rpi4b.system`):
//! - `genet`: the GENET's 64 KiB register window 0xfd58_0000, uncached;
//! - `net_dma`: [`DMA_SIZE`] bytes of RAM, **uncached** (the GENET's DMA is
//!   not cache-coherent), whose physical address the tool patches into
//!   `net_dma_paddr` (`<setvar region_paddr>`); the GENET sees ARM physical
//!   addresses one to one;
//! - `systimer`: the system timer page 0xfe00_3000, uncached;
//! - interrupts: GENET INTRL2_0 (INTID 189, level) as channel 3, system
//!   timer compare 1 (INTID 97, level) as channel 4.
//!
//! The GENET is only touched after the `hwprobe` child PD read its revision
//! without faulting ([`crate::hwprobe`]). **Not verified on hardware.**
#![allow(unsafe_code)] // a driver: raw register and DMA mappings

use board_rpi4b::facts;
use board_rpi4b::genet::{self, Config, Delay, Genet};
use board_rpi4b::hal::{Mmio, RawDma};
use board_rpi4b::systimer::{self, SystemTimer};
use core::fmt;
use core::time::Duration;
use microkit::MemoryRegion;

/// The NIC type of the seL4 netserver on the Pi 4.
pub type Nic = Genet<Mmio, RawDma>;
/// The timer type.
pub type Timer = SystemTimer<Mmio>;

/// Descriptors per direction (of the 256 the hardware has).
pub const RING_LEN: u16 = 64;
/// Bytes of the DMA region (the driver's need with [`RING_LEN`]).
pub const DMA_SIZE: usize = 2 * RING_LEN as usize * genet::BUFFER_SIZE;
/// Size of the GENET's register mapping.
pub const GENET_SIZE: usize = facts::GENET.size as usize;
/// The system timer compare channel this PD owns (1 or 3 belong to the ARM).
pub const TIMER_CHANNEL: u8 = 1;
/// Its interrupt (GIC SPI 64 + channel).
pub const TIMER_INTID: u32 = facts::SYSTEM_TIMER_IRQ_C1;

/// Why the NIC or the timer could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The GENET register window is not mapped (or too small).
    NoRegisters,
    /// The DMA region is not mapped, too small, or not writable.
    NoDma,
    /// The DMA region's physical address was not patched in, or is not
    /// page-aligned.
    NoDmaAddress,
    /// The system timer page is not mapped.
    NoTimer,
    /// The timer refused the channel.
    Timer(systimer::Error),
    /// The driver refused the device (or its PHY).
    Driver(genet::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRegisters => f.write_str("GENET registers not mapped (genet)"),
            Self::NoDma => f.write_str("DMA region not mapped read-write (net_dma)"),
            Self::NoDmaAddress => {
                f.write_str("DMA region's physical address not patched (net_dma_paddr)")
            }
            Self::NoTimer => f.write_str("system timer not mapped (systimer)"),
            Self::Timer(e) => write!(f, "system timer: {e}"),
            Self::Driver(e) => write!(f, "GENET: {e:?}"),
        }
    }
}

/// Busy-waits on the runtime's uptime (the ARM generic counter), for the
/// driver's short reset delays.
pub struct UptimeDelay;

impl Delay for UptimeDelay {
    fn delay_us(&mut self, us: u32) {
        let until = microkit::sel4::uptime() + Duration::from_micros(u64::from(us));
        while microkit::sel4::uptime() < until {
            core::hint::spin_loop();
        }
    }
}

/// Opens the system timer's ARM compare channel [`TIMER_CHANNEL`] in the
/// mapped `page`.
pub fn open_timer(page: Option<MemoryRegion>) -> Result<Timer, OpenError> {
    let page = page
        .filter(|p| p.size() >= 0x1000)
        .ok_or(OpenError::NoTimer)?;
    // SAFETY: `page` is the PD's uncached mapping of the system timer page
    // (cached="false" in the system description), mapped for the PD's life;
    // only this PD uses compare channel 1 (the VideoCore owns 0 and 2).
    let regs = unsafe { Mmio::new(page.as_ptr() as usize, 0x1000) };
    SystemTimer::new(regs, TIMER_CHANNEL).map_err(OpenError::Timer)
}

/// Opens the GENET with the mapped `regs` window and `dma` region (physical
/// address `dma_paddr`), programs `mac` as its address, resets the PHY and
/// starts auto-negotiation. Does not wait for a link: poll
/// [`Genet::poll_link`] later.
pub fn open(
    regs: Option<MemoryRegion>,
    dma: Option<MemoryRegion>,
    dma_paddr: Option<u64>,
    mac: [u8; 6],
) -> Result<(Nic, u32), OpenError> {
    let regs = regs
        .filter(|m| m.size() >= GENET_SIZE)
        .ok_or(OpenError::NoRegisters)?;
    let dma = dma
        .filter(|d| d.size() >= DMA_SIZE && d.perms().write)
        .ok_or(OpenError::NoDma)?;
    let paddr = dma_paddr
        .filter(|p| p.is_multiple_of(4096))
        .ok_or(OpenError::NoDmaAddress)?;
    let cfg = Config {
        ring_len: RING_LEN,
        ..Config::pi4(mac)
    };
    // SAFETY: `regs` is the PD's uncached mapping of the GENET's whole
    // register window (cached="false"), for the PD's life, used only by this
    // driver; the hwprobe child read its revision register without a fault,
    // so the device exists.
    let mmio = unsafe { Mmio::new(regs.as_ptr() as usize, GENET_SIZE) };
    // SAFETY: `dma` is a read-write, uncached mapping of DMA_SIZE bytes or
    // more, for the PD's life, used by nothing but this driver and the
    // device; `paddr` is its physical address, patched by the Microkit tool
    // from the same region (`region_paddr`), which the GENET uses as is
    // (facts::GENET_DMA_OFFSET is 0).
    let dma = unsafe { RawDma::new(dma.as_ptr() as usize, DMA_SIZE, paddr) };
    let mut delay = UptimeDelay;
    let mut nic = Genet::new(mmio, dma, cfg, &mut delay).map_err(OpenError::Driver)?;
    let phy = nic.start_phy(&mut delay).map_err(OpenError::Driver)?;
    Ok((nic, phy))
}

/// Reads [`crate::hwprobe::RNG_BYTES`] bytes from the RNG200 at `regs`
/// (the hwprobe child's side), waiting up to `warmup` for the generator.
pub fn read_rng200(
    regs: MemoryRegion,
    warmup: Duration,
    out: &mut [u8; crate::hwprobe::RNG_BYTES],
) -> crate::hwprobe::RngStatus {
    use crate::hwprobe::RngStatus;
    use board_rpi4b::rng200::{Error, Rng200};
    // SAFETY: `regs` is the uncached mapping of the RNG200's page, for the
    // PD's life, used only by this PD (the probe); the registers lie in its
    // first 0x28 bytes.
    let mmio = unsafe { Mmio::new(regs.as_ptr() as usize, facts::RNG200.size as usize) };
    let mut rng = Rng200::new(mmio);
    let until = microkit::sel4::uptime() + warmup;
    loop {
        match rng.fill(out) {
            Ok(()) => return RngStatus::Ok,
            Err(Error::NotReady) if microkit::sel4::uptime() < until => {
                UptimeDelay.delay_us(1000);
            }
            Err(Error::NotReady) => {
                out.fill(0);
                return RngStatus::NotReady;
            }
            Err(Error::HealthFailure(_)) => {
                out.fill(0);
                return RngStatus::HealthFailure;
            }
            Err(Error::BadFifoCount(_)) => {
                out.fill(0);
                return RngStatus::BadFifo;
            }
        }
    }
}

/// Reads the GENET's revision register (the hwprobe child's side).
pub fn genet_revision(regs: MemoryRegion) -> u32 {
    use board_rpi4b::hal::RegisterBlock;
    // SAFETY: `regs` is the uncached mapping of (at least) the GENET's first
    // register page, for the PD's life; the read has no side effect.
    let mmio = unsafe { Mmio::new(regs.as_ptr() as usize, 0x1000) };
    mmio.read32(genet::reg::SYS_REV_CTRL)
}
