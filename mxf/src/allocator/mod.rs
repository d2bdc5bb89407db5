//! The built-in event allocator: `IAllocatorMXF`, compatible with Microsoft's `CAllocatorMXF`
//! wherever a caller can notice (`domain.md` §3, §6 items 1–26), and hardened.
//!
//! # Compatible behaviour
//! * Starts empty; the first `GetMessage` allocates one page of `PAGE_SIZE / sizeof(event)`
//!   events ([`EVENTS_PER_PAGE`]: 102 on 64-bit, 128 on 32-bit).
//! * `GetMessage` hands out events in the fresh state: all zero except `cbStruct = sizeof` and
//!   `ullBytePosition = kBytePositionNone`. The free list is LIFO.
//! * `PutMessage` recycles whole chains and packages (shell first, then the contents), resets
//!   every event whatever the caller left in it, frees `uData.pbData` iff
//!   `cbEvent > sizeof(PBYTE)`, and calls `IPositionNotify::PositionNotify` once per non-package
//!   event whose byte position is neither 0 nor `kBytePositionNone`, in chain order, before it
//!   returns. `PutMessage(NULL)` succeeds and does nothing.
//! * `GetBufferSize` is 240 on every architecture; `PutBuffer(NULL)` is `STATUS_UNSUCCESSFUL`.
//! * `SetState`, `ConnectOutput`, `DisconnectOutput`: `STATUS_NOT_IMPLEMENTED`. QueryInterface
//!   answers IUnknown, IMXF and IAllocatorMXF, and `STATUS_INVALID_PARAMETER_1` otherwise.
//! * The pool never shrinks by itself.
//!
//! # Deliberate deviations (all documented statuses)
//! * `GetBuffer` that cannot allocate returns `STATUS_INSUFFICIENT_RESOURCES` (and NULL), unless
//!   [`GetBufferFailure::BugCompatible`] is configured (item 21).
//! * Misuse is detected, counted in [`Anomalies`] and refused instead of corrupting the pool:
//!   a double put, a pointer this allocator never handed out, a cyclic chain, a long event whose
//!   buffer is not ours, `PutBuffer` of a foreign or already-returned buffer. `PutMessage` then
//!   returns `STATUS_INVALID_PARAMETER` after recycling every valid event it could reach; a chain
//!   is not followed past a rejected element (its link cannot be trusted). `PutBuffer` returns
//!   `STATUS_INVALID_PARAMETER`.
//! * Optional bound ([`AllocatorConfig::max_events`]), optional pre-fill, and explicit trimming
//!   of fully free pages ([`AllocatorHandle::trim`]).
//! * If events or buffers are still outstanding when the allocator is destroyed, their pages are
//!   leaked instead of freed, so late writers corrupt nothing.
//!
//! # Cost
//! `PutMessage` uses no recursion (package contents are spliced into the walk) and takes the lock
//! exactly once per call, whatever the chain: byte positions are notified with the lock released
//! (the pin's `PositionNotify` completes IRPs and may call back), from a batch of 64 collected
//! while recycling and, past that, from the rest of the chain, which the same lock hold validates
//! and marks and which then reaches the free list through a lock-free returned list (see
//! `state.rs`). The locked sections of `GetMessage` and `GetBuffer` are a pop, a state word and
//! a counter; a single short event is returned without the walk.
//!
//! The slow paths are out of line and reached by a tail jump, so the fast paths keep no stack
//! frame (see the `extern "C"` block of slow paths). Each event costs 8 bytes of bookkeeping
//! beside its 40 (64-bit) or 32 (32-bit) bytes. Measured figures: `docs/allocator.md`.
//!
//! # Use
//!
//! The port creates one allocator per pin and hands it to `NewStream`; every MXF of the pin gets
//! events from it and returns them to it. In tests, and for a component of one's own, an
//! [`AllocatorHandle`] is the allocator with its books at hand:
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle, EVENTS_PER_PAGE};
//! use mxf::prelude::*;
//!
//! // A bounded allocator: at most two events out at once.
//! let config = AllocatorConfig { max_events: Some(2), ..AllocatorConfig::default() };
//! let alloc = AllocatorHandle::new(config, None)?;
//!
//! let note = Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?;
//! // Nine bytes do not fit inline: they live in one of the allocator's buffers.
//! let xg_reset = [0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7];
//! let sysex = Event::with_bytes(&alloc, &xg_reset, 1, 0)?;
//! assert!(Event::new(&alloc).is_none()); // the bound: GetMessage refuses a third
//!
//! let s = alloc.stats();
//! assert_eq!((s.outstanding_events, s.outstanding_buffers), (2, 1));
//! assert_eq!(s.anomalies.bound_refusals, 1);
//!
//! drop((note, sysex)); // an event that is dropped goes back, with its buffer
//! let s = alloc.stats();
//! assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
//! assert_eq!(s.total_events, EVENTS_PER_PAGE as u64); // one page, grown on first use
//! assert!(alloc.audit());
//!
//! // What a C caller sees: the IAllocatorMXF vtable.
//! let mut raw = core::ptr::null_mut();
//! // SAFETY: `raw` is a valid out-pointer.
//! assert_eq!(unsafe { alloc.GetMessage(&mut raw) }, STATUS_SUCCESS);
//! // SAFETY: `raw` is an event of this allocator, returned once.
//! assert_eq!(unsafe { alloc.PutMessage(raw) }, STATUS_SUCCESS);
//! // A second put of the same event is refused and counted, never corrupting the pool.
//! // SAFETY: `raw` is in the pool now: the allocator reads its own slot, nothing else.
//! assert_eq!(unsafe { alloc.PutMessage(raw) }, STATUS_INVALID_PARAMETER);
//! assert_eq!(alloc.stats().anomalies.double_puts, 1);
//! # Ok::<(), NTSTATUS>(())
//! ```
//!
//! Inside a driver the allocator comes from the port as an [`IAllocatorMXF`]; [`create_allocator`]
//! makes one for a port of one's own.

