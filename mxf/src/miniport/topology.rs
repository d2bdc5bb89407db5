//! What [`miniport_topology!`](crate::miniport_topology) declares: the Rust-side description of
//! a miniport's pins, nodes, connections and categories ([`Topology`]), beside the PortCls
//! tables built from the same declaration ([`Topology::descriptor`]), and the `const` pieces the
//! macro builds those tables from.
//!
//! Every table is `static` and built in `const` context: no heap, nothing to initialise at run
//! time, and the port may keep the descriptor pointer for the miniport's life (`kernel.md`
//! §4.1).

use crate::abi::{
    GUID, KSCATEGORY_AUDIO, KSCATEGORY_CAPTURE, KSCATEGORY_RENDER, KSDATAFORMAT,
    KSDATAFORMAT_SPECIFIER_NONE, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSDATAFORMAT_SUBTYPE_MIDI,
    KSDATAFORMAT_SUBTYPE_MIDI_BUS, KSDATAFORMAT_TYPE_MUSIC, KSDATARANGE, KSDATARANGE_MUSIC,
    KSMUSIC_TECHNOLOGY_PORT, KSNODETYPE_SYNTHESIZER, KSPIN_COMMUNICATION, KSPIN_COMMUNICATION_NONE,
    KSPIN_COMMUNICATION_SINK, KSPIN_DATAFLOW, KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT,
    KSPIN_DESCRIPTOR, KSPIN_DESCRIPTOR_0, PCAUTOMATION_TABLE, PCCONNECTION_DESCRIPTOR,
    PCFILTER_DESCRIPTOR, PCFILTER_NODE, PCNODE_DESCRIPTOR, PCPIN_DESCRIPTOR,
};
use core::mem::size_of;
use core::ptr;

/// The type a [`miniport_topology!`](crate::miniport_topology) declaration is `for`: its one
/// topology. The declaration implements it; nothing else should.
///
/// # Safety
/// [`topology`](Self::topology) returns a `static` that no other type's implementation returns
/// and whose synth property items are monomorphized for `Self`: the Synth property handler
/// relies on the static's address to tell this type's objects from every other object
/// ([`MxfMiniport`](super::MxfMiniport)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no declared topology",
    label = "declare its pins with `mxf::miniport_topology! {{ static NAME for {Self} {{ … }} }}`",
    note = "the declaration generates the PortCls descriptor `GetDescription` returns and the pin table `NewStream` dispatches on"
)]
pub unsafe trait HasTopology: 'static {
    /// The declared topology.
    fn topology() -> &'static Topology;
}

/// A miniport's declared topology: the filter descriptor `IMiniport::GetDescription` returns,
/// and the same declaration as Rust data (pin ids, kinds and formats for `NewStream`, node
/// directions for the Synth caps, category names for the INF).
///
/// Built by [`miniport_topology!`](crate::miniport_topology); the fields are private so that
/// the two views cannot disagree.
#[derive(Debug)]
pub struct Topology {
    descriptor: PCFILTER_DESCRIPTOR,
    pins: &'static [Pin],
    nodes: &'static [Node],
    categories: &'static [Category],
    directmusic_only: bool,
}

impl Topology {
    /// The declaration's tables, as the macro builds them.
    #[doc(hidden)]
    pub const fn __new(
        descriptor: PCFILTER_DESCRIPTOR,
        pins: &'static [Pin],
        nodes: &'static [Node],
        categories: &'static [Category],
        directmusic_only: bool,
    ) -> Self {
        Self {
            descriptor,
            pins,
            nodes,
            categories,
            directmusic_only,
        }
    }

    /// The `PCFILTER_DESCRIPTOR` (what `GetDescription` returns: its address is inside this
    /// static, so it lives as long as the driver).
    pub const fn descriptor(&'static self) -> &'static PCFILTER_DESCRIPTOR {
        &self.descriptor
    }

    /// The pins, in pin-id order (a pin's id is its index, as in the descriptor).
    pub const fn pins(&self) -> &'static [Pin] {
        self.pins
    }

