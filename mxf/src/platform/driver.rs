//! The WDK-free kernel backend (`cfg(windows)` + feature `driver`): the few kernel functions
//! mxf calls, declared by hand with the header's signatures, and linked against import
//! libraries made from the project's own `.def` files (`.ci/driver/`), so a driver is built and
//! checked on Linux with mingw-w64 and no WDK.
//!
//! | what | import | from |
//! |---|---|---|
//! | pool allocation | `ExAllocatePool2` if the running kernel exports it (looked up once, at `DriverEntry`, with `MmGetSystemRoutineAddress`), else `ExAllocatePoolWithTag` | ntoskrnl.exe |
//! | pool release | `ExFreePoolWithTag` | ntoskrnl.exe |
//! | spin lock (x64, arm64) | `KeAcquireSpinLockRaiseToDpc` / `KeReleaseSpinLock` | ntoskrnl.exe |
//! | spin lock (x86) | `KfAcquireSpinLock` / `KfReleaseSpinLock` (fastcall; what the x86 header's `KeAcquireSpinLock` and `KeReleaseSpinLock` expand to) | hal.dll |
//! | time | `KeQueryPerformanceCounter` (hal.dll: Wine 8's ntoskrnl lacks it, `kernel.md` §3) | hal.dll |
//! | debug output | `DbgPrint` | ntoskrnl.exe |
//! | timers (`ServiceTimer`) | `KeInitializeTimer`, `KeInitializeDpc`, `KeSetTimer`, `KeCancelTimer`; `KeFlushQueuedDpcs` at unload | ntoskrnl.exe |
//! | panic | `KeBugCheckEx` (only if a panic path survives; the driver checks prove none does) | ntoskrnl.exe |
//! | port I/O (x86) | `READ_PORT_UCHAR` / `WRITE_PORT_UCHAR` (stdcall) | hal.dll |
//! | port I/O (x64) | `mxf_read_port_uchar` / `mxf_write_port_uchar`: `in` / `out` in two assembled leaf functions linked into the image (`.ci/driver/x64/portio.S`; x64's hal.dll does not export the two functions: the x64 header makes them intrinsics) | the image itself |
//! | port I/O (arm64) | `READ_PORT_UCHAR` / `WRITE_PORT_UCHAR`, looked up at `DriverEntry` with `MmGetSystemRoutineAddress` | hal.dll, if it has them |
//!
//! # Which pool function
//!
//! `ExAllocatePool2` (Windows 10 2004 and later) replaces the deprecated `ExAllocatePoolWithTag`;
//! importing it statically would make the image refuse to load on older Windows, and Wine 8 lacks
//! it (`kernel.md` §3). So the image imports only `ExAllocatePoolWithTag`, present on every
//! version, and the adapter's `DriverEntry` asks the kernel for `ExAllocatePool2` by name
//! ([`resolve`]): where it exists every later allocation uses it (with
//! `POOL_FLAG_UNINITIALIZED`, as callers initialise what they allocate, and nonpaged blocks
//! non-executable), elsewhere `ExAllocatePoolWithTag` with the caller's pool type. Both return
//! NULL on failure (no `POOL_FLAG_RAISE_ON_FAILURE`), both free with `ExFreePoolWithTag`.
//!
//! # Spin locks
//!
//! The framework's `SpinLock` always raises to DISPATCH_LEVEL (`KeAcquireSpinLockRaiseToDpc`),
//! which is right at any IRQL up to DISPATCH_LEVEL. The cheaper `KeAcquireSpinLockAtDpcLevel`
//! pair would need the caller's IRQL, which x64 reads from CR8 with an intrinsic: inline
//! assembly, which the runtime does not contain (design constraint 6).

use crate::abi::POOL_TYPE;
use crate::driver::UNICODE_STRING;
use crate::platform::atomic::{AtomicPtr, AtomicUsize, Ordering};
use core::alloc::Layout;
use core::ffi::{c_char, c_void};
use core::ptr::NonNull;

/// `KSPIN_LOCK`: one pointer-sized word, zero when free.
#[allow(non_camel_case_types)]
pub(crate) type KSPIN_LOCK = usize;
/// `KIRQL`.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub(crate) type KIRQL = u8;

/// `ExAllocatePool2`'s signature (`POOL_FLAGS` is a `ULONG64`).
type ExAllocatePool2Fn =
    unsafe extern "system" fn(flags: u64, size: usize, tag: u32) -> *mut c_void;

