//! Declared miniports as the port sees them: the sample UART's descriptor read the way PortCls
//! reads it (pins by `PinSize`, nodes by `NodeSize`, ranges through their pointers) against
//! DMusUART's table (`kernel.md` §4.7), field by field; and `NewStream` through the raw vtable
//! of a miniport with the same declaration that holds the port to it (`PinCheck::Declared`):
//! every pin × format, and every refusal.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::null_mut;
use mxf::abi::NonPagedPool;
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::IntoComObject;
use mxf::components::service_group::ServiceGroupHandle;
use mxf::miniport::{
    Direction, Format, InitRequest, MiniportHandle, PinCheck, Stream, StreamKind, StreamRequest,
    Topology,
};
use mxf::prelude::*;
use mxf::testing::raw;
use mxf_suite::uart::UART_TOPOLOGY;
use std::sync::{Arc, Mutex, PoisonError};

// ---------------------------------------------------------------------------------------------
// The descriptor, as the port reads it.

/// Element `k` of a table of `size`-byte elements at `base`, read as a `T`.
///
/// # Safety
/// `base` points to at least `k + 1` elements of `size` bytes, each beginning with a `T`.
unsafe fn at<T: Copy>(base: *const T, size: u32, k: u32) -> T {
    // SAFETY: forwarded.
    unsafe {
        base.cast::<u8>()
            .add(k as usize * size as usize)
            .cast::<T>()
            .read()
    }
}

/// The GUID at `p`, or `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a GUID.
unsafe fn guid(p: *const GUID) -> Option<GUID> {
    // SAFETY: forwarded.
    (!p.is_null()).then(|| unsafe { p.read() })
}

/// One pin of §4.7's table: flow, communication, subformats, instances, name.
type PinRow = (
    KSPIN_DATAFLOW,
    KSPIN_COMMUNICATION,
    Vec<GUID>,
    (u32, u32, u32),
    Option<GUID>,
);

