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
use crate::{MAX_RENDER_STREAMS, RETRY_DELAY};
use alloc::boxed::Box;
use core::ffi::c_void;
use core::ptr::NonNull;
use mxf::abi::{NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, STATUS_UNSUCCESSFUL};
use mxf::com::Interface;
use mxf::driver::{IoPorts, ServiceTimer};
use mxf::interfaces::{IInterruptSync, IPortDMus, IServiceGroup, IServiceSink};
use mxf::platform::atomic::{AtomicBool, Ordering};

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

    /// Runs `f` once, synchronized with the interrupt service routine: while it runs, the
    /// [`Isr`] is not running on any CPU. A driver's device does it with
    /// `IInterruptSync::CallSynchronizedRoutine` (`f` then runs at DIRQL); a device whose ISR
    /// is an ordinary thread may run `f` directly (the miniport's own flag then excludes the
    /// two, `shared.rs`). `f` must be called exactly once.
    fn synchronize(&self, f: &mut dyn FnMut()) {
        f()
    }

    /// The service group the miniport notifies its port with, if the device needs its own: a
    /// driver's ISR runs at DIRQL, where only PortCls's group (`PcNewServiceGroup`, which
    /// queues a DPC) may be asked for service. `None`: the miniport makes mxf's.
    fn service_group(&self) -> Option<IServiceGroup> {
        None
    }

    /// Whether the device has an interrupt (input): without one the miniport refuses capture
    /// streams.
    fn has_interrupt(&self) -> bool {
        true
    }
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
    fn synchronize(&self, f: &mut dyn FnMut()) {
        (**self).synchronize(f)
    }
    fn service_group(&self) -> Option<IServiceGroup> {
        (**self).service_group()
    }
    fn has_interrupt(&self) -> bool {
        (**self).has_interrupt()
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
    /// while a capture stream runs, and asks the port for service (`Notify`). True if the
    /// device had input (the interrupt was this device's).
    ///
    /// The device calls it synchronized ([`Mpu401::synchronize`] does not run meanwhile: in a
    /// driver, under the interrupt spin lock), never from inside `synchronize`.
    pub fn service(&self, time: i64) -> bool {
        self.shared().service_interrupt(|_| time)
    }

    /// [`service`](Self::service), the time read from the capture stream's master clock (0
    /// without a capture stream, whose input is dropped anyway): what a driver's ISR does, as
    /// DMusUART's does.
    pub fn service_now(&self) -> bool {
        self.drain_now().map(Notification::send).is_some()
    }

    /// The first half of [`service_now`](Self::service_now): drains the data port into the
    /// FIFO (`None` if no byte was waiting) and gives the port notification to send once the
    /// device's interrupt line is released (a device that runs the ISR under a lock its
    /// synchronized code takes too, while the port may service the group at once).
    pub fn drain_now(&self) -> Option<Notification> {
        self.shared().drain(|state| {
            let mut time = 0;
            if let Some(clock) = &state.clock {
                // SAFETY: a valid out-pointer; the master clock answers at any IRQL.
                let _ = unsafe { clock.GetTime(&mut time) };
            }
            time
        })
    }

    /// The routine's context pointer, as `RegisterServiceRoutine` takes it.
    pub fn as_context(&self) -> *mut c_void {
        self.shared.as_ptr().cast()
    }

    /// The routine whose [`as_context`](Self::as_context) is `context`; `None` for NULL.
    ///
    /// # Safety
    /// `context` is NULL or came from `as_context` of a routine still connected.
    pub unsafe fn from_context(context: *mut c_void) -> Option<Self> {
        NonNull::new(context.cast::<Shared>()).map(|shared| Self { shared })
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the device calls this only while connected, and the miniport owning `Shared`
        // disconnects before it goes (the contract of `Mpu401`).
        unsafe { self.shared.as_ref() }
    }
}

/// What the ISR tells the port after it kept input: `Port.Notify(group)`, which queues the
/// port's service (a DPC in PortCls).
pub struct Notification(pub(crate) Option<(IPortDMus, IServiceGroup)>);

