//! Kernel backend (Windows, feature `kernel`): nonpaged or paged pool through wdk-sys.
//!
//! Only built for `cfg(windows)` with the `kernel` feature, which needs the WDK to generate the
//! wdk-sys bindings; the Linux build never touches this file.

use crate::abi::POOL_TYPE;
use core::alloc::Layout;
use core::ffi::c_void;
use core::ptr::NonNull;

/// `POOL_FLAG_UNINITIALIZED`: skip zero-filling (callers initialise what they allocate).
const POOL_FLAG_UNINITIALIZED: u64 = 0x0000_0000_0000_0002;
/// `POOL_FLAG_NON_PAGED` (non-executable on every supported OS).
const POOL_FLAG_NON_PAGED: u64 = 0x0000_0000_0000_0040;
/// `POOL_FLAG_PAGED`.
const POOL_FLAG_PAGED: u64 = 0x0000_0000_0000_0100;
/// `MEMORY_ALLOCATION_ALIGNMENT`: what pool blocks are aligned to.
const POOL_ALIGNMENT: usize = 2 * core::mem::size_of::<usize>();

#[inline]
pub(super) fn alloc(pool: POOL_TYPE, tag: u32, layout: Layout) -> Option<NonNull<u8>> {
    if layout.align() > POOL_ALIGNMENT {
        return None;
    }
    let flags = if pool.is_nonpaged() {
        POOL_FLAG_NON_PAGED
    } else {
        POOL_FLAG_PAGED
    };
    // SAFETY: ExAllocatePool2 may be called at <= DISPATCH_LEVEL for nonpaged pool; it returns
    // NULL on failure instead of raising (no POOL_FLAG_RAISE_ON_FAILURE).
    let p = unsafe {
        wdk_sys::ntddk::ExAllocatePool2(flags | POOL_FLAG_UNINITIALIZED, layout.size() as _, tag)
    };
    NonNull::new(p.cast::<u8>())
}

/// # Safety
/// `ptr` came from [`alloc`] with this `tag`.
#[inline]
pub(super) unsafe fn free(ptr: NonNull<u8>, _pool: POOL_TYPE, tag: u32, _layout: Layout) {
    // SAFETY: forwarded contract; the tag matches the allocation's.
    unsafe { wdk_sys::ntddk::ExFreePoolWithTag(ptr.as_ptr().cast::<c_void>(), tag) }
}

/// `KIRQL`.
pub(crate) use wdk_sys::KIRQL;
/// `KSPIN_LOCK`.
pub(crate) use wdk_sys::KSPIN_LOCK;

/// Raises to DISPATCH_LEVEL and acquires `lock`; returns the IRQL to restore.
///
/// # Safety
/// `lock` is a valid `KSPIN_LOCK`; the caller runs at or below DISPATCH_LEVEL and does not hold
/// it already.
#[inline]
pub(crate) unsafe fn acquire_spin_lock(lock: *mut KSPIN_LOCK) -> KIRQL {
    // SAFETY: forwarded contract.
    unsafe { wdk_sys::ntddk::KeAcquireSpinLockRaiseToDpc(lock) }
}

/// Releases `lock` and returns to `old_irql`.
///
/// # Safety
/// The caller holds `lock`, acquired by [`acquire_spin_lock`] which returned `old_irql`.
#[inline]
pub(crate) unsafe fn release_spin_lock(lock: *mut KSPIN_LOCK, old_irql: KIRQL) {
    // SAFETY: forwarded contract.
    unsafe { wdk_sys::ntddk::KeReleaseSpinLock(lock, old_irql) }
}