mod config;
mod slab;
mod state;
mod stats;

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;

pub use config::{AllocatorConfig, GetBufferFailure};
pub use state::{BUFFER_SIZE, BUFFERS_PER_PAGE, EVENTS_PER_PAGE};
pub use stats::{AllocatorStats, Anomalies};

use crate::abi::{
    DMUS_KERNEL_EVENT, KSSTATE, NTSTATUS, Result, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER_1, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
};
use crate::com::{ComRef, ObjectHandle, ObjectImpl};
use crate::interfaces::{IAllocatorMXF, IAllocatorMXF_Impl, IMXF, IMXF_Impl, IPositionNotify};
use crate::platform::atomic::{AtomicPtr, Ordering};
use crate::platform::{SpinLock, SpinLockGuard};
use core::ptr::NonNull;
use state::State;

/// The allocator object. Create it with [`create_allocator`] or [`AllocatorHandle::new`].
#[crate::com_object(IAllocatorMXF, qi_failure = STATUS_INVALID_PARAMETER_1, tag = "MXFa")]
pub struct Allocator {
    state: SpinLock<State>,
    /// Events of large positioned puts on their way into the free list (see `state`'s
    /// "One lock acquisition per put"); moved into it by the next locked call. Always empty
    /// without a notification target (only `put_notifying` pushes onto it), so the put without
    /// one does not test it.
    returned: AtomicPtr<DMUS_KERNEL_EVENT>,
    notify: Option<IPositionNotify>,
}

impl Allocator {
    fn new(config: &AllocatorConfig, notify: Option<IPositionNotify>) -> Result<Self> {
        let mut state = State::new(config);
        let mut filled = 0u64;
        while filled < u64::from(config.prefill_events) {
            if !state.grow_events() {
                return Err(STATUS_INSUFFICIENT_RESOURCES);
            }
            filled = filled.wrapping_add(EVENTS_PER_PAGE as u64);
        }
        Ok(Self {
            state: SpinLock::new(state),
            returned: AtomicPtr::new(core::ptr::null_mut()),
            notify,
        })
    }

