//! The macro expansions are clean in a user crate with the strictest unsafe lints: this file
//! declares an interface and an object under `forbid(unsafe_op_in_unsafe_fn)`,
//! `deny(clippy::undocumented_unsafe_blocks)`, `deny(clippy::multiple_unsafe_ops_per_block)`
//! and `deny(missing_docs)`, so an undocumented `unsafe` block, an unsafe operation outside an
//! `unsafe` block, or a public item without docs in the generated code fails the build or
//! `cargo clippy --all-targets -- -D warnings`. The user's own `unsafe` (an interface's promise
//! that its IID names its layout) is the user's to document, as here.
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::multiple_unsafe_ops_per_block)]
#![deny(missing_docs)]

use core::ffi::c_void;
use mxf::com::ComObject;
use mxf::platform::atomic::{AtomicU32, Ordering};
use mxf::prelude::*;

/// A made-up volume control deriving from IMXF.
#[com_interface(iid = "3F2A1C55-0B7E-4D21-9C4A-6E8D2B1F0A77")]
pub unsafe trait IVolumeMXF: IMXF {
    /// Slot 7. Sets the volume.
    fn SetVolume(&self, volume: u32) -> NTSTATUS;
    /// Slot 8. Stores the volume in `*volume`.
    fn GetVolume(&self, volume: *mut u32) -> NTSTATUS;
}

/// A made-up private interface without a header IID.
#[com_interface(no_iid)]
pub unsafe trait IPrivateTick: IUnknown {
    /// Slot 3. Counts a tick; returns the new total.
    fn Tick(&self) -> u32;
}

/// An object implementing both.
#[com_object(IVolumeMXF, IPrivateTick, qi_failure = STATUS_INVALID_PARAMETER_1, tag = "Lint")]
pub struct Volume {
    volume: AtomicU32,
    ticks: AtomicU32,
}

impl IMXF_Impl for Volume {
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

impl IVolumeMXF_Impl for Volume {
    fn SetVolume(&self, volume: u32) -> NTSTATUS {
        self.volume.store(volume, Ordering::Relaxed);
        STATUS_SUCCESS
    }
    unsafe fn GetVolume(&self, volume: *mut u32) -> NTSTATUS {
        if volume.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { volume.write(self.volume.load(Ordering::Relaxed)) };
        STATUS_SUCCESS
    }
}

impl IPrivateTick_Impl for Volume {
    fn Tick(&self) -> u32 {
        self.ticks.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }
}

#[test]
fn expansions_work_under_strict_lints() {
    let vol: IVolumeMXF = Volume {
        volume: AtomicU32::new(0),
        ticks: AtomicU32::new(0),
    }
    .into_com()
    .expect("created");
    let status = vol.SetVolume(90);
    assert_eq!(status, STATUS_SUCCESS);
    let mut v = 0;
    // SAFETY: `v` is a valid out-pointer.
    let status = unsafe { vol.GetVolume(&mut v) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(v, 90);
    // Deref to the base interface and through the raw vtable.
    let status = vol.SetState(KSSTATE_RUN);
    assert_eq!(status, STATUS_SUCCESS);
    let raw: *mut c_void = vol.as_raw();
    // SAFETY: `raw` is live while `vol` holds its reference; its first word is the vtable pointer.
    let vt = unsafe { *raw.cast::<*const IVolumeMXF_Vtbl>() };
    // SAFETY: vtables are never freed.
    let vt = unsafe { &*vt };
    // SAFETY: as above.
    let status = unsafe { (vt.SetVolume)(raw, 7) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: `v` is a valid out-pointer.
    let status = unsafe { vol.GetVolume(&mut v) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(v, 7);

    // The configured QueryInterface failure and the IID-less chain.
    assert_eq!(
        vol.cast::<ISynthSinkDMus>().err(),
        Some(STATUS_INVALID_PARAMETER_1)
    );
    let mxf: IMXF = vol.cast().expect("IMXF");
    assert_eq!(mxf.as_raw(), raw);
    let tick: IPrivateTick = Volume {
        volume: AtomicU32::new(0),
        ticks: AtomicU32::new(0),
    }
    .into_com()
    .expect("created");
    // A method without pointer parameters is safe to call.
    let status = tick.Tick();
    assert_eq!(status, 1);
    let status = tick.Tick();
    assert_eq!(status, 2);
    assert!(tick.cast::<IVolumeMXF>().is_ok());

    // C-style creation with the object's own pool tag.
    let mut out = core::ptr::null_mut();
    // SAFETY: no outer; `iid` and `out` are valid locals.
    let s = unsafe {
        ComObject::<Volume>::create_raw(
            Volume {
                volume: AtomicU32::new(0),
                ticks: AtomicU32::new(0),
            },
            core::ptr::null_mut(),
            NonPagedPool,
            <Volume as mxf::com::ObjectImpl>::POOL_TAG,
            &IVolumeMXF::IID,
            &mut out,
        )
    };
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        <Volume as mxf::com::ObjectImpl>::POOL_TAG,
        pool_tag(b"Lint")
    );
    // SAFETY: success stored an AddRef'd IVolumeMXF pointer.
    let owned = unsafe { IVolumeMXF::from_raw(out) }.expect("non-NULL");
    drop(owned);
}
