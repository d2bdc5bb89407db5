//! The exports (`portcls.def`), the PnP the double plays, its unload routine, the panic handler
//! and the allocator of the image.

use crate::nt;
use crate::port::{PortHandle, PortObject, Resources};
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::fmt::Write as _;
use mxf::abi::*;
use mxf::com::{ComRef, Interface};
use mxf::components::service_group::ServiceGroupHandle;
use mxf::driver::{AddDeviceFn, DEVICE_OBJECT, DRIVER_OBJECT, StartDeviceFn, UNICODE_STRING};
use mxf::interfaces::{IPort, IServiceGroup, IUnknown};

/// Where the scenario's result goes (`$WINEPREFIX/drive_c/mxf-wine/result.txt`).
pub const RESULT_PATH: &str = "\\??\\C:\\mxf-wine\\result.txt";

/// What the double knows of the one driver it serves.
pub struct State {
    driver: *mut DRIVER_OBJECT,
    add_device: Option<AddDeviceFn>,
    start_device: Option<StartDeviceFn>,
    pdo: *mut DEVICE_OBJECT,
    fdo: *mut DEVICE_OBJECT,
    /// Every port `PcNewPort` made.
    ports: Vec<PortHandle>,
    /// What `PcRegisterSubdevice` registered: the name and the port's index in `ports`.
    registered: Vec<(String, usize)>,
    /// The result file's lines.
    pub log: String,
    /// The double's own pool blocks when `PcInitializeAdapterDriver` was called.
    live_at_entry: usize,
}

// SAFETY: the raw pointers are the I/O manager's objects, used only on the threads Wine runs
// DriverEntry and DriverUnload on, one after the other; the COM objects are thread-safe.
unsafe impl Send for State {}

static STATE: spin::Mutex<State> = spin::Mutex::new(State {
    driver: core::ptr::null_mut(),
    add_device: None,
    start_device: None,
    pdo: core::ptr::null_mut(),
    fdo: core::ptr::null_mut(),
    ports: Vec::new(),
    registered: Vec::new(),
    log: String::new(),
    live_at_entry: 0,
});

/// Appends a line to the result file and prints it with `DbgPrint`.
pub fn write_line(args: core::fmt::Arguments<'_>) {
    let mut text = String::new();
    let _ = text.write_fmt(args);
    let mut z = text.clone().into_bytes();
    z.push(0);
    nt::print(&z);
    let mut state = STATE.lock();
    state.log.push_str(&text);
    state.log.push('\n');
}

macro_rules! line {
    ($($t:tt)*) => { $crate::kernel::write_line(format_args!($($t)*)) };
}
pub(crate) use line;

fn hex(status: NTSTATUS) -> u32 {
    status.0.cast_unsigned()
}

/// `PcInitializeAdapterDriver`: keeps `AddDevice`, installs the double's unload routine, then
/// plays PnP (PDO, `AddDevice`, `StartDevice` with a resource list) and runs the scenario.
///
/// # Safety
/// The driver's `DriverEntry` arguments.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PcInitializeAdapterDriver(
    driver: *mut DRIVER_OBJECT,
    _registry_path: *mut UNICODE_STRING,
    add_device: AddDeviceFn,
) -> NTSTATUS {
    if driver.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    STATE.lock().live_at_entry = mxf::driver::live_pool_blocks();
    // SAFETY: the live driver object of DriverEntry; PortCls installs its unload routine.
    unsafe { (*driver).DriverUnload = Some(unload) };
    {
        let mut s = STATE.lock();
        s.driver = driver;
        s.add_device = Some(add_device);
    }
    line!("entry PcInitializeAdapterDriver");
    let pdo = match nt::create_device(driver) {
        Ok(d) => d,
        Err(status) => {
            line!("pnp IoCreateDevice(pdo) status {:08x}", hex(status));
            return status;
        }
    };
    STATE.lock().pdo = pdo;
    // SAFETY: the driver's AddDevice, called as the PnP manager calls it.
    let status = unsafe { add_device(driver, pdo) };
    line!("pnp AddDevice status {:08x}", hex(status));
    if !status.is_success() {
        return status;
    }
    let (start_device, fdo) = {
        let s = STATE.lock();
        (s.start_device, s.fdo)
    };
    let Some(start_device) = start_device else {
        line!("pnp AddDevice did not call PcAddAdapterDevice");
        return STATUS_INVALID_DEVICE_STATE;
    };
    let resources = match Resources::create(crate::scenario::resources()) {
        Ok(r) => r,
        Err(status) => return status,
    };
    let irp = nt::allocate_irp();
    // SAFETY: the routine the driver gave PcAddAdapterDevice, called as PortCls calls it on
    // IRP_MN_START_DEVICE: the device object PcAddAdapterDevice created, an IRP, the resource
    // list (alive across the call).
    let status = unsafe { start_device(fdo, irp, resources.interface().as_raw()) };
    if !irp.is_null() {
        // SAFETY: the IRP allocated above, which StartDevice does not keep.
        unsafe { nt::free_irp(irp) };
    }
    drop(resources);
    line!("pnp StartDevice status {:08x}", hex(status));
    if !status.is_success() {
        return status;
    }
    crate::scenario::run(&subdevices());
    STATUS_SUCCESS
}

