//! The state the miniport, its streams and its interrupt service routine share: the device,
//! the software input FIFO, the stream counts and the device-ready flag. It is a field of the
//! miniport; streams reach it through their slot, which holds a reference to the miniport.
//!
//! # What the ISR shares, and how
//!
//! The ISR may run at DIRQL (a driver's, through `IInterruptSync`), where no spin lock of the
//! framework (`KeAcquireSpinLockRaiseToDpc`) may be taken. So what it shares with the streams
//! ([`IsrState`]: the FIFO, the port and group it notifies, the capture stream's master clock)
//! is reached in one of two ways, which exclude each other:
//!
//! * the ISR itself, called by the device (already synchronized: under the interrupt spin lock
//!   in a driver), takes the state's own flag ([`IsrCell`], an atomic flag that never changes
//!   the IRQL);
//! * code below DIRQL calls [`Shared::with_isr`], which runs its closure through
//!   [`Mpu401::synchronize`] (`IInterruptSync::CallSynchronizedRoutine` in the driver: at DIRQL
//!   under the interrupt spin lock, so the ISR cannot run on any CPU meanwhile) and takes the
//!   same flag inside.
//!
//! In a driver the flag is therefore never contended (the interrupt spin lock already
//! serialises both sides); it is what excludes them on a device whose ISR is an ordinary
//! thread (the virtual MPU-401 of the user-mode tests, whose `synchronize` runs the closure
//! directly). Nothing is released under it: a closure hands references it removes back to its
//! caller, which drops them at its own IRQL; the ISR notifies the port after releasing it (on
//! the host `Notify` services the group at once, and its capture stream takes the flag again).

use crate::device::{MPU401_CMD_RESET, MPU401_CMD_UART, Mpu401, Notification};
use crate::{INPUT_FIFO_SIZE, MAX_CAPTURE_STREAMS, MAX_RENDER_STREAMS};
use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use mxf::abi::{KSSTATE, KSSTATE_PAUSE, KSSTATE_RUN, NTSTATUS, STATUS_INVALID_DEVICE_REQUEST};
use mxf::interfaces::{IMasterClock, IMiniportDMus, IPortDMus, IServiceGroup};
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicBool, Ordering};

/// What the ISR shares with the miniport and its streams (see the module docs).
pub(crate) struct IsrState {
    /// The software input FIFO, filled by the ISR and emptied by the capture stream.
    pub(crate) fifo: InputFifo,
    /// What the ISR notifies (set by `Init`): the port, AddRef'd, and the miniport's service
    /// group, handed to `Init`'s caller and to every capture stream.
    pub(crate) notify: Option<(IPortDMus, IServiceGroup)>,
    /// The capture stream's master clock (while one exists): a driver's ISR stamps input with
    /// it ([`Isr::service_now`](crate::device::Isr::service_now)).
    pub(crate) clock: Option<IMasterClock>,
}

/// A value behind an atomic flag that never changes the IRQL (see the module docs: the callers
/// are already serialised in a driver; the flag excludes host threads).
pub(crate) struct IsrCell<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only by `with`, which holds the flag: one `&mut` at a time.
unsafe impl<T: Send> Sync for IsrCell<T> {}

impl<T> IsrCell<T> {
    const fn new(value: T) -> Self {
        Self {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value, holding the flag (spinning while another thread holds it).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self
            .busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the flag is held: no other reference to the value exists until it is
        // released below.
        let r = f(unsafe { &mut *self.value.get() });
        self.busy.store(false, Ordering::Release);
        r
    }
}

/// What the miniport, its streams and its ISR share.
pub(crate) struct Shared {
    /// The device.
    pub(crate) mpu: Box<dyn Mpu401>,
    /// What the ISR shares (see the module docs): only through [`with_isr`](Self::with_isr)
    /// below DIRQL.
    isr: IsrCell<IsrState>,
    /// Open streams per kind.
    streams: SpinLock<StreamCounts>,
    /// The MPU-401 acknowledged "UART mode" when the first stream opened.
    mpu_ready: AtomicBool,
}

impl Shared {
    pub(crate) fn new(mpu: Box<dyn Mpu401>) -> Self {
        Self {
            mpu,
            isr: IsrCell::new(IsrState {
                fifo: InputFifo::new(),
                notify: None,
                clock: None,
            }),
            streams: SpinLock::new(StreamCounts::default()),
            mpu_ready: AtomicBool::new(false),
        }
    }

    /// Runs `f` on what the ISR shares, synchronized with the ISR (the device's
    /// [`Mpu401::synchronize`], then the state's flag). `f` runs at DIRQL in a driver: it only
    /// moves data, and releases nothing (it returns what it removes).
    pub(crate) fn with_isr<R: Default>(&self, f: impl FnOnce(&mut IsrState) -> R) -> R {
        let mut f = Some(f);
        let mut out = R::default();
        self.mpu.synchronize(&mut || {
            if let Some(f) = f.take() {
                out = self.isr.with(f);
            }
        });
        // A device that did not call the closure (it must: `Mpu401::synchronize`) still gets
        // the state's flag.
        if let Some(f) = f.take() {
            out = self.isr.with(f);
        }
        out
    }

    /// The interrupt service routine ([`Isr::service`](crate::device::Isr::service)), called
    /// by the device, synchronized (see the module docs). True if a byte was read.
    pub(crate) fn service_interrupt(&self, time: impl FnOnce(&IsrState) -> i64) -> bool {
        self.drain(time).map(Notification::send).is_some()
    }

    /// The ISR's first half: reads every pending byte (whether or not it is kept: that is what
    /// clears the device's interrupt) into the FIFO, stamped with `time` (called once, and only
    /// if a byte was read); `None` if none was waiting, else the notification to send (after
    /// the flag is released: on the host `Notify` services the group at once, and its capture
    /// stream takes the flag again).
    pub(crate) fn drain(&self, time: impl FnOnce(&IsrState) -> i64) -> Option<Notification> {
        self.isr.with(|state| {
            let mut byte = self.mpu.read_data()?;
            let now = time(state);
            loop {
                state.fifo.accept(byte, now);
                match self.mpu.read_data() {
                    Some(next) => byte = next,
                    None => break,
                }
            }
            Some(Notification(state.notify.clone()))
        })
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
            shared.with_isr(|s| s.fifo.open_capture());
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
            // The clock goes with the capture stream; released here, below DIRQL.
            let clock = shared.with_isr(|s| {
                s.fifo.close_capture();
                s.clock.take()
            });
            drop(clock);
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

impl Default for Snapshot {
    /// An empty snapshot (what a reader sees when the closure did not run).
    fn default() -> Self {
        Self {
            bytes: [0; INPUT_FIFO_SIZE],
            len: 0,
            time: 0,
            epoch: 0,
        }
    }
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
