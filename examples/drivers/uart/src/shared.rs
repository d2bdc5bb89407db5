//! The state the miniport, its streams and its interrupt service routine share: the device,
//! the software input FIFO, the stream counts and the device-ready flag. It is a field of the
//! miniport; streams reach it through their slot, which holds a reference to the miniport.

use crate::device::{MPU401_CMD_RESET, MPU401_CMD_UART, Mpu401};
use crate::{INPUT_FIFO_SIZE, MAX_CAPTURE_STREAMS, MAX_RENDER_STREAMS};
use alloc::boxed::Box;
use core::ptr::NonNull;
use mxf::abi::{KSSTATE, KSSTATE_PAUSE, KSSTATE_RUN, NTSTATUS, STATUS_INVALID_DEVICE_REQUEST};
use mxf::com::Interface;
use mxf::interfaces::{IMiniportDMus, IPortDMus, IServiceGroup};
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicBool, Ordering};

/// What the miniport, its streams and its ISR share.
pub(crate) struct Shared {
    /// The device.
    pub(crate) mpu: Box<dyn Mpu401>,
    /// The software input FIFO, filled by the ISR and emptied by the capture stream.
    pub(crate) input: SpinLock<InputFifo>,
    /// What the ISR notifies (set by `Init`): the port, AddRef'd, and the miniport's service
    /// group, handed to `Init`'s caller and to every capture stream.
    pub(crate) notify: SpinLock<Option<(IPortDMus, IServiceGroup)>>,
    /// Open streams per kind.
    streams: SpinLock<StreamCounts>,
    /// The MPU-401 acknowledged "UART mode" when the first stream opened.
    mpu_ready: AtomicBool,
}

impl Shared {
    pub(crate) fn new(mpu: Box<dyn Mpu401>) -> Self {
        Self {
            mpu,
            input: SpinLock::new(InputFifo::new()),
            notify: SpinLock::new(None),
            streams: SpinLock::new(StreamCounts::default()),
            mpu_ready: AtomicBool::new(false),
        }
    }

    /// The interrupt service routine ([`Isr::service`](crate::device::Isr::service)).
    pub(crate) fn service_interrupt(&self, time: i64) {
        // Every pending byte is read, whether or not it is kept: that is what clears the
        // device's interrupt. `time` is the master-clock time of the interrupt.
        let mut read = false;
        while let Some(byte) = self.mpu.read_data() {
            read = true;
            self.input.lock().accept(byte, time);
        }
        if read {
            let notify = self.notify.lock().clone();
            if let Some((port, group)) = notify {
                // Queues the DPC in which the port calls the capture stream's PutMessage(NULL)
                // (through the stream's service group, which is this group).
                port.Notify(Some(group.to_ref()));
            }
        }
    }

    /// True if the device is in UART mode (a stream may enter RUN).
    pub(crate) fn mpu_ready(&self) -> bool {
        self.mpu_ready.load(Ordering::Acquire)
    }
}

#[derive(Default)]
struct StreamCounts {
    render: usize,
    capture: usize,
}

/// The two kinds of stream this miniport creates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StreamKind {
    Render,
    Capture,
}

/// One reserved stream slot: counted while it lives, released when the stream is destroyed
/// (or when its creation fails half-way), so the counts can never drift. It holds a reference
/// to the miniport, which keeps the miniport's [`Shared`] (and its interrupt connection) alive.
pub(crate) struct StreamSlot {
    shared: NonNull<Shared>,
    kind: StreamKind,
    /// Released after `drop` has used `shared` (fields drop after `Drop::drop`).
    _miniport: IMiniportDMus,
}

// SAFETY: `Shared` is `Sync`; the pointer is valid while `_miniport` is held (see `reserve`).
unsafe impl Send for StreamSlot {}
// SAFETY: as for `Send`.
unsafe impl Sync for StreamSlot {}

impl StreamSlot {
    /// Reserves a slot: at most [`MAX_RENDER_STREAMS`] render and [`MAX_CAPTURE_STREAMS`]
    /// capture streams, else `STATUS_INVALID_DEVICE_REQUEST`. The first stream to open resets
    /// the MPU-401 and puts it in UART mode; a capture slot opens the input FIFO's gate (in STOP).
    ///
    /// `shared` is the state of the miniport `miniport` is a counted pointer to.
    pub(crate) fn reserve(
        shared: &Shared,
        miniport: IMiniportDMus,
        kind: StreamKind,
    ) -> Result<Self, NTSTATUS> {
        let mut counts = shared.streams.lock();
        let (open, max) = match kind {
            StreamKind::Render => (&mut counts.render, MAX_RENDER_STREAMS),
            StreamKind::Capture => (&mut counts.capture, MAX_CAPTURE_STREAMS),
        };
        if *open >= max {
            return Err(STATUS_INVALID_DEVICE_REQUEST);
        }
        // Below the maximum (checked above): no overflow.
        *open = open.saturating_add(1);
        if counts.render.saturating_add(counts.capture) == 1 {
            // First stream: reset the device and enter UART mode. A device that does not answer
            // still gets its stream; RUN will then fail with STATUS_INVALID_DEVICE_STATE.
            let mpu = &shared.mpu;
            let ok = mpu.write_command(MPU401_CMD_RESET) && mpu.write_command(MPU401_CMD_UART);
            shared.mpu_ready.store(ok, Ordering::Release);
        }
        drop(counts);
        if kind == StreamKind::Capture {
            shared.input.lock().open_capture();
        }
        Ok(Self {
            shared: NonNull::from(shared),
            kind,
            _miniport: miniport,
        })
    }

