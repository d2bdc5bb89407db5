//! Kernel COM semantics of `#[com_object]` objects, driven only through raw vtable pointers, the
//! way the PortCls DMus port (C++) calls them: QueryInterface over every chain and ancestor,
//! identity, reference counts, interfaces without an IID, creation failures, the over-release
//! path and free-threaded use.

use core::ffi::c_void;
use core::ptr;
use mxf::abi::NonPagedPool;
use mxf::com::refcount::{RefCount, Released, anomalies};
use mxf::com::{ComObject, IntoComObject, ObjectImpl};
use mxf::platform::fault;
use mxf::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

mod common;
use common::*;

/// `CreateXxx(&out, NULL, NonPagedPool, iid)` for object type `T`, checking the out-pointer
/// contract (NULL on failure).
fn create<T: ObjectImpl<Value = T>>(value: T, iid: &GUID) -> Result<RawRef> {
    let mut out = sentinel();
    // SAFETY: no outer; `iid` and `out` are valid locals.
    let status = unsafe {
        ComObject::<T>::create_raw(
            value,
            ptr::null_mut(),
            NonPagedPool,
            pool_tag(b"Test"),
            iid,
            &mut out,
        )
    };
    if status.is_success() {
        // SAFETY: success stores an AddRef'd interface pointer.
        Ok(unsafe { RawRef::from_raw(out) }.expect("success with a NULL pointer"))
    } else {
        assert!(
            out.is_null(),
            "failed creation sets the out-pointer to NULL"
        );
        Err(status)
    }
}

/// Implements IMXF with fixed answers (the tests here only exercise IUnknown and `SetState`).
macro_rules! plain_imxf {
    ($t:ty) => {
        impl IMXF_Impl for $t {
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
    };
}

// ---------------------------------------------------------------------------------------------
// Test objects.
// ---------------------------------------------------------------------------------------------

/// Two chains: IMXF (chain 0) and ISynthSinkDMus (chain 1, itself an IMXF).
#[com_object(IMXF, ISynthSinkDMus)]
struct Synth {
    state: AtomicI32,
    _probe: Probe,
}

impl Synth {
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

impl IMXF_Impl for Synth {
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

impl ISynthSinkDMus_Impl for Synth {
    unsafe fn Render(&self, _buffer: *mut u8, _length: u32, _position: i64) {}
    fn SyncToMaster(&self, _time: REFERENCE_TIME, _start: i32) -> NTSTATUS {
        STATUS_SUCCESS
    }
    /// Reports `sample * 10 + state`, so a test sees which value a call reached.
    unsafe fn SampleToRefTime(&self, sample: i64, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let v = sample * 10 + i64::from(self.state.load(Ordering::SeqCst));
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(v) };
        STATUS_SUCCESS
    }
    unsafe fn RefTimeToSample(&self, _time: REFERENCE_TIME, _sample: *mut i64) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

/// Answers unknown IIDs as Microsoft's allocator does.
#[com_object(IMXF, qi_failure = STATUS_INVALID_PARAMETER_1, tag = "Strc")]
struct Strict {
    _probe: Probe,
}
plain_imxf!(Strict);

/// A master clock alone: its only interface has no IID.
#[com_object(IMasterClock)]
struct Clock {
    now: i64,
    _probe: Probe,
}

impl IMasterClock_Impl for Clock {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(self.now) };
        STATUS_SUCCESS
    }
}

/// An IMXF that is also a clock (chain 1 has no IID).
#[com_object(IMXF, IMasterClock)]
struct ClockedFilter {
    now: i64,
    _probe: Probe,
}
plain_imxf!(ClockedFilter);

impl IMasterClock_Impl for ClockedFilter {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(self.now) };
        STATUS_SUCCESS
    }
}

/// What a [`SelfReleasing`] saw when its teardown touched its own count.
#[derive(Default)]
struct TeardownLog {
    release: AtomicU32,
    add_ref: AtomicU32,
    ran: AtomicUsize,
}

/// A filter connected to itself without a reference (a weak back-pointer) whose teardown
/// nevertheless releases it, then tries to resurrect itself: the classic over-release.
#[com_object(IMXF)]
struct SelfReleasing {
    me: AtomicPtr<c_void>,
    log: Arc<TeardownLog>,
}

