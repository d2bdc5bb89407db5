//! The Rust half of the Wine ABI tier (`docs/wine-abi.md`): a static library that a C++ client,
//! compiled with mingw-w64 against the unmodified `<ddk/dmusicks.h>`, links and drives.
//!
//! It exports plain `extern "C"` functions that
//! * report the Rust side of every compared number (layouts, constants, vtable slots) by name,
//!   so the client can compare them with what the header gives its compiler; this includes the
//!   KS and PortCls descriptor types of `mxf::abi` (`tests/wine/layout_ks.c` is their header
//!   side);
//! * report the interface identifiers, and the KS and PortCls GUIDs;
//! * create mxf objects and hand them out as raw interface pointers: the built-in allocator,
//!   a small `#[com_object(IMXF)]` forwarder that follows the connection rules of the DMus
//!   port's own MXFs (`domain.md` §1.3), the sample `#[mxf_filter]` filter
//!   [`Transpose`](mxf_suite::filters::Transpose), and the sample UART miniport
//!   (`IMiniportDMus`, [`mxf_suite::uart`]) on a virtual MPU-401;
//! * report what the client cannot see through the interfaces: an allocator's books, a filter's
//!   counters, the bytes that reached the virtual MPU-401; and play the MIDI wire into it.
//!
//! The same numbers are also emitted into the assembly listing as `# MXFV name=value` lines
//! (compile-time only, no bytes in the object), so a cross build for a target that cannot be run
//! here (i686 Windows) can still be compared with the header, value by value.
//!
//! Build: `cargo build --example abi_exports --target x86_64-pc-windows-gnu`.
#![allow(non_snake_case)]

use core::ffi::{c_char, c_void};
use core::mem::ManuallyDrop;
use core::mem::{align_of, offset_of, size_of, size_of_val};
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::ComObject;
use mxf::filter::IntoFilter;
use mxf::interfaces::{
    IAllocatorMXF_Vtbl, IMXF_Vtbl, IMasterClock, IMasterClock_Vtbl, IMiniport, IMiniportDMus,
    IMiniportDMus_Vtbl, IPort, IPortDMus, IPortDMus_Vtbl, IPositionNotify, IServiceGroup,
    IServiceSink, ISynthSinkDMus, IUnknown_Vtbl,
};
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicU32, AtomicU64, Ordering};
use mxf::prelude::*;
use mxf_suite::filters::Transpose;
use mxf_suite::uart::{VirtualMpu401, create_uart_miniport};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Declares the compile-time numbers once: a const table for the run-time lookup, and the
/// `# MXFV name=value` lines of the assembly listing.
macro_rules! layout_values {
    ($table:ident: $( $name:literal => $value:expr, )*) => {
        /// Numbers known at compile time, by the names the header side uses.
        const $table: &[(&str, i64)] = &[ $( ($name, $value as i64), )* ];

        // Comments only: nothing reaches the object file.
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        core::arch::global_asm!(
            $( concat!("# MXFV ", $name, "={}"), )*
            $( const $value as i64, )*
        );
    };
}

const EV: DMUS_KERNEL_EVENT = DMUS_KERNEL_EVENT::FRESH;
const fn field<T>(_: &T) -> usize {
    size_of::<T>()
}
// SAFETY: (this and the next two union reads run at compile time) `EV.uData` is fully
// initialised (all bits zero), valid for every member type; only the member's size is taken.
const SIZE_AB_DATA: usize = field(unsafe { &EV.uData.abData });
// SAFETY: as above.
const SIZE_PB_DATA: usize = field(unsafe { &EV.uData.pbData });
// SAFETY: as above.
const SIZE_PACKAGE: usize = field(unsafe { &EV.uData.pPackageEvt });

layout_values! { LAYOUT_VALUES:
    "sizeof(DMUS_KERNEL_EVENT)" => size_of::<DMUS_KERNEL_EVENT>(),
    "alignof(DMUS_KERNEL_EVENT)" => align_of::<DMUS_KERNEL_EVENT>(),
    "offsetof(DMUS_KERNEL_EVENT, bReserved)" => offset_of!(DMUS_KERNEL_EVENT, bReserved),
    "offsetof(DMUS_KERNEL_EVENT, cbStruct)" => offset_of!(DMUS_KERNEL_EVENT, cbStruct),
    "offsetof(DMUS_KERNEL_EVENT, cbEvent)" => offset_of!(DMUS_KERNEL_EVENT, cbEvent),
    "offsetof(DMUS_KERNEL_EVENT, usChannelGroup)" => offset_of!(DMUS_KERNEL_EVENT, usChannelGroup),
    "offsetof(DMUS_KERNEL_EVENT, usFlags)" => offset_of!(DMUS_KERNEL_EVENT, usFlags),
    "offsetof(DMUS_KERNEL_EVENT, ullPresTime100ns)" => offset_of!(DMUS_KERNEL_EVENT, ullPresTime100ns),
    "offsetof(DMUS_KERNEL_EVENT, ullBytePosition)" => offset_of!(DMUS_KERNEL_EVENT, ullBytePosition),
    "offsetof(DMUS_KERNEL_EVENT, pNextEvt)" => offset_of!(DMUS_KERNEL_EVENT, pNextEvt),
    "offsetof(DMUS_KERNEL_EVENT, uData)" => offset_of!(DMUS_KERNEL_EVENT, uData),
    "offsetof(DMUS_KERNEL_EVENT, uData.abData)" => offset_of!(DMUS_KERNEL_EVENT, uData.abData),
    "offsetof(DMUS_KERNEL_EVENT, uData.pbData)" => offset_of!(DMUS_KERNEL_EVENT, uData.pbData),
    "offsetof(DMUS_KERNEL_EVENT, uData.pPackageEvt)" => offset_of!(DMUS_KERNEL_EVENT, uData.pPackageEvt),
    "sizeof(DMUS_KERNEL_EVENT::bReserved)" => field(&EV.bReserved),
    "sizeof(DMUS_KERNEL_EVENT::cbStruct)" => field(&EV.cbStruct),
    "sizeof(DMUS_KERNEL_EVENT::cbEvent)" => field(&EV.cbEvent),
    "sizeof(DMUS_KERNEL_EVENT::usChannelGroup)" => field(&EV.usChannelGroup),
    "sizeof(DMUS_KERNEL_EVENT::usFlags)" => field(&EV.usFlags),
    "sizeof(DMUS_KERNEL_EVENT::ullPresTime100ns)" => field(&EV.ullPresTime100ns),
    "sizeof(DMUS_KERNEL_EVENT::ullBytePosition)" => field(&EV.ullBytePosition),
    "sizeof(DMUS_KERNEL_EVENT::pNextEvt)" => field(&EV.pNextEvt),
    "sizeof(DMUS_KERNEL_EVENT::uData)" => field(&EV.uData),
    "alignof(DMUS_KERNEL_EVENT::uData)" => align_of::<DMUS_KERNEL_EVENT_DATA>(),
    "sizeof(DMUS_KERNEL_EVENT::uData.abData)" => SIZE_AB_DATA,
    "sizeof(DMUS_KERNEL_EVENT::uData.pbData)" => SIZE_PB_DATA,
    "sizeof(DMUS_KERNEL_EVENT::uData.pPackageEvt)" => SIZE_PACKAGE,
    "sizeof(DMUS_STREAM_TYPE)" => size_of::<DMUS_STREAM_TYPE>(),
    "DMUS_STREAM_MIDI_INVALID" => DMUS_STREAM_MIDI_INVALID.0,
    "DMUS_STREAM_MIDI_RENDER" => DMUS_STREAM_MIDI_RENDER.0,
    "DMUS_STREAM_MIDI_CAPTURE" => DMUS_STREAM_MIDI_CAPTURE.0,
    "DMUS_STREAM_WAVE_SINK" => DMUS_STREAM_WAVE_SINK.0,
    "sizeof(GUID)" => size_of::<GUID>(),
    "sizeof(PMXF)" => size_of::<Option<IMXF>>(),
}

