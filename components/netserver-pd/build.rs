//! Chooses the seL4 platform of the netserver from the Microkit board the PD
//! is built for: `VETTED_SEL4_BOARD` (set by tools/vetted-image.sh) naming
//! an `rpi4b_*` board gives `cfg(vetted_board = "rpi4b")` (GENET, system
//! timer, RNG200: `src/pd/rpi4b.rs`); anything else, or unset, the QEMU
//! `virt` platform (`src/pd/sel4.rs`).
fn main() {
    println!("cargo:rerun-if-env-changed=VETTED_SEL4_BOARD");
    println!("cargo:rustc-check-cfg=cfg(vetted_board, values(\"rpi4b\"))");
    let board = std::env::var("VETTED_SEL4_BOARD").unwrap_or_default();
    if board.starts_with("rpi4b") {
        println!("cargo:rustc-cfg=vetted_board=\"rpi4b\"");
    }
}
