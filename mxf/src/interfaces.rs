//! The DMus interface set (`dmusicks.h`, `portcls.h`, `punknown.h`), declared with
//! `#[com_interface]`. Slot order is declaration order, base first (`domain.md` §1).
//!
//! Each interface `IFoo` comes with `IFoo_Vtbl` (the `#[repr(C)]` vtable), `IFoo_Impl` (what an
//! object implements) and client methods on `IFoo` that call through the vtable.
//!
//! Interface in-pointers are `Option<ComRef<'_, I>>` (borrowed, nullable); out-pointers are
//! `*mut Option<I>` (the callee stores an AddRef'd pointer or NULL).
//!
//! IUnknown has no `IUnknown_Impl`: every object's QueryInterface, AddRef and Release are the
//! framework's. IMXF's `_Impl` is what a hand-written MXF implements; an `#[mxf_filter]` gets
//! IMXF from the framework.
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, create_allocator};
//! use mxf::prelude::*;
//!
//! let alloc: IAllocatorMXF = create_allocator(AllocatorConfig::default(), None)?;
//! // An interface derefs to its base: an IAllocatorMXF is an IMXF is an IUnknown.
//! let mxf: &IMXF = &alloc;
//! assert_eq!(mxf.SetState(KSSTATE_RUN), STATUS_NOT_IMPLEMENTED); // as Microsoft's allocator
//! assert_eq!(alloc.GetBufferSize(), 240);
//!
//! // QueryInterface answers the interface and its ancestors, with one identity.
//! let again: IAllocatorMXF = mxf.cast()?;
//! assert_eq!(again, alloc);
//! assert!(IAllocatorMXF::matches(&IMXF::IID) && !IAllocatorMXF::matches(&ISynthSinkDMus::IID));
//!
//! // The vtables are the header's: IMXF adds four slots to IUnknown's three.
//! assert_eq!(core::mem::size_of::<IMXF_Vtbl>(), 7 * core::mem::size_of::<usize>());
//! # Ok::<(), NTSTATUS>(())
//! ```
#![allow(non_snake_case, clippy::missing_safety_doc)]

use crate::abi::{
    DMUS_KERNEL_EVENT, DMUS_STREAM_TYPE, GUID, KSDATAFORMAT, KSSTATE, NTSTATUS, POOL_TYPE,
    REFERENCE_TIME,
};
use crate::com::ComRef;
use crate::com_interface;
use core::ffi::c_void;

/// `IUnknown` as kernel COM declares it: `QueryInterface` returns an `NTSTATUS`.
#[com_interface(iid = "00000000-0000-0000-C000-000000000046", root)]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IUnknown {
    /// Slot 0. Stores an AddRef'd pointer to `iid` in `*out`, or NULL and an error status.
    fn QueryInterface(&self, iid: *const GUID, out: *mut *mut c_void) -> NTSTATUS;
    /// Slot 1. Adds a reference; returns the new count (informational only).
    fn AddRef(&self) -> u32;
    /// Slot 2. Drops a reference; the object may be gone when this returns.
    fn Release(&self) -> u32;
}

/// `IMXF`: the MIDI transform interface every object of the DMus graph speaks.
#[com_interface(iid = "C096DF9E-FB09-11D1-81B0-0060083316C1", filter_plumbing)]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IMXF: IUnknown {
    /// Slot 3 (PASSIVE_LEVEL). Sets the streaming state.
    fn SetState(&self, state: KSSTATE) -> NTSTATUS;
    /// Slot 4 (DISPATCH_LEVEL). Takes ownership of an event or a `pNextEvt` chain; NULL is a
    /// capture stream's cue to push input.
    fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS;
    /// Slot 5 (PASSIVE_LEVEL). Connects the output to `sink`.
    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS;
    /// Slot 6 (PASSIVE_LEVEL). Disconnects `sink` (or whatever is connected, for NULL).
    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS;
}

