//! Stress: threads hammer one allocator through its vtable for at least two seconds with every
//! kind of call (single gets and puts, chains, packages, long events with buffers, bare
//! `GetBuffer`/`PutBuffer`, positioned chains longer than one notification batch, trims) and
//! the books balance at the end. Each thread stamps the events it holds with its own mark and
//! checks the mark before returning them, so an event handed to two holders at once is caught.

use core::ffi::c_void;
use core::ptr::null_mut;
use mxf::abi::{DMUS_KERNEL_EVENT, NTSTATUS, STATUS_SUCCESS, kBytePositionNone};
use mxf::allocator::{AllocatorConfig, AllocatorHandle, BUFFER_SIZE};
use mxf::com::{Interface, IntoComObject};
use mxf::interfaces::{IAllocatorMXF_Vtbl, IPositionNotify, IPositionNotify_Impl};
use mxf::prelude::com_object;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Ev = *mut DMUS_KERNEL_EVENT;

const DURATION: Duration = Duration::from_secs(2);
const THREADS: u64 = 4;

/// Counts the positions it is told (the render pin's role).
#[com_object(IPositionNotify)]
struct Count {
    seen: Arc<AtomicU64>,
}

impl IPositionNotify_Impl for Count {
    fn PositionNotify(&self, byte_position: u64) {
        assert!(byte_position != 0 && byte_position != kBytePositionNone);
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
}

/// The allocator as the port sees it: a `this` pointer and a vtable.
#[derive(Clone, Copy)]
struct Raw(*mut c_void);

// SAFETY: the allocator is Send + Sync; the raw pointer is one counted reference kept alive by
// the handle the test holds until every thread has joined.
unsafe impl Send for Raw {}

impl Raw {
    fn vt(self) -> &'static IAllocatorMXF_Vtbl {
        // SAFETY: a live IAllocatorMXF's first word is its vtable pointer; vtables are static.
        unsafe { &**self.0.cast::<*const IAllocatorMXF_Vtbl>() }
    }
    fn get(self) -> Ev {
        let mut e = null_mut();
        // SAFETY: slot 7 with a valid out-pointer.
        let s = unsafe { (self.vt().GetMessage)(self.0, &mut e) };
        assert_eq!(s, STATUS_SUCCESS);
        assert!(!e.is_null());
        e
    }
    fn put(self, e: Ev) -> NTSTATUS {
        // SAFETY: slot 4 with events of this allocator.
        unsafe { (self.vt().base__.PutMessage)(self.0, e) }
    }
    fn get_buffer(self) -> *mut u8 {
        let mut b = null_mut();
        // SAFETY: slot 9 with a valid out-pointer.
        let s = unsafe { (self.vt().GetBuffer)(self.0, &mut b) };
        assert_eq!(s, STATUS_SUCCESS);
        assert!(!b.is_null());
        b
    }
    fn put_buffer(self, b: *mut u8) -> NTSTATUS {
        // SAFETY: slot 10 with a buffer of this allocator.
        unsafe { (self.vt().PutBuffer)(self.0, b) }
    }
}

/// xorshift64*: a small deterministic generator per thread.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one thread did, for the final books.
#[derive(Default)]
struct Tally {
    gets: u64,
    positions: u64,
    buffers: u64,
    calls: u64,
}

/// An event this thread holds, with the mark it wrote.
struct Held {
    e: Ev,
    mark: u64,
    buffer: *mut u8,
    positioned: bool,
}

