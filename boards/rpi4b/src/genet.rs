//! Driver for the BCM2711's GENET v5 Ethernet controller (Raspberry Pi 4 Model B).
//!
//! Register layout and programming sequence follow what Linux's `bcmgenet` and U-Boot's
//! `drivers/net/bcmgenet.c` do on the Pi 4 (facts only; this is our own code):
//!
//! * only the default queue, ring 16, is used, with `ring_len` descriptors each way
//!   (power of two, 4..=256), starting at descriptor 0;
//! * descriptors live in the controller's register space (RX at `0x2000`, TX at `0x4000`,
//!   12 bytes each: `length_status`, address low, address high); buffers live in the DMA
//!   region, [`BUFFER_SIZE`] bytes each, RX buffers first;
//! * the hardware counts frames in 16-bit producer/consumer indices (RX: hardware produces,
//!   driver consumes; TX: driver produces, hardware consumes); the driver keeps its own
//!   descriptor pointer, which walks the ring from descriptor 0 like the hardware's read
//!   and write pointers, which it resets to 0;
//! * received frames start with 2 bytes of padding (`RBUF_ALIGN_2B`), the FCS is stripped
//!   by the MAC; transmitted frames get their FCS appended by the MAC (`APPEND_CRC`); no
//!   64-byte status blocks either way (no checksum offload);
//! * the destination filter passes broadcast and our own address, as Linux sets it up
//!   when not promiscuous;
//! * the PHY (a Broadcom BCM54213PE at MDIO address 1 on the Pi 4, RGMII with RX delay)
//!   is reset and auto-negotiates; [`Genet::poll_link`] reads the result and programs the
//!   UniMAC's speed and duplex.
//!
//! Everything read from the controller is untrusted: indices out of range, lengths beyond
//! the buffer, error or fragment bits give a typed [`Error`], are counted in [`Stats`],
//! and the frame is dropped; the driver never panics or reaches outside its DMA region.
//!
//! **Not yet verified on real hardware**: the driver is tested against a register-level
//! model of the rings (this crate's `tests/genet.rs`), not against a Pi 4.

use crate::hal::{DmaMemory, DmaOutOfBounds, RegisterBlock};
use core::fmt;

/// Size of each receive or transmit buffer.
pub const BUFFER_SIZE: usize = 2048;
/// Largest Ethernet frame (without FCS) the driver sends or accepts.
pub const MAX_FRAME: usize = 1514;
/// Shortest frame on the wire without FCS; shorter frames are padded with zeros.
pub const MIN_FRAME: usize = 60;
/// Padding the controller puts in front of every received frame (`RBUF_ALIGN_2B`).
pub const RX_PAD: usize = 2;
/// Hardware maximum of descriptors per direction.
pub const TOTAL_DESCRIPTORS: u16 = 256;
/// The default queue (ring 16).
pub const DEFAULT_QUEUE: usize = 16;

/// Register offsets from the controller's base (`0xfd58_0000` on the Pi 4).
pub mod reg {
    /// Revision: bits 27:24 major (6 means GENET v5), 19:16 minor.
    pub const SYS_REV_CTRL: usize = 0x0000;
    /// Port mode (3: external gigabit PHY over RGMII).
    pub const SYS_PORT_CTRL: usize = 0x0004;
    /// RX buffer flush control.
    pub const SYS_RBUF_FLUSH_CTRL: usize = 0x0008;
    /// TX buffer flush control.
    pub const SYS_TBUF_FLUSH_CTRL: usize = 0x000c;
    /// RGMII out-of-band control.
    pub const EXT_RGMII_OOB_CTRL: usize = 0x008c;
    /// Interrupt controller 0 (default queue, MAC events): status.
    pub const INTRL2_0_STAT: usize = 0x0200;
    /// Interrupt controller 0: write 1 to clear.
    pub const INTRL2_0_CLEAR: usize = 0x0208;
    /// Interrupt controller 0: mask status (1 = masked).
    pub const INTRL2_0_MASK_STATUS: usize = 0x020c;
    /// Interrupt controller 0: write 1 to mask.
    pub const INTRL2_0_MASK_SET: usize = 0x0210;
    /// Interrupt controller 0: write 1 to unmask.
    pub const INTRL2_0_MASK_CLEAR: usize = 0x0214;
    /// Interrupt controller 1 (priority queues): write 1 to mask.
    pub const INTRL2_1_MASK_SET: usize = 0x0250;
    /// Interrupt controller 1: write 1 to clear.
    pub const INTRL2_1_CLEAR: usize = 0x0248;
    /// RX buffer control (bit 1: 2-byte alignment padding).
    pub const RBUF_CTRL: usize = 0x0300;
    /// RBUF/TBUF size control.
    pub const RBUF_TBUF_SIZE_CTRL: usize = 0x03b4;
    /// TX buffer control (bit 0: 64-byte status block in front of TX frames).
    pub const TBUF_CTRL: usize = 0x0600;
    /// UniMAC command register.
    pub const UMAC_CMD: usize = 0x0808;
    /// MAC address bytes 0..4 (byte 0 in bits 31:24).
    pub const UMAC_MAC0: usize = 0x080c;
    /// MAC address bytes 4..6 (byte 4 in bits 15:8).
    pub const UMAC_MAC1: usize = 0x0810;
    /// Largest frame the MAC accepts.
    pub const UMAC_MAX_FRAME_LEN: usize = 0x0814;
    /// TX FIFO flush.
    pub const UMAC_TX_FLUSH: usize = 0x0b34;
    /// MIB counter control.
    pub const UMAC_MIB_CTRL: usize = 0x0d80;
    /// MDIO command and data.
    pub const MDIO_CMD: usize = 0x0e14;
    /// Destination-address filter enables: filter `k` is bit `16 - k`.
    pub const UMAC_MDF_CTRL: usize = 0x0e50;
    /// Destination-address filters, 17 of two words each: bytes 0..2 in the low half of
    /// the first word, bytes 2..6 in the second.
    pub const UMAC_MDF_ADDR: usize = 0x0e54;

