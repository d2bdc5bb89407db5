//! The port and the miniport's descriptor: the walk that refuses a wrong descriptor (and leaks
//! nothing), pin creation checked against the pins, instance counts, property requests routed
//! through the automation tables, the pin-factory properties and the data intersection.

extern crate std;

use super::*;
use crate::abi::*;
use crate::com::{ComRef, Interface, IntoComObject};
use crate::components::service_group::ServiceGroupHandle;
use crate::miniport::{
    End, Format, Instances, NodeKind, PinKind, connection, filter_descriptor, node_descriptor,
    pin_descriptor,
};
use crate::platform::atomic::{AtomicBool, AtomicU32, Ordering};
use crate::platform::fault;
use core::cell::RefCell;
use core::ptr::{from_ref, null};
use std::vec;
use std::vec::Vec;

// ---------------------------------------------------------------------------------------------
// A hand-written miniport that answers `GetDescription` with whatever descriptor a test gives.

/// A property set of the tests' own.
const TEST_SET: GUID = GUID::from_u128(0x1234_5678_9ABC_4DEF_8123_4567_89AB_CDEF);

/// What a handler saw of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    major: usize,
    minor: usize,
    node: u32,
    id: u32,
    verb: u32,
    instance: Option<Vec<u8>>,
    value_size: u32,
    value_null: bool,
}

std::thread_local! {
    static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

fn seen() -> Vec<Seen> {
    SEEN.with(|s| core::mem::take(&mut *s.borrow_mut()))
}

/// Records the request; answers 4 bytes `[1, 2, 3, 4]` by KS's size rule.
unsafe extern "system" fn record(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
    // SAFETY: the port's request, valid for the call.
    let r = unsafe { &mut *request };
    let instance = (!r.Instance.is_null()).then(|| {
        // SAFETY: `InstanceSize` readable bytes.
        unsafe { core::slice::from_raw_parts(r.Instance.cast::<u8>(), r.InstanceSize as usize) }
            .to_vec()
    });
    SEEN.with(|s| {
        s.borrow_mut().push(Seen {
            major: r.MajorTarget.addr(),
            minor: r.MinorTarget.addr(),
            node: r.Node,
            // SAFETY: the item the port matched.
            id: unsafe { (*r.PropertyItem).Id },
            verb: r.Verb,
            instance,
            value_size: r.ValueSize,
            value_null: r.Value.is_null(),
        })
    });
    if r.ValueSize == 0 {
        r.ValueSize = 4;
        return STATUS_BUFFER_OVERFLOW;
    }
    if r.ValueSize < 4 {
        r.ValueSize = 0;
        return STATUS_BUFFER_TOO_SMALL;
    }
    // SAFETY: `ValueSize` (>= 4) writable bytes.
    unsafe { r.Value.cast::<[u8; 4]>().write_unaligned([1, 2, 3, 4]) };
    r.ValueSize = 4;
    STATUS_SUCCESS
}

const fn prop(id: u32, flags: u32, handler: Option<PCPFNPROPERTY_HANDLER>) -> PCPROPERTY_ITEM {
    PCPROPERTY_ITEM {
        Set: &TEST_SET,
        Id: id,
        Flags: flags,
        Handler: handler,
    }
}

static FILTER_ITEMS: [PCPROPERTY_ITEM; 1] = [prop(
    1,
    PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_SET,
    Some(record),
)];
static PIN_ITEMS: [PCPROPERTY_ITEM; 1] = [prop(2, PCPROPERTY_ITEM_FLAG_GET, Some(record))];
static NODE_ITEMS: [PCPROPERTY_ITEM; 2] = [
    prop(
        3,
        PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT,
        Some(record),
    ),
    prop(4, PCPROPERTY_ITEM_FLAG_GET, None),
];
static FILTER_TABLE: PCAUTOMATION_TABLE = PCAUTOMATION_TABLE::properties(&FILTER_ITEMS);
static PIN_TABLE: PCAUTOMATION_TABLE = PCAUTOMATION_TABLE::properties(&PIN_ITEMS);
static NODE_TABLE: PCAUTOMATION_TABLE = PCAUTOMATION_TABLE::properties(&NODE_ITEMS);

static BOTH: DataRangeTable<2> =
    DataRangeTable([Format::Midi.range(), Format::DirectMusic.range()]);
static MIDI: DataRangeTable<1> = DataRangeTable([Format::Midi.range()]);
static BUS: DataRangeTable<1> = DataRangeTable([Format::MidiBus.range()]);

/// Pin 0 renders both formats (2 per filter, unlimited globally; the pin table), pin 1
/// captures MIDI (one at a time), pin 2 is a bridge; one synth node between 0 and 2.
static PINS: [PCPIN_DESCRIPTOR; 3] = [
    PCPIN_DESCRIPTOR {
        AutomationTable: &PIN_TABLE,
        ..pin_descriptor(
            PinKind::Render,
            Instances::new(u32::MAX, 2, 0),
            (BOTH.count(), BOTH.as_ptr()),
            None,
        )
    },
    pin_descriptor(
        PinKind::Capture,
        Instances::ONE,
        (MIDI.count(), MIDI.as_ptr()),
        None,
    ),
    pin_descriptor(
        PinKind::BridgeOut,
        Instances::NONE,
        (BUS.count(), BUS.as_ptr()),
        None,
    ),
];
static NODES: [PCNODE_DESCRIPTOR; 1] = [node_descriptor(NodeKind::Synthesizer, &NODE_TABLE)];
static CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 2] = [
    connection(End::Pin(0), End::Node(0, 1)),
    connection(End::Node(0, 0), End::Pin(2)),
];
static CATEGORIES: [GUID; 1] = [KSCATEGORY_AUDIO];
static DESCRIPTOR: PCFILTER_DESCRIPTOR = PCFILTER_DESCRIPTOR {
    AutomationTable: &FILTER_TABLE,
    ..filter_descriptor(&PINS, &NODES, &CONNECTIONS, &CATEGORIES)
};

