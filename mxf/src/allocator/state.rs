//! The allocator's locked state: event and buffer slabs, free lists, statistics, and the put
//! walk. Everything here runs under the allocator's spin lock.
//!
//! # Slot states
//! Every event slot carries a `u32` state word beside the event:
//! * odd: in the pool (free). `epoch << 1 | 1`, where `epoch` identifies the put that freed it.
//! * even: handed out. `0` from `GetMessage`; `epoch << 1` once the put walk of call `epoch`
//!   has seen it inside a package (so a second sighting in the same call is a cycle).
//!
//! A put that meets an odd state has found a double put (or, when the epoch is its own, a cycle);
//! it stops following that chain, because a free event's `pNextEvt` is the free list's link.
//!
//! # Invariants
//! * A1: `free_events` is a NULL-terminated list, linked through `pNextEvt`, of exactly the
//!   events whose slot state is odd. Only `pNextEvt` of a free event is meaningful: events are
//!   reset to the fresh state when they are handed out (so the put path only links them).
//! * A2: `free_buffers` likewise lists exactly the buffer slots whose state is `BUF_FREE`.
//! * A3: outstanding events are `total_events − free_events` (computed, not stored); buffers
//!   keep `outstanding_buffers = total_buffers − free_buffers`.

use super::config::{AllocatorConfig, GetBufferFailure};
use super::slab::Slabs;
use super::stats::AllocatorStats;
use crate::abi::{
    DMUS_KERNEL_EVENT, INLINE_DATA_BYTES, NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS,
    kBytePositionNone, pool_tag,
};
use core::mem::{offset_of, size_of};
use core::ptr::{NonNull, null_mut};

/// Size of long-event buffers (`kMXFBufferSize`), identical on every architecture.
pub const BUFFER_SIZE: usize = 240;
/// Events per event page: `PAGE_SIZE / sizeof(DMUS_KERNEL_EVENT)` as Microsoft's allocator uses
/// (102 on 64-bit, 128 on 32-bit).
pub const EVENTS_PER_PAGE: usize = 4096 / size_of::<DMUS_KERNEL_EVENT>();
/// Buffers per buffer page.
pub const BUFFERS_PER_PAGE: usize = 4096 / size_of::<BufferSlot>();

/// An event with its state word. 8 bytes of overhead per event on every target.
#[repr(C)]
pub(crate) struct EventSlot {
    state: u32,
    _pad: u32,
    event: DMUS_KERNEL_EVENT,
}

/// A long-event buffer with its state word and free-list link.
#[repr(C, align(16))]
pub(crate) struct BufferSlot {
    state: u32,
    next: *mut BufferSlot,
    data: [u8; BUFFER_SIZE],
}

const EVENT_OFFSET: usize = offset_of!(EventSlot, event);
const DATA_OFFSET: usize = offset_of!(BufferSlot, data);
const _: () = assert!(size_of::<EventSlot>() - size_of::<DMUS_KERNEL_EVENT>() <= 8);
const _: () = assert!(size_of::<BufferSlot>() == 256);

const BUF_FREE: u32 = 1;
/// State of every slot of a page being trimmed (odd, so such a slot still counts as free).
const TRIMMED: u32 = u32::MAX;
const BUF_OUT: u32 = 0;
const PUT_BATCH: usize = 64;

pub(crate) struct State {
    events: Slabs<EventSlot, EVENTS_PER_PAGE>,
    buffers: Slabs<BufferSlot, BUFFERS_PER_PAGE>,
    free_events: *mut DMUS_KERNEL_EVENT,
    free_buffers: *mut BufferSlot,
    epoch: u32,
    pub(crate) stats: AllocatorStats,
    max_events: u64,
    max_buffers: u64,
    pub(crate) get_buffer_failure: GetBufferFailure,
}

// SAFETY: `State` owns its pages; all access goes through the allocator's lock.
unsafe impl Send for State {}

/// Byte positions collected by one locked step of a put, notified after unlocking.
pub(crate) struct Positions {
    buf: [core::mem::MaybeUninit<u64>; PUT_BATCH],
    n: usize,
}

impl Positions {
    pub(crate) fn new() -> Self {
        Self {
            buf: [core::mem::MaybeUninit::uninit(); PUT_BATCH],
            n: 0,
        }
    }
    #[inline]
    fn is_full(&self) -> bool {
        self.n == PUT_BATCH
    }
    #[inline]
    fn push(&mut self, p: u64) {
        if let Some(slot) = self.buf.get_mut(self.n) {
            slot.write(p);
            self.n = self.n.wrapping_add(1);
        }
    }
    /// Takes the collected positions, in order.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = u64> + '_ {
        let n = core::mem::take(&mut self.n);
        // SAFETY: the first `n` entries were written by `push`.
        self.buf.iter().take(n).map(|p| unsafe { p.assume_init() })
    }
    pub(crate) fn len(&self) -> usize {
        self.n
    }
}

