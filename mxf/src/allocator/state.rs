//! The allocator's locked state: event and buffer slabs, free lists, statistics, and the put
//! walk. Everything here runs under the allocator's spin lock.
//!
//! # Slot states
//! Every event slot carries a `u32` state word beside the event: bit 30 `FREE`, bit 31
//! `RETURNING`, and in bits 0..=29 the epoch of the put call that last marked it (0: none).
//! * `FREE` set: in the free list. `FREE | epoch`, where `epoch` identifies the put that freed
//!   it (0 for fresh events and single-event puts).
//! * `RETURNING` set: returned, but not yet in the free list: a put's events beyond the first
//!   `PUT_BATCH` byte positions, held by the put while it notifies them, then in the returned
//!   list until the next locked call moves them into the free list (see below).
//! * neither: handed out. `0` from `GetMessage`; `epoch` once the put walk of call `epoch`
//!   has seen it inside a package (so a second sighting in the same call is a cycle).
//!
//! A put that meets `FREE` or `RETURNING` has found a double put (or, when the epoch is its own,
//! a cycle); it stops following that chain, because such an event's `pNextEvt` is the pool's.
//! Epochs wrap after 2^30 put calls: a double put of an event freed a multiple of 2^30 calls
//! earlier is counted as a cycle instead. Only the counter differs; the refusal and the status
//! are the same.
//!
//! # One lock acquisition per put, whatever the chain
//! Byte positions are notified with the lock released (the pin completes IRPs from there). A put
//! collects up to `PUT_BATCH` of them while it recycles; past that, it only validates and marks
//! the rest of the chain `RETURNING`, keeping its links, in the same lock hold. After releasing
//! the lock it notifies the collected positions, then those of the marked events in chain order,
//! reverses them and pushes them onto the allocator's returned list with one compare-exchange.
//! Every locked call that uses the free list first moves a non-empty returned list to its front
//! (the fast paths see the list is non-empty and leave that to their slow paths), so the free
//! list stays last-in first-out; trimming moves it too, and never frees a page whose events are
//! in transit (a `RETURNING` slot does not count as free).
//!
//! # Invariants
//! * A1: `free_events` is a NULL-terminated list, linked through `pNextEvt`, of exactly the
//!   events whose slot state has `FREE`. Only `pNextEvt` of a free event is meaningful: events
//!   are reset to the fresh state when they are handed out (so the put path only links them).
//! * A1r: the returned list (an atomic pointer in the allocator, outside the lock) holds only
//!   events whose state has `RETURNING`, linked the same way, none of them in the free list or
//!   handed out; `drain_returned` moves it into the free list and marks them `FREE`.
//! * A2: `free_buffers` likewise lists exactly the buffer slots whose state is `BUF_FREE`.
//! * A3: the books are kept as a few monotonic counters, so each fast path writes one of them:
//!   outstanding events are `gets − recycled − single_puts` (a single-event put is one put call
//!   and one recycled event, counted once), free events `total_events − outstanding`;
//!   outstanding buffers are `buffer_gets − buffers_returned`, free buffers
//!   `total_buffers − outstanding`. Lock acquisitions are the sum of the counters of every
//!   locked call ([`State::lock_acquisitions`]), so no call pays a separate count.
//! * A4: `events_fast_below` is `min(high_water_events, max_events)` (likewise for buffers):
//!   a get whose outstanding count is below it neither meets the bound nor raises the
//!   high-water mark, so the fast path makes that one comparison and leaves both to the slow
//!   path, which only runs while the count climbs to a new height (or at the bound).
//!
//! # Cost
//! The locked sections of `GetMessage` and `GetBuffer` are one comparison (A4), a pop, a state
//! word and a counter.
//! `GetMessage` writes the state word together with the event's first 8 bytes in one 16-byte
//! store and the rest of the fresh state after the lock is released (the event is exclusively
//! the caller's by then). A single-event put writes one counter (A3).
//! A single short event is returned without the walk. The put walk ([`walk_plain`]) keeps the
//! free-list head, the count and the current page in registers, guesses each successor from the
//! distance between the last two events and uses the guess only when it equals the link (so the
//! next event's loads need not wait for the link's load), checks that the slot is in the page
//! with one comparison, and state, package flag and length with one more ([`is_plain_slot`]).
//! It is plain Rust on every target, the same code under Miri and loom as in a driver.
//! Figures: `docs/allocator.md`.

use super::config::{AllocatorConfig, GetBufferFailure};
use super::slab::{Page, Slabs};
use super::stats::{AllocatorStats, Anomalies};
use crate::abi::{
    DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT, DMUS_KERNEL_EVENT_DATA, INLINE_DATA_BYTES, NTSTATUS,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, kBytePositionNone, pool_tag,
};
use crate::platform::atomic::{AtomicPtr, Ordering};
use core::mem::{align_of, offset_of, size_of};
use core::ptr::{NonNull, null_mut};

/// Size of long-event buffers (`kMXFBufferSize`), identical on every architecture.
pub const BUFFER_SIZE: usize = 240;
/// Events per event page: `PAGE_SIZE / sizeof(DMUS_KERNEL_EVENT)` as Microsoft's allocator uses
/// (102 on 64-bit, 128 on 32-bit).
pub const EVENTS_PER_PAGE: usize = 4096 / size_of::<DMUS_KERNEL_EVENT>();
/// Buffers per buffer page.
pub const BUFFERS_PER_PAGE: usize = 4096 / size_of::<BufferSlot>();

/// An event with its state word. 8 bytes of overhead per event on every target. The state is
/// the upper half of the first 8 bytes (the padding, always 0, the lower), so that the walk can
/// fold the whole word into one comparison ([`is_plain_slot`]).
#[repr(C)]
pub(crate) struct EventSlot {
    _pad: u32,
    state: u32,
    event: DMUS_KERNEL_EVENT,
}

/// A long-event buffer with its state word and free-list link. Aligned to no more than a pool
/// block is (8 bytes on 32-bit Windows, `MEMORY_ALLOCATION_ALIGNMENT`): a page of slots more
/// aligned than that cannot be allocated there.
#[repr(C, align(8))]
pub(crate) struct BufferSlot {
    state: u32,
    next: *mut BufferSlot,
    data: [u8; BUFFER_SIZE],
}

const EVENT_OFFSET: usize = offset_of!(EventSlot, event);
const DATA_OFFSET: usize = offset_of!(BufferSlot, data);
const _: () = assert!(size_of::<EventSlot>() - size_of::<DMUS_KERNEL_EVENT>() <= 8);
// 256 bytes on 64-bit targets, 248 on 32-bit ones; 16 to a page either way.
const _: () = assert!(size_of::<BufferSlot>() <= 256 && BUFFERS_PER_PAGE == 16);
const _: () = assert!(align_of::<BufferSlot>() <= crate::platform::POOL_ALIGNMENT);
const _: () = assert!(align_of::<EventSlot>() <= crate::platform::POOL_ALIGNMENT);