/// A stream that holds nothing.
#[crate::com_object(IMXF)]
struct Quiet;

impl IMXF_Impl for Quiet {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn PutMessage(&self, _event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        STATUS_SUCCESS
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_SUCCESS
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

/// A descriptor's address, shared with the miniport object.
#[derive(Clone, Copy)]
struct DescriptorPtr(*const PCFILTER_DESCRIPTOR);
// SAFETY: the tests' descriptors are immutable while a port reads them.
unsafe impl Send for DescriptorPtr {}
// SAFETY: as above.
unsafe impl Sync for DescriptorPtr {}

/// How the raw miniport answers.
#[derive(Clone, Copy)]
struct Answers {
    /// The descriptor (`GetDescription` writes it).
    descriptor: DescriptorPtr,
    /// What `GetDescription` returns.
    describe: NTSTATUS,
    /// `Init` creates a service group, registers it early and keeps it (and the port).
    group: bool,
    /// What `DataRangeIntersection` returns; on success it writes a format marked `Flags` 0x77.
    intersection: NTSTATUS,
}

impl Default for Answers {
    fn default() -> Self {
        Self {
            descriptor: DescriptorPtr(&DESCRIPTOR),
            describe: STATUS_SUCCESS,
            group: false,
            intersection: STATUS_NOT_IMPLEMENTED,
        }
    }
}

#[crate::com_object(IMiniportDMus)]
struct Raw {
    answers: Answers,
    dropped: std::sync::Arc<AtomicBool>,
    new_streams: std::sync::Arc<AtomicU32>,
    port: SpinLock<Option<IPortDMus>>,
    group: SpinLock<Option<IServiceGroup>>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl IMiniport_Impl for Raw {
    unsafe fn GetDescription(&self, description: *mut *mut c_void) -> NTSTATUS {
        // SAFETY: the port's out-pointer.
        unsafe { description.write(self.answers.descriptor.0.cast_mut().cast()) };
        self.answers.describe
    }
    unsafe fn DataRangeIntersection(
        &self,
        _pin_id: u32,
        data_range: *mut c_void,
        matching_data_range: *mut c_void,
        output_buffer_length: u32,
        resultant_format: *mut c_void,
        resultant_format_length: *mut u32,
    ) -> NTSTATUS {
        let s = self.answers.intersection;
        if !s.is_success() {
            return s;
        }
        // SAFETY: the port's pointers: two ranges, an out-length.
        let (client, mine) = unsafe {
            (
                *data_range.cast::<KSDATARANGE>(),
                *matching_data_range.cast::<KSDATARANGE>(),
            )
        };
        assert!(client.FormatSize >= 64 && mine.FormatSize >= 64);
        // SAFETY: the port's out-length.
        unsafe { resultant_format_length.write(64) };
        if output_buffer_length == 0 {
            return STATUS_BUFFER_OVERFLOW;
        }
        if output_buffer_length < 64 {
            return STATUS_BUFFER_TOO_SMALL;
        }
        let mut f = mine.format();
        f.FormatSize = 64;
        f.Flags = 0x77;
        // SAFETY: 64 writable, aligned bytes.
        unsafe { resultant_format.cast::<KSDATAFORMAT>().write(f) };
        STATUS_SUCCESS
    }
}

impl IMiniportDMus_Impl for Raw {
    unsafe fn Init(
        &self,
        _unknown_adapter: Option<ComRef<'_, IUnknown>>,
        _resource_list: *mut c_void,
        port: Option<ComRef<'_, IPortDMus>>,
        service_group: *mut Option<IServiceGroup>,
    ) -> NTSTATUS {
        let Some(port) = port else {
            return STATUS_INVALID_PARAMETER;
        };
        let mut out = None;
        if self.answers.group {
            let Ok(g) = ServiceGroupHandle::new() else {
                return STATUS_INSUFFICIENT_RESOURCES;
            };
            let g: IServiceGroup = g.interface().clone();
            port.RegisterServiceGroup(Some(g.to_ref()));
            *self.group.lock() = Some(g.clone());
            *self.port.lock() = Some(port.to_owned());
            out = Some(g);
        }
        // SAFETY: the port's out-pointer.
        unsafe { service_group.write(out) };
        STATUS_SUCCESS
    }
    fn Service(&self) {}
    unsafe fn NewStream(
        &self,
        mxf: *mut Option<IMXF>,
        _outer: Option<ComRef<'_, IUnknown>>,
        _pool: POOL_TYPE,
        _pin_id: u32,
        stream_type: DMUS_STREAM_TYPE,
        _data_format: *mut KSDATAFORMAT,
        service_group: *mut Option<IServiceGroup>,
        _allocator: Option<ComRef<'_, IAllocatorMXF>>,
        _master_clock: Option<ComRef<'_, IMasterClock>>,
        schedule_prefetch: *mut u64,
    ) -> NTSTATUS {
        self.new_streams.fetch_add(1, Ordering::SeqCst);
        let group = if stream_type == DMUS_STREAM_MIDI_CAPTURE {
            match ServiceGroupHandle::new() {
                Ok(g) => Some(g.interface().clone()),
                Err(s) => return s,
            }
        } else {
            None
        };
        let stream: IMXF = match Quiet.into_com() {
            Ok(s) => s,
            Err(s) => return s,
        };
        // SAFETY: the port's out-pointers.
        unsafe {
            mxf.write(Some(stream));
            service_group.write(group);
            schedule_prefetch.write(0);
        }
        STATUS_SUCCESS
    }
}

struct Made {
    miniport: IMiniportDMus,
    dropped: std::sync::Arc<AtomicBool>,
    new_streams: std::sync::Arc<AtomicU32>,
}

fn raw(answers: Answers) -> Made {
    let dropped = std::sync::Arc::new(AtomicBool::new(false));
    let new_streams = std::sync::Arc::new(AtomicU32::new(0));
    let miniport = Raw {
        answers,
        dropped: dropped.clone(),
        new_streams: new_streams.clone(),
        port: SpinLock::new(None),
        group: SpinLock::new(None),
    }
    .into_com()
    .expect("miniport");
    Made {
        miniport,
        dropped,
        new_streams,
    }
}

fn port() -> (Port, Made) {
    let m = raw(Answers::default());
    let port = Port::new(m.miniport.clone(), ClockMode::Virtual).expect("port");
    (port, m)
}

// ---------------------------------------------------------------------------------------------
// The descriptor walk.

/// Port creation with `descriptor` (and `describe` from `GetDescription`): the status, with
/// the miniport released and every pool block freed afterwards (with and without a service
/// group registered during `Init`).
fn refused(descriptor: *const PCFILTER_DESCRIPTOR, describe: NTSTATUS) -> NTSTATUS {
    let mut status = STATUS_SUCCESS;
    for group in [false, true] {
        let before = fault::live_blocks();
        let m = raw(Answers {
            descriptor: DescriptorPtr(descriptor),
            describe,
            group,
            ..Answers::default()
        });
        let dropped = m.dropped.clone();
        let r = Port::new(m.miniport, ClockMode::Virtual);
        status = r.err().expect("refused");
        assert!(dropped.load(Ordering::SeqCst), "the miniport is released");
        assert_eq!(fault::live_blocks(), before, "nothing leaks");
    }
    status
}

/// Port creation with a copy of the descriptor that `edit` spoiled: refused with
/// `STATUS_DEVICE_CONFIGURATION_ERROR`, and `check_descriptor` names `fault`.
fn spoiled(fault: DescriptorFault, edit: impl FnOnce(&mut PCFILTER_DESCRIPTOR)) {
    let mut d = DESCRIPTOR;
    edit(&mut d);
    // SAFETY: every pointer the copy holds is to the static tables or the caller's locals.
    assert_eq!(unsafe { check_descriptor(&d) }, Err(fault));
    assert_eq!(
        refused(&d, STATUS_SUCCESS),
        STATUS_DEVICE_CONFIGURATION_ERROR,
        "{fault:?}"
    );
}

#[test]
fn the_good_descriptor_passes_the_walk() {
    // SAFETY: the static tables.
    assert_eq!(unsafe { check_descriptor(&DESCRIPTOR) }, Ok(()));
    let (port, _m) = port();
    assert_eq!(port.descriptor(), from_ref(&DESCRIPTOR));
}

#[test]
fn a_missing_descriptor_is_refused_and_nothing_leaks() {
    assert_eq!(
        refused(null(), STATUS_SUCCESS),
        STATUS_DEVICE_CONFIGURATION_ERROR
    );
    assert_eq!(
        // SAFETY: NULL.
        unsafe { check_descriptor(null()) },
        Err(DescriptorFault::Missing)
    );
    // GetDescription's own failure is returned.
    assert_eq!(
        refused(&DESCRIPTOR, STATUS_NOT_IMPLEMENTED),
        STATUS_NOT_IMPLEMENTED
    );
}

#[test]
fn wrong_tables_and_sizes_are_refused_and_nothing_leaks() {
    spoiled(DescriptorFault::PinTable, |d| d.Pins = null());
    spoiled(DescriptorFault::PinSize, |d| d.PinSize = 8);
    spoiled(DescriptorFault::PinSize, |d| d.PinSize += 1);
    spoiled(DescriptorFault::NodeTable, |d| d.Nodes = null());
    spoiled(DescriptorFault::NodeSize, |d| d.NodeSize = 4);
    spoiled(DescriptorFault::ConnectionTable, |d| d.Connections = null());
    spoiled(DescriptorFault::CategoryTable, |d| d.Categories = null());
    spoiled(DescriptorFault::TooLarge, |d| {
        d.PinCount = u32::MAX;
        d.PinSize = !7;
    });
    spoiled(DescriptorFault::Automation(AutomationOwner::Filter), |d| {
        static BAD: PCAUTOMATION_TABLE = PCAUTOMATION_TABLE {
            Properties: null(),
            ..PCAUTOMATION_TABLE::properties(&FILTER_ITEMS)
        };
        d.AutomationTable = &BAD;
    });
}

#[test]
fn wrong_pins_nodes_and_connections_are_refused_and_nothing_leaks() {
    let mut pins = PINS;
    let mut spoil_pin = |fault, edit: &dyn Fn(&mut PCPIN_DESCRIPTOR)| {
        pins = PINS;
        if let Some(p) = pins.get_mut(1) {
            edit(p);
        }
        let at = pins.as_ptr();
        spoiled(fault, |d| d.Pins = at);
    };
    spoil_pin(DescriptorFault::DataRanges(1), &|p| {
        p.KsPinDescriptor.DataRanges = null();
    });
    spoil_pin(DescriptorFault::DataRanges(1), &|p| {
        static NULL_RANGE: DataRangeTable<1> = DataRangeTable([null()]);
        p.KsPinDescriptor.DataRanges = NULL_RANGE.as_ptr();
    });
    spoil_pin(DescriptorFault::DataRangeSize(1, 0), &|p| {
        static SHORT: KSDATARANGE = KSDATARANGE {
            FormatSize: 10,
            ..*Format::Midi.header()
        };
        static SHORT_TABLE: DataRangeTable<1> = DataRangeTable([&SHORT]);
        p.KsPinDescriptor.DataRanges = SHORT_TABLE.as_ptr();
    });
    spoil_pin(DescriptorFault::PinKind(1), &|p| {
        p.KsPinDescriptor.DataFlow = KSPIN_DATAFLOW(3);
    });
    spoil_pin(DescriptorFault::PinKind(1), &|p| {
        p.KsPinDescriptor.Communication = KSPIN_COMMUNICATION(9);
    });
    spoil_pin(DescriptorFault::PinInterfaces(1), &|p| {
        p.KsPinDescriptor.InterfacesCount = 1;
    });
    spoil_pin(DescriptorFault::Automation(AutomationOwner::Pin(1)), &|p| {
        static SHORT_ITEMS: PCAUTOMATION_TABLE = PCAUTOMATION_TABLE {
            PropertyItemSize: 8,
            ..PCAUTOMATION_TABLE::properties(&PIN_ITEMS)
        };
        p.AutomationTable = &SHORT_ITEMS;
    });

    let mut nodes = NODES;
    if let Some(n) = nodes.get_mut(0) {
        n.Type = null();
    }
    let at = nodes.as_ptr();
    spoiled(DescriptorFault::NodeType(0), |d| d.Nodes = at);

    for (i, bad) in [
        connection(End::Pin(3), End::Node(0, 1)),
        connection(End::Node(0, 0), End::Pin(7)),
        connection(End::Node(1, 0), End::Pin(2)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut connections = CONNECTIONS;
        if let Some(c) = connections.get_mut(i % 2) {
            *c = bad;
        }
        let at = connections.as_ptr();
        spoiled(DescriptorFault::Connection((i % 2) as u32), |d| {
            d.Connections = at;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Pin creation.

fn render(port: &Port, pin: u32, format: StreamFormat) -> Result<RenderPin> {
    port.open_render_pin(pin, format, FilterPlacement::AfterSequencer, |_| {
        Ok(Vec::new())
    })
}

#[test]
fn pins_open_only_as_the_descriptor_says_and_refusals_never_reach_the_miniport() {
    let (port, m) = port();
    let r = render(&port, 0, StreamFormat::DirectMusic).expect("render pin");
    assert_eq!(m.new_streams.load(Ordering::SeqCst), 1);
    let refusals = [
        // No factory 7; a capture factory opened for render; a bridge.
        (
            render(&port, 7, StreamFormat::Ks).err(),
            STATUS_INVALID_PARAMETER,
        ),
        (
            render(&port, 1, StreamFormat::Ks).err(),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            render(&port, 2, StreamFormat::Ks).err(),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        // A render factory opened for capture; a format the capture factory does not offer.
        (
            port.open_capture_pin(0, StreamFormat::Ks).err(),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            port.open_capture_pin(1, StreamFormat::DirectMusic).err(),
            STATUS_NO_MATCH,
        ),
    ];
    for (i, (got, want)) in refusals.into_iter().enumerate() {
        assert_eq!(got, Some(want), "refusal {i}");
    }
    assert_eq!(
        m.new_streams.load(Ordering::SeqCst),
        1,
        "no NewStream for a refusal"
    );
    let c = port
        .open_capture_pin(1, StreamFormat::Ks)
        .expect("capture pin");
    assert_eq!((r.pin_id(), c.pin_id()), (0, 1));
    drop((r, c));
}

#[test]
fn instance_counts_are_held_and_freed_with_the_pins() {
    let (port, m) = port();
    // Factory 0: two per filter.
    let a = render(&port, 0, StreamFormat::DirectMusic).expect("first");
    let b = render(&port, 0, StreamFormat::Ks).expect("second");
    assert_eq!(port.open_instances(0), 2);
    assert_eq!(
        render(&port, 0, StreamFormat::Ks).err(),
        Some(STATUS_INSUFFICIENT_RESOURCES)
    );
    assert_eq!(m.new_streams.load(Ordering::SeqCst), 2);
    drop(a);
    assert_eq!(port.open_instances(0), 1);
    let c = render(&port, 0, StreamFormat::Ks).expect("again after a close");
    // Factory 1: one at a time.
    let d = port.open_capture_pin(1, StreamFormat::Ks).expect("capture");
    assert_eq!(
        port.open_capture_pin(1, StreamFormat::Ks).err(),
        Some(STATUS_INSUFFICIENT_RESOURCES)
    );
    drop((b, c, d));
    assert_eq!((port.open_instances(0), port.open_instances(1)), (0, 0));
}

#[test]
fn a_pin_whose_creation_fails_anywhere_leaves_no_instance_and_no_block_behind() {
    let (port, _m) = port();
    let before = fault::live_blocks();
    // Each pool allocation of a render pin's creation fails in turn, until none is left to fail.
    let mut n = 1;
    loop {
        let plan = fault::fail_nth(n);
        let r = render(&port, 0, StreamFormat::DirectMusic);
        drop(plan);
        match r {
            Ok(pin) => {
                assert_eq!(port.open_instances(0), 1);
                drop(pin);
                break;
            }
            Err(status) => {
                assert_eq!(status, STATUS_INSUFFICIENT_RESOURCES, "allocation {n}");
                assert_eq!(port.open_instances(0), 0, "allocation {n}");
                assert_eq!(fault::live_blocks(), before, "allocation {n}");
            }
        }
        n += 1;
        assert!(n < 100, "a pin's creation ends");
    }
    assert!(n > 2, "the creation allocates");
    assert_eq!((port.open_instances(0), fault::live_blocks()), (0, before));
}

// ---------------------------------------------------------------------------------------------
// Property requests.

fn input(id: u32, verb: u32, node: Option<u32>, instance: &[u8]) -> Vec<u8> {
    property_input(TEST_SET, id, verb, node, instance).expect("input")
}

#[test]
fn property_requests_reach_the_handlers_with_the_very_targets() {
    let (port, m) = port();
    let major = m.miniport.as_raw().addr();
    let pin = render(&port, 0, StreamFormat::DirectMusic).expect("pin");
    let stream = pin.stream().as_raw().addr();
    let mut value = [0u8; 8];

    // The filter's item: MajorTarget the miniport given to the port, no MinorTarget, no node.
    let c = port.property(
        PropertyTarget::Filter,
        &input(1, KSPROPERTY_TYPE_GET, None, &[]),
        &mut value,
    );
    assert_eq!(
        c,
        Completion {
            status: STATUS_SUCCESS,
            information: 4
        }
    );
    assert_eq!(value, [1, 2, 3, 4, 0, 0, 0, 0]);
    let set = port.property(
        PropertyTarget::Filter,
        &input(1, KSPROPERTY_TYPE_SET, None, &[9, 8, 7]),
        &mut value,
    );
    assert_eq!(set.status, STATUS_SUCCESS);
    assert_eq!(
        seen(),
        [
            Seen {
                major,
                minor: 0,
                node: u32::MAX,
                id: 1,
                verb: KSPROPERTY_TYPE_GET,
                instance: None,
                value_size: 8,
                value_null: false,
            },
            Seen {
                major,
                minor: 0,
                node: u32::MAX,
                id: 1,
                verb: KSPROPERTY_TYPE_SET,
                instance: Some(vec![9, 8, 7]),
                value_size: 8,
                value_null: false,
            },
        ]
    );

    // The pin factory's item, on the pin: MinorTarget the very stream NewStream returned.
    let target = PropertyTarget::Render(&pin);
    assert_eq!(
        port.property(
            target,
            &input(2, KSPROPERTY_TYPE_GET, None, &[]),
            &mut value
        )
        .status,
        STATUS_SUCCESS
    );
    // A node's item, on the pin: Node the node id, the verb without TOPOLOGY; a size query
    // passes NULL and 0 and returns the size.
    assert_eq!(
        port.property(
            target,
            &input(3, KSPROPERTY_TYPE_GET, Some(0), &[5]),
            &mut []
        ),
        Completion {
            status: STATUS_BUFFER_OVERFLOW,
            information: 4
        }
    );
    let s = seen();
    assert_eq!((s[0].minor, s[0].node, s[0].id), (stream, u32::MAX, 2));
    assert_eq!(
        s[1],
        Seen {
            major,
            minor: stream,
            node: 0,
            id: 3,
            verb: KSPROPERTY_TYPE_GET,
            instance: Some(vec![5]),
            value_size: 0,
            value_null: true,
        }
    );
    // A short value: the handler's BUFFER_TOO_SMALL, nothing reported written.
    assert_eq!(
        port.property(
            target,
            &input(3, KSPROPERTY_TYPE_GET, Some(0), &[]),
            &mut [0u8; 2]
        ),
        Completion {
            status: STATUS_BUFFER_TOO_SMALL,
            information: 0
        }
    );
    let _ = seen();

    // Refusals, none reaching a handler.
    let refusals = [
        // The pin's item does not serve SET; the node's item 4 has no handler.
        (
            target,
            input(2, KSPROPERTY_TYPE_SET, None, &[]),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            target,
            input(4, KSPROPERTY_TYPE_GET, Some(0), &[]),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        // No node 5; an input shorter than a KSPROPERTY, or a KSNODEPROPERTY without its node.
        (
            target,
            input(3, KSPROPERTY_TYPE_GET, Some(5), &[]),
            STATUS_INVALID_PARAMETER,
        ),
        (
            PropertyTarget::Filter,
            vec![0; 20],
            STATUS_INVALID_PARAMETER,
        ),
        (
            PropertyTarget::Filter,
            input(3, KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_TOPOLOGY, None, &[]),
            STATUS_INVALID_PARAMETER,
        ),
        // An id no table has; the pin's item asked on the filter.
        (
            target,
            input(9, KSPROPERTY_TYPE_GET, None, &[]),
            STATUS_NOT_FOUND,
        ),
        (
            PropertyTarget::Filter,
            input(2, KSPROPERTY_TYPE_GET, None, &[]),
            STATUS_NOT_FOUND,
        ),
    ];
    for (i, (target, request, status)) in refusals.iter().enumerate() {
        assert_eq!(
            port.property(*target, request, &mut value),
            Completion {
                status: *status,
                information: 0
            },
            "refusal {i}"
        );
    }
    assert_eq!(seen(), [], "no handler was called");
}

#[test]
fn a_port_made_from_the_miniports_unknown_passes_that_unknown_as_major_target() {
    let m = raw(Answers::default());
    let unknown: IUnknown = m.miniport.cast().expect("IUnknown");
    let port = Port::from_unknown(&unknown, ClockMode::Virtual).expect("port");
    let mut value = [0u8; 4];
    let c = port.property(
        PropertyTarget::Filter,
        &input(1, KSPROPERTY_TYPE_GET, None, &[]),
        &mut value,
    );
    assert_eq!(c.status, STATUS_SUCCESS);
    assert_eq!(seen()[0].major, unknown.as_raw().addr());
    // An unknown that is no DMus miniport is refused.
    let stream: IUnknown = Quiet.into_com().expect("stream");
    assert_eq!(
        Port::from_unknown(&stream, ClockMode::Virtual).err(),
        Some(STATUS_INVALID_PARAMETER)
    );
}

// ---------------------------------------------------------------------------------------------
// The pin-factory properties the port answers.

fn pin_input(id: u32, verb: u32, pin: u32, rest: &[u8]) -> Vec<u8> {
    let mut instance = Vec::new();
    instance.extend_from_slice(&pin.to_ne_bytes());
    instance.extend_from_slice(&0u32.to_ne_bytes());
    instance.extend_from_slice(rest);
    property_input(KSPROPSETID_Pin, id, verb, None, &instance).expect("input")
}

fn get_pin(port: &Port, id: u32, pin: u32, value: &mut [u8]) -> Completion {
    port.property(
        PropertyTarget::Filter,
        &pin_input(id, KSPROPERTY_TYPE_GET, pin, &[]),
        value,
    )
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn the_port_answers_the_pin_factory_properties() {
    let (port, _m) = port();
    let _open = render(&port, 0, StreamFormat::DirectMusic).expect("pin");
    let mut v = [0u8; 8];
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_CTYPES, 0, &mut v).information,
        4
    );
    assert_eq!(u32s(&v[..4]), [3]);
    // CINSTANCES: {MaxFilterInstanceCount, open}; GLOBALCINSTANCES: {MaxGlobal…, open}.
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_CINSTANCES, 0, &mut v).information,
        8
    );
    assert_eq!(u32s(&v), [2, 1]);
    get_pin(&port, KSPROPERTY_PIN_GLOBALCINSTANCES, 0, &mut v);
    assert_eq!(u32s(&v), [u32::MAX, 1]);
    get_pin(&port, KSPROPERTY_PIN_CINSTANCES, 2, &mut v);
    assert_eq!(u32s(&v), [0, 0], "a bridge: never instantiable");
    let one = |id, pin| {
        let mut v = [0u8; 4];
        let c = get_pin(&port, id, pin, &mut v);
        assert_eq!(
            c,
            Completion {
                status: STATUS_SUCCESS,
                information: 4
            }
        );
        u32::from_ne_bytes(v)
    };
    assert_eq!(one(KSPROPERTY_PIN_NECESSARYINSTANCES, 0), 0);
    assert_eq!(one(KSPROPERTY_PIN_DATAFLOW, 1), KSPIN_DATAFLOW_OUT.0 as u32);
    assert_eq!(
        one(KSPROPERTY_PIN_COMMUNICATION, 0),
        KSPIN_COMMUNICATION_SINK.0 as u32
    );
    assert_eq!(
        one(KSPROPERTY_PIN_COMMUNICATION, 2),
        KSPIN_COMMUNICATION_NONE.0 as u32
    );
    let mut g = [0u8; 16];
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_CATEGORY, 1, &mut g).information,
        16
    );
    assert_eq!(
        u32::from_ne_bytes([g[0], g[1], g[2], g[3]]),
        KSCATEGORY_AUDIO.Data1
    );

    // DATARANGES of factory 0: a KSMULTIPLE_ITEM, then two 96-byte music ranges.
    let size = 8 + 96 + 96;
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_DATARANGES, 0, &mut []),
        Completion {
            status: STATUS_BUFFER_OVERFLOW,
            information: size
        }
    );
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_DATARANGES, 0, &mut [0u8; 100]),
        Completion {
            status: STATUS_BUFFER_TOO_SMALL,
            information: 0
        }
    );
    let mut ranges = vec![0u8; size as usize];
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_DATARANGES, 0, &mut ranges).information,
        size
    );
    assert_eq!(u32s(&ranges[..8]), [size, 2]);
    assert_eq!(u32s(&ranges[8..12]), [96]);
    // SAFETY: 96 bytes of a range from the port; read unaligned.
    let second = unsafe {
        ranges[104..]
            .as_ptr()
            .cast::<KSDATARANGE>()
            .read_unaligned()
    };
    assert_eq!(second.SubFormat, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);

    // Refusals: another verb, a factory that does not exist, a KSP_PIN without its PinId, an id
    // the port does not answer.
    let set = pin_input(KSPROPERTY_PIN_CTYPES, KSPROPERTY_TYPE_SET, 0, &[]);
    assert_eq!(
        port.property(PropertyTarget::Filter, &set, &mut v).status,
        STATUS_INVALID_DEVICE_REQUEST
    );
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_DATAFLOW, 3, &mut v).status,
        STATUS_INVALID_PARAMETER
    );
    let short = property_input(
        KSPROPSETID_Pin,
        KSPROPERTY_PIN_DATAFLOW,
        KSPROPERTY_TYPE_GET,
        None,
        &[],
    )
    .expect("input");
    assert_eq!(
        port.property(PropertyTarget::Filter, &short, &mut v).status,
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        get_pin(&port, KSPROPERTY_PIN_NAME, 0, &mut v).status,
        STATUS_NOT_FOUND
    );
}

