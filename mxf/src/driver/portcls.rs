//! The PortCls calls of the adapter, as a trait: [`PortCls`] calls `portcls.sys` (in a driver:
//! `cfg(windows)` + feature `driver`), a test double records and simulates
//! ([`testing`](super::testing), feature `std`), so the glue that runs in the driver is the glue
//! the host tests run.

use super::types::{
    AddDeviceFn, DEVICE_OBJECT, DRIVER_OBJECT, INTERRUPTSYNCMODE, StartDeviceFn, UNICODE_STRING,
};
use super::{Step, SubdeviceEntry};
use crate::abi::{GUID, NTSTATUS};
use crate::com::ComRef;
use crate::interfaces::{IInterruptSync, IPort, IResourceList, IServiceGroup, IUnknown};

/// What the adapter glue reports: failures (with the subdevice and the step) and the unload.
/// The kernel implementation prints them with `DbgPrint`; the test double records them.
#[derive(Clone, Copy, Debug)]
pub enum Report<'a> {
    /// `PcInitializeAdapterDriver` failed in `DriverEntry`.
    DriverEntryFailed(NTSTATUS),
    /// A subdevice could not be installed in `StartDevice`.
    SubdeviceFailed {
        /// Which subdevice.
        subdevice: &'a SubdeviceEntry,
        /// Which call failed.
        step: Step,
        /// Its status (what `StartDevice` returns).
        status: NTSTATUS,
    },
    /// `PcRegisterPhysicalConnection` failed for the `index`th declared connection.
    ConnectionFailed {
        /// The connection's position in the declaration.
        index: usize,
        /// Its status (what `StartDevice` returns).
        status: NTSTATUS,
    },
    /// Every subdevice was installed and connected.
    Started {
        /// How many subdevices.
        subdevices: usize,
    },
    /// `DriverUnload` ran (after PortCls's own unload routine).
    Unloaded,
}

/// The PortCls functions an adapter calls (`portcls.h`), with their header signatures.
///
/// # Safety
/// An implementation behaves as PortCls documents these functions: `new_port` stores an
/// AddRef'd `IPort` (or leaves NULL and fails), `register_subdevice` and
/// `register_physical_connection` take their own references to what they keep, and the
/// callbacks given to `initialize_adapter_driver` / `add_adapter_device` are called only with
/// the pointers the kernel would pass them.
pub unsafe trait PortClass {
    /// Called first in `DriverEntry` (the kernel implementation looks `ExAllocatePool2` up).
    fn driver_entry() {}

    /// `PcInitializeAdapterDriver(DriverObject, RegistryPathName, AddDevice)`.
    ///
    /// # Safety
    /// `DriverEntry`'s own arguments.
    unsafe fn initialize_adapter_driver(
        driver: *mut DRIVER_OBJECT,
        registry_path: *mut UNICODE_STRING,
        add_device: AddDeviceFn,
    ) -> NTSTATUS;

    /// `PcAddAdapterDevice(DriverObject, PhysicalDeviceObject, StartDevice, MaxObjects,
    /// DeviceExtensionSize)`.
    ///
    /// # Safety
    /// `AddDevice`'s own arguments.
    unsafe fn add_adapter_device(
        driver: *mut DRIVER_OBJECT,
        physical_device: *mut DEVICE_OBJECT,
        start_device: StartDeviceFn,
        max_objects: u32,
        device_extension_size: u32,
    ) -> NTSTATUS;

    /// `PcNewPort(OutPort, ClassId)`.
    ///
    /// # Safety
    /// `out` is valid for a write.
    unsafe fn new_port(out: *mut Option<IPort>, class_id: *const GUID) -> NTSTATUS;

    /// `PcRegisterSubdevice(DeviceObject, Name, Unknown)`.
    ///
    /// # Safety
    /// `device` is `StartDevice`'s; `name` is NUL-terminated UTF-16.
    unsafe fn register_subdevice(
        device: *mut DEVICE_OBJECT,
        name: *const u16,
        unknown: Option<ComRef<'_, IUnknown>>,
    ) -> NTSTATUS;

