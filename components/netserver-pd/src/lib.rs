//! Pieces of the network server PD that are testable on their own: the
//! host NICs (`VETTED_NIC`), the bounded RPC client used towards the trust
//! PD and the policy repository, the seed derivation used on seL4, and, on
//! seL4, the virtio-net NIC of QEMU `virt` and the Raspberry Pi 4's GENET,
//! system timer and RNG200 probe (`hwprobe`, page layout testable on the host). The binary `netserver`
//! (src/main.rs) wires them to channels.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod entropy;
#[cfg(target_os = "none")]
pub mod genet;
pub mod hwprobe;
#[cfg(not(target_os = "none"))]
pub mod nic;
pub mod rpc;
#[cfg(target_os = "none")]
pub mod virt;