// The KS and PortCls descriptor types of `mxf::abi` (mxf/src/abi/ks.rs), compared with
// mingw-w64's <ddk/portcls.h>, <ks.h>, <ksmedia.h> by tests/wine/layout_ks.c.
layout_values! { KS_LAYOUT_VALUES:
    "sizeof(KSIDENTIFIER)" => size_of::<KSIDENTIFIER>(),
    "alignof(KSIDENTIFIER)" => align_of::<KSIDENTIFIER>(),
    "offsetof(KSIDENTIFIER, Set)" => offset_of!(KSIDENTIFIER, Set),
    "offsetof(KSIDENTIFIER, Id)" => offset_of!(KSIDENTIFIER, Id),
    "offsetof(KSIDENTIFIER, Flags)" => offset_of!(KSIDENTIFIER, Flags),
    "sizeof(KSPROPERTY)" => size_of::<KSPROPERTY>(),
    "alignof(KSPROPERTY)" => align_of::<KSPROPERTY>(),
    "sizeof(KSPIN_INTERFACE)" => size_of::<KSPIN_INTERFACE>(),
    "sizeof(KSPIN_MEDIUM)" => size_of::<KSPIN_MEDIUM>(),
    "sizeof(KSPRIORITY)" => size_of::<KSPRIORITY>(),
    "alignof(KSPRIORITY)" => align_of::<KSPRIORITY>(),
    "offsetof(KSPRIORITY, PriorityClass)" => offset_of!(KSPRIORITY, PriorityClass),
    "offsetof(KSPRIORITY, PrioritySubClass)" => offset_of!(KSPRIORITY, PrioritySubClass),
    "KSPRIORITY_LOW" => KSPRIORITY_LOW,
    "KSPRIORITY_NORMAL" => KSPRIORITY_NORMAL,
    "KSPRIORITY_HIGH" => KSPRIORITY_HIGH,
    "KSPRIORITY_EXCLUSIVE" => KSPRIORITY_EXCLUSIVE,
    "sizeof(KSPIN_CONNECT)" => size_of::<KSPIN_CONNECT>(),
    "alignof(KSPIN_CONNECT)" => align_of::<KSPIN_CONNECT>(),
    "offsetof(KSPIN_CONNECT, Interface)" => offset_of!(KSPIN_CONNECT, Interface),
    "offsetof(KSPIN_CONNECT, Medium)" => offset_of!(KSPIN_CONNECT, Medium),
    "offsetof(KSPIN_CONNECT, PinId)" => offset_of!(KSPIN_CONNECT, PinId),
    "offsetof(KSPIN_CONNECT, PinToHandle)" => offset_of!(KSPIN_CONNECT, PinToHandle),
    "offsetof(KSPIN_CONNECT, Priority)" => offset_of!(KSPIN_CONNECT, Priority),
    "sizeof(KSNODEPROPERTY)" => size_of::<KSNODEPROPERTY>(),
    "alignof(KSNODEPROPERTY)" => align_of::<KSNODEPROPERTY>(),
    "offsetof(KSNODEPROPERTY, Property)" => offset_of!(KSNODEPROPERTY, Property),
    "offsetof(KSNODEPROPERTY, NodeId)" => offset_of!(KSNODEPROPERTY, NodeId),
    "offsetof(KSNODEPROPERTY, Reserved)" => offset_of!(KSNODEPROPERTY, Reserved),
    "KSPROPERTY_TYPE_GET" => KSPROPERTY_TYPE_GET,
    "KSPROPERTY_TYPE_SET" => KSPROPERTY_TYPE_SET,
    "KSPROPERTY_TYPE_SETSUPPORT" => KSPROPERTY_TYPE_SETSUPPORT,
    "KSPROPERTY_TYPE_BASICSUPPORT" => KSPROPERTY_TYPE_BASICSUPPORT,
    "KSPROPERTY_TYPE_RELATIONS" => KSPROPERTY_TYPE_RELATIONS,
    "KSPROPERTY_TYPE_SERIALIZESET" => KSPROPERTY_TYPE_SERIALIZESET,
    "KSPROPERTY_TYPE_UNSERIALIZESET" => KSPROPERTY_TYPE_UNSERIALIZESET,
    "KSPROPERTY_TYPE_SERIALIZERAW" => KSPROPERTY_TYPE_SERIALIZERAW,
    "KSPROPERTY_TYPE_UNSERIALIZERAW" => KSPROPERTY_TYPE_UNSERIALIZERAW,
    "KSPROPERTY_TYPE_SERIALIZESIZE" => KSPROPERTY_TYPE_SERIALIZESIZE,
    "KSPROPERTY_TYPE_DEFAULTVALUES" => KSPROPERTY_TYPE_DEFAULTVALUES,
    "KSPROPERTY_TYPE_TOPOLOGY" => KSPROPERTY_TYPE_TOPOLOGY,
    "sizeof(KSDATAFORMAT)" => size_of::<KSDATAFORMAT>(),
    "offsetof(KSDATAFORMAT, FormatSize)" => offset_of!(KSDATAFORMAT, FormatSize),
    "offsetof(KSDATAFORMAT, Flags)" => offset_of!(KSDATAFORMAT, Flags),
    "offsetof(KSDATAFORMAT, SampleSize)" => offset_of!(KSDATAFORMAT, SampleSize),
    "offsetof(KSDATAFORMAT, Reserved)" => offset_of!(KSDATAFORMAT, Reserved),
    "offsetof(KSDATAFORMAT, MajorFormat)" => offset_of!(KSDATAFORMAT, MajorFormat),
    "offsetof(KSDATAFORMAT, SubFormat)" => offset_of!(KSDATAFORMAT, SubFormat),
    "offsetof(KSDATAFORMAT, Specifier)" => offset_of!(KSDATAFORMAT, Specifier),
    "sizeof(KSDATARANGE)" => size_of::<KSDATARANGE>(),
    "alignof(KSDATARANGE)" => align_of::<KSDATARANGE>(),
    "offsetof(KSDATARANGE, FormatSize)" => offset_of!(KSDATARANGE, FormatSize),
    "offsetof(KSDATARANGE, Flags)" => offset_of!(KSDATARANGE, Flags),
    "offsetof(KSDATARANGE, SampleSize)" => offset_of!(KSDATARANGE, SampleSize),
    "offsetof(KSDATARANGE, Reserved)" => offset_of!(KSDATARANGE, Reserved),
    "offsetof(KSDATARANGE, MajorFormat)" => offset_of!(KSDATARANGE, MajorFormat),
    "offsetof(KSDATARANGE, SubFormat)" => offset_of!(KSDATARANGE, SubFormat),
    "offsetof(KSDATARANGE, Specifier)" => offset_of!(KSDATARANGE, Specifier),
    "sizeof(KSDATARANGE_MUSIC)" => size_of::<KSDATARANGE_MUSIC>(),
    "alignof(KSDATARANGE_MUSIC)" => align_of::<KSDATARANGE_MUSIC>(),
    "offsetof(KSDATARANGE_MUSIC, DataRange)" => offset_of!(KSDATARANGE_MUSIC, DataRange),
    "offsetof(KSDATARANGE_MUSIC, Technology)" => offset_of!(KSDATARANGE_MUSIC, Technology),
    "offsetof(KSDATARANGE_MUSIC, Channels)" => offset_of!(KSDATARANGE_MUSIC, Channels),
    "offsetof(KSDATARANGE_MUSIC, Notes)" => offset_of!(KSDATARANGE_MUSIC, Notes),
    "offsetof(KSDATARANGE_MUSIC, ChannelMask)" => offset_of!(KSDATARANGE_MUSIC, ChannelMask),
    "sizeof(KSPIN_DATAFLOW)" => size_of::<KSPIN_DATAFLOW>(),
    "KSPIN_DATAFLOW_IN" => KSPIN_DATAFLOW_IN.0,
    "KSPIN_DATAFLOW_OUT" => KSPIN_DATAFLOW_OUT.0,
    "sizeof(KSPIN_COMMUNICATION)" => size_of::<KSPIN_COMMUNICATION>(),
    "KSPIN_COMMUNICATION_NONE" => KSPIN_COMMUNICATION_NONE.0,
    "KSPIN_COMMUNICATION_SINK" => KSPIN_COMMUNICATION_SINK.0,
    "KSPIN_COMMUNICATION_SOURCE" => KSPIN_COMMUNICATION_SOURCE.0,
    "KSPIN_COMMUNICATION_BOTH" => KSPIN_COMMUNICATION_BOTH.0,
    "KSPIN_COMMUNICATION_BRIDGE" => KSPIN_COMMUNICATION_BRIDGE.0,
    "sizeof(KSPIN_DESCRIPTOR)" => size_of::<KSPIN_DESCRIPTOR>(),
    "alignof(KSPIN_DESCRIPTOR)" => align_of::<KSPIN_DESCRIPTOR>(),
    "offsetof(KSPIN_DESCRIPTOR, InterfacesCount)" => offset_of!(KSPIN_DESCRIPTOR, InterfacesCount),
    "offsetof(KSPIN_DESCRIPTOR, Interfaces)" => offset_of!(KSPIN_DESCRIPTOR, Interfaces),
    "offsetof(KSPIN_DESCRIPTOR, MediumsCount)" => offset_of!(KSPIN_DESCRIPTOR, MediumsCount),
    "offsetof(KSPIN_DESCRIPTOR, Mediums)" => offset_of!(KSPIN_DESCRIPTOR, Mediums),
    "offsetof(KSPIN_DESCRIPTOR, DataRangesCount)" => offset_of!(KSPIN_DESCRIPTOR, DataRangesCount),
    "offsetof(KSPIN_DESCRIPTOR, DataRanges)" => offset_of!(KSPIN_DESCRIPTOR, DataRanges),
    "offsetof(KSPIN_DESCRIPTOR, DataFlow)" => offset_of!(KSPIN_DESCRIPTOR, DataFlow),
    "offsetof(KSPIN_DESCRIPTOR, Communication)" => offset_of!(KSPIN_DESCRIPTOR, Communication),
    "offsetof(KSPIN_DESCRIPTOR, Category)" => offset_of!(KSPIN_DESCRIPTOR, Category),
    "offsetof(KSPIN_DESCRIPTOR, Name)" => offset_of!(KSPIN_DESCRIPTOR, Name),
    "offsetof(KSPIN_DESCRIPTOR, Reserved)" => offset_of!(KSPIN_DESCRIPTOR, Anonymous.Reserved),
    "offsetof(KSPIN_DESCRIPTOR, ConstrainedDataRangesCount)" =>
        offset_of!(KSPIN_DESCRIPTOR, Anonymous.Anonymous.ConstrainedDataRangesCount),
    "offsetof(KSPIN_DESCRIPTOR, ConstrainedDataRanges)" =>
        offset_of!(KSPIN_DESCRIPTOR, Anonymous.Anonymous.ConstrainedDataRanges),
    "sizeof(PCPROPERTY_ITEM)" => size_of::<PCPROPERTY_ITEM>(),
    "alignof(PCPROPERTY_ITEM)" => align_of::<PCPROPERTY_ITEM>(),
    "offsetof(PCPROPERTY_ITEM, Set)" => offset_of!(PCPROPERTY_ITEM, Set),
    "offsetof(PCPROPERTY_ITEM, Id)" => offset_of!(PCPROPERTY_ITEM, Id),
    "offsetof(PCPROPERTY_ITEM, Flags)" => offset_of!(PCPROPERTY_ITEM, Flags),
    "offsetof(PCPROPERTY_ITEM, Handler)" => offset_of!(PCPROPERTY_ITEM, Handler),
    "sizeof(PCMETHOD_ITEM)" => size_of::<PCMETHOD_ITEM>(),
    "alignof(PCMETHOD_ITEM)" => align_of::<PCMETHOD_ITEM>(),
    "offsetof(PCMETHOD_ITEM, Set)" => offset_of!(PCMETHOD_ITEM, Set),
    "offsetof(PCMETHOD_ITEM, Id)" => offset_of!(PCMETHOD_ITEM, Id),
    "offsetof(PCMETHOD_ITEM, Flags)" => offset_of!(PCMETHOD_ITEM, Flags),
    "offsetof(PCMETHOD_ITEM, Handler)" => offset_of!(PCMETHOD_ITEM, Handler),
    "sizeof(PCEVENT_ITEM)" => size_of::<PCEVENT_ITEM>(),
    "alignof(PCEVENT_ITEM)" => align_of::<PCEVENT_ITEM>(),
    "offsetof(PCEVENT_ITEM, Set)" => offset_of!(PCEVENT_ITEM, Set),
    "offsetof(PCEVENT_ITEM, Id)" => offset_of!(PCEVENT_ITEM, Id),
    "offsetof(PCEVENT_ITEM, Flags)" => offset_of!(PCEVENT_ITEM, Flags),
    "offsetof(PCEVENT_ITEM, Handler)" => offset_of!(PCEVENT_ITEM, Handler),
    "sizeof(PCPFNPROPERTY_HANDLER)" => size_of::<PCPFNPROPERTY_HANDLER>(),
    "PCPROPERTY_ITEM_FLAG_GET" => PCPROPERTY_ITEM_FLAG_GET,
    "PCPROPERTY_ITEM_FLAG_SET" => PCPROPERTY_ITEM_FLAG_SET,
    "PCPROPERTY_ITEM_FLAG_BASICSUPPORT" => PCPROPERTY_ITEM_FLAG_BASICSUPPORT,
    "PCPROPERTY_ITEM_FLAG_SERIALIZERAW" => PCPROPERTY_ITEM_FLAG_SERIALIZERAW,
    "PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW" => PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW,
    "PCPROPERTY_ITEM_FLAG_SERIALIZESIZE" => PCPROPERTY_ITEM_FLAG_SERIALIZESIZE,
    "PCPROPERTY_ITEM_FLAG_SERIALIZE" => PCPROPERTY_ITEM_FLAG_SERIALIZE,
    "PCPROPERTY_ITEM_FLAG_DEFAULTVALUES" => PCPROPERTY_ITEM_FLAG_DEFAULTVALUES,
    "sizeof(PCPROPERTY_REQUEST)" => size_of::<PCPROPERTY_REQUEST>(),
    "alignof(PCPROPERTY_REQUEST)" => align_of::<PCPROPERTY_REQUEST>(),
    "offsetof(PCPROPERTY_REQUEST, MajorTarget)" => offset_of!(PCPROPERTY_REQUEST, MajorTarget),
    "offsetof(PCPROPERTY_REQUEST, MinorTarget)" => offset_of!(PCPROPERTY_REQUEST, MinorTarget),
    "offsetof(PCPROPERTY_REQUEST, Node)" => offset_of!(PCPROPERTY_REQUEST, Node),
    "offsetof(PCPROPERTY_REQUEST, PropertyItem)" => offset_of!(PCPROPERTY_REQUEST, PropertyItem),
    "offsetof(PCPROPERTY_REQUEST, Verb)" => offset_of!(PCPROPERTY_REQUEST, Verb),
    "offsetof(PCPROPERTY_REQUEST, InstanceSize)" => offset_of!(PCPROPERTY_REQUEST, InstanceSize),
    "offsetof(PCPROPERTY_REQUEST, Instance)" => offset_of!(PCPROPERTY_REQUEST, Instance),
    "offsetof(PCPROPERTY_REQUEST, ValueSize)" => offset_of!(PCPROPERTY_REQUEST, ValueSize),
    "offsetof(PCPROPERTY_REQUEST, Value)" => offset_of!(PCPROPERTY_REQUEST, Value),
    "offsetof(PCPROPERTY_REQUEST, Irp)" => offset_of!(PCPROPERTY_REQUEST, Irp),
    "sizeof(PCMETHOD_REQUEST)" => size_of::<PCMETHOD_REQUEST>(),
    "alignof(PCMETHOD_REQUEST)" => align_of::<PCMETHOD_REQUEST>(),
    "offsetof(PCMETHOD_REQUEST, MajorTarget)" => offset_of!(PCMETHOD_REQUEST, MajorTarget),
    "offsetof(PCMETHOD_REQUEST, MinorTarget)" => offset_of!(PCMETHOD_REQUEST, MinorTarget),
    "offsetof(PCMETHOD_REQUEST, Node)" => offset_of!(PCMETHOD_REQUEST, Node),
    "offsetof(PCMETHOD_REQUEST, MethodItem)" => offset_of!(PCMETHOD_REQUEST, MethodItem),
    "offsetof(PCMETHOD_REQUEST, Verb)" => offset_of!(PCMETHOD_REQUEST, Verb),
    "sizeof(PCEVENT_REQUEST)" => size_of::<PCEVENT_REQUEST>(),
    "alignof(PCEVENT_REQUEST)" => align_of::<PCEVENT_REQUEST>(),
    "offsetof(PCEVENT_REQUEST, MajorTarget)" => offset_of!(PCEVENT_REQUEST, MajorTarget),
    "offsetof(PCEVENT_REQUEST, MinorTarget)" => offset_of!(PCEVENT_REQUEST, MinorTarget),
    "offsetof(PCEVENT_REQUEST, Node)" => offset_of!(PCEVENT_REQUEST, Node),
    "offsetof(PCEVENT_REQUEST, EventItem)" => offset_of!(PCEVENT_REQUEST, EventItem),
    "offsetof(PCEVENT_REQUEST, EventEntry)" => offset_of!(PCEVENT_REQUEST, EventEntry),
    "offsetof(PCEVENT_REQUEST, Verb)" => offset_of!(PCEVENT_REQUEST, Verb),
    "offsetof(PCEVENT_REQUEST, Irp)" => offset_of!(PCEVENT_REQUEST, Irp),
    "sizeof(PCAUTOMATION_TABLE)" => size_of::<PCAUTOMATION_TABLE>(),
    "alignof(PCAUTOMATION_TABLE)" => align_of::<PCAUTOMATION_TABLE>(),
    "offsetof(PCAUTOMATION_TABLE, PropertyItemSize)" => offset_of!(PCAUTOMATION_TABLE, PropertyItemSize),
    "offsetof(PCAUTOMATION_TABLE, PropertyCount)" => offset_of!(PCAUTOMATION_TABLE, PropertyCount),
    "offsetof(PCAUTOMATION_TABLE, Properties)" => offset_of!(PCAUTOMATION_TABLE, Properties),
    "offsetof(PCAUTOMATION_TABLE, MethodItemSize)" => offset_of!(PCAUTOMATION_TABLE, MethodItemSize),
    "offsetof(PCAUTOMATION_TABLE, MethodCount)" => offset_of!(PCAUTOMATION_TABLE, MethodCount),
    "offsetof(PCAUTOMATION_TABLE, Methods)" => offset_of!(PCAUTOMATION_TABLE, Methods),
    "offsetof(PCAUTOMATION_TABLE, EventItemSize)" => offset_of!(PCAUTOMATION_TABLE, EventItemSize),
    "offsetof(PCAUTOMATION_TABLE, EventCount)" => offset_of!(PCAUTOMATION_TABLE, EventCount),
    "offsetof(PCAUTOMATION_TABLE, Events)" => offset_of!(PCAUTOMATION_TABLE, Events),
    "offsetof(PCAUTOMATION_TABLE, Reserved)" => offset_of!(PCAUTOMATION_TABLE, Reserved),
    "sizeof(PCPIN_DESCRIPTOR)" => size_of::<PCPIN_DESCRIPTOR>(),
    "alignof(PCPIN_DESCRIPTOR)" => align_of::<PCPIN_DESCRIPTOR>(),
    "offsetof(PCPIN_DESCRIPTOR, MaxGlobalInstanceCount)" => offset_of!(PCPIN_DESCRIPTOR, MaxGlobalInstanceCount),
    "offsetof(PCPIN_DESCRIPTOR, MaxFilterInstanceCount)" => offset_of!(PCPIN_DESCRIPTOR, MaxFilterInstanceCount),
    "offsetof(PCPIN_DESCRIPTOR, MinFilterInstanceCount)" => offset_of!(PCPIN_DESCRIPTOR, MinFilterInstanceCount),
    "offsetof(PCPIN_DESCRIPTOR, AutomationTable)" => offset_of!(PCPIN_DESCRIPTOR, AutomationTable),
    "offsetof(PCPIN_DESCRIPTOR, KsPinDescriptor)" => offset_of!(PCPIN_DESCRIPTOR, KsPinDescriptor),
    "sizeof(PCNODE_DESCRIPTOR)" => size_of::<PCNODE_DESCRIPTOR>(),
    "alignof(PCNODE_DESCRIPTOR)" => align_of::<PCNODE_DESCRIPTOR>(),
    "offsetof(PCNODE_DESCRIPTOR, Flags)" => offset_of!(PCNODE_DESCRIPTOR, Flags),
    "offsetof(PCNODE_DESCRIPTOR, AutomationTable)" => offset_of!(PCNODE_DESCRIPTOR, AutomationTable),
    "offsetof(PCNODE_DESCRIPTOR, Type)" => offset_of!(PCNODE_DESCRIPTOR, Type),
    "offsetof(PCNODE_DESCRIPTOR, Name)" => offset_of!(PCNODE_DESCRIPTOR, Name),
    "sizeof(PCCONNECTION_DESCRIPTOR)" => size_of::<PCCONNECTION_DESCRIPTOR>(),
    "alignof(PCCONNECTION_DESCRIPTOR)" => align_of::<PCCONNECTION_DESCRIPTOR>(),
    "offsetof(PCCONNECTION_DESCRIPTOR, FromNode)" => offset_of!(PCCONNECTION_DESCRIPTOR, FromNode),
    "offsetof(PCCONNECTION_DESCRIPTOR, FromNodePin)" => offset_of!(PCCONNECTION_DESCRIPTOR, FromNodePin),
    "offsetof(PCCONNECTION_DESCRIPTOR, ToNode)" => offset_of!(PCCONNECTION_DESCRIPTOR, ToNode),
    "offsetof(PCCONNECTION_DESCRIPTOR, ToNodePin)" => offset_of!(PCCONNECTION_DESCRIPTOR, ToNodePin),
    "PCFILTER_NODE" => PCFILTER_NODE,
    "sizeof(PCFILTER_DESCRIPTOR)" => size_of::<PCFILTER_DESCRIPTOR>(),
    "alignof(PCFILTER_DESCRIPTOR)" => align_of::<PCFILTER_DESCRIPTOR>(),
    "offsetof(PCFILTER_DESCRIPTOR, Version)" => offset_of!(PCFILTER_DESCRIPTOR, Version),
    "offsetof(PCFILTER_DESCRIPTOR, AutomationTable)" => offset_of!(PCFILTER_DESCRIPTOR, AutomationTable),
    "offsetof(PCFILTER_DESCRIPTOR, PinSize)" => offset_of!(PCFILTER_DESCRIPTOR, PinSize),
    "offsetof(PCFILTER_DESCRIPTOR, PinCount)" => offset_of!(PCFILTER_DESCRIPTOR, PinCount),
    "offsetof(PCFILTER_DESCRIPTOR, Pins)" => offset_of!(PCFILTER_DESCRIPTOR, Pins),
    "offsetof(PCFILTER_DESCRIPTOR, NodeSize)" => offset_of!(PCFILTER_DESCRIPTOR, NodeSize),
    "offsetof(PCFILTER_DESCRIPTOR, NodeCount)" => offset_of!(PCFILTER_DESCRIPTOR, NodeCount),
    "offsetof(PCFILTER_DESCRIPTOR, Nodes)" => offset_of!(PCFILTER_DESCRIPTOR, Nodes),
    "offsetof(PCFILTER_DESCRIPTOR, ConnectionCount)" => offset_of!(PCFILTER_DESCRIPTOR, ConnectionCount),
    "offsetof(PCFILTER_DESCRIPTOR, Connections)" => offset_of!(PCFILTER_DESCRIPTOR, Connections),
    "offsetof(PCFILTER_DESCRIPTOR, CategoryCount)" => offset_of!(PCFILTER_DESCRIPTOR, CategoryCount),
    "offsetof(PCFILTER_DESCRIPTOR, Categories)" => offset_of!(PCFILTER_DESCRIPTOR, Categories),
}

