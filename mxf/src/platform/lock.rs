//! `SpinLock<T>`: the framework's lock for state touched at DISPATCH_LEVEL.
//!
//! Host: the `spin` crate. Loom: `loom::sync::Mutex`, so models explore every interleaving.
//! Kernel (either kernel backend, `kernel` or `driver`): a `KSPIN_LOCK` acquired with
//! `KeAcquireSpinLockRaiseToDpc` (`KfAcquireSpinLock` on x86), so the holder runs at
//! DISPATCH_LEVEL and cannot be preempted by a DPC on its own CPU.
//!
//! Never hold a guard across a call that can block or re-enter the same lock.

#[cfg(not(any(loom, all(windows, any(feature = "kernel", feature = "driver")))))]
mod imp {
    /// A spin lock around `T`.
    pub struct SpinLock<T: ?Sized>(spin::Mutex<T>);
    /// Proof that the lock is held; releases it when dropped.
    pub type SpinLockGuard<'a, T> = spin::MutexGuard<'a, T>;

    impl<T> SpinLock<T> {
        /// A new, unlocked lock.
        pub const fn new(value: T) -> Self {
            Self(spin::Mutex::new(value))
        }
        /// Consumes the lock, returning the value.
        pub fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }
    impl<T: ?Sized> SpinLock<T> {
        /// Spins until the lock is free, then takes it.
        #[inline]
        pub fn lock(&self) -> SpinLockGuard<'_, T> {
            self.0.lock()
        }
        /// Takes the lock if it is free now (one compare-exchange); `None` if it is held. Fast
        /// paths use it so that waiting is left to their out-of-line slow path.
        #[inline(always)]
        pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
            self.0.try_lock()
        }
        /// The value, through exclusive access (no locking needed).
        pub fn get_mut(&mut self) -> &mut T {
            self.0.get_mut()
        }
    }
}

#[cfg(loom)]
mod imp {
    /// A spin lock around `T` (loom model).
    pub struct SpinLock<T>(loom::sync::Mutex<T>);
    /// Proof that the lock is held.
    pub type SpinLockGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> SpinLock<T> {
        /// A new, unlocked lock.
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        /// Consumes the lock, returning the value.
        pub fn into_inner(self) -> T {
            match self.0.into_inner() {
                Ok(v) => v,
                Err(p) => p.into_inner(),
            }
        }
        /// Takes the lock.
        pub fn lock(&self) -> SpinLockGuard<'_, T> {
            match self.0.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            }
        }
        /// Takes the lock if it is free now; `None` if it is held (or poisoned, which only a
        /// failing model causes).
        pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
            self.0.try_lock().ok()
        }
        /// The value, through exclusive access.
        pub fn get_mut(&mut self) -> &mut T {
            match self.0.get_mut() {
                Ok(v) => v,
                Err(p) => p.into_inner(),
            }
        }
    }
}

#[cfg(all(windows, any(feature = "kernel", feature = "driver"), not(loom)))]
mod imp {
    use super::super::backend;
    use core::cell::UnsafeCell;
    use core::ops::{Deref, DerefMut};

    /// A spin lock around `T`, raising IRQL to DISPATCH_LEVEL while held.
    pub struct SpinLock<T: ?Sized> {
        lock: UnsafeCell<backend::KSPIN_LOCK>,
        value: UnsafeCell<T>,
    }
    // SAFETY: access to `value` is serialised by the KSPIN_LOCK.
    unsafe impl<T: ?Sized + Send> Send for SpinLock<T> {}
    // SAFETY: as above; `&SpinLock` only hands out `&mut T` under the lock.
    unsafe impl<T: ?Sized + Send> Sync for SpinLock<T> {}

    /// Proof that the lock is held; releases it (restoring IRQL) when dropped.
    pub struct SpinLockGuard<'a, T: ?Sized> {
        owner: &'a SpinLock<T>,
        old_irql: backend::KIRQL,
    }

    impl<T> SpinLock<T> {
        /// A new, unlocked lock (`KeInitializeSpinLock` sets the word to zero).
        pub const fn new(value: T) -> Self {
            Self {
                lock: UnsafeCell::new(0),
                value: UnsafeCell::new(value),
            }
        }
        /// Consumes the lock, returning the value.
        pub fn into_inner(self) -> T {
            self.value.into_inner()
        }
    }
    impl<T: ?Sized> SpinLock<T> {
        /// Raises to DISPATCH_LEVEL and spins until the lock is free.
        #[inline]
        pub fn lock(&self) -> SpinLockGuard<'_, T> {
            // SAFETY: the KSPIN_LOCK lives as long as `self`; callers run at <= DISPATCH_LEVEL.
            let old_irql = unsafe { backend::acquire_spin_lock(self.lock.get()) };
            SpinLockGuard {
                owner: self,
                old_irql,
            }
        }
        /// Takes the lock, waiting if it is held: there is no way to try a `KSPIN_LOCK` and
        /// raise IRQL in one call, and the wait is what a caller's slow path would do anyway.
        /// Always `Some`.
        #[inline]
        pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
            Some(self.lock())
        }
        /// The value, through exclusive access.
        pub fn get_mut(&mut self) -> &mut T {
            self.value.get_mut()
        }
    }
    impl<T: ?Sized> Drop for SpinLockGuard<'_, T> {
        fn drop(&mut self) {
            // SAFETY: this guard acquired the lock at `old_irql`.
            unsafe { backend::release_spin_lock(self.owner.lock.get(), self.old_irql) }
        }
    }
    impl<T: ?Sized> Deref for SpinLockGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the lock is held for the guard's lifetime.
            unsafe { &*self.owner.value.get() }
        }
    }
    impl<T: ?Sized> DerefMut for SpinLockGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the lock is held and the guard is borrowed mutably.
            unsafe { &mut *self.owner.value.get() }
        }
    }
}

pub use imp::{SpinLock, SpinLockGuard};

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}
