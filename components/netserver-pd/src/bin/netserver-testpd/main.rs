//! Test PDs around the real `netserver` PD: on the host (`host.rs`:
//! `tests/pd.rs`, `ci/netpd.sh`) and on seL4 (`sel4.rs`: QEMU `virt`
//! against a host node B, `tests/sel4_virt.rs`). The role is the PD's name.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(not(target_os = "none"))]
mod host;
#[cfg(target_os = "none")]
mod sel4;

#[cfg(not(target_os = "none"))]
microkit::protection_domain!(host::init);

#[cfg(target_os = "none")]
microkit::protection_domain!(sel4::init, stack_size = 0x40000, heap_size = 0x40_0000);
