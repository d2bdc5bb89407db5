//! COM objects: the layout `#[com_object]` and `#[mxf_filter]` produce, the shims every vtable
//! shares, QueryInterface, reference counting, aggregation and pooled creation.
//!
//! # Layout
//!
//! ```text
//! #[repr(C)] ComObject<T> {
//!     vtables: T::Vtables     // one &'static vtable per interface chain; chain 0 is primary
//!     inner: &'static IUnknown_Vtbl   // the non-delegating unknown
//!     outer: *mut c_void      // controlling IUnknown: the aggregator, or `&inner` itself
//!     refcount, pool, tag     // the non-delegating count; where to free the block
//!     value: T::Value         // the author's struct (wrapped by #[mxf_filter])
//! }
//! ```
//!
//! A pointer to chain `k` is the address of `vtables` plus `k` pointer slots. Its shim steps
//! back `k` slots (a const generic) to reach the object. Every interface pointer is derived
//! from the pointer the pool returned, so it carries the provenance of the whole block.
//!
//! # Invariants
//! * I1: the block is freed exactly once, by the `Release` that takes the count from 1 to 0;
//!   nothing touches the block after that call frees it.
//! * I2: `outer` never changes after creation and outlives the object (the aggregator owns us).
//! * I3: shims only run on pointers this module handed out (the port calls only through them).

use super::refcount::{RefCount, Released};
use crate::abi::{
    GUID, NTSTATUS, POOL_TYPE, Result, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use crate::com::{HasIid, Interface};
use crate::interfaces::{IUnknown, IUnknown_Vtbl};
use crate::platform;
use core::alloc::Layout;
use core::ffi::c_void;
use core::mem::{offset_of, size_of};
use core::ptr::NonNull;

const SLOT: usize = size_of::<*const c_void>();

/// What a vtable shim needs from the object it dispatches into. Implemented by [`ComObject`].
///
/// # Safety
/// `value::<K>` and the IUnknown functions must be correct for every `this` that points at chain
/// slot `K` of a live object of this type.
pub unsafe trait ComImpl: Sized {
    /// The type whose `*_Impl` traits receive the calls.
    type Value;

    /// The value behind chain slot `K`.
    ///
    /// # Safety
    /// `this` points at chain slot `K` of a live object.
    unsafe fn value<'a, const K: usize>(this: *mut c_void) -> &'a Self::Value;

    /// Delegating `QueryInterface` of chain `K`.
    ///
    /// # Safety
    /// Called through a vtable of chain `K` of a live object.
    #[allow(non_snake_case)]
    unsafe extern "system" fn QueryInterface<const K: usize>(
        this: *mut c_void,
        iid: *const GUID,
        out: *mut *mut c_void,
    ) -> NTSTATUS;
    /// Delegating `AddRef` of chain `K`.
    ///
    /// # Safety
    /// Called through a vtable of chain `K` of a live object.
    #[allow(non_snake_case)]
    unsafe extern "system" fn AddRef<const K: usize>(this: *mut c_void) -> u32;
    /// Delegating `Release` of chain `K`.
    ///
    /// # Safety
    /// Called through a vtable of chain `K` of a live object.
    #[allow(non_snake_case)]
    unsafe extern "system" fn Release<const K: usize>(this: *mut c_void) -> u32;
}

/// A vtable filled with the shims of object `O` for chain slot `K`. Implemented by
/// `#[com_interface]` for every vtable type.
pub trait VtableFor<O: ComImpl, const K: usize>: Sized + 'static {
    /// The vtable.
    const VTABLE: Self;
}

/// The value of a COM object whose IMXF methods are its own: a `#[com_object]` struct (the
/// macro implements this) or the framework's [`FilterObject`](crate::filter::FilterObject).
/// `IMXF_Impl` requires it, so an `#[mxf_filter]` struct, whose IMXF the framework supplies,
/// cannot implement `IMXF_Impl` too (that implementation would never be called).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot implement IMXF itself: it is no `#[com_object]`",
    label = "an `#[mxf_filter]` gets PutMessage, ConnectOutput, DisconnectOutput and SetState from the framework",
    note = "for a filter, remove this impl and put the work in `Filter::process` (and `Filter::state_changed`); a sink or component of your own that implements IMXF itself is a `#[com_object(IMXF)]` struct"
)]
pub trait ObjectValue {}