#[test]
fn the_uart_descriptor_is_dmusuarts_table_field_by_field() {
    let d = UART_TOPOLOGY.descriptor();
    // The filter.
    assert_eq!(d.Version, 0);
    assert!(d.AutomationTable.is_null());
    assert_eq!(d.PinSize as usize, size_of::<PCPIN_DESCRIPTOR>());
    assert_eq!(d.NodeSize as usize, size_of::<PCNODE_DESCRIPTOR>());
    #[cfg(target_pointer_width = "64")]
    assert_eq!((d.PinSize, d.NodeSize), (112, 32));
    #[cfg(target_pointer_width = "32")]
    assert_eq!((d.PinSize, d.NodeSize), (64, 16));
    assert_eq!(
        (d.PinCount, d.NodeCount, d.ConnectionCount, d.CategoryCount),
        (5, 2, 5, 3)
    );

    // The pins.
    let (midi, dm, bus) = (
        KSDATAFORMAT_SUBTYPE_MIDI,
        KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
        KSDATAFORMAT_SUBTYPE_MIDI_BUS,
    );
    let (sink, none) = (KSPIN_COMMUNICATION_SINK, KSPIN_COMMUNICATION_NONE);
    let expected: Vec<PinRow> = vec![
        (
            KSPIN_DATAFLOW_IN,
            sink,
            vec![midi],
            (1, 1, 0),
            Some(KSAUDFNAME_MIDI),
        ),
        (
            KSPIN_DATAFLOW_IN,
            sink,
            vec![dm],
            (1, 1, 0),
            Some(KSAUDFNAME_DMUSIC_MPU_OUT),
        ),
        (KSPIN_DATAFLOW_OUT, none, vec![bus], (0, 0, 0), None),
        (KSPIN_DATAFLOW_IN, none, vec![bus], (0, 0, 0), None),
        (
            KSPIN_DATAFLOW_OUT,
            sink,
            vec![midi, dm],
            (1, 1, 0),
            Some(KSAUDFNAME_DMUSIC_MPU_IN),
        ),
    ];
    let mut seen: Vec<PinRow> = Vec::new();
    for k in 0..d.PinCount {
        // SAFETY: pin k of the static table, walked by PinSize as the port walks it.
        let pin = unsafe { at(d.Pins, d.PinSize, k) };
        let ks = pin.KsPinDescriptor;
        assert!(pin.AutomationTable.is_null(), "pin {k}");
        assert_eq!((ks.InterfacesCount, ks.MediumsCount), (0, 0), "pin {k}");
        assert!(ks.Interfaces.is_null() && ks.Mediums.is_null(), "pin {k}");
        // SAFETY: the static category GUID.
        let category = unsafe { guid(ks.Category) };
        assert_eq!(category, Some(KSCATEGORY_AUDIO), "pin {k}");
        // SAFETY: the union is plain data, zeroed by the declaration.
        assert_eq!(unsafe { ks.Anonymous.Reserved }, 0, "pin {k}");
        let mut subformats = Vec::new();
        for r in 0..ks.DataRangesCount {
            // SAFETY: the pin's static range pointers and ranges.
            let range = unsafe { *ks.DataRanges.add(r as usize) };
            // SAFETY: as above.
            let header = unsafe { range.read() };
            assert_eq!(header.MajorFormat, KSDATAFORMAT_TYPE_MUSIC, "pin {k}");
            assert_eq!(header.Specifier, KSDATAFORMAT_SPECIFIER_NONE, "pin {k}");
            assert_eq!(
                (header.Flags, header.SampleSize, header.Reserved),
                (0, 0, 0),
                "pin {k}"
            );
            if header.SubFormat == bus {
                assert_eq!(header.FormatSize, 64, "a plain KSDATARANGE");
            } else {
                assert_eq!(header.FormatSize, 96, "a KSDATARANGE_MUSIC");
                // SAFETY: FormatSize says the range is a whole KSDATARANGE_MUSIC.
                let music = unsafe { range.cast::<KSDATARANGE_MUSIC>().read() };
                assert_eq!(music.Technology, KSMUSIC_TECHNOLOGY_PORT);
                assert_eq!(
                    (music.Channels, music.Notes, music.ChannelMask),
                    (0, 0, 0xFFFF)
                );
            }
            subformats.push(header.SubFormat);
        }
        seen.push((
            ks.DataFlow,
            ks.Communication,
            subformats,
            (
                pin.MaxGlobalInstanceCount,
                pin.MaxFilterInstanceCount,
                pin.MinFilterInstanceCount,
            ),
            // SAFETY: NULL or the static name GUID.
            unsafe { guid(ks.Name) },
        ));
    }
    assert_eq!(seen, expected);

    // The nodes: two synthesizers, each with DMusUART's four Synth items.
    for k in 0..d.NodeCount {
        // SAFETY: node k of the static table, walked by NodeSize.
        let node = unsafe { at(d.Nodes, d.NodeSize, k) };
        assert_eq!(node.Flags, 0);
        // SAFETY: the static type GUID.
        assert_eq!(unsafe { guid(node.Type) }, Some(KSNODETYPE_SYNTHESIZER));
        assert!(node.Name.is_null());
        // SAFETY: the node's static automation table.
        let table = unsafe { node.AutomationTable.read() };
        assert_eq!(
            table.PropertyItemSize as usize,
            size_of::<PCPROPERTY_ITEM>()
        );
        assert_eq!(
            (table.MethodCount, table.EventCount, table.Reserved),
            (0, 0, 0)
        );
        assert!(table.Methods.is_null() && table.Events.is_null());
        let items: Vec<(GUID, u32, u32, bool)> = (0..table.PropertyCount)
            .map(|i| {
                // SAFETY: item i of the static table, walked by its item size.
                let item = unsafe { at(table.Properties, table.PropertyItemSize, i) };
                // SAFETY: the static set GUID.
                let set = unsafe { guid(item.Set) }.expect("a set");
                (set, item.Id, item.Flags, item.Handler.is_some())
            })
            .collect();
        let (get, set, basic) = (
            PCPROPERTY_ITEM_FLAG_GET,
            PCPROPERTY_ITEM_FLAG_SET,
            PCPROPERTY_ITEM_FLAG_BASICSUPPORT,
        );
        let s = KSPROPSETID_Synth;
        assert_eq!(
            items,
            [
                (s, KSPROPERTY_SYNTH_CAPS, get | basic, true),
                (s, KSPROPERTY_SYNTH_PORTPARAMETERS, get | basic, true),
                (s, KSPROPERTY_SYNTH_CHANNELGROUPS, set | get | basic, true),
                (s, KSPROPERTY_SYNTH_LATENCYCLOCK, get | basic, true),
            ],
            "node {k}"
        );
    }

    // The connections (F = PCFILTER_NODE): F.0→F.2, F.1→0.1, 0.0→F.2, F.3→1.1, 1.0→F.4.
    let f = PCFILTER_NODE;
    let c = |from_node, from_pin, to_node, to_pin| PCCONNECTION_DESCRIPTOR {
        FromNode: from_node,
        FromNodePin: from_pin,
        ToNode: to_node,
        ToNodePin: to_pin,
    };
    // SAFETY: the static connection table of ConnectionCount entries.
    let connections =
        unsafe { core::slice::from_raw_parts(d.Connections, d.ConnectionCount as usize) };
    assert_eq!(
        connections,
        [
            c(f, 0, f, 2),
            c(f, 1, 0, 1),
            c(0, 0, f, 2),
            c(f, 3, 1, 1),
            c(1, 0, f, 4)
        ]
    );
    // SAFETY: the static category table.
    let categories = unsafe { core::slice::from_raw_parts(d.Categories, d.CategoryCount as usize) };
    assert_eq!(
        categories,
        [KSCATEGORY_AUDIO, KSCATEGORY_RENDER, KSCATEGORY_CAPTURE]
    );
}

