//! Fault injection for tests (feature `fault-injection`): make pool allocations of the current
//! thread fail on demand, and count the blocks the current thread has allocated but not freed.
//!
//! The plan is thread-local, so tests running in parallel do not disturb each other.
//!
//! ```
//! use mxf::platform::{fault, pool_alloc};
//! use mxf::abi::NonPagedPool;
//! use core::alloc::Layout;
//!
//! let _plan = fault::fail_nth(1); // the next allocation fails, later ones succeed
//! assert!(pool_alloc(NonPagedPool, 0, Layout::new::<u64>()).is_none());
//! ```

extern crate std;
use std::cell::Cell;

std::thread_local! {
    static SKIP: Cell<usize> = const { Cell::new(usize::MAX) };
    static FAILS: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// Restores "never fail" when dropped.
#[must_use = "the plan is cleared when this guard is dropped"]
pub struct FaultPlan(());

impl Drop for FaultPlan {
    fn drop(&mut self) {
        clear();
    }
}

/// The `n`th allocation from now (1-based) on this thread fails; the others succeed.
pub fn fail_nth(n: usize) -> FaultPlan {
    fail_range(n.saturating_sub(1), 1)
}

/// Every allocation on this thread after the next `successes` ones fails.
pub fn fail_after(successes: usize) -> FaultPlan {
    fail_range(successes, usize::MAX)
}

/// After `successes` allocations, the next `failures` allocations on this thread fail.
pub fn fail_range(successes: usize, failures: usize) -> FaultPlan {
    SKIP.with(|s| s.set(successes));
    FAILS.with(|f| f.set(failures));
    FaultPlan(())
}

/// Never fail again on this thread.
pub fn clear() {
    SKIP.with(|s| s.set(usize::MAX));
    FAILS.with(|f| f.set(0));
}

/// Blocks allocated minus blocks freed on this thread since it started.
pub fn live_blocks() -> isize {
    LIVE.with(Cell::get)
}

pub(super) fn should_fail() -> bool {
    let skip = SKIP.with(Cell::get);
    if skip == usize::MAX {
        return false;
    }
    if skip > 0 {
        SKIP.with(|s| s.set(skip.saturating_sub(1)));
        return false;
    }
    let fails = FAILS.with(Cell::get);
    if fails == 0 {
        return false;
    }
    FAILS.with(|f| f.set(fails.saturating_sub(1)));
    true
}

pub(super) fn record_alloc() {
    LIVE.with(|l| l.set(l.get().wrapping_add(1)));
}

pub(super) fn record_free() {
    LIVE.with(|l| l.set(l.get().wrapping_sub(1)));
}
