//! A virtual MPU-401 in UART mode: the hardware the sample miniport drives.
//!
//! The device has the three things a DMusUART-style driver touches:
//!
//! * the **data port**, written by the render stream ([`VirtualMpu401::write`]) and read by the
//!   interrupt service routine ([`VirtualMpu401::read_data`]);
//! * the **command port** ([`VirtualMpu401::write_command`]): reset (`0xFF`) and "enter UART mode"
//!   (`0x3F`), each acknowledged unless the device is made unresponsive;
//! * the **interrupt line**: [`VirtualMpu401::receive`] puts bytes from the wire into the data
//!   port and calls the connected [`InterruptHandler`], as a real device raises its IRQ.
//!
//! Besides the device itself, it carries the one piece of platform machinery the miniport needs
//! and that has no PortCls counterpart in this model: one-shot **timers** (a `KTIMER` + `KDPC`
//! in a driver), fired by whoever simulates the passing of time ([`VirtualMpu401::run_timers`]).
//! An armed timer holds a reference to its service sink, exactly as a driver AddRefs an object
//! before `KeSetTimer` so the DPC never runs on a freed object.
//!
//! Times are master-clock times (100 ns units) supplied by the caller: the device has no clock
//! of its own.
//!
//! It is the user-mode side of the sample miniport's device seam: it implements
//! [`Mpu401`], whose other implementation is the driver's port I/O
//! ([`PortIo`](mxf_driver_uart::PortIo)).

use mxf::com::Interface;
use mxf::interfaces::IServiceSink;
use mxf_driver_uart::{Isr, Mpu401};
pub use mxf_driver_uart::{MPU401_CMD_RESET, MPU401_CMD_UART};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What the device calls when it raises its interrupt: a miniport's interrupt service routine.
///
/// In a PortCls driver this is the routine registered with `IInterruptSync::RegisterServiceRoutine`
/// (the context pointer there is the miniport, kept valid because the miniport disconnects the
/// interrupt in its destructor). Here the device holds the handler until it is disconnected.
pub trait InterruptHandler: Send + Sync {
    /// Services the interrupt taken at master-clock time `time`: reads the data port with
    /// [`VirtualMpu401::read_data`] until it is empty. Runs with no device lock held.
    fn service_interrupt(&self, mpu: &VirtualMpu401, time: i64);
}

/// One armed one-shot timer.
struct Timer {
    due: i64,
    sink: IServiceSink,
}

/// Every byte accepted on the data port and when: the bytes in order, and the runs of them
/// written at one time (one byte of memory a byte, 16 a run; the wire of a song is a run per
/// point in time rather than 16 bytes a byte).
#[derive(Default)]
struct Record {
    bytes: Vec<u8>,
    /// `(time, first byte of the run)`; a run ends where the next starts.
    runs: Vec<(i64, usize)>,
}

impl Record {
    fn add(&mut self, bytes: &[u8], now: i64) {
        if bytes.is_empty() {
            return;
        }
        if self.runs.last().is_none_or(|&(t, _)| t != now) {
            self.runs.push((now, self.bytes.len()));
        }
        self.bytes.extend_from_slice(bytes);
    }

    /// Empties the record, keeping its storage for the next writes.
    fn clear(&mut self) {
        self.bytes.clear();
        self.runs.clear();
    }

    /// Each run in order: its time and bytes.
    fn for_each_run(&self, mut f: impl FnMut(i64, &[u8])) {
        for (k, &(t, start)) in self.runs.iter().enumerate() {
            let end = self.runs.get(k + 1).map_or(self.bytes.len(), |r| r.1);
            f(t, &self.bytes[start..end]);
        }
    }
}

/// The device registers.
struct Device {
    /// Every byte accepted on the data port, with the time it was written.
    output: Record,
    /// Bytes accepted per `write` call; `None` for unlimited.
    budget: Option<usize>,
    /// Bytes received from the wire, not yet read by the ISR.
    input: VecDeque<u8>,
    uart_mode: bool,
    responding: bool,
    /// Input bytes nobody read (no interrupt handler, or the handler left them).
    lost_input: u64,
}

