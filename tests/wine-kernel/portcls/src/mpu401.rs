//! The virtual MPU-401 the double gives a UART driver: a loopback wire behind the project's
//! `IMpu401Host` interface, which the device's resource list answers (the UART driver's factory
//! asks it before it looks for a port range: `examples/drivers/uart/src/host_device.rs`, where
//! the same interfaces are declared, the other side of the ABI).
//!
//! What the driver writes to the data port comes back as input; the interrupt is raised by the
//! scenario ([`raise`]) between timer runs, as a line would be between DPCs, never from inside a
//! write (the driver's render path holds its locks there). Each interrupt shows the driver at
//! most [`BURST`] input bytes, as a wire at 31 250 baud shows an interrupt routine a few bytes at a
//! time: the UART driver's input FIFO (128 bytes) is drained by the capture service its
//! interrupt requests, so a longer burst would overflow it where no real MPU-401 could.

use alloc::collections::VecDeque;
use mxf::com::ComRef;
use mxf::com_interface;
use mxf::interfaces::IUnknown;
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicUsize, Ordering};

/// `IMpu401Host` (the UART driver's declaration has the same IID and slots).
#[com_interface(iid = "6E1D3B52-8C0A-4F7E-9B21-4D5A7C3E9F10")]
// SAFETY: the project's IID for these slots in this order, as the UART driver declares them.
pub unsafe trait IMpu401Host: IUnknown {
    /// Slot 3.
    unsafe fn WriteData(&self, bytes: *const u8, length: u32, now: i64) -> u32;
    /// Slot 4.
    fn WriteCommand(&self, command: u8) -> u8;
    /// Slot 5.
    unsafe fn ReadData(&self, byte: *mut u8) -> u8;
    /// Slot 6.
    fn ConnectInterrupt(&self, interrupt: Option<ComRef<'_, IMpu401Interrupt>>) -> u8;
    /// Slot 7.
    fn DisconnectInterrupt(&self);
}

/// `IMpu401Interrupt` (declared by the UART driver too).
#[com_interface(iid = "6E1D3B53-8C0A-4F7E-9B21-4D5A7C3E9F10")]
// SAFETY: the project's IID for this slot, as the UART driver declares it.
pub unsafe trait IMpu401Interrupt: IUnknown {
    /// Slot 3.
    fn Interrupt(&self, time: i64);
}

/// The most bytes the wire holds before the device reports itself busy.
const WIRE: usize = 4096;
/// The most input bytes one interrupt shows the driver.
pub const BURST: usize = 64;

/// The loopback MPU-401's state.
pub struct Wire {
    input: SpinLock<VecDeque<u8>>,
    line: SpinLock<Option<IMpu401Interrupt>>,
    /// Bytes the current interrupt may still read.
    burst: AtomicUsize,
}

impl Wire {
    /// An idle wire.
    pub const fn new() -> Self {
        Self {
            input: SpinLock::new(VecDeque::new()),
            line: SpinLock::new(None),
            burst: AtomicUsize::new(0),
        }
    }

    /// `IMpu401Host::WriteData`: the bytes go onto the wire (as many as fit).
    pub fn write(&self, bytes: &[u8]) -> u32 {
        let mut input = self.input.lock();
        let room = WIRE.saturating_sub(input.len()).min(bytes.len());
        if input.try_reserve(room).is_err() {
            return 0;
        }
        input.extend(bytes.iter().take(room));
        u32::try_from(room).unwrap_or(0)
    }

    /// `IMpu401Host::ReadData`: the next byte of the current interrupt's burst.
    pub fn read(&self) -> Option<u8> {
        let left = self.burst.load(Ordering::Relaxed);
        if left == 0 {
            return None;
        }
        let byte = self.input.lock().pop_front()?;
        self.burst.store(left - 1, Ordering::Relaxed);
        Some(byte)
    }

    /// `IMpu401Host::ConnectInterrupt`: one line.
    pub fn connect(&self, line: Option<IMpu401Interrupt>) -> bool {
        let mut slot = self.line.lock();
        if slot.is_some() || line.is_none() {
            return false;
        }
        *slot = line;
        true
    }

    /// `IMpu401Host::DisconnectInterrupt`; the wire is emptied and its storage freed.
    pub fn disconnect(&self) {
        let line = self.line.lock().take();
        drop(line);
        let input = core::mem::take(&mut *self.input.lock());
        drop(input);
    }

    /// Raises the interrupt at `time`, once per [`BURST`], while input is waiting and a line is
    /// connected (and the driver reads).
    pub fn raise(&self, time: i64) {
        loop {
            let waiting = self.input.lock().len();
            let line = self.line.lock().clone();
            let (Some(line), true) = (line, waiting > 0) else {
                return;
            };
            self.burst.store(BURST, Ordering::Relaxed);
            line.Interrupt(time);
            self.burst.store(0, Ordering::Relaxed);
            if self.input.lock().len() >= waiting {
                return;
            }
        }
    }
}

impl Default for Wire {
    fn default() -> Self {
        Self::new()
    }
}

/// The device's wire (one device per driver).
pub static WIRE_OF_DEVICE: Wire = Wire::new();

/// Raises the device's interrupt if input is waiting (called by the scenario between timer
/// runs).
pub fn raise(time: i64) {
    WIRE_OF_DEVICE.raise(time);
}