/// The registered subdevices: name, port and miniport.
fn subdevices() -> Vec<crate::scenario::Subdevice> {
    let s = STATE.lock();
    s.registered
        .iter()
        .map(|(name, i)| {
            let port = s.ports.get(*i).and_then(|p| p.value().port());
            (name.clone(), port)
        })
        .collect()
}

/// `PcAddAdapterDevice`: creates the functional device object and keeps `StartDevice`.
///
/// # Safety
/// The driver's `AddDevice` arguments.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PcAddAdapterDevice(
    driver: *mut DRIVER_OBJECT,
    _physical_device: *mut DEVICE_OBJECT,
    start_device: StartDeviceFn,
    max_objects: u32,
    extension_size: u32,
) -> NTSTATUS {
    let fdo = match nt::create_device(driver) {
        Ok(d) => d,
        Err(status) => return status,
    };
    {
        let mut s = STATE.lock();
        s.fdo = fdo;
        s.start_device = Some(start_device);
    }
    line!("entry PcAddAdapterDevice max_objects {max_objects} extension {extension_size}");
    STATUS_SUCCESS
}

/// `PcNewPort`: a DMus port for `CLSID_PortDMus`, nothing else.
///
/// # Safety
/// `out` is valid for a write; `class_id` points to a GUID.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PcNewPort(
    out: *mut Option<IPort>,
    class_id: *const GUID,
) -> NTSTATUS {
    if out.is_null() || class_id.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the caller's GUID.
    let class_id = unsafe { class_id.read_unaligned() };
    if class_id != CLSID_PortDMus {
        line!("entry PcNewPort unknown class");
        return STATUS_INVALID_PARAMETER;
    }
    let handle = match PortObject::create() {
        Ok(h) => h,
        Err(status) => return status,
    };
    let port: &IPort = handle.interface();
    // SAFETY: `out` is valid for a write (caller).
    unsafe { out.write(Some(port.clone())) };
    STATE.lock().ports.push(handle);
    line!("entry PcNewPort CLSID_PortDMus");
    STATUS_SUCCESS
}

/// `PcRegisterSubdevice`: keeps the port under its name.
///
/// # Safety
/// `name` is NUL-terminated UTF-16; `unknown` a live interface or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PcRegisterSubdevice(
    _device: *mut DEVICE_OBJECT,
    name: *const u16,
    unknown: *mut c_void,
) -> NTSTATUS {
    if name.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let mut units = Vec::new();
    let mut at = name;
    // SAFETY: `name` is NUL-terminated UTF-16 (caller); reading stops at the terminator.
    while unsafe { at.read_unaligned() } != 0 && units.len() < 256 {
        // SAFETY: as above.
        units.push(unsafe { at.read_unaligned() });
        // SAFETY: the terminator has not been reached.
        at = unsafe { at.add(1) };
    }
    let name: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or('?'))
        .collect();
    // SAFETY: the caller's interface (or NULL), live across the call.
    let unknown = unsafe { ComRef::<IUnknown>::from_raw(unknown) };
    let raw = unknown.map_or(core::ptr::null_mut(), ComRef::as_raw);
    let mut s = STATE.lock();
    // Like PortCls's query for its private ISubdevice: only a port it made is a subdevice.
    let Some(index) = s.ports.iter().position(|p| p.interface().as_raw() == raw) else {
        drop(s);
        line!("entry PcRegisterSubdevice {name}: not a port of PcNewPort");
        return STATUS_INVALID_PARAMETER;
    };
    s.registered.push((name.clone(), index));
    drop(s);
    line!("entry PcRegisterSubdevice {name}");
    STATUS_SUCCESS
}