impl Notification {
    /// Sends it. Not the last references: the miniport keeps them while its interrupt is
    /// connected.
    pub fn send(self) {
        if let Some((port, group)) = self.0 {
            port.Notify(Some(group.to_ref()));
        }
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

/// The card's two registers as the MPU-401 logic below reads and writes them: offset 0 the
/// data port, offset 1 the status (read) / command (write) port. The I/O ports of a card
/// ([`IoPorts`]).
pub(crate) trait Registers {
    /// Reads the register at `offset`.
    fn read(&self, offset: u32) -> u8;
    /// Writes `value` to the register at `offset`; false if nothing was written.
    fn write(&self, offset: u32, value: u8) -> bool;
}

impl Registers for IoPorts {
    fn read(&self, offset: u32) -> u8 {
        IoPorts::read(self, offset)
    }
    fn write(&self, offset: u32, value: u8) -> bool {
        IoPorts::write(self, offset, value)
    }
}

/// Waits (bounded) until the device can take a byte.
fn wait_output_ready(r: &(impl Registers + ?Sized)) -> bool {
    (0..POLLS).any(|_| r.read(STATUS_PORT) & MPU401_STATUS_OUTPUT_BUSY == 0)
}

/// Waits (bounded) for the command acknowledgement, reading (and discarding) what comes before
/// it.
fn wait_ack(r: &(impl Registers + ?Sized)) -> bool {
    (0..POLLS).any(|_| {
        r.read(STATUS_PORT) & MPU401_STATUS_INPUT_EMPTY == 0 && r.read(DATA_PORT) == MPU401_ACK
    })
}

fn command_once(r: &(impl Registers + ?Sized), command: u8) -> bool {
    wait_output_ready(r) && r.write(STATUS_PORT, command) && wait_ack(r)
}

/// Writes `command` and waits for its acknowledgement. A device in UART mode does not
/// acknowledge the first reset (it leaves UART mode on it): DMusUART sends it twice.
pub(crate) fn command(r: &(impl Registers + ?Sized), command: u8) -> bool {
    command_once(r, command) || (command == MPU401_CMD_RESET && command_once(r, command))
}

/// Writes `bytes` to the data port while the device takes them; how many it took.
pub(crate) fn write_bytes(r: &(impl Registers + ?Sized), bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|&&b| wait_output_ready(r) && r.write(DATA_PORT, b))
        .count()
}

/// The next input byte, if one is waiting.
pub(crate) fn read_input(r: &(impl Registers + ?Sized)) -> Option<u8> {
    (r.read(STATUS_PORT) & MPU401_STATUS_INPUT_EMPTY == 0).then(|| r.read(DATA_PORT))
}

/// One retry timer ([`ServiceTimer`], `KTIMER` + `KDPC`) per render stream, in a heap block of
/// their own (a queued `KTIMER` does not move).
pub(crate) struct RetryTimers {
    timers: Box<[ServiceTimer; MAX_RENDER_STREAMS]>,
}

impl RetryTimers {
    pub(crate) fn new() -> Result<Self, NTSTATUS> {
        Ok(Self {
            timers: try_box([const { ServiceTimer::new() }; MAX_RENDER_STREAMS])?,
        })
    }

    pub(crate) fn all(&self) -> &[ServiceTimer] {
        &self.timers[..]
    }

    /// [`Mpu401::set_timer`]. `due` is always the stream's "now + RETRY_DELAY": the kernel
    /// timer is set relative (`-RETRY_DELAY`), which needs no clock here. The stream's own
    /// timer first (the deadline moves), else a free one.
    pub(crate) fn set(&self, _due: i64, sink: IServiceSink) -> bool {
        let mine = self.timers.iter().find(|t| t.holds(&sink));
        let mut sink = sink;
        for timer in mine.into_iter().chain(self.timers.iter()) {
            // SAFETY: the timers live in their own heap block, which does not move.
            match unsafe { timer.set(RETRY_DELAY, sink) } {
                Ok(pending) => return pending,
                Err(back) => sink = back,
            }
        }
        // Every timer serves another stream (more render streams than timers: never, the
        // miniport opens at most MAX_RENDER_STREAMS): the port's next PutMessage retries.
        drop(sink);
        false
    }

