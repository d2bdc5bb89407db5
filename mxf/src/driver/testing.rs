//! A recording PortCls for the host tests of a driver declaration (feature `std`).
//!
//! [`FakeKernel`] plays the I/O manager and PortCls around the adapter glue, which it calls
//! exactly as the kernel would: `DriverEntry`, `AddDevice`, `StartDevice`, removal, unload.
//! [`FakePortCls`] is the [`PortClass`] it gives the glue: it records every call, creates ports
//! whose `Init` does what a DMus port's does (QueryInterface the miniport for `IMiniportDMus`,
//! call its `Init` with the resource list and the port, keep the miniport and its service
//! group), keeps what `PcRegisterSubdevice` registers until the device is removed, and fails a
//! chosen call on demand. State is per thread, so tests run in parallel.
//!
//! ```
//! use mxf::driver::testing::{Call, FakeKernel};
//! use mxf::miniport::{DmusMiniport, InitRequest, IntoMiniport, Stream, StreamRequest};
//! use mxf::prelude::*;
//!
//! #[mxf_miniport]
//! pub struct Cable;
//! mxf::miniport_topology! {
//!     pub static CABLE for Cable {
//!         categories: [AUDIO, RENDER, CAPTURE],
//!         pins: { out: render(midi), input: capture(midi) },
//!     }
//! }
//! impl DmusMiniport for Cable {
//!     fn init(&self, _: InitRequest<'_>) -> Result<Option<IServiceGroup>> { Ok(None) }
//!     fn new_stream(&self, _: StreamRequest<'_>) -> Result<Stream> { Err(STATUS_NOT_IMPLEMENTED) }
//! }
//! mxf::driver! {
//!     pub struct OneCable {
//!         subdevices: [Cable1: Cable = |_| Cable.into_miniport()],
//!     }
//! }
//!
//! let kernel = FakeKernel::load::<OneCable>()?;
//! assert_eq!(kernel.add_device(), STATUS_SUCCESS);
//! assert_eq!(kernel.start_device(None), STATUS_SUCCESS);
//! assert_eq!(FakeKernel::registered(), ["Cable1"]);
//! assert!(FakeKernel::calls().contains(&Call::PortInit { status: STATUS_SUCCESS }));
//! kernel.remove_device();
//! kernel.unload();
//! # Ok::<(), NTSTATUS>(())
//! ```

use super::Driver;
use super::adapter::driver_entry;
use super::portcls::{PortClass, Report};
use super::types::{
    AddDeviceFn, DEVICE_OBJECT, DRIVER_OBJECT, INTERRUPTSYNCMODE, IRP, StartDeviceFn,
    UNICODE_STRING,
};
use crate::abi::{
    GUID, NTSTATUS, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED,
    STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use crate::com::{ComRef, Interface, ObjectHandle, SelfRef};
use crate::interfaces::{
    IInterruptSync, IInterruptSync_Impl, IMiniportDMus, IPort, IPort_Impl, IPortDMus,
    IPortDMus_Impl, IResourceList, IServiceGroup, IUnknown, InterruptSyncRoutine,
};
use crate::platform::SpinLock;
use core::ffi::c_void;
use std::boxed::Box;
use std::cell::RefCell;
use std::format;
use std::string::String;
use std::vec::Vec;

/// One call the glue made (or a report it gave), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `PcInitializeAdapterDriver`.
    InitializeAdapterDriver,
    /// `PcAddAdapterDevice` with its `MaxObjects` and `DeviceExtensionSize`.
    AddAdapterDevice {
        /// `MaxObjects`.
        max_objects: u32,
        /// `DeviceExtensionSize`.
        extension_size: u32,
    },
    /// `PcNewPort` with its class.
    NewPort {
        /// `ClassId`.
        class_id: GUID,
    },
    /// `IPort::Init` of a port made by `PcNewPort`, with what it returned.
    PortInit {
        /// The status `Init` returned (the miniport's `Init`'s, or the planned failure).
        status: NTSTATUS,
    },
    /// `PcRegisterSubdevice` with the name.
    RegisterSubdevice {
        /// `Name`, decoded.
        name: String,
    },
    /// `PcRegisterPhysicalConnection`, the ports named by their subdevices.
    RegisterPhysicalConnection {
        /// The subdevice registered with `FromUnknown`.
        from: String,
        /// `FromPin`.
        from_pin: u32,
        /// The subdevice registered with `ToUnknown`.
        to: String,
        /// `ToPin`.
        to_pin: u32,
    },
    /// `PcNewInterruptSync` with its resource index and mode.
    NewInterruptSync {
        /// `ResourceIndex`.
        index: u32,
        /// `Mode`.
        mode: INTERRUPTSYNCMODE,
    },
    /// `IInterruptSync::Connect` of an object `PcNewInterruptSync` made.
    InterruptConnect,
    /// `IInterruptSync::Disconnect` of such an object.
    InterruptDisconnect,
    /// `PcNewServiceGroup`.
    NewServiceGroup,
    /// PortCls's own `DriverUnload` ran.
    PortClsUnload,
    /// A [`Report`] of the glue, formatted.
    Report(String),
}

