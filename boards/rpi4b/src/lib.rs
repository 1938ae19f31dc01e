//! Raspberry Pi 4 Model B (BCM2711): board facts as data, and its drivers.
//!
//! * [`facts`]: addresses, interrupts and memory of the board, checked against Linux's
//!   `bcm2711.dtsi` / `bcm2711-rpi-4-b.dts`.
//! * [`hal`]: register-block and DMA-memory abstractions (the same source file as
//!   `board-qemu-virt-aarch64`'s).
//! * [`genet`]: the GENET v5 Ethernet driver, a smoltcp `phy::Device`. **Tested against a
//!   register-level model only, not yet on real hardware.**
//! * [`rng200`]: the hardware random number generator.
//! * [`systimer`]: the 1 MHz system timer (periodic work of PDs; the kernel keeps the ARM
//!   generic timer).
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod facts;
pub mod genet;
#[path = "../../qemu_virt_aarch64/src/hal.rs"]
pub mod hal;
pub mod rng200;
pub mod systimer;
