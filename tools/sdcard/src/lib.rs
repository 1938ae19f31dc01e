//! `vetted-sdcard`: a bootable Raspberry Pi 4 SD-card image around a Microkit loader image.
//!
//! The image has an MBR with one FAT32 partition holding the Pi firmware (`start4.elf`,
//! `fixup4.dat`), the Pi 4 device tree, Debian's U-Boot (`rpi_arm64`), `config.txt` (firmware
//! starts U-Boot in AArch64), `boot.scr` (U-Boot loads `loader.img` to the loader's link address
//! and jumps to it) and the Microkit loader image. The Pi files come from Debian bookworm's arm64
//! packages, fetched at run time into a cache with a private apt configuration.
//! See `boards/rpi4b/SDCARD.md`.

#![deny(unsafe_code)]

pub mod debian;
pub mod elf;
pub mod error;
pub mod host;
pub mod image;
pub mod loader;
pub mod mbr;

pub use error::{Error, Result};

use std::path::{Path, PathBuf};

/// Everything `vetted-sdcard` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Microkit loader image (raw binary from `microkit ... -o loader.img`).
    pub loader: PathBuf,
    /// Microkit board: rpi4b_1gb, rpi4b_2gb, rpi4b_4gb or rpi4b_8gb.
    pub board: String,
    /// The SD-card image to write.
    pub out: PathBuf,
    /// Cache for the Debian packages.
    pub cache: PathBuf,
    /// The Microkit SDK, to check the loader image and find its load address.
    pub sdk: Option<PathBuf>,
    /// Load address given by the user (skips the SDK check).
    pub load_addr: Option<u64>,
    /// Image size in MiB.
    pub size_mib: Option<u64>,
    /// Use only the cache, never the network.
    pub offline: bool,
}

/// The default package cache: `$XDG_CACHE_HOME/vetted-sdcard` or `~/.cache/vetted-sdcard`.
pub fn default_cache() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("vetted-sdcard");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".cache/vetted-sdcard");
    }
    PathBuf::from(".vetted-sdcard-cache")
}

/// What [`build`] produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// The load address used and where it came from.
    pub load: loader::LoadAddr,
    /// The image.
    pub image: image::Built,
    /// Debian package versions used.
    pub versions: Vec<String>,
}

/// Builds the SD-card image; `log` receives progress lines.
pub fn build(opts: &Options, log: &mut dyn FnMut(&str)) -> Result<Report> {
    loader::board_ram_gib(&opts.board)?;
    let data = std::fs::read(&opts.loader).map_err(error::io("cannot read", &opts.loader))?;
    let load = loader::load_addr(&data, &opts.board, opts.sdk.as_deref(), opts.load_addr)?;
    // Check the host tools before a long download.
    for t in [
        host::MKFS_VFAT,
        host::MCOPY,
        host::MKIMAGE,
        host::DPKG_DEB,
        host::TAR,
    ] {
        host::find(t)?;
    }
    let boot = debian::boot_files(&opts.cache, opts.offline, log)?;
    let built = image::build(
        &image::Spec {
            boot: &boot,
            loader: &opts.loader,
            load: &load,
            board: &opts.board,
            size_mib: opts.size_mib,
        },
        &opts.out,
    )?;
    Ok(Report {
        load,
        image: built,
        versions: boot.versions,
    })
}

/// Byte offset of the boot partition, for mtools' `image@@offset` syntax.
pub fn partition_offset() -> u64 {
    u64::from(image::PART_START) * mbr::SECTOR
}

/// `image@@offset` for mtools' `-i`.
pub fn mtools_target(img: &Path) -> String {
    format!("{}@@{}", img.display(), partition_offset())
}
