//! Conformance (`domain.md` §6 items 1–26) and hardening tests, driven through the raw vtable
//! exactly as the port would call the allocator.

extern crate std;

use super::*;
use crate::abi::*;
use crate::com::{HasIid, Interface, IntoComObject};
use crate::interfaces::{IPositionNotify, IPositionNotify_Impl, IUnknown};
use crate::platform::fault;
use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::null_mut;
use std::boxed::Box;
use std::sync::{Arc, Mutex};
use std::vec;
use std::vec::Vec;

type Ev = *mut DMUS_KERNEL_EVENT;

/// The allocator as PortCls sees it: a `this` pointer and a vtable.
struct Raw {
    handle: AllocatorHandle,
}

impl Raw {
    fn new() -> Self {
        Self::with(AllocatorConfig::default(), None)
    }
    fn with(config: AllocatorConfig, notify: Option<IPositionNotify>) -> Self {
        Self {
            handle: AllocatorHandle::new(config, notify).expect("allocator"),
        }
    }
    fn this(&self) -> *mut c_void {
        self.handle.as_raw()
    }
    fn vt(&self) -> &crate::interfaces::IAllocatorMXF_Vtbl {
        // SAFETY: a live IAllocatorMXF's first word is its vtable pointer.
        unsafe {
            &**self
                .this()
                .cast::<*const crate::interfaces::IAllocatorMXF_Vtbl>()
        }
    }
    fn get(&self) -> (NTSTATUS, Ev) {
        let mut e: Ev = core::ptr::without_provenance_mut(1);
        // SAFETY: slot 7 with a valid out-pointer.
        let s = unsafe { (self.vt().GetMessage)(self.this(), &mut e) };
        (s, e)
    }
    fn get_ok(&self) -> Ev {
        let (s, e) = self.get();
        assert_eq!(s, STATUS_SUCCESS);
        assert!(!e.is_null());
        e
    }
    fn put(&self, e: Ev) -> NTSTATUS {
        // SAFETY: slot 4; the events are ours or deliberately bad (the allocator must cope).
        unsafe { (self.vt().base__.PutMessage)(self.this(), e) }
    }
    fn buffer_size(&self) -> u16 {
        // SAFETY: slot 8.
        unsafe { (self.vt().GetBufferSize)(self.this()) }
    }
    fn get_buffer(&self) -> (NTSTATUS, *mut u8) {
        let mut b: *mut u8 = core::ptr::without_provenance_mut(1);
        // SAFETY: slot 9 with a valid out-pointer.
        let s = unsafe { (self.vt().GetBuffer)(self.this(), &mut b) };
        (s, b)
    }
    fn put_buffer(&self, b: *mut u8) -> NTSTATUS {
        // SAFETY: slot 10.
        unsafe { (self.vt().PutBuffer)(self.this(), b) }
    }
    fn qi(&self, iid: &GUID) -> (NTSTATUS, *mut c_void) {
        let mut out: *mut c_void = core::ptr::without_provenance_mut(1);
        // SAFETY: slot 0 with valid pointers.
        let s = unsafe { (self.vt().base__.base__.QueryInterface)(self.this(), iid, &mut out) };
        (s, out)
    }
    fn stats(&self) -> AllocatorStats {
        self.handle.stats()
    }
    fn assert_balanced(&self) {
        let s = self.stats();
        assert_eq!(s.outstanding_events + s.free_events, s.total_events);
        assert_eq!(s.outstanding_buffers + s.free_buffers, s.total_buffers);
        assert!(
            self.handle.audit(),
            "the free lists disagree with the books"
        );
    }
}

fn ev<'a>(e: Ev) -> &'a mut DMUS_KERNEL_EVENT {
    // SAFETY: tests only call this on events currently handed out by an allocator.
    unsafe { &mut *e }
}

fn chain(events: &[Ev]) -> Ev {
    for w in events.windows(2) {
        ev(w[0]).pNextEvt = w[1];
    }
    events.first().copied().unwrap_or(null_mut())
}

/// `count` events of `a` with byte positions 1, 2, …, `count`, in that order.
fn positioned(a: &Raw, count: usize) -> Vec<Ev> {
    (1..=count as u64)
        .map(|pos| {
            let e = a.get_ok();
            ev(e).ullBytePosition = pos;
            e
        })
        .collect()
}

fn package(shell: Ev, contents: Ev) -> Ev {
    let s = ev(shell);
    s.set_package();
    s.uData.pPackageEvt = contents;
    shell
}

fn assert_fresh(e: Ev) {
    let e = ev(e);
    assert_eq!(e.bReserved, 0);
    assert_eq!(e.cbStruct as usize, size_of::<DMUS_KERNEL_EVENT>());
    assert_eq!(e.cbEvent, 0);
    assert_eq!(e.usChannelGroup, 0);
    assert_eq!(e.usFlags, 0);
    assert_eq!(e.ullPresTime100ns, 0);
    assert_eq!(e.ullBytePosition, kBytePositionNone);
    assert!(e.pNextEvt.is_null());
    // SAFETY: the union is plain bytes.
    assert_eq!(unsafe { e.uData.abData }, [0u8; INLINE_DATA_BYTES]);
}

/// A PositionNotify target that records what it is told.
#[crate::com_object(IPositionNotify)]
struct Recorder {
    seen: Arc<Mutex<Vec<u64>>>,
}
impl IPositionNotify_Impl for Recorder {
    fn PositionNotify(&self, byte_position: u64) {
        self.seen.lock().unwrap().push(byte_position);
    }
}
fn recorder() -> (IPositionNotify, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let n: IPositionNotify = Recorder { seen: seen.clone() }.into_com().unwrap();
    (n, seen)
}

#[test]
fn item_01_event_layout() {
    #[cfg(target_pointer_width = "64")]
    assert_eq!(size_of::<DMUS_KERNEL_EVENT>(), 40);
    #[cfg(target_pointer_width = "32")]
    assert_eq!(size_of::<DMUS_KERNEL_EVENT>(), 32);
    assert_eq!(ACTUAL_LAYOUT, EXPECTED_LAYOUT);
}

#[test]
fn item_02_starts_empty_then_one_page() {
    let a = Raw::new();
    assert_eq!(a.stats().total_events, 0);
    assert_eq!(a.stats().event_pages, 0);
    let _e = a.get_ok();
    let s = a.stats();
    assert_eq!(s.event_pages, 1);
    assert_eq!(s.total_events as usize, EVENTS_PER_PAGE);
    #[cfg(target_pointer_width = "64")]
    assert_eq!(EVENTS_PER_PAGE, 102);
    #[cfg(target_pointer_width = "32")]
    assert_eq!(EVENTS_PER_PAGE, 128);
    a.put(_e);
}

#[test]
fn items_03_04_fresh_event_state() {
    let a = Raw::new();
    let e = a.get_ok();
    assert_fresh(e);
    a.put(e);
}