/// The 16 bytes of a GUID as they lie in memory, read as one little-endian integer.
const fn guid_memory(g: GUID) -> u128 {
    // SAFETY: `GUID` is `#[repr(C)]` {u32, u16, u16, [u8; 8]}: 16 bytes without padding, so all
    // 16 bytes are initialised, and every bit pattern is a valid `[u8; 16]`.
    u128::from_le_bytes(unsafe { core::mem::transmute::<GUID, [u8; 16]>(g) })
}

/// Bytes 0..7 (`half` 0) or 8..15 (`half` 1) of a GUID in memory, as a little-endian integer:
/// the two numbers the header side computes from the header's definition.
const fn guid_half(g: GUID, half: u32) -> i64 {
    (guid_memory(g) >> (64 * half)) as u64 as i64
}

/// Declares the compared GUIDs once: a const table for the run-time lookup, and the
/// `# MXFV guid(NAME).lo=…` / `.hi=…` lines of the assembly listing.
macro_rules! guid_values {
    ($table:ident: $( $name:ident => $value:expr, )*) => {
        /// GUIDs compared with mingw-w64's headers byte by byte, by their header names.
        const $table: &[(&str, GUID)] = &[ $( (stringify!($name), $value), )* ];

        // Comments only: nothing reaches the object file.
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        core::arch::global_asm!(
            $(
                concat!("# MXFV guid(", stringify!($name), ").lo={}"),
                concat!("# MXFV guid(", stringify!($name), ").hi={}"),
            )*
            $( const guid_half($value, 0), const guid_half($value, 1), )*
        );
    };
}

