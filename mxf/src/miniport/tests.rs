//! The Synth property handler through the items of a declared node (as the port calls it), the
//! `NewStream` dispatch rule, and the format-matching rule.

extern crate std;

use super::*;
use crate::abi::*;
use crate::com::{ComRef, Interface, IntoComObject};
use crate::interfaces::*;
use crate::platform::atomic::{AtomicI64, AtomicU32, Ordering};
use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::{null, null_mut};
use std::sync::Arc;
use std::vec::Vec;

// ---------------------------------------------------------------------------------------------
// A miniport with DMusUART's topology whose streams do nothing.

#[crate::mxf_miniport]
struct Probe {
    /// What `synth_port_parameters` answers with `all_assigned` (the default's is true).
    partial: bool,
}

crate::miniport_topology! {
    /// DMusUART's tables (kernel.md §4.7).
    static PROBE for Probe {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: {
            midi_out: render(midi), instances(1, 1, 0), name(KSAUDFNAME_MIDI),
            dmusic_out: render(directmusic), instances(1, 1, 0), name(KSAUDFNAME_DMUSIC_MPU_OUT),
            bridge_out: bridge(out, midi_bus),
            bridge_in: bridge(in, midi_bus),
            input: capture(midi, directmusic), instances(1, 1, 0), name(KSAUDFNAME_DMUSIC_MPU_IN),
        },
        nodes: { render_synth: synthesizer, input_synth: synthesizer },
        connections: [
            midi_out -> bridge_out,
            dmusic_out -> render_synth.1, render_synth.0 -> bridge_out,
            bridge_in -> input_synth.1, input_synth.0 -> input,
        ],
    }
}

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
        STATUS_UNSUCCESSFUL
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

impl DmusMiniport for Probe {
    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        Ok(None)
    }
    fn new_stream(&self, _request: StreamRequest<'_>) -> Result<Stream> {
        Ok(Stream::new(Quiet.into_com()?))
    }
    fn synth_port_parameters(
        &self,
        _request: &SynthRequest<'_>,
        asked: SYNTH_PORTPARAMS,
    ) -> Result<PortParameters> {
        Ok(PortParameters {
            params: dmusuart_port_parameters(asked),
            all_assigned: !self.partial,
        })
    }
}

/// A second miniport type with the same kind of node: its objects are not `Probe`'s.
#[crate::mxf_miniport]
struct Other;

crate::miniport_topology! {
    static OTHER for Other {
        categories: [AUDIO],
        pins: { out: render(midi) },
        nodes: { synth: synthesizer },
        connections: [out -> synth.1],
    }
}

impl DmusMiniport for Other {
    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        Ok(None)
    }
    fn new_stream(&self, _request: StreamRequest<'_>) -> Result<Stream> {
        Err(STATUS_NOT_IMPLEMENTED)
    }
}

#[crate::com_object(IMasterClock)]
struct Clock {
    now: Arc<AtomicI64>,
    refs_seen: AtomicU32,
}

impl IMasterClock_Impl for Clock {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        self.refs_seen.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's out-pointer.
        unsafe { time.write(self.now.load(Ordering::Relaxed)) };
        STATUS_SUCCESS
    }
}

/// A port that accepts everything.
#[crate::com_object(IPortDMus)]
struct NullPort;

