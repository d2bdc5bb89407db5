//! Kernel-streaming and PortCls descriptor types: what a DMus miniport's
//! `IMiniport::GetDescription` returns, what its property handlers receive, and the DirectMusic
//! synth property sets (`ks.h`, `ksmedia.h`, `ddk/portcls.h`, `dmusprop.h`; `kernel.md` §1, §4).
//! Header names kept.
//!
//! Layouts are the ones a C compiler gives the headers (natural alignment, no packing). They are
//! asserted at compile time below, one table for each pointer width and one for the types whose
//! layout does not depend on it, and compared number by number with mingw-w64's headers for
//! x86_64 and i686 by the Wine tier (`docs/wine-abi.md`), GUIDs byte by byte.
//!
//! | type | x86 | x64 |
//! |---|---|---|
//! | [`KSIDENTIFIER`] (= [`KSPROPERTY`], [`KSPIN_INTERFACE`], [`KSPIN_MEDIUM`]) | 24 | 24 |
//! | [`KSNODEPROPERTY`] | 32 | 32 |
//! | [`KSDATARANGE`] / [`KSDATARANGE_MUSIC`] | 64 / 96 | 64 / 96 |
//! | [`KSPIN_CONNECT`] | 64 | 72 |
//! | [`KSPIN_DESCRIPTOR`] | 48 | 88 |
//! | [`PCPROPERTY_ITEM`] (= [`PCMETHOD_ITEM`], [`PCEVENT_ITEM`]) | 16 | 24 |
//! | [`PCPROPERTY_REQUEST`] | 40 | 72 |
//! | [`PCAUTOMATION_TABLE`] | 40 | 56 |
//! | [`PCPIN_DESCRIPTOR`] | 64 | 112 |
//! | [`PCNODE_DESCRIPTOR`] | 16 | 32 |
//! | [`PCCONNECTION_DESCRIPTOR`] | 16 | 16 |
//! | [`PCFILTER_DESCRIPTOR`] | 48 | 80 |
//! | [`SYNTHCAPS`] / [`SYNTH_PORTPARAMS`] | 296 / 28 | 296 / 28 |
//!
//! **8-byte alignment.** `KSIDENTIFIER` and `KSDATARANGE` are unions in the header whose only
//! other member is a `LONGLONG Alignment`; `KSPIN_DESCRIPTOR` ends in a union with a `LONGLONG`.
//! Here they are `align(8)`, which gives the same size and alignment on every target, including
//! 32-bit x86 where Windows aligns a `LONGLONG` to 8 (and Linux, where the i686 tests run, to 4).
//! That alignment is why a `KSDATARANGE_MUSIC` is 96 bytes, not 92.
//!
//! **Static tables.** The descriptor types hold raw pointers (to GUIDs, data ranges, items, other
//! tables), as the header does, and are `Sync`, so a miniport's tables are ordinary `static`s
//! built in `const` context; `const PKSDATARANGE DataRanges[]` is a [`DataRangeTable`]. The
//! `tests` module below builds DMusUART's tables (`kernel.md` §4.7) that way.
//!
//! **Not in mingw-w64** (asserted at compile time, values checked against Microsoft's headers and
//! documentation only): [`SYNTHCAPS`], [`SYNTH_PORTPARAMS`] and their flags, the
//! `KSPROPERTY_SYNTH*` ids, [`KSPROPSETID_Synth_Dls`], [`KSPROPSETID_SynthClock`],
//! [`KSNODETYPE_DMSYNTH`], [`KSNODETYPE_DMSYNTH_CAPS`] (all `dmusprop.h`),
//! [`KSAUDFNAME_DMUSIC_MPU_OUT`], [`KSAUDFNAME_DMUSIC_MPU_IN`] (the WDK's `dmusicks.h`) and
//! [`IID_IMusicTechnology`] (the WDK's `portcls.h`). [`KSPROPSETID_Synth`] is in mingw-w64 only
//! under its DirectMusic name `GUID_DMUS_PROP_Volume` (`dmusicc.h`), and is compared with that.
//!
//! The GUIDs of this family declared elsewhere are not repeated here: [`KSDATAFORMAT_TYPE_MUSIC`],
//! [`KSDATAFORMAT_SUBTYPE_MIDI`], [`KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`], [`CLSID_PortDMus`],
//! [`CLSID_MiniportDriverDMusUART`] (`mxf::abi`), and `IID_IPort` / `IID_IMiniport`, which are
//! `IPort::IID` and `IMiniport::IID` (`mxf::interfaces`).
//!
//! [`KSDATAFORMAT_TYPE_MUSIC`]: super::KSDATAFORMAT_TYPE_MUSIC
//! [`KSDATAFORMAT_SUBTYPE_MIDI`]: super::KSDATAFORMAT_SUBTYPE_MIDI
//! [`KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`]: super::KSDATAFORMAT_SUBTYPE_DIRECTMUSIC
//! [`CLSID_PortDMus`]: super::CLSID_PortDMus
//! [`CLSID_MiniportDriverDMusUART`]: super::CLSID_MiniportDriverDMusUART
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

use super::{GUID, KSDATAFORMAT, NTSTATUS};
use core::ffi::c_void;
use core::fmt;
use core::mem::{align_of, offset_of, size_of};
use core::ptr;

// ---------------------------------------------------------------------------------------------
// GUIDs

