//! The double's COM objects: the DMus port `PcNewPort` returns, the master clock its pins
//! pass to `NewStream`, and the resource list `StartDevice` gets.

use crate::mpu401::{IMpu401Host, IMpu401Host_Impl, IMpu401Interrupt, WIRE_OF_DEVICE};
use alloc::sync::Arc;
use core::ffi::c_void;
use mxf::abi::*;
use mxf::com::{ComRef, ObjectHandle};
use mxf::driver::{CM_PARTIAL_RESOURCE_DESCRIPTOR, ResourceEntries};
use mxf::interfaces::*;
use mxf::platform::SpinLock;
use mxf::port::{ClockMode, Port};

/// The port `PcNewPort` returns: the PortCls face of the project's DMus port
/// (`mxf::port::Port`, the same code as the user-mode port). `Init` makes the port around the
/// miniport's unknown (the port queries it for `IMiniportDMus` and calls the miniport's `Init` with the
/// adapter and the resource list `Init` was given (`kernel.md` §4.1); the port is kept until
/// the device is removed. Its clock is virtual: the scenario moves it from timer to timer
/// (Wine runs no queued DPC, and a timer DPC in real time would make a run last the song).
#[mxf::com_object(IPortDMus)]
pub struct PortObject {
    port: SpinLock<Option<Arc<Port>>>,
}

/// A port as `PcNewPort` keeps it.
pub type PortHandle = ObjectHandle<PortObject, IPortDMus>;

impl PortObject {
    /// A new port.
    pub fn create() -> Result<PortHandle> {
        PortHandle::create(PortObject {
            port: SpinLock::new(None),
        })
    }

    /// The DMus port `Init` made, and its miniport.
    pub fn port(&self) -> Option<(Arc<Port>, IMiniportDMus)> {
        let port = self.port.lock().clone()?;
        let miniport = port.miniport()?;
        Some((port, miniport))
    }

    /// Device removal: the port (and with it the miniport and its group) is released.
    pub fn release_children(&self) {
        drop(self.port.lock().take());
    }

    fn init(
        &self,
        unknown_miniport: Option<ComRef<'_, IUnknown>>,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> NTSTATUS {
        if self.port.lock().is_some() {
            return STATUS_INVALID_DEVICE_STATE;
        }
        let Some(unknown) = unknown_miniport else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: the resource list is the caller's, NULL or live across the call.
        let port = unsafe {
            Port::with_init_arguments(
                &unknown.to_owned(),
                ClockMode::Virtual,
                unknown_adapter,
                resource_list,
            )
        };
        match port {
            Ok(port) => {
                *self.port.lock() = Some(Arc::new(port));
                STATUS_SUCCESS
            }
            Err(status) => status,
        }
    }

    fn inner(&self) -> Option<IPortDMus> {
        let port = self.port.lock().clone()?;
        Some(port.interface().clone())
    }
}

impl IPort_Impl for PortObject {
    unsafe fn Init(
        &self,
        _device_object: *mut c_void,
        _irp: *mut c_void,
        unknown_miniport: Option<ComRef<'_, IUnknown>>,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> NTSTATUS {
        self.init(unknown_miniport, unknown_adapter, resource_list)
    }

    unsafe fn GetDeviceProperty(
        &self,
        _property: i32,
        _buffer_length: u32,
        _buffer: *mut c_void,
        _result_length: *mut u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }

    unsafe fn NewRegistryKey(
        &self,
        out_key: *mut *mut c_void,
        _outer: Option<ComRef<'_, IUnknown>>,
        _key_type: u32,
        _desired_access: u32,
        _object_attributes: *mut c_void,
        _create_options: u32,
        _disposition: *mut u32,
    ) -> NTSTATUS {
        if !out_key.is_null() && out_key.is_aligned() {
            // SAFETY: a non-NULL, aligned out-pointer from the caller.
            unsafe { out_key.write(core::ptr::null_mut()) };
        }
        STATUS_NOT_IMPLEMENTED
    }
}

impl IPortDMus_Impl for PortObject {
    fn Notify(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        if let Some(port) = self.inner() {
            port.Notify(group);
        }
    }

    fn RegisterServiceGroup(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        if let Some(port) = self.inner() {
            port.RegisterServiceGroup(group);
        }
    }
}

/// The device's resource list (`StartDevice`'s third argument): the entries given at creation.
/// It also answers `IMpu401Host`: the device's virtual MPU-401 (`crate::mpu401`).
#[mxf::com_object(IResourceList, IMpu401Host)]
pub struct Resources {
    entries: alloc::vec::Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>,
}

impl Resources {
    /// A list of `entries`.
    pub fn create(
        entries: alloc::vec::Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>,
    ) -> Result<ObjectHandle<Resources, IResourceList>> {
        ObjectHandle::create(Resources { entries })
    }
}

impl ResourceEntries for Resources {
    fn resource_entries(&self) -> &[CM_PARTIAL_RESOURCE_DESCRIPTOR] {
        &self.entries
    }
}

impl IMpu401Host_Impl for Resources {
    unsafe fn WriteData(&self, bytes: *const u8, length: u32, _now: i64) -> u32 {
        if bytes.is_null() {
            return 0;
        }
        // SAFETY: the caller's bytes, valid for `length` across the call.
        let bytes = unsafe { core::slice::from_raw_parts(bytes, length as usize) };
        WIRE_OF_DEVICE.write(bytes)
    }

    fn WriteCommand(&self, _command: u8) -> u8 {
        // Reset and UART mode are acknowledged; the wire is always in UART mode.
        1
    }

    unsafe fn ReadData(&self, byte: *mut u8) -> u8 {
        match WIRE_OF_DEVICE.read() {
            Some(b) if !byte.is_null() => {
                // SAFETY: the caller's out-pointer, checked non-NULL.
                unsafe { byte.write(b) };
                1
            }
            _ => 0,
        }
    }

    fn ConnectInterrupt(&self, interrupt: Option<ComRef<'_, IMpu401Interrupt>>) -> u8 {
        u8::from(WIRE_OF_DEVICE.connect(interrupt.map(ComRef::to_owned)))
    }

    fn DisconnectInterrupt(&self) {
        WIRE_OF_DEVICE.disconnect();
    }
}