#[test]
fn item_05_exhaustion_returns_null() {
    let a = Raw::new();
    let _plan = fault::fail_after(0);
    let (s, e) = a.get();
    assert_eq!(s, STATUS_INSUFFICIENT_RESOURCES);
    assert!(e.is_null());
    assert_eq!(a.stats().anomalies.allocation_failures, 1);
}

#[test]
fn item_06_lifo_reuse() {
    let a = Raw::new();
    let e = a.get_ok();
    assert_eq!(a.put(e), STATUS_SUCCESS);
    assert_eq!(a.get_ok(), e);
    a.put(e);
}

#[test]
fn item_07_chain_returns_in_reverse() {
    let a = Raw::new();
    let (x, y, z) = (a.get_ok(), a.get_ok(), a.get_ok());
    assert_eq!(a.put(chain(&[x, y, z])), STATUS_SUCCESS);
    assert_eq!([a.get_ok(), a.get_ok(), a.get_ok()], [z, y, x]);
    a.put(chain(&[x, y, z]));
    assert_eq!(a.stats().outstanding_events, 0);
}

#[test]
fn item_08_put_null_changes_nothing() {
    let a = Raw::new();
    let e = a.get_ok();
    let before = a.stats();
    assert_eq!(a.put(null_mut()), STATUS_SUCCESS);
    let after = a.stats();
    assert_eq!(before.free_events, after.free_events);
    assert_eq!(before.outstanding_events, after.outstanding_events);
    a.put(e);
}

#[test]
fn item_09_put_succeeds_for_valid_shapes() {
    let a = Raw::new();
    let (p, q, r, s) = (a.get_ok(), a.get_ok(), a.get_ok(), a.get_ok());
    let (t, u) = (a.get_ok(), a.get_ok());
    let inner = package(t, u);
    let outer = package(q, chain(&[r, inner]));
    assert_eq!(a.put(chain(&[p, outer, s])), STATUS_SUCCESS);
    assert_eq!(a.stats().outstanding_events, 0);
    assert_eq!(a.stats().anomalies.misuse(), 0);
}

#[test]
fn item_10_recycled_event_is_reset() {
    let a = Raw::new();
    let e = a.get_ok();
    {
        let r = ev(e);
        r.bReserved = 7;
        r.cbStruct = 3;
        r.cbEvent = 2;
        r.usChannelGroup = 9;
        r.usFlags = DMUS_KEF_EVENT_INCOMPLETE | 0xC000;
        r.ullPresTime100ns = -5;
        r.ullBytePosition = 0x1234;
        r.uData.abData = [0x90; INLINE_DATA_BYTES];
    }
    a.put(e);
    let e2 = a.get_ok();
    assert_eq!(e2, e);
    assert_fresh(e2);
    a.put(e2);
}

#[test]
fn item_11_buffer_freed_iff_long() {
    let a = Raw::new();
    // A short event whose inline bytes look like a pointer is never treated as a buffer.
    let e = a.get_ok();
    ev(e).cbEvent = INLINE_DATA_BYTES as u16;
    ev(e).uData.abData = [0xAB; INLINE_DATA_BYTES];
    assert_eq!(a.put(e), STATUS_SUCCESS);
    assert_eq!(a.stats().anomalies.foreign_buffers, 0);
    // A long event gives its buffer back.
    let (s, b) = a.get_buffer();
    assert_eq!(s, STATUS_SUCCESS);
    let e = a.get_ok();
    ev(e).cbEvent = (INLINE_DATA_BYTES + 1) as u16;
    ev(e).uData.pbData = b;
    assert_eq!(a.stats().outstanding_buffers, 1);
    assert_eq!(a.put(e), STATUS_SUCCESS);
    assert_eq!(a.stats().outstanding_buffers, 0);
    // The same buffer comes back first (pooled, LIFO).
    assert_eq!(a.get_buffer().1, b);
    a.put_buffer(b);
}

#[test]
fn item_12_package_returns_everything_reachable() {
    let a = Raw::new();
    let evs: Vec<Ev> = (0..6).map(|_| a.get_ok()).collect();
    let before_free = a.stats().free_events;
    // shell0{ e1 -> shell2{ e3 -> e4 } } -> e5
    let nested = package(evs[2], chain(&[evs[3], evs[4]]));
    let top = package(evs[0], chain(&[evs[1], nested]));
    let head = chain(&[top, evs[5]]);
    assert_eq!(a.put(head), STATUS_SUCCESS);
    assert_eq!(a.stats().free_events, before_free + 6);
    assert_eq!(a.stats().outstanding_events, 0);
    a.assert_balanced();
}

#[test]
fn item_13_package_order_is_contents_then_shell() {
    let a = Raw::new();
    let (shell, x, y) = (a.get_ok(), a.get_ok(), a.get_ok());
    a.put(package(shell, chain(&[x, y])));
    assert_eq!([a.get_ok(), a.get_ok(), a.get_ok()], [y, x, shell]);
    for e in [x, y, shell] {
        assert_fresh(e);
        a.put(e);
    }
}

#[test]
fn item_14_position_notify_once_each_in_order() {
    let (n, seen) = recorder();
    let a = Raw::with(AllocatorConfig::default(), Some(n));
    let evs: Vec<Ev> = (0..4).map(|_| a.get_ok()).collect();
    for (i, &e) in evs.iter().enumerate() {
        ev(e).ullBytePosition = 100 + i as u64 * 10;
    }
    assert_eq!(a.put(chain(&evs)), STATUS_SUCCESS);
    assert_eq!(*seen.lock().unwrap(), [100, 110, 120, 130]);
    assert_eq!(a.stats().position_notifications, 4);
}

#[test]
fn item_14_long_chains_keep_order_across_batches() {
    let (n, seen) = recorder();
    let a = Raw::with(AllocatorConfig::default(), Some(n));
    let count = 200;
    let evs = positioned(&a, count);
    assert_eq!(a.put(chain(&evs)), STATUS_SUCCESS);
    let expect: Vec<u64> = (1..=count as u64).collect();
    assert_eq!(*seen.lock().unwrap(), expect);
    assert_eq!(a.stats().outstanding_events, 0);
}