// ntoskrnl.exe, every architecture. Each one is listed in `.ci/driver/<arch>/ntoskrnl.def` and
// in `.ci/driver/allowlist.txt`.
unsafe extern "system" {
    fn ExAllocatePoolWithTag(pool: POOL_TYPE, size: usize, tag: u32) -> *mut c_void;
    fn ExFreePoolWithTag(block: *mut c_void, tag: u32);
    fn MmGetSystemRoutineAddress(name: *const UNICODE_STRING) -> *mut c_void;
    fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> !;
}

// ntoskrnl.exe, every architecture: timers and DPCs (`mxf::driver::ServiceTimer`). `KeSetTimer`
// takes its LARGE_INTEGER by value: one 64-bit integer (a register on x64, 8 stack bytes on
// x86: `KeSetTimer@16`).
unsafe extern "system" {
    fn KeInitializeTimer(timer: *mut KTIMER);
    fn KeInitializeDpc(dpc: *mut KDPC, routine: KDEFERRED_ROUTINE, context: *mut c_void);
    fn KeSetTimer(timer: *mut KTIMER, due_time: i64, dpc: *mut KDPC) -> u8;
    fn KeCancelTimer(timer: *mut KTIMER) -> u8;
    fn KeFlushQueuedDpcs();
}

/// `KeFlushQueuedDpcs()`: returns when every DPC queued on any processor has run (PASSIVE_LEVEL).
/// `DriverUnload` calls it last, so that no DPC of the image (a retry timer's that fired just
/// before its stream stopped) runs after the image is unloaded.
pub(crate) fn flush_queued_dpcs() {
    // SAFETY: no arguments; called from DriverUnload, at PASSIVE_LEVEL.
    unsafe { KeFlushQueuedDpcs() }
}

/// `PKDEFERRED_ROUTINE`: `(Dpc, DeferredContext, SystemArgument1, SystemArgument2)`.
#[allow(non_camel_case_types)]
pub(crate) type KDEFERRED_ROUTINE =
    unsafe extern "system" fn(*mut c_void, *mut c_void, *mut c_void, *mut c_void);

/// `KTIMER`, opaque: 64 bytes on x64, 40 on x86, 8-aligned (`.ci/driver/layout.c` compares
/// both with `<ddk/wdm.h>`). Initialised by `KeInitializeTimer`, never moved after.
#[repr(C, align(8))]
#[allow(clippy::upper_case_acronyms)]
pub(crate) struct KTIMER([u8; KTIMER_SIZE]);
/// `KDPC`, opaque: 64 bytes on x64, 32 on x86, pointer-aligned.
#[cfg_attr(target_pointer_width = "64", repr(C, align(8)))]
#[cfg_attr(target_pointer_width = "32", repr(C, align(4)))]
#[allow(clippy::upper_case_acronyms)]
pub(crate) struct KDPC([u8; KDPC_SIZE]);

#[cfg(target_pointer_width = "64")]
const KTIMER_SIZE: usize = 64;
#[cfg(target_pointer_width = "32")]
const KTIMER_SIZE: usize = 40;
#[cfg(target_pointer_width = "64")]
const KDPC_SIZE: usize = 64;
#[cfg(target_pointer_width = "32")]
const KDPC_SIZE: usize = 32;

const _: () = {
    assert!(core::mem::size_of::<KTIMER>() == KTIMER_SIZE && core::mem::align_of::<KTIMER>() == 8);
    assert!(core::mem::size_of::<KDPC>() == KDPC_SIZE);
    assert!(core::mem::align_of::<KDPC>() == core::mem::size_of::<usize>());
};

impl KTIMER {
    /// All zero (what `KeInitializeTimer` then initialises).
    pub(crate) const fn zeroed() -> Self {
        Self([0; KTIMER_SIZE])
    }
}

impl KDPC {
    /// All zero (what `KeInitializeDpc` then initialises).
    pub(crate) const fn zeroed() -> Self {
        Self([0; KDPC_SIZE])
    }
}

/// `KeInitializeTimer(timer)`.
///
/// # Safety
/// `timer` is valid, not queued, and stays where it is; at or below DISPATCH_LEVEL.
pub(crate) unsafe fn initialize_timer(timer: *mut KTIMER) {
    // SAFETY: forwarded contract.
    unsafe { KeInitializeTimer(timer) }
}

