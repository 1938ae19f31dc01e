//! Message info and message registers.

use crate::backend;

/// A message label (52 significant bits on 64-bit seL4).
pub type MessageLabel = u64;

/// The value of one message register.
pub type MessageRegisterValue = u64;

/// Number of message registers (seL4 `seL4_MsgMaxLength`).
pub const MSG_MAX_LENGTH: usize = 120;

const LABEL_WIDTH: usize = 52;

/// The label and length of a message (seL4 `seL4_MessageInfo`, without caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    label: MessageLabel,
    count: usize,
}

impl MessageInfo {
    /// A message with `label` and `count` filled message registers. As in
    /// seL4, the label keeps its low 52 bits and the count is capped at
    /// [`MSG_MAX_LENGTH`].
    pub fn new(label: MessageLabel, count: usize) -> Self {
        Self {
            label: label & ((1 << LABEL_WIDTH) - 1),
            count: count.min(MSG_MAX_LENGTH),
        }
    }

    /// The label.
    pub fn label(&self) -> MessageLabel {
        self.label
    }

    /// Number of meaningful bits in a label.
    pub const fn label_width() -> usize {
        LABEL_WIDTH
    }

    /// Number of filled message registers.
    pub fn count(&self) -> usize {
        self.count
    }
}

impl Default for MessageInfo {
    fn default() -> Self {
        Self::new(0, 0)
    }
}

/// Runs `f` on this PD's message registers.
pub fn with_msg_regs<T>(f: impl FnOnce(&[MessageRegisterValue]) -> T) -> T {
    backend::with_msg_regs(f)
}

/// Runs `f` on this PD's message registers, mutably.
pub fn with_msg_regs_mut<T>(f: impl FnOnce(&mut [MessageRegisterValue]) -> T) -> T {
    backend::with_msg_regs_mut(f)
}

/// Sets message register `i`. Panics if `i >= MSG_MAX_LENGTH`.
pub fn set_mr(i: usize, value: MessageRegisterValue) {
    with_msg_regs_mut(|regs| regs[i] = value)
}

/// Reads message register `i`. Panics if `i >= MSG_MAX_LENGTH`.
pub fn get_mr(i: usize) -> MessageRegisterValue {
    with_msg_regs(|regs| regs[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_info_truncates_like_sel4() {
        let m = MessageInfo::new(u64::MAX, 500);
        assert_eq!(m.label(), (1 << 52) - 1);
        assert_eq!(m.count(), MSG_MAX_LENGTH);
        assert_eq!(MessageInfo::default(), MessageInfo::new(0, 0));
    }
}
