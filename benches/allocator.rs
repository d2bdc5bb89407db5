//! Allocator costs, each reported by `benches/ratios.py` as a ratio to the *lock unit*: one
//! uncontended `spin::Mutex` lock+unlock pair measured in the same run.
//!
//! Goals (issue "The built-in allocator"): GetMessage+PutMessage ≤ 2.2 lock units; a 64-event
//! chain put ≤ 0.3 lock units per event; GetBuffer+PutBuffer ≤ 2.2 lock units and no slower
//! than `Box<[u8; 240]>` allocate+drop.
//!
//! Context rows: `locked_list_floor_pair` is the least any locked free list can do for a
//! get+put (two lock round trips, a pop, the fresh-state reset, a push; no validation, no
//! books), taking the lock as the allocator does (one compare-exchange that falls through);
//! `locked_list_floor_pair_dispatched` is the same list behind a vtable, called as a port calls
//! `GetMessage` and `PutMessage`, so the distance between it and `get_put_pair` is what
//! double-put detection, membership checks and statistics cost; `chain64_walk_only` is the
//! floor of a walk of a 64-event chain that follows each link (one dependent load per event).
//!
//! Every measured closure reaches what it uses through one load from its own state: the lock
//! unit and the floor hold a reference to their mutex, the allocator benches hold the interface
//! pointer itself (a copied `ComRef`, as a port holds its `IAllocatorMXF` in a member), not a
//! reference to the handle that owns it (an extra dependent load in front of every call).

use divan::{Bencher, black_box};
use mxf::abi::{DMUS_KERNEL_EVENT, STATUS_SUCCESS};
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::{Interface, IntoComObject};
use mxf::interfaces::{IAllocatorMXF, IPositionNotify, IPositionNotify_Impl};
use std::ptr::null_mut;

fn main() {
    // At least half a second per bench (the default sample counts finish some of these in a
    // millisecond, too short for a virtual CPU to leave its idle state); the command line can
    // still override it.
    divan::Divan::default()
        .min_time(std::time::Duration::from_millis(500))
        .config_with_args()
        .main();
}

