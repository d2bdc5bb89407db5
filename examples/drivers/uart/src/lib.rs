//! The UART sample: a DMusUART-like DMus miniport on an MPU-401, and the driver that installs it
//! (`uart.sys`, built and checked by `.ci/drivers.sh`).
//!
//! **This crate is the template for a new miniport.** Copy it, rename it, and replace the
//! [`Mpu401`] implementations with your hardware access. Everything the DMus port sees is
//! written with the framework's macros: the miniport is a plain struct under `#[mxf_miniport]`
//! whose pins, nodes and connections are declared once with `mxf::miniport_topology!`
//! ([`UART_TOPOLOGY`]); the streams are plain structs under `#[com_object(...)]` implementing
//! the `_Impl` traits of their interfaces; the descriptors, the vtables, QueryInterface and
//! reference counting are generated.
//!
//! The miniport code here is the one copy: on a Windows target the crate is `#![no_std]` (with
//! `alloc`, and fallible allocation only) and linked into the driver; on the host it is the
//! same code, which `mxf_suite::uart` (examples/support/uart) re-exports with the virtual
//! MPU-401 that the user-mode tests, the examples and `mxfplay` drive.
//!
//! ```text
//! lib.rs        this overview, the constants, create_uart_miniport, the driver (mxf::driver!)
//! miniport.rs   UartMiniport: #[mxf_miniport], UART_TOPOLOGY, DmusMiniport
//! render.rs     RenderStream: #[com_object(IMXF, IServiceSink)]
//! capture.rs    CaptureStream: #[com_object(IMXF)]
//! shared.rs     what the miniport, its streams and the ISR share: the device, the input FIFO,
//!               stream counting; the interrupt service routine
//! device.rs     the device seam: the Mpu401 trait, Isr, PortIo (port I/O, IInterruptSync,
//!               retry timers), try_box
//! host_device.rs a device the host provides behind IMpu401Host (the Wine tier's double)
//! ```
//!
//! # The seams
//!
//! The miniport touches the hardware and the platform only through [`Mpu401`]
//! (`device.rs`), one trait for four things:
//!
//! | seam | in the driver ([`PortIo`]) | from the host ([`HostDevice`](host_device::HostDevice)) | in the user-mode tests (`mxf_suite::uart::VirtualMpu401`) |
//! |---|---|---|---|
//! | device: data port, status/command port | `READ_PORT_UCHAR` / `WRITE_PORT_UCHAR` (x64: `in`/`out`) on the first I/O port range of the resources ([`mxf::driver::IoPorts`]), with the status-register waits | `IMpu401Host`'s `WriteData` / `WriteCommand` / `ReadData` | the simulated registers |
//! | interrupt: the device calls [`Isr::service`] | `IInterruptSync` on the first interrupt ([`service_routine`]); none: capture refused | `IMpu401Host::ConnectInterrupt` (the host calls the line object) | `receive` raises it |
//! | synchronization with the ISR | `CallSynchronizedRoutine` | direct (the host's thread; the state's flag excludes it) | direct |
//! | retry timer: `set_timer` / `cancel_timer` | [`mxf::driver::ServiceTimer`] (`KTIMER` + `KDPC`) per render stream | the same | the device's timers, fired by `run_timers` |
//!
//! `docs/driver.md` §6 describes each, and what is verified where.
//!
//! # How the port drives it
//!
//! ```text
//! render:  sequencer --PutMessage(chain)--> RenderStream --bytes--> MPU-401 data port
//!                                           RenderStream --PutMessage(used events)--> allocator
//! capture: MPU-401 IRQ --> ISR --> 128-byte FIFO, Port.Notify(group)
//!          port DPC --PutMessage(NULL)--> CaptureStream --PutMessage(chain)--> capture sink
//! ```
//!
//! # The miniport (`IMiniportDMus`), method by method
//!
//! The framework implements `IMiniportDMus` for [`UartMiniport`]
//! (`mxf::miniport::MiniportObject`: its checks and statuses are documented there); the
//! miniport writes what is its own.
//!
//! * [`create_uart_miniport`]`(mpu)`: creates the object on a device. The driver does this in
//!   its subdevice's factory (on a [`HostDevice`](host_device::HostDevice) if the resource
//!   list provides one, else a [`PortIo`]); the framework hands the result to `IPort::Init`.
//! * `QueryInterface`: answers `IID_IUnknown`, `IID_IMiniport`, `IID_IMiniportDMus` (and mxf's
//!   own `MxfMiniport`); any other IID gets `STATUS_INVALID_PARAMETER` and NULL, as
//!   Microsoft's sample miniports answer.
//! * `GetDescription(out)`: [`UART_TOPOLOGY`]'s `PCFILTER_DESCRIPTOR`, DMusUART's tables
//!   (`kernel.md` §4.7): pins 0 legacy MIDI render, 1 DirectMusic render, 2 bridge out, 3 bridge
//!   in, 4 capture in both formats; two synth nodes with `KSPROPSETID_Synth` (DMusUART's
//!   answers); five connections; categories AUDIO, RENDER, CAPTURE.
//! * `DataRangeIntersection(...)`: `STATUS_NOT_IMPLEMENTED`, which PortCls reads as "use the
//!   default intersection handler"; nothing is written.
//! * `Init(adapter, resources, port, &group)`: creates the miniport's service group
//!   (`ServiceGroupHandle::new`, the `PcNewServiceGroup` counterpart), keeps the port
//!   (AddRef), registers the group early with `port.RegisterServiceGroup` so interrupts can be
//!   serviced before `Init` returns, connects the interrupt service routine to the device, and
//!   returns the group (stored AddRef'd in `*group`). A NULL port or out-pointer is
//!   `STATUS_INVALID_PARAMETER`; a second `Init` (or a device whose interrupt is taken) is
//!   `STATUS_INVALID_DEVICE_STATE`. The device itself came with the miniport: the driver's
//!   factory built it from the resource list.
//! * `Service()`: called at DPC level for every service request on the miniport's group (the
//!   port adds itself to that group). A harmless no-op: it only empties the input FIFO when no
//!   capture stream exists.
//! * `NewStream(&mxf, outer, pool, pin, type, format, &group, allocator, clock, &prefetch)`:
//!   writes `*prefetch = 0` (deliver events when due: a UART plays bytes at once) and NULL to
//!   both interface out-pointers, then checks: a NULL out-pointer, allocator or master clock,
//!   or an aggregating `outer` → `STATUS_INVALID_PARAMETER`; a type other than MIDI render or
//!   capture, a second capture stream or a third render stream →
//!   `STATUS_INVALID_DEVICE_REQUEST`; `NewStream` before `Init` → `STATUS_INVALID_DEVICE_STATE`.
//!   The pin id and format are checked against the declared pins (`PinCheck::Declared`; DMusUART
//!   reads only the stream type). The first stream
//!   to open resets the MPU-401 into UART mode. The stream AddRefs the allocator, the master
//!   clock and the miniport, and is stored AddRef'd in `*mxf`. Capture streams get the
//!   miniport's group, AddRef'd, in `*group` (the port requires one and services the stream
//!   through it); render streams get NULL (the port then feeds them from its sequencer timer).
//!   `format` is the port's copy and may be freed later: the framework copies its header. On
//!   failure nothing stays AddRef'd and every out-pointer is NULL.
//! * `KSPROPSETID_Synth` on the synth nodes: DMusUART's answers (`mxf::miniport::synth`), the
//!   caps without a port base (the virtual device has none).
//!
//! # The render stream (`IMXF`, `IServiceSink`)
//!
//! * `PutMessage(chain)`: takes the chain; packages are unwrapped in place (the shell goes back
//!   to the allocator at once, nested packages too); the events are appended to the stream's
//!   queue (no sorting: the sequencer sent them in time order, and timestamps are ignored: the
//!   sequencer already delivered them when due). In RUN the queue is written to the data port
//!   in order, each event's bytes from its inline data or its `pbData` buffer. Every fully
//!   written event goes back to the allocator immediately (one `PutMessage` with all the events
//!   written in this pass): that is what completes render IRPs. When the device takes only part
//!   of an event, the stream keeps the offset and arms its 1 ms retry timer
//!   ([`RETRY_DELAY`], [`Mpu401::set_timer`]); [`MAX_ZERO_WRITES`] retries in a row without progress drop the event
//!   (the device has failed). In STOP an incoming chain goes straight back to the allocator.
//!   `PutMessage(NULL)` only retries the queue. Always `STATUS_SUCCESS` for a chain: the
//!   events are the stream's from then on.
//! * `SetState(state)`: RUN writes what was held; ACQUIRE and PAUSE hold data; STOP returns
//!   every queued event (a partly written one included) to the allocator and cancels the retry
//!   timer. RUN fails with `STATUS_INVALID_DEVICE_STATE` if the device never entered UART mode;
//!   an unknown state is `STATUS_INVALID_PARAMETER`.
//! * `ConnectOutput` / `DisconnectOutput`: `STATUS_UNSUCCESSFUL` (the output is the device).
//! * `RequestService()` (`IServiceSink`): the retry timer fired; write again.
//! * Destructor: queued events go back to the allocator; the render count drops. An armed retry
//!   timer holds a reference to the stream (released when it fires, or by STOP), so the timer
//!   never calls into a destroyed stream.
//!
//! # The capture stream (`IMXF`)
//!
//! * The interrupt service routine ([`Isr::service`], in `shared.rs`) reads every byte from the data port; while
//!   a capture stream exists and is in RUN it keeps them in the 128-byte FIFO
//!   ([`INPUT_FIFO_SIZE`]) with their arrival time (overflow is dropped), otherwise it drops
//!   them; then it calls `Port.Notify(group)`.
//! * `PutMessage(NULL)` (the port's service DPC): in RUN or PAUSE, if the FIFO holds bytes,
//!   builds a chain of events of up to `sizeof(PBYTE)` bytes each
//!   ([`INLINE_DATA_BYTES`](mxf::abi::INLINE_DATA_BYTES): 4 on 32-bit, 8 on 64-bit), all
//!   stamped with the arrival time of the first byte, `usChannelGroup` 1,
//!   `DMUS_KEF_EVENT_INCOMPLETE` (raw bytes: the port's capture sink parses them), and sends it
//!   with one `PutMessage` to the connected sink, or to the allocator when disconnected. No
//!   bytes: nothing is sent. If the allocator runs dry half-way, the events built so far go
//!   back to it, the bytes stay in the FIFO for the next call, and the result is
//!   `STATUS_INSUFFICIENT_RESOURCES`. In STOP or ACQUIRE the FIFO is emptied instead.
//! * `PutMessage(chain)`: nothing flows into a capture stream: the events go back to the
//!   allocator and the result is `STATUS_INVALID_PARAMETER`.
//! * `SetState(state)`: records the state for the ISR; STOP and ACQUIRE empty the FIFO; RUN
//!   fails with `STATUS_INVALID_DEVICE_STATE` if the device never entered UART mode.
//! * `ConnectOutput(sink)`: succeeds only for a non-NULL sink while disconnected (a connection
//!   is never replaced), else `STATUS_UNSUCCESSFUL`. `DisconnectOutput(sink)`: succeeds for the
//!   connected sink or NULL (output reverts to the allocator), else `STATUS_UNSUCCESSFUL`.
//! * Destructor: the sink is released, the FIFO emptied and closed, the capture count drops.
//!
//! # Deviations from DMusUART
//!
//! * A failed `GetMessage` in capture returns the partial chain to the allocator and keeps the
//!   bytes (DMusUART leaks the chain and loses the bytes).
//! * Packages are unwrapped in place, whatever their `cbEvent` (DMusUART only sees a package
//!   when `cbEvent > sizeof(PBYTE)` and re-queues its contents at the end of its queue).
//! * An incoming chain in STOP goes straight back to the allocator (held, otherwise).
//! * The render write loop writes one attempt per event and retries from the timer; it does not
//!   spin to finish a 3-byte group. A stuck device drops the event after [`MAX_ZERO_WRITES`]
//!   retries without progress (DMusUART: 100 zero-byte writes, `STATUS_IO_DEVICE_ERROR`).
//! * Streams AddRef the master clock (DMusUART stores it without a reference); a NULL clock
//!   or allocator is refused; aggregation of streams is refused (the port never asks for it).
//! * Captured bytes carry the interrupt time the device reports; a kernel ISR reads the master
//!   clock at that moment.
//! * The music ranges are immutable statics: DMusUART's `Init` rewrites their Technology in
//!   place (`IMusicTechnology::SetTechnology`, not offered here).
//!
//! # Allocation and panics
//!
//! Nothing here may panic in the driver (`.ci/drivers.sh` proves it of the linked image): the
//! objects are COM objects created fallibly (`into_com_in`), the device is boxed with
//! [`try_box`], and the state shared with the streams and the ISR is a field of the miniport
//! (streams hold a counted pointer to the miniport; the ISR is the miniport's context pointer,
//! disconnected by its destructor) instead of an `Arc`, whose construction cannot fail
//! gracefully.