/// The first 16 bytes of an event slot being handed out, written by one store under the lock
/// ([`State::pop_event`]): the state word 0 (handed out), the padding, and the first 8 bytes of
/// a fresh event (`bReserved`, `cbStruct`, `cbEvent`, `usChannelGroup`, `usFlags`). The rest of
/// the fresh state is written after unlocking ([`finish_fresh`]).
const HANDED_OUT_HEAD: [u64; 2] = {
    let f = DMUS_KERNEL_EVENT::FRESH;
    let [c0, c1] = f.cbEvent.to_ne_bytes();
    let [g0, g1] = f.usChannelGroup.to_ne_bytes();
    let [f0, f1] = f.usFlags.to_ne_bytes();
    [
        0,
        u64::from_ne_bytes([f.bReserved, f.cbStruct, c0, c1, g0, g1, f0, f1]),
    ]
};
// The head covers exactly the state word, the padding and those five fields, and may be written
// as one `[u64; 2]` at the slot's address.
const _: () = {
    assert!(offset_of!(EventSlot, _pad) == 0 && offset_of!(EventSlot, state) == 4);
    assert!(EVENT_OFFSET == 8);
    assert!(offset_of!(DMUS_KERNEL_EVENT, cbStruct) == 1);
    assert!(offset_of!(DMUS_KERNEL_EVENT, cbEvent) == 2);
    assert!(offset_of!(DMUS_KERNEL_EVENT, usChannelGroup) == 4);
    assert!(offset_of!(DMUS_KERNEL_EVENT, usFlags) == 6);
    assert!(offset_of!(DMUS_KERNEL_EVENT, ullPresTime100ns) == 8);
    assert!(align_of::<EventSlot>() >= align_of::<[u64; 2]>());
};

/// The fresh state of an event after its first 8 bytes, written after unlocking by
/// [`finish_fresh`] as one copy (two 16-byte stores on x86-64).
#[repr(C)]
struct FreshTail {
    pres_time: i64,
    byte_position: u64,
    next: *mut DMUS_KERNEL_EVENT,
    data: DMUS_KERNEL_EVENT_DATA,
}
/// Where [`FreshTail`] starts in an event: after the 8 bytes the head covers.
const TAIL_OFFSET: usize = offset_of!(DMUS_KERNEL_EVENT, ullPresTime100ns);
const FRESH_TAIL: FreshTail = {
    let f = DMUS_KERNEL_EVENT::FRESH;
    FreshTail {
        pres_time: f.ullPresTime100ns,
        byte_position: f.ullBytePosition,
        next: f.pNextEvt,
        data: f.uData,
    }
};
const _: () = {
    use DMUS_KERNEL_EVENT as E;
    assert!(
        offset_of!(FreshTail, pres_time).wrapping_add(TAIL_OFFSET)
            == offset_of!(E, ullPresTime100ns)
    );
    assert!(
        offset_of!(FreshTail, byte_position).wrapping_add(TAIL_OFFSET)
            == offset_of!(E, ullBytePosition)
    );
    assert!(offset_of!(FreshTail, next).wrapping_add(TAIL_OFFSET) == offset_of!(E, pNextEvt));
    assert!(offset_of!(FreshTail, data).wrapping_add(TAIL_OFFSET) == offset_of!(E, uData));
    assert!(size_of::<FreshTail>().wrapping_add(TAIL_OFFSET) == size_of::<E>());
    assert!(align_of::<FreshTail>() <= align_of::<E>());
};

/// Writes the fresh state of an event after its first 8 bytes: together with the
/// [`HANDED_OUT_HEAD`] that [`State::pop_event`] wrote, the event is in the fresh state.
///
/// # Safety
/// `e` is an event [`State::pop_event`] just returned, exclusively the caller's.
#[inline(always)]
pub(crate) unsafe fn finish_fresh(e: NonNull<DMUS_KERNEL_EVENT>) {
    // SAFETY: the caller's contract: a live event nobody else uses; the tail lies inside it at
    // `TAIL_OFFSET`, aligned (the assertions above).
    unsafe {
        e.byte_add(TAIL_OFFSET)
            .cast::<FreshTail>()
            .write(FRESH_TAIL)
    };
}

/// A get with `outstanding` events (or buffers) out, below the bound `max`, is about to hand
/// one more out: raises the high-water mark if this is a new height, and with it the fast
/// paths' limit, keeping A4 (`fast_below == min(high_water, max)`).
#[inline]
fn raise_high_water(outstanding: u64, max: u64, high_water: &mut u64, fast_below: &mut u64) {
    if outstanding >= *high_water {
        *high_water = outstanding.wrapping_add(1);
        *fast_below = (*high_water).min(max);
    }
}

/// Slot state bit: in the free list.
const FREE: u32 = 1 << 30;
/// Slot state bit: returned, not yet in the free list.
const RETURNING: u32 = 1 << 31;
/// Either: in the pool, whatever a caller says.
const IN_POOL: u32 = FREE | RETURNING;
/// Epochs use bits 0..=29.
const EPOCH_MASK: u32 = FREE - 1;
/// State of a free event no put call can claim (epoch 0): fresh events and single puts.
const FREE_UNTAGGED: u32 = FREE;

#[inline(always)]
fn in_pool(state: u32) -> bool {
    state & IN_POOL != 0
}

#[inline(always)]
fn epoch_of(state: u32) -> u32 {
    state & EPOCH_MASK
}

/// Byte positions at or above this are counted as about to roll over.
const ROLLOVER_WARNING_AT: u64 = 0xFFFF_FFFF_FFFF_F000;

/// Whether a returned event's byte position is notified (`domain.md` §6 items 14–15): it is
/// neither 0 nor `kBytePositionNone`.
#[inline(always)]
pub(crate) fn is_notified(pos: u64) -> bool {
    pos != 0 && pos != kBytePositionNone
}

/// Whether a notified position is about to roll over.
#[inline(always)]
fn rolls_over(pos: u64) -> bool {
    pos >= ROLLOVER_WARNING_AT && pos != kBytePositionNone
}
const BUF_FREE: u32 = 1;
/// State of every slot of a page being trimmed (only while `trim` runs).
const TRIMMED: u32 = u32::MAX;
const BUF_OUT: u32 = 0;
/// Byte positions a put collects while it recycles (a smaller batch keeps loom models small).
const PUT_BATCH: usize = if cfg!(loom) { 2 } else { 64 };

pub(crate) struct State {
    // The fast paths' fields first, together.
    free_events: *mut DMUS_KERNEL_EVENT,
    /// Successful `GetMessage` calls.
    gets: u64,
    /// `PutMessage` calls that returned a single event on the fast path
    /// ([`put_one`](Self::put_one)): each is one put call and one recycled event, counted once.
    single_puts: u64,
    /// Events recycled by the other puts.
    recycled: u64,
    /// The other `PutMessage` calls with a non-NULL argument (also the source of put epochs).
    puts: u64,
    /// A4.
    events_fast_below: u64,
    high_water_events: u64,
    max_events: u64,
    free_buffers: *mut BufferSlot,
    /// Successful `GetBuffer` calls.
    buffer_gets: u64,
    /// Buffers returned, by `PutBuffer` or with their long events.
    buffers_returned: u64,
    /// A4.
    buffers_fast_below: u64,
    high_water_buffers: u64,
    max_buffers: u64,
    total_events: u64,
    total_buffers: u64,
    events: Slabs<EventSlot, EVENTS_PER_PAGE>,
    buffers: Slabs<BufferSlot, BUFFERS_PER_PAGE>,
    pub(crate) cold: Cold,
    pub(crate) get_buffer_failure: GetBufferFailure,
}