fn allocator() -> AllocatorHandle {
    // Pre-filled (events and one buffer page) so growth never happens inside a measurement.
    let h = AllocatorHandle::new(
        AllocatorConfig {
            prefill_events: 10_000,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let mut p = null_mut();
    // SAFETY: valid out-pointer; the buffer goes straight back.
    unsafe {
        h.GetBuffer(&mut p);
        h.PutBuffer(p);
    }
    h
}

fn get(a: &IAllocatorMXF) -> *mut DMUS_KERNEL_EVENT {
    let mut e = null_mut();
    // SAFETY: valid out-pointer; called through the vtable as the port would.
    let s = unsafe { a.GetMessage(&mut e) };
    debug_assert_eq!(s, STATUS_SUCCESS);
    e
}

fn put(a: &IAllocatorMXF, e: *mut DMUS_KERNEL_EVENT) {
    // SAFETY: events of this allocator.
    let s = unsafe { a.PutMessage(e) };
    debug_assert_eq!(s, STATUS_SUCCESS);
}

/// The unit: one uncontended spin lock round trip.
#[divan::bench(sample_size = 1000)]
fn lock_unit(b: Bencher) {
    let m = spin::Mutex::new(0u64);
    b.bench_local(|| {
        let mut g = m.lock();
        *g = black_box(*g + 1);
    });
}

/// The floor of a locked free list: what `locked_list_floor_pair` uses.
struct FloorList {
    head: *mut DMUS_KERNEL_EVENT,
}
// SAFETY: the list is only touched under its mutex.
unsafe impl Send for FloorList {}

#[inline(never)]
fn floor_get(m: &spin::Mutex<FloorList>) -> *mut DMUS_KERNEL_EVENT {
    floor_get_inline(m)
}

#[inline(always)]
fn floor_get_inline(m: &spin::Mutex<FloorList>) -> *mut DMUS_KERNEL_EVENT {
    let e = {
        let mut g = lock_fast(m);
        let e = g.head;
        // SAFETY: a non-empty list of live events (the bench keeps it so).
        g.head = unsafe { (*e).pNextEvt };
        e
    };
    // SAFETY: taken off the list: exclusively ours.
    unsafe { e.write(DMUS_KERNEL_EVENT::FRESH) };
    e
}

#[inline(never)]
fn floor_put(m: &spin::Mutex<FloorList>, e: *mut DMUS_KERNEL_EVENT) {
    floor_put_inline(m, e)
}

#[inline(always)]
fn floor_put_inline(m: &spin::Mutex<FloorList>, e: *mut DMUS_KERNEL_EVENT) {
    let mut g = lock_fast(m);
    // SAFETY: an event taken off this list.
    unsafe { (*e).pNextEvt = g.head };
    g.head = e;
}

/// Links `events` into a free list through `pNextEvt` and returns its head; the events must
/// outlive every use of the list.
fn link_floor_list(events: &mut [DMUS_KERNEL_EVENT]) -> *mut DMUS_KERNEL_EVENT {
    let mut head = null_mut();
    for e in events.iter_mut() {
        e.pNextEvt = head;
        head = e;
    }
    head
}

/// Context: the least a locked free list does for a get+put (no validation, no books).
#[divan::bench(sample_size = 1000)]
fn locked_list_floor_pair(b: Bencher) {
    let mut events: Vec<DMUS_KERNEL_EVENT> = vec![DMUS_KERNEL_EVENT::FRESH; 256];
    let head = link_floor_list(&mut events);
    let m = spin::Mutex::new(FloorList { head });
    b.bench_local(|| floor_put(&m, black_box(floor_get(&m))));
    drop(events);
}

/// The floor list behind a COM-shaped object: a vtable pointer first, its two methods
/// `extern "system"` functions taking the object, reached through the vtable as a port reaches
/// `GetMessage` and `PutMessage`. The same work as `locked_list_floor_pair`, plus the dispatch.
#[repr(C)]
struct DispatchedFloor {
    vtbl: &'static FloorVtbl,
    list: spin::Mutex<FloorList>,
}

#[repr(C)]
struct FloorVtbl {
    get: unsafe extern "system" fn(*const DispatchedFloor, *mut *mut DMUS_KERNEL_EVENT) -> i32,
    put: unsafe extern "system" fn(*const DispatchedFloor, *mut DMUS_KERNEL_EVENT) -> i32,
}

/// The lock as the allocator's fast paths take it: one compare-exchange that falls through,
/// the wait out of line.
#[inline(always)]
fn lock_fast(m: &spin::Mutex<FloorList>) -> spin::MutexGuard<'_, FloorList> {
    #[cold]
    #[inline(never)]
    fn wait(m: &spin::Mutex<FloorList>) -> spin::MutexGuard<'_, FloorList> {
        m.lock()
    }
    match m.try_lock() {
        Some(g) => g,
        None => wait(m),
    }
}

/// # Safety
/// `this` is a live `DispatchedFloor` whose list is not empty; `out` is writable.
unsafe extern "system" fn dispatched_get(
    this: *const DispatchedFloor,
    out: *mut *mut DMUS_KERNEL_EVENT,
) -> i32 {
    // SAFETY: as the function's contract says.
    unsafe { out.write(floor_get_inline(&(*this).list)) };
    0
}

/// # Safety
/// `this` is a live `DispatchedFloor`; `e` came from its list.
unsafe extern "system" fn dispatched_put(
    this: *const DispatchedFloor,
    e: *mut DMUS_KERNEL_EVENT,
) -> i32 {
    // SAFETY: as the function's contract says.
    floor_put_inline(unsafe { &(*this).list }, e);
    0
}

