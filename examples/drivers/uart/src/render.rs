//! The render stream: events in, bytes out to the MPU-401, used events back to the allocator.

use crate::shared::StreamSlot;
use crate::{MAX_ZERO_WRITES, RETRY_DELAY};
use mxf::com::SelfRef;
use mxf::com::{ComObject, ComRef, Interface, IntoComObject, ObjectImpl};
use mxf::platform::SpinLock;
use mxf::prelude::*;

/// The render stream (`IMXF`), with `IServiceSink` for its retry timer.
#[com_object(IMXF, IServiceSink, tag = "MPUr")]
pub struct RenderStream {
    queue: SpinLock<RenderQueue>,
    /// The allocator of the pin, AddRef'd: every event ends up there.
    alloc: IAllocatorMXF,
    /// The master clock: the time stamped on written bytes and the retry deadlines.
    clock: IMasterClock,
    /// This stream's `IServiceSink`, without a reference: the retry timer takes one.
    this: SelfRef<IServiceSink>,
    /// Counted in the miniport's render streams until this stream is destroyed; keeps the
    /// miniport (and its interrupt connection) alive while the stream exists.
    slot: StreamSlot,
}

/// The events waiting to be written, and where the writing stands.
struct RenderQueue {
    events: EventQueue,
    /// Bytes of the first queued event already written.
    offset: usize,
    /// Consecutive attempts in which the device took no byte.
    zero_writes: u32,
    state: KSSTATE,
}

impl RenderStream {
    /// Creates a render stream in KSSTATE_STOP.
    pub(crate) fn create(
        slot: StreamSlot,
        alloc: IAllocatorMXF,
        clock: IMasterClock,
        pool: POOL_TYPE,
    ) -> mxf::abi::Result<IMXF> {
        let stream: IMXF = Self {
            queue: SpinLock::new(RenderQueue {
                events: EventQueue::new(),
                offset: 0,
                zero_writes: 0,
                state: KSSTATE_STOP,
            }),
            alloc,
            clock,
            this: SelfRef::new(),
            slot,
        }
        .into_com_in(pool, <Self as ObjectImpl>::POOL_TAG)?;
        // SAFETY: `stream` is chain 0 (IMXF) of the `ComObject<RenderStream>` just created.
        let me = unsafe { ComObject::<Self>::value_of::<0>(stream.as_raw()) };
        let sink: IServiceSink = stream.cast()?;
        // SAFETY: `sink` is this stream's own IServiceSink (cast from its IMXF).
        unsafe { me.this.set(&sink) };
        Ok(stream)
    }

    /// Master-clock "now" (0 if the clock fails).
    fn now(&self) -> i64 {
        let mut t = 0;
        // SAFETY: live clock; `t` is a valid out-pointer.
        let status = unsafe { self.clock.GetTime(&mut t) };
        if status.is_success() { t } else { 0 }
    }

    /// Writes what can be written (only in RUN); returns the written events to the allocator
    /// in one `PutMessage`; arms the retry timer after a partial write.
    fn service(&self) {
        let now = self.now();
        let mut done = Chain::new(&self.alloc);
        let retry = self
            .queue
            .lock()
            .write(&self.slot, now, &self.alloc, &mut done);
        if retry {
            // SAFETY: called from a method of this stream, whose caller holds a reference.
            if let Some(sink) = unsafe { self.this.get() } {
                self.slot
                    .shared()
                    .mpu
                    .set_timer(now.saturating_add(RETRY_DELAY), sink);
            }
        }
        // Completes the render IRPs up to these events' byte positions.
        done.deliver(None);
    }

    /// Cancels a pending retry timer.
    fn cancel_retry(&self) {
        // SAFETY: called from a method of this stream, whose caller holds a reference.
        if let Some(sink) = unsafe { self.this.get() } {
            self.slot.shared().mpu.cancel_timer(&sink);
        }
    }
}

impl RenderQueue {
    /// The write loop. Writes queued events in order while the stream is in RUN; a fully
    /// written event moves to `done`. Returns true if the device took only part of an event
    /// (retry later).
    fn write<'a>(
        &mut self,
        slot: &StreamSlot,
        now: i64,
        alloc: &'a IAllocatorMXF,
        done: &mut Chain<'a>,
    ) -> bool {
        while self.state == KSSTATE_RUN {
            let Some(event) = self.events.pop_front(alloc) else {
                return false;
            };
            let rest = event.data().get(self.offset..).unwrap_or(&[]);
            let accepted = if rest.is_empty() {
                0
            } else {
                slot.shared().mpu.write_data(rest, now)
            };
            if accepted >= rest.len() {
                self.offset = 0;
                self.zero_writes = 0;
                done.push_back(event);
                continue;
            }
            // The device is busy: keep the position, try again later.
            self.offset = self.offset.saturating_add(accepted);
            if accepted == 0 {
                self.zero_writes = self.zero_writes.saturating_add(1);
            } else {
                self.zero_writes = 0;
            }
            if self.zero_writes >= MAX_ZERO_WRITES {
                // A device that takes nothing for this long has failed: drop the event
                // (STATUS_IO_DEVICE_ERROR in DMusUART) and go on with the next one.
                self.offset = 0;
                self.zero_writes = 0;
                done.push_back(event);
                continue;
            }
            self.events.push_front(event);
            return true;
        }
        false
    }
}

