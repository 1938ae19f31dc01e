//! Anti-replay window (RFC 4303 section 3.4.3) with extended sequence numbers
//! (RFC 4304) and the inference of the high 32 bits of RFC 4303 Appendix A.

use alloc::vec;
use alloc::vec::Vec;

/// Smallest window size accepted.
pub const MIN_WINDOW: u32 = 32;
/// Largest window size accepted.
pub const MAX_WINDOW: u32 = 4096;

/// Why a sequence number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The sequence number was already received.
    Duplicate,
    /// The sequence number is left of the window (or is 0, which is never sent).
    TooOld,
}

/// A sliding anti-replay window of 32 to 4096 packets.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    size: u32,
    esn: bool,
    /// Highest authenticated sequence number (0: none yet).
    top: u64,
    /// Ring bitmap: bit `s & mask` tells whether `s` was seen. Its length
    /// is a power of two of at least `size` bits, so that finding a bit is a
    /// mask, not a division.
    bits: Vec<u64>,
    /// Number of bits in `bits` minus one.
    mask: u64,
}

impl ReplayWindow {
    /// A window of `size` packets (clamped to 32..=4096), with or without ESN.
    pub fn new(size: u32, esn: bool) -> ReplayWindow {
        let size = size.clamp(MIN_WINDOW, MAX_WINDOW);
        let words = size.div_ceil(64).next_power_of_two() as usize;
        ReplayWindow {
            size,
            esn,
            top: 0,
            bits: vec![0; words],
            mask: words as u64 * 64 - 1,
        }
    }

    /// The window size.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Highest sequence number authenticated so far.
    pub fn top(&self) -> u64 {
        self.top
    }

    #[inline]
    fn nbits(&self) -> u64 {
        self.mask + 1
    }