/// A field type of a COM object's struct: `Send + Sync`, since the object's methods are called
/// from several CPUs at once. The object macros check every field of a struct that is not
/// `Send + Sync` (`STRUCT_IS_THREAD_SAFE` false), so the error names the field and says what to
/// use instead; a struct that is needs no field checked.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shared between the CPUs that call this object",
    label = "not `Send + Sync`: a COM object's methods run on several CPUs at once",
    note = "keep mutable state in `mxf::platform::SpinLock<T>` or in atomics (`mxf::platform::atomic`); `Cell`, `RefCell` and `Rc` are for one thread only"
)]
#[doc(hidden)]
pub trait ThreadSafeField<const STRUCT_IS_THREAD_SAFE: bool> {}
impl<T: ?Sized> ThreadSafeField<true> for T {}
#[diagnostic::do_not_recommend]
impl<T: ?Sized + Send + Sync> ThreadSafeField<false> for T {}

/// The check the object macros make of each field (see [`ThreadSafeField`]).
#[doc(hidden)]
pub const fn assert_thread_safe_field<T: ?Sized + ThreadSafeField<S>, const S: bool>() {}

/// The object description `#[com_object]` / `#[mxf_filter]` generate for an author's struct.
///
/// # Safety
/// `Vtables` is `#[repr(C)]` with exactly `CHAINS` `&'static` vtable references, the `k`th built
/// by `VtableFor<ComObject<Self>, k>`; `find_chain` returns only indices `< CHAINS`; `Value` is
/// `Send + Sync` (the macros check it, reporting a struct that is not at its offending fields).
pub unsafe trait ObjectImpl: Sized + 'static {
    /// What lives in the object: `Self`, or the framework wrapper around it.
    type Value: 'static;
    /// The `#[repr(C)]` struct of vtable references.
    type Vtables: Copy + 'static;
    /// The vtables of this object.
    const VTABLES: Self::Vtables;
    /// The number of interface chains.
    const CHAINS: usize;
    /// Status of a failed QueryInterface (`STATUS_INVALID_PARAMETER` unless configured).
    const QI_FAILURE: NTSTATUS = STATUS_INVALID_PARAMETER;
    /// Pool tag of the object's block (`"mxfO"` unless configured with `tag = "…"`).
    const POOL_TAG: u32 = crate::abi::pool_tag(b"mxfO");
    /// The chain answering `iid` (IUnknown excluded): the first listed chain whose interface or
    /// ancestor matches.
    fn find_chain(iid: &GUID) -> Option<usize>;
    /// The first chain whose interface is the Rust type `t` or extends it (`t` an IMXF: a chain
    /// of IMXF, or of an interface derived from it); also for interfaces without an IID.
    fn chain_of(t: core::any::TypeId) -> Option<usize>;
}

/// A COM object around `T` (see the module docs for the layout).
#[repr(C)]
pub struct ComObject<T: ObjectImpl> {
    vtables: T::Vtables,
    inner: &'static IUnknown_Vtbl,
    outer: *mut c_void,
    refcount: RefCount,
    pool: POOL_TYPE,
    tag: u32,
    value: T::Value,
}

/// The three shims of the non-delegating unknown of `T`.
struct Inner<T>(core::marker::PhantomData<T>);

impl<T: ObjectImpl> Inner<T> {
    const VTBL: IUnknown_Vtbl = IUnknown_Vtbl {
        QueryInterface: ComObject::<T>::inner_query_interface,
        AddRef: ComObject::<T>::inner_add_ref,
        Release: ComObject::<T>::inner_release,
    };
}

