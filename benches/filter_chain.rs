//! The cost of the filter layer: a 3-filter chain (transpose → velocity → channel_map) called
//! through the COM vtables, against the same three transforms called directly in Rust on the
//! same events.
//!
//! * `chain64_com`: one `PutMessage` of a 64-event chain into the transpose filter, through its
//!   vtable; each filter forwards one chain to the next through `ConnectOutput`'s sink, and the
//!   last one, unconnected, returns the chain to the allocator.
//! * `chain64_direct`: the same chain taken apart and each event passed to the three filters'
//!   `apply` functions in Rust, then returned to the allocator as one chain.
//! * `single_com` / `single_direct`: the same for one event.
//! * `chain64_cpp` / `single_cpp` (Linux x86-64): the C++ peer, `benches/cpp/peer.cpp`, the same
//!   three transforms written as the WDK samples write MXF code, called through its vtable on
//!   the same inputs; `tests/cpp_peer.rs` checks that it gives the Rust filters' output.
//!
//! Inputs are built outside the measurement (`with_inputs`) from a pre-filled allocator, so both
//! sides measure the transforms, the chain handling and the final return to the allocator.
//! `python3 benches/ratios.py filter_chain` prints every figure as a ratio to `lock_unit` (one
//! uncontended `spin::Mutex` lock+unlock of the same run), per event for the chain benches;
//! COM / direct is the ratio of the `_com` and `_direct` rows, Rust COM / C++ that of the `_com`
//! and `_cpp` rows. Goals: Rust COM / C++ ≤ 1.0 per event on 64-event chains, ≤ 1.2 on single
//! events.

use divan::{Bencher, black_box};
use mxf::abi::{DMUS_KERNEL_EVENT, STATUS_SUCCESS};
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::Interface;
use mxf::event::{Chain, Event};
use mxf::filter::{FilterHandle, IntoFilter};
use mxf::interfaces::IAllocatorMXF;
use mxf::testing::{connect_output, raw};
use mxf_suite::filters::{ChannelMap, Transpose, Velocity, VelocityCurve};

fn main() {
    divan::main();
}

/// Inputs per sample: 32 chains of 64 events stay within a few cache-friendly pages.
const CHAIN_SAMPLE: u32 = 32;
const SINGLE_SAMPLE: u32 = 256;

fn allocator() -> AllocatorHandle {
    AllocatorHandle::new(
        AllocatorConfig {
            prefill_events: 64 * CHAIN_SAMPLE + SINGLE_SAMPLE + 64,
            ..Default::default()
        },
        None,
    )
    .unwrap()
}

fn transpose() -> Transpose {
    Transpose::new(2)
}
fn velocity() -> Velocity {
    Velocity::new(VelocityCurve::Compress, 20, 120)
}
fn channel_map() -> ChannelMap {
    ChannelMap::new()
        .remap(1, 0.into(), 9.into())
        .and_then(|m| m.remap(1, 2.into(), 3.into()))
        .unwrap()
}

/// The three filters as COM objects, connected in a row.
struct Com {
    head: FilterHandle<Transpose>,
    _rest: (FilterHandle<Velocity>, FilterHandle<ChannelMap>),
}

fn com(alloc: &IAllocatorMXF) -> Com {
    let t = transpose().into_filter(alloc).unwrap();
    let v = velocity().into_filter(alloc).unwrap();
    let c = channel_map().into_filter(alloc).unwrap();
    assert_eq!(connect_output(&t, &v), STATUS_SUCCESS);
    assert_eq!(connect_output(&v, &c), STATUS_SUCCESS);
    Com {
        head: t,
        _rest: (v, c),
    }
}

/// The same three filters as plain Rust values.
struct Direct {
    t: Transpose,
    v: Velocity,
    c: ChannelMap,
}

fn direct() -> Direct {
    Direct {
        t: transpose(),
        v: velocity(),
        c: channel_map(),
    }
}

/// A chain of `n` events: note-on / note-off pairs on four channels, every event changed by at
/// least one filter, none dropped.
fn input(alloc: &IAllocatorMXF, n: u32) -> usize {
    let mut c = Chain::new(alloc);
    for i in 0..n {
        let key = 48 + (i / 2 % 24) as u8;
        let ch = (i / 2 % 4) as u8;
        let bytes = if i % 2 == 0 {
            [0x90 | ch, key, 30 + (i % 90) as u8]
        } else {
            [0x80 | ch, key, 64]
        };
        c.push_back(Event::with_bytes(alloc, &bytes, 1, i64::from(i)).unwrap());
    }
    c.into_raw() as usize
}

fn put_com(com: &Com, head: usize) {
    // SAFETY: a chain of this allocator's events, handed over through the vtable.
    let s = unsafe { raw::put_message(com.head.as_raw(), head as *mut DMUS_KERNEL_EVENT) };
    debug_assert_eq!(s, STATUS_SUCCESS);
}