/// Where one locked step of a put stopped.
pub(crate) struct PutStep {
    /// The first event not yet processed (NULL when the input is exhausted).
    pub rest: *mut DMUS_KERNEL_EVENT,
    /// Something was rejected.
    pub anomaly: bool,
}

#[inline]
fn event_of(slot: NonNull<EventSlot>) -> *mut DMUS_KERNEL_EVENT {
    // SAFETY: in-bounds projection of a slot pointer.
    unsafe { &raw mut (*slot.as_ptr()).event }
}

#[inline]
unsafe fn slot_of(event: *mut DMUS_KERNEL_EVENT) -> *mut EventSlot {
    // SAFETY: the caller passes an event that lives inside one of our slots.
    unsafe { event.byte_sub(EVENT_OFFSET).cast::<EventSlot>() }
}

impl State {
    pub(crate) fn new(config: &AllocatorConfig) -> Self {
        Self {
            events: Slabs::new(config.pool, pool_tag(b"MXF "), pool_tag(b"MXFp")),
            buffers: Slabs::new(config.pool, pool_tag(b"MXFb"), pool_tag(b"MXFp")),
            free_events: null_mut(),
            free_buffers: null_mut(),
            epoch: 0,
            stats: AllocatorStats::default(),
            max_events: config.max_events.map_or(u64::MAX, u64::from),
            max_buffers: config.max_buffers.map_or(u64::MAX, u64::from),
            get_buffer_failure: config.get_buffer_failure,
        }
    }

    /// Adds one page of fresh events to the free list, in address order.
    pub(crate) fn grow_events(&mut self) -> bool {
        let Some(page) = self.events.add_page() else {
            return false;
        };
        // Link in reverse so that the first slot ends up at the head.
        for i in (0..EVENTS_PER_PAGE).rev() {
            // SAFETY: `i < EVENTS_PER_PAGE`: a slot of the new page, written before any read.
            let slot = unsafe { page.add(i) };
            // SAFETY: as above; initialises the whole slot.
            unsafe {
                slot.as_ptr().write(EventSlot {
                    state: 1,
                    _pad: 0,
                    event: DMUS_KERNEL_EVENT {
                        pNextEvt: self.free_events,
                        ..DMUS_KERNEL_EVENT::FRESH
                    },
                })
            };
            self.free_events = event_of(slot);
        }
        let s = &mut self.stats;
        s.event_pages = s.event_pages.wrapping_add(1);
        s.free_events = s.free_events.wrapping_add(EVENTS_PER_PAGE as u64);
        s.total_events = s.total_events.wrapping_add(EVENTS_PER_PAGE as u64);
        true
    }

    fn grow_buffers(&mut self) -> bool {
        let Some(page) = self.buffers.add_page() else {
            return false;
        };
        for i in (0..BUFFERS_PER_PAGE).rev() {
            // SAFETY: `i < BUFFERS_PER_PAGE`: a slot of the new page, initialised here. The data
            // bytes stay uninitialised memory from the pool, as Microsoft's buffers are.
            let slot = unsafe { page.add(i) }.as_ptr();
            // SAFETY: as above; writes the header fields only.
            unsafe {
                (&raw mut (*slot).state).write(BUF_FREE);
                (&raw mut (*slot).next).write(self.free_buffers);
            }
            self.free_buffers = slot;
        }
        let s = &mut self.stats;
        s.buffer_pages = s.buffer_pages.wrapping_add(1);
        s.free_buffers = s.free_buffers.wrapping_add(BUFFERS_PER_PAGE as u64);
        s.total_buffers = s.total_buffers.wrapping_add(BUFFERS_PER_PAGE as u64);
        true
    }

