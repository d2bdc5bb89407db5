//! Raw-vtable access shared by the COM integration tests: exactly what a C++ caller does with a
//! `PUNKNOWN` (read the vtable pointer, call the slot), plus a drop counter.
#![allow(dead_code)]

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use mxf::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

// ---------------------------------------------------------------------------------------------
// Raw-vtable access: exactly what a C++ caller does with a `PUNKNOWN`.
// ---------------------------------------------------------------------------------------------

/// One pointer slot of an object: the distance between two consecutive chains.
pub const SLOT: usize = size_of::<*const c_void>();

/// A non-NULL value that no QueryInterface returns, to see whether an out-pointer was written.
pub fn sentinel() -> *mut c_void {
    ptr::without_provenance_mut(0x5A5A_5A50)
}

/// The vtable of the interface at `p`, read as `V`.
///
/// # Safety
/// `p` is a live interface pointer whose vtable begins with a `V`, and stays live for `'a`.
pub unsafe fn vtbl<'a, V>(p: *mut c_void) -> &'a V {
    // SAFETY: the first word of a live interface is its vtable pointer (caller).
    let vt = unsafe { *p.cast::<*const V>() };
    // SAFETY: the vtable begins with a `V` (caller); vtables are never freed.
    unsafe { &*vt }
}

/// `p->AddRef()`.
///
/// # Safety
/// `p` is a live interface pointer.
pub unsafe fn raw_add_ref(p: *mut c_void) -> u32 {
    // SAFETY: `p` is live (caller); every vtable begins with IUnknown's slots.
    let vt = unsafe { vtbl::<IUnknown_Vtbl>(p) };
    // SAFETY: as above.
    unsafe { (vt.AddRef)(p) }
}

/// `p->Release()`.
///
/// # Safety
/// `p` is a live interface pointer holding a reference the caller gives up.
pub unsafe fn raw_release(p: *mut c_void) -> u32 {
    // SAFETY: `p` is live (caller); every vtable begins with IUnknown's slots.
    let vt = unsafe { vtbl::<IUnknown_Vtbl>(p) };
    // SAFETY: the caller gives up one reference.
    unsafe { (vt.Release)(p) }
}

/// One counted reference to a COM object, held as a raw interface pointer. Every operation reads
/// the vtable pointer and calls the slot, as a C++ holder of a `PUNKNOWN` does; dropping it calls
/// `Release`.
#[derive(Debug)]
pub struct RawRef(pub NonNull<c_void>);

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
        // SAFETY: `i` holds a reference, so the object is live.
        unsafe { raw_add_ref(p) };
        Self(NonNull::new(p).expect("interface pointers are non-NULL"))
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
        unsafe { vtbl::<IUnknown_Vtbl>(self.as_raw()) }
    }

    /// The whole vtable, read as `V`.
    ///
    /// # Safety
    /// The vtable of this interface begins with a `V`.
    pub unsafe fn vtbl<V>(&self) -> &V {
        // SAFETY: live while borrowed (we hold a reference); `V` is the caller's promise.
        unsafe { vtbl::<V>(self.as_raw()) }
    }

    /// `QueryInterface(iid, &out)` with raw arguments.
    ///
    /// # Safety
    /// `iid` is NULL or points to a GUID; `out` is NULL or points to writable storage.
    pub unsafe fn query_raw(&self, iid: *const GUID, out: *mut *mut c_void) -> NTSTATUS {
        // SAFETY: the object is live (we hold a reference); the arguments are the caller's.
        unsafe { (self.unknown().QueryInterface)(self.as_raw(), iid, out) }
    }

    /// `QueryInterface(iid, &out)`, checking the out-pointer contract: an AddRef'd non-NULL
    /// pointer on success, NULL on failure.
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
            Ok(unsafe { RawRef::from_raw(out) }.expect("success with a NULL pointer"))
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
        // SAFETY: the object is live (we hold a reference).
        let n = unsafe { (self.unknown().AddRef)(self.as_raw()) };
        (n, RawRef(self.0))
    }

    /// `Release()` of this reference: the count it returns.
    pub fn release(self) -> u32 {
        let p = self.into_raw();
        // SAFETY: `p` is live and we give up the reference it carried.
        unsafe { raw_release(p) }
    }

    /// The current count, observed as a C caller can: AddRef, then Release.
    pub fn refs(&self) -> u32 {
        self.add_ref().1.release()
    }

    /// The address, to compare chains.
    pub fn addr(&self) -> usize {
        self.as_raw().addr()
    }
}

impl PartialEq for RawRef {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Drop for RawRef {
    fn drop(&mut self) {
        // SAFETY: `self` owns one reference, given up here.
        unsafe { raw_release(self.as_raw()) };
    }
}

/// Counts how many times the value holding it was dropped.
pub struct Probe(pub Arc<AtomicUsize>);

impl Probe {
    pub fn new() -> (Self, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        (Self(n.clone()), n)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
