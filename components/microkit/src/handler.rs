//! The `Handler` trait, the event loop and the entry macro.

use core::fmt;

use crate::{backend, Channel, ChannelSet, Child, DeferredAction, MessageInfo};

pub use core::convert::Infallible;

/// What woke a PD up.
#[doc(hidden)]
#[allow(dead_code)] // the seL4 skeleton constructs none
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// Notifications on these channels.
    Notified(ChannelSet),
    /// A protected procedure call on this channel.
    Protected(Channel, MessageInfo),
    /// A child PD faulted (host: crashed).
    Fault(Child, MessageInfo),
}

/// The entry points of a protection domain, as in libmicrokit.
pub trait Handler {
    /// Error type returned by the entry points; an error ends the PD.
    type Error: fmt::Display;

    /// Notifications arrived on `channels`. The default panics.
    fn notified(&mut self, channels: ChannelSet) -> Result<(), Self::Error> {
        panic!(
            "unexpected notification from channels {}",
            channels.display()
        )
    }

    /// A protected procedure call arrived on `channel`; the message registers
    /// hold its arguments. Return the reply's message info (and fill the
    /// message registers). The caller is blocked until then. The default
    /// panics.
    fn protected(
        &mut self,
        channel: Channel,
        msg_info: MessageInfo,
    ) -> Result<MessageInfo, Self::Error> {
        panic!("unexpected protected procedure call from channel {channel:?} with {msg_info:?}")
    }

    /// A child PD faulted; return `Some` to reply to it (seL4: resume it;
    /// host: the runner restarts the crashed child), `None` to leave it
    /// stopped. On the host the label is the signal number that killed the
    /// child, or 0x100 + its exit status. The default panics.
    fn fault(
        &mut self,
        child: Child,
        msg_info: MessageInfo,
    ) -> Result<Option<MessageInfo>, Self::Error> {
        panic!("unexpected fault from protection domain {child:?} with {msg_info:?}")
    }

    /// A notify or IRQ ack to perform just before waiting for the next
    /// event (see [`DeferredAction`]). The default has none.
    fn take_deferred_action(&mut self) -> Option<DeferredAction> {
        None
    }

    /// The event loop (seL4 `Recv`/`ReplyRecv`); returns only on an error.
    #[doc(hidden)]
    fn run(&mut self) -> Result<Infallible, Self::Error> {
        let mut reply: Option<MessageInfo> = None;
        loop {
            if let Some(action) = self.take_deferred_action() {
                // As in sel4-microkit, a failed IRQ ack here is fatal.
                if let Err(e) = action.execute_now() {
                    panic!(
                        "deferred action on channel {}: {e}",
                        action.channel().index()
                    );
                }
            }
            let event = match reply.take() {
                Some(msg_info) => backend::reply_recv(msg_info),
                None => backend::recv(),
            };
            match event {
                Event::Notified(channels) => self.notified(channels)?,
                Event::Protected(channel, msg_info) => {
                    reply = Some(self.protected(channel, msg_info)?)
                }
                Event::Fault(child, msg_info) => reply = self.fault(child, msg_info)?,
            }
        }
    }
}

/// A handler with no entry points: any event panics.
pub struct NullHandler(());

impl NullHandler {
    /// A new null handler.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(())
    }
}

impl Handler for NullHandler {
    type Error = Infallible;
}

/// Declares the PD entry point. `init` is a function returning the
/// [`Handler`]; it runs once, then the handler serves events forever.
///
/// ```text
/// #![cfg_attr(target_os = "none", no_std)]
/// #![cfg_attr(target_os = "none", no_main)]
/// fn init() -> impl microkit::Handler { microkit::NullHandler::new() }
/// microkit::protection_domain!(init);
/// ```
///
/// On the host it defines `fn main`; on seL4 it defines the symbol the
/// runtime's entry calls (so the PD crate is `no_main` there).
/// `stack_size = N` may follow (`protection_domain!(init, stack_size = 0x4000)`);
/// the host ignores it (Linux grows the stack), seL4 will use it (issue 6).
#[macro_export]
macro_rules! protection_domain {
    ($init:expr $(, stack_size = $stack:expr)? $(,)?) => {
        #[cfg(not(target_os = "none"))]
        fn main() {
            $crate::_private::run_main($init)
        }

        #[cfg(target_os = "none")]
        #[no_mangle]
        extern "C" fn __vetted_microkit_main() -> ! {
            $crate::_private::run_main($init)
        }
    };
}