    /// Pin `id`, or `None` for an id the declaration has no pin for.
    pub fn pin(&self, id: u32) -> Option<&'static Pin> {
        self.pins.get(usize::try_from(id).ok()?)
    }

    /// The id of the pin declared as `name`.
    pub fn pin_id(&self, name: &str) -> Option<u32> {
        let k = self.pins.iter().position(|p| p.name == name)?;
        u32::try_from(k).ok()
    }

    /// The nodes, in node-id order.
    pub const fn nodes(&self) -> &'static [Node] {
        self.nodes
    }

    /// Node `id` (a request's `Node`), or `None`.
    pub fn node(&self, id: u32) -> Option<&'static Node> {
        self.nodes.get(usize::try_from(id).ok()?)
    }

    /// The filter categories, in declaration order (the INF's `AddInterface` lines).
    pub const fn categories(&self) -> &'static [Category] {
        self.categories
    }

    /// The declaration said `directmusic_only`: no pin offers a MIDI bytestream range, so Windows
    /// MIDI Services does not see the device (see the `miniport` module docs).
    pub const fn directmusic_only(&self) -> bool {
        self.directmusic_only
    }
}

/// One pin factory as declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    name: &'static str,
    kind: PinKind,
    formats: &'static [Format],
    instances: Instances,
    name_guid: Option<&'static GUID>,
}

impl Pin {
    /// A pin as the macro declares it.
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        kind: PinKind,
        formats: &'static [Format],
        instances: Instances,
        name_guid: Option<&'static GUID>,
    ) -> Self {
        Self {
            name,
            kind,
            formats,
            instances,
            name_guid,
        }
    }

    /// The identifier the declaration gave the pin.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Render, capture or bridge.
    pub const fn kind(&self) -> PinKind {
        self.kind
    }

    /// Its data ranges, in descriptor order.
    pub const fn formats(&self) -> &'static [Format] {
        self.formats
    }

    /// Its instance limits.
    pub const fn instances(&self) -> Instances {
        self.instances
    }

    /// Its KS name (`KSAUDFNAME_*`), if declared.
    pub const fn name_guid(&self) -> Option<&'static GUID> {
        self.name_guid
    }
}

/// What a pin is: a stream the port opens (render or capture), or a bridge to the hardware that
/// is only described, never opened (`kernel.md` §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinKind {
    /// Data flows in from a client: `KSPIN_DATAFLOW_IN`, `KSPIN_COMMUNICATION_SINK`; the port
    /// opens it with `DMUS_STREAM_MIDI_RENDER`.
    Render,
    /// Data flows out to a client: `KSPIN_DATAFLOW_OUT`, `KSPIN_COMMUNICATION_SINK`; the port
    /// opens it with `DMUS_STREAM_MIDI_CAPTURE`.
    Capture,
    /// From the hardware into the filter: `KSPIN_DATAFLOW_IN`, `KSPIN_COMMUNICATION_NONE`.
    BridgeIn,
    /// From the filter to the hardware: `KSPIN_DATAFLOW_OUT`, `KSPIN_COMMUNICATION_NONE`.
    BridgeOut,
}

impl PinKind {
    /// `KsPinDescriptor.DataFlow`.
    pub const fn data_flow(self) -> KSPIN_DATAFLOW {
        match self {
            PinKind::Render | PinKind::BridgeIn => KSPIN_DATAFLOW_IN,
            PinKind::Capture | PinKind::BridgeOut => KSPIN_DATAFLOW_OUT,
        }
    }

    /// `KsPinDescriptor.Communication`.
    pub const fn communication(self) -> KSPIN_COMMUNICATION {
        match self {
            PinKind::Render | PinKind::Capture => KSPIN_COMMUNICATION_SINK,
            PinKind::BridgeIn | PinKind::BridgeOut => KSPIN_COMMUNICATION_NONE,
        }
    }

    /// The direction of the streams the port opens on it; `None` for a bridge.
    pub const fn direction(self) -> Option<Direction> {
        match self {
            PinKind::Render => Some(Direction::Render),
            PinKind::Capture => Some(Direction::Capture),
            PinKind::BridgeIn | PinKind::BridgeOut => None,
        }
    }
}

/// Which way a stream's events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Events from the port to the device (`DMUS_STREAM_MIDI_RENDER`).
    Render,
    /// Events from the device to the port (`DMUS_STREAM_MIDI_CAPTURE`).
    Capture,
}

