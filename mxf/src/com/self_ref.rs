//! [`SelfRef`]: an object's non-owning pointer to one of its own interfaces — what C++ code has
//! as `this`.

use super::{CloneInterface, Interface};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};

/// An object's non-owning pointer to one of its own interfaces.
///
/// The framework hands an object's methods `&self`, not the interface pointer they were called
/// through. An object that must give a counted pointer to itself away (to a timer, or to a
/// stream that keeps its miniport alive) stores its own interface pointer here once, right after
/// creation (the `unsafe` [`set`](Self::set) with `handle.interface()`), without a reference: a
/// reference would keep the object alive forever.
pub struct SelfRef<I: Interface> {
    raw: AtomicPtr<c_void>,
    _interface: PhantomData<fn() -> I>,
}

impl<I: Interface> Default for SelfRef<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: Interface> SelfRef<I> {
    /// Empty: [`get`](Self::get) returns `None` until [`set`](Self::set).
    pub const fn new() -> Self {
        Self {
            raw: AtomicPtr::new(core::ptr::null_mut()),
            _interface: PhantomData,
        }
    }

    /// Records `iface` (no AddRef).
    ///
    /// # Safety
    /// `iface` is an interface of the object that holds this `SelfRef`: [`get`](Self::get)
    /// relies on it to be alive whenever that object is (a pointer to another object, which may
    /// be gone by then, would be AddRef'd after it was freed).
    pub unsafe fn set(&self, iface: &I) {
        self.raw.store(iface.as_raw(), Ordering::Release);
    }

    /// A counted pointer to the object (AddRef), or `None` before [`set`](Self::set).
    ///
    /// # Safety
    /// The object is alive and not being destroyed: call this only from one of its methods
    /// while its caller holds a reference, never from its destructor (the reference count is
    /// already zero there; the AddRef would be refused as misuse and the pointer returned would
    /// dangle).
    pub unsafe fn get(&self) -> Option<I> {
        let p = self.raw.load(Ordering::Acquire);
        // SAFETY: `p` is NULL or an interface `I` of this object, which is alive (caller).
        let borrowed = unsafe { I::from_raw_borrowed(&p) };
        borrowed.map(CloneInterface::clone_interface)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::abi::{NTSTATUS, REFERENCE_TIME, STATUS_SUCCESS};
    use crate::com::ObjectHandle;
    use crate::interfaces::{IMasterClock, IMasterClock_Impl};

    #[crate::com_object(IMasterClock)]
    struct Clock {
        this: SelfRef<IMasterClock>,
    }
    impl IMasterClock_Impl for Clock {
        unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
            // A method hands out a counted pointer to its own object and drops it again.
            // SAFETY: called through a live interface, not from the destructor.
            let me = unsafe { self.this.get() };
            if !time.is_null() {
                // SAFETY: a non-NULL out-pointer from the caller.
                unsafe { time.write(i64::from(me.is_some())) };
            }
            STATUS_SUCCESS
        }
    }

    #[test]
    fn an_object_reaches_itself_with_a_counted_pointer() {
        let h = ObjectHandle::<Clock, IMasterClock>::create(Clock {
            this: SelfRef::new(),
        })
        .unwrap();
        let mut t = 0;
        // SAFETY: valid out-pointer; before `set` the object has no pointer to itself.
        unsafe { h.GetTime(&mut t) };
        assert_eq!(t, 0);
        // SAFETY: the handle's interface is the clock's own.
        unsafe { h.value().this.set(h.interface()) };
        // SAFETY: as above.
        unsafe { h.GetTime(&mut t) };
        assert_eq!(t, 1);
        // The counted pointer was released again: one AddRef/Release pair leaves the count at 1.
        // SAFETY: live interface.
        assert_eq!(unsafe { h.AddRef() }, 2);
        // SAFETY: balances the AddRef above.
        assert_eq!(unsafe { h.Release() }, 1);
    }
}
