//! A register-level model of the BCM2711 GENET v5's default-queue DMA rings, its MDIO
//! bus and a BCM54213PE-like PHY, for host tests.
//!
//! The model owns the register file (descriptors included) and shares the DMA memory with
//! the driver. Like the hardware it reacts to register writes: a TX producer-index write
//! makes it consume TX descriptors (read the buffers from DMA memory, put the frames on
//! `wire_out`, advance the consumer index, raise TXDMA_DONE); `inject` writes a frame into
//! the RX buffer the next descriptor points at and advances the producer index; an MDIO
//! command with START_BUSY runs at once. `Misbehave` makes it lie.
#![allow(dead_code)]

use board_rpi4b::genet::{cmd, desc, irq, mii, reg};
use board_rpi4b::hal::{DmaMemory, DmaOutOfBounds, RegisterBlock};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// DMA memory shared between the driver and the model.
#[derive(Clone)]
pub struct SharedDma {
    pub mem: Rc<RefCell<Vec<u8>>>,
    pub base: u64,
}

impl SharedDma {
    pub fn new(size: usize, base: u64) -> Self {
        Self {
            mem: Rc::new(RefCell::new(vec![0xa5; size])),
            base,
        }
    }
}

impl DmaMemory for SharedDma {
    fn size(&self) -> usize {
        self.mem.borrow().len()
    }
    fn device_address(&self) -> u64 {
        self.base
    }
    fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), DmaOutOfBounds> {
        let m = self.mem.borrow();
        match offset.checked_add(dst.len()).filter(|e| *e <= m.len()) {
            Some(end) => {
                dst.copy_from_slice(&m[offset..end]);
                Ok(())
            }
            None => Err(DmaOutOfBounds {
                offset,
                len: dst.len(),
                size: m.len(),
            }),
        }
    }
    fn write(&mut self, offset: usize, src: &[u8]) -> Result<(), DmaOutOfBounds> {
        let mut m = self.mem.borrow_mut();
        let size = m.len();
        match offset.checked_add(src.len()).filter(|e| *e <= size) {
            Some(end) => {
                m[offset..end].copy_from_slice(src);
                Ok(())
            }
            None => Err(DmaOutOfBounds {
                offset,
                len: src.len(),
                size,
            }),
        }
    }
}

/// One-shot lies (used once, then cleared), and persistent faults.
#[derive(Default, Debug)]
pub struct Misbehave {
    /// Next RX descriptor gets this length field instead of the real one.
    pub rx_len: Option<u32>,
    /// Next RX descriptor gets these extra status bits.
    pub rx_status: Option<u32>,
    /// Next RX descriptor lacks SOP.
    pub rx_no_sop: bool,
    /// The RX producer index jumps ahead by this much extra.
    pub rx_prod_jump: Option<u16>,
    /// The TX consumer index jumps ahead by this much extra.
    pub tx_cons_jump: Option<u16>,
    /// Do not consume TX descriptors.
    pub hold_tx: bool,
    /// No PHY on the bus: MDIO reads fail.
    pub no_phy: bool,
    /// MDIO never finishes.
    pub mdio_stuck: bool,
}

/// The link partner the PHY negotiates with.
#[derive(Debug, Clone, Copy)]
pub struct Partner {
    /// Clause 22 LPA bits.
    pub lpa: u16,
    /// STAT1000 bits.
    pub stat1000: u16,
}

pub const GIGABIT_PARTNER: Partner = Partner {
    lpa: 0x41e1,
    stat1000: mii::LPA_1000FULL | mii::LPA_1000HALF,
};

pub struct Model {
    pub regs: Vec<u32>,
    pub mem: Rc<RefCell<Vec<u8>>>,
    pub mem_base: u64,
    /// Hardware RX write pointer and TX read pointer (descriptor numbers).
    rx_ptr: u32,
    tx_ptr: u32,
    pub phy: [u16; 32],
    pub phy_address: u8,
    pub partner: Option<Partner>,
    /// BMSR reads left before auto-negotiation completes.
    an_countdown: u32,
    pub wire_out: VecDeque<Vec<u8>>,
    pub rx_discarded: usize,
    /// Frames the destination filter dropped.
    pub rx_filtered: usize,
    pub faults: Vec<String>,
    pub misbehave: Misbehave,
}

