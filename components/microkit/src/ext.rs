//! Extensions beyond sel4-microkit's API that the vetted PDs need:
//! [`wait_notified`] and [`Channel::pp_call_timeout`] (both backends; on seL4
//! with the differences the README's seL4 section lists), and, on the host,
//! event sources in [`crate::host`].

use core::fmt;
use core::time::Duration;

use crate::{backend, Channel, ChannelSet, MessageInfo};

/// Why [`Channel::pp_call_timeout`] returned no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// The callee did not reply in time (it hangs or died); the call is
    /// abandoned.
    TimedOut,
    /// An earlier call on this channel timed out and the callee has still
    /// not answered it: the call was not made.
    Unresponsive,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TimedOut => "protected call timed out",
            Self::Unresponsive => "callee has not answered an earlier call",
        })
    }
}

impl Channel {
    /// A protected call that waits at most `timeout` for the reply. Use it
    /// to call a PD whose death or hang must not hang the caller (fail
    /// closed). After a timeout, calls on the channel fail with
    /// [`CallError::Unresponsive`] until the abandoned call's reply arrives.
    /// Use only this call on such a channel: a plain `pp_call` after an
    /// abandoned call could take the late reply for its own. Panics if this
    /// end may not make protected calls.
    pub fn pp_call_timeout(
        &self,
        msg_info: MessageInfo,
        timeout: Duration,
    ) -> Result<MessageInfo, CallError> {
        backend::pp_call_timeout(self.index(), msg_info, timeout)
    }
}

/// Blocks until a channel in `mask` is notified and returns those channels
/// (their notifications are consumed); notifications on other channels stay
/// pending for the handler loop. Protected calls to this PD are not served
/// while it waits. Panics if no channel of `mask` can notify this PD.
pub fn wait_notified(mask: ChannelSet) -> ChannelSet {
    backend::wait_notified(mask)
}
