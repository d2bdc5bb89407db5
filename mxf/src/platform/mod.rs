//! The platform seam: pool allocation and the spin lock, with one backend per environment.
//!
//! | backend | selected by | pool allocation | spin lock |
//! |---|---|---|---|
//! | host | default | `alloc::alloc` (the global allocator) | the `spin` crate |
//! | fault injection | feature `fault-injection` (tests) | host, but the Nth allocation of the current thread can be made to fail | host |
//! | loom | `--cfg loom` (model checking) | host | `loom::sync::Mutex` |
//! | kernel (wdk-sys) | `cfg(windows)` + feature `kernel` (needs a WDK) | `ExAllocatePool2` / `ExFreePoolWithTag` (wdk-sys) | `KSPIN_LOCK`, raising to DISPATCH_LEVEL |
//! | driver (no WDK) | `cfg(windows)` + feature `driver` | `ExAllocatePool2` where the kernel has it, else `ExAllocatePoolWithTag`; `ExFreePoolWithTag` (imports declared by hand) | `KSPIN_LOCK`, raising to DISPATCH_LEVEL |
//!
//! The two kernel backends implement the same seam; `driver` is the one built and checked on
//! Linux (`.ci/drivers.sh` links the sample drivers with mingw-w64 and checks each image),
//! `kernel` needs Windows and a WDK and is not built by the project's CI (`docs/driver.md`).
//!
//! Every allocation is fallible: callers get `None` and turn it into
//! `STATUS_INSUFFICIENT_RESOURCES`; nothing here aborts or panics.
//!
//! A driver's own objects use the same seam: [`SpinLock`] for state behind a lock (it raises to
//! DISPATCH_LEVEL in the kernel, so it can be taken in `PutMessage`), [`atomic`] for counters
//! and flags, [`pool_new`] / [`pool_delete`] for a block of its own, and [`OneAtATime`] for a job
//! that may be asked for again while it runs.
//!
//! ```
//! use mxf::abi::{NTSTATUS, NonPagedPool, STATUS_INSUFFICIENT_RESOURCES, pool_tag};
//! use mxf::platform::{SpinLock, pool_delete, pool_new};
//!
//! /// What a miniport stream keeps under its lock.
//! struct Fifo {
//!     bytes: [u8; 16],
//!     len: usize,
//! }
//!
//! let tag = pool_tag(b"Fifo");
//! // Fallible: a full pool gives the value back instead of aborting.
//! let block = pool_new(NonPagedPool, tag, SpinLock::new(Fifo { bytes: [0; 16], len: 0 }))
//!     .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
//! {
//!     // SAFETY: `block` is the live value `pool_new` just wrote; nothing else refers to it.
//!     let fifo = unsafe { block.as_ref() };
//!     let mut guard = fifo.lock();
//!     let f = &mut *guard;
//!     if let Some(slot) = f.bytes.get_mut(f.len) {
//!         *slot = 0x90;
//!         f.len += 1;
//!     }
//!     assert_eq!(f.len, 1);
//! }
//! // SAFETY: the block came from `pool_new` with this pool and tag, and is not used again.
//! unsafe { pool_delete(block, NonPagedPool, tag) };
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::POOL_TYPE;
use core::alloc::Layout;
use core::ptr::NonNull;

#[cfg(any(test, feature = "fault-injection"))]
pub mod fault;

#[cfg(all(windows, feature = "kernel", feature = "driver"))]
compile_error!(
    "mxf: the features `kernel` (wdk-sys) and `driver` (hand-declared imports) are two kernel backends; enable one"
);

#[cfg(not(all(windows, any(feature = "kernel", feature = "driver"))))]
mod host;
#[cfg(not(all(windows, any(feature = "kernel", feature = "driver"))))]
use host as backend;

#[cfg(all(windows, feature = "kernel", not(feature = "driver")))]
mod kernel;
#[cfg(all(windows, feature = "kernel", not(feature = "driver")))]
use kernel as backend;

#[cfg(all(windows, feature = "driver"))]
pub(crate) mod driver;
#[cfg(all(windows, feature = "driver"))]
use driver as backend;

mod gate;
mod lock;
pub use gate::OneAtATime;
pub use lock::{SpinLock, SpinLockGuard};