/// A data range of a pin: the three formats of a DMus miniport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `KSDATAFORMAT_SUBTYPE_MIDI`: a MIDI bytestream (`KSMUSICFORMAT` packets). The only range
    /// Windows MIDI Services opens (`kernel.md` §1).
    Midi,
    /// `KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`: `DMUS_EVENTHEADER` records.
    DirectMusic,
    /// `KSDATAFORMAT_SUBTYPE_MIDI_BUS`: a bridge pin's connection to the hardware.
    MidiBus,
}

/// `KSDATARANGE_MUSIC` of a MIDI or DirectMusic stream pin, as DMusUART declares it.
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

/// The MIDI bytestream range every declared pin shares: `KSDATARANGE_MUSIC` (96 bytes), MUSIC /
/// MIDI / SPECIFIER_NONE, Technology `KSMUSIC_TECHNOLOGY_PORT`, Channels 0, Notes 0, ChannelMask
/// 0xFFFF (DMusUART's `PinDataRangesStreamLegacy`). Never written: DMusUART's `Init` rewrites
/// its ranges' Technology in place; these are immutable.
pub static MIDI_RANGE: KSDATARANGE_MUSIC = music_range(KSDATAFORMAT_SUBTYPE_MIDI);

/// The DirectMusic range every declared pin shares (DMusUART's `PinDataRangesStreamDMusic`):
/// as [`MIDI_RANGE`] with `KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`.
pub static DIRECTMUSIC_RANGE: KSDATARANGE_MUSIC = music_range(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);

/// The bridge pins' range: a plain 64-byte `KSDATARANGE`, MUSIC / MIDI_BUS / SPECIFIER_NONE
/// (DMusUART's `PinDataRangesBridge`).
pub static MIDI_BUS_RANGE: KSDATARANGE = KSDATARANGE {
    FormatSize: size_of::<KSDATARANGE>() as u32,
    Flags: 0,
    SampleSize: 0,
    Reserved: 0,
    MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
    SubFormat: KSDATAFORMAT_SUBTYPE_MIDI_BUS,
    Specifier: KSDATAFORMAT_SPECIFIER_NONE,
};

impl Format {
    /// The shared static range of this format, as the `PKSDATARANGE` a pin's table holds (for
    /// a music range it covers the whole 96 bytes, so a reader that follows `FormatSize` may
    /// read all of it).
    pub const fn range(self) -> *const KSDATARANGE {
        match self {
            Format::Midi => MIDI_RANGE.as_data_range(),
            Format::DirectMusic => DIRECTMUSIC_RANGE.as_data_range(),
            Format::MidiBus => ptr::from_ref(&MIDI_BUS_RANGE),
        }
    }

    /// The range's header (`KSDATARANGE`).
    pub const fn header(self) -> &'static KSDATARANGE {
        match self {
            Format::Midi => &MIDI_RANGE.DataRange,
            Format::DirectMusic => &DIRECTMUSIC_RANGE.DataRange,
            Format::MidiBus => &MIDI_BUS_RANGE,
        }
    }

    /// `KSDATAFORMAT_SUBTYPE_*` of the range.
    pub const fn subformat(self) -> GUID {
        match self {
            Format::Midi => KSDATAFORMAT_SUBTYPE_MIDI,
            Format::DirectMusic => KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
            Format::MidiBus => KSDATAFORMAT_SUBTYPE_MIDI_BUS,
        }
    }
}

/// Whether a client's `format` matches `range`, by the rule `KsValidateConnectRequest`
/// documents (`kernel.md` §4.2): the range's major format is the wildcard, or the majors are
/// equal and the range's subformat is the wildcard, or major, subformat and specifier are all
/// equal (the range's specifier may be the wildcard too). The wildcards
/// (`KSDATAFORMAT_TYPE_WILDCARD`, `…_SUBTYPE_WILDCARD`, `…_SPECIFIER_WILDCARD`) are `GUID_NULL`.
/// A music range's extras (Technology, Channels, Notes, ChannelMask) play no part.
///
/// ```
/// use mxf::abi::*;
/// use mxf::miniport::{Format, format_matches};
///
/// let mut midi = Format::Midi.header().format();
/// midi.FormatSize = 64; // what a client sends: a bare KSDATAFORMAT
/// assert!(format_matches(Format::Midi.header(), &midi));
/// assert!(!format_matches(Format::DirectMusic.header(), &midi));
/// ```
pub const fn format_matches(range: &KSDATARANGE, format: &KSDATAFORMAT) -> bool {
    const WILDCARD: u128 = 0;
    let major = range.MajorFormat.to_u128();
    if major == WILDCARD {
        return true;
    }
    if major != format.MajorFormat.to_u128() {
        return false;
    }
    let sub = range.SubFormat.to_u128();
    if sub == WILDCARD {
        return true;
    }
    if sub != format.SubFormat.to_u128() {
        return false;
    }
    let specifier = range.Specifier.to_u128();
    specifier == WILDCARD || specifier == format.Specifier.to_u128()
}

