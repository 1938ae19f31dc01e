//! Register and DMA access shared by the board drivers.
//!
//! This one file is compiled into both board crates (`board-rpi4b` includes it with
//! `#[path]`), so the two drivers use the same abstractions without a third crate.
//!
//! * [`RegisterBlock`]: a block of 32-bit device registers. [`Mmio`] is the volatile
//!   implementation for real hardware; tests implement the trait with device models.
//! * [`DmaMemory`]: memory the device reads and writes by DMA, known by the address the
//!   device sees. [`SliceDma`] wraps an ordinary byte slice (host tests); [`RawDma`] wraps
//!   a mapped region on seL4.
//!
//! Drivers only touch DMA memory through bounds-checked copies ([`DmaMemory::read`] and
//! [`DmaMemory::write`]): a frame or ring entry is copied out once, then checked, so a
//! device that changes memory after the check cannot change what the driver acts on.
//!
//! # Requirement on seL4
//! The Microkit memory region that backs a [`RawDma`] must either be mapped **uncached**
//! (`cached="false"` in the system file), or the implementation of
//! [`DmaMemory::sync_for_device`] / [`DmaMemory::sync_for_cpu`] must clean / invalidate
//! the data cache over the range. [`RawDma`] does the former: its hooks only issue the
//! memory barriers that order CPU accesses against the device. QEMU's virtio devices are
//! cache-coherent, the BCM2711's GENET is not.
#![allow(unsafe_code)]

use core::fmt;

/// A block of 32-bit device registers, addressed by byte offset from its base.
pub trait RegisterBlock {
    /// Reads the register at `offset` (a multiple of 4).
    fn read32(&self, offset: usize) -> u32;
    /// Writes `value` to the register at `offset` (a multiple of 4).
    fn write32(&mut self, offset: usize, value: u32);
}

impl<R: RegisterBlock + ?Sized> RegisterBlock for &mut R {
    fn read32(&self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Volatile access to memory-mapped device registers.
///
/// Offsets outside the block or not 4-byte aligned are not accessed: reads give
/// `0xffff_ffff` (what a bus returns for an absent device), writes are dropped.
#[derive(Debug)]
pub struct Mmio {
    base: *mut u32,
    len: usize,
}

impl Mmio {
    /// Wraps the register block mapped at virtual address `base`, `len` bytes long.
    ///
    /// # Safety
    /// `base..base + len` must be mapped as device memory (on seL4: a Microkit memory
    /// region mapped uncached onto the device's physical address) for as long as the value
    /// lives, and nothing else may access these registers meanwhile.
    pub unsafe fn new(base: usize, len: usize) -> Self {
        Self {
            base: base as *mut u32,
            len,
        }
    }

    fn in_range(&self, offset: usize) -> bool {
        offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len)
    }
}

impl RegisterBlock for Mmio {
    fn read32(&self, offset: usize) -> u32 {
        if !self.in_range(offset) {
            return u32::MAX;
        }
        // SAFETY: `offset` is aligned and inside the block that `Mmio::new`'s caller
        // promised is mapped device memory; a volatile read is what the device expects
        // (no merging, no elision).
        let value = unsafe { self.base.add(offset / 4).read_volatile() };
        // Order this read before later reads of DMA memory it may announce.
        barrier();
        value
    }

