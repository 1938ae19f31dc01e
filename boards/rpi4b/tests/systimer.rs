//! The system-timer driver against a model of the BCM2711 system timer: a 64-bit
//! microsecond counter, four compare registers, write-1-to-clear match bits.

use board_rpi4b::hal::RegisterBlock;
use board_rpi4b::systimer::{reg, Error, SystemTimer};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
struct Model {
    counter: u64,
    compare: [u32; 4],
    cs: u32,
    /// Counter advance applied after each CLO read (to force a carry between reads).
    tick_on_clo: u64,
}

impl Model {
    /// Advances the counter by `us`, setting the match bit of every compare register the
    /// low word passes or reaches.
    fn advance(&mut self, us: u64) {
        for _ in 0..us {
            self.counter += 1;
            for (n, c) in self.compare.iter().enumerate() {
                if self.counter as u32 == *c {
                    self.cs |= 1 << n;
                }
            }
        }
    }
}

#[derive(Clone)]
struct Regs(Rc<RefCell<Model>>);

impl RegisterBlock for Regs {
    fn read32(&self, offset: usize) -> u32 {
        let mut m = self.0.borrow_mut();
        match offset {
            reg::CS => m.cs,
            reg::CLO => {
                let v = m.counter as u32;
                let t = m.tick_on_clo;
                m.advance(t);
                v
            }
            reg::CHI => (m.counter >> 32) as u32,
            o if (reg::C0..reg::C0 + 16).contains(&o) => m.compare[(o - reg::C0) / 4],
            _ => 0,
        }
    }
    fn write32(&mut self, offset: usize, value: u32) {
        let mut m = self.0.borrow_mut();
        match offset {
            reg::CS => m.cs &= !value,
            o if (reg::C0..reg::C0 + 16).contains(&o) => m.compare[(o - reg::C0) / 4] = value,
            _ => {}
        }
    }
}

fn timer(channel: u8) -> (Rc<RefCell<Model>>, Result<SystemTimer<Regs>, Error>) {
    let m = Rc::new(RefCell::new(Model::default()));
    let t = SystemTimer::new(Regs(m.clone()), channel);
    (m, t)
}

#[test]
fn videocore_channels_are_refused() {
    for c in [0, 2, 4] {
        assert_eq!(timer(c).1.err(), Some(Error::ChannelNotArm(c)));
    }
    assert!(timer(1).1.is_ok() && timer(3).1.is_ok());
}

#[test]
fn a_stale_match_is_cleared_at_start_and_only_our_bit_is_touched() {
    let m = Rc::new(RefCell::new(Model {
        cs: 0b1111,
        ..Model::default()
    }));
    let _t = SystemTimer::new(Regs(m.clone()), 3).unwrap();
    assert_eq!(m.borrow().cs, 0b0111, "only channel 3's match is cleared");
}

#[test]
fn the_interrupt_fires_after_the_delay_and_is_acknowledged() {
    let (m, t) = timer(1);
    let mut t = t.unwrap();
    m.borrow_mut().advance(1000);
    t.arm_after(10_000).unwrap();
    m.borrow_mut().advance(9_999);
    assert!(!t.matched(), "not yet");
    assert!(!t.acknowledge(), "not yet");
    m.borrow_mut().advance(1);
    assert_eq!(m.borrow().cs, 0b10);
    assert!(t.matched());
    assert_eq!(m.borrow().cs, 0b10, "matched() does not clear");
    assert!(t.acknowledge());
    assert!(!t.matched());
    assert_eq!(m.borrow().cs, 0, "cleared before the IRQ is acked");
}

#[test]
fn the_deadline_wraps_with_the_low_word() {
    let (m, t) = timer(3);
    let mut t = t.unwrap();
    m.borrow_mut().counter = u64::from(u32::MAX) - 5;
    t.arm_after(10).unwrap();
    m.borrow_mut().advance(10);
    assert!(t.acknowledge(), "matched across the 32-bit wrap");
}

#[test]
fn zero_is_one_and_too_far_is_refused() {
    let (m, t) = timer(1);
    let mut t = t.unwrap();
    t.arm_after(0).unwrap();
    assert_eq!(m.borrow().compare[1], 1);
    assert_eq!(t.arm_after(1 << 31), Err(Error::TooFar(1 << 31)));
    t.arm_after((1 << 31) - 1).unwrap();
}

#[test]
fn the_64_bit_count_is_consistent_across_a_carry() {
    let (m, t) = timer(1);
    let t = t.unwrap();
    // The low word wraps between the reads: the driver must not mix the old high word
    // with the new low word (which would be 2^32 µs in the past).
    {
        let mut m = m.borrow_mut();
        m.counter = (7u64 << 32) | 0xffff_fffe;
        m.tick_on_clo = 3;
    }
    let before = m.borrow().counter;
    let now = t.now_us();
    assert!(now >= before, "{now:#x} < {before:#x}");
    assert!(now < before + 100, "{now:#x}");
}

#[test]
fn a_deadline_passed_before_the_write_lands_is_re_armed() {
    // The counter moves 5 µs on every CLO read: a 1 µs deadline is already past when the
    // compare is written. Without the re-check it would match only 2^32 µs later.
    let (m, t) = timer(1);
    let mut t = t.unwrap();
    m.borrow_mut().tick_on_clo = 5;
    t.arm_after(1).unwrap();
    m.borrow_mut().tick_on_clo = 0;
    // It matches within a few re-arms' worth of microseconds, not 71 minutes later.
    m.borrow_mut().advance(100);
    assert!(t.acknowledge(), "fires at the re-armed deadline");
}

#[test]
fn a_counter_that_always_outruns_the_write_is_reported() {
    let (m, t) = timer(3);
    let mut t = t.unwrap();
    // Far more per read than the delay can double to in ARM_TRIES tries.
    m.borrow_mut().tick_on_clo = 1 << 16;
    assert_eq!(t.arm_after(1), Err(Error::Missed));
}
