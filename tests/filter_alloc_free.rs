//! Zero heap allocations per event in steady state: events pushed through filter chains (called
//! through their vtables) never reach the global allocator once the event allocator is warm.
//! `PutMessage` runs at DISPATCH_LEVEL in a real driver, where allocating is not an option.
//!
//! A counting `#[global_allocator]` counts, per thread, the allocations made while counting is
//! on, so tests running in parallel do not disturb each other.

use mxf::abi::{DMUS_KERNEL_EVENT, STATUS_SUCCESS};
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::Interface;
use mxf::event::{Chain, Event};
use mxf::filter::IntoFilter;
use mxf::interfaces::{IAllocatorMXF, IMXF};
use mxf::testing::{connect_output, raw};
use mxf_suite::filters::{
    ChannelMap, Echo, NoteOffNormalizer, Splitter, SysexAction, SysexFilter, Transpose, Velocity,
    VelocityCurve,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: forwards to the system allocator unchanged; the counting touches only const-initialised
// thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

fn allocator() -> AllocatorHandle {
    AllocatorHandle::new(
        AllocatorConfig {
            prefill_events: 4096,
            ..Default::default()
        },
        None,
    )
    .unwrap()
}

/// A 64-event stream: notes on and off, controllers, a long SysEx; built from the event
/// allocator only.
fn stream(alloc: &IAllocatorMXF, round: u32) -> *mut DMUS_KERNEL_EVENT {
    let mut c = Chain::new(alloc);
    let sysex: [u8; 24] = core::array::from_fn(|i| match i {
        0 => 0xF0,
        23 => 0xF7,
        _ => i as u8,
    });
    for i in 0..64u32 {
        let key = 40 + ((i + round) % 40) as u8;
        let ch = (i % 4) as u8;
        let bytes: &[u8] = match i % 8 {
            0 | 2 | 4 => &[0x90 | ch, key, 100],
            1 | 3 => &[0x80 | ch, key, 0],
            5 => &[0x90 | ch, key, 0],
            6 => &[0xB0 | ch, 7, 90],
            _ => &sysex,
        };
        let e = Event::with_bytes(alloc, bytes, 1 + (i % 2) as u16, i64::from(i)).unwrap();
        c.push_back(e);
    }
    c.into_raw()
}

fn push(filter: &IMXF, head: *mut DMUS_KERNEL_EVENT) {
    // SAFETY: a chain of the filter's allocator, handed over.
    let s = unsafe { raw::put_message(filter.as_raw(), head) };
    assert_eq!(s, STATUS_SUCCESS);
}

/// Runs `rounds` 64-event chains and `rounds` single events through `head`.
fn drive(alloc: &IAllocatorMXF, head: &IMXF, rounds: u32) {
    for round in 0..rounds {
        push(head, stream(alloc, round));
        let single = Event::with_bytes(alloc, &[0x90, 60, 100], 1, 0).unwrap();
        push(head, single.into_raw());
    }
}

#[test]
fn transpose_velocity_channel_map_chain_allocates_nothing_per_event() {
    let alloc = allocator();
    let t = Transpose::new(3).into_filter(&alloc).unwrap();
    let v = Velocity::new(VelocityCurve::Compress, 20, 120)
        .into_filter(&alloc)
        .unwrap();
    let map = ChannelMap::new()
        .remap(1, 0.into(), 9.into())
        .and_then(|m| m.mute(2, 3.into()))
        .unwrap();
    let c = map.into_filter(&alloc).unwrap();
    assert_eq!(connect_output(&t, &v), STATUS_SUCCESS);
    assert_eq!(connect_output(&v, &c), STATUS_SUCCESS);
    // `c` stays unconnected: its events return to the allocator.

    drive(&alloc, &t, 50); // warm-up: buffer pages, lazily built state
    let n = allocations_in(|| drive(&alloc, &t, 500));
    assert_eq!(n, 0, "heap allocations in steady state");
    assert_eq!(t.stats().events_in, 550 * 65);
    let s = alloc.stats();
    assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
}

#[test]
fn creating_and_copying_filters_allocate_nothing_per_event() {
    let alloc = allocator();
    let n = NoteOffNormalizer::new().into_filter(&alloc).unwrap();
    let x = SysexFilter::new(SysexAction::Drop)
        .with_group(2, SysexAction::Pass)
        .unwrap()
        .into_filter(&alloc)
        .unwrap();
    let e = Echo::new(1000, 3, 70).into_filter(&alloc).unwrap();
    let s = Splitter::new().into_filter(&alloc).unwrap();
    assert_eq!(connect_output(&n, &x), STATUS_SUCCESS);
    assert_eq!(connect_output(&x, &e), STATUS_SUCCESS);
    assert_eq!(connect_output(&e, &s), STATUS_SUCCESS);

    drive(&alloc, &n, 50);
    let count = allocations_in(|| drive(&alloc, &n, 300));
    assert_eq!(count, 0, "heap allocations in steady state");
    assert!(e.filter().created() > 0 && s.stats().events_out > 0);
    let st = alloc.stats();
    assert_eq!((st.outstanding_events, st.outstanding_buffers), (0, 0));
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_in(|| drop(std::hint::black_box(Box::new(7u64))));
    assert_eq!(n, 1);
}
