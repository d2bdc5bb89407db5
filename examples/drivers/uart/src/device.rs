//! The device seam: the MPU-401 as the miniport sees it ([`Mpu401`]), its interrupt service
//! routine as a device calls it ([`Isr`]), and the driver's device on the card's I/O ports
//! ([`PortIo`]).
//!
//! The miniport, its streams and its FIFO touch the hardware only through [`Mpu401`]: the
//! driver hands [`create_uart_miniport`](crate::create_uart_miniport) a [`PortIo`] on the first
//! I/O port range of its resources; the user-mode tests hand it the virtual MPU-401 of
//! `mxf_suite::uart` (examples/support/uart/mpu401.rs), which plays the wire, raises the
//! interrupt and runs the retry timers. A host that can give neither real ports nor interrupts
//! (Wine's kernel emulation, where `in`/`out` kill the process, `kernel.md` §3) provides the
//! device itself: the third implementation, [`HostDevice`](crate::host_device::HostDevice)
//! ("A device from the host" in `docs/driver.md` §6).

use crate::shared::Shared;
use alloc::boxed::Box;
use core::ptr::NonNull;
use mxf::abi::{NTSTATUS, STATUS_INSUFFICIENT_RESOURCES};
use mxf::driver::IoPorts;
use mxf::interfaces::IServiceSink;

/// Command-port byte: reset the MPU-401 (leaves UART mode).
pub const MPU401_CMD_RESET: u8 = 0xFF;
/// Command-port byte: enter UART mode (raw MIDI bytes on the data port).
pub const MPU401_CMD_UART: u8 = 0x3F;
/// What the MPU-401 puts on the data port to acknowledge a command.
pub const MPU401_ACK: u8 = 0xFE;
/// Status-register bit: set while the device cannot take a byte (DRR, "data receive ready" is
/// active low).
pub const MPU401_STATUS_OUTPUT_BUSY: u8 = 0x40;
/// Status-register bit: set while no input byte is waiting (DSR, active low).
pub const MPU401_STATUS_INPUT_EMPTY: u8 = 0x80;

/// The MPU-401 in UART mode as the miniport drives it: the data port, the command port, the
/// interrupt line and the render stream's retry timer.
///
/// # Safety
///
/// An implementation calls the [`Isr`] given to [`connect_interrupt`](Self::connect_interrupt)
/// only until [`disconnect_interrupt`](Self::disconnect_interrupt) returns, and never after:
/// when that returns, no call of the routine is running (what `IInterruptSync::Disconnect`
/// guarantees a PortCls miniport). The routine points into the miniport, which disconnects in
/// its destructor.
pub unsafe trait Mpu401: Send + Sync {
    /// Data port, render side: writes bytes in order and returns how many the device took
    /// (fewer than `bytes.len()` when it is busy). `now` is the master-clock time (100 ns).
    fn write_data(&self, bytes: &[u8], now: i64) -> usize;

    /// Command port: writes `command`; true if the device acknowledged it.
    fn write_command(&self, command: u8) -> bool;

    /// Data port, input side: the next byte from the wire, `None` when none is waiting (the
    /// interrupt service routine reads until then).
    fn read_data(&self) -> Option<u8>;

    /// Connects the interrupt to `isr`; false if the line is taken (by another miniport).
    fn connect_interrupt(&self, isr: Isr) -> bool;

    /// Disconnects the routine [`connect_interrupt`](Self::connect_interrupt) connected; when
    /// this returns it is not running and is never called again.
    fn disconnect_interrupt(&self);

    /// Arms `sink`'s one-shot retry timer for master-clock time `due`; the timer holds `sink`'s
    /// reference until it fires (`RequestService`) or is cancelled. Arming it again moves the
    /// deadline; returns true if it was pending.
    fn set_timer(&self, due: i64, sink: IServiceSink) -> bool;

    /// Cancels `sink`'s timer; true if one was pending (its reference is released).
    fn cancel_timer(&self, sink: &IServiceSink) -> bool;
}

// SAFETY: forwards to `T`, which keeps the contract.
unsafe impl<T: Mpu401 + ?Sized> Mpu401 for alloc::sync::Arc<T> {
    fn write_data(&self, bytes: &[u8], now: i64) -> usize {
        (**self).write_data(bytes, now)
    }
    fn write_command(&self, command: u8) -> bool {
        (**self).write_command(command)
    }
    fn read_data(&self) -> Option<u8> {
        (**self).read_data()
    }
    fn connect_interrupt(&self, isr: Isr) -> bool {
        (**self).connect_interrupt(isr)
    }
    fn disconnect_interrupt(&self) {
        (**self).disconnect_interrupt()
    }
    fn set_timer(&self, due: i64, sink: IServiceSink) -> bool {
        (**self).set_timer(due, sink)
    }
    fn cancel_timer(&self, sink: &IServiceSink) -> bool {
        (**self).cancel_timer(sink)
    }
}

/// The miniport's interrupt service routine, as a device calls it: the `ServiceContext` that a
/// PortCls miniport registers with `IInterruptSync::RegisterServiceRoutine` (a pointer into the
/// miniport). Valid while connected ([`Mpu401`]'s contract).
#[derive(Clone, Copy)]
pub struct Isr {
    shared: NonNull<Shared>,
}

// SAFETY: `Shared` is `Sync` (locks and atomics); the pointer is only dereferenced while the
// miniport lives (the device contract).
unsafe impl Send for Isr {}
// SAFETY: as for `Send`.
unsafe impl Sync for Isr {}

