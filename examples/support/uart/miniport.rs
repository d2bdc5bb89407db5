//! The miniport object (`IMiniportDMus`) and its interrupt service routine.

use super::capture::CaptureStream;
use super::mpu401::{InterruptHandler, VirtualMpu401};
use super::render::RenderStream;
use super::shared::{Shared, StreamKind, StreamSlot};
use core::ffi::c_void;
use mxf::com::SelfRef;
use mxf::com::{ComObject, ComRef, Interface};
use mxf::components::service_group::ServiceGroupHandle;
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicBool, Ordering};
use mxf::prelude::*;
use std::sync::Arc;

/// The sample DMus miniport. Create it with [`create_uart_miniport`](super::create_uart_miniport).
#[com_object(IMiniportDMus, tag = "MPUm")]
pub struct UartMiniport {
    shared: Arc<Shared>,
    /// Set by the first `Init` (until it fails).
    initialized: AtomicBool,
    /// What `Init` established: the ISR as connected to the device, holding the port and the
    /// miniport's service group.
    isr: SpinLock<Option<Arc<UartIsr>>>,
    /// This object's own `IMiniportDMus`, without a reference: each stream takes one.
    this: SelfRef<IMiniportDMus>,
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
    /// Creates the object (see [`create_uart_miniport`](super::create_uart_miniport)).
    pub(crate) fn create(mpu: Arc<VirtualMpu401>) -> mxf::abi::Result<IMiniportDMus> {
        let iface: IMiniportDMus = Self {
            shared: Arc::new(Shared::new(mpu)),
            initialized: AtomicBool::new(false),
            isr: SpinLock::new(None),
            this: SelfRef::new(),
        }
        .into_com()?;
        // SAFETY: `iface` is chain 0 of the `ComObject<UartMiniport>` just created.
        let me = unsafe { ComObject::<Self>::value_of::<0>(iface.as_raw()) };
        // SAFETY: `iface` is this miniport's own interface.
        unsafe { me.this.set(&iface) };
        Ok(iface)
    }

