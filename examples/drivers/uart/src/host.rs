//! A device from the host: [`IMpu401`], an MPU-401 a host hands the driver as a COM object, and
//! [`HostMpu401`], the [`Mpu401`] that drives it.
//!
//! Under Wine's kernel emulation `in`/`out` kill the process and no interrupt arrives
//! (`kernel.md` §3), so a host that loads `uart.sys` with a PortCls double gives the driver a
//! device instead of ports: the **resource list** it passes to `StartDevice` answers
//! `QueryInterface(IID_IMpu401)` with the device. The factory asks the list for it before it
//! looks for a port range ([`uart_subdevice`](crate::uart_subdevice)).
//!
//! Trusting it is acceptable: on Windows the list is PortCls's own object, built from what the
//! PnP manager assigned to the device; PortCls's list answers `IID_IResourceList` and
//! `IID_IUnknown` only, so the driver always falls back to its port range there. Only a host
//! that built the list itself (a test double, which also plays the kernel) can hand a device
//! over, and such a host is trusted with the whole driver anyway.
//!
//! The interface is the card's registers (status, data, command) plus its interrupt line:
//! [`HostMpu401`] drives it exactly as [`PortIo`](crate::PortIo) drives the ports (the same
//! status-register waits, the double reset), and it keeps one retry timer per render stream as
//! `PortIo` does (`KeSetTimer` works under Wine, its DPC on a pool thread).
//!
//! # The interrupt
//!
//! The device calls the routine it was given (`ConnectInterrupt`) whenever input is waiting,
//! from any thread, possibly from inside one of its own methods (a loopback device raises it
//! while the driver writes). [`HostMpu401`] plays the interrupt controller for it: an
//! interrupt raised while the driver runs synchronized code ([`Mpu401::synchronize`], a
//! command waiting for its acknowledgement) is held pending, and serviced as soon as that code
//! ends, as a masked interrupt line is; two never run at once.

use crate::device::{Isr, Mpu401, RetryTimers, command, read_input, service_routine, write_bytes};
use crate::device::{Registers, try_box};
use alloc::boxed::Box;
use core::ffi::c_void;
use mxf::abi::{NTSTATUS, STATUS_SUCCESS};
use mxf::com_interface;
use mxf::interfaces::{IServiceSink, IUnknown, InterruptSyncRoutine};
use mxf::platform::atomic::{AtomicBool, AtomicPtr, Ordering};

/// `IMpu401`: an MPU-401 as a host hands it to the driver (see the module docs). Offsets as on
/// the card: the data port, and the status (read) / command (write) port.
#[com_interface(iid = "F0576A5D-92BE-4A9B-B5DE-07654EC6540F")]
// SAFETY: an mxf interface: its IID is its own, its slots in this order.
pub unsafe trait IMpu401: IUnknown {
    /// Slot 3. The status register: bit 6 set while the card cannot take a byte, bit 7 set
    /// while no input byte is waiting.
    fn ReadStatus(&self) -> u8;
    /// Slot 4. The data port: the next input byte (`0xFF` if none).
    fn ReadData(&self) -> u8;
    /// Slot 5. Writes `value` to the data port.
    fn WriteData(&self, value: u8);
    /// Slot 6. Writes `value` to the command port (its acknowledgement, `0xFE`, comes as input).
    fn WriteCommand(&self, value: u8);
    /// Slot 7. Connects the interrupt: from now on the device calls `routine(NULL, context)`
    /// whenever input is waiting (never two calls at once), until `DisconnectInterrupt`
    /// returns. `STATUS_INVALID_DEVICE_STATE` if a routine is connected already.
    unsafe fn ConnectInterrupt(
        &self,
        routine: InterruptSyncRoutine,
        context: *mut c_void,
    ) -> NTSTATUS;
    /// Slot 8. Disconnects it: when this returns the routine is not running and is never
    /// called again.
    fn DisconnectInterrupt(&self);
}

impl Registers for IMpu401 {
    fn read(&self, offset: u32) -> u8 {
        match offset {
            0 => self.ReadData(),
            1 => self.ReadStatus(),
            _ => 0xFF,
        }
    }

    fn write(&self, offset: u32, value: u8) -> bool {
        match offset {
            0 => self.WriteData(value),
            1 => self.WriteCommand(value),
            _ => return false,
        }
        true
    }
}

/// The [`Mpu401`] on a device the host handed over ([`IMpu401`]; see the module docs).
pub struct HostMpu401 {
    device: IMpu401,
    timers: RetryTimers,
    /// The interrupt line: held while the ISR or synchronized code runs.
    line: AtomicBool,
    /// An interrupt was raised while the line was held: serviced when it is released.
    pending: AtomicBool,
    /// The connected ISR's context ([`Isr::as_context`]); NULL while disconnected.
    isr: AtomicPtr<c_void>,
}