/// A call [`FakeKernel::fail`] can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failing {
    /// `PcInitializeAdapterDriver`.
    InitializeAdapterDriver,
    /// `PcNewPort`.
    NewPort,
    /// `IPort::Init` (before the miniport is called).
    PortInit,
    /// `PcRegisterSubdevice`.
    RegisterSubdevice,
    /// `PcRegisterPhysicalConnection`.
    RegisterPhysicalConnection,
    /// `PcNewInterruptSync`.
    NewInterruptSync,
    /// `IInterruptSync::Connect`.
    InterruptConnect,
}

#[derive(Default)]
struct World {
    calls: Vec<Call>,
    add_device: Option<AddDeviceFn>,
    start_device: Option<StartDeviceFn>,
    /// Every port `PcNewPort` made (PortCls's own bookkeeping), and what was registered.
    ports: Vec<ObjectHandle<FakePort, IPortDMus>>,
    registered: Vec<(String, IUnknown)>,
    /// Every interrupt object `PcNewInterruptSync` made (kept so a test can fire it).
    interrupts: Vec<ObjectHandle<FakeInterruptSync, IInterruptSync>>,
    plan: Vec<(Failing, usize, NTSTATUS)>,
    seen: Vec<Failing>,
}

std::thread_local! {
    static WORLD: RefCell<World> = RefCell::new(World::default());
}

fn with<R>(f: impl FnOnce(&mut World) -> R) -> R {
    WORLD.with(|w| f(&mut w.borrow_mut()))
}

fn record(call: Call) {
    with(|w| w.calls.push(call));
}

/// Counts one `call`; its planned status if this occurrence is to fail.
fn planned(call: Failing) -> Option<NTSTATUS> {
    with(|w| {
        w.seen.push(call);
        let nth = w.seen.iter().filter(|&&c| c == call).count();
        w.plan
            .iter()
            .find(|&&(c, n, _)| c == call && n == nth)
            .map(|&(_, _, status)| status)
    })
}

/// A DMus port as far as the adapter and the miniport's `Init` see it: `Init` queries the
/// miniport for `IMiniportDMus` and calls its `Init` with the resource list and this port,
/// then keeps the miniport and its service group (until the device is removed);
/// `RegisterServiceGroup` keeps the group; `Notify` requests service of the group it is given.
#[crate::com_object(IPortDMus)]
pub struct FakePort {
    me: SelfRef<IPortDMus>,
    miniport: SpinLock<Option<IMiniportDMus>>,
    group: SpinLock<Option<IServiceGroup>>,
}

impl FakePort {
    /// A new port, as `PcNewPort(CLSID_PortDMus)` makes one (not registered anywhere).
    pub fn create() -> crate::abi::Result<ObjectHandle<FakePort, IPortDMus>> {
        let handle = ObjectHandle::<FakePort, IPortDMus>::create(FakePort {
            me: SelfRef::new(),
            miniport: SpinLock::new(None),
            group: SpinLock::new(None),
        })?;
        // SAFETY: the handle's interface is an interface of the object holding `me`.
        unsafe { handle.value().me.set(handle.interface()) };
        Ok(handle)
    }

