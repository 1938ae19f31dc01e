//! The host backend: a PD is a Linux process started by `vetted run`.
//!
//! - A PD's *control block* (one shared page per PD) holds a futex word and
//!   two 64-bit pending bitmaps, one for notifications and one for protected
//!   calls, indexed by the receiving PD's channel ids (a seL4 notification
//!   badge). Notifying sets a bit and wakes the futex if the PD sleeps.
//! - A protected call goes through a *call slot* (one shared page per
//!   channel direction): label, count and up to 120 message registers, and a
//!   state word the caller sleeps on until the server replies (seL4 `Call`
//!   and `ReplyRecv`). The server handles one event at a time.
//! - Waiting spins adaptively (at most `VETTED_SPIN_US`, default 20 µs)
//!   before sleeping in `FUTEX_WAIT`, so a busy exchange on an idle
//!   multi-core machine never enters the kernel.
//! - Memory regions are `memfd`s mapped shared with their permissions, at
//!   the requested address when free (`MAP_FIXED_NOREPLACE`), else anywhere.
//!
//! Every value read from shared memory written by a peer (bitmaps, states,
//! counts) is masked or clamped before use.
#![allow(unsafe_code)]

pub mod config;
pub mod events;
pub mod sys;

use core::cell::RefCell;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::io::Write as _;
use std::string::{String, ToString};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::handler::Event;
use crate::{
    Channel, ChannelSet, Child, Handler, IrqAckError, MemoryRegion, MemoryRegionError, MessageInfo,
    MSG_MAX_LENGTH,
};
use config::PdConfig;

const RUNNING: u32 = 0;
const SLEEPING: u32 = 1;

const IDLE: u32 = 0;
const REQUEST: u32 = 1;
const REPLY: u32 = 2;

/// A PD's control block, at the start of its shared page.
#[repr(C)]
pub struct Ctl {
    /// Futex word: `RUNNING` or `SLEEPING`.
    state: AtomicU32,
    _pad: u32,
    /// Pending notifications, by the owner's channel id.
    notify: AtomicU64,
    /// Pending protected calls, by the owner's channel id.
    calls: AtomicU64,
    /// Child PDs that faulted (crashed), by child id; set by the runner.
    pub(crate) faults: AtomicU64,
    /// Child PDs whose fault the owner answered (restart them), by child id;
    /// read by the runner.
    pub(crate) fault_replies: AtomicU64,
    /// Child PDs whose fault the owner has handled (answered or not), by
    /// child id; read by the runner.
    pub(crate) fault_handled: AtomicU64,
    /// Per child id: the fault label (host: signal number, or 0x100 + exit
    /// status).
    pub(crate) fault_labels: [AtomicU64; 64],
}

const _: () = assert!(core::mem::size_of::<Ctl>() <= config::PAGE);

/// A call slot, at the start of its shared page.
#[repr(C)]
pub struct Slot {
    /// Futex word: `IDLE`, `REQUEST` or `REPLY`.
    state: AtomicU32,
    /// 1 while the caller sleeps on `state`.
    waiter: AtomicU32,
    label: AtomicU64,
    count: AtomicU64,
    _pad: [u64; 5],
    mrs: [AtomicU64; MSG_MAX_LENGTH],
}

const _: () = assert!(core::mem::size_of::<Slot>() <= config::PAGE);

struct Mapped {
    name: String,
    symbol: Option<String>,
    region: MemoryRegion,
}

