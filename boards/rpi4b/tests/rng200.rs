//! The RNG200 driver against a small model of its FIFO.

use board_rpi4b::hal::RegisterBlock;
use board_rpi4b::rng200::{reg, Error, Rng200, MASTER_FAIL_LOCKOUT};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

#[derive(Default)]
struct Model {
    ctrl: u32,
    threshold: u32,
    fifo_thresh: u32,
    total_bits: u32,
    int_status: u32,
    fifo: VecDeque<u32>,
    bad_count: Option<u32>,
    writes: Vec<(usize, u32)>,
}

#[derive(Clone)]
struct Regs(Rc<RefCell<Model>>);

impl RegisterBlock for Regs {
    fn read32(&self, offset: usize) -> u32 {
        let m = self.0.borrow();
        match offset {
            reg::CTRL => m.ctrl,
            reg::TOTAL_BIT_COUNT => m.total_bits,
            reg::INT_STATUS => m.int_status,
            reg::FIFO_COUNT => m.bad_count.unwrap_or(m.fifo.len() as u32) | (m.fifo_thresh << 8),
            reg::FIFO_DATA => {
                drop(m);
                self.0.borrow_mut().fifo.pop_front().unwrap_or(0)
            }
            _ => 0,
        }
    }
    fn write32(&mut self, offset: usize, value: u32) {
        let mut m = self.0.borrow_mut();
        m.writes.push((offset, value));
        match offset {
            reg::CTRL => m.ctrl = value,
            reg::TOTAL_BIT_COUNT_THRESHOLD => m.threshold = value,
            reg::FIFO_COUNT => m.fifo_thresh = (value >> 8) & 0xff,
            _ => {}
        }
    }
}

#[test]
fn starts_like_linux_and_reads_the_fifo() {
    let m = Rc::new(RefCell::new(Model::default()));
    let mut rng = Rng200::new(Regs(m.clone()));
    {
        let m = m.borrow();
        assert_eq!(m.threshold, 0x40000);
        assert_eq!(m.fifo_thresh, 2);
        assert_eq!(m.ctrl, (3 << 13) | 0x1fff);
    }
    let mut buf = [0u8; 8];
    assert_eq!(rng.fill(&mut buf), Err(Error::NotReady), "not warmed up");
    m.borrow_mut().total_bits = 0x40000;
    assert_eq!(rng.fill(&mut buf), Err(Error::NotReady), "FIFO empty");
    m.borrow_mut()
        .fifo
        .extend([0x0403_0201, 0x0807_0605, 0x0c0b_0a09]);
    let mut buf = [0u8; 10];
    rng.fill(&mut buf).unwrap();
    assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    m.borrow_mut().int_status = MASTER_FAIL_LOCKOUT;
    assert_eq!(
        rng.fill(&mut buf),
        Err(Error::HealthFailure(MASTER_FAIL_LOCKOUT))
    );
    m.borrow_mut().int_status = 0;
    m.borrow_mut().bad_count = Some(200);
    assert_eq!(rng.fill(&mut buf), Err(Error::BadFifoCount(200)));
}

#[test]
fn a_running_generator_is_left_alone() {
    let m = Rc::new(RefCell::new(Model {
        ctrl: 0x7fff,
        ..Default::default()
    }));
    let _rng = Rng200::new(Regs(m.clone()));
    assert!(m.borrow().writes.is_empty());
}