/// Declares GUID constants from their registry form, parsed at compile time.
macro_rules! guids {
    ($( $(#[$doc:meta])* $name:ident = $text:literal; )*) => {
        $(
            $(#[$doc])*
            // Evaluated by the compiler only: a malformed literal fails the build.
            #[allow(clippy::panic)]
            pub const $name: GUID = match GUID::parse($text) {
                Ok(g) => g,
                Err(_) => panic!(concat!("malformed GUID literal for ", stringify!($name))),
            };
        )*
    };
}

guids! {
    /// `KSDATAFORMAT_SUBTYPE_MIDI_BUS` (ksmedia.h): the format of a bridge pin to the MIDI
    /// hardware (DMusUART's pins 2 and 3).
    KSDATAFORMAT_SUBTYPE_MIDI_BUS = "2CA15FA0-6CFE-11CF-A5D6-28DB04C10000";
    /// `KSDATAFORMAT_SPECIFIER_NONE` (ks.h): the specifier of MIDI and DirectMusic formats.
    KSDATAFORMAT_SPECIFIER_NONE = "0F6417D6-C318-11D0-A43F-00A0C9223196";
    /// `KSMUSIC_TECHNOLOGY_PORT` (ksmedia.h): the `Technology` of a music range that is an
    /// output port to an external device.
    KSMUSIC_TECHNOLOGY_PORT = "86C92E60-62E8-11CF-A5D6-28DB04C10000";
    /// `KSCATEGORY_AUDIO` (ksmedia.h): filter category, and the device interface Windows MIDI
    /// Services watches (`kernel.md` §1).
    KSCATEGORY_AUDIO = "6994AD04-93EF-11D0-A3CC-00A0C9223196";
    /// `KSCATEGORY_RENDER` (ks.h): filter category.
    KSCATEGORY_RENDER = "65E8773E-8F56-11D0-A3B9-00A0C9223196";
    /// `KSCATEGORY_CAPTURE` (ks.h): filter category.
    KSCATEGORY_CAPTURE = "65E8773D-8F56-11D0-A3B9-00A0C9223196";
    /// `KSNODETYPE_SYNTHESIZER` (ksmedia.h): the type of DMusUART's two nodes.
    KSNODETYPE_SYNTHESIZER = "DFF220F3-F70F-11D0-B917-00A0C9223196";
    /// `KSNODETYPE_DMSYNTH` (dmusprop.h; not in mingw-w64): a DirectMusic synthesizer node.
    KSNODETYPE_DMSYNTH = "94824F88-6183-11D2-8F7A-00C04FBF8FEF";
    /// `KSNODETYPE_DMSYNTH_CAPS` (dmusprop.h; not in mingw-w64): the per-pin caps node of a
    /// DirectMusic synthesizer.
    KSNODETYPE_DMSYNTH_CAPS = "BCA2A2F1-93C6-11D2-BA1D-0000F875AC12";
    /// `KSAUDFNAME_MIDI` (ksmedia.h): the name of a legacy MIDI render pin.
    KSAUDFNAME_MIDI = "185FEDF8-9905-11D1-95A9-00C04FB925D3";
    /// `KSAUDFNAME_DMUSIC_MPU_OUT` (the WDK's dmusicks.h; not in mingw-w64): the name of a
    /// DirectMusic render pin to an MPU-401.
    KSAUDFNAME_DMUSIC_MPU_OUT = "A4DF0EB5-BAC9-11D2-B7A8-0060083316C1";
    /// `KSAUDFNAME_DMUSIC_MPU_IN` (the WDK's dmusicks.h; not in mingw-w64): the name of a
    /// capture pin from an MPU-401.
    KSAUDFNAME_DMUSIC_MPU_IN = "B2EC0A7D-BAC9-11D2-B7A8-0060083316C1";
    /// `KSPROPSETID_Synth` (dmusprop.h): the synth property set ([`KSPROPERTY_SYNTH_CAPS`] …).
    /// Not in mingw-w64 under this name; the same GUID is `GUID_DMUS_PROP_Volume` (dmusicc.h).
    KSPROPSETID_Synth = "FEDFAE25-E46E-11D1-AACE-0000F875AC12";
    /// `KSPROPSETID_Synth_Dls` (dmusprop.h; not in mingw-w64): DLS download properties.
    KSPROPSETID_Synth_Dls = "D523FA2C-DEE3-11D1-A789-0000F875AC12";
    /// `KSPROPSETID_SynthClock` (dmusprop.h; not in mingw-w64): the master clock property,
    /// answered by the DMus port itself.
    KSPROPSETID_SynthClock = "FEDFAE26-E46E-11D1-AACE-0000F875AC12";
    /// `KSPROPSETID_Pin` (ks.h): the pin-factory properties a KS filter answers
    /// ([`KSPROPERTY_PIN_CINSTANCES`] …), with a [`KSP_PIN`] naming the factory.
    KSPROPSETID_Pin = "8C134960-51AD-11CF-878A-94F801C10000";
    /// `KSNAME_Pin` (ks.h): the create-item name of a pin; a pin is opened by a create request
    /// with this name followed by a [`KSPIN_CONNECT`] and the format.
    KSNAME_Pin = "146F1A80-4791-11D0-A5D6-28DB04C10000";
    /// `IID_IResourceList` (ddk/portcls.h).
    IID_IResourceList = "22C6AC60-851B-11D0-9A7F-00AA0038ACFE";
    /// `IID_IInterruptSync` (ddk/portcls.h): the interrupt object `PcNewInterruptSync` makes.
    IID_IInterruptSync = "22C6AC63-851B-11D0-9A7F-00AA0038ACFE";
    /// `IID_IPinCount` (ddk/portcls.h): the port asks the miniport for it after `Init`.
    IID_IPinCount = "5DADB7DC-A2CB-4540-A4A8-425EE4AE9051";
    /// `IID_IPowerNotify` (ddk/portcls.h): the port asks the miniport for it after `Init`.
    IID_IPowerNotify = "3DD648B8-969F-11D1-95A9-00C04FB925D3";
    /// `IID_IMusicTechnology` (the WDK's portcls.h; mingw-w64 declares the interface without
    /// its IID): DMusUART answers it.
    IID_IMusicTechnology = "80396C3C-CBCB-409B-9F65-4F1E7467CDAF";
    /// `CLSID_Proxy` (ksproxy.h): the KS proxy, the `CLSID` an INF's interface AddReg sets.
    CLSID_Proxy = "17CCA71B-ECD7-11D0-B908-00A0C9223196";
    /// `GUID_DEVCLASS_MEDIA` (devguid.h): the `ClassGuid` of an INF with `Class=MEDIA`.
    GUID_DEVCLASS_MEDIA = "4D36E96C-E325-11CE-BFC1-08002BE10318";
}

// ---------------------------------------------------------------------------------------------
// C enums (the macro is `abi::types`' own: a newtype that accepts every value a C caller can
// pass, as `KSSTATE` and `POOL_TYPE` are)

c_enum! {
    /// `KSPIN_DATAFLOW` (ks.h): which way data moves through a pin, seen from the filter.
    KSPIN_DATAFLOW / KsPinDataFlow {
        /// Into the filter (a render pin; the DMus port makes a render stream of a SINK+IN pin).
        KSPIN_DATAFLOW_IN = In = 1,
        /// Out of the filter (a capture pin).
        KSPIN_DATAFLOW_OUT = Out = 2,
    }
}

c_enum! {
    /// `KSPIN_COMMUNICATION` (ks.h): how a pin connects (`kernel.md` §4.3).
    KSPIN_COMMUNICATION / KsPinCommunication {
        /// The factory makes no pins: a bridge to hardware, only queried.
        KSPIN_COMMUNICATION_NONE = None = 0,
        /// A client opens pins of this factory (every DMus stream pin).
        KSPIN_COMMUNICATION_SINK = Sink = 1,
        /// The pin connects to another filter's sink.
        KSPIN_COMMUNICATION_SOURCE = Source = 2,
        /// Sink or source.
        KSPIN_COMMUNICATION_BOTH = Both = 3,
        /// A bridge to another filter (KS 1.x).
        KSPIN_COMMUNICATION_BRIDGE = Bridge = 4,
    }
}

// ---------------------------------------------------------------------------------------------
// Flags and ids

/// `KSPROPERTY_TYPE_GET` (ks.h): read the property.
pub const KSPROPERTY_TYPE_GET: u32 = 0x0000_0001;
/// `KSPROPERTY_TYPE_SET` (ks.h): write the property.
pub const KSPROPERTY_TYPE_SET: u32 = 0x0000_0002;
/// `KSPROPERTY_TYPE_SETSUPPORT` (ks.h): is the property set supported.
pub const KSPROPERTY_TYPE_SETSUPPORT: u32 = 0x0000_0100;
/// `KSPROPERTY_TYPE_BASICSUPPORT` (ks.h): which verbs the property supports.
pub const KSPROPERTY_TYPE_BASICSUPPORT: u32 = 0x0000_0200;
/// `KSPROPERTY_TYPE_RELATIONS` (ks.h).
pub const KSPROPERTY_TYPE_RELATIONS: u32 = 0x0000_0400;
/// `KSPROPERTY_TYPE_SERIALIZESET` (ks.h).
pub const KSPROPERTY_TYPE_SERIALIZESET: u32 = 0x0000_0800;
/// `KSPROPERTY_TYPE_UNSERIALIZESET` (ks.h).
pub const KSPROPERTY_TYPE_UNSERIALIZESET: u32 = 0x0000_1000;
/// `KSPROPERTY_TYPE_SERIALIZERAW` (ks.h).
pub const KSPROPERTY_TYPE_SERIALIZERAW: u32 = 0x0000_2000;
/// `KSPROPERTY_TYPE_UNSERIALIZERAW` (ks.h).
pub const KSPROPERTY_TYPE_UNSERIALIZERAW: u32 = 0x0000_4000;
/// `KSPROPERTY_TYPE_SERIALIZESIZE` (ks.h).
pub const KSPROPERTY_TYPE_SERIALIZESIZE: u32 = 0x0000_8000;
/// `KSPROPERTY_TYPE_DEFAULTVALUES` (ks.h).
pub const KSPROPERTY_TYPE_DEFAULTVALUES: u32 = 0x0001_0000;
/// `KSPROPERTY_TYPE_TOPOLOGY` (ks.h): the request begins with a [`KSNODEPROPERTY`] and targets
/// its node (`kernel.md` §4.6).
pub const KSPROPERTY_TYPE_TOPOLOGY: u32 = 0x1000_0000;

/// `PCPROPERTY_ITEM_FLAG_GET` (ddk/portcls.h) = [`KSPROPERTY_TYPE_GET`].
pub const PCPROPERTY_ITEM_FLAG_GET: u32 = KSPROPERTY_TYPE_GET;
/// `PCPROPERTY_ITEM_FLAG_SET` (ddk/portcls.h) = [`KSPROPERTY_TYPE_SET`].
pub const PCPROPERTY_ITEM_FLAG_SET: u32 = KSPROPERTY_TYPE_SET;
/// `PCPROPERTY_ITEM_FLAG_BASICSUPPORT` (ddk/portcls.h) = [`KSPROPERTY_TYPE_BASICSUPPORT`].
pub const PCPROPERTY_ITEM_FLAG_BASICSUPPORT: u32 = KSPROPERTY_TYPE_BASICSUPPORT;
/// `PCPROPERTY_ITEM_FLAG_SERIALIZERAW` (ddk/portcls.h) = [`KSPROPERTY_TYPE_SERIALIZERAW`].
pub const PCPROPERTY_ITEM_FLAG_SERIALIZERAW: u32 = KSPROPERTY_TYPE_SERIALIZERAW;
/// `PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW` (ddk/portcls.h) = [`KSPROPERTY_TYPE_UNSERIALIZERAW`].
pub const PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW: u32 = KSPROPERTY_TYPE_UNSERIALIZERAW;
/// `PCPROPERTY_ITEM_FLAG_SERIALIZESIZE` (ddk/portcls.h) = [`KSPROPERTY_TYPE_SERIALIZESIZE`].
pub const PCPROPERTY_ITEM_FLAG_SERIALIZESIZE: u32 = KSPROPERTY_TYPE_SERIALIZESIZE;
/// `PCPROPERTY_ITEM_FLAG_SERIALIZE` (ddk/portcls.h): the three serialization flags.
pub const PCPROPERTY_ITEM_FLAG_SERIALIZE: u32 = PCPROPERTY_ITEM_FLAG_SERIALIZERAW
    | PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW
    | PCPROPERTY_ITEM_FLAG_SERIALIZESIZE;
/// `PCPROPERTY_ITEM_FLAG_DEFAULTVALUES` (ddk/portcls.h) = [`KSPROPERTY_TYPE_DEFAULTVALUES`].
pub const PCPROPERTY_ITEM_FLAG_DEFAULTVALUES: u32 = KSPROPERTY_TYPE_DEFAULTVALUES;

/// `PCFILTER_NODE` (ddk/portcls.h): in a [`PCCONNECTION_DESCRIPTOR`], the filter itself (its
/// pins) rather than a node.
pub const PCFILTER_NODE: u32 = u32::MAX;

/// `KSPRIORITY_LOW` (ks.h).
pub const KSPRIORITY_LOW: u32 = 0x0000_0001;
/// `KSPRIORITY_NORMAL` (ks.h).
pub const KSPRIORITY_NORMAL: u32 = 0x4000_0000;
/// `KSPRIORITY_HIGH` (ks.h).
pub const KSPRIORITY_HIGH: u32 = 0x8000_0000;
/// `KSPRIORITY_EXCLUSIVE` (ks.h).
pub const KSPRIORITY_EXCLUSIVE: u32 = 0xFFFF_FFFF;

/// `KSPROPERTY_SYNTH_VOLUME` (dmusprop.h): get/set, `LONG` in 1/100 dB; plain [`KSPROPERTY`].
pub const KSPROPERTY_SYNTH_VOLUME: u32 = 0;
/// `KSPROPERTY_SYNTH_VOLUMEBOOST` (dmusprop.h): get/set, `LONG` in 1/100 dB.
pub const KSPROPERTY_SYNTH_VOLUMEBOOST: u32 = 1;
/// `KSPROPERTY_SYNTH_CAPS` (dmusprop.h): get, a [`SYNTHCAPS`].
pub const KSPROPERTY_SYNTH_CAPS: u32 = 2;
/// `KSPROPERTY_SYNTH_PORTPARAMETERS` (dmusprop.h): get, instance and value a
/// [`SYNTH_PORTPARAMS`]; the get applies them.
pub const KSPROPERTY_SYNTH_PORTPARAMETERS: u32 = 3;
/// `KSPROPERTY_SYNTH_CHANNELGROUPS` (dmusprop.h): get/set, a `ULONG`.
pub const KSPROPERTY_SYNTH_CHANNELGROUPS: u32 = 4;
/// `KSPROPERTY_SYNTH_VOICEPRIORITY` (dmusprop.h): get/set, `{ChannelGroup, Channel}` → `DWORD`.
pub const KSPROPERTY_SYNTH_VOICEPRIORITY: u32 = 5;
/// `KSPROPERTY_SYNTH_LATENCYCLOCK` (dmusprop.h): get, `ULONGLONG` master clock + latency.
pub const KSPROPERTY_SYNTH_LATENCYCLOCK: u32 = 6;
/// `KSPROPERTY_SYNTH_RUNNINGSTATS` (dmusprop.h): get, a `SYNTH_STATS`.
pub const KSPROPERTY_SYNTH_RUNNINGSTATS: u32 = 7;

/// `KSPROPERTY_SYNTH_DLS_DOWNLOAD` (dmusprop.h), in [`KSPROPSETID_Synth_Dls`].
pub const KSPROPERTY_SYNTH_DLS_DOWNLOAD: u32 = 0;
/// `KSPROPERTY_SYNTH_DLS_UNLOAD` (dmusprop.h).
pub const KSPROPERTY_SYNTH_DLS_UNLOAD: u32 = 1;
/// `KSPROPERTY_SYNTH_DLS_COMPACT` (dmusprop.h).
pub const KSPROPERTY_SYNTH_DLS_COMPACT: u32 = 2;
/// `KSPROPERTY_SYNTH_DLS_APPEND` (dmusprop.h).
pub const KSPROPERTY_SYNTH_DLS_APPEND: u32 = 3;
/// `KSPROPERTY_SYNTH_DLS_WAVEFORMAT` (dmusprop.h).
pub const KSPROPERTY_SYNTH_DLS_WAVEFORMAT: u32 = 4;

/// `KSPROPERTY_SYNTH_MASTERCLOCK` (dmusprop.h), the only id of [`KSPROPSETID_SynthClock`]:
/// get, `ULONGLONG` master-clock time on the filter.
pub const KSPROPERTY_SYNTH_MASTERCLOCK: u32 = 0;

/// `KSPROPERTY_PIN_CINSTANCES` (ks.h): a [`KSPIN_CINSTANCES`] of the factory's
/// `MaxFilterInstanceCount` and open pins.
pub const KSPROPERTY_PIN_CINSTANCES: u32 = 0;
/// `KSPROPERTY_PIN_CTYPES` (ks.h): a `ULONG`, the number of pin factories.
pub const KSPROPERTY_PIN_CTYPES: u32 = 1;
/// `KSPROPERTY_PIN_DATAFLOW` (ks.h): the factory's [`KSPIN_DATAFLOW`].
pub const KSPROPERTY_PIN_DATAFLOW: u32 = 2;
/// `KSPROPERTY_PIN_DATARANGES` (ks.h): a [`KSMULTIPLE_ITEM`] followed by the factory's ranges,
/// each starting on an 8-byte boundary.
pub const KSPROPERTY_PIN_DATARANGES: u32 = 3;
/// `KSPROPERTY_PIN_DATAINTERSECTION` (ks.h): the input after the [`KSP_PIN`] is a
/// [`KSMULTIPLE_ITEM`] of the client's ranges; the value is the format chosen (`kernel.md` §4.4).
pub const KSPROPERTY_PIN_DATAINTERSECTION: u32 = 4;
/// `KSPROPERTY_PIN_INTERFACES` (ks.h).
pub const KSPROPERTY_PIN_INTERFACES: u32 = 5;
/// `KSPROPERTY_PIN_MEDIUMS` (ks.h).
pub const KSPROPERTY_PIN_MEDIUMS: u32 = 6;
/// `KSPROPERTY_PIN_COMMUNICATION` (ks.h): the factory's [`KSPIN_COMMUNICATION`].
pub const KSPROPERTY_PIN_COMMUNICATION: u32 = 7;
/// `KSPROPERTY_PIN_GLOBALCINSTANCES` (ks.h): as CINSTANCES with `MaxGlobalInstanceCount`.
pub const KSPROPERTY_PIN_GLOBALCINSTANCES: u32 = 8;
/// `KSPROPERTY_PIN_NECESSARYINSTANCES` (ks.h): a `ULONG`, `MinFilterInstanceCount`.
pub const KSPROPERTY_PIN_NECESSARYINSTANCES: u32 = 9;
/// `KSPROPERTY_PIN_PHYSICALCONNECTION` (ks.h).
pub const KSPROPERTY_PIN_PHYSICALCONNECTION: u32 = 10;
/// `KSPROPERTY_PIN_CATEGORY` (ks.h): the factory's category `GUID`.
pub const KSPROPERTY_PIN_CATEGORY: u32 = 11;
/// `KSPROPERTY_PIN_NAME` (ks.h).
pub const KSPROPERTY_PIN_NAME: u32 = 12;

/// `SYNTH_PC_DLS` (dmusprop.h): [`SYNTHCAPS::Flags`] bit, DLS level 1 downloads.
pub const SYNTH_PC_DLS: u32 = 0x0000_0001;
/// `SYNTH_PC_EXTERNAL` (dmusprop.h): the synth is external hardware (DMusUART's only flag).
pub const SYNTH_PC_EXTERNAL: u32 = 0x0000_0002;
/// `SYNTH_PC_SOFTWARESYNTH` (dmusprop.h).
pub const SYNTH_PC_SOFTWARESYNTH: u32 = 0x0000_0004;
/// `SYNTH_PC_MEMORYSIZEFIXED` (dmusprop.h).
pub const SYNTH_PC_MEMORYSIZEFIXED: u32 = 0x0000_0008;
/// `SYNTH_PC_GMINHARDWARE` (dmusprop.h).
pub const SYNTH_PC_GMINHARDWARE: u32 = 0x0000_0010;
/// `SYNTH_PC_GSINHARDWARE` (dmusprop.h).
pub const SYNTH_PC_GSINHARDWARE: u32 = 0x0000_0020;
/// `SYNTH_PC_REVERB` (dmusprop.h).
pub const SYNTH_PC_REVERB: u32 = 0x0000_0040;
/// `SYNTH_PC_DLS2` (dmusprop.h; `DMUS_PC_DLS2` of dmusicc.h is a different value, 0x200).
pub const SYNTH_PC_DLS2: u32 = 0x0000_0080;
/// `SYNTH_PC_SYSTEMMEMORY` (dmusprop.h): a [`SYNTHCAPS::MemorySize`] value (system memory,
/// unlimited), though Microsoft's page on `SYNTHCAPS` lists it among the flags.
pub const SYNTH_PC_SYSTEMMEMORY: u32 = 0x7FFF_FFFF;

/// `SYNTH_EFFECT_NONE` (dmusprop.h): [`SYNTHCAPS::EffectFlags`] and
/// [`SYNTH_PORTPARAMS::EffectsFlags`] value.
pub const SYNTH_EFFECT_NONE: u32 = 0x0000_0000;
/// `SYNTH_EFFECT_REVERB` (dmusprop.h).
pub const SYNTH_EFFECT_REVERB: u32 = 0x0000_0001;
/// `SYNTH_EFFECT_CHORUS` (dmusprop.h).
pub const SYNTH_EFFECT_CHORUS: u32 = 0x0000_0002;
/// `SYNTH_EFFECT_DELAY` (dmusprop.h).
pub const SYNTH_EFFECT_DELAY: u32 = 0x0000_0004;

/// `SYNTH_PORTPARAMS_VOICES` (dmusprop.h): [`SYNTH_PORTPARAMS::ValidParams`] bit.
pub const SYNTH_PORTPARAMS_VOICES: u32 = 0x0000_0001;
/// `SYNTH_PORTPARAMS_CHANNELGROUPS` (dmusprop.h).
pub const SYNTH_PORTPARAMS_CHANNELGROUPS: u32 = 0x0000_0002;
/// `SYNTH_PORTPARAMS_AUDIOCHANNELS` (dmusprop.h).
pub const SYNTH_PORTPARAMS_AUDIOCHANNELS: u32 = 0x0000_0004;
/// `SYNTH_PORTPARAMS_SAMPLERATE` (dmusprop.h).
pub const SYNTH_PORTPARAMS_SAMPLERATE: u32 = 0x0000_0008;
/// `SYNTH_PORTPARAMS_EFFECTS` (dmusprop.h).
pub const SYNTH_PORTPARAMS_EFFECTS: u32 = 0x0000_0020;
/// `SYNTH_PORTPARAMS_SHARE` (dmusprop.h).
pub const SYNTH_PORTPARAMS_SHARE: u32 = 0x0000_0040;

/// A table length as the `ULONG` count beside it; a table of more than `u32::MAX` entries
/// (which cannot exist) reads as `u32::MAX` entries.
const fn count_u32(len: usize) -> u32 {
    if len > u32::MAX as usize {
        u32::MAX
    } else {
        len as u32
    }
}

// ---------------------------------------------------------------------------------------------
// KS structures

/// `KSIDENTIFIER` (ks.h): a property, method or event request's `{Set, Id, Flags}`, or a pin
/// interface or medium.
///
/// The header's union with `LONGLONG Alignment` only gives it 8-byte alignment; `align(8)`
/// reproduces that (24 bytes, alignment 8).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSIDENTIFIER {
    /// The property set (or interface / medium set).
    pub Set: GUID,
    /// The item in the set.
    pub Id: u32,
    /// `KSPROPERTY_TYPE_*` flags of a request (or 0).
    pub Flags: u32,
}

impl KSIDENTIFIER {
    /// `{set, id, flags}`.
    pub const fn new(set: GUID, id: u32, flags: u32) -> Self {
        Self {
            Set: set,
            Id: id,
            Flags: flags,
        }
    }
}

/// `KSPROPERTY` (ks.h): the header of a property request.
pub type KSPROPERTY = KSIDENTIFIER;
/// `KSMETHOD` (ks.h): the header of a method request.
pub type KSMETHOD = KSIDENTIFIER;
/// `KSEVENT` (ks.h): the header of an event request.
pub type KSEVENT = KSIDENTIFIER;
/// `KSPIN_INTERFACE` (ks.h): a pin's communication interface; none listed = standard streaming.
pub type KSPIN_INTERFACE = KSIDENTIFIER;
/// `KSPIN_MEDIUM` (ks.h): a pin's medium; none listed = `KSMEDIUM_TYPE_ANYINSTANCE` (DEVIO).
pub type KSPIN_MEDIUM = KSIDENTIFIER;

/// `KSNODEPROPERTY` (ksmedia.h): the header of a property request addressed to a node
/// ([`KSPROPERTY_TYPE_TOPOLOGY`] set in `Property.Flags`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSNODEPROPERTY {
    /// `{Set, Id, Flags}`.
    pub Property: KSPROPERTY,
    /// The node, an index into the filter descriptor's `Nodes`.
    pub NodeId: u32,
    /// Zero.
    pub Reserved: u32,
}

/// `KSP_PIN` (ks.h): the header of a [`KSPROPSETID_Pin`] request: the property and the pin
/// factory it is about.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSP_PIN {
    /// `{Set, Id, Flags}`.
    pub Property: KSPROPERTY,
    /// The pin factory.
    pub PinId: u32,
    /// Zero.
    pub Reserved: u32,
}