#[test]
fn long_positioned_chain_takes_one_lock_and_stays_lifo() {
    let (n, seen) = recorder();
    let a = Raw::with(AllocatorConfig::default(), Some(n));
    let count = 300;
    let evs = positioned(&a, count);
    // A package and a long event beyond the first batch, too.
    let (shell, inner) = (a.get_ok(), a.get_ok());
    ev(inner).ullBytePosition = 5000;
    let (_, b) = a.get_buffer();
    let long = a.get_ok();
    ev(long).cbEvent = 100;
    ev(long).uData.pbData = b;
    ev(long).ullBytePosition = 5001;
    let mut all = evs.clone();
    all.push(package(shell, inner));
    all.push(long);
    let before = a.stats();
    assert_eq!(a.put(chain(&all)), STATUS_SUCCESS);
    let after = a.stats();
    assert_eq!(after.lock_acquisitions, before.lock_acquisitions + 1);
    let mut expect: Vec<u64> = (1..=count as u64).collect();
    expect.extend([5000, 5001]);
    assert_eq!(*seen.lock().unwrap(), expect);
    assert_eq!(after.position_notifications, count as u64 + 2);
    assert_eq!(after.outstanding_events, 0);
    assert_eq!(after.outstanding_buffers, 0);
    a.assert_balanced();
    // Last in, first out over the whole put: long, inner, shell, then the chain backwards.
    let mut order = vec![long, inner, shell];
    order.extend(evs.iter().rev());
    for &want in &order {
        let got = a.get_ok();
        assert_eq!(got, want);
        assert_fresh(got);
    }
    assert_eq!(a.put(chain(&order)), STATUS_SUCCESS);
    a.assert_balanced();
}

#[test]
fn long_positioned_chain_refuses_misuse_past_the_first_batch() {
    let (n, seen) = recorder();
    let a = Raw::with(AllocatorConfig::default(), Some(n));
    let evs = positioned(&a, 150);
    let returned = a.get_ok();
    assert_eq!(a.put(returned), STATUS_SUCCESS);
    // evs[0..120], then an event already in the pool (its link is the pool's: not followed,
    // and not written here either, as a caller must not write an event it returned).
    let mut bad = evs[..120].to_vec();
    bad.push(returned);
    chain(&bad);
    assert_eq!(a.put(evs[0]), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().anomalies.double_puts, 1);
    let expect: Vec<u64> = (1..=120).collect();
    assert_eq!(*seen.lock().unwrap(), expect);
    assert_eq!(a.stats().outstanding_events, 30);
    // A chain that loops back past the first batch is a cycle, and terminates.
    let rest: Vec<Ev> = evs[120..].to_vec();
    let more: Vec<Ev> = (0..100).map(|_| a.get_ok()).collect();
    for &e in &more {
        ev(e).ullBytePosition = 7;
    }
    let mut looped = rest.clone();
    looped.extend(&more);
    chain(&looped);
    ev(*more.last().unwrap()).pNextEvt = more[80];
    assert_eq!(a.put(looped[0]), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().anomalies.cycles, 1);
    assert_eq!(a.stats().outstanding_events, 0);
    a.assert_balanced();
    // Nothing is handed out twice afterwards.
    let again: Vec<Ev> = (0..400).map(|_| a.get_ok()).collect();
    let mut sorted = again.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), again.len());
    assert_eq!(a.put(chain(&again)), STATUS_SUCCESS);
    assert_eq!(a.stats().outstanding_events, 0);
}

#[test]
fn chains_out_of_order_and_across_pages_are_walked_exactly() {
    // Strides change, links jump between pages and back: the walk follows the links
    // themselves, and leaves a page only through the general step (which finds the next one).
    let a = Raw::new();
    let n = EVENTS_PER_PAGE * 3 + 7;
    let evs: Vec<Ev> = (0..n).map(|_| a.get_ok()).collect();
    let mut order: Vec<Ev> = Vec::new();
    // Interleave the pages: first, last, second, second-to-last, ...
    let (mut lo, mut hi) = (0, n - 1);
    while lo <= hi {
        order.push(evs[lo]);
        if lo != hi {
            order.push(evs[hi]);
        }
        lo += 1;
        hi -= 1;
    }
    // Then runs of constant stride broken by one odd step.
    order[10..40].sort();
    order[50..90].sort_by(|x, y| y.cmp(x));
    assert_eq!(a.put(chain(&order)), STATUS_SUCCESS);
    let s = a.stats();
    assert_eq!(s.outstanding_events, 0);
    assert_eq!(s.anomalies.misuse(), 0);
    for &want in order.iter().rev() {
        assert_eq!(a.get_ok(), want);
    }
    assert_eq!(a.put(chain(&order)), STATUS_SUCCESS);
    a.assert_balanced();
}

#[test]
fn runs_of_constant_stride_that_leave_their_page_are_walked_exactly() {
    // The walk guesses each successor from the last stride: here every page's run, ascending
    // and descending by address, ends where the guess would leave the page (past its last slot
    // or before its first), and the chain goes on in the next page at the same stride or not.
    for notify in [false, true] {
        let (n, seen) = recorder();
        let a = Raw::with(AllocatorConfig::default(), notify.then_some(n));
        let mut evs: Vec<Ev> = (0..EVENTS_PER_PAGE * 3).map(|_| a.get_ok()).collect();
        for descending in [false, true] {
            evs.sort_by(|x, y| if descending { y.cmp(x) } else { x.cmp(y) });
            for (i, &e) in evs.iter().enumerate() {
                ev(e).ullBytePosition = 1 + i as u64;
            }
            assert_eq!(a.put(chain(&evs)), STATUS_SUCCESS);
            let s = a.stats();
            assert_eq!((s.outstanding_events, s.anomalies.misuse()), (0, 0));
            let want: Vec<u64> = if notify {
                (1..=evs.len() as u64).collect()
            } else {
                Vec::new()
            };
            assert_eq!(core::mem::take(&mut *seen.lock().unwrap()), want);
            for &want in evs.iter().rev() {
                assert_eq!(a.get_ok(), want);
            }
        }
        assert_eq!(a.put(chain(&evs)), STATUS_SUCCESS);
        a.assert_balanced();
    }
}

#[test]
fn a_link_back_into_the_walked_run_is_a_cycle() {
    // Without and with a notification target (the walk without and with positions).
    for notify in [false, true] {
        let (n, seen) = recorder();
        let a = Raw::with(AllocatorConfig::default(), notify.then_some(n));
        let evs: Vec<Ev> = (0..30).map(|_| a.get_ok()).collect();
        for (i, &e) in evs.iter().enumerate() {
            ev(e).ullBytePosition = 1 + i as u64;
        }
        chain(&evs);
        // The last event links back to one the walk recycled a moment before.
        ev(evs[29]).pNextEvt = evs[10];
        assert_eq!(a.put(evs[0]), STATUS_INVALID_PARAMETER);
        let s = a.stats();
        assert_eq!((s.anomalies.cycles, s.anomalies.double_puts), (1, 0));
        assert_eq!(s.outstanding_events, 0);
        let expect: Vec<u64> = if notify {
            (1..=30).collect()
        } else {
            Vec::new()
        };
        assert_eq!(*seen.lock().unwrap(), expect);
        a.assert_balanced();
        // Every event came back once, last first.
        for &want in evs.iter().rev() {
            assert_eq!(a.get_ok(), want);
        }
        assert_eq!(a.put(chain(&evs)), STATUS_SUCCESS);
        a.assert_balanced();
    }
}

