//! A device the host provides ([`HostDevice`]): the MPU-401 behind a COM interface,
//! [`IMpu401Host`], for a driver loaded where port I/O and interrupts cannot reach it (Wine's
//! kernel emulation with the project's PortCls double, `docs/driver.md` §8).
//!
//! The factory asks the device's resource list for `IMpu401Host` before it looks for a port
//! range: a host that answers it is the device (the Wine tier's double answers it with a
//! loopback wire), one that does not (PortCls) leaves the driver on its ports. The interrupt is
//! an object of the driver's, [`IMpu401Interrupt`], that the host calls as a line would be
//! raised (from a thread of its own: the miniport's state flag excludes it from the streams,
//! `shared.rs`); the retry timers are the driver's own, as [`PortIo`](crate::PortIo)'s (a
//! `KTIMER` + `KDPC` per render stream: `KeSetTimer` works under Wine, its DPC on a pool
//! thread).
//!
//! Trusting the list is acceptable: on Windows it is PortCls's own object, built from what the
//! PnP manager assigned, which answers only `IID_IResourceList` and `IID_IUnknown`, so the
//! driver stays on its ports; only a host that built the list itself (a double that plays the
//! kernel, trusted with the whole driver anyway) can provide a device.

use crate::device::{Isr, Mpu401, RetryTimers};
use mxf::abi::NTSTATUS;
use mxf::com::{ComRef, Interface, IntoComObject};
use mxf::interfaces::{IServiceSink, IUnknown};
use mxf::{com_interface, com_object};

/// `IMpu401Host`: an MPU-401 in UART mode provided by the host (the project's own interface).
#[com_interface(iid = "6E1D3B52-8C0A-4F7E-9B21-4D5A7C3E9F10")]
// SAFETY: the IID is the project's own, for these slots in this order; the Wine tier's PortCls
// double declares the same (tests/wine-kernel/portcls/src/mpu401.rs).
pub unsafe trait IMpu401Host: IUnknown {
    /// Slot 3. Writes `length` bytes at `bytes` to the data port at master-clock time `now`;
    /// returns how many the device took.
    unsafe fn WriteData(&self, bytes: *const u8, length: u32, now: i64) -> u32;
    /// Slot 4. Writes `command` to the command port; non-zero if the device acknowledged it.
    fn WriteCommand(&self, command: u8) -> u8;
    /// Slot 5. Reads the next input byte into `*byte`; non-zero if there was one.
    unsafe fn ReadData(&self, byte: *mut u8) -> u8;
    /// Slot 6. Connects the interrupt: the host calls `interrupt` (and holds a reference) until
    /// `DisconnectInterrupt`; non-zero if connected.
    fn ConnectInterrupt(&self, interrupt: Option<ComRef<'_, IMpu401Interrupt>>) -> u8;
    /// Slot 7. Disconnects the interrupt; when it returns, the host is not calling it and never
    /// calls it again (its reference is released).
    fn DisconnectInterrupt(&self);
}

/// `IMpu401Interrupt`: the driver's interrupt line, raised by the host.
#[com_interface(iid = "6E1D3B53-8C0A-4F7E-9B21-4D5A7C3E9F10")]
// SAFETY: the IID is the project's own, for this slot; the double declares the same.
pub unsafe trait IMpu401Interrupt: IUnknown {
    /// Slot 3. Input is waiting; `time` is the master-clock time it arrived at.
    fn Interrupt(&self, time: i64);
}

/// The interrupt object: calls the miniport's routine.
#[com_object(IMpu401Interrupt, tag = "UARi")]
struct Line {
    isr: Isr,
}

impl IMpu401Interrupt_Impl for Line {
    fn Interrupt(&self, time: i64) {
        let _ = self.isr.service(time);
    }
}

/// The [`Mpu401`] of a host's [`IMpu401Host`].
pub struct HostDevice {
    host: IMpu401Host,
    /// One retry timer per render stream.
    timers: RetryTimers,
}

impl HostDevice {
    /// The device behind `host`; `STATUS_INSUFFICIENT_RESOURCES` if its timers cannot be
    /// allocated.
    pub fn new(host: IMpu401Host) -> Result<Self, NTSTATUS> {
        Ok(Self {
            host,
            timers: RetryTimers::new()?,
        })
    }

    /// The host device the resource list `list` answers for, if any.
    pub fn from_resources(
        list: ComRef<'_, mxf::interfaces::IResourceList>,
    ) -> Option<Result<Self, NTSTATUS>> {
        list.cast::<IMpu401Host>().ok().map(Self::new)
    }

    /// The retry timers (one per render stream).
    pub fn timers(&self) -> &[mxf::driver::ServiceTimer] {
        self.timers.all()
    }
}

// SAFETY: the host's contract: it calls the routine only between ConnectInterrupt and the
// return of DisconnectInterrupt, which `disconnect_interrupt` calls.
unsafe impl Mpu401 for HostDevice {
    fn write_data(&self, bytes: &[u8], now: i64) -> usize {
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        // SAFETY: `bytes` is valid for `length` bytes (at most its length) across the call.
        let taken = unsafe { self.host.WriteData(bytes.as_ptr(), length, now) };
        usize::try_from(taken).map_or(0, |n| n.min(bytes.len()))
    }

    fn write_command(&self, command: u8) -> bool {
        self.host.WriteCommand(command) != 0
    }

    fn read_data(&self) -> Option<u8> {
        let mut byte = 0u8;
        // SAFETY: a valid out-pointer.
        (unsafe { self.host.ReadData(&mut byte) } != 0).then_some(byte)
    }

    fn connect_interrupt(&self, isr: Isr) -> bool {
        let line: Result<IMpu401Interrupt, NTSTATUS> = Line { isr }.into_com();
        match line {
            Ok(line) => self.host.ConnectInterrupt(Some(line.to_ref())) != 0,
            Err(_) => false,
        }
    }

    fn disconnect_interrupt(&self) {
        self.host.DisconnectInterrupt();
    }

    fn set_timer(&self, due: i64, sink: IServiceSink) -> bool {
        self.timers.set(due, sink)
    }

    fn cancel_timer(&self, sink: &IServiceSink) -> bool {
        self.timers.cancel(sink)
    }
}