#[test]
fn the_rust_side_description_agrees_with_the_descriptor() {
    let t: &Topology = &UART_TOPOLOGY;
    let d = t.descriptor();
    assert_eq!(t.pins().len(), d.PinCount as usize);
    assert_eq!(t.nodes().len(), d.NodeCount as usize);
    let names: Vec<&str> = t.pins().iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        ["midi_out", "dmusic_out", "bridge_out", "bridge_in", "input"]
    );
    for (k, pin) in t.pins().iter().enumerate() {
        // SAFETY: pin k of the static table.
        let ks = unsafe { at(d.Pins, d.PinSize, k as u32) }.KsPinDescriptor;
        assert_eq!(pin.kind().data_flow(), ks.DataFlow);
        assert_eq!(pin.kind().communication(), ks.Communication);
        assert_eq!(pin.formats().len(), ks.DataRangesCount as usize);
        for (r, format) in pin.formats().iter().enumerate() {
            // SAFETY: the pin's static range pointers.
            assert_eq!(unsafe { *ks.DataRanges.add(r) }, format.range());
        }
        // SAFETY: NULL or the static name.
        assert_eq!(pin.name_guid().copied(), unsafe { guid(ks.Name) });
    }
    let directions: Vec<Direction> = t.nodes().iter().map(|n| n.direction()).collect();
    assert_eq!(directions, [Direction::Render, Direction::Capture]);
    assert!(!t.directmusic_only());
}

// ---------------------------------------------------------------------------------------------
// NewStream through the raw vtable, held to the declaration.

