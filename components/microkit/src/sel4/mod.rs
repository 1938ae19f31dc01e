//! The seL4 backend: a PD on the Microkit 2.3.0 / seL4 16.0.0 kernel, on
//! stable Rust for `aarch64-unknown-none`, without libmicrokit or libsel4.
//!
//! - [`start`]: `_start`, the PD's own stack (in `.bss`, below it an unmapped
//!   guard page), the heap, the symbols the Microkit tool patches, and the
//!   registry of `setvar_vaddr` symbols behind `MemoryRegion::by_name`.
//! - [`sys`]: the system calls by inline `svc`.
//! - [`rng`]: the `getrandom` source (a ChaCha20 generator seeded with
//!   [`crate::add_entropy`]; it fails closed until seeded).
//! - here: Microkit's capability layout and badges, the IPC buffer as the
//!   message registers, the event loop's receive side, debug output and
//!   the panic handler.
//!
//! Capability layout (Microkit 2.3.0, `tool/microkit/src/capdl/builder.rs`):
//! 1 = input endpoint (or notification when the PD serves no calls), 4 = the
//! MCS reply object, 5 = the monitor endpoint (passive PDs), 10 + ch = the
//! notification to signal on channel `ch`, 74 + ch = the endpoint to call on
//! channel `ch`, 138 + id = the IRQ handler of `<irq id=..>`. Badges: bit 63
//! = protected call (low 6 bits: our channel id), bit 62 = a child's fault
//! (low 8 bits: child id), otherwise a notification word (bit i = channel i).
#![allow(unsafe_code)]

mod alloc;
pub(crate) mod clock;
mod rng;
pub(crate) mod setvar;
pub(crate) mod start;
mod sys;
pub(crate) mod timer;

use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::handler::Event;
use crate::{
    Channel, ChannelSet, Child, Handler, IrqAckError, MemoryRegion, MemoryRegionError, MessageInfo,
    MSG_MAX_LENGTH,
};

pub(crate) use rng::add_entropy;

/// Facts of the board and config this PD was built for (from data, see
/// `build.rs`).
pub(crate) mod facts {
    include!(concat!(env!("OUT_DIR"), "/sel4_facts.rs"));
}

const INPUT_CAP: u64 = 1;
const REPLY_CAP: u64 = 4;
const MONITOR_EP: u64 = 5;
const BASE_OUTPUT_NOTIFICATION_CAP: u64 = 10;
const BASE_ENDPOINT_CAP: u64 = 74;
const BASE_IRQ_CAP: u64 = 138;
const PPC_BADGE: u64 = 1 << 63;
const FAULT_BADGE: u64 = 1 << 62;

/// seL4_MessageInfo: `label << 12 | caps_unwrapped << 9 | extra_caps << 7 | length`.
fn encode(info: MessageInfo) -> u64 {
    (info.label() << 12) | (info.count() as u64 & 0x7f)
}

fn decode(word: u64) -> MessageInfo {
    MessageInfo::new(word >> 12, (word & 0x7f) as usize)
}

/// The message registers in the IPC buffer (after its `tag` word).
fn mrs_ptr() -> *mut [u64; MSG_MAX_LENGTH] {
    (start::ipc_buffer() + 8) as *mut [u64; MSG_MAX_LENGTH]
}

/// MR0..3 from the IPC buffer, to pass in registers.
fn load_regs() -> sys::Regs {
    let p = mrs_ptr() as *const u64;
    // SAFETY: the IPC buffer is mapped read-write for the PD's whole life
    // (the tool maps it at the top of the address space) and only this
    // thread uses it; the four words are inside its message area.
    unsafe { [p.read(), p.add(1).read(), p.add(2).read(), p.add(3).read()] }
}

/// Stores MR0..3 received in registers into the IPC buffer, where the
/// kernel has put MR4.. already.
/// Called before every system call that receives (the kernel writes the
/// IPC buffer): none may run while `with_msg_regs` lends the registers out.
fn assert_regs_free() {
    if MRS_BORROWED.load(Ordering::Relaxed) {
        panic!("a system call inside with_msg_regs would change the registers being borrowed");
    }
}