// tests/wine/layout_ks.c (kernel headers) and tests/wine/guids_user.c (user-mode headers).
// KSPROPSETID_Synth is GUID_DMUS_PROP_Volume on the header side (dmusicc.h).
guid_values! { KS_GUIDS:
    KSDATAFORMAT_TYPE_MUSIC => KSDATAFORMAT_TYPE_MUSIC,
    KSDATAFORMAT_SUBTYPE_MIDI => KSDATAFORMAT_SUBTYPE_MIDI,
    KSDATAFORMAT_SUBTYPE_MIDI_BUS => KSDATAFORMAT_SUBTYPE_MIDI_BUS,
    KSDATAFORMAT_SUBTYPE_DIRECTMUSIC => KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
    KSDATAFORMAT_SPECIFIER_NONE => KSDATAFORMAT_SPECIFIER_NONE,
    KSMUSIC_TECHNOLOGY_PORT => KSMUSIC_TECHNOLOGY_PORT,
    KSCATEGORY_AUDIO => KSCATEGORY_AUDIO,
    KSCATEGORY_RENDER => KSCATEGORY_RENDER,
    KSCATEGORY_CAPTURE => KSCATEGORY_CAPTURE,
    KSNODETYPE_SYNTHESIZER => KSNODETYPE_SYNTHESIZER,
    KSAUDFNAME_MIDI => KSAUDFNAME_MIDI,
    KSNAME_Pin => KSNAME_Pin,
    IID_IPort => IPort::IID,
    IID_IMiniport => IMiniport::IID,
    IID_IResourceList => IID_IResourceList,
    IID_IInterruptSync => IID_IInterruptSync,
    IID_IPinCount => IID_IPinCount,
    IID_IPowerNotify => IID_IPowerNotify,
    CLSID_PortDMus => CLSID_PortDMus,
    CLSID_MiniportDriverDMusUART => CLSID_MiniportDriverDMusUART,
    CLSID_MiniportDriverDMusUARTCapture => CLSID_MiniportDriverDMusUARTCapture,
    CLSID_Proxy => CLSID_Proxy,
    GUID_DEVCLASS_MEDIA => GUID_DEVCLASS_MEDIA,
    KSPROPSETID_Synth => KSPROPSETID_Synth,
}