/// Counters off the fast paths.
#[derive(Default)]
pub(crate) struct Cold {
    pub(crate) event_pages: u64,
    pub(crate) buffer_pages: u64,
    pub(crate) position_notifications: u64,
    pub(crate) position_rollover_warnings: u64,
    /// Buffers returned with their long events (the rest of `buffers_returned` came through
    /// `PutBuffer`).
    buffers_with_events: u64,
    /// `PutBuffer` calls refused.
    pub(crate) put_buffer_refusals: u64,
    event_refusals: u64,
    buffer_refusals: u64,
    trimmed_pages: u64,
    pub(crate) anomalies: Anomalies,
}

// SAFETY: `State` owns its pages; all access goes through the allocator's lock.
unsafe impl Send for State {}

/// Where a put walk sends the byte positions it meets.
pub(crate) trait PositionSink {
    /// Whether positions are collected at all (no notification target: they are not).
    const COLLECTS: bool;
    /// No room for another position: the step must end here.
    fn is_full(&self) -> bool;
    /// Records a position (only called while not full).
    fn push(&mut self, position: u64);
}

/// No notification target: positions are ignored.
impl PositionSink for () {
    const COLLECTS: bool = false;
    #[inline(always)]
    fn is_full(&self) -> bool {
        false
    }
    #[inline(always)]
    fn push(&mut self, _: u64) {}
}

/// Byte positions collected by one locked step of a put, notified after unlocking.
/// Invariant: the first `n` entries of `buf` are initialised, `n <= PUT_BATCH`.
pub(crate) struct Positions {
    buf: core::mem::MaybeUninit<[u64; PUT_BATCH]>,
    n: usize,
}

impl Positions {
    pub(crate) fn new() -> Self {
        Self {
            buf: core::mem::MaybeUninit::uninit(),
            n: 0,
        }
    }
    /// Takes the collected positions, in order.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = u64> + '_ {
        let n = core::mem::take(&mut self.n);
        let base = self.buf.as_ptr().cast::<u64>();
        // SAFETY: the first `n <= PUT_BATCH` entries were written by `push`.
        (0..n).map(move |i| unsafe { base.add(i).read() })
    }
    pub(crate) fn len(&self) -> usize {
        self.n
    }
}

