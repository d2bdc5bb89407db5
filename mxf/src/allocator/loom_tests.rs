//! Loom models of the allocator: every interleaving of concurrent gets, chain puts, package puts
//! and trims keeps the books balanced and never hands out one event twice.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p mxf --release --lib -- loom`.

extern crate std;

use super::*;
use crate::abi::*;
use core::ptr::null_mut;
use loom::thread;

fn get(a: &IAllocatorMXF) -> *mut DMUS_KERNEL_EVENT {
    let mut e = null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { a.GetMessage(&mut e) }, STATUS_SUCCESS);
    e
}

fn put(a: &IAllocatorMXF, e: *mut DMUS_KERNEL_EVENT) {
    // SAFETY: events of this allocator.
    assert_eq!(unsafe { a.PutMessage(e) }, STATUS_SUCCESS);
}

fn check(h: &AllocatorHandle, held: &[*mut DMUS_KERNEL_EVENT]) {
    let s = h.stats();
    assert_eq!(s.outstanding_events as usize, held.len());
    assert_eq!(s.outstanding_events + s.free_events, s.total_events);
    assert_eq!(s.anomalies.misuse(), 0);
}

#[test]
fn loom_get_put_two_threads() {
    loom::model(|| {
        let h = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let a2: IAllocatorMXF = (*h).clone();
        let t = thread::spawn(move || {
            let e = get(&a2);
            put(&a2, e);
        });
        let e = get(&h);
        put(&h, e);
        t.join().unwrap();
        check(&h, &[]);
    });
}

#[test]
fn loom_chain_put_against_get() {
    loom::model(|| {
        let h = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let (x, y) = (get(&h), get(&h));
        // SAFETY: our events.
        unsafe { (*x).pNextEvt = y };
        let a2: IAllocatorMXF = (*h).clone();
        let xa = x as usize;
        let t = thread::spawn(move || {
            let e = get(&a2);
            assert_ne!(e as usize, xa, "an event still held by the other thread");
            e as usize
        });
        put(&h, x);
        let got = t.join().unwrap();
        let held = [got as *mut DMUS_KERNEL_EVENT];
        check(&h, &held);
    });
}

#[test]
fn loom_package_put_against_trim() {
    loom::model(|| {
        let h = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let (shell, c) = (get(&h), get(&h));
        // SAFETY: our events.
        unsafe {
            (*shell).set_package();
            (*shell).uData.pPackageEvt = c;
        }
        let h2 = h.clone();
        let t = thread::spawn(move || {
            h2.trim();
        });
        put(&h, shell);
        t.join().unwrap();
        check(&h, &[]);
        // Whatever the trim freed, the allocator still works.
        let e = get(&h);
        put(&h, e);
    });
}
