//! The kernel heap: a first-fit free list (`linked_list_allocator`) over a static region,
//! behind an interrupt-disabling lock.
//!
//! Interrupts stay off while the lock is held because the tick runs RCU callbacks, and
//! callbacks free memory: a tick that interrupted an allocation on the same CPU would
//! otherwise spin on the lock forever (Linux's slab allocators disable interrupts for the
//! same reason). Freed blocks are filled with [`POISON`] before they go back on the list, so
//! that a reader touching an element freed too early sees garbage rather than the old
//! values (the torture's `mbtest` word then fails its check).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use linked_list_allocator::Heap;

use crate::sync::IrqSpinLock;

/// Size of the heap region.
pub const HEAP_SIZE: usize = 32 * 1024 * 1024;

/// The byte freed memory is filled with.
pub const POISON: u8 = 0x6B;

/// The heap region (in `.bss`).
#[repr(C, align(4096))]
struct Region(UnsafeCell<[u8; HEAP_SIZE]>);

// SAFETY: the region is handed to the allocator once and only accessed through it.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; HEAP_SIZE]));

/// The global allocator.
pub struct KernelHeap {
    heap: IrqSpinLock<Heap>,
    allocations: AtomicU64,
    frees: AtomicU64,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    heap: IrqSpinLock::new(Heap::empty()),
    allocations: AtomicU64::new(0),
    frees: AtomicU64::new(0),
};

/// Hands the region to the allocator.
///
/// # Safety
///
/// Called once, before the first allocation.
pub unsafe fn init() {
    // SAFETY: the region is static, unused by anything else, and handed over exactly once.
    unsafe {
        HEAP.heap
            .lock()
            .init(REGION.0.get().cast::<u8>(), HEAP_SIZE)
    };
}

/// Allocations and frees so far (all CPUs, all sizes).
pub fn counts() -> (u64, u64) {
    // Relaxed: statistics.
    (
        HEAP.allocations.load(Ordering::Relaxed),
        HEAP.frees.load(Ordering::Relaxed),
    )
}

/// Bytes in use.
pub fn used() -> usize {
    HEAP.heap.lock().used()
}

// SAFETY: `linked_list_allocator::Heap` returns blocks that fit the layout and do not
// overlap live ones; the lock serialises every call, interrupt handlers included.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = self.heap.lock().allocate_first_fit(layout);
        match block {
            Ok(block) => {
                // Relaxed: a statistic.
                self.allocations.fetch_add(1, Ordering::Relaxed);
                block.as_ptr()
            }
            Err(()) => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller gives back a live block of `layout` that nothing uses any more.
        unsafe {
            core::ptr::write_bytes(ptr, POISON, layout.size());
            self.heap
                .lock()
                .deallocate(NonNull::new_unchecked(ptr), layout);
        }
        // Relaxed: a statistic.
        self.frees.fetch_add(1, Ordering::Relaxed);
    }
}