/// `IAllocatorMXF`: the per-pin source and final destination of every event.
///
/// `IAllocatorMXF_Impl` is an `unsafe trait` (`unsafe_impl`): the safe event layer trusts an
/// allocator, copying up to `GetBufferSize()` bytes into the buffers `GetBuffer` returns and
/// taking the events `GetMessage` returns as fresh and its own.
#[com_interface(iid = "A5F0D62C-B30F-11D2-B7A3-0060083316C1", unsafe_impl)]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IAllocatorMXF: IMXF {
    /// Slot 7. Stores a fresh event in `*event`.
    fn GetMessage(&self, event: *mut *mut DMUS_KERNEL_EVENT) -> NTSTATUS;
    /// Slot 8. The size of long-event buffers; constant.
    fn GetBufferSize(&self) -> u16;
    /// Slot 9. Stores a buffer of `GetBufferSize()` bytes in `*buffer`.
    fn GetBuffer(&self, buffer: *mut *mut u8) -> NTSTATUS;
    /// Slot 10. Returns a buffer that no event references.
    fn PutBuffer(&self, buffer: *mut u8) -> NTSTATUS;
}

/// `IMasterClock`: the port's reference clock, in 100 ns units.
///
/// No header (WDK, 1998 DDK, ReactOS, mingw-w64) defines `IID_IMasterClock`; the port never
/// queries for it and passes the pointer to `NewStream` directly. It is declared `no_iid` rather
/// than given an invented IID.
#[com_interface(no_iid)]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IMasterClock: IUnknown {
    /// Slot 3 (any IRQL). Stores the current time.
    fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS;
}

/// `IPositionNotify`: the pin's byte-position callback, called by the allocator.
///
/// Port-private: no header defines an IID for it (declared `no_iid`). The header's return type
/// (`void`) is used; the documentation's HRESULT is wrong (`domain.md` §1.6).
#[com_interface(no_iid)]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IPositionNotify: IUnknown {
    /// Slot 3. The events up to `byte_position` of the render stream have been consumed.
    fn PositionNotify(&self, byte_position: u64);
}

/// `IServiceSink`: something a service group can call back.
#[com_interface(iid = "22C6AC64-851B-11D0-9A7F-00AA0038ACFE")]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IServiceSink: IUnknown {
    /// Slot 3. Service is requested (called at DISPATCH_LEVEL).
    fn RequestService(&self);
}