    fn write32(&mut self, offset: usize, value: u32) {
        if !self.in_range(offset) {
            return;
        }
        // Make earlier writes to DMA memory visible to the device before the register
        // write (a doorbell or producer index) that tells it to look.
        barrier();
        // SAFETY: as in `read32`; `&mut self` gives exclusive use of the block.
        unsafe { self.base.add(offset / 4).write_volatile(value) }
    }
}

/// Orders CPU memory accesses against device accesses (outer shareable domain).
#[inline(always)]
fn barrier() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dmb osh` only orders memory accesses; it reads or writes no memory and
    // touches no register or flag.
    unsafe {
        core::arch::asm!("dmb osh", options(nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "aarch64"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

/// An access outside a DMA region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaOutOfBounds {
    /// Byte offset of the access.
    pub offset: usize,
    /// Length of the access.
    pub len: usize,
    /// Size of the region.
    pub size: usize,
}

impl fmt::Display for DmaOutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DMA access of {} bytes at offset {} outside a region of {} bytes",
            self.len, self.offset, self.size
        )
    }
}

/// Memory shared with a device by DMA.
pub trait DmaMemory {
    /// Size of the region in bytes.
    fn size(&self) -> usize;
    /// The address at which the device sees the first byte of the region.
    fn device_address(&self) -> u64;
    /// Copies `dst.len()` bytes at `offset` into `dst`.
    fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), DmaOutOfBounds>;
    /// Copies `src` into the region at `offset`.
    fn write(&mut self, offset: usize, src: &[u8]) -> Result<(), DmaOutOfBounds>;
    /// Called after the CPU wrote `offset..offset + len` and before the device reads it
    /// (clean the data cache over the range if the mapping is cached).
    fn sync_for_device(&mut self, _offset: usize, _len: usize) {}
    /// Called after the device wrote `offset..offset + len` and before the CPU reads it
    /// (invalidate the data cache over the range if the mapping is cached).
    fn sync_for_cpu(&mut self, _offset: usize, _len: usize) {}

    /// Reads a little-endian `u16` at `offset`.
    fn read_u16(&self, offset: usize) -> Result<u16, DmaOutOfBounds> {
        let mut b = [0; 2];
        self.read(offset, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    /// Reads a little-endian `u32` at `offset`.
    fn read_u32(&self, offset: usize) -> Result<u32, DmaOutOfBounds> {
        let mut b = [0; 4];
        self.read(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Writes a little-endian `u16` at `offset`.
    fn write_u16(&mut self, offset: usize, v: u16) -> Result<(), DmaOutOfBounds> {
        self.write(offset, &v.to_le_bytes())
    }
    /// Writes a little-endian `u32` at `offset`.
    fn write_u32(&mut self, offset: usize, v: u32) -> Result<(), DmaOutOfBounds> {
        self.write(offset, &v.to_le_bytes())
    }
    /// Writes a little-endian `u64` at `offset`.
    fn write_u64(&mut self, offset: usize, v: u64) -> Result<(), DmaOutOfBounds> {
        self.write(offset, &v.to_le_bytes())
    }
}

fn check(offset: usize, len: usize, size: usize) -> Result<(), DmaOutOfBounds> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(DmaOutOfBounds { offset, len, size }),
    }
}

/// DMA memory backed by an ordinary byte slice: host tests, or any memory the caller can
/// lend as `&mut [u8]` together with the address the device sees it at.
#[derive(Debug)]
pub struct SliceDma<'a> {
    mem: &'a mut [u8],
    device_address: u64,
}

impl<'a> SliceDma<'a> {
    /// Wraps `mem`, which the device sees at `device_address`.
    pub fn new(mem: &'a mut [u8], device_address: u64) -> Self {
        Self {
            mem,
            device_address,
        }
    }
}

impl DmaMemory for SliceDma<'_> {
    fn size(&self) -> usize {
        self.mem.len()
    }
    fn device_address(&self) -> u64 {
        self.device_address
    }
    fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), DmaOutOfBounds> {
        check(offset, dst.len(), self.mem.len())?;
        dst.copy_from_slice(&self.mem[offset..offset + dst.len()]);
        Ok(())
    }
    fn write(&mut self, offset: usize, src: &[u8]) -> Result<(), DmaOutOfBounds> {
        check(offset, src.len(), self.mem.len())?;
        self.mem[offset..offset + src.len()].copy_from_slice(src);
        Ok(())
    }
}

/// DMA memory at a raw virtual address (seL4: a Microkit memory region mapped
/// **uncached**, whose physical address the system file fixes).
///
/// Copies use raw pointers and never form Rust references to the region, because the
/// device may write it at any time.
#[derive(Debug)]
pub struct RawDma {
    base: *mut u8,
    size: usize,
    device_address: u64,
}

impl RawDma {
    /// Wraps the region mapped at virtual address `base`, `size` bytes long, that the
    /// device sees at `device_address`.
    ///
    /// # Safety
    /// `base..base + size` must be mapped readable and writable, uncached (see the module
    /// documentation), for as long as the value lives, and used by nothing but this value
    /// and the device.
    pub unsafe fn new(base: usize, size: usize, device_address: u64) -> Self {
        Self {
            base: base as *mut u8,
            size,
            device_address,
        }
    }
}

impl DmaMemory for RawDma {
    fn size(&self) -> usize {
        self.size
    }
    fn device_address(&self) -> u64 {
        self.device_address
    }
    fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), DmaOutOfBounds> {
        check(offset, dst.len(), self.size)?;
        // SAFETY: the range is inside the region (checked above) that `RawDma::new`'s
        // caller promised is mapped and ours; `dst` is a distinct Rust buffer. Bytes the
        // device changes meanwhile are merely stale or new, never invalid.
        unsafe { copy_from_device(self.base.add(offset), dst) };
        Ok(())
    }
    fn write(&mut self, offset: usize, src: &[u8]) -> Result<(), DmaOutOfBounds> {
        check(offset, src.len(), self.size)?;
        // SAFETY: as in `read`, with `&mut self` giving exclusive CPU-side use.
        unsafe { copy_to_device(src, self.base.add(offset)) };
        Ok(())
    }
    fn sync_for_device(&mut self, _offset: usize, _len: usize) {
        barrier();
    }
    fn sync_for_cpu(&mut self, _offset: usize, _len: usize) {
        barrier();
    }
}

// seL4 maps an uncached region as Device memory, where an unaligned access faults on
// a real Cortex-A72 (QEMU's TCG does not check). `copy_nonoverlapping` (memcpy) may use
// unaligned or zeroing (`dc zva`) accesses, so DMA copies are done here by hand: single
// bytes up to an 8-byte boundary of the device side, aligned volatile 8-byte words, and
// the tail in bytes. The CPU-side buffer is ordinary memory, where any access is fine.

/// Copies `dst.len()` bytes from device memory at `src` into `dst`.
///
/// # Safety
/// `src..src + dst.len()` must be mapped readable.
unsafe fn copy_from_device(src: *const u8, dst: &mut [u8]) {
    let mut i = 0;
    let n = dst.len();
    // SAFETY (all accesses below): within `src..src + n`, which the caller promised
    // is mapped; word accesses are at 8-aligned addresses.
    while i < n && !(src as usize + i).is_multiple_of(8) {
        dst[i] = unsafe { src.add(i).read_volatile() };
        i += 1;
    }
    while i + 8 <= n {
        let w = unsafe { src.add(i).cast::<u64>().read_volatile() };
        dst[i..i + 8].copy_from_slice(&w.to_ne_bytes());
        i += 8;
    }
    while i < n {
        dst[i] = unsafe { src.add(i).read_volatile() };
        i += 1;
    }
}

/// Copies `src` into device memory at `dst`.
///
/// # Safety
/// `dst..dst + src.len()` must be mapped writable and not aliased by a Rust reference.
unsafe fn copy_to_device(src: &[u8], dst: *mut u8) {
    let mut i = 0;
    let n = src.len();
    // SAFETY (all accesses below): as in `copy_from_device`.
    while i < n && !(dst as usize + i).is_multiple_of(8) {
        unsafe { dst.add(i).write_volatile(src[i]) };
        i += 1;
    }
    while i + 8 <= n {
        let mut w = [0u8; 8];
        w.copy_from_slice(&src[i..i + 8]);
        unsafe {
            dst.add(i)
                .cast::<u64>()
                .write_volatile(u64::from_ne_bytes(w))
        };
        i += 8;
    }
    while i < n {
        unsafe { dst.add(i).write_volatile(src[i]) };
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;

    #[test]
    fn raw_dma_copies_every_offset_and_length_exactly() {
        // Every device-side alignment and length around the word size, against a model.
        let mut mem = std::vec![0u64; 8]; // 64 bytes, 8-aligned
        let base = mem.as_mut_ptr() as usize;
        // SAFETY: `mem` outlives `d` and is used only through it below.
        let mut d = unsafe { RawDma::new(base, 64, 0x1000) };
        let mut model = [0u8; 64];
        let mut fill = 1u8;
        for off in 0..24 {
            for len in 0..=33 {
                let src: std::vec::Vec<u8> = (0..len)
                    .map(|k| fill.wrapping_add(k as u8).wrapping_mul(31))
                    .collect();
                fill = fill.wrapping_add(7);
                d.write(off, &src).unwrap();
                model[off..off + len].copy_from_slice(&src);
                let mut all = [0u8; 64];
                d.read(0, &mut all).unwrap();
                assert_eq!(all, model, "write at {off}, {len} bytes");
                let mut part = std::vec![0u8; len];
                d.read(off, &mut part).unwrap();
                assert_eq!(
                    part[..],
                    model[off..off + len],
                    "read at {off}, {len} bytes"
                );
            }
        }
        assert!(d.write(60, &[0; 5]).is_err());
        // `mem` lives to here, past the last use of `d`.
        assert_eq!(mem.len(), 8);
    }

    #[test]
    fn slice_dma_checks_bounds() {
        let mut mem = [0u8; 16];
        let mut d = SliceDma::new(&mut mem, 0x4000_0000);
        assert_eq!(d.size(), 16);
        assert_eq!(d.device_address(), 0x4000_0000);
        d.write_u32(12, 0xdead_beef).unwrap();
        assert_eq!(d.read_u32(12).unwrap(), 0xdead_beef);
        assert_eq!(d.read_u16(12).unwrap(), 0xbeef);
        assert_eq!(
            d.write_u32(13, 1),
            Err(DmaOutOfBounds {
                offset: 13,
                len: 4,
                size: 16
            })
        );
        assert!(d.read(usize::MAX, &mut [0; 2]).is_err());
    }

    #[test]
    fn mmio_refuses_out_of_range_offsets() {
        let mut regs = [0u32; 4];
        // SAFETY (test): `regs` is a live, exclusively borrowed 16-byte array.
        let mut m = unsafe { Mmio::new(regs.as_mut_ptr() as usize, 16) };
        m.write32(4, 7);
        m.write32(16, 9); // outside: dropped
        m.write32(2, 9); // unaligned: dropped
        assert_eq!(m.read32(4), 7);
        assert_eq!(m.read32(16), u32::MAX);
        assert_eq!(m.read32(6), u32::MAX);
        assert_eq!(regs, [0, 7, 0, 0]);
    }
}
