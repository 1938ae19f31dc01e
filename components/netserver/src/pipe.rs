//! An in-memory Ethernet link between two smoltcp devices, for tests and
//! benchmarks that wire two network servers back to back in one process.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// Frames queued on a link end are dropped beyond this many (a full wire).
pub const QUEUE_LIMIT: usize = 1024;

/// One end of the link.
#[derive(Debug)]
pub struct PipeEnd {
    rx: Queue,
    tx: Queue,
    mtu: usize,
}

/// Two connected ends: what one sends, the other receives.
pub fn pipe(mtu: usize) -> (PipeEnd, PipeEnd) {
    let a: Queue = Rc::default();
    let b: Queue = Rc::default();
    (
        PipeEnd {
            rx: a.clone(),
            tx: b.clone(),
            mtu,
        },
        PipeEnd { rx: b, tx: a, mtu },
    )
}

impl PipeEnd {
    /// Frames waiting to be received on this end.
    pub fn pending(&self) -> usize {
        self.rx.borrow().len()
    }

    /// A copy of the frames waiting on this end, oldest first (tests look
    /// at what crossed the wire).
    pub fn waiting(&self) -> Vec<Vec<u8>> {
        self.rx.borrow().iter().cloned().collect()
    }
}

/// Receive token of a [`PipeEnd`].
pub struct PipeRx(Vec<u8>);
/// Transmit token of a [`PipeEnd`].
pub struct PipeTx(Queue);

impl phy::RxToken for PipeRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for PipeTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        let mut q = self.0.borrow_mut();
        if q.len() < QUEUE_LIMIT {
            q.push_back(buf);
        }
        r
    }
}

impl Device for PipeEnd {
    type RxToken<'a> = PipeRx;
    type TxToken<'a> = PipeTx;

    fn receive(&mut self, _now: Instant) -> Option<(PipeRx, PipeTx)> {
        let frame = self.rx.borrow_mut().pop_front()?;
        Some((PipeRx(frame), PipeTx(self.tx.clone())))
    }

    fn transmit(&mut self, _now: Instant) -> Option<PipeTx> {
        Some(PipeTx(self.tx.clone()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = self.mtu;
        c
    }
}