/// `KSMULTIPLE_ITEM` (ks.h): the header of a list: its size in bytes (this header included) and
/// its number of items.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSMULTIPLE_ITEM {
    /// Bytes, this header included.
    pub Size: u32,
    /// Items after the header.
    pub Count: u32,
}

/// `KSPIN_CINSTANCES` (ks.h): the value of [`KSPROPERTY_PIN_CINSTANCES`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSPIN_CINSTANCES {
    /// Pins of the factory that may exist (`u32::MAX`: unlimited).
    pub PossibleCount: u32,
    /// Pins of the factory open now.
    pub CurrentCount: u32,
}

/// `KSPRIORITY` (ks.h): a pin's priority in [`KSPIN_CONNECT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSPRIORITY {
    /// `KSPRIORITY_LOW` … `KSPRIORITY_EXCLUSIVE`.
    pub PriorityClass: u32,
    /// Priority within the class.
    pub PrioritySubClass: u32,
}

/// `KSPIN_CONNECT` (ks.h): what follows the [`KSNAME_Pin`] create request, before the format.
/// The pin factory is `PinId` (`kernel.md` §4.2).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSPIN_CONNECT {
    /// The interface asked for.
    pub Interface: KSPIN_INTERFACE,
    /// The medium asked for.
    pub Medium: KSPIN_MEDIUM,
    /// The pin factory: an index into the filter descriptor's `Pins`.
    pub PinId: u32,
    /// `HANDLE` of the pin to connect to, or NULL.
    pub PinToHandle: *mut c_void,
    /// The priority asked for.
    pub Priority: KSPRIORITY,
}

/// `KSDATARANGE` (ks.h): the header of one format a pin accepts. The header declares it as
/// `KSDATAFORMAT` itself; its fields are [`KSDATAFORMAT`]'s, with the header's 8-byte alignment
/// (a union with `LONGLONG Alignment`), which [`KSDATARANGE_MUSIC`]'s 96-byte size depends on.
///
/// [`KSDATARANGE::format`] and `From` convert between the two.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSDATARANGE {
    /// Size of the whole range, this header included (96 for a [`KSDATARANGE_MUSIC`]).
    pub FormatSize: u32,
    /// `KSDATARANGE_*` flags.
    pub Flags: u32,
    /// Sample size, or 0.
    pub SampleSize: u32,
    /// Reserved, zero.
    pub Reserved: u32,
    /// The major format (`KSDATAFORMAT_TYPE_MUSIC`), or a wildcard.
    pub MajorFormat: GUID,
    /// The subformat (`KSDATAFORMAT_SUBTYPE_MIDI`, `…_DIRECTMUSIC`, `…_MIDI_BUS`), or a wildcard.
    pub SubFormat: GUID,
    /// The specifier ([`KSDATAFORMAT_SPECIFIER_NONE`]), or a wildcard.
    pub Specifier: GUID,
}

impl KSDATARANGE {
    /// The same fields as a [`KSDATAFORMAT`].
    pub const fn from_format(f: KSDATAFORMAT) -> Self {
        Self {
            FormatSize: f.FormatSize,
            Flags: f.Flags,
            SampleSize: f.SampleSize,
            Reserved: f.Reserved,
            MajorFormat: f.MajorFormat,
            SubFormat: f.SubFormat,
            Specifier: f.Specifier,
        }
    }