fn name_of(unknown: *mut c_void) -> String {
    let s = STATE.lock();
    s.registered
        .iter()
        .find(|(_, i)| {
            s.ports
                .get(*i)
                .is_some_and(|p| p.interface().as_raw() == unknown)
        })
        .map_or_else(|| String::from("?"), |(n, _)| n.clone())
}

/// `PcRegisterPhysicalConnection`: recorded.
///
/// # Safety
/// Both are registered ports (or anything: only their addresses are compared).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PcRegisterPhysicalConnection(
    _device: *mut DEVICE_OBJECT,
    from: *mut c_void,
    from_pin: u32,
    to: *mut c_void,
    to_pin: u32,
) -> NTSTATUS {
    let (f, t) = (name_of(from), name_of(to));
    line!("entry PcRegisterPhysicalConnection {f}[{from_pin}] -> {t}[{to_pin}]");
    if f == "?" || t == "?" {
        return STATUS_INVALID_PARAMETER;
    }
    STATUS_SUCCESS
}

/// `PcNewServiceGroup`: mxf's service group.
///
/// # Safety
/// `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PcNewServiceGroup(
    out: *mut Option<IServiceGroup>,
    _outer: *mut c_void,
) -> NTSTATUS {
    if out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let group = match ServiceGroupHandle::new() {
        Ok(g) => g,
        Err(status) => return status,
    };
    line!("entry PcNewServiceGroup");
    // SAFETY: `out` is valid for a write (caller).
    unsafe { out.write(Some(group.into_interface())) };
    STATUS_SUCCESS
}

/// `PcNewInterruptSync`: no interrupt object. Wine delivers no interrupt, and the double hands
/// the UART driver its device (`IMpu401Host`, behind the resource list), whose factory then
/// never asks for one; exported because `uart.sys` imports it (its port-range path). NULL and
/// `STATUS_NOT_IMPLEMENTED`, recorded.
///
/// # Safety
/// `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PcNewInterruptSync(
    out: *mut *mut c_void,
    _outer: *mut c_void,
    _resources: *mut c_void,
    index: u32,
    mode: i32,
) -> NTSTATUS {
    line!("entry PcNewInterruptSync index {index} mode {mode}");
    if !out.is_null() {
        // SAFETY: `out` is valid for a write (caller).
        unsafe { out.write(core::ptr::null_mut()) };
    }
    STATUS_NOT_IMPLEMENTED
}

/// PortCls's unload routine (the driver's `DriverUnload` calls it): the device is removed,
/// every port releases its miniport and group, the device objects are deleted, and the result
/// file is written.
unsafe extern "system" fn unload(_driver: *mut DRIVER_OBJECT) {
    let (ports, registered, pdo, fdo) = {
        let mut s = STATE.lock();
        let pdo = core::mem::replace(&mut s.pdo, core::ptr::null_mut());
        let fdo = core::mem::replace(&mut s.fdo, core::ptr::null_mut());
        (
            core::mem::take(&mut s.ports),
            core::mem::take(&mut s.registered),
            pdo,
            fdo,
        )
    };
    for port in &ports {
        port.value().release_children();
    }
    let count = ports.len();
    drop(registered);
    drop(ports);
    for device in [fdo, pdo] {
        if !device.is_null() {
            // SAFETY: created by the double, deleted once (the pointers were taken above).
            unsafe { nt::delete_device(device) };
        }
    }
    line!("unload ports {count} released, devices deleted");
    let (mut log, entry) = {
        let mut s = STATE.lock();
        (core::mem::take(&mut s.log), s.live_at_entry)
    };
    // Everything the double made for the driver is gone; what is left is the log (one block).
    let unload = mxf::driver::live_pool_blocks().saturating_sub(usize::from(log.capacity() > 0));
    let _ = writeln!(log, "double-pool entry {entry} unload {unload}");
    log.push_str("done\n");
    let status = nt::write_file(RESULT_PATH, log.as_bytes());
    if !status.is_success() {
        nt::print(b"cannot write the result file\0");
    }
}

/// The image's entry point (`--entry`). Wine does not call it for an imported kernel module;
/// it exists because a native image needs one.
#[unsafe(no_mangle)]
pub extern "system" fn DoubleEntry(_driver: *mut c_void, _path: *mut c_void) -> NTSTATUS {
    STATUS_SUCCESS
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    mxf::driver::panic_bug_check(info)
}

#[global_allocator]
static ALLOCATOR: mxf::driver::PoolAllocator = mxf::driver::PoolAllocator::new();
