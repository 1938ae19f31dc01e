//! virtio-net over the virtio-mmio transport.
//!
//! Supports the modern transport (register layout version 2, virtio 1.x, feature
//! `VIRTIO_F_VERSION_1`) and the legacy one (version 1, QEMU's default for `virtio-mmio`
//! unless started with `-global virtio-mmio.force-legacy=false`). Negotiates only
//! `VIRTIO_F_VERSION_1` (modern), `VIRTIO_F_ANY_LAYOUT` (legacy, when offered) and
//! `VIRTIO_NET_F_MAC`; no offloads, no mergeable buffers, no control queue.
//!
//! One receive queue (0) and one transmit queue (1), split virtqueues of
//! [`QUEUE_SIZE`] (or fewer if the device offers fewer) entries. Each descriptor owns one
//! buffer of [`BUFFER_SIZE`] bytes for the lifetime of the driver; a buffer holds the
//! virtio-net header followed by the frame. Receive buffers are reposted as soon as their
//! frame has been copied out; transmit buffers are reclaimed from the used ring.
//!
//! Everything read from the device (used ring index, descriptor ids, lengths, the
//! interrupt status) is untrusted: it is checked, and a bad value gives a typed
//! [`Error`], is counted in [`Stats`], and never panics or reaches outside the region.
//!
//! Layout of the DMA region (see [`VirtioNet::DMA_SIZE`]):
//! `0x0000` RX queue (descriptors, available ring; used ring at `+0x1000`),
//! `0x2000` TX queue (same), `0x4000` RX buffers, then TX buffers.

use crate::hal::{DmaMemory, DmaOutOfBounds, RegisterBlock};
use core::fmt;

/// Largest number of entries per virtqueue the driver uses.
pub const QUEUE_SIZE: u16 = 32;
/// Size of each receive or transmit buffer (header plus frame).
pub const BUFFER_SIZE: usize = 2048;
/// Largest Ethernet frame (without FCS) the driver sends or accepts.
pub const MAX_FRAME: usize = 1514;
/// Page size used for the legacy transport's queue layout.
const PAGE: usize = 4096;
const QUEUE_AREA: usize = 2 * PAGE;
const RX_QUEUE_OFF: usize = 0;
const TX_QUEUE_OFF: usize = QUEUE_AREA;
const RX_BUF_OFF: usize = 2 * QUEUE_AREA;
const TX_BUF_OFF: usize = RX_BUF_OFF + QUEUE_SIZE as usize * BUFFER_SIZE;

/// virtio-mmio register offsets (virtio 1.2, section 4.2.2; legacy: 4.2.4).
pub mod reg {
    /// "virt" in little endian.
    pub const MAGIC_VALUE: usize = 0x000;
    /// 1 = legacy, 2 = modern.
    pub const VERSION: usize = 0x004;
    /// Device type; 1 is a network card, 0 an empty slot.
    pub const DEVICE_ID: usize = 0x008;
    /// Vendor id.
    pub const VENDOR_ID: usize = 0x00c;
    /// Feature bits selected by `DEVICE_FEATURES_SEL`.
    pub const DEVICE_FEATURES: usize = 0x010;
    /// Selects the 32-bit word of the device features.
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    /// Feature bits accepted by the driver.
    pub const DRIVER_FEATURES: usize = 0x020;
    /// Selects the 32-bit word of the driver features.
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    /// Legacy only: guest page size used for `QUEUE_PFN`.
    pub const GUEST_PAGE_SIZE: usize = 0x028;
    /// Selects the queue the queue registers refer to.
    pub const QUEUE_SEL: usize = 0x030;
    /// Largest queue size the device supports (0: queue absent).
    pub const QUEUE_NUM_MAX: usize = 0x034;
    /// Queue size chosen by the driver.
    pub const QUEUE_NUM: usize = 0x038;
    /// Legacy only: alignment of the used ring.
    pub const QUEUE_ALIGN: usize = 0x03c;
    /// Legacy only: page frame number of the queue.
    pub const QUEUE_PFN: usize = 0x040;
    /// Modern only: queue ready.
    pub const QUEUE_READY: usize = 0x044;
    /// Queue notifier (write the queue index).
    pub const QUEUE_NOTIFY: usize = 0x050;
    /// Interrupt status: bit 0 used buffer, bit 1 configuration change.
    pub const INTERRUPT_STATUS: usize = 0x060;
    /// Interrupt acknowledge.
    pub const INTERRUPT_ACK: usize = 0x064;
    /// Device status.
    pub const STATUS: usize = 0x070;
    /// Modern only: descriptor table address, low word.
    pub const QUEUE_DESC_LOW: usize = 0x080;
    /// Modern only: descriptor table address, high word.
    pub const QUEUE_DESC_HIGH: usize = 0x084;
    /// Modern only: available ring address, low word.
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    /// Modern only: available ring address, high word.
    pub const QUEUE_DRIVER_HIGH: usize = 0x094;
    /// Modern only: used ring address, low word.
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    /// Modern only: used ring address, high word.
    pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
    /// Modern only: configuration generation counter.
    pub const CONFIG_GENERATION: usize = 0x0fc;
    /// Device configuration space (virtio-net: MAC address first).
    pub const CONFIG: usize = 0x100;
}

