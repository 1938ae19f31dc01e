//! Image layout without QEMU or network: synthetic boot files and loader, then the partition
//! table, the FAT file system (fsck.fat), the file list (mdir) and every file's bytes (mcopy)
//! are checked. Needs dosfstools, mtools and u-boot-tools; skips with a message without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use vetted_sdcard::debian::BootFiles;
use vetted_sdcard::host::{self, Tool};
use vetted_sdcard::image::{self, Spec};
use vetted_sdcard::loader::{AddrSource, LoadAddr};
use vetted_sdcard::mbr;

const FSCK: Tool = Tool {
    name: "fsck.fat",
    package: "dosfstools",
};
const MDIR: Tool = Tool {
    name: "mdir",
    package: "mtools",
};

fn tools() -> Option<()> {
    for t in [host::MKFS_VFAT, host::MCOPY, host::MKIMAGE, MDIR, FSCK] {
        if let Err(e) = host::find(t) {
            assert!(
                std::env::var_os("VETTED_SDCARD_REQUIRE").is_none(),
                "VETTED_SDCARD_REQUIRE set but: {e}"
            );
            eprintln!("SKIPPED: image layout test: {e}");
            return None;
        }
    }
    Some(())
}

/// A file of `len` bytes with a pattern depending on `seed`.
fn fake(dir: &Path, name: &str, len: usize, seed: u8) -> PathBuf {
    let p = dir.join(name);
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    std::fs::write(&p, data).unwrap();
    p
}

fn mcopy_out(img: &Path, name: &str) -> Vec<u8> {
    let out = image::mtools(&host::find(host::MCOPY).unwrap())
        .arg("-i")
        .arg(vetted_sdcard::mtools_target(img))
        .arg(format!("::/{name}"))
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "mcopy {name}: {out:?}");
    out.stdout
}

