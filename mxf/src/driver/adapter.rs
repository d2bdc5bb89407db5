//! The adapter: `DriverEntry` → `PcInitializeAdapterDriver`, `AddDevice` →
//! `PcAddAdapterDevice`, `StartDevice` → per subdevice `PcNewPort`, the miniport, `IPort::Init`,
//! `PcRegisterSubdevice`, then the physical connections; `DriverUnload` → the author's hook and
//! PortCls's own unload routine. Generic over the driver's declaration and over [`PortClass`],
//! so the host tests run this very code against a test double.

use super::portcls::{PortClass, Report};
use super::types::{DEVICE_OBJECT, DRIVER_OBJECT, DriverUnloadFn, IRP, UNICODE_STRING};
use super::{Driver, MAX_SUBDEVICES, StartContext, Step, SubdeviceEntry};
use crate::abi::{NTSTATUS, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, STATUS_UNSUCCESSFUL};
use crate::com::{ComRef, Interface};
use crate::interfaces::{IPort, IResourceList, IUnknown};
use core::ffi::c_void;
use core::ptr;

/// `DriverEntry` of driver `D`: binds it to PortCls and takes over `DriverUnload` (keeping
/// PortCls's routine, which [`driver_unload`] calls).
///
/// # Safety
/// Called as `DriverEntry` is: once, with the I/O manager's driver object and registry path.
pub unsafe fn driver_entry<D: Driver, P: PortClass>(
    driver: *mut DRIVER_OBJECT,
    registry_path: *mut UNICODE_STRING,
) -> NTSTATUS {
    if driver.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    P::driver_entry();
    // SAFETY: DriverEntry's own arguments (caller).
    let status = unsafe { P::initialize_adapter_driver(driver, registry_path, add_device::<D, P>) };
    if !status.is_success() {
        P::report(Report::DriverEntryFailed(status));
        return status;
    }
    // SAFETY: `driver` is the live driver object; nothing else runs on it during DriverEntry.
    let field = unsafe { ptr::addr_of_mut!((*driver).DriverUnload) };
    // SAFETY: `field` points into the live driver object.
    let portcls_unload = unsafe { field.read() };
    D::state().set_portcls_unload(portcls_unload);
    // SAFETY: as above; the I/O manager reads DriverUnload only after DriverEntry returns.
    unsafe { field.write(Some(driver_unload::<D, P> as DriverUnloadFn)) };
    STATUS_SUCCESS
}

/// `AddDevice` of driver `D`: `PcAddAdapterDevice` with `StartDevice` and one object per
/// subdevice.
///
/// # Safety
/// Called as `AddDevice` is, by PortCls, with the driver object and the physical device object.
pub unsafe extern "system" fn add_device<D: Driver, P: PortClass>(
    driver: *mut DRIVER_OBJECT,
    physical_device: *mut DEVICE_OBJECT,
) -> NTSTATUS {
    let max_objects = u32::try_from(D::SUBDEVICES.len()).unwrap_or(u32::MAX);
    // SAFETY: AddDevice's own arguments (caller).
    unsafe {
        P::add_adapter_device(
            driver,
            physical_device,
            start_device::<D, P>,
            max_objects,
            0,
        )
    }
}