impl IPort_Impl for NullPort {
    unsafe fn Init(
        &self,
        _device_object: *mut c_void,
        _irp: *mut c_void,
        _unknown_miniport: Option<ComRef<'_, IUnknown>>,
        _unknown_adapter: Option<ComRef<'_, IUnknown>>,
        _resource_list: *mut c_void,
    ) -> NTSTATUS {
        STATUS_SUCCESS
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
        _out_key: *mut *mut c_void,
        _outer: Option<ComRef<'_, IUnknown>>,
        _key_type: u32,
        _desired_access: u32,
        _object_attributes: *mut c_void,
        _create_options: u32,
        _disposition: *mut u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

impl IPortDMus_Impl for NullPort {
    fn Notify(&self, _group: Option<ComRef<'_, IServiceGroup>>) {}
    fn RegisterServiceGroup(&self, _group: Option<ComRef<'_, IServiceGroup>>) {}
}

/// A miniport through `Init`, a render stream on pin 1, and the clock it was given.
struct Rig {
    miniport: MiniportHandle<Probe>,
    stream: IMXF,
    now: Arc<AtomicI64>,
    _clock: IMasterClock,
    _port: IPortDMus,
}

fn rig_with(partial: bool) -> Rig {
    let miniport = Probe { partial }.into_miniport().expect("miniport");
    let port: IPortDMus = NullPort.into_com().expect("port");
    let mut group = None;
    // SAFETY: live miniport and port; a valid out-pointer.
    let s = unsafe { miniport.Init(None, null_mut(), Some(port.to_ref()), &mut group) };
    assert_eq!(s, STATUS_SUCCESS);
    assert!(group.is_none());
    let now = Arc::new(AtomicI64::new(1234));
    let clock: IMasterClock = Clock {
        now: now.clone(),
        refs_seen: AtomicU32::new(0),
    }
    .into_com()
    .expect("clock");
    let alloc: IAllocatorMXF =
        crate::allocator::create_allocator(crate::allocator::AllocatorConfig::default(), None)
            .expect("allocator");
    let mut format = Format::DirectMusic.header().format();
    format.FormatSize = size_of::<KSDATAFORMAT>() as u32;
    let (mut mxf, mut grp, mut prefetch) = (None, None, 7u64);
    // SAFETY: live miniport, allocator and clock; valid out-pointers and format.
    let s = unsafe {
        miniport.NewStream(
            &mut mxf,
            None,
            NonPagedPool,
            1,
            DMUS_STREAM_MIDI_RENDER,
            &mut format,
            &mut grp,
            Some(alloc.to_ref()),
            Some(clock.to_ref()),
            &mut prefetch,
        )
    };
    assert_eq!(s, STATUS_SUCCESS);
    Rig {
        miniport,
        stream: mxf.expect("a stream"),
        now,
        _clock: clock,
        _port: port,
    }
}

fn rig() -> Rig {
    rig_with(false)
}

/// The Synth item `id` of node `node`, as the port finds it: through the descriptor's node
/// table, walked by `NodeSize`.
fn item(topology: &'static Topology, node: u32, id: u32) -> &'static PCPROPERTY_ITEM {
    let d = topology.descriptor();
    assert!(node < d.NodeCount);
    // SAFETY: node `node` of the static node table, walked as the port walks it.
    let n = unsafe {
        &*d.Nodes
            .cast::<u8>()
            .add(node as usize * d.NodeSize as usize)
            .cast::<PCNODE_DESCRIPTOR>()
    };
    // SAFETY: the node's static automation table and its items.
    let items = unsafe {
        let t = &*n.AutomationTable;
        core::slice::from_raw_parts(t.Properties, t.PropertyCount as usize)
    };
    items
        .iter()
        .find(|i| {
            // SAFETY: the item's static set GUID.
            unsafe { *i.Set == KSPROPSETID_Synth && i.Id == id }
        })
        .expect("the item")
}

/// One property call as the port makes it.
struct Call {
    major: *mut c_void,
    minor: *mut c_void,
    node: u32,
    item: *const PCPROPERTY_ITEM,
    verb: u32,
    instance: Vec<u8>,
    instance_null: bool,
    value: Vec<u8>,
    value_size: u32,
    value_null: bool,
}

impl Call {
    fn new(r: &Rig, node: u32, id: u32, verb: u32) -> Self {
        Self {
            major: r.miniport.as_raw(),
            minor: r.stream.as_raw(),
            node,
            item: item(&PROBE, node, id),
            verb,
            instance: Vec::new(),
            instance_null: true,
            value: std::vec![0xAB; 512],
            value_size: 512,
            value_null: false,
        }
    }
    fn on_filter(mut self) -> Self {
        self.minor = null_mut();
        self
    }
    fn value_size(mut self, n: u32) -> Self {
        self.value_size = n;
        self
    }
    fn null_value(mut self) -> Self {
        self.value_null = true;
        self
    }
    fn instance(mut self, bytes: &[u8]) -> Self {
        self.instance = bytes.to_vec();
        self.instance_null = false;
        self
    }
    /// Calls the item's handler: the status, the `ValueSize` after the call.
    fn run(&mut self) -> (NTSTATUS, u32) {
        let mut request = PCPROPERTY_REQUEST {
            MajorTarget: self.major,
            MinorTarget: self.minor,
            Node: self.node,
            PropertyItem: self.item,
            Verb: self.verb,
            InstanceSize: self.instance.len() as u32,
            Instance: if self.instance_null {
                null_mut()
            } else {
                self.instance.as_mut_ptr().cast()
            },
            ValueSize: self.value_size,
            Value: if self.value_null {
                null_mut()
            } else {
                self.value.as_mut_ptr().cast()
            },
            Irp: null_mut(),
        };
        // SAFETY: a static item of a declared node.
        let handler = unsafe { (*self.item).Handler }.expect("a handler");
        // SAFETY: the request is valid for the call: live targets, buffers of their sizes.
        let s = unsafe { handler(&mut request) };
        (s, request.ValueSize)
    }
    fn u32(&self) -> u32 {
        u32::from_le_bytes(self.value[..4].try_into().unwrap())
    }
    fn untouched(&self) -> bool {
        self.value.iter().all(|&b| b == 0xAB)
    }
}

const GET: u32 = KSPROPERTY_TYPE_GET;
const SET: u32 = KSPROPERTY_TYPE_SET;
const BASIC: u32 = KSPROPERTY_TYPE_BASICSUPPORT;
const TOPO: u32 = KSPROPERTY_TYPE_TOPOLOGY;

#[test]
fn basic_support_answers_dmusuarts_access_flags() {
    let r = rig();
    for (id, pin, filter) in [
        (KSPROPERTY_SYNTH_CAPS, Ok(BASIC | GET), Ok(BASIC | GET)),
        (
            KSPROPERTY_SYNTH_CHANNELGROUPS,
            Ok(BASIC | GET | SET),
            Ok(BASIC | GET | SET),
        ),
        (
            KSPROPERTY_SYNTH_PORTPARAMETERS,
            Ok(BASIC | GET),
            Err(STATUS_INVALID_DEVICE_REQUEST),
        ),
        (KSPROPERTY_SYNTH_LATENCYCLOCK, Ok(BASIC), Ok(BASIC)),
    ] {
        for (mut call, want) in [
            (Call::new(&r, 0, id, BASIC | TOPO), pin),
            (Call::new(&r, 0, id, BASIC | TOPO).on_filter(), filter),
        ] {
            let (s, n) = call.run();
            match want {
                Ok(flags) => {
                    assert_eq!((s, n), (STATUS_SUCCESS, 4), "id {id}");
                    assert_eq!(call.u32(), flags, "id {id}");
                    assert!(call.value[4..].iter().all(|&b| b == 0xAB), "only a ULONG");
                }
                Err(e) => assert_eq!((s, n), (e, 0), "id {id}"),
            }
        }
        // Its size checks.
        let (s, n) = Call::new(&r, 0, id, BASIC).value_size(0).run();
        assert_eq!((s, n), (STATUS_BUFFER_OVERFLOW, 4), "id {id}");
        let (s, n) = Call::new(&r, 0, id, BASIC).value_size(3).run();
        assert_eq!((s, n), (STATUS_BUFFER_TOO_SMALL, 0), "id {id}");
        let (s, n) = Call::new(&r, 0, id, BASIC).null_value().run();
        assert_eq!((s, n), (STATUS_INVALID_PARAMETER, 0), "id {id}");
    }
}

#[test]
fn caps_are_dmusuarts_for_each_node_and_sized_as_its_validate() {
    let r = rig();
    for (node, guid, text) in [
        (0, CLSID_MiniportDriverDMusUART, "DMusic MPU-401 Out "),
        (1, CLSID_MiniportDriverDMusUARTCapture, "DMusic MPU-401 In "),
        // Not a node (a pin request): DMusUART's "other node" answer.
        (
            u32::MAX,
            CLSID_MiniportDriverDMusUARTCapture,
            "DMusic MPU-401 In ",
        ),
    ] {
        let mut call = Call::new(&r, node.min(1), KSPROPERTY_SYNTH_CAPS, GET);
        call.node = node;
        let (s, n) = call.run();
        assert_eq!((s, n), (STATUS_SUCCESS, 296), "node {node}");
        // SAFETY: 296 bytes written from a SYNTHCAPS.
        let caps: SYNTHCAPS = unsafe { call.value.as_ptr().cast::<SYNTHCAPS>().read_unaligned() };
        assert_eq!(caps.Guid, guid);
        assert_eq!(caps.Flags, SYNTH_PC_EXTERNAL);
        assert_eq!(
            (caps.MemorySize, caps.MaxChannelGroups, caps.EffectFlags),
            (0, 1, 0)
        );
        assert_eq!(
            (caps.MaxVoices, caps.MaxAudioChannels),
            (u32::MAX, u32::MAX)
        );
        let units: Vec<u16> = text.encode_utf16().collect();
        assert_eq!(&caps.Description[..units.len()], &units[..]);
        assert!(caps.Description[units.len()..].iter().all(|&u| u == 0));
        assert_eq!(call.value[296], 0xAB, "nothing past the caps");
    }
    // Size query, too small, NULL value; and a set.
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET)
        .value_size(0)
        .run();
    assert_eq!((s, n), (STATUS_BUFFER_OVERFLOW, 296));
    let mut small = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET).value_size(295);
    assert_eq!(small.run(), (STATUS_BUFFER_TOO_SMALL, 0));
    assert!(small.untouched());
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET)
        .null_value()
        .run();
    assert_eq!((s, n), (STATUS_INVALID_PARAMETER, 0));
    let mut set = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, SET);
    assert_eq!(set.run(), (STATUS_INVALID_DEVICE_REQUEST, 0));
    assert!(set.untouched());
    // The filter gets the caps too.
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET)
        .on_filter()
        .run();
    assert_eq!((s, n), (STATUS_SUCCESS, 296));
}

