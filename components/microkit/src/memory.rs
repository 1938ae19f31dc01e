//! Memory regions: shared memory mapped into this PD, looked up by name.
//!
//! The memory may be written concurrently by another PD that we do not trust,
//! so this type never hands out `&[u8]` into it. Access is by copying
//! ([`MemoryRegion::read`], [`MemoryRegion::write`]) or through atomics, with
//! every offset and length bounds-checked.
#![allow(unsafe_code)]

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64};

/// Access rights of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

/// A memory region mapped into this PD.
#[derive(Debug, Clone, Copy)]
pub struct MemoryRegion {
    base: NonNull<u8>,
    size: usize,
    perms: Perms,
}

// SAFETY: a `MemoryRegion` is a pointer to a mapping that lives as long as the
// process and is only accessed by copies and atomics, which are sound from any
// thread.
unsafe impl Send for MemoryRegion {}
// SAFETY: as above; no method hands out non-atomic references.
unsafe impl Sync for MemoryRegion {}

/// Failure to find a memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryRegionError {
    /// No region of this PD has that `setvar_vaddr` symbol or name.
    NotFound,
    /// The backend cannot provide memory regions (no backend returns this today).
    Unsupported,
}

impl fmt::Display for MemoryRegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("no memory region of that name is mapped in this PD"),
            Self::Unsupported => f.write_str("memory regions are not supported by this backend"),
        }
    }
}

/// A rejected access to a memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessError {
    /// `offset + len` is beyond the end of the region (or overflows).
    OutOfBounds {
        /// Requested offset.
        offset: usize,
        /// Requested length.
        len: usize,
        /// Region size.
        size: usize,
    },
    /// The offset is not aligned for the requested atomic.
    Misaligned {
        /// Requested offset.
        offset: usize,
    },
    /// The mapping lacks the permission the access needs.
    Permission,
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfBounds { offset, len, size } => {
                write!(
                    f,
                    "access {offset:#x}+{len:#x} outside region of {size:#x} bytes"
                )
            }
            Self::Misaligned { offset } => write!(f, "misaligned atomic access at {offset:#x}"),
            Self::Permission => f.write_str("mapping does not permit this access"),
        }
    }
}

impl MemoryRegion {
    /// The region mapped in this PD under `name`: the map's `setvar_vaddr`
    /// symbol if it has one, else the memory region's name. Host: realised
    /// by `vetted run`. seL4: the symbol must be declared with
    /// [`memory_region_symbol!`](crate::memory_region_symbol) and patched by the tool.
    pub fn by_name(name: &str) -> Result<Self, MemoryRegionError> {
        crate::backend::memory_region(name)
    }

    /// A region over `size` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + size` must stay mapped, with at least `perms`, for the
    /// rest of the process, and must only be accessed through atomics or
    /// copies (e.g. shared memory).
    pub unsafe fn from_raw_parts(base: NonNull<u8>, size: usize, perms: Perms) -> Self {
        Self { base, size, perms }
    }

    /// A fresh zeroed region of `size` bytes in this process, never freed.
    /// For tests of code that works on regions (host only).
    #[cfg(not(target_os = "none"))]
    pub fn host_anonymous(size: usize) -> Self {
        let words = size.div_ceil(8).max(1);
        let mem: &'static mut [u64] =
            std::boxed::Box::leak(std::vec![0u64; words].into_boxed_slice());
        let base = NonNull::from(&mut mem[0]).cast::<u8>();
        Self {
            base,
            size,
            perms: Perms {
                read: true,
                write: true,
                execute: false,
            },
        }
    }

