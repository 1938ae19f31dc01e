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
use std::path::PathBuf;
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
}
