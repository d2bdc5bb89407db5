//! [`ObjectHandle`]: an owned interface of an object this program created, with typed access to
//! the object's value: what a C++ driver has when it keeps the class pointer of its own object
//! beside the interface it hands out.

use super::Interface;
use super::object::{ComObject, ObjectImpl};
use crate::abi::{POOL_TYPE, Result, STATUS_INVALID_PARAMETER};
use crate::interfaces::IUnknown;
use core::fmt;
use core::marker::PhantomData;

/// An owned interface `I` of a `ComObject<T>`, with the object's value at hand.
/// Derefs to `I`; `Clone` adds a reference.
///
/// Invariant: `iface` is chain `chain` of a live `ComObject<T>` (handles are only made by
/// [`ObjectHandle::create_in`], or by [`ObjectHandle::from_interface`] under that promise).
pub struct ObjectHandle<T: ObjectImpl, I: Interface> {
    iface: I,
    chain: usize,
    _object: PhantomData<fn() -> T>,
}

impl<T: ObjectImpl, I: Interface> ObjectHandle<T, I> {
    /// Creates the object around `value` in `pool` under `tag`. `I` must be the interface of
    /// one of the object's chains or an ancestor of it (`STATUS_INVALID_PARAMETER` otherwise,
    /// nothing leaked); the handle holds the first such chain.
    pub fn create_in(value: T::Value, pool: POOL_TYPE, tag: u32) -> Result<Self> {
        let chain = T::chain_of(core::any::TypeId::of::<I>()).ok_or(STATUS_INVALID_PARAMETER)?;
        let identity: IUnknown = ComObject::<T>::create_value(value, pool, tag)?;
        // SAFETY: `identity` is chain 0 of the object just created (QueryInterface for IUnknown
        // answers chain 0 of an object that is not aggregated).
        let iface = unsafe { ComObject::<T>::sibling::<I>(identity.as_raw()) }
            .ok_or(STATUS_INVALID_PARAMETER)?;
        Ok(Self {
            iface,
            chain,
            _object: PhantomData,
        })
    }

    /// [`ObjectHandle::create_in`] in nonpaged pool under the object's tag.
    pub fn create(value: T::Value) -> Result<Self> {
        Self::create_in(value, crate::abi::NonPagedPool, T::POOL_TAG)
    }

    /// Wraps an interface of an object of type `T`.
    ///
    /// # Safety
    /// `iface` is an interface of a live `ComObject<T>`: its first chain whose interface is `I`
    /// or extends `I` (`ObjectImpl::chain_of`).
    pub unsafe fn from_interface(iface: I) -> Option<Self> {
        let chain = T::chain_of(core::any::TypeId::of::<I>())?;
        Some(Self {
            iface,
            chain,
            _object: PhantomData,
        })
    }

    /// The object's value.
    pub fn value(&self) -> &T::Value {
        // SAFETY: the invariant: `iface` is chain `chain` of a live `ComObject<T>`, kept alive by
        // the reference this handle holds.
        unsafe { ComObject::<T>::value_at(self.iface.as_raw(), self.chain) }
    }

    /// The COM interface.
    pub fn interface(&self) -> &I {
        &self.iface
    }

    /// The COM interface, giving up the handle.
    pub fn into_interface(self) -> I {
        self.iface
    }
}

impl<T: ObjectImpl, I: Interface> Clone for ObjectHandle<T, I> {
    fn clone(&self) -> Self {
        Self {
            iface: super::CloneInterface::clone_interface(&self.iface),
            chain: self.chain,
            _object: PhantomData,
        }
    }
}

impl<T: ObjectImpl, I: Interface> core::ops::Deref for ObjectHandle<T, I> {
    type Target = I;
    fn deref(&self) -> &I {
        &self.iface
    }
}

impl<T: ObjectImpl, I: Interface> fmt::Debug for ObjectHandle<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ObjectHandle<{}>({:p})",
            core::any::type_name::<T>(),
            self.iface.as_raw()
        )
    }
}