#[test]
fn port_parameters_are_applied_on_a_pin_only() {
    let r = rig();
    let asked = SYNTH_PORTPARAMS {
        ValidParams: SYNTH_PORTPARAMS_VOICES | SYNTH_PORTPARAMS_CHANNELGROUPS,
        Voices: 32,
        ChannelGroups: 4,
        AudioChannels: 2,
        SampleRate: 22050,
        EffectsFlags: 1,
        Share: 1,
    };
    // SAFETY: a plain-data struct read as its bytes.
    let bytes: [u8; 28] = unsafe { core::mem::transmute(asked) };
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET).instance(&bytes);
    assert_eq!(call.run(), (STATUS_SUCCESS, 28));
    // SAFETY: 28 bytes written from a SYNTH_PORTPARAMS.
    let got: SYNTH_PORTPARAMS = unsafe {
        call.value
            .as_ptr()
            .cast::<SYNTH_PORTPARAMS>()
            .read_unaligned()
    };
    assert_eq!(
        got,
        SYNTH_PORTPARAMS {
            ValidParams: SYNTH_PORTPARAMS_CHANNELGROUPS,
            ChannelGroups: 1,
            ..asked
        }
    );
    assert_eq!(call.value[28], 0xAB);

    // On the filter, or a set: refused before the size check.
    for mut call in [
        Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET)
            .instance(&bytes)
            .on_filter()
            .value_size(0),
        Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, SET)
            .instance(&bytes)
            .value_size(0),
    ] {
        assert_eq!(call.run(), (STATUS_INVALID_DEVICE_REQUEST, 0));
    }
    // Sizes.
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET)
        .instance(&bytes)
        .value_size(0)
        .run();
    assert_eq!((s, n), (STATUS_BUFFER_OVERFLOW, 28));
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET)
        .instance(&bytes)
        .value_size(27)
        .run();
    assert_eq!((s, n), (STATUS_BUFFER_TOO_SMALL, 0));
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET)
        .instance(&bytes)
        .null_value()
        .run();
    assert_eq!((s, n), (STATUS_INVALID_PARAMETER, 0));
    // The instance: none, or shorter than a SYNTH_PORTPARAMS (DMusUART would read past it).
    for mut call in [
        Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET),
        Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET).instance(&bytes[..27]),
    ] {
        assert_eq!(call.run(), (STATUS_INVALID_PARAMETER, 0));
        assert!(call.untouched());
    }
}

