//! Core logic of the network server PD, `no_std` and host-testable: the
//! socket table with its per-socket control blocks, the local port pool and
//! the replay guard for security contexts. The PD binary only wires channels
//! to this core.
//!
//! [`stack::NetServer`] is the server: smoltcp over `ipsec::EspDevice`, the
//! socket operations of `netserver_api::Request`, SPD rules per vetted flow.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod pipe;
pub mod ports;
pub mod replay;
pub mod stack;
pub mod table;
pub mod testbed;
pub mod vet;