/// Value of the magic register.
pub const MAGIC: u32 = 0x7472_6976;
/// Device id of a network card.
pub const DEVICE_ID_NET: u32 = 1;

/// Device status bits.
pub mod status {
    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u32 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device hit an error and needs a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 64;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 128;
}

/// Feature bits.
pub mod feature {
    /// The device has a MAC address in its configuration space.
    pub const NET_F_MAC: u64 = 1 << 5;
    /// Legacy: the device accepts any descriptor layout (header and data together).
    pub const ANY_LAYOUT: u64 = 1 << 27;
    /// virtio 1.x semantics.
    pub const VERSION_1: u64 = 1 << 32;
}

const DESC_F_WRITE: u16 = 2;
/// Interrupt status bit: the device used a buffer.
pub const INT_USED_BUFFER: u32 = 1;
/// Interrupt status bit: the configuration changed.
pub const INT_CONFIG_CHANGE: u32 = 2;

/// Which virtio-mmio register layout the device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Version 1 registers (pre-virtio-1.0).
    Legacy,
    /// Version 2 registers (virtio 1.x).
    Modern,
}

/// Errors of the virtio-net driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The magic register does not read "virt".
    BadMagic(u32),
    /// The transport version is neither 1 nor 2.
    UnsupportedVersion(u32),
    /// The slot holds no device (device id 0).
    NoDevice,
    /// The slot holds a device that is not a network card.
    NotANetworkDevice(u32),
    /// A feature the driver needs is not offered.
    MissingFeature(u64),
    /// The device did not accept the negotiated features.
    FeaturesRejected,
    /// A queue is absent or too small (its maximum size is given).
    QueueUnavailable(u32),
    /// The DMA region is too small or not page-aligned for the device.
    DmaRegionUnsuitable,
    /// An access computed by the driver fell outside the DMA region.
    Dma(DmaOutOfBounds),
    /// The device announced more used entries than there are buffers in flight.
    UsedIndexOutOfRange {
        /// Used index the device reported.
        used: u16,
        /// Last used index the driver had seen.
        seen: u16,
    },
    /// A used entry names a descriptor that does not exist or is not in flight.
    BadDescriptorId(u32),
    /// A used receive entry has a length below the header or above the buffer.
    BadLength(u32),
    /// The device set DEVICE_NEEDS_RESET.
    DeviceNeedsReset,
    /// A frame to send is longer than [`MAX_FRAME`].
    FrameTooLong(usize),
    /// No transmit buffer is free.
    TxQueueFull,
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
    /// Frames handed to the device for sending.
    pub tx_frames: u64,
    /// Transmit buffers the device returned.
    pub tx_completed: u64,
    /// Receive entries dropped because of a bad id or length.
    pub rx_dropped: u64,
    /// Device misbehaviour seen (any error detected on data from the device).
    pub device_errors: u64,
    /// Frames refused for sending (too long, queue full).
    pub tx_refused: u64,
    /// The last error seen, if any.
    pub last_error: Option<Error>,
}

/// What an interrupt was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterruptCause {
    /// The device used buffers (frames arrived or were sent).
    pub used_buffer: bool,
    /// The configuration space changed.
    pub config_change: bool,
}