#[test]
fn port_parameters_not_all_assigned_is_a_success_with_the_value() {
    let r = rig_with(true);
    let bytes = [0u8; 28];
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_PORTPARAMETERS, GET).instance(&bytes);
    assert_eq!(call.run(), (STATUS_NOT_ALL_ASSIGNED, 28));
    assert!(STATUS_NOT_ALL_ASSIGNED.is_success());
    assert_eq!(u32::from_le_bytes(call.value[8..12].try_into().unwrap()), 1);
}

#[test]
fn channel_groups_get_and_set_write_one() {
    let r = rig();
    for verb in [GET, SET] {
        for on_pin in [true, false] {
            let mut call = Call::new(&r, 1, KSPROPERTY_SYNTH_CHANNELGROUPS, verb);
            if !on_pin {
                call = call.on_filter();
            }
            call.value[..4].copy_from_slice(&5u32.to_le_bytes());
            assert_eq!(call.run(), (STATUS_SUCCESS, 4));
            assert_eq!(call.u32(), 1);
        }
        let (s, n) = Call::new(&r, 1, KSPROPERTY_SYNTH_CHANNELGROUPS, verb)
            .value_size(0)
            .run();
        assert_eq!((s, n), (STATUS_BUFFER_OVERFLOW, 4));
        let (s, n) = Call::new(&r, 1, KSPROPERTY_SYNTH_CHANNELGROUPS, verb)
            .value_size(2)
            .run();
        assert_eq!((s, n), (STATUS_BUFFER_TOO_SMALL, 0));
        let (s, n) = Call::new(&r, 1, KSPROPERTY_SYNTH_CHANNELGROUPS, verb)
            .null_value()
            .run();
        assert_eq!((s, n), (STATUS_INVALID_PARAMETER, 0));
    }
}

