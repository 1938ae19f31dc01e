//! The protection-domain (PD) programming model of the vetted project.
//!
//! The public names mirror rust-sel4's `sel4-microkit` crate, so that PD code
//! reads like any Microkit PD: a [`Handler`] with [`Handler::notified`],
//! [`Handler::protected`] and [`Handler::fault`]; [`Channel`] with
//! [`Channel::notify`], [`Channel::pp_call`] and [`Channel::irq_ack`];
//! [`ChannelSet`], [`MessageInfo`], message registers ([`with_msg_regs`],
//! [`with_msg_regs_mut`], [`get_mr`], [`set_mr`]); memory regions looked up by
//! name ([`MemoryRegion::by_name`]); [`pd_name`]; the entry macro
//! [`protection_domain!`] and [`debug_println!`].
//!
//! Two backends, chosen by target:
//! - **host** (`cfg(not(target_os = "none"))`): each PD is a Linux process
//!   started by `vetted run` (see [`runner`]); channels are futexes on shared
//!   memory, memory regions are `memfd` mappings.
//! - **seL4** (`cfg(target_os = "none")`): a PD on Microkit 2.3.0 / seL4
//!   16.0.0 for `aarch64-unknown-none`, without libmicrokit: system calls by
//!   inline `svc`, Microkit's capability layout and patched symbols, a static
//!   stack and heap (see `src/sel4/`). Memory regions need
//!   [`memory_region_symbol!`] there.
//!
//! A PD written once against this crate:
//!
//! ```no_run
//! use microkit::{debug_println, Channel, ChannelSet, Handler, Infallible, MessageInfo};
//!
//! const SERVER: Channel = Channel::new(0);
//!
//! struct Client;
//!
//! impl Handler for Client {
//!     type Error = Infallible;
//!     fn notified(&mut self, channels: ChannelSet) -> Result<(), Self::Error> {
//!         for ch in channels.iter() {
//!             debug_println!("notified on channel {}", ch.index());
//!         }
//!         microkit::set_mr(0, 41);
//!         let reply = SERVER.pp_call(MessageInfo::new(7, 1));
//!         debug_println!("label {} answer {}", reply.label(), microkit::get_mr(0));
//!         Ok(())
//!     }
//! }
//!
//! fn init() -> Client {
//!     Client
//! }
//!
//! microkit::protection_domain!(init);
//! ```
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(target_os = "none"))]
extern crate std;

mod channel;
mod defer;
mod ext;
pub mod fdt;
mod handler;
mod memory;
mod message;
mod print;

#[cfg(not(target_os = "none"))]
#[path = "host/mod.rs"]
mod backend;

#[cfg(target_os = "none")]
#[path = "sel4/mod.rs"]
mod backend;

#[cfg(not(target_os = "none"))]
pub mod runner;

/// Host-only event sources: channels raised like interrupts when a file
/// descriptor is readable ([`host::irq_on_readable`], acknowledged with
/// `Channel::irq_ack`) or periodically ([`host::irq_every`]). Call them from
/// `init` or later. See `src/host/events.rs`.
#[cfg(not(target_os = "none"))]
pub mod host {
    pub use crate::backend::events::{irq_every, irq_on_readable, EventSourceError};
}

pub use channel::{Channel, ChannelSet, ChannelSetIter, Child, DisplayChannelSet, IrqAckError};
pub use defer::{DeferredAction, DeferredActionInterface, DeferredActionSlot};
pub use ext::{wait_notified, CallError};
pub use handler::{Handler, Infallible, NullHandler};
pub use memory::{AccessError, MemoryRegion, MemoryRegionError, Perms};
pub use message::{
    get_mr, set_mr, with_msg_regs, with_msg_regs_mut, MessageInfo, MessageLabel,
    MessageRegisterValue, MSG_MAX_LENGTH,
};

/// The name of this protection domain, as written in the system description.
pub fn pd_name() -> &'static str {
    backend::pd_name()
}

/// Whether this protection domain is passive (runs only when called).
pub fn pd_is_passive() -> bool {
    backend::pd_is_passive()
}

/// Stops this protection domain for good.
///
/// Microkit has no such call; it exists so that finite systems (examples,
/// tests) can end. Host: the process exits with status 0, which `vetted run`
/// reports as a clean stop (not a crash). seL4: the PD blocks for good and
/// drops whatever arrives (a caller stays blocked).
pub fn stop() -> ! {
    backend::stop()
}

/// Adds seed material to the random source behind `getrandom` (and so
/// ring's `SystemRandom`). seL4: a ChaCha20 generator that refuses to produce
/// anything until 32 bytes were added (see the README for each board's
/// source). Host: ignored, the operating system's generator is used.
pub fn add_entropy(bytes: &[u8]) {
    #[cfg(target_os = "none")]
    backend::add_entropy(bytes);
    #[cfg(not(target_os = "none"))]
    let _ = bytes;
}

/// seL4-only facts and services of the runtime.
#[cfg(target_os = "none")]
pub mod sel4 {
    /// The Microkit board this PD was built for (`VETTED_SEL4_BOARD`).
    pub const BOARD: &str = crate::backend::facts::BOARD;
    /// The Microkit config this PD was built for (`VETTED_SEL4_CONFIG`):
    /// `debug` (debug output through the kernel), `release` or `benchmark`.
    pub const CONFIG: &str = crate::backend::facts::CONFIG;

    /// The ARM physical counter `CNTPCT_EL0` and its frequency in Hz
    /// (`CNTFRQ_EL0`), both readable by PDs on every Microkit config.
    pub fn counter() -> (u64, u64) {
        crate::backend::counter()
    }

    /// Time since boot, from the counter.
    pub fn uptime() -> core::time::Duration {
        crate::backend::clock::uptime()
    }

    /// Seconds since the Unix epoch: from a PL031 real-time clock the PD
    /// maps read-only as `vetted_rtc` (QEMU `virt`), else the runtime's
    /// build time plus the time since boot (boards without a battery-backed
    /// clock, such as the Raspberry Pi 4). See `src/sel4/clock.rs`.
    pub fn unix_time() -> u64 {
        crate::backend::clock::unix_time()
    }

    /// The EL1 physical timer as a one-shot timer for one PD (interrupt
    /// INTID 30, level; boot-tested on `qemu_virt_aarch64`); see
    /// `src/sel4/timer.rs`.
    pub mod timer {
        pub use crate::backend::timer::{cancel, expired, set_deadline, set_timeout};
    }

    pub use crate::backend::setvar::SetVar;
}

/// Support for the macros; not part of the API.
#[doc(hidden)]
pub mod _private {
    pub use crate::backend::run_main;
    #[cfg(target_os = "none")]
    pub use crate::backend::start::{
        pick, Arena, RegionEntry, VaddrSymbol, DEFAULT_HEAP_SIZE, DEFAULT_STACK_SIZE,
    };
    pub use crate::print::debug_print;

    /// `perms` of `memory_region_symbol!`: empty or `rw` is writable.
    pub const fn writable(perms: &str) -> bool {
        !matches!(perms.as_bytes(), b"r")
    }

    /// The PD name the runner handed over, before `run_main` (host only;
    /// lets one test binary play several roles).
    #[cfg(not(target_os = "none"))]
    pub fn configured_pd_name() -> Option<std::string::String> {
        let text = std::env::var(crate::backend::config::ENV_VAR).ok()?;
        crate::backend::config::PdConfig::decode(&text)
            .ok()
            .map(|c| c.name)
    }
}