/// Reads the identification registers of one virtio-mmio slot.
pub fn probe<R: RegisterBlock>(regs: &R) -> Result<Transport, Error> {
    let magic = regs.read32(reg::MAGIC_VALUE);
    if magic != MAGIC {
        return Err(Error::BadMagic(magic));
    }
    let transport = match regs.read32(reg::VERSION) {
        1 => Transport::Legacy,
        2 => Transport::Modern,
        v => return Err(Error::UnsupportedVersion(v)),
    };
    match regs.read32(reg::DEVICE_ID) {
        0 => Err(Error::NoDevice),
        DEVICE_ID_NET => Ok(transport),
        id => Err(Error::NotANetworkDevice(id)),
    }
}

/// Offsets of one split virtqueue inside the DMA region.
#[derive(Debug, Clone, Copy)]
struct QueueLayout {
    base: usize,
    size: u16,
}

impl QueueLayout {
    fn avail(&self) -> usize {
        self.base + 16 * usize::from(self.size)
    }
    fn avail_idx(&self) -> usize {
        self.avail() + 2
    }
    fn avail_ring(&self, slot: u16) -> usize {
        self.avail() + 4 + 2 * usize::from(slot % self.size)
    }
    fn used(&self) -> usize {
        self.base + PAGE
    }
    fn used_idx(&self) -> usize {
        self.used() + 2
    }
    fn used_ring(&self, slot: u16) -> usize {
        self.used() + 4 + 8 * usize::from(slot % self.size)
    }
}

/// Driver-side state of one virtqueue.
#[derive(Debug)]
struct Queue {
    layout: QueueLayout,
    /// Next free slot in the available ring (free-running).
    avail_idx: u16,
    /// Used index up to which entries have been processed (free-running).
    last_used: u16,
    /// Which descriptors are owned by the device.
    in_flight: [bool; QUEUE_SIZE as usize],
    /// How many of them.
    in_flight_count: u16,
    /// Descriptors owned by the driver and unused (transmit queue only).
    free: [u16; QUEUE_SIZE as usize],
    free_len: usize,
}

impl Queue {
    fn new(base: usize, size: u16) -> Self {
        Self {
            layout: QueueLayout { base, size },
            avail_idx: 0,
            last_used: 0,
            in_flight: [false; QUEUE_SIZE as usize],
            in_flight_count: 0,
            free: [0; QUEUE_SIZE as usize],
            free_len: 0,
        }
    }

    /// Puts descriptor `id` into the available ring (does not publish the index).
    fn post<M: DmaMemory>(&mut self, dma: &mut M, id: u16) -> Result<(), Error> {
        dma.write_u16(self.layout.avail_ring(self.avail_idx), id)?;
        self.avail_idx = self.avail_idx.wrapping_add(1);
        if !self.in_flight[usize::from(id)] {
            self.in_flight[usize::from(id)] = true;
            self.in_flight_count += 1;
        }
        Ok(())
    }

    /// Makes posted entries visible to the device.
    fn publish<M: DmaMemory>(&mut self, dma: &mut M) -> Result<(), Error> {
        let l = self.layout;
        dma.sync_for_device(l.base, l.avail_ring(l.size - 1) + 2 - l.base);
        dma.write_u16(l.avail_idx(), self.avail_idx)?;
        dma.sync_for_device(l.avail_idx(), 2);
        Ok(())
    }

    /// Number of new used entries, checked against what is in flight.
    fn pending<M: DmaMemory>(&mut self, dma: &mut M) -> Result<u16, Error> {
        let l = self.layout;
        dma.sync_for_cpu(l.used(), 4 + 8 * usize::from(l.size));
        let used = dma.read_u16(l.used_idx())?;
        // The entries the index announces must be read after the index (a barrier on
        // seL4; the device wrote them before it wrote the index).
        dma.sync_for_cpu(l.used() + 4, 8 * usize::from(l.size));
        let n = used.wrapping_sub(self.last_used);
        if n > self.in_flight_count {
            return Err(Error::UsedIndexOutOfRange {
                used,
                seen: self.last_used,
            });
        }
        Ok(n)
    }

    /// Takes the next used entry: (descriptor id, length), checking the id.
    fn take_used<M: DmaMemory>(&mut self, dma: &M) -> Result<(u16, u32), Error> {
        let off = self.layout.used_ring(self.last_used);
        self.last_used = self.last_used.wrapping_add(1);
        let id = dma.read_u32(off)?;
        let len = dma.read_u32(off + 4)?;
        match u16::try_from(id) {
            Ok(i) if i < self.layout.size && self.in_flight[usize::from(i)] => {
                self.in_flight[usize::from(i)] = false;
                self.in_flight_count -= 1;
                Ok((i, len))
            }
            _ => Err(Error::BadDescriptorId(id)),
        }
    }
}