impl<T: ObjectImpl> ComObject<T> {
    /// Compile-time layout check, forced by every constructor: the inner unknown sits right
    /// after the `CHAINS` vtable slots.
    #[allow(clippy::arithmetic_side_effects)] // evaluated by the compiler only
    pub const LAYOUT_OK: () = {
        assert!(T::CHAINS >= 1, "a COM object needs at least one interface");
        assert!(
            size_of::<T::Vtables>() == T::CHAINS * SLOT,
            "one pointer per chain"
        );
        assert!(
            offset_of!(Self, vtables) == 0,
            "chain 0 is at the object's address"
        );
        assert!(
            offset_of!(Self, inner) == T::CHAINS * SLOT,
            "inner unknown follows the chains"
        );
        assert!(
            align_of::<Self>() <= platform::POOL_ALIGNMENT,
            "a COM object lives in a pool block, aligned to two pointers (MEMORY_ALLOCATION_ALIGNMENT): no field of the object may need more"
        );
    };

    const INNER_OFFSET: usize = T::CHAINS * SLOT;

    /// The object behind chain slot `K`.
    ///
    /// # Safety
    /// `this` points at chain slot `K` of a live object (I3).
    #[inline(always)]
    unsafe fn from_slot<const K: usize>(this: *mut c_void) -> *mut Self {
        // SAFETY: slot K is K pointer slots into the object; `this` carries the provenance of
        // the whole block, so stepping back stays in bounds.
        unsafe { this.byte_sub(K.wrapping_mul(SLOT)).cast::<Self>() }
    }

    /// # Safety
    /// `this` is the inner-unknown slot of a live object.
    #[inline(always)]
    unsafe fn from_inner(this: *mut c_void) -> *mut Self {
        // SAFETY: the inner slot is INNER_OFFSET bytes into the object (LAYOUT_OK).
        unsafe { this.byte_sub(Self::INNER_OFFSET).cast::<Self>() }
    }

    #[inline(always)]
    fn chain_ptr(obj: *mut Self, k: usize) -> *mut c_void {
        obj.cast::<u8>()
            .wrapping_add(k.wrapping_mul(SLOT))
            .cast::<c_void>()
    }

    #[inline(always)]
    fn inner_ptr(obj: *mut Self) -> *mut c_void {
        obj.cast::<u8>()
            .wrapping_add(Self::INNER_OFFSET)
            .cast::<c_void>()
    }