fn store_regs(regs: sys::Regs) {
    let p = mrs_ptr() as *mut u64;
    // SAFETY: as for `load_regs`.
    unsafe {
        for (i, r) in regs.iter().enumerate() {
            p.add(i).write(*r);
        }
    }
}

fn must_have(mask: u64, channel: usize, what: &str) {
    if mask & (1 << channel) == 0 {
        panic!(
            "{what} on channel {channel}: the system description does not give this PD that right"
        );
    }
}

pub(crate) fn notify(channel: usize) {
    must_have(start::patched().notifications, channel, "notify");
    sys::signal(BASE_OUTPUT_NOTIFICATION_CAP + channel as u64);
}

pub(crate) fn irq_ack(channel: usize) -> Result<(), IrqAckError> {
    must_have(start::patched().irqs, channel, "irq_ack");
    assert_regs_free();
    let (info, _) = sys::call(
        BASE_IRQ_CAP + channel as u64,
        facts::IRQ_ACK_LABEL << 12,
        [0; 4],
    );
    match info >> 12 {
        0 => Ok(()),
        err => Err(IrqAckError::Kernel(err)),
    }
}

pub(crate) fn pp_call(channel: usize, msg_info: MessageInfo) -> MessageInfo {
    must_have(start::patched().pps, channel, "pp_call");
    assert_regs_free();
    let (info, regs) = sys::call(
        BASE_ENDPOINT_CAP + channel as u64,
        encode(msg_info),
        load_regs(),
    );
    store_regs(regs);
    decode(info)
}

/// A passive PD must tell the monitor, in its first receive, that it is
/// ready to give up its scheduling context (libmicrokit `main.c`).
static PASSIVE_SIGNALLED: AtomicBool = AtomicBool::new(false);

fn event(badge: u64, info: u64, regs: sys::Regs) -> Option<Event> {
    store_regs(regs);
    if badge & PPC_BADGE != 0 {
        Some(Event::Protected(
            Channel::new((badge & 0x3f) as usize),
            decode(info),
        ))
    } else if badge & FAULT_BADGE != 0 {
        Some(Event::Fault(
            Child::new((badge & 0xff) as usize),
            decode(info),
        ))
    } else {
        let set = ChannelSet::from_bits(badge);
        (!set.is_empty()).then_some(Event::Notified(set))
    }
}

/// seL4 has no timeout on `Call`: the call is made and blocks until the
/// reply, as every Microkit protected call does (a PPC goes to a PD of
/// strictly higher priority, and a callee that faults is reported by the
/// monitor, not to the caller). The first use prints a warning in debug
/// configs, so the difference from the host backend is visible; the timeout
/// is never reported as elapsed.
pub(crate) fn pp_call_timeout(
    channel: usize,
    msg_info: MessageInfo,
    _timeout: core::time::Duration,
) -> Result<MessageInfo, crate::CallError> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        debug_print(format_args!(
            "{}: pp_call_timeout: seL4 enforces no call timeout; waiting for the reply\n",
            pd_name()
        ));
    }
    Ok(pp_call(channel, msg_info))
}

/// Notifications received by `wait_notified` outside its mask, delivered
/// by the event loop's next receive.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Set between a protected call's arrival and its reply (the reply object
/// is in use then).
static SERVING: AtomicBool = AtomicBool::new(false);

/// Waits on the PD's input capability for a notification in `mask`; other
/// notification bits are kept for the event loop. On seL4 it must not be
/// used inside `protected()` (the reply object holds the caller's reply),
/// and a protected call arriving while waiting cannot be served: both panic
/// (the PD stops, the monitor reports it), never silently drop a caller.
pub(crate) fn wait_notified(mask: ChannelSet) -> ChannelSet {
    // (Which channels may notify us is not among the patched symbols, so
    // only an empty mask is refused here.)
    let bits = mask.bits();
    if bits == 0 {
        panic!("wait_notified with an empty channel set");
    }
    if SERVING.load(Ordering::Relaxed) {
        panic!(
            "wait_notified inside protected(): not supported on seL4 (the reply object is in use)"
        );
    }
    loop {
        let pending = PENDING.load(Ordering::Relaxed);
        if pending & bits != 0 {
            PENDING.store(pending & !bits, Ordering::Relaxed);
            return ChannelSet::from_bits(pending & bits);
        }
        let (badge, info, regs) = sys::recv(INPUT_CAP, REPLY_CAP);
        if badge & (PPC_BADGE | FAULT_BADGE) != 0 {
            store_regs(regs);
            panic!(
                "wait_notified: a protected call or fault (badge {badge:#x}, {:?}) arrived while waiting; \
                 on seL4 wait_notified is for PDs that serve no protected calls",
                decode(info)
            );
        }
        PENDING.fetch_or(ChannelSet::from_bits(badge).bits(), Ordering::Relaxed);
    }
}

