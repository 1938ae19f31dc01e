//! For the seL4 target (`target_os = "none"`): the board/config facts a PD
//! needs, from data, and the PD linker script's search path.
//!
//! - `VETTED_SEL4_BOARD` (default `qemu_virt_aarch64`) and `VETTED_SEL4_CONFIG`
//!   (`debug` default, `release`, `benchmark`) name the Microkit board and
//!   config the PD is built for (`tools/vetted-image` sets them).
//! - The facts (IRQAckIRQ invocation label, user address-space top) come from
//!   `$MICROKIT_SDK/board/<board>/<config>/{invocations_all,address_space_constants}.json`
//!   when `MICROKIT_SDK` is set, else from `sel4/sdk-facts.txt` (the same
//!   values, extracted from SDK 2.3.0); both are read when both exist and must
//!   agree.
//! - `cfg(sel4_config_debug)` is set for the debug config: only debug kernels
//!   have `seL4_DebugPutChar`.
//! - `sel4/` is added to the link search path, so PD binaries link with
//!   `-C link-arg=-Tvetted-pd.ld` (`.cargo/config.toml`).
use std::path::{Path, PathBuf};
use std::{env, fs};

fn json_number(text: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let at = text.find(&pat)? + pat.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn main() {
    println!("cargo:rustc-check-cfg=cfg(sel4_config_debug)");
    println!("cargo:rerun-if-env-changed=VETTED_SEL4_BOARD");
    println!("cargo:rerun-if-env-changed=VETTED_SEL4_CONFIG");
    println!("cargo:rerun-if-env-changed=MICROKIT_SDK");
    println!("cargo:rerun-if-changed=sel4/sdk-facts.txt");
    println!("cargo:rerun-if-changed=sel4/vetted-pd.ld");
    // The wall-clock floor of PDs on boards without a real-time clock
    // (src/sel4/clock.rs): SOURCE_DATE_EPOCH for reproducible builds, else now.
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let epoch = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=VETTED_BUILD_EPOCH={epoch}");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let board = env::var("VETTED_SEL4_BOARD").unwrap_or_else(|_| "qemu_virt_aarch64".into());
    let config = env::var("VETTED_SEL4_CONFIG").unwrap_or_else(|_| "debug".into());

    let table = fs::read_to_string(manifest.join("sel4/sdk-facts.txt"))
        .expect("components/microkit/sel4/sdk-facts.txt");
    let from_table = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 4 && f[0] == board && f[1] == config)
        .map(|f| {
            let label: u64 = f[2].parse().expect("label in sdk-facts.txt");
            let top = u64::from_str_radix(f[3].trim_start_matches("0x"), 16)
                .expect("user top in sdk-facts.txt");
            (label, top)
        });
    let from_sdk = env::var("MICROKIT_SDK").ok().and_then(|sdk| {
        let dir = PathBuf::from(sdk).join("board").join(&board).join(&config);
        let inv = fs::read_to_string(dir.join("invocations_all.json")).ok()?;
        let asc = fs::read_to_string(dir.join("address_space_constants.json")).ok()?;
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("invocations_all.json").display()
        );
        Some((
            json_number(&inv, "IRQAckIRQ").expect("IRQAckIRQ in invocations_all.json"),
            json_number(&asc, "vspace_user_top").expect("vspace_user_top"),
        ))
    });
    let (irq_ack, user_top) = match (from_sdk, from_table) {
        (Some(s), Some(t)) if s != t => panic!(
            "MICROKIT_SDK's facts for {board}/{config} ({s:?}) differ from sel4/sdk-facts.txt ({t:?}): update the table"
        ),
        (Some(s), _) => s,
        (None, Some(t)) => t,
        (None, None) => panic!(
            "unknown Microkit board/config {board}/{config} (VETTED_SEL4_BOARD/VETTED_SEL4_CONFIG): \
             not in sel4/sdk-facts.txt and not found in MICROKIT_SDK"
        ),
    };
    if config == "debug" {
        println!("cargo:rustc-cfg=sel4_config_debug");
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets this"));
    fs::write(
        out.join("sel4_facts.rs"),
        format!(
            "/// Microkit board this PD was built for.\n\
             pub(crate) const BOARD: &str = {board:?};\n\
             /// Microkit config this PD was built for.\n\
             pub(crate) const CONFIG: &str = {config:?};\n\
             /// `IRQAckIRQ` invocation label of that kernel.\n\
             pub(crate) const IRQ_ACK_LABEL: u64 = {irq_ack};\n\
             /// Highest user virtual address (`vspace_user_top`).\n\
             pub(crate) const VSPACE_USER_TOP: u64 = {user_top:#x};\n"
        ),
    )
    .expect("write sel4_facts.rs");
    println!(
        "cargo:rustc-link-search={}",
        manifest.join("sel4").display()
    );
    ring_asm(&manifest, &out);
}