    unsafe extern "system" fn inner_query_interface(
        this: *mut c_void,
        iid: *const GUID,
        out: *mut *mut c_void,
    ) -> NTSTATUS {
        if out.is_null() || !out.is_aligned() {
            return STATUS_INVALID_PARAMETER;
        }
        if iid.is_null() || !iid.is_aligned() {
            // SAFETY: `out` is non-NULL and aligned; the caller provides writable storage.
            unsafe { out.write(core::ptr::null_mut()) };
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: `this` is our inner slot (I3).
        let obj = unsafe { Self::from_inner(this) };
        // SAFETY: `iid` is non-NULL and aligned and points to the caller's GUID.
        let iid = unsafe { &*iid };
        let found = if *iid == IUnknown::IID {
            // Aggregated: the aggregator asks for our non-delegating unknown. Otherwise the
            // identity is chain 0, whichever chain the question came through.
            // SAFETY: `outer` is immutable after creation (I2).
            if unsafe { (*obj).outer } == this {
                Some(Self::chain_ptr(obj, 0))
            } else {
                Some(this)
            }
        } else {
            match T::find_chain(iid) {
                Some(k) if k < T::CHAINS => Some(Self::chain_ptr(obj, k)),
                _ => None,
            }
        };
        match found {
            Some(p) => {
                // AddRef through the interface returned: delegating chains reach the controlling
                // unknown, the inner slot reaches our own count.
                // SAFETY: `p` is a slot of this live object; its first word is a vtable pointer.
                let vt = unsafe { &**p.cast::<*const IUnknown_Vtbl>() };
                // SAFETY: as above.
                unsafe { (vt.AddRef)(p) };
                // SAFETY: `out` checked above.
                unsafe { out.write(p) };
                STATUS_SUCCESS
            }
            None => {
                // SAFETY: `out` checked above.
                unsafe { out.write(core::ptr::null_mut()) };
                T::QI_FAILURE
            }
        }
    }

    unsafe extern "system" fn inner_add_ref(this: *mut c_void) -> u32 {
        // SAFETY: `this` is our inner slot of a live object (I3).
        unsafe { Self::count_add_ref(Self::from_inner(this)) }
    }

    unsafe extern "system" fn inner_release(this: *mut c_void) -> u32 {
        // SAFETY: `this` is our inner slot of a live object (I3).
        unsafe { Self::count_release(Self::from_inner(this)) }
    }

    /// The inner unknown's `AddRef`: our own count.
    ///
    /// # Safety
    /// `obj` is a live object.
    #[inline(always)]
    unsafe fn count_add_ref(obj: *mut Self) -> u32 {
        // SAFETY: the object is live; the count is an atomic read through a shared reference.
        unsafe { (*obj).refcount.add_ref() }
    }

    /// The inner unknown's `Release`: our own count; the last one destroys the object.
    ///
    /// # Safety
    /// `obj` is a live object; the caller's reference is given up (nothing may touch the object
    /// after this call).
    #[inline(always)]
    unsafe fn count_release(obj: *mut Self) -> u32 {
        // SAFETY: the object is live until this call frees it.
        match unsafe { (*obj).refcount.release() } {
            Released::Alive(n) => n,
            Released::Misuse => 0,
            Released::Last => {
                // SAFETY: the count reached zero on this thread (with the Acquire fence): no
                // other reference exists, so this is the only access (I1).
                unsafe { Self::destroy(obj) };
                0
            }
        }
    }

    /// # Safety
    /// `obj` is a live object whose count just reached zero; it is not used afterwards.
    #[cold]
    unsafe fn destroy(obj: *mut Self) {
        // SAFETY: exclusive access (caller); read the free arguments before dropping.
        let pool = unsafe { (*obj).pool };
        // SAFETY: as above.
        let tag = unsafe { (*obj).tag };
        // Only the author's value is dropped in place, not the whole object: its teardown may
        // still call AddRef/Release through a pointer to this object (the misuse path of
        // `refcount`), which reads `outer` and `refcount`. Dropping the whole object would hold
        // exclusive access to those fields for the duration and make that read undefined
        // behaviour. The other fields have no drop glue (`NO_OTHER_DROP_GLUE`).
        let () = Self::NO_OTHER_DROP_GLUE;
        // SAFETY: `obj` is live (caller); a place projection, no reference is created.
        let value = unsafe { &raw mut (*obj).value };
        // SAFETY: the value is live and exclusively ours (caller); it is not used again.
        unsafe { core::ptr::drop_in_place(value) };
        // SAFETY: `obj` is the live object, so not NULL.
        let block = unsafe { NonNull::new_unchecked(obj) }.cast::<u8>();
        // SAFETY: `obj` came from `pool_new::<Self>(pool, tag, _)` in `create_raw`, that is from
        // `pool_alloc(pool, tag, Layout::new::<Self>())`; its value is dropped and nothing
        // touches the block afterwards (I1).
        unsafe { platform::pool_free(block, pool, tag, Layout::new::<Self>()) };
    }

    /// Every field but `value` is plain data, so freeing the block after dropping `value` drops
    /// everything the object owns.
    const NO_OTHER_DROP_GLUE: () = {
        assert!(
            !core::mem::needs_drop::<T::Vtables>(),
            "vtable references need no drop"
        );
        assert!(
            !core::mem::needs_drop::<RefCount>(),
            "the count needs no drop"
        );
    };

    /// Creates an object and returns the interface `iid` through `out` — the shape of a C
    /// `CreateXxx(PUNKNOWN* out, PUNKNOWN outer, POOL_TYPE, ...)` function.
    ///
    /// * `out` NULL: `STATUS_INVALID_PARAMETER`, nothing created (`value` is dropped).
    /// * `outer` non-NULL (aggregation): `iid` must be `IID_IUnknown`, else
    ///   `STATUS_INVALID_PARAMETER`; `*out` receives the non-delegating unknown, the reference
    ///   the aggregator keeps.
    /// * pool exhausted: `STATUS_INSUFFICIENT_RESOURCES`, `*out = NULL`, nothing leaked.
    /// * `iid` not implemented: the object's QueryInterface failure status, nothing leaked.
    ///
    /// # Safety
    /// `outer`, if non-NULL, is a live IUnknown that outlives the object. `iid`, if non-NULL,
    /// points to a GUID; `out`, if non-NULL, to writable storage.
    pub unsafe fn create_raw(
        value: T::Value,
        outer: *mut c_void,
        pool: POOL_TYPE,
        tag: u32,
        iid: *const GUID,
        out: *mut *mut c_void,
    ) -> NTSTATUS {
        let () = Self::LAYOUT_OK;
        if out.is_null() || !out.is_aligned() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: checked non-NULL and aligned; caller-provided storage.
        unsafe { out.write(core::ptr::null_mut()) };
        if iid.is_null() || !iid.is_aligned() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL, aligned, caller's GUID.
        let iid = unsafe { &*iid };
        if !outer.is_null() && *iid != IUnknown::IID {
            return STATUS_INVALID_PARAMETER;
        }
        let obj = ComObject::<T> {
            vtables: T::VTABLES,
            inner: &Inner::<T>::VTBL,
            outer,
            refcount: RefCount::new(1),
            pool,
            tag,
            value,
        };
        let Ok(block) = platform::pool_new(pool, tag, obj) else {
            return STATUS_INSUFFICIENT_RESOURCES;
        };
        let obj = block.as_ptr();
        let inner = Self::inner_ptr(obj);
        if outer.is_null() {
            // SAFETY: exclusive access before the object is published; `inner` is derived from
            // the block pointer.
            unsafe { (*obj).outer = inner };
            // The creation reference (1) is traded for the one QueryInterface adds.
            // SAFETY: `inner` is the inner slot of the live object; `out` is valid.
            let status = unsafe { Self::inner_query_interface(inner, iid, out) };
            // SAFETY: drops the creation reference; destroys the object if QI failed.
            unsafe { Self::inner_release(inner) };
            status
        } else {
            // SAFETY: `out` is valid; the aggregator now owns the creation reference.
            unsafe { out.write(inner) };
            STATUS_SUCCESS
        }
    }

    /// Creates an object in `pool` under `tag` and returns interface `I` (for a `#[com_object]`
    /// struct, [`IntoComObject::into_com_in`] says the same: `value.into_com_in::<I>(pool, tag)`).
    pub fn create_value<I: Interface>(value: T::Value, pool: POOL_TYPE, tag: u32) -> Result<I> {
        let mut out = core::ptr::null_mut();
        let declared = I::LINEAGE.iid;
        let iid = declared.unwrap_or(IUnknown::IID);
        // SAFETY: no outer; `iid` and `out` are valid locals.
        let s =
            unsafe { Self::create_raw(value, core::ptr::null_mut(), pool, tag, &iid, &mut out) };
        s.ok()?;
        if declared.is_some() {
            // SAFETY: success stores an AddRef'd pointer to `I`.
            return unsafe { I::from_raw(out) }.ok_or(STATUS_UNSUCCESSFUL);
        }
        // An interface without IID cannot be reached through QueryInterface: select its chain
        // by type. `out` is chain 0 (the identity) of the new object.
        // SAFETY: `out` is the identity pointer just created, holding one reference.
        let identity = unsafe { IUnknown::from_raw(out) }.ok_or(STATUS_UNSUCCESSFUL)?;
        let k = T::chain_of(core::any::TypeId::of::<I>()).ok_or(T::QI_FAILURE)?;
        let obj = identity.as_raw().cast::<Self>();
        let p = Self::chain_ptr(obj, k);
        // SAFETY: `p` is chain k of the live object; AddRef through it for the new pointer.
        unsafe { <Self as ComImpl>::AddRef::<0>(obj.cast()) };
        // SAFETY: `p` is an interface pointer of type `I` carrying the reference just added.
        unsafe { I::from_raw(p) }.ok_or(STATUS_UNSUCCESSFUL)
    }

    /// Creates an object aggregated by `outer`; returns its non-delegating unknown, which the
    /// aggregator keeps and releases when it is destroyed. Every interface of the new object
    /// delegates QueryInterface, AddRef and Release to `outer`.
    ///
    /// # Safety
    /// `outer` outlives the returned object (it owns it).
    pub unsafe fn create_aggregated(
        value: T::Value,
        outer: &IUnknown,
        pool: POOL_TYPE,
        tag: u32,
    ) -> Result<IUnknown> {
        let mut out = core::ptr::null_mut();
        // SAFETY: `outer` is live (caller); `iid` and `out` are valid locals.
        let s =
            unsafe { Self::create_raw(value, outer.as_raw(), pool, tag, &IUnknown::IID, &mut out) };
        s.ok()?;
        // SAFETY: success stores the inner unknown with the creation reference.
        unsafe { IUnknown::from_raw(out) }.ok_or(STATUS_UNSUCCESSFUL)
    }

    /// Another chain of the object behind `chain0`, selected by Rust type (also for interfaces
    /// without an IID, which QueryInterface never answers); `None` if the object has no such
    /// chain. The result holds its own reference.
    ///
    /// # Safety
    /// `chain0` is chain 0 of a live `ComObject<T>`.
    pub unsafe fn sibling<I: Interface>(chain0: *mut c_void) -> Option<I> {
        let k = T::chain_of(core::any::TypeId::of::<I>())?;
        let obj = chain0.cast::<Self>();
        // SAFETY: chain 0 of a live object (caller): AddRef for the new pointer.
        unsafe { <Self as ComImpl>::AddRef::<0>(chain0) };
        // SAFETY: chain k of the live object is an `I` pointer carrying the reference just added.
        unsafe { I::from_raw(Self::chain_ptr(obj, k)) }
    }

    /// The value behind chain `k` of an object (a run-time chain index).
    ///
    /// # Safety
    /// `iface` is chain `k` of a live `ComObject<T>` that outlives `'a`.
    pub unsafe fn value_at<'a>(iface: *mut c_void, k: usize) -> &'a T::Value {
        // SAFETY: chain k is k pointer slots into the object; `iface` carries the provenance of
        // the whole block (caller).
        let obj = unsafe { iface.byte_sub(k.wrapping_mul(SLOT)).cast::<Self>() };
        // SAFETY: the object is live for 'a; `value` is only ever shared.
        unsafe { &(*obj).value }
    }

    /// Whether `iface` is an interface pointer of the object that holds `value` (one of its
    /// chains, or its inner unknown): a comparison of addresses, nothing is read. An object uses
    /// it to refuse a connection to itself (delivering to itself would recurse without end).
    /// For a `value` that is not inside a `ComObject<T>` the answer is `false` for every
    /// pointer an object could be handed.
    pub fn holds_interface(value: &T::Value, iface: *const c_void) -> bool {
        let value_at = core::ptr::from_ref(value).addr();
        let Some(base) = value_at.checked_sub(offset_of!(Self, value)) else {
            return false;
        };
        iface
            .addr()
            .checked_sub(base)
            .is_some_and(|d| d % SLOT == 0 && d <= T::CHAINS.saturating_mul(SLOT))
    }

    /// The value behind any interface pointer of this object type.
    ///
    /// # Safety
    /// `iface` is chain `K` of a live `ComObject<T>`.
    pub unsafe fn value_of<'a, const K: usize>(iface: *mut c_void) -> &'a T::Value {
        // SAFETY: forwarded contract.
        unsafe { <Self as ComImpl>::value::<K>(iface) }
    }
}

// SAFETY: shims follow the layout asserted in LAYOUT_OK; `outer` is a live IUnknown (I2).
unsafe impl<T: ObjectImpl> ComImpl for ComObject<T> {
    type Value = T::Value;