#[test]
fn latency_clock_is_the_master_clock_on_a_pin() {
    let r = rig();
    r.now.store(0x1_0000_0007, Ordering::Relaxed);
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_LATENCYCLOCK, GET);
    assert_eq!(call.run(), (STATUS_SUCCESS, 8));
    assert_eq!(
        u64::from_le_bytes(call.value[..8].try_into().unwrap()),
        0x1_0000_0007
    );
    assert_eq!(call.value[8], 0xAB);
    // The filter: refused after the size check (a size query is answered).
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_LATENCYCLOCK, GET)
        .on_filter()
        .value_size(0)
        .run();
    assert_eq!((s, n), (STATUS_BUFFER_OVERFLOW, 8));
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_LATENCYCLOCK, GET)
        .on_filter()
        .run();
    assert_eq!((s, n), (STATUS_INVALID_DEVICE_REQUEST, 0));
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_LATENCYCLOCK, GET)
        .value_size(7)
        .run();
    assert_eq!((s, n), (STATUS_BUFFER_TOO_SMALL, 0));
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_LATENCYCLOCK, GET)
        .null_value()
        .run();
    assert_eq!((s, n), (STATUS_INVALID_PARAMETER, 0));
    let (s, n) = Call::new(&r, 0, KSPROPERTY_SYNTH_LATENCYCLOCK, SET).run();
    assert_eq!((s, n), (STATUS_INVALID_DEVICE_REQUEST, 0));
}

#[test]
fn latency_clock_before_any_stream_has_no_clock() {
    let r = rig();
    let fresh = Probe { partial: false }.into_miniport().expect("miniport");
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_LATENCYCLOCK, GET);
    call.major = fresh.as_raw();
    assert_eq!(call.run(), (STATUS_INVALID_DEVICE_REQUEST, 0));
    assert!(call.untouched());
}

#[test]
fn an_unknown_id_succeeds_and_writes_nothing() {
    let r = rig();
    let stats = PCPROPERTY_ITEM {
        Set: &KSPROPSETID_Synth,
        Id: KSPROPERTY_SYNTH_RUNNINGSTATS,
        Flags: PCPROPERTY_ITEM_FLAG_GET,
        Handler: item(&PROBE, 0, KSPROPERTY_SYNTH_CAPS).Handler,
    };
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET);
    call.item = &stats;
    assert_eq!(call.run(), (STATUS_SUCCESS, 0));
    assert!(call.untouched());
}