fn take(a: Raw, rng: &mut Rng, thread: u64, serial: &mut u64, tally: &mut Tally) -> Held {
    let e = a.get();
    tally.gets += 1;
    *serial += 1;
    let mark = (thread << 48) | *serial;
    // SAFETY: an event just handed to this thread.
    let ev = unsafe { &mut *e };
    assert_eq!(
        ev.cbStruct as usize,
        size_of::<DMUS_KERNEL_EVENT>(),
        "fresh event"
    );
    assert!(ev.pNextEvt.is_null(), "fresh event");
    ev.ullPresTime100ns = mark as i64;
    let mut buffer = null_mut();
    let mut positioned = false;
    match rng.below(8) {
        0 => {
            // A long event: the buffer goes back with it.
            buffer = a.get_buffer();
            tally.buffers += 1;
            // SAFETY: a buffer of BUFFER_SIZE bytes, ours until the event is returned.
            unsafe { buffer.write_bytes(thread as u8, BUFFER_SIZE) };
            ev.cbEvent = BUFFER_SIZE as u16;
            ev.uData.pbData = buffer;
        }
        1 | 2 => {
            ev.ullBytePosition = 1 + rng.below(1 << 40);
            tally.positions += 1;
            positioned = true;
        }
        _ => {
            ev.cbEvent = 3;
            // SAFETY: the union is plain bytes.
            unsafe { ev.uData.abData[0] = 0x90 };
        }
    }
    Held {
        e,
        mark,
        buffer,
        positioned,
    }
}

/// Checks that nobody else wrote this event while this thread held it.
fn check(h: &Held) {
    // SAFETY: an event this thread still holds.
    let ev = unsafe { &*h.e };
    assert_eq!(
        ev.ullPresTime100ns, h.mark as i64,
        "an event handed to two holders"
    );
    if !h.buffer.is_null() {
        // SAFETY: as above; the buffer belongs to the event.
        assert_eq!(unsafe { ev.uData.pbData }, h.buffer);
        let first = (h.mark >> 48) as u8;
        // SAFETY: the buffer is ours, BUFFER_SIZE bytes long.
        let bytes = unsafe { core::slice::from_raw_parts(h.buffer, BUFFER_SIZE) };
        assert!(
            bytes.iter().all(|&b| b == first),
            "a buffer handed to two holders"
        );
    }
}

fn link(held: &[Held]) -> Ev {
    for w in held.windows(2) {
        // SAFETY: events this thread holds.
        unsafe { (*w[0].e).pNextEvt = w[1].e };
    }
    held.first().map_or(null_mut(), |h| h.e)
}