/// Slot index of a vtable member (`offset / sizeof(void*)`).
macro_rules! slot {
    ($vtbl:ty, $($path:tt)+) => {
        (offset_of!($vtbl, $($path)+) / size_of::<*const c_void>()) as i64
    };
}

/// Numbers compared at run time only: 64-bit constants and vtable slot indices.
const RUNTIME_VALUES: &[(&str, i64)] = &[
    ("DONT_HOLD_FOR_SEQUENCING", DONT_HOLD_FOR_SEQUENCING as i64),
    ("kBytePositionNone", kBytePositionNone as i64),
    ("DMUS_KEF_EVENT_COMPLETE", DMUS_KEF_EVENT_COMPLETE as i64),
    (
        "DMUS_KEF_EVENT_INCOMPLETE",
        DMUS_KEF_EVENT_INCOMPLETE as i64,
    ),
    ("DMUS_KEF_PACKAGE_EVENT", DMUS_KEF_PACKAGE_EVENT as i64),
    (
        "slot(IUnknown::QueryInterface)",
        slot!(IUnknown_Vtbl, QueryInterface),
    ),
    ("slot(IUnknown::AddRef)", slot!(IUnknown_Vtbl, AddRef)),
    ("slot(IUnknown::Release)", slot!(IUnknown_Vtbl, Release)),
    (
        "slot(IMXF::QueryInterface)",
        slot!(IMXF_Vtbl, base__.QueryInterface),
    ),
    ("slot(IMXF::AddRef)", slot!(IMXF_Vtbl, base__.AddRef)),
    ("slot(IMXF::Release)", slot!(IMXF_Vtbl, base__.Release)),
    ("slot(IMXF::SetState)", slot!(IMXF_Vtbl, SetState)),
    ("slot(IMXF::PutMessage)", slot!(IMXF_Vtbl, PutMessage)),
    ("slot(IMXF::ConnectOutput)", slot!(IMXF_Vtbl, ConnectOutput)),
    (
        "slot(IMXF::DisconnectOutput)",
        slot!(IMXF_Vtbl, DisconnectOutput),
    ),
    (
        "slot(IAllocatorMXF::QueryInterface)",
        slot!(IAllocatorMXF_Vtbl, base__.base__.QueryInterface),
    ),
    (
        "slot(IAllocatorMXF::AddRef)",
        slot!(IAllocatorMXF_Vtbl, base__.base__.AddRef),
    ),
    (
        "slot(IAllocatorMXF::Release)",
        slot!(IAllocatorMXF_Vtbl, base__.base__.Release),
    ),
    (
        "slot(IAllocatorMXF::SetState)",
        slot!(IAllocatorMXF_Vtbl, base__.SetState),
    ),
    (
        "slot(IAllocatorMXF::PutMessage)",
        slot!(IAllocatorMXF_Vtbl, base__.PutMessage),
    ),
    (
        "slot(IAllocatorMXF::ConnectOutput)",
        slot!(IAllocatorMXF_Vtbl, base__.ConnectOutput),
    ),
    (
        "slot(IAllocatorMXF::DisconnectOutput)",
        slot!(IAllocatorMXF_Vtbl, base__.DisconnectOutput),
    ),
    (
        "slot(IAllocatorMXF::GetMessage)",
        slot!(IAllocatorMXF_Vtbl, GetMessage),
    ),
    (
        "slot(IAllocatorMXF::GetBufferSize)",
        slot!(IAllocatorMXF_Vtbl, GetBufferSize),
    ),
    (
        "slot(IAllocatorMXF::GetBuffer)",
        slot!(IAllocatorMXF_Vtbl, GetBuffer),
    ),
    (
        "slot(IAllocatorMXF::PutBuffer)",
        slot!(IAllocatorMXF_Vtbl, PutBuffer),
    ),
    (
        "slot(IMasterClock::GetTime)",
        slot!(IMasterClock_Vtbl, GetTime),
    ),
    ("slot(IPortDMus::Notify)", slot!(IPortDMus_Vtbl, Notify)),
    (
        "slot(IPortDMus::RegisterServiceGroup)",
        slot!(IPortDMus_Vtbl, RegisterServiceGroup),
    ),
    ("slot(IMiniportDMus::Init)", slot!(IMiniportDMus_Vtbl, Init)),
    (
        "slot(IMiniportDMus::Service)",
        slot!(IMiniportDMus_Vtbl, Service),
    ),
    (
        "slot(IMiniportDMus::NewStream)",
        slot!(IMiniportDMus_Vtbl, NewStream),
    ),
];

