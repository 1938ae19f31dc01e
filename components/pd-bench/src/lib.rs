//! Benchmark PD pair (`system/pd-bench.system`): `bench-client` measures
//! protected-call round trips to `bench-server` and, as the baseline of the
//! same run, notification round trips (client notifies, the server notifies
//! back). Both PDs run on seL4 (time from the ARM physical counter) and on
//! the host backend (`vetted run`, time from the OS clock).
#![no_std]
#![forbid(unsafe_code)]

/// The client's channel to the server (pp calls and notifications).
pub const TO_SERVER: usize = 0;
/// The server's channel to the client.
pub const TO_CLIENT: usize = 0;
/// Label of a benchmark call; the server answers MR0 + 1.
pub const LABEL_PING: u64 = 1;
/// Number of round trips of each kind.
pub const ROUNDS: u64 = 20_000;

/// A monotonic clock in nanoseconds.
pub fn now_ns() -> u64 {
    #[cfg(target_os = "none")]
    {
        let (count, freq) = microkit::sel4::counter();
        (u128::from(count) * 1_000_000_000 / u128::from(freq.max(1))) as u64
    }
    #[cfg(not(target_os = "none"))]
    {
        extern crate std;
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Round trips per second for `rounds` in `ns` nanoseconds.
pub fn per_second(rounds: u64, ns: u64) -> u64 {
    (u128::from(rounds) * 1_000_000_000 / u128::from(ns.max(1))) as u64
}