/// Atomics: `core::sync::atomic`'s, or loom's when model checking (`--cfg loom`).
///
/// Every integer width, `AtomicBool`, `AtomicPtr`, `Ordering` and `fence` are here. In a normal
/// build (the tests, the driver) they *are* `core`'s types, so they cost nothing. Built with
/// `RUSTFLAGS="--cfg loom"`, they are loom's, as the framework's [`SpinLock`] is then: a loom
/// model of an object explores every interleaving of its atomics and its locks.
///
/// Which one a driver uses:
/// * state inside an object that several CPUs touch (counters of a filter, a miniport's
///   flags): `mxf::platform::atomic`, so the object can be model-checked with loom as mxf's
///   allocator and filter plumbing are;
/// * code that never runs inside a loom model (test harnesses, the host side of a test):
///   either; `core::sync::atomic` is the same type there.
///
/// Under loom the constructors are not `const fn`, so a `static` or a `const fn` constructor
/// holding one of these does not build with `--cfg loom` (build it in a plain `fn`, or keep it
/// out of the model).
///
/// ```
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::platform::atomic::{AtomicU64, Ordering};
/// use mxf::prelude::*;
///
/// /// Counts the events it forwards; `process` runs on any CPU, so the counter is atomic.
/// #[mxf_filter]
/// struct Counter {
///     seen: AtomicU64,
/// }
///
/// impl Filter for Counter {
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         self.seen.fetch_add(1, Ordering::Relaxed);
///         out.push(event);
///     }
/// }
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let counter = Counter { seen: AtomicU64::new(0) }.into_filter(&alloc)?;
/// let mut chain = Chain::new(&alloc);
/// chain.push_back(Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?);
/// chain.push_back(Event::with_bytes(&alloc, &[0x80, 60, 0], 1, 10_000)?);
/// assert_eq!(chain.deliver(Some(counter.interface())), STATUS_SUCCESS);
/// assert_eq!(counter.filter().seen.load(Ordering::Relaxed), 2);
/// # Ok::<(), NTSTATUS>(())
/// ```
pub mod atomic {
    #[cfg(loom)]
    pub use loom::sync::atomic::{
        AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicPtr, AtomicU8,
        AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };

    #[cfg(not(loom))]
    pub use core::sync::atomic::{
        AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicPtr, AtomicU8,
        AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };
}

/// `MEMORY_ALLOCATION_ALIGNMENT`: what kernel pool blocks are aligned to (16 bytes on 64-bit
/// targets, 8 on 32-bit ones), and so the most any block from [`pool_alloc`] may need.
pub const POOL_ALIGNMENT: usize = 2 * core::mem::size_of::<usize>();

/// Allocates `layout` from `pool` under `tag`. `None` on failure; the memory is not initialised.
///
/// Zero-sized layouts are rounded up to one byte so every successful call returns a real block
/// that [`pool_free`] can release. A layout aligned to more than [`POOL_ALIGNMENT`] is refused
/// by every backend, as the kernel pool would (the host could serve it, and a type that works in
/// the tests would then fail in the driver).
#[inline]
pub fn pool_alloc(pool: POOL_TYPE, tag: u32, layout: Layout) -> Option<NonNull<u8>> {
    if layout.align() > POOL_ALIGNMENT {
        return None;
    }
    #[cfg(any(test, feature = "fault-injection"))]
    if fault::should_fail() {
        return None;
    }
    let layout = nonzero(layout)?;
    let p = backend::alloc(pool, tag, layout)?;
    #[cfg(any(test, feature = "fault-injection"))]
    fault::record_alloc();
    Some(p)
}

/// Frees a block from [`pool_alloc`].
///
/// # Safety
/// `ptr` came from `pool_alloc(pool, tag, layout)` with the same arguments and is not used again.
#[inline]
pub unsafe fn pool_free(ptr: NonNull<u8>, pool: POOL_TYPE, tag: u32, layout: Layout) {
    let Some(layout) = nonzero(layout) else {
        // Unreachable for a pointer from `pool_alloc`, which refused such a layout.
        return;
    };
    #[cfg(any(test, feature = "fault-injection"))]
    fault::record_free();
    // SAFETY: forwarded contract: `ptr` came from `backend::alloc(pool, tag, layout)`.
    unsafe { backend::free(ptr, pool, tag, layout) }
}

/// Moves `value` into a new pool block; gives the value back if the allocation fails.
#[inline]
pub fn pool_new<T>(pool: POOL_TYPE, tag: u32, value: T) -> Result<NonNull<T>, T> {
    match pool_alloc(pool, tag, Layout::new::<T>()) {
        Some(p) => {
            let p = p.cast::<T>();
            // SAFETY: `p` is a fresh block with the size and alignment of `T`.
            unsafe { p.as_ptr().write(value) };
            Ok(p)
        }
        None => Err(value),
    }
}

/// Drops the value of a block from [`pool_new`] and frees the block.
///
/// # Safety
/// `ptr` came from `pool_new::<T>(pool, tag, _)`, holds a live `T`, and is not used again.
#[inline]
pub unsafe fn pool_delete<T>(ptr: NonNull<T>, pool: POOL_TYPE, tag: u32) {
    // SAFETY: the caller guarantees a live, exclusively owned `T`.
    unsafe { core::ptr::drop_in_place(ptr.as_ptr()) };
    // SAFETY: the block came from `pool_alloc` with `Layout::new::<T>()`.
    unsafe { pool_free(ptr.cast(), pool, tag, Layout::new::<T>()) };
}

fn nonzero(layout: Layout) -> Option<Layout> {
    if layout.size() == 0 {
        Layout::from_size_align(1, layout.align()).ok()
    } else {
        Some(layout)
    }
}