    /// Takes the lock, first moving a returned list into the free list.
    fn lock(&self) -> SpinLockGuard<'_, State> {
        let mut st = self.state.lock();
        self.drain(&mut st);
        st
    }

    /// Moves a returned list (if any) into the free list; the lock is held. The fast paths only
    /// test [`has_returned`](Self::has_returned) and leave the work to their slow paths, so that
    /// they make no call.
    fn drain(&self, st: &mut State) {
        if self.has_returned() {
            st.drain_returned(&self.returned);
        }
    }

    #[inline(always)]
    fn has_returned(&self) -> bool {
        !self.returned.load(Ordering::Relaxed).is_null()
    }

    /// `PutMessage` without the COM call.
    #[inline]
    fn put(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        if let Some(notify) = &self.notify {
            return self.put_notifying(head, notify);
        }
        // No notification target: one locked step handles any chain, and the returned list is
        // empty (only `put_notifying` fills it).
        let Some(mut st) = self.state.try_lock() else {
            return self.put_waiting(head);
        };
        if st.put_one::<false>(head).is_some() {
            return STATUS_SUCCESS;
        }
        self.put_rest(st, head)
    }
}

/// Whether an out-pointer argument can be written: not NULL and aligned for a pointer. One
/// comparison: rotated right by the alignment bits, an aligned address becomes a number below
/// `usize::MAX >> bits` (a misaligned one has a top bit set), and NULL becomes 0, which the
/// subtraction turns into `usize::MAX`.
#[inline(always)]
fn is_usable_out<T>(p: *mut *mut T) -> bool {
    const BITS: u32 = align_of::<*mut ()>().trailing_zeros();
    p.addr().rotate_right(BITS).wrapping_sub(1) < usize::MAX >> BITS
}

/// Resets an event just taken off the free list and hands it to the caller of `GetMessage`.
#[inline]
fn hand_out(e: NonNull<DMUS_KERNEL_EVENT>, out: *mut *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
    // SAFETY: the event was taken off the free list under the lock and marked handed out: it is
    // exclusively ours until the caller receives it. Its reset is finished here, whatever its
    // last owner left in it. `out` is a non-NULL, aligned out-pointer from the caller (checked).
    unsafe {
        state::finish_fresh(e);
        out.write(e.as_ptr());
    }
    STATUS_SUCCESS
}

/// The slow paths of `PutMessage`, `GetMessage`, `GetBuffer` and `PutBuffer`, out of line (the
/// `_waiting` ones are taken when the lock is held by someone else). They are
/// `extern "C"` only so that the compiler knows no unwind can leave them (one would abort, as it
/// would leaving the vtable entry points): the fast paths then reach them by a tail jump and need
/// no stack frame of their own, in unwinding builds too (with `panic = "abort"`, as in the
/// kernel, nothing unwinds anyway). They are called from Rust only, so the guard they take by
/// value needs no C layout.
#[expect(
    improper_ctypes_definitions,
    reason = "Rust-to-Rust only: `extern \"C\"` marks them as not unwinding"
)]
impl Allocator {
    /// The rest of a put without a notification target: chains, packages, long events, misuse.
    #[inline(never)]
    extern "C" fn put_rest(
        &self,
        mut st: SpinLockGuard<'_, State>,
        head: *mut DMUS_KERNEL_EVENT,
    ) -> NTSTATUS {
        // Nothing to drain: without a notification target the returned list stays empty.
        st.count_put();
        let epoch = st.epoch();
        State::status_of(st.put_step(head, epoch, &mut ()).anomaly)
    }

