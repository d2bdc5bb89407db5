//! The double's COM objects: the DMus port `PcNewPort` returns, the master clock its pins
//! pass to `NewStream`, and the resource list `StartDevice` gets.

use core::ffi::c_void;
use mxf::abi::*;
use mxf::com::{ComRef, Interface, ObjectHandle, SelfRef};
use mxf::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR;
use mxf::interfaces::*;
use mxf::platform::SpinLock;

/// A DMus port: `Init` queries the miniport for `IMiniportDMus` and calls its `Init` with the
/// resource list and this port, then keeps the miniport and its service group until the device
/// is removed (`kernel.md` §4.1); `RegisterServiceGroup` keeps the group; `Notify` requests
/// service of the group it is given, synchronously (Wine runs no queued DPC).
#[mxf::com_object(IPortDMus)]
pub struct PortObject {
    me: SelfRef<IPortDMus>,
    miniport: SpinLock<Option<IMiniportDMus>>,
    group: SpinLock<Option<IServiceGroup>>,
}

/// A port as `PcNewPort` keeps it.
pub type PortHandle = ObjectHandle<PortObject, IPortDMus>;

impl PortObject {
    /// A new port.
    pub fn create() -> Result<PortHandle> {
        let handle = PortHandle::create(PortObject {
            me: SelfRef::new(),
            miniport: SpinLock::new(None),
            group: SpinLock::new(None),
        })?;
        // SAFETY: the handle's interface is an interface of the object holding `me`.
        unsafe { handle.value().me.set(handle.interface()) };
        Ok(handle)
    }

    /// The miniport `Init` kept.
    pub fn miniport(&self) -> Option<IMiniportDMus> {
        self.miniport.lock().clone()
    }

    /// Device removal: the miniport and the group are released.
    pub fn release_children(&self) {
        let miniport = self.miniport.lock().take();
        let group = self.group.lock().take();
        drop((miniport, group));
    }

    fn init(
        &self,
        unknown_miniport: Option<ComRef<'_, IUnknown>>,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> NTSTATUS {
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
        if let Some(group) = group {
            group.RequestService();
        }
    }

    fn RegisterServiceGroup(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        *self.group.lock() = group.map(ComRef::to_owned);
    }
}

/// The pins' master clock: `KeQueryPerformanceCounter` in 100 ns units.
#[mxf::com_object(IMasterClock)]
pub struct Clock;

impl IMasterClock_Impl for Clock {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() || !time.is_aligned() {
            return STATUS_INVALID_PARAMETER;
        }
        let (now, frequency) = mxf::driver::performance_counter();
        let t = if frequency > 0 {
            i64::try_from(i128::from(now) * 10_000_000 / i128::from(frequency)).unwrap_or(i64::MAX)
        } else {
            0
        };
        // SAFETY: a non-NULL, aligned out-pointer from the caller.
        unsafe { time.write(t) };
        STATUS_SUCCESS
    }
}

/// The device's resource list (`StartDevice`'s third argument): the entries given at creation.
#[mxf::com_object(IResourceList)]
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

    fn find(&self, resource_type: i32, index: u32) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        self.entries
            .iter()
            .filter(|e| i32::from(e.Type) == resource_type)
            .nth(index as usize)
            .map_or(core::ptr::null_mut(), |e| core::ptr::from_ref(e).cast_mut())
    }
}

impl IResourceList_Impl for Resources {
    fn NumberOfEntries(&self) -> u32 {
        self.entries.len() as u32
    }
    fn NumberOfEntriesOfType(&self, resource_type: i32) -> u32 {
        self.entries
            .iter()
            .filter(|e| i32::from(e.Type) == resource_type)
            .count() as u32
    }
    fn FindTranslatedEntry(
        &self,
        resource_type: i32,
        index: u32,
    ) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        self.find(resource_type, index)
    }
    fn FindUntranslatedEntry(
        &self,
        resource_type: i32,
        index: u32,
    ) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        self.find(resource_type, index)
    }
    unsafe fn AddEntry(
        &self,
        _translated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
        _untranslated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn AddEntryFromParent(
        &self,
        _parent: Option<ComRef<'_, IResourceList>>,
        _resource_type: i32,
        _index: u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn TranslatedList(&self) -> *mut c_void {
        core::ptr::null_mut()
    }
    fn UntranslatedList(&self) -> *mut c_void {
        core::ptr::null_mut()
    }
}