/// The identifiers the client can ask for, under their header names.
const GUIDS: &[(&str, GUID)] = &[
    ("IID_IUnknown", IUnknown::IID),
    ("IID_IMXF", IMXF::IID),
    ("IID_IAllocatorMXF", IAllocatorMXF::IID),
    ("IID_IPortDMus", IPortDMus::IID),
    ("IID_IMiniportDMus", IMiniportDMus::IID),
    ("IID_ISynthSinkDMus", ISynthSinkDMus::IID),
    ("IID_IPort", IPort::IID),
    ("IID_IMiniport", IMiniport::IID),
    ("IID_IServiceSink", IServiceSink::IID),
    ("IID_IServiceGroup", IServiceGroup::IID),
];

/// Whether an interface declares an IID, by name (the header gives none for these two).
const HAS_IID: &[(&str, bool)] = &[
    (
        "IMasterClock",
        <IMasterClock as Interface>::LINEAGE.iid.is_some(),
    ),
    (
        "IPositionNotify",
        <IPositionNotify as Interface>::LINEAGE.iid.is_some(),
    ),
];

/// The NUL-terminated C string at `name` as bytes, without the NUL; `None` for NULL.
///
/// # Safety
/// A non-NULL `name` points to a NUL-terminated string.
unsafe fn c_name<'a>(name: *const c_char) -> Option<&'a [u8]> {
    if name.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated (caller).
    Some(unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes())
}

/// Looks up `name` in `table`.
fn find<T: Copy>(table: &[(&str, T)], name: &[u8]) -> Option<T> {
    table
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|&(_, v)| v)
}

/// The Rust value of the number called `name` (a layout value, constant or vtable slot).
/// Returns 0 and stores the value in `*out`, or returns -1 if the name is unknown.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_value(name: *const c_char, out: *mut i64) -> i32 {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { c_name(name) }) else {
        return -1;
    };
    let Some(v) = find(LAYOUT_VALUES, name)
        .or_else(|| find(KS_LAYOUT_VALUES, name))
        .or_else(|| find(RUNTIME_VALUES, name))
    else {
        return -1;
    };
    if out.is_null() {
        return -1;
    }
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(v) };
    0
}

/// The Rust identifier called `name` (`IID_IMXF`, …): 0 and `*out`, or -1 if unknown.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_guid(name: *const c_char, out: *mut GUID) -> i32 {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { c_name(name) }) else {
        return -1;
    };
    let Some(g) = find(GUIDS, name).or_else(|| find(KS_GUIDS, name)) else {
        return -1;
    };
    if out.is_null() {
        return -1;
    }
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(g) };
    0
}

/// Whether the Rust declaration of the interface called `name` carries an IID: 1 yes, 0 no,
/// -1 unknown name.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_has_iid(name: *const c_char) -> i32 {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { c_name(name) }) else {
        return -1;
    };
    find(HAS_IID, name).map_or(-1, i32::from)
}

/// A fresh event as the Rust side builds it (`DMUS_KERNEL_EVENT::FRESH`), returned by value
/// through `out` so the client can read every field at its header offset.
///
/// # Safety
/// `out` is NULL or points to writable storage for one event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_fresh_event(out: *mut DMUS_KERNEL_EVENT) -> i32 {
    if out.is_null() {
        return -1;
    }
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(DMUS_KERNEL_EVENT::FRESH) };
    0
}

/// Creates mxf's allocator with the default (Microsoft-compatible) configuration and stores its
/// `IAllocatorMXF` (one reference) in `*out`. `notify`, if not NULL, is an `IPositionNotify` the
/// allocator keeps a reference to. Returns an `NTSTATUS`.
///
/// # Safety
/// `out` is NULL or writable; `notify` is NULL or a live `IPositionNotify`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_create_allocator(
    notify: *mut c_void,
    out: *mut *mut c_void,
) -> NTSTATUS {
    if out.is_null() || !out.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `notify` is NULL or live (caller); the borrowed pointer is cloned (AddRef) before
    // the borrow ends.
    let notify = unsafe { ComRef::<IPositionNotify>::from_raw(notify) }.map(|n| n.to_owned());
    let (p, status) = match AllocatorHandle::new(AllocatorConfig::default(), notify) {
        Ok(a) => {
            let p = a.interface().as_raw();
            // The caller gets the handle's one reference; the registry keeps an alias of it.
            lock(&ALLOCATORS).push(ManuallyDrop::new(a));
            (p, STATUS_SUCCESS)
        }
        Err(s) => (core::ptr::null_mut(), s),
    };
    // SAFETY: checked non-NULL and aligned; writable (caller).
    unsafe { out.write(p) };
    status
}