struct State {
    name: String,
    passive: bool,
    ctl: &'static Ctl,
    notify_out: [Option<(&'static Ctl, u8)>; 62],
    notify_in_mask: u64,
    ppc: [Option<(&'static Slot, &'static Ctl, u8)>; 62],
    pps: [Option<&'static Slot>; 62],
    call_in_mask: u64,
    irq_mask: u64,
    child_mask: u64,
    maps: Vec<Mapped>,
    spin: Duration,
}

static STATE: OnceLock<State> = OnceLock::new();
/// The channel whose call is being served (or `FAULT | child id` for a
/// fault), or `usize::MAX`.
static SERVING: AtomicUsize = AtomicUsize::new(usize::MAX);
const FAULT: usize = 1 << 16;

std::thread_local! {
    static MRS: RefCell<[u64; MSG_MAX_LENGTH]> = const { RefCell::new([0; MSG_MAX_LENGTH]) };
}

fn state() -> &'static State {
    STATE.get().unwrap_or_else(|| {
        let _ = writeln!(
            std::io::stderr(),
            "microkit: this program is a protection domain; start it with `vetted run SYSTEM.system`"
        );
        std::process::exit(2)
    })
}

/// Maps one page of `fd` read-write (control blocks and slots).
fn map_page(fd: i32, cache: &mut Vec<(i32, usize)>) -> Result<usize, String> {
    if let Some((_, p)) = cache.iter().find(|(f, _)| *f == fd) {
        return Ok(*p);
    }
    let (p, _) = sys::map_shared(fd, config::PAGE, sys::prot(true, true, false), None)
        .map_err(|e| std::format!("mapping fd {fd}: {e}"))?;
    cache.push((fd, p.as_ptr() as usize));
    Ok(p.as_ptr() as usize)
}

pub(crate) fn ctl_at(addr: usize) -> &'static Ctl {
    // SAFETY: `addr` is a page-aligned shared mapping of a full page that is
    // never unmapped; `Ctl` is all atomics (valid for any bit pattern and for
    // concurrent access by other processes).
    unsafe { &*(addr as *const Ctl) }
}

fn slot_at(addr: usize) -> &'static Slot {
    // SAFETY: as for `ctl_at`; `Slot` fits in a page (asserted) and is all
    // atomics and padding.
    unsafe { &*(addr as *const Slot) }
}

fn init_state(c: PdConfig) -> Result<State, String> {
    let mut cache = Vec::new();
    let ctl = ctl_at(map_page(c.ctl, &mut cache)?);
    let mut st = State {
        name: c.name,
        passive: c.passive,
        ctl,
        notify_out: [None; 62],
        notify_in_mask: 0,
        ppc: [None; 62],
        pps: [None; 62],
        call_in_mask: 0,
        irq_mask: 0,
        child_mask: 0,
        maps: Vec::new(),
        spin: Duration::from_micros(
            std::env::var("VETTED_SPIN_US")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(20),
        ),
    };
    for (id, fd, peer) in c.notify {
        st.notify_out[usize::from(id)] = Some((ctl_at(map_page(fd, &mut cache)?), peer));
    }
    for id in c.notify_in {
        st.notify_in_mask |= 1 << id;
    }
    for id in c.irqs {
        st.irq_mask |= 1 << id;
        st.notify_in_mask |= 1 << id;
    }
    for id in c.children {
        st.child_mask |= 1 << id;
    }
    for (id, slot, peer_ctl, peer) in c.ppc {
        let slot = slot_at(map_page(slot, &mut cache)?);
        // A stale reply from before a restart of this PD is dropped.
        let _ = slot.state.compare_exchange(REPLY, IDLE, SeqCst, SeqCst);
        st.ppc[usize::from(id)] = Some((slot, ctl_at(map_page(peer_ctl, &mut cache)?), peer));
    }
    for (id, slot) in c.pps {
        let slot = slot_at(map_page(slot, &mut cache)?);
        st.pps[usize::from(id)] = Some(slot);
        st.call_in_mask |= 1 << id;
        // A call that was in flight when a previous run of this PD died is
        // delivered again.
        if slot.state.load(SeqCst) == REQUEST {
            ctl.calls.fetch_or(1 << id, SeqCst);
        }
    }
    for m in c.maps {
        let size = usize::try_from(m.size).map_err(|_| "region too large".to_string())?;
        let prot = sys::prot(m.perms.read, m.perms.write, m.perms.execute);
        let (p, _at_vaddr) = sys::map_shared(m.fd, size, prot, Some(m.vaddr))
            .map_err(|e| std::format!("mapping memory region {}: {e}", m.name))?;
        // SAFETY: the mapping is `size` bytes with these permissions and is
        // never unmapped; other PDs access it concurrently, which
        // `MemoryRegion` allows only through copies and atomics.
        let region = unsafe { MemoryRegion::from_raw_parts(p, size, m.perms) };
        st.maps.push(Mapped {
            name: m.name,
            symbol: m.symbol,
            region,
        });
        // A region may be mapped twice: close its fd only after the loop.
        if !cache.iter().any(|(f, _)| *f == m.fd) {
            cache.push((m.fd, 0));
        }
    }
    // Mappings stay valid without their descriptors; close them so nothing
    // this PD starts inherits them.
    for (fd, _) in cache {
        sys::close(fd);
    }
    Ok(st)
}

