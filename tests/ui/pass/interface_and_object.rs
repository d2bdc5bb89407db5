//! An interface deriving from IMXF, an object with two chains, and one implementing the new
//! interface; compiled under the lints a driver crate would use.
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(warnings)]
#![allow(non_snake_case)]

use core::sync::atomic::{AtomicU32, Ordering};
use mxf::prelude::*;

/// A made-up interface deriving from IMXF.
#[com_interface(iid = "{5B2A4E8C-1D3F-4A6B-9C0D-7E8F9A0B1C2D}")]
pub unsafe trait ICounterMXF: IMXF {
    /// Adds `by` to the counter.
    fn Increment(&self, by: u32) -> NTSTATUS;
    /// Stores the counter in `*value`.
    fn Get(&self, value: *mut u32) -> NTSTATUS;
    /// Sets the counter to zero.
    fn Reset(&self);
    /// Connects the counter to a clock.
    fn SetClock(&self, clock: Option<ComRef<'_, IMasterClock>>) -> NTSTATUS;
}

/// Names a user might pick that the generated code also uses internally.
pub type K = u32;
/// See [`K`].
pub type O = i32;

/// Parameters named like the generated code's locals and generics still work.
#[com_interface(iid = "7A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9")]
pub unsafe trait INames: IUnknown {
    /// Returns `this + value + vtbl + k + o`.
    fn Sum(&self, this: u32, value: u32, vtbl: u32, k: K, o: O) -> u32;
    /// Declared `unsafe`: its implementation may rely on a contract of its own (here: a
    /// pointer under another name, which no safe method could take).
    unsafe fn Peek(&self, at: Address) -> u32;
}

/// A pointer under another name.
pub type Address = *const u32;

/// An interface no header gives an IID.
#[com_interface(no_iid)]
pub unsafe trait IPrivate: IUnknown {
    /// Returns a constant.
    fn Answer(&self) -> i32;
}

macro_rules! imxf_impl {
    ($ty:ty) => {
        impl IMXF_Impl for $ty {
            fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
                STATUS_SUCCESS
            }
            unsafe fn PutMessage(&self, _event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
                STATUS_SUCCESS
            }
            fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
                STATUS_SUCCESS
            }
            fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
                STATUS_SUCCESS
            }
        }
    };
}

/// Two chains: IMXF (primary) and ISynthSinkDMus.
#[com_object(IMXF, ISynthSinkDMus, qi_failure = STATUS_INVALID_PARAMETER_1, tag = "Tst1")]
struct SynthSink {
    rendered: AtomicU32,
}

imxf_impl!(SynthSink);

impl ISynthSinkDMus_Impl for SynthSink {
    unsafe fn Render(&self, _buffer: *mut u8, length: u32, _position: i64) {
        self.rendered.fetch_add(length, Ordering::Relaxed);
    }
    fn SyncToMaster(&self, _time: REFERENCE_TIME, _start: i32) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn SampleToRefTime(&self, sample: i64, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(sample) };
        STATUS_SUCCESS
    }
    unsafe fn RefTimeToSample(&self, time: REFERENCE_TIME, sample: *mut i64) -> NTSTATUS {
        if sample.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { sample.write(time) };
        STATUS_SUCCESS
    }
}

/// Implements the new interface, one without an IID, and [`INames`].
#[com_object(ICounterMXF, IPrivate, INames)]
struct Counter {
    value: AtomicU32,
}

imxf_impl!(Counter);

impl ICounterMXF_Impl for Counter {
    fn Increment(&self, by: u32) -> NTSTATUS {
        self.value.fetch_add(by, Ordering::Relaxed);
        STATUS_SUCCESS
    }
    unsafe fn Get(&self, value: *mut u32) -> NTSTATUS {
        if value.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { value.write(self.value.load(Ordering::Relaxed)) };
        STATUS_SUCCESS
    }
    fn Reset(&self) {
        self.value.store(0, Ordering::Relaxed);
    }
    fn SetClock(&self, _clock: Option<ComRef<'_, IMasterClock>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

impl INames_Impl for Counter {
    fn Sum(&self, this: u32, value: u32, vtbl: u32, k: K, o: O) -> u32 {
        this + value + vtbl + k + o.unsigned_abs()
    }
    unsafe fn Peek(&self, at: Address) -> u32 {
        // SAFETY: the caller passes a readable pointer (the method's contract).
        unsafe { at.read() }
    }
}

impl IPrivate_Impl for Counter {
    fn Answer(&self) -> i32 {
        42
    }
}

fn main() -> Result<()> {
    let mxf = SynthSink {
        rendered: AtomicU32::new(0),
    }
    .into_com::<IMXF>()?;
    // Plain-value methods are safe to call.
    assert_eq!(mxf.SetState(KSSTATE_RUN), STATUS_SUCCESS);
    assert!(ISynthSinkDMus::matches(&IMXF::IID) && ISynthSinkDMus::matches(&IUnknown::IID));
    // `qi_failure` and `tag`.
    let mut out = core::ptr::null_mut();
    let unknown = GUID::from_u128(0x0123_4567_89AB_CDEF_0123_4567_89AB_CDEF);
    // SAFETY: a live pointer; valid IID and out-pointer.
    assert_eq!(
        unsafe { mxf.QueryInterface(&unknown, &mut out) },
        STATUS_INVALID_PARAMETER_1
    );
    assert!(out.is_null());
    assert_eq!(
        <SynthSink as mxf::com::ObjectImpl>::POOL_TAG,
        pool_tag(b"Tst1")
    );
    let mut t = 0;
    let sink = SynthSink {
        rendered: AtomicU32::new(0),
    }
    .into_com::<ISynthSinkDMus>()?;
    // SAFETY: `t` is a valid out-pointer.
    assert_eq!(unsafe { sink.SampleToRefTime(7, &mut t) }, STATUS_SUCCESS);
    assert_eq!(t, 7);

    let counter = Counter {
        value: AtomicU32::new(0),
    }
    .into_com::<ICounterMXF>()?;
    let mut v = 0;
    // SAFETY: live pointer, valid out-pointer.
    unsafe {
        assert_eq!(counter.Increment(3), STATUS_SUCCESS);
        assert_eq!(counter.Get(&mut v), STATUS_SUCCESS);
    }
    assert_eq!(v, 3);
    // SAFETY: live pointer; ICounterMXF derefs to IMXF.
    assert_eq!(
        unsafe { counter.PutMessage(core::ptr::null_mut()) },
        STATUS_SUCCESS
    );
    let private = Counter {
        value: AtomicU32::new(0),
    }
    .into_com::<IPrivate>()?;
    assert_eq!(private.Answer(), 42);
    assert_eq!(
        core::mem::size_of::<ICounterMXF_Vtbl>(),
        11 * core::mem::size_of::<usize>()
    );
    let names = Counter {
        value: AtomicU32::new(0),
    }
    .into_com::<INames>()?;
    assert_eq!(names.Sum(1, 2, 3, 4, -5), 15);
    let seven = 7u32;
    // SAFETY: a readable pointer, as `Peek` requires.
    assert_eq!(unsafe { names.Peek(&seven) }, 7);
    Ok(())
}