/// Everything but the frame scratch buffers (so tokens can borrow both apart).
struct Core<R: RegisterBlock, M: DmaMemory> {
    regs: R,
    dma: M,
    transport: Transport,
    header_len: usize,
    mac: [u8; 6],
    rx: Queue,
    tx: Queue,
    stats: Stats,
}

/// A virtio-net device driven over virtio-mmio.
///
/// ```ignore
/// let regs = unsafe { Mmio::new(slot_vaddr, VIRTIO_MMIO_SLOT_SIZE) };
/// let dma = unsafe { RawDma::new(dma_vaddr, VirtioNet::<Mmio, RawDma>::DMA_SIZE, dma_paddr) };
/// let mut nic = VirtioNet::new(regs, dma)?;
/// let mut iface = smoltcp::iface::Interface::new(config_with(nic.mac_address()), &mut nic, now);
/// // on the device's IRQ: nic.handle_interrupt(); iface.poll(now, &mut nic, &mut sockets);
/// ```
pub struct VirtioNet<R: RegisterBlock, M: DmaMemory> {
    core: Core<R, M>,
    rx_scratch: [u8; MAX_FRAME],
    tx_scratch: [u8; BUFFER_SIZE],
}

impl<R: RegisterBlock, M: DmaMemory> fmt::Debug for VirtioNet<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioNet")
            .field("transport", &self.core.transport)
            .field("mac", &self.core.mac)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

/// Bytes of DMA memory the driver needs (device address page-aligned).
pub const DMA_SIZE: usize = TX_BUF_OFF + QUEUE_SIZE as usize * BUFFER_SIZE;

impl<R: RegisterBlock, M: DmaMemory> VirtioNet<R, M> {
    /// Bytes of DMA memory the driver needs (device address page-aligned).
    pub const DMA_SIZE: usize = DMA_SIZE;

    /// Resets and initialises the device in the slot `regs`, using `dma` (at least
    /// [`DMA_SIZE`] bytes, page-aligned device address) for queues and buffers.
    /// On error the device is left with status FAILED where it got that far.
    pub fn new(regs: R, dma: M) -> Result<Self, Error> {
        Ok(Self {
            core: Core::new(regs, dma)?,
            rx_scratch: [0; MAX_FRAME],
            tx_scratch: [0; BUFFER_SIZE],
        })
    }

    /// The MAC address from the device's configuration space.
    pub fn mac_address(&self) -> [u8; 6] {
        self.core.mac
    }

    /// The transport the device uses.
    pub fn transport(&self) -> Transport {
        self.core.transport
    }

    /// The driver's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    /// Sizes of the receive and transmit queues in use.
    pub fn queue_sizes(&self) -> (u16, u16) {
        (self.core.rx.layout.size, self.core.tx.layout.size)
    }

    /// Reads and acknowledges the interrupt status (call from the IRQ handler, then
    /// acknowledge the IRQ with the kernel and poll the driver).
    pub fn handle_interrupt(&mut self) -> InterruptCause {
        self.core.handle_interrupt()
    }

    /// Fails with [`Error::DeviceNeedsReset`] if the device asked for a reset.
    pub fn check_device(&mut self) -> Result<(), Error> {
        self.core.check_device()
    }

    /// Receives one frame into `buf` (at least [`MAX_FRAME`] bytes long, else the frame
    /// is cut to `buf`'s length). `Ok(None)`: nothing arrived. A bad used entry gives an
    /// error and its buffer (if identifiable) is reposted; call again for the next frame.
    pub fn receive_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        self.core.receive_into(buf)
    }

    /// Returns transmit buffers the device has finished with; returns how many.
    pub fn reclaim_tx(&mut self) -> Result<usize, Error> {
        self.core.reclaim_tx()
    }

    /// Free transmit buffers (after reclaiming).
    pub fn tx_free(&mut self) -> usize {
        self.core.tx_free()
    }

    /// Sends one frame (Ethernet header onwards, no FCS).
    pub fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.core.send(frame)
    }

    /// The register block and DMA memory, as the device sees them. For device models in
    /// tests and for debugging: the driver treats everything there as untrusted anyway.
    pub fn device_side(&mut self) -> (&mut R, &mut M) {
        (&mut self.core.regs, &mut self.core.dma)
    }
}

