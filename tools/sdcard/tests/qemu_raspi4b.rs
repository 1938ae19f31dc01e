//! Boot test: an SD-card image around the Microkit SDK's `hello` example (rpi4b_2gb, debug),
//! booted in QEMU 10's `raspi4b` the way the board boots as far as QEMU allows.
//!
//! QEMU cannot run the VideoCore firmware (start4.elf + config.txt), so QEMU starts U-Boot
//! itself, with the u-boot.bin and device tree taken out of OUR image; U-Boot then finds boot.scr
//! on our FAT partition (QEMU's SD card), which fatloads loader.img and jumps to it. The serial
//! console must show our boot script's message, the Microkit monitor and the PD's output.
//!
//! Skips (with the reason) without MICROKIT_SDK, without QEMU's raspi4b, without the SDK's
//! cross compiler (for hello), or when the Debian packages cannot be fetched.
//! `VETTED_SDCARD_REQUIRE=1` turns skips into failures. `VETTED_SDCARD_LOADER=loader.img` boots
//! a given rpi4b_2gb debug image instead of hello (the markers are then only U-Boot's and the
//! monitor's, plus `VETTED_SDCARD_EXPECT`, lines separated by `|`). `VETTED_SDCARD_CACHE` sets
//! the package cache (default: ~/.cache/vetted-sdcard).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vetted_sdcard::{host, image, Error, Options};

const BOOT_TIMEOUT: Duration = Duration::from_secs(150);

fn skip(why: &str) {
    assert!(
        std::env::var_os("VETTED_SDCARD_REQUIRE").is_none(),
        "VETTED_SDCARD_REQUIRE is set but: {why}"
    );
    eprintln!("SKIPPED: raspi4b SD-card boot test: {why}");
}

fn qemu() -> Result<PathBuf, String> {
    let q = std::env::var_os("QEMU_SYSTEM_AARCH64")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-aarch64"));
    let out = Command::new(&q)
        .args(["-machine", "help"])
        .output()
        .map_err(|e| {
            format!(
                "{} not runnable ({e}); install qemu-system-arm from bookworm-backports (QEMU 10)",
                q.display()
            )
        })?;
    if !String::from_utf8_lossy(&out.stdout).contains("raspi4b") {
        return Err(format!(
            "{} has no raspi4b machine (needs QEMU >= 9; Debian bookworm-backports has 10)",
            q.display()
        ));
    }
    Ok(q)
}