    /// [`Mpu401::cancel_timer`].
    pub(crate) fn cancel(&self, sink: &IServiceSink) -> bool {
        self.timers.iter().any(|t| t.cancel(sink))
    }
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
/// an MPU-401 needs, and its interrupt through PortCls's `IInterruptSync`.
///
/// * **Interrupt**: [`with_interrupt`](Self::with_interrupt) gives it the interrupt object the
///   factory made (`PcNewInterruptSync` on the resource list's first interrupt, mode normal)
///   and PortCls's service group (`PcNewServiceGroup`). [`connect_interrupt`](Mpu401::connect_interrupt)
///   registers [`service_routine`] with the [`Isr`] as its context and connects;
///   [`disconnect_interrupt`](Mpu401::disconnect_interrupt) disconnects (the object is released
///   with the device, when the miniport goes). The routine runs at DIRQL under the interrupt
///   spin lock: it drains the data port into the FIFO ([`Isr::service_now`]) and answers
///   `STATUS_SUCCESS` if the card had input, else `STATUS_UNSUCCESSFUL` so that a shared line
///   asks the next driver. Commands (whose acknowledgement the ISR would otherwise read) and
///   data writes run under `CallSynchronizedRoutine` while connected, as DMusUART's do; so does
///   everything the streams share with the ISR ([`Mpu401::synchronize`]).
/// * **Without an interrupt** resource the device has no input: the miniport refuses capture
///   streams ([`Mpu401::has_interrupt`]) and render works.
/// * **Retry timer**: one [`ServiceTimer`] (`KTIMER` + `KDPC`) per render stream:
///   [`set_timer`](Mpu401::set_timer) keeps the stream's reference and sets the timer
///   `RETRY_DELAY` from now; its DPC calls the stream's `RequestService` and releases the
///   reference; [`cancel_timer`](Mpu401::cancel_timer) releases it if `KeCancelTimer`
///   dequeued the timer (else the DPC does).
///
/// Where the system has no port I/O ([`IoPorts::available`], or a host build without a test
/// bus) every read gives `0xFF`: a device that never acknowledges, so streams open but RUN
/// fails with `STATUS_INVALID_DEVICE_STATE`.
pub struct PortIo {
    ports: IoPorts,
    /// One retry timer per render stream.
    timers: RetryTimers,
    /// The interrupt object and PortCls's service group, if the resources had an interrupt.
    interrupt: Option<(IInterruptSync, IServiceGroup)>,
    /// Between `Connect` and `Disconnect`.
    connected: AtomicBool,
}

/// `PINTERRUPTSYNCROUTINE` of [`PortIo`]: the interrupt fired. `context` is the [`Isr`]'s
/// ([`Isr::as_context`]). `STATUS_SUCCESS` if the card had input (the interrupt was this
/// device's), else `STATUS_UNSUCCESSFUL` (the next routine or driver on the line is asked).
///
/// # Safety
/// Called by `IInterruptSync` (at DIRQL, under its spin lock) while connected, with the context
/// registered by [`PortIo`]'s `connect_interrupt`.
pub unsafe extern "system" fn service_routine(
    _interrupt_sync: *mut c_void,
    context: *mut c_void,
) -> NTSTATUS {
    // SAFETY: the context registered with the routine, alive while connected (caller).
    match unsafe { Isr::from_context(context) } {
        Some(isr) if isr.service_now() => STATUS_SUCCESS,
        _ => STATUS_UNSUCCESSFUL,
    }
}

/// `PINTERRUPTSYNCROUTINE` of `CallSynchronizedRoutine`: runs the closure `context` points to.
///
/// # Safety
/// `context` points to a live `&mut dyn FnMut()`, for the call.
unsafe extern "system" fn synchronized(
    _interrupt_sync: *mut c_void,
    context: *mut c_void,
) -> NTSTATUS {
    // SAFETY: the caller's closure, valid and not otherwise borrowed for the call.
    let f = unsafe { &mut *context.cast::<&mut dyn FnMut()>() };
    f();
    STATUS_SUCCESS
}

impl PortIo {
    /// The MPU-401 on `ports` (data port at offset 0, status/command port at offset 1),
    /// without an interrupt. `STATUS_INSUFFICIENT_RESOURCES` if its timers cannot be
    /// allocated.
    pub fn new(ports: IoPorts) -> Result<Self, NTSTATUS> {
        Ok(Self {
            ports,
            timers: RetryTimers::new()?,
            interrupt: None,
            connected: AtomicBool::new(false),
        })
    }

