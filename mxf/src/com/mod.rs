//! The kernel COM core: interface pointers, reference counting, objects and their shims.
//!
//! Kernel COM differs from user-mode COM in one visible way: `QueryInterface` returns an
//! `NTSTATUS`. Everything else follows the COM rules: out-pointers are returned AddRef'd,
//! in-pointers are borrowed.
//!
//! * Interface pointers: each interface type (`IMXF`, …) is an owned [`ComPtr`] (`Clone` =
//!   `AddRef`, `Drop` = `Release`); [`ComRef`] is a borrowed one, the type of interface
//!   in-parameters; [`Interface`] and [`HasIid`] describe an interface, and
//!   [`Interface::cast`] is QueryInterface.
//! * Objects: [`ComObject`] is what `#[com_object]` and `#[mxf_filter]` lay out around a
//!   struct; [`IntoComObject`] and [`ObjectHandle`] create one; [`SelfRef`] lets an object hand
//!   out counted pointers to itself; [`refcount`] is its reference count.
//! * The compile-time vocabulary of the macros: [`AbiSafe`], [`AbiReturn`], [`PlainValue`].
//!
//! ```
//! use mxf::com::{ComRef, ObjectHandle};
//! use mxf::platform::atomic::{AtomicU32, Ordering};
//! use mxf::prelude::*;
//!
//! /// A service sink that counts its calls.
//! #[com_object(IServiceSink)]
//! struct Counter {
//!     calls: AtomicU32,
//! }
//!
//! impl IServiceSink_Impl for Counter {
//!     fn RequestService(&self) {
//!         self.calls.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! // An owned interface with the object's value at hand.
//! let counter =
//!     ObjectHandle::<Counter, IServiceSink>::create(Counter { calls: AtomicU32::new(0) })?;
//! // Owned pointers: `clone` is AddRef, `drop` is Release.
//! let sink: IServiceSink = counter.interface().clone();
//! // Borrowed (what an interface in-parameter is): no reference counting at all.
//! let borrowed: ComRef<'_, IServiceSink> = sink.to_ref();
//! borrowed.RequestService(); // no pointer parameter: a safe call
//! assert_eq!(counter.value().calls.load(Ordering::Relaxed), 1);
//! // QueryInterface: an AddRef'd pointer, or the object's failure status.
//! let unknown: IUnknown = sink.cast()?;
//! assert_eq!(unknown.cast::<IMXF>().err(), Some(STATUS_INVALID_PARAMETER));
//! # Ok::<(), NTSTATUS>(())
//! ```

mod handle;
mod interface;
mod object;
pub mod refcount;
mod self_ref;

pub use handle::ObjectHandle;
pub use interface::{
    AbiReturn, AbiSafe, CloneInterface, ComPtr, ComRef, HasIid, IidNamesLayout, Interface, Lineage,
    PlainValue, assert_abi_return, assert_abi_safe, assert_plain_value,
};
pub use object::{
    ComImpl, ComObject, IntoComObject, ObjectImpl, ObjectValue, ThreadSafeField, VtableFor,
    assert_thread_safe_field,
};
pub use refcount::{RefCount, Released};
pub use self_ref::SelfRef;
