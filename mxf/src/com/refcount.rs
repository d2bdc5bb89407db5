//! The reference count of kernel COM objects.
//!
//! Increment is `Relaxed` (a new reference can only be made from an existing one, which already
//! orders everything before it); decrement is `Release`, and the thread that brings the count to
//! zero issues an `Acquire` fence before destroying, so every use of the object by other threads
//! happens before its destruction (the `Arc` protocol).
//!
//! # Misuse: the cold path
//! A count that is already zero cannot be changed: `AddRef` on it would resurrect an object that
//! is being destroyed, `Release` on it would destroy it a second time. Both happen in practice
//! when an object's own teardown code releases a pointer to itself. Either call leaves the count
//! at zero, returns 0, adds one to [`anomalies`] and does nothing else; the object is destroyed
//! exactly once. A count at `u32::MAX` saturates (the object leaks instead of being freed early).
//! None of these paths panics.
//!
//! A `Release` through a pointer to an object that has already been freed cannot be detected by
//! anyone: the memory is gone. The counter only catches the cases where the memory still exists.
//!
//! Every object the macros make keeps one, driven by its `AddRef` and `Release`:
//!
//! ```
//! use mxf::com::refcount::{RefCount, Released, anomalies};
//!
//! let count = RefCount::new(1); // the creator's reference
//! assert_eq!(count.add_ref(), 2);
//! assert_eq!(count.release(), Released::Alive(1));
//! assert_eq!(count.release(), Released::Last); // the caller destroys the object now
//!
//! // A Release too many: nothing changes, the misuse is counted.
//! let before = anomalies();
//! assert_eq!(count.release(), Released::Misuse);
//! assert_eq!(count.add_ref(), 0); // no resurrection either
//! assert!(anomalies() >= before + 2);
//! ```

#[cfg(not(loom))]
use crate::platform::atomic::AtomicUsize;
use crate::platform::atomic::{AtomicU32, Ordering, fence};

#[cfg(not(loom))]
static ANOMALIES: AtomicUsize = AtomicUsize::new(0);

/// How many refcount misuses (AddRef or Release at zero, saturation) this process has seen.
#[cfg(not(loom))]
pub fn anomalies() -> usize {
    ANOMALIES.load(Ordering::Relaxed)
}

#[cold]
#[inline(never)]
fn misuse() {
    #[cfg(not(loom))]
    ANOMALIES.fetch_add(1, Ordering::Relaxed);
}

/// What a [`RefCount::release`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Released {
    /// References remain; the new count.
    Alive(u32),
    /// This call released the last reference: the caller must destroy the object now.
    Last,
    /// The count was already zero (misuse): nothing changed, the caller must do nothing.
    Misuse,
}

/// An atomic reference count with a non-panicking misuse path.
#[derive(Debug)]
pub struct RefCount(AtomicU32);

#[allow(clippy::new_without_default)]
impl RefCount {
    /// A count of `initial`.
    #[cfg(not(loom))]
    pub const fn new(initial: u32) -> Self {
        Self(AtomicU32::new(initial))
    }
    /// A count of `initial`.
    #[cfg(loom)]
    pub fn new(initial: u32) -> Self {
        Self(AtomicU32::new(initial))
    }

    /// Adds a reference; returns the new count (0 if the count was zero: misuse).
    #[inline]
    pub fn add_ref(&self) -> u32 {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur == 0 || cur == u32::MAX {
                misuse();
                return cur;
            }
            match self.0.compare_exchange_weak(
                cur,
                cur.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return cur.wrapping_add(1),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Drops a reference.
    #[inline]
    pub fn release(&self) -> Released {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                misuse();
                return Released::Misuse;
            }
            if cur == u32::MAX {
                // Saturated: the true count is unknown, so the object is never freed.
                return Released::Alive(cur);
            }
            match self.0.compare_exchange_weak(
                cur,
                cur.wrapping_sub(1),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) if cur == 1 => {
                    fence(Ordering::Acquire);
                    return Released::Last;
                }
                Ok(_) => return Released::Alive(cur.wrapping_sub(1)),
                Err(actual) => cur = actual,
            }
        }
    }

    /// The current count (a snapshot; only meaningful in tests and diagnostics).
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_up_and_down_to_last() {
        let rc = RefCount::new(1);
        assert_eq!(rc.add_ref(), 2);
        assert_eq!(rc.release(), Released::Alive(1));
        assert_eq!(rc.release(), Released::Last);
    }

    #[test]
    fn zero_is_sticky_and_counted() {
        let rc = RefCount::new(1);
        assert_eq!(rc.release(), Released::Last);
        let before = anomalies();
        assert_eq!(rc.release(), Released::Misuse);
        assert_eq!(rc.add_ref(), 0);
        assert_eq!(rc.get(), 0);
        assert!(anomalies() >= before + 2);
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        let rc = RefCount::new(u32::MAX - 1);
        assert_eq!(rc.add_ref(), u32::MAX);
        assert_eq!(rc.add_ref(), u32::MAX);
        assert_eq!(rc.release(), Released::Alive(u32::MAX));
        assert_eq!(rc.get(), u32::MAX);
    }
}
