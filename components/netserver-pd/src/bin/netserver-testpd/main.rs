//! Test PDs around the real `netserver` PD (`tests/pd.rs`, `ci/netpd.sh`);
//! see `host.rs`. Host only: on seL4 it builds (CI cross-compiles every bin
//! of a `cross = true` crate) but only says so and stops.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(not(target_os = "none"))]
mod host;

#[cfg(not(target_os = "none"))]
microkit::protection_domain!(host::init);

#[cfg(target_os = "none")]
fn init() -> microkit::NullHandler {
    microkit::debug_println!("netserver-testpd: host-only test PD");
    microkit::stop()
}

#[cfg(target_os = "none")]
microkit::protection_domain!(init);