/// What `new_stream` was called with: kind, pin id, declared pin name, format subformat.
type Seen = (StreamKind, u32, Option<&'static str>, Option<GUID>);

/// A miniport with DMusUART's declaration whose `NewStream` is held to it.
#[mxf_miniport]
struct Strict {
    seen: Arc<Mutex<Vec<Seen>>>,
    group: IServiceGroup,
}

mxf::miniport_topology! {
    static STRICT for Strict {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: {
            midi_out: render(midi), name(KSAUDFNAME_MIDI),
            dmusic_out: render(directmusic), name(KSAUDFNAME_DMUSIC_MPU_OUT),
            bridge_out: bridge(out, midi_bus),
            bridge_in: bridge(in, midi_bus),
            input: capture(midi, directmusic), name(KSAUDFNAME_DMUSIC_MPU_IN),
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
#[com_object(IMXF)]
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

impl DmusMiniport for Strict {
    const PIN_CHECK: PinCheck = PinCheck::Declared;

    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        Ok(Some(self.group.clone()))
    }

    fn new_stream(&self, request: StreamRequest<'_>) -> Result<Stream> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((
                request.kind(),
                request.pin_id(),
                request.pin().map(|p| p.name()),
                request.format().map(|f| f.SubFormat),
            ));
        let capture = request.kind().direction == Direction::Capture;
        Ok(Stream {
            mxf: Quiet.into_com()?,
            service_group: capture.then(|| self.group.clone()),
            schedule_prefetch: 1234,
        })
    }
}

#[com_object(IMasterClock)]
struct Clock;

impl IMasterClock_Impl for Clock {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        // SAFETY: the caller's out-pointer.
        unsafe { time.write(0) };
        STATUS_SUCCESS
    }
}

/// A port that accepts everything.
#[com_object(IPortDMus)]
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

struct Rig {
    miniport: MiniportHandle<Strict>,
    seen: Arc<Mutex<Vec<Seen>>>,
    group: IServiceGroup,
    alloc: AllocatorHandle,
    clock: IMasterClock,
    port: IPortDMus,
}

impl Rig {
    fn new() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let group = ServiceGroupHandle::new()
            .expect("group")
            .interface()
            .clone();
        let miniport = Strict {
            seen: seen.clone(),
            group: group.clone(),
        }
        .into_miniport()
        .expect("miniport");
        Self {
            miniport,
            seen,
            group,
            alloc: AllocatorHandle::new(AllocatorConfig::default(), None).expect("allocator"),
            clock: Clock.into_com().expect("clock"),
            port: NullPort.into_com().expect("port"),
        }
    }

    /// `Init` through slot 5 of the raw vtable.
    fn init(&self) -> (NTSTATUS, *mut c_void) {
        let this = self.miniport.as_raw();
        let mut group = raw::sentinel();
        // SAFETY: a live IMiniportDMus; valid port and out-pointer.
        let s = unsafe {
            (raw::vtable::<IMiniportDMus_Vtbl>(this).Init)(
                this,
                None,
                null_mut(),
                Some(self.port.to_ref()),
                (&raw mut group).cast(),
            )
        };
        if !group.is_null() {
            // SAFETY: an AddRef'd group, released.
            unsafe { raw::release(group) };
        }
        (s, group)
    }

    fn refs(&self) -> [u32; 4] {
        let r = |p: *mut c_void| {
            // SAFETY: live interfaces; the reference added is dropped again.
            unsafe {
                raw::add_ref(p);
                raw::release(p)
            }
        };
        [
            r(self.miniport.as_raw()),
            r(self.alloc.as_raw()),
            r(self.clock.as_raw()),
            r(self.group.as_raw()),
        ]
    }
}

/// One raw `NewStream` and what it wrote.
struct Outcome {
    status: NTSTATUS,
    mxf: *mut c_void,
    group: *mut c_void,
    prefetch: u64,
}

impl Outcome {
    fn refused(&self) -> bool {
        self.mxf.is_null() && self.group.is_null() && self.prefetch == 0
    }
    /// Releases what a success handed over.
    fn release(self) {
        for p in [self.mxf, self.group] {
            if !p.is_null() {
                // SAFETY: an AddRef'd output.
                unsafe { raw::release(p) };
            }
        }
    }
}

/// The arguments of one raw `NewStream`.
struct Call {
    pin: u32,
    ty: DMUS_STREAM_TYPE,
    format: Option<KSDATAFORMAT>,
    outer: bool,
    alloc: bool,
    clock: bool,
}