/// A pin's instance limits: `MaxGlobalInstanceCount`, `MaxFilterInstanceCount`,
/// `MinFilterInstanceCount` (0 = never instantiable, `u32::MAX` = unlimited; `kernel.md` §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instances {
    /// Pins of this factory in the whole system.
    pub global: u32,
    /// Pins of this factory per filter.
    pub filter: u32,
    /// Pins of this factory the filter needs.
    pub min: u32,
}

impl Instances {
    /// A bridge pin's: 0, 0, 0.
    pub const NONE: Instances = Instances::new(0, 0, 0);
    /// A stream pin's unless declared: one at a time, none needed (DMusUART's 1, 1, 0).
    pub const ONE: Instances = Instances::new(1, 1, 0);

    /// `global`, `filter`, `min`.
    pub const fn new(global: u32, filter: u32, min: u32) -> Self {
        Self {
            global,
            filter,
            min,
        }
    }
}

/// One node as declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    name: &'static str,
    kind: NodeKind,
    direction: Direction,
}

impl Node {
    /// A node as the macro declares it.
    #[doc(hidden)]
    pub const fn __new(name: &'static str, kind: NodeKind, direction: Direction) -> Self {
        Self {
            name,
            kind,
            direction,
        }
    }

    /// The identifier the declaration gave the node.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What the node is.
    pub const fn kind(&self) -> NodeKind {
        self.kind
    }

    /// [`Direction::Capture`] if the node's output leads to a capture pin, else
    /// [`Direction::Render`]: the synth caps a node answers with by default (DMusUART's
    /// "Out" synth for its render node, "In" for its input node).
    pub const fn direction(&self) -> Direction {
        self.direction
    }
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// `KSNODETYPE_SYNTHESIZER`, with the `KSPROPSETID_Synth` items of DMusUART's synth nodes
    /// (CAPS, PORTPARAMETERS, CHANNELGROUPS, LATENCYCLOCK), served by the miniport's
    /// [`DmusMiniport`](super::DmusMiniport) methods.
    Synthesizer,
}

impl NodeKind {
    /// The node type GUID.
    pub const fn node_type(self) -> &'static GUID {
        match self {
            NodeKind::Synthesizer => &KSNODETYPE_SYNTHESIZER,
        }
    }
}

/// A filter category: one `PcRegisterSubdevice` interface, one INF `AddInterface` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// `KSCATEGORY_AUDIO`: the category Windows MIDI Services watches (`kernel.md` §1).
    Audio,
    /// `KSCATEGORY_RENDER`.
    Render,
    /// `KSCATEGORY_CAPTURE`.
    Capture,
}

impl Category {
    /// The category GUID.
    pub const fn guid(self) -> GUID {
        match self {
            Category::Audio => KSCATEGORY_AUDIO,
            Category::Render => KSCATEGORY_RENDER,
            Category::Capture => KSCATEGORY_CAPTURE,
        }
    }