#[test]
fn image_layout() {
    if tools().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = vec![
        ("start4.elf".to_string(), fake(d, "s4", 2_249_280, 1)),
        ("fixup4.dat".to_string(), fake(d, "f4", 5_399, 2)),
        (
            "LICENCE.raspi-firmware.txt".to_string(),
            fake(d, "lic", 300, 3),
        ),
        ("bcm2711-rpi-4-b.dtb".to_string(), fake(d, "dtb", 27_386, 4)),
        ("u-boot.bin".to_string(), fake(d, "ub", 602_504, 5)),
    ];
    let boot = BootFiles {
        files: files.clone(),
        versions: vec!["raspi-firmware 1 (all)".into()],
    };
    let loader = fake(d, "loader.img", 3_000_001, 6);
    let load = LoadAddr {
        addr: 0x1000_0000,
        source: AddrSource::BoardDefault,
    };
    let img = d.join("sd.img");
    let built = image::build(
        &Spec {
            boot: &boot,
            loader: &loader,
            load: &load,
            board: "rpi4b_4gb",
            size_mib: None,
        },
        &img,
    )
    .unwrap();

    // Reproducible: the same inputs give the same bytes, even seconds later (FAT stores times
    // in 2-second steps; the label, file and boot.scr times come from the loader's mtime).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let img2 = d.join("sd2.img");
    image::build(
        &Spec {
            boot: &boot,
            loader: &loader,
            load: &load,
            board: "rpi4b_4gb",
            size_mib: None,
        },
        &img2,
    )
    .unwrap();
    assert!(
        std::fs::read(&img2).unwrap() == std::fs::read(&img).unwrap(),
        "not reproducible"
    );

    // Size: 64 MiB (a power of two, what QEMU's SD model needs), nothing left behind.
    let raw = std::fs::read(&img).unwrap();
    assert_eq!(raw.len() as u64, 64 << 20);
    assert_eq!(built.size, 64 << 20);
    assert!(!d.join("sd.img.tmp").exists() && !d.join("sd.img.parts").exists());

    // MBR: read the bytes directly (not only through our own parser).
    assert_eq!(&raw[510..512], &[0x55, 0xaa]);
    let e = &raw[446..462];
    assert_eq!(e[0], 0x80, "bootable");
    assert_eq!(e[4], 0x0c, "FAT32 LBA");
    assert_eq!(u32::from_le_bytes(e[8..12].try_into().unwrap()), 2048);
    assert_eq!(
        u32::from_le_bytes(e[12..16].try_into().unwrap()),
        (64 << 11) - 2048
    );
    assert!(raw[462..510].iter().all(|&b| b == 0), "one partition only");
    assert_eq!(mbr::parse(&raw[..512]).unwrap().len(), 1);

    // FAT32 boot sector at 1 MiB with the partition offset as hidden sectors.
    let bs = &raw[1 << 20..(1 << 20) + 512];
    assert_eq!(&bs[82..90], b"FAT32   ");
    assert_eq!(u32::from_le_bytes(bs[28..32].try_into().unwrap()), 2048);
    assert_eq!(&bs[510..512], &[0x55, 0xaa]);
    // The file system fills the partition exactly (BPB total sectors = partition sectors).
    assert_eq!(
        u32::from_le_bytes(bs[32..36].try_into().unwrap()),
        (64 << 11) - 2048
    );

    // The partition is a clean FAT file system.
    let part = d.join("part.img");
    std::fs::write(&part, &raw[1 << 20..]).unwrap();
    let fsck = Command::new(host::find(FSCK).unwrap())
        .arg("-n")
        .arg(&part)
        .output()
        .unwrap();
    assert!(fsck.status.success(), "fsck.fat: {fsck:?}");

    // Exactly the expected files.
    let out = image::mtools(&host::find(MDIR).unwrap())
        .args(["-b", "-i"])
        .arg(vetted_sdcard::mtools_target(&img))
        .arg("::/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_start_matches("::/").to_string())
        .collect();
    listed.sort();
    let mut want: Vec<String> = [
        "start4.elf",
        "fixup4.dat",
        "LICENCE.raspi-firmware.txt",
        "bcm2711-rpi-4-b.dtb",
        "u-boot.bin",
        "config.txt",
        "boot.scr",
        "loader.img",
        "VERSIONS.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(listed, want);

    // Byte-exact copies of the inputs.
    for (name, src) in &files {
        assert_eq!(mcopy_out(&img, name), std::fs::read(src).unwrap(), "{name}");
    }
    assert_eq!(
        mcopy_out(&img, "loader.img"),
        std::fs::read(&loader).unwrap()
    );
    assert_eq!(
        String::from_utf8(mcopy_out(&img, "config.txt")).unwrap(),
        image::CONFIG_TXT
    );
    let versions = String::from_utf8(mcopy_out(&img, "VERSIONS.txt")).unwrap();
    assert!(versions.contains("board: rpi4b_4gb"), "{versions}");

    // boot.scr is a U-Boot legacy script image whose payload is our script.
    let scr = mcopy_out(&img, "boot.scr");
    assert_eq!(&scr[0..4], &[0x27, 0x05, 0x19, 0x56], "uImage magic");
    assert_eq!(scr[30], 6, "IH_TYPE_SCRIPT");
    assert_eq!(scr[29], 22, "IH_ARCH_ARM64");
    let text = String::from_utf8_lossy(&scr[64..]);
    assert!(
        text.contains("fatload ${devtype} ${devnum}:${distro_bootpart} 0x10000000 loader.img"),
        "{text}"
    );
    assert!(text.contains("go 0x10000000"), "{text}");
    let scr_path = d.join("boot.scr");
    std::fs::write(&scr_path, &scr).unwrap();
    let listing = Command::new(host::find(host::MKIMAGE).unwrap())
        .arg("-l")
        .arg(&scr_path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("Script"),
        "{listing:?}"
    );
}

#[test]
fn too_small_a_size_is_refused() {
    if tools().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let boot = BootFiles {
        files: vec![],
        versions: vec![],
    };
    let loader = fake(dir.path(), "loader.img", 100, 0);
    let load = LoadAddr {
        addr: 0x1000_0000,
        source: AddrSource::Given,
    };
    let out = dir.path().join("x.img");
    std::fs::write(&out, b"previous image").unwrap();
    let e = image::build(
        &Spec {
            boot: &boot,
            loader: &loader,
            load: &load,
            board: "rpi4b_1gb",
            size_mib: Some(16),
        },
        &out,
    )
    .unwrap_err();
    assert!(e.to_string().contains("too small"), "{e}");
    // Nothing half-made is left, the previous image is untouched.
    assert_eq!(std::fs::read(&out).unwrap(), b"previous image");
    assert!(!dir.path().join("x.img.parts").exists());
    assert!(!dir.path().join("x.img.tmp").exists());
}