    /// These fields as a [`KSDATAFORMAT`].
    pub const fn format(&self) -> KSDATAFORMAT {
        KSDATAFORMAT {
            FormatSize: self.FormatSize,
            Flags: self.Flags,
            SampleSize: self.SampleSize,
            Reserved: self.Reserved,
            MajorFormat: self.MajorFormat,
            SubFormat: self.SubFormat,
            Specifier: self.Specifier,
        }
    }
}

impl From<KSDATAFORMAT> for KSDATARANGE {
    fn from(f: KSDATAFORMAT) -> Self {
        Self::from_format(f)
    }
}

impl From<KSDATARANGE> for KSDATAFORMAT {
    fn from(r: KSDATARANGE) -> Self {
        r.format()
    }
}

/// `KSDATARANGE_MUSIC` (ksmedia.h): a MIDI or DirectMusic data range. The extras play no part
/// in matching a client's format (`kernel.md` §4.2).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSDATARANGE_MUSIC {
    /// The header; `FormatSize` = `size_of::<KSDATARANGE_MUSIC>()` (96).
    pub DataRange: KSDATARANGE,
    /// `KSMUSIC_TECHNOLOGY_*` ([`KSMUSIC_TECHNOLOGY_PORT`] for DMusUART).
    pub Technology: GUID,
    /// Channels (DMusUART: 0).
    pub Channels: u32,
    /// Simultaneous notes (DMusUART: 0).
    pub Notes: u32,
    /// Channels used, one bit each (DMusUART: 0xFFFF).
    pub ChannelMask: u32,
}

impl KSDATARANGE_MUSIC {
    /// A pointer to this range as the [`KSDATARANGE`] it begins with, for a
    /// [`DataRangeTable`]: it covers the whole music range, so a reader that follows
    /// `FormatSize` may read all of it.
    pub const fn as_data_range(&self) -> *const KSDATARANGE {
        ptr::from_ref(self).cast()
    }
}

/// `const PKSDATARANGE DataRanges[N]`: the data-range pointers a [`KSPIN_DESCRIPTOR`] points
/// to, as a type that can be a `static`.
///
/// ```
/// use mxf::abi::*;
/// static MIDI: KSDATARANGE_MUSIC = KSDATARANGE_MUSIC {
///     DataRange: KSDATARANGE {
///         FormatSize: size_of::<KSDATARANGE_MUSIC>() as u32,
///         Flags: 0,
///         SampleSize: 0,
///         Reserved: 0,
///         MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
///         SubFormat: KSDATAFORMAT_SUBTYPE_MIDI,
///         Specifier: KSDATAFORMAT_SPECIFIER_NONE,
///     },
///     Technology: KSMUSIC_TECHNOLOGY_PORT,
///     Channels: 0,
///     Notes: 0,
///     ChannelMask: 0xFFFF,
/// };
/// static RANGES: DataRangeTable<1> = DataRangeTable([MIDI.as_data_range()]);
/// assert_eq!(RANGES.count(), 1);
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct DataRangeTable<const N: usize>(pub [*const KSDATARANGE; N]);

// SAFETY: the table only holds pointer values; no method of it or of the descriptors that point
// to it dereferences them. Whoever does (the port, through the raw pointers) relies on the
// descriptor contract: they point to immutable 'static data ranges.
unsafe impl<const N: usize> Sync for DataRangeTable<N> {}

impl<const N: usize> DataRangeTable<N> {
    /// The array, for [`KSPIN_DESCRIPTOR::DataRanges`].
    pub const fn as_ptr(&self) -> *const *const KSDATARANGE {
        self.0.as_ptr()
    }

    /// `N`, for [`KSPIN_DESCRIPTOR::DataRangesCount`].
    pub const fn count(&self) -> u32 {
        count_u32(N)
    }
}

/// The constrained ranges of [`KSPIN_DESCRIPTOR_0`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KSPIN_DESCRIPTOR_0_0 {
    /// Number of entries at `ConstrainedDataRanges`.
    pub ConstrainedDataRangesCount: u32,
    /// `PKSDATARANGE *`: ranges with required attributes.
    pub ConstrainedDataRanges: *mut *mut KSDATARANGE,
}

/// The union that ends a [`KSPIN_DESCRIPTOR`]: `LONGLONG Reserved` or the constrained ranges.
/// PortCls drivers leave it zero ([`KSPIN_DESCRIPTOR_0::ZERO`]).
///
/// `align(8)`: the alignment of the header's `LONGLONG` on Windows, also on 32-bit x86.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub union KSPIN_DESCRIPTOR_0 {
    /// Zero.
    pub Reserved: i64,
    /// Ranges with required attributes.
    pub Anonymous: KSPIN_DESCRIPTOR_0_0,
}

impl KSPIN_DESCRIPTOR_0 {
    /// Every byte zero: `Reserved = 0`, no constrained ranges.
    // SAFETY: all-zero bytes are a valid `i64` and a valid `KSPIN_DESCRIPTOR_0_0` (an integer
    // and a null pointer), so every member reads as initialised.
    pub const ZERO: Self = unsafe { core::mem::zeroed() };
}

/// `KSPIN_DESCRIPTOR` (ks.h): one pin factory as KS sees it, inside a [`PCPIN_DESCRIPTOR`].
///
/// No interfaces and no mediums mean standard streaming and DEVIO (`kernel.md` §4.2).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KSPIN_DESCRIPTOR {
    /// Entries at `Interfaces`.
    pub InterfacesCount: u32,
    /// The interfaces, or NULL.
    pub Interfaces: *const KSPIN_INTERFACE,
    /// Entries at `Mediums`.
    pub MediumsCount: u32,
    /// The mediums, or NULL.
    pub Mediums: *const KSPIN_MEDIUM,
    /// Entries at `DataRanges`.
    pub DataRangesCount: u32,
    /// `const PKSDATARANGE *`: the accepted ranges, in order ([`DataRangeTable::as_ptr`]). The
    /// header's pointees are not `const`; mxf's tables are immutable, and the port never writes
    /// through them.
    pub DataRanges: *const *const KSDATARANGE,
    /// Which way data flows.
    pub DataFlow: KSPIN_DATAFLOW,
    /// How the pin connects.
    pub Communication: KSPIN_COMMUNICATION,
    /// The pin category (DMusUART: [`KSCATEGORY_AUDIO`]), or NULL.
    pub Category: *const GUID,
    /// The pin name (`KSAUDFNAME_*`), or NULL.
    pub Name: *const GUID,
    /// Reserved (zero) or constrained ranges.
    pub Anonymous: KSPIN_DESCRIPTOR_0,
}

impl fmt::Debug for KSPIN_DESCRIPTOR {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The union is not printed: which member is meaningful is not known here.
        f.debug_struct("KSPIN_DESCRIPTOR")
            .field("InterfacesCount", &self.InterfacesCount)
            .field("Interfaces", &self.Interfaces)
            .field("MediumsCount", &self.MediumsCount)
            .field("Mediums", &self.Mediums)
            .field("DataRangesCount", &self.DataRangesCount)
            .field("DataRanges", &self.DataRanges)
            .field("DataFlow", &self.DataFlow)
            .field("Communication", &self.Communication)
            .field("Category", &self.Category)
            .field("Name", &self.Name)
            .finish_non_exhaustive()
    }
}

// SAFETY: no method dereferences the pointers; sharing a descriptor shares pointer values only.
// Whoever dereferences them (the port) relies on the descriptor contract: immutable 'static data.
unsafe impl Sync for KSPIN_DESCRIPTOR {}

// ---------------------------------------------------------------------------------------------
// PortCls structures

/// `PCPFNPROPERTY_HANDLER` (ddk/portcls.h): a property handler. The port calls it with a
/// request valid for the call; it returns an `NTSTATUS` and sets `ValueSize` to the bytes
/// written (`kernel.md` §4.6). Where the header allows NULL it is wrapped in `Option`.
pub type PCPFNPROPERTY_HANDLER = unsafe extern "system" fn(*mut PCPROPERTY_REQUEST) -> NTSTATUS;
/// `PCPFNMETHOD_HANDLER` (ddk/portcls.h): a method handler.
pub type PCPFNMETHOD_HANDLER = unsafe extern "system" fn(*mut PCMETHOD_REQUEST) -> NTSTATUS;
/// `PCPFNEVENT_HANDLER` (ddk/portcls.h): an event handler.
pub type PCPFNEVENT_HANDLER = unsafe extern "system" fn(*mut PCEVENT_REQUEST) -> NTSTATUS;

/// `PCPROPERTY_ITEM` (ddk/portcls.h): one property a filter, pin or node supports.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPROPERTY_ITEM {
    /// The property set.
    pub Set: *const GUID,
    /// The property in the set.
    pub Id: u32,
    /// `PCPROPERTY_ITEM_FLAG_*`: the verbs the handler serves.
    pub Flags: u32,
    /// The handler, or `None`: the port answers itself.
    pub Handler: Option<PCPFNPROPERTY_HANDLER>,
}

// SAFETY: as for `KSPIN_DESCRIPTOR`: pointer values only; `Set` points to an immutable 'static
// GUID, and a function pointer is shareable.
unsafe impl Sync for PCPROPERTY_ITEM {}

/// `PCMETHOD_ITEM` (ddk/portcls.h): one method a filter, pin or node supports.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCMETHOD_ITEM {
    /// The method set.
    pub Set: *const GUID,
    /// The method in the set.
    pub Id: u32,
    /// `KSMETHOD_TYPE_*` flags.
    pub Flags: u32,
    /// The handler, or `None`.
    pub Handler: Option<PCPFNMETHOD_HANDLER>,
}

// SAFETY: as for `PCPROPERTY_ITEM`.
unsafe impl Sync for PCMETHOD_ITEM {}

/// `PCEVENT_ITEM` (ddk/portcls.h): one event a filter, pin or node supports.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCEVENT_ITEM {
    /// The event set.
    pub Set: *const GUID,
    /// The event in the set.
    pub Id: u32,
    /// `KSEVENT_TYPE_*` flags.
    pub Flags: u32,
    /// The handler, or `None`.
    pub Handler: Option<PCPFNEVENT_HANDLER>,
}

// SAFETY: as for `PCPROPERTY_ITEM`.
unsafe impl Sync for PCEVENT_ITEM {}

/// `PCPROPERTY_REQUEST` (ddk/portcls.h): what a property handler receives (`kernel.md` §4.6).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPROPERTY_REQUEST {
    /// `PUNKNOWN`: the miniport's unknown given to `IPort::Init`.
    pub MajorTarget: *mut c_void,
    /// `PUNKNOWN`: the stream `NewStream` returned, on a pin handle; NULL on the filter.
    pub MinorTarget: *mut c_void,
    /// The node of a [`KSPROPERTY_TYPE_TOPOLOGY`] request, else `u32::MAX`.
    pub Node: u32,
    /// The item that matched.
    pub PropertyItem: *const PCPROPERTY_ITEM,
    /// `KSPROPERTY_TYPE_*` verb.
    pub Verb: u32,
    /// Bytes at `Instance`.
    pub InstanceSize: u32,
    /// Input after the `KSPROPERTY` / `KSNODEPROPERTY` header, or NULL.
    pub Instance: *mut c_void,
    /// Bytes at `Value`; the handler sets it to the bytes written.
    pub ValueSize: u32,
    /// The output buffer, or NULL.
    pub Value: *mut c_void,
    /// `PIRP` of the request.
    pub Irp: *mut c_void,
}

