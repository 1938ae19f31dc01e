//! A minimal, bounds-checked reader of flattened device trees (DTB), enough
//! to find one property by path: e.g. `/chosen/rng-seed`, the fresh random
//! bytes QEMU (and some firmware) puts in the tree on every boot, which
//! seeds the seL4 random source (see [`crate::add_entropy`]).
//!
//! The blob is treated as untrusted: every offset and length is checked,
//! errors are typed, nothing panics.

use core::fmt;

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// Why a device tree could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdtError {
    /// Shorter than its header, or than the sizes the header states.
    Truncated,
    /// The magic number is not 0xd00dfeed.
    BadMagic,
    /// A structure token or offset is malformed.
    Malformed,
    /// The node or property does not exist.
    NotFound,
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "device tree truncated",
            Self::BadMagic => "not a device tree (bad magic)",
            Self::Malformed => "malformed device tree",
            Self::NotFound => "no such node or property in the device tree",
        })
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, FdtError> {
    let s = b
        .get(at..at.checked_add(4).ok_or(FdtError::Truncated)?)
        .ok_or(FdtError::Truncated)?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The total size the header of `dtb` states (to know how much to copy).
pub fn total_size(dtb: &[u8]) -> Result<usize, FdtError> {
    if be32(dtb, 0)? != MAGIC {
        return Err(FdtError::BadMagic);
    }
    Ok(be32(dtb, 4)? as usize)
}

fn cstr(b: &[u8], at: usize) -> Result<&[u8], FdtError> {
    let rest = b.get(at..).ok_or(FdtError::Malformed)?;
    let len = rest
        .iter()
        .position(|&c| c == 0)
        .ok_or(FdtError::Malformed)?;
    Ok(&rest[..len])
}

fn align4(n: usize) -> Result<usize, FdtError> {
    n.checked_add(3).map(|v| v & !3).ok_or(FdtError::Malformed)
}

/// The value of property `prop` of the node at `path` (node names without
/// unit addresses match `name@addr` too; `&[]` is the root).
pub fn property<'a>(dtb: &'a [u8], path: &[&str], prop: &str) -> Result<&'a [u8], FdtError> {
    let size = total_size(dtb)?;
    let dtb = dtb.get(..size).ok_or(FdtError::Truncated)?;
    let off_struct = be32(dtb, 8)? as usize;
    let off_strings = be32(dtb, 12)? as usize;
    let strings = dtb.get(off_strings..).ok_or(FdtError::Truncated)?;
    let mut at = off_struct;
    // depth = nesting of the current node; matched = how many leading path
    // components the current node chain matches.
    let mut depth = 0usize;
    let mut matched = 0usize;
    loop {
        let token = be32(dtb, at)?;
        at += 4;
        match token {
            BEGIN_NODE => {
                let name = cstr(dtb, at)?;
                at = align4(at + name.len() + 1)?;
                // the root node has an empty name and depth 0
                if depth > 0 && matched == depth - 1 && matched < path.len() {
                    let base = name.split(|&c| c == b'@').next().unwrap_or(name);
                    if name == path[matched].as_bytes() || base == path[matched].as_bytes() {
                        matched += 1;
                    }
                }
                depth += 1;
            }
            END_NODE => {
                if depth == 0 {
                    return Err(FdtError::Malformed);
                }
                depth -= 1;
                if depth > 0 && matched == depth {
                    matched -= 1;
                }
                if depth == 0 {
                    return Err(FdtError::NotFound);
                }
            }
            PROP => {
                let len = be32(dtb, at)? as usize;
                let nameoff = be32(dtb, at + 4)? as usize;
                let start = at + 8;
                let value = dtb
                    .get(start..start.checked_add(len).ok_or(FdtError::Malformed)?)
                    .ok_or(FdtError::Truncated)?;
                at = align4(start + len)?;
                if depth == path.len() + 1
                    && matched == path.len()
                    && cstr(strings, nameoff)? == prop.as_bytes()
                {
                    return Ok(value);
                }
            }
            NOP => {}
            END => return Err(FdtError::NotFound),
            _ => return Err(FdtError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Builds a DTB: / { a = "x"; chosen { rng-seed = [..]; }; cpus@0 { b = <1>; }; }
    fn sample(seed: &[u8]) -> Vec<u8> {
        let strings = b"a\0rng-seed\0b\0";
        let mut s: Vec<u8> = Vec::new();
        let w = |s: &mut Vec<u8>, v: u32| s.extend_from_slice(&v.to_be_bytes());
        let pad = |s: &mut Vec<u8>| {
            while !s.len().is_multiple_of(4) {
                s.push(0)
            }
        };
        w(&mut s, BEGIN_NODE);
        s.extend_from_slice(b"\0");
        pad(&mut s);
        w(&mut s, PROP);
        w(&mut s, 2);
        w(&mut s, 0);
        s.extend_from_slice(b"x\0");
        pad(&mut s);
        w(&mut s, BEGIN_NODE);
        s.extend_from_slice(b"chosen\0");
        pad(&mut s);
        w(&mut s, NOP);
        w(&mut s, PROP);
        w(&mut s, seed.len() as u32);
        w(&mut s, 2);
        s.extend_from_slice(seed);
        pad(&mut s);
        w(&mut s, END_NODE);
        w(&mut s, BEGIN_NODE);
        s.extend_from_slice(b"cpus@0\0");
        pad(&mut s);
        w(&mut s, PROP);
        w(&mut s, 4);
        w(&mut s, 11);
        w(&mut s, 1);
        w(&mut s, END_NODE);
        w(&mut s, END_NODE);
        w(&mut s, END);
        let off_struct = 40u32;
        let off_strings = off_struct + s.len() as u32;
        let total = off_strings + strings.len() as u32;
        let mut d = Vec::new();
        for v in [
            MAGIC,
            total,
            off_struct,
            off_strings,
            40,
            17,
            16,
            0,
            strings.len() as u32,
            s.len() as u32,
        ] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(&s);
        d.extend_from_slice(strings);
        d
    }

    #[test]
    fn finds_properties_by_path() {
        let seed = [7u8; 32];
        let d = sample(&seed);
        assert_eq!(total_size(&d), Ok(d.len()));
        assert_eq!(property(&d, &["chosen"], "rng-seed"), Ok(&seed[..]));
        assert_eq!(property(&d, &[], "a"), Ok(&b"x\0"[..]));
        assert_eq!(property(&d, &["cpus"], "b"), Ok(&[0, 0, 0, 1][..]));
        assert_eq!(property(&d, &["cpus@0"], "b"), Ok(&[0, 0, 0, 1][..]));
        assert_eq!(property(&d, &["chosen"], "a"), Err(FdtError::NotFound));
        assert_eq!(property(&d, &[], "rng-seed"), Err(FdtError::NotFound));
        assert_eq!(property(&d, &["nope"], "b"), Err(FdtError::NotFound));
    }

    #[test]
    fn hostile_blobs_give_typed_errors() {
        let d = sample(&[1, 2, 3]);
        assert_eq!(
            property(&d[..3], &["chosen"], "rng-seed"),
            Err(FdtError::Truncated)
        );
        let mut bad = d.clone();
        bad[0] = 0;
        assert_eq!(
            property(&bad, &["chosen"], "rng-seed"),
            Err(FdtError::BadMagic)
        );
        // every truncation and every single-byte corruption: an error or a
        // value inside the blob, never a panic
        for n in 0..d.len() {
            let _ = property(&d[..n], &["chosen"], "rng-seed");
        }
        for i in 0..d.len() {
            for v in [0u8, 0xff, 0x80, 3, 9] {
                let mut c = d.clone();
                c[i] = v;
                let _ = property(&c, &["chosen"], "rng-seed");
                let _ = property(&c, &["cpus"], "b");
            }
        }
    }
}