// ---------------------------------------------------------------------------------------------
// KSPROPERTY_PIN_DATAINTERSECTION.

/// A client's list of `ranges` (a KSMULTIPLE_ITEM, each range on an 8-byte boundary).
fn client_list(ranges: &[KSDATARANGE_MUSIC]) -> Vec<u8> {
    let size = 8 + 96 * ranges.len();
    let mut v = Vec::new();
    v.extend_from_slice(&(size as u32).to_ne_bytes());
    v.extend_from_slice(&(ranges.len() as u32).to_ne_bytes());
    for r in ranges {
        // SAFETY: a 96-byte plain-data struct.
        let bytes = unsafe { core::slice::from_raw_parts(from_ref(r).cast::<u8>(), 96) };
        v.extend_from_slice(bytes);
    }
    v
}

fn music(sub: GUID) -> KSDATARANGE_MUSIC {
    KSDATARANGE_MUSIC {
        DataRange: KSDATARANGE {
            FormatSize: 96,
            Flags: 0,
            SampleSize: 0,
            Reserved: 0,
            MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
            SubFormat: sub,
            Specifier: KSDATAFORMAT_SPECIFIER_NONE,
        },
        Technology: KSMUSIC_TECHNOLOGY_PORT,
        Channels: 0,
        Notes: 0,
        ChannelMask: 0xFFFF,
    }
}

