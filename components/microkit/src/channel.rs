//! Channels, channel sets and child PDs.

use core::fmt;

use crate::{backend, MessageInfo};

/// Number of channel ids a PD has (0..=61), as in Microkit.
pub const MAX_CHANNELS: usize = 62;

/// One end of a channel of this PD, named by its id in the system description.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Ord, PartialOrd, Hash)]
pub struct Channel {
    index: usize,
}

impl Channel {
    /// The channel with id `index`. Panics (at compile time in a `const`) if
    /// `index` is not below 62.
    pub const fn new(index: usize) -> Self {
        assert!(index < MAX_CHANNELS);
        Self { index }
    }

    /// The channel id.
    pub const fn index(&self) -> usize {
        self.index
    }

    /// Signals the PD at the other end. Panics if this end may not notify
    /// (the system description lacks `notify="true"` on it), as sel4-microkit
    /// does.
    pub fn notify(&self) {
        backend::notify(self.index)
    }

    /// Acknowledges the interrupt delivered on this channel. Panics if the
    /// channel is not an interrupt of this PD.
    pub fn irq_ack(&self) -> Result<(), IrqAckError> {
        backend::irq_ack(self.index)
    }

    /// Protected procedure call: sends `msg_info` and the message registers to
    /// the PD at the other end and blocks until it replies (seL4 `Call`).
    /// Panics if this end may not make protected calls (`pp="true"`).
    pub fn pp_call(&self, msg_info: MessageInfo) -> MessageInfo {
        backend::pp_call(self.index, msg_info)
    }
}

/// Failure to acknowledge an interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqAckError {
    /// The kernel refused the acknowledgement (seL4 error code).
    Kernel(u64),
}

impl fmt::Display for IrqAckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(code) => write!(f, "irq ack error: seL4 error {code}"),
        }
    }
}

/// A child protection domain (the `fault` entry point names it).
#[derive(Debug, Copy, Clone, Eq, PartialEq, Ord, PartialOrd, Hash)]
pub struct Child {
    index: usize,
}

impl Child {
    /// The child with id `index`.
    pub const fn new(index: usize) -> Self {
        Self { index }
    }

    /// The child id.
    pub const fn index(&self) -> usize {
        self.index
    }
}

/// The set of channels a notification arrived on (a seL4 notification badge).
#[derive(Debug, Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChannelSet(u64);

impl ChannelSet {
    /// A set from its bitmap (bit `i` = channel `i`). Bits 62 and 63 are
    /// dropped: they are not channel ids.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits & ((1 << MAX_CHANNELS) - 1))
    }

    /// The bitmap.
    pub const fn bits(&self) -> u64 {
        self.0
    }

    /// Whether `channel` is in the set.
    pub fn contains(&self, channel: Channel) -> bool {
        self.0 & (1 << channel.index()) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The channels, lowest id first.
    pub fn iter(&self) -> ChannelSetIter {
        ChannelSetIter(self.0)
    }

    /// A `Display` form, e.g. `{0, 3}`.
    pub fn display(&self) -> DisplayChannelSet<'_> {
        DisplayChannelSet(self)
    }
}

impl IntoIterator for ChannelSet {
    type Item = Channel;
    type IntoIter = ChannelSetIter;
    fn into_iter(self) -> ChannelSetIter {
        self.iter()
    }
}

/// Iterator over a [`ChannelSet`].
#[derive(Debug, Clone)]
pub struct ChannelSetIter(u64);

impl Iterator for ChannelSetIter {
    type Item = Channel;

    fn next(&mut self) -> Option<Channel> {
        if self.0 == 0 {
            return None;
        }
        let i = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(Channel::new(i))
    }
}

/// `Display` for a [`ChannelSet`].
pub struct DisplayChannelSet<'a>(&'a ChannelSet);

impl fmt::Display for DisplayChannelSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (n, ch) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", ch.index())?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_set_iterates_in_order_and_drops_high_bits() {
        let set = ChannelSet::from_bits((1 << 63) | (1 << 61) | (1 << 3) | 1);
        let ids: std::vec::Vec<usize> = set.iter().map(|c| c.index()).collect();
        assert_eq!(ids, [0, 3, 61]);
        assert!(set.contains(Channel::new(3)));
        assert!(!set.contains(Channel::new(4)));
        assert_eq!(std::format!("{}", set.display()), "{0, 3, 61}");
    }

    #[test]
    #[should_panic]
    fn channel_id_62_is_rejected() {
        let _ = Channel::new(core::hint::black_box(62));
    }
}
