//! The BCM2711's RNG200 hardware random number generator.
//!
//! Registers and start-up sequence as Linux's `iproc-rng200.c` (`bcm2711_rng200_init`)
//! uses them: discard the first 0x40000 bits, FIFO threshold 2, sample-rate divider 3,
//! generator enabled; words are read from `FIFO_DATA` while `FIFO_COUNT` says there are
//! some.
//!
//! **QEMU 10's `raspi4b` does not emulate the RNG200**: an access to its address is a
//! synchronous external abort (checked with a bare-metal probe and `info mtree`; see
//! `facts::QEMU_RASPI4B_HAS_RNG200`). A PD that reads it under QEMU faults, so the seL4
//! backend needs another entropy source there.
//!
//! The output is the hardware's raw generator output: seed a CSPRNG with it rather than
//! using it directly for keys.

use crate::hal::RegisterBlock;
use core::fmt;

/// Register offsets.
pub mod reg {
    /// Control: bits 12:0 generator enable, bits 20:13 sample-rate divider.
    pub const CTRL: usize = 0x00;
    /// RNG soft reset.
    pub const SOFT_RESET: usize = 0x04;
    /// RBG soft reset.
    pub const RBG_SOFT_RESET: usize = 0x08;
    /// Bits generated since start.
    pub const TOTAL_BIT_COUNT: usize = 0x0c;
    /// Bits to discard after start.
    pub const TOTAL_BIT_COUNT_THRESHOLD: usize = 0x10;
    /// Interrupt status (health-test failures).
    pub const INT_STATUS: usize = 0x18;
    /// Interrupt enable.
    pub const INT_ENABLE: usize = 0x1c;
    /// Random data, one 32-bit word per read.
    pub const FIFO_DATA: usize = 0x20;
    /// Bits 7:0 words in the FIFO; bits 15:8 full threshold.
    pub const FIFO_COUNT: usize = 0x24;
}

const RBGEN_MASK: u32 = 0x1fff;
const DIV_SHIFT: u32 = 13;
const WARMUP_BITS: u32 = 0x40000;
/// `TOTAL_BIT_COUNT` must exceed this before the FIFO holds usable output.
const WARM_AFTER: u32 = 16;
/// Interrupt status: the generator's health test locked it out.
pub const MASTER_FAIL_LOCKOUT: u32 = 1 << 31;
/// Interrupt status: NIST health test failed.
pub const NIST_FAIL: u32 = 1 << 5;

/// Errors of the RNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The generator has not warmed up yet (or is not running); try again later.
    NotReady,
    /// The generator reports a health-test failure (interrupt status bits given).
    HealthFailure(u32),
    /// The FIFO count register reports more words than the FIFO can hold.
    BadFifoCount(u32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Words the FIFO can hold at most (its count field is 8 bits; the BCM2711 has 16).
pub const FIFO_DEPTH_MAX: u32 = 32;

/// The RNG200.
#[derive(Debug)]
pub struct Rng200<R: RegisterBlock> {
    regs: R,
}

impl<R: RegisterBlock> Rng200<R> {
    /// Starts the generator unless it already runs (the firmware may have started it).
    pub fn new(mut regs: R) -> Self {
        if regs.read32(reg::CTRL) & RBGEN_MASK == 0 {
            regs.write32(reg::TOTAL_BIT_COUNT_THRESHOLD, WARMUP_BITS);
            regs.write32(reg::FIFO_COUNT, 2 << 8);
            regs.write32(reg::CTRL, (3 << DIV_SHIFT) | RBGEN_MASK);
        }
        Self { regs }
    }

    /// Fills `buf` with random bytes. `Err(NotReady)` if the generator has not warmed up
    /// or ran out of words part-way; on any error `buf` may hold a partial prefix that
    /// the caller must discard.
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        let st = self.regs.read32(reg::INT_STATUS);
        if st & (MASTER_FAIL_LOCKOUT | NIST_FAIL) != 0 {
            return Err(Error::HealthFailure(st));
        }
        if self.regs.read32(reg::TOTAL_BIT_COUNT) <= WARM_AFTER {
            return Err(Error::NotReady);
        }
        for chunk in buf.chunks_mut(4) {
            let count = self.regs.read32(reg::FIFO_COUNT) & 0xff;
            if count > FIFO_DEPTH_MAX {
                return Err(Error::BadFifoCount(count));
            }
            if count == 0 {
                return Err(Error::NotReady);
            }
            let w = self.regs.read32(reg::FIFO_DATA).to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}