fn format_of(bytes: &[u8]) -> KSDATAFORMAT {
    assert!(bytes.len() >= 64);
    // SAFETY: 64 readable bytes; read unaligned.
    unsafe { bytes.as_ptr().cast::<KSDATAFORMAT>().read_unaligned() }
}

#[test]
fn a_miniport_without_intersection_gets_the_ports_music_default() {
    let (port, _m) = port();
    let list = client_list(&[music(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)]);
    assert_eq!(
        port.data_intersection(0, &list, &mut []),
        Completion {
            status: STATUS_BUFFER_OVERFLOW,
            information: 64
        }
    );
    assert_eq!(
        port.data_intersection(0, &list, &mut [0u8; 63]),
        Completion {
            status: STATUS_BUFFER_TOO_SMALL,
            information: 0
        }
    );
    let mut out = [0u8; 80];
    assert_eq!(
        port.data_intersection(0, &list, &mut out),
        Completion {
            status: STATUS_SUCCESS,
            information: 64
        }
    );
    let f = format_of(&out);
    assert_eq!(
        (f.FormatSize, f.MajorFormat, f.SubFormat, f.Specifier),
        (
            64,
            KSDATAFORMAT_TYPE_MUSIC,
            KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
            KSDATAFORMAT_SPECIFIER_NONE
        )
    );
    // A wildcard subformat takes the pin's first range (MIDI); the second client range is not
    // needed.
    let list = client_list(&[
        music(GUID::from_u128(0)),
        music(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC),
    ]);
    port.data_intersection(0, &list, &mut out);
    assert_eq!(format_of(&out).SubFormat, KSDATAFORMAT_SUBTYPE_MIDI);
    // The capture factory offers MIDI only: DirectMusic finds no match; a bridge's MIDI_BUS
    // range is no music range the default serves.
    let dm = client_list(&[music(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)]);
    assert_eq!(
        port.data_intersection(1, &dm, &mut out).status,
        STATUS_NO_MATCH
    );
    let bus = client_list(&[music(KSDATAFORMAT_SUBTYPE_MIDI_BUS)]);
    assert_eq!(
        port.data_intersection(2, &bus, &mut out).status,
        STATUS_NO_MATCH
    );
    // Through the property, after the KSP_PIN.
    let request = pin_input(
        KSPROPERTY_PIN_DATAINTERSECTION,
        KSPROPERTY_TYPE_GET,
        1,
        &client_list(&[music(KSDATAFORMAT_SUBTYPE_MIDI)]),
    );
    let c = port.property(PropertyTarget::Filter, &request, &mut out);
    assert_eq!(
        c,
        Completion {
            status: STATUS_SUCCESS,
            information: 64
        }
    );
    assert_eq!(format_of(&out).SubFormat, KSDATAFORMAT_SUBTYPE_MIDI);
}