pub(crate) fn wake(ctl: &Ctl) {
    if ctl.state.load(SeqCst) == SLEEPING && ctl.state.swap(RUNNING, SeqCst) == SLEEPING {
        sys::futex_wake(&ctl.state, 1);
    }
}

pub(crate) fn notify(channel: usize) {
    let st = state();
    match st.notify_out.get(channel).copied().flatten() {
        Some((peer, bit)) => {
            peer.notify.fetch_or(1 << bit, SeqCst);
            wake(peer);
        }
        None => panic!("notify: not valid for channel '{channel}'"),
    }
}

pub(crate) fn irq_ack(channel: usize) -> Result<(), IrqAckError> {
    if events::ack(channel) {
        return Ok(());
    }
    // The host delivers no hardware interrupts, so there is never anything
    // to acknowledge; the channel must still be an interrupt of this PD.
    if state().irq_mask & (1 << channel) == 0 {
        panic!("irq_ack: not valid for channel '{channel}'");
    }
    Ok(())
}

fn load_msg(slot: &Slot) -> MessageInfo {
    // Clamped: the peer may have written anything.
    let count = usize::try_from(slot.count.load(Acquire))
        .unwrap_or(MSG_MAX_LENGTH)
        .min(MSG_MAX_LENGTH);
    MRS.with(|m| {
        let mut m = m.borrow_mut();
        for (dst, src) in m.iter_mut().zip(&slot.mrs).take(count) {
            *dst = src.load(Relaxed);
        }
    });
    MessageInfo::new(slot.label.load(Acquire), count)
}

fn store_msg(slot: &Slot, msg: MessageInfo) {
    MRS.with(|m| {
        let m = m.borrow();
        for (dst, src) in slot.mrs.iter().zip(m.iter()).take(msg.count()) {
            dst.store(*src, Relaxed);
        }
    });
    slot.label.store(msg.label(), Relaxed);
    slot.count.store(msg.count() as u64, Relaxed);
}

/// Current spin budget in ns (adaptive, see [`wait_until`]).
static SPIN_BUDGET_NS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Waits since spinning was last tried, while the budget is 0.
static SPIN_SKIPPED: AtomicU64 = AtomicU64::new(0);
const PROBE_SPIN_NS: u64 = 1_000;
const PROBE_EVERY: u64 = 64;

