//! Rejects replayed and stale security contexts: a context is accepted only
//! if it was issued within a window around the server's time and its nonce
//! has not been seen inside that window.
//!
//! Nonces are remembered only as long as their context could still pass the
//! time check, so memory stays bounded by the request rate times the window;
//! a hard capacity bounds it absolutely, and when it is full the guard
//! refuses (fails closed) rather than forgetting a nonce that is still live.

use alloc::collections::{BTreeMap, BTreeSet};

/// Why a context was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The nonce was already used within the window.
    Replayed,
    /// The context was issued outside the window around `now`.
    Stale {
        /// Issued time of the context.
        issued: u64,
        /// The server's time.
        now: u64,
    },
    /// Too many live nonces are remembered; refused until some expire.
    Full,
}

/// The replay guard.
#[derive(Debug)]
pub struct ReplayGuard {
    window: u64,
    capacity: usize,
    /// nonce -> issued time.
    seen: BTreeMap<[u8; 16], u64>,
    /// (issued time, nonce), ordered for expiry.
    by_time: BTreeSet<(u64, [u8; 16])>,
}

impl ReplayGuard {
    /// A guard accepting contexts issued at most `window` seconds before or
    /// after the server's time, remembering at most `capacity` nonces.
    pub fn new(window: u64, capacity: usize) -> Self {
        ReplayGuard {
            window,
            capacity,
            seen: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Checks a context's issued time and nonce at server time `now` and, if
    /// accepted, remembers the nonce.
    pub fn check(&mut self, issued: u64, nonce: [u8; 16], now: u64) -> Result<(), ReplayError> {
        self.expire(now);
        if issued.abs_diff(now) > self.window {
            return Err(ReplayError::Stale { issued, now });
        }
        if self.seen.contains_key(&nonce) {
            return Err(ReplayError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        self.seen.insert(nonce, issued);
        self.by_time.insert((issued, nonce));
        Ok(())
    }

    /// Forgets nonces whose contexts are too old to pass the time check.
    fn expire(&mut self, now: u64) {
        let oldest_valid = now.saturating_sub(self.window);
        while let Some(&(issued, nonce)) = self.by_time.first() {
            if issued >= oldest_valid {
                break;
            }
            self.by_time.pop_first();
            self.seen.remove(&nonce);
        }
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(i: u32) -> [u8; 16] {
        let mut n = [0; 16];
        n[..4].copy_from_slice(&i.to_le_bytes());
        n
    }

    #[test]
    fn fresh_contexts_pass_once() {
        let mut g = ReplayGuard::new(30, 100);
        assert_eq!(g.check(1000, nonce(1), 1000), Ok(()));
        assert_eq!(g.check(1000, nonce(1), 1001), Err(ReplayError::Replayed));
        assert_eq!(g.check(1001, nonce(2), 1001), Ok(()));
    }

    #[test]
    fn stale_and_future_contexts_are_refused() {
        let mut g = ReplayGuard::new(30, 100);
        assert_eq!(
            g.check(969, nonce(1), 1000),
            Err(ReplayError::Stale {
                issued: 969,
                now: 1000
            })
        );
        assert_eq!(g.check(970, nonce(2), 1000), Ok(()));
        assert_eq!(g.check(1030, nonce(3), 1000), Ok(()));
        assert!(matches!(
            g.check(1031, nonce(4), 1000),
            Err(ReplayError::Stale { .. })
        ));
        assert!(matches!(
            g.check(u64::MAX, nonce(5), 0),
            Err(ReplayError::Stale { .. })
        ));
    }

    #[test]
    fn a_replay_stays_refused_until_it_is_stale() {
        let mut g = ReplayGuard::new(30, 100);
        g.check(1000, nonce(7), 1000).unwrap();
        for now in 1000..=1030 {
            assert_eq!(g.check(1000, nonce(7), now), Err(ReplayError::Replayed));
        }
        // Past the window the nonce is forgotten, and the context is stale.
        assert!(matches!(
            g.check(1000, nonce(7), 1031),
            Err(ReplayError::Stale { .. })
        ));
        assert!(g.is_empty());
    }

    #[test]
    fn memory_is_bounded_and_full_fails_closed() {
        let mut g = ReplayGuard::new(30, 10);
        for i in 0..10 {
            g.check(1000, nonce(i), 1000).unwrap();
        }
        assert_eq!(g.check(1000, nonce(99), 1000), Err(ReplayError::Full));
        // Once they expire there is room again.
        assert_eq!(g.check(1031, nonce(99), 1031), Ok(()));
        assert_eq!(g.len(), 1);
    }
}