/// `IServiceGroup`: a set of service sinks serviced together.
#[com_interface(iid = "22C6AC65-851B-11D0-9A7F-00AA0038ACFE")]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IServiceGroup: IServiceSink {
    /// Slot 4. Adds a member (AddRef'd by the group).
    fn AddMember(&self, sink: Option<ComRef<'_, IServiceSink>>) -> NTSTATUS;
    /// Slot 5. Removes a member (released by the group).
    fn RemoveMember(&self, sink: Option<ComRef<'_, IServiceSink>>);
    /// Slot 6. Enables delayed service.
    fn SupportDelayedService(&self);
    /// Slot 7 (PASSIVE_LEVEL, as documented). Requests service at `delay`, a `KeSetTimer` due
    /// time in 100 ns units: negative (as a signed value) is relative to now, positive absolute
    /// system time.
    fn RequestDelayedService(&self, delay: u64);
    /// Slot 8. Cancels a delayed request.
    fn CancelDelayedService(&self);
}

/// `IPort`: the common base of PortCls ports.
#[com_interface(iid = "B4C90A25-5791-11D0-86F9-00A0C911B544")]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IPort: IUnknown {
    /// Slot 3. `Init(DeviceObject, Irp, UnknownMiniport, UnknownAdapter, ResourceList)`.
    fn Init(
        &self,
        device_object: *mut c_void,
        irp: *mut c_void,
        unknown_miniport: Option<ComRef<'_, IUnknown>>,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> NTSTATUS;
    /// Slot 4. `GetDeviceProperty(DeviceProperty, BufferLength, PropertyBuffer, ResultLength)`.
    fn GetDeviceProperty(
        &self,
        property: i32,
        buffer_length: u32,
        buffer: *mut c_void,
        result_length: *mut u32,
    ) -> NTSTATUS;
    /// Slot 5. `NewRegistryKey(OutRegistryKey, OuterUnknown, RegistryKeyType, DesiredAccess,
    /// ObjectAttributes, CreateOptions, Disposition)`.
    fn NewRegistryKey(
        &self,
        out_key: *mut *mut c_void,
        outer: Option<ComRef<'_, IUnknown>>,
        key_type: u32,
        desired_access: u32,
        object_attributes: *mut c_void,
        create_options: u32,
        disposition: *mut u32,
    ) -> NTSTATUS;
}

/// `IPortDMus`: the DMus port as its miniport sees it.
#[com_interface(iid = "C096DF9C-FB09-11D1-81B0-0060083316C1")]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IPortDMus: IPort {
    /// Slot 6 (any IRQL). Requests service of `group`, or of the miniport's and every stream's
    /// group for NULL.
    fn Notify(&self, group: Option<ComRef<'_, IServiceGroup>>);
    /// Slot 7 (PASSIVE_LEVEL). Registers the miniport's service group early, during `Init`.
    fn RegisterServiceGroup(&self, group: Option<ComRef<'_, IServiceGroup>>);
}

/// `IMiniport`: the common base of PortCls miniports.
#[com_interface(iid = "B4C90A24-5791-11D0-86F9-00A0C911B544")]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IMiniport: IUnknown {
    /// Slot 3. Stores the filter descriptor (`PPCFILTER_DESCRIPTOR*`).
    fn GetDescription(&self, description: *mut *mut c_void) -> NTSTATUS;
    /// Slot 4. `DataRangeIntersection(PinId, DataRange, MatchingDataRange, OutputBufferLength,
    /// ResultantFormat, ResultantFormatLength)`.
    fn DataRangeIntersection(
        &self,
        pin_id: u32,
        data_range: *mut c_void,
        matching_data_range: *mut c_void,
        output_buffer_length: u32,
        resultant_format: *mut c_void,
        resultant_format_length: *mut u32,
    ) -> NTSTATUS;
}

/// `IMiniportDMus`: a DirectMusic miniport.
#[com_interface(iid = "C096DF9D-FB09-11D1-81B0-0060083316C1")]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait IMiniportDMus: IMiniport {
    /// Slot 5 (PASSIVE_LEVEL). `Init(UnknownAdapter, ResourceList, Port, ServiceGroup)`.
    fn Init(
        &self,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
        port: Option<ComRef<'_, IPortDMus>>,
        service_group: *mut Option<IServiceGroup>,
    ) -> NTSTATUS;
    /// Slot 6 (DPC). Called on service requests of the miniport's group.
    fn Service(&self);
    /// Slot 7 (PASSIVE_LEVEL). Creates a stream; see `domain.md` §4.5 for every parameter.
    fn NewStream(
        &self,
        mxf: *mut Option<IMXF>,
        outer: Option<ComRef<'_, IUnknown>>,
        pool: POOL_TYPE,
        pin_id: u32,
        stream_type: DMUS_STREAM_TYPE,
        data_format: *mut KSDATAFORMAT,
        service_group: *mut Option<IServiceGroup>,
        allocator: Option<ComRef<'_, IAllocatorMXF>>,
        master_clock: Option<ComRef<'_, IMasterClock>>,
        schedule_prefetch: *mut u64,
    ) -> NTSTATUS;
}

/// `ISynthSinkDMus`: the wave sink of a software synthesizer's stream.
#[com_interface(iid = "1F476974-679B-11D2-8F7D-00C04FBF8FEF")]
// SAFETY: the IID (if any) is the header\'s, for these slots in this order (domain.md §1).
pub unsafe trait ISynthSinkDMus: IMXF {
    /// Slot 7. Renders `length` sample frames at sample position `position` into `buffer`.
    fn Render(&self, buffer: *mut u8, length: u32, position: i64);
    /// Slot 8. Synchronises the sample clock to the master clock.
    fn SyncToMaster(&self, time: REFERENCE_TIME, start: i32) -> NTSTATUS;
    /// Slot 9. Converts a sample position to reference time.
    fn SampleToRefTime(&self, sample: i64, time: *mut REFERENCE_TIME) -> NTSTATUS;
    /// Slot 10. Converts reference time to a sample position.
    fn RefTimeToSample(&self, time: REFERENCE_TIME, sample: *mut i64) -> NTSTATUS;
}

