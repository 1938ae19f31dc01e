//! IPsec ESP data plane for smoltcp, on `ring`.
//!
//! * [`wire`]: the ESP packet format (RFC 4303), smoltcp `Packet`/`Repr` style.
//! * [`crypto`]: AES-GCM (RFC 4106), ChaCha20-Poly1305 (RFC 7634) and
//!   AES-GMAC (RFC 4543) transforms.
//! * [`sa`]: the Security Association Database, with ESN (RFC 4304),
//!   anti-replay windows, lifetimes and RFC 4303 auditable-event counters.
//! * [`spd`]: the Security Policy Database (RFC 4301 section 4.4.1).
//! * [`engine`]: SPD + SAD applied to IP packets in place, transport and
//!   tunnel mode, IPv4 and IPv6; typed drop events.
//! * [`device`]: [`EspDevice`], a smoltcp `phy::Device` wrapper so smoltcp's
//!   sockets run over ESP unchanged.
//!
//! `no_std` + `alloc`. On `aarch64-unknown-none` ring needs `getrandom`'s
//! `custom` backend registered by the final binary (this crate never asks for
//! random numbers: IVs are sequence numbers).
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod crypto;
pub mod device;
pub mod engine;
pub mod replay;
pub mod sa;
pub mod spd;
pub mod wire;

pub use crypto::{keymat_from_hex, Algorithm, CryptoError, HexError, Transform, ALL_ALGORITHMS};
pub use device::EspDevice;
pub use engine::{
    Counters, DropReason, Engine, Event, HostPair, Inbound, InboundInfo, Outbound, HEADROOM,
    MAX_OVERHEAD, TAILROOM,
};
pub use sa::{
    Direction, Lifetime, LifetimeKind, Mode, Sa, SaConfig, SaCounters, SaId, SaState, Sad,
    SadError, Service,
};
pub use spd::{Action, AddrSelector, Flow, PolicyHandle, PortSelector, Protect, Selector, Spd};
