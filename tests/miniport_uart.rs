//! The sample DMus miniport (`mxf_suite::uart`) driven the way the DMus port drives it: through
//! its vtables only (`IMiniportDMus`, `IMXF`, `IServiceSink`), with a test port, a test master
//! clock and the framework's allocator. Item numbers refer to `domain.md` §6.
//!
//! Every test ends with the allocator balanced: no event and no buffer outstanding, no misuse.

use core::ffi::c_void;
use core::ptr::{self, null_mut};
use mxf::abi::NonPagedPool;
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::IntoComObject;
use mxf::platform::fault;
use mxf::prelude::*;
use mxf::testing::{Ev, RecordLog, Recorder, chain, package, put_chain};
use mxf_suite::uart::{
    INPUT_FIFO_SIZE, MAX_ZERO_WRITES, RETRY_DELAY, UART_TOPOLOGY, VirtualMpu401,
    create_uart_miniport,
};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

const N: usize = INLINE_DATA_BYTES;

// ---------------------------------------------------------------------------------------------
// Test doubles: the port, its master clock, a capture pin, a byte-position listener.
// ---------------------------------------------------------------------------------------------

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the test port saw.
#[derive(Default)]
struct PortLog {
    /// `Notify` arguments (the group's address, 0 for NULL).
    notifies: Mutex<Vec<usize>>,
    /// The group of `RegisterServiceGroup`.
    registered: Mutex<Option<IServiceGroup>>,
}

/// The port as a miniport sees it: records `Notify` and forwards it to the group, as
/// `IPortDMus::Notify` does; keeps the group of `RegisterServiceGroup`.
#[com_object(IPortDMus)]
struct TestPort {
    log: Arc<PortLog>,
}

impl IPort_Impl for TestPort {
    unsafe fn Init(
        &self,
        _device_object: *mut c_void,
        _irp: *mut c_void,
        _unknown_miniport: Option<ComRef<'_, IUnknown>>,
        _unknown_adapter: Option<ComRef<'_, IUnknown>>,
        _resource_list: *mut c_void,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
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

impl IPortDMus_Impl for TestPort {
    fn Notify(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        lock(&self.log.notifies).push(group.map_or(0, |g| g.as_raw().addr()));
        let target = match group {
            Some(g) => Some(g.to_owned()),
            None => lock(&self.log.registered).clone(),
        };
        if let Some(g) = target {
            g.RequestService();
        }
    }
    fn RegisterServiceGroup(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        *lock(&self.log.registered) = group.map(|g| g.to_owned());
    }
}

/// A master clock the test sets.
#[com_object(IMasterClock)]
struct TestClock {
    now: Arc<AtomicI64>,
}

impl IMasterClock_Impl for TestClock {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(self.now.load(Ordering::SeqCst)) };
        STATUS_SUCCESS
    }
}

/// The capture pin's part of the port: a member of the stream's service group whose service
/// request is the capture DPC, `PutMessage(NULL)` on the stream (item 66).
#[com_object(IServiceSink)]
struct CapturePin {
    stream: IMXF,
    services: Arc<AtomicUsize>,
}

impl IServiceSink_Impl for CapturePin {
    fn RequestService(&self) {
        self.services.fetch_add(1, Ordering::SeqCst);
        // SAFETY: live stream; NULL is the "push your input" cue.
        unsafe { self.stream.PutMessage(null_mut()) };
    }
}

/// The render pin's byte-position callback (the allocator calls it for returned events).
#[com_object(IPositionNotify)]
struct Positions {
    seen: Arc<Mutex<Vec<u64>>>,
}

impl IPositionNotify_Impl for Positions {
    fn PositionNotify(&self, byte_position: u64) {
        lock(&self.seen).push(byte_position);
    }
}

// ---------------------------------------------------------------------------------------------
// The rig: device, allocator, clock, port, and an initialised miniport.
// ---------------------------------------------------------------------------------------------

/// A value no out-pointer ever legitimately holds, to see whether one was written.
fn sentinel() -> *mut c_void {
    ptr::without_provenance_mut(0x5A5A_5A50)
}

/// The reference count of the object behind `i`, as a C caller sees it (AddRef, Release).
fn refs<I: Interface>(i: &I) -> u32 {
    // SAFETY: `i` holds a reference; every vtable begins with IUnknown's slots.
    let vt = unsafe { &**i.as_raw().cast::<*const IUnknown_Vtbl>() };
    // SAFETY: as above; the reference added is dropped again.
    unsafe {
        (vt.AddRef)(i.as_raw());
        (vt.Release)(i.as_raw())
    }
}

/// The outcome of one `NewStream` call.
struct NewStream {
    status: NTSTATUS,
    mxf: Option<IMXF>,
    group: Option<IServiceGroup>,
    prefetch: u64,
}

struct Rig {
    mpu: Arc<VirtualMpu401>,
    alloc: AllocatorHandle,
    now: Arc<AtomicI64>,
    clock: IMasterClock,
    port: IPortDMus,
    port_log: Arc<PortLog>,
    miniport: IMiniportDMus,
    group: IServiceGroup,
    positions: Arc<Mutex<Vec<u64>>>,
}

impl Rig {
    fn new() -> Self {
        Self::with(AllocatorConfig::default())
    }

    /// A rig whose miniport has been through `Init`.
    fn with(config: AllocatorConfig) -> Self {
        let (mpu, miniport) = bare_miniport();
        let positions = Arc::new(Mutex::new(Vec::new()));
        let notify: IPositionNotify = Positions {
            seen: positions.clone(),
        }
        .into_com()
        .expect("position listener");
        let alloc = AllocatorHandle::new(config, Some(notify)).expect("allocator");
        let now = Arc::new(AtomicI64::new(0));
        let clock: IMasterClock = TestClock { now: now.clone() }.into_com().expect("clock");
        let port_log = Arc::new(PortLog::default());
        let port: IPortDMus = TestPort {
            log: port_log.clone(),
        }
        .into_com()
        .expect("port");
        let mut out = sentinel();
        // SAFETY: live miniport and port; `out` is writable storage for an interface pointer.
        let status = unsafe {
            miniport.Init(
                None,
                null_mut(),
                Some(port.to_ref()),
                (&raw mut out).cast::<Option<IServiceGroup>>(),
            )
        };
        assert_eq!(status, STATUS_SUCCESS);
        // SAFETY: success stores an AddRef'd group.
        let group = unsafe { IServiceGroup::from_raw(out) }.expect("Init returns a group");
        Self {
            mpu,
            alloc,
            now,
            clock,
            port,
            port_log,
            miniport,
            group,
            positions,
        }
    }