#![cfg_attr(windows, no_std)]
// As in mxf: nothing reachable from an entry point may panic (the driver checks prove it of
// the linked image; these lints keep the source honest).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

#[cfg(all(windows, feature = "image", not(panic = "abort")))]
compile_error!("a driver is built with panic=abort: use .ci/drivers.sh (or set it in the profile)");

extern crate alloc;

mod capture;
pub mod device;
pub mod host_device;
mod miniport;
mod render;
mod shared;

pub use capture::CaptureStream;
pub use device::{
    Isr, MPU401_CMD_RESET, MPU401_CMD_UART, Mpu401, Notification, PortIo, service_routine, try_box,
};
pub use miniport::{UART_TOPOLOGY, UartMiniport};
pub use render::RenderStream;

use alloc::boxed::Box;
use mxf::abi::STATUS_DEVICE_CONFIGURATION_ERROR;
use mxf::driver::{IoPorts, StartContext};
use mxf::miniport::{IntoMiniport, MiniportHandle};

/// At most this many render streams at once (DMusUART: one legacy MIDI, one DirectMusic).
pub const MAX_RENDER_STREAMS: usize = 2;
/// At most this many capture streams at once.
pub const MAX_CAPTURE_STREAMS: usize = 1;
/// Bytes the software input FIFO holds; more input before the port services it is dropped.
pub const INPUT_FIFO_SIZE: usize = 128;
/// The render stream's partial-write retry delay: 1 ms, in 100 ns units.
pub const RETRY_DELAY: i64 = 10_000;
/// Retries in a row in which the device takes no byte before the render stream drops the event.
pub const MAX_ZERO_WRITES: u32 = 100;
/// The channel group of every captured event (an MPU-401 has one MIDI port).
pub const CAPTURE_CHANNEL_GROUP: u16 = 1;

