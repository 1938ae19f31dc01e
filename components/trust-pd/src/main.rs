//! The `trust` PD binary; see the `trust_pd` crate.
//!
//! The same source is a Linux process on the host backend and a Microkit PD
//! on seL4 (`aarch64-unknown-none`), where the memory regions it looks up by
//! name need their `setvar_vaddr` symbols declared here.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

// Message buffers (system/node-a.system, node-b.system): `buf_0` shared
// with the network server (it calls us), `buf_1` with the policy
// repository (we call it). 0x20000 bytes each, as mapped there.
microkit::memory_region_symbol!(buf_0, size = 0x20000);
microkit::memory_region_symbol!(buf_1, size = 0x20000);

// Stack and heap on seL4 (ignored on the host): see the crate README,
// "On seL4", for what was measured.
microkit::protection_domain!(
    trust_pd::init,
    stack_size = trust_pd::STACK_SIZE,
    heap_size = trust_pd::HEAP_SIZE
);