    fn set_time(&self, t: i64) {
        self.now.store(t, Ordering::SeqCst);
    }

    /// `NewStream` as the port calls it: no outer, nonpaged pool, `*SchedulePreFetch` preset to
    /// 0 by the port (here to a sentinel, to see the miniport write it), out-pointers holding
    /// garbage (a sentinel).
    fn new_stream_with(
        &self,
        ty: DMUS_STREAM_TYPE,
        alloc: Option<&IAllocatorMXF>,
        clock: Option<&IMasterClock>,
    ) -> NewStream {
        let (mut mxf, mut group, mut prefetch) = (sentinel(), sentinel(), 0xDEAD_u64);
        // DMusUART's pins (`kernel.md` §4.7): 1 renders DirectMusic, 4 captures it; a client's
        // bare DirectMusic format.
        let pin = if ty == DMUS_STREAM_MIDI_CAPTURE { 4 } else { 1 };
        let mut format = client_format(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
        // SAFETY: live miniport; every pointer argument is valid or NULL.
        let status = unsafe {
            self.miniport.NewStream(
                (&raw mut mxf).cast::<Option<IMXF>>(),
                None,
                NonPagedPool,
                pin,
                ty,
                &mut format,
                (&raw mut group).cast::<Option<IServiceGroup>>(),
                alloc.map(|a| a.to_ref()),
                clock.map(|c| c.to_ref()),
                &mut prefetch,
            )
        };
        assert_ne!(mxf, sentinel(), "NewStream always writes *MXF");
        assert_ne!(group, sentinel(), "NewStream always writes *ServiceGroup");
        NewStream {
            status,
            // SAFETY: NULL or an AddRef'd stream.
            mxf: unsafe { IMXF::from_raw(mxf) },
            // SAFETY: NULL or an AddRef'd group.
            group: unsafe { IServiceGroup::from_raw(group) },
            prefetch,
        }
    }

    fn new_stream(&self, ty: DMUS_STREAM_TYPE) -> NewStream {
        self.new_stream_with(ty, Some(&self.alloc), Some(&self.clock))
    }

    fn render(&self) -> IMXF {
        let s = self.new_stream(DMUS_STREAM_MIDI_RENDER);
        assert_eq!(s.status, STATUS_SUCCESS);
        s.mxf.expect("a render stream")
    }

    fn capture(&self) -> IMXF {
        let s = self.new_stream(DMUS_STREAM_MIDI_CAPTURE);
        assert_eq!(s.status, STATUS_SUCCESS);
        s.mxf.expect("a capture stream")
    }

    /// A capture stream connected to a recorder (as to the port's capture sink), in RUN.
    fn running_capture(&self) -> (IMXF, IMXF, RecordLog) {
        let capture = self.capture();
        let (sink, log) = Recorder::create(&self.alloc).expect("recorder");
        assert_eq!(connect(&capture, Some(&sink)), STATUS_SUCCESS);
        walk_up(&capture);
        (capture, sink, log)
    }

    fn output_bytes(&self) -> Vec<u8> {
        self.mpu.take_output().into_iter().map(|(_, b)| b).collect()
    }

    fn outstanding(&self) -> u64 {
        self.alloc.stats().outstanding_events
    }

    /// Releases everything but the allocator and checks that it got every event and buffer back.
    fn finish(self) {
        let Rig {
            mpu,
            alloc,
            clock,
            port,
            miniport,
            group,
            ..
        } = self;
        drop((group, miniport, port, clock));
        assert_eq!(mpu.next_timer(), None, "no timer may outlive the streams");
        let stats = alloc.stats();
        assert_eq!(stats.outstanding_events, 0, "events lost: {stats:?}");
        assert_eq!(stats.outstanding_buffers, 0, "buffers lost: {stats:?}");
        assert_eq!(stats.anomalies.misuse(), 0, "allocator misuse: {stats:?}");
    }
}

/// A fresh device and a miniport on it that has not been through `Init`.
fn bare_miniport() -> (Arc<VirtualMpu401>, IMiniportDMus) {
    let mpu = VirtualMpu401::new();
    let miniport = create_uart_miniport(mpu.clone()).expect("miniport");
    (mpu, miniport)
}

fn set_state(s: &IMXF, state: KSSTATE) -> NTSTATUS {
    s.SetState(state)
}

/// STOP → ACQUIRE → PAUSE → RUN, one step at a time, as KS delivers states.
fn walk_up(s: &IMXF) {
    for st in [KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN] {
        assert_eq!(set_state(s, st), STATUS_SUCCESS);
    }
}

fn connect(s: &IMXF, sink: Option<&IMXF>) -> NTSTATUS {
    s.ConnectOutput(sink.map(|k| k.to_ref()))
}

fn disconnect(s: &IMXF, sink: Option<&IMXF>) -> NTSTATUS {
    s.DisconnectOutput(sink.map(|k| k.to_ref()))
}

fn put(s: &IMXF, alloc: &IAllocatorMXF, events: &[Ev<'_>]) -> NTSTATUS {
    put_chain(s, chain(alloc, events).expect("events"))
}

fn put_null(s: &IMXF) -> NTSTATUS {
    // SAFETY: live stream.
    unsafe { s.PutMessage(null_mut()) }
}

/// `QueryInterface(iid)`: the status, and the pointer (released again).
fn qi<I: Interface>(i: &I, iid: &GUID) -> (NTSTATUS, bool) {
    let mut out = sentinel();
    // SAFETY: `i` holds a reference; every vtable begins with IUnknown's slots.
    let vt = unsafe { &**i.as_raw().cast::<*const IUnknown_Vtbl>() };
    // SAFETY: live interface; `iid` and `out` are valid.
    let status = unsafe { (vt.QueryInterface)(i.as_raw(), iid, &mut out) };
    // SAFETY: NULL or an AddRef'd pointer, released here.
    let got = unsafe { IUnknown::from_raw(out) };
    (status, got.is_some())
}

// ---------------------------------------------------------------------------------------------
// IMiniport / IMiniportDMus.
// ---------------------------------------------------------------------------------------------

#[test]
fn init_registers_its_group_early_and_returns_it_addrefd() {
    let rig = Rig::new();
    let registered = lock(&rig.port_log.registered).clone().expect("registered");
    assert_eq!(
        registered.as_raw(),
        rig.group.as_raw(),
        "the group Init returns"
    );
    drop(registered);

    // A second Init is refused and writes NULL.
    let mut out = sentinel();
    // SAFETY: live miniport and port; `out` is writable.
    let status = unsafe {
        rig.miniport.Init(
            None,
            null_mut(),
            Some(rig.port.to_ref()),
            (&raw mut out).cast::<Option<IServiceGroup>>(),
        )
    };
    assert_eq!(status, STATUS_INVALID_DEVICE_STATE);
    assert!(out.is_null());
    rig.finish();
}

#[test]
fn init_needs_a_port_and_an_out_pointer_and_new_stream_needs_init() {
    let (_mpu, miniport) = bare_miniport();
    let mut out = sentinel();
    // SAFETY: live miniport; NULL port; `out` is writable.
    let status = unsafe {
        miniport.Init(
            None,
            null_mut(),
            None,
            (&raw mut out).cast::<Option<IServiceGroup>>(),
        )
    };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert!(out.is_null());

    let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).expect("allocator");
    let clock: IMasterClock = TestClock {
        now: Arc::default(),
    }
    .into_com()
    .expect("clock");
    let (mut mxf, mut group, mut prefetch) = (sentinel(), sentinel(), 7u64);
    // SAFETY: live miniport; valid out-pointers.
    let status = unsafe {
        miniport.NewStream(
            (&raw mut mxf).cast::<Option<IMXF>>(),
            None,
            NonPagedPool,
            0,
            DMUS_STREAM_MIDI_RENDER,
            null_mut(),
            (&raw mut group).cast::<Option<IServiceGroup>>(),
            Some(alloc.to_ref()),
            Some(clock.to_ref()),
            &mut prefetch,
        )
    };
    assert_eq!(status, STATUS_INVALID_DEVICE_STATE);
    assert!(mxf.is_null() && group.is_null());
    assert_eq!(prefetch, 0);

    // A NULL service-group out-pointer is refused too.
    let port: IPortDMus = TestPort {
        log: Arc::default(),
    }
    .into_com()
    .expect("port");
    // SAFETY: live miniport and port; NULL out-pointer.
    let status = unsafe { miniport.Init(None, null_mut(), Some(port.to_ref()), null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    drop((miniport, port, clock));
    assert_eq!(alloc.stats().outstanding_events, 0);
}

#[test]
fn miniport_answers_its_interfaces_and_invalid_parameter_otherwise() {
    let rig = Rig::new();
    for iid in [IUnknown::IID, IMiniport::IID, IMiniportDMus::IID] {
        assert_eq!(qi(&rig.miniport, &iid), (STATUS_SUCCESS, true), "{iid:?}");
    }
    for iid in [IMXF::IID, IPortDMus::IID, IServiceSink::IID] {
        assert_eq!(
            qi(&rig.miniport, &iid),
            (STATUS_INVALID_PARAMETER, false),
            "{iid:?}"
        );
    }
    let render = rig.render();
    let capture = rig.capture();
    for iid in [IUnknown::IID, IMXF::IID, IServiceSink::IID] {
        assert_eq!(qi(&render, &iid), (STATUS_SUCCESS, true), "{iid:?}");
    }
    assert_eq!(
        qi(&render, &IAllocatorMXF::IID),
        (STATUS_INVALID_PARAMETER, false)
    );
    assert_eq!(qi(&capture, &IMXF::IID), (STATUS_SUCCESS, true));
    assert_eq!(
        qi(&capture, &IServiceSink::IID),
        (STATUS_INVALID_PARAMETER, false)
    );
    drop((render, capture));
    rig.finish();
}

#[test]
fn get_description_is_the_declared_topology_and_intersection_is_the_ports() {
    let rig = Rig::new();
    let mut desc = sentinel();
    // SAFETY: live miniport; `desc` is writable.
    let status = unsafe { rig.miniport.GetDescription(&mut desc) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        desc.cast_const().cast::<PCFILTER_DESCRIPTOR>(),
        ptr::from_ref(UART_TOPOLOGY.descriptor()),
        "the static descriptor itself: the port may keep the pointer"
    );
    let mut again = sentinel();
    // SAFETY: as above.
    let status = unsafe { rig.miniport.GetDescription(&mut again) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(again, desc);
    // SAFETY: a NULL out-pointer is refused before anything is written.
    let status = unsafe { rig.miniport.GetDescription(null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);

    let mut len = 0xABCD_u32;
    // SAFETY: live miniport; the pointers are unused by this miniport but valid.
    let status = unsafe {
        rig.miniport
            .DataRangeIntersection(0, null_mut(), null_mut(), 0, null_mut(), &mut len)
    };
    assert_eq!(
        status, STATUS_NOT_IMPLEMENTED,
        "the port's default handler is used"
    );
    assert_eq!(len, 0xABCD, "nothing written");
    rig.finish();
}

/// A client's bare format of `subformat` (SPECIFIER_NONE).
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

/// `NewStream` on `pin` with a client's bare format of `subformat` (SPECIFIER_NONE).
fn new_stream_on(rig: &Rig, pin: u32, ty: DMUS_STREAM_TYPE, subformat: GUID) -> NewStream {
    let mut format = client_format(subformat);
    let (mut mxf, mut group, mut prefetch) = (sentinel(), sentinel(), 0xDEAD_u64);
    // SAFETY: live miniport; every pointer argument is valid.
    let status = unsafe {
        rig.miniport.NewStream(
            (&raw mut mxf).cast::<Option<IMXF>>(),
            None,
            NonPagedPool,
            pin,
            ty,
            &mut format,
            (&raw mut group).cast::<Option<IServiceGroup>>(),
            Some(rig.alloc.to_ref()),
            Some(rig.clock.to_ref()),
            &mut prefetch,
        )
    };
    NewStream {
        status,
        // SAFETY: NULL or an AddRef'd stream.
        mxf: unsafe { IMXF::from_raw(mxf) },
        // SAFETY: NULL or an AddRef'd group.
        group: unsafe { IServiceGroup::from_raw(group) },
        prefetch,
    }
}

#[test]
fn the_declared_pins_open_and_pins_of_another_kind_or_format_are_refused() {
    let rig = Rig::new();
    let (midi, dm) = (KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    // As a port that reads the descriptor opens them: legacy and DirectMusic render, capture.
    let legacy = new_stream_on(&rig, 0, DMUS_STREAM_MIDI_RENDER, midi);
    let dmusic = new_stream_on(&rig, 1, DMUS_STREAM_MIDI_RENDER, dm);
    let input = new_stream_on(&rig, 4, DMUS_STREAM_MIDI_CAPTURE, dm);
    for s in [&legacy, &dmusic, &input] {
        assert_eq!(s.status, STATUS_SUCCESS);
    }
    assert!(input.group.is_some() && legacy.group.is_none());
    drop((legacy, dmusic, input));
    // The pins are checked against the declaration (DMusUART reads only the stream type): a
    // capture on a render pin, a render on a bridge, a format the pin does not offer, a pin
    // that does not exist are refused, and nothing is written.
    for (pin, ty, sub, status) in [
        (
            0,
            DMUS_STREAM_MIDI_CAPTURE,
            midi,
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            2,
            DMUS_STREAM_MIDI_RENDER,
            dm,
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (1, DMUS_STREAM_MIDI_RENDER, midi, STATUS_NO_MATCH),
        (5, DMUS_STREAM_MIDI_RENDER, dm, STATUS_INVALID_PARAMETER),
    ] {
        let s = new_stream_on(&rig, pin, ty, sub);
        assert_eq!(s.status, status, "pin {pin}");
        assert!(s.mxf.is_none() && s.group.is_none(), "pin {pin}");
    }
    rig.finish();
}

#[test]
fn item68_new_stream_sets_no_prefetch_gives_capture_the_group_and_limits_streams() {
    let rig = Rig::new();
    let r1 = rig.new_stream(DMUS_STREAM_MIDI_RENDER);
    assert_eq!(r1.status, STATUS_SUCCESS);
    assert_eq!(r1.prefetch, 0, "*SchedulePreFetch = 0");
    assert!(r1.group.is_none(), "render streams get no service group");
    assert!(
        rig.mpu.is_uart_mode(),
        "the first stream puts the MPU-401 in UART mode"
    );
    let r2 = rig.new_stream(DMUS_STREAM_MIDI_RENDER);
    assert_eq!(r2.status, STATUS_SUCCESS);

    let r3 = rig.new_stream(DMUS_STREAM_MIDI_RENDER);
    assert_eq!(
        r3.status, STATUS_INVALID_DEVICE_REQUEST,
        "a third render stream"
    );
    assert!(r3.mxf.is_none() && r3.group.is_none());

    let group_refs = refs(&rig.group);
    let c1 = rig.new_stream(DMUS_STREAM_MIDI_CAPTURE);
    assert_eq!(c1.status, STATUS_SUCCESS);
    assert_eq!(c1.prefetch, 0);
    let g = c1
        .group
        .as_ref()
        .expect("capture streams get a service group");
    assert_eq!(g.as_raw(), rig.group.as_raw(), "the miniport's group");
    assert_eq!(refs(&rig.group), group_refs + 1, "AddRef'd for the caller");

    let c2 = rig.new_stream(DMUS_STREAM_MIDI_CAPTURE);
    assert_eq!(
        c2.status, STATUS_INVALID_DEVICE_REQUEST,
        "a second capture stream"
    );
    assert!(c2.mxf.is_none() && c2.group.is_none());
    assert_eq!(
        refs(&rig.group),
        group_refs + 1,
        "nothing AddRef'd on failure"
    );

    // Closing a stream frees its slot.
    drop(r2);
    let r4 = rig.new_stream(DMUS_STREAM_MIDI_RENDER);
    assert_eq!(r4.status, STATUS_SUCCESS);
    drop(c1);
    assert_eq!(refs(&rig.group), group_refs);
    let c3 = rig.new_stream(DMUS_STREAM_MIDI_CAPTURE);
    assert_eq!(c3.status, STATUS_SUCCESS);

    drop((r1, r4, c3));
    rig.finish();
}

#[test]
fn item68_bad_arguments_leave_nothing_addrefd() {
    let rig = Rig::new();
    let (alloc_refs, clock_refs, miniport_refs) =
        (refs(&*rig.alloc), refs(&rig.clock), refs(&rig.miniport));
    let unchanged = |what: &str| {
        assert_eq!(
            (refs(&*rig.alloc), refs(&rig.clock), refs(&rig.miniport)),
            (alloc_refs, clock_refs, miniport_refs),
            "{what}"
        );
    };

    let s = rig.new_stream_with(DMUS_STREAM_MIDI_RENDER, None, Some(&rig.clock));
    assert_eq!(s.status, STATUS_INVALID_PARAMETER, "NULL allocator");
    assert!(s.mxf.is_none());
    assert_eq!(s.prefetch, 0);
    unchanged("NULL allocator");

    let s = rig.new_stream_with(DMUS_STREAM_MIDI_CAPTURE, Some(&rig.alloc), None);
    assert_eq!(s.status, STATUS_INVALID_PARAMETER, "NULL master clock");
    unchanged("NULL clock");

    for ty in [
        DMUS_STREAM_WAVE_SINK,
        DMUS_STREAM_MIDI_INVALID,
        DMUS_STREAM_TYPE(7),
    ] {
        let s = rig.new_stream(ty);
        assert_eq!(s.status, STATUS_INVALID_DEVICE_REQUEST, "{ty:?}");
        assert!(s.mxf.is_none() && s.group.is_none());
    }
    unchanged("stream types");

    // Out of memory for the stream object: nothing kept, and the slot is free again.
    let s = {
        let _plan = fault::fail_nth(1);
        rig.new_stream(DMUS_STREAM_MIDI_CAPTURE)
    };
    assert_eq!(s.status, STATUS_INSUFFICIENT_RESOURCES);
    assert!(s.mxf.is_none() && s.group.is_none());
    unchanged("out of memory");
    let capture = rig.capture();

    // Streams keep the allocator, the clock and the miniport; the capture stream's clock is
    // held twice (its own, and the ISR's, which stamps input with it), both released with it.
    let render = rig.render();
    assert_eq!(refs(&*rig.alloc), alloc_refs + 2);
    assert_eq!(refs(&rig.clock), clock_refs + 3);
    assert_eq!(refs(&rig.miniport), miniport_refs + 2);
    drop((render, capture));
    unchanged("after the streams are released");
    rig.finish();
}

#[test]
fn streams_keep_the_miniport_and_its_interrupt_alive() {
    let rig = Rig::new();
    let (capture, sink, log) = rig.running_capture();
    let Rig {
        mpu,
        alloc,
        miniport,
        group,
        ..
    } = rig;
    drop((miniport, group));
    mpu.receive(&[0x90, 0x40, 0x7F], 5);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(log.bytes().concat(), [0x90, 0x40, 0x7F]);
    drop((capture, sink));
    // The miniport is gone with its last stream, and with it the interrupt connection.
    let lost = mpu.lost_input();
    mpu.receive(&[0xF8], 6);
    assert_eq!(mpu.lost_input(), lost + 1);
    assert_eq!(alloc.stats().outstanding_events, 0);
}

#[test]
fn streams_refuse_run_on_a_device_that_never_entered_uart_mode() {
    let rig = Rig::new();
    rig.mpu.set_responding(false);
    let render = rig.render();
    let capture = rig.capture();
    assert!(!rig.mpu.is_uart_mode());
    for s in [&render, &capture] {
        assert_eq!(set_state(s, KSSTATE_ACQUIRE), STATUS_SUCCESS);
        assert_eq!(set_state(s, KSSTATE_PAUSE), STATUS_SUCCESS);
        assert_eq!(set_state(s, KSSTATE_RUN), STATUS_INVALID_DEVICE_STATE);
        assert_eq!(set_state(s, KSSTATE(9)), STATUS_INVALID_PARAMETER);
    }
    drop((render, capture));
    rig.finish();
}

// ---------------------------------------------------------------------------------------------
// Render (items 70, 72).
// ---------------------------------------------------------------------------------------------

#[test]
fn item70_render_writes_in_order_and_returns_each_event_once_written() {
    let rig = Rig::new();
    let render = rig.render();
    walk_up(&render);
    rig.set_time(1_000);
    // Byte positions, as the unpacker stamps them: the allocator reports them to the pin.
    let mut c = Chain::new(&rig.alloc);
    for (i, bytes) in [[0x90u8, 0x3C, 0x64], [0xB0, 0x07, 0x50], [0x80, 0x3C, 0x00]]
        .iter()
        .enumerate()
    {
        let mut e = Event::with_bytes(&rig.alloc, bytes, 1, 5_000_000 - i as i64).expect("event");
        e.set_byte_position(10 * (i as u64 + 1));
        c.push_back(e);
    }
    let outstanding_before = rig.outstanding();
    // SAFETY: live stream; a chain of this allocator's events, handed over.
    assert_eq!(unsafe { render.PutMessage(c.into_raw()) }, STATUS_SUCCESS);
    let out = rig.mpu.take_output();
    assert_eq!(
        out.iter().map(|&(_, b)| b).collect::<Vec<_>>(),
        [0x90, 0x3C, 0x64, 0xB0, 0x07, 0x50, 0x80, 0x3C, 0x00],
        "written in chain order, timestamps ignored"
    );
    assert!(
        out.iter().all(|&(t, _)| t == 1_000),
        "written at master-clock now"
    );
    assert_eq!(
        rig.outstanding(),
        outstanding_before - 3,
        "all returned at once"
    );
    assert_eq!(
        *lock(&rig.positions),
        [10, 20, 30],
        "IRP completion in order"
    );
    assert_eq!(rig.mpu.next_timer(), None);
    drop(render);
    rig.finish();
}

#[test]
fn item70_partial_writes_keep_their_offset_and_retry_after_one_millisecond() {
    let rig = Rig::new();
    let render = rig.render();
    walk_up(&render);
    rig.mpu.set_write_budget(Some(2));
    rig.set_time(100);
    assert_eq!(
        put(
            &render,
            &rig.alloc,
            &[Ev::new(&[0x90, 0x3C, 0x64]), Ev::new(&[0xC0, 0x05])]
        ),
        STATUS_SUCCESS
    );
    assert_eq!(rig.mpu.take_output(), [(100, 0x90), (100, 0x3C)]);
    assert_eq!(rig.outstanding(), 2, "nothing completed yet");
    assert_eq!(rig.mpu.next_timer(), Some(100 + RETRY_DELAY), "1 ms retry");

    rig.mpu.run_timers(100 + RETRY_DELAY - 1);
    assert!(rig.mpu.take_output().is_empty(), "not due yet");

    rig.set_time(100 + RETRY_DELAY);
    rig.mpu.run_timers(100 + RETRY_DELAY);
    // The rest of the first event (1 byte) completes it; the second fits in the next write.
    assert_eq!(
        rig.mpu.take_output(),
        [(10_100, 0x64), (10_100, 0xC0), (10_100, 0x05)]
    );
    assert_eq!(rig.outstanding(), 0, "both returned once written");
    assert_eq!(rig.mpu.next_timer(), None);
    drop(render);
    rig.finish();
}

#[test]
fn long_events_are_written_in_full_and_their_buffers_returned() {
    let rig = Rig::new();
    let render = rig.render();
    walk_up(&render);
    let mut sysex = vec![0xF0, 0x7E, 0x7F];
    sysex.extend((0..96).map(|i| i as u8 & 0x7F));
    sysex.push(0xF7);
    assert_eq!(sysex.len(), 100);

    assert_eq!(put(&render, &rig.alloc, &[Ev::new(&sysex)]), STATUS_SUCCESS);
    assert_eq!(rig.output_bytes(), sysex);
    assert_eq!(rig.alloc.stats().outstanding_buffers, 0);

    // The same through a 16-byte device: ceil(100 / 16) = 7 writes, 1 ms apart.
    rig.mpu.set_write_budget(Some(16));
    assert_eq!(put(&render, &rig.alloc, &[Ev::new(&sysex)]), STATUS_SUCCESS);
    let mut retries = 0;
    while let Some(due) = rig.mpu.next_timer() {
        rig.set_time(due);
        rig.mpu.run_timers(due);
        retries += 1;
        assert!(retries < 20);
    }
    assert_eq!(retries, 6);
    let out = rig.mpu.take_output();
    assert_eq!(out.iter().map(|&(_, b)| b).collect::<Vec<_>>(), sysex);
    assert_eq!(out.last().map(|&(t, _)| t), Some(6 * RETRY_DELAY));
    drop(render);
    rig.finish();
}

#[test]
fn a_device_that_takes_nothing_drops_the_event_after_the_retry_limit() {
    let rig = Rig::new();
    let render = rig.render();
    walk_up(&render);
    rig.mpu.set_write_budget(Some(0));
    assert_eq!(
        put(&render, &rig.alloc, &[Ev::new(&[0xFE])]),
        STATUS_SUCCESS
    );
    let mut attempts = 1;
    while let Some(due) = rig.mpu.next_timer() {
        rig.set_time(due);
        rig.mpu.run_timers(due);
        attempts += 1;
        assert!(attempts <= MAX_ZERO_WRITES + 1);
    }
    assert_eq!(attempts, MAX_ZERO_WRITES);
    assert_eq!(rig.outstanding(), 0, "the event was given up");
    assert!(rig.mpu.take_output().is_empty());
    drop(render);
    rig.finish();
}

#[test]
fn packages_are_unwrapped_in_place_nested_ones_too() {
    let rig = Rig::new();
    let render = rig.render();
    walk_up(&render);
    let a = &rig.alloc;
    let inner = package([Ev::new(&[0xB0, 0x40, 0x7F])]);
    let outer = package([
        Ev::new(&[0x90, 0x3C, 0x64]),
        inner,
        Ev::new(&[0xB0, 0x40, 0x00]),
    ]);
    let chain = chain(
        a,
        &[Ev::new(&[0xC0, 0x01]), outer, Ev::new(&[0x80, 0x3C, 0x00])],
    )
    .unwrap();

    // SAFETY: live stream; this allocator's events, handed over.
    let status = unsafe { render.PutMessage(chain.into_raw()) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        rig.output_bytes(),
        [
            0xC0, 0x01, 0x90, 0x3C, 0x64, 0xB0, 0x40, 0x7F, 0xB0, 0x40, 0x00, 0x80, 0x3C, 0x00
        ]
    );
    assert_eq!(rig.outstanding(), 0, "shells and contents returned");
    drop(render);
    rig.finish();
}

#[test]
fn item72_render_holds_unless_running_and_stop_returns_everything() {
    let rig = Rig::new();
    let render = rig.render();
    let a = &rig.alloc;

    // STOP (the initial state): nothing is held.
    assert_eq!(put(&render, a, &[Ev::new(&[0x90, 1, 1])]), STATUS_SUCCESS);
    assert_eq!(rig.outstanding(), 0);

    for state in [KSSTATE_ACQUIRE, KSSTATE_PAUSE] {
        assert_eq!(set_state(&render, state), STATUS_SUCCESS);
        assert_eq!(put(&render, a, &[Ev::new(&[0x90, 2, 2])]), STATUS_SUCCESS);
    }
    assert_eq!(rig.outstanding(), 2, "held in ACQUIRE and PAUSE");
    assert!(rig.mpu.take_output().is_empty());

    assert_eq!(set_state(&render, KSSTATE_RUN), STATUS_SUCCESS);
    assert_eq!(
        rig.output_bytes(),
        [0x90, 2, 2, 0x90, 2, 2],
        "RUN plays what was held"
    );
    assert_eq!(rig.outstanding(), 0);

    // PAUSE holds again; STOP returns everything, a partly written event included, and
    // cancels the retry.
    rig.mpu.set_write_budget(Some(1));
    assert_eq!(put(&render, a, &[Ev::new(&[0x90, 3, 3])]), STATUS_SUCCESS);
    assert_eq!(rig.output_bytes(), [0x90]);
    assert!(rig.mpu.next_timer().is_some());
    assert_eq!(set_state(&render, KSSTATE_PAUSE), STATUS_SUCCESS);
    assert_eq!(put(&render, a, &[Ev::new(&[0x90, 4, 4])]), STATUS_SUCCESS);
    let due = rig.mpu.next_timer().expect("armed");
    rig.mpu.run_timers(due);
    assert!(
        rig.mpu.take_output().is_empty(),
        "the retry does not play in PAUSE"
    );
    assert_eq!(rig.outstanding(), 2);
    assert_eq!(set_state(&render, KSSTATE_ACQUIRE), STATUS_SUCCESS);
    assert_eq!(set_state(&render, KSSTATE_STOP), STATUS_SUCCESS);
    assert_eq!(rig.outstanding(), 0, "STOP returns all queued data");
    assert_eq!(rig.mpu.next_timer(), None);

    rig.mpu.set_write_budget(None);
    walk_up(&render);
    assert!(rig.mpu.take_output().is_empty(), "nothing left to play");
    drop(render);
    rig.finish();
}

#[test]
fn a_released_render_stream_returns_what_it_held() {
    let rig = Rig::new();
    let render = rig.render();
    assert_eq!(set_state(&render, KSSTATE_ACQUIRE), STATUS_SUCCESS);
    assert_eq!(set_state(&render, KSSTATE_PAUSE), STATUS_SUCCESS);
    let sysex = [0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xF7];
    assert_eq!(
        put(
            &render,
            &rig.alloc,
            &[Ev::new(&[0x90, 1, 1]), Ev::new(&sysex)]
        ),
        STATUS_SUCCESS
    );
    assert_eq!(rig.outstanding(), 2);
    drop(render);
    assert_eq!(rig.outstanding(), 0);
    assert_eq!(rig.alloc.stats().outstanding_buffers, 0);
    // Its slot is free: two render streams open again.
    let (r1, r2) = (rig.render(), rig.render());
    drop((r1, r2));
    rig.finish();
}

#[test]
fn render_streams_have_no_output_connection() {
    let rig = Rig::new();
    let render = rig.render();
    let (sink, _log) = Recorder::create(&rig.alloc).expect("recorder");
    assert_eq!(connect(&render, Some(&sink)), STATUS_UNSUCCESSFUL);
    assert_eq!(connect(&render, None), STATUS_UNSUCCESSFUL);
    assert_eq!(disconnect(&render, Some(&sink)), STATUS_UNSUCCESSFUL);
    assert_eq!(disconnect(&render, None), STATUS_UNSUCCESSFUL);
    drop((render, sink));
    rig.finish();
}

#[test]
fn concurrent_put_message_keeps_each_senders_order_and_loses_nothing() {
    let rig = Rig::new();
    let render = rig.render();
    walk_up(&render);
    const PER_THREAD: usize = 300;
    std::thread::scope(|s| {
        for ch in 0..4u8 {
            let (render, alloc) = (&render, &rig.alloc);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let ev = [0x90 | ch, (i % 128) as u8, 1];
                    assert_eq!(put(render, alloc, &[Ev::new(&ev)]), STATUS_SUCCESS);
                }
            });
        }
    });
    let out = rig.output_bytes();
    assert_eq!(out.len(), 4 * PER_THREAD * 3);
    for ch in 0..4u8 {
        let keys: Vec<u8> = out
            .chunks(3)
            .filter(|m| m[0] == 0x90 | ch)
            .map(|m| m[1])
            .collect();
        let expected: Vec<u8> = (0..PER_THREAD).map(|i| (i % 128) as u8).collect();
        assert_eq!(keys, expected, "channel {ch}");
    }
    drop(render);
    rig.finish();
}

// ---------------------------------------------------------------------------------------------
// Capture (items 63, 69, 72).
// ---------------------------------------------------------------------------------------------

#[test]
fn item69_capture_chain_shape() {
    for k in [0, 1, N, 3 * N + 1] {
        let rig = Rig::new();
        let (capture, sink, log) = rig.running_capture();
        let input: Vec<u8> = (0..k).map(|i| 0x30 + i as u8).collect();
        rig.mpu.receive(&input, 1_234);
        let notified = lock(&rig.port_log.notifies).clone();
        if k == 0 {
            assert!(notified.is_empty(), "no input, no interrupt work");
        } else {
            assert_eq!(
                notified,
                [rig.group.as_raw().addr()],
                "Notify(miniport group)"
            );
        }

        assert_eq!(put_null(&capture), STATUS_SUCCESS);
        let records = log.take();
        assert_eq!(records.len(), k.div_ceil(N), "k = {k}");
        assert_eq!(
            log.calls(),
            usize::from(k > 0),
            "one PutMessage per chain, none for 0"
        );
        for (i, r) in records.iter().enumerate() {
            let expect_len = if i + 1 < records.len() { N } else { k - N * i };
            assert_eq!(r.bytes.len(), expect_len, "k = {k}, event {i}");
            assert_eq!(r.flags, DMUS_KEF_EVENT_INCOMPLETE);
            assert_eq!(r.group, 1);
            assert_eq!(r.time, 1_234);
        }
        let bytes: Vec<u8> = records.iter().flat_map(|r| r.bytes.clone()).collect();
        assert_eq!(bytes, input, "in byte order");

        assert_eq!(put_null(&capture), STATUS_SUCCESS);
        assert_eq!(log.calls(), usize::from(k > 0), "the FIFO was emptied");
        drop((capture, sink));
        rig.finish();
    }
}

#[test]
fn item69_every_event_of_a_chain_carries_the_first_bytes_arrival_time() {
    let rig = Rig::new();
    let (capture, sink, log) = rig.running_capture();
    rig.mpu.receive(&[0x90, 0x3C], 100);
    rig.mpu.receive(&[0x40; 2 * N], 200);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    let first = log.take();
    assert_eq!(first.len(), (2 + 2 * N).div_ceil(N));
    assert!(first.iter().all(|r| r.time == 100));
    rig.mpu.receive(&[0x80], 300);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    let second = log.take();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].time, 300, "the FIFO was emptied in between");
    drop((capture, sink));
    rig.finish();
}

#[test]
fn capture_is_serviced_through_notify_and_the_group() {
    let rig = Rig::new();
    let (capture, sink, log) = rig.running_capture();
    let services = Arc::new(AtomicUsize::new(0));
    let pin: IServiceSink = CapturePin {
        stream: capture.clone(),
        services: services.clone(),
    }
    .into_com()
    .expect("pin");
    // The port adds the pin to the stream's group (here: the miniport's).
    let status = rig.group.AddMember(Some(pin.to_ref()));
    assert_eq!(status, STATUS_SUCCESS);

    rig.mpu.receive(&[0x90, 0x3C, 0x64], 77);
    assert_eq!(services.load(Ordering::SeqCst), 1);
    assert_eq!(log.bytes().concat(), [0x90, 0x3C, 0x64]);
    assert!(log.records().iter().all(|r| r.time == 77));

    // Service() on the miniport is harmless while a capture stream exists.
    rig.miniport.Service();

    rig.group.RemoveMember(Some(pin.to_ref()));
    drop((pin, capture, sink));
    rig.finish();
}

#[test]
fn input_beyond_the_fifo_is_dropped() {
    let rig = Rig::new();
    let (capture, sink, log) = rig.running_capture();
    let input: Vec<u8> = (0..200).map(|i| i as u8).collect();
    rig.mpu.receive(&input, 1);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(log.bytes().concat(), input[..INPUT_FIFO_SIZE]);
    assert_eq!(
        rig.mpu.lost_input(),
        0,
        "the ISR read every byte from the device"
    );
    drop((capture, sink));
    rig.finish();
}

#[test]
fn capture_out_of_events_returns_the_partial_chain_and_keeps_the_bytes() {
    let rig = Rig::with(AllocatorConfig {
        max_events: Some(4),
        ..AllocatorConfig::default()
    });
    let (capture, sink, log) = rig.running_capture();
    // Two events held elsewhere: two are left, three are needed.
    let held: Vec<Event<'_>> = (0..2)
        .map(|_| Event::new(&rig.alloc).expect("event"))
        .collect();
    let input: Vec<u8> = (0..3 * N).map(|i| i as u8).collect();
    rig.mpu.receive(&input, 9);
    assert_eq!(put_null(&capture), STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(log.calls(), 0, "nothing sent");
    assert_eq!(rig.outstanding(), 2, "the partial chain went back");

    drop(held);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(
        log.bytes().concat(),
        input,
        "the bytes were kept for the next call"
    );
    assert!(log.records().iter().all(|r| r.time == 9));
    drop((capture, sink));
    rig.finish();
}

/// A capture sink that keeps what it gets and, on its first delivery, calls back into the
/// capture stream for more (a neighbour that re-enters, as a port's sink might).
#[com_object(IMXF)]
struct CallingBack {
    alloc: IAllocatorMXF,
    stream: Mutex<Option<IMXF>>,
    got: Mutex<Vec<u8>>,
    calls: AtomicUsize,
}

impl IMXF_Impl for CallingBack {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        // SAFETY: the stream hands over a chain of events of this pin's allocator.
        let chain = unsafe { Chain::from_raw(event, &self.alloc) };
        for e in chain {
            lock(&self.got).extend_from_slice(e.data());
        }
        if self.calls.fetch_add(1, Ordering::Relaxed) == 0 {
            let stream = lock(&self.stream).clone();
            if let Some(s) = stream {
                assert_eq!(
                    put_null(&s),
                    STATUS_SUCCESS,
                    "a nested pull returns at once"
                );
            }
        }
        STATUS_SUCCESS
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

#[test]
fn a_sink_calling_back_into_the_capture_stream_neither_hangs_nor_loses_bytes() {
    let rig = Rig::new();
    let capture = rig.capture();
    let sink: IMXF = CallingBack {
        alloc: rig.alloc.interface().clone(),
        stream: Mutex::new(None),
        got: Mutex::new(Vec::new()),
        calls: AtomicUsize::new(0),
    }
    .into_com()
    .expect("sink");
    assert_eq!(connect(&capture, Some(&sink)), STATUS_SUCCESS);
    walk_up(&capture);
    // SAFETY: `sink` is chain 0 of the object just created.
    let me = unsafe { mxf::com::ComObject::<CallingBack>::value_of::<0>(sink.as_raw()) };
    *lock(&me.stream) = Some(capture.clone());
    rig.mpu.receive(&[0x90, 0x40, 0x40], 200);
    // The delivery calls back; bytes that arrive meanwhile come in the pull it asked for.
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(*lock(&me.got), [0x90, 0x40, 0x40]);
    assert_eq!(
        me.calls.load(Ordering::Relaxed),
        1,
        "nothing new: no second delivery"
    );
    rig.mpu.receive(&[0x80, 0x40, 0x00], 300);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(*lock(&me.got), [0x90, 0x40, 0x40, 0x80, 0x40, 0x00]);
    *lock(&me.stream) = None;
    drop((capture, sink));
    rig.finish();
}

#[test]
fn events_put_into_a_capture_stream_go_back_to_the_allocator() {
    let rig = Rig::new();
    let (capture, sink, log) = rig.running_capture();
    assert_eq!(
        put(
            &capture,
            &rig.alloc,
            &[Ev::new(&[0x90, 1, 1]), Ev::new(&[0x80, 1, 0])]
        ),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(rig.outstanding(), 0);
    assert_eq!(log.calls(), 0);
    drop((capture, sink));
    rig.finish();
}

#[test]
fn item63_capture_connect_and_disconnect_follow_the_mxf_conventions() {
    let rig = Rig::new();
    let capture = rig.capture();
    let (s, s_log) = Recorder::create(&rig.alloc).expect("recorder");
    let (t, t_log) = Recorder::create(&rig.alloc).expect("recorder");
    walk_up(&capture);

    assert_eq!(connect(&capture, None), STATUS_UNSUCCESSFUL, "item 27");
    assert_eq!(connect(&capture, Some(&s)), STATUS_SUCCESS);
    assert_eq!(
        connect(&capture, Some(&t)),
        STATUS_UNSUCCESSFUL,
        "item 28: never replaced"
    );
    assert_eq!(
        disconnect(&capture, Some(&t)),
        STATUS_UNSUCCESSFUL,
        "item 29"
    );
    rig.mpu.receive(&[0xF8], 1);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(
        (s_log.calls(), t_log.calls()),
        (1, 0),
        "the first connection stays"
    );

    assert_eq!(disconnect(&capture, Some(&s)), STATUS_SUCCESS);
    rig.mpu.receive(&[0xFA], 2);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(
        (s_log.calls(), t_log.calls()),
        (1, 0),
        "item 30: to the allocator"
    );
    assert_eq!(rig.outstanding(), 0);

    assert_eq!(connect(&capture, Some(&t)), STATUS_SUCCESS);
    assert_eq!(
        disconnect(&capture, None),
        STATUS_SUCCESS,
        "NULL disconnects"
    );
    assert_eq!(disconnect(&capture, None), STATUS_SUCCESS);
    assert_eq!(connect(&capture, Some(&s)), STATUS_SUCCESS);
    // Released while connected: the stream releases its sink.
    drop(capture);
    assert_eq!(refs(&s), 1);
    drop((s, t));
    rig.finish();
}

#[test]
fn item72_capture_produces_events_only_in_run_and_pause() {
    let rig = Rig::new();
    let capture = rig.capture();
    let (sink, log) = Recorder::create(&rig.alloc).expect("recorder");
    assert_eq!(connect(&capture, Some(&sink)), STATUS_SUCCESS);

    // STOP (initial) and ACQUIRE: input is thrown away.
    rig.mpu.receive(&[0x90, 1, 1], 1);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(set_state(&capture, KSSTATE_ACQUIRE), STATUS_SUCCESS);
    rig.mpu.receive(&[0x90, 2, 2], 2);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(log.calls(), 0);

    // RUN keeps input; PAUSE still delivers what was kept, but keeps nothing new.
    assert_eq!(set_state(&capture, KSSTATE_PAUSE), STATUS_SUCCESS);
    assert_eq!(set_state(&capture, KSSTATE_RUN), STATUS_SUCCESS);
    rig.mpu.receive(&[0x90, 3, 3], 3);
    assert_eq!(set_state(&capture, KSSTATE_PAUSE), STATUS_SUCCESS);
    rig.mpu.receive(&[0x90, 4, 4], 4);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(
        log.take()
            .iter()
            .flat_map(|r| r.bytes.clone())
            .collect::<Vec<_>>(),
        [0x90, 3, 3]
    );

    // Leaving RUN for ACQUIRE (through PAUSE) throws the FIFO away.
    assert_eq!(set_state(&capture, KSSTATE_RUN), STATUS_SUCCESS);
    rig.mpu.receive(&[0x90, 5, 5], 5);
    assert_eq!(set_state(&capture, KSSTATE_PAUSE), STATUS_SUCCESS);
    assert_eq!(set_state(&capture, KSSTATE_ACQUIRE), STATUS_SUCCESS);
    assert_eq!(set_state(&capture, KSSTATE_PAUSE), STATUS_SUCCESS);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert!(log.take().is_empty());

    // STOP empties it too.
    assert_eq!(set_state(&capture, KSSTATE_RUN), STATUS_SUCCESS);
    rig.mpu.receive(&[0x90, 6, 6], 6);
    for st in [KSSTATE_PAUSE, KSSTATE_ACQUIRE, KSSTATE_STOP] {
        assert_eq!(set_state(&capture, st), STATUS_SUCCESS);
    }
    walk_up(&capture);
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert!(log.take().is_empty());
    drop((capture, sink));
    rig.finish();
}

#[test]
fn without_a_capture_stream_input_is_read_and_dropped() {
    let rig = Rig::new();
    rig.mpu.receive(&[0x90, 1, 1], 1);
    assert_eq!(rig.mpu.lost_input(), 0, "the ISR reads the data port");
    rig.miniport.Service();
    let (capture, sink, log) = rig.running_capture();
    assert_eq!(put_null(&capture), STATUS_SUCCESS);
    assert_eq!(log.calls(), 0, "nothing from before the stream existed");
    drop((capture, sink));
    rig.finish();
}