impl PositionSink for Positions {
    const COLLECTS: bool = true;
    #[inline]
    fn is_full(&self) -> bool {
        self.n >= PUT_BATCH
    }
    #[inline]
    fn push(&mut self, p: u64) {
        if self.n < PUT_BATCH {
            // SAFETY: `n < PUT_BATCH`: inside the array.
            unsafe { self.buf.as_mut_ptr().cast::<u64>().add(self.n).write(p) };
            self.n = self.n.wrapping_add(1);
        }
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
            free_events: null_mut(),
            gets: 0,
            single_puts: 0,
            recycled: 0,
            puts: 0,
            events_fast_below: 0,
            high_water_events: 0,
            max_events: config.max_events.map_or(u64::MAX, u64::from),
            free_buffers: null_mut(),
            buffer_gets: 0,
            buffers_returned: 0,
            buffers_fast_below: 0,
            high_water_buffers: 0,
            max_buffers: config.max_buffers.map_or(u64::MAX, u64::from),
            total_events: 0,
            total_buffers: 0,
            events: Slabs::new(config.pool, pool_tag(b"MXF "), pool_tag(b"MXFp")),
            buffers: Slabs::new(config.pool, pool_tag(b"MXFb"), pool_tag(b"MXFp")),
            cold: Cold::default(),
            get_buffer_failure: config.get_buffer_failure,
        }
    }

    #[inline]
    fn outstanding_events(&self) -> u64 {
        self.gets
            .wrapping_sub(self.recycled)
            .wrapping_sub(self.single_puts)
    }

    #[inline]
    fn outstanding_buffers(&self) -> u64 {
        self.buffer_gets.wrapping_sub(self.buffers_returned)
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
                    state: FREE_UNTAGGED,
                    _pad: 0,
                    event: DMUS_KERNEL_EVENT {
                        pNextEvt: self.free_events,
                        ..DMUS_KERNEL_EVENT::FRESH
                    },
                })
            };
            self.free_events = event_of(slot);
        }
        self.cold.event_pages = self.cold.event_pages.wrapping_add(1);
        self.total_events = self.total_events.wrapping_add(EVENTS_PER_PAGE as u64);
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
        self.cold.buffer_pages = self.cold.buffer_pages.wrapping_add(1);
        self.total_buffers = self.total_buffers.wrapping_add(BUFFERS_PER_PAGE as u64);
        true
    }

    /// `GetMessage`'s fast locked part: takes an event off the free list, unless the list is
    /// empty or the outstanding count is not below `events_fast_below` (A4; then
    /// [`get_event_slow`](Self::get_event_slow) decides).
    #[inline]
    pub(crate) fn pop_event(&mut self) -> Option<NonNull<DMUS_KERNEL_EVENT>> {
        let out = self.outstanding_events();
        let e = NonNull::new(self.free_events).filter(|_| out < self.events_fast_below)?;
        Some(self.take_event(e))
    }

    /// Takes the free list's head `e` (the caller read it from `free_events`) off it. The event
    /// is marked handed out and its first 8 bytes are reset, in one store ([`HANDED_OUT_HEAD`]);
    /// the caller resets the rest after releasing the lock ([`finish_fresh`]), when it is
    /// exclusively the caller's.
    #[inline(always)]
    fn take_event(&mut self, e: NonNull<DMUS_KERNEL_EVENT>) -> NonNull<DMUS_KERNEL_EVENT> {
        // SAFETY: A1: `e`, the head, is a free event inside one of our slots, aligned for the
        // head (the assertions beside it); the head does not reach `pNextEvt`, read first.
        unsafe {
            self.free_events = (*e.as_ptr()).pNextEvt;
            slot_of(e.as_ptr())
                .cast::<[u64; 2]>()
                .write(HANDED_OUT_HEAD);
        }
        self.gets = self.gets.wrapping_add(1);
        e
    }

    /// `GetMessage` when [`pop_event`](Self::pop_event) declined: refuses at the bound, grows
    /// the pool if it is empty (or fails with `STATUS_INSUFFICIENT_RESOURCES`), raises the
    /// high-water mark, then pops.
    #[cold]
    #[inline(never)]
    pub(crate) fn get_event_slow(&mut self) -> Result<NonNull<DMUS_KERNEL_EVENT>, NTSTATUS> {
        let (out, max, empty) = (
            self.outstanding_events(),
            self.max_events,
            self.free_events.is_null(),
        );
        if self.make_room(out, max, empty, Self::grow_events)
            && let Some(e) = NonNull::new(self.free_events)
        {
            raise_high_water(
                out,
                max,
                &mut self.high_water_events,
                &mut self.events_fast_below,
            );
            return Ok(self.take_event(e));
        }
        self.cold.event_refusals = self.cold.event_refusals.wrapping_add(1);
        Err(STATUS_INSUFFICIENT_RESOURCES)
    }

    /// The slow path of a get its fast path declined: `false`, with the reason counted, at the
    /// bound or when the pool is `empty` and `grow` cannot add a page; else `true`.
    fn make_room(
        &mut self,
        outstanding: u64,
        max: u64,
        empty: bool,
        grow: fn(&mut Self) -> bool,
    ) -> bool {
        if outstanding >= max {
            self.cold.anomalies.bound_refusals = self.cold.anomalies.bound_refusals.wrapping_add(1);
            return false;
        }
        if empty && !grow(self) {
            self.cold.anomalies.allocation_failures =
                self.cold.anomalies.allocation_failures.wrapping_add(1);
            return false;
        }
        true
    }

    /// `GetBuffer`'s fast locked part: a buffer of `BUFFER_SIZE` bytes off the free list,
    /// unless the list is empty or the outstanding count is not below `buffers_fast_below` (A4).
    #[inline]
    pub(crate) fn pop_buffer(&mut self) -> Option<NonNull<u8>> {
        if self.outstanding_buffers() >= self.buffers_fast_below {
            return None;
        }
        let slot = NonNull::new(self.free_buffers)?;
        Some(self.take_buffer(slot))
    }

    /// Takes the free buffer list's head `slot` (read from `free_buffers`) off it.
    #[inline(always)]
    fn take_buffer(&mut self, slot: NonNull<BufferSlot>) -> NonNull<u8> {
        let slot = slot.as_ptr();
        // SAFETY: A2: the head, a free buffer slot of ours.
        unsafe {
            self.free_buffers = (*slot).next;
            (*slot).state = BUF_OUT;
        }
        self.buffer_gets = self.buffer_gets.wrapping_add(1);
        // SAFETY: in-bounds projection of a non-NULL slot.
        unsafe { NonNull::new_unchecked((&raw mut (*slot).data).cast::<u8>()) }
    }

    /// `GetBuffer` when [`pop_buffer`](Self::pop_buffer) declined.
    #[cold]
    #[inline(never)]
    pub(crate) fn get_buffer_slow(&mut self) -> Result<NonNull<u8>, NTSTATUS> {
        let (out, max, empty) = (
            self.outstanding_buffers(),
            self.max_buffers,
            self.free_buffers.is_null(),
        );
        if self.make_room(out, max, empty, Self::grow_buffers)
            && let Some(slot) = NonNull::new(self.free_buffers)
        {
            raise_high_water(
                out,
                max,
                &mut self.high_water_buffers,
                &mut self.buffers_fast_below,
            );
            return Ok(self.take_buffer(slot));
        }
        self.cold.buffer_refusals = self.cold.buffer_refusals.wrapping_add(1);
        Err(STATUS_INSUFFICIENT_RESOURCES)
    }

    /// `PutBuffer` / the buffer of a long event: returns a buffer to the pool. `false` (and an
    /// anomaly counted) if it is not an outstanding buffer of ours.
    #[inline]
    pub(crate) fn put_buffer(&mut self, data: *mut u8) -> bool {
        self.put_buffer_hinted(data) || self.put_buffer_slow(data)
    }

    /// [`put_buffer`](Self::put_buffer)'s common case: an outstanding buffer of the page of the
    /// last lookup. `false` (nothing done, nothing counted) for anything else.
    #[inline(always)]
    pub(crate) fn put_buffer_hinted(&mut self, data: *mut u8) -> bool {
        if let Some(slot) = self.buffers.hinted().and_then(|p| p.slot(data.addr(), DATA_OFFSET))
            // SAFETY: one of our buffer slots (`Page::slot`); we hold the lock.
            && unsafe { (*slot.as_ptr()).state } == BUF_OUT
        {
            self.push_buffer(slot);
            return true;
        }
        false
    }

    /// [`put_buffer`](Self::put_buffer) when [`put_buffer_hinted`](Self::put_buffer_hinted)
    /// declined: off the hinted page, or a buffer that is not outstanding.
    #[cold]
    #[inline(never)]
    pub(crate) fn put_buffer_slow(&mut self, data: *mut u8) -> bool {
        let Some(slot) = self.buffers.lookup(data.addr(), DATA_OFFSET) else {
            self.cold.anomalies.foreign_buffers =
                self.cold.anomalies.foreign_buffers.wrapping_add(1);
            return false;
        };
        // SAFETY: `slot` is one of our buffer slots (lookup).
        if unsafe { (*slot.as_ptr()).state } != BUF_OUT {
            self.cold.anomalies.double_buffer_puts =
                self.cold.anomalies.double_buffer_puts.wrapping_add(1);
            return false;
        }
        self.push_buffer(slot);
        true
    }

    /// Pushes the outstanding buffer `slot` onto the free list (A2) and counts it.
    #[inline(always)]
    fn push_buffer(&mut self, slot: NonNull<BufferSlot>) {
        let slot = slot.as_ptr();
        // SAFETY: one of our buffer slots, outstanding (checked by the caller); the lock is held.
        unsafe {
            (*slot).state = BUF_FREE;
            (*slot).next = self.free_buffers;
        }
        self.free_buffers = slot;
        self.buffers_returned = self.buffers_returned.wrapping_add(1);
    }

    /// Counts a put call that [`put_one`](Self::put_one) declined (it counts its own).
    #[inline]
    pub(crate) fn count_put(&mut self) {
        self.puts = self.puts.wrapping_add(1);
    }

    /// The epoch of the put call counted last (never 0; 30 bits), for [`put_step`](Self::put_step).
    #[inline]
    pub(crate) fn epoch(&self) -> u32 {
        ((self.puts as u32) & EPOCH_MASK).max(1)
    }

    /// The common put: a single plain event (ours, outstanding, short, not a package, no
    /// successor) is recycled and its byte position returned; anything else is left untouched
    /// (`None`) for [`put_step`](Self::put_step). With `COLLECT`, an event whose position is
    /// about to roll over is left to `put_step` too (it counts the warning).
    ///
    /// The event's state word gets epoch 0 (no put call has it), like a fresh event's: a
    /// single event cannot be part of a cycle, so a later put meeting it sees a double put.
    #[inline]
    pub(crate) fn put_one<const COLLECT: bool>(
        &mut self,
        e: *mut DMUS_KERNEL_EVENT,
    ) -> Option<u64> {
        let slot = self.events.hinted()?.slot(e.addr(), EVENT_OFFSET)?;
        // SAFETY: one of our event slots (`Page::slot`); we hold the lock.
        let state = unsafe { &mut (*slot.as_ptr()).state };
        let e = event_of(slot);
        // SAFETY: as above; only read until every check passed.
        let ev = unsafe { &mut *e };
        let pos = ev.ullBytePosition;
        if !is_plain(*state, ev) || !ev.pNextEvt.is_null() || (COLLECT && rolls_over(pos)) {
            return None;
        }
        *state = FREE_UNTAGGED;
        ev.pNextEvt = self.free_events;
        self.free_events = e;
        self.single_puts = self.single_puts.wrapping_add(1);
        Some(pos)
    }

    /// One locked step of `PutMessage`: recycles events from `cur` until the input is exhausted
    /// or `positions` is full. No recursion: a package's contents are spliced in front of the
    /// rest of the chain. With `()` as the sink, byte positions are not collected.
    ///
    /// Plain events (outstanding, short, not packages, in the current page) go through the
    /// tight loop of [`walk_plain`]; everything else through the general step below, one event
    /// at a time, after which the tight loop resumes.
    #[inline]
    pub(crate) fn put_step<P: PositionSink>(
        &mut self,
        mut cur: *mut DMUS_KERNEL_EVENT,
        epoch: u32,
        positions: &mut P,
    ) -> PutStep {
        let mut anomaly = false;
        // The free-list head, the count and the current page live in locals during the walk
        // and are written back at every exit (A1 holds again when the step returns).
        let mut walk = Walk {
            head: self.free_events,
            freed: 0,
            freed_state: FREE | epoch,
        };
        let mut rest = null_mut();
        let mut page = self.events.hinted();
        while !cur.is_null() {
            if let Some(p) = page {
                cur = walk_plain(p, cur, &mut walk, positions);
                if cur.is_null() {
                    break;
                }
            }
            if P::COLLECTS && positions.is_full() {
                rest = cur;
                break;
            }
            let slot = match page.and_then(|p| p.slot(cur.addr(), EVENT_OFFSET)) {
                Some(slot) => Some(slot),
                None => self
                    .events
                    .search(cur.addr(), EVENT_OFFSET)
                    .map(|(slot, p)| {
                        page = Some(p);
                        slot
                    }),
            };
            let Some(e) = self.claim(slot, epoch, walk.freed_state) else {
                anomaly = true;
                break;
            };
            // SAFETY: `e` is an outstanding event of ours, owned by this put from here on.
            let ev = unsafe { &mut *e };
            let next = ev.pNextEvt;
            // Recycle: only the link is written; the event is reset when handed out again (A1).
            ev.pNextEvt = walk.head;
            walk.head = e;
            walk.freed = walk.freed.wrapping_add(1);
            if ev.is_package() {
                // SAFETY: the package flag says the union holds the contents pointer.
                let contents = unsafe { ev.uData.pPackageEvt };
                cur = self.splice(contents, next, epoch, &mut anomaly);
                continue;
            }
            if P::COLLECTS {
                self.collect_position(ev.ullBytePosition, positions);
            }
            if ev.cbEvent as usize > INLINE_DATA_BYTES && !self.put_event_buffer(ev) {
                anomaly = true;
            }
            cur = next;
        }
        self.free_events = walk.head;
        self.recycled = self.recycled.wrapping_add(walk.freed);
        PutStep { rest, anomaly }
    }

    #[inline]
    fn collect_position<P: PositionSink>(&mut self, pos: u64, positions: &mut P) {
        if is_notified(pos) {
            self.count_rollover(pos);
            positions.push(pos);
        }
    }

    /// Counts a position that is about to roll over.
    #[inline]
    fn count_rollover(&mut self, pos: u64) {
        if rolls_over(pos) {
            self.cold.position_rollover_warnings =
                self.cold.position_rollover_warnings.wrapping_add(1);
        }
    }

    /// Frees the buffer of a long event being recycled; `false` if it is not ours.
    #[inline(never)]
    fn put_event_buffer(&mut self, ev: &DMUS_KERNEL_EVENT) -> bool {
        // SAFETY: a non-package event longer than the inline bytes holds a buffer pointer.
        let data = unsafe { ev.uData.pbData };
        if data.is_null() {
            self.cold.anomalies.foreign_buffers =
                self.cold.anomalies.foreign_buffers.wrapping_add(1);
            return false;
        }
        let ok = self.put_buffer(data);
        if ok {
            self.cold.buffers_with_events = self.cold.buffers_with_events.wrapping_add(1);
        }
        ok
    }

    /// Takes an event a put walk met at `slot` (the result of its membership lookup): marks the
    /// slot `mark` and returns the event, or counts the anomaly and returns `None` if the
    /// pointer is not one of our events or the event is in the pool already.
    #[inline]
    fn claim(
        &mut self,
        slot: Option<NonNull<EventSlot>>,
        epoch: u32,
        mark: u32,
    ) -> Option<*mut DMUS_KERNEL_EVENT> {
        let Some(slot) = slot else {
            self.cold.anomalies.foreign_events = self.cold.anomalies.foreign_events.wrapping_add(1);
            return None;
        };
        // SAFETY: `slot` is one of our event slots (lookup); we hold the lock.
        let state = unsafe { &mut (*slot.as_ptr()).state };
        if in_pool(*state) {
            let st = *state;
            self.count_refused_free(st, epoch);
            return None;
        }
        *state = mark;
        Some(event_of(slot))
    }

    /// Counts a put that met an event in the pool: its own epoch means a cycle, another a
    /// double put.
    #[cold]
    fn count_refused_free(&mut self, state: u32, epoch: u32) {
        let a = &mut self.cold.anomalies;
        if epoch_of(state) == epoch {
            a.cycles = a.cycles.wrapping_add(1);
        } else {
            a.double_puts = a.double_puts.wrapping_add(1);
        }
    }

    /// The rest of a put whose position batch is full: validates every event from `cur` on as
    /// [`put_step`](Self::put_step) does (membership, state, packages, long-event buffers, the
    /// position books), but marks them `RETURNING` instead of linking them into the free list.
    /// The chain keeps its links, package contents spliced in after their shell, and is cut
    /// after the last valid event; the caller notifies its positions after releasing the lock
    /// and then hands it over with [`Returning::push`].
    pub(crate) fn mark_returning(
        &mut self,
        mut cur: *mut DMUS_KERNEL_EVENT,
        epoch: u32,
    ) -> (Returning, bool) {
        let mut anomaly = false;
        let marked = RETURNING | epoch;
        let mut list = Returning {
            head: null_mut(),
            tail: null_mut(),
            len: 0,
        };
        while !cur.is_null() {
            let slot = self.events.lookup(cur.addr(), EVENT_OFFSET);
            let Some(e) = self.claim(slot, epoch, marked) else {
                anomaly = true;
                break;
            };
            if list.head.is_null() {
                list.head = e;
            }
            // The previous element's link already points here (it was followed to get here).
            list.tail = e;
            list.len = list.len.wrapping_add(1);
            self.recycled = self.recycled.wrapping_add(1);
            // SAFETY: `e` is an outstanding event of ours, owned by this put from here on.
            let ev = unsafe { &mut *e };
            let next = ev.pNextEvt;
            if ev.is_package() {
                // SAFETY: the package flag says the union holds the contents pointer.
                let contents = unsafe { ev.uData.pPackageEvt };
                cur = self.splice(contents, next, epoch, &mut anomaly);
                ev.pNextEvt = cur;
                continue;
            }
            let pos = ev.ullBytePosition;
            if is_notified(pos) {
                self.cold.position_notifications = self.cold.position_notifications.wrapping_add(1);
                self.count_rollover(pos);
            }
            if ev.cbEvent as usize > INLINE_DATA_BYTES && !self.put_event_buffer(ev) {
                anomaly = true;
            }
            cur = next;
        }
        if !list.tail.is_null() {
            // SAFETY: the tail is an event of ours marked above.
            unsafe { (*list.tail).pNextEvt = null_mut() };
        }
        (list, anomaly)
    }

    /// Moves the returned list (if any) to the front of the free list, marking its events free.
    /// Called by every locked call that touches the free list, before anything else.
    #[cold]
    #[inline(never)]
    pub(crate) fn drain_returned(&mut self, returned: &AtomicPtr<DMUS_KERNEL_EVENT>) {
        let head = returned.swap(null_mut(), Ordering::Acquire);
        if head.is_null() {
            return;
        }
        let mut e = head;
        loop {
            // SAFETY: the returned list holds only events of ours marked `RETURNING` (their
            // pages cannot have been trimmed); the acquire swap makes their links visible.
            let next = unsafe {
                (*slot_of(e)).state = FREE_UNTAGGED;
                (*e).pNextEvt
            };
            if next.is_null() {
                break;
            }
            e = next;
        }
        // SAFETY: `e` is the list's last event (as above).
        unsafe { (*e).pNextEvt = self.free_events };
        self.free_events = head;
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
                    self.cold.anomalies.foreign_events =
                        self.cold.anomalies.foreign_events.wrapping_add(1);
                    true
                }
                Some(slot) => {
                    // SAFETY: one of our slots, under the lock.
                    let st = unsafe { &mut (*slot.as_ptr()).state };
                    if in_pool(*st) {
                        // Already returned: by this very put (the package contains itself),
                        // or before.
                        let st = *st;
                        self.count_refused_free(st, epoch);
                        true
                    } else if *st == epoch {
                        self.cold.anomalies.cycles = self.cold.anomalies.cycles.wrapping_add(1);
                        true
                    } else {
                        *st = epoch;
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

    /// Checks the pool against the books: the free lists hold exactly the free events and
    /// buffers, each once, each a slot of ours marked free. O(pool size).
    pub(crate) fn audit(&mut self) -> bool {
        let free_events = self.total_events.wrapping_sub(self.outstanding_events());
        let mut n = 0u64;
        let mut e = self.free_events;
        while !e.is_null() {
            n = n.wrapping_add(1);
            // More entries than free events: a cycle or a stray entry.
            let Some(slot) = self
                .events
                .lookup(e.addr(), EVENT_OFFSET)
                .filter(|_| n <= free_events)
            else {
                return false;
            };
            // SAFETY: one of our slots, under the lock.
            if unsafe { (*slot.as_ptr()).state } & FREE != FREE {
                return false;
            }
            // SAFETY: a free event of ours: its link is the free list's.
            e = unsafe { (*e).pNextEvt };
        }
        if n != free_events {
            return false;
        }
        let free_buffers = self.total_buffers.wrapping_sub(self.outstanding_buffers());
        let mut n = 0u64;
        let mut b = self.free_buffers;
        while !b.is_null() {
            n = n.wrapping_add(1);
            // SAFETY: `data` of a slot pointer is an in-bounds projection, not a read.
            let data = unsafe { (&raw mut (*b).data).cast::<u8>() };
            if n > free_buffers || self.buffers.lookup(data.addr(), DATA_OFFSET).is_none() {
                return false;
            }
            // SAFETY: one of our buffer slots, under the lock.
            unsafe {
                if (*b).state != BUF_FREE {
                    return false;
                }
                b = (*b).next;
            }
        }
        n == free_buffers
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
            self.total_events = self.total_events.wrapping_sub(removed);
            self.cold.event_pages = self.cold.event_pages.wrapping_sub(event_pages);
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
            self.total_buffers = self.total_buffers.wrapping_sub(removed);
            self.cold.buffer_pages = self.cold.buffer_pages.wrapping_sub(buffer_pages);
        }
        let freed = event_pages.wrapping_add(buffer_pages);
        self.cold.trimmed_pages = self.cold.trimmed_pages.wrapping_add(freed);
        freed as usize
    }

    /// Frees everything. Pages are kept (leaked) if anything is still outstanding, so that a
    /// late writer corrupts nothing.
    pub(crate) fn destroy(&mut self) {
        if self.outstanding_events() == 0 {
            // SAFETY: no event is outstanding; the free list dies with the state.
            unsafe { self.events.free_all() };
        } else {
            self.events.forget_pages();
        }
        if self.outstanding_buffers() == 0 {
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

    /// Times the lock was taken by `GetMessage`, `PutMessage`, `GetBuffer` and `PutBuffer`:
    /// each such call takes it once and is counted once, by its own counter (A3).
    fn lock_acquisitions(&self) -> u64 {
        let c = &self.cold;
        let put_buffer_calls = self
            .buffers_returned
            .wrapping_sub(c.buffers_with_events)
            .wrapping_add(c.put_buffer_refusals);
        [
            self.gets,
            c.event_refusals,
            self.single_puts,
            self.puts,
            self.buffer_gets,
            c.buffer_refusals,
            put_buffer_calls,
        ]
        .iter()
        .fold(0u64, |a, &b| a.wrapping_add(b))
    }

    pub(crate) fn snapshot(&self) -> AllocatorStats {
        let outstanding_events = self.outstanding_events();
        let outstanding_buffers = self.outstanding_buffers();
        AllocatorStats {
            outstanding_events,
            free_events: self.total_events.wrapping_sub(outstanding_events),
            total_events: self.total_events,
            outstanding_buffers,
            free_buffers: self.total_buffers.wrapping_sub(outstanding_buffers),
            total_buffers: self.total_buffers,
            event_pages: self.cold.event_pages,
            buffer_pages: self.cold.buffer_pages,
            high_water_events: self.high_water_events,
            high_water_buffers: self.high_water_buffers,
            gets: self.gets,
            puts: self.puts.wrapping_add(self.single_puts),
            position_notifications: self.cold.position_notifications,
            position_rollover_warnings: self.cold.position_rollover_warnings,
            lock_acquisitions: self.lock_acquisitions(),
            trimmed_pages: self.cold.trimmed_pages,
            anomalies: self.cold.anomalies,
        }
    }
}

/// Events a put marked `RETURNING` ([`State::mark_returning`]), in chain order, owned by that
/// put until [`push`](Self::push) hands them to the allocator's returned list.
pub(crate) struct Returning {
    head: *mut DMUS_KERNEL_EVENT,
    tail: *mut DMUS_KERNEL_EVENT,
    /// Events in the list: the walks after the lock never go further, whatever the links say.
    len: u64,
}

impl Returning {
    /// The byte positions of the events, in chain order (package shells have none).
    ///
    /// # Safety
    /// The list came from `mark_returning` and was not pushed yet.
    pub(crate) unsafe fn positions(&self) -> impl Iterator<Item = u64> + '_ {
        let mut e = self.head;
        let mut left = self.len;
        core::iter::from_fn(move || {
            while !e.is_null() && left > 0 {
                left = left.wrapping_sub(1);
                // SAFETY: the events are ours, marked `RETURNING`, and exclusively this put's
                // until it pushes them (the caller's contract): no one else reads or writes them.
                let ev = unsafe { &*e };
                e = ev.pNextEvt;
                let pos = ev.ullBytePosition;
                if !ev.is_package() && is_notified(pos) {
                    return Some(pos);
                }
            }
            None
        })
    }

    /// Reverses the list (so the free list stays last-in first-out) and pushes it onto
    /// `returned` with one compare-exchange (retried if another push came between).
    ///
    /// # Safety
    /// As for [`positions`](Self::positions); the list is not used afterwards.
    pub(crate) unsafe fn push(self, returned: &AtomicPtr<DMUS_KERNEL_EVENT>) {
        if self.head.is_null() {
            return;
        }
        let mut prev: *mut DMUS_KERNEL_EVENT = null_mut();
        let mut e = self.head;
        let mut left = self.len;
        while !e.is_null() && left > 0 {
            left = left.wrapping_sub(1);
            // SAFETY: as for `positions`.
            unsafe {
                let next = (*e).pNextEvt;
                (*e).pNextEvt = prev;
                prev = e;
                e = next;
            }
        }
        // Reversed: `prev` (the list's tail) is now the first event, `self.head` the last.
        let first = prev;
        let mut top = returned.load(Ordering::Relaxed);
        loop {
            // SAFETY: as above; the release exchange publishes this link with the list.
            unsafe { (*self.head).pNextEvt = top };
            match returned.compare_exchange_weak(top, first, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => top = now,
            }
        }
    }
}

/// The put walk's running books, kept in registers by [`walk_plain`].
struct Walk {
    /// The free list's head as it grows.
    head: *mut DMUS_KERNEL_EVENT,
    /// Events recycled so far.
    freed: u64,
    /// The state word of an event recycled by this put.
    freed_state: u32,
}

/// The tight loop of the put walk: recycles plain events of `page` from `cur` on and returns
/// the address of the first event it does not handle (NULL at the end of the chain). A plain
/// event is an outstanding event of `page` that is short and not a package ([`is_plain`]), and
/// for which `positions` has room; everything else is left to the general step of
/// [`State::put_step`], which then resumes this loop. The returned pointer carries the page's
/// provenance whatever its address: the caller uses only the address (it looks it up again).
///
/// Per event the loop tests two conditions, each one comparison: the event's slot is in the
/// page (its distance `x` from the first slot is below `BYTES`; NULL and foreign links get
/// `usize::MAX`, so the end of the chain needs no test of its own), and the event is plain
/// ([`is_plain_slot`]: state, package flag and length folded into one number).
///
/// The walk guesses each successor: the event `stride` bytes after the current one, where
/// `stride` is the distance between the last two events (chains taken from the pool in order
/// have a constant one). The guess is compared with the link and used only when it is equal, so
/// it never changes what is walked; a miss takes the link itself, checks its slot with one
/// multiplication ([`Page::slot_distance`]) and learns the new stride ([`relearn`], out of line).
/// On a hit the next event's address and distance come from registers (two additions), so the
/// processor, which predicts the comparison, loads the next events without waiting for each
/// `pNextEvt` load: a chain walked in order costs a few operations per event instead of one
/// load latency. Both checks, too, are branches predicted along a run of plain events of one
/// page. The loop makes no call on its hot path, so its books stay in registers; it is kept out
/// of line so that it has the registers to itself (inlined into the put step, whose calls keep
/// six values in callee-saved registers, it had one of its own spilled to the stack).
#[inline(never)]
fn walk_plain<P: PositionSink>(
    page: Page<EventSlot, EVENTS_PER_PAGE>,
    cur: *mut DMUS_KERNEL_EVENT,
    walk: &mut Walk,
    positions: &mut P,
) -> *mut DMUS_KERNEL_EVENT {
    type Pg = Page<EventSlot, EVENTS_PER_PAGE>;
    let (mut head, mut freed, freed_state) = (walk.head, walk.freed, walk.freed_state);
    // `e` is `cur` with the page's provenance, dereferenced only once it is known to be an
    // event of the page.
    let mut e = page.with_provenance(cur.addr()).cast::<DMUS_KERNEL_EVENT>();
    // The distance of `e`'s slot from the page's first slot, `usize::MAX` if `e` is no event of
    // the page, and the guessed distance from one event to the next (see below).
    let mut x = page.slot_distance(cur.addr(), EVENT_OFFSET);
    let mut stride = 0usize;
    // Invariant: `x < BYTES` only if `x` is the distance of a slot of the page, and then `e` is
    // its event; `stride` is 0 or the difference of two such distances (`relearn`).
    while x < Pg::BYTES {
        let slot = e.wrapping_byte_sub(EVENT_OFFSET).cast::<EventSlot>();
        // SAFETY: `slot` is a slot of this page (the invariant), with the page's provenance; the
        // caller holds the lock.
        if !unsafe { is_plain_slot(slot) } || (P::COLLECTS && positions.is_full()) {
            break;
        }
        // SAFETY: one of our event slots, and the caller holds the lock; the event is
        // outstanding and untouched by any put (`is_plain_slot`), so from here on it is owned by
        // this put. The reference covers the event only, not the state word written below.
        let ev = unsafe { &mut *e };
        if P::COLLECTS {
            let pos = ev.ullBytePosition;
            if is_notified(pos) {
                if rolls_over(pos) {
                    // Rare: the general step counts the roll-over warning.
                    break;
                }
                positions.push(pos);
            }
        }
        // SAFETY: as above: the state word of one of our slots, under the lock.
        unsafe { (*slot).state = freed_state };
        let next = ev.pNextEvt;
        // Recycle: only the link is written; the event is reset when handed out again (A1).
        ev.pNextEvt = head;
        head = e;
        freed = freed.wrapping_add(1);
        // The successor is guessed as the event `stride` bytes on, and the guess is used only
        // when it is the link: the next event's loads then wait for no load (see above).
        let guess = e.wrapping_byte_add(stride);
        if guess.addr() == next.addr() {
            // Keeps the invariant: `x` and `stride` are whole numbers of slots, so the sum
            // names a slot when below `BYTES` (a negative sum wraps above it).
            e = guess;
            x = x.wrapping_add(stride);
        } else {
            (e, x, stride) = relearn(page, x, next);
        }
    }
    walk.head = head;
    walk.freed = freed;
    e
}

/// The successor of `e` when the guess of [`walk_plain`] missed: the link `next` with the
/// page's provenance, and the distance from `e` to it, the new stride. Out of line and cold, so
/// that the compiler keeps the guess a branch (a conditional move would make the next event's
/// address wait for the link's load again).
#[cold]
#[inline(never)]
fn relearn(
    page: Page<EventSlot, EVENTS_PER_PAGE>,
    x: usize,
    next: *mut DMUS_KERNEL_EVENT,
) -> (*mut DMUS_KERNEL_EVENT, usize, usize) {
    let next_x = page.slot_distance(next.addr(), EVENT_OFFSET);
    (
        page.with_provenance(next.addr()).cast(),
        next_x,
        next_x.wrapping_sub(x),
    )
}

/// Whether a put may recycle the event `ev` with slot state `state` without the general step
/// (the tight loop, the single-event put): it is handed out and untouched by any put (state 0,
/// as `GetMessage` leaves it), not a package, and holds no buffer. One comparison (the three
/// conditions folded into one integer, [`plain_fold`]), so the loop has one branch for them
/// instead of three. (Events a put has marked with its epoch, package contents waiting to be
/// walked, are outstanding too, but take the general step.)
#[inline(always)]
fn is_plain(state: u32, ev: &DMUS_KERNEL_EVENT) -> bool {
    plain_fold(u64::from(state) << 32, event_head(ev))
}

/// [`is_plain`] of the event in `slot`, from two loads: the slot's first 8 bytes (the padding,
/// always 0, then the state word, so the state lands in the upper half of the little-endian
/// number as [`plain_fold`] wants it, with no shift) and the event's first 8 bytes.
///
/// # Safety
/// `slot` is one of our event slots (initialised), and the caller holds the lock.
#[inline(always)]
unsafe fn is_plain_slot(slot: *mut EventSlot) -> bool {
    // SAFETY: the caller's contract; the slot's first 8 bytes are `_pad` and `state` (the
    // assertions beside `HANDED_OUT_HEAD`), read as bytes (no alignment needed).
    let word = u64::from_le_bytes(unsafe { slot.cast::<[u8; 8]>().read() });
    // SAFETY: as above; the event lies inside the slot.
    plain_fold(word, event_head(unsafe { &(*slot).event }))
}

/// An event's first 8 bytes as one little-endian number.
#[inline(always)]
fn event_head(ev: &DMUS_KERNEL_EVENT) -> u64 {
    // SAFETY: the event's first 8 bytes are five initialised fields without padding (the
    // assertions beside `HANDED_OUT_HEAD`); one load on little-endian targets.
    u64::from_le_bytes(unsafe { (&raw const *ev).cast::<[u8; 8]>().read() })
}

/// The folded check: an event's first 8 bytes (`head`) are masked down to its length and
/// package flag, the slot's state (in the upper half of `slot_word`, the lower half 0) is or'ed
/// in above them, and a nonzero state or the package flag lifts the result above every inline
/// length.
#[inline(always)]
fn plain_fold(slot_word: u64, head: u64) -> bool {
    (head & PLAIN_MASK | slot_word) <= PLAIN_LIMIT
}

/// Where `cbEvent` and `usFlags` sit in the little-endian number [`event_head`] reads an
/// event's first 8 bytes as.
const CB_EVENT_SHIFT: u32 = 8 * offset_of!(DMUS_KERNEL_EVENT, cbEvent) as u32;
const FLAGS_SHIFT: u32 = 8 * offset_of!(DMUS_KERNEL_EVENT, usFlags) as u32;
/// The length and the package flag of that number.
const PLAIN_MASK: u64 =
    (0xFFFF << CB_EVENT_SHIFT) | ((DMUS_KEF_PACKAGE_EVENT as u64) << FLAGS_SHIFT);
/// The largest masked number of a plain event: the longest inline length, nothing else.
const PLAIN_LIMIT: u64 = (INLINE_DATA_BYTES as u64) << CB_EVENT_SHIFT;
// The package flag and any state bit (shifted up by 32) are each above every masked length.
const _: () = {
    assert!(FLAGS_SHIFT >= CB_EVENT_SHIFT + 16);
    assert!(1u64 << 32 > PLAIN_LIMIT);
    assert!((DMUS_KEF_PACKAGE_EVENT as u64) << FLAGS_SHIFT > 0xFFFF << CB_EVENT_SHIFT);
};

fn event_page_all_free(page: NonNull<EventSlot>) -> bool {
    (0..EVENTS_PER_PAGE).all(|i| {
        // SAFETY: `i < EVENTS_PER_PAGE`: an initialised slot of a live page.
        unsafe { (*page.as_ptr().add(i)).state & FREE == FREE }
    })
}

impl Drop for State {
    fn drop(&mut self) {
        self.destroy();
    }
}

#[cfg(all(test, not(loom)))]
mod is_plain_tests {
    use super::*;

    /// The folded comparison agrees with the three conditions it replaces (state 0, not a
    /// package, inline length), for every length, the state words a put can meet, and flag
    /// words with and without the package bit.
    #[test]
    fn is_plain_is_the_three_conditions() {
        let states = [
            0,
            FREE,
            RETURNING,
            RETURNING | FREE,
            1,
            7,
            7 | FREE,
            EPOCH_MASK,
            EPOCH_MASK | RETURNING,
            u32::MAX,
        ];
        let flags = [
            0,
            DMUS_KEF_PACKAGE_EVENT,
            0x0001,
            !DMUS_KEF_PACKAGE_EVENT,
            0xFFFF,
        ];
        let check = |cb: u16| {
            for &state in &states {
                for &f in &flags {
                    let ev = DMUS_KERNEL_EVENT {
                        cbEvent: cb,
                        usFlags: f,
                        ..DMUS_KERNEL_EVENT::FRESH
                    };
                    let expected =
                        state == 0 && !ev.is_package() && usize::from(cb) <= INLINE_DATA_BYTES;
                    assert_eq!(
                        is_plain(state, &ev),
                        expected,
                        "cb {cb} state {state:#x} flags {f:#x}"
                    );
                    // The walk's form reads the same from a slot.
                    let mut slot = EventSlot {
                        _pad: 0,
                        state,
                        event: ev,
                    };
                    assert_eq!(
                        // SAFETY: an initialised slot, exclusively this test's.
                        unsafe { is_plain_slot(&mut slot) },
                        expected,
                        "slot: cb {cb} state {state:#x} flags {f:#x}"
                    );
                }
            }
        };
        // Only the test's size depends on Miri (every length takes minutes there): the
        // lengths around the inline limit and the bit boundaries.
        if cfg!(miri) {
            [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 240, 0x7FFF, 0x8000, 0xFFFF]
                .into_iter()
                .for_each(check);
        } else {
            (0..=u16::MAX).for_each(check);
        }
    }
}