    /// The miniport `Init` kept, if it succeeded.
    pub fn miniport(&self) -> Option<IMiniportDMus> {
        self.miniport.lock().clone()
    }

    /// The service group the miniport registered or returned, if any.
    pub fn service_group(&self) -> Option<IServiceGroup> {
        self.group.lock().clone()
    }

    fn release_children(&self) {
        let miniport = self.miniport.lock().take();
        let group = self.group.lock().take();
        drop((miniport, group));
    }
}

impl IPort_Impl for FakePort {
    unsafe fn Init(
        &self,
        _device_object: *mut c_void,
        _irp: *mut c_void,
        unknown_miniport: Option<ComRef<'_, IUnknown>>,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> NTSTATUS {
        let status = self.init(unknown_miniport, unknown_adapter, resource_list);
        record(Call::PortInit { status });
        status
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

impl IPortDMus_Impl for FakePort {
    fn Notify(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        if let Some(group) = group {
            group.RequestService();
        }
    }

    fn RegisterServiceGroup(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        *self.group.lock() = group.map(ComRef::to_owned);
    }
}

impl FakePort {
    /// What a DMus port's `Init` does with the miniport (`kernel.md` §4.1).
    fn init(
        &self,
        unknown_miniport: Option<ComRef<'_, IUnknown>>,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> NTSTATUS {
        if let Some(status) = planned(Failing::PortInit) {
            return status;
        }
        if self.miniport.lock().is_some() {
            return STATUS_INVALID_DEVICE_STATE;
        }
        let Some(unknown) = unknown_miniport else {
            return STATUS_INVALID_PARAMETER;
        };
        let Ok(miniport) = unknown.cast::<IMiniportDMus>() else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: the port is alive: its caller holds a reference during Init.
        let Some(me) = (unsafe { self.me.get() }) else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        let mut group: Option<IServiceGroup> = None;
        // SAFETY: the resource list and adapter are the caller's, live for the call; `group`
        // is a valid out-pointer.
        let status = unsafe {
            miniport.Init(
                unknown_adapter,
                resource_list,
                Some(me.to_ref()),
                &mut group,
            )
        };
        drop(me);
        if !status.is_success() {
            return status;
        }
        if let Some(group) = group {
            let mut kept = self.group.lock();
            if kept.is_none() {
                *kept = Some(group);
            }
        }
        *self.miniport.lock() = Some(miniport);
        STATUS_SUCCESS
    }
}

/// What `PcNewInterruptSync` makes in the double: an interrupt object that records
/// `Connect` / `Disconnect`, keeps the registered service routines, and lets a test raise the
/// interrupt ([`fire`](Self::fire)). Its lock plays the interrupt spin lock: held while the
/// routines run and around `CallSynchronizedRoutine`'s routine.
#[crate::com_object(IInterruptSync)]
pub struct FakeInterruptSync {
    /// The `IInterruptSync*` the routines are given (set once, after creation).
    this: core::sync::atomic::AtomicPtr<c_void>,
    state: std::sync::Mutex<InterruptState>,
    /// The interrupt spin lock.
    lock: std::sync::Mutex<()>,
}

#[derive(Default)]
struct InterruptState {
    /// Routines and their contexts, in calling order.
    routines: Vec<(InterruptSyncRoutine, RoutineContext)>,
    connected: bool,
    connects: u32,
    disconnects: u32,
}

/// A service routine's context pointer, kept with its provenance.
#[derive(Clone, Copy)]
struct RoutineContext(*mut c_void);

// SAFETY: only stored and handed back to the routine it was registered with, as PortCls's
// interrupt object keeps it; the registrant answers for what it points to.
unsafe impl Send for RoutineContext {}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeInterruptSync {
    fn create() -> crate::abi::Result<ObjectHandle<FakeInterruptSync, IInterruptSync>> {
        let handle =
            ObjectHandle::<FakeInterruptSync, IInterruptSync>::create(FakeInterruptSync {
                this: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
                state: std::sync::Mutex::new(InterruptState::default()),
                lock: std::sync::Mutex::new(()),
            })?;
        let raw = handle.interface().as_raw();
        handle
            .value()
            .this
            .store(raw, core::sync::atomic::Ordering::Release);
        Ok(handle)
    }

    fn this(&self) -> *mut c_void {
        self.this.load(core::sync::atomic::Ordering::Acquire)
    }

    /// Raises the interrupt: if connected, calls the service routines in order until one
    /// returns `STATUS_SUCCESS` (`InterruptSyncModeNormal`), with the interrupt lock held.
    /// Returns the last routine's status (`STATUS_UNSUCCESSFUL` if none claimed it), or `None`
    /// when the interrupt is not connected (nothing is called).
    pub fn fire(&self) -> Option<NTSTATUS> {
        let _irq = locked(&self.lock);
        let routines = {
            let state = locked(&self.state);
            if !state.connected {
                return None;
            }
            state.routines.clone()
        };
        let mut status = STATUS_UNSUCCESSFUL;
        for (routine, context) in routines {
            // SAFETY: a routine registered with its context, called as PortCls calls it: with
            // this object and the context, under the interrupt lock, while connected.
            status = unsafe { routine(self.this(), context.0) };
            if status.is_success() {
                break;
            }
        }
        Some(status)
    }

    /// Whether the interrupt is connected.
    pub fn connected(&self) -> bool {
        locked(&self.state).connected
    }

    /// How many times `Connect` and `Disconnect` were called.
    pub fn connects_and_disconnects(&self) -> (u32, u32) {
        let state = locked(&self.state);
        (state.connects, state.disconnects)
    }

    /// How many service routines are registered.
    pub fn routines(&self) -> usize {
        locked(&self.state).routines.len()
    }
}

impl IInterruptSync_Impl for FakeInterruptSync {
    unsafe fn CallSynchronizedRoutine(
        &self,
        routine: InterruptSyncRoutine,
        context: *mut c_void,
    ) -> NTSTATUS {
        let _irq = locked(&self.lock);
        // SAFETY: the caller's routine and context, called under the interrupt lock.
        unsafe { routine(self.this(), context) }
    }

    fn GetKInterrupt(&self) -> *mut c_void {
        core::ptr::null_mut()
    }

    fn Connect(&self) -> NTSTATUS {
        record(Call::InterruptConnect);
        if let Some(status) = planned(Failing::InterruptConnect) {
            return status;
        }
        let mut state = locked(&self.state);
        if state.connected {
            return STATUS_INVALID_DEVICE_STATE;
        }
        state.connected = true;
        state.connects = state.connects.saturating_add(1);
        STATUS_SUCCESS
    }

    fn Disconnect(&self) {
        record(Call::InterruptDisconnect);
        // Waits for a running routine (the interrupt lock), as IoDisconnectInterrupt does.
        let _irq = locked(&self.lock);
        let mut state = locked(&self.state);
        state.connected = false;
        state.disconnects = state.disconnects.saturating_add(1);
    }

    unsafe fn RegisterServiceRoutine(
        &self,
        routine: InterruptSyncRoutine,
        context: *mut c_void,
        first: u8,
    ) -> NTSTATUS {
        let entry = (routine, RoutineContext(context));
        let mut state = locked(&self.state);
        if first != 0 {
            state.routines.insert(0, entry);
        } else {
            state.routines.push(entry);
        }
        STATUS_SUCCESS
    }
}

/// The [`PortClass`] of the host tests (see the module docs).
pub struct FakePortCls;

unsafe extern "system" fn portcls_unload(_driver: *mut DRIVER_OBJECT) {
    record(Call::PortClsUnload);
}

fn subdevice_of(w: &World, unknown: Option<ComRef<'_, IUnknown>>) -> String {
    let raw = unknown.map_or(core::ptr::null_mut(), ComRef::as_raw);
    w.registered
        .iter()
        .find(|(_, u)| u.as_raw() == raw)
        .map_or_else(|| format!("{raw:p}"), |(name, _)| name.clone())
}

// SAFETY: the double behaves as PortCls documents these functions: `new_port` stores an
// AddRef'd port, registrations take their own references, callbacks get the pointers the
// kernel would pass.
unsafe impl PortClass for FakePortCls {
    unsafe fn initialize_adapter_driver(
        driver: *mut DRIVER_OBJECT,
        _registry_path: *mut UNICODE_STRING,
        add_device: AddDeviceFn,
    ) -> NTSTATUS {
        record(Call::InitializeAdapterDriver);
        if let Some(status) = planned(Failing::InitializeAdapterDriver) {
            return status;
        }
        with(|w| w.add_device = Some(add_device));
        // PortCls installs its own unload routine.
        // SAFETY: `driver` is the live driver object DriverEntry was given.
        unsafe { (*driver).DriverUnload = Some(portcls_unload) };
        STATUS_SUCCESS
    }

    unsafe fn add_adapter_device(
        _driver: *mut DRIVER_OBJECT,
        _physical_device: *mut DEVICE_OBJECT,
        start_device: StartDeviceFn,
        max_objects: u32,
        extension_size: u32,
    ) -> NTSTATUS {
        record(Call::AddAdapterDevice {
            max_objects,
            extension_size,
        });
        with(|w| w.start_device = Some(start_device));
        STATUS_SUCCESS
    }

    unsafe fn new_port(out: *mut Option<IPort>, class_id: *const GUID) -> NTSTATUS {
        // SAFETY: the glue passes its own GUID.
        let class_id = unsafe { *class_id };
        record(Call::NewPort { class_id });
        if let Some(status) = planned(Failing::NewPort) {
            return status;
        }
        let handle = match FakePort::create() {
            Ok(h) => h,
            Err(status) => return status,
        };
        let iport: &IPort = handle.interface();
        // SAFETY: `out` is valid for a write (caller).
        unsafe { out.write(Some(iport.clone())) };
        with(|w| w.ports.push(handle));
        STATUS_SUCCESS
    }

    unsafe fn new_interrupt_sync(
        out: *mut Option<IInterruptSync>,
        _outer: Option<ComRef<'_, IUnknown>>,
        resources: Option<ComRef<'_, IResourceList>>,
        index: u32,
        mode: INTERRUPTSYNCMODE,
    ) -> NTSTATUS {
        record(Call::NewInterruptSync { index, mode });
        if let Some(status) = planned(Failing::NewInterruptSync) {
            return status;
        }
        let Some(list) = resources else {
            return STATUS_INVALID_PARAMETER;
        };
        if super::Resources::new(list).interrupt(index).is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        let handle = match FakeInterruptSync::create() {
            Ok(h) => h,
            Err(status) => return status,
        };
        // SAFETY: `out` is valid for a write (caller).
        unsafe { out.write(Some(handle.interface().clone())) };
        with(|w| w.interrupts.push(handle));
        STATUS_SUCCESS
    }

    unsafe fn new_service_group(
        out: *mut Option<IServiceGroup>,
        _outer: Option<ComRef<'_, IUnknown>>,
    ) -> NTSTATUS {
        record(Call::NewServiceGroup);
        // mxf's own group: it calls its members at once, where PortCls's queues a DPC when
        // called above DISPATCH_LEVEL (the host has no IRQL).
        match crate::components::service_group::ServiceGroupHandle::new() {
            Ok(group) => {
                // SAFETY: `out` is valid for a write (caller).
                unsafe { out.write(Some(group.interface().clone())) };
                STATUS_SUCCESS
            }
            Err(status) => status,
        }
    }

    unsafe fn register_subdevice(
        _device: *mut DEVICE_OBJECT,
        name: *const u16,
        unknown: Option<ComRef<'_, IUnknown>>,
    ) -> NTSTATUS {
        let mut units = Vec::new();
        let mut at = name;
        // SAFETY: `name` is NUL-terminated UTF-16 (caller).
        while unsafe { *at } != 0 {
            // SAFETY: as above.
            units.push(unsafe { *at });
            // SAFETY: the terminator has not been reached.
            at = unsafe { at.add(1) };
        }
        let name = String::from_utf16_lossy(&units);
        record(Call::RegisterSubdevice { name: name.clone() });
        if let Some(status) = planned(Failing::RegisterSubdevice) {
            return status;
        }
        let Some(unknown) = unknown else {
            return STATUS_INVALID_PARAMETER;
        };
        let kept = unknown.to_owned();
        with(|w| w.registered.push((name, kept)));
        STATUS_SUCCESS
    }

    unsafe fn register_physical_connection(
        _device: *mut DEVICE_OBJECT,
        from: Option<ComRef<'_, IUnknown>>,
        from_pin: u32,
        to: Option<ComRef<'_, IUnknown>>,
        to_pin: u32,
    ) -> NTSTATUS {
        let call = with(|w| Call::RegisterPhysicalConnection {
            from: subdevice_of(w, from),
            from_pin,
            to: subdevice_of(w, to),
            to_pin,
        });
        record(call);
        planned(Failing::RegisterPhysicalConnection).unwrap_or(STATUS_SUCCESS)
    }

    fn report(report: Report<'_>) {
        let text = match report {
            Report::DriverEntryFailed(status) => {
                format!("PcInitializeAdapterDriver failed: {status:?}")
            }
            Report::SubdeviceFailed {
                subdevice,
                step,
                status,
            } => format!(
                "subdevice {}: {} failed: {status:?}",
                subdevice.name,
                step.c_name().to_string_lossy()
            ),
            Report::ConnectionFailed { index, status } => {
                format!("physical connection {index} failed: {status:?}")
            }
            Report::Started { subdevices } => format!("{subdevices} subdevices started"),
            Report::Unloaded => String::from("unloaded"),
        };
        record(Call::Report(text));
    }
}

/// The I/O manager and PortCls around one loaded driver (per thread; see the module docs).
pub struct FakeKernel {
    driver: Box<DRIVER_OBJECT>,
    registry_path: Box<[u16; 9]>,
}

/// Stand-ins for the kernel's objects: the glue passes them on, never dereferences them.
fn token<T>(n: usize) -> *mut T {
    core::ptr::without_provenance_mut(n.saturating_mul(0x1000))
}

impl Default for FakeKernel {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeKernel {
    /// Starts afresh on this thread: every earlier call, port, registration and plan is
    /// dropped, and a new, empty driver object is made.
    pub fn new() -> Self {
        Self::reset();
        Self {
            driver: Box::new(DRIVER_OBJECT::empty()),
            registry_path: Box::new(super::utf16z::<9>("\\mxf\\reg")),
        }
    }

    /// [`new`](Self::new), then `D`'s `DriverEntry`; its status if it fails.
    pub fn load<D: Driver>() -> Result<Self, NTSTATUS> {
        let mut kernel = Self::new();
        kernel.driver_entry::<D>().ok().map(|()| kernel)
    }

    /// Runs `D`'s `DriverEntry` with [`FakePortCls`], as the I/O manager does.
    pub fn driver_entry<D: Driver>(&mut self) -> NTSTATUS {
        let Some(mut path) = UNICODE_STRING::from_utf16z(&self.registry_path[..]) else {
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: a live driver object and registry path, as the I/O manager passes them.
        unsafe { driver_entry::<D, FakePortCls>(&mut *self.driver, &mut path) }
    }

    /// Plans the `nth` (from 1) call of `call` after this one to fail with `status`.
    pub fn fail(call: Failing, nth: usize, status: NTSTATUS) {
        with(|w| {
            let already = w.seen.iter().filter(|&&c| c == call).count();
            w.plan.push((call, already.saturating_add(nth), status));
        });
    }

    /// PnP's `AddDevice` (the routine the glue gave `PcInitializeAdapterDriver`).
    pub fn add_device(&self) -> NTSTATUS {
        let Some(add_device) = with(|w| w.add_device) else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        let driver = core::ptr::from_ref(&*self.driver).cast_mut();
        // SAFETY: called as PortCls calls AddDevice: the driver object and a PDO token.
        unsafe { add_device(driver, token(1)) }
    }

    /// PnP's `IRP_MN_START_DEVICE` (the routine the glue gave `PcAddAdapterDevice`), with the
    /// device's resource list.
    pub fn start_device(&self, resources: Option<&IResourceList>) -> NTSTATUS {
        let Some(start_device) = with(|w| w.start_device) else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        let list = resources.map_or(core::ptr::null_mut(), Interface::as_raw);
        // SAFETY: called as PortCls calls StartDevice: a device and IRP token, a live resource
        // list (or NULL).
        unsafe { start_device(token::<DEVICE_OBJECT>(2), token::<IRP>(3), list) }
    }

    /// `IRP_MN_REMOVE_DEVICE`: PortCls releases every port's miniport and group, then the
    /// registrations and its ports.
    pub fn remove_device(&self) {
        let (ports, registered, interrupts) = with(|w| {
            (
                core::mem::take(&mut w.ports),
                core::mem::take(&mut w.registered),
                core::mem::take(&mut w.interrupts),
            )
        });
        for port in &ports {
            port.value().release_children();
        }
        drop(registered);
        drop(ports);
        drop(interrupts);
    }

    /// `DriverUnload`, as the I/O manager calls it.
    pub fn unload(mut self) {
        if let Some(unload) = self.driver.DriverUnload {
            // SAFETY: the routine the driver left in its driver object, with that object.
            unsafe { unload(&mut *self.driver) };
        }
    }

    /// The driver object (to look at what the glue left in it).
    pub fn driver_object(&self) -> &DRIVER_OBJECT {
        &self.driver
    }

    /// Every call so far on this thread.
    pub fn calls() -> Vec<Call> {
        with(|w| w.calls.clone())
    }

    /// The names registered with `PcRegisterSubdevice` and not yet removed.
    pub fn registered() -> Vec<String> {
        with(|w| w.registered.iter().map(|(n, _)| n.clone()).collect())
    }

    /// The `index`th port `PcNewPort` made, if not yet released by
    /// [`remove_device`](Self::remove_device).
    pub fn port(index: usize) -> Option<ObjectHandle<FakePort, IPortDMus>> {
        with(|w| w.ports.get(index).cloned())
    }

    /// Ports made by `PcNewPort` and not yet released by [`remove_device`](Self::remove_device).
    pub fn ports() -> usize {
        with(|w| w.ports.len())
    }

    /// The interrupt objects `PcNewInterruptSync` made and not yet released by
    /// [`remove_device`](Self::remove_device), in order (to fire them, and see whether the
    /// driver connected and disconnected them).
    pub fn interrupts() -> Vec<ObjectHandle<FakeInterruptSync, IInterruptSync>> {
        with(|w| w.interrupts.clone())
    }

    /// Drops every call, port, registration and plan of this thread.
    pub fn reset() {
        let old = with(core::mem::take);
        for port in &old.ports {
            port.value().release_children();
        }
        drop(old);
    }
}

/// I/O ports as a host test plays them: what [`IoPorts`](super::IoPorts) reads and writes off
/// the kernel while one is attached to the thread ([`attach_port_bus`]), so a driver's
/// port-I/O code runs against a register-level model of its card.
pub trait PortBus {
    /// `READ_PORT_UCHAR(port)`.
    fn read(&self, port: usize) -> u8;
    /// `WRITE_PORT_UCHAR(port, value)`.
    fn write(&self, port: usize, value: u8);
}

std::thread_local! {
    static PORT_BUS: RefCell<Option<std::rc::Rc<dyn PortBus>>> = const { RefCell::new(None) };
}

/// Attaches `bus` to this thread (replacing any): `IoPorts` reads and writes it from now on,
/// and `IoPorts::available()` is true, until [`detach_port_bus`].
pub fn attach_port_bus(bus: std::rc::Rc<dyn PortBus>) {
    PORT_BUS.with(|b| *b.borrow_mut() = Some(bus));
}

/// Detaches this thread's bus: no port I/O again.
pub fn detach_port_bus() {
    let old = PORT_BUS.with(|b| b.borrow_mut().take());
    drop(old);
}

fn port_bus() -> Option<std::rc::Rc<dyn PortBus>> {
    PORT_BUS.with(|b| b.borrow().clone())
}

pub(super) fn port_bus_attached() -> bool {
    port_bus().is_some()
}

pub(super) fn port_bus_read(port: usize) -> Option<u8> {
    port_bus().map(|bus| bus.read(port))
}

pub(super) fn port_bus_write(port: usize, value: u8) -> bool {
    port_bus().map(|bus| bus.write(port, value)).is_some()
}
