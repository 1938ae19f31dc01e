//! The BCM2711 system timer: a free-running 64-bit microsecond counter with four 32-bit
//! compare registers; a match raises an interrupt until its bit in `CS` is written.
//!
//! The VideoCore firmware uses compare channels 0 and 2, so the ARM side owns 1 and 3
//! (Linux's `bcm2835_timer.c` uses 3). Channel N interrupts as GIC SPI 64 + N,
//! level-triggered ([`facts::SYSTEM_TIMER_IRQ_C1`](crate::facts::SYSTEM_TIMER_IRQ_C1),
//! [`facts::SYSTEM_TIMER_IRQ_C3`](crate::facts::SYSTEM_TIMER_IRQ_C3)).
//!
//! Microkit's seL4 for the Pi 4 keeps the ARM generic timer for the kernel and does not
//! export the EL1 physical timer to user level (unlike on QEMU `virt`), so a PD that
//! needs periodic work (the network server's TCP retransmissions and ARP) uses this
//! timer.
//!
//! The counter runs at 1 MHz; compare registers hold the low 32 bits, so a deadline is at
//! most 2^31 - 1 µs (35 minutes) ahead (half the range, so "already passed" is decidable). [`SystemTimer::arm_after`] refuses longer delays and
//! clamps zero to 1 µs (a compare value equal to the current count may be missed).

use crate::hal::RegisterBlock;

/// Register offsets.
pub mod reg {
    /// Control/status: bit N set = compare channel N matched (write 1 to clear).
    pub const CS: usize = 0x00;
    /// Counter, low 32 bits.
    pub const CLO: usize = 0x04;
    /// Counter, high 32 bits.
    pub const CHI: usize = 0x08;
    /// Compare channel 0; channel N is at `C0 + 4 * N`.
    pub const C0: usize = 0x0c;
}

/// Counter frequency.
pub const HZ: u64 = 1_000_000;

/// Errors of the system timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Only compare channels 1 and 3 belong to the ARM cores.
    ChannelNotArm(u8),
    /// The delay exceeds half the 32-bit compare range (µs given).
    TooFar(u64),
    /// The counter passed every deadline written before it was checked ([`ARM_TRIES`]
    /// times, the delay doubling each time): the timer is not armed.
    Missed,
}

/// How often [`SystemTimer::arm_after`] re-arms a deadline the counter passed meanwhile.
pub const ARM_TRIES: u32 = 16;

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ChannelNotArm(c) => {
                write!(
                    f,
                    "system timer channel {c} belongs to the VideoCore (use 1 or 3)"
                )
            }
            Self::TooFar(us) => write!(f, "timer delay {us} µs exceeds 2^31 - 1 µs"),
            Self::Missed => {
                f.write_str("system timer deadline passed before it was armed, every try")
            }
        }
    }
}

/// One ARM compare channel of the system timer.
pub struct SystemTimer<R: RegisterBlock> {
    regs: R,
    channel: u8,
}

impl<R: RegisterBlock> SystemTimer<R> {
    /// The timer at `regs` (the page at [`facts::SYSTEM_TIMER`](crate::facts::SYSTEM_TIMER)),
    /// using compare `channel` (1 or 3). A stale match of the channel is cleared.
    pub fn new(regs: R, channel: u8) -> Result<Self, Error> {
        if channel != 1 && channel != 3 {
            return Err(Error::ChannelNotArm(channel));
        }
        let mut t = Self { regs, channel };
        t.regs.write32(reg::CS, 1 << channel);
        Ok(t)
    }

    /// The 64-bit counter (µs since reset), read consistently across a carry of the low
    /// word (high, low, high again).
    pub fn now_us(&self) -> u64 {
        loop {
            let hi = self.regs.read32(reg::CHI);
            let lo = self.regs.read32(reg::CLO);
            if self.regs.read32(reg::CHI) == hi {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }

    /// Raises the channel's interrupt `us` microseconds from now (0 counts as 1).
    ///
    /// A compare matches only on equality, so a deadline the counter passes before the
    /// write lands (the PD preempted between reading the counter and writing the compare,
    /// or a very short delay) would fire 2^32 µs later. After the write the counter is read
    /// again: if it is already past the target without a match, the timer is re-armed with
    /// twice the delay, up to [`ARM_TRIES`] times ([`Error::Missed`] after that).
    pub fn arm_after(&mut self, us: u64) -> Result<(), Error> {
        let us = us.max(1);
        let mut delta = u32::try_from(us)
            .ok()
            .filter(|d| *d <= i32::MAX as u32)
            .ok_or(Error::TooFar(us))?;
        let compare = reg::C0 + 4 * usize::from(self.channel);
        for _ in 0..ARM_TRIES {
            let target = self.regs.read32(reg::CLO).wrapping_add(delta);
            self.regs.write32(compare, target);
            let now = self.regs.read32(reg::CLO);
            // Still ahead (within half the 32-bit range), or it already matched.
            if (target.wrapping_sub(now) as i32) > 0 || self.matched() {
                return Ok(());
            }
            delta = delta.saturating_mul(2);
        }
        Err(Error::Missed)
    }

    /// Whether the channel's compare has matched (its interrupt line is raised), without
    /// clearing it: for polling, e.g. to check the timer when its interrupt is not
    /// delivered.
    pub fn matched(&self) -> bool {
        self.regs.read32(reg::CS) & (1 << self.channel) != 0
    }

    /// Clears the channel's match, after its interrupt, before the IRQ is acknowledged
    /// (the line is level-triggered). Returns whether the channel had matched.
    pub fn acknowledge(&mut self) -> bool {
        let bit = 1 << self.channel;
        let matched = self.regs.read32(reg::CS) & bit != 0;
        self.regs.write32(reg::CS, bit);
        matched
    }
}
