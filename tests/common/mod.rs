//! Shared by the COM integration tests: raw-vtable access, exactly what a C++ caller does with a
//! `PUNKNOWN` (read the vtable pointer, call the slot), which is `mxf::testing::raw`; the
//! distance between two chains; and a drop counter.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test crate uses a part of it"
)]

use core::ffi::c_void;
use core::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use mxf::testing::raw::{RawRef, add_ref as raw_add_ref, release as raw_release, sentinel};

/// One pointer slot of an object: the distance between two consecutive chains.
pub const SLOT: usize = size_of::<*const c_void>();

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
