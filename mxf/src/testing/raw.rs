//! Calls through the vtable of a raw interface pointer, exactly as a C++ caller (the PortCls
//! DMus port) makes them: read the vtable pointer at `this`, call the slot with `this`.
//!
//! Every function taking a raw `this` is `unsafe`: the pointer must be a live interface of
//! the kind the slot belongs to. [`RawRef`] holds one counted reference as a raw pointer and
//! offers the IUnknown slots safely, checking the out-pointer contract of `QueryInterface`.
//! The safe functions of [`mxf::testing`](super) call the same slots on typed interfaces.
//!
//! ```
//! use mxf::prelude::*;
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::testing::raw;
//! use core::ffi::c_void;
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let this = alloc.as_raw();
//! let mut out: *mut c_void = core::ptr::null_mut();
//! // SAFETY: `this` is a live interface; the IID and the out-pointer are valid for the call.
//! let status = unsafe { raw::query_interface(this, &IMXF::IID, &mut out) };
//! assert_eq!(status, STATUS_SUCCESS);
//! // SAFETY: `out` is the IMXF just returned; SetState is slot 3 of every IMXF.
//! assert_eq!(unsafe { raw::set_state(out, KSSTATE_RUN) }, STATUS_NOT_IMPLEMENTED);
//! // SAFETY: QueryInterface returned `out` with a reference, given up here.
//! unsafe { raw::release(out) };
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::{DMUS_KERNEL_EVENT, GUID, KSSTATE, NTSTATUS, Result};
use crate::com::{ComRef, Interface};
use crate::interfaces::{IMXF_Vtbl, IUnknown_Vtbl};
use core::ffi::c_void;
use core::ptr::NonNull;

/// The vtable of the interface at `this`, read as `V`.
///
/// # Safety
/// `this` is a live interface pointer whose vtable begins with a `V`, live for `'a`.
pub unsafe fn vtable<'a, V>(this: *mut c_void) -> &'a V {
    // SAFETY: the first word of a live interface is its vtable pointer (caller).
    let vt = unsafe { *this.cast::<*const V>() };
    // SAFETY: the vtable begins with a `V` (caller); vtables are never freed.
    unsafe { &*vt }
}

/// `this->QueryInterface(iid, out)` through slot 0.
///
/// # Safety
/// `this` is a live interface pointer; `iid` is NULL or points to a GUID; `out` is NULL or
/// points to writable storage for a pointer.
pub unsafe fn query_interface(
    this: *mut c_void,
    iid: *const GUID,
    out: *mut *mut c_void,
) -> NTSTATUS {
    // SAFETY: live interface (caller); every vtable begins with IUnknown's slots.
    let vt = unsafe { vtable::<IUnknown_Vtbl>(this) };
    // SAFETY: the arguments are valid for the call (caller).
    unsafe { (vt.QueryInterface)(this, iid, out) }
}

/// `this->AddRef()` through slot 1: the count it returns (informational).
///
/// # Safety
/// `this` is a live interface pointer; the caller owns the reference added.
pub unsafe fn add_ref(this: *mut c_void) -> u32 {
    // SAFETY: live interface (caller); every vtable begins with IUnknown's slots.
    let vt = unsafe { vtable::<IUnknown_Vtbl>(this) };
    // SAFETY: as above.
    unsafe { (vt.AddRef)(this) }
}

/// `this->Release()` through slot 2: the count it returns (the object may be gone after).
///
/// # Safety
/// `this` is a live interface pointer carrying a reference the caller gives up.
pub unsafe fn release(this: *mut c_void) -> u32 {
    // SAFETY: live interface (caller); every vtable begins with IUnknown's slots.
    let vt = unsafe { vtable::<IUnknown_Vtbl>(this) };
    // SAFETY: the caller gives up one reference.
    unsafe { (vt.Release)(this) }
}

/// The IMXF vtable of the IMXF (or derived) interface at `this`.
///
/// # Safety
/// `this` is a live IMXF (or derived) interface pointer, live for `'a`.
unsafe fn mxf_vtable<'a>(this: *mut c_void) -> &'a IMXF_Vtbl {
    // SAFETY: the vtable of an IMXF begins with IMXF's slots (caller).
    unsafe { vtable::<IMXF_Vtbl>(this) }
}

/// `this->SetState(state)` through slot 3.
///
/// # Safety
/// `this` is a live IMXF (or derived) interface pointer.
pub unsafe fn set_state(this: *mut c_void, state: KSSTATE) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { (mxf_vtable(this).SetState)(this, state) }
}

/// `this->PutMessage(head)` through slot 4.
///
/// # Safety
/// `this` is a live IMXF; `head` is NULL or a chain of live events of the allocator of
/// `this`'s stream, handed over (the callee owns them from here).
pub unsafe fn put_message(this: *mut c_void, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { (mxf_vtable(this).PutMessage)(this, head) }
}

/// `this->ConnectOutput(sink)` through slot 5 (`sink` may be NULL).
///
/// # Safety
/// `this` is a live IMXF; a non-NULL `sink` is a live IMXF (the callee AddRefs what it keeps).
pub unsafe fn connect_output(this: *mut c_void, sink: *mut c_void) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { (mxf_vtable(this).ConnectOutput)(this, ComRef::from_raw(sink)) }
}

/// `this->DisconnectOutput(sink)` through slot 6 (`sink` may be NULL).
///
/// # Safety
/// `this` is a live IMXF; a non-NULL `sink` is a live IMXF.
pub unsafe fn disconnect_output(this: *mut c_void, sink: *mut c_void) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { (mxf_vtable(this).DisconnectOutput)(this, ComRef::from_raw(sink)) }
}

