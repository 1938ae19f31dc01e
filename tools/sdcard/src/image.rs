//! Assembles the SD-card image: MBR + one FAT32 partition filled with mtools.

use crate::debian::BootFiles;
use crate::error::{io, Error, Result};
use crate::host::{self, MCOPY, MKFS_VFAT, MKIMAGE};
use crate::loader::LoadAddr;
use crate::mbr::{self, Partition, SECTOR, TYPE_FAT32_LBA};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Firmware configuration template (boards/rpi4b/sdcard/config.txt).
pub const CONFIG_TXT: &str = include_str!("../../../boards/rpi4b/sdcard/config.txt");
/// U-Boot boot script template (boards/rpi4b/sdcard/boot.cmd).
pub const BOOT_CMD: &str = include_str!("../../../boards/rpi4b/sdcard/boot.cmd");

/// First sector of the boot partition (1 MiB, the usual alignment for SD cards).
pub const PART_START: u32 = 2048;
/// Smallest image in MiB (FAT32 needs at least 65525 clusters).
pub const MIN_MIB: u64 = 64;
/// Volume label of the boot partition.
pub const LABEL: &str = "VETTEDBOOT";
/// Name of the Microkit image on the partition.
pub const IMAGE_NAME: &str = "loader.img";
/// MBR disk signature and FAT volume id ("vett").
pub const DISK_ID: u32 = 0x7665_7474;

/// 1980-01-01, the earliest time FAT can store.
const FAT_EPOCH: u64 = 315_532_800;

/// What to put in the image.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The Pi firmware, U-Boot and device tree.
    pub boot: &'a BootFiles,
    /// The Microkit loader image.
    pub loader: &'a Path,
    /// Where U-Boot loads it.
    pub load: &'a LoadAddr,
    /// Microkit board name (recorded in VERSIONS.txt and the boot message).
    pub board: &'a str,
    /// Image size in MiB; by default the smallest power of two (≥ 64) that fits.
    pub size_mib: Option<u64>,
}

/// What was built.
#[derive(Debug, Clone)]
pub struct Built {
    /// Image size in bytes.
    pub size: u64,
    /// Files on the boot partition, in copy order.
    pub files: Vec<String>,
}

/// The boot script source for an image at `addr`.
pub fn boot_script(addr: u64, board: &str) -> String {
    BOOT_CMD
        .replace("@LOAD_ADDR@", &format!("{addr:#x}"))
        .replace("@IMAGE@", IMAGE_NAME)
        .replace("@BOARD@", board)
}

/// Builds the image at `out` (written to `out.tmp`, then renamed; on failure neither the
/// temporary image nor the staging directory `out.parts` is left behind, and an existing
/// `out` is untouched).
pub fn build(spec: &Spec<'_>, out: &Path) -> Result<Built> {
    let result = build_inner(spec, out);
    if result.is_err() {
        let _ = fs::remove_file(with_suffix(out, ".tmp"));
        let _ = fs::remove_dir_all(with_suffix(out, ".parts"));
    }
    result
}

