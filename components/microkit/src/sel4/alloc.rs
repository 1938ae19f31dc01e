//! The heap: `#[global_allocator]` over the static arena `__vetted_heap`
//! (`protection_domain!(init, heap_size = N)`, default 1 MiB, in `.bss`),
//! a first-fit free list from `linked_list_allocator` (freed memory is
//! reused, neighbours are merged).

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands the arena to the allocator.
///
/// # Safety
/// `base..base + size` must be writable memory used by nothing else, for the
/// rest of the PD's life; called once.
pub(crate) unsafe fn init(base: *mut u8, size: usize) {
    // SAFETY: as required by the caller.
    unsafe { HEAP.lock().init(base, size) }
}