/// `StartDevice` of driver `D`: installs every declared subdevice in order, then registers the
/// declared physical connections. The first failure is reported and returned (PortCls then
/// fails the start; subdevices registered before it stay with PortCls, which releases them when
/// the device is removed). Either way the glue keeps no reference: ports and miniports live on
/// only in what PortCls registered.
///
/// # Safety
/// Called as `StartDevice` is, by PortCls, with the device object, the start IRP and the
/// device's resource list (an `IResourceList`, or NULL).
pub unsafe extern "system" fn start_device<D: Driver, P: PortClass>(
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
    resource_list: *mut c_void,
) -> NTSTATUS {
    // SAFETY: PortCls passes a live IResourceList (or NULL) for the call (caller).
    let resources = unsafe { ComRef::<IResourceList>::from_raw(resource_list) };
    let mut ports: [Option<IPort>; MAX_SUBDEVICES] = [const { None }; MAX_SUBDEVICES];
    for (index, subdevice) in D::SUBDEVICES.iter().enumerate() {
        let Some(slot) = ports.get_mut(index) else {
            // More subdevices than the glue holds ports for: the declaration macro refuses this
            // at compile time; a hand-written `Driver` gets an error before anything is made.
            P::report(Report::SubdeviceFailed {
                subdevice,
                step: Step::Declaration,
                status: STATUS_INVALID_PARAMETER,
            });
            return STATUS_INVALID_PARAMETER;
        };
        let context = StartContext {
            device,
            irp,
            resources,
            subdevice,
            index,
            new_interrupt_sync: P::new_interrupt_sync,
            new_service_group: P::new_service_group,
        };
        // SAFETY: StartDevice's own arguments (caller).
        match unsafe { install::<P>(&context) } {
            Ok(port) => *slot = Some(port),
            Err((step, status)) => {
                P::report(Report::SubdeviceFailed {
                    subdevice,
                    step,
                    status,
                });
                return status;
            }
        }
    }
    for (index, connection) in D::CONNECTIONS.iter().enumerate() {
        let port = |i: usize| ports.get(i).and_then(Option::as_ref);
        let (Some(from), Some(to)) = (port(connection.from), port(connection.to)) else {
            P::report(Report::ConnectionFailed {
                index,
                status: STATUS_INVALID_PARAMETER,
            });
            return STATUS_INVALID_PARAMETER;
        };
        let (from, to): (&IUnknown, &IUnknown) = (from, to);
        // SAFETY: `device` is StartDevice's; both ports were registered with it above.
        let status = unsafe {
            P::register_physical_connection(
                device,
                Some(from.to_ref()),
                connection.from_pin,
                Some(to.to_ref()),
                connection.to_pin,
            )
        };
        if !status.is_success() {
            P::report(Report::ConnectionFailed { index, status });
            return status;
        }
    }
    P::report(Report::Started {
        subdevices: D::SUBDEVICES.len(),
    });
    STATUS_SUCCESS
}

/// One subdevice: `PcNewPort`, the miniport, `IPort::Init`, `PcRegisterSubdevice`.
///
/// # Safety
/// The context holds StartDevice's own arguments.
unsafe fn install<P: PortClass>(context: &StartContext<'_>) -> Result<IPort, (Step, NTSTATUS)> {
    let subdevice: &SubdeviceEntry = context.subdevice;
    let mut port: Option<IPort> = None;
    // SAFETY: `port` is a valid out-pointer.
    let status = unsafe { P::new_port(&mut port, &subdevice.port_class) };
    status.ok().map_err(|s| (Step::NewPort, s))?;
    let port = port.ok_or((Step::NewPort, STATUS_UNSUCCESSFUL))?;
    let miniport = (subdevice.create)(context).map_err(|s| (Step::CreateMiniport, s))?;
    let resource_list = context.resources.map_or(ptr::null_mut(), ComRef::as_raw);
    // SAFETY: StartDevice's device object, IRP and resource list; the miniport is live (held
    // by `miniport` across the call).
    let status = unsafe {
        port.Init(
            context.device.cast(),
            context.irp.cast(),
            Some(miniport.to_ref()),
            None,
            resource_list,
        )
    };
    status.ok().map_err(|s| (Step::PortInit, s))?;
    // The port holds its own reference to the miniport from here on.
    drop(miniport);
    let unknown: &IUnknown = &port;
    // SAFETY: StartDevice's device object; the name is a NUL-terminated UTF-16 static.
    let status = unsafe {
        P::register_subdevice(
            context.device,
            subdevice.wide_name.as_ptr(),
            Some(unknown.to_ref()),
        )
    };
    status.ok().map_err(|s| (Step::RegisterSubdevice, s))?;
    Ok(port)
}

/// `DriverUnload` of driver `D`: the author's hook, then PortCls's own unload routine, then
/// [`PortClass::unloading`] (the kernel waits for queued DPCs).
///
/// # Safety
/// Called as `DriverUnload` is, by the I/O manager, after every device of the driver is gone.
pub unsafe extern "system" fn driver_unload<D: Driver, P: PortClass>(driver: *mut DRIVER_OBJECT) {
    D::unload();
    if let Some(portcls_unload) = D::state().take_portcls_unload() {
        // SAFETY: the routine PortCls installed for this driver object, called as the I/O
        // manager would have called it.
        unsafe { portcls_unload(driver) };
    }
    P::report(Report::Unloaded);
    P::unloading();
}