/// ring 0.17 has no assembly for `target_os = "none"` (its build script
/// only assembles for Linux-like, Apple and Windows targets), yet its
/// AArch64 Rust code calls the assembly routines (SHA-2, P-256,
/// Montgomery multiplication, AES, GHASH, ChaCha20): a PD using ring does
/// not link for `aarch64-unknown-none`. The AArch64 ELF assembly that ring
/// ships (`pregenerated/*-linux64.S`) has the very ABI of this target, so it
/// is assembled here, from the ring crate of the workspace's `Cargo.lock`
/// found in cargo's registry, with the symbol-prefix header ring's build
/// script would write (renames and prefixed names read from that script).
/// The archive only adds code to PDs that reference it. Skipped, with a
/// warning, when ring's sources are not found (e.g. vendored elsewhere).
fn ring_asm(manifest: &Path, out: &Path) {
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("aarch64") {
        return;
    }
    let lock = manifest.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let Some(version) = fs::read_to_string(&lock).ok().and_then(|t| {
        let pat = "name = \"ring\"\nversion = \"";
        let at = t.find(pat)? + pat.len();
        Some(t[at..].split('"').next()?.to_string())
    }) else {
        return; // no ring in the workspace
    };
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let ring = home.and_then(|h| {
        fs::read_dir(h.join("registry/src"))
            .ok()?
            .flatten()
            .map(|e| e.path().join(format!("ring-{version}")))
            .find(|p| p.join("pregenerated").is_dir())
    });
    let Some(ring) = ring else {
        println!(
            "cargo:warning=ring {version} sources not found in cargo's registry: PDs using ring will not link for seL4"
        );
        return;
    };
    let script = fs::read_to_string(ring.join("build.rs")).expect("ring's build.rs");
    let links = fs::read_to_string(ring.join("Cargo.toml"))
        .ok()
        .and_then(|t| {
            Some(
                t[t.find("links = \"")? + 9..]
                    .split('"')
                    .next()?
                    .to_string(),
            )
        })
        .expect("ring's links key");
    let prefix = format!("{links}_");
    let block = |start: &str| -> String {
        let a = script.find(start).expect("ring build.rs symbol list");
        let b = a + script[a..].find("];").expect("end of list");
        script[a..b].to_string()
    };
    let quoted = |text: &str| -> Vec<String> {
        text.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut header = String::from("#ifndef VETTED_RING_PREFIX\n#define VETTED_RING_PREFIX\n");
    for pair in quoted(&block("static SYMBOLS_TO_RENAME")).chunks(2) {
        header += &format!("#define {} {prefix}{}\n", pair[0], pair[1]);
    }
    for sym in quoted(&block("static SYMBOLS_TO_PREFIX")) {
        header += &format!("#define {sym} {prefix}{sym}\n");
    }
    header += "#endif\n";
    let inc = out.join("ring-asm-include");
    fs::create_dir_all(inc.join("ring_core_generated")).expect("mkdir");
    fs::write(inc.join("ring_core_generated/prefix_symbols_asm.h"), header).expect("header");
    let mut build = cc::Build::new();
    build.include(&inc).include(ring.join("include"));
    let mut n = 0;
    for e in fs::read_dir(ring.join("pregenerated"))
        .expect("pregenerated")
        .flatten()
    {
        if e.file_name().to_string_lossy().ends_with("-linux64.S") {
            build.file(e.path());
            n += 1;
        }
    }
    if n > 0 {
        build.compile("vetted_ring_asm");
    }
}