#[test]
fn a_misaligned_link_in_the_middle_of_a_run_is_foreign() {
    let a = Raw::new();
    let evs: Vec<Ev> = (0..20).map(|_| a.get_ok()).collect();
    chain(&evs);
    // After a run of constant stride, a link into the middle of the next event.
    let inside = evs[11]
        .cast::<u8>()
        .wrapping_add(8)
        .cast::<DMUS_KERNEL_EVENT>();
    ev(evs[10]).pNextEvt = inside;
    assert_eq!(a.put(evs[0]), STATUS_INVALID_PARAMETER);
    let s = a.stats();
    assert_eq!(s.anomalies.foreign_events, 1);
    assert_eq!(
        s.outstanding_events, 9,
        "events 0..=10 came back, 11..20 did not"
    );
    // An event that links to itself is a cycle.
    let e = evs[11];
    ev(e).pNextEvt = e;
    assert_eq!(a.put(e), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().anomalies.cycles, 1);
    ev(evs[19]).pNextEvt = null_mut();
    assert_eq!(a.put(evs[12]), STATUS_SUCCESS);
    a.assert_balanced();
    assert_eq!(a.stats().outstanding_events, 0);
}

#[test]
fn item_15_no_notify_for_zero_or_none() {
    let (n, seen) = recorder();
    let a = Raw::with(AllocatorConfig::default(), Some(n));
    let (x, y) = (a.get_ok(), a.get_ok());
    ev(x).ullBytePosition = 0;
    ev(y).ullBytePosition = kBytePositionNone;
    a.put(chain(&[x, y]));
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn rollover_warnings_are_counted_where_positions_are_notified() {
    const NEAR_END: u64 = 0xFFFF_FFFF_FFFF_F000;
    let (n, seen) = recorder();
    let a = Raw::with(AllocatorConfig::default(), Some(n));
    // A single put, a chain (one below the threshold), and a package's contents.
    let x = a.get_ok();
    ev(x).ullBytePosition = NEAR_END;
    assert_eq!(a.put(x), STATUS_SUCCESS);
    let (y, z) = (a.get_ok(), a.get_ok());
    ev(y).ullBytePosition = NEAR_END - 1;
    ev(z).ullBytePosition = u64::MAX - 1;
    assert_eq!(a.put(chain(&[y, z])), STATUS_SUCCESS);
    let (shell, inner) = (a.get_ok(), a.get_ok());
    ev(inner).ullBytePosition = NEAR_END + 1;
    assert_eq!(a.put(package(shell, inner)), STATUS_SUCCESS);
    assert_eq!(
        *seen.lock().unwrap(),
        [NEAR_END, NEAR_END - 1, u64::MAX - 1, NEAR_END + 1]
    );
    let s = a.stats();
    assert_eq!(s.position_rollover_warnings, 3);
    assert_eq!(s.position_notifications, 4);
    assert_eq!(s.outstanding_events, 0);

    // Without a target positions are not read, so nothing is counted (documented).
    let quiet = Raw::new();
    let w = quiet.get_ok();
    ev(w).ullBytePosition = NEAR_END;
    assert_eq!(quiet.put(w), STATUS_SUCCESS);
    assert_eq!(quiet.stats().position_rollover_warnings, 0);
    assert_eq!(quiet.stats().outstanding_events, 0);
}

#[test]
fn item_16_shell_never_notifies_contents_do() {
    let (n, seen) = recorder();
    let a = Raw::with(AllocatorConfig::default(), Some(n));
    let (shell, x, y) = (a.get_ok(), a.get_ok(), a.get_ok());
    ev(shell).ullBytePosition = 999;
    ev(x).ullBytePosition = 5;
    ev(y).ullBytePosition = 6;
    a.put(package(shell, chain(&[x, y])));
    assert_eq!(*seen.lock().unwrap(), [5, 6]);
}

#[test]
fn items_17_18_imxf_methods_not_implemented() {
    let a = Raw::new();
    let vt = &a.vt().base__;
    // SAFETY: slots 3, 5, 6 with NULL / arbitrary arguments.
    unsafe {
        assert_eq!((vt.SetState)(a.this(), KSSTATE_RUN), STATUS_NOT_IMPLEMENTED);
        assert_eq!((vt.SetState)(a.this(), KSSTATE(77)), STATUS_NOT_IMPLEMENTED);
        assert_eq!((vt.ConnectOutput)(a.this(), None), STATUS_NOT_IMPLEMENTED);
        assert_eq!(
            (vt.DisconnectOutput)(a.this(), None),
            STATUS_NOT_IMPLEMENTED
        );
        let me: IMXF = a.handle.cast().unwrap();
        assert_eq!(
            (vt.ConnectOutput)(a.this(), Some(me.to_ref())),
            STATUS_NOT_IMPLEMENTED
        );
    }
}

#[test]
fn item_19_buffer_size_is_240_everywhere() {
    let a = Raw::new();
    let b = Raw::new();
    assert_eq!(a.buffer_size(), 240);
    assert_eq!(a.buffer_size(), a.buffer_size());
    assert_eq!(b.buffer_size(), 240);
}

#[test]
fn item_20_get_buffer_gives_240_usable_bytes() {
    let a = Raw::new();
    let (s, b) = a.get_buffer();
    assert_eq!(s, STATUS_SUCCESS);
    assert!(!b.is_null());
    // SAFETY: the buffer holds GetBufferSize bytes.
    unsafe { core::ptr::write_bytes(b, 0x5A, a.buffer_size() as usize) };
    // SAFETY: as above.
    assert_eq!(unsafe { *b.add(239) }, 0x5A);
    assert_eq!(a.put_buffer(b), STATUS_SUCCESS);
}

#[test]
fn item_21_get_buffer_failure_is_reported() {
    let a = Raw::new();
    {
        let _plan = fault::fail_after(0);
        let (s, b) = a.get_buffer();
        assert_eq!(s, STATUS_INSUFFICIENT_RESOURCES);
        assert!(b.is_null());
    }
    let compat = Raw::with(
        AllocatorConfig {
            get_buffer_failure: GetBufferFailure::BugCompatible,
            ..Default::default()
        },
        None,
    );
    let _plan = fault::fail_after(0);
    let (s, b) = compat.get_buffer();
    assert_eq!(
        s, STATUS_SUCCESS,
        "bug-compatible mode keeps Microsoft's status"
    );
    assert!(b.is_null());
}

#[test]
fn bug_compatible_get_buffer_keeps_success_at_the_bound_too() {
    for (mode, status) in [
        (GetBufferFailure::ReportError, STATUS_INSUFFICIENT_RESOURCES),
        (GetBufferFailure::BugCompatible, STATUS_SUCCESS),
    ] {
        let a = Raw::with(
            AllocatorConfig {
                max_buffers: Some(1),
                get_buffer_failure: mode,
                ..Default::default()
            },
            None,
        );
        let (s, held) = a.get_buffer();
        assert_eq!(s, STATUS_SUCCESS);
        assert!(!held.is_null());
        let (s, b) = a.get_buffer();
        assert_eq!((s, b), (status, null_mut()), "{mode:?} at the bound");
        assert_eq!(a.stats().anomalies.bound_refusals, 1);
        assert_eq!(a.stats().outstanding_buffers, 1);
        assert_eq!(a.put_buffer(held), STATUS_SUCCESS);
        let (s, b) = a.get_buffer();
        assert_eq!(
            s, STATUS_SUCCESS,
            "{mode:?} recovers once the buffer is back"
        );
        assert_eq!(b, held, "LIFO reuse");
        assert_eq!(a.put_buffer(b), STATUS_SUCCESS);
    }
}

#[test]
fn item_22_put_buffer_null_and_valid() {
    let a = Raw::new();
    assert_eq!(a.put_buffer(null_mut()), STATUS_UNSUCCESSFUL);
    let (_, b) = a.get_buffer();
    assert_eq!(a.put_buffer(b), STATUS_SUCCESS);
}

#[test]
fn item_23_query_interface() {
    let a = Raw::new();
    for iid in [IUnknown::IID, IMXF::IID, IAllocatorMXF::IID] {
        let (s, p) = a.qi(&iid);
        assert_eq!(s, STATUS_SUCCESS);
        assert_eq!(p, a.this());
        // SAFETY: QI added a reference; give it back.
        drop(unsafe { IUnknown::from_raw(p) });
    }
    for iid in [
        crate::interfaces::ISynthSinkDMus::IID,
        crate::interfaces::IPortDMus::IID,
        GUID::NULL,
    ] {
        let (s, p) = a.qi(&iid);
        assert_eq!(s, STATUS_INVALID_PARAMETER_1);
        assert!(p.is_null());
    }
}

#[test]
fn item_24_pool_never_shrinks_by_itself() {
    let a = Raw::new();
    let n = EVENTS_PER_PAGE * 3;
    let evs: Vec<Ev> = (0..n).map(|_| a.get_ok()).collect();
    let pages = a.stats().event_pages;
    assert_eq!(pages, 3);
    for e in evs {
        a.put(e);
    }
    assert_eq!(a.stats().event_pages, pages);
    assert_eq!(a.stats().free_events as usize, n);
}

#[test]
fn item_25_double_put_is_detected_and_harmless() {
    let a = Raw::new();
    let (x, y) = (a.get_ok(), a.get_ok());
    assert_eq!(a.put(x), STATUS_SUCCESS);
    assert_eq!(a.put(x), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().anomalies.double_puts, 1);
    // The free list is intact: distinct events, no cycle.
    let (p, q) = (a.get_ok(), a.get_ok());
    assert_ne!(p, q);
    assert_eq!(p, x);
    a.put(chain(&[p, q, y]));
    a.assert_balanced();
    assert_eq!(a.stats().outstanding_events, 0);
}

#[test]
fn item_26_steady_state_does_not_allocate() {
    let a = Raw::new();
    let e = a.get_ok();
    let (_, b) = a.get_buffer();
    a.put(e);
    a.put_buffer(b);
    let _plan = fault::fail_after(0);
    for _ in 0..10 {
        let e = a.get_ok();
        let (s, b) = a.get_buffer();
        assert_eq!(s, STATUS_SUCCESS);
        ev(e).cbEvent = 100;
        ev(e).uData.pbData = b;
        assert_eq!(a.put(e), STATUS_SUCCESS);
    }
}

#[test]
fn foreign_event_is_refused_unread() {
    let a = Raw::new();
    let _warm = a.get_ok();
    let mut foreign = Box::new(DMUS_KERNEL_EVENT::FRESH);
    foreign.usFlags = 0x1234;
    assert_eq!(a.put(&mut *foreign), STATUS_INVALID_PARAMETER);
    assert_eq!(foreign.usFlags, 0x1234, "a foreign event is not written");
    assert_eq!(a.stats().anomalies.foreign_events, 1);
    // A misaligned pointer inside our own page is foreign too.
    let inside = _warm
        .cast::<u8>()
        .wrapping_add(4)
        .cast::<DMUS_KERNEL_EVENT>();
    assert_eq!(a.put(inside), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().anomalies.foreign_events, 2);
    a.put(_warm);
    a.assert_balanced();
}

#[test]
fn foreign_event_inside_a_package_is_cut_off() {
    let a = Raw::new();
    let (shell, x, y) = (a.get_ok(), a.get_ok(), a.get_ok());
    let mut foreign = Box::new(DMUS_KERNEL_EVENT::FRESH);
    ev(x).pNextEvt = &mut *foreign;
    let head = chain(&[package(shell, x), y]);
    assert_eq!(a.put(head), STATUS_INVALID_PARAMETER);
    assert_eq!(
        a.stats().outstanding_events,
        0,
        "valid events around the foreign one are recycled"
    );
    assert_eq!(a.stats().anomalies.foreign_events, 1);
}

#[test]
fn cyclic_chain_terminates() {
    let a = Raw::new();
    let (x, y) = (a.get_ok(), a.get_ok());
    ev(x).pNextEvt = y;
    ev(y).pNextEvt = x;
    assert_eq!(a.put(x), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().anomalies.cycles, 1);
    assert_eq!(a.stats().outstanding_events, 0);
    let (p, q) = (a.get_ok(), a.get_ok());
    assert_ne!(p, q);
    a.put(chain(&[p, q]));
    a.assert_balanced();
}

#[test]
fn cyclic_package_contents_terminate() {
    let a = Raw::new();
    let (shell, x, y, z) = (a.get_ok(), a.get_ok(), a.get_ok(), a.get_ok());
    ev(x).pNextEvt = y;
    ev(y).pNextEvt = x;
    // A package that contains itself, too.
    let head = chain(&[package(shell, x), z]);
    assert_eq!(a.put(head), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().outstanding_events, 0);
    let s2 = a.get_ok();
    package(s2, s2);
    assert_eq!(a.put(s2), STATUS_INVALID_PARAMETER);
    assert_eq!(a.stats().outstanding_events, 0);
    a.assert_balanced();
}

#[test]
fn foreign_and_double_buffers_are_refused() {
    let a = Raw::new();
    let mut not_ours = [0u8; 240];
    assert_eq!(
        a.put_buffer(not_ours.as_mut_ptr()),
        STATUS_INVALID_PARAMETER
    );
    let (_, b) = a.get_buffer();
    assert_eq!(a.put_buffer(b), STATUS_SUCCESS);
    assert_eq!(a.put_buffer(b), STATUS_INVALID_PARAMETER);
    // An event that claims a foreign buffer is recycled, the buffer left alone.
    let e = a.get_ok();
    ev(e).cbEvent = 64;
    ev(e).uData.pbData = not_ours.as_mut_ptr();
    assert_eq!(a.put(e), STATUS_INVALID_PARAMETER);
    let st = a.stats();
    assert_eq!(st.anomalies.foreign_buffers, 2);
    assert_eq!(st.anomalies.double_buffer_puts, 1);
    assert_eq!(st.outstanding_events, 0);
    assert_eq!(st.outstanding_buffers, 0);
}

#[test]
fn bound_refuses_then_recovers() {
    let a = Raw::with(
        AllocatorConfig {
            max_events: Some(3),
            ..Default::default()
        },
        None,
    );
    let evs: Vec<Ev> = (0..3).map(|_| a.get_ok()).collect();
    let (s, e) = a.get();
    assert_eq!(s, STATUS_INSUFFICIENT_RESOURCES);
    assert!(e.is_null());
    a.put(evs[0]);
    let again = a.get_ok();
    a.put(chain(&[again, evs[1], evs[2]]));
    assert_eq!(a.stats().anomalies.bound_refusals, 1);
}

#[test]
fn prefill_and_trim() {
    let a = Raw::with(
        AllocatorConfig {
            prefill_events: EVENTS_PER_PAGE as u32 + 1,
            ..Default::default()
        },
        None,
    );
    assert_eq!(a.stats().event_pages, 2);
    let evs: Vec<Ev> = (0..EVENTS_PER_PAGE * 2 + 1).map(|_| a.get_ok()).collect();
    let (_, b) = a.get_buffer();
    assert_eq!(a.stats().event_pages, 3);
    // Return all but one event: only the page holding it survives a trim.
    let keep = evs[EVENTS_PER_PAGE + 5];
    for &e in &evs {
        if e != keep {
            a.put(e);
        }
    }
    a.put_buffer(b);
    let freed = a.handle.trim();
    assert_eq!(freed, 3, "two event pages and one buffer page");
    let s = a.stats();
    assert_eq!(s.event_pages, 1);
    assert_eq!(s.buffer_pages, 0);
    assert_eq!(s.total_events as usize, EVENTS_PER_PAGE);
    a.assert_balanced();
    // The remaining free list only holds events of the surviving page.
    let again: Vec<Ev> = (0..EVENTS_PER_PAGE - 1).map(|_| a.get_ok()).collect();
    assert_eq!(a.stats().event_pages, 1);
    for e in again {
        a.put(e);
    }
    a.put(keep);
    assert_eq!(a.handle.trim(), 1);
    assert_eq!(a.stats().total_events, 0);
    let e = a.get_ok();
    assert_fresh(e);
    a.put(e);
}

#[test]
fn prefill_failure_fails_creation_without_leak() {
    let live = fault::live_blocks();
    {
        let _plan = fault::fail_nth(2);
        let r = AllocatorHandle::new(
            AllocatorConfig {
                prefill_events: 500,
                ..Default::default()
            },
            None,
        );
        assert_eq!(r.err(), Some(STATUS_INSUFFICIENT_RESOURCES));
    }
    assert_eq!(fault::live_blocks(), live);
}

#[test]
fn one_lock_per_put_whatever_the_length() {
    let a = Raw::new();
    let evs: Vec<Ev> = (0..500).map(|_| a.get_ok()).collect();
    let (shell, inner) = (a.get_ok(), a.get_ok());
    let before = a.stats().lock_acquisitions;
    a.put(chain(&[package(shell, inner), chain(&evs)]));
    assert_eq!(a.stats().lock_acquisitions, before + 1);
}

#[test]
fn nothing_leaks_at_destruction() {
    let live = fault::live_blocks();
    {
        let a = Raw::new();
        let evs: Vec<Ev> = (0..300).map(|_| a.get_ok()).collect();
        let (_, b) = a.get_buffer();
        a.put(chain(&evs));
        a.put_buffer(b);
    }
    assert_eq!(fault::live_blocks(), live);
    // Destroyed right after a put that left events in the returned list.
    {
        let (n, seen) = recorder();
        let a = Raw::with(AllocatorConfig::default(), Some(n));
        let evs: Vec<Ev> = (0..300).map(|_| a.get_ok()).collect();
        for &e in &evs {
            ev(e).ullBytePosition = 9;
        }
        assert_eq!(a.put(chain(&evs)), STATUS_SUCCESS);
        assert_eq!(seen.lock().unwrap().len(), 300);
    }
    assert_eq!(fault::live_blocks(), live);
}

// Only the sizes depend on Miri (a million events take hours there); the code under test is
// the same.
const HUGE_CHAIN: usize = if cfg!(miri) { 2_000 } else { 1_000_000 };
const DEEP_PACKAGES: usize = if cfg!(miri) { 300 } else { 10_000 };

#[test]
fn constant_stack_for_huge_chains_and_deep_packages() {
    let a = Raw::new();
    let alloc: IAllocatorMXF = (*a.handle).clone();
    let (chain_len, depth) = (HUGE_CHAIN, DEEP_PACKAGES);
    let worker = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let get = |alloc: &IAllocatorMXF| {
                let mut e = null_mut();
                // SAFETY: valid out-pointer.
                assert_eq!(unsafe { alloc.GetMessage(&mut e) }, STATUS_SUCCESS);
                e
            };
            // A long chain.
            let head = get(&alloc);
            let mut tail = head;
            for _ in 1..chain_len {
                let e = get(&alloc);
                ev(tail).pNextEvt = e;
                tail = e;
            }
            // SAFETY: a chain of our events.
            assert_eq!(unsafe { alloc.PutMessage(head) }, STATUS_SUCCESS);
            // Deeply nested packages: shell_0{ shell_1{ ... shell_n{ leaf } } }.
            let leaf = get(&alloc);
            let mut inner = leaf;
            for _ in 0..depth {
                let shell = get(&alloc);
                package(shell, inner);
                inner = shell;
            }
            // SAFETY: a package tree of our events.
            assert_eq!(unsafe { alloc.PutMessage(inner) }, STATUS_SUCCESS);
        });
    worker.unwrap().join().unwrap();
    let s = a.stats();
    assert_eq!(s.outstanding_events, 0);
    assert_eq!(s.high_water_events as usize, chain_len.max(depth + 1));
}