impl HostMpu401 {
    /// The MPU-401 `device`, boxed (its address is the interrupt routine's context).
    /// `STATUS_INSUFFICIENT_RESOURCES` if the pool is exhausted.
    pub fn new(device: IMpu401) -> Result<Box<Self>, NTSTATUS> {
        try_box(Self {
            device,
            timers: RetryTimers::new()?,
            line: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            isr: AtomicPtr::new(core::ptr::null_mut()),
        })
    }

    /// The device.
    pub fn device(&self) -> &IMpu401 {
        &self.device
    }

    fn try_hold_line(&self) -> bool {
        self.line
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn release_line(&self) {
        self.line.store(false, Ordering::Release);
    }

    /// Services pending interrupts while the line is free; true if this call serviced input.
    fn service_pending(&self) -> bool {
        let mut serviced = false;
        while self.pending.load(Ordering::Acquire) && self.try_hold_line() {
            self.pending.store(false, Ordering::Release);
            // Read under the line: `disconnect_interrupt` clears it and then waits for the line.
            let context = self.isr.load(Ordering::Acquire);
            // SAFETY: a context stored by `connect_interrupt`, still connected (not cleared).
            if let Some(isr) = unsafe { Isr::from_context(context) } {
                serviced |= isr.service_now();
            }
            self.release_line();
        }
        serviced
    }

    /// The device raised its interrupt.
    fn raise(&self) -> bool {
        self.pending.store(true, Ordering::Release);
        self.service_pending()
    }
}

/// The routine [`HostMpu401`] connects to its device: `context` is the `HostMpu401`.
///
/// # Safety
/// Called by the device while connected, with the context `connect_interrupt` gave it.
unsafe extern "system" fn host_interrupt(_this: *mut c_void, context: *mut c_void) -> NTSTATUS {
    // SAFETY: the boxed device, alive while connected (caller).
    match unsafe { context.cast::<HostMpu401>().as_ref() } {
        Some(mpu) => {
            // Serviced now, or when the synchronized code holding the line ends.
            let _ = mpu.raise();
            STATUS_SUCCESS
        }
        // SAFETY: forwarded: a NULL context is `service_routine`'s answer, unsuccessful.
        None => unsafe { service_routine(core::ptr::null_mut(), core::ptr::null_mut()) },
    }
}

// SAFETY: the ISR is called only under the line, with the context stored by
// `connect_interrupt`; `disconnect_interrupt` disconnects the device (which then never calls
// `host_interrupt` again), clears the context, and waits until the line is free: no call runs
// afterwards.
unsafe impl Mpu401 for HostMpu401 {
    fn write_data(&self, bytes: &[u8], _now: i64) -> usize {
        let mut written = 0;
        self.synchronize(&mut || written = write_bytes(&self.device, bytes));
        written
    }

    fn write_command(&self, value: u8) -> bool {
        let mut ok = false;
        self.synchronize(&mut || ok = command(&self.device, value));
        ok
    }

    fn read_data(&self) -> Option<u8> {
        read_input(&self.device)
    }

    fn connect_interrupt(&self, isr: Isr) -> bool {
        if self
            .isr
            .compare_exchange(
                core::ptr::null_mut(),
                isr.as_context(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        let context = core::ptr::from_ref(self).cast_mut().cast::<c_void>();
        // SAFETY: `host_interrupt`'s context is this boxed device, alive until the miniport's
        // destructor has disconnected it.
        let status = unsafe { self.device.ConnectInterrupt(host_interrupt, context) };
        if !status.is_success() {
            self.isr.store(core::ptr::null_mut(), Ordering::Release);
            return false;
        }
        // Input that arrived before: serviced now.
        let _ = self.raise();
        true
    }

    fn disconnect_interrupt(&self) {
        self.device.DisconnectInterrupt();
        self.isr.store(core::ptr::null_mut(), Ordering::Release);
        // Waits for an ISR running from `service_pending`.
        while !self.try_hold_line() {
            core::hint::spin_loop();
        }
        self.release_line();
    }

    fn set_timer(&self, due: i64, sink: IServiceSink) -> bool {
        self.timers.set(due, sink)
    }

    fn cancel_timer(&self, sink: &IServiceSink) -> bool {
        self.timers.cancel(sink)
    }

    fn synchronize(&self, f: &mut dyn FnMut()) {
        while !self.try_hold_line() {
            core::hint::spin_loop();
        }
        f();
        self.release_line();
        // An interrupt raised meanwhile was held pending.
        let _ = self.service_pending();
    }
}