#[test]
fn malformed_client_lists_are_refused() {
    let (port, _m) = port();
    let good = client_list(&[music(KSDATAFORMAT_SUBTYPE_MIDI)]);
    let mut out = [0u8; 64];
    let mut short_size = good.clone();
    short_size[..4].copy_from_slice(&50u32.to_ne_bytes()); // the range runs past Size
    let mut big_size = good.clone();
    big_size[..4].copy_from_slice(&500u32.to_ne_bytes()); // Size past the buffer
    let mut tiny_range = good.clone();
    tiny_range[8..12].copy_from_slice(&16u32.to_ne_bytes()); // FormatSize below a KSDATARANGE
    let mut two = good.clone();
    two[4..8].copy_from_slice(&2u32.to_ne_bytes()); // Count says two, one is there
    for (i, list) in [vec![0u8; 4], short_size, big_size, tiny_range]
        .iter()
        .enumerate()
    {
        assert_eq!(
            port.data_intersection(0, list, &mut out).status,
            STATUS_INVALID_PARAMETER,
            "list {i}"
        );
    }
    // The first range matches before the missing second one is read.
    assert_eq!(
        port.data_intersection(0, &two, &mut out).status,
        STATUS_SUCCESS
    );
    assert_eq!(
        port.data_intersection(9, &good, &mut out).status,
        STATUS_INVALID_PARAMETER
    );
}

