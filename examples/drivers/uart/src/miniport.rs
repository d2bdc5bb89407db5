//! The miniport (`#[mxf_miniport]`) and its declared topology; `Init` connects the interrupt
//! service routine (`Isr`, serviced in `shared.rs`) to the device.

use crate::capture::CaptureStream;
use crate::device::{Isr, Mpu401};
use crate::render::RenderStream;
use crate::shared::{Shared, StreamKind, StreamSlot};
use alloc::boxed::Box;
use mxf::components::service_group::ServiceGroupHandle;
use mxf::miniport::{Direction, InitRequest, Stream, StreamRequest};
use mxf::platform::atomic::{AtomicBool, Ordering};
use mxf::prelude::*;

/// The sample DMus miniport. Create it with [`create_uart_miniport`](crate::create_uart_miniport).
#[mxf_miniport(tag = "MPUm")]
pub struct UartMiniport {
    /// The device, the FIFO, the stream counts, and what the ISR notifies. Streams and the ISR
    /// point here: the miniport object does not move once created.
    shared: Shared,
    /// `Init` connected the interrupt service routine to the device (the destructor
    /// disconnects it).
    connected: AtomicBool,
}

mxf::miniport_topology! {
    /// DMusUART's pins, nodes and connections (`kernel.md` §4.7): legacy MIDI and DirectMusic
    /// render, the two bridges to the MPU-401, capture in both formats; a synth node on the
    /// DirectMusic render path and one on the input path.
    pub static UART_TOPOLOGY for UartMiniport {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: {
            midi_out: render(midi), instances(1, 1, 0), name(KSAUDFNAME_MIDI),
            dmusic_out: render(directmusic), instances(1, 1, 0), name(KSAUDFNAME_DMUSIC_MPU_OUT),
            bridge_out: bridge(out, midi_bus),
            bridge_in: bridge(in, midi_bus),
            input: capture(midi, directmusic), instances(1, 1, 0), name(KSAUDFNAME_DMUSIC_MPU_IN),
        },
        nodes: { render_synth: synthesizer, input_synth: synthesizer },
        connections: [
            midi_out -> bridge_out,
            dmusic_out -> render_synth.1, render_synth.0 -> bridge_out,
            bridge_in -> input_synth.1, input_synth.0 -> input,
        ],
    }
}

impl UartMiniport {
    /// The miniport on `mpu`, before `Init`.
    pub(crate) fn new(mpu: Box<dyn Mpu401>) -> Self {
        Self {
            shared: Shared::new(mpu),
            connected: AtomicBool::new(false),
        }
    }
}

impl Drop for UartMiniport {
    fn drop(&mut self) {
        // The device must not call into a miniport that is gone: when this returns, the ISR
        // is not running and never runs again (the device contract).
        if *self.connected.get_mut() {
            self.shared.mpu.disconnect_interrupt();
        }
    }
}

impl DmusMiniport for UartMiniport {
    fn init(&self, request: InitRequest<'_>) -> mxf::abi::Result<Option<IServiceGroup>> {
        // The device came with the miniport (`create_uart_miniport`): the driver's factory made
        // it from the resource list's first I/O port range, the tests give the virtual one.
        if self.connected.load(Ordering::Acquire) {
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        // The device's group if it has one (a driver's: PortCls's `PcNewServiceGroup`, which an
        // ISR may call), else mxf's own.
        let group = match self.shared.mpu.service_group() {
            Some(group) => group,
            None => ServiceGroupHandle::new()?.interface().clone(),
        };
        let port = request.port().to_owned();
        // Registered before the interrupt is connected, so that input is serviced at once.
        port.RegisterServiceGroup(Some(group.to_ref()));
        let notify = Some((port, group.clone()));
        let old = self
            .shared
            .with_isr(move |s| core::mem::replace(&mut s.notify, notify));
        drop(old);
        // SAFETY: `self.shared` lives in this miniport object, which does not move, and the
        // destructor disconnects the routine before it goes.
        let isr = unsafe { Isr::new(&self.shared) };
        if !self.shared.mpu.connect_interrupt(isr) {
            // Another driver owns the device.
            let old = self.shared.with_isr(|s| s.notify.take());
            drop(old);
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        self.connected.store(true, Ordering::Release);
        Ok(Some(group))
    }

    fn service(&self) {
        // Called for every service request on the miniport's group. Nothing to do, except that
        // input nobody will read is thrown away.
        self.shared.with_isr(|s| {
            if !s.fifo.has_capture() {
                s.fifo.clear();
            }
        });
    }

    fn new_stream(&self, request: StreamRequest<'_>) -> mxf::abi::Result<Stream> {
        // Legacy MIDI and DirectMusic streams are the same to the device: the port unpacks
        // both formats into events.
        let kind = match request.kind().direction {
            Direction::Render => StreamKind::Render,
            Direction::Capture => StreamKind::Capture,
        };
        if kind == StreamKind::Capture && !self.shared.mpu.has_interrupt() {
            // No interrupt, no input: capture is refused (render works).
            return Err(STATUS_INVALID_DEVICE_REQUEST);
        }
        let group = self
            .shared
            .with_isr(|s| s.notify.as_ref().map(|n| n.1.clone()));
        let group = group.ok_or(STATUS_INVALID_DEVICE_STATE)?;
        let miniport = request.miniport().ok_or(STATUS_UNSUCCESSFUL)?;
        let slot = StreamSlot::reserve(&self.shared, miniport, kind)?;
        // Everything AddRef'd here (group, miniport, allocator, clock) is owned by a local or by
        // the new stream: a failure releases it all.
        let allocator = request.allocator().to_owned();
        let clock = request.master_clock().to_owned();
        let pool = request.pool();
        Ok(match kind {
            StreamKind::Render => {
                // No group: the port drives render streams with its own timer.
                Stream::new(RenderStream::create(slot, allocator, clock, pool)?)
            }
            StreamKind::Capture => Stream {
                mxf: CaptureStream::create(slot, allocator, clock, pool)?,
                // The port services capture with PutMessage(NULL) through this group.
                service_group: Some(group),
                schedule_prefetch: 0,
            },
        })
    }
}
