//! The capture stream: the cable's queued copies out to the port's capture sink.

use crate::Cable;
use mxf::com::{ComRef, IntoComObject, ObjectImpl};
use mxf::components::service_group::ServiceGroupHandle;
use mxf::connection::{Outputs, connect_output, disconnect_output_from};
use mxf::miniport::MiniportHandle;
use mxf::platform::{OneAtATime, SpinLock};
use mxf::prelude::*;

/// The capture stream (`IMXF`).
#[com_object(IMXF, tag = "VMIc")]
pub(crate) struct CaptureStream {
    /// The connected sink (the port's capture sink); `None`: the allocator.
    output: SpinLock<Outputs<1>>,
    /// Serialises `PutMessage(NULL)`, so chains leave in the order they were queued, without
    /// waiting (a call during a pull, from another CPU or from the sink calling back, is served
    /// by one more pull).
    pulling: OneAtATime,
    /// The capture pin's allocator, AddRef'd: the copies come from it.
    alloc: IAllocatorMXF,
    /// This stream's link in the cable.
    serial: u64,
    /// Keeps the miniport (and the link's queue) alive while the stream exists.
    cable: MiniportHandle<Cable>,
}

impl CaptureStream {
    /// Creates the cable's capture stream, in KSSTATE_STOP, connected to nothing, and the
    /// service group the port services it through. `STATUS_INVALID_DEVICE_REQUEST` while
    /// another capture stream is open.
    pub(crate) fn create(
        cable: MiniportHandle<Cable>,
        alloc: IAllocatorMXF,
        pool: POOL_TYPE,
    ) -> Result<(IMXF, IServiceGroup)> {
        let group: IServiceGroup = ServiceGroupHandle::new()?.into_interface();
        let serial = cable
            .miniport()
            .bus
            .lock()
            .open_capture(alloc.clone(), group.clone())?;
        // From here the link is the stream's: its destructor removes it (also if creating the
        // object fails: the value is dropped then).
        let stream = Self {
            output: SpinLock::new(Outputs::new()),
            pulling: OneAtATime::new(),
            alloc,
            serial,
            cable,
        }
        .into_com_in(pool, <Self as ObjectImpl>::POOL_TAG)?;
        Ok((stream, group))
    }

    /// `PutMessage(NULL)`: sends what is queued, one pull at a time.
    fn pull(&self) -> NTSTATUS {
        if !self.pulling.enter() {
            return STATUS_SUCCESS;
        }
        loop {
            let status = self.pull_once();
            if self.pulling.leave() {
                return status;
            }
        }
    }

    /// One pull: the queue, as one chain, to the sink.
    fn pull_once(&self) -> NTSTATUS {
        let (mut copies, running) = {
            let mut bus = self.cable.miniport().bus.lock();
            let Some(link) = bus.link(self.serial) else {
                return STATUS_SUCCESS;
            };
            let running = link.state == KSSTATE_RUN || link.state == KSSTATE_PAUSE;
            let copies = link.take_queue();
            let n = copies.len() as u64;
            let stats = &mut bus.stats;
            if running {
                stats.captured = stats.captured.saturating_add(n);
            } else {
                // STOP or ACQUIRE (SetState emptied the queue already, and nothing is queued
                // outside RUN): thrown away.
                stats.flushed = stats.flushed.saturating_add(n);
            }
            (copies, running)
        };
        // SAFETY: the queue's copies are events of this stream's allocator, handed over whole.
        let chain = unsafe { Chain::from_raw(copies.take(), &self.alloc) };
        if !running || chain.is_empty() {
            // Back to the allocator (if anything).
            return STATUS_SUCCESS;
        }
        let sink = self.output.lock().get(0).cloned();
        chain.deliver(sink.as_ref())
    }
}

impl IMXF_Impl for CaptureStream {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        let mut flushed = {
            let mut bus = self.cable.miniport().bus.lock();
            let Some(link) = bus.link(self.serial) else {
                return STATUS_SUCCESS;
            };
            link.state = state;
            if state == KSSTATE_STOP || state == KSSTATE_ACQUIRE {
                let copies = link.take_queue();
                let stats = &mut bus.stats;
                stats.flushed = stats.flushed.saturating_add(copies.len() as u64);
                copies
            } else {
                mxf::event::EventList::new()
            }
        };
        // SAFETY: the queue's copies are events of this stream's allocator; back to it.
        drop(unsafe { Chain::from_raw(flushed.take(), &self.alloc) });
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if event.is_null() {
            return self.pull();
        }
        // Nobody sends events into a capture stream; whatever arrives goes back.
        if check_event_ptr(event).is_ok() {
            // SAFETY: the caller hands over a chain of live events of this pin's allocator.
            drop(unsafe { Chain::from_raw(event, &self.alloc) });
        }
        STATUS_INVALID_PARAMETER
    }

    /// The connection rules of every MXF (items 27–29), from `mxf::connection`: NULL and a
    /// second connection are refused; unconnected, captured events go to the allocator.
    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        connect_output(&self.output, |o| o, sink, 1)
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        disconnect_output_from(&self.output, |o| o, sink, &self.alloc)
    }
}

impl Drop for CaptureStream {
    fn drop(&mut self) {
        let link = self.cable.miniport().bus.lock().close_capture(self.serial);
        // Outside the lock: the link's queue goes back to the capture allocator.
        drop(link);
    }
}
