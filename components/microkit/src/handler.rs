//! The `Handler` trait, the event loop and the entry macro.

use core::fmt;

use crate::{backend, Channel, ChannelSet, Child, DeferredAction, MessageInfo};

pub use core::convert::Infallible;

/// What woke a PD up.
#[doc(hidden)]
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
            let deferred = self.take_deferred_action();
            let event = match reply.take() {
                Some(msg_info) => {
                    if let Some(action) = deferred {
                        execute_deferred(action);
                    }
                    backend::reply_recv(msg_info)
                }
                // seL4: the action is fused with the receive (NBSendRecv);
                // host: done, then receive.
                None => backend::recv_deferred(deferred),
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

/// Performs a deferred action now; as in sel4-microkit, a failed IRQ ack is
/// fatal.
pub(crate) fn execute_deferred(action: DeferredAction) {
    if let Err(e) = action.execute_now() {
        panic!(
            "deferred action on channel {}: {e}",
            action.channel().index()
        );
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
/// runtime's entry calls (so the PD crate is `no_main` there), the PD's stack
/// and its heap arena. `stack_size = N` and `heap_size = N` may follow, in
/// that order (`protection_domain!(init, stack_size = 0x20000, heap_size =
/// 0x40_0000)`); the host ignores both (Linux grows the stack and the heap).
/// seL4 defaults: 64 KiB of stack, 1 MiB of heap, both in `.bss`.
#[macro_export]
macro_rules! protection_domain {
    ($init:expr $(, stack_size = $stack:expr)? $(, heap_size = $heap:expr)? $(,)?) => {
        #[cfg(not(target_os = "none"))]
        fn main() {
            $crate::_private::run_main($init)
        }

        #[cfg(target_os = "none")]
        #[no_mangle]
        extern "C" fn __vetted_microkit_main() -> ! {
            $crate::_private::run_main($init)
        }

        #[cfg(target_os = "none")]
        const _: () = {
            const STACK: usize =
                $crate::_private::pick(&[$($stack)?], $crate::_private::DEFAULT_STACK_SIZE);
            const HEAP: usize =
                $crate::_private::pick(&[$($heap)?], $crate::_private::DEFAULT_HEAP_SIZE);
            #[no_mangle]
            #[link_section = ".bss.vetted_stack"]
            static __vetted_stack: $crate::_private::Arena<STACK> = $crate::_private::Arena::new();
            #[no_mangle]
            static __vetted_stack_size: usize = STACK;
            #[no_mangle]
            #[link_section = ".bss.vetted_heap"]
            static __vetted_heap: $crate::_private::Arena<HEAP> = $crate::_private::Arena::new();
            #[no_mangle]
            static __vetted_heap_size: usize = HEAP;
        };
    };
}

/// Declares a memory-region symbol: a word the Microkit tool patches with the
/// virtual address of a mapping (`<map mr=".." setvar_vaddr="NAME" ../>`),
/// registered so that `MemoryRegion::by_name("NAME")` finds it on seL4.
/// `size` is the number of bytes the PD uses (at most the mapping's size);
/// `perms = r` makes it read-only for this PD (default: read-write).
///
/// ```text
/// microkit::memory_region_symbol!(rpc_buffer, size = 0x1000);
/// microkit::memory_region_symbol!(policy, size = 0x10000, perms = r);
/// ```
///
/// On the host it declares nothing (`vetted run` hands the mappings over by
/// name). Put it in the PD binary's crate (a symbol in a library crate may
/// be dropped by the linker).
#[macro_export]
macro_rules! memory_region_symbol {
    ($name:ident, size = $size:expr $(, perms = $perms:ident)? $(,)?) => {
        #[cfg(target_os = "none")]
        const _: () = {
            #[no_mangle]
            #[used]
            static $name: $crate::_private::VaddrSymbol = $crate::_private::VaddrSymbol::new();
            #[used]
            #[link_section = ".vetted_regions"]
            static ENTRY: $crate::_private::RegionEntry = $crate::_private::RegionEntry {
                name: ::core::stringify!($name),
                vaddr: &$name,
                size: $size,
                write: $crate::_private::writable(::core::stringify!($($perms)?)),
            };
        };
    };
}