    /// RX descriptors (`TOTAL_DESCRIPTORS` × 12 bytes).
    pub const RX_DESC_BASE: usize = 0x2000;
    /// Ring 16's RX registers.
    pub const RDMA_RING16: usize = 0x2000 + 256 * 12 + 16 * 0x40;
    /// RX write pointer (hardware's, in words).
    pub const RDMA_WRITE_PTR: usize = RDMA_RING16;
    /// RX producer index (bits 15:0; bits 31:16 count discarded frames).
    pub const RDMA_PROD_INDEX: usize = RDMA_RING16 + 0x08;
    /// RX consumer index (written by the driver).
    pub const RDMA_CONS_INDEX: usize = RDMA_RING16 + 0x0c;
    /// RX ring size (bits 31:16) and buffer size (15:0).
    pub const RDMA_RING_BUF_SIZE: usize = RDMA_RING16 + 0x10;
    /// RX ring start (in words).
    pub const RDMA_START_ADDR: usize = RDMA_RING16 + 0x14;
    /// RX ring end (in words, inclusive).
    pub const RDMA_END_ADDR: usize = RDMA_RING16 + 0x1c;
    /// RX interrupt threshold.
    pub const RDMA_MBUF_DONE_THRESH: usize = RDMA_RING16 + 0x24;
    /// RX flow-control thresholds.
    pub const RDMA_XON_XOFF_THRESH: usize = RDMA_RING16 + 0x28;
    /// RX read pointer.
    pub const RDMA_READ_PTR: usize = RDMA_RING16 + 0x2c;
    /// RX DMA: enabled rings.
    pub const RDMA_RING_CFG: usize = 0x2000 + 256 * 12 + 17 * 0x40;
    /// RX DMA control (bit 0 enable, bit 1 + ring: ring buffer enable).
    pub const RDMA_CTRL: usize = RDMA_RING_CFG + 0x04;
    /// RX DMA burst size.
    pub const RDMA_SCB_BURST_SIZE: usize = RDMA_RING_CFG + 0x0c;

    /// TX descriptors.
    pub const TX_DESC_BASE: usize = 0x4000;
    /// Ring 16's TX registers.
    pub const TDMA_RING16: usize = 0x4000 + 256 * 12 + 16 * 0x40;
    /// TX read pointer.
    pub const TDMA_READ_PTR: usize = TDMA_RING16;
    /// TX consumer index (written by the hardware).
    pub const TDMA_CONS_INDEX: usize = TDMA_RING16 + 0x08;
    /// TX producer index (written by the driver).
    pub const TDMA_PROD_INDEX: usize = TDMA_RING16 + 0x0c;
    /// TX ring size and buffer size.
    pub const TDMA_RING_BUF_SIZE: usize = TDMA_RING16 + 0x10;
    /// TX ring start.
    pub const TDMA_START_ADDR: usize = TDMA_RING16 + 0x14;
    /// TX ring end.
    pub const TDMA_END_ADDR: usize = TDMA_RING16 + 0x1c;
    /// TX interrupt threshold.
    pub const TDMA_MBUF_DONE_THRESH: usize = TDMA_RING16 + 0x24;
    /// TX flow period.
    pub const TDMA_FLOW_PERIOD: usize = TDMA_RING16 + 0x28;
    /// TX write pointer.
    pub const TDMA_WRITE_PTR: usize = TDMA_RING16 + 0x2c;
    /// TX DMA: enabled rings.
    pub const TDMA_RING_CFG: usize = 0x4000 + 256 * 12 + 17 * 0x40;
    /// TX DMA control.
    pub const TDMA_CTRL: usize = TDMA_RING_CFG + 0x04;
    /// TX DMA burst size.
    pub const TDMA_SCB_BURST_SIZE: usize = TDMA_RING_CFG + 0x0c;
}

/// Bits of `UMAC_CMD`.
pub mod cmd {
    /// Transmitter enable.
    pub const TX_EN: u32 = 1 << 0;
    /// Receiver enable.
    pub const RX_EN: u32 = 1 << 1;
    /// Speed field shift (2 bits: 0 = 10, 1 = 100, 2 = 1000 Mbit/s).
    pub const SPEED_SHIFT: u32 = 2;
    /// Half duplex.
    pub const HD_EN: u32 = 1 << 10;
    /// Software reset.
    pub const SW_RESET: u32 = 1 << 13;
    /// Local loopback (kept during reset for a stable RX clock).
    pub const LCL_LOOP_EN: u32 = 1 << 15;
}

/// Bits of a descriptor's `length_status` word (length in bits 27:16).
pub mod desc {
    /// Descriptor owned by the hardware (set on RX descriptors at start).
    pub const OWN: u32 = 0x8000;
    /// End of packet.
    pub const EOP: u32 = 0x4000;
    /// Start of packet.
    pub const SOP: u32 = 0x2000;
    /// TX: the MAC appends the FCS.
    pub const TX_APPEND_CRC: u32 = 0x0040;
    /// TX: queue tag field (all ones, as Linux and U-Boot).
    pub const TX_QTAG: u32 = 0x3f << 7;
    /// RX: frame longer than the MAC's maximum.
    pub const RX_LG: u32 = 0x0010;
    /// RX: non-octet-aligned frame.
    pub const RX_NO: u32 = 0x0008;
    /// RX: receive error on the MII.
    pub const RX_RXER: u32 = 0x0004;
    /// RX: CRC error.
    pub const RX_CRC_ERROR: u32 = 0x0002;
    /// RX: FIFO overflow.
    pub const RX_OV: u32 = 0x0001;
    /// Every RX error bit.
    pub const RX_ERRORS: u32 = RX_LG | RX_NO | RX_RXER | RX_CRC_ERROR | RX_OV;
}