    /// The body of `Init`, run at most once at a time (no lock is held while it calls the port).
    fn init(&self, port: ComRef<'_, IPortDMus>) -> mxf::abi::Result<IServiceGroup> {
        let group = ServiceGroupHandle::new()?.interface().clone();
        let port = port.to_owned();
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
        Ok(group)
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

/// Writes `value` through a C out-pointer if it is usable; false if it is NULL or misaligned.
fn write_out<T>(out: *mut T, value: T) -> bool {
    if out.is_null() || !out.is_aligned() {
        return false;
    }
    // SAFETY: non-NULL and aligned; the caller of the COM method provides writable storage.
    // `write` does not drop what was there (uninitialised for an out-pointer).
    unsafe { out.write(value) };
    true
}

impl IMiniport_Impl for UartMiniport {
    unsafe fn GetDescription(&self, description: *mut *mut c_void) -> NTSTATUS {
        // No KS filter descriptor exists in this model (no pins, properties or data ranges to
        // describe): answer NULL and say so.
        write_out(description, core::ptr::null_mut());
        STATUS_NOT_IMPLEMENTED
    }

    unsafe fn DataRangeIntersection(
        &self,
        _pin_id: u32,
        _data_range: *mut c_void,
        _matching_data_range: *mut c_void,
        _output_buffer_length: u32,
        _resultant_format: *mut c_void,
        _resultant_format_length: *mut u32,
    ) -> NTSTATUS {
        // STATUS_NOT_IMPLEMENTED tells PortCls to use its default intersection handler, which
        // is right for the fixed MIDI formats of an MPU-401.
        STATUS_NOT_IMPLEMENTED
    }
}

impl IMiniportDMus_Impl for UartMiniport {
    unsafe fn Init(
        &self,
        _unknown_adapter: Option<ComRef<'_, IUnknown>>,
        _resource_list: *mut c_void,
        port: Option<ComRef<'_, IPortDMus>>,
        service_group: *mut Option<IServiceGroup>,
    ) -> NTSTATUS {
        if !write_out(service_group, None) {
            return STATUS_INVALID_PARAMETER;
        }
        let Some(port) = port else {
            return STATUS_INVALID_PARAMETER;
        };
        // A driver finds its I/O ports and IRQ in `_resource_list`; the virtual device was
        // given to `create_uart_miniport` instead.
        if self.initialized.swap(true, Ordering::AcqRel) {
            return STATUS_INVALID_DEVICE_STATE;
        }
        match self.init(port) {
            Ok(group) => {
                write_out(service_group, Some(group));
                STATUS_SUCCESS
            }
            Err(status) => {
                self.initialized.store(false, Ordering::Release);
                status
            }
        }
    }

    fn Service(&self) {
        // Called for every service request on the miniport's group. Nothing to do, except that
        // input nobody will read is thrown away.
        let mut input = self.shared.input.lock();
        if !input.has_capture() {
            input.clear();
        }
    }

    unsafe fn NewStream(
        &self,
        mxf: *mut Option<IMXF>,
        outer: Option<ComRef<'_, IUnknown>>,
        pool: POOL_TYPE,
        _pin_id: u32,
        stream_type: DMUS_STREAM_TYPE,
        _data_format: *mut KSDATAFORMAT,
        service_group: *mut Option<IServiceGroup>,
        allocator: Option<ComRef<'_, IAllocatorMXF>>,
        master_clock: Option<ComRef<'_, IMasterClock>>,
        schedule_prefetch: *mut u64,
    ) -> NTSTATUS {
        // Out-pointers first, so that every failure leaves NULLs behind.
        let outs_ok =
            write_out(mxf, None) & write_out(service_group, None) & write_out(schedule_prefetch, 0);
        if !outs_ok {
            return STATUS_INVALID_PARAMETER;
        }
        let Some(allocator) = allocator else {
            return STATUS_INVALID_PARAMETER;
        };
        let Some(master_clock) = master_clock else {
            return STATUS_INVALID_PARAMETER;
        };
        if outer.is_some() {
            // The port never aggregates a stream.
            return STATUS_INVALID_PARAMETER;
        }
        let kind = if stream_type == DMUS_STREAM_MIDI_RENDER {
            StreamKind::Render
        } else if stream_type == DMUS_STREAM_MIDI_CAPTURE {
            StreamKind::Capture
        } else {
            return STATUS_INVALID_DEVICE_REQUEST;
        };
        let Some(group) = self.isr.lock().as_ref().map(|isr| isr.group.clone()) else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        // SAFETY: we are inside a method of this miniport, whose caller holds a reference.
        let Some(miniport) = (unsafe { self.this.get() }) else {
            return STATUS_UNSUCCESSFUL;
        };
        let slot = match StreamSlot::reserve(&self.shared, kind) {
            Ok(s) => s,
            Err(status) => return status,
        };
        // Everything AddRef'd so far (group, miniport, and below the allocator and the clock)
        // is owned by a local or by the new stream: a failure releases it all.
        let allocator = allocator.to_owned();
        let master_clock = master_clock.to_owned();
        let stream = match kind {
            StreamKind::Render => {
                RenderStream::create(slot, allocator, master_clock, miniport, pool)
            }
            StreamKind::Capture => {
                CaptureStream::create(slot, allocator, master_clock, miniport, pool)
            }
        };
        let stream = match stream {
            Ok(s) => s,
            Err(status) => return status,
        };
        if kind == StreamKind::Capture {
            // Capture needs a service group: the port services it with PutMessage(NULL).
            write_out(service_group, Some(group));
        }
        // Render streams get no group: the port then drives them with its own timer.
        write_out(mxf, Some(stream));
        STATUS_SUCCESS
    }
}