#[test]
fn concurrent_gets_and_puts_balance() {
    let a = Raw::new();
    // Smaller under Miri for its speed only.
    let threads = if cfg!(miri) { 2 } else { 4 };
    let rounds = if cfg!(miri) { 20 } else { 5_000 };
    std::thread::scope(|s| {
        for t in 0..threads {
            let alloc: IAllocatorMXF = (*a.handle).clone();
            s.spawn(move || {
                for i in 0..rounds {
                    let mut evs = [null_mut(); 4];
                    for e in &mut evs {
                        // SAFETY: valid out-pointer.
                        assert_eq!(unsafe { alloc.GetMessage(e) }, STATUS_SUCCESS);
                    }
                    if (i + t) % 3 == 0 {
                        package(evs[0], chain(&evs[1..]));
                        // SAFETY: our events.
                        assert_eq!(unsafe { alloc.PutMessage(evs[0]) }, STATUS_SUCCESS);
                    } else {
                        // SAFETY: our events.
                        assert_eq!(unsafe { alloc.PutMessage(chain(&evs)) }, STATUS_SUCCESS);
                    }
                }
            });
        }
    });
    let st = a.stats();
    assert_eq!(st.outstanding_events, 0);
    assert_eq!(st.anomalies.misuse(), 0);
    a.assert_balanced();
}