static FLOOR_VTBL: FloorVtbl = FloorVtbl {
    get: dispatched_get,
    put: dispatched_put,
};

/// Context: `locked_list_floor_pair` called through a vtable, the part of `get_put_pair`'s
/// distance from the floor that any COM allocator pays.
#[divan::bench(sample_size = 1000)]
fn locked_list_floor_pair_dispatched(b: Bencher) {
    let mut events: Vec<DMUS_KERNEL_EVENT> = vec![DMUS_KERNEL_EVENT::FRESH; 256];
    let head = link_floor_list(&mut events);
    let floor = DispatchedFloor {
        vtbl: &FLOOR_VTBL,
        list: spin::Mutex::new(FloorList { head }),
    };
    // The bench sees the object as a port sees an interface pointer: an address it was given.
    let obj: *const DispatchedFloor = black_box(&floor);
    b.bench_local(move || {
        let mut e = null_mut();
        // SAFETY: `obj` points to `floor`, alive for the whole bench; its list never empties
        // (every event taken goes straight back).
        unsafe {
            ((*obj).vtbl.get)(obj, &mut e);
            ((*obj).vtbl.put)(obj, black_box(e));
        }
    });
    drop(events);
}

/// Records nothing; stands in for the render pin.
#[mxf::prelude::com_object(IPositionNotify)]
struct Ignore;
impl IPositionNotify_Impl for Ignore {
    fn PositionNotify(&self, byte_position: u64) {
        black_box(byte_position);
    }
}

/// Context: GetMessage + PutMessage with a notification target and a byte position on the
/// event (the render pin's path: one PositionNotify per put, made after the lock is released).
#[divan::bench(sample_size = 1000)]
fn get_put_pair_notifying(b: Bencher) {
    let n: IPositionNotify = Ignore.into_com().unwrap();
    let h = AllocatorHandle::new(
        AllocatorConfig {
            prefill_events: 10_000,
            ..Default::default()
        },
        Some(n),
    )
    .unwrap();
    let a = h.to_ref();
    b.bench_local(move || {
        let e = get(&a);
        // SAFETY: an event just obtained.
        unsafe { (*e).ullBytePosition = 64 };
        put(&a, black_box(e));
    });
}

/// GetMessage + PutMessage of one event.
#[divan::bench(sample_size = 1000)]
fn get_put_pair(b: Bencher) {
    let h = allocator();
    let a = h.to_ref();
    b.bench_local(move || put(&a, black_box(get(&a))));
}

/// 64 events taken one by one and returned as one chain; divide by 64 for the per-event cost.
#[divan::bench(sample_size = 100)]
fn chain64_get_and_put(b: Bencher) {
    let h = allocator();
    let a = h.to_ref();
    b.bench_local(move || {
        let head = get(&a);
        let mut tail = head;
        for _ in 1..64 {
            let e = get(&a);
            // SAFETY: our events.
            unsafe { (*tail).pNextEvt = e };
            tail = e;
        }
        put(&a, black_box(head));
    });
}

fn chain64(h: &IAllocatorMXF) -> usize {
    let head = get(h);
    let mut tail = head;
    for _ in 1..64 {
        let e = get(h);
        // SAFETY: our events.
        unsafe { (*tail).pNextEvt = e };
        tail = e;
    }
    head as usize
}

/// Returns its chain when dropped (outside the measurement).
struct Pending<'a>(&'a IAllocatorMXF, usize);
impl Drop for Pending<'_> {
    fn drop(&mut self) {
        put(self.0, self.1 as *mut DMUS_KERNEL_EVENT);
    }
}

/// Chains per sample of the chain-put benches: enough to amortise the timer, few enough that the
/// chains (8 × 64 events × 48 bytes) stay in the L1 cache, as they are in a driver (events are put
/// right after they are used).
const CHAINS_PER_SAMPLE: u32 = 1;

