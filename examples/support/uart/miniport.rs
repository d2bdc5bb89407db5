//! The miniport (`#[mxf_miniport]`), its declared topology and its interrupt service routine.

use super::capture::CaptureStream;
use super::mpu401::{InterruptHandler, VirtualMpu401};
use super::render::RenderStream;
use super::shared::{Shared, StreamKind, StreamSlot};
use mxf::components::service_group::ServiceGroupHandle;
use mxf::miniport::{Direction, InitRequest, Stream, StreamRequest};
use mxf::platform::SpinLock;
use mxf::prelude::*;
use std::sync::Arc;

/// The sample DMus miniport. Create it with [`create_uart_miniport`](super::create_uart_miniport).
#[mxf_miniport(tag = "MPUm")]
pub struct UartMiniport {
    shared: Arc<Shared>,
    /// What `Init` established: the ISR as connected to the device, holding the port and the
    /// miniport's service group.
    isr: SpinLock<Option<Arc<UartIsr>>>,
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

/// The interrupt service routine: drains the data port into the software FIFO and asks the port
/// for service.
struct UartIsr {
    shared: Arc<Shared>,
    /// The port, AddRef'd by `Init`.
    port: IPortDMus,
    /// The miniport's service group, handed to `Init`'s caller and to every capture stream.
    group: IServiceGroup,
}

impl InterruptHandler for UartIsr {
    fn service_interrupt(&self, mpu: &VirtualMpu401, time: i64) {
        // Every pending byte is read, whether or not it is kept: that is what clears the
        // device's interrupt. `time` is the master-clock time of the interrupt; a kernel ISR
        // reads it from the master clock (`GetTime` works at any IRQL).
        let mut read = false;
        while let Some(byte) = mpu.read_data() {
            read = true;
            self.shared.input.lock().accept(byte, time);
        }
        if read {
            // Queues the DPC in which the port calls the capture stream's PutMessage(NULL)
            // (through the stream's service group, which is this group).
            self.port.Notify(Some(self.group.to_ref()));
        }
    }
}

impl UartMiniport {
    /// The miniport on `mpu`, before `Init`.
    pub(crate) fn new(mpu: Arc<VirtualMpu401>) -> Self {
        Self {
            shared: Arc::new(Shared::new(mpu)),
            isr: SpinLock::new(None),
        }
    }
}

impl Drop for UartMiniport {
    fn drop(&mut self) {
        // The device must not call into a miniport that is gone.
        if let Some(isr) = self.isr.get_mut().take() {
            let isr: Arc<dyn InterruptHandler> = isr;
            self.shared.mpu.disconnect_interrupt(&isr);
        }
    }
}

impl DmusMiniport for UartMiniport {
    fn init(&self, request: InitRequest<'_>) -> mxf::abi::Result<Option<IServiceGroup>> {
        // A driver finds its I/O ports and IRQ in `request.resource_list()`; the virtual device
        // was given to `create_uart_miniport` instead.
        let group = ServiceGroupHandle::new()?.interface().clone();
        let port = request.port().to_owned();
        // Registered before the interrupt is connected, so that input is serviced at once.
        port.RegisterServiceGroup(Some(group.to_ref()));
        let isr = Arc::new(UartIsr {
            shared: self.shared.clone(),
            port,
            group: group.clone(),
        });
        if !self.shared.mpu.connect_interrupt(isr.clone()) {
            // Another driver owns the device.
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        *self.isr.lock() = Some(isr);
        Ok(Some(group))
    }

    fn service(&self) {
        // Called for every service request on the miniport's group. Nothing to do, except that
        // input nobody will read is thrown away.
        let mut input = self.shared.input.lock();
        if !input.has_capture() {
            input.clear();
        }
    }

    fn new_stream(&self, request: StreamRequest<'_>) -> mxf::abi::Result<Stream> {
        // Legacy MIDI and DirectMusic streams are the same to the device: the port unpacks
        // both formats into events.
        let kind = match request.kind().direction {
            Direction::Render => StreamKind::Render,
            Direction::Capture => StreamKind::Capture,
        };
        let group = self.isr.lock().as_ref().map(|isr| isr.group.clone());
        let group = group.ok_or(STATUS_INVALID_DEVICE_STATE)?;
        let miniport = request.miniport().ok_or(STATUS_UNSUCCESSFUL)?;
        let slot = StreamSlot::reserve(&self.shared, kind)?;
        // Everything AddRef'd here (group, miniport, allocator, clock) is owned by a local or by
        // the new stream: a failure releases it all.
        let allocator = request.allocator().to_owned();
        let clock = request.master_clock().to_owned();
        let pool = request.pool();
        Ok(match kind {
            StreamKind::Render => {
                // No group: the port drives render streams with its own timer.
                Stream::new(RenderStream::create(
                    slot, allocator, clock, miniport, pool,
                )?)
            }
            StreamKind::Capture => Stream {
                mxf: CaptureStream::create(slot, allocator, clock, miniport, pool)?,
                // The port services capture with PutMessage(NULL) through this group.
                service_group: Some(group),
                schedule_prefetch: 0,
            },
        })
    }
}
