//! What the library needs from the platform: wall-clock time (issued time
//! of contexts), a monotonic clock (timeouts) and randomness (nonces).
//!
//! Host backend: `std::time` and the OS random source (`getrandom(2)`).
//! seL4: issue 6 provides the sources; until then time and randomness fail
//! with [`Error::NotSupported`], so no context is ever made with a guessable
//! nonce (fail closed).

use netserver_api::Error;

/// Most data bytes one request carries (a request must fit in
/// [`netserver_api::MAX_MESSAGE`] with its other fields).
pub(crate) const MAX_DATA: usize = 60 * 1024;

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

/// Seconds since the Unix epoch: no clock yet on seL4 (issue 6).
#[cfg(target_os = "none")]
pub fn now_unix() -> Result<u64, Error> {
    Err(Error::NotSupported)
}

/// Fresh random bytes: no randomness source yet on seL4 (issue 6).
#[cfg(target_os = "none")]
pub fn fresh_nonce() -> Result<[u8; 16], Error> {
    Err(Error::NotSupported)
}

/// No clock on seL4 yet: deadlines never pass (timeouts are not enforced).
#[cfg(target_os = "none")]
pub(crate) type Deadline = ();

#[cfg(target_os = "none")]
pub(crate) fn deadline(_ms: u32) -> Deadline {}

#[cfg(target_os = "none")]
pub(crate) fn passed(_d: Deadline) -> bool {
    false
}