/// Bits of the INTRL2_0 interrupt registers.
pub mod irq {
    /// PHY link up (internal PHYs only).
    pub const LINK_UP: u32 = 1 << 4;
    /// PHY link down (internal PHYs only).
    pub const LINK_DOWN: u32 = 1 << 5;
    /// RX buffer overflow.
    pub const RBUF_OVERFLOW: u32 = 1 << 9;
    /// RX DMA: frames for the default queue.
    pub const RXDMA_DONE: u32 = 1 << 13;
    /// TX DMA: frames of the default queue sent.
    pub const TXDMA_DONE: u32 = 1 << 16;
    /// MDIO transaction done.
    pub const MDIO_DONE: u32 = 1 << 23;
    /// MDIO error.
    pub const MDIO_ERROR: u32 = 1 << 24;
}

const MDIO_START_BUSY: u32 = 1 << 29;
const MDIO_READ_FAIL: u32 = 1 << 28;
const MDIO_RD: u32 = 2 << 26;
const MDIO_WR: u32 = 1 << 26;
const PORT_MODE_EXT_GPHY: u32 = 3;
const RGMII_LINK: u32 = 1 << 4;
const OOB_DISABLE: u32 = 1 << 5;
const RGMII_MODE_EN: u32 = 1 << 6;
const ID_MODE_DIS: u32 = 1 << 16;
const DMA_EN: u32 = 1;
const RBUF_64B_EN: u32 = 1 << 0;
const RBUF_ALIGN_2B: u32 = 1 << 1;
const TBUF_64B_EN: u32 = 1 << 0;
/// Filters 0 and 1 of 17 (`GENMASK(16, 15)`).
const MDF_ENABLE_FIRST_TWO: u32 = 0b11 << 15;
const RING16_BUF_EN: u32 = 1 << (DEFAULT_QUEUE + 1);
/// Largest frame the MAC takes: 1500 + header 14 + VLAN 4 + Broadcom tag 6 + FCS 4 + 8.
const UMAC_MAX_FRAME: u32 = 1536;
const MDIO_POLLS: u32 = 1000;
const PHY_RESET_POLLS: u32 = 500;

/// Clause 22 PHY registers and bits.
pub mod mii {
    /// Control.
    pub const BMCR: u8 = 0;
    /// Status.
    pub const BMSR: u8 = 1;
    /// Identifier, high half.
    pub const PHYSID1: u8 = 2;
    /// Identifier, low half.
    pub const PHYSID2: u8 = 3;
    /// Auto-negotiation advertisement.
    pub const ADVERTISE: u8 = 4;
    /// Link partner ability.
    pub const LPA: u8 = 5;
    /// 1000BASE-T control.
    pub const CTRL1000: u8 = 9;
    /// 1000BASE-T status.
    pub const STAT1000: u8 = 10;
    /// BMCR: reset (self-clearing).
    pub const BMCR_RESET: u16 = 1 << 15;
    /// BMCR: auto-negotiation enable.
    pub const BMCR_ANENABLE: u16 = 1 << 12;
    /// BMCR: restart auto-negotiation.
    pub const BMCR_ANRESTART: u16 = 1 << 9;
    /// BMSR: link up (latched low).
    pub const BMSR_LSTATUS: u16 = 1 << 2;
    /// BMSR: auto-negotiation complete.
    pub const BMSR_ANEGCOMPLETE: u16 = 1 << 5;
    /// Advertise / LPA: 10BASE-T half, full, 100BASE-TX half, full; selector 802.3.
    pub const ADVERTISE_ALL: u16 = 0x01e1;
    /// 100 Mbit/s full duplex.
    pub const LPA_100FULL: u16 = 0x0100;
    /// 100 Mbit/s half duplex.
    pub const LPA_100HALF: u16 = 0x0080;
    /// 10 Mbit/s full duplex.
    pub const LPA_10FULL: u16 = 0x0040;
    /// 10 Mbit/s half duplex.
    pub const LPA_10HALF: u16 = 0x0020;
    /// CTRL1000: advertise 1000 full and half.
    pub const ADVERTISE_1000: u16 = 0x0300;
    /// STAT1000: partner does 1000 full.
    pub const LPA_1000FULL: u16 = 0x0800;
    /// STAT1000: partner does 1000 half.
    pub const LPA_1000HALF: u16 = 0x0400;
    /// Identifier of the Pi 4's PHY, Broadcom BCM54213PE (revision bits 3:0 masked).
    pub const BCM54213PE_ID: u32 = 0x600d_84a0;
}

/// Errors of the GENET driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The revision register names a GENET other than v5.
    UnsupportedVersion {
        /// Major field as read (v5 reads 6).
        major: u8,
        /// Minor field.
        minor: u8,
    },
    /// The configuration is unusable (ring length not a power of two in 4..=256, DMA
    /// region too small).
    BadConfig,
    /// An access computed by the driver fell outside the DMA region.
    Dma(DmaOutOfBounds),
    /// An MDIO transaction did not finish.
    MdioTimeout,
    /// The PHY did not answer an MDIO read.
    MdioReadFailed {
        /// PHY address.
        phy: u8,
        /// Register.
        reg: u8,
    },
    /// No PHY answers at the configured address (identifier all zeros or all ones).
    NoPhy(u32),
    /// The PHY did not leave reset.
    PhyResetTimeout,
    /// Link up, but the two ends share no speed and duplex.
    NoCommonMode,
    /// The RX producer index claims more frames than the ring holds; the driver
    /// resynchronised to it and dropped the claimed frames.
    RxIndexOutOfRange {
        /// Producer index read.
        producer: u16,
        /// Driver's consumer index.
        consumer: u16,
    },
    /// The TX consumer index claims more completions than frames in flight.
    TxIndexOutOfRange {
        /// Consumer index read.
        consumer: u16,
        /// Driver's producer index.
        producer: u16,
    },
    /// An RX descriptor lacks start- or end-of-packet (the frame spans buffers).
    Fragmented(u32),
    /// An RX descriptor carries error bits ([`desc::RX_ERRORS`]).
    RxStatus(u32),
    /// An RX length is below padding plus Ethernet header or above the buffer/frame size.
    BadLength(u32),
    /// A frame to send is longer than [`MAX_FRAME`].
    FrameTooLong(usize),
    /// No transmit descriptor is free.
    TxQueueFull,
    /// The link is down.
    LinkDown,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<DmaOutOfBounds> for Error {
    fn from(e: DmaOutOfBounds) -> Self {
        Error::Dma(e)
    }
}