impl IMXF_Impl for RenderStream {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        if state == KSSTATE_RUN && !self.slot.shared().mpu_ready() {
            return STATUS_INVALID_DEVICE_STATE;
        }
        let discarded = {
            let mut q = self.queue.lock();
            q.state = state;
            if state == KSSTATE_STOP {
                q.offset = 0;
                q.zero_writes = 0;
                Some(q.events.take_all(&self.alloc))
            } else {
                None
            }
        };
        if let Some(events) = discarded {
            // STOP: everything held goes back to the allocator (the port completes the IRPs).
            self.cancel_retry();
            events.deliver(None);
        } else if state == KSSTATE_RUN {
            // Held data plays now.
            self.service();
        }
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if !event.is_null() {
            if check_event_ptr(event).is_err() {
                return STATUS_INVALID_PARAMETER;
            }
            // SAFETY: the caller hands over a chain of live events of this pin's allocator.
            let mut flat = unsafe { Chain::from_raw(event, &self.alloc) };
            // Packages are unwrapped in place (the shells go back to the allocator now), nested
            // ones too; the queue holds plain events only. No sorting: the sequencer sorted.
            drop(flat.unwrap_packages());
            let mut q = self.queue.lock();
            if q.state == KSSTATE_STOP {
                // A stopped stream holds nothing: straight back to the allocator.
                drop(q);
                flat.deliver(None);
                return STATUS_SUCCESS;
            }
            for e in flat {
                q.events.push_back(e);
            }
        }
        // NULL only pushes what is queued.
        self.service();
        STATUS_SUCCESS
    }

    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        // A render stream's output is the device.
        STATUS_UNSUCCESSFUL
    }

    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

impl IServiceSink_Impl for RenderStream {
    fn RequestService(&self) {
        // The retry timer fired.
        self.service();
    }
}

impl Drop for RenderStream {
    fn drop(&mut self) {
        // Whatever is still queued goes back to the allocator (a pending timer would have kept
        // the stream alive, so none is armed).
        let rest = self.queue.get_mut().events.take_all(&self.alloc);
        rest.deliver(None);
    }
}

/// A FIFO of owned events linked through `pNextEvt`: O(1) at both ends, no allocation.
struct EventQueue {
    head: *mut DMUS_KERNEL_EVENT,
    tail: *mut DMUS_KERNEL_EVENT,
}

// SAFETY: the queue is the only owner of its events; it lives behind the stream's lock.
unsafe impl Send for EventQueue {}

impl EventQueue {
    const fn new() -> Self {
        Self {
            head: core::ptr::null_mut(),
            tail: core::ptr::null_mut(),
        }
    }

    fn push_back(&mut self, e: Event<'_>) {
        // `Event` owns exactly one event: its `pNextEvt` is NULL.
        let p = e.into_raw();
        if self.tail.is_null() {
            self.head = p;
        } else {
            // SAFETY: `tail` is the queue's live last event.
            unsafe { (*self.tail).pNextEvt = p };
        }
        self.tail = p;
    }

    fn push_front(&mut self, e: Event<'_>) {
        let p = e.into_raw();
        // SAFETY: `p` is a live event we own.
        unsafe { (*p).pNextEvt = self.head };
        if self.tail.is_null() {
            self.tail = p;
        }
        self.head = p;
    }

    fn pop_front<'a>(&mut self, alloc: &'a IAllocatorMXF) -> Option<Event<'a>> {
        let p = self.head;
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` is the queue's live first event.
        self.head = unsafe { (*p).pNextEvt };
        if self.head.is_null() {
            self.tail = core::ptr::null_mut();
        }
        // SAFETY: detached from the queue (its link is cleared by `from_raw`); ours to give.
        unsafe { Event::from_raw(p, alloc) }
    }

    fn take_all<'a>(&mut self, alloc: &'a IAllocatorMXF) -> Chain<'a> {
        let head = core::mem::replace(&mut self.head, core::ptr::null_mut());
        self.tail = core::ptr::null_mut();
        // SAFETY: the queue owned this chain of live events of `alloc`; handed over whole.
        unsafe { Chain::from_raw(head, alloc) }
    }
}