    /// `PcRegisterPhysicalConnection(DeviceObject, FromUnknown, FromPin, ToUnknown, ToPin)`.
    ///
    /// # Safety
    /// `device` is `StartDevice`'s; both ports are registered subdevices of it.
    unsafe fn register_physical_connection(
        device: *mut DEVICE_OBJECT,
        from: Option<ComRef<'_, IUnknown>>,
        from_pin: u32,
        to: Option<ComRef<'_, IUnknown>>,
        to_pin: u32,
    ) -> NTSTATUS;

    /// `PcNewInterruptSync(OutInterruptSync, OuterUnknown, ResourceList, ResourceIndex, Mode)`:
    /// an interrupt object on the `index`th interrupt of `resources` (not connected yet).
    ///
    /// # Safety
    /// `out` is valid for a write; `resources` is `StartDevice`'s list.
    unsafe fn new_interrupt_sync(
        out: *mut Option<IInterruptSync>,
        outer: Option<ComRef<'_, IUnknown>>,
        resources: Option<ComRef<'_, IResourceList>>,
        index: u32,
        mode: INTERRUPTSYNCMODE,
    ) -> NTSTATUS;

    /// `PcNewServiceGroup(OutServiceGroup, OuterUnknown)`: PortCls's service group, whose
    /// `RequestService` queues a DPC when called above DISPATCH_LEVEL (from an ISR).
    ///
    /// # Safety
    /// `out` is valid for a write.
    unsafe fn new_service_group(
        out: *mut Option<IServiceGroup>,
        outer: Option<ComRef<'_, IUnknown>>,
    ) -> NTSTATUS;

    /// Something worth telling whoever watches the driver.
    fn report(report: Report<'_>) {
        let _ = report;
    }

    /// Called last in `DriverUnload`: the kernel implementation waits until every queued DPC
    /// has run (`KeFlushQueuedDpcs`), so none of the image's runs after it is unloaded.
    fn unloading() {}
}

#[cfg(all(windows, feature = "driver"))]
pub use kernel::PortCls;

#[cfg(all(windows, feature = "driver"))]
mod kernel {
    use super::*;
    use crate::platform::driver as nt;
    use core::ffi::c_void;

    // portcls.sys. Each one is listed in `.ci/driver/<arch>/portcls.def` and in
    // `.ci/driver/allowlist.txt`. `PcNewServiceGroup` is for miniports that service interrupts.
    unsafe extern "system" {
        fn PcInitializeAdapterDriver(
            driver: *mut DRIVER_OBJECT,
            registry_path: *mut UNICODE_STRING,
            add_device: AddDeviceFn,
        ) -> NTSTATUS;
        fn PcAddAdapterDevice(
            driver: *mut DRIVER_OBJECT,
            physical_device: *mut DEVICE_OBJECT,
            start_device: StartDeviceFn,
            max_objects: u32,
            device_extension_size: u32,
        ) -> NTSTATUS;
        fn PcNewPort(out: *mut Option<IPort>, class_id: *const GUID) -> NTSTATUS;
        fn PcNewInterruptSync(
            out: *mut Option<IInterruptSync>,
            outer: *mut c_void,
            resources: *mut c_void,
            index: u32,
            mode: INTERRUPTSYNCMODE,
        ) -> NTSTATUS;
        fn PcNewServiceGroup(out: *mut Option<IServiceGroup>, outer: *mut c_void) -> NTSTATUS;
        fn PcRegisterSubdevice(
            device: *mut DEVICE_OBJECT,
            name: *const u16,
            unknown: *mut c_void,
        ) -> NTSTATUS;
        fn PcRegisterPhysicalConnection(
            device: *mut DEVICE_OBJECT,
            from: *mut c_void,
            from_pin: u32,
            to: *mut c_void,
            to_pin: u32,
        ) -> NTSTATUS;
    }

    fn raw(unknown: Option<ComRef<'_, IUnknown>>) -> *mut c_void {
        unknown.map_or(core::ptr::null_mut(), ComRef::as_raw)
    }

    /// The real PortCls (`portcls.sys`), with reports printed by `DbgPrint` (visible in a
    /// kernel debugger, DebugView, or Wine's `WINEDEBUG=+debugstr`).
    pub struct PortCls;

    // SAFETY: these are PortCls's own functions.
    unsafe impl PortClass for PortCls {
        fn driver_entry() {
            nt::resolve();
        }

        fn unloading() {
            nt::flush_queued_dpcs();
        }