/// Counters of the driver.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Frames received and handed on.
    pub rx_frames: u64,
    /// Frames handed to the controller for sending.
    pub tx_frames: u64,
    /// Transmit descriptors the controller completed.
    pub tx_completed: u64,
    /// Received frames dropped (error bits, bad lengths, fragments, index resyncs).
    pub rx_dropped: u64,
    /// Controller misbehaviour seen (any error detected on data from the controller).
    pub device_errors: u64,
    /// Frames refused for sending (too long, queue full).
    pub tx_refused: u64,
    /// The last error seen, if any.
    pub last_error: Option<Error>,
}

/// Link speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// 10 Mbit/s.
    Mbps10,
    /// 100 Mbit/s.
    Mbps100,
    /// 1000 Mbit/s.
    Mbps1000,
}

/// State of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No link (or auto-negotiation still running).
    Down,
    /// Link up with this speed and duplex; the MAC is configured for it.
    Up {
        /// Speed.
        speed: Speed,
        /// Full duplex.
        full_duplex: bool,
    },
}

/// What an interrupt was about (INTRL2_0 bits, already acknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterruptCause {
    /// The raw unmasked status bits that were acknowledged.
    pub bits: u32,
    /// Frames arrived.
    pub rx: bool,
    /// Frames were sent.
    pub tx: bool,
}

/// Short busy-waits the controller needs during reset.
pub trait Delay {
    /// Waits at least `us` microseconds.
    fn delay_us(&mut self, us: u32);
}

/// Driver configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// MAC address to program (on the Pi 4: from the firmware, see `facts`).
    pub mac: [u8; 6],
    /// MDIO address of the PHY (1 on the Pi 4).
    pub phy_address: u8,
    /// Descriptors per direction: a power of two, 4..=256.
    pub ring_len: u16,
}

impl Config {
    /// The Pi 4's settings with `mac` and 256 descriptors each way.
    pub fn pi4(mac: [u8; 6]) -> Self {
        Self {
            mac,
            phy_address: crate::facts::GENET_PHY_ADDRESS,
            ring_len: TOTAL_DESCRIPTORS,
        }
    }

    /// Bytes of DMA memory the driver needs for this configuration.
    pub fn dma_size(&self) -> usize {
        2 * usize::from(self.ring_len) * BUFFER_SIZE
    }
}

struct Core<R: RegisterBlock, M: DmaMemory> {
    regs: R,
    dma: M,
    cfg: Config,
    /// Driver's RX consumer index (16-bit, free running).
    rx_cons: u16,
    /// Next RX descriptor to look at.
    rx_desc: u16,
    /// Driver's TX producer index.
    tx_prod: u16,
    /// Last TX consumer index seen.
    tx_cons: u16,
    /// Next TX descriptor to fill.
    tx_desc: u16,
    link: Link,
    stats: Stats,
}

/// A GENET v5 controller.
///
/// ```ignore
/// let regs = unsafe { Mmio::new(genet_vaddr, facts::GENET.size as usize) };
/// let cfg = Config::pi4(mac_from_firmware);
/// let dma = unsafe { RawDma::new(dma_vaddr, cfg.dma_size(), dma_paddr) };
/// let mut nic = Genet::new(regs, dma, cfg, &mut delay)?;
/// nic.start_phy(&mut delay)?;
/// // every few hundred ms until Link::Up: nic.poll_link()?;
/// // on IRQ facts::GENET_IRQ_0: nic.handle_interrupt(); iface.poll(now, &mut nic, &mut sockets);
/// ```
pub struct Genet<R: RegisterBlock, M: DmaMemory> {
    core: Core<R, M>,
    rx_scratch: [u8; MAX_FRAME],
    tx_scratch: [u8; BUFFER_SIZE],
}

