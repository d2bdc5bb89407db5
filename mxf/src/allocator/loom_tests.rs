//! Loom models of the allocator: every interleaving of concurrent gets, chain puts, package puts
//! and trims keeps the books balanced and never hands out one event twice.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p mxf --release --lib -- loom`.

extern crate std;

use super::*;
use crate::abi::*;
use crate::interfaces::IPositionNotify_Impl;
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
    assert!(h.audit());
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

/// Counts the byte positions it is told (loom's atomics, so the model sees the accesses).
#[crate::com_object(IPositionNotify)]
struct Counter {
    seen: std::sync::Arc<crate::platform::atomic::AtomicU64>,
}
impl IPositionNotify_Impl for Counter {
    fn PositionNotify(&self, _byte_position: u64) {
        self.seen
            .fetch_add(1, crate::platform::atomic::Ordering::Relaxed);
    }
}

/// An allocator that notifies a [`Counter`], and the counter's total.
fn counted() -> (
    AllocatorHandle,
    std::sync::Arc<crate::platform::atomic::AtomicU64>,
) {
    use crate::com::IntoComObject;
    let seen = std::sync::Arc::new(crate::platform::atomic::AtomicU64::new(0));
    let n: IPositionNotify = Counter { seen: seen.clone() }.into_com().unwrap();
    let h = AllocatorHandle::new(AllocatorConfig::default(), Some(n)).unwrap();
    (h, seen)
}

/// `n` events chained in the order they were got, each with a byte position.
fn positioned_chain(h: &AllocatorHandle, n: usize) -> *mut DMUS_KERNEL_EVENT {
    let evs: std::vec::Vec<_> = (0..n).map(|_| get(h)).collect();
    for (i, &e) in evs.iter().enumerate() {
        // SAFETY: our events.
        unsafe {
            (*e).ullBytePosition = 1 + i as u64;
            if let Some(&next) = evs.get(i + 1) {
                (*e).pNextEvt = next;
            }
        }
    }
    evs[0]
}

#[test]
fn loom_positioned_chain_past_the_batch_against_get_and_trim() {
    // Under loom a put collects 2 positions per batch, so the last two events of this chain
    // travel through the returned list while the other thread gets, puts and trims.
    loom::model(|| {
        let (h, seen) = counted();
        let head = positioned_chain(&h, 4);
        let h2 = h.clone();
        let t = thread::spawn(move || {
            let e = get(&h2);
            put(&h2, e);
            h2.trim();
            get(&h2) as usize
        });
        put(&h, head);
        let got = t.join().unwrap();
        assert_eq!(seen.load(crate::platform::atomic::Ordering::Relaxed), 4);
        check(&h, &[got as *mut DMUS_KERNEL_EVENT]);
        put(&h, got as *mut DMUS_KERNEL_EVENT);
        // Every event is back, each exactly once.
        let all: std::vec::Vec<usize> = (0..EVENTS_PER_PAGE).map(|_| get(&h) as usize).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
    });
}

#[test]
fn loom_two_positioned_chains_past_the_batch_race() {
    // Both puts send their last event through the returned list at the same time.
    loom::model(|| {
        let (h, seen) = counted();
        let (x, y) = (
            positioned_chain(&h, 3) as usize,
            positioned_chain(&h, 3) as usize,
        );
        let h2 = h.clone();
        let t = thread::spawn(move || put(&h2, y as *mut DMUS_KERNEL_EVENT));
        put(&h, x as *mut DMUS_KERNEL_EVENT);
        t.join().unwrap();
        assert_eq!(seen.load(crate::platform::atomic::Ordering::Relaxed), 6);
        check(&h, &[]);
    });
}