/// `IResourceList` (`portcls.h`): the hardware resources of a device (I/O port ranges,
/// interrupts, memory), as PortCls hands them to the adapter's `StartDevice` and the adapter
/// passes them to `IPort::Init` (and the port to `IMiniportDMus::Init`).
///
/// `CM_RESOURCE_TYPE` is an `int` in the header (`CmResourceTypePort` 1, `…Interrupt` 2,
/// `…Memory` 3); the descriptors it returns are [`CM_PARTIAL_RESOURCE_DESCRIPTOR`]s owned by the
/// list. `mxf::driver::Resources` reads it for a miniport.
///
/// [`CM_PARTIAL_RESOURCE_DESCRIPTOR`]: crate::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR
#[com_interface(iid = "22C6AC60-851B-11D0-9A7F-00AA0038ACFE")]
// SAFETY: the IID is the header's, for these slots in this order (portcls.h).
pub unsafe trait IResourceList: IUnknown {
    /// Slot 3. How many entries the list holds.
    fn NumberOfEntries(&self) -> u32;
    /// Slot 4. How many entries of `resource_type` the list holds.
    fn NumberOfEntriesOfType(&self, resource_type: i32) -> u32;
    /// Slot 5. The `index`th translated entry of `resource_type`, or NULL.
    fn FindTranslatedEntry(
        &self,
        resource_type: i32,
        index: u32,
    ) -> *mut crate::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR;
    /// Slot 6. The `index`th untranslated entry of `resource_type`, or NULL.
    fn FindUntranslatedEntry(
        &self,
        resource_type: i32,
        index: u32,
    ) -> *mut crate::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR;
    /// Slot 7. Adds a translated / untranslated pair.
    fn AddEntry(
        &self,
        translated: *mut crate::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR,
        untranslated: *mut crate::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR,
    ) -> NTSTATUS;
    /// Slot 8. Adds the `index`th entry of `resource_type` of `parent`.
    fn AddEntryFromParent(
        &self,
        parent: Option<ComRef<'_, IResourceList>>,
        resource_type: i32,
        index: u32,
    ) -> NTSTATUS;
    /// Slot 9. The whole translated `CM_RESOURCE_LIST`.
    fn TranslatedList(&self) -> *mut c_void;
    /// Slot 10. The whole untranslated `CM_RESOURCE_LIST`.
    fn UntranslatedList(&self) -> *mut c_void;
}

/// Slot order of every interface (`domain.md` §1): each method's offset in its vtable, in pointer
/// slots, as the header declares it.
#[cfg(all(test, not(loom)))]
mod slot_order {
    use super::*;
    use crate::com::Interface;
    use core::mem::{offset_of, size_of};

    const P: usize = size_of::<usize>();

    macro_rules! slots {
        ($vtbl:ty, $total:expr, [$($field:ident).+ => $slot:expr $(, $($rest:ident).+ => $rslot:expr)* $(,)?]) => {{
            assert_eq!(offset_of!($vtbl, $($field).+), $slot * P, concat!(stringify!($vtbl), " ", stringify!($($field).+)));
            $( assert_eq!(offset_of!($vtbl, $($rest).+), $rslot * P, concat!(stringify!($vtbl), " ", stringify!($($rest).+))); )*
            assert_eq!(size_of::<$vtbl>(), $total * P, concat!(stringify!($vtbl), " size"));
        }};
    }