/// Builds the SDK's hello example for rpi4b_2gb (debug) in `dir`; returns loader.img.
fn build_hello(sdk: &Path, dir: &Path) -> Result<PathBuf, String> {
    let src = sdk.join("example/hello");
    if !src.is_dir() {
        return Err(format!("{} missing", src.display()));
    }
    let hello = dir.join("hello");
    std::fs::create_dir_all(&hello).map_err(|e| e.to_string())?;
    for e in std::fs::read_dir(&src).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        if e.path().is_file() {
            std::fs::copy(e.path(), hello.join(e.file_name())).map_err(|e| e.to_string())?;
        }
    }
    let build = hello.join("build");
    std::fs::create_dir_all(&build).map_err(|e| e.to_string())?;
    let out = Command::new("make")
        .current_dir(&hello)
        .arg(format!("BUILD_DIR={}", build.display()))
        .arg(format!("MICROKIT_SDK={}", sdk.display()))
        .args(["MICROKIT_BOARD=rpi4b_2gb", "MICROKIT_CONFIG=debug"])
        .output()
        .map_err(|e| format!("make not runnable: {e}"))?;
    let img = build.join("loader.img");
    if !out.status.success() || !img.is_file() {
        return Err(format!(
            "building the SDK's hello example failed (is aarch64-none-elf-gcc on PATH? \
             `. /opt/microkit-sdk/env.sh`): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(img)
}

fn extract(img: &Path, name: &str, to: &Path) {
    let out = image::mtools(&host::find(host::MCOPY).unwrap())
        .arg("-i")
        .arg(vetted_sdcard::mtools_target(img))
        .arg(format!("::/{name}"))
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success(), "mcopy {name}: {out:?}");
}

#[test]
fn boots_microkit_from_our_sd_card_in_qemu_raspi4b() {
    let Some(sdk) = std::env::var_os("MICROKIT_SDK").filter(|v| !v.is_empty()) else {
        return skip("MICROKIT_SDK is not set");
    };
    let sdk = PathBuf::from(sdk);
    let qemu = match qemu() {
        Ok(q) => q,
        Err(why) => return skip(&why),
    };
    for t in [host::MKFS_VFAT, host::MCOPY, host::MKIMAGE, host::DPKG_DEB] {
        if let Err(e) = host::find(t) {
            return skip(&e.to_string());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (loader, expect_pd) = match std::env::var_os("VETTED_SDCARD_LOADER") {
        Some(l) => (PathBuf::from(l), None),
        None => match build_hello(&sdk, dir.path()) {
            Ok(l) => (l, Some("hello, world")),
            Err(why) => return skip(&why),
        },
    };
    let img = dir.path().join("sdcard.img");
    let opts = Options {
        loader,
        board: "rpi4b_2gb".into(),
        out: img.clone(),
        cache: std::env::var_os("VETTED_SDCARD_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(vetted_sdcard::default_cache),
        sdk: Some(sdk),
        load_addr: None,
        size_mib: None,
        offline: false,
    };
    match vetted_sdcard::build(&opts, &mut |m| eprintln!("{m}")) {
        Ok(r) => assert_eq!(r.load.addr, 0x1000_0000),
        Err(e @ Error::Fetch { .. }) => return skip(&e.to_string()),
        Err(e) => panic!("vetted-sdcard: {e}"),
    }

    // U-Boot and the device tree come out of our image: what the firmware would start.
    let uboot = dir.path().join("u-boot.bin");
    let dtb = dir.path().join("bcm2711-rpi-4-b.dtb");
    extract(&img, "u-boot.bin", &uboot);
    extract(&img, "bcm2711-rpi-4-b.dtb", &dtb);
    // U-Boot's banner goes to the PL011 (serial 0); once it has read the device tree, U-Boot,
    // the Microkit loader, seL4 and the PDs use the mini UART (serial 1), the Pi 4's console.
    let s0 = dir.path().join("serial0.log");
    let s1 = dir.path().join("serial1.log");
    let start = Instant::now();
    let mut child = Command::new(&qemu)
        .args([
            "-machine", "raspi4b", "-display", "none", "-monitor", "none",
        ])
        .arg("-serial")
        .arg(format!("file:{}", s0.display()))
        .arg("-serial")
        .arg(format!("file:{}", s1.display()))
        .arg("-kernel")
        .arg(&uboot)
        .arg("-dtb")
        .arg(&dtb)
        .arg("-drive")
        .arg(format!(
            "file={},if=sd,format=raw,snapshot=on",
            img.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu");

    let mut markers = vec![
        "Found U-Boot script /boot.scr",
        "vetted: loading loader.img (rpi4b_2gb) from mmc 0:1 to 0x10000000",
        "## Starting application at 0x10000000",
        "LDR|INFO: loader for seL4 starting",
        "MON|INFO: Microkit Monitor started!",
    ];
    markers.extend(expect_pd);
    let extra = std::env::var("VETTED_SDCARD_EXPECT").unwrap_or_default();
    markers.extend(extra.split('|').filter(|m| !m.is_empty()));
    // Lines that end the test at once: our script's failure, the monitor's faults.
    let fatal = [
        "vetted: could not read",
        "MON|ERROR",
        "Wrong image format",
        "Bad Linux ARM64 Image magic",
    ];
    let mut console = String::new();
    let mut exited = None;
    while start.elapsed() < BOOT_TIMEOUT {
        std::thread::sleep(Duration::from_millis(250));
        console = std::fs::read_to_string(&s0).unwrap_or_default()
            + &std::fs::read_to_string(&s1).unwrap_or_default();
        if markers.iter().all(|m| console.contains(m)) || fatal.iter().any(|f| console.contains(f))
        {
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            exited = Some(st);
            break;
        }
    }
    let elapsed = start.elapsed();
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for qemu");
    let fatal_seen: Vec<&&str> = fatal.iter().filter(|f| console.contains(*f)).collect();
    assert!(
        fatal_seen.is_empty(),
        "fatal lines {fatal_seen:?} on the console:\n{console}"
    );
    let missing: Vec<&&str> = markers.iter().filter(|m| !console.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "missing on the console after {elapsed:?} (qemu exited early: {exited:?}): {missing:?}\n\
         --- console ---\n{console}\n--- qemu stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Order: our script ran before the loader, the monitor before the PD.
    let at = |m: &str| console.find(m).unwrap();
    assert!(at(markers[1]) < at("LDR|INFO: loader for seL4 starting"));
    if let Some(pd) = expect_pd {
        assert!(at("MON|INFO: Microkit Monitor started!") < at(pd));
    }
    eprintln!("raspi4b: QEMU start to the last marker in {elapsed:.1?}");
}