/// `KeInitializeDpc(dpc, routine, context)`.
///
/// # Safety
/// `dpc` is valid, not queued, and stays where it is; `context` is what `routine` expects.
pub(crate) unsafe fn initialize_dpc(
    dpc: *mut KDPC,
    routine: KDEFERRED_ROUTINE,
    context: *mut c_void,
) {
    // SAFETY: forwarded contract.
    unsafe { KeInitializeDpc(dpc, routine, context) }
}

/// `KeSetTimer(timer, due_time, dpc)`: true if the timer was queued already.
///
/// # Safety
/// Initialised objects that stay where they are while queued; at or below DISPATCH_LEVEL.
pub(crate) unsafe fn set_timer(timer: *mut KTIMER, due_time: i64, dpc: *mut KDPC) -> bool {
    // SAFETY: forwarded contract.
    unsafe { KeSetTimer(timer, due_time, dpc) != 0 }
}

/// `KeCancelTimer(timer)`: true if the timer was queued (its DPC will not run for it).
///
/// # Safety
/// An initialised timer; at or below DISPATCH_LEVEL.
pub(crate) unsafe fn cancel_timer(timer: *mut KTIMER) -> bool {
    // SAFETY: forwarded contract.
    unsafe { KeCancelTimer(timer) != 0 }
}

// hal.dll, every architecture.
unsafe extern "system" {
    fn KeQueryPerformanceCounter(frequency: *mut i64) -> i64;
}

// hal.dll, x86 only: port I/O. mingw-w64's x86 `libhal.a` lists both (`READ_PORT_UCHAR@4`,
// `WRITE_PORT_UCHAR@8`); its x64 one lists neither (x64 uses the assembled pair below; arm64
// looks them up at run time, [`resolve`]).
#[cfg(target_arch = "x86")]
unsafe extern "system" {
    fn READ_PORT_UCHAR(port: *mut u8) -> u8;
    fn WRITE_PORT_UCHAR(port: *mut u8, value: u8);
}

// x64: the `in` / `out` instructions the WDK's intrinsics emit, as two leaf functions of the
// Windows x64 convention assembled from `.ci/driver/x64/portio.S` and linked into the image
// (the runtime has no inline assembly, design constraint 6). Not imports: nothing to allowlist.
#[cfg(target_arch = "x86_64")]
unsafe extern "system" {
    fn mxf_read_port_uchar(port: usize) -> u8;
    fn mxf_write_port_uchar(port: usize, value: u8);
}

unsafe extern "C" {
    fn DbgPrint(format: *const c_char, ...) -> u32;
}

#[cfg(not(target_arch = "x86"))]
unsafe extern "system" {
    fn KeAcquireSpinLockRaiseToDpc(lock: *mut KSPIN_LOCK) -> KIRQL;
    fn KeReleaseSpinLock(lock: *mut KSPIN_LOCK, old_irql: KIRQL);
}

#[cfg(target_arch = "x86")]
unsafe extern "fastcall" {
    fn KfAcquireSpinLock(lock: *mut KSPIN_LOCK) -> KIRQL;
    fn KfReleaseSpinLock(lock: *mut KSPIN_LOCK, old_irql: KIRQL);
}

/// `POOL_FLAG_UNINITIALIZED`: no zero-filling (callers initialise what they allocate).
const POOL_FLAG_UNINITIALIZED: u64 = 0x0000_0000_0000_0002;
/// `POOL_FLAG_NON_PAGED` (non-executable).
const POOL_FLAG_NON_PAGED: u64 = 0x0000_0000_0000_0040;
/// `POOL_FLAG_PAGED`.
const POOL_FLAG_PAGED: u64 = 0x0000_0000_0000_0100;

/// `ExAllocatePool2`, once [`resolve`] found it; NULL before, or where the kernel lacks it.
static POOL2: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
/// `READ_PORT_UCHAR` / `WRITE_PORT_UCHAR`, once [`resolve`] found them (arm64 only: x86
/// imports them, x64 links its own).
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
static READ_PORT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
static WRITE_PORT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
/// `READ_PORT_UCHAR`'s signature.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
type ReadPortFn = unsafe extern "system" fn(port: *mut u8) -> u8;
/// `WRITE_PORT_UCHAR`'s signature.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
type WritePortFn = unsafe extern "system" fn(port: *mut u8, value: u8);
/// Blocks allocated and not yet freed (what the adapter reports at unload).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// `MmGetSystemRoutineAddress(name)`; NULL if the running kernel and hal.dll lack it.
fn system_routine(name: &[u16]) -> *mut c_void {
    let Some(string) = UNICODE_STRING::from_utf16z(name) else {
        return core::ptr::null_mut();
    };
    // SAFETY: `string` describes `name`, which lives across the call; the caller (DriverEntry)
    // runs at PASSIVE_LEVEL, the IRQL MmGetSystemRoutineAddress needs.
    unsafe { MmGetSystemRoutineAddress(&string) }
}

