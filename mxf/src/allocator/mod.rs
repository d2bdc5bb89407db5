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
//! once per call; only a chain carrying more than 64 byte positions to notify is processed in
//! several locked steps, because notifications are made with the lock released (the pin's
//! `PositionNotify` completes IRPs and may call back). Each event costs 8 bytes of bookkeeping
//! beside its 40 (64-bit) or 32 (32-bit) bytes.

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
use crate::platform::SpinLock;
use state::State;

/// The allocator object. Create it with [`create_allocator`] or [`AllocatorHandle::new`].
#[crate::com_object(IAllocatorMXF, qi_failure = STATUS_INVALID_PARAMETER_1, tag = "MXFa")]
pub struct Allocator {
    state: SpinLock<State>,
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
            notify,
        })
    }

    /// `PutMessage` without the COM call.
    fn put(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        let mut cur = head;
        let mut anomaly = false;
        let Some(notify) = &self.notify else {
            // No notification target: one locked step handles any chain.
            let mut st = self.state.lock();
            st.stats.lock_acquisitions = st.stats.lock_acquisitions.wrapping_add(1);
            let epoch = st.begin_put();
            return State::status_of(st.put_step(cur, epoch, None).anomaly);
        };
        let mut positions = state::Positions::new();
        let mut epoch = None;
        loop {
            let step = {
                let mut st = self.state.lock();
                st.stats.lock_acquisitions = st.stats.lock_acquisitions.wrapping_add(1);
                let ep = match epoch {
                    Some(e) => e,
                    None => *epoch.insert(st.begin_put()),
                };
                let step = st.put_step(cur, ep, Some(&mut positions));
                st.stats.position_notifications = st
                    .stats
                    .position_notifications
                    .wrapping_add(positions.len() as u64);
                step
            };
            anomaly |= step.anomaly;
            for p in positions.drain() {
                // SAFETY: `notify` is a live IPositionNotify we hold a reference to.
                unsafe { notify.PositionNotify(p) };
            }
            if step.rest.is_null() {
                break;
            }
            cur = step.rest;
        }
        State::status_of(anomaly)
    }
}

impl IMXF_Impl for Allocator {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        self.put(event)
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

impl IAllocatorMXF_Impl for Allocator {
    fn GetMessage(&self, event: *mut *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if event.is_null() || !event.is_aligned() {
            return STATUS_INVALID_PARAMETER;
        }
        let r = {
            let mut st = self.state.lock();
            st.stats.lock_acquisitions = st.stats.lock_acquisitions.wrapping_add(1);
            st.get_event()
        };
        let (p, s) = match r {
            Ok(e) => (e.as_ptr(), STATUS_SUCCESS),
            Err(s) => (core::ptr::null_mut(), s),
        };
        // SAFETY: non-NULL, aligned out-pointer from the caller.
        unsafe { event.write(p) };
        s
    }

    fn GetBufferSize(&self) -> u16 {
        BUFFER_SIZE as u16
    }

    fn GetBuffer(&self, buffer: *mut *mut u8) -> NTSTATUS {
        if buffer.is_null() || !buffer.is_aligned() {
            return STATUS_INVALID_PARAMETER;
        }
        let (r, compat) = {
            let mut st = self.state.lock();
            st.stats.lock_acquisitions = st.stats.lock_acquisitions.wrapping_add(1);
            (st.get_buffer(), st.get_buffer_failure)
        };
        let (p, s) = match r {
            Ok(b) => (b.as_ptr(), STATUS_SUCCESS),
            Err(_) if compat == GetBufferFailure::BugCompatible => {
                (core::ptr::null_mut(), STATUS_SUCCESS)
            }
            Err(s) => (core::ptr::null_mut(), s),
        };
        // SAFETY: non-NULL, aligned out-pointer from the caller.
        unsafe { buffer.write(p) };
        s
    }

    fn PutBuffer(&self, buffer: *mut u8) -> NTSTATUS {
        if buffer.is_null() {
            return STATUS_UNSUCCESSFUL;
        }
        let mut st = self.state.lock();
        st.stats.lock_acquisitions = st.stats.lock_acquisitions.wrapping_add(1);
        if st.put_buffer(buffer) {
            STATUS_SUCCESS
        } else {
            STATUS_INVALID_PARAMETER
        }
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

    /// Frees every page whose events (or buffers) are all in the pool; returns how many.
    /// Takes the lock for a time proportional to the pool size: call it from a maintenance path,
    /// not per event.
    pub fn trim(&self) -> usize {
        self.value().state.lock().trim()
    }
}

/// Creates an allocator and returns its `IAllocatorMXF`.
pub fn create_allocator(
    config: AllocatorConfig,
    notify: Option<IPositionNotify>,
) -> Result<IAllocatorMXF> {
    AllocatorHandle::new(config, notify).map(AllocatorHandle::into_interface)
}