#[test]
fn a_miniports_own_intersection_is_used_as_it_answers() {
    let m = raw(Answers {
        intersection: STATUS_SUCCESS,
        ..Answers::default()
    });
    let port = Port::new(m.miniport.clone(), ClockMode::Virtual).expect("port");
    let list = client_list(&[music(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)]);
    let mut out = [0u8; 64];
    assert_eq!(
        port.data_intersection(0, &list, &mut []),
        Completion {
            status: STATUS_BUFFER_OVERFLOW,
            information: 64
        }
    );
    assert_eq!(
        port.data_intersection(0, &list, &mut out[..10]),
        Completion {
            status: STATUS_BUFFER_TOO_SMALL,
            information: 0
        }
    );
    assert_eq!(port.data_intersection(0, &list, &mut out).information, 64);
    let f = format_of(&out);
    // The miniport's answer (its mark), for the pin range compatible with the client's.
    assert_eq!(
        (f.Flags, f.SubFormat),
        (0x77, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)
    );

    // A miniport that matches nothing: STATUS_NO_MATCH; one that fails: its status.
    for (answer, status) in [
        (STATUS_NO_MATCH, STATUS_NO_MATCH),
        (STATUS_IO_DEVICE_ERROR, STATUS_IO_DEVICE_ERROR),
    ] {
        let m = raw(Answers {
            intersection: answer,
            ..Answers::default()
        });
        let port = Port::new(m.miniport.clone(), ClockMode::Virtual).expect("port");
        assert_eq!(port.data_intersection(0, &list, &mut out).status, status);
    }
}