    /// `GetMessage`: a fresh event, or `STATUS_INSUFFICIENT_RESOURCES`.
    #[inline]
    pub(crate) fn get_event(&mut self) -> Result<NonNull<DMUS_KERNEL_EVENT>, NTSTATUS> {
        if self.stats.total_events.wrapping_sub(self.stats.free_events) >= self.max_events {
            self.stats.anomalies.bound_refusals =
                self.stats.anomalies.bound_refusals.wrapping_add(1);
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        if self.free_events.is_null() && !self.grow_events() {
            self.stats.anomalies.allocation_failures =
                self.stats.anomalies.allocation_failures.wrapping_add(1);
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        let e = self.free_events;
        // SAFETY: A1: `e` is a free event inside one of our slots; it is reset to the fresh state
        // here, whatever its last owner left in it.
        unsafe {
            self.free_events = (*e).pNextEvt;
            e.write(DMUS_KERNEL_EVENT::FRESH);
            (*slot_of(e)).state = 0;
        }
        let s = &mut self.stats;
        s.free_events = s.free_events.wrapping_sub(1);
        s.gets = s.gets.wrapping_add(1);
        s.high_water_events = s
            .high_water_events
            .max(s.total_events.wrapping_sub(s.free_events));
        // SAFETY: `e` was non-NULL (A1, or a page was just added).
        Ok(unsafe { NonNull::new_unchecked(e) })
    }

    /// `GetBuffer`: a buffer of `BUFFER_SIZE` bytes.
    pub(crate) fn get_buffer(&mut self) -> Result<NonNull<u8>, NTSTATUS> {
        if self.stats.outstanding_buffers >= self.max_buffers {
            self.stats.anomalies.bound_refusals =
                self.stats.anomalies.bound_refusals.wrapping_add(1);
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        if self.free_buffers.is_null() && !self.grow_buffers() {
            self.stats.anomalies.allocation_failures =
                self.stats.anomalies.allocation_failures.wrapping_add(1);
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        let slot = self.free_buffers;
        // SAFETY: A2: a free buffer slot of ours.
        unsafe {
            self.free_buffers = (*slot).next;
            (*slot).state = BUF_OUT;
        }
        let s = &mut self.stats;
        s.free_buffers = s.free_buffers.wrapping_sub(1);
        s.outstanding_buffers = s.outstanding_buffers.wrapping_add(1);
        s.high_water_buffers = s.high_water_buffers.max(s.outstanding_buffers);
        // SAFETY: in-bounds projection of a non-NULL slot.
        Ok(unsafe { NonNull::new_unchecked((&raw mut (*slot).data).cast::<u8>()) })
    }

    /// `PutBuffer` / the buffer of a long event: returns a buffer to the pool. `false` (and an
    /// anomaly counted) if it is not an outstanding buffer of ours.
    pub(crate) fn put_buffer(&mut self, data: *mut u8) -> bool {
        let Some(slot) = self.buffers.lookup(data.addr(), DATA_OFFSET) else {
            self.stats.anomalies.foreign_buffers =
                self.stats.anomalies.foreign_buffers.wrapping_add(1);
            return false;
        };
        let slot = slot.as_ptr();
        // SAFETY: `slot` is one of our buffer slots (lookup).
        unsafe {
            if (*slot).state != BUF_OUT {
                self.stats.anomalies.double_buffer_puts =
                    self.stats.anomalies.double_buffer_puts.wrapping_add(1);
                return false;
            }
            (*slot).state = BUF_FREE;
            (*slot).next = self.free_buffers;
        }
        self.free_buffers = slot;
        self.stats.free_buffers = self.stats.free_buffers.wrapping_add(1);
        self.stats.outstanding_buffers = self.stats.outstanding_buffers.wrapping_sub(1);
        true
    }

    /// Starts a put call: a new epoch (never 0).
    pub(crate) fn begin_put(&mut self) -> u32 {
        self.epoch = if self.epoch >= (u32::MAX >> 1) {
            1
        } else {
            self.epoch.wrapping_add(1)
        };
        self.stats.puts = self.stats.puts.wrapping_add(1);
        self.epoch
    }

    /// One locked step of `PutMessage`: recycles events from `cur` until the input is exhausted
    /// or `positions` is full. No recursion: a package's contents are spliced in front of the
    /// rest of the chain.
    #[inline]
    pub(crate) fn put_step(
        &mut self,
        mut cur: *mut DMUS_KERNEL_EVENT,
        epoch: u32,
        mut positions: Option<&mut Positions>,
    ) -> PutStep {
        let mut anomaly = false;
        // The free-list head and count live in locals during the walk and are written back at
        // every exit (A1 holds again when the step returns).
        let mut head = self.free_events;
        let mut freed = 0u64;
        let freed_state = (epoch << 1) | 1;
        let mut rest = core::ptr::null_mut();
        while !cur.is_null() {
            if positions.as_ref().is_some_and(|p| p.is_full()) {
                rest = cur;
                break;
            }
            let Some(slot) = self.events.lookup(cur.addr(), EVENT_OFFSET) else {
                self.stats.anomalies.foreign_events =
                    self.stats.anomalies.foreign_events.wrapping_add(1);
                anomaly = true;
                break;
            };
            // SAFETY: `slot` is one of our event slots (lookup); we hold the lock.
            let state = unsafe { &mut (*slot.as_ptr()).state };
            if *state & 1 == 1 {
                if *state >> 1 == epoch {
                    self.stats.anomalies.cycles = self.stats.anomalies.cycles.wrapping_add(1);
                } else {
                    self.stats.anomalies.double_puts =
                        self.stats.anomalies.double_puts.wrapping_add(1);
                }
                anomaly = true;
                break;
            }
            *state = freed_state;
            let e = event_of(slot);
            // SAFETY: `e` is an outstanding event of ours, owned by this put from here on.
            let ev = unsafe { &mut *e };
            let next = ev.pNextEvt;
            // Recycle: only the link is written; the event is reset when handed out again (A1).
            ev.pNextEvt = head;
            head = e;
            freed = freed.wrapping_add(1);
            if ev.is_package() {
                // SAFETY: the package flag says the union holds the contents pointer.
                let contents = unsafe { ev.uData.pPackageEvt };
                cur = self.splice(contents, next, epoch, &mut anomaly);
                continue;
            }
            let pos = ev.ullBytePosition;
            if pos != 0
                && pos != kBytePositionNone
                && let Some(p) = positions.as_deref_mut()
            {
                if pos >= 0xFFFF_FFFF_FFFF_F000 {
                    self.stats.position_rollover_warnings =
                        self.stats.position_rollover_warnings.wrapping_add(1);
                }
                p.push(pos);
            }
            if ev.cbEvent as usize > INLINE_DATA_BYTES {
                // SAFETY: a non-package event longer than the inline bytes holds a buffer pointer.
                let data = unsafe { ev.uData.pbData };
                if data.is_null() || !self.put_buffer(data) {
                    anomaly = true;
                }
            }
            cur = next;
        }
        self.free_events = head;
        self.stats.free_events = self.stats.free_events.wrapping_add(freed);
        PutStep { rest, anomaly }
    }

    /// Walks a package's contents (checking and marking each event) and links its tail to
    /// `rest`. Returns the new head of the walk. A bad element (foreign, free, seen twice) cuts
    /// the contents there.
    fn splice(
        &mut self,
        contents: *mut DMUS_KERNEL_EVENT,
        rest: *mut DMUS_KERNEL_EVENT,
        epoch: u32,
        anomaly: &mut bool,
    ) -> *mut DMUS_KERNEL_EVENT {
        let mut head = contents;
        let mut prev: *mut DMUS_KERNEL_EVENT = null_mut();
        let mut c = contents;
        while !c.is_null() {
            let bad = match self.events.lookup(c.addr(), EVENT_OFFSET) {
                None => {
                    self.stats.anomalies.foreign_events =
                        self.stats.anomalies.foreign_events.wrapping_add(1);
                    true
                }
                Some(slot) => {
                    // SAFETY: one of our slots, under the lock.
                    let st = unsafe { &mut (*slot.as_ptr()).state };
                    if *st & 1 == 1 && *st >> 1 == epoch {
                        // Already recycled by this very put: the package contains itself.
                        self.stats.anomalies.cycles = self.stats.anomalies.cycles.wrapping_add(1);
                        true
                    } else if *st & 1 == 1 {
                        self.stats.anomalies.double_puts =
                            self.stats.anomalies.double_puts.wrapping_add(1);
                        true
                    } else if *st == epoch << 1 {
                        self.stats.anomalies.cycles = self.stats.anomalies.cycles.wrapping_add(1);
                        true
                    } else {
                        *st = epoch << 1;
                        false
                    }
                }
            };
            if bad {
                *anomaly = true;
                if prev.is_null() {
                    head = rest;
                } else {
                    // SAFETY: `prev` is an outstanding event of ours marked in this walk.
                    unsafe { (*prev).pNextEvt = rest };
                }
                return head;
            }
            prev = c;
            // SAFETY: `c` is an outstanding event of ours (checked above).
            c = unsafe { (*c).pNextEvt };
        }
        if prev.is_null() {
            head = rest;
        } else {
            // SAFETY: as above.
            unsafe { (*prev).pNextEvt = rest };
        }
        head
    }

    /// Frees every event page that holds only free events, then every buffer page that holds
    /// only free buffers; returns the number of pages freed. The order of the remaining free
    /// lists is kept.
    pub(crate) fn trim(&mut self) -> usize {
        // Mark the slots of fully free pages, so that each list entry can be judged by its own
        // state word (O(1)) while the lists are rebuilt.
        let mut event_pages = 0u64;
        for page in self.events.iter() {
            if event_page_all_free(page) {
                event_pages = event_pages.wrapping_add(1);
                for i in 0..EVENTS_PER_PAGE {
                    // SAFETY: `i < EVENTS_PER_PAGE`: an initialised slot of a live page.
                    unsafe { (*page.as_ptr().add(i)).state = TRIMMED };
                }
            }
        }
        if event_pages > 0 {
            let mut removed = 0u64;
            let mut link: *mut *mut DMUS_KERNEL_EVENT = &raw mut self.free_events;
            // SAFETY: A1: every entry is a free event of ours; `link` points at the head or at
            // the `pNextEvt` of a kept entry.
            unsafe {
                while !(*link).is_null() {
                    let e = *link;
                    if (*slot_of(e)).state == TRIMMED {
                        *link = (*e).pNextEvt;
                        removed = removed.wrapping_add(1);
                    } else {
                        link = &raw mut (*e).pNextEvt;
                    }
                }
            }
            // SAFETY: no list entry points into a trimmed page any more and none of their
            // events is outstanding.
            unsafe { self.events.retain(|p| (*p.as_ptr()).state != TRIMMED) };
            let s = &mut self.stats;
            s.free_events = s.free_events.wrapping_sub(removed);
            s.total_events = s.total_events.wrapping_sub(removed);
            s.event_pages = s.event_pages.wrapping_sub(event_pages);
        }
        let mut buffer_pages = 0u64;
        for page in self.buffers.iter() {
            let all_free = (0..BUFFERS_PER_PAGE).all(|i| {
                // SAFETY: `i < BUFFERS_PER_PAGE`: an initialised slot header of a live page.
                unsafe { (*page.as_ptr().add(i)).state == BUF_FREE }
            });
            if all_free {
                buffer_pages = buffer_pages.wrapping_add(1);
                for i in 0..BUFFERS_PER_PAGE {
                    // SAFETY: as above.
                    unsafe { (*page.as_ptr().add(i)).state = TRIMMED };
                }
            }
        }
        if buffer_pages > 0 {
            let mut removed = 0u64;
            let mut link: *mut *mut BufferSlot = &raw mut self.free_buffers;
            // SAFETY: A2, as for events.
            unsafe {
                while !(*link).is_null() {
                    let b = *link;
                    if (*b).state == TRIMMED {
                        *link = (*b).next;
                        removed = removed.wrapping_add(1);
                    } else {
                        link = &raw mut (*b).next;
                    }
                }
            }
            // SAFETY: as for events.
            unsafe { self.buffers.retain(|p| (*p.as_ptr()).state != TRIMMED) };
            let s = &mut self.stats;
            s.free_buffers = s.free_buffers.wrapping_sub(removed);
            s.total_buffers = s.total_buffers.wrapping_sub(removed);
            s.buffer_pages = s.buffer_pages.wrapping_sub(buffer_pages);
        }
        let freed = event_pages.wrapping_add(buffer_pages);
        self.stats.trimmed_pages = self.stats.trimmed_pages.wrapping_add(freed);
        freed as usize
    }

    /// Frees everything. Pages are kept (leaked) if anything is still outstanding, so that a
    /// late writer corrupts nothing.
    pub(crate) fn destroy(&mut self) {
        if self.stats.total_events == self.stats.free_events {
            // SAFETY: no event is outstanding; the free list dies with the state.
            unsafe { self.events.free_all() };
        } else {
            self.events.forget_pages();
        }
        if self.stats.outstanding_buffers == 0 {
            // SAFETY: as above for buffers.
            unsafe { self.buffers.free_all() };
        } else {
            self.buffers.forget_pages();
        }
        self.free_events = null_mut();
        self.free_buffers = null_mut();
    }

    pub(crate) fn status_of(anomaly: bool) -> NTSTATUS {
        if anomaly {
            crate::abi::STATUS_INVALID_PARAMETER
        } else {
            STATUS_SUCCESS
        }
    }

    pub(crate) fn snapshot(&self) -> AllocatorStats {
        AllocatorStats {
            outstanding_events: self.stats.total_events.wrapping_sub(self.stats.free_events),
            ..self.stats
        }
    }
}

fn event_page_all_free(page: NonNull<EventSlot>) -> bool {
    (0..EVENTS_PER_PAGE).all(|i| {
        // SAFETY: `i < EVENTS_PER_PAGE`: an initialised slot of a live page.
        unsafe { (*page.as_ptr().add(i)).state & 1 == 1 }
    })
}

impl Drop for State {
    fn drop(&mut self) {
        self.destroy();
    }
}
