//! What the library needs from the platform: wall-clock time (issued time
//! of contexts), a monotonic clock (timeouts) and nonces.
//!
//! Host backend: `std::time` and the OS random source (`getrandom(2)`).
//!
//! seL4 (`target_os = "none"`):
//! - wall clock: `microkit::sel4::unix_time()`: the PL031 real-time clock
//!   where the PD maps it as `vetted_rtc` (QEMU `virt`), else the runtime's
//!   build time plus the time since boot. The network server uses the same
//!   source, so the issued times it checks agree with ours.
//! - timeouts: `microkit::sel4::uptime()`, the ARM counter since boot.
//! - nonces: an application PD has no entropy source of its own (only the
//!   network server maps the board's seed), and it must not learn or predict
//!   the network server's randomness. A context nonce only has to be
//!   *unique*: contexts never leave the node, and the channel, not the nonce,
//!   authenticates the application. So unless the PD was seeded
//!   (`microkit::add_entropy`, then `getrandom` succeeds and 16 random bytes
//!   are used), the nonce is unique by construction ([`unique_nonce`]): 8
//!   bytes of the ARM counter at the time of the call, 4 bytes of a hash of
//!   the PD name (PD names are unique in a system) and 4 bytes of a per-PD
//!   sequence number that never repeats within a boot (the network server's
//!   replay memory does not outlive a boot either).

use netserver_api::Error;

/// Most data bytes one request carries (a request must fit in
/// [`netserver_api::MAX_MESSAGE`] with its other fields).
pub(crate) const MAX_DATA: usize = 60 * 1024;

/// A nonce that is unique by construction, for PDs without an entropy
/// source (seL4 application PDs; see the module documentation):
///
/// | bytes | content |
/// |---|---|
/// | 0..8 | `counter` (the ARM counter `CNTPCT_EL0` at the call), little-endian |
/// | 8..12 | FNV-1a 32-bit hash of `pd_name`, little-endian |
/// | 12..16 | `seq`, the PD's call number, little-endian |
///
/// Within one PD (one name) two calls differ in `seq` for 2^32 calls, and
/// in `counter` as well, which only grows during a boot: the sequence
/// wraps after 2^32 calls, and 2^32 calls take far longer than one tick
/// of the counter (tens of MHz), so the two calls with the same `seq` read
/// different counter values. Two PDs have different names, so they differ in bytes 8..12
/// unless their names' 32-bit hashes collide; then two nonces are equal
/// only if the PDs also read the same counter value (one core runs one PD
/// at a time, and a switch takes longer than a counter tick) at the same
/// sequence number. A nonce is never secret, only unique.
pub fn unique_nonce(counter: u64, pd_name: &str, seq: u32) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..8].copy_from_slice(&counter.to_le_bytes());
    n[8..12].copy_from_slice(&fnv1a32(pd_name.as_bytes()).to_le_bytes());
    n[12..].copy_from_slice(&seq.to_le_bytes());
    n
}

/// FNV-1a, 32 bits (a name hash, not a cryptographic one).
pub(crate) fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Seconds since the Unix epoch.
#[cfg(not(target_os = "none"))]
pub fn now_unix() -> Result<u64, Error> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| Error::NotSupported)
}

/// 16 fresh random bytes from the OS.
#[cfg(not(target_os = "none"))]
pub fn fresh_nonce() -> Result<[u8; 16], Error> {
    let mut n = [0u8; 16];
    getrandom::getrandom(&mut n).map_err(|_| Error::NotSupported)?;
    Ok(n)
}

/// A point in time for timeouts.
#[cfg(not(target_os = "none"))]
pub(crate) type Deadline = std::time::Instant;

#[cfg(not(target_os = "none"))]
pub(crate) fn deadline(ms: u32) -> Deadline {
    std::time::Instant::now() + std::time::Duration::from_millis(u64::from(ms))
}

#[cfg(not(target_os = "none"))]
pub(crate) fn passed(d: Deadline) -> bool {
    std::time::Instant::now() >= d
}

/// Seconds since the Unix epoch: `microkit::sel4::unix_time()` (PL031 as
/// `vetted_rtc`, else build time plus uptime).
#[cfg(target_os = "none")]
pub fn now_unix() -> Result<u64, Error> {
    Ok(microkit::sel4::unix_time())
}

/// A fresh nonce: 16 random bytes if this PD was seeded, else
/// [`unique_nonce`] of the ARM counter, this PD's name and its next
/// sequence number (see the module documentation). Never fails.
#[cfg(target_os = "none")]
pub fn fresh_nonce() -> Result<[u8; 16], Error> {
    use core::sync::atomic::{AtomicU32, Ordering};
    /// This PD's call number (a PD has one thread; atomic for safety).
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let mut n = [0u8; 16];
    if getrandom::getrandom(&mut n).is_ok() {
        return Ok(n);
    }
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    Ok(unique_nonce(
        microkit::sel4::counter().0,
        microkit::pd_name(),
        seq,
    ))
}

/// A point in time for timeouts: time since boot.
#[cfg(target_os = "none")]
pub(crate) type Deadline = core::time::Duration;

#[cfg(target_os = "none")]
pub(crate) fn deadline(ms: u32) -> Deadline {
    microkit::sel4::uptime() + core::time::Duration::from_millis(u64::from(ms))
}

#[cfg(target_os = "none")]
pub(crate) fn passed(d: Deadline) -> bool {
    microkit::sel4::uptime() >= d
}