#[test]
fn stats_track_high_water_and_buffers() {
    let a = Raw::new();
    let evs: Vec<Ev> = (0..10).map(|_| a.get_ok()).collect();
    let (_, b1) = a.get_buffer();
    let (_, b2) = a.get_buffer();
    let s = a.stats();
    assert_eq!(s.outstanding_events, 10);
    assert_eq!(s.high_water_events, 10);
    assert_eq!(s.outstanding_buffers, 2);
    assert_eq!(s.buffer_pages, 1);
    a.put(chain(&evs));
    a.put_buffer(b1);
    a.put_buffer(b2);
    let s = a.stats();
    assert_eq!(
        (
            s.outstanding_events,
            s.high_water_events,
            s.high_water_buffers
        ),
        (0, 10, 2)
    );
    assert_eq!(s.gets, 10);
}

/// The high-water marks follow every new height, and only new heights, also at a bound (the
/// fast paths leave both to the slow path: `state` A4).
#[test]
fn high_water_rises_only_at_new_heights_and_stops_at_the_bound() {
    let a = Raw::with(
        AllocatorConfig {
            max_events: Some(6),
            max_buffers: Some(3),
            ..Default::default()
        },
        None,
    );
    let mut held: Vec<Ev> = Vec::new();
    let mut bufs: Vec<*mut u8> = Vec::new();
    // (events to hold, buffers to hold, expected marks) after each step.
    for (n, m, hw) in [
        (4, 2, (4, 2)),
        (1, 0, (4, 2)),
        (3, 1, (4, 2)),
        (5, 3, (5, 3)),
        (0, 0, (5, 3)),
        (6, 3, (6, 3)),
    ] {
        while held.len() > n {
            a.put(held.pop().unwrap());
        }
        while held.len() < n {
            held.push(a.get_ok());
        }
        while bufs.len() > m {
            assert_eq!(a.put_buffer(bufs.pop().unwrap()), STATUS_SUCCESS);
        }
        while bufs.len() < m {
            let (s, b) = a.get_buffer();
            assert_eq!(s, STATUS_SUCCESS);
            bufs.push(b);
        }
        let s = a.stats();
        assert_eq!((s.high_water_events, s.high_water_buffers), hw);
    }
    // At the bounds: refused, marks unchanged, and a get works again after a put.
    assert_eq!(a.get(), (STATUS_INSUFFICIENT_RESOURCES, null_mut()));
    assert_eq!(a.get_buffer(), (STATUS_INSUFFICIENT_RESOURCES, null_mut()));
    let s = a.stats();
    assert_eq!((s.high_water_events, s.high_water_buffers), (6, 3));
    assert_eq!(s.anomalies.bound_refusals, 2);
    a.put(held.pop().unwrap());
    held.push(a.get_ok());
    a.put(chain(&held));
    for b in bufs {
        a.put_buffer(b);
    }
    a.assert_balanced();
}