    /// The MPU-401 on `ports` with its interrupt object (made by `PcNewInterruptSync`, not
    /// connected) and the PortCls service group the miniport notifies from the ISR.
    pub fn with_interrupt(
        ports: IoPorts,
        interrupt: IInterruptSync,
        group: IServiceGroup,
    ) -> Result<Self, NTSTATUS> {
        Ok(Self {
            interrupt: Some((interrupt, group)),
            ..Self::new(ports)?
        })
    }

    /// The retry timers (one per render stream).
    pub fn timers(&self) -> &[ServiceTimer] {
        self.timers.all()
    }

    /// The range.
    pub fn ports(&self) -> IoPorts {
        self.ports
    }

    /// `f`, under the interrupt spin lock while the interrupt is connected.
    fn run_synchronized<R: Default>(&self, f: impl FnOnce() -> R) -> R {
        let mut f = Some(f);
        let mut out = R::default();
        self.synchronize(&mut || {
            if let Some(f) = f.take() {
                out = f();
            }
        });
        out
    }
}

// SAFETY: the routine is registered once, by `connect_interrupt`, with the `Isr` it is given;
// it is called only between `Connect` and `Disconnect`, and `Disconnect` returns once no call
// is running (`IInterruptSync`'s contract).
unsafe impl Mpu401 for PortIo {
    fn write_data(&self, bytes: &[u8], _now: i64) -> usize {
        self.run_synchronized(|| write_bytes(&self.ports, bytes))
    }

    fn write_command(&self, command: u8) -> bool {
        // Synchronized: the ISR would otherwise read the acknowledgement. A device in UART mode
        // does not acknowledge the first reset (it leaves UART mode on it): DMusUART sends it
        // twice.
        self.run_synchronized(|| self::command(&self.ports, command))
    }

    fn read_data(&self) -> Option<u8> {
        // Called by the ISR (synchronized already).
        read_input(&self.ports)
    }

    fn connect_interrupt(&self, isr: Isr) -> bool {
        let Some((interrupt, _)) = &self.interrupt else {
            // No interrupt resource: nothing to connect (capture is refused).
            return true;
        };
        if self.connected.load(Ordering::Acquire) {
            return false;
        }
        // SAFETY: `service_routine` is a PINTERRUPTSYNCROUTINE whose context is an `Isr`'s,
        // valid until `disconnect_interrupt` returns (the miniport's destructor calls it).
        let status =
            unsafe { interrupt.RegisterServiceRoutine(service_routine, isr.as_context(), 0) };
        if !status.is_success() || !interrupt.Connect().is_success() {
            return false;
        }
        self.connected.store(true, Ordering::Release);
        true
    }

    fn disconnect_interrupt(&self) {
        if let Some((interrupt, _)) = &self.interrupt
            && self.connected.swap(false, Ordering::AcqRel)
        {
            // When this returns the routine is not running and never runs again.
            interrupt.Disconnect();
        }
    }

    fn set_timer(&self, due: i64, sink: IServiceSink) -> bool {
        self.timers.set(due, sink)
    }

    fn cancel_timer(&self, sink: &IServiceSink) -> bool {
        self.timers.cancel(sink)
    }

    fn synchronize(&self, f: &mut dyn FnMut()) {
        match &self.interrupt {
            Some((interrupt, _)) if self.connected.load(Ordering::Acquire) => {
                let mut f = f;
                let context: *mut &mut dyn FnMut() = &mut f;
                // SAFETY: `synchronized` runs the closure `context` points to, which lives
                // across the call. PortCls runs it at once (under the interrupt spin lock).
                let _ = unsafe { interrupt.CallSynchronizedRoutine(synchronized, context.cast()) };
            }
            _ => f(),
        }
    }

    fn service_group(&self) -> Option<IServiceGroup> {
        self.interrupt.as_ref().map(|(_, group)| group.clone())
    }

    fn has_interrupt(&self) -> bool {
        self.interrupt.is_some()
    }
}