fn format(subformat: GUID) -> KSDATAFORMAT {
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

fn call(pin: u32, ty: DMUS_STREAM_TYPE, format: Option<KSDATAFORMAT>) -> Call {
    Call {
        pin,
        ty,
        format,
        outer: false,
        alloc: true,
        clock: true,
    }
}

/// `NewStream` through slot 7 of the raw vtable, as the port calls it, with garbage in the
/// out-pointers.
fn new_stream(rig: &Rig, c: Call) -> Outcome {
    let this = rig.miniport.as_raw();
    let (mut mxf, mut group, mut prefetch) = (raw::sentinel(), raw::sentinel(), 0xDEAD_u64);
    // The port's copy of the format: a heap block the miniport must not keep.
    let mut copy = c.format.map(Box::new);
    let format_ptr = copy
        .as_deref_mut()
        .map_or(null_mut(), |f| f as *mut KSDATAFORMAT);
    let outer: Option<ComRef<'_, IUnknown>> = c.outer.then(|| {
        let unknown: &IUnknown = &rig.port;
        unknown.to_ref()
    });
    // SAFETY: a live IMiniportDMus; every pointer valid for the call or NULL.
    let status = unsafe {
        (raw::vtable::<IMiniportDMus_Vtbl>(this).NewStream)(
            this,
            (&raw mut mxf).cast(),
            outer,
            NonPagedPool,
            c.pin,
            c.ty,
            format_ptr,
            (&raw mut group).cast(),
            c.alloc.then(|| rig.alloc.to_ref()),
            c.clock.then(|| rig.clock.to_ref()),
            &mut prefetch,
        )
    };
    if let Some(f) = copy.as_deref_mut() {
        // Scribbled over after the call, as the port may free it.
        *f = format(GUID::from_u128(0xCCCC));
    }
    assert_ne!(mxf, raw::sentinel(), "NewStream always writes *MXF");
    assert_ne!(
        group,
        raw::sentinel(),
        "NewStream always writes *ServiceGroup"
    );
    Outcome {
        status,
        mxf,
        group,
        prefetch,
    }
}

