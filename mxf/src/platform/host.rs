//! Host backend: the global allocator. Pool type and tag are accepted and ignored.

use crate::abi::POOL_TYPE;
use core::alloc::Layout;
use core::ptr::NonNull;

extern crate alloc;

#[inline]
pub(super) fn alloc(_pool: POOL_TYPE, _tag: u32, layout: Layout) -> Option<NonNull<u8>> {
    // SAFETY: `layout` has a non-zero size (`platform::nonzero`).
    NonNull::new(unsafe { alloc::alloc::alloc(layout) })
}

/// # Safety
/// `ptr` came from [`alloc`](fn@alloc) with this `layout`.
#[inline]
pub(super) unsafe fn free(ptr: NonNull<u8>, _pool: POOL_TYPE, _tag: u32, layout: Layout) {
    // SAFETY: forwarded contract.
    unsafe { alloc::alloc::dealloc(ptr.as_ptr(), layout) }
}