pub(crate) fn recv() -> Event {
    assert_regs_free();
    SERVING.store(false, Ordering::Relaxed);
    let pending = PENDING.swap(0, Ordering::Relaxed);
    if pending != 0 {
        return Event::Notified(ChannelSet::from_bits(pending));
    }
    loop {
        let (badge, info, regs) =
            if start::patched().passive && !PASSIVE_SIGNALLED.swap(true, Ordering::Relaxed) {
                sys::nb_send_recv(MONITOR_EP, 0, [0; 4], INPUT_CAP, REPLY_CAP)
            } else {
                sys::recv(INPUT_CAP, REPLY_CAP)
            };
        if let Some(e) = event(badge, info, regs) {
            SERVING.store(!matches!(e, Event::Notified(_)), Ordering::Relaxed);
            return e;
        }
    }
}

/// The receive with a deferred notify or IRQ ack fused into it
/// (NBSendRecv, as libmicrokit does): one system call instead of two. A
/// fused IRQ ack cannot report an error (the send part is non-blocking and
/// gets no reply), as in sel4-microkit.
pub(crate) fn recv_deferred(action: Option<crate::DeferredAction>) -> Event {
    let Some(action) = action else {
        return recv();
    };
    // Pending notifications or the passive hand-over go first, unfused.
    if PENDING.load(Ordering::Relaxed) != 0
        || (start::patched().passive && !PASSIVE_SIGNALLED.load(Ordering::Relaxed))
    {
        crate::handler::execute_deferred(action);
        return recv();
    }
    assert_regs_free();
    let ch = action.channel().index();
    let (dest, info) = match action.interface() {
        crate::DeferredActionInterface::Notify => {
            must_have(start::patched().notifications, ch, "notify");
            (BASE_OUTPUT_NOTIFICATION_CAP + ch as u64, 0)
        }
        crate::DeferredActionInterface::IrqAck => {
            must_have(start::patched().irqs, ch, "irq_ack");
            (BASE_IRQ_CAP + ch as u64, facts::IRQ_ACK_LABEL << 12)
        }
    };
    SERVING.store(false, Ordering::Relaxed);
    let (badge, info, regs) = sys::nb_send_recv(dest, info, [0; 4], INPUT_CAP, REPLY_CAP);
    match event(badge, info, regs) {
        Some(e) => {
            SERVING.store(!matches!(e, Event::Notified(_)), Ordering::Relaxed);
            e
        }
        // An empty badge: receive again, without sending twice.
        None => recv(),
    }
}

pub(crate) fn reply_recv(msg_info: MessageInfo) -> Event {
    assert_regs_free();
    if PENDING.load(Ordering::Relaxed) != 0 {
        // Notifications are waiting: reply alone (Send on the MCS reply
        // object), then deliver them without blocking.
        sys::send(REPLY_CAP, encode(msg_info), load_regs());
        return recv();
    }
    let (badge, info, regs) = sys::reply_recv(INPUT_CAP, encode(msg_info), load_regs(), REPLY_CAP);
    match event(badge, info, regs) {
        Some(e) => {
            SERVING.store(!matches!(e, Event::Notified(_)), Ordering::Relaxed);
            e
        }
        None => recv(),
    }
}

/// Guards against nested (aliasing) borrows of the message registers.
static MRS_BORROWED: AtomicBool = AtomicBool::new(false);

struct MrsBorrow;

