//! Test PDs around the real `netserver` PD: on the host (`host.rs`:
//! `tests/pd.rs`, `ci/netpd.sh`) and on seL4 (`sel4.rs`: QEMU `virt`
//! against a host node B, `tests/sel4_virt.rs`). The role is the PD's name.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

extern crate alloc;

mod app;
#[cfg(not(target_os = "none"))]
#[path = "host.rs"]
mod platform;
#[cfg(target_os = "none")]
#[path = "sel4.rs"]
mod platform;

#[cfg(not(target_os = "none"))]
microkit::protection_domain!(platform::init);

#[cfg(target_os = "none")]
microkit::protection_domain!(platform::init, stack_size = 0x40000, heap_size = 0x40_0000);