/// A virtual MPU-401 (see the module docs). Shared as `Arc<VirtualMpu401>` between the miniport
/// and whoever plays the wire and the clock; every method takes `&self`.
pub struct VirtualMpu401 {
    device: Mutex<Device>,
    timers: Mutex<Vec<Timer>>,
    isr: Mutex<Option<Arc<dyn InterruptHandler>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn same_handler(a: &Arc<dyn InterruptHandler>, b: &Arc<dyn InterruptHandler>) -> bool {
    // Compare the data pointers only: the same object may be seen through different vtables.
    core::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

impl VirtualMpu401 {
    /// A device after power-on: not in UART mode, responding to commands, unlimited write
    /// budget, no interrupt handler, no timers.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            device: Mutex::new(Device {
                output: Record::default(),
                budget: None,
                input: VecDeque::new(),
                uart_mode: false,
                responding: true,
                lost_input: 0,
            }),
            timers: Mutex::new(Vec::new()),
            isr: Mutex::new(None),
        })
    }

    // ---------------------------------------------------------------------------------------
    // Render side: the data port, written by the miniport.
    // ---------------------------------------------------------------------------------------

    /// Render side: the miniport writes bytes; the device accepts up to its budget per call
    /// (unlimited by default) and records each accepted byte with `now` (100 ns). Returns the
    /// number of bytes accepted, which is fewer than `bytes.len()` when the device is busy.
    pub fn write(&self, bytes: &[u8], now: i64) -> usize {
        let mut d = lock(&self.device);
        let n = d.budget.map_or(bytes.len(), |b| b.min(bytes.len()));
        let accepted = bytes.get(..n).unwrap_or(bytes);
        d.output.add(accepted, now);
        accepted.len()
    }

    /// Limits how many bytes one [`write`](Self::write) call accepts (`None`: unlimited;
    /// `Some(0)`: a stuck device that accepts nothing).
    pub fn set_write_budget(&self, bytes_per_write: Option<usize>) {
        lock(&self.device).budget = bytes_per_write;
    }

    /// Everything written so far, in order, each byte with its time; the record is emptied.
    pub fn take_output(&self) -> Vec<(i64, u8)> {
        let mut out = Vec::new();
        self.drain_output(|t, bytes| out.extend(bytes.iter().map(|&b| (t, b))));
        out
    }

    /// Everything written so far, in order, handed to `f` as runs of bytes written at one time
    /// (`f(time, bytes)`, in time order, with no lock held); the record is emptied. A player
    /// that drains the device as it plays holds only what was written since the last drain.
    pub fn drain_output(&self, f: impl FnMut(i64, &[u8])) {
        let mut record = core::mem::take(&mut lock(&self.device).output);
        record.for_each_run(f);
        // The emptied record goes back, so a player that drains as it plays does not allocate
        // the record again at every drain; unless bytes were written meanwhile, which stay.
        record.clear();
        let mut d = lock(&self.device);
        if d.output.runs.is_empty() {
            d.output = record;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Command port.
    // ---------------------------------------------------------------------------------------

    /// Writes a command byte; returns true if the device acknowledged it.
    /// [`MPU401_CMD_RESET`] leaves UART mode and empties the data port; [`MPU401_CMD_UART`]
    /// enters UART mode; other commands are acknowledged and ignored.
    pub fn write_command(&self, command: u8) -> bool {
        let mut d = lock(&self.device);
        if !d.responding {
            return false;
        }
        match command {
            MPU401_CMD_RESET => {
                d.uart_mode = false;
                d.input.clear();
            }
            MPU401_CMD_UART => d.uart_mode = true,
            _ => {}
        }
        true
    }

    /// True once the device acknowledged [`MPU401_CMD_UART`] (and was not reset since).
    pub fn is_uart_mode(&self) -> bool {
        lock(&self.device).uart_mode
    }

    /// Makes the device answer commands (the default) or ignore them, as a missing or broken
    /// card does.
    pub fn set_responding(&self, responding: bool) {
        lock(&self.device).responding = responding;
    }

    // ---------------------------------------------------------------------------------------
    // Capture side: the wire, the data port as the ISR reads it, the interrupt line.
    // ---------------------------------------------------------------------------------------

    /// Capture side: bytes arrive from the wire at `time`; this raises the device interrupt:
    /// the connected [`InterruptHandler`] is called with `time` and reads them from the data
    /// port. Bytes it leaves unread, or all of them when no handler is connected, are lost
    /// (counted by [`lost_input`](Self::lost_input)).
    ///
    /// With the sample miniport the handler is its ISR: it drains the bytes into its 128-byte
    /// software FIFO (only while a capture stream exists and is in RUN; otherwise they are read
    /// and dropped; overflow is dropped) and calls `Port.Notify(its service group)`.
    ///
    /// The handler runs with the interrupt connection's lock held (not the device's), so that
    /// disconnecting waits for a running handler, as `IInterruptSync::Disconnect` does.
    pub fn receive(&self, bytes: &[u8], time: i64) {
        lock(&self.device).input.extend(bytes.iter().copied());
        {
            let handler = lock(&self.isr);
            if let Some(h) = &*handler {
                h.service_interrupt(self, time);
            }
        }
        let mut d = lock(&self.device);
        d.lost_input += d.input.len() as u64;
        d.input.clear();
    }

    /// Reads one byte from the data port (the ISR's job); `None` when no input is pending.
    pub fn read_data(&self) -> Option<u8> {
        lock(&self.device).input.pop_front()
    }

    /// Input bytes that arrived while nobody read them.
    pub fn lost_input(&self) -> u64 {
        lock(&self.device).lost_input
    }

    /// Connects the interrupt to `handler`. Returns false (and keeps the current one) if a
    /// handler is already connected: the line is not shared.
    pub fn connect_interrupt(&self, handler: Arc<dyn InterruptHandler>) -> bool {
        let mut isr = lock(&self.isr);
        if isr.is_some() {
            return false;
        }
        *isr = Some(handler);
        true
    }

    /// Disconnects `handler` if it is the connected one; returns true if it was. An interrupt
    /// being serviced finishes first (this waits for it).
    pub fn disconnect_interrupt(&self, handler: &Arc<dyn InterruptHandler>) -> bool {
        let old = {
            let mut isr = lock(&self.isr);
            match &*isr {
                Some(h) if same_handler(h, handler) => isr.take(),
                _ => None,
            }
        };
        old.is_some()
    }

    // ---------------------------------------------------------------------------------------
    // Timers.
    // ---------------------------------------------------------------------------------------

    /// Arms the one-shot timer of `sink` for master-clock time `due`; the timer keeps `sink`'s
    /// reference until it fires or is cancelled. A sink has one timer: arming it again moves the
    /// deadline (returns true if it was pending), like `KeSetTimer` on the same `KTIMER`.
    pub fn set_timer(&self, due: i64, sink: IServiceSink) -> bool {
        let replaced = {
            let mut timers = lock(&self.timers);
            match timers.iter_mut().find(|t| t.sink.as_raw() == sink.as_raw()) {
                Some(t) => {
                    t.due = due;
                    Some(sink)
                }
                None => {
                    timers.push(Timer { due, sink });
                    None
                }
            }
        };
        // The duplicate reference is released with no lock held.
        replaced.is_some()
    }

    /// Cancels the timer of `sink`; returns true if one was pending (its reference is released).
    pub fn cancel_timer(&self, sink: &IServiceSink) -> bool {
        let removed = {
            let mut timers = lock(&self.timers);
            timers
                .iter()
                .position(|t| t.sink.as_raw() == sink.as_raw())
                .map(|i| timers.swap_remove(i))
        };
        removed.is_some()
    }

    /// Fires due retry timers (the render stream's 1 ms partial-write retry), calling
    /// `RequestService` on their sinks in deadline order, with no lock held. One pass: a timer
    /// armed by a callback waits for the next call even if it is already due.
    pub fn run_timers(&self, now: i64) {
        let mut due: Vec<Timer> = {
            let mut timers = lock(&self.timers);
            let (due, pending) = core::mem::take(&mut *timers)
                .into_iter()
                .partition(|t| t.due <= now);
            *timers = pending;
            due
        };
        due.sort_by_key(|t| t.due);
        for t in due {
            t.sink.RequestService();
        }
    }

    /// The earliest pending timer deadline, if any.
    pub fn next_timer(&self) -> Option<i64> {
        lock(&self.timers).iter().map(|t| t.due).min()
    }
}

/// The sample miniport's interrupt service routine as the virtual device's handler.
struct MiniportIsr(Isr);

impl InterruptHandler for MiniportIsr {
    fn service_interrupt(&self, _mpu: &VirtualMpu401, time: i64) {
        // The routine reads the data port through the miniport's device, which is this one.
        self.0.service(time);
    }
}

// SAFETY: the routine is called only from `receive`, with the connection's lock held, and
// `disconnect_interrupt` takes that lock: once it returns, the routine is neither running nor
// reachable.
unsafe impl Mpu401 for VirtualMpu401 {
    fn write_data(&self, bytes: &[u8], now: i64) -> usize {
        self.write(bytes, now)
    }

    fn write_command(&self, command: u8) -> bool {
        VirtualMpu401::write_command(self, command)
    }

    fn read_data(&self) -> Option<u8> {
        VirtualMpu401::read_data(self)
    }

    fn connect_interrupt(&self, isr: Isr) -> bool {
        VirtualMpu401::connect_interrupt(self, Arc::new(MiniportIsr(isr)))
    }

    fn disconnect_interrupt(&self) {
        // Only the miniport that connected disconnects (the line is not shared).
        let old = lock(&self.isr).take();
        drop(old);
    }

    fn set_timer(&self, due: i64, sink: IServiceSink) -> bool {
        VirtualMpu401::set_timer(self, due, sink)
    }

    fn cancel_timer(&self, sink: &IServiceSink) -> bool {
        VirtualMpu401::cancel_timer(self, sink)
    }
}