fn build_inner(spec: &Spec<'_>, out: &Path) -> Result<Built> {
    let mkfs = host::find(MKFS_VFAT)?;
    let mcopy = host::find(MCOPY)?;
    let mkimage = host::find(MKIMAGE)?;

    let stage = with_suffix(out, ".parts");
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(io("cannot clear", &stage))?;
    }
    fs::create_dir_all(&stage).map_err(io("cannot create", &stage))?;
    let put = |name: &str, text: &str| -> Result<PathBuf> {
        let p = stage.join(name);
        fs::write(&p, text).map_err(io("cannot write", &p))?;
        Ok(p)
    };

    // Reproducible images: file and label times from SOURCE_DATE_EPOCH (mkimage, mtools); when unset, the loader image's modification time.
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v,
        _ => fs::metadata(spec.loader)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs().max(FAT_EPOCH).to_string())
            .unwrap_or_else(|| FAT_EPOCH.to_string()),
    };

    let config = put("config.txt", CONFIG_TXT)?;
    let cmd = put("boot.cmd", &boot_script(spec.load.addr, spec.board))?;
    let scr = stage.join("boot.scr");
    host::run(
        Command::new(mkimage)
            .env("SOURCE_DATE_EPOCH", &epoch)
            .args(["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none"])
            .args(["-n", "vetted microkit boot", "-d"])
            .arg(&cmd)
            .arg(&scr),
    )?;
    let mut versions = format!(
        "vetted Raspberry Pi 4 boot partition\nboard: {}\nloader image: {} at {:#x}\n\
         Debian bookworm packages:\n",
        spec.board, IMAGE_NAME, spec.load.addr
    );
    for v in &spec.boot.versions {
        versions.push_str(&format!("  {v}\n"));
    }
    let versions = put("VERSIONS.txt", &versions)?;

    let mut files: Vec<(String, PathBuf)> = spec.boot.files.clone();
    files.push(("config.txt".into(), config));
    files.push(("boot.scr".into(), scr));
    files.push((IMAGE_NAME.into(), spec.loader.to_path_buf()));
    files.push(("VERSIONS.txt".into(), versions));

    let mut payload = 0u64;
    for (_, p) in &files {
        payload += fs::metadata(p).map_err(io("cannot read", p))?.len();
    }
    let needed_mib = 1 + (payload + payload / 8) / (1 << 20) + 8;
    let size_mib = match spec.size_mib {
        Some(s) if s < needed_mib.max(MIN_MIB) => {
            return Err(Error::Usage(format!(
                "--size-mib {s} is too small: the files need at least {} MiB",
                needed_mib.max(MIN_MIB)
            )))
        }
        Some(s) => s,
        // A power of two: QEMU's SD card model insists on it, real cards do not care.
        None => needed_mib.max(MIN_MIB).next_power_of_two(),
    };
    let size = size_mib << 20;
    let sectors = u32::try_from(size / SECTOR - u64::from(PART_START))
        .map_err(|_| Error::Usage("image larger than an MBR can address".into()))?;

    let tmp = with_suffix(out, ".tmp");
    {
        let mut f = fs::File::create(&tmp).map_err(io("cannot create", &tmp))?;
        f.set_len(size).map_err(io("cannot size", &tmp))?;
        let table = mbr::build(
            &[Partition {
                bootable: true,
                kind: TYPE_FAT32_LBA,
                start_lba: PART_START,
                sectors,
            }],
            DISK_ID,
        )?;
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&table))
            .map_err(io("cannot write the partition table to", &tmp))?;
    }
    host::run(
        Command::new(mkfs)
            // --invariant: fixed label time (mkfs.fat ignores SOURCE_DATE_EPOCH); the
            // volume id is still the one given with -i.
            .arg("--invariant")
            .args(["-F", "32", "-n", LABEL, "-i", &format!("{DISK_ID:08x}")])
            .arg(format!("-h{PART_START}"))
            .arg(format!("--offset={PART_START}"))
            .arg(&tmp)
            .arg((u64::from(sectors) * SECTOR / 1024).to_string()),
    )?;
    let target = format!("{}@@{}", tmp.display(), u64::from(PART_START) * SECTOR);
    for (name, src) in &files {
        host::run(
            mtools(&mcopy)
                .env("SOURCE_DATE_EPOCH", &epoch)
                .args(["-i", &target, "-o"])
                .arg(src)
                .arg(format!("::/{name}")),
        )?;
    }
    fs::rename(&tmp, out).map_err(io("cannot rename the image to", out))?;
    fs::remove_dir_all(&stage).map_err(io("cannot remove", &stage))?;
    Ok(Built {
        size,
        files: files.into_iter().map(|(n, _)| n).collect(),
    })
}

/// An mtools command that ignores the user's mtools configuration and geometry checks.
pub fn mtools(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("MTOOLS_SKIP_CHECK", "1")
        .env("MTOOLSRC", "/dev/null")
        .env("LC_ALL", "C");
    c
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_has_the_address_and_no_placeholders() {
        let s = boot_script(0x1000_0000, "rpi4b_2gb");
        assert!(s.contains("fatload ${devtype} ${devnum}:${distro_bootpart} 0x10000000 loader.img"));
        assert!(s.contains("go 0x10000000"));
        assert!(!s.contains('@'), "{s}");
    }

    #[test]
    fn config_boots_u_boot_in_64_bit_with_the_uart() {
        for line in ["arm_64bit=1", "enable_uart=1", "kernel=u-boot.bin"] {
            assert!(CONFIG_TXT.lines().any(|l| l.trim() == line), "{line}");
        }
    }
}
