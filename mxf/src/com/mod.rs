//! The kernel COM core: interface pointers, reference counting, objects and their shims.
//!
//! Kernel COM differs from user-mode COM in one visible way: `QueryInterface` returns an
//! `NTSTATUS`. Everything else follows the COM rules: out-pointers are returned AddRef'd,
//! in-pointers are borrowed.

mod handle;
mod interface;
mod object;
pub mod refcount;
mod self_ref;

pub use handle::ObjectHandle;
pub use interface::{
    AbiReturn, AbiSafe, CloneInterface, ComPtr, ComRef, IidNamesLayout, Interface, PlainValue,
    assert_abi_return, assert_abi_safe, assert_plain_value,
};
pub use object::{ComImpl, ComObject, IntoComObject, ObjectImpl, VtableFor};
pub use refcount::{RefCount, Released};
pub use self_ref::SelfRef;