/// Looks `ExAllocatePool2` up in the running kernel; from then on every allocation uses it if
/// it exists. On arm64, looks the port I/O functions up too ([`port_io_available`]). Called
/// once by the adapter's `DriverEntry`, at PASSIVE_LEVEL (the lookup's IRQL).
pub(crate) fn resolve() {
    let pool2 = system_routine(&crate::driver::utf16z::<16>("ExAllocatePool2"));
    POOL2.store(pool2, Ordering::Release);
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        let read = system_routine(&crate::driver::utf16z::<16>("READ_PORT_UCHAR"));
        let write = system_routine(&crate::driver::utf16z::<17>("WRITE_PORT_UCHAR"));
        WRITE_PORT.store(write, Ordering::Release);
        READ_PORT.store(read, Ordering::Release);
    }
}

/// Whether this system does port I/O: always on x86 (hal.dll's, imported) and x64 (linked in);
/// on arm64 if [`resolve`] found both functions in hal.dll.
pub(crate) fn port_io_available() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    return true;
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    return !READ_PORT.load(Ordering::Acquire).is_null()
        && !WRITE_PORT.load(Ordering::Acquire).is_null();
}

/// `READ_PORT_UCHAR(port)`; `None` where the system has no port I/O ([`port_io_available`]).
///
/// # Safety
/// `port` is an I/O port of the caller's device (from its translated resource list), which
/// reading may change (a data port's FIFO); any IRQL.
pub(crate) unsafe fn read_port_uchar(port: usize) -> Option<u8> {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded contract: `in al, dx` on the caller's port.
    return Some(unsafe { mxf_read_port_uchar(port) });
    #[cfg(not(target_arch = "x86_64"))]
    let port = port as *mut u8;
    #[cfg(target_arch = "x86")]
    // SAFETY: forwarded contract.
    return Some(unsafe { READ_PORT_UCHAR(port) });
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        let f = READ_PORT.load(Ordering::Acquire);
        if f.is_null() {
            return None;
        }
        // SAFETY: `f` is what MmGetSystemRoutineAddress returned for "READ_PORT_UCHAR", whose
        // signature is `ReadPortFn`.
        let f = unsafe { core::mem::transmute::<*mut c_void, ReadPortFn>(f) };
        // SAFETY: forwarded contract.
        Some(unsafe { f(port) })
    }
}

/// `WRITE_PORT_UCHAR(port, value)`; false (nothing written) where the system has no port I/O.
///
/// # Safety
/// As [`read_port_uchar`]: `port` belongs to the caller's device.
pub(crate) unsafe fn write_port_uchar(port: usize, value: u8) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: forwarded contract: `out dx, al` on the caller's port.
        unsafe { mxf_write_port_uchar(port, value) };
        true
    }
    #[cfg(target_arch = "x86")]
    {
        // SAFETY: forwarded contract.
        unsafe { WRITE_PORT_UCHAR(port as *mut u8, value) };
        true
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        let port = port as *mut u8;
        let f = WRITE_PORT.load(Ordering::Acquire);
        if f.is_null() {
            return false;
        }
        // SAFETY: `f` is what MmGetSystemRoutineAddress returned for "WRITE_PORT_UCHAR", whose
        // signature is `WritePortFn`.
        let f = unsafe { core::mem::transmute::<*mut c_void, WritePortFn>(f) };
        // SAFETY: forwarded contract.
        unsafe { f(port, value) };
        true
    }
}

/// Whether allocations go through `ExAllocatePool2` (after [`resolve`] found it).
pub(crate) fn uses_pool2() -> bool {
    !POOL2.load(Ordering::Acquire).is_null()
}

/// Pool blocks allocated through the platform seam and not yet freed.
pub(crate) fn live_blocks() -> usize {
    LIVE.load(Ordering::Relaxed)
}