impl IMXF_Impl for SelfReleasing {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn PutMessage(&self, _event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        // Deliberately keeps no reference.
        self.me.store(
            sink.map_or(ptr::null_mut(), ComRef::as_raw),
            Ordering::SeqCst,
        );
        STATUS_SUCCESS
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

impl Drop for SelfReleasing {
    fn drop(&mut self) {
        let me = *self.me.get_mut();
        if me.is_null() {
            return;
        }
        // SAFETY: the object's block is still allocated while its value is dropped; the count
        // is already zero, so this is the documented misuse path, not a second destruction.
        let r = unsafe { raw_release(me) };
        // SAFETY: as above: AddRef at zero must not resurrect the object.
        let a = unsafe { raw_add_ref(me) };
        self.log.release.store(r, Ordering::SeqCst);
        self.log.add_ref.store(a, Ordering::SeqCst);
        self.log.ran.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// QueryInterface over chains and ancestors.
// ---------------------------------------------------------------------------------------------

#[test]
fn qi_answers_every_iid_of_both_chains_and_their_ancestors() {
    let (value, drops) = Synth::new();
    let p0 = create(value, &IMXF::IID).expect("created");
    assert_eq!(p0.refs(), 1);

    let unk = p0.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(unk, p0, "IUnknown is chain 0");
    assert_eq!(p0.refs(), 2, "QI adds a reference");

    let mxf = p0.qi(&IMXF::IID).expect("IMXF");
    assert_eq!(
        mxf, p0,
        "IMXF is answered by the first listed chain, not by ISynthSinkDMus's"
    );
    assert_eq!(p0.refs(), 3);

    let sink = p0.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    assert_eq!(sink.addr(), p0.addr() + SLOT, "ISynthSinkDMus is chain 1");
    assert_eq!(p0.refs(), 4);
    assert_eq!(sink.refs(), 4, "one count for every chain");

    // The same questions through chain 1 get the same answers.
    for (iid, expected) in [
        (IUnknown::IID, &p0),
        (IMXF::IID, &p0),
        (ISynthSinkDMus::IID, &sink),
    ] {
        let before = sink.refs();
        let got = sink.qi(&iid).expect("answered through chain 1");
        assert_eq!(&got, expected, "QI({iid:?}) through chain 1");
        assert_eq!(sink.refs(), before + 1);
        assert_eq!(got.release(), before);
    }

    assert_eq!(unk.release(), 3);
    assert_eq!(mxf.release(), 2);
    assert_eq!(sink.release(), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(p0.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn qi_for_iunknown_through_every_chain_returns_the_identity() {
    let (value, drops) = Synth::new();
    let sink = create(value, &ISynthSinkDMus::IID).expect("created");
    let p0 = sink.qi(&IMXF::IID).expect("IMXF");
    assert_eq!(p0.addr() + SLOT, sink.addr());
    let id_from_0 = p0.qi(&IUnknown::IID).expect("IUnknown");
    let id_from_1 = sink.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(id_from_0, p0);
    assert_eq!(
        id_from_1, p0,
        "identity is chain 0 whichever chain is asked"
    );
    // And the identity's own identity is itself.
    let id_of_id = id_from_1.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(id_of_id, p0);
    assert_eq!(p0.refs(), 5);
    drop((id_of_id, id_from_1, id_from_0, p0));
    assert_eq!(sink.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn methods_called_through_either_chain_reach_the_same_value() {
    let (value, drops) = Synth::new();
    let p0 = create(value, &IMXF::IID).expect("created");
    let sink = p0.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    // SAFETY: chain 0 holds IMXF's vtable.
    let mxf_vt = unsafe { p0.vtbl::<IMXF_Vtbl>() };
    // SAFETY: chain 1 holds ISynthSinkDMus's vtable.
    let sink_vt = unsafe { sink.vtbl::<ISynthSinkDMus_Vtbl>() };
    let mut t: REFERENCE_TIME = 0;

    // SAFETY: live object, plain arguments.
    let status = unsafe { (mxf_vt.SetState)(p0.as_raw(), KSSTATE_PAUSE) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: live object; `t` is a valid out-pointer.
    let status = unsafe { (sink_vt.SampleToRefTime)(sink.as_raw(), 7, &mut t) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(t, 72, "chain 1 sees the state set through chain 0");

    // ISynthSinkDMus begins with IMXF's slots: SetState through chain 1.
    // SAFETY: live object, plain arguments.
    let status = unsafe { (sink_vt.base__.SetState)(sink.as_raw(), KSSTATE_RUN) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: live object; `t` is a valid out-pointer.
    let status = unsafe { (sink_vt.SampleToRefTime)(sink.as_raw(), 1, &mut t) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(t, 13);
    // SAFETY: live object; the callee checks the NULL out-pointer.
    let s = unsafe { (sink_vt.SampleToRefTime)(sink.as_raw(), 1, ptr::null_mut()) };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    // SAFETY: live object; NULL is `PutMessage`'s documented "no event".
    let status = unsafe { (sink_vt.base__.PutMessage)(sink.as_raw(), ptr::null_mut()) };
    assert_eq!(status, STATUS_NOT_IMPLEMENTED);

    assert_eq!(sink.release(), 1);
    assert_eq!(p0.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// QueryInterface failures.
// ---------------------------------------------------------------------------------------------

#[test]
fn qi_unknown_iid_sets_out_to_null_and_returns_invalid_parameter() {
    let (value, drops) = Synth::new();
    let p0 = create(value, &IMXF::IID).expect("created");
    let sink = p0.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    let unknown = GUID::from_u128(0x0123_4567_89AB_CDEF_0123_4567_89AB_CDEF);
    // An IID nobody implements, those of other DMus interfaces, and GUID_NULL.
    for iid in [
        unknown,
        IAllocatorMXF::IID,
        IMiniportDMus::IID,
        IServiceSink::IID,
        GUID::NULL,
    ] {
        for p in [&p0, &sink] {
            // `qi` also checks that the out-pointer was set to NULL.
            assert_eq!(
                p.qi(&iid).err(),
                Some(STATUS_INVALID_PARAMETER),
                "QI({iid:?})"
            );
            assert_eq!(p0.refs(), 2, "a failed QI adds no reference");
        }
    }
    // The same, with the out-pointer inspected directly.
    let mut out = sentinel();
    // SAFETY: `unknown` and `out` are valid locals.
    let status = unsafe { p0.query_raw(&unknown, &mut out) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert!(out.is_null());
    drop(sink);
    assert_eq!(p0.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn qi_failure_option_sets_the_status_of_an_unknown_iid() {
    let (probe, drops) = Probe::new();
    let p = create(Strict { _probe: probe }, &IMXF::IID).expect("created");
    assert_eq!(
        p.qi(&ISynthSinkDMus::IID).err(),
        Some(STATUS_INVALID_PARAMETER_1)
    );
    assert_eq!(p.qi(&GUID::NULL).err(), Some(STATUS_INVALID_PARAMETER_1));
    // Known IIDs are unaffected by the option.
    let unk = p.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(unk, p);
    drop(unk);
    // A NULL out-pointer is still STATUS_INVALID_PARAMETER (a caller error, not an unknown IID).
    // SAFETY: NULL `out` is allowed by the contract and must be refused.
    let status = unsafe { p.query_raw(&IMXF::IID, ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert_eq!(p.refs(), 1);
    assert_eq!(p.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    // The option also governs creation for an interface the object lacks.
    let (probe, drops) = Probe::new();
    let before = fault::live_blocks();
    assert_eq!(
        create(Strict { _probe: probe }, &IAllocatorMXF::IID).err(),
        Some(STATUS_INVALID_PARAMETER_1)
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn qi_with_null_out_pointer_returns_invalid_parameter_and_writes_nothing() {
    let (value, drops) = Synth::new();
    let p0 = create(value, &IMXF::IID).expect("created");
    let sink = p0.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    for p in [&p0, &sink] {
        for iid in [
            IUnknown::IID,
            IMXF::IID,
            ISynthSinkDMus::IID,
            IAllocatorMXF::IID,
        ] {
            // SAFETY: NULL `out` is allowed by the contract and must be refused.
            let status = unsafe { p.query_raw(&iid, ptr::null_mut()) };
            assert_eq!(status, STATUS_INVALID_PARAMETER);
        }
        // Both pointers NULL.
        // SAFETY: as above.
        let status = unsafe { p.query_raw(ptr::null(), ptr::null_mut()) };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
    }
    assert_eq!(
        p0.refs(),
        2,
        "no reference was added for a result nobody could receive"
    );
    drop(sink);
    assert_eq!(p0.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn qi_with_null_iid_pointer_returns_invalid_parameter_and_null() {
    let (value, drops) = Synth::new();
    let p0 = create(value, &IMXF::IID).expect("created");
    let sink = p0.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    for p in [&p0, &sink] {
        let mut out = sentinel();
        // SAFETY: a NULL IID is allowed by the contract and must be refused; `out` is valid.
        let status = unsafe { p.query_raw(ptr::null(), &mut out) };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
        assert!(out.is_null());
    }
    assert_eq!(p0.refs(), 2);
    drop(sink);
    assert_eq!(p0.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Reference counting and destruction.
// ---------------------------------------------------------------------------------------------

#[test]
fn add_ref_and_release_return_the_new_count_and_drop_runs_once() {
    let (value, drops) = Synth::new();
    let p0 = create(value, &IMXF::IID).expect("created");
    let (n, a) = p0.add_ref();
    assert_eq!(n, 2);
    let (n, b) = p0.add_ref();
    assert_eq!(n, 3);
    let sink = p0.qi(&ISynthSinkDMus::IID).expect("ISynthSinkDMus");
    let (n, c) = sink.add_ref();
    assert_eq!(n, 5, "chain 1 shares the object's count");
    assert_eq!(a.release(), 4);
    assert_eq!(c.release(), 3);
    assert_eq!(b.release(), 2);
    assert_eq!(p0.release(), 1);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "alive while a reference remains"
    );
    // The last reference goes through chain 1: that destroys the object too.
    assert_eq!(sink.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn interface_values_release_exactly_what_they_hold() {
    let (value, drops) = Synth::new();
    let mxf: IMXF = value.into_com().expect("created");
    let copy = mxf.clone();
    let probe = RawRef::of(&mxf);
    assert_eq!(probe.refs(), 3, "Clone is AddRef");
    let sink: ISynthSinkDMus = mxf.cast().expect("ISynthSinkDMus");
    assert_eq!(sink.as_raw().addr(), mxf.as_raw().addr() + SLOT);
    drop(copy);
    drop(mxf);
    assert_eq!(probe.refs(), 2, "Drop is Release");
    drop(sink);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(probe.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Interfaces without an IID.
// ---------------------------------------------------------------------------------------------

#[test]
fn interface_without_iid_is_never_answered_by_qi() {
    // No IID at all (`IMasterClock::IID` does not compile: tests/ui/fail/iid_of_no_iid.rs).
    assert!(IMasterClock::LINEAGE.iid.is_none());
    let (probe, drops) = Probe::new();
    let clock: IMasterClock = Clock {
        now: 1234,
        _probe: probe,
    }
    .into_com()
    .expect("created");
    // SAFETY: `clock` gives up its reference to `p`.
    let p = unsafe { RawRef::from_raw(clock.into_raw()) }.expect("non-NULL");
    // GUID_NULL (what a zero IID would be) must not select the clock's chain.
    assert_eq!(p.qi(&GUID::NULL).err(), Some(STATUS_INVALID_PARAMETER));
    // The object is still a COM object: IUnknown works, and is the clock's chain (chain 0).
    let unk = p.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(unk, p);
    assert_eq!(unk.release(), 1);
    // The clock works through its vtable.
    // SAFETY: the object's only chain holds IMasterClock's vtable.
    let vt = unsafe { p.vtbl::<IMasterClock_Vtbl>() };
    let mut t = 0;
    // SAFETY: live object; `t` is a valid out-pointer.
    let status = unsafe { (vt.GetTime)(p.as_raw(), &mut t) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(t, 1234);
    // SAFETY: live object; the callee checks the NULL out-pointer.
    let status = unsafe { (vt.GetTime)(p.as_raw(), ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert_eq!(p.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn interface_without_iid_in_a_second_chain_is_obtained_at_creation() {
    let (probe, drops) = Probe::new();
    let clock: IMasterClock = ClockedFilter {
        now: -5,
        _probe: probe,
    }
    .into_com()
    .expect("created");
    // SAFETY: `clock` gives up its reference to `p1`.
    let p1 = unsafe { RawRef::from_raw(clock.into_raw()) }.expect("non-NULL");
    let p0 = p1.qi(&IUnknown::IID).expect("IUnknown");
    assert_eq!(p1.addr(), p0.addr() + SLOT, "IMasterClock is chain 1");
    assert_eq!(p0.refs(), 2, "into_com returned exactly one reference");
    let mxf = p1.qi(&IMXF::IID).expect("IMXF");
    assert_eq!(mxf, p0);
    // Nothing leads back to chain 1 through QueryInterface.
    for p in [&p0, &p1] {
        assert_eq!(p.qi(&GUID::NULL).err(), Some(STATUS_INVALID_PARAMETER));
    }
    // SAFETY: chain 1 holds IMasterClock's vtable.
    let vt = unsafe { p1.vtbl::<IMasterClock_Vtbl>() };
    let mut t = 0;
    // SAFETY: live object; `t` is a valid out-pointer.
    let status = unsafe { (vt.GetTime)(p1.as_raw(), &mut t) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(t, -5);
    drop((mxf, p0));
    assert_eq!(p1.release(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn creation_for_an_interface_the_object_lacks_fails_and_leaks_nothing() {
    let before = fault::live_blocks();
    // An interface without IID that is not one of the object's chains.
    let (value, drops) = Synth::new();
    assert_eq!(
        value.into_com::<IMasterClock>().err(),
        Some(STATUS_INVALID_PARAMETER)
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // An interface with an IID, the C way.
    let (value, drops) = Synth::new();
    assert_eq!(
        create(value, &IAllocatorMXF::IID).err(),
        Some(STATUS_INVALID_PARAMETER)
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn creation_with_null_pointers_fails_and_leaks_nothing() {
    let before = fault::live_blocks();
    let (value, drops) = Synth::new();
    // SAFETY: NULL `out` is allowed by the contract and must be refused.
    let s = unsafe {
        ComObject::<Synth>::create_raw(
            value,
            ptr::null_mut(),
            NonPagedPool,
            0,
            &IMXF::IID,
            ptr::null_mut(),
        )
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    let (value, drops) = Synth::new();
    let mut out = sentinel();
    // SAFETY: NULL `iid` is allowed by the contract and must be refused; `out` is a valid local.
    let s = unsafe {
        ComObject::<Synth>::create_raw(
            value,
            ptr::null_mut(),
            NonPagedPool,
            0,
            ptr::null(),
            &mut out,
        )
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    assert!(out.is_null());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(fault::live_blocks(), before);
}

// ---------------------------------------------------------------------------------------------
// Allocation failure.
// ---------------------------------------------------------------------------------------------

#[test]
fn allocation_failure_at_creation_returns_insufficient_resources() {
    let before = fault::live_blocks();
    {
        let (value, drops) = Synth::new();
        let _plan = fault::fail_nth(1);
        assert_eq!(
            value.into_com::<IMXF>().err(),
            Some(STATUS_INSUFFICIENT_RESOURCES)
        );
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the value is dropped once");
    }
    {
        let (value, drops) = Synth::new();
        let _plan = fault::fail_nth(1);
        // `create` also checks that the out-pointer was set to NULL.
        assert_eq!(
            create(value, &ISynthSinkDMus::IID).err(),
            Some(STATUS_INSUFFICIENT_RESOURCES)
        );
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
    {
        let (probe, drops) = Probe::new();
        let _plan = fault::fail_nth(1);
        let r = Clock {
            now: 0,
            _probe: probe,
        }
        .into_com::<IMasterClock>();
        assert_eq!(r.err(), Some(STATUS_INSUFFICIENT_RESOURCES));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
    assert_eq!(fault::live_blocks(), before, "nothing leaked");

    // With the plan gone, creation succeeds again and the block is counted until released.
    let (value, drops) = Synth::new();
    let mxf: IMXF = value.into_com().expect("created");
    assert_eq!(fault::live_blocks(), before + 1);
    drop(mxf);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(fault::live_blocks(), before);
}

// ---------------------------------------------------------------------------------------------
// Over-release: the documented cold path.
// ---------------------------------------------------------------------------------------------

#[test]
fn over_release_from_teardown_destroys_the_object_exactly_once() {
    let log = Arc::new(TeardownLog::default());
    let before_blocks = fault::live_blocks();
    let before = anomalies();
    let obj = SelfReleasing {
        me: AtomicPtr::new(ptr::null_mut()),
        log: log.clone(),
    };
    let p = create(obj, &IMXF::IID).expect("created");
    // SAFETY: the object's chain 0 holds IMXF's vtable.
    let vt = unsafe { p.vtbl::<IMXF_Vtbl>() };
    // SAFETY: `p` is live for the call; the connection to itself keeps no reference.
    let me = unsafe { ComRef::<IMXF>::from_raw(p.as_raw()) };
    // SAFETY: live object; `me` is a borrowed IMXF pointer.
    let status = unsafe { (vt.ConnectOutput)(p.as_raw(), me) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(p.refs(), 1);
    assert_eq!(p.release(), 0);
    assert_eq!(log.ran.load(Ordering::SeqCst), 1, "destroyed exactly once");
    assert_eq!(
        log.release.load(Ordering::SeqCst),
        0,
        "Release at zero returns 0"
    );
    assert_eq!(
        log.add_ref.load(Ordering::SeqCst),
        0,
        "AddRef at zero does not resurrect"
    );
    assert!(anomalies() >= before + 2, "both misuses are counted");
    assert_eq!(
        fault::live_blocks(),
        before_blocks,
        "the block was freed once"
    );
}

#[test]
fn refcount_primitive_counts_and_detects_misuse() {
    let rc = RefCount::new(1);
    assert_eq!(rc.add_ref(), 2);
    assert_eq!(rc.add_ref(), 3);
    assert_eq!(rc.release(), Released::Alive(2));
    assert_eq!(rc.release(), Released::Alive(1));
    assert_eq!(rc.get(), 1);
    let before = anomalies();
    assert_eq!(rc.release(), Released::Last);
    assert_eq!(rc.release(), Released::Misuse);
    assert_eq!(rc.add_ref(), 0, "zero is sticky");
    assert_eq!(rc.release(), Released::Misuse);
    assert_eq!(rc.get(), 0);
    assert!(anomalies() >= before + 3);

    // Saturation: never wraps, never frees.
    let rc = RefCount::new(u32::MAX - 1);
    let before = anomalies();
    assert_eq!(rc.add_ref(), u32::MAX);
    assert_eq!(rc.add_ref(), u32::MAX);
    assert_eq!(rc.release(), Released::Alive(u32::MAX));
    assert_eq!(rc.get(), u32::MAX);
    assert!(anomalies() > before);
}

#[test]
fn refcount_primitive_reports_last_exactly_once_under_contention() {
    const THREADS: usize = 4;
    const ROUNDS: u32 = if cfg!(miri) { 20 } else { 2_000 };
    let rc = RefCount::new(THREADS as u32);
    let lasts = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    assert!(rc.add_ref() >= 2);
                }
                // Each thread gives back what it added, then the reference it started with.
                for _ in 0..=ROUNDS {
                    if rc.release() == Released::Last {
                        lasts.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(
        lasts.load(Ordering::SeqCst),
        1,
        "exactly one thread sees the last release"
    );
    assert_eq!(rc.get(), 0);
}

// ---------------------------------------------------------------------------------------------
// Free-threaded interface pointers.
// ---------------------------------------------------------------------------------------------

#[test]
fn interface_pointers_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<IUnknown>();
    assert_send_sync::<IMXF>();
    assert_send_sync::<ISynthSinkDMus>();
    assert_send_sync::<IMasterClock>();
    assert_send_sync::<IAllocatorMXF>();
    assert_send_sync::<mxf::com::ComPtr<mxf::interfaces::IMXF>>();
}

#[test]
fn interface_pointer_moves_across_threads_and_survives_concurrent_add_ref_release() {
    const THREADS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 25 } else { 5_000 };
    let (value, drops) = Synth::new();
    let mxf: IMXF = value.into_com().expect("created");
    let sink: ISynthSinkDMus = mxf.cast().expect("ISynthSinkDMus");

    // Move one reference to another thread and use it there through the raw vtable.
    let moved = mxf.clone();
    let status = std::thread::spawn(move || {
        let p = RawRef::of(&moved);
        drop(moved);
        // SAFETY: chain 0 holds IMXF's vtable.
        let vt = unsafe { p.vtbl::<IMXF_Vtbl>() };
        // SAFETY: live object, plain arguments.
        unsafe { (vt.SetState)(p.as_raw(), KSSTATE_ACQUIRE) }
    })
    .join()
    .expect("thread");
    assert_eq!(status, STATUS_SUCCESS);

    // Four threads hammer the shared count through both chains.
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (mxf, sink) = (&mxf, &sink);
            s.spawn(move || {
                let own = if t % 2 == 0 {
                    RawRef::of(mxf)
                } else {
                    RawRef::of(sink)
                };
                for _ in 0..ROUNDS {
                    let (n, extra) = own.add_ref();
                    assert!(n >= 4, "the test thread's two and this thread's one remain");
                    assert!(extra.release() >= 3);
                }
            });
        }
    });
    let p = RawRef::of(&mxf);
    assert_eq!(p.refs(), 3);
    assert_eq!(drops.load(Ordering::SeqCst), 0);

    // The last reference is released on another thread: the object is destroyed there, once.
    drop(mxf);
    drop(p);
    std::thread::spawn(move || drop(sink))
        .join()
        .expect("thread");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}