#[test]
fn every_declared_pin_and_format_reaches_its_constructor() {
    let rig = Rig::new();
    assert_eq!(rig.init().0, STATUS_SUCCESS);
    let (midi, dm) = (KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    let render = |format| StreamKind {
        direction: Direction::Render,
        format,
    };
    let capture = |format| StreamKind {
        direction: Direction::Capture,
        format,
    };
    let cases = [
        (
            0,
            DMUS_STREAM_MIDI_RENDER,
            midi,
            render(Format::Midi),
            "midi_out",
        ),
        (
            1,
            DMUS_STREAM_MIDI_RENDER,
            dm,
            render(Format::DirectMusic),
            "dmusic_out",
        ),
        (
            4,
            DMUS_STREAM_MIDI_CAPTURE,
            midi,
            capture(Format::Midi),
            "input",
        ),
        (
            4,
            DMUS_STREAM_MIDI_CAPTURE,
            dm,
            capture(Format::DirectMusic),
            "input",
        ),
    ];
    for (pin, ty, sub, kind, name) in cases {
        let before = rig.refs();
        let out = new_stream(&rig, call(pin, ty, Some(format(sub))));
        assert_eq!(out.status, STATUS_SUCCESS, "pin {pin} {ty:?}");
        assert!(!out.mxf.is_null());
        assert_eq!(out.prefetch, 1234, "the constructor's prefetch");
        let last = rig
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        assert_eq!(last, Some((kind, pin, Some(name), Some(sub))));
        if kind.direction == Direction::Capture {
            assert_eq!(out.group, rig.group.as_raw(), "the constructor's group");
        } else {
            assert!(out.group.is_null());
        }
        out.release();
        assert_eq!(rig.refs(), before, "pin {pin}: nothing kept after release");
    }
    // A range's extras and the format's sizes do not matter; its GUIDs do.
    let mut bigger = format(midi);
    bigger.FormatSize = 200;
    let mut with_tail = vec![0u8; 200];
    // SAFETY: 200 writable bytes; the header written unaligned.
    unsafe {
        with_tail
            .as_mut_ptr()
            .cast::<KSDATAFORMAT>()
            .write_unaligned(bigger)
    };
    let this = rig.miniport.as_raw();
    let (mut mxf, mut group, mut prefetch) = (null_mut::<c_void>(), null_mut::<c_void>(), 0u64);
    // SAFETY: as in `new_stream`; the format is a 200-byte block as FormatSize says.
    let s = unsafe {
        (raw::vtable::<IMiniportDMus_Vtbl>(this).NewStream)(
            this,
            (&raw mut mxf).cast(),
            None,
            NonPagedPool,
            0,
            DMUS_STREAM_MIDI_RENDER,
            with_tail.as_mut_ptr().cast(),
            (&raw mut group).cast(),
            Some(rig.alloc.to_ref()),
            Some(rig.clock.to_ref()),
            &mut prefetch,
        )
    };
    assert_eq!(s, STATUS_SUCCESS);
    Outcome {
        status: s,
        mxf,
        group,
        prefetch,
    }
    .release();
}

#[test]
fn every_refusal_has_its_status_and_leaves_nulls_and_no_reference() {
    let rig = Rig::new();
    let (midi, dm) = (KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    let render = DMUS_STREAM_MIDI_RENDER;
    let capture = DMUS_STREAM_MIDI_CAPTURE;
    let before = rig.refs();

    // Before Init, whatever the pin.
    for pin in [0, 2, 9] {
        let out = new_stream(&rig, call(pin, render, Some(format(midi))));
        assert_eq!(out.status, STATUS_INVALID_DEVICE_STATE, "pin {pin}");
        assert!(out.refused());
    }
    assert_eq!(rig.init().0, STATUS_SUCCESS);
    assert_eq!(
        rig.init(),
        (STATUS_INVALID_DEVICE_STATE, null_mut()),
        "Init once"
    );
    let before_init = before;
    let before = rig.refs();
    assert_eq!(before[0], before_init[0]);

    let mut null_format_size = format(midi);
    null_format_size.FormatSize = 63;
    let mut other_major = format(midi);
    other_major.MajorFormat = GUID::from_u128(7);
    let mut null_specifier = format(midi);
    null_specifier.Specifier = GUID::NULL;
    let cases = [
        // Pins: unknown, bridge, the other direction.
        (
            "unknown pin",
            call(5, render, Some(format(midi))),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "far pin",
            call(u32::MAX, capture, Some(format(midi))),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "bridge out",
            call(2, render, Some(format(midi))),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            "bridge in",
            call(3, capture, Some(format(dm))),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            "capture on render pin",
            call(0, capture, Some(format(midi))),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            "render on capture pin",
            call(4, render, Some(format(midi))),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        // Formats: none, too short, not offered.
        ("no format", call(0, render, None), STATUS_INVALID_PARAMETER),
        (
            "short format",
            call(0, render, Some(null_format_size)),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "DirectMusic on the MIDI pin",
            call(0, render, Some(format(dm))),
            STATUS_NO_MATCH,
        ),
        (
            "MIDI on the DirectMusic pin",
            call(1, render, Some(format(midi))),
            STATUS_NO_MATCH,
        ),
        (
            "bus on the capture pin",
            call(4, capture, Some(format(KSDATAFORMAT_SUBTYPE_MIDI_BUS))),
            STATUS_NO_MATCH,
        ),
        (
            "another major",
            call(0, render, Some(other_major)),
            STATUS_NO_MATCH,
        ),
        (
            "a wildcard specifier",
            call(0, render, Some(null_specifier)),
            STATUS_NO_MATCH,
        ),
        // Types and arguments, before the pin is looked at.
        (
            "wave sink",
            call(0, DMUS_STREAM_WAVE_SINK, Some(format(midi))),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            "invalid type",
            call(0, DMUS_STREAM_MIDI_INVALID, Some(format(midi))),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            "unknown type",
            call(9, DMUS_STREAM_TYPE(7), None),
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            "outer",
            Call {
                outer: true,
                ..call(0, render, Some(format(midi)))
            },
            STATUS_INVALID_PARAMETER,
        ),
        (
            "no allocator",
            Call {
                alloc: false,
                ..call(0, render, Some(format(midi)))
            },
            STATUS_INVALID_PARAMETER,
        ),
        (
            "no clock",
            Call {
                clock: false,
                ..call(0, render, Some(format(midi)))
            },
            STATUS_INVALID_PARAMETER,
        ),
    ];
    for (what, c, status) in cases {
        let out = new_stream(&rig, c);
        assert_eq!(out.status, status, "{what}");
        assert!(out.refused(), "{what}: outputs NULL, NULL, 0");
        assert_eq!(rig.refs(), before, "{what}: nothing AddRef'd");
    }
    assert!(
        rig.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty(),
        "no refused request reached the constructor"
    );

    // A NULL out-pointer: the others are still written NULL.
    let this = rig.miniport.as_raw();
    let (mut group, mut prefetch) = (raw::sentinel(), 5u64);
    let mut f = format(midi);
    // SAFETY: a live IMiniportDMus; one NULL out-pointer, the rest valid.
    let s = unsafe {
        (raw::vtable::<IMiniportDMus_Vtbl>(this).NewStream)(
            this,
            null_mut(),
            None,
            NonPagedPool,
            0,
            render,
            &mut f,
            (&raw mut group).cast(),
            Some(rig.alloc.to_ref()),
            Some(rig.clock.to_ref()),
            &mut prefetch,
        )
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    assert!(group.is_null() && prefetch == 0);
    assert!(
        rig.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    );
}

#[test]
fn init_through_the_vtable_checks_its_pointers() {
    let rig = Rig::new();
    let this = rig.miniport.as_raw();
    let mut group = raw::sentinel();
    // SAFETY: a live IMiniportDMus; NULL port.
    let s = unsafe {
        (raw::vtable::<IMiniportDMus_Vtbl>(this).Init)(
            this,
            None,
            null_mut(),
            None,
            (&raw mut group).cast(),
        )
    };
    assert_eq!((s, group), (STATUS_INVALID_PARAMETER, null_mut()));
    // SAFETY: as above; NULL out-pointer.
    let s = unsafe {
        (raw::vtable::<IMiniportDMus_Vtbl>(this).Init)(
            this,
            None,
            null_mut(),
            Some(rig.port.to_ref()),
            null_mut(),
        )
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    // Neither counted as an Init: the real one succeeds and returns the group, AddRef'd.
    let before = rig.refs()[3];
    let mut group = raw::sentinel();
    // SAFETY: as above.
    let s = unsafe {
        (raw::vtable::<IMiniportDMus_Vtbl>(this).Init)(
            this,
            None,
            null_mut(),
            Some(rig.port.to_ref()),
            (&raw mut group).cast(),
        )
    };
    assert_eq!((s, group), (STATUS_SUCCESS, rig.group.as_raw()));
    assert_eq!(rig.refs()[3], before + 1);
    // SAFETY: the AddRef'd group, released.
    unsafe { raw::release(group) };
}

// ---------------------------------------------------------------------------------------------
// Options of `#[mxf_miniport]`: a further interface, the QueryInterface failure, the pool tag.

/// An interface of the driver's own, exposed beside IMiniportDMus.
#[com_interface(iid = "5F1C2D3E-4B5A-4968-8776-A5B4C3D2E1F0")]
// SAFETY: a test interface with its own IID, for this one slot.
unsafe trait IPortBase: IUnknown {
    /// Slot 3. The device's I/O base.
    fn Base(&self) -> u32;
}

#[mxf_miniport(IPortBase, qi_failure = STATUS_NOINTERFACE_TEST, tag = "Opt1")]
struct WithOptions {
    base: u32,
}

const STATUS_NOINTERFACE_TEST: NTSTATUS = NTSTATUS(0xC000_02B9_u32 as i32);

mxf::miniport_topology! {
    static WITH_OPTIONS for WithOptions {
        categories: [AUDIO, RENDER],
        pins: { out: render(midi) },
    }
}

impl DmusMiniport for WithOptions {
    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        Ok(None)
    }
    fn new_stream(&self, _request: StreamRequest<'_>) -> Result<Stream> {
        Err(STATUS_NOT_IMPLEMENTED)
    }
}

/// The framework's value type holds the struct; an interface of the driver's own crate is
/// implemented on it.
impl IPortBase_Impl for mxf::miniport::MiniportObject<WithOptions> {
    fn Base(&self) -> u32 {
        self.miniport().base
    }
}

#[test]
fn a_miniport_exposes_further_interfaces_and_takes_the_object_options() {
    use mxf::com::ObjectImpl;
    let m = WithOptions { base: 0x330 }
        .into_miniport()
        .expect("miniport");
    let base: IPortBase = m.cast().expect("the further interface");
    assert_eq!(base.Base(), 0x330);
    let dmus: IMiniportDMus = base.cast().expect("IMiniportDMus from it");
    assert_eq!(dmus.as_raw(), m.as_raw(), "one identity: chain 0");
    assert_eq!(
        m.cast::<IMXF>().err(),
        Some(STATUS_NOINTERFACE_TEST),
        "qi_failure"
    );
    assert_eq!(<WithOptions as ObjectImpl>::POOL_TAG, pool_tag(b"Opt1"));
    assert_eq!(m.miniport().base, 0x330);
}

#[test]
fn every_pin_type_and_subformat_combination_is_served_or_refused_as_the_table_says() {
    let rig = Rig::new();
    assert_eq!(rig.init().0, STATUS_SUCCESS);
    let (midi, dm, bus) = (
        KSDATAFORMAT_SUBTYPE_MIDI,
        KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
        KSDATAFORMAT_SUBTYPE_MIDI_BUS,
    );
    // kernel.md §4.7: (stream type the pin takes, or None for a bridge; its subformats).
    let table: [(Option<DMUS_STREAM_TYPE>, &[GUID]); 5] = [
        (Some(DMUS_STREAM_MIDI_RENDER), &[midi]),
        (Some(DMUS_STREAM_MIDI_RENDER), &[dm]),
        (None, &[bus]),
        (None, &[bus]),
        (Some(DMUS_STREAM_MIDI_CAPTURE), &[midi, dm]),
    ];
    let mut served = 0;
    for pin in 0..6u32 {
        for ty in [DMUS_STREAM_MIDI_RENDER, DMUS_STREAM_MIDI_CAPTURE] {
            for sub in [midi, dm, bus] {
                let expected = match table.get(pin as usize) {
                    None => STATUS_INVALID_PARAMETER,
                    Some((None, _)) => STATUS_INVALID_DEVICE_REQUEST,
                    Some((Some(t), _)) if *t != ty => STATUS_INVALID_DEVICE_REQUEST,
                    Some((_, subs)) if subs.contains(&sub) => STATUS_SUCCESS,
                    Some(_) => STATUS_NO_MATCH,
                };
                let out = new_stream(&rig, call(pin, ty, Some(format(sub))));
                assert_eq!(out.status, expected, "pin {pin}, {ty:?}, {sub}");
                if expected == STATUS_SUCCESS {
                    served += 1;
                    let seen = rig
                        .seen
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop();
                    let (kind, id, _, _) = seen.expect("the constructor was called");
                    assert_eq!(id, pin);
                    assert_eq!(
                        kind.format,
                        if sub == dm {
                            Format::DirectMusic
                        } else {
                            Format::Midi
                        }
                    );
                    out.release();
                } else {
                    assert!(out.refused(), "pin {pin}, {ty:?}, {sub}");
                }
            }
        }
    }
    assert_eq!(served, 4, "pin 0 MIDI, pin 1 DirectMusic, pin 4 both");
    assert!(
        rig.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    );
}