impl<R: RegisterBlock, M: DmaMemory> fmt::Debug for Genet<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Genet")
            .field("config", &self.core.cfg)
            .field("link", &self.core.link)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<R: RegisterBlock, M: DmaMemory> Genet<R, M> {
    /// Checks the revision, resets the UniMAC and the RX/TX buffers, programs the MAC
    /// address, sets up ring 16 both ways over `dma` and enables DMA and the RX/TX
    /// interrupts. The MAC itself is enabled once [`Self::poll_link`] sees a link.
    pub fn new(regs: R, dma: M, cfg: Config, delay: &mut impl Delay) -> Result<Self, Error> {
        Ok(Self {
            core: Core::new(regs, dma, cfg, delay)?,
            rx_scratch: [0; MAX_FRAME],
            tx_scratch: [0; BUFFER_SIZE],
        })
    }

    /// Resets the PHY and starts auto-negotiation (all speeds, both duplexes).
    pub fn start_phy(&mut self, delay: &mut impl Delay) -> Result<u32, Error> {
        self.core.start_phy(delay)
    }

    /// Reads the PHY's link state; on a new link programs the MAC's speed and duplex and
    /// enables RX and TX.
    pub fn poll_link(&mut self) -> Result<Link, Error> {
        self.core.poll_link()
    }

    /// The link state as last polled.
    pub fn link(&self) -> Link {
        self.core.link
    }

    /// Reads PHY register `reg` over MDIO.
    pub fn mdio_read(&mut self, reg: u8) -> Result<u16, Error> {
        let phy = self.core.cfg.phy_address;
        self.core.mdio_read(phy, reg)
    }

    /// Writes PHY register `reg` over MDIO.
    pub fn mdio_write(&mut self, reg: u8, value: u16) -> Result<(), Error> {
        let phy = self.core.cfg.phy_address;
        self.core.mdio_write(phy, reg, value)
    }

    /// The MAC address programmed.
    pub fn mac_address(&self) -> [u8; 6] {
        self.core.cfg.mac
    }

    /// The driver's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    /// Reads and acknowledges INTRL2_0 (call on the GENET's first IRQ, then acknowledge
    /// the IRQ with the kernel and poll the driver).
    pub fn handle_interrupt(&mut self) -> InterruptCause {
        self.core.handle_interrupt()
    }

    /// Receives one frame into `buf` (frames longer than `buf` are cut). `Ok(None)`:
    /// nothing arrived. A bad descriptor gives an error and is recycled; call again.
    pub fn receive_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        self.core.receive_into(buf)
    }

    /// Takes back transmit descriptors the controller completed; returns how many.
    pub fn reclaim_tx(&mut self) -> Result<usize, Error> {
        self.core.reclaim_tx()
    }

    /// Free transmit descriptors (after reclaiming).
    pub fn tx_free(&mut self) -> usize {
        self.core.tx_free()
    }

    /// Sends one frame (Ethernet header onwards, no FCS; padded to [`MIN_FRAME`]).
    pub fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.core.send(frame)
    }

    /// The register block and DMA memory, as the controller sees them. For device models
    /// in tests and for debugging: the driver treats everything there as untrusted.
    pub fn device_side(&mut self) -> (&mut R, &mut M) {
        (&mut self.core.regs, &mut self.core.dma)
    }
}