/// `PCMETHOD_REQUEST` (ddk/portcls.h): what a method handler receives.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCMETHOD_REQUEST {
    /// `PUNKNOWN`: the miniport.
    pub MajorTarget: *mut c_void,
    /// `PUNKNOWN`: the stream, or NULL.
    pub MinorTarget: *mut c_void,
    /// The node, or `u32::MAX`.
    pub Node: u32,
    /// The item that matched.
    pub MethodItem: *const PCMETHOD_ITEM,
    /// `KSMETHOD_TYPE_*` verb.
    pub Verb: u32,
}

/// `PCEVENT_REQUEST` (ddk/portcls.h): what an event handler receives.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCEVENT_REQUEST {
    /// `PUNKNOWN`: the miniport.
    pub MajorTarget: *mut c_void,
    /// `PUNKNOWN`: the stream, or NULL.
    pub MinorTarget: *mut c_void,
    /// The node, or `u32::MAX`.
    pub Node: u32,
    /// The item that matched.
    pub EventItem: *const PCEVENT_ITEM,
    /// `PKSEVENT_ENTRY` (opaque here).
    pub EventEntry: *mut c_void,
    /// `PCEVENT_VERB_*`.
    pub Verb: u32,
    /// `PIRP` of the request.
    pub Irp: *mut c_void,
}

/// `PCAUTOMATION_TABLE` (ddk/portcls.h): the properties, methods and events of a filter, pin or
/// node. Item sizes let the port walk tables of larger items.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCAUTOMATION_TABLE {
    /// `sizeof(PCPROPERTY_ITEM)`.
    pub PropertyItemSize: u32,
    /// Entries at `Properties`.
    pub PropertyCount: u32,
    /// The properties, or NULL.
    pub Properties: *const PCPROPERTY_ITEM,
    /// `sizeof(PCMETHOD_ITEM)`, or 0.
    pub MethodItemSize: u32,
    /// Entries at `Methods`.
    pub MethodCount: u32,
    /// The methods, or NULL.
    pub Methods: *const PCMETHOD_ITEM,
    /// `sizeof(PCEVENT_ITEM)`, or 0.
    pub EventItemSize: u32,
    /// Entries at `Events`.
    pub EventCount: u32,
    /// The events, or NULL.
    pub Events: *const PCEVENT_ITEM,
    /// Zero.
    pub Reserved: u32,
}

impl PCAUTOMATION_TABLE {
    /// `DEFINE_PCAUTOMATION_TABLE_PROP`: a table of `properties` only.
    pub const fn properties(properties: &'static [PCPROPERTY_ITEM]) -> Self {
        Self {
            PropertyItemSize: size_of::<PCPROPERTY_ITEM>() as u32,
            PropertyCount: count_u32(properties.len()),
            Properties: properties.as_ptr(),
            MethodItemSize: 0,
            MethodCount: 0,
            Methods: ptr::null(),
            EventItemSize: 0,
            EventCount: 0,
            Events: ptr::null(),
            Reserved: 0,
        }
    }
}

// SAFETY: as for `KSPIN_DESCRIPTOR`.
unsafe impl Sync for PCAUTOMATION_TABLE {}

/// `PCPIN_DESCRIPTOR` (ddk/portcls.h): one pin factory of a PortCls filter.
///
/// Instance counts: 0 = never instantiable, `u32::MAX` = unlimited; bridge pins take 0/0/0 and
/// no automation table (`kernel.md` §4.3).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPIN_DESCRIPTOR {
    /// Pins of this factory in the whole system.
    pub MaxGlobalInstanceCount: u32,
    /// Pins of this factory per filter.
    pub MaxFilterInstanceCount: u32,
    /// Pins of this factory the filter needs.
    pub MinFilterInstanceCount: u32,
    /// The pin's properties, or NULL.
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    /// The factory as KS sees it.
    pub KsPinDescriptor: KSPIN_DESCRIPTOR,
}

// SAFETY: as for `KSPIN_DESCRIPTOR`.
unsafe impl Sync for PCPIN_DESCRIPTOR {}

/// `PCNODE_DESCRIPTOR` (ddk/portcls.h): one node of a PortCls filter's topology.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCNODE_DESCRIPTOR {
    /// Zero.
    pub Flags: u32,
    /// The node's properties, or NULL.
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    /// The node type (`KSNODETYPE_*`).
    pub Type: *const GUID,
    /// The node name, or NULL.
    pub Name: *const GUID,
}

// SAFETY: as for `KSPIN_DESCRIPTOR`.
unsafe impl Sync for PCNODE_DESCRIPTOR {}

/// `PCCONNECTION_DESCRIPTOR` (ddk/portcls.h): one edge of the topology, node pin to node pin;
/// a node of [`PCFILTER_NODE`] is the filter, its pin a pin factory. Same layout as
/// `KSTOPOLOGY_CONNECTION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PCCONNECTION_DESCRIPTOR {
    /// Source node, or [`PCFILTER_NODE`].
    pub FromNode: u32,
    /// Pin of the source node (a node's output pin is 0).
    pub FromNodePin: u32,
    /// Destination node, or [`PCFILTER_NODE`].
    pub ToNode: u32,
    /// Pin of the destination node (a node's input pin is 1).
    pub ToNodePin: u32,
}

/// `PCFILTER_DESCRIPTOR` (ddk/portcls.h): what `IMiniport::GetDescription` returns. The port
/// walks `Pins` by `PinSize` and `Nodes` by `NodeSize` (`kernel.md` §4.1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCFILTER_DESCRIPTOR {
    /// Zero.
    pub Version: u32,
    /// The filter's properties, or NULL.
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    /// `sizeof(PCPIN_DESCRIPTOR)`.
    pub PinSize: u32,
    /// Entries at `Pins`.
    pub PinCount: u32,
    /// The pin factories; a factory's id is its index.
    pub Pins: *const PCPIN_DESCRIPTOR,
    /// `sizeof(PCNODE_DESCRIPTOR)`.
    pub NodeSize: u32,
    /// Entries at `Nodes`.
    pub NodeCount: u32,
    /// The nodes; a node's id is its index.
    pub Nodes: *const PCNODE_DESCRIPTOR,
    /// Entries at `Connections`.
    pub ConnectionCount: u32,
    /// The topology.
    pub Connections: *const PCCONNECTION_DESCRIPTOR,
    /// Entries at `Categories`.
    pub CategoryCount: u32,
    /// The filter categories (keep them identical to the INF's `AddInterface` lines).
    pub Categories: *const GUID,
}

// SAFETY: as for `KSPIN_DESCRIPTOR`.
unsafe impl Sync for PCFILTER_DESCRIPTOR {}

// ---------------------------------------------------------------------------------------------
// dmusprop.h (not in mingw-w64)

/// `SYNTHCAPS` (dmusprop.h; not in mingw-w64): the value of [`KSPROPERTY_SYNTH_CAPS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SYNTHCAPS {
    /// The synth's class id (DMusUART: `CLSID_MiniportDriverDMusUART` or `…Capture`).
    pub Guid: GUID,
    /// `SYNTH_PC_*` flags.
    pub Flags: u32,
    /// Sample memory in bytes, or [`SYNTH_PC_SYSTEMMEMORY`].
    pub MemorySize: u32,
    /// Channel groups supported.
    pub MaxChannelGroups: u32,
    /// Voices (DMusUART: `0xFFFFFFFF`).
    pub MaxVoices: u32,
    /// Audio channels (DMusUART: `0xFFFFFFFF`).
    pub MaxAudioChannels: u32,
    /// `SYNTH_EFFECT_*` flags.
    pub EffectFlags: u32,
    /// A NUL-terminated UTF-16 description.
    pub Description: [u16; 128],
}

impl SYNTHCAPS {
    /// Every field zero (DMusUART zeroes the caps before filling them).
    pub const ZERO: Self = Self {
        Guid: GUID::NULL,
        Flags: 0,
        MemorySize: 0,
        MaxChannelGroups: 0,
        MaxVoices: 0,
        MaxAudioChannels: 0,
        EffectFlags: 0,
        Description: [0; 128],
    };

    /// Writes `text` into `Description` as UTF-16, NUL-terminated and NUL-padded: at most 127
    /// units are kept, and a surrogate pair cut at that limit is dropped whole.
    pub fn set_description(&mut self, text: &str) {
        let Some((last, body)) = self.Description.split_last_mut() else {
            return;
        };
        let mut units = text.encode_utf16();
        for unit in body.iter_mut() {
            *unit = units.next().unwrap_or(0);
        }
        *last = 0;
        // A high surrogate whose low half did not fit is not a character.
        if let Some(unit) = body.last_mut()
            && (0xD800..0xDC00).contains(unit)
        {
            *unit = 0;
        }
    }
}

impl Default for SYNTHCAPS {
    fn default() -> Self {
        Self::ZERO
    }
}

/// `SYNTH_PORTPARAMS` (dmusprop.h; not in mingw-w64): instance and value of
/// [`KSPROPERTY_SYNTH_PORTPARAMETERS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SYNTH_PORTPARAMS {
    /// `SYNTH_PORTPARAMS_*`: which of the other fields are meaningful.
    pub ValidParams: u32,
    /// Voices.
    pub Voices: u32,
    /// Channel groups.
    pub ChannelGroups: u32,
    /// Audio channels.
    pub AudioChannels: u32,
    /// Sample rate.
    pub SampleRate: u32,
    /// `SYNTH_EFFECT_*` flags.
    pub EffectsFlags: u32,
    /// Nonzero to share the port.
    pub Share: u32,
}

// ---------------------------------------------------------------------------------------------
// Layouts, asserted at compile time

/// Asserts the size, alignment and field offsets of each type (evaluated by the compiler only).
macro_rules! assert_layout {
    ($( $ty:ident: size $size:literal, align $align:literal { $( $($field:ident).+ @ $off:literal ),* $(,)? } )*) => {
        $(
            const _: () = {
                assert!(
                    size_of::<$ty>() == $size,
                    concat!("sizeof(", stringify!($ty), ") differs from the header")
                );
                assert!(
                    align_of::<$ty>() == $align,
                    concat!("alignof(", stringify!($ty), ") differs from the header")
                );
                $(
                    assert!(
                        offset_of!($ty, $($field).+) == $off,
                        concat!(
                            "offsetof(", stringify!($ty), ", ", stringify!($($field).+),
                            ") differs from the header"
                        )
                    );
                )*
            };
        )*
    };
}

// Both pointer widths.
assert_layout! {
    KSIDENTIFIER: size 24, align 8 { Set @ 0, Id @ 16, Flags @ 20 }
    KSNODEPROPERTY: size 32, align 8 { Property @ 0, NodeId @ 24, Reserved @ 28 }
    KSPRIORITY: size 8, align 4 { PriorityClass @ 0, PrioritySubClass @ 4 }
    KSDATARANGE: size 64, align 8 {
        FormatSize @ 0, Flags @ 4, SampleSize @ 8, Reserved @ 12,
        MajorFormat @ 16, SubFormat @ 32, Specifier @ 48,
    }
    KSDATARANGE_MUSIC: size 96, align 8 {
        DataRange @ 0, Technology @ 64, Channels @ 80, Notes @ 84, ChannelMask @ 88,
    }
    KSPIN_DATAFLOW: size 4, align 4 {}
    KSPIN_COMMUNICATION: size 4, align 4 {}
    PCCONNECTION_DESCRIPTOR: size 16, align 4 {
        FromNode @ 0, FromNodePin @ 4, ToNode @ 8, ToNodePin @ 12,
    }
    SYNTHCAPS: size 296, align 4 {
        Guid @ 0, Flags @ 16, MemorySize @ 20, MaxChannelGroups @ 24, MaxVoices @ 28,
        MaxAudioChannels @ 32, EffectFlags @ 36, Description @ 40,
    }
    SYNTH_PORTPARAMS: size 28, align 4 {
        ValidParams @ 0, Voices @ 4, ChannelGroups @ 8, AudioChannels @ 12, SampleRate @ 16,
        EffectsFlags @ 20, Share @ 24,
    }
}