impl<R: RegisterBlock, M: DmaMemory> Core<R, M> {
    fn new(mut regs: R, mut dma: M) -> Result<Self, Error> {
        let transport = probe(&regs)?;
        if dma.size() < DMA_SIZE || !dma.device_address().is_multiple_of(PAGE as u64) {
            return Err(Error::DmaRegionUnsuitable);
        }
        regs.write32(reg::STATUS, 0);
        regs.write32(reg::STATUS, status::ACKNOWLEDGE);
        regs.write32(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        match Self::negotiate(&mut regs, transport) {
            Ok(()) => {}
            Err(e) => {
                regs.write32(reg::STATUS, status::FAILED);
                return Err(e);
            }
        }
        let header_len = match transport {
            Transport::Modern => 12,
            Transport::Legacy => 10,
        };
        // Zero the queue area: rings start empty.
        for off in (0..2 * QUEUE_AREA).step_by(256) {
            dma.write(off, &[0; 256])?;
        }
        let mut sizes = [0u16; 2];
        for (q, size) in sizes.iter_mut().enumerate() {
            match Self::setup_queue(&mut regs, &dma, transport, q as u32) {
                Ok(s) => *size = s,
                Err(e) => {
                    regs.write32(reg::STATUS, status::FAILED);
                    return Err(e);
                }
            }
        }
        let mac = read_mac(&regs, transport);
        let mut dev = Self {
            regs,
            dma,
            transport,
            header_len,
            mac,
            rx: Queue::new(RX_QUEUE_OFF, sizes[0]),
            tx: Queue::new(TX_QUEUE_OFF, sizes[1]),
            stats: Stats::default(),
        };
        // Receive descriptors: each owns its buffer, device-writable, all posted.
        for i in 0..dev.rx.layout.size {
            let addr = dev.buf_addr(RX_BUF_OFF, i);
            dev.write_desc(RX_QUEUE_OFF, i, addr, BUFFER_SIZE as u32, DESC_F_WRITE)?;
            dev.rx.post(&mut dev.dma, i)?;
        }
        dev.rx.publish(&mut dev.dma)?;
        for i in 0..dev.tx.layout.size {
            let addr = dev.buf_addr(TX_BUF_OFF, i);
            dev.write_desc(TX_QUEUE_OFF, i, addr, 0, 0)?;
            dev.tx.free[usize::from(i)] = i;
        }
        dev.tx.free_len = usize::from(dev.tx.layout.size);
        let st = status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK;
        let st = match transport {
            Transport::Modern => st | status::FEATURES_OK,
            Transport::Legacy => st,
        };
        dev.regs.write32(reg::STATUS, st);
        dev.regs.write32(reg::QUEUE_NOTIFY, 0);
        Ok(dev)
    }

    fn negotiate(regs: &mut R, transport: Transport) -> Result<(), Error> {
        regs.write32(reg::DEVICE_FEATURES_SEL, 0);
        let mut offered = u64::from(regs.read32(reg::DEVICE_FEATURES));
        if transport == Transport::Modern {
            regs.write32(reg::DEVICE_FEATURES_SEL, 1);
            offered |= u64::from(regs.read32(reg::DEVICE_FEATURES)) << 32;
        }
        let mut wanted = feature::NET_F_MAC;
        match transport {
            Transport::Modern => wanted |= feature::VERSION_1,
            Transport::Legacy => wanted |= offered & feature::ANY_LAYOUT,
        }
        if offered & wanted != wanted {
            return Err(Error::MissingFeature(wanted & !offered));
        }
        regs.write32(reg::DRIVER_FEATURES_SEL, 0);
        regs.write32(reg::DRIVER_FEATURES, wanted as u32);
        if transport == Transport::Modern {
            regs.write32(reg::DRIVER_FEATURES_SEL, 1);
            regs.write32(reg::DRIVER_FEATURES, (wanted >> 32) as u32);
            let st = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
            regs.write32(reg::STATUS, st);
            if regs.read32(reg::STATUS) & status::FEATURES_OK == 0 {
                return Err(Error::FeaturesRejected);
            }
        } else {
            regs.write32(reg::GUEST_PAGE_SIZE, PAGE as u32);
        }
        Ok(())
    }

    fn setup_queue(regs: &mut R, dma: &M, transport: Transport, q: u32) -> Result<u16, Error> {
        regs.write32(reg::QUEUE_SEL, q);
        let max = regs.read32(reg::QUEUE_NUM_MAX);
        // Largest power of two not above the device's maximum nor ours (legacy queues
        // must be a power of two; modern ones may, so one rule serves both).
        let size = match max.min(u32::from(QUEUE_SIZE)) {
            0 | 1 => return Err(Error::QueueUnavailable(max)),
            m => 1u16 << (31 - m.leading_zeros()),
        };
        regs.write32(reg::QUEUE_NUM, u32::from(size));
        let base = dma.device_address() + if q == 0 { RX_QUEUE_OFF } else { TX_QUEUE_OFF } as u64;
        let layout = QueueLayout { base: 0, size };
        match transport {
            Transport::Modern => {
                let set = |regs: &mut R, lo: usize, addr: u64| {
                    regs.write32(lo, addr as u32);
                    regs.write32(lo + 4, (addr >> 32) as u32);
                };
                set(regs, reg::QUEUE_DESC_LOW, base);
                set(regs, reg::QUEUE_DRIVER_LOW, base + layout.avail() as u64);
                set(regs, reg::QUEUE_DEVICE_LOW, base + layout.used() as u64);
                regs.write32(reg::QUEUE_READY, 1);
            }
            Transport::Legacy => {
                let pfn =
                    u32::try_from(base / PAGE as u64).map_err(|_| Error::DmaRegionUnsuitable)?;
                regs.write32(reg::QUEUE_ALIGN, PAGE as u32);
                regs.write32(reg::QUEUE_PFN, pfn);
            }
        }
        Ok(size)
    }

    fn buf_addr(&self, area: usize, i: u16) -> u64 {
        self.dma.device_address() + (area + usize::from(i) * BUFFER_SIZE) as u64
    }

    fn write_desc(
        &mut self,
        queue: usize,
        i: u16,
        addr: u64,
        len: u32,
        flags: u16,
    ) -> Result<(), Error> {
        let off = queue + 16 * usize::from(i);
        self.dma.write_u64(off, addr)?;
        self.dma.write_u32(off + 8, len)?;
        self.dma.write_u16(off + 12, flags)?;
        self.dma.write_u16(off + 14, 0)?;
        Ok(())
    }

    fn record(&mut self, e: Error) -> Error {
        match e {
            Error::FrameTooLong(_) | Error::TxQueueFull => self.stats.tx_refused += 1,
            _ => self.stats.device_errors += 1,
        }
        self.stats.last_error = Some(e);
        e
    }

    /// Reads and acknowledges the interrupt status (call from the IRQ handler, then
    /// acknowledge the IRQ with the kernel and poll the driver).
    fn handle_interrupt(&mut self) -> InterruptCause {
        let st = self.regs.read32(reg::INTERRUPT_STATUS) & (INT_USED_BUFFER | INT_CONFIG_CHANGE);
        if st != 0 {
            self.regs.write32(reg::INTERRUPT_ACK, st);
        }
        InterruptCause {
            used_buffer: st & INT_USED_BUFFER != 0,
            config_change: st & INT_CONFIG_CHANGE != 0,
        }
    }

    /// Fails with [`Error::DeviceNeedsReset`] if the device asked for a reset.
    fn check_device(&mut self) -> Result<(), Error> {
        if self.regs.read32(reg::STATUS) & status::DEVICE_NEEDS_RESET != 0 {
            return Err(self.record(Error::DeviceNeedsReset));
        }
        Ok(())
    }

    /// Receives one frame into `buf` (at least [`MAX_FRAME`] bytes long, else the frame
    /// is cut to `buf`'s length). `Ok(None)`: nothing arrived. A bad used entry gives an
    /// error and its buffer (if identifiable) is reposted; call again for the next frame.
    fn receive_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        match self.rx.pending(&mut self.dma) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(self.record(e)),
        }
        let (id, len) = match self.rx.take_used(&self.dma) {
            Ok(x) => x,
            Err(e) => {
                self.stats.rx_dropped += 1;
                return Err(self.record(e));
            }
        };
        let res = self.copy_rx(id, len, buf);
        // The buffer goes back to the device whatever its content was.
        let repost = self
            .rx
            .post(&mut self.dma, id)
            .and_then(|_| self.rx.publish(&mut self.dma));
        self.regs.write32(reg::QUEUE_NOTIFY, 0);
        if let Err(e) = repost {
            return Err(self.record(e));
        }
        match res {
            Ok(n) => {
                self.stats.rx_frames += 1;
                Ok(Some(n))
            }
            Err(e) => {
                self.stats.rx_dropped += 1;
                Err(self.record(e))
            }
        }
    }

    fn copy_rx(&mut self, id: u16, len: u32, buf: &mut [u8]) -> Result<usize, Error> {
        let total = usize::try_from(len).map_err(|_| Error::BadLength(len))?;
        if total < self.header_len || total > BUFFER_SIZE || total - self.header_len > MAX_FRAME {
            return Err(Error::BadLength(len));
        }
        let n = (total - self.header_len).min(buf.len());
        let off = RX_BUF_OFF + usize::from(id) * BUFFER_SIZE;
        self.dma.sync_for_cpu(off, total);
        self.dma.read(off + self.header_len, &mut buf[..n])?;
        Ok(n)
    }

    /// Returns transmit buffers the device has finished with; returns how many.
    fn reclaim_tx(&mut self) -> Result<usize, Error> {
        let n = match self.tx.pending(&mut self.dma) {
            Ok(n) => n,
            Err(e) => return Err(self.record(e)),
        };
        let mut done = 0;
        for _ in 0..n {
            match self.tx.take_used(&self.dma) {
                Ok((id, _len)) => {
                    self.tx.free[self.tx.free_len] = id;
                    self.tx.free_len += 1;
                    done += 1;
                }
                Err(e) => return Err(self.record(e)),
            }
        }
        self.stats.tx_completed += done as u64;
        Ok(done)
    }

    /// Free transmit buffers (after reclaiming).
    fn tx_free(&mut self) -> usize {
        let _ = self.reclaim_tx();
        self.tx.free_len
    }

    /// Sends one frame (Ethernet header onwards, no FCS).
    fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        if frame.len() > MAX_FRAME {
            return Err(self.record(Error::FrameTooLong(frame.len())));
        }
        let _ = self.reclaim_tx();
        if self.tx.free_len == 0 {
            return Err(self.record(Error::TxQueueFull));
        }
        self.tx.free_len -= 1;
        let id = self.tx.free[self.tx.free_len];
        let off = TX_BUF_OFF + usize::from(id) * BUFFER_SIZE;
        let hl = self.header_len;
        let res = (|| {
            self.dma.write(off, &[0u8; 12][..hl])?;
            self.dma.write(off + hl, frame)?;
            let addr = self.buf_addr(TX_BUF_OFF, id);
            self.write_desc(TX_QUEUE_OFF, id, addr, (hl + frame.len()) as u32, 0)?;
            self.dma.sync_for_device(off, hl + frame.len());
            self.tx.post(&mut self.dma, id)?;
            self.tx.publish(&mut self.dma)
        })();
        if let Err(e) = res {
            self.tx.free_len += 1;
            return Err(self.record(e));
        }
        self.regs.write32(reg::QUEUE_NOTIFY, 1);
        self.stats.tx_frames += 1;
        Ok(())
    }
}