/// Calls made while another thread holds the lock wait for it (their out-of-line path) and
/// then do what the fast path would have done.
#[test]
fn calls_wait_while_the_lock_is_held() {
    let a = Raw::with(
        AllocatorConfig {
            prefill_events: 1,
            ..Default::default()
        },
        None,
    );
    /// An event and a buffer handed between threads.
    struct Pair(Ev, *mut u8);
    // SAFETY: the pointers are only used through the allocator, which is thread-safe.
    unsafe impl Send for Pair {}
    let held = Pair(a.get_ok(), a.get_buffer().1);
    let (held_event, held_buffer) = (held.0, held.1);
    let guard = a.handle.value().state.lock();
    let got = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let held = held;
            assert_eq!(a.put(held.0), STATUS_SUCCESS);
            assert_eq!(a.put_buffer(held.1), STATUS_SUCCESS);
            let e = a.get_ok();
            let (s, buf) = a.get_buffer();
            assert_eq!(s, STATUS_SUCCESS);
            Pair(e, buf)
        });
        // Let the worker reach the held lock before releasing it.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let s = guard.snapshot();
        assert_eq!((s.outstanding_events, s.outstanding_buffers), (1, 1));
        drop(guard);
        worker.join().unwrap()
    });
    assert_eq!(
        got.0, held_event,
        "LIFO: the event put while waiting comes back"
    );
    assert_eq!(got.1, held_buffer);
    assert_fresh(got.0);
    a.put(got.0);
    a.put_buffer(got.1);
    a.assert_balanced();
}

/// Buffers returned in an order that changes page at every call (the hinted page misses each
/// time) all come back, and a second return of any of them is refused.
#[test]
fn buffers_returned_across_pages_in_any_order() {
    let a = Raw::new();
    let n = 3 * BUFFERS_PER_PAGE;
    let bufs: Vec<*mut u8> = (0..n).map(|_| a.get_buffer().1).collect();
    assert_eq!(a.stats().buffer_pages, 3);
    // Page-interleaved: 0, 16, 32, 1, 17, 33, ...
    let order: Vec<usize> = (0..BUFFERS_PER_PAGE)
        .flat_map(|i| (0..3).map(move |p| p * BUFFERS_PER_PAGE + i))
        .collect();
    for &i in &order {
        assert_eq!(a.put_buffer(bufs[i]), STATUS_SUCCESS);
    }
    for &i in order.iter().rev().step_by(7) {
        assert_eq!(a.put_buffer(bufs[i]), STATUS_INVALID_PARAMETER);
    }
    let s = a.stats();
    assert_eq!(s.outstanding_buffers, 0);
    assert_eq!(
        s.anomalies.double_buffer_puts,
        order.iter().step_by(7).count() as u64
    );
    a.assert_balanced();
}

/// The one-comparison out-pointer check is exactly "not NULL and aligned".
#[test]
fn usable_out_is_non_null_and_aligned() {
    let check = |addr: usize| {
        let p: *mut Ev = core::ptr::without_provenance_mut(addr);
        assert_eq!(
            is_usable_out(p),
            !p.is_null() && p.is_aligned(),
            "address {addr:#x}"
        );
    };
    // Fewer addresses under Miri, for its speed only.
    let n = if cfg!(miri) { 64 } else { 1 << 16 };
    (0..n).for_each(check);
    (0..n).for_each(|i| check(usize::MAX - i));
    (0..usize::BITS).for_each(|b| (0..8).for_each(|low| check((1 << b) | low)));
}