#[inline]
pub(super) fn alloc(pool: POOL_TYPE, tag: u32, layout: Layout) -> Option<NonNull<u8>> {
    let pool2 = POOL2.load(Ordering::Acquire);
    let p = if pool2.is_null() {
        // SAFETY: nonpaged pool may be allocated at <= DISPATCH_LEVEL, paged pool at
        // PASSIVE_LEVEL (the caller's pool type says which); NULL on failure.
        unsafe { ExAllocatePoolWithTag(pool, layout.size(), tag) }
    } else {
        // SAFETY: `pool2` is what MmGetSystemRoutineAddress returned for "ExAllocatePool2",
        // whose signature is `ExAllocatePool2Fn`.
        let pool2 = unsafe { core::mem::transmute::<*mut c_void, ExAllocatePool2Fn>(pool2) };
        let kind = if pool.is_nonpaged() {
            POOL_FLAG_NON_PAGED
        } else {
            POOL_FLAG_PAGED
        };
        // SAFETY: as for ExAllocatePoolWithTag; without POOL_FLAG_RAISE_ON_FAILURE it returns
        // NULL on failure.
        unsafe { pool2(kind | POOL_FLAG_UNINITIALIZED, layout.size(), tag) }
    };
    let p = NonNull::new(p.cast::<u8>())?;
    LIVE.fetch_add(1, Ordering::Relaxed);
    Some(p)
}

/// # Safety
/// `ptr` came from [`alloc`](fn@alloc) with this `tag`.
#[inline]
pub(super) unsafe fn free(ptr: NonNull<u8>, _pool: POOL_TYPE, tag: u32, _layout: Layout) {
    LIVE.fetch_sub(1, Ordering::Relaxed);
    // SAFETY: forwarded contract; the tag matches the allocation's.
    unsafe { ExFreePoolWithTag(ptr.as_ptr().cast::<c_void>(), tag) }
}

/// Raises to DISPATCH_LEVEL and acquires `lock`; returns the IRQL to restore.
///
/// # Safety
/// `lock` is a valid `KSPIN_LOCK`; the caller runs at or below DISPATCH_LEVEL and does not hold
/// it already.
#[inline]
pub(crate) unsafe fn acquire_spin_lock(lock: *mut KSPIN_LOCK) -> KIRQL {
    #[cfg(not(target_arch = "x86"))]
    // SAFETY: forwarded contract.
    let irql = unsafe { KeAcquireSpinLockRaiseToDpc(lock) };
    #[cfg(target_arch = "x86")]
    // SAFETY: forwarded contract.
    let irql = unsafe { KfAcquireSpinLock(lock) };
    irql
}

/// Releases `lock` and returns to `old_irql`.
///
/// # Safety
/// The caller holds `lock`, acquired by [`acquire_spin_lock`] which returned `old_irql`.
#[inline]
pub(crate) unsafe fn release_spin_lock(lock: *mut KSPIN_LOCK, old_irql: KIRQL) {
    #[cfg(not(target_arch = "x86"))]
    // SAFETY: forwarded contract.
    unsafe {
        KeReleaseSpinLock(lock, old_irql)
    };
    #[cfg(target_arch = "x86")]
    // SAFETY: forwarded contract.
    unsafe {
        KfReleaseSpinLock(lock, old_irql)
    };
}

/// `KeQueryPerformanceCounter`: the counter now and its frequency (ticks per second).
pub(crate) fn performance_counter() -> (i64, i64) {
    let mut frequency = 0i64;
    // SAFETY: any IRQL; `frequency` is a valid out-pointer.
    let now = unsafe { KeQueryPerformanceCounter(&mut frequency) };
    (now, frequency)
}

/// `DbgPrint(format, a, b, c)`.
///
/// # Safety
/// `format` is a NUL-terminated format string whose conversions consume at most the three
/// arguments, each of the type its conversion expects (`%u`/`%x` a `u32`, `%p` a pointer,
/// `%ws` a NUL-terminated UTF-16 string). Each argument is passed as one pointer-sized word;
/// `%u` and `%x` read its low 32 bits, as the x64 and x86 conventions lay variadic words out.
pub(crate) unsafe fn debug_print3(format: &core::ffi::CStr, a: usize, b: usize, c: usize) {
    // SAFETY: forwarded contract; DbgPrint may be called at any IRQL for such formats.
    unsafe { DbgPrint(format.as_ptr(), a, b, c) };
}

/// Stops the system with `code` and four parameters.
pub(crate) fn bug_check(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> ! {
    // SAFETY: KeBugCheckEx may be called at any IRQL and does not return.
    unsafe { KeBugCheckEx(code, p1, p2, p3, p4) }
}