/// Waits until `ready()`: spins first, then sleeps on the futex `sleep`
/// names. `sleep` announces the sleeper before its final check
/// (Dekker-style with the waker, so no wake-up is lost); `done` retracts it.
///
/// Spinning is adaptive: the budget starts at `max` (`VETTED_SPIN_US`),
/// doubles (up to `max`) when the peer answered while we spun, and halves
/// when it did not; below 1 µs it drops to 0 and only every 64th wait probes
/// with 1 µs. On an idle multi-core machine a busy exchange then never enters
/// the kernel; on a loaded one (where the peer is often not running, and
/// spinning would only cost us scheduler credit) we sleep at once.
fn wait_until(
    max: Duration,
    ready: impl Fn() -> bool,
    sleep: impl Fn() -> Option<(&'static AtomicU32, u32)>,
    done: impl Fn(),
) {
    if ready() {
        return;
    }
    let max_ns = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    let mut budget = SPIN_BUDGET_NS.load(Relaxed).min(max_ns);
    if budget == 0
        && max_ns > 0
        && SPIN_SKIPPED.fetch_add(1, Relaxed) % PROBE_EVERY == PROBE_EVERY - 1
    {
        budget = PROBE_SPIN_NS.min(max_ns);
    }
    if budget > 0 {
        let start = Instant::now();
        loop {
            for _ in 0..32 {
                core::hint::spin_loop();
                if ready() {
                    SPIN_BUDGET_NS.store(budget.saturating_mul(2).min(max_ns), Relaxed);
                    return;
                }
            }
            if u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX) >= budget {
                break;
            }
        }
        let halved = budget / 2;
        SPIN_BUDGET_NS.store(if halved < PROBE_SPIN_NS { 0 } else { halved }, Relaxed);
    }
    loop {
        match sleep() {
            None => break,
            Some((word, expected)) => sys::futex_wait(word, expected),
        }
        if ready() {
            break;
        }
    }
    done();
}

pub(crate) fn pp_call(channel: usize, msg: MessageInfo) -> MessageInfo {
    let st = state();
    let Some((slot, peer, bit)) = st.ppc.get(channel).copied().flatten() else {
        panic!("pp_call: not valid for channel '{channel}'");
    };
    store_msg(slot, msg);
    slot.state.store(REQUEST, SeqCst);
    peer.calls.fetch_or(1 << bit, SeqCst);
    wake(peer);
    wait_until(
        st.spin,
        || slot.state.load(Acquire) == REPLY,
        || {
            slot.waiter.store(1, SeqCst);
            let s = slot.state.load(SeqCst);
            if s == REPLY {
                None
            } else {
                Some((&slot.state, s))
            }
        },
        || slot.waiter.store(0, SeqCst),
    );
    let reply = load_msg(slot);
    slot.state.store(IDLE, SeqCst);
    reply
}

fn poll(st: &State) -> Option<Event> {
    let n = st.ctl.notify.swap(0, SeqCst) & (st.notify_in_mask | events::extra_mask());
    if n != 0 {
        return Some(Event::Notified(ChannelSet::from_bits(n)));
    }
    let faults = st.ctl.faults.load(SeqCst) & st.child_mask;
    if faults != 0 {
        let id = faults.trailing_zeros() as usize;
        st.ctl.faults.fetch_and(!(1 << id), SeqCst);
        SERVING.store(FAULT | id, SeqCst);
        let label = st.ctl.fault_labels[id].load(SeqCst);
        return Some(Event::Fault(Child::new(id), MessageInfo::new(label, 0)));
    }
    loop {
        let calls = st.ctl.calls.load(SeqCst);
        let valid = calls & st.call_in_mask;
        if calls != valid {
            // Bits for channels nobody may call us on: a misbehaving peer.
            st.ctl.calls.fetch_and(st.call_in_mask, SeqCst);
        }
        if valid == 0 {
            return None;
        }
        let id = valid.trailing_zeros() as usize;
        st.ctl.calls.fetch_and(!(1 << id), SeqCst);
        let Some(slot) = st.pps[id] else { continue };
        if slot.state.load(SeqCst) != REQUEST {
            continue; // spurious: no request in the slot
        }
        SERVING.store(id, SeqCst);
        return Some(Event::Protected(Channel::new(id), load_msg(slot)));
    }
}

fn pending(st: &State) -> bool {
    st.ctl.notify.load(SeqCst) & (st.notify_in_mask | events::extra_mask()) != 0
        || st.ctl.faults.load(SeqCst) & st.child_mask != 0
        || st.ctl.calls.load(SeqCst) & st.call_in_mask != 0
}