impl<R: RegisterBlock, M: DmaMemory> Core<R, M> {
    fn new(mut regs: R, dma: M, cfg: Config, delay: &mut impl Delay) -> Result<Self, Error> {
        let rev = regs.read32(reg::SYS_REV_CTRL);
        let (major, minor) = (((rev >> 24) & 0xf) as u8, ((rev >> 16) & 0xf) as u8);
        if major != 6 {
            return Err(Error::UnsupportedVersion { major, minor });
        }
        let n = cfg.ring_len;
        if !(4..=TOTAL_DESCRIPTORS).contains(&n)
            || !n.is_power_of_two()
            || dma.size() < cfg.dma_size()
        {
            return Err(Error::BadConfig);
        }
        regs.write32(reg::SYS_PORT_CTRL, PORT_MODE_EXT_GPHY);

        // UniMAC and RBUF reset.
        let flush = regs.read32(reg::SYS_RBUF_FLUSH_CTRL);
        regs.write32(reg::SYS_RBUF_FLUSH_CTRL, flush | 2);
        delay.delay_us(10);
        regs.write32(reg::SYS_RBUF_FLUSH_CTRL, flush & !2);
        delay.delay_us(10);
        regs.write32(reg::SYS_RBUF_FLUSH_CTRL, 0);
        delay.delay_us(10);
        regs.write32(reg::UMAC_CMD, 0);
        regs.write32(reg::UMAC_CMD, cmd::SW_RESET | cmd::LCL_LOOP_EN);
        delay.delay_us(2);
        regs.write32(reg::UMAC_CMD, 0);
        regs.write32(reg::UMAC_MIB_CTRL, 0b111);
        regs.write32(reg::UMAC_MIB_CTRL, 0);
        regs.write32(reg::UMAC_MAX_FRAME_LEN, UMAC_MAX_FRAME);
        // 2-byte alignment padding on, 64-byte status blocks off (both directions).
        let rbuf = regs.read32(reg::RBUF_CTRL);
        regs.write32(reg::RBUF_CTRL, (rbuf | RBUF_ALIGN_2B) & !RBUF_64B_EN);
        let tbuf = regs.read32(reg::TBUF_CTRL);
        regs.write32(reg::TBUF_CTRL, tbuf & !TBUF_64B_EN);
        regs.write32(reg::RBUF_TBUF_SIZE_CTRL, 1);

        let m = cfg.mac;
        regs.write32(reg::UMAC_MAC0, u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
        regs.write32(reg::UMAC_MAC1, u32::from_be_bytes([0, 0, m[4], m[5]]));
        // Destination filter, as Linux programs it when not promiscuous: broadcast and
        // our own address (filters 0 and 1 = enable bits 16 and 15).
        for (k, a) in [[0xff; 6], m].iter().enumerate() {
            let off = reg::UMAC_MDF_ADDR + 8 * k;
            regs.write32(off, u32::from_be_bytes([0, 0, a[0], a[1]]));
            regs.write32(off + 4, u32::from_be_bytes([a[2], a[3], a[4], a[5]]));
        }
        regs.write32(reg::UMAC_MDF_CTRL, MDF_ENABLE_FIRST_TWO);

        // DMA off, TX FIFO flushed.
        let c = regs.read32(reg::TDMA_CTRL);
        regs.write32(reg::TDMA_CTRL, c & !DMA_EN);
        let c = regs.read32(reg::RDMA_CTRL);
        regs.write32(reg::RDMA_CTRL, c & !DMA_EN);
        regs.write32(reg::UMAC_TX_FLUSH, 1);
        delay.delay_us(10);
        regs.write32(reg::UMAC_TX_FLUSH, 0);

        let end_words = u32::from(n) * 3 - 1;
        let ring_buf = (u32::from(n) << 16) | BUFFER_SIZE as u32;
        // RX ring 16. The producer index cannot be reset, so the consumer index is
        // aligned to it; the hardware's pointers restart at descriptor 0.
        regs.write32(reg::RDMA_SCB_BURST_SIZE, 8);
        regs.write32(reg::RDMA_START_ADDR, 0);
        regs.write32(reg::RDMA_READ_PTR, 0);
        regs.write32(reg::RDMA_WRITE_PTR, 0);
        regs.write32(reg::RDMA_END_ADDR, end_words);
        let rx_cons = (regs.read32(reg::RDMA_PROD_INDEX) & 0xffff) as u16;
        regs.write32(reg::RDMA_CONS_INDEX, u32::from(rx_cons));
        regs.write32(reg::RDMA_RING_BUF_SIZE, ring_buf);
        regs.write32(reg::RDMA_XON_XOFF_THRESH, (5 << 16) | u32::from(n >> 4));
        regs.write32(reg::RDMA_MBUF_DONE_THRESH, 1);
        regs.write32(reg::RDMA_RING_CFG, 1 << DEFAULT_QUEUE);

        // TX ring 16: the consumer index cannot be reset, the producer follows it.
        regs.write32(reg::TDMA_SCB_BURST_SIZE, 8);
        regs.write32(reg::TDMA_START_ADDR, 0);
        regs.write32(reg::TDMA_READ_PTR, 0);
        regs.write32(reg::TDMA_WRITE_PTR, 0);
        regs.write32(reg::TDMA_END_ADDR, end_words);
        let tx_cons = (regs.read32(reg::TDMA_CONS_INDEX) & 0xffff) as u16;
        regs.write32(reg::TDMA_PROD_INDEX, u32::from(tx_cons));
        regs.write32(reg::TDMA_MBUF_DONE_THRESH, 1);
        regs.write32(reg::TDMA_FLOW_PERIOD, 0);
        regs.write32(reg::TDMA_RING_BUF_SIZE, ring_buf);
        regs.write32(reg::TDMA_RING_CFG, 1 << DEFAULT_QUEUE);

        let mut core = Self {
            regs,
            dma,
            cfg,
            rx_cons,
            rx_desc: 0,
            tx_prod: tx_cons,
            tx_cons,
            tx_desc: 0,
            link: Link::Down,
            stats: Stats::default(),
        };
        for i in 0..n {
            core.arm_rx(i);
        }
        core.regs.write32(reg::TDMA_CTRL, RING16_BUF_EN | DMA_EN);
        let c = core.regs.read32(reg::RDMA_CTRL);
        core.regs
            .write32(reg::RDMA_CTRL, c | RING16_BUF_EN | DMA_EN);

        // Interrupts: everything masked and cleared, then RX/TX done of ring 16 unmasked.
        core.regs.write32(reg::INTRL2_0_MASK_SET, u32::MAX);
        core.regs.write32(reg::INTRL2_0_CLEAR, u32::MAX);
        core.regs.write32(reg::INTRL2_1_MASK_SET, u32::MAX);
        core.regs.write32(reg::INTRL2_1_CLEAR, u32::MAX);
        core.regs
            .write32(reg::INTRL2_0_MASK_CLEAR, irq::RXDMA_DONE | irq::TXDMA_DONE);
        Ok(core)
    }

    fn rx_buf(&self, i: u16) -> usize {
        usize::from(i) * BUFFER_SIZE
    }

    fn tx_buf(&self, i: u16) -> usize {
        (usize::from(self.cfg.ring_len) + usize::from(i)) * BUFFER_SIZE
    }

    /// (Re)writes RX descriptor `i` to point at its own buffer.
    fn arm_rx(&mut self, i: u16) {
        let addr = self.dma.device_address() + self.rx_buf(i) as u64;
        let d = reg::RX_DESC_BASE + 12 * usize::from(i);
        self.regs.write32(d + 4, addr as u32);
        self.regs.write32(d + 8, (addr >> 32) as u32);
        self.regs
            .write32(d, ((BUFFER_SIZE as u32) << 16) | desc::OWN);
    }

    fn record(&mut self, e: Error) -> Error {
        match e {
            Error::FrameTooLong(_) | Error::TxQueueFull | Error::LinkDown => {
                self.stats.tx_refused += 1
            }
            Error::RxIndexOutOfRange { .. }
            | Error::TxIndexOutOfRange { .. }
            | Error::Fragmented(_)
            | Error::RxStatus(_)
            | Error::BadLength(_) => self.stats.device_errors += 1,
            _ => {}
        }
        self.stats.last_error = Some(e);
        e
    }

    fn mdio_wait(&mut self) -> Result<u32, Error> {
        for _ in 0..MDIO_POLLS {
            let v = self.regs.read32(reg::MDIO_CMD);
            if v & MDIO_START_BUSY == 0 {
                return Ok(v);
            }
        }
        Err(self.record(Error::MdioTimeout))
    }

    fn mdio_start(&mut self, command: u32) -> Result<u32, Error> {
        self.regs.write32(reg::MDIO_CMD, command);
        let v = self.regs.read32(reg::MDIO_CMD);
        self.regs.write32(reg::MDIO_CMD, v | MDIO_START_BUSY);
        self.mdio_wait()
    }

    fn mdio_read(&mut self, phy: u8, r: u8) -> Result<u16, Error> {
        let c = MDIO_RD | (u32::from(phy & 0x1f) << 21) | (u32::from(r & 0x1f) << 16);
        let v = self.mdio_start(c)?;
        if v & MDIO_READ_FAIL != 0 {
            return Err(self.record(Error::MdioReadFailed { phy, reg: r }));
        }
        Ok(v as u16)
    }

    fn mdio_write(&mut self, phy: u8, r: u8, value: u16) -> Result<(), Error> {
        let c = MDIO_WR
            | (u32::from(phy & 0x1f) << 21)
            | (u32::from(r & 0x1f) << 16)
            | u32::from(value);
        self.mdio_start(c).map(|_| ())
    }

    fn start_phy(&mut self, delay: &mut impl Delay) -> Result<u32, Error> {
        let phy = self.cfg.phy_address;
        let id = (u32::from(self.mdio_read(phy, mii::PHYSID1)?) << 16)
            | u32::from(self.mdio_read(phy, mii::PHYSID2)?);
        if id == 0 || id == u32::MAX {
            return Err(self.record(Error::NoPhy(id)));
        }
        self.mdio_write(phy, mii::BMCR, mii::BMCR_RESET)?;
        let mut out_of_reset = false;
        for _ in 0..PHY_RESET_POLLS {
            delay.delay_us(1000);
            if self.mdio_read(phy, mii::BMCR)? & mii::BMCR_RESET == 0 {
                out_of_reset = true;
                break;
            }
        }
        if !out_of_reset {
            return Err(self.record(Error::PhyResetTimeout));
        }
        self.mdio_write(phy, mii::ADVERTISE, mii::ADVERTISE_ALL)?;
        self.mdio_write(phy, mii::CTRL1000, mii::ADVERTISE_1000)?;
        self.mdio_write(phy, mii::BMCR, mii::BMCR_ANENABLE | mii::BMCR_ANRESTART)?;
        self.link = Link::Down;
        Ok(id)
    }

    fn poll_link(&mut self) -> Result<Link, Error> {
        let phy = self.cfg.phy_address;
        // The link bit latches low: the first read reports a past drop, the second now.
        let _ = self.mdio_read(phy, mii::BMSR)?;
        let bmsr = self.mdio_read(phy, mii::BMSR)?;
        if bmsr & mii::BMSR_LSTATUS == 0 || bmsr & mii::BMSR_ANEGCOMPLETE == 0 {
            self.link = Link::Down;
            return Ok(Link::Down);
        }
        let ctrl1000 = self.mdio_read(phy, mii::CTRL1000)?;
        let stat1000 = self.mdio_read(phy, mii::STAT1000)?;
        let adv = self.mdio_read(phy, mii::ADVERTISE)?;
        let lpa = self.mdio_read(phy, mii::LPA)?;
        let common = adv & lpa;
        let (speed, full_duplex) = if ctrl1000 & 0x0200 != 0 && stat1000 & mii::LPA_1000FULL != 0 {
            (Speed::Mbps1000, true)
        } else if ctrl1000 & 0x0100 != 0 && stat1000 & mii::LPA_1000HALF != 0 {
            (Speed::Mbps1000, false)
        } else if common & mii::LPA_100FULL != 0 {
            (Speed::Mbps100, true)
        } else if common & mii::LPA_100HALF != 0 {
            (Speed::Mbps100, false)
        } else if common & mii::LPA_10FULL != 0 {
            (Speed::Mbps10, true)
        } else if common & mii::LPA_10HALF != 0 {
            (Speed::Mbps10, false)
        } else {
            self.link = Link::Down;
            return Err(self.record(Error::NoCommonMode));
        };
        let new = Link::Up { speed, full_duplex };
        if self.link != new {
            let oob = self.regs.read32(reg::EXT_RGMII_OOB_CTRL);
            // rgmii-rxid: the PHY delays RX, the MAC adds no TX delay of its own.
            let oob = (oob & !OOB_DISABLE) | RGMII_LINK | RGMII_MODE_EN | ID_MODE_DIS;
            self.regs.write32(reg::EXT_RGMII_OOB_CTRL, oob);
            let sp = match speed {
                Speed::Mbps10 => 0,
                Speed::Mbps100 => 1,
                Speed::Mbps1000 => 2,
            };
            let mut c = sp << cmd::SPEED_SHIFT;
            if !full_duplex {
                c |= cmd::HD_EN;
            }
            self.regs.write32(reg::UMAC_CMD, c);
            self.regs
                .write32(reg::UMAC_CMD, c | cmd::TX_EN | cmd::RX_EN);
            self.link = new;
        }
        Ok(new)
    }

    fn handle_interrupt(&mut self) -> InterruptCause {
        let stat = self.regs.read32(reg::INTRL2_0_STAT);
        let masked = self.regs.read32(reg::INTRL2_0_MASK_STATUS);
        let bits = stat & !masked;
        if bits != 0 {
            self.regs.write32(reg::INTRL2_0_CLEAR, bits);
        }
        InterruptCause {
            bits,
            rx: bits & irq::RXDMA_DONE != 0,
            tx: bits & irq::TXDMA_DONE != 0,
        }
    }

    fn receive_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let n = self.cfg.ring_len;
        let prod = (self.regs.read32(reg::RDMA_PROD_INDEX) & 0xffff) as u16;
        let pending = prod.wrapping_sub(self.rx_cons);
        if pending == 0 {
            return Ok(None);
        }
        if pending > n {
            // Nothing the hardware says about these frames can be trusted: skip them all.
            let e = Error::RxIndexOutOfRange {
                producer: prod,
                consumer: self.rx_cons,
            };
            self.rx_cons = prod;
            self.rx_desc = (self.rx_desc + pending % n) % n;
            self.regs.write32(reg::RDMA_CONS_INDEX, u32::from(prod));
            self.stats.rx_dropped += u64::from(pending);
            return Err(self.record(e));
        }
        let i = self.rx_desc;
        let ls = self.regs.read32(reg::RX_DESC_BASE + 12 * usize::from(i));
        let res = self.copy_rx(i, ls, buf);
        // The buffer goes back to the hardware whatever its content was.
        self.arm_rx(i);
        self.rx_desc = (i + 1) % n;
        self.rx_cons = self.rx_cons.wrapping_add(1);
        self.regs
            .write32(reg::RDMA_CONS_INDEX, u32::from(self.rx_cons));
        match res {
            Ok(len) => {
                self.stats.rx_frames += 1;
                Ok(Some(len))
            }
            Err(e) => {
                self.stats.rx_dropped += 1;
                Err(self.record(e))
            }
        }
    }

