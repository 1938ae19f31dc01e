//! QEMU `virt` (aarch64): board facts as data, and its drivers.
//!
//! * [`facts`]: addresses, sizes and interrupts of the machine, checked against the
//!   device tree QEMU 10 generates (`-M virt,dumpdtb=...`).
//! * [`hal`]: register-block and DMA-memory abstractions (shared with `board-rpi4b`).
//! * [`virtio_net`]: the virtio-net driver over virtio-mmio, a smoltcp `phy::Device`.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod facts;
pub mod hal;
pub mod virtio_net;