fn idx(off: usize) -> usize {
    off / 4
}

impl Model {
    pub fn new(dma: &SharedDma) -> Self {
        let mut regs = vec![0u32; 0x1_0000 / 4];
        regs[idx(reg::SYS_REV_CTRL)] = 0x0600_0000;
        // Indices left over from an earlier user (firmware, U-Boot): they cannot be
        // reset, the driver must align to them. TX close to the 16-bit wrap.
        regs[idx(reg::RDMA_PROD_INDEX)] = 0x1234;
        regs[idx(reg::TDMA_CONS_INDEX)] = 0xfff0;
        regs[idx(reg::RDMA_CONS_INDEX)] = 0x1200;
        regs[idx(reg::TDMA_PROD_INDEX)] = 0xffe0;
        // Status blocks left on by an earlier user: the driver must switch them off.
        regs[idx(reg::RBUF_CTRL)] = 1;
        regs[idx(reg::TBUF_CTRL)] = 1;
        let mut m = Self {
            regs,
            mem: dma.mem.clone(),
            mem_base: dma.base,
            rx_ptr: 0,
            tx_ptr: 0,
            phy: [0; 32],
            phy_address: 1,
            partner: Some(GIGABIT_PARTNER),
            an_countdown: 0,
            wire_out: VecDeque::new(),
            rx_discarded: 0,
            rx_filtered: 0,
            faults: Vec::new(),
            misbehave: Misbehave::default(),
        };
        m.phy_reset();
        m
    }

    fn phy_reset(&mut self) {
        self.phy = [0; 32];
        self.phy[mii::BMCR as usize] = 0x1140;
        self.phy[mii::BMSR as usize] = 0x7949;
        self.phy[mii::PHYSID1 as usize] = 0x600d;
        self.phy[mii::PHYSID2 as usize] = 0x84a2;
        self.phy[mii::ADVERTISE as usize] = 0x01e1;
        self.phy[mii::CTRL1000 as usize] = 0x0300;
    }

    pub fn r(&self, off: usize) -> u32 {
        self.regs[idx(off)]
    }

    fn ring_len(&self, end_reg: usize) -> u32 {
        (self.r(end_reg) + 1) / 3
    }

    pub fn umac_enabled(&self, bit: u32) -> bool {
        self.r(reg::UMAC_CMD) & bit != 0
    }

    fn dma_on(&self, ctrl: usize) -> bool {
        self.r(ctrl) & 1 != 0 && self.r(ctrl) & (1 << 17) != 0
    }

    fn off(&mut self, addr: u64, len: usize) -> Option<usize> {
        let size = self.mem.borrow().len() as u64;
        match addr.checked_sub(self.mem_base) {
            Some(o) if o + len as u64 <= size => Some(o as usize),
            _ => {
                self.faults.push(format!(
                    "DMA to {addr:#x}+{len} outside the driver's memory"
                ));
                None
            }
        }
    }

    fn mdio(&mut self, v: u32) {
        if self.misbehave.mdio_stuck {
            self.regs[idx(reg::MDIO_CMD)] = v;
            return;
        }
        let phy = ((v >> 21) & 0x1f) as u8;
        let r = ((v >> 16) & 0x1f) as usize;
        let op = (v >> 26) & 3;
        let absent = self.misbehave.no_phy || phy != self.phy_address;
        let mut out = v & !(1 << 29);
        match op {
            2 => {
                if absent {
                    out |= 1 << 28;
                    out |= 0xffff;
                } else {
                    out = (out & !0xffff) | u32::from(self.phy_read(r));
                }
            }
            1 if !absent => self.phy_write(r, v as u16),
            _ => {}
        }
        self.regs[idx(reg::MDIO_CMD)] = out;
        self.regs[idx(reg::INTRL2_0_STAT)] |= irq::MDIO_DONE;
    }

