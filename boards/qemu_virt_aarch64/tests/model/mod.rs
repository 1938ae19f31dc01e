//! A register-level model of a virtio-mmio network device, for host tests.
//!
//! The model owns the register file and shares the DMA memory with the driver (both
//! through `Rc<RefCell<..>>`). It reacts to register writes as QEMU does: a write to
//! `QueueNotify` makes it consume the transmit queue; `inject` places a frame in the next
//! available receive buffer. Knobs in `Misbehave` make it lie in the ways a broken or
//! hostile device could.
#![allow(dead_code)]

use board_qemu_virt_aarch64::hal::{DmaMemory, DmaOutOfBounds, RegisterBlock};
use board_qemu_virt_aarch64::virtio_net::{feature, reg, status, MAGIC};
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
        let end = offset.checked_add(dst.len()).filter(|e| *e <= m.len());
        match end {
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
        let end = offset.checked_add(src.len()).filter(|e| *e <= size);
        match end {
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

/// One-shot lies the device tells (each is used once, then cleared).
#[derive(Default, Debug)]
pub struct Misbehave {
    /// Next received frame's used entry names this descriptor id.
    pub rx_id: Option<u32>,
    /// Next received frame's used entry has this length.
    pub rx_len: Option<u32>,
    /// The used index of the receive queue jumps ahead by this much extra.
    pub rx_used_jump: Option<u16>,
    /// Next transmit completion names this descriptor id.
    pub tx_id: Option<u32>,
    /// Refuse FEATURES_OK.
    pub reject_features: bool,
    /// Do not complete transmitted frames (ring stays full).
    pub hold_tx: bool,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct QueueState {
    pub num_max: u32,
    pub num: u32,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    pub ready: bool,
    pub pfn: u32,
    pub align: u32,
    pub last_avail: u16,
    pub used_idx: u16,
}

pub struct Model {
    pub version: u32,
    pub device_id: u32,
    pub magic: u32,
    pub offered: u64,
    pub driver_features: u64,
    dev_sel: u32,
    drv_sel: u32,
    pub status: u32,
    queue_sel: u32,
    pub queues: [QueueState; 2],
    pub page_size: u32,
    pub int_status: u32,
    pub mac: [u8; 6],
    pub generation: u32,
    pub mem: Rc<RefCell<Vec<u8>>>,
    pub mem_base: u64,
    /// Frames the driver sent, oldest first.
    pub wire_out: VecDeque<Vec<u8>>,
    /// Frames lost because the driver had no receive buffer posted.
    pub rx_no_buffer: usize,
    /// Driver mistakes the model caught (addresses outside DMA memory, bad descriptors).
    pub faults: Vec<String>,
    pub misbehave: Misbehave,
    pub notifies: usize,
}

impl Model {
    pub fn new(version: u32, dma: &SharedDma, mac: [u8; 6]) -> Self {
        let mut offered = feature::NET_F_MAC | (1 << 16); // MAC, STATUS
        if version == 2 {
            offered |= feature::VERSION_1;
        } else {
            offered |= feature::ANY_LAYOUT;
        }
        Self {
            version,
            device_id: 1,
            magic: MAGIC,
            offered,
            driver_features: 0,
            dev_sel: 0,
            drv_sel: 0,
            status: 0,
            queue_sel: 0,
            queues: [QueueState {
                num_max: 256,
                ..Default::default()
            }; 2],
            page_size: 0,
            int_status: 0,
            mac,
            generation: 0,
            mem: dma.mem.clone(),
            mem_base: dma.base,
            wire_out: VecDeque::new(),
            rx_no_buffer: 0,
            faults: Vec::new(),
            misbehave: Misbehave::default(),
            notifies: 0,
        }
    }

    fn header_len(&self) -> usize {
        if self.version == 2 {
            12
        } else {
            10
        }
    }

    fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.int_status = 0;
        for q in &mut self.queues {
            *q = QueueState {
                num_max: q.num_max,
                ..Default::default()
            };
        }
    }

    /// Addresses of (descriptor table, available ring, used ring) of queue `q`.
    fn rings(&self, q: usize) -> (u64, u64, u64) {
        let s = &self.queues[q];
        if self.version == 2 {
            (s.desc, s.avail, s.used)
        } else {
            let base = u64::from(s.pfn) * u64::from(self.page_size);
            let avail = base + 16 * u64::from(s.num);
            let align = u64::from(s.align.max(1));
            let used = (avail + 6 + 2 * u64::from(s.num)).div_ceil(align) * align;
            (base, avail, used)
        }
    }

    fn off(&mut self, addr: u64, len: usize) -> Option<usize> {
        let size = self.mem.borrow().len() as u64;
        match addr.checked_sub(self.mem_base) {
            Some(o) if o + len as u64 <= size => Some(o as usize),
            _ => {
                self.faults
                    .push(format!("device access {addr:#x}+{len} outside DMA memory"));
                None
            }
        }
    }

    fn rd(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let o = self.off(addr, len)?;
        Some(self.mem.borrow()[o..o + len].to_vec())
    }

    fn wr(&mut self, addr: u64, data: &[u8]) -> Option<()> {
        let o = self.off(addr, data.len())?;
        self.mem.borrow_mut()[o..o + data.len()].copy_from_slice(data);
        Some(())
    }

    fn rd16(&mut self, addr: u64) -> Option<u16> {
        let b = self.rd(addr, 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    fn live(&self, q: usize) -> bool {
        self.status & status::DRIVER_OK != 0
            && (self.version == 1 || self.queues[q].ready)
            && self.queues[q].num > 0
    }

    /// Next available descriptor of queue `q`: (id, addr, len, flags).
    fn pop_avail(&mut self, q: usize) -> Option<Option<(u16, u64, u32, u16)>> {
        let (desc, avail, _) = self.rings(q);
        let idx = self.rd16(avail + 2)?;
        let s = self.queues[q];
        if s.last_avail == idx {
            return Some(None);
        }
        let slot = u64::from(s.last_avail % s.num as u16);
        let id = self.rd16(avail + 4 + 2 * slot)?;
        self.queues[q].last_avail = s.last_avail.wrapping_add(1);
        if u32::from(id) >= s.num {
            self.faults
                .push(format!("queue {q}: descriptor id {id} out of range"));
            return None;
        }
        let d = self.rd(desc + 16 * u64::from(id), 16)?;
        let addr = u64::from_le_bytes(d[0..8].try_into().unwrap());
        let len = u32::from_le_bytes(d[8..12].try_into().unwrap());
        let flags = u16::from_le_bytes([d[12], d[13]]);
        Some(Some((id, addr, len, flags)))
    }

    fn push_used(&mut self, q: usize, id: u32, len: u32, jump: u16) -> Option<()> {
        let (_, _, used) = self.rings(q);
        let s = self.queues[q];
        let slot = u64::from(s.used_idx % s.num as u16);
        let mut e = id.to_le_bytes().to_vec();
        e.extend_from_slice(&len.to_le_bytes());
        self.wr(used + 4 + 8 * slot, &e)?;
        let new = s.used_idx.wrapping_add(1).wrapping_add(jump);
        self.queues[q].used_idx = new;
        self.wr(used + 2, &new.to_le_bytes())?;
        self.int_status |= 1;
        Some(())
    }

    fn process_tx(&mut self) {
        if !self.live(1) || self.misbehave.hold_tx {
            return;
        }
        let hl = self.header_len();
        while let Some(Some((id, addr, len, flags))) = self.pop_avail(1) {
            if flags != 0 || (len as usize) < hl {
                self.faults
                    .push(format!("tx descriptor {id}: flags {flags} len {len}"));
                return;
            }
            let Some(buf) = self.rd(addr, len as usize) else {
                return;
            };
            if buf[..hl].iter().any(|b| *b != 0) {
                self.faults.push("tx header not zero".into());
            }
            self.wire_out.push_back(buf[hl..].to_vec());
            let id = self.misbehave.tx_id.take().unwrap_or(u32::from(id));
            if self.push_used(1, id, 0, 0).is_none() {
                return;
            }
        }
    }

    /// Delivers `frame` to the driver; false if no receive buffer was posted.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        if !self.live(0) {
            self.rx_no_buffer += 1;
            return false;
        }
        let hl = self.header_len();
        let Some(Some((id, addr, len, flags))) = self.pop_avail(0) else {
            self.rx_no_buffer += 1;
            return false;
        };
        if flags & 2 == 0 || (len as usize) < hl + frame.len() {
            self.faults
                .push(format!("rx descriptor {id}: flags {flags} len {len}"));
            return false;
        }
        let mut data = vec![0u8; hl];
        if hl == 12 {
            data[10] = 1; // num_buffers = 1 (virtio 1.x)
        }
        data.extend_from_slice(frame);
        if self.wr(addr, &data).is_none() {
            return false;
        }
        let id = self.misbehave.rx_id.take().unwrap_or(u32::from(id));
        let len = self.misbehave.rx_len.take().unwrap_or(data.len() as u32);
        let jump = self.misbehave.rx_used_jump.take().unwrap_or(0);
        self.push_used(0, id, len, jump).is_some()
    }

    /// Receive buffers the driver has made available and the model not yet used.
    pub fn rx_available(&mut self) -> u16 {
        let (_, avail, _) = self.rings(0);
        let idx = self.rd16(avail + 2).unwrap_or(0);
        idx.wrapping_sub(self.queues[0].last_avail)
    }
}

/// The register block handed to the driver: a handle on the model.
#[derive(Clone)]
pub struct ModelRegs(pub Rc<RefCell<Model>>);

impl RegisterBlock for ModelRegs {
    fn read32(&self, offset: usize) -> u32 {
        let m = self.0.borrow();
        let q = m.queue_sel as usize;
        match offset {
            reg::MAGIC_VALUE => m.magic,
            reg::VERSION => m.version,
            reg::DEVICE_ID => m.device_id,
            reg::VENDOR_ID => 0x554d_4551,
            reg::DEVICE_FEATURES => match m.dev_sel {
                0 => m.offered as u32,
                1 => (m.offered >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => m.queues.get(q).map_or(0, |s| s.num_max),
            reg::QUEUE_READY => m.queues.get(q).map_or(0, |s| u32::from(s.ready)),
            reg::QUEUE_PFN => m.queues.get(q).map_or(0, |s| s.pfn),
            reg::INTERRUPT_STATUS => m.int_status,
            reg::STATUS => m.status,
            reg::CONFIG_GENERATION => m.generation,
            reg::CONFIG => u32::from_le_bytes([m.mac[0], m.mac[1], m.mac[2], m.mac[3]]),
            o if o == reg::CONFIG + 4 => u32::from_le_bytes([m.mac[4], m.mac[5], 1, 0]),
            _ => 0,
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        let mut m = self.0.borrow_mut();
        let q = m.queue_sel as usize;
        match offset {
            reg::DEVICE_FEATURES_SEL => m.dev_sel = value,
            reg::DRIVER_FEATURES_SEL => m.drv_sel = value,
            reg::DRIVER_FEATURES => match m.drv_sel {
                0 => m.driver_features = (m.driver_features & !0xffff_ffff) | u64::from(value),
                1 => {
                    m.driver_features = (m.driver_features & 0xffff_ffff) | (u64::from(value) << 32)
                }
                _ => {}
            },
            reg::GUEST_PAGE_SIZE => m.page_size = value,
            reg::QUEUE_SEL => m.queue_sel = value,
            reg::QUEUE_NUM if q < 2 => m.queues[q].num = value,
            reg::QUEUE_ALIGN if q < 2 => m.queues[q].align = value,
            reg::QUEUE_PFN if q < 2 => m.queues[q].pfn = value,
            reg::QUEUE_READY if q < 2 => m.queues[q].ready = value == 1,
            reg::QUEUE_DESC_LOW if q < 2 => set_lo(&mut m.queues[q].desc, value),
            reg::QUEUE_DESC_HIGH if q < 2 => set_hi(&mut m.queues[q].desc, value),
            reg::QUEUE_DRIVER_LOW if q < 2 => set_lo(&mut m.queues[q].avail, value),
            reg::QUEUE_DRIVER_HIGH if q < 2 => set_hi(&mut m.queues[q].avail, value),
            reg::QUEUE_DEVICE_LOW if q < 2 => set_lo(&mut m.queues[q].used, value),
            reg::QUEUE_DEVICE_HIGH if q < 2 => set_hi(&mut m.queues[q].used, value),
            reg::QUEUE_NOTIFY => {
                m.notifies += 1;
                if value == 1 {
                    m.process_tx();
                }
            }
            reg::INTERRUPT_ACK => m.int_status &= !value,
            reg::STATUS => {
                if value == 0 {
                    m.reset();
                    return;
                }
                let mut v = value;
                if v & status::FEATURES_OK != 0
                    && (m.misbehave.reject_features || m.driver_features & !m.offered != 0)
                {
                    v &= !status::FEATURES_OK;
                }
                m.status = v;
            }
            _ => {}
        }
    }
}

fn set_lo(a: &mut u64, v: u32) {
    *a = (*a & !0xffff_ffff) | u64::from(v);
}

fn set_hi(a: &mut u64, v: u32) {
    *a = (*a & 0xffff_ffff) | (u64::from(v) << 32);
}
