//! Host-only extensions of the backend (the network server needs them):
//!
//! - *event sources*: a channel of this PD raised like an interrupt when a
//!   file descriptor becomes readable ([`irq_on_readable`]; the next raise
//!   waits for `irq_ack()` on the channel, as a level-triggered IRQ does)
//!   or periodically ([`irq_every`]); each runs on a thread of its own and
//!   only sets the PD's notification bit, so the handler still sees every
//!   event in its one event loop;
//! - [`wait_notified`]: block until a channel of a mask is notified, leaving
//!   other notifications pending for the handler loop;
//! - [`pp_call_timeout`]: a protected call that gives up after a deadline.
//!   A call that timed out leaves the channel *unresponsive*: later calls
//!   fail at once until the callee's late reply to the abandoned call shows
//!   up (e.g. after the runner restarted it), so a reply can never be taken
//!   for the answer to another request.

use super::{
    load_msg, state, store_msg, wait_until, wake, IDLE, REPLY, REQUEST, RUNNING, SLEEPING,
};
use crate::{CallError, Channel, ChannelSet, MessageInfo};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::string::{String, ToString};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use std::vec::Vec;

/// Channels raised by event sources (accepted by the event loop in
/// addition to the system description's notification channels).
static EXTRA_MASK: AtomicU64 = AtomicU64::new(0);
/// Channels whose last `pp_call_timeout` was abandoned.
static ABANDONED: AtomicU64 = AtomicU64::new(0);

/// Why an event source could not be attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSourceError {
    /// The channel id is used by the system description for something else
    /// (a notification, protected-call channel), or has a source already.
    ChannelInUse(usize),
    /// A period of zero.
    ZeroPeriod,
    /// The thread could not be started.
    Thread(String),
}

impl core::fmt::Display for EventSourceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ChannelInUse(c) => write!(f, "channel {c} is in use"),
            Self::ZeroPeriod => f.write_str("period of zero"),
            Self::Thread(e) => write!(f, "cannot start the event thread: {e}"),
        }
    }
}

pub(crate) fn extra_mask() -> u64 {
    EXTRA_MASK.load(SeqCst)
}

/// A level-triggered source waits for its acknowledgement.
struct Ack {
    acked: Mutex<bool>,
    cv: Condvar,
}

static ACKS: Mutex<Vec<(usize, Arc<Ack>)>> = Mutex::new(Vec::new());

fn raise(channel: usize) {
    let st = state();
    st.ctl.notify.fetch_or(1 << channel, SeqCst);
    wake(st.ctl);
}

fn claim(channel: Channel) -> Result<usize, EventSourceError> {
    let st = state();
    let c = channel.index();
    let bit = 1u64 << c;
    let used = st.notify_out[c].is_some()
        || st.ppc[c].is_some()
        || st.pps[c].is_some()
        || (st.notify_in_mask & !st.irq_mask) & bit != 0;
    if used || EXTRA_MASK.fetch_or(bit, SeqCst) & bit != 0 {
        return Err(EventSourceError::ChannelInUse(c));
    }
    Ok(c)
}

/// Raises `channel` (as an interrupt) whenever `fd` is readable (or in
/// error, or hung up), then waits for `channel.irq_ack()` before looking
/// again. `fd` must stay open as long as the PD runs; if it is closed the
/// source stops. The channel must not be used by the system description
/// for anything but an `<irq>`. Host only.
pub fn irq_on_readable(channel: Channel, fd: i32) -> Result<(), EventSourceError> {
    let c = claim(channel)?;
    let ack = Arc::new(Ack {
        acked: Mutex::new(true),
        cv: Condvar::new(),
    });
    if let Ok(mut v) = ACKS.lock() {
        v.push((c, ack.clone()));
    }
    std::thread::Builder::new()
        .name(std::format!("irq-fd-{c}"))
        .spawn(move || loop {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1, no timeout.
            let r = unsafe { libc::poll(&mut p, 1, -1) };
            if r < 0 {
                continue; // EINTR
            }
            if p.revents & libc::POLLNVAL != 0 {
                return; // the descriptor was closed
            }
            if p.revents == 0 {
                continue;
            }
            let Ok(mut acked) = ack.acked.lock() else {
                return;
            };
            *acked = false;
            raise(c);
            while !*acked {
                acked = match ack.cv.wait(acked) {
                    Ok(a) => a,
                    Err(_) => return,
                };
            }
        })
        .map(|_| ())
        .map_err(|e| EventSourceError::Thread(e.to_string()))
}