/// A minimal MXF: forwards every `PutMessage` to its connected sink, or to the allocator while
/// disconnected, following the connection rules of the port's own MXFs (`domain.md` §1.3).
/// It also counts what passes through, reading each event of a chain through the Rust layout.
#[com_object(IMXF, tag = "mxfF")]
struct Forwarder {
    allocator: IAllocatorMXF,
    sink: SpinLock<Option<IMXF>>,
    state: AtomicU32,
    calls: AtomicU64,
    events: AtomicU64,
    data_bytes: AtomicU64,
}

/// A chain longer than this is treated as cyclic and not counted further.
const MAX_CHAIN: u64 = 1 << 20;

impl Forwarder {
    /// Counts the events of a chain and their data bytes.
    ///
    /// # Safety
    /// `head` is a valid event chain (the caller's contract for `PutMessage`).
    unsafe fn count(&self, head: *mut DMUS_KERNEL_EVENT) {
        let (mut n, mut bytes, mut p) = (0u64, 0u64, head);
        while !p.is_null() && n < MAX_CHAIN {
            // SAFETY: every element of a valid chain is a live event.
            let e = unsafe { &*p };
            n += 1;
            bytes += u64::from(e.cbEvent);
            p = e.pNextEvt;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(n, Ordering::Relaxed);
        self.data_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl IMXF_Impl for Forwarder {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        self.state.store(state.0 as u32, Ordering::Relaxed);
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if event.is_null() {
            return STATUS_SUCCESS;
        }
        if check_event_ptr(event).is_err() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: a non-NULL, aligned event chain handed over by the caller.
        unsafe { self.count(event) };
        // Take a reference to the sink and call it with the lock released: the sink may call
        // back into this object (DisconnectOutput from its PutMessage).
        let sink = self.sink.lock().clone();
        match sink {
            // SAFETY: the chain is passed on whole; ownership moves downstream.
            Some(s) => unsafe { s.PutMessage(event) },
            // SAFETY: as above; the allocator is the last destination of every event.
            None => unsafe { self.allocator.PutMessage(event) },
        }
    }

    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        let Some(sink) = sink else {
            return STATUS_UNSUCCESSFUL;
        };
        let mut cur = self.sink.lock();
        if cur.is_some() {
            // An existing connection is never replaced.
            return STATUS_UNSUCCESSFUL;
        }
        *cur = Some(sink.to_owned());
        STATUS_SUCCESS
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        let old = {
            let mut cur = self.sink.lock();
            let matches = match (&sink, &*cur) {
                (None, _) => true,
                (Some(s), Some(c)) => s.as_raw() == c.as_raw(),
                (Some(_), None) => false,
            };
            if !matches {
                return STATUS_UNSUCCESSFUL;
            }
            cur.take()
        };
        // Released with the lock dropped: the sink's Release may run arbitrary code.
        drop(old);
        STATUS_SUCCESS
    }
}

/// Creates a forwarder whose disconnected output is `allocator` (an `IAllocatorMXF`, borrowed
/// and AddRef'd) and stores its `IMXF` (one reference) in `*out`. Returns an `NTSTATUS`.
///
/// # Safety
/// `out` is NULL or writable; `allocator` is NULL or a live `IAllocatorMXF`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_create_forwarder(
    allocator: *mut c_void,
    out: *mut *mut c_void,
) -> NTSTATUS {
    if out.is_null() || !out.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: checked non-NULL and aligned; writable (caller).
    unsafe { out.write(core::ptr::null_mut()) };
    // SAFETY: `allocator` is NULL or live (caller); cloned (AddRef) before the borrow ends.
    let Some(allocator) =
        (unsafe { ComRef::<IAllocatorMXF>::from_raw(allocator) }).map(|a| a.to_owned())
    else {
        return STATUS_INVALID_PARAMETER;
    };
    let value = Forwarder {
        allocator,
        sink: SpinLock::new(None),
        state: AtomicU32::new(KSSTATE_STOP.0 as u32),
        calls: AtomicU64::new(0),
        events: AtomicU64::new(0),
        data_bytes: AtomicU64::new(0),
    };
    match value.into_com::<IMXF>() {
        Ok(mxf) => {
            // SAFETY: as above.
            unsafe { out.write(mxf.into_raw()) };
            STATUS_SUCCESS
        }
        Err(s) => s,
    }
}

/// What a forwarder has seen, for the client to compare with what it sent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwarderInfo {
    /// The last state set (`KSSTATE`).
    pub state: i32,
    /// 1 while an output is connected.
    pub connected: i32,
    /// `PutMessage` calls with a non-NULL event.
    pub calls: u64,
    /// Events counted by walking `pNextEvt`.
    pub events: u64,
    /// Sum of `cbEvent` over those events.
    pub data_bytes: u64,
}

/// Fills `*out` with what the forwarder `mxf` has seen. Returns 0, or -1 for NULL arguments.
///
/// # Safety
/// `mxf` is an `IMXF` returned by [`mxf_abi_create_forwarder`] and still alive; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_forwarder_info(mxf: *mut c_void, out: *mut ForwarderInfo) -> i32 {
    if mxf.is_null() || out.is_null() {
        return -1;
    }
    // SAFETY: `mxf` is chain 0 of a live `ComObject<Forwarder>` (caller).
    let f = unsafe { ComObject::<Forwarder>::value_of::<0>(mxf) };
    let info = ForwarderInfo {
        state: f.state.load(Ordering::Relaxed) as i32,
        connected: i32::from(f.sink.lock().is_some()),
        calls: f.calls.load(Ordering::Relaxed),
        events: f.events.load(Ordering::Relaxed),
        data_bytes: f.data_bytes.load(Ordering::Relaxed),
    };
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(info) };
    0
}

/// `sizeof(ForwarderInfo)`, so the client can check its own declaration.
#[unsafe(no_mangle)]
pub extern "C" fn mxf_abi_forwarder_info_size() -> u32 {
    size_of::<ForwarderInfo>() as u32
}

// ---------------------------------------------------------------------------------------------
// Books and registries

/// Locks `m`, ignoring poisoning (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The allocators [`mxf_abi_create_allocator`] made, so that [`mxf_abi_allocator_info`] can read
/// their books. Each entry aliases the reference the caller owns: it is never released here, and
/// only used while the caller still holds that reference.
static ALLOCATORS: Mutex<Vec<ManuallyDrop<AllocatorHandle>>> = Mutex::new(Vec::new());

/// An allocator's books, for the client to compare with what it did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorInfo {
    /// Events handed out and not yet returned.
    pub outstanding_events: u64,
    /// Long-event buffers handed out and not yet returned.
    pub outstanding_buffers: u64,
    /// Successful `GetMessage` calls.
    pub gets: u64,
    /// `PutMessage` calls with a non-NULL argument.
    pub puts: u64,
    /// Misuse detected and refused (double puts, foreign events or buffers, cycles).
    pub misuse: u64,
}

/// Fills `*out` with the books of `allocator`. Returns 0, or -1 for NULL arguments or an
/// allocator [`mxf_abi_create_allocator`] did not make.
///
/// # Safety
/// `allocator` is NULL or an `IAllocatorMXF` the caller holds a reference to; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_allocator_info(
    allocator: *mut c_void,
    out: *mut AllocatorInfo,
) -> i32 {
    if allocator.is_null() || out.is_null() {
        return -1;
    }
    let stats = {
        let registry = lock(&ALLOCATORS);
        let Some(handle) = registry
            .iter()
            .rev()
            .find(|h| h.interface().as_raw() == allocator)
        else {
            return -1;
        };
        // The object is alive: the caller holds a reference to it.
        handle.stats()
    };
    let info = AllocatorInfo {
        outstanding_events: stats.outstanding_events,
        outstanding_buffers: stats.outstanding_buffers,
        gets: stats.gets,
        puts: stats.puts,
        misuse: stats.anomalies.misuse(),
    };
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(info) };
    0
}

