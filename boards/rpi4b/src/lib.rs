//! Raspberry Pi 4 Model B (BCM2711): board facts as data, and its drivers.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]
