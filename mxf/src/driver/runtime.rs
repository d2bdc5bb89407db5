//! What a driver image needs besides the glue (`cfg(windows)` + feature `driver`): the panic
//! handler's body, the global allocator, and the kernel services of the backend.

use crate::abi::{NonPagedPool, pool_tag};
use crate::platform::driver as nt;
use crate::platform::{pool_alloc, pool_free};
use core::alloc::{GlobalAlloc, Layout};
use core::panic::PanicInfo;
use core::ptr::{self, NonNull};

/// The bug check a panic raises: `"MXFP"` (`0x4D584650`). Parameters: the address of the
/// source file name (not NUL-terminated), the line, the column, 0.
///
/// A driver built with the project's checks never raises it: they prove that no panic path
/// survives in the linked image (`.ci/drivers.sh`).
pub const BUGCHECK_RUST_PANIC: u32 = u32::from_be_bytes(*b"MXFP");

/// The body of a driver's `#[panic_handler]` (the [`driver!`](crate::driver!) macro emits the
/// handler): a panic cannot unwind in the kernel and must not continue, so it stops the system
/// with [`BUGCHECK_RUST_PANIC`] and the panic's location.
pub fn panic_bug_check(info: &PanicInfo<'_>) -> ! {
    let (file, line, column) = info.location().map_or((0, 0, 0), |l| {
        (
            l.file().as_ptr() as usize,
            l.line() as usize,
            l.column() as usize,
        )
    });
    nt::bug_check(BUGCHECK_RUST_PANIC, file, line, column, 0)
}

/// Tag of the global allocator's blocks: `"mxfA"`.
const ALLOC_TAG: u32 = pool_tag(b"mxfA");

/// The driver's `#[global_allocator]` (emitted by [`driver!`](crate::driver!)): nonpaged pool
/// through the platform seam, tag `"mxfA"`. A failed allocation returns NULL: `alloc`'s
/// fallible APIs (`try_reserve`, `Box::try_new` where stable) see the error; an infallible one
/// would call the allocation error handler, a panic, which the driver checks find.
pub struct PoolAllocator;

impl PoolAllocator {
    /// The allocator (a unit value).
    pub const fn new() -> Self {
        Self
    }
}

impl Default for PoolAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks come from `pool_alloc` with the layout asked for (size and alignment up to
// `POOL_ALIGNMENT`; larger alignments get NULL) and go back to `pool_free` with that layout.
unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        pool_alloc(NonPagedPool, ALLOC_TAG, layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(block) {
            // SAFETY: `block` came from `alloc` above with `layout` (GlobalAlloc's contract).
            unsafe { pool_free(block, NonPagedPool, ALLOC_TAG, layout) };
        }
    }
}

/// Pool blocks allocated through the platform seam (mxf's objects, the global allocator) and
/// not yet freed: 0 after the device is removed, if nothing leaked.
pub fn live_pool_blocks() -> usize {
    nt::live_blocks()
}

/// Whether allocations use `ExAllocatePool2` (the running kernel exports it), rather than
/// `ExAllocatePoolWithTag`.
pub fn uses_pool2() -> bool {
    nt::uses_pool2()
}

/// `KeQueryPerformanceCounter`: the counter now and its frequency in ticks per second.
pub fn performance_counter() -> (i64, i64) {
    nt::performance_counter()
}