#[test]
fn only_this_miniport_types_objects_are_served() {
    let r = rig();
    let other = Other.into_miniport().expect("other");
    let alloc: IAllocatorMXF =
        crate::allocator::create_allocator(crate::allocator::AllocatorConfig::default(), None)
            .expect("allocator");
    // Another miniport type, a stream, an allocator: not a `Probe`.
    for major in [other.as_raw(), r.stream.as_raw(), alloc.as_raw()] {
        let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET);
        call.major = major;
        assert_eq!(call.run(), (STATUS_INVALID_DEVICE_REQUEST, 0));
        assert!(call.untouched());
    }
    // And the other type's handler refuses a `Probe`.
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET);
    call.item = item(&OTHER, 0, KSPROPERTY_SYNTH_CAPS);
    assert_eq!(call.run(), (STATUS_INVALID_DEVICE_REQUEST, 0));
    call.major = other.as_raw();
    assert_eq!(call.run(), (STATUS_SUCCESS, 296));
    // NULL targets and requests.
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET);
    call.major = null_mut();
    assert_eq!(call.run(), (STATUS_INVALID_DEVICE_REQUEST, 0));
    let handler = item(&PROBE, 0, KSPROPERTY_SYNTH_CAPS)
        .Handler
        .expect("handler");
    // SAFETY: NULL is refused before anything is read.
    assert_eq!(unsafe { handler(null_mut()) }, STATUS_INVALID_PARAMETER);
    let mut call = Call::new(&r, 0, KSPROPERTY_SYNTH_CAPS, GET);
    call.item = null();
    let mut request = PCPROPERTY_REQUEST {
        MajorTarget: call.major,
        MinorTarget: null_mut(),
        Node: 0,
        PropertyItem: null(),
        Verb: GET,
        InstanceSize: 0,
        Instance: null_mut(),
        ValueSize: 0,
        Value: null_mut(),
        Irp: null_mut(),
    };
    // SAFETY: a request without an item is refused before anything else is read.
    assert_eq!(unsafe { handler(&mut request) }, STATUS_INVALID_PARAMETER);
}

#[test]
fn the_handler_keeps_references_balanced() {
    let r = rig();
    let refs = |p: *mut c_void| {
        // SAFETY: a live interface; the reference added is dropped again.
        unsafe {
            crate::testing::raw::add_ref(p);
            crate::testing::raw::release(p)
        }
    };
    let (m, s) = (refs(r.miniport.as_raw()), refs(r.stream.as_raw()));
    for id in [
        KSPROPERTY_SYNTH_CAPS,
        KSPROPERTY_SYNTH_CHANNELGROUPS,
        KSPROPERTY_SYNTH_LATENCYCLOCK,
    ] {
        Call::new(&r, 0, id, GET).run();
    }
    assert_eq!((refs(r.miniport.as_raw()), refs(r.stream.as_raw())), (m, s));
}

// ---------------------------------------------------------------------------------------------
// Matching.

fn client_format(subformat: GUID) -> KSDATAFORMAT {
    KSDATAFORMAT {
        FormatSize: 64,
        Flags: 0,
        SampleSize: 0,
        Reserved: 0,
        MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
        SubFormat: subformat,
        Specifier: KSDATAFORMAT_SPECIFIER_NONE,
    }
}

#[test]
fn formats_match_by_the_connect_rule_with_range_wildcards() {
    let midi = client_format(KSDATAFORMAT_SUBTYPE_MIDI);
    let exact = *Format::Midi.header();
    assert!(format_matches(&exact, &midi));
    // The extras of a music range and the header's sizes play no part.
    let mut sized = midi;
    sized.FormatSize = 1000;
    sized.SampleSize = 9;
    assert!(format_matches(&exact, &sized));
    // Each GUID differs once.
    for change in 0..3 {
        let mut f = midi;
        let g = GUID::from_u128(0x1234);
        match change {
            0 => f.MajorFormat = g,
            1 => f.SubFormat = g,
            _ => f.Specifier = g,
        }
        assert!(!format_matches(&exact, &f), "change {change}");
        // A wildcard in the range at that level (or above) accepts it.
        let mut wild = exact;
        match change {
            0 => wild.MajorFormat = GUID::NULL,
            1 => wild.SubFormat = GUID::NULL,
            _ => wild.Specifier = GUID::NULL,
        }
        assert!(format_matches(&wild, &f), "wildcard {change}");
    }
    // A wildcard subformat still needs the major.
    let mut wild_sub = exact;
    wild_sub.SubFormat = GUID::NULL;
    let mut other_major = midi;
    other_major.MajorFormat = GUID::from_u128(1);
    assert!(!format_matches(&wild_sub, &other_major));
    // A wildcard in the client's format is no wildcard.
    let mut null_specifier = midi;
    null_specifier.Specifier = GUID::NULL;
    assert!(!format_matches(&exact, &null_specifier));
}