/// A non-NULL value no `QueryInterface` returns, to see whether an out-pointer was written.
pub fn sentinel() -> *mut c_void {
    core::ptr::without_provenance_mut(0x5A5A_5A50)
}

/// One counted reference to a COM object, held as a raw interface pointer. Every operation
/// reads the vtable pointer and calls the slot, as a C++ holder of a `PUNKNOWN` does; dropping
/// it calls `Release`.
///
/// ```
/// use mxf::prelude::*;
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::testing::raw::RawRef;
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let unknown = RawRef::of(&*alloc);
/// let mxf = unknown.qi(&IMXF::IID).expect("an allocator is an IMXF");
/// assert_eq!(mxf.addr(), unknown.addr(), "one chain answers both");
/// // An IID it does not implement: the allocator's status, and NULL in the out-pointer.
/// assert_eq!(unknown.qi(&ISynthSinkDMus::IID).err(), Some(STATUS_INVALID_PARAMETER_1));
/// # Ok::<(), NTSTATUS>(())
/// ```
#[derive(Debug)]
pub struct RawRef(NonNull<c_void>);

impl RawRef {
    /// Takes over the reference `p` carries; `None` for NULL.
    ///
    /// # Safety
    /// A non-NULL `p` is a live interface pointer carrying a reference the caller gives up.
    pub unsafe fn from_raw(p: *mut c_void) -> Option<Self> {
        NonNull::new(p).map(Self)
    }

    /// A new reference to the interface `i` points at (AddRef through its vtable).
    pub fn of<I: Interface>(i: &I) -> Self {
        let p = i.as_raw();
        // SAFETY: `i` holds a reference, so the object is live; the reference added is ours.
        unsafe { add_ref(p) };
        // SAFETY: `p` is live and carries the reference just added; interface values are
        // never NULL, so `from_raw` answers `Some`.
        let r = unsafe { Self::from_raw(p) };
        match r {
            Some(r) => r,
            None => unreachable!("an interface value is never NULL"),
        }
    }

    /// The interface pointer (still owned by `self`).
    pub fn as_raw(&self) -> *mut c_void {
        self.0.as_ptr()
    }

    /// Gives up ownership: the reference is now the caller's.
    pub fn into_raw(self) -> *mut c_void {
        core::mem::ManuallyDrop::new(self).as_raw()
    }

    /// The IUnknown slots.
    pub fn unknown(&self) -> &IUnknown_Vtbl {
        // SAFETY: `self` holds a reference, so the object is live for the borrow; every vtable
        // begins with IUnknown's slots.
        unsafe { vtable::<IUnknown_Vtbl>(self.as_raw()) }
    }

    /// The whole vtable, read as `V`.
    ///
    /// # Safety
    /// The vtable of this interface begins with a `V`.
    pub unsafe fn vtbl<V>(&self) -> &V {
        // SAFETY: live while borrowed (we hold a reference); `V` is the caller's promise.
        unsafe { vtable::<V>(self.as_raw()) }
    }

    /// `QueryInterface(iid, out)` with raw arguments.
    ///
    /// # Safety
    /// `iid` is NULL or points to a GUID; `out` is NULL or points to writable storage.
    pub unsafe fn query_raw(&self, iid: *const GUID, out: *mut *mut c_void) -> NTSTATUS {
        // SAFETY: the object is live (we hold a reference); the arguments are the caller's.
        unsafe { query_interface(self.as_raw(), iid, out) }
    }

    /// `QueryInterface(iid, &out)`, checking the out-pointer contract of kernel COM: an
    /// AddRef'd non-NULL pointer on success, NULL on failure.
    ///
    /// # Panics
    /// If the object breaks that contract (leaves `out` unwritten, or fails with a non-NULL
    /// `out`, or succeeds with NULL).
    pub fn qi(&self, iid: &GUID) -> Result<RawRef> {
        let mut out = sentinel();
        // SAFETY: `iid` and `out` are valid for the call.
        let status = unsafe { self.query_raw(iid, &mut out) };
        assert_ne!(
            out,
            sentinel(),
            "QueryInterface({iid:?}) must always write the out-pointer"
        );
        if status.is_success() {
            // SAFETY: a successful QueryInterface stores an AddRef'd interface pointer.
            let r = unsafe { RawRef::from_raw(out) };
            assert!(
                r.is_some(),
                "QueryInterface({iid:?}) succeeded with a NULL pointer"
            );
            r.ok_or(status)
        } else {
            assert!(
                out.is_null(),
                "a failed QueryInterface({iid:?}) sets the out-pointer to NULL"
            );
            Err(status)
        }
    }

    /// `AddRef()`: the count it returns, and the reference it added.
    pub fn add_ref(&self) -> (u32, RawRef) {
        // SAFETY: the object is live (we hold a reference); the new reference is returned.
        let n = unsafe { add_ref(self.as_raw()) };
        (n, RawRef(self.0))
    }

    /// `Release()` of this reference: the count it returns.
    pub fn release(self) -> u32 {
        let p = self.into_raw();
        // SAFETY: `p` is live and we give up the reference it carried.
        unsafe { release(p) }
    }

    /// The current count, observed as a C caller can: AddRef, then Release.
    pub fn refs(&self) -> u32 {
        self.add_ref().1.release()
    }

    /// The address, to compare interface pointers.
    pub fn addr(&self) -> usize {
        self.as_raw().addr()
    }
}

impl PartialEq for RawRef {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for RawRef {}

impl Drop for RawRef {
    fn drop(&mut self) {
        // SAFETY: `self` owns one reference, given up here.
        unsafe { release(self.as_raw()) };
    }
}
