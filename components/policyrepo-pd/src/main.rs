//! The `policyrepo` PD binary; see the `policyrepo_pd` crate.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

microkit::protection_domain!(policyrepo_pd::init);
