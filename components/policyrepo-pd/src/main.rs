//! The `policyrepo` PD binary; see the `policyrepo_pd` crate.
//!
//! The same source is a Linux process on the host backend and a Microkit PD
//! on seL4 (`aarch64-unknown-none`), where the memory regions it looks up by
//! name need their `setvar_vaddr` symbols declared here.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

// The signed bundle and the admin key, prefilled by the Microkit tool
// (`prefill_path`), read-only.
microkit::memory_region_symbol!(policy_bundle, size = 0x40000, perms = r);
microkit::memory_region_symbol!(admin_pubkey, size = 0x1000, perms = r);

/// One message buffer symbol per channel id the PD may serve: `buf_0`
/// (trust), `buf_1` (network server), `buf_10`..=`buf_61` (applications).
/// A symbol no `<map setvar_vaddr=..>` names stays unpatched, which the
/// runtime reports as "not mapped": declaring all of them is harmless.
macro_rules! buffers {
    ($($name:ident)*) => {
        $(microkit::memory_region_symbol!($name, size = 0x20000);)*
    };
}

buffers!(
    buf_0 buf_1
    buf_10 buf_11 buf_12 buf_13 buf_14 buf_15 buf_16 buf_17 buf_18 buf_19
    buf_20 buf_21 buf_22 buf_23 buf_24 buf_25 buf_26 buf_27 buf_28 buf_29
    buf_30 buf_31 buf_32 buf_33 buf_34 buf_35 buf_36 buf_37 buf_38 buf_39
    buf_40 buf_41 buf_42 buf_43 buf_44 buf_45 buf_46 buf_47 buf_48 buf_49
    buf_50 buf_51 buf_52 buf_53 buf_54 buf_55 buf_56 buf_57 buf_58 buf_59
    buf_60 buf_61
);

// Stack and heap on seL4 (ignored on the host): see the crate README,
// "On seL4", for what was measured.
microkit::protection_domain!(
    policyrepo_pd::init,
    stack_size = policyrepo_pd::STACK_SIZE,
    heap_size = policyrepo_pd::HEAP_SIZE
);