        unsafe fn initialize_adapter_driver(
            driver: *mut DRIVER_OBJECT,
            registry_path: *mut UNICODE_STRING,
            add_device: AddDeviceFn,
        ) -> NTSTATUS {
            // SAFETY: forwarded contract.
            unsafe { PcInitializeAdapterDriver(driver, registry_path, add_device) }
        }

        unsafe fn add_adapter_device(
            driver: *mut DRIVER_OBJECT,
            physical_device: *mut DEVICE_OBJECT,
            start_device: StartDeviceFn,
            max_objects: u32,
            device_extension_size: u32,
        ) -> NTSTATUS {
            // SAFETY: forwarded contract.
            unsafe {
                PcAddAdapterDevice(
                    driver,
                    physical_device,
                    start_device,
                    max_objects,
                    device_extension_size,
                )
            }
        }

        unsafe fn new_port(out: *mut Option<IPort>, class_id: *const GUID) -> NTSTATUS {
            // SAFETY: forwarded contract.
            unsafe { PcNewPort(out, class_id) }
        }

        unsafe fn new_interrupt_sync(
            out: *mut Option<IInterruptSync>,
            outer: Option<ComRef<'_, IUnknown>>,
            resources: Option<ComRef<'_, IResourceList>>,
            index: u32,
            mode: INTERRUPTSYNCMODE,
        ) -> NTSTATUS {
            let resources = resources.map_or(core::ptr::null_mut(), ComRef::as_raw);
            // SAFETY: forwarded contract.
            unsafe { PcNewInterruptSync(out, raw(outer), resources, index, mode) }
        }

        unsafe fn new_service_group(
            out: *mut Option<IServiceGroup>,
            outer: Option<ComRef<'_, IUnknown>>,
        ) -> NTSTATUS {
            // SAFETY: forwarded contract.
            unsafe { PcNewServiceGroup(out, raw(outer)) }
        }

        unsafe fn register_subdevice(
            device: *mut DEVICE_OBJECT,
            name: *const u16,
            unknown: Option<ComRef<'_, IUnknown>>,
        ) -> NTSTATUS {
            // SAFETY: forwarded contract.
            unsafe { PcRegisterSubdevice(device, name, raw(unknown)) }
        }

        unsafe fn register_physical_connection(
            device: *mut DEVICE_OBJECT,
            from: Option<ComRef<'_, IUnknown>>,
            from_pin: u32,
            to: Option<ComRef<'_, IUnknown>>,
            to_pin: u32,
        ) -> NTSTATUS {
            // SAFETY: forwarded contract.
            unsafe { PcRegisterPhysicalConnection(device, raw(from), from_pin, raw(to), to_pin) }
        }

        fn report(report: Report<'_>) {
            let hex = |status: NTSTATUS| status.0.cast_unsigned() as usize;
            let (format, a, b, c) = match report {
                Report::DriverEntryFailed(status) => (
                    c"mxf: PcInitializeAdapterDriver failed: status %08x\n",
                    hex(status),
                    0,
                    0,
                ),
                Report::SubdeviceFailed {
                    subdevice,
                    step,
                    status,
                } => (
                    c"mxf: subdevice %ws: %s failed: status %08x\n",
                    subdevice.wide_name.as_ptr() as usize,
                    step.c_name().as_ptr() as usize,
                    hex(status),
                ),
                Report::ConnectionFailed { index, status } => (
                    c"mxf: physical connection %u failed: status %08x\n",
                    index,
                    hex(status),
                    0,
                ),
                Report::Started { subdevices } => (
                    c"mxf: %u subdevices started (pool: %s)\n",
                    subdevices,
                    if nt::uses_pool2() {
                        c"ExAllocatePool2"
                    } else {
                        c"ExAllocatePoolWithTag"
                    }
                    .as_ptr() as usize,
                    0,
                ),
                Report::Unloaded => (
                    c"mxf: unloaded, %u pool blocks outstanding\n",
                    nt::live_blocks(),
                    0,
                    0,
                ),
            };
            // SAFETY: each format's conversions take the arguments given with it, of the types
            // they expect: `%ws` a NUL-terminated UTF-16 name (a static), `%s` a static C
            // string, `%x` / `%u` 32-bit values.
            unsafe { nt::debug_print3(format, a, b, c) };
        }
    }
}