    #[test]
    fn iunknown() {
        slots!(IUnknown_Vtbl, 3, [QueryInterface => 0, AddRef => 1, Release => 2]);
    }
    #[test]
    fn imxf() {
        slots!(IMXF_Vtbl, 7, [base__.QueryInterface => 0, base__.Release => 2, SetState => 3, PutMessage => 4, ConnectOutput => 5, DisconnectOutput => 6]);
    }
    #[test]
    fn iallocator_mxf() {
        slots!(IAllocatorMXF_Vtbl, 11, [base__.base__.AddRef => 1, base__.PutMessage => 4, GetMessage => 7, GetBufferSize => 8, GetBuffer => 9, PutBuffer => 10]);
    }
    #[test]
    fn imaster_clock() {
        slots!(IMasterClock_Vtbl, 4, [base__.Release => 2, GetTime => 3]);
        assert!(IMasterClock::LINEAGE.iid.is_none());
    }
    #[test]
    fn iposition_notify() {
        slots!(IPositionNotify_Vtbl, 4, [base__.Release => 2, PositionNotify => 3]);
        assert!(IPositionNotify::LINEAGE.iid.is_none());
    }
    #[test]
    fn iservice_sink() {
        slots!(IServiceSink_Vtbl, 4, [RequestService => 3]);
    }
    #[test]
    fn iservice_group() {
        slots!(IServiceGroup_Vtbl, 9, [base__.RequestService => 3, AddMember => 4, RemoveMember => 5, SupportDelayedService => 6, RequestDelayedService => 7, CancelDelayedService => 8]);
    }
    #[test]
    fn iport() {
        slots!(IPort_Vtbl, 6, [Init => 3, GetDeviceProperty => 4, NewRegistryKey => 5]);
    }
    #[test]
    fn iport_dmus() {
        slots!(IPortDMus_Vtbl, 8, [base__.Init => 3, base__.NewRegistryKey => 5, Notify => 6, RegisterServiceGroup => 7]);
    }
    #[test]
    fn iminiport() {
        slots!(IMiniport_Vtbl, 5, [GetDescription => 3, DataRangeIntersection => 4]);
    }
    #[test]
    fn iminiport_dmus() {
        slots!(IMiniportDMus_Vtbl, 8, [base__.GetDescription => 3, base__.DataRangeIntersection => 4, Init => 5, Service => 6, NewStream => 7]);
    }
    #[test]
    fn isynth_sink_dmus() {
        slots!(ISynthSinkDMus_Vtbl, 11, [base__.DisconnectOutput => 6, Render => 7, SyncToMaster => 8, SampleToRefTime => 9, RefTimeToSample => 10]);
    }

    #[test]
    fn iresource_list() {
        use crate::com::HasIid;
        slots!(IResourceList_Vtbl, 11, [NumberOfEntries => 3, NumberOfEntriesOfType => 4, FindTranslatedEntry => 5, FindUntranslatedEntry => 6, AddEntry => 7, AddEntryFromParent => 8, TranslatedList => 9, UntranslatedList => 10]);
        assert_eq!(
            IResourceList::IID,
            crate::abi::GUID::from_u128(0x22C6AC60_851B_11D0_9A7F_00AA0038ACFE)
        );
        assert!(IResourceList::matches(&IUnknown::IID) && !IResourceList::matches(&IPort::IID));
    }

    #[test]
    fn iids_match_the_headers() {
        use crate::abi::GUID;
        use crate::com::HasIid;
        let g = |s: &str| GUID::parse(s).unwrap_or_default();
        assert_eq!(IUnknown::IID, g("00000000-0000-0000-C000-000000000046"));
        assert_eq!(IMXF::IID, g("C096DF9E-FB09-11D1-81B0-0060083316C1"));
        assert_eq!(
            IAllocatorMXF::IID,
            g("A5F0D62C-B30F-11D2-B7A3-0060083316C1")
        );
        assert_eq!(IPortDMus::IID, g("C096DF9C-FB09-11D1-81B0-0060083316C1"));
        assert_eq!(
            IMiniportDMus::IID,
            g("C096DF9D-FB09-11D1-81B0-0060083316C1")
        );
        assert_eq!(
            ISynthSinkDMus::IID,
            g("1F476974-679B-11D2-8F7D-00C04FBF8FEF")
        );
        assert_eq!(IPort::IID, g("B4C90A25-5791-11D0-86F9-00A0C911B544"));
        assert_eq!(IMiniport::IID, g("B4C90A24-5791-11D0-86F9-00A0C911B544"));
        assert_eq!(IServiceSink::IID, g("22C6AC64-851B-11D0-9A7F-00AA0038ACFE"));
        assert_eq!(
            IServiceGroup::IID,
            g("22C6AC65-851B-11D0-9A7F-00AA0038ACFE")
        );
        // Ancestry: IAllocatorMXF answers for IMXF and IUnknown, not for siblings.
        assert!(IAllocatorMXF::matches(&IMXF::IID) && IAllocatorMXF::matches(&IUnknown::IID));
        assert!(!IAllocatorMXF::matches(&ISynthSinkDMus::IID));
        assert!(!IMasterClock::matches(&GUID::NULL));
    }
}