fn put_direct(d: &Direct, alloc: &IAllocatorMXF, head: usize) {
    // SAFETY: a chain of this allocator's events, handed over.
    let input = unsafe { Chain::from_raw(head as *mut DMUS_KERNEL_EVENT, alloc) };
    let mut out = Chain::new(alloc);
    for mut e in input {
        if d.t.apply(&mut e).is_forward()
            && d.v.apply(&mut e).is_forward()
            && d.c.apply(&mut e).is_forward()
        {
            out.push_back(e);
        }
    }
    let s = out.deliver(None);
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

/// 64 events through the three COM filters.
#[divan::bench(sample_size = CHAIN_SAMPLE, sample_count = 2000)]
fn chain64_com(b: Bencher) {
    let alloc = allocator();
    let c = com(&alloc);
    b.with_inputs(|| input(&alloc, 64))
        .bench_local_values(|h| put_com(&c, black_box(h)));
}

/// The same 64 events through the three transforms called directly.
#[divan::bench(sample_size = CHAIN_SAMPLE, sample_count = 2000)]
fn chain64_direct(b: Bencher) {
    let alloc = allocator();
    let d = direct();
    b.with_inputs(|| input(&alloc, 64))
        .bench_local_values(|h| put_direct(&d, &alloc, black_box(h)));
}

/// One event through the three COM filters.
#[divan::bench(sample_size = SINGLE_SAMPLE, sample_count = 2000)]
fn single_com(b: Bencher) {
    let alloc = allocator();
    let c = com(&alloc);
    b.with_inputs(|| input(&alloc, 1))
        .bench_local_values(|h| put_com(&c, black_box(h)));
}

/// The same event through the three transforms called directly.
#[divan::bench(sample_size = SINGLE_SAMPLE, sample_count = 2000)]
fn single_direct(b: Bencher) {
    let alloc = allocator();
    let d = direct();
    b.with_inputs(|| input(&alloc, 1))
        .bench_local_values(|h| put_direct(&d, &alloc, black_box(h)));
}

/// The C++ peer (`benches/cpp/peer.cpp`, built with -O2 by `build.rs`): the same three
/// transforms with the same semantics, written as WDK samples write MXF code (C++ objects with
/// virtual `PutMessage`, raw bytes, each forwarding one chain to the next), over the same
/// allocator through its vtable.
#[cfg(mxf_cpp_peer)]
mod cpp {
    use core::ffi::c_void;

    unsafe extern "C" {
        fn mxf_peer_chain_new(allocator: *mut c_void) -> *mut c_void;
        fn mxf_peer_chain_head(chain: *mut c_void) -> *mut c_void;
        fn mxf_peer_chain_free(chain: *mut c_void);
    }

    /// The three C++ filters, connected in a row; freed on drop.
    pub struct Peer(*mut c_void);

    impl Peer {
        pub fn new(alloc: &mxf::interfaces::IAllocatorMXF) -> Peer {
            use mxf::com::Interface;
            // SAFETY: a live IAllocatorMXF, which outlives the peer (the bench holds both).
            Peer(unsafe { mxf_peer_chain_new(alloc.as_raw()) })
        }
        /// The head filter's IMXF.
        pub fn head(&self) -> *mut c_void {
            // SAFETY: a chain made by `mxf_peer_chain_new`, not freed yet.
            unsafe { mxf_peer_chain_head(self.0) }
        }
    }

    impl Drop for Peer {
        fn drop(&mut self) {
            // SAFETY: made by `mxf_peer_chain_new`, freed once.
            unsafe { mxf_peer_chain_free(self.0) }
        }
    }
}

#[cfg(mxf_cpp_peer)]
fn put_cpp(peer: &cpp::Peer, head: usize) {
    let this = peer.head();
    // SAFETY: `this` is the C++ head filter's IMXF, whose vtable has IMXF's slots in order (C++
    // single inheritance from IUnknown); the chain is this allocator's, handed over.
    let s = unsafe {
        let vt = &**this.cast::<*const mxf::interfaces::IMXF_Vtbl>();
        (vt.PutMessage)(this, head as *mut DMUS_KERNEL_EVENT)
    };
    debug_assert_eq!(s, STATUS_SUCCESS);
}

/// 64 events through the three C++ filters.
#[cfg(mxf_cpp_peer)]
#[divan::bench(sample_size = CHAIN_SAMPLE, sample_count = 2000)]
fn chain64_cpp(b: Bencher) {
    let alloc = allocator();
    let peer = cpp::Peer::new(&alloc);
    b.with_inputs(|| input(&alloc, 64))
        .bench_local_values(|h| put_cpp(&peer, black_box(h)));
}

/// One event through the three C++ filters.
#[cfg(mxf_cpp_peer)]
#[divan::bench(sample_size = SINGLE_SAMPLE, sample_count = 2000)]
fn single_cpp(b: Bencher) {
    let alloc = allocator();
    let peer = cpp::Peer::new(&alloc);
    b.with_inputs(|| input(&alloc, 1))
        .bench_local_values(|h| put_cpp(&peer, black_box(h)));
}

/// Context: building and returning a 64-event input, the part both chain benches leave out.
#[divan::bench(sample_size = CHAIN_SAMPLE, sample_count = 2000)]
fn chain64_input_only(b: Bencher) {
    let alloc = allocator();
    b.bench_local(|| {
        let h = input(&alloc, 64);
        // SAFETY: our chain, returned.
        unsafe { alloc.PutMessage(black_box(h) as *mut DMUS_KERNEL_EVENT) };
    });
}