    /// Its header name, the INF's string key (`KSCATEGORY_AUDIO`).
    pub const fn name(self) -> &'static str {
        match self {
            Category::Audio => "KSCATEGORY_AUDIO",
            Category::Render => "KSCATEGORY_RENDER",
            Category::Capture => "KSCATEGORY_CAPTURE",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pieces the macro builds the PortCls tables from.

/// A table length as the `ULONG` beside it (a table of more than `u32::MAX` entries cannot be
/// written in a declaration).
const fn count(len: usize) -> u32 {
    if len > u32::MAX as usize {
        u32::MAX
    } else {
        len as u32
    }
}

/// The `PCPIN_DESCRIPTOR` of a declared pin: category `KSCATEGORY_AUDIO` (as DMusUART's pins),
/// no interfaces or mediums (standard streaming, DEVIO), no automation table; a bridge pin
/// takes 0, 0, 0 instances whatever `instances` says.
#[doc(hidden)]
pub const fn pin_descriptor(
    kind: PinKind,
    instances: Instances,
    ranges: (u32, *const *const KSDATARANGE),
    name: Option<&'static GUID>,
) -> PCPIN_DESCRIPTOR {
    let instances = match kind {
        PinKind::BridgeIn | PinKind::BridgeOut => Instances::NONE,
        PinKind::Render | PinKind::Capture => instances,
    };
    PCPIN_DESCRIPTOR {
        MaxGlobalInstanceCount: instances.global,
        MaxFilterInstanceCount: instances.filter,
        MinFilterInstanceCount: instances.min,
        AutomationTable: ptr::null(),
        KsPinDescriptor: KSPIN_DESCRIPTOR {
            InterfacesCount: 0,
            Interfaces: ptr::null(),
            MediumsCount: 0,
            Mediums: ptr::null(),
            DataRangesCount: ranges.0,
            DataRanges: ranges.1,
            DataFlow: kind.data_flow(),
            Communication: kind.communication(),
            Category: &KSCATEGORY_AUDIO,
            Name: match name {
                Some(n) => ptr::from_ref(n),
                None => ptr::null(),
            },
            Anonymous: KSPIN_DESCRIPTOR_0::ZERO,
        },
    }
}

/// The `PCNODE_DESCRIPTOR` of a declared node: Flags 0, no name.
#[doc(hidden)]
pub const fn node_descriptor(
    kind: NodeKind,
    automation: &'static PCAUTOMATION_TABLE,
) -> PCNODE_DESCRIPTOR {
    PCNODE_DESCRIPTOR {
        Flags: 0,
        AutomationTable: automation,
        Type: kind.node_type(),
        Name: ptr::null(),
    }
}

/// One end of a connection: a filter pin, or a node's pin (0 = its output, 1 = its input).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// The filter's pin factory with this id.
    Pin(u32),
    /// Node `id`, pin `pin`.
    Node(u32, u32),
}

impl End {
    const fn parts(self) -> (u32, u32) {
        match self {
            End::Pin(id) => (PCFILTER_NODE, id),
            End::Node(id, pin) => (id, pin),
        }
    }
}

/// A `PCCONNECTION_DESCRIPTOR` from `from` to `to`.
#[doc(hidden)]
pub const fn connection(from: End, to: End) -> PCCONNECTION_DESCRIPTOR {
    let (from_node, from_pin) = from.parts();
    let (to_node, to_pin) = to.parts();
    PCCONNECTION_DESCRIPTOR {
        FromNode: from_node,
        FromNodePin: from_pin,
        ToNode: to_node,
        ToNodePin: to_pin,
    }
}

/// The `PCFILTER_DESCRIPTOR` over the declaration's tables: Version 0, no filter automation
/// table, `PinSize` and `NodeSize` the sizes of the descriptor types, counts from the tables.
#[doc(hidden)]
pub const fn filter_descriptor(
    pins: &'static [PCPIN_DESCRIPTOR],
    nodes: &'static [PCNODE_DESCRIPTOR],
    connections: &'static [PCCONNECTION_DESCRIPTOR],
    categories: &'static [GUID],
) -> PCFILTER_DESCRIPTOR {
    const fn or_null<T>(table: &'static [T]) -> *const T {
        if table.is_empty() {
            ptr::null()
        } else {
            table.as_ptr()
        }
    }
    PCFILTER_DESCRIPTOR {
        Version: 0,
        AutomationTable: ptr::null(),
        PinSize: size_of::<PCPIN_DESCRIPTOR>() as u32,
        PinCount: count(pins.len()),
        Pins: or_null(pins),
        NodeSize: size_of::<PCNODE_DESCRIPTOR>() as u32,
        NodeCount: count(nodes.len()),
        Nodes: or_null(nodes),
        ConnectionCount: count(connections.len()),
        Connections: or_null(connections),
        CategoryCount: count(categories.len()),
        Categories: or_null(categories),
    }
}