/// The put of a 64-event chain alone. The chains are built just before each sample; subtract
/// `chain64_timer_floor` (same setup, nothing measured) for the put itself.
#[divan::bench(sample_size = CHAINS_PER_SAMPLE, sample_count = 5000)]
fn chain64_put_only(b: Bencher) {
    let h = allocator();
    let (hp, a) = (&h, h.to_ref());
    b.with_inputs(move || chain64(hp))
        .bench_local_values(move |head| put(&a, black_box(head as *mut DMUS_KERNEL_EVENT)));
}

/// Context: the same 64 events returned one `PutMessage` (one lock) each, as Microsoft's
/// allocator takes its lock once per event of a chain.
#[divan::bench(sample_size = CHAINS_PER_SAMPLE, sample_count = 5000)]
fn chain64_put_one_by_one(b: Bencher) {
    let h = allocator();
    let (hp, a) = (&h, h.to_ref());
    b.with_inputs(move || chain64(hp))
        .bench_local_values(move |head| {
            let mut cur = head as *mut DMUS_KERNEL_EVENT;
            while !cur.is_null() {
                // SAFETY: a chain of our events; each is detached before it is returned.
                let next = unsafe { (*cur).pNextEvt };
                // SAFETY: as above.
                unsafe { (*cur).pNextEvt = null_mut() };
                put(&a, black_box(cur));
                cur = next;
            }
        });
}

/// The measurement floor of `chain64_put_only`: the same setup, the chain handed back unmeasured.
#[divan::bench(sample_size = CHAINS_PER_SAMPLE, sample_count = 5000)]
fn chain64_timer_floor(b: Bencher) {
    let h = allocator();
    let hp = &h;
    b.with_inputs(move || chain64(hp))
        .bench_local_values(|head| Pending(hp, black_box(head)));
}

/// GetBuffer + PutBuffer.
#[divan::bench(sample_size = 1000)]
fn buffer_pair(b: Bencher) {
    let h = allocator();
    let a = h.to_ref();
    b.bench_local(move || {
        let mut p = null_mut();
        // SAFETY: valid out-pointer.
        unsafe { a.GetBuffer(&mut p) };
        // SAFETY: the buffer just obtained.
        unsafe { a.PutBuffer(black_box(p)) };
    });
}

/// Context: the global allocator for a 240-byte buffer.
#[divan::bench(sample_size = 1000)]
fn box_240_pair(b: Bencher) {
    b.bench_local(|| drop(black_box(Box::new([0u8; 240]))));
}

/// Context: the global allocator for one event.
#[divan::bench(sample_size = 1000)]
fn box_event_pair(b: Bencher) {
    b.bench_local(|| drop(black_box(Box::new(DMUS_KERNEL_EVENT::FRESH))));
}

/// Context: get+put pairs from two threads on one allocator (per-thread time).
#[divan::bench(threads = [2], sample_size = 1000)]
fn two_threads_get_put_pair(b: Bencher) {
    static SHARED: std::sync::OnceLock<AllocatorHandle> = std::sync::OnceLock::new();
    let h = SHARED.get_or_init(allocator);
    b.bench(|| put(h, black_box(get(h))));
}

/// Floor for any chain put: only following the 64 `pNextEvt` links (dependent loads).
#[divan::bench(sample_size = 100)]
fn chain64_walk_only(b: Bencher) {
    let h = allocator();
    let head = get(&h);
    let mut tail = head;
    for _ in 1..64 {
        let e = get(&h);
        // SAFETY: our events.
        unsafe { (*tail).pNextEvt = e };
        tail = e;
    }
    b.bench_local(|| {
        let mut n = 0u32;
        let mut cur = black_box(head);
        while !cur.is_null() {
            n += 1;
            // SAFETY: a chain of live events.
            cur = unsafe { (*cur).pNextEvt };
        }
        black_box(n)
    });
    put(&h, head);
}