    fn copy_rx(&mut self, i: u16, ls: u32, buf: &mut [u8]) -> Result<usize, Error> {
        let status = ls & 0xffff;
        if status & desc::SOP == 0 || status & desc::EOP == 0 {
            return Err(Error::Fragmented(ls));
        }
        if status & desc::RX_ERRORS != 0 {
            return Err(Error::RxStatus(status & desc::RX_ERRORS));
        }
        let len = ((ls >> 16) & 0x0fff) as usize;
        if !(RX_PAD + 14..=BUFFER_SIZE).contains(&len) || len - RX_PAD > MAX_FRAME {
            return Err(Error::BadLength(ls >> 16));
        }
        let off = self.rx_buf(i);
        self.dma.sync_for_cpu(off, len);
        let n = (len - RX_PAD).min(buf.len());
        self.dma.read(off + RX_PAD, &mut buf[..n])?;
        Ok(n)
    }

    fn reclaim_tx(&mut self) -> Result<usize, Error> {
        let cons = (self.regs.read32(reg::TDMA_CONS_INDEX) & 0xffff) as u16;
        let done = cons.wrapping_sub(self.tx_cons);
        let in_flight = self.tx_prod.wrapping_sub(self.tx_cons);
        if done > in_flight {
            return Err(self.record(Error::TxIndexOutOfRange {
                consumer: cons,
                producer: self.tx_prod,
            }));
        }
        self.tx_cons = cons;
        self.stats.tx_completed += u64::from(done);
        Ok(usize::from(done))
    }