// x64 (and every 64-bit target): the numbers mingw-w64's x86_64 compiler gives the headers.
#[cfg(target_pointer_width = "64")]
assert_layout! {
    KSPIN_CONNECT: size 72, align 8 {
        Interface @ 0, Medium @ 24, PinId @ 48, PinToHandle @ 56, Priority @ 64,
    }
    KSPIN_DESCRIPTOR: size 88, align 8 {
        InterfacesCount @ 0, Interfaces @ 8, MediumsCount @ 16, Mediums @ 24,
        DataRangesCount @ 32, DataRanges @ 40, DataFlow @ 48, Communication @ 52,
        Category @ 56, Name @ 64, Anonymous.Reserved @ 72,
        Anonymous.Anonymous.ConstrainedDataRangesCount @ 72,
        Anonymous.Anonymous.ConstrainedDataRanges @ 80,
    }
    PCPROPERTY_ITEM: size 24, align 8 { Set @ 0, Id @ 8, Flags @ 12, Handler @ 16 }
    PCMETHOD_ITEM: size 24, align 8 { Set @ 0, Id @ 8, Flags @ 12, Handler @ 16 }
    PCEVENT_ITEM: size 24, align 8 { Set @ 0, Id @ 8, Flags @ 12, Handler @ 16 }
    PCPROPERTY_REQUEST: size 72, align 8 {
        MajorTarget @ 0, MinorTarget @ 8, Node @ 16, PropertyItem @ 24, Verb @ 32,
        InstanceSize @ 36, Instance @ 40, ValueSize @ 48, Value @ 56, Irp @ 64,
    }
    PCMETHOD_REQUEST: size 40, align 8 {
        MajorTarget @ 0, MinorTarget @ 8, Node @ 16, MethodItem @ 24, Verb @ 32,
    }
    PCEVENT_REQUEST: size 56, align 8 {
        MajorTarget @ 0, MinorTarget @ 8, Node @ 16, EventItem @ 24, EventEntry @ 32,
        Verb @ 40, Irp @ 48,
    }
    PCAUTOMATION_TABLE: size 56, align 8 {
        PropertyItemSize @ 0, PropertyCount @ 4, Properties @ 8, MethodItemSize @ 16,
        MethodCount @ 20, Methods @ 24, EventItemSize @ 32, EventCount @ 36, Events @ 40,
        Reserved @ 48,
    }
    PCPIN_DESCRIPTOR: size 112, align 8 {
        MaxGlobalInstanceCount @ 0, MaxFilterInstanceCount @ 4, MinFilterInstanceCount @ 8,
        AutomationTable @ 16, KsPinDescriptor @ 24,
    }
    PCNODE_DESCRIPTOR: size 32, align 8 { Flags @ 0, AutomationTable @ 8, Type @ 16, Name @ 24 }
    PCFILTER_DESCRIPTOR: size 80, align 8 {
        Version @ 0, AutomationTable @ 8, PinSize @ 16, PinCount @ 20, Pins @ 24, NodeSize @ 32,
        NodeCount @ 36, Nodes @ 40, ConnectionCount @ 48, Connections @ 56, CategoryCount @ 64,
        Categories @ 72,
    }
}

// x86 (and every 32-bit target): the numbers mingw-w64's i686 compiler gives the headers.
#[cfg(target_pointer_width = "32")]
assert_layout! {
    KSPIN_CONNECT: size 64, align 8 {
        Interface @ 0, Medium @ 24, PinId @ 48, PinToHandle @ 52, Priority @ 56,
    }
    KSPIN_DESCRIPTOR: size 48, align 8 {
        InterfacesCount @ 0, Interfaces @ 4, MediumsCount @ 8, Mediums @ 12,
        DataRangesCount @ 16, DataRanges @ 20, DataFlow @ 24, Communication @ 28,
        Category @ 32, Name @ 36, Anonymous.Reserved @ 40,
        Anonymous.Anonymous.ConstrainedDataRangesCount @ 40,
        Anonymous.Anonymous.ConstrainedDataRanges @ 44,
    }
    PCPROPERTY_ITEM: size 16, align 4 { Set @ 0, Id @ 4, Flags @ 8, Handler @ 12 }
    PCMETHOD_ITEM: size 16, align 4 { Set @ 0, Id @ 4, Flags @ 8, Handler @ 12 }
    PCEVENT_ITEM: size 16, align 4 { Set @ 0, Id @ 4, Flags @ 8, Handler @ 12 }
    PCPROPERTY_REQUEST: size 40, align 4 {
        MajorTarget @ 0, MinorTarget @ 4, Node @ 8, PropertyItem @ 12, Verb @ 16,
        InstanceSize @ 20, Instance @ 24, ValueSize @ 28, Value @ 32, Irp @ 36,
    }
    PCMETHOD_REQUEST: size 20, align 4 {
        MajorTarget @ 0, MinorTarget @ 4, Node @ 8, MethodItem @ 12, Verb @ 16,
    }
    PCEVENT_REQUEST: size 28, align 4 {
        MajorTarget @ 0, MinorTarget @ 4, Node @ 8, EventItem @ 12, EventEntry @ 16,
        Verb @ 20, Irp @ 24,
    }
    PCAUTOMATION_TABLE: size 40, align 4 {
        PropertyItemSize @ 0, PropertyCount @ 4, Properties @ 8, MethodItemSize @ 12,
        MethodCount @ 16, Methods @ 20, EventItemSize @ 24, EventCount @ 28, Events @ 32,
        Reserved @ 36,
    }
    PCPIN_DESCRIPTOR: size 64, align 8 {
        MaxGlobalInstanceCount @ 0, MaxFilterInstanceCount @ 4, MinFilterInstanceCount @ 8,
        AutomationTable @ 12, KsPinDescriptor @ 16,
    }
    PCNODE_DESCRIPTOR: size 16, align 4 { Flags @ 0, AutomationTable @ 4, Type @ 8, Name @ 12 }
    PCFILTER_DESCRIPTOR: size 48, align 4 {
        Version @ 0, AutomationTable @ 4, PinSize @ 8, PinCount @ 12, Pins @ 16, NodeSize @ 20,
        NodeCount @ 24, Nodes @ 28, ConnectionCount @ 32, Connections @ 36, CategoryCount @ 40,
        Categories @ 44,
    }
}