impl Isr {
    /// The routine of the miniport state `shared`.
    ///
    /// # Safety
    /// `shared` stays where it is and alive until the device it is connected to disconnects it.
    pub(crate) unsafe fn new(shared: &Shared) -> Self {
        Self {
            shared: NonNull::from(shared),
        }
    }

    /// Services the interrupt taken at master-clock time `time`: reads every waiting byte from
    /// the device's data port (which clears the interrupt), keeps them in the software FIFO
    /// while a capture stream runs, and asks the port for service (`Notify`).
    pub fn service(&self, time: i64) {
        // SAFETY: the device calls this only while connected, and the miniport owning `Shared`
        // disconnects before it goes (the contract of `Mpu401`).
        let shared = unsafe { self.shared.as_ref() };
        shared.service_interrupt(time);
    }
}

/// Boxes `value` with a fallible allocation (`STATUS_INSUFFICIENT_RESOURCES` if the pool is
/// exhausted): `Box::new` would reach the allocation-error handler, a panic.
pub fn try_box<T>(value: T) -> Result<Box<T>, NTSTATUS> {
    let layout = core::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        let p = NonNull::<T>::dangling().as_ptr();
        // SAFETY: a zero-sized value needs no storage; a dangling, aligned pointer is a valid
        // `Box` of it (`Box`'s documented ZST rule).
        return Ok(unsafe {
            p.write(value);
            Box::from_raw(p)
        });
    }
    // SAFETY: `layout` has a non-zero size.
    let p = unsafe { alloc::alloc::alloc(layout) }.cast::<T>();
    if p.is_null() {
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    // SAFETY: `p` is a fresh block of the global allocator with `T`'s layout: written once,
    // then owned by the `Box`, which frees it with the same layout.
    Ok(unsafe {
        p.write(value);
        Box::from_raw(p)
    })
}

/// Status-register reads a wait for the device makes before giving up: about 1 µs each on an
/// ISA bus, so a few hundred µs (DMusUART waits in the same way, bounded).
const POLLS: u32 = 256;
/// The data port's offset in the range.
const DATA_PORT: u32 = 0;
/// The status (read) and command (write) port's offset.
const STATUS_PORT: u32 = 1;

/// The driver's MPU-401: the data port and the status/command port of an I/O port range
/// ([`IoPorts`], hal's `READ_PORT_UCHAR` / `WRITE_PORT_UCHAR`), with the status-register checks
/// an MPU-401 needs.
///
/// What it does not do yet (`docs/driver.md` §6): the interrupt is not connected
/// ([`connect_interrupt`](Mpu401::connect_interrupt) succeeds without connecting anything, so
/// no input is read: the driver's capture stream delivers nothing), and there is no retry timer
/// ([`set_timer`](Mpu401::set_timer) arms nothing: a write the device refused is retried at
/// the port's next `PutMessage`). Where the system has no port I/O
/// ([`IoPorts::available`], or a host build) every read gives `0xFF`: a device that never
/// acknowledges, so streams open but RUN fails with `STATUS_INVALID_DEVICE_STATE`.
pub struct PortIo {
    ports: IoPorts,
}

impl PortIo {
    /// The MPU-401 on `ports` (data port at offset 0, status/command port at offset 1).
    pub fn new(ports: IoPorts) -> Self {
        Self { ports }
    }

    /// The range.
    pub fn ports(&self) -> IoPorts {
        self.ports
    }

    fn status(&self) -> u8 {
        self.ports.read(STATUS_PORT)
    }

    /// Waits (bounded) until the device can take a byte.
    fn wait_output_ready(&self) -> bool {
        (0..POLLS).any(|_| self.status() & MPU401_STATUS_OUTPUT_BUSY == 0)
    }

    /// Waits (bounded) for the command acknowledgement, reading (and discarding) what comes
    /// before it.
    fn wait_ack(&self) -> bool {
        (0..POLLS).any(|_| {
            self.status() & MPU401_STATUS_INPUT_EMPTY == 0
                && self.ports.read(DATA_PORT) == MPU401_ACK
        })
    }

    fn command(&self, command: u8) -> bool {
        self.wait_output_ready() && self.ports.write(STATUS_PORT, command) && self.wait_ack()
    }
}

// SAFETY: `PortIo` never connects (nor calls) an interrupt service routine.
unsafe impl Mpu401 for PortIo {
    fn write_data(&self, bytes: &[u8], _now: i64) -> usize {
        bytes
            .iter()
            .take_while(|&&b| self.wait_output_ready() && self.ports.write(DATA_PORT, b))
            .count()
    }

    fn write_command(&self, command: u8) -> bool {
        // A device in UART mode does not acknowledge the first reset (it leaves UART mode on
        // it): DMusUART sends it twice.
        self.command(command) || (command == MPU401_CMD_RESET && self.command(command))
    }

    fn read_data(&self) -> Option<u8> {
        (self.status() & MPU401_STATUS_INPUT_EMPTY == 0).then(|| self.ports.read(DATA_PORT))
    }

    fn connect_interrupt(&self, _isr: Isr) -> bool {
        // Not connected yet (docs/driver.md §6): `PcNewInterruptSync` + `RegisterServiceRoutine`
        // + `Connect` on the resource list's interrupt is what a driver does.
        true
    }

    fn disconnect_interrupt(&self) {}

    fn set_timer(&self, _due: i64, sink: IServiceSink) -> bool {
        // No timer yet (docs/driver.md §6): the reference goes at once; the port's next
        // PutMessage retries the write.
        drop(sink);
        false
    }

    fn cancel_timer(&self, _sink: &IServiceSink) -> bool {
        false
    }
}