/// `recv` after performing a deferred action (the host has nothing to fuse).
pub(crate) fn recv_deferred(action: Option<crate::DeferredAction>) -> Event {
    if let Some(action) = action {
        crate::handler::execute_deferred(action);
    }
    recv()
}

pub(crate) fn recv() -> Event {
    let st = state();
    let id = SERVING.swap(usize::MAX, SeqCst);
    if id != usize::MAX && id & FAULT != 0 {
        // A child's fault handled without an answer: it stays stopped.
        st.ctl.fault_handled.fetch_or(1 << (id & !FAULT), SeqCst);
    }
    loop {
        if let Some(ev) = poll(st) {
            return ev;
        }
        wait_until(
            st.spin,
            || pending(st),
            || {
                st.ctl.state.store(SLEEPING, SeqCst);
                if pending(st) {
                    None
                } else {
                    Some((&st.ctl.state, SLEEPING))
                }
            },
            || st.ctl.state.store(RUNNING, SeqCst),
        );
    }
}

pub(crate) fn reply_recv(msg: MessageInfo) -> Event {
    let st = state();
    let id = SERVING.swap(usize::MAX, SeqCst);
    if id != usize::MAX && id & FAULT != 0 {
        // Answering a child's fault: ask the runner to restart it.
        st.ctl.fault_replies.fetch_or(1 << (id & !FAULT), SeqCst);
        st.ctl.fault_handled.fetch_or(1 << (id & !FAULT), SeqCst);
    } else if let Some(slot) = st.pps.get(id).copied().flatten() {
        store_msg(slot, msg);
        slot.state.store(REPLY, SeqCst);
        if slot.waiter.load(SeqCst) != 0 {
            sys::futex_wake(&slot.state, 1);
        }
    }
    recv()
}

pub(crate) fn with_msg_regs<T>(f: impl FnOnce(&[u64]) -> T) -> T {
    MRS.with(|m| f(&m.borrow()[..]))
}

pub(crate) fn with_msg_regs_mut<T>(f: impl FnOnce(&mut [u64]) -> T) -> T {
    MRS.with(|m| f(&mut m.borrow_mut()[..]))
}

pub(crate) fn pd_name() -> &'static str {
    &state().name
}

pub(crate) fn pd_is_passive() -> bool {
    state().passive
}

pub(crate) fn memory_region(name: &str) -> Result<MemoryRegion, MemoryRegionError> {
    let st = state();
    st.maps
        .iter()
        .find(|m| m.symbol.as_deref() == Some(name))
        .or_else(|| st.maps.iter().find(|m| m.name == name))
        .map(|m| m.region)
        .ok_or(MemoryRegionError::NotFound)
}

pub(crate) fn debug_print(args: fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

pub(crate) fn stop() -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

/// Runs the PD: reads the runner's hand-over, maps shared memory, runs
/// `init`, then the handler's event loop. An error from the handler ends the
/// process with status 1 (a crash, for the runner).
pub fn run_main<H: Handler>(init: impl FnOnce() -> H) -> ! {
    let cfg = match std::env::var(config::ENV_VAR) {
        Ok(text) => PdConfig::decode(&text),
        Err(_) => Err(
            "this program is a protection domain; start it with `vetted run SYSTEM.system`"
                .to_string(),
        ),
    };
    let st = match cfg.and_then(init_state) {
        Ok(st) => st,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "microkit: {e}");
            std::process::exit(2)
        }
    };
    if STATE.set(st).is_err() {
        panic!("run_main called twice");
    }
    let mut handler = init();
    let Err(e) = handler.run();
    let _ = std::io::stdout().flush();
    let _ = writeln!(std::io::stderr(), "{}: handler error: {e}", pd_name());
    std::process::exit(1)
}

pub(crate) use events::{pp_call_timeout, wait_notified};