    /// A put with a notification target: byte positions are collected under the lock and
    /// notified, in chain order, after it is released.
    #[inline(never)]
    extern "C" fn put_notifying(
        &self,
        head: *mut DMUS_KERNEL_EVENT,
        notify: &IPositionNotify,
    ) -> NTSTATUS {
        let mut st = self.lock();
        if let Some(pos) = st.put_one::<true>(head) {
            let notified = state::is_notified(pos);
            if notified {
                st.cold.position_notifications = st.cold.position_notifications.wrapping_add(1);
            }
            drop(st);
            if notified {
                notify.PositionNotify(pos);
            }
            return STATUS_SUCCESS;
        }
        st.count_put();
        let epoch = st.epoch();
        let mut positions = state::Positions::new();
        let step = st.put_step(head, epoch, &mut positions);
        st.cold.position_notifications = st
            .cold
            .position_notifications
            .wrapping_add(positions.len() as u64);
        let mut anomaly = step.anomaly;
        // More positions than one batch: the rest is validated in this same lock hold.
        let rest = if step.rest.is_null() {
            None
        } else {
            let (list, bad) = st.mark_returning(step.rest, epoch);
            anomaly |= bad;
            Some(list)
        };
        drop(st);
        for p in positions.drain() {
            notify.PositionNotify(p);
        }
        if let Some(list) = rest {
            // SAFETY: the list came from `mark_returning` and is this put's until pushed.
            for p in unsafe { list.positions() } {
                notify.PositionNotify(p);
            }
            // SAFETY: as above; not used afterwards.
            unsafe { list.push(&self.returned) };
        }
        State::status_of(anomaly)
    }

    /// `PutMessage` when the lock was held: waits for it, then takes the general path.
    #[cold]
    #[inline(never)]
    extern "C" fn put_waiting(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        let st = self.state.lock();
        self.put_rest(st, head)
    }

    /// `GetMessage` when the lock was held: waits for it, then takes the slow path.
    #[cold]
    #[inline(never)]
    extern "C" fn get_message_waiting(&self, out: *mut *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        let st = self.state.lock();
        self.get_message_slow(st, out)
    }

    /// `GetBuffer` when the lock was held: waits for it, then takes the slow path.
    #[cold]
    #[inline(never)]
    extern "C" fn get_buffer_waiting(&self, out: *mut *mut u8) -> NTSTATUS {
        let st = self.state.lock();
        Self::get_buffer_slow(st, out)
    }

    /// `PutBuffer` when the lock was held.
    #[cold]
    #[inline(never)]
    extern "C" fn put_buffer_waiting(&self, buffer: *mut u8) -> NTSTATUS {
        Self::put_buffer_rest(self.state.lock(), buffer)
    }

    /// `PutBuffer` when the hinted page does not hold an outstanding buffer at that address:
    /// another page, or misuse (counted and refused).
    #[cold]
    #[inline(never)]
    extern "C" fn put_buffer_rest(mut st: SpinLockGuard<'_, State>, buffer: *mut u8) -> NTSTATUS {
        if st.put_buffer_slow(buffer) {
            STATUS_SUCCESS
        } else {
            st.cold.put_buffer_refusals = st.cold.put_buffer_refusals.wrapping_add(1);
            STATUS_INVALID_PARAMETER
        }
    }

    /// `GetMessage` when the fast path declined: a returned list to move first, an empty free
    /// list, or the bound.
    #[cold]
    #[inline(never)]
    extern "C" fn get_message_slow(
        &self,
        mut st: SpinLockGuard<'_, State>,
        out: *mut *mut DMUS_KERNEL_EVENT,
    ) -> NTSTATUS {
        self.drain(&mut st);
        let r = st.get_event_slow();
        drop(st);
        match r {
            Ok(e) => hand_out(e, out),
            Err(s) => {
                // SAFETY: non-NULL, aligned out-pointer from the caller (checked).
                unsafe { out.write(core::ptr::null_mut()) };
                s
            }
        }
    }

    /// `GetBuffer` when the free list is empty or the bound is reached.
    #[cold]
    #[inline(never)]
    extern "C" fn get_buffer_slow(mut st: SpinLockGuard<'_, State>, out: *mut *mut u8) -> NTSTATUS {
        let r = st.get_buffer_slow();
        let compat = st.get_buffer_failure;
        drop(st);
        let (p, s) = match r {
            Ok(b) => (b.as_ptr(), STATUS_SUCCESS),
            Err(_) if compat == GetBufferFailure::BugCompatible => {
                (core::ptr::null_mut(), STATUS_SUCCESS)
            }
            Err(s) => (core::ptr::null_mut(), s),
        };
        // SAFETY: non-NULL, aligned out-pointer from the caller (checked).
        unsafe { out.write(p) };
        s
    }
}