impl MrsBorrow {
    fn take() -> Self {
        if MRS_BORROWED.swap(true, Ordering::Acquire) {
            panic!("message registers borrowed twice (nested with_msg_regs)");
        }
        MrsBorrow
    }
}

impl Drop for MrsBorrow {
    fn drop(&mut self) {
        MRS_BORROWED.store(false, Ordering::Release);
    }
}

pub(crate) fn with_msg_regs<T>(f: impl FnOnce(&[u64]) -> T) -> T {
    let _b = MrsBorrow::take();
    // SAFETY: the IPC buffer's message area is mapped read-write for the
    // PD's life and only this (single) thread touches it: the kernel writes
    // it only during our own system calls, and each of those first checks
    // the flag (`assert_regs_free`) and panics while it is held, so none runs
    // inside `f`. The flag also rules out a second, aliasing borrow.
    f(unsafe { &*mrs_ptr() })
}

pub(crate) fn with_msg_regs_mut<T>(f: impl FnOnce(&mut [u64]) -> T) -> T {
    let _b = MrsBorrow::take();
    // SAFETY: as for `with_msg_regs`; exclusive thanks to the borrow flag.
    f(unsafe { &mut *mrs_ptr() })
}

pub(crate) fn pd_name() -> &'static str {
    start::patched().name()
}

pub(crate) fn pd_is_passive() -> bool {
    start::patched().passive
}

pub(crate) fn memory_region(name: &str) -> Result<MemoryRegion, MemoryRegionError> {
    start::memory_region(name)
}

/// Debug console: `seL4_DebugPutChar`, only in debug kernels. In release and
/// benchmark configs that system call does not exist (calling it would fault
/// the PD), so output is dropped there.
struct DebugConsole;

impl fmt::Write for DebugConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        #[cfg(sel4_config_debug)]
        for b in s.bytes() {
            sys::debug_put_char(b);
        }
        #[cfg(not(sel4_config_debug))]
        let _ = s;
        Ok(())
    }
}

pub(crate) fn debug_print(args: fmt::Arguments<'_>) {
    let _ = DebugConsole.write_fmt(args);
}

/// Stops for good: the thread keeps blocking in `Recv` and drops whatever
/// arrives (a caller's call stays unanswered). seL4 would need the PD's own
/// TCB capability (only given in the benchmark config) to suspend itself.
pub(crate) fn stop() -> ! {
    loop {
        let _ = sys::recv(INPUT_CAP, REPLY_CAP);
    }
}

/// The physical counter and its frequency (Hz), readable at EL0 on seL4.
pub(crate) fn counter() -> (u64, u64) {
    sys::counter()
}

/// Runs the PD: acknowledges its IRQs once (seL4 may deliver an interrupt
/// that fired before the handler existed only after an ack; libmicrokit does
/// the same), `init`, then the handler's event loop. A handler error ends the
/// PD like a panic.
pub fn run_main<H: Handler>(init: impl FnOnce() -> H) -> ! {
    let irqs = start::patched().irqs;
    for id in 0..62 {
        if irqs & (1 << id) != 0 {
            let _ = sys::call(BASE_IRQ_CAP + id, facts::IRQ_ACK_LABEL << 12, [0; 4]);
        }
    }
    let mut handler = init();
    match handler.run() {
        Ok(never) => match never {},
        Err(e) => panic!("handler error: {e}"),
    }
}

/// Prints `<pd name>: panicked at <file:line>: <message>` (debug kernels) and
/// faults on purpose (`udf`), so the Microkit monitor reports the PD by name
/// on every config, and the PD stops.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut out = DebugConsole;
    let _ = write!(out, "{}: panicked", start::patched().name());
    if let Some(loc) = info.location() {
        let _ = write!(out, " at {}:{}", loc.file(), loc.line());
    }
    let _ = writeln!(out, ": {}", info.message());
    loop {
        // SAFETY: an undefined instruction raises a user exception that the
        // kernel turns into a fault message to the monitor; nothing of ours
        // runs after it.
        unsafe { core::arch::asm!("udf #0", options(nomem, nostack)) };
    }
}