    /// Word index and bit mask of sequence number `seq` in the ring bitmap.
    #[inline]
    fn slot(&self, seq: u64) -> (usize, u64) {
        let bit = seq & self.mask;
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    /// The full 64-bit sequence number of a packet carrying `seq_lo`
    /// (RFC 4303 Appendix A2.2); without ESN the high half is 0.
    /// `None` when the inferred number would lie before 0 (too old).
    #[inline]
    pub fn infer(&self, seq_lo: u32) -> Option<u64> {
        if !self.esn {
            return Some(u64::from(seq_lo));
        }
        let w = self.size;
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let seq_hi = if tl >= w - 1 {
            // Case A: the window lies within one sequence-number subspace.
            if seq_lo >= tl - (w - 1) {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // Case B: the window spans two subspaces.
            if seq_lo >= tl.wrapping_sub(w - 1) {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        Some((u64::from(seq_hi) << 32) | u64::from(seq_lo))
    }

    /// Check a (full) sequence number before the ICV is verified.
    #[inline]
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::TooOld);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= u64::from(self.size) {
            return Err(ReplayError::TooOld);
        }
        let (word, bit) = self.slot(seq);
        if self.bits.get(word).is_some_and(|w| w & bit != 0) {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Record an authenticated sequence number (after the ICV verified).
    #[inline(always)]
    pub fn update(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        let nbits = self.nbits();
        if seq > self.top {
            let advance = seq - self.top;
            if advance >= nbits {
                self.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                for s in self.top + 1..seq {
                    let (word, bit) = self.slot(s);
                    if let Some(w) = self.bits.get_mut(word) {
                        *w &= !bit;
                    }
                }
            }
            self.top = seq;
        }
        let (word, bit) = self.slot(seq);
        if let Some(w) = self.bits.get_mut(word) {
            *w |= bit;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn in_order_and_duplicates() {
        let mut w = ReplayWindow::new(64, false);
        assert_eq!(w.check(0), Err(ReplayError::TooOld));
        for s in 1..=200u64 {
            w.update(s).unwrap();
            assert_eq!(w.check(s), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.check(200 - 63), Err(ReplayError::Duplicate));
        assert_eq!(w.check(200 - 64), Err(ReplayError::TooOld));
        assert_eq!(w.check(201), Ok(()));
    }

    #[test]
    fn out_of_order_within_window() {
        for size in [32u32, 64, 100, 4096] {
            let mut w = ReplayWindow::new(size, false);
            w.update(10_000).unwrap();
            let lo = 10_000 - u64::from(size) + 1;
            // Everything inside the window but the top is still acceptable once.
            for s in (lo..10_000).rev() {
                assert_eq!(w.check(s), Ok(()), "size {size} seq {s}");
                w.update(s).unwrap();
                assert_eq!(w.update(s), Err(ReplayError::Duplicate));
            }
            assert_eq!(w.check(lo - 1), Err(ReplayError::TooOld));
            // A jump clears stale bits: seq 10_000 + size is new, and old
            // positions reused by the ring are not mistaken for duplicates.
            w.update(10_000 + u64::from(size) - 1).unwrap();
            assert_eq!(w.check(10_000 + u64::from(size) - 2), Ok(()));
        }
    }

    #[test]
    fn jumps_between_size_and_bitmap_length() {
        // Sizes that are not powers of two get a larger bitmap: a jump longer
        // than the window but shorter than the bitmap must still leave every
        // number inside the new window new (only the top seen).
        for size in [33u32, 100, 200, 1000, 4095] {
            for jump in [
                u64::from(size),
                u64::from(size) + 1,
                u64::from(size) * 2 - 1,
            ] {
                let mut w = ReplayWindow::new(size, false);
                for s in 1..=u64::from(size) {
                    w.update(s).unwrap();
                }
                let top = u64::from(size) + jump;
                w.update(top).unwrap();
                let lo = top - u64::from(size) + 1;
                for s in lo..top {
                    assert_eq!(w.check(s), Ok(()), "size {size} jump {jump} seq {s}");
                }
                assert_eq!(w.check(top), Err(ReplayError::Duplicate));
                assert_eq!(w.check(lo - 1), Err(ReplayError::TooOld));
            }
        }
    }

    #[test]
    fn size_is_clamped() {
        assert_eq!(ReplayWindow::new(1, false).size(), MIN_WINDOW);
        assert_eq!(ReplayWindow::new(100_000, false).size(), MAX_WINDOW);
    }

    #[test]
    fn esn_inference_appendix_a() {
        let mut w = ReplayWindow::new(64, true);
        // Before anything: low numbers are in subspace 0.
        assert_eq!(w.infer(1), Some(1));
        // Case A: top = 2^32 + 100 (Th = 1, Tl = 100 >= W - 1).
        w.update((1 << 32) + 100).unwrap();
        assert_eq!(w.infer(100), Some((1 << 32) + 100));
        assert_eq!(w.infer(37), Some((1 << 32) + 37));
        // Left of the window in the low half: must be the next subspace.
        assert_eq!(w.infer(36), Some((2 << 32) + 36));
        // Case B: top = 2^32 + 10 (Tl < W - 1): window spans subspaces 0 and 1.
        let mut w = ReplayWindow::new(64, true);
        w.update((1 << 32) + 10).unwrap();
        assert_eq!(w.infer(u32::MAX), Some(u64::from(u32::MAX)));
        assert_eq!(w.infer(u32::MAX - 52), Some(u64::from(u32::MAX - 52)));
        assert_eq!(w.infer(5), Some((1 << 32) + 5));
        assert_eq!(w.infer(20), Some((1 << 32) + 20));
        // Crossing the boundary: packets from the old subspace still accepted.
        assert_eq!(w.check(u64::from(u32::MAX)), Ok(()));
        assert_eq!(w.check(u64::from(u32::MAX - 60)), Err(ReplayError::TooOld));
        // Before any packet in subspace 0, a huge low half cannot be subspace -1.
        let w = ReplayWindow::new(64, true);
        assert_eq!(w.infer(u32::MAX), None);
        // Without ESN the high half is always 0.
        let w = ReplayWindow::new(64, false);
        assert_eq!(w.infer(u32::MAX), Some(u64::from(u32::MAX)));
    }
}