    fn tx_free(&mut self) -> usize {
        let _ = self.reclaim_tx();
        usize::from(self.cfg.ring_len - self.tx_prod.wrapping_sub(self.tx_cons))
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        if frame.len() > MAX_FRAME {
            return Err(self.record(Error::FrameTooLong(frame.len())));
        }
        if self.link == Link::Down {
            return Err(self.record(Error::LinkDown));
        }
        if self.tx_free() == 0 {
            return Err(self.record(Error::TxQueueFull));
        }
        let i = self.tx_desc;
        let off = self.tx_buf(i);
        self.dma.write(off, frame)?;
        let len = frame.len().max(MIN_FRAME);
        if frame.len() < MIN_FRAME {
            self.dma.write(
                off + frame.len(),
                &[0; MIN_FRAME][..MIN_FRAME - frame.len()],
            )?;
        }
        self.dma.sync_for_device(off, len);
        let addr = self.dma.device_address() + off as u64;
        let d = reg::TX_DESC_BASE + 12 * usize::from(i);
        self.regs.write32(d + 4, addr as u32);
        self.regs.write32(d + 8, (addr >> 32) as u32);
        let ls = ((len as u32) << 16) | desc::SOP | desc::EOP | desc::TX_APPEND_CRC | desc::TX_QTAG;
        self.regs.write32(d, ls);
        self.tx_desc = (i + 1) % self.cfg.ring_len;
        self.tx_prod = self.tx_prod.wrapping_add(1);
        self.regs
            .write32(reg::TDMA_PROD_INDEX, u32::from(self.tx_prod));
        self.stats.tx_frames += 1;
        Ok(())
    }
}

/// Receive token: the frame was already copied out of DMA memory and checked.
#[derive(Debug)]
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl smoltcp::phy::RxToken for RxToken<'_> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        f(self.frame)
    }
}

/// Transmit token: the frame is built in a scratch buffer, then copied to a transmit
/// buffer and handed to the controller.
pub struct TxToken<'a, R: RegisterBlock, M: DmaMemory> {
    core: &'a mut Core<R, M>,
    scratch: &'a mut [u8; BUFFER_SIZE],
}

impl<R: RegisterBlock, M: DmaMemory> fmt::Debug for TxToken<'_, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxToken").finish_non_exhaustive()
    }
}

impl<R: RegisterBlock, M: DmaMemory> smoltcp::phy::TxToken for TxToken<'_, R, M> {
    fn consume<T, F>(self, len: usize, f: F) -> T
    where
        F: FnOnce(&mut [u8]) -> T,
    {
        // smoltcp never asks for more than the MTU we report; a longer request gets a
        // buffer cut to our size and the frame is refused (counted in the stats).
        let n = len.min(self.scratch.len());
        let result = f(&mut self.scratch[..n]);
        // Errors are counted in `Stats`; smoltcp has no way to take them.
        let _ = if len > MAX_FRAME {
            Err(self.core.record(Error::FrameTooLong(len)))
        } else {
            self.core.send(&self.scratch[..n])
        };
        result
    }
}

impl<R: RegisterBlock, M: DmaMemory> smoltcp::phy::Device for Genet<R, M> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, R, M>
    where
        Self: 'a;

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // Bad descriptors are dropped (and counted); at most one ring's worth per call.
        for _ in 0..=self.core.cfg.ring_len {
            match self.core.receive_into(&mut self.rx_scratch) {
                Ok(Some(n)) => {
                    return Some((
                        RxToken {
                            frame: &self.rx_scratch[..n],
                        },
                        TxToken {
                            core: &mut self.core,
                            scratch: &mut self.tx_scratch,
                        },
                    ))
                }
                Ok(None) => return None,
                Err(_) => continue,
            }
        }
        None
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        if self.core.link == Link::Down || self.core.tx_free() == 0 {
            return None;
        }
        Some(TxToken {
            core: &mut self.core,
            scratch: &mut self.tx_scratch,
        })
    }

    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        let mut caps = smoltcp::phy::DeviceCapabilities::default();
        caps.medium = smoltcp::phy::Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(usize::from(self.core.cfg.ring_len));
        caps
    }
}
