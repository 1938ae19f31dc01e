//! The network server's seed on seL4: the board's fresh random bytes, made
//! this PD's own.
//!
//! QEMU `virt` puts 32 fresh random bytes in `/chosen/rng-seed` of the
//! device tree it places at the start of RAM, on every boot. The netserver
//! maps that device tree read-only (only it: applications must not learn its
//! seed), and feeds [`pd_seed`] of it to `microkit::add_entropy`. The seed is
//! derived, not used as is: SHA-256 over a label, the PD's name and the
//! board's bytes, so that another PD given the same device tree (a trust or
//! policy PD, later) derives an unrelated key (domain separation).
//!
//! Without a usable seed there is no network: the PD refuses to start its
//! stack rather than run with predictable TCP sequence numbers.

use core::fmt;

/// Fewest board bytes accepted (QEMU gives 32; so does a 256-bit RNG read).
pub const MIN_SEED: usize = 32;
/// Label hashed in front of the PD name (versioned: a change of derivation
/// changes the label).
const LABEL: &[u8] = b"vetted rng-seed v1\0";

/// Why the device tree gave no seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntropyError {
    /// The device tree is unreadable or has no `/chosen/rng-seed`.
    Fdt(microkit::fdt::FdtError),
    /// The board's bytes are fewer than [`MIN_SEED`] (the count).
    TooShort(usize),
    /// The board's bytes are all one value: not random.
    Constant,
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fdt(e) => write!(f, "/chosen/rng-seed: {e}"),
            Self::TooShort(n) => write!(
                f,
                "the board's seed (rng-seed or hardware RNG) has {n} bytes, at least {MIN_SEED} needed"
            ),
            Self::Constant => {
                f.write_str("the board's seed (rng-seed or hardware RNG) is constant: not random")
            }
        }
    }
}

/// This PD's 32-byte seed from the device tree `dtb`: SHA-256(label ||
/// `pd` || 0 || rng-seed).
pub fn pd_seed(dtb: &[u8], pd: &str) -> Result<[u8; 32], EntropyError> {
    let board = microkit::fdt::property(dtb, &["chosen"], "rng-seed").map_err(EntropyError::Fdt)?;
    pd_seed_from(board, pd)
}

/// This PD's 32-byte seed from the board's random bytes `board` (the
/// device tree's rng-seed, or a hardware RNG's output such as the Pi 4's
/// RNG200): SHA-256(label || `pd` || 0 || `board`), the same derivation as
/// [`pd_seed`]. Refuses fewer than [`MIN_SEED`] bytes and constant input.
pub fn pd_seed_from(board: &[u8], pd: &str) -> Result<[u8; 32], EntropyError> {
    if board.len() < MIN_SEED {
        return Err(EntropyError::TooShort(board.len()));
    }
    if board.iter().all(|&b| b == board[0]) {
        return Err(EntropyError::Constant);
    }
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(LABEL);
    ctx.update(pd.as_bytes());
    ctx.update(&[0]);
    ctx.update(board);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

/// The smoltcp interface's random seed (TCP initial sequence numbers), from
/// `getrandom`: the OS on the host, on seL4 the runtime's generator, which
/// fails until seeded (then so does this: no network).
pub fn stack_seed() -> Result<u64, getrandom::Error> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A device tree with `/chosen/<prop> = value` (FDT version 17).
    fn dtb(prop: &str, value: &[u8]) -> Vec<u8> {
        fn w(v: &mut Vec<u8>, x: u32) {
            v.extend_from_slice(&x.to_be_bytes());
        }
        fn pad(v: &mut Vec<u8>) {
            while !v.len().is_multiple_of(4) {
                v.push(0);
            }
        }
        let mut strings = prop.as_bytes().to_vec();
        strings.push(0);
        let mut s = Vec::new();
        w(&mut s, 1); // BEGIN_NODE ""
        w(&mut s, 0);
        w(&mut s, 1); // BEGIN_NODE chosen
        s.extend_from_slice(b"chosen\0");
        pad(&mut s);
        w(&mut s, 3); // PROP
        w(&mut s, value.len() as u32);
        w(&mut s, 0);
        s.extend_from_slice(value);
        pad(&mut s);
        w(&mut s, 2); // END_NODE
        w(&mut s, 2);
        w(&mut s, 9); // END
        let off_struct = 40u32;
        let off_strings = off_struct + s.len() as u32;
        let total = off_strings + strings.len() as u32;
        let mut d = Vec::new();
        for v in [0xd00d_feed, total, off_struct, off_strings, 40, 17, 16, 0] {
            w(&mut d, v);
        }
        w(&mut d, strings.len() as u32);
        w(&mut d, s.len() as u32);
        d.extend_from_slice(&s);
        d.extend_from_slice(&strings);
        d
    }

    fn random32(k: u8) -> Vec<u8> {
        (0..32u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(k))
            .collect()
    }

    #[test]
    fn seed_is_derived_per_pd_and_per_board_seed() {
        let a = dtb("rng-seed", &random32(1));
        let b = dtb("rng-seed", &random32(2));
        let s1 = pd_seed(&a, "netserver").unwrap();
        assert_eq!(s1, pd_seed(&a, "netserver").unwrap());
        assert_ne!(s1, pd_seed(&a, "trust").unwrap());
        assert_ne!(s1, pd_seed(&b, "netserver").unwrap());
        // not the board's bytes themselves
        assert_ne!(&s1[..], &random32(1)[..]);
        // the name is delimited: "ab"+seed and "a"+"b..." differ
        let mut shifted = vec![b'b'];
        shifted.extend_from_slice(&random32(1)[..31]);
        assert_ne!(
            pd_seed(&a, "ab").unwrap(),
            pd_seed(&dtb("rng-seed", &shifted), "a").unwrap()
        );
    }

    #[test]
    fn no_usable_seed_is_refused() {
        assert_eq!(
            pd_seed(&dtb("rng-seed", &random32(1)[..31]), "netserver"),
            Err(EntropyError::TooShort(31))
        );
        assert_eq!(
            pd_seed(&dtb("rng-seed", &[0; 32]), "netserver"),
            Err(EntropyError::Constant)
        );
        assert_eq!(
            pd_seed(&dtb("kaslr-seed", &random32(1)), "netserver"),
            Err(EntropyError::Fdt(microkit::fdt::FdtError::NotFound))
        );
        assert!(matches!(
            pd_seed(&[0u8; 64], "netserver"),
            Err(EntropyError::Fdt(microkit::fdt::FdtError::BadMagic))
        ));
        assert!(pd_seed(&[], "netserver").is_err());
    }

    #[test]
    fn seed_from_hardware_bytes_matches_the_device_tree_derivation() {
        let a = dtb("rng-seed", &random32(1));
        assert_eq!(
            pd_seed(&a, "netserver").unwrap(),
            pd_seed_from(&random32(1), "netserver").unwrap()
        );
        assert_eq!(
            pd_seed_from(&random32(1)[..16], "netserver"),
            Err(EntropyError::TooShort(16))
        );
        assert_eq!(
            pd_seed_from(&[7; 64], "netserver"),
            Err(EntropyError::Constant)
        );
    }

    #[test]
    fn stack_seed_comes_from_the_os_on_the_host() {
        let a = stack_seed().unwrap();
        let b = stack_seed().unwrap();
        assert_ne!(a, b);
    }
}
