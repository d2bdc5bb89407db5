//! Aggregation (`OuterUnknown` of `IMiniportDMus::NewStream`), driven only through raw vtable
//! pointers: every interface of an aggregated object delegates QueryInterface, AddRef and
//! Release to the controlling unknown; the aggregator keeps the inner object's non-delegating
//! unknown and releases it when it is destroyed.

use core::ffi::c_void;
use core::ptr;
use mxf::abi::NonPagedPool;
use mxf::com::ComObject;
use mxf::platform::fault;
use mxf::prelude::*;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// The aggregator and the aggregated object.
// ---------------------------------------------------------------------------------------------

/// Pool tag of the inner objects.
const INNER_TAG: u32 = pool_tag(b"Innr");

/// The aggregator: an IMXF and an IServiceSink (which the inner object lacks). It holds the
/// inner object's non-delegating unknown and releases it when destroyed (field drop). Its
/// QueryInterface failure status differs from the inner's, so a test sees who answered.
#[com_object(IMXF, IServiceSink, qi_failure = STATUS_INVALID_PARAMETER_2, tag = "Outr")]
struct Outer {
    inner: OnceLock<IUnknown>,
    serviced: Arc<AtomicUsize>,
    _probe: Probe,
}

impl IMXF_Impl for Outer {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn PutMessage(&self, _event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

impl IServiceSink_Impl for Outer {
    fn RequestService(&self) {
        self.serviced.fetch_add(1, Ordering::SeqCst);
    }
}

/// The aggregated object: a synth sink stream (one chain: ISynthSinkDMus and its IMXF).
#[com_object(ISynthSinkDMus)]
struct Inner {
    state: AtomicI32,
    _probe: Probe,
}

impl Inner {
    fn new() -> (Self, Arc<AtomicUsize>) {
        let (probe, drops) = Probe::new();
        (
            Self {
                state: AtomicI32::new(-1),
                _probe: probe,
            },
            drops,
        )
    }
}

impl IMXF_Impl for Inner {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        self.state.store(state.0, Ordering::SeqCst);
        STATUS_SUCCESS
    }
    unsafe fn PutMessage(&self, _event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

impl ISynthSinkDMus_Impl for Inner {
    unsafe fn Render(&self, _buffer: *mut u8, _length: u32, _position: i64) {}
    fn SyncToMaster(&self, _time: REFERENCE_TIME, _start: i32) -> NTSTATUS {
        STATUS_SUCCESS
    }
    /// Reports the state last set, so a test sees which object a call reached.
    unsafe fn SampleToRefTime(&self, _sample: i64, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(i64::from(self.state.load(Ordering::SeqCst))) };
        STATUS_SUCCESS
    }
    unsafe fn RefTimeToSample(&self, _time: REFERENCE_TIME, _sample: *mut i64) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

/// An aggregator with its inner object.
struct Pair {
    /// Chain 0 of the outer object: the test's reference.
    outer: RawRef,
    /// The inner object's non-delegating unknown, borrowed: its reference belongs to the outer
    /// object, which outlives every use of it in the tests.
    inner_unknown: *mut c_void,
    outer_drops: Arc<AtomicUsize>,
    inner_drops: Arc<AtomicUsize>,
    serviced: Arc<AtomicUsize>,
}

impl Pair {
    /// The inner object's non-delegating unknown, with a reference of its own (counted on the
    /// inner object, not on the outer).
    fn inner_unknown(&self) -> RawRef {
        // SAFETY: the outer object, alive while `self.outer` holds its reference, keeps the
        // inner one alive.
        unsafe { raw_add_ref(self.inner_unknown) };
        // SAFETY: `inner_unknown` is live and carries the reference just added.
        unsafe { RawRef::from_raw(self.inner_unknown) }.expect("non-NULL")
    }
}

/// Builds the outer object first (the inner needs its controlling unknown), then the inner
/// aggregated by it, and hands the inner's non-delegating unknown to the outer.
fn build() -> Pair {
    let (probe, outer_drops) = Probe::new();
    let serviced = Arc::new(AtomicUsize::new(0));
    let outer: IUnknown = Outer {
        inner: OnceLock::new(),
        serviced: serviced.clone(),
        _probe: probe,
    }
    .into_com()
    .expect("outer");
    let (value, inner_drops) = Inner::new();
    // SAFETY: the outer object owns the inner one (it stores the unknown below), so it outlives it.
    let inner =
        unsafe { ComObject::<Inner>::create_aggregated(value, &outer, NonPagedPool, INNER_TAG) };
    let inner = inner.expect("inner");
    let inner_unknown = inner.as_raw();
    // SAFETY: `outer` is chain 0 of a live `Outer` (the identity `into_com` returned).
    let slot = unsafe { ComObject::<Outer>::value_of::<0>(outer.as_raw()) };
    slot.inner.set(inner).expect("set once");
    // SAFETY: `outer` gives up its reference.
    let outer = unsafe { RawRef::from_raw(outer.into_raw()) }.expect("non-NULL");
    Pair {
        outer,
        inner_unknown,
        outer_drops,
        inner_drops,
        serviced,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn inner_interfaces_add_and_release_references_on_the_outer() {
    let before = fault::live_blocks();
    let p = build();
    let inner = p.inner_unknown();
    assert_eq!(p.outer.refs(), 1);
    assert_eq!(
        inner.refs(),
        2,
        "the outer's reference and ours, on the inner's own count"
    );

    let sink = inner.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    assert_eq!(
        p.outer.refs(),
        2,
        "the reference QI added went to the outer"
    );
    assert_eq!(inner.refs(), 2, "the inner's own count is untouched");

    let (n, a) = sink.add_ref();
    assert_eq!(
        n, 3,
        "AddRef through the inner returns the outer's new count"
    );
    let (n, b) = sink.add_ref();
    assert_eq!(n, 4);
    assert_eq!(p.outer.refs(), 4);
    assert_eq!(
        a.release(),
        3,
        "Release through the inner returns the outer's new count"
    );
    assert_eq!(b.release(), 2);

    // IMXF is the base of the inner's chain: the same slots, the same delegation.
    // SAFETY: the inner's chain 0 holds ISynthSinkDMus's vtable, which begins with IMXF's.
    let mxf_vt = unsafe { sink.vtbl::<IMXF_Vtbl>() };
    // SAFETY: live object.
    let status = unsafe { (mxf_vt.base__.AddRef)(sink.as_raw()) };
    assert_eq!(status, 3);
    // SAFETY: gives back the reference just added.
    let status = unsafe { (mxf_vt.base__.Release)(sink.as_raw()) };
    assert_eq!(status, 2);

    assert_eq!(inner.release(), 1);
    assert_eq!(sink.release(), 1);
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 0);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 0);
    assert_eq!(p.outer.release(), 0);
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        p.inner_drops.load(Ordering::SeqCst),
        1,
        "the outer released the inner when destroyed"
    );
    assert_eq!(fault::live_blocks(), before, "both blocks freed");
}

#[test]
fn qi_through_an_inner_interface_is_answered_by_the_outer() {
    let p = build();
    let sink = p
        .inner_unknown()
        .qi(&ISynthSinkDMus::IID)
        .expect("ISynthSinkDMus");

    // IUnknown: the outer's identity, not the inner's.
    let id = sink.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(id, p.outer);
    // IMXF: the outer's chain 0, although the inner implements IMXF itself.
    let mxf = sink.qi(&IMXF::IID).expect("IMXF");
    assert_eq!(mxf, p.outer);
    // IServiceSink: only the outer implements it; its chain 1.
    let service = sink.qi(&IServiceSink::IID).expect("IServiceSink");
    assert_eq!(service.addr(), p.outer.addr() + SLOT);
    assert_eq!(p.outer.refs(), 5, "every QI added a reference to the outer");

    // The pointer is the outer's code.
    // SAFETY: the outer's chain 1 holds IServiceSink's vtable.
    let vt = unsafe { service.vtbl::<IServiceSink_Vtbl>() };
    // SAFETY: live object.
    unsafe { (vt.RequestService)(service.as_raw()) };
    assert_eq!(p.serviced.load(Ordering::SeqCst), 1);

    // ISynthSinkDMus: the outer does not expose it, so it fails with the outer's status.
    assert_eq!(
        sink.qi(&ISynthSinkDMus::IID).err(),
        Some(STATUS_INVALID_PARAMETER_2)
    );
    // A NULL out-pointer is refused without writing, as for any object.
    // SAFETY: NULL `out` is allowed by the contract and must be refused.
    let status = unsafe { sink.query_raw(&IMXF::IID, ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert_eq!(p.outer.refs(), 5);

    drop((service, mxf, id, sink));
    assert_eq!(p.outer.release(), 0);
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 1);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 1);
}

#[test]
fn non_delegating_unknown_answers_for_the_inner_object_only() {
    let p = build();
    let inner = p.inner_unknown();
    assert_eq!(inner.refs(), 2);

    // IUnknown: the non-delegating unknown itself, counted on the inner.
    let unk = inner.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(unk, inner);
    assert_eq!(inner.refs(), 3);
    assert_eq!(p.outer.refs(), 1);
    assert_eq!(unk.release(), 2);

    // IMXF and ISynthSinkDMus: the inner's chain 0 (the non-delegating unknown follows it); the
    // reference goes to the outer through the returned (delegating) interface.
    let mxf = inner.qi(&IMXF::IID).expect("IMXF");
    assert_ne!(mxf, p.outer);
    assert_eq!(mxf.addr() + SLOT, inner.addr());
    let sink = inner.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    assert_eq!(sink, mxf);
    assert_eq!(p.outer.refs(), 3);
    assert_eq!(inner.refs(), 2);

    // The calls reach the inner's value.
    // SAFETY: the inner's chain 0 holds ISynthSinkDMus's vtable.
    let vt = unsafe { sink.vtbl::<ISynthSinkDMus_Vtbl>() };
    // SAFETY: live object, plain arguments.
    let status = unsafe { (vt.base__.SetState)(sink.as_raw(), KSSTATE_RUN) };
    assert_eq!(status, STATUS_SUCCESS);
    let mut t = 0;
    // SAFETY: live object; `t` is a valid out-pointer.
    let status = unsafe { (vt.SampleToRefTime)(sink.as_raw(), 0, &mut t) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(t, 3);

    // IServiceSink: the inner does not implement it; the inner's own failure status.
    assert_eq!(
        inner.qi(&IServiceSink::IID).err(),
        Some(STATUS_INVALID_PARAMETER)
    );
    // NULL out-pointer and NULL IID.
    // SAFETY: NULL `out` is allowed by the contract and must be refused.
    let status = unsafe { inner.query_raw(&IMXF::IID, ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    let mut out = sentinel();
    // SAFETY: a NULL IID is allowed by the contract and must be refused; `out` is valid.
    let status = unsafe { inner.query_raw(ptr::null(), &mut out) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert!(out.is_null());
    assert_eq!(p.outer.refs(), 3);
    assert_eq!(inner.refs(), 2);

    drop((sink, mxf, inner));
    assert_eq!(p.outer.release(), 0);
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 1);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 1);
}

#[test]
fn an_inner_interface_keeps_the_aggregate_alive() {
    let before = fault::live_blocks();
    let p = build();
    let sink = p
        .inner_unknown()
        .qi(&ISynthSinkDMus::IID)
        .expect("ISynthSinkDMus");
    let outer_addr = p.outer.addr();
    assert_eq!(
        p.outer.release(),
        1,
        "the inner interface's reference remains"
    );
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 0);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 0);

    // SAFETY: the inner's chain 0 holds ISynthSinkDMus's vtable.
    let vt = unsafe { sink.vtbl::<ISynthSinkDMus_Vtbl>() };
    // SAFETY: live object, plain arguments.
    let status = unsafe { (vt.base__.SetState)(sink.as_raw(), KSSTATE_PAUSE) };
    assert_eq!(status, STATUS_SUCCESS);
    // Through the inner, the outer is still reachable.
    let id = sink.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(id.addr(), outer_addr);
    assert_eq!(id.release(), 1);

    // The last reference, released through the inner, destroys the outer, which releases the
    // inner.
    assert_eq!(sink.release(), 0);
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 1);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 1);
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn aggregated_creation_with_an_iid_other_than_iunknown_fails_and_leaks_nothing() {
    let p = build();
    let before = fault::live_blocks();
    let outer = p.outer.as_raw();
    for iid in [IMXF::IID, ISynthSinkDMus::IID, IServiceSink::IID] {
        let (value, drops) = Inner::new();
        let mut out = sentinel();
        // SAFETY: `outer` is a live IUnknown; `iid` and `out` are valid locals.
        let s = unsafe {
            ComObject::<Inner>::create_raw(value, outer, NonPagedPool, INNER_TAG, &iid, &mut out)
        };
        assert_eq!(
            s, STATUS_INVALID_PARAMETER,
            "aggregation hands out only the non-delegating unknown"
        );
        assert!(out.is_null());
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the value is dropped once");
    }
    // A NULL IID with an outer is refused the same way.
    let (value, drops) = Inner::new();
    let mut out = sentinel();
    // SAFETY: as above; the NULL IID is allowed by the contract and must be refused.
    let s = unsafe {
        ComObject::<Inner>::create_raw(value, outer, NonPagedPool, INNER_TAG, ptr::null(), &mut out)
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    assert!(out.is_null());
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    assert_eq!(
        fault::live_blocks(),
        before,
        "nothing allocated, nothing leaked"
    );
    assert_eq!(p.outer.refs(), 1, "the outer was not touched");
    assert_eq!(p.outer.release(), 0);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 1);
}

#[test]
fn aggregated_creation_allocation_failure_leaks_nothing() {
    let p = build();
    let outer_raw = p.outer.as_raw();
    // SAFETY: `outer_raw` is chain 0 of a live object; the borrow never releases it.
    let outer = unsafe { IUnknown::from_raw_borrowed(&outer_raw) }.expect("non-NULL");
    let before = fault::live_blocks();
    {
        let (value, drops) = Inner::new();
        let _plan = fault::fail_nth(1);
        // SAFETY: the outer outlives the attempt.
        let r =
            unsafe { ComObject::<Inner>::create_aggregated(value, outer, NonPagedPool, INNER_TAG) };
        assert_eq!(r.err(), Some(STATUS_INSUFFICIENT_RESOURCES));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
    {
        let (value, drops) = Inner::new();
        let _plan = fault::fail_nth(1);
        let mut out = sentinel();
        // SAFETY: the outer is live; `out` is a valid local.
        let s = unsafe {
            ComObject::<Inner>::create_raw(
                value,
                outer_raw,
                NonPagedPool,
                INNER_TAG,
                &IUnknown::IID,
                &mut out,
            )
        };
        assert_eq!(s, STATUS_INSUFFICIENT_RESOURCES);
        assert!(out.is_null());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
    assert_eq!(fault::live_blocks(), before);
    assert_eq!(p.outer.refs(), 1);
    assert_eq!(p.outer.release(), 0);
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 1);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 1);
}

#[test]
fn concurrent_add_ref_release_through_inner_and_outer_interfaces() {
    const THREADS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 25 } else { 5_000 };
    let p = build();
    // SAFETY: the test's reference moves into `outer`; chain 0 of the outer is an IMXF.
    let outer = unsafe { IMXF::from_raw(p.outer.into_raw()) }.expect("non-NULL");
    // SAFETY: `p.inner_unknown` is live while the outer is, and is borrowed no longer.
    let inner = unsafe { IUnknown::from_raw_borrowed(&p.inner_unknown) }.expect("non-NULL");
    // The inner's interface, as the outer would hand it out.
    let sink: ISynthSinkDMus = inner.cast().expect("ISynthSinkDMus");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (outer, sink) = (&outer, &sink);
            s.spawn(move || {
                let own = if t % 2 == 0 {
                    RawRef::of(outer)
                } else {
                    RawRef::of(sink)
                };
                for _ in 0..ROUNDS {
                    let (n, extra) = own.add_ref();
                    assert!(n >= 4, "the test thread's two and this thread's one remain");
                    assert!(extra.release() >= 3);
                }
                let service = own
                    .qi(&IServiceSink::IID)
                    .expect("the outer's IServiceSink");
                // SAFETY: the outer's chain 1 holds IServiceSink's vtable.
                let vt = unsafe { service.vtbl::<IServiceSink_Vtbl>() };
                // SAFETY: live object.
                unsafe { (vt.RequestService)(service.as_raw()) };
            });
        }
    });
    assert_eq!(p.serviced.load(Ordering::SeqCst), THREADS);
    assert_eq!(RawRef::of(&outer).refs(), 3);
    // The last reference goes away on another thread, through the inner interface.
    drop(outer);
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 0);
    std::thread::spawn(move || drop(sink))
        .join()
        .expect("thread");
    assert_eq!(p.outer_drops.load(Ordering::SeqCst), 1);
    assert_eq!(p.inner_drops.load(Ordering::SeqCst), 1);
}