fn hammer(a: Raw, handle: &AllocatorHandle, thread: u64, deadline: Instant) -> Tally {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (thread + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut tally = Tally::default();
    let mut serial = 0;
    // Events kept across rounds, so the number outstanding moves up and down.
    let mut kept: Vec<Held> = Vec::new();
    while Instant::now() < deadline {
        tally.calls += 1;
        match rng.below(10) {
            // One event, straight back.
            0 | 1 => {
                let h = take(a, &mut rng, thread, &mut serial, &mut tally);
                check(&h);
                assert_eq!(a.put(h.e), STATUS_SUCCESS);
            }
            // A chain of up to 40, returned whole.
            2 | 3 => {
                let n = 1 + rng.below(40);
                let held: Vec<Held> = (0..n)
                    .map(|_| take(a, &mut rng, thread, &mut serial, &mut tally))
                    .collect();
                held.iter().for_each(check);
                assert_eq!(a.put(link(&held)), STATUS_SUCCESS);
            }
            // A package inside a package, behind an event.
            4 => {
                let inner: Vec<Held> = (0..1 + rng.below(6))
                    .map(|_| take(a, &mut rng, thread, &mut serial, &mut tally))
                    .collect();
                let shell = take(a, &mut rng, thread, &mut serial, &mut tally);
                let outer = take(a, &mut rng, thread, &mut serial, &mut tally);
                let front = take(a, &mut rng, thread, &mut serial, &mut tally);
                inner.iter().for_each(check);
                [&shell, &outer, &front].into_iter().for_each(check);
                for (h, contents) in [(&shell, link(&inner)), (&outer, shell.e)] {
                    if !h.buffer.is_null() {
                        // The union will hold the contents: the buffer goes back by hand.
                        assert_eq!(a.put_buffer(h.buffer), STATUS_SUCCESS);
                    }
                    if h.positioned {
                        // A package shell has no byte position.
                        tally.positions -= 1;
                    }
                    // SAFETY: an event this thread holds; a package's cbEvent is 0 and ignored.
                    let ev = unsafe { &mut *h.e };
                    ev.cbEvent = 0;
                    ev.ullBytePosition = kBytePositionNone;
                    ev.set_package();
                    ev.uData.pPackageEvt = contents;
                }
                // SAFETY: an event this thread holds.
                unsafe { (*front.e).pNextEvt = outer.e };
                assert_eq!(a.put(front.e), STATUS_SUCCESS);
            }
            // A positioned chain longer than one notification batch.
            5 => {
                let held: Vec<Held> = (0..65 + rng.below(100))
                    .map(|_| {
                        let h = take(a, &mut rng, thread, &mut serial, &mut tally);
                        // SAFETY: an event this thread holds.
                        let ev = unsafe { &mut *h.e };
                        if ev.ullBytePosition == kBytePositionNone {
                            ev.ullBytePosition = 7;
                            tally.positions += 1;
                        }
                        h
                    })
                    .collect();
                held.iter().for_each(check);
                assert_eq!(a.put(link(&held)), STATUS_SUCCESS);
            }
            // Bare buffers.
            6 => {
                let b = a.get_buffer();
                tally.buffers += 1;
                // SAFETY: a fresh buffer of BUFFER_SIZE bytes.
                unsafe { b.write_bytes(0xEE, BUFFER_SIZE) };
                assert_eq!(a.put_buffer(b), STATUS_SUCCESS);
            }
            // Keep a few, or return the kept ones one by one.
            7 | 8 => {
                if kept.len() < 200 {
                    for _ in 0..1 + rng.below(8) {
                        kept.push(take(a, &mut rng, thread, &mut serial, &mut tally));
                    }
                } else {
                    for h in kept.drain(..) {
                        check(&h);
                        assert_eq!(a.put(h.e), STATUS_SUCCESS);
                    }
                }
            }
            // Maintenance, now and then.
            _ => {
                if rng.below(50) == 0 {
                    handle.trim();
                }
            }
        }
    }
    for h in kept.drain(..) {
        check(&h);
        assert_eq!(a.put(h.e), STATUS_SUCCESS);
    }
    tally
}

#[test]
fn threads_hammer_one_allocator_and_the_books_balance() {
    let seen = Arc::new(AtomicU64::new(0));
    let notify: IPositionNotify = Count { seen: seen.clone() }.into_com().unwrap();
    let handle = AllocatorHandle::new(AllocatorConfig::default(), Some(notify)).unwrap();
    let raw = Raw(handle.as_raw());
    let start = Instant::now();
    let deadline = start + DURATION;
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let h = &handle;
                s.spawn(move || hammer(raw, h, t, deadline))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(start.elapsed() >= DURATION);
    let stats = handle.stats();
    let total = |f: fn(&Tally) -> u64| tallies.iter().map(f).sum::<u64>();
    assert_eq!(stats.outstanding_events, 0);
    assert_eq!(stats.outstanding_buffers, 0);
    assert_eq!(
        stats.outstanding_events + stats.free_events,
        stats.total_events
    );
    assert_eq!(
        stats.outstanding_buffers + stats.free_buffers,
        stats.total_buffers
    );
    assert_eq!(stats.anomalies.misuse(), 0, "{:?}", stats.anomalies);
    assert!(handle.audit(), "the free lists disagree with the books");
    assert_eq!(stats.gets, total(|t| t.gets));
    assert_eq!(seen.load(Ordering::Relaxed), total(|t| t.positions));
    assert_eq!(stats.position_notifications, total(|t| t.positions));
    assert!(total(|t| t.calls) > 10_000, "the threads barely ran");
    assert!(total(|t| t.buffers) > 0);
}