#[test]
fn null_out_pointers_are_rejected() {
    let a = Raw::new();
    // SAFETY: NULL out-pointers must be refused without a write.
    unsafe {
        assert_eq!(
            (a.vt().GetMessage)(a.this(), null_mut()),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (a.vt().GetBuffer)(a.this(), null_mut()),
            STATUS_INVALID_PARAMETER
        );
    }
    // Misaligned out-pointers too: refused before anything is written through them.
    let mut words = [0usize; 2];
    let odd = words.as_mut_ptr().cast::<u8>().wrapping_add(1);
    // SAFETY: the out-pointers are misaligned and must be refused without a write.
    unsafe {
        assert_eq!(
            (a.vt().GetMessage)(a.this(), odd.cast()),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            (a.vt().GetBuffer)(a.this(), odd.cast()),
            STATUS_INVALID_PARAMETER
        );
    }
    assert_eq!(words, [0, 0]);
    assert_eq!(a.stats().gets, 0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[derive(Clone, Debug)]
    enum Op {
        Get,
        GetBuffer,
        /// Put `n` held events (from the front) as one chain.
        PutChain(usize),
        /// Put `n` held events as a package: the first is the shell.
        PutPackage(usize),
        /// Attach a held buffer to a held event, making it a long event.
        Attach,
        PutBuffer,
        Trim,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Get),
            2 => Just(Op::GetBuffer),
            2 => (1usize..6).prop_map(Op::PutChain),
            1 => (2usize..6).prop_map(Op::PutPackage),
            1 => Just(Op::Attach),
            1 => Just(Op::PutBuffer),
            1 => Just(Op::Trim),
        ]
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            // Fewer cases under Miri, for its speed only.
            cases: if cfg!(miri) { 3 } else { 128 },
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// Outstanding counts always equal what the test holds, and nothing held is handed out
        /// again.
        #[test]
        fn books_match_what_is_held(ops in proptest::collection::vec(op(), 1..120)) {
            let a = Raw::new();
            let mut events: Vec<Ev> = Vec::new();
            let mut long: HashSet<usize> = HashSet::new();
            let mut buffers: Vec<*mut u8> = Vec::new();
            // The most events / buffers the test has held at once.
            let (mut most_events, mut most_buffers) = (0usize, 0usize);
            for op in ops {
                match op {
                    Op::Get => {
                        let e = a.get_ok();
                        prop_assert!(!events.contains(&e), "a held event was handed out again");
                        assert_fresh(e);
                        events.push(e);
                    }
                    Op::GetBuffer => {
                        let (s, b) = a.get_buffer();
                        prop_assert_eq!(s, STATUS_SUCCESS);
                        prop_assert!(!buffers.contains(&b), "a held buffer was handed out again");
                        buffers.push(b);
                    }
                    Op::PutChain(n) | Op::PutPackage(n) => {
                        let n = n.min(events.len());
                        if n == 0 { continue; }
                        let taken: Vec<Ev> = events.drain(..n).collect();
                        // A long event cannot be a package shell (a shell's union is its contents).
                        let shell_ok = !long.contains(&(taken[0] as usize));
                        for e in &taken { long.remove(&(*e as usize)); }
                        let head = if matches!(op, Op::PutPackage(_)) && n >= 2 && shell_ok {
                            package(taken[0], chain(&taken[1..]))
                        } else {
                            chain(&taken)
                        };
                        prop_assert_eq!(a.put(head), STATUS_SUCCESS);
                    }
                    Op::Attach => {
                        let target = events.iter().copied().find(|e| !long.contains(&(*e as usize)));
                        if let (Some(e), false) = (target, buffers.is_empty()) {
                            let b = buffers.pop().unwrap();
                            ev(e).cbEvent = 200;
                            ev(e).uData.pbData = b;
                            long.insert(e as usize);
                        }
                    }
                    Op::PutBuffer => {
                        if let Some(b) = buffers.pop() {
                            prop_assert_eq!(a.put_buffer(b), STATUS_SUCCESS);
                        }
                    }
                    Op::Trim => {
                        a.handle.trim();
                    }
                }
                let s = a.stats();
                prop_assert_eq!(s.outstanding_events as usize, events.len());
                prop_assert_eq!(s.outstanding_buffers as usize, buffers.len() + long.len());
                most_events = most_events.max(events.len());
                most_buffers = most_buffers.max(buffers.len() + long.len());
                prop_assert_eq!(s.high_water_events as usize, most_events);
                prop_assert_eq!(s.high_water_buffers as usize, most_buffers);
                prop_assert_eq!(s.anomalies.misuse(), 0);
                a.assert_balanced();
            }
            a.put(chain(&events));
            for b in buffers { a.put_buffer(b); }
            prop_assert_eq!(a.stats().outstanding_events, 0);
            prop_assert_eq!(a.stats().outstanding_buffers, 0);
        }

        /// With a notification target, long chains (past one batch of byte positions), packages
        /// and long events: every position is notified once, in chain order, the books and the
        /// free lists agree, and nothing held is handed out again.
        #[test]
        fn positioned_puts_notify_in_order(
            puts in proptest::collection::vec(
                (1usize..160, any::<bool>(), any::<u64>()),
                // Fewer puts under Miri, for its speed only.
                1..if cfg!(miri) { 3 } else { 12 },
            )
        ) {
            let (n, seen) = recorder();
            let a = Raw::with(AllocatorConfig::default(), Some(n));
            let mut expect: Vec<u64> = Vec::new();
            for (len, as_package, bits) in puts {
                let evs: Vec<Ev> = (0..len).map(|_| a.get_ok()).collect();
                let mut positions = Vec::new();
                for (i, &e) in evs.iter().enumerate() {
                    // Roughly two events in three carry a position; every fifth is long.
                    if (bits >> (i % 64)) & 3 != 0 {
                        let p = 1 + ((bits ^ i as u64) & 0xFFFF_FFFF);
                        ev(e).ullBytePosition = p;
                        positions.push((i, p));
                    }
                    if i % 5 == 4 {
                        let (s, b) = a.get_buffer();
                        prop_assert_eq!(s, STATUS_SUCCESS);
                        ev(e).cbEvent = 100;
                        ev(e).uData.pbData = b;
                    }
                }
                // Event 0 is never long (every fifth from index 4 is), so it can be a shell.
                let head = if as_package && len >= 2 {
                    // The shell's position is not notified.
                    positions.retain(|&(i, _)| i != 0);
                    package(evs[0], chain(&evs[1..]))
                } else {
                    chain(&evs)
                };
                expect.extend(positions.iter().map(|&(_, p)| p));
                prop_assert_eq!(a.put(head), STATUS_SUCCESS);
                prop_assert_eq!(&*seen.lock().unwrap(), &expect);
                let s = a.stats();
                prop_assert_eq!(s.outstanding_events, 0);
                prop_assert_eq!(s.outstanding_buffers, 0);
                prop_assert_eq!(s.anomalies.misuse(), 0);
                a.assert_balanced();
            }
        }
    }
}