/// `sizeof(AllocatorInfo)`, so the client can check its own declaration.
#[unsafe(no_mangle)]
pub extern "C" fn mxf_abi_allocator_info_size() -> u32 {
    size_of::<AllocatorInfo>() as u32
}

// ---------------------------------------------------------------------------------------------
// A #[mxf_filter] filter: the sample Transpose

/// Creates the sample filter [`Transpose`] (a `#[mxf_filter]` struct) by `semitones`, on
/// `allocator` (an `IAllocatorMXF`, borrowed; the filter keeps its own reference) with
/// `IntoFilter::into_filter`, and stores its `IMXF` (one reference) in `*out`. Returns an
/// `NTSTATUS`; `STATUS_INVALID_PARAMETER` for a NULL argument or an interval outside `i8`.
///
/// # Safety
/// `out` is NULL or writable; `allocator` is NULL or a live `IAllocatorMXF`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_create_transpose(
    allocator: *mut c_void,
    semitones: i32,
    out: *mut *mut c_void,
) -> NTSTATUS {
    if out.is_null() || !out.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: checked non-NULL and aligned; writable (caller).
    unsafe { out.write(core::ptr::null_mut()) };
    // SAFETY: `allocator` is NULL or live for this call (caller).
    let Some(allocator) = (unsafe { ComRef::<IAllocatorMXF>::from_raw(allocator) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let Ok(semitones) = i8::try_from(semitones) else {
        return STATUS_INVALID_PARAMETER;
    };
    match Transpose::new(semitones).into_filter(&allocator) {
        Ok(filter) => {
            // SAFETY: as above.
            unsafe { out.write(filter.into_interface().into_raw()) };
            STATUS_SUCCESS
        }
        Err(s) => s,
    }
}

/// A filter's counters (`FilterStats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FilterInfo {
    /// `PutMessage` calls with a non-NULL chain.
    pub calls: u64,
    /// Events received (package contents counted, shells not).
    pub events_in: u64,
    /// Events sent downstream, or to the allocator from an unconnected output.
    pub events_out: u64,
    /// Events returned to the allocator because of the state (STOP, ACQUIRE).
    pub discarded: u64,
}

/// Fills `*out` with the counters of the filter `mxf`. Returns 0, or -1 for NULL arguments.
///
/// # Safety
/// `mxf` is an `IMXF` returned by [`mxf_abi_create_transpose`] and still alive; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_filter_info(mxf: *mut c_void, out: *mut FilterInfo) -> i32 {
    if mxf.is_null() || out.is_null() {
        return -1;
    }
    // SAFETY: `mxf` is chain 0 of a live `ComObject<Transpose>` (caller).
    let filter = unsafe { ComObject::<Transpose>::value_of::<0>(mxf) };
    let stats = filter.stats();
    let info = FilterInfo {
        calls: stats.calls,
        events_in: stats.events_in,
        events_out: stats.events_out,
        discarded: stats.discarded,
    };
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(info) };
    0
}

/// `sizeof(FilterInfo)`, so the client can check its own declaration.
#[unsafe(no_mangle)]
pub extern "C" fn mxf_abi_filter_info_size() -> u32 {
    size_of::<FilterInfo>() as u32
}

// ---------------------------------------------------------------------------------------------
// The sample UART miniport on a virtual MPU-401

/// The device of every miniport [`mxf_abi_create_uart_miniport`] made, by the miniport's
/// interface pointer (only compared, never dereferenced). The device outlives its miniport here,
/// so the client can see what happens on the wire after the miniport is gone.
static DEVICES: Mutex<Vec<(usize, Arc<VirtualMpu401>)>> = Mutex::new(Vec::new());

/// The device of the miniport at `miniport`, if this library made it.
fn device_of(miniport: *mut c_void) -> Option<Arc<VirtualMpu401>> {
    lock(&DEVICES)
        .iter()
        .rev()
        .find(|(p, _)| *p == miniport as usize)
        .map(|(_, d)| d.clone())
}

/// Creates the sample UART miniport (`mxf_suite::uart`) on a new virtual MPU-401 and stores its
/// `IMiniportDMus` (one reference) in `*out`. Returns an `NTSTATUS`.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_create_uart_miniport(out: *mut *mut c_void) -> NTSTATUS {
    if out.is_null() || !out.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    let device = VirtualMpu401::new();
    let (p, status) = match create_uart_miniport(device.clone()) {
        Ok(m) => {
            let p = m.into_raw();
            lock(&DEVICES).push((p as usize, device));
            (p, STATUS_SUCCESS)
        }
        Err(s) => (core::ptr::null_mut(), s),
    };
    // SAFETY: checked non-NULL and aligned; writable (caller).
    unsafe { out.write(p) };
    status
}

/// Plays `len` bytes at `bytes` into the MIDI input of the miniport's device at master-clock
/// time `time`: the device raises its interrupt, the miniport's interrupt service routine reads
/// them. Returns 0, or -1 for an unknown miniport or NULL bytes.
///
/// # Safety
/// `bytes` is NULL or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_uart_receive(
    miniport: *mut c_void,
    bytes: *const u8,
    len: usize,
    time: i64,
) -> i32 {
    let Some(device) = device_of(miniport) else {
        return -1;
    };
    if bytes.is_null() {
        return -1;
    }
    // SAFETY: non-NULL, `len` readable bytes (caller).
    let bytes = unsafe { core::slice::from_raw_parts(bytes, len) };
    device.receive(bytes, time);
    0
}

/// Takes the bytes the miniport's device accepted on its data port since the last call: copies
/// up to `capacity` of them to `buffer` and returns how many there were (more than `capacity`
/// means some were cut off), or -1 for an unknown miniport or a NULL buffer with a capacity.
///
/// # Safety
/// `buffer` is NULL or points to `capacity` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_uart_take_output(
    miniport: *mut c_void,
    buffer: *mut u8,
    capacity: usize,
) -> i64 {
    let Some(device) = device_of(miniport) else {
        return -1;
    };
    if buffer.is_null() && capacity != 0 {
        return -1;
    }
    let written = device.take_output();
    for (k, &(_, byte)) in written.iter().take(capacity).enumerate() {
        // SAFETY: `k < capacity`, `buffer` has `capacity` writable bytes (caller).
        unsafe { buffer.add(k).write(byte) };
    }
    i64::try_from(written.len()).unwrap_or(i64::MAX)
}

/// Input bytes the miniport's device received while no interrupt handler read them (none
/// connected: before `Init`, or after the miniport was destroyed); -1 for an unknown miniport.
#[unsafe(no_mangle)]
pub extern "C" fn mxf_abi_uart_lost_input(miniport: *mut c_void) -> i64 {
    device_of(miniport).map_or(-1, |d| i64::try_from(d.lost_input()).unwrap_or(i64::MAX))
}

/// 1 if the miniport's device is in UART mode, 0 if not, -1 for an unknown miniport.
#[unsafe(no_mangle)]
pub extern "C" fn mxf_abi_uart_mode(miniport: *mut c_void) -> i32 {
    device_of(miniport).map_or(-1, |d| i32::from(d.is_uart_mode()))
}

const _: () = assert!(size_of_val(&EV) == size_of::<DMUS_KERNEL_EVENT>());
