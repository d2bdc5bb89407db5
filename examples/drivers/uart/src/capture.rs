//! The capture stream: raw input bytes from the software FIFO out as INCOMPLETE events.

use crate::CAPTURE_CHANNEL_GROUP;
use crate::shared::StreamSlot;
use mxf::com::{ComRef, IntoComObject, ObjectImpl};
use mxf::connection::{Outputs, connect_output, disconnect_output_from};
use mxf::platform::OneAtATime;
use mxf::platform::SpinLock;
use mxf::prelude::*;

/// The capture stream (`IMXF`).
#[com_object(IMXF, tag = "MPUc")]
pub struct CaptureStream {
    /// The connected sink (the port's capture sink); `None`: the allocator.
    output: SpinLock<Outputs<1>>,
    /// Serialises `PutMessage(NULL)`, so chains leave in the order their bytes arrived, without
    /// ever waiting (a call during a pull, from another CPU or from the sink calling back, is
    /// served by one more pull).
    pulling: OneAtATime,
    /// The allocator of the pin, AddRef'd: the source of every event sent.
    alloc: IAllocatorMXF,
    /// The master clock, kept for the stream's lifetime (a driver's ISR reads it to stamp
    /// input; here the device reports the interrupt time).
    _clock: IMasterClock,
    /// Counted in the miniport's capture streams (and opens the ISR's gate) until destroyed;
    /// keeps the miniport (and its interrupt connection) alive while the stream exists.
    slot: StreamSlot,
}

impl CaptureStream {
    /// Creates a capture stream in KSSTATE_STOP, connected to nothing (output: allocator).
    pub(crate) fn create(
        slot: StreamSlot,
        alloc: IAllocatorMXF,
        clock: IMasterClock,
        pool: POOL_TYPE,
    ) -> mxf::abi::Result<IMXF> {
        Self {
            output: SpinLock::new(Outputs::new()),
            pulling: OneAtATime::new(),
            alloc,
            _clock: clock,
            slot,
        }
        .into_com_in(pool, <Self as ObjectImpl>::POOL_TAG)
    }

    /// `PutMessage(NULL)`: sends what the FIFO holds as one chain. A lock held across the
    /// delivery would deadlock a sink that calls back into the stream (a spin lock taken twice at
    /// DISPATCH_LEVEL hangs the CPU), so a call that finds a pull under way leaves its pull to
    /// that one and returns at once ([`OneAtATime`]).
    fn pull(&self) -> NTSTATUS {
        if !self.pulling.enter() {
            return STATUS_SUCCESS;
        }
        loop {
            let status = self.pull_once();
            if !status.is_success() {
                // Out of events: the bytes stay in the FIFO for the next service.
                self.pulling.abandon();
                return status;
            }
            if self.pulling.leave() {
                return status;
            }
        }
    }

    /// One pull: the FIFO's bytes as one chain to the sink.
    fn pull_once(&self) -> NTSTATUS {
        let snapshot = {
            let mut input = self.slot.shared().input.lock();
            if !input.may_produce() {
                // STOP or ACQUIRE: captured data is thrown away.
                input.clear();
                return STATUS_SUCCESS;
            }
            input.peek()
        };
        let bytes = snapshot.bytes.get(..snapshot.len).unwrap_or(&[]);
        if bytes.is_empty() {
            return STATUS_SUCCESS;
        }
        // Raw bytes, sizeof(PBYTE) per event, no MIDI parsing: the port's capture sink
        // reassembles messages (running status, SysEx, real-time bytes).
        let mut chain = Chain::new(&self.alloc);
        for chunk in bytes.chunks(INLINE_DATA_BYTES) {
            let Some(mut e) = Event::new(&self.alloc) else {
                // Out of events: what was built goes back (dropping `chain`), and the bytes
                // stay in the FIFO for the next service.
                return STATUS_INSUFFICIENT_RESOURCES;
            };
            if let Err(status) = e.set_bytes(chunk) {
                return status;
            }
            e.set_channel_group(CAPTURE_CHANNEL_GROUP);
            e.set_time(snapshot.time);
            e.set_incomplete(true);
            chain.push_back(e);
        }
        self.slot.shared().input.lock().consume(&snapshot);
        let sink = self.output.lock().get(0).cloned();
        chain.deliver(sink.as_ref())
    }
}

impl IMXF_Impl for CaptureStream {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        if state == KSSTATE_RUN && !self.slot.shared().mpu_ready() {
            return STATUS_INVALID_DEVICE_STATE;
        }
        let mut input = self.slot.shared().input.lock();
        input.set_capture_state(state);
        if state == KSSTATE_STOP || state == KSSTATE_ACQUIRE {
            input.clear();
        }
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
    /// A connection to itself is allowed (item 28): what the stream is given goes back to the
    /// allocator, so nothing loops.
    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        connect_output(&self.output, |o| o, sink, 1)
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        disconnect_output_from(&self.output, |o| o, sink, &self.alloc)
    }
}