    #[inline(always)]
    unsafe fn value<'a, const K: usize>(this: *mut c_void) -> &'a T::Value {
        // SAFETY: `this` is chain slot K of a live object (caller).
        let obj = unsafe { Self::from_slot::<K>(this) };
        // SAFETY: the object is live for 'a; `value` is only ever shared.
        unsafe { &(*obj).value }
    }

    unsafe extern "system" fn QueryInterface<const K: usize>(
        this: *mut c_void,
        iid: *const GUID,
        out: *mut *mut c_void,
    ) -> NTSTATUS {
        // SAFETY: chain slot K of a live object (caller).
        let outer = unsafe { (*Self::from_slot::<K>(this)).outer };
        // SAFETY: `outer` is a live IUnknown (I2).
        let vt = unsafe { &**outer.cast::<*const IUnknown_Vtbl>() };
        // SAFETY: forwarded with the caller's arguments.
        unsafe { (vt.QueryInterface)(outer, iid, out) }
    }

    unsafe extern "system" fn AddRef<const K: usize>(this: *mut c_void) -> u32 {
        // SAFETY: chain slot K of a live object (caller).
        let obj = unsafe { Self::from_slot::<K>(this) };
        // SAFETY: as above; `outer` is immutable after creation (I2).
        let outer = unsafe { (*obj).outer };
        if outer == Self::inner_ptr(obj) {
            // Not aggregated: the controlling unknown is our own count. The same as the call
            // through the inner vtable below, one indirect call fewer.
            // SAFETY: the object is live (caller); the count is an atomic.
            return unsafe { Self::count_add_ref(obj) };
        }
        // SAFETY: `outer` is a live IUnknown (I2).
        let vt = unsafe { &**outer.cast::<*const IUnknown_Vtbl>() };
        // SAFETY: as above.
        unsafe { (vt.AddRef)(outer) }
    }