/// Raises `channel` every `period` (a timer interrupt; notifications
/// coalesce, so a slow handler sees one). Host only.
pub fn irq_every(channel: Channel, period: Duration) -> Result<(), EventSourceError> {
    if period.is_zero() {
        return Err(EventSourceError::ZeroPeriod);
    }
    let c = claim(channel)?;
    std::thread::Builder::new()
        .name(std::format!("irq-timer-{c}"))
        .spawn(move || {
            let mut next = Instant::now() + period;
            loop {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                raise(c);
                next += period;
                let now = Instant::now();
                if next < now {
                    next = now + period; // fell behind: skip, do not burst
                }
            }
        })
        .map(|_| ())
        .map_err(|e| EventSourceError::Thread(e.to_string()))
}

/// `irq_ack` on a channel with an event source: lets it look again.
/// Returns whether the channel has one.
pub(crate) fn ack(channel: usize) -> bool {
    if extra_mask() & (1 << channel) == 0 {
        return false;
    }
    if let Ok(v) = ACKS.lock() {
        for (c, a) in v.iter() {
            if *c == channel {
                if let Ok(mut acked) = a.acked.lock() {
                    *acked = true;
                    a.cv.notify_all();
                }
            }
        }
    }
    true
}

pub(crate) fn wait_notified(mask: ChannelSet) -> ChannelSet {
    let st = state();
    let mask = mask.bits() & (st.notify_in_mask | extra_mask());
    if mask == 0 {
        panic!("wait_notified: no channel of the mask can notify this PD");
    }
    loop {
        let got = st.ctl.notify.fetch_and(!mask, SeqCst) & mask;
        if got != 0 {
            return ChannelSet::from_bits(got);
        }
        wait_until(
            st.spin,
            || st.ctl.notify.load(SeqCst) & mask != 0,
            || {
                st.ctl.state.store(SLEEPING, SeqCst);
                if st.ctl.notify.load(SeqCst) & mask != 0 {
                    None
                } else {
                    Some((&st.ctl.state, SLEEPING))
                }
            },
            || st.ctl.state.store(RUNNING, SeqCst),
        );
    }
}

/// `FUTEX_WAIT` with a relative timeout.
fn futex_wait_for(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 10^9: fits any c_long.
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid aligned u32 for the call; `ts` is a valid
    // timespec; FUTEX_WAIT only reads both.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

pub(crate) fn pp_call_timeout(
    channel: usize,
    msg: MessageInfo,
    timeout: Duration,
) -> Result<MessageInfo, CallError> {
    let st = state();
    let Some((slot, peer, bit)) = st.ppc.get(channel).copied().flatten() else {
        panic!("pp_call_timeout: not valid for channel '{channel}'");
    };
    let cbit = 1u64 << channel;
    if ABANDONED.load(SeqCst) & cbit != 0 {
        // The callee never answered the abandoned call: is the answer here now?
        if slot
            .state
            .compare_exchange(REPLY, IDLE, SeqCst, SeqCst)
            .is_err()
        {
            return Err(CallError::Unresponsive);
        }
        ABANDONED.fetch_and(!cbit, SeqCst);
    }
    store_msg(slot, msg);
    slot.state.store(REQUEST, SeqCst);
    peer.calls.fetch_or(1 << bit, SeqCst);
    wake(peer);
    let deadline = Instant::now() + timeout;
    loop {
        if slot.state.load(SeqCst) == REPLY {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            slot.waiter.store(0, SeqCst);
            ABANDONED.fetch_or(cbit, SeqCst);
            return Err(CallError::TimedOut);
        }
        slot.waiter.store(1, SeqCst);
        let s = slot.state.load(SeqCst);
        if s == REPLY {
            break;
        }
        futex_wait_for(&slot.state, s, left);
    }
    slot.waiter.store(0, SeqCst);
    let reply = load_msg(slot);
    slot.state.store(IDLE, SeqCst);
    Ok(reply)
}
