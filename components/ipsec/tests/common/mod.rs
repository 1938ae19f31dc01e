//! Test helpers shared by the integration tests and the benchmark: an
//! in-memory link between two smoltcp devices, and packet builders.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of an in-memory link. Every frame sent is also recorded in
/// `wire` (when recording is on) so tests can look at what went over it.
pub struct PipeEnd {
    tx: Queue,
    rx: Queue,
    medium: Medium,
    pub wire: Rc<RefCell<Vec<Vec<u8>>>>,
    pub record: bool,
    /// Claim checksum offload (as a NIC would), so smoltcp skips checksums.
    pub offload: bool,
}

/// Two connected ends.
pub fn pipe(medium: Medium) -> (PipeEnd, PipeEnd) {
    let a: Queue = Rc::default();
    let b: Queue = Rc::default();
    let wire: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    (
        PipeEnd {
            tx: a.clone(),
            rx: b.clone(),
            medium,
            wire: wire.clone(),
            record: false,
            offload: false,
        },
        PipeEnd {
            tx: b,
            rx: a,
            medium,
            wire,
            record: false,
            offload: false,
        },
    )
}

impl PipeEnd {
    /// Queue a raw frame for this end to receive.
    pub fn inject(&self, frame: Vec<u8>) {
        self.rx.borrow_mut().push_back(frame);
    }

    /// Take the frames this end sent that the peer did not read yet.
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        self.tx.borrow_mut().drain(..).collect()
    }
}

pub struct PipeRx(Vec<u8>);
pub struct PipeTx {
    q: Queue,
    wire: Option<Rc<RefCell<Vec<Vec<u8>>>>>,
}

impl phy::RxToken for PipeRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for PipeTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        if let Some(w) = &self.wire {
            w.borrow_mut().push(buf.clone());
        }
        self.q.borrow_mut().push_back(buf);
        r
    }
}

impl phy::Device for PipeEnd {
    type RxToken<'a> = PipeRx;
    type TxToken<'a> = PipeTx;

    fn receive(&mut self, _: Instant) -> Option<(PipeRx, PipeTx)> {
        let f = self.rx.borrow_mut().pop_front()?;
        Some((PipeRx(f), self.tx_token()))
    }

    fn transmit(&mut self, _: Instant) -> Option<PipeTx> {
        Some(self.tx_token())
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = self.medium;
        if self.offload {
            caps.checksum.ipv4 = phy::Checksum::None;
            caps.checksum.tcp = phy::Checksum::None;
            caps.checksum.udp = phy::Checksum::None;
        }
        caps.max_transmission_unit = match self.medium {
            Medium::Ethernet => 1514,
            _ => 1500,
        };
        caps
    }
}

impl PipeEnd {
    fn tx_token(&self) -> PipeTx {
        PipeTx {
            q: self.tx.clone(),
            wire: self.record.then(|| self.wire.clone()),
        }
    }
}

/// Internet checksum over `data` (folded, complemented).
pub fn checksum(data: &[u8], init: u32) -> u16 {
    let mut sum = init;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 UDP packet.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = checksum(&p[..20], 0);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

/// An IPv6 UDP packet (UDP checksum left 0: the engine does not look at it).
pub fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let plen = 8 + payload.len();
    let mut p = vec![0u8; 40 + plen];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src);
    p[24..40].copy_from_slice(&dst);
    p[40..42].copy_from_slice(&sport.to_be_bytes());
    p[42..44].copy_from_slice(&dport.to_be_bytes());
    p[44..46].copy_from_slice(&(plen as u16).to_be_bytes());
    p[48..].copy_from_slice(payload);
    p
}
