//! The C++ peer of the filter_chain bench (`benches/cpp/peer.cpp`) has the semantics of the Rust
//! sample filters it is measured against: the same event streams through both chains
//! (transpose 2 → velocity compress 20..120 → channel map group 1: 0→9, 2→3) give the same
//! output, event for event, and both return everything to the allocator. Without this, the
//! bench's Rust / C++ ratios would compare different work. Linux x86-64 only (where `build.rs`
//! builds the peer).
#![cfg(mxf_cpp_peer)]

use core::ffi::c_void;
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::{ComRef, Interface, IntoComObject};
use mxf::event::{Chain, Event};
use mxf::filter::{FilterHandle, IntoFilter};
use mxf::platform::SpinLock;
use mxf::prelude::*;
use mxf_suite::filters::{ChannelMap, Transpose, Velocity, VelocityCurve};
use std::sync::Arc;

unsafe extern "C" {
    fn mxf_peer_chain_new(allocator: *mut c_void) -> *mut c_void;
    fn mxf_peer_chain_head(chain: *mut c_void) -> *mut c_void;
    fn mxf_peer_chain_tail(chain: *mut c_void) -> *mut c_void;
    fn mxf_peer_chain_free(chain: *mut c_void);
}

/// What reached the sink: bytes, group, time, in order.
type Seen = Arc<SpinLock<Vec<(Vec<u8>, u16, i64)>>>;

/// The end of both chains: writes down each event, then returns the chain to the allocator.
#[com_object(IMXF)]
struct Sink {
    alloc: IAllocatorMXF,
    seen: Seen,
}

impl IMXF_Impl for Sink {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn PutMessage(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        // SAFETY: PutMessage hands over a chain of this allocator's events.
        let mut chain = unsafe { Chain::from_raw(head, &self.alloc) };
        let mut back = Chain::new(&self.alloc);
        let mut seen = self.seen.lock();
        while let Some(e) = chain.pop_front() {
            seen.push((e.data().to_vec(), e.channel_group(), e.time()));
            back.push_back(e);
        }
        drop(seen);
        back.deliver(None)
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

/// `this->PutMessage(head)` through the IMXF vtable, as the port calls either chain.
fn put(this: *mut c_void, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
    // SAFETY: `this` is a live IMXF (Rust or C++), the chain is handed over.
    unsafe {
        let vt = &**this.cast::<*const IMXF_Vtbl>();
        (vt.PutMessage)(this, head)
    }
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One event's bytes: mostly notes (on, off, on with velocity 0, key pressure) on a few keys at
/// the range's edges too, all-notes-off and all-sound-off, other channel messages, SysEx, and
/// malformed data.
fn bytes(r: &mut Rng) -> Vec<u8> {
    let ch = r.below(16) as u8;
    let key = [0u8, 1, 60, 64, 125, 126, 127][r.below(7) as usize];
    let vel = [0u8, 1, 20, 64, 100, 127][r.below(6) as usize];
    match r.below(12) {
        0..=3 => vec![0x90 | ch, key, vel],
        4..=5 => vec![0x80 | ch, key, vel],
        6 => vec![0xA0 | ch, key, vel],
        7 => vec![0xB0 | ch, [7u8, 120, 123][r.below(3) as usize], 0],
        8 => vec![0xC0 | ch, key],
        9 => vec![0xE0 | ch, 0x00, 0x40],
        10 => vec![0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7],
        _ => vec![0x90 | ch, 0x80, 1], // a data byte with the top bit set
    }
}

#[test]
fn the_cpp_peer_and_the_rust_filters_give_the_same_output() {
    for seed in [1u64, 7, 42, 1234, 0xDEAD_BEEF] {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let rust_seen = Seen::default();
        let cpp_seen = Seen::default();
        let rust_sink: IMXF = Sink {
            alloc: alloc.interface().clone(),
            seen: rust_seen.clone(),
        }
        .into_com()
        .unwrap();
        let cpp_sink: IMXF = Sink {
            alloc: alloc.interface().clone(),
            seen: cpp_seen.clone(),
        }
        .into_com()
        .unwrap();

        let t: FilterHandle<Transpose> = Transpose::new(2).into_filter(&alloc).unwrap();
        let v = Velocity::new(VelocityCurve::Compress, 20, 120)
            .into_filter(&alloc)
            .unwrap();
        let map = ChannelMap::new()
            .remap(1, 0.into(), 9.into())
            .and_then(|m| m.remap(1, 2.into(), 3.into()))
            .unwrap();
        let c = map.into_filter(&alloc).unwrap();
        assert_eq!(t.ConnectOutput(Some(v.to_ref())), STATUS_SUCCESS);
        assert_eq!(v.ConnectOutput(Some(c.to_ref())), STATUS_SUCCESS);
        assert_eq!(c.ConnectOutput(Some(rust_sink.to_ref())), STATUS_SUCCESS);

        // SAFETY: a live allocator, which outlives the peer (freed below).
        let peer = unsafe { mxf_peer_chain_new(alloc.interface().as_raw()) };
        // SAFETY: the peer is live until freed below.
        let (head, tail) = unsafe { (mxf_peer_chain_head(peer), mxf_peer_chain_tail(peer)) };
        // SAFETY: `tail` is the C++ channel map's IMXF; ConnectOutput is slot 5.
        let s = unsafe {
            let vt = &**tail.cast::<*const IMXF_Vtbl>();
            (vt.ConnectOutput)(tail, Some(cpp_sink.to_ref()))
        };
        assert_eq!(s, STATUS_SUCCESS);

        let mut r = Rng(seed);
        let mut time = 0i64;
        for _ in 0..400 {
            let n = 1 + r.below(24);
            let events: Vec<(Vec<u8>, u16, i64)> = (0..n)
                .map(|_| {
                    time += r.below(1000) as i64;
                    (bytes(&mut r), 1 + r.below(10) as u16, time)
                })
                .collect();
            for (this, sink_is_rust) in [(t.as_raw(), true), (head, false)] {
                let mut chain = Chain::new(&alloc);
                for (b, g, tm) in &events {
                    chain.push_back(Event::with_bytes(&alloc, b, *g, *tm).unwrap());
                }
                let s = put(this, chain.into_raw());
                assert_eq!(s, STATUS_SUCCESS, "seed {seed}, rust {sink_is_rust}");
            }
        }
        assert_eq!(
            *rust_seen.lock(),
            *cpp_seen.lock(),
            "seed {seed}: the two chains differ"
        );
        assert!(!rust_seen.lock().is_empty());
        // SAFETY: made by `mxf_peer_chain_new`, freed once; nothing calls it afterwards.
        unsafe { mxf_peer_chain_free(peer) };
        drop((t, v, c, rust_sink, cpp_sink));
        let st = alloc.stats();
        assert_eq!((st.outstanding_events, st.outstanding_buffers), (0, 0));
    }
}