    /// Base address in this PD.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Access rights of this mapping.
    pub fn perms(&self) -> Perms {
        self.perms
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), AccessError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(AccessError::OutOfBounds {
                offset,
                len,
                size: self.size,
            }),
        }
    }

    /// The `len` bytes at `offset` as a region of their own.
    pub fn subregion(&self, offset: usize, len: usize) -> Result<Self, AccessError> {
        self.check(offset, len)?;
        // SAFETY: offset is within the mapping (checked above), so the
        // result is within the same allocation and non-null.
        let base = unsafe { NonNull::new_unchecked(self.base.as_ptr().add(offset)) };
        Ok(Self {
            base,
            size: len,
            perms: self.perms,
        })
    }

    /// Copies `buf.len()` bytes at `offset` out of the region.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), AccessError> {
        if !self.perms.read {
            return Err(AccessError::Permission);
        }
        self.check(offset, buf.len())?;
        // SAFETY: the source range is inside the mapping (checked) and the
        // destination is a private buffer that cannot overlap shared memory
        // we hand out. The peer may write concurrently; we only copy bytes
        // (no invariant is assumed about them) and callers validate the copy.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Ok(())
    }

    /// Copies `data` into the region at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), AccessError> {
        if !self.perms.write {
            return Err(AccessError::Permission);
        }
        self.check(offset, data.len())?;
        // SAFETY: the destination range is inside a writable mapping
        // (checked); the source is a private slice.
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.base.as_ptr().add(offset),
                data.len(),
            )
        };
        Ok(())
    }

    fn atomic_ptr(&self, offset: usize, size: usize, write: bool) -> Result<*mut u8, AccessError> {
        if !self.perms.read || (write && !self.perms.write) {
            return Err(AccessError::Permission);
        }
        self.check(offset, size)?;
        let addr = self.base.as_ptr() as usize + offset;
        if !addr.is_multiple_of(size) {
            return Err(AccessError::Misaligned { offset });
        }
        // SAFETY: in bounds (checked).
        Ok(unsafe { self.base.as_ptr().add(offset) })
    }

    /// The 32-bit atomic at `offset` (aligned). Needs a writable mapping,
    /// since the returned reference allows stores.
    pub fn atomic_u32(&self, offset: usize) -> Result<&'static AtomicU32, AccessError> {
        let p = self.atomic_ptr(offset, 4, true)?;
        // SAFETY: aligned, in bounds, mapped writable for the life of the
        // process; atomics are sound under concurrent access by other PDs.
        Ok(unsafe { AtomicU32::from_ptr(p.cast()) })
    }

    /// The 64-bit atomic at `offset` (aligned). Needs a writable mapping.
    pub fn atomic_u64(&self, offset: usize) -> Result<&'static AtomicU64, AccessError> {
        let p = self.atomic_ptr(offset, 8, true)?;
        // SAFETY: as for `atomic_u32`.
        Ok(unsafe { AtomicU64::from_ptr(p.cast()) })
    }

    /// Atomically loads the 32-bit value at `offset` (aligned); works on
    /// read-only mappings.
    pub fn load_u32(&self, offset: usize) -> Result<u32, AccessError> {
        let p = self.atomic_ptr(offset, 4, false)?;
        // SAFETY: aligned, in bounds, mapped readable; only a load is done.
        Ok(unsafe { AtomicU32::from_ptr(p.cast()) }.load(core::sync::atomic::Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_alignment_and_permissions_are_checked() {
        let r = MemoryRegion::host_anonymous(64);
        r.write(60, &[1, 2, 3, 4]).unwrap();
        let mut b = [0u8; 4];
        r.read(60, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        assert!(matches!(
            r.write(61, &[0; 4]),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert!(matches!(
            r.read(usize::MAX, &mut b),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert!(matches!(
            r.atomic_u32(2),
            Err(AccessError::Misaligned { offset: 2 })
        ));
        assert!(matches!(
            r.atomic_u64(64),
            Err(AccessError::OutOfBounds { .. })
        ));
        r.atomic_u32(60)
            .unwrap()
            .store(7, core::sync::atomic::Ordering::Relaxed);
        assert_eq!(r.load_u32(60).unwrap(), 7);
        let sub = r.subregion(32, 32).unwrap();
        assert_eq!(sub.load_u32(28).unwrap(), 7);
        assert!(r.subregion(33, 32).is_err());
        // SAFETY: same memory as `r`, which is leaked and so lives forever.
        let ro = unsafe {
            MemoryRegion::from_raw_parts(
                r.base,
                64,
                Perms {
                    read: true,
                    ..Perms::default()
                },
            )
        };
        assert_eq!(ro.write(0, &[1]), Err(AccessError::Permission));
        assert!(matches!(ro.atomic_u32(0), Err(AccessError::Permission)));
        assert_eq!(ro.load_u32(60).unwrap(), 7);
    }
}
