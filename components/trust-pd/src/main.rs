//! The `trust` PD binary; see the `trust_pd` crate.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

microkit::protection_domain!(trust_pd::init);
