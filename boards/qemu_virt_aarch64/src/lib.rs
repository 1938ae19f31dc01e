//! QEMU `virt` (aarch64): board facts as data, and its drivers.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]
