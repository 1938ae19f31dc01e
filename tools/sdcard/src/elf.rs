//! Just enough ELF64 parsing to find where the Microkit loader runs.

use crate::error::{Error, Result};
use std::path::Path;

/// The loadable part of an ELF file that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loadable {
    /// Entry point.
    pub entry: u64,
    /// Physical address of the lowest PT_LOAD segment.
    pub lowest_paddr: u64,
    /// File contents of that segment (up to `p_filesz`).
    pub first_bytes: Vec<u8>,
}

/// Parses a little-endian ELF64 image.
pub fn parse(path: &Path, data: &[u8]) -> Result<Loadable> {
    let bad = |detail| Error::BadElf {
        path: path.to_path_buf(),
        detail,
    };
    if data.len() < 64 || &data[0..4] != b"\x7fELF" {
        return Err(bad("not an ELF file"));
    }
    if data[4] != 2 || data[5] != 1 {
        return Err(bad("not a little-endian ELF64 file"));
    }
    // Bounds-checked little-endian reads; offsets come from the file, so no arithmetic on them
    // may overflow.
    let bytes = |o: usize, n: usize| o.checked_add(n).and_then(|end| data.get(o..end));
    let u16_at = |o: usize| bytes(o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| bytes(o, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| {
        bytes(o, 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    let entry = u64_at(24).ok_or(bad("truncated header"))?;
    let phoff = u64_at(32).ok_or(bad("truncated header"))? as usize;
    let phentsize = usize::from(u16_at(54).ok_or(bad("truncated header"))?);
    let phnum = usize::from(u16_at(56).ok_or(bad("truncated header"))?);
    if phentsize < 56 {
        return Err(bad("program header entries too small"));
    }
    let mut best: Option<(u64, usize, usize)> = None;
    for i in 0..phnum {
        let o = phoff
            .checked_add(
                i.checked_mul(phentsize)
                    .ok_or(bad("program headers overflow"))?,
            )
            .ok_or(bad("program headers overflow"))?;
        let field = |off: usize| o.checked_add(off).ok_or(bad("program headers overflow"));
        let kind = u32_at(o).ok_or(bad("truncated program headers"))?;
        if kind != 1 {
            continue; // not PT_LOAD
        }
        let offset = u64_at(field(8)?).ok_or(bad("truncated program headers"))? as usize;
        let paddr = u64_at(field(24)?).ok_or(bad("truncated program headers"))?;
        let filesz = u64_at(field(32)?).ok_or(bad("truncated program headers"))? as usize;
        if best.is_none_or(|(p, _, _)| paddr < p) {
            best = Some((paddr, offset, filesz));
        }
    }
    let (lowest_paddr, offset, filesz) = best.ok_or(bad("no PT_LOAD segment"))?;
    let end = offset
        .checked_add(filesz)
        .ok_or(bad("segment beyond the file"))?;
    let first_bytes = data
        .get(offset..end)
        .ok_or(bad("segment beyond the file"))?
        .to_vec();
    Ok(Loadable {
        entry,
        lowest_paddr,
        first_bytes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 with one PT_LOAD segment at `paddr` holding `code`.
    pub(crate) fn tiny_elf(paddr: u64, code: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 64 + 56];
        d[0..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[24..32].copy_from_slice(&paddr.to_le_bytes());
        d[32..40].copy_from_slice(&64u64.to_le_bytes());
        d[54..56].copy_from_slice(&56u16.to_le_bytes());
        d[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        d[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        d[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        d[ph + 16..ph + 24].copy_from_slice(&paddr.to_le_bytes());
        d[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
        d[ph + 32..ph + 40].copy_from_slice(&(code.len() as u64).to_le_bytes());
        d.extend_from_slice(code);
        d
    }

    #[test]
    fn finds_the_load_address() {
        let e = tiny_elf(0x1000_0000, b"code");
        let l = parse(Path::new("x"), &e).unwrap();
        assert_eq!(l.entry, 0x1000_0000);
        assert_eq!(l.lowest_paddr, 0x1000_0000);
        assert_eq!(l.first_bytes, b"code");
    }

    #[test]
    fn rejects_truncated_and_foreign_files() {
        let e = tiny_elf(0x1000_0000, b"code");
        for n in [0, 10, 63, 64, 100, 121] {
            assert!(parse(Path::new("x"), &e[..n]).is_err(), "{n} bytes");
        }
        let mut be = e.clone();
        be[5] = 2;
        assert!(parse(Path::new("x"), &be).is_err());
        let mut huge = e.clone();
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(Path::new("x"), &huge).is_err());
        // Any single corrupted byte: an error or a result, never a panic.
        for i in 0..e.len() {
            for v in [0x00, 0x7f, 0x80, 0xff] {
                let mut m = e.clone();
                m[i] = v;
                let _ = parse(Path::new("x"), &m);
            }
        }
    }
}