const _: () = {
    // The handler slots are nullable function pointers, one pointer wide.
    assert!(size_of::<Option<PCPFNPROPERTY_HANDLER>>() == size_of::<*const c_void>());
    assert!(size_of::<DataRangeTable<3>>() == 3 * size_of::<*const c_void>());
    // KSDATARANGE is KSDATAFORMAT with the header's alignment.
    assert!(size_of::<KSDATARANGE>() == size_of::<KSDATAFORMAT>());
    // KSP_PIN and KSNODEPROPERTY: 32 bytes; KSMULTIPLE_ITEM, KSPIN_CINSTANCES: 8.
    assert!(size_of::<KSP_PIN>() == 32 && size_of::<KSNODEPROPERTY>() == 32);
    assert!(size_of::<KSMULTIPLE_ITEM>() == 8 && size_of::<KSPIN_CINSTANCES>() == 8);
};

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::abi::{
        CLSID_MiniportDriverDMusUART, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSDATAFORMAT_SUBTYPE_MIDI,
        KSDATAFORMAT_TYPE_MUSIC, STATUS_BUFFER_OVERFLOW, STATUS_SUCCESS,
    };
    use std::format;
    use std::vec::Vec;

    /// A GUID from a header's value list (`STATIC_…` / `DEFINE_GUID`), written independently of
    /// the registry strings the constants are parsed from.
    const fn g(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> GUID {
        GUID {
            Data1: d1,
            Data2: d2,
            Data3: d3,
            Data4: d4,
        }
    }

    /// `[(name, constant, GUID built from the header's value list)]`.
    macro_rules! value_lists {
        ($( $name:ident = $d1:literal, $d2:literal, $d3:literal, $d4:expr; )*) => {
            [$( (stringify!($name), $name, g($d1, $d2, $d3, $d4)) ),*]
        };
    }

    #[test]
    fn guids_equal_the_headers_value_lists() {
        let cases = value_lists! {
            // ksmedia.h / ks.h STATIC_ lists
            KSDATAFORMAT_SUBTYPE_MIDI_BUS = 0x2CA15FA0, 0x6CFE, 0x11CF, [0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1, 0x00, 0x00];
            KSDATAFORMAT_SPECIFIER_NONE = 0x0F6417D6, 0xC318, 0x11D0, [0xA4, 0x3F, 0x00, 0xA0, 0xC9, 0x22, 0x31, 0x96];
            KSMUSIC_TECHNOLOGY_PORT = 0x86C92E60, 0x62E8, 0x11CF, [0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1, 0x00, 0x00];
            KSCATEGORY_AUDIO = 0x6994AD04, 0x93EF, 0x11D0, [0xA3, 0xCC, 0x00, 0xA0, 0xC9, 0x22, 0x31, 0x96];
            KSCATEGORY_RENDER = 0x65E8773E, 0x8F56, 0x11D0, [0xA3, 0xB9, 0x00, 0xA0, 0xC9, 0x22, 0x31, 0x96];
            KSCATEGORY_CAPTURE = 0x65E8773D, 0x8F56, 0x11D0, [0xA3, 0xB9, 0x00, 0xA0, 0xC9, 0x22, 0x31, 0x96];
            KSNODETYPE_SYNTHESIZER = 0xDFF220F3, 0xF70F, 0x11D0, [0xB9, 0x17, 0x00, 0xA0, 0xC9, 0x22, 0x31, 0x96];
            KSAUDFNAME_MIDI = 0x185FEDF8, 0x9905, 0x11D1, [0x95, 0xA9, 0x00, 0xC0, 0x4F, 0xB9, 0x25, 0xD3];
            KSNAME_Pin = 0x146F1A80, 0x4791, 0x11D0, [0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1, 0x00, 0x00];
            KSPROPSETID_Pin = 0x8C134960, 0x51AD, 0x11CF, [0x87, 0x8A, 0x94, 0xF8, 0x01, 0xC1, 0x00, 0x00];
            // ddk/portcls.h DEFINE_GUID
            IID_IResourceList = 0x22C6AC60, 0x851B, 0x11D0, [0x9A, 0x7F, 0x00, 0xAA, 0x00, 0x38, 0xAC, 0xFE];
            IID_IInterruptSync = 0x22C6AC63, 0x851B, 0x11D0, [0x9A, 0x7F, 0x00, 0xAA, 0x00, 0x38, 0xAC, 0xFE];
            IID_IPinCount = 0x5dadb7dc, 0xa2cb, 0x4540, [0xa4, 0xa8, 0x42, 0x5e, 0xe4, 0xae, 0x90, 0x51];
            IID_IPowerNotify = 0x3DD648B8, 0x969F, 0x11D1, [0x95, 0xA9, 0x00, 0xC0, 0x4F, 0xB9, 0x25, 0xD3];
            // ksproxy.h, devguid.h, dmusicc.h (GUID_DMUS_PROP_Volume)
            CLSID_Proxy = 0x17CCA71B, 0xECD7, 0x11D0, [0xB9, 0x08, 0x00, 0xA0, 0xC9, 0x22, 0x31, 0x96];
            GUID_DEVCLASS_MEDIA = 0x4d36e96c, 0xe325, 0x11ce, [0xbf, 0xc1, 0x08, 0x00, 0x2b, 0xe1, 0x03, 0x18];
            KSPROPSETID_Synth = 0xfedfae25, 0xe46e, 0x11d1, [0xaa, 0xce, 0x00, 0x00, 0xf8, 0x75, 0xac, 0x12];
            // dmusprop.h, the WDK's dmusicks.h and portcls.h (not in mingw-w64)
            KSPROPSETID_Synth_Dls = 0xd523fa2c, 0xdee3, 0x11d1, [0xa7, 0x89, 0x00, 0x00, 0xf8, 0x75, 0xac, 0x12];
            KSPROPSETID_SynthClock = 0xfedfae26, 0xe46e, 0x11d1, [0xaa, 0xce, 0x00, 0x00, 0xf8, 0x75, 0xac, 0x12];
            KSNODETYPE_DMSYNTH = 0x94824f88, 0x6183, 0x11d2, [0x8f, 0x7a, 0x00, 0xc0, 0x4f, 0xbf, 0x8f, 0xef];
            KSNODETYPE_DMSYNTH_CAPS = 0xbca2a2f1, 0x93c6, 0x11d2, [0xba, 0x1d, 0x00, 0x00, 0xf8, 0x75, 0xac, 0x12];
            KSAUDFNAME_DMUSIC_MPU_OUT = 0xA4DF0EB5, 0xBAC9, 0x11d2, [0xB7, 0xA8, 0x00, 0x60, 0x08, 0x33, 0x16, 0xC1];
            KSAUDFNAME_DMUSIC_MPU_IN = 0xB2EC0A7D, 0xBAC9, 0x11d2, [0xB7, 0xA8, 0x00, 0x60, 0x08, 0x33, 0x16, 0xC1];
            IID_IMusicTechnology = 0x80396C3C, 0xCBCB, 0x409B, [0x9F, 0x65, 0x4F, 0x1E, 0x74, 0x67, 0xCD, 0xAF];
        };
        for (name, constant, header) in cases {
            assert_eq!(constant, header, "{name}");
        }
        // No two of them are the same GUID (a copy-paste slip would make two equal).
        let mut all: Vec<GUID> = cases.iter().map(|c| c.1).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), cases.len());
        // The SynthClock set is the Synth set's neighbour, as in dmusprop.h.
        assert_eq!(
            KSPROPSETID_SynthClock.to_u128(),
            KSPROPSETID_Synth.to_u128() + (1 << 96)
        );
    }

    #[test]
    fn flags_are_single_bits_of_the_header() {
        let single = [
            KSPROPERTY_TYPE_GET,
            KSPROPERTY_TYPE_SET,
            KSPROPERTY_TYPE_SETSUPPORT,
            KSPROPERTY_TYPE_BASICSUPPORT,
            KSPROPERTY_TYPE_RELATIONS,
            KSPROPERTY_TYPE_SERIALIZESET,
            KSPROPERTY_TYPE_UNSERIALIZESET,
            KSPROPERTY_TYPE_SERIALIZERAW,
            KSPROPERTY_TYPE_UNSERIALIZERAW,
            KSPROPERTY_TYPE_SERIALIZESIZE,
            KSPROPERTY_TYPE_DEFAULTVALUES,
            KSPROPERTY_TYPE_TOPOLOGY,
        ];
        let mut seen = 0u32;
        for f in single {
            assert_eq!(f.count_ones(), 1, "{f:#x}");
            assert_eq!(seen & f, 0, "{f:#x} repeats a bit");
            seen |= f;
        }
        assert_eq!(seen, 0x1001_FF03);
        assert_eq!(PCPROPERTY_ITEM_FLAG_SERIALIZE, 0xE000);
        // DMusUART's CAPS item and its BASICSUPPORT answer (kernel.md §4.7).
        assert_eq!(
            PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT,
            0x201
        );
        let pc = [
            SYNTH_PC_DLS,
            SYNTH_PC_EXTERNAL,
            SYNTH_PC_SOFTWARESYNTH,
            SYNTH_PC_MEMORYSIZEFIXED,
            SYNTH_PC_GMINHARDWARE,
            SYNTH_PC_GSINHARDWARE,
            SYNTH_PC_REVERB,
            SYNTH_PC_DLS2,
        ];
        assert_eq!(pc.iter().fold(0, |a, f| a | f), 0xFF);
        let valid = SYNTH_PORTPARAMS_VOICES
            | SYNTH_PORTPARAMS_CHANNELGROUPS
            | SYNTH_PORTPARAMS_AUDIOCHANNELS
            | SYNTH_PORTPARAMS_SAMPLERATE
            | SYNTH_PORTPARAMS_EFFECTS
            | SYNTH_PORTPARAMS_SHARE;
        assert_eq!(valid, 0x6F);
        assert_eq!(
            SYNTH_EFFECT_REVERB | SYNTH_EFFECT_CHORUS | SYNTH_EFFECT_DELAY,
            7
        );
        assert_eq!(SYNTH_EFFECT_NONE, 0);
        assert_eq!(PCFILTER_NODE, !0);
    }

    #[test]
    fn pin_enums_keep_unknown_values() {
        assert_eq!(KSPIN_DATAFLOW_IN.0, 1);
        assert_eq!(KSPIN_DATAFLOW_OUT.0, 2);
        assert_eq!(KSPIN_DATAFLOW(0).known(), None);
        assert_eq!(
            format!("{:?}", KSPIN_DATAFLOW(7)),
            "KSPIN_DATAFLOW(unknown 7)"
        );
        assert_eq!(KSPIN_COMMUNICATION_BRIDGE.0, 4);
        assert_eq!(KSPIN_COMMUNICATION(5).known(), None);
        assert_eq!(
            KSPIN_COMMUNICATION::from(KsPinCommunication::Sink),
            KSPIN_COMMUNICATION_SINK
        );
        assert_eq!(
            format!("{:?}", KSPIN_COMMUNICATION_NONE),
            "KSPIN_COMMUNICATION_NONE"
        );
    }

    #[test]
    fn data_range_and_format_convert_both_ways() {
        let f = KSDATAFORMAT {
            FormatSize: 64,
            Flags: 1,
            SampleSize: 2,
            Reserved: 3,
            MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
            SubFormat: KSDATAFORMAT_SUBTYPE_MIDI,
            Specifier: KSDATAFORMAT_SPECIFIER_NONE,
        };
        let r = KSDATARANGE::from(f);
        assert_eq!(r.SubFormat, KSDATAFORMAT_SUBTYPE_MIDI);
        assert_eq!(r.Reserved, 3);
        assert_eq!(KSDATAFORMAT::from(r), f);
    }

    #[test]
    fn description_is_utf16_nul_terminated_and_cut_whole() {
        let mut caps = SYNTHCAPS::ZERO;
        caps.Description = [0xFFFF; 128];
        caps.set_description("DMusic MPU-401 Out ");
        let text: Vec<u16> = "DMusic MPU-401 Out ".encode_utf16().collect();
        assert_eq!(&caps.Description[..text.len()], &text[..]);
        assert!(caps.Description[text.len()..].iter().all(|&u| u == 0));

        // 126 ASCII units, then a character needing a surrogate pair: it does not fit whole.
        let long = format!("{}\u{1F3B9}", "x".repeat(126));
        caps.set_description(&long);
        assert_eq!(caps.Description[125], u16::from(b'x'));
        assert_eq!(caps.Description[126], 0);
        assert_eq!(caps.Description[127], 0);
        // 125 units and the pair: it fits, and the NUL still ends the array.
        let fits = format!("{}\u{1F3B9}", "x".repeat(125));
        caps.set_description(&fits);
        assert_eq!(caps.Description[125], 0xD83C);
        assert_eq!(caps.Description[126], 0xDFB9);
        assert_eq!(caps.Description[127], 0);
    }

    // DMusUART's tables (kernel.md §4.7), as statics built in const context.

    const fn music_range(subformat: GUID) -> KSDATARANGE_MUSIC {
        KSDATARANGE_MUSIC {
            DataRange: KSDATARANGE {
                FormatSize: size_of::<KSDATARANGE_MUSIC>() as u32,
                Flags: 0,
                SampleSize: 0,
                Reserved: 0,
                MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
                SubFormat: subformat,
                Specifier: KSDATAFORMAT_SPECIFIER_NONE,
            },
            Technology: KSMUSIC_TECHNOLOGY_PORT,
            Channels: 0,
            Notes: 0,
            ChannelMask: 0xFFFF,
        }
    }

    static MIDI_RANGE: KSDATARANGE_MUSIC = music_range(KSDATAFORMAT_SUBTYPE_MIDI);
    static DM_RANGE: KSDATARANGE_MUSIC = music_range(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    static BRIDGE_RANGE: KSDATARANGE = KSDATARANGE {
        FormatSize: size_of::<KSDATARANGE>() as u32,
        Flags: 0,
        SampleSize: 0,
        Reserved: 0,
        MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
        SubFormat: KSDATAFORMAT_SUBTYPE_MIDI_BUS,
        Specifier: KSDATAFORMAT_SPECIFIER_NONE,
    };
    static MIDI_RANGES: DataRangeTable<1> = DataRangeTable([MIDI_RANGE.as_data_range()]);
    static DM_RANGES: DataRangeTable<1> = DataRangeTable([DM_RANGE.as_data_range()]);
    static BRIDGE_RANGES: DataRangeTable<1> = DataRangeTable([ptr::from_ref(&BRIDGE_RANGE)]);
    static CAPTURE_RANGES: DataRangeTable<2> =
        DataRangeTable([MIDI_RANGE.as_data_range(), DM_RANGE.as_data_range()]);

    const fn pin(
        counts: u32,
        ranges: (u32, *const *const KSDATARANGE),
        flow: KSPIN_DATAFLOW,
        communication: KSPIN_COMMUNICATION,
        name: *const GUID,
    ) -> PCPIN_DESCRIPTOR {
        PCPIN_DESCRIPTOR {
            MaxGlobalInstanceCount: counts,
            MaxFilterInstanceCount: counts,
            MinFilterInstanceCount: 0,
            AutomationTable: ptr::null(),
            KsPinDescriptor: KSPIN_DESCRIPTOR {
                InterfacesCount: 0,
                Interfaces: ptr::null(),
                MediumsCount: 0,
                Mediums: ptr::null(),
                DataRangesCount: ranges.0,
                DataRanges: ranges.1,
                DataFlow: flow,
                Communication: communication,
                Category: &KSCATEGORY_AUDIO,
                Name: name,
                Anonymous: KSPIN_DESCRIPTOR_0::ZERO,
            },
        }
    }

    static PINS: [PCPIN_DESCRIPTOR; 5] = [
        pin(
            1,
            (MIDI_RANGES.count(), MIDI_RANGES.as_ptr()),
            KSPIN_DATAFLOW_IN,
            KSPIN_COMMUNICATION_SINK,
            &KSAUDFNAME_MIDI,
        ),
        pin(
            1,
            (DM_RANGES.count(), DM_RANGES.as_ptr()),
            KSPIN_DATAFLOW_IN,
            KSPIN_COMMUNICATION_SINK,
            &KSAUDFNAME_DMUSIC_MPU_OUT,
        ),
        pin(
            0,
            (BRIDGE_RANGES.count(), BRIDGE_RANGES.as_ptr()),
            KSPIN_DATAFLOW_OUT,
            KSPIN_COMMUNICATION_NONE,
            ptr::null(),
        ),
        pin(
            0,
            (BRIDGE_RANGES.count(), BRIDGE_RANGES.as_ptr()),
            KSPIN_DATAFLOW_IN,
            KSPIN_COMMUNICATION_NONE,
            ptr::null(),
        ),
        pin(
            1,
            (CAPTURE_RANGES.count(), CAPTURE_RANGES.as_ptr()),
            KSPIN_DATAFLOW_OUT,
            KSPIN_COMMUNICATION_SINK,
            &KSAUDFNAME_DMUSIC_MPU_IN,
        ),
    ];

    /// A CAPS handler with DMusUART's size check (kernel.md §4.7).
    unsafe extern "system" fn caps_handler(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
        // SAFETY: the caller passes a valid request with a value buffer of `ValueSize` bytes.
        let request = unsafe { &mut *request };
        let need = size_of::<SYNTHCAPS>() as u32;
        if request.ValueSize == 0 {
            request.ValueSize = need;
            return STATUS_BUFFER_OVERFLOW;
        }
        let mut caps = SYNTHCAPS::ZERO;
        caps.Guid = CLSID_MiniportDriverDMusUART;
        caps.Flags = SYNTH_PC_EXTERNAL;
        caps.MaxChannelGroups = request.Node.wrapping_add(1);
        // SAFETY: `Value` holds at least `need` bytes (checked by the caller in this test).
        unsafe { request.Value.cast::<SYNTHCAPS>().write_unaligned(caps) };
        request.ValueSize = need;
        STATUS_SUCCESS
    }

    static SYNTH_PROPERTIES: [PCPROPERTY_ITEM; 2] = [
        PCPROPERTY_ITEM {
            Set: &KSPROPSETID_Synth,
            Id: KSPROPERTY_SYNTH_CAPS,
            Flags: PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT,
            Handler: Some(caps_handler),
        },
        PCPROPERTY_ITEM {
            Set: &KSPROPSETID_Synth,
            Id: KSPROPERTY_SYNTH_LATENCYCLOCK,
            Flags: PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT,
            Handler: None,
        },
    ];
    static SYNTH_AUTOMATION: PCAUTOMATION_TABLE = PCAUTOMATION_TABLE::properties(&SYNTH_PROPERTIES);

    static NODES: [PCNODE_DESCRIPTOR; 2] = [
        PCNODE_DESCRIPTOR {
            Flags: 0,
            AutomationTable: &SYNTH_AUTOMATION,
            Type: &KSNODETYPE_SYNTHESIZER,
            Name: ptr::null(),
        },
        PCNODE_DESCRIPTOR {
            Flags: 0,
            AutomationTable: &SYNTH_AUTOMATION,
            Type: &KSNODETYPE_SYNTHESIZER,
            Name: ptr::null(),
        },
    ];

    const fn edge(from: (u32, u32), to: (u32, u32)) -> PCCONNECTION_DESCRIPTOR {
        PCCONNECTION_DESCRIPTOR {
            FromNode: from.0,
            FromNodePin: from.1,
            ToNode: to.0,
            ToNodePin: to.1,
        }
    }
    const F: u32 = PCFILTER_NODE;
    static CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 5] = [
        edge((F, 0), (F, 2)),
        edge((F, 1), (0, 1)),
        edge((0, 0), (F, 2)),
        edge((F, 3), (1, 1)),
        edge((1, 0), (F, 4)),
    ];
    static CATEGORIES: [GUID; 3] = [KSCATEGORY_AUDIO, KSCATEGORY_RENDER, KSCATEGORY_CAPTURE];

    static FILTER: PCFILTER_DESCRIPTOR = PCFILTER_DESCRIPTOR {
        Version: 0,
        AutomationTable: ptr::null(),
        PinSize: size_of::<PCPIN_DESCRIPTOR>() as u32,
        PinCount: PINS.len() as u32,
        Pins: PINS.as_ptr(),
        NodeSize: size_of::<PCNODE_DESCRIPTOR>() as u32,
        NodeCount: NODES.len() as u32,
        Nodes: NODES.as_ptr(),
        ConnectionCount: CONNECTIONS.len() as u32,
        Connections: CONNECTIONS.as_ptr(),
        CategoryCount: CATEGORIES.len() as u32,
        Categories: CATEGORIES.as_ptr(),
    };

    /// The GUID at `p`.
    ///
    /// # Safety
    /// `p` points to a live GUID.
    unsafe fn guid_at(p: *const GUID) -> GUID {
        // SAFETY: forwarded.
        unsafe { p.read() }
    }

    #[test]
    fn static_descriptor_walks_as_the_port_walks_it() {
        let filter: *const PCFILTER_DESCRIPTOR = &FILTER;
        // SAFETY: from here on every pointer followed is one of the statics above, read as the
        // port reads them: pins by PinSize, nodes by NodeSize, ranges through their table.
        unsafe {
            let f = filter.read();
            assert_eq!(f.PinCount, 5);
            let mut seen = Vec::new();
            for i in 0..f.PinCount as usize {
                let pin = f
                    .Pins
                    .cast::<u8>()
                    .add(i * f.PinSize as usize)
                    .cast::<PCPIN_DESCRIPTOR>()
                    .read();
                let ks = pin.KsPinDescriptor;
                assert_eq!(guid_at(ks.Category), KSCATEGORY_AUDIO);
                assert_eq!(ks.Anonymous.Reserved, 0);
                let mut subformats = Vec::new();
                for r in 0..ks.DataRangesCount as usize {
                    let range = *ks.DataRanges.add(r);
                    let header = range.read();
                    assert_eq!(header.MajorFormat, KSDATAFORMAT_TYPE_MUSIC);
                    assert_eq!(header.Specifier, KSDATAFORMAT_SPECIFIER_NONE);
                    if header.FormatSize as usize == size_of::<KSDATARANGE_MUSIC>() {
                        // A music range read whole through its KSDATARANGE pointer.
                        let music = range.cast::<KSDATARANGE_MUSIC>().read();
                        assert_eq!(music.Technology, KSMUSIC_TECHNOLOGY_PORT);
                        assert_eq!(music.ChannelMask, 0xFFFF);
                    } else {
                        assert_eq!(header.FormatSize, 64);
                    }
                    subformats.push(header.SubFormat);
                }
                let name = (!ks.Name.is_null()).then(|| guid_at(ks.Name));
                seen.push((
                    pin.MaxFilterInstanceCount,
                    ks.DataFlow,
                    ks.Communication,
                    subformats,
                    name,
                ));
            }
            let sink = KSPIN_COMMUNICATION_SINK;
            let none = KSPIN_COMMUNICATION_NONE;
            let (midi, dm, bus) = (
                KSDATAFORMAT_SUBTYPE_MIDI,
                KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
                KSDATAFORMAT_SUBTYPE_MIDI_BUS,
            );
            assert_eq!(
                seen,
                [
                    (
                        1,
                        KSPIN_DATAFLOW_IN,
                        sink,
                        [midi].to_vec(),
                        Some(KSAUDFNAME_MIDI)
                    ),
                    (
                        1,
                        KSPIN_DATAFLOW_IN,
                        sink,
                        [dm].to_vec(),
                        Some(KSAUDFNAME_DMUSIC_MPU_OUT)
                    ),
                    (0, KSPIN_DATAFLOW_OUT, none, [bus].to_vec(), None),
                    (0, KSPIN_DATAFLOW_IN, none, [bus].to_vec(), None),
                    (
                        1,
                        KSPIN_DATAFLOW_OUT,
                        sink,
                        [midi, dm].to_vec(),
                        Some(KSAUDFNAME_DMUSIC_MPU_IN)
                    ),
                ]
            );

            // Node 1's CAPS item, found and called as the port does.
            let node = f
                .Nodes
                .cast::<u8>()
                .add(f.NodeSize as usize)
                .cast::<PCNODE_DESCRIPTOR>()
                .read();
            assert_eq!(guid_at(node.Type), KSNODETYPE_SYNTHESIZER);
            let table = node.AutomationTable.read();
            assert_eq!(
                table.PropertyItemSize as usize,
                size_of::<PCPROPERTY_ITEM>()
            );
            assert_eq!(table.PropertyCount, 2);
            let items = core::slice::from_raw_parts(table.Properties, table.PropertyCount as usize);
            let item = items
                .iter()
                .find(|i| guid_at(i.Set) == KSPROPSETID_Synth && i.Id == KSPROPERTY_SYNTH_CAPS)
                .expect("the CAPS item");
            assert!(items.iter().any(|i| i.Handler.is_none()));
            let handler = item.Handler.expect("a handler");
            let mut value = SYNTHCAPS::ZERO;
            let mut request = PCPROPERTY_REQUEST {
                MajorTarget: ptr::null_mut(),
                MinorTarget: ptr::null_mut(),
                Node: 1,
                PropertyItem: item,
                Verb: KSPROPERTY_TYPE_GET,
                InstanceSize: 0,
                Instance: ptr::null_mut(),
                ValueSize: 0,
                Value: ptr::null_mut(),
                Irp: ptr::null_mut(),
            };
            assert_eq!(handler(&mut request), STATUS_BUFFER_OVERFLOW);
            assert_eq!(request.ValueSize, 296);
            request.Value = ptr::from_mut(&mut value).cast();
            assert_eq!(handler(&mut request), STATUS_SUCCESS);
            assert_eq!(value.Guid, CLSID_MiniportDriverDMusUART);
            assert_eq!(value.Flags, SYNTH_PC_EXTERNAL);
            assert_eq!(value.MaxChannelGroups, 2);

            // The topology and the categories.
            let connections =
                core::slice::from_raw_parts(f.Connections, f.ConnectionCount as usize);
            assert_eq!(connections[1], edge((F, 1), (0, 1)));
            assert_eq!(connections[4].ToNode, PCFILTER_NODE);
            let categories = core::slice::from_raw_parts(f.Categories, f.CategoryCount as usize);
            assert_eq!(
                categories,
                [KSCATEGORY_AUDIO, KSCATEGORY_RENDER, KSCATEGORY_CAPTURE]
            );
        }
    }

    #[test]
    fn node_property_header_is_a_property_then_the_node() {
        let p = KSNODEPROPERTY {
            Property: KSPROPERTY::new(
                KSPROPSETID_Synth,
                KSPROPERTY_SYNTH_CAPS,
                KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_TOPOLOGY,
            ),
            NodeId: 1,
            Reserved: 0,
        };
        // SAFETY: reading the plain-data header as the bytes a client sends.
        let bytes: [u8; 32] = unsafe { core::mem::transmute(p) };
        assert_eq!(&bytes[..4], &0xFEDF_AE25u32.to_le_bytes());
        assert_eq!(&bytes[20..24], &0x1000_0001u32.to_le_bytes());
        assert_eq!(&bytes[24..28], &1u32.to_le_bytes());
        assert_eq!(
            PCAUTOMATION_TABLE::properties(&[]).PropertyItemSize as usize,
            size_of::<PCPROPERTY_ITEM>()
        );
    }
}
