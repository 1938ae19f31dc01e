//! The MBR (DOS) partition table: built and parsed here, no sfdisk needed.

use crate::error::{Error, Result};

/// Bytes in a sector.
pub const SECTOR: u64 = 512;
/// Partition type of FAT32 addressed by LBA, what the Pi firmware expects.
pub const TYPE_FAT32_LBA: u8 = 0x0c;

/// One primary partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Marked active (bootable).
    pub bootable: bool,
    /// Partition type byte.
    pub kind: u8,
    /// First sector.
    pub start_lba: u32,
    /// Number of sectors.
    pub sectors: u32,
}

/// CHS triple of an LBA with the usual 255 heads and 63 sectors per track; beyond cylinder 1023
/// the conventional "too big" value (1023, 254, 63) is used.
fn chs(lba: u32) -> [u8; 3] {
    const HEADS: u32 = 255;
    const SPT: u32 = 63;
    let c = lba / (HEADS * SPT);
    if c > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    let h = (lba / SPT) % HEADS;
    let s = lba % SPT + 1;
    // Byte 2 holds the sector in bits 0-5 and cylinder bits 8-9 in bits 6-7.
    [h as u8, (s as u8) | (((c >> 8) as u8) << 6), c as u8]
}

/// Builds a 512-byte MBR with up to four primary partitions.
pub fn build(partitions: &[Partition], disk_signature: u32) -> Result<[u8; 512]> {
    if partitions.len() > 4 {
        return Err(Error::Mbr("more than four primary partitions"));
    }
    let mut mbr = [0u8; 512];
    mbr[440..444].copy_from_slice(&disk_signature.to_le_bytes());
    for (i, p) in partitions.iter().enumerate() {
        if p.sectors == 0 || p.start_lba == 0 {
            return Err(Error::Mbr("empty partition or partition over the MBR"));
        }
        let last = p
            .start_lba
            .checked_add(p.sectors - 1)
            .ok_or(Error::Mbr("partition beyond 2 TiB"))?;
        let e = &mut mbr[446 + 16 * i..446 + 16 * (i + 1)];
        e[0] = if p.bootable { 0x80 } else { 0 };
        e[1..4].copy_from_slice(&chs(p.start_lba));
        e[4] = p.kind;
        e[5..8].copy_from_slice(&chs(last));
        e[8..12].copy_from_slice(&p.start_lba.to_le_bytes());
        e[12..16].copy_from_slice(&p.sectors.to_le_bytes());
    }
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    Ok(mbr)
}

/// Parses the partitions of an MBR (empty slots are skipped).
pub fn parse(sector: &[u8]) -> Result<Vec<Partition>> {
    if sector.len() < 512 {
        return Err(Error::Mbr("shorter than a sector"));
    }
    if sector[510..512] != [0x55, 0xaa] {
        return Err(Error::Mbr("no 0x55AA boot signature"));
    }
    let mut out = Vec::new();
    for i in 0..4 {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        let word = |o: usize| u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]);
        if e[4] == 0 {
            continue;
        }
        let flag = e[0];
        if flag != 0 && flag != 0x80 {
            return Err(Error::Mbr("invalid boot flag"));
        }
        out.push(Partition {
            bootable: flag == 0x80,
            kind: e[4],
            start_lba: word(8),
            sectors: word(12),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_of_known_sectors() {
        assert_eq!(chs(0), [0, 1, 0]);
        // 2048 = cylinder 0, head 32, sector 33 (what fdisk writes for a 1 MiB start).
        assert_eq!(chs(2048), [32, 33, 0]);
        // 16065 sectors per cylinder: LBA 16065 is cylinder 1, head 0, sector 1.
        assert_eq!(chs(16065), [0, 1, 1]);
        // cylinder 256 sets the high bits in byte 2.
        assert_eq!(chs(256 * 16065), [0, 0x41, 0]);
        assert_eq!(chs(u32::MAX), [0xfe, 0xff, 0xff]);
    }

    #[test]
    fn build_then_parse() {
        let p = Partition {
            bootable: true,
            kind: TYPE_FAT32_LBA,
            start_lba: 2048,
            sectors: 129024,
        };
        let mbr = build(&[p], 0x7665_7474).unwrap();
        assert_eq!(&mbr[446..450], &[0x80, 32, 33, 0]);
        assert_eq!(mbr[450], 0x0c);
        assert_eq!(&mbr[454..458], &2048u32.to_le_bytes());
        assert_eq!(parse(&mbr).unwrap(), vec![p]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(&[0u8; 512]).is_err());
        assert!(parse(&[0u8; 10]).is_err());
        let mut m = [0u8; 512];
        m[510] = 0x55;
        m[511] = 0xaa;
        m[446] = 0x12;
        m[450] = 0x0c;
        assert!(parse(&m).is_err());
        let p = Partition {
            bootable: false,
            kind: 0x0c,
            start_lba: u32::MAX,
            sectors: 2,
        };
        assert!(build(&[p], 0).is_err());
        assert!(build(&[p; 5], 0).is_err());
    }
}