    unsafe extern "system" fn Release<const K: usize>(this: *mut c_void) -> u32 {
        // SAFETY: chain slot K of a live object (caller).
        let obj = unsafe { Self::from_slot::<K>(this) };
        // SAFETY: as above. `outer` is read before the call that may free the object, and
        // nothing is touched after it (I1).
        let outer = unsafe { (*obj).outer };
        if outer == Self::inner_ptr(obj) {
            // Not aggregated: our own count, as `inner_release` (one indirect call fewer).
            // SAFETY: the object is live until this call frees it (caller).
            return unsafe { Self::count_release(obj) };
        }
        // SAFETY: `outer` is a live IUnknown (I2).
        let vt = unsafe { &**outer.cast::<*const IUnknown_Vtbl>() };
        // SAFETY: as above.
        unsafe { (vt.Release)(outer) }
    }
}

/// Creation shortcuts for every `#[com_object]` type (filters use
/// [`IntoFilter`](crate::filter::IntoFilter), which also binds their allocator).
pub trait IntoComObject: ObjectImpl<Value = Self> {
    /// Creates the object in nonpaged pool under the object's tag and returns interface `I`.
    fn into_com<I: Interface>(self) -> Result<I> {
        ComObject::<Self>::create_value(self, crate::abi::NonPagedPool, Self::POOL_TAG)
    }
    /// Creates the object in `pool` under `tag` and returns interface `I`.
    fn into_com_in<I: Interface>(self, pool: POOL_TYPE, tag: u32) -> Result<I> {
        ComObject::<Self>::create_value(self, pool, tag)
    }
}
impl<T: ObjectImpl<Value = T>> IntoComObject for T {}