impl IMXF_Impl for Allocator {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    #[inline]
    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        self.put(event)
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

// SAFETY: GetBufferSize is the constant size of every buffer GetBuffer hands out, and GetMessage
// hands out fresh events of this allocator, each to one owner (tested against domain.md §6).
unsafe impl IAllocatorMXF_Impl for Allocator {
    #[inline]
    unsafe fn GetMessage(&self, event: *mut *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if !is_usable_out(event) {
            return STATUS_INVALID_PARAMETER;
        }
        let Some(mut st) = self.state.try_lock() else {
            return self.get_message_waiting(event);
        };
        if !self.has_returned()
            && let Some(e) = st.pop_event()
        {
            drop(st);
            return hand_out(e, event);
        }
        self.get_message_slow(st, event)
    }

    fn GetBufferSize(&self) -> u16 {
        BUFFER_SIZE as u16
    }

    #[inline]
    unsafe fn GetBuffer(&self, buffer: *mut *mut u8) -> NTSTATUS {
        if !is_usable_out(buffer) {
            return STATUS_INVALID_PARAMETER;
        }
        let Some(mut st) = self.state.try_lock() else {
            return self.get_buffer_waiting(buffer);
        };
        match st.pop_buffer() {
            Some(b) => {
                drop(st);
                // SAFETY: non-NULL, aligned out-pointer from the caller (checked).
                unsafe { buffer.write(b.as_ptr()) };
                STATUS_SUCCESS
            }
            None => Self::get_buffer_slow(st, buffer),
        }
    }

    #[inline]
    unsafe fn PutBuffer(&self, buffer: *mut u8) -> NTSTATUS {
        if buffer.is_null() {
            return STATUS_UNSUCCESSFUL;
        }
        let Some(mut st) = self.state.try_lock() else {
            return self.put_buffer_waiting(buffer);
        };
        if st.put_buffer_hinted(buffer) {
            return STATUS_SUCCESS;
        }
        Self::put_buffer_rest(st, buffer)
    }
}

/// An owned `IAllocatorMXF` created by this crate, with access to the allocator's statistics and
/// maintenance functions. Derefs to [`IAllocatorMXF`].
pub type AllocatorHandle = ObjectHandle<Allocator, IAllocatorMXF>;

impl ObjectHandle<Allocator, IAllocatorMXF> {
    /// Creates an allocator. `notify` (the render pin) receives byte positions of returned events.
    pub fn new(config: AllocatorConfig, notify: Option<IPositionNotify>) -> Result<Self> {
        let value = Allocator::new(&config, notify)?;
        Self::create_in(value, config.pool, <Allocator as ObjectImpl>::POOL_TAG)
    }

    /// A snapshot of the books.
    pub fn stats(&self) -> AllocatorStats {
        self.value().state.lock().snapshot()
    }

    /// Checks the pool against its books: `true` if the free lists hold exactly the free events
    /// and buffers, each once, each one of this allocator's and marked free. For tests and
    /// diagnostics: it takes the lock for a time proportional to the pool size. Called from a
    /// `PositionNotify` of a put with more than 64 positioned events it reports `false`: the
    /// events past the first 64 are in transit then (marked returning, pushed after their
    /// notifications), and the books count them as returned.
    pub fn audit(&self) -> bool {
        self.value().lock().audit()
    }

    /// Frees every page whose events (or buffers) are all in the pool; returns how many.
    /// Takes the lock for a time proportional to the pool size: call it from a maintenance path,
    /// not per event.
    pub fn trim(&self) -> usize {
        self.value().lock().trim()
    }
}

/// Creates an allocator and returns its `IAllocatorMXF`.
pub fn create_allocator(
    config: AllocatorConfig,
    notify: Option<IPositionNotify>,
) -> Result<IAllocatorMXF> {
    AllocatorHandle::new(config, notify).map(AllocatorHandle::into_interface)
}