fn read_mac<R: RegisterBlock>(regs: &R, transport: Transport) -> [u8; 6] {
    let mut mac = [0; 6];
    // A device that keeps changing its configuration gets its last reading used.
    for _ in 0..8 {
        let gen = match transport {
            Transport::Modern => regs.read32(reg::CONFIG_GENERATION),
            Transport::Legacy => 0,
        };
        let a = regs.read32(reg::CONFIG).to_le_bytes();
        let b = regs.read32(reg::CONFIG + 4).to_le_bytes();
        let again = match transport {
            Transport::Modern => regs.read32(reg::CONFIG_GENERATION),
            Transport::Legacy => 0,
        };
        mac = [a[0], a[1], a[2], a[3], b[0], b[1]];
        if gen == again {
            break;
        }
    }
    mac
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
/// buffer and handed to the device.
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

impl<R: RegisterBlock, M: DmaMemory> smoltcp::phy::Device for VirtioNet<R, M> {
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
        // Bad entries are dropped (and counted); at most one queue's worth per call.
        for _ in 0..=QUEUE_SIZE {
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
                Ok(None) | Err(Error::UsedIndexOutOfRange { .. }) => return None,
                Err(_) => continue,
            }
        }
        None
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        if self.core.tx_free() == 0 {
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
        caps.max_burst_size = Some(usize::from(self.core.tx.layout.size));
        caps
    }
}