    fn phy_read(&mut self, r: usize) -> u16 {
        if r == mii::BMSR as usize {
            let mut v = self.phy[r];
            if self.an_countdown > 0 {
                self.an_countdown -= 1;
            } else if self.partner.is_some() && self.phy[0] & mii::BMCR_ANENABLE != 0 {
                v |= mii::BMSR_LSTATUS | mii::BMSR_ANEGCOMPLETE;
            }
            return v;
        }
        self.phy[r]
    }

    fn phy_write(&mut self, r: usize, v: u16) {
        if r == mii::BMCR as usize {
            if v & mii::BMCR_RESET != 0 {
                self.phy_reset();
                return;
            }
            if v & mii::BMCR_ANRESTART != 0 {
                self.an_countdown = 3;
                if let Some(p) = self.partner {
                    self.phy[mii::LPA as usize] = p.lpa;
                    self.phy[mii::STAT1000 as usize] = p.stat1000;
                }
            }
            self.phy[r] = v & !mii::BMCR_ANRESTART;
            return;
        }
        self.phy[r] = v;
    }

    fn process_tx(&mut self) {
        if !self.dma_on(reg::TDMA_CTRL) || !self.umac_enabled(cmd::TX_EN) || self.misbehave.hold_tx
        {
            return;
        }
        let n = self.ring_len(reg::TDMA_END_ADDR);
        if self.r(reg::TBUF_CTRL) & 1 != 0 {
            self.faults.push("TX 64-byte status blocks are on".into());
        }
        let prod = self.r(reg::TDMA_PROD_INDEX) as u16;
        let mut cons = self.r(reg::TDMA_CONS_INDEX) as u16;
        // At most one ring's worth per kick (bounds the work when a test scribbles on
        // the consumer index).
        for _ in 0..n {
            if cons == prod {
                break;
            }
            let d = reg::TX_DESC_BASE + 12 * self.tx_ptr as usize;
            let ls = self.r(d);
            let addr = u64::from(self.r(d + 4)) | (u64::from(self.r(d + 8)) << 32);
            let len = ((ls >> 16) & 0xfff) as usize;
            if ls & (desc::SOP | desc::EOP) != desc::SOP | desc::EOP
                || ls & desc::TX_APPEND_CRC == 0
                || len < 60
            {
                self.faults
                    .push(format!("TX descriptor {} = {ls:#x}", self.tx_ptr));
            }
            if let Some(o) = self.off(addr, len) {
                let f = self.mem.borrow()[o..o + len].to_vec();
                self.wire_out.push_back(f);
            }
            self.tx_ptr = (self.tx_ptr + 1) % n;
            cons = cons.wrapping_add(1);
        }
        let cons = cons.wrapping_add(self.misbehave.tx_cons_jump.take().unwrap_or(0));
        self.regs[idx(reg::TDMA_CONS_INDEX)] = u32::from(cons);
        self.regs[idx(reg::INTRL2_0_STAT)] |= irq::TXDMA_DONE;
    }

    /// The UniMAC destination filter: with filters enabled in MDF_CTRL, only frames
    /// whose destination matches an enabled filter pass; with none enabled, all do.
    fn passes_filter(&self, frame: &[u8]) -> bool {
        let ctrl = self.r(reg::UMAC_MDF_CTRL);
        if ctrl == 0 {
            return true;
        }
        if frame.len() < 6 {
            return false;
        }
        (0..17).any(|k| {
            if ctrl & (1 << (16 - k)) == 0 {
                return false;
            }
            let w0 = self.r(reg::UMAC_MDF_ADDR + 8 * k).to_be_bytes();
            let w1 = self.r(reg::UMAC_MDF_ADDR + 8 * k + 4).to_be_bytes();
            frame[..6] == [w0[2], w0[3], w1[0], w1[1], w1[2], w1[3]]
        })
    }

