//! The seL4 backend: a skeleton.
//!
//! Everything the host backend does is still to be written here (issue 6):
//! seL4 syscalls by inline `svc` (`Signal`, `Call`, `Recv`, `ReplyRecv`,
//! `IRQHandler_Ack`, `DebugPutChar`), the IPC buffer as message registers,
//! Microkit's capability layout (notifications from slot 10, endpoints from
//! 74, IRQ handlers from 138), the symbols the Microkit tool patches
//! (`microkit_name`, `microkit_passive`, `microkit_notifications`,
//! `microkit_pps`, `microkit_irqs`, `setvar_vaddr` symbols) and the `_start`
//! entry with its stack.
//!
//! Until then every operation panics with "not yet implemented on seL4":
//! nothing silently succeeds.

use core::fmt;

use crate::handler::Event;
use crate::{Handler, IrqAckError, MemoryRegion, MemoryRegionError, MessageInfo};

macro_rules! not_yet {
    ($what:expr) => {
        panic!(concat!($what, ": not yet implemented on seL4 (issue 6)"))
    };
}

pub(crate) fn notify(_channel: usize) {
    not_yet!("Channel::notify")
}

pub(crate) fn irq_ack(_channel: usize) -> Result<(), IrqAckError> {
    not_yet!("Channel::irq_ack")
}

pub(crate) fn pp_call(_channel: usize, _msg_info: MessageInfo) -> MessageInfo {
    not_yet!("Channel::pp_call")
}

pub(crate) fn pp_call_timeout(
    _channel: usize,
    _msg_info: MessageInfo,
    _timeout: core::time::Duration,
) -> Result<MessageInfo, crate::CallError> {
    not_yet!("Channel::pp_call_timeout")
}

pub(crate) fn wait_notified(_mask: crate::ChannelSet) -> crate::ChannelSet {
    not_yet!("wait_notified")
}

pub(crate) fn recv() -> Event {
    not_yet!("seL4_Recv")
}

pub(crate) fn reply_recv(_msg_info: MessageInfo) -> Event {
    not_yet!("seL4_ReplyRecv")
}

pub(crate) fn with_msg_regs<T>(_f: impl FnOnce(&[u64]) -> T) -> T {
    not_yet!("message registers")
}

pub(crate) fn with_msg_regs_mut<T>(_f: impl FnOnce(&mut [u64]) -> T) -> T {
    not_yet!("message registers")
}

pub(crate) fn pd_name() -> &'static str {
    not_yet!("pd_name")
}

pub(crate) fn pd_is_passive() -> bool {
    not_yet!("pd_is_passive")
}

pub(crate) fn memory_region(_name: &str) -> Result<MemoryRegion, MemoryRegionError> {
    Err(MemoryRegionError::Unsupported)
}

pub(crate) fn debug_print(_args: fmt::Arguments<'_>) {
    not_yet!("debug_print")
}

pub(crate) fn stop() -> ! {
    not_yet!("stop")
}

/// Runs the PD: `init`, then the handler's event loop.
pub fn run_main<H: Handler>(_init: impl FnOnce() -> H) -> ! {
    not_yet!("the seL4 PD runtime")
}

/// Until issue 6 provides `seL4_DebugPutChar`, a panic can only stop the PD.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
