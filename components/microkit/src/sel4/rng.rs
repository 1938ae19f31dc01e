//! Randomness for keys and nonces on seL4: `getrandom`'s custom source (so
//! `ring::rand::SystemRandom` works), a ChaCha20 generator keyed from seed
//! material the PD supplies with [`crate::add_entropy`].
//!
//! Sources, per board (see `components/microkit/README.md`): QEMU `virt`:
//! the 32 fresh bytes of `/chosen/rng-seed` in the device tree QEMU places
//! at the start of RAM; Raspberry Pi 4: the RNG200 (`boards/rpi4b`);
//! QEMU `raspi4b` has no usable source. Until at least 32 bytes were added
//! the source fails (`getrandom` errors, ring reports an error): no key is
//! ever made from nothing.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use spin::Mutex;

struct Pool {
    rng: ChaCha20Rng,
    seeded_bytes: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// Mixes `bytes` into the key: new key = old generator's next 32 bytes XOR
/// the input folded into 32 bytes. With uniformly random input (rng-seed,
/// RNG200 words) the result is as good as the better of the two.
pub(crate) fn add_entropy(bytes: &[u8]) {
    let mut guard = POOL.lock();
    let mut key = [0u8; 32];
    if let Some(pool) = guard.as_mut() {
        pool.rng.fill_bytes(&mut key);
    }
    for (i, b) in bytes.iter().enumerate() {
        key[i % 32] ^= b;
    }
    let seeded = guard.as_ref().map_or(0, |p| p.seeded_bytes) + bytes.len();
    *guard = Some(Pool {
        rng: ChaCha20Rng::from_seed(key),
        seeded_bytes: seeded,
    });
}

/// `getrandom` error code: not seeded (custom codes start at 1 << 31 + 1 << 30).
const NOT_SEEDED: u32 = getrandom::Error::CUSTOM_START + 1;

fn fill(dest: &mut [u8]) -> Result<(), getrandom::Error> {
    let mut guard = POOL.lock();
    match guard.as_mut() {
        Some(pool) if pool.seeded_bytes >= 32 => {
            pool.rng.fill_bytes(dest);
            Ok(())
        }
        _ => Err(getrandom::Error::from(
            core::num::NonZeroU32::new(NOT_SEEDED).expect("nonzero constant"),
        )),
    }
}

getrandom::register_custom_getrandom!(fill);