/// Creates the miniport on `mpu`.
///
/// The object is created in nonpaged pool; `STATUS_INSUFFICIENT_RESOURCES` if that fails.
pub fn create_uart_miniport(
    mpu: Box<dyn Mpu401>,
) -> mxf::abi::Result<MiniportHandle<UartMiniport>> {
    UartMiniport::new(mpu).into_miniport()
}

/// The UART subdevice's factory: the MPU-401 a host provides behind the resource list
/// ([`host_device::HostDevice`], the Wine tier's double), else the one on the first I/O port
/// range of the resources (data port at its start, status/command port next), driven with port
/// I/O ([`PortIo`]), and on the first interrupt if there is one (`PcNewInterruptSync`, mode
/// normal, and PortCls's service group for the ISR's notifications; `Init` connects it).
/// Without a resource list or a port range, start is refused with
/// `STATUS_DEVICE_CONFIGURATION_ERROR` (the device was installed without its resources);
/// without an interrupt the driver starts without input (capture streams are refused). A
/// failure of `PcNewInterruptSync` or `PcNewServiceGroup` fails the start with its status.
pub fn uart_subdevice(
    context: &StartContext<'_>,
) -> mxf::abi::Result<MiniportHandle<UartMiniport>> {
    let resources = context
        .resources()
        .ok_or(STATUS_DEVICE_CONFIGURATION_ERROR)?;
    // A device the host provides (a double of the kernel; PortCls's own list never answers
    // this IID).
    if let Some(device) = host_device::HostDevice::from_resources(resources.list()) {
        return create_uart_miniport(try_box(device?)?);
    }
    let ports = IoPorts::from_resources(&resources, 0).ok_or(STATUS_DEVICE_CONFIGURATION_ERROR)?;
    let device = match resources.interrupt(0) {
        Some(_) => {
            PortIo::with_interrupt(ports, context.interrupt_sync(0)?, context.service_group()?)?
        }
        None => PortIo::new(ports)?,
    };
    create_uart_miniport(try_box(device)?)
}

mxf::driver! {
    /// The driver: one MPU-401 in UART mode, DMusUART's pins.
    pub struct UartDriver {
        subdevices: [
            Uart ("MPU-401 UART (mxf sample)"): UartMiniport = uart_subdevice,
        ],
    }
}

/// What the INF says about this driver (the INF itself is written by `src/bin/uart-inf.rs` from
/// this and the declaration). The hardware id is the MPU-401's PnP id, `*PNPB006`: PnP
/// assigns such a device its I/O ports (a root-enumerated device would get none, and start
/// would be refused).
pub const INF: mxf::miniport::inf::Driver<'static> =
    mxf::miniport::inf::Driver::new("mxf", "MPU-401 UART (mxf sample)", "*PNPB006", "uart");

#[cfg(test)]
mod tests;