    /// The miniport's shared state.
    pub(crate) fn shared(&self) -> &Shared {
        // SAFETY: `shared` is a field of the miniport object `_miniport` counts: the object
        // does not move (COM objects live where they were allocated) and outlives this slot.
        unsafe { self.shared.as_ref() }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let shared = self.shared();
        if self.kind == StreamKind::Capture {
            shared.input.lock().close_capture();
        }
        let mut counts = shared.streams.lock();
        let open = match self.kind {
            StreamKind::Render => &mut counts.render,
            StreamKind::Capture => &mut counts.capture,
        };
        *open = open.saturating_sub(1);
    }
}

/// The 128-byte software FIFO between the ISR and the capture stream, with the arrival time of
/// every byte, and the capture stream's state (the ISR's gate).
pub(crate) struct InputFifo {
    bytes: [u8; INPUT_FIFO_SIZE],
    times: [i64; INPUT_FIFO_SIZE],
    head: usize,
    len: usize,
    /// Bumped by every `clear`, so a reader that peeked before a clear does not consume bytes
    /// that arrived after it.
    epoch: u64,
    /// `None` while no capture stream exists; else its state.
    capture: Option<KSSTATE>,
    /// Bytes the ISR read but could not keep (no capture stream, not RUN, FIFO full).
    pub(crate) dropped: u64,
}

/// What a reader copied out of the FIFO.
pub(crate) struct Snapshot {
    pub(crate) bytes: [u8; INPUT_FIFO_SIZE],
    pub(crate) len: usize,
    /// The arrival time of the first byte: every event built from this snapshot carries it.
    pub(crate) time: i64,
    epoch: u64,
}

impl InputFifo {
    const fn new() -> Self {
        Self {
            bytes: [0; INPUT_FIFO_SIZE],
            times: [0; INPUT_FIFO_SIZE],
            head: 0,
            len: 0,
            epoch: 0,
            capture: None,
            dropped: 0,
        }
    }

    fn open_capture(&mut self) {
        self.capture = Some(mxf::abi::KSSTATE_STOP);
        self.clear();
    }

    fn close_capture(&mut self) {
        self.capture = None;
        self.clear();
    }

    /// True if a capture stream exists.
    pub(crate) fn has_capture(&self) -> bool {
        self.capture.is_some()
    }

    /// Records the capture stream's new state.
    pub(crate) fn set_capture_state(&mut self, state: KSSTATE) {
        if self.capture.is_some() {
            self.capture = Some(state);
        }
    }

    /// True if the capture stream may send events (RUN or PAUSE).
    pub(crate) fn may_produce(&self) -> bool {
        matches!(self.capture, Some(s) if s == KSSTATE_RUN || s == KSSTATE_PAUSE)
    }

    /// Empties the FIFO.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// The ISR's part: keeps `byte`, which arrived at `time`, if a capture stream exists and is
    /// in RUN and there is room; otherwise drops it.
    pub(crate) fn accept(&mut self, byte: u8, time: i64) {
        if self.capture != Some(KSSTATE_RUN) || self.len >= INPUT_FIFO_SIZE {
            self.dropped = self.dropped.wrapping_add(1);
            return;
        }
        // `head` and `len` are below INPUT_FIFO_SIZE: the sum cannot wrap.
        let i = self.head.wrapping_add(self.len) % INPUT_FIFO_SIZE;
        if let (Some(b), Some(t)) = (self.bytes.get_mut(i), self.times.get_mut(i)) {
            *b = byte;
            *t = time;
            self.len = self.len.saturating_add(1);
        }
    }

    /// Copies the FIFO's contents without removing them.
    pub(crate) fn peek(&self) -> Snapshot {
        let mut s = Snapshot {
            bytes: [0; INPUT_FIFO_SIZE],
            len: 0,
            time: self.times.get(self.head).copied().unwrap_or(0),
            epoch: self.epoch,
        };
        for (k, out) in s.bytes.iter_mut().take(self.len).enumerate() {
            if let Some(&b) = self.bytes.get(self.head.wrapping_add(k) % INPUT_FIFO_SIZE) {
                *out = b;
                s.len = s.len.saturating_add(1);
            }
        }
        s
    }

    /// Removes the bytes of `snapshot` once they were sent (unless the FIFO was cleared since:
    /// then they are gone already).
    pub(crate) fn consume(&mut self, snapshot: &Snapshot) {
        if snapshot.epoch != self.epoch {
            return;
        }
        let n = snapshot.len.min(self.len);
        self.head = self.head.wrapping_add(n) % INPUT_FIFO_SIZE;
        self.len = self.len.saturating_sub(n);
    }
}