    /// Delivers `frame` (without FCS) as the MAC would; false if it was discarded.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        if !self.dma_on(reg::RDMA_CTRL) || !self.umac_enabled(cmd::RX_EN) {
            self.rx_discarded += 1;
            return false;
        }
        if !self.passes_filter(frame) {
            self.rx_filtered += 1;
            return false;
        }
        let n = self.ring_len(reg::RDMA_END_ADDR);
        let prod = self.r(reg::RDMA_PROD_INDEX) as u16;
        let cons = self.r(reg::RDMA_CONS_INDEX) as u16;
        if u32::from(prod.wrapping_sub(cons)) >= n {
            self.rx_discarded += 1;
            let discards = (self.r(reg::RDMA_PROD_INDEX) >> 16).wrapping_add(1) & 0xffff;
            self.regs[idx(reg::RDMA_PROD_INDEX)] = (discards << 16) | u32::from(prod);
            return false;
        }
        let d = reg::RX_DESC_BASE + 12 * self.rx_ptr as usize;
        let addr = u64::from(self.r(d + 4)) | (u64::from(self.r(d + 8)) << 32);
        let buf_size = (self.r(reg::RDMA_RING_BUF_SIZE) & 0xffff) as usize;
        if self.r(reg::RBUF_CTRL) & 1 != 0 {
            self.faults.push("RX 64-byte status blocks are on".into());
        }
        let mut data = vec![0u8; 2];
        data.extend_from_slice(frame);
        let mut status = desc::SOP | desc::EOP;
        if data.len() > buf_size {
            data.truncate(buf_size);
            status |= desc::RX_LG;
        }
        let Some(o) = self.off(addr, data.len()) else {
            return false;
        };
        self.mem.borrow_mut()[o..o + data.len()].copy_from_slice(&data);
        if self.misbehave.rx_no_sop {
            self.misbehave.rx_no_sop = false;
            status &= !desc::SOP;
        }
        status |= self.misbehave.rx_status.take().unwrap_or(0);
        let len = self.misbehave.rx_len.take().unwrap_or(data.len() as u32);
        self.regs[idx(d)] = ((len & 0xfff) << 16) | status;
        self.rx_ptr = (self.rx_ptr + 1) % n;
        let jump = self.misbehave.rx_prod_jump.take().unwrap_or(0);
        let prod = prod.wrapping_add(1).wrapping_add(jump);
        self.regs[idx(reg::RDMA_PROD_INDEX)] =
            (self.r(reg::RDMA_PROD_INDEX) & 0xffff_0000) | u32::from(prod);
        self.regs[idx(reg::INTRL2_0_STAT)] |= irq::RXDMA_DONE;
        true
    }
}

/// The register block handed to the driver: a handle on the model.
#[derive(Clone)]
pub struct ModelRegs(pub Rc<RefCell<Model>>);

impl RegisterBlock for ModelRegs {
    fn read32(&self, offset: usize) -> u32 {
        let m = self.0.borrow();
        m.regs.get(idx(offset)).copied().unwrap_or(u32::MAX)
    }

    fn write32(&mut self, offset: usize, value: u32) {
        let mut m = self.0.borrow_mut();
        if idx(offset) >= m.regs.len() {
            m.faults
                .push(format!("write outside the register window at {offset:#x}"));
            return;
        }
        match offset {
            reg::SYS_REV_CTRL | reg::TDMA_CONS_INDEX => m
                .faults
                .push(format!("write to read-only register {offset:#x}")),
            reg::RDMA_PROD_INDEX => {} // cannot be reset (as U-Boot notes)
            reg::INTRL2_0_CLEAR => m.regs[idx(reg::INTRL2_0_STAT)] &= !value,
            reg::INTRL2_0_MASK_SET => m.regs[idx(reg::INTRL2_0_MASK_STATUS)] |= value,
            reg::INTRL2_0_MASK_CLEAR => m.regs[idx(reg::INTRL2_0_MASK_STATUS)] &= !value,
            reg::MDIO_CMD => {
                if value & (1 << 29) != 0 {
                    m.mdio(value);
                } else {
                    m.regs[idx(offset)] = value;
                }
            }
            reg::RDMA_WRITE_PTR => {
                m.rx_ptr = value;
                m.regs[idx(offset)] = value;
            }
            reg::TDMA_READ_PTR => {
                m.tx_ptr = value;
                m.regs[idx(offset)] = value;
            }
            reg::TDMA_PROD_INDEX => {
                m.regs[idx(offset)] = value & 0xffff;
                m.process_tx();
            }
            reg::UMAC_CMD => {
                m.regs[idx(offset)] = value;
                m.process_tx();
            }
            _ => m.regs[idx(offset)] = value,
        }
    }
}