#[test]
fn dispatch_follows_the_pin_and_the_format() {
    let midi = Some(client_format(KSDATAFORMAT_SUBTYPE_MIDI));
    let dm = Some(client_format(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC));
    let (render, capture) = (Direction::Render, Direction::Capture);
    let kind = |direction, format| StreamKind { direction, format };
    let d = |pin, dir, f| {
        super::object::dispatch(&PROBE, PinCheck::Declared, pin, dir, f)
            .map(|(k, p)| (k, p.map(Pin::name)))
    };
    assert_eq!(
        d(0, render, midi),
        Ok((kind(render, Format::Midi), Some("midi_out")))
    );
    assert_eq!(
        d(1, render, dm),
        Ok((kind(render, Format::DirectMusic), Some("dmusic_out")))
    );
    assert_eq!(
        d(4, capture, midi),
        Ok((kind(capture, Format::Midi), Some("input")))
    );
    assert_eq!(
        d(4, capture, dm),
        Ok((kind(capture, Format::DirectMusic), Some("input")))
    );
    assert_eq!(d(0, render, dm), Err(STATUS_NO_MATCH));
    assert_eq!(d(1, render, midi), Err(STATUS_NO_MATCH));
    assert_eq!(d(0, capture, midi), Err(STATUS_INVALID_DEVICE_REQUEST));
    assert_eq!(d(4, render, midi), Err(STATUS_INVALID_DEVICE_REQUEST));
    assert_eq!(d(2, render, midi), Err(STATUS_INVALID_DEVICE_REQUEST));
    assert_eq!(d(3, capture, midi), Err(STATUS_INVALID_DEVICE_REQUEST));
    assert_eq!(d(5, render, midi), Err(STATUS_INVALID_PARAMETER));
    assert_eq!(d(u32::MAX, render, midi), Err(STATUS_INVALID_PARAMETER));
    assert_eq!(d(0, render, None), Err(STATUS_INVALID_PARAMETER));

    // By stream type: what matches is dispatched the same; the rest by type and subformat.
    let t = |pin, dir, f| {
        super::object::dispatch(&PROBE, PinCheck::StreamTypeOnly, pin, dir, f)
            .map(|(k, p)| (k, p.map(Pin::name)))
    };
    assert_eq!(t(0, render, midi), d(0, render, midi));
    assert_eq!(
        t(0, capture, dm),
        Ok((kind(capture, Format::DirectMusic), Some("midi_out")))
    );
    assert_eq!(t(9, render, None), Ok((kind(render, Format::Midi), None)));
    assert_eq!(
        t(2, render, dm),
        Ok((kind(render, Format::DirectMusic), Some("bridge_out")))
    );
}

#[test]
fn node_directions_follow_the_connections() {
    let nodes = PROBE.nodes();
    assert_eq!(nodes.len(), 2);
    assert_eq!(
        (nodes[0].name(), nodes[0].direction()),
        ("render_synth", Direction::Render)
    );
    assert_eq!(
        (nodes[1].name(), nodes[1].direction()),
        ("input_synth", Direction::Capture)
    );
    assert_eq!(PROBE.pin_id("input"), Some(4));
    assert_eq!(PROBE.pin_id("nothing"), None);
    assert!(!PROBE.directmusic_only());
}

#[test]
fn dmusuart_caps_append_the_port_base_in_hex() {
    for (base, text) in [
        (Some(0x330), "DMusic MPU-401 In [330]"),
        (Some(0x7), "DMusic MPU-401 In [007]"),
        (Some(0xFFFF_FFFF), "DMusic MPU-401 In [FFFFFFFF]"),
        (None, "DMusic MPU-401 In "),
    ] {
        let caps = dmusuart_caps(Direction::Capture, base);
        let units: Vec<u16> = text.encode_utf16().collect();
        assert_eq!(&caps.Description[..units.len()], &units[..], "{text}");
        assert!(caps.Description[units.len()..].iter().all(|&u| u == 0));
    }
}
