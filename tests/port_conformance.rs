//! Conformance of the simulated DMus port (`mxf::host::port`): the calls it makes into a miniport
//! and its streams, the order it makes them in, render IRP completion, the service paths, the
//! master clock and teardown. Item numbers refer to `domain.md` §6; sections to `domain.md` §4.
//!
//! Most tests use a probe miniport defined here, written with `#[com_object]` like any miniport:
//! it records every `NewStream` argument and creates streams that record what the port calls and
//! can hold render events to return them to the allocator in an order the test chooses. The
//! render and capture paths are also run end to end with the sample UART miniport on the virtual
//! MPU-401.

use core::ffi::c_void;
use mxf::abi::DMUS_EVENT_SIZE;
use mxf::com::{ComObject, IntoComObject, refcount};
use mxf::components::unpacker::{DmusBufferWriter, KsBufferWriter};
use mxf::event::{Chain, Event};
use mxf::host::{
    CapturePin, CapturedBuffer, ClockMode, FilterPlacement, Port, RenderPin, StreamFormat,
};
use mxf::miniport::{Format, Instances, PinKind, filter_descriptor, pin_descriptor};
use mxf::platform::fault;
use mxf::port::{Completion, PropertyTarget, property_input};
use mxf::prelude::*;
use mxf_suite::uart::{VirtualMpu401, create_uart_miniport};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// The probe: a miniport, its streams and service groups, all recording into one log.
// ---------------------------------------------------------------------------------------------

/// How the probe miniport answers.
#[derive(Clone, Copy, Debug)]
struct Behaviour {
    /// What `Init` returns.
    init_status: NTSTATUS,
    /// `Init` creates a service group (and outputs it on success).
    init_group: bool,
    /// `Init` registers its group with `RegisterServiceGroup` before returning.
    register_early: bool,
    /// What `NewStream` returns (on failure nothing is written and nothing created).
    new_stream_status: NTSTATUS,
    /// Render streams get a service group of their own.
    render_group: bool,
    /// Capture streams get a service group of their own.
    capture_group: bool,
    /// `NewStream` succeeds but stores NULL in `*MXF`.
    null_mxf: bool,
    /// What a capture stream's `ConnectOutput` returns.
    connect_status: NTSTATUS,
    /// What `NewStream` stores in `*SchedulePreFetch`.
    prefetch: u64,
    /// Render streams keep the events they receive until the test releases them.
    hold: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            init_status: STATUS_SUCCESS,
            init_group: true,
            register_early: false,
            new_stream_status: STATUS_SUCCESS,
            render_group: false,
            capture_group: true,
            null_mxf: false,
            connect_status: STATUS_SUCCESS,
            prefetch: 0,
            hold: false,
        }
    }
}

/// The arguments of one `NewStream` call, as the miniport saw them.
#[derive(Clone, Copy, Debug)]
struct NewStreamCall {
    /// `*MXF` on entry (the address it held).
    mxf_in: Option<usize>,
    outer_null: bool,
    pool: POOL_TYPE,
    pin_id: u32,
    stream_type: DMUS_STREAM_TYPE,
    /// A copy of `*DataFormat` (the pointer is the port's and dies with the call).
    format: Option<KSDATAFORMAT>,
    /// `*ServiceGroup` on entry.
    group_in: Option<usize>,
    allocator: usize,
    clock: usize,
    /// `MasterClock->GetTime` called during `NewStream`.
    clock_read: Option<(NTSTATUS, REFERENCE_TIME)>,
    /// `*SchedulePreFetch` on entry.
    prefetch_in: Option<u64>,
}

/// One event a probe stream received.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    bytes: Vec<u8>,
    time: REFERENCE_TIME,
    position: u64,
}

/// What the test can see of one probe stream (no interface references: it outlives the stream).
struct StreamCtl {
    id: usize,
    /// The stream's IMXF address.
    addr: AtomicUsize,
    stream_type: DMUS_STREAM_TYPE,
    states: Mutex<Vec<KSSTATE>>,
    put_nulls: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    connects: Mutex<Vec<usize>>,
    disconnects: Mutex<Vec<usize>>,
    /// Capture input: the next `PutMessage(NULL)` sends each entry as one INCOMPLETE event.
    input: Mutex<Vec<(REFERENCE_TIME, Vec<u8>)>>,
    dropped: AtomicBool,
}

/// What the test can see of one probe service group.
struct GroupCtl {
    name: String,
    /// The group's IServiceGroup address.
    addr: AtomicUsize,
    requests: AtomicUsize,
    adds: AtomicUsize,
    removes: AtomicUsize,
    delayed_calls: AtomicUsize,
    members: AtomicUsize,
    dropped: AtomicBool,
}

impl GroupCtl {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    fn adds(&self) -> usize {
        self.adds.load(Ordering::SeqCst)
    }
    fn removes(&self) -> usize {
        self.removes.load(Ordering::SeqCst)
    }
    fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
    /// Requests service of the group through the port (`IPortDMus::Notify(group)`).
    ///
    /// The caller keeps the group alive (an open pin or the miniport holds it).
    fn notify_through(&self, port: &Port) {
        let raw =
            core::ptr::with_exposed_provenance_mut::<c_void>(self.addr.load(Ordering::SeqCst));
        // SAFETY: the group is alive (caller) and `raw` is its IServiceGroup pointer, borrowed.
        let g = unsafe { ComRef::<IServiceGroup>::from_raw(raw) }.expect("group address");
        port.interface().Notify(Some(g));
    }
    /// `RequestService` on the group directly, as a miniport's DPC would.
    fn request_service(&self) {
        let raw =
            core::ptr::with_exposed_provenance_mut::<c_void>(self.addr.load(Ordering::SeqCst));
        // SAFETY: as in `notify_through`.
        let g = unsafe { ComRef::<IServiceGroup>::from_raw(raw) }.expect("group address");
        g.RequestService();
    }
}

impl StreamCtl {
    fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
    fn put_nulls(&self) -> usize {
        self.put_nulls.load(Ordering::SeqCst)
    }
}

/// Everything the probe objects record, in one place.
#[derive(Default)]
struct Log {
    cfg: Mutex<Behaviour>,
    /// Every call, in order, as text.
    lines: Mutex<Vec<String>>,
    calls: Mutex<Vec<NewStreamCall>>,
    streams: Mutex<Vec<Arc<StreamCtl>>>,
    groups: Mutex<Vec<Arc<GroupCtl>>>,
    services: AtomicUsize,
    miniport_dropped: AtomicBool,
}

impl Log {
    fn new(cfg: Behaviour) -> Arc<Self> {
        let log = Arc::new(Self::default());
        *lock(&log.cfg) = cfg;
        log
    }
    fn cfg(&self) -> Behaviour {
        *lock(&self.cfg)
    }
    fn line(&self, s: String) {
        lock(&self.lines).push(s);
    }
    fn lines(&self) -> Vec<String> {
        lock(&self.lines).clone()
    }
    fn stream(&self, i: usize) -> Arc<StreamCtl> {
        lock(&self.streams)[i].clone()
    }
    fn stream_count(&self) -> usize {
        lock(&self.streams).len()
    }
    fn group(&self, name: &str) -> Arc<GroupCtl> {
        lock(&self.groups)
            .iter()
            .find(|g| g.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no group {name}"))
    }
    fn call(&self, i: usize) -> NewStreamCall {
        lock(&self.calls)[i]
    }
    fn services(&self) -> usize {
        self.services.load(Ordering::SeqCst)
    }
}

/// A service group that records its calls and services its members in order.
#[com_object(IServiceGroup)]
struct ProbeGroup {
    ctl: Arc<GroupCtl>,
    log: Arc<Log>,
    members: Mutex<Vec<IServiceSink>>,
}

impl Drop for ProbeGroup {
    fn drop(&mut self) {
        self.ctl.dropped.store(true, Ordering::SeqCst);
        self.log.line(format!("{} Drop", self.ctl.name));
    }
}

impl IServiceSink_Impl for ProbeGroup {
    fn RequestService(&self) {
        self.ctl.requests.fetch_add(1, Ordering::SeqCst);
        self.log.line(format!("{} RequestService", self.ctl.name));
        let members = lock(&self.members).clone();
        for m in &members {
            m.RequestService();
        }
    }
}

impl IServiceGroup_Impl for ProbeGroup {
    fn AddMember(&self, sink: Option<ComRef<'_, IServiceSink>>) -> NTSTATUS {
        let Some(sink) = sink else {
            return STATUS_INVALID_PARAMETER;
        };
        self.ctl.adds.fetch_add(1, Ordering::SeqCst);
        self.log.line(format!("{} AddMember", self.ctl.name));
        let mut m = lock(&self.members);
        m.push(sink.to_owned());
        self.ctl.members.store(m.len(), Ordering::SeqCst);
        STATUS_SUCCESS
    }
    fn RemoveMember(&self, sink: Option<ComRef<'_, IServiceSink>>) {
        self.ctl.removes.fetch_add(1, Ordering::SeqCst);
        self.log.line(format!("{} RemoveMember", self.ctl.name));
        let Some(sink) = sink else { return };
        let removed = {
            let mut m = lock(&self.members);
            let r = m
                .iter()
                .position(|s| s.as_raw() == sink.as_raw())
                .map(|i| m.remove(i));
            self.ctl.members.store(m.len(), Ordering::SeqCst);
            r
        };
        drop(removed);
    }
    fn SupportDelayedService(&self) {
        self.ctl.delayed_calls.fetch_add(1, Ordering::SeqCst);
    }
    fn RequestDelayedService(&self, _delay: u64) {
        self.ctl.delayed_calls.fetch_add(1, Ordering::SeqCst);
    }
    fn CancelDelayedService(&self) {
        self.ctl.delayed_calls.fetch_add(1, Ordering::SeqCst);
    }
}

fn new_group(log: &Arc<Log>, name: String) -> IServiceGroup {
    let ctl = Arc::new(GroupCtl {
        name,
        addr: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        adds: AtomicUsize::new(0),
        removes: AtomicUsize::new(0),
        delayed_calls: AtomicUsize::new(0),
        members: AtomicUsize::new(0),
        dropped: AtomicBool::new(false),
    });
    lock(&log.groups).push(ctl.clone());
    let g: IServiceGroup = ProbeGroup {
        ctl: ctl.clone(),
        log: log.clone(),
        members: Mutex::new(Vec::new()),
    }
    .into_com()
    .expect("group");
    ctl.addr
        .store(g.as_raw().expose_provenance(), Ordering::SeqCst);
    g
}

/// What a probe stream does with the events it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Render stream: returns events to the allocator at once, or holds them.
    Render { hold: bool },
    /// Capture stream: `PutMessage(NULL)` sends the queued input to its sink.
    Capture,
    /// A user filter: forwards everything to its output.
    Filter,
}

/// A miniport stream (or filter) that records what the port does to it.
#[com_object(IMXF)]
struct ProbeStream {
    ctl: Arc<StreamCtl>,
    log: Arc<Log>,
    mode: Mode,
    alloc: IAllocatorMXF,
    sink: Mutex<Option<IMXF>>,
    /// Held render events, in arrival order (`None` once released).
    held: Mutex<Vec<Option<usize>>>,
}

fn as_event(addr: usize) -> *mut DMUS_KERNEL_EVENT {
    core::ptr::with_exposed_provenance_mut(addr)
}

impl ProbeStream {
    fn create(
        log: &Arc<Log>,
        mode: Mode,
        stream_type: DMUS_STREAM_TYPE,
        alloc: IAllocatorMXF,
    ) -> IMXF {
        let ctl = {
            let mut streams = lock(&log.streams);
            let ctl = Arc::new(StreamCtl {
                id: streams.len(),
                addr: AtomicUsize::new(0),
                stream_type,
                states: Mutex::new(Vec::new()),
                put_nulls: AtomicUsize::new(0),
                seen: Mutex::new(Vec::new()),
                connects: Mutex::new(Vec::new()),
                disconnects: Mutex::new(Vec::new()),
                input: Mutex::new(Vec::new()),
                dropped: AtomicBool::new(false),
            });
            streams.push(ctl.clone());
            ctl
        };
        let s: IMXF = Self {
            ctl: ctl.clone(),
            log: log.clone(),
            mode,
            alloc,
            sink: Mutex::new(None),
            held: Mutex::new(Vec::new()),
        }
        .into_com()
        .expect("stream");
        ctl.addr.store(s.as_raw().addr(), Ordering::SeqCst);
        s
    }

    /// The byte positions of the held events (`None` for released ones).
    fn held_positions(&self) -> Vec<Option<u64>> {
        lock(&self.held)
            .iter()
            .map(|h| {
                h.map(|a| {
                    // SAFETY: a held event is live and ours until released.
                    unsafe { (*as_event(a)).ullBytePosition }
                })
            })
            .collect()
    }

    /// Rewrites the byte position of held event `i` (a miniport must not; the test does, to
    /// present the port with a chosen position).
    fn set_position(&self, i: usize, position: u64) {
        let e = lock(&self.held)[i].expect("event already released");
        // SAFETY: a held event is live and ours until released.
        unsafe { (*as_event(e)).ullBytePosition = position };
    }

    /// Returns held event `i` (arrival order) to the allocator.
    fn release(&self, i: usize) {
        let e = lock(&self.held)[i].take().expect("event already released");
        // SAFETY: a held event of our allocator, handed back.
        unsafe { self.alloc.PutMessage(as_event(e)) };
    }

    fn release_all(&self) {
        let n = lock(&self.held).len();
        for i in 0..n {
            if lock(&self.held)[i].is_some() {
                self.release(i);
            }
        }
    }

    fn push_input(&self) {
        let input = core::mem::take(&mut *lock(&self.ctl.input));
        let mut chain = Chain::new(&self.alloc);
        for (time, bytes) in input {
            let mut e = Event::with_bytes(&self.alloc, &bytes, 1, time).expect("event");
            e.set_incomplete(true);
            chain.push_back(e);
        }
        let sink = lock(&self.sink).clone();
        chain.deliver(sink.as_ref());
    }
}

/// The probe stream behind an `IMXF` the probe miniport created.
fn probe_of(stream: &IMXF) -> &ProbeStream {
    // SAFETY: every stream the probe miniport creates is chain 0 of a `ComObject<ProbeStream>`,
    // alive while `stream` holds its reference.
    unsafe { ComObject::<ProbeStream>::value_of::<0>(stream.as_raw()) }
}

impl Drop for ProbeStream {
    fn drop(&mut self) {
        for h in self
            .held
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .flatten()
        {
            // SAFETY: a held event of our allocator, handed back.
            unsafe { self.alloc.PutMessage(as_event(h)) };
        }
        self.ctl.dropped.store(true, Ordering::SeqCst);
        self.log.line(format!("stream{} Drop", self.ctl.id));
    }
}

impl IMXF_Impl for ProbeStream {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        lock(&self.ctl.states).push(state);
        self.log
            .line(format!("stream{} SetState {state:?}", self.ctl.id));
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if head.is_null() {
            self.ctl.put_nulls.fetch_add(1, Ordering::SeqCst);
            self.log
                .line(format!("stream{} PutMessage(NULL)", self.ctl.id));
            if self.mode == Mode::Capture {
                self.push_input();
            }
            return STATUS_SUCCESS;
        }
        let mut raw = Vec::new();
        let mut cur = head;
        while !cur.is_null() {
            raw.push(cur);
            // SAFETY: the chain was handed to us; each element is a live event.
            cur = unsafe { (*cur).pNextEvt };
        }
        let mut chain = Chain::new(&self.alloc);
        for p in raw {
            // SAFETY: an event of the chain we own (its link was read above).
            let e = unsafe { Event::from_raw(p, &self.alloc) }.expect("non-NULL");
            lock(&self.ctl.seen).push(Seen {
                bytes: e.data().to_vec(),
                time: e.time(),
                position: e.raw().ullBytePosition,
            });
            match self.mode {
                Mode::Render { hold: true } => {
                    lock(&self.held).push(Some(e.into_raw().expose_provenance()))
                }
                _ => chain.push_back(e),
            }
        }
        let sink = if self.mode == Mode::Filter {
            lock(&self.sink).clone()
        } else {
            None
        };
        chain.deliver(sink.as_ref());
        STATUS_SUCCESS
    }

    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        let addr = sink.map_or(0, |s| s.as_raw().addr());
        lock(&self.ctl.connects).push(addr);
        self.log
            .line(format!("stream{} ConnectOutput", self.ctl.id));
        let Some(sink) = sink else {
            return STATUS_UNSUCCESSFUL;
        };
        let status = match self.mode {
            Mode::Render { .. } => STATUS_UNSUCCESSFUL,
            Mode::Capture => self.log.cfg().connect_status,
            Mode::Filter => STATUS_SUCCESS,
        };
        if status.is_success() {
            let mut s = lock(&self.sink);
            if s.is_some() {
                return STATUS_UNSUCCESSFUL;
            }
            *s = Some(sink.to_owned());
        }
        status
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        let addr = sink.map_or(0, |s| s.as_raw().addr());
        lock(&self.ctl.disconnects).push(addr);
        self.log
            .line(format!("stream{} DisconnectOutput", self.ctl.id));
        let old = lock(&self.sink).take();
        drop(old);
        STATUS_SUCCESS
    }
}

/// The probe's pins, unlimited instances each: 0 captures and 1 renders both formats, 2 renders
/// and 3 captures MIDI bytestreams only.
static BOTH_FORMATS: DataRangeTable<2> =
    DataRangeTable([Format::Midi.range(), Format::DirectMusic.range()]);
static MIDI_ONLY: DataRangeTable<1> = DataRangeTable([Format::Midi.range()]);
const UNLIMITED: Instances = Instances::new(u32::MAX, u32::MAX, 0);
static PROBE_PINS: [PCPIN_DESCRIPTOR; 4] = [
    pin_descriptor(
        PinKind::Capture,
        UNLIMITED,
        (BOTH_FORMATS.count(), BOTH_FORMATS.as_ptr()),
        None,
    ),
    pin_descriptor(
        PinKind::Render,
        UNLIMITED,
        (BOTH_FORMATS.count(), BOTH_FORMATS.as_ptr()),
        None,
    ),
    pin_descriptor(
        PinKind::Render,
        UNLIMITED,
        (MIDI_ONLY.count(), MIDI_ONLY.as_ptr()),
        None,
    ),
    pin_descriptor(
        PinKind::Capture,
        UNLIMITED,
        (MIDI_ONLY.count(), MIDI_ONLY.as_ptr()),
        None,
    ),
];
static PROBE_DESCRIPTOR: PCFILTER_DESCRIPTOR =
    filter_descriptor(&PROBE_PINS, &[], &[], &[KSCATEGORY_AUDIO]);

/// The probe miniport.
#[com_object(IMiniportDMus)]
struct ProbeMiniport {
    log: Arc<Log>,
    group: Mutex<Option<IServiceGroup>>,
}

impl Drop for ProbeMiniport {
    fn drop(&mut self) {
        self.log.miniport_dropped.store(true, Ordering::SeqCst);
    }
}

fn write_out<T>(out: *mut T, value: T) {
    if !out.is_null() && out.is_aligned() {
        // SAFETY: a non-NULL, aligned out-pointer from the caller; nothing to drop there.
        unsafe { out.write(value) };
    }
}

/// The address an out-pointer holds on entry.
fn out_addr<T>(out: *mut Option<T>) -> Option<usize> {
    if out.is_null() || !out.is_aligned() {
        return None;
    }
    // SAFETY: a non-NULL, aligned out-pointer; an interface slot is one pointer wide.
    Some(unsafe { out.cast::<*mut c_void>().read() }.addr())
}

impl IMiniport_Impl for ProbeMiniport {
    unsafe fn GetDescription(&self, description: *mut *mut c_void) -> NTSTATUS {
        write_out(
            description,
            core::ptr::from_ref(&PROBE_DESCRIPTOR).cast_mut().cast(),
        );
        STATUS_SUCCESS
    }
    unsafe fn DataRangeIntersection(
        &self,
        _pin_id: u32,
        _data_range: *mut c_void,
        _matching_data_range: *mut c_void,
        _output_buffer_length: u32,
        _resultant_format: *mut c_void,
        _resultant_format_length: *mut u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

impl IMiniportDMus_Impl for ProbeMiniport {
    unsafe fn Init(
        &self,
        _unknown_adapter: Option<ComRef<'_, IUnknown>>,
        _resource_list: *mut c_void,
        port: Option<ComRef<'_, IPortDMus>>,
        service_group: *mut Option<IServiceGroup>,
    ) -> NTSTATUS {
        self.log.line("miniport Init".into());
        write_out(service_group, None);
        let cfg = self.log.cfg();
        if cfg.init_group {
            let g = new_group(&self.log, "miniport group".into());
            if let (true, Some(p)) = (cfg.register_early, port) {
                p.RegisterServiceGroup(Some(g.to_ref()));
            }
            if cfg.init_status.is_success() {
                write_out(service_group, Some(g.clone()));
            }
            *lock(&self.group) = Some(g);
        }
        cfg.init_status
    }

    fn Service(&self) {
        self.log.services.fetch_add(1, Ordering::SeqCst);
        self.log.line("miniport Service".into());
    }

    unsafe fn NewStream(
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
    ) -> NTSTATUS {
        let clock_read = master_clock.map(|c| {
            let mut t: REFERENCE_TIME = -1;
            // SAFETY: a live clock; `t` is a valid out-pointer.
            let s = unsafe { c.GetTime(&mut t) };
            (s, t)
        });
        let call = NewStreamCall {
            mxf_in: out_addr(mxf),
            outer_null: outer.is_none(),
            pool,
            pin_id,
            stream_type,
            format: (!data_format.is_null()).then(|| {
                // SAFETY: the port's data format, readable for the duration of the call.
                unsafe { data_format.read() }
            }),
            group_in: out_addr(service_group),
            allocator: allocator.map_or(0, |a| a.as_raw().addr()),
            clock: master_clock.map_or(0, |c| c.as_raw().addr()),
            clock_read,
            prefetch_in: (!schedule_prefetch.is_null()).then(|| {
                // SAFETY: the port's out-pointer, readable.
                unsafe { schedule_prefetch.read() }
            }),
        };
        lock(&self.log.calls).push(call);
        self.log.line(format!("miniport NewStream pin {pin_id}"));
        let cfg = self.log.cfg();
        if !cfg.new_stream_status.is_success() {
            return cfg.new_stream_status;
        }
        write_out(schedule_prefetch, cfg.prefetch);
        let capture = stream_type == DMUS_STREAM_MIDI_CAPTURE;
        let wants_group = if capture {
            cfg.capture_group
        } else {
            cfg.render_group
        };
        let n = lock(&self.log.calls).len() - 1;
        let group = wants_group.then(|| new_group(&self.log, format!("call{n} group")));
        if cfg.null_mxf {
            write_out(service_group, group);
            write_out(mxf, None);
            return STATUS_SUCCESS;
        }
        let Some(alloc) = allocator else {
            return STATUS_INVALID_PARAMETER;
        };
        let mode = if capture {
            Mode::Capture
        } else {
            Mode::Render { hold: cfg.hold }
        };
        let stream = ProbeStream::create(&self.log, mode, stream_type, alloc.to_owned());
        write_out(service_group, group);
        write_out(mxf, Some(stream));
        STATUS_SUCCESS
    }
}

fn probe_miniport(log: &Arc<Log>) -> IMiniportDMus {
    ProbeMiniport {
        log: log.clone(),
        group: Mutex::new(None),
    }
    .into_com()
    .expect("miniport")
}

fn probe_port(cfg: Behaviour) -> (Arc<Log>, Port) {
    let log = Log::new(cfg);
    let port = Port::new(probe_miniport(&log), ClockMode::Virtual).expect("port");
    (log, port)
}

fn render_pin(port: &Port, format: StreamFormat) -> RenderPin {
    port.open_render_pin(1, format, FilterPlacement::AfterSequencer, |_| {
        Ok(Vec::new())
    })
    .expect("render pin")
}

// ---------------------------------------------------------------------------------------------
// Helpers: buffers, records, leak accounting.
// ---------------------------------------------------------------------------------------------

/// A DirectMusic-format buffer of structured records `(rtDelta, bytes)` on channel group 1.
fn dmus_buffer(records: &[(REFERENCE_TIME, &[u8])]) -> Vec<u8> {
    let size: usize = records.iter().map(|(_, b)| DMUS_EVENT_SIZE(b.len())).sum();
    let mut buf = vec![0u8; size];
    let mut w = DmusBufferWriter::new(&mut buf);
    for (delta, bytes) in records {
        w.push(1, *delta, true, bytes).expect("record fits");
    }
    assert_eq!(w.len(), size);
    buf
}

/// The records of a DirectMusic-format capture buffer: `(group, absolute time, bytes)`.
fn records_of(b: &CapturedBuffer) -> Vec<(u32, REFERENCE_TIME, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    let d = &b.data;
    let u32_at = |o: usize| u32::from_ne_bytes(d[o..o + 4].try_into().expect("4 bytes"));
    while off + 20 <= d.len() {
        let cb = u32_at(off) as usize;
        let group = u32_at(off + 4);
        let delta = i64::from_ne_bytes(d[off + 8..off + 16].try_into().expect("8 bytes"));
        assert_eq!(u32_at(off + 16), 0, "capture records carry dwFlags 0");
        out.push((
            group,
            b.base_time + delta,
            d[off + 20..off + 20 + cb].to_vec(),
        ));
        off += DMUS_EVENT_SIZE(cb);
    }
    assert_eq!(off, d.len(), "records fill the buffer exactly");
    out
}

/// Pool blocks and refcount misuse, to check that a scenario releases everything exactly once.
struct Books {
    blocks: isize,
    misuse: usize,
}

impl Books {
    fn open() -> Self {
        Self {
            blocks: fault::live_blocks(),
            misuse: refcount::anomalies(),
        }
    }
    fn assert_balanced(&self, what: &str) {
        assert_eq!(
            fault::live_blocks(),
            self.blocks,
            "{what}: every pool block is freed"
        );
        assert_eq!(
            refcount::anomalies(),
            self.misuse,
            "{what}: no AddRef/Release at zero"
        );
    }
}

/// The `SetState` lines of the port's trace, without their return values.
fn state_trace(port: &Port) -> Vec<String> {
    port.trace()
        .into_iter()
        .filter(|l| l.starts_with("SetState "))
        .map(|l| l.split(" = ").next().unwrap_or_default().to_string())
        .collect()
}

fn expect_steps(objects: &[&str], states: &[KSSTATE]) -> Vec<String> {
    states
        .iter()
        .flat_map(|s| objects.iter().map(move |o| format!("SetState {o} {s:?}")))
        .collect()
}

const NOTE_ON: &[u8] = &[0x90, 0x3C, 0x40];
const NOTE_OFF: &[u8] = &[0x80, 0x3C, 0x00];
const NOTE_ON_2: &[u8] = &[0x90, 0x40, 0x40];

// ---------------------------------------------------------------------------------------------
// Item 37: graph state order.
// ---------------------------------------------------------------------------------------------

#[test]
fn item_37_render_graph_goes_up_unpacker_sequencer_miniport_and_down_in_reverse() {
    let (log, port) = probe_port(Behaviour::default());
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    assert!(
        state_trace(&port).is_empty(),
        "no state change at pin creation"
    );

    pin.set_state(KSSTATE_RUN).unwrap();
    let up = expect_steps(
        &["unpacker", "sequencer", "miniport"],
        &[KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN],
    );
    assert_eq!(state_trace(&port), up);

    pin.set_state(KSSTATE_STOP).unwrap();
    let down = expect_steps(
        &["miniport", "sequencer", "unpacker"],
        &[KSSTATE_PAUSE, KSSTATE_ACQUIRE, KSSTATE_STOP],
    );
    assert_eq!(state_trace(&port)[up.len()..], down[..]);

    // The miniport stream saw every step, one at a time.
    let s = log.stream(0);
    assert_eq!(
        *lock(&s.states),
        [
            KSSTATE_ACQUIRE,
            KSSTATE_PAUSE,
            KSSTATE_RUN,
            KSSTATE_PAUSE,
            KSSTATE_ACQUIRE,
            KSSTATE_STOP
        ]
    );
    // The sequencer answers STATUS_NOT_IMPLEMENTED; the port goes on regardless.
    assert!(
        port.trace()
            .iter()
            .any(|l| l.starts_with("SetState sequencer") && l.ends_with("STATUS_NOT_IMPLEMENTED"))
    );

    // Partial moves take only the steps in between.
    pin.set_state(KSSTATE_PAUSE).unwrap();
    pin.set_state(KSSTATE_ACQUIRE).unwrap();
    assert_eq!(
        lock(&s.states)[6..],
        [KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_ACQUIRE]
    );
    // A state that is not a KSSTATE is refused without a call.
    assert_eq!(pin.set_state(KSSTATE(7)), Err(STATUS_INVALID_PARAMETER));
    assert_eq!(lock(&s.states).len(), 9);
}

#[test]
fn item_37_render_filters_sit_between_sequencer_and_miniport_in_state_order() {
    let log = Log::new(Behaviour::default());
    let port = Port::new(probe_miniport(&log), ClockMode::Virtual).unwrap();
    let flog = log.clone();
    let pin = port
        .open_render_pin(
            1,
            StreamFormat::DirectMusic,
            FilterPlacement::AfterSequencer,
            |alloc| {
                Ok(vec![ProbeStream::create(
                    &flog,
                    Mode::Filter,
                    DMUS_STREAM_MIDI_RENDER,
                    alloc.clone(),
                )])
            },
        )
        .unwrap();
    pin.set_state(KSSTATE_ACQUIRE).unwrap();
    pin.set_state(KSSTATE_STOP).unwrap();
    assert_eq!(
        state_trace(&port),
        [
            "SetState unpacker KSSTATE_ACQUIRE",
            "SetState sequencer KSSTATE_ACQUIRE",
            "SetState filter0 KSSTATE_ACQUIRE",
            "SetState miniport KSSTATE_ACQUIRE",
            "SetState miniport KSSTATE_STOP",
            "SetState filter0 KSSTATE_STOP",
            "SetState sequencer KSSTATE_STOP",
            "SetState unpacker KSSTATE_STOP",
        ]
    );
    // Stream 0 is the miniport's (NewStream runs before the filters are made); stream 1 the filter.
    assert_eq!(log.stream(0).stream_type, DMUS_STREAM_MIDI_RENDER);
    let order: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.contains("SetState"))
        .collect();
    assert_eq!(
        order,
        [
            "stream1 SetState KSSTATE_ACQUIRE",
            "stream0 SetState KSSTATE_ACQUIRE",
            "stream0 SetState KSSTATE_STOP",
            "stream1 SetState KSSTATE_STOP"
        ]
    );
    // Events flow through the filter to the miniport stream.
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 0).unwrap();
    assert_eq!(lock(&log.stream(1).seen).len(), 1);
    assert_eq!(lock(&log.stream(0).seen).len(), 1);
    assert_eq!(pin.bytes(), (24, 24));
}

#[test]
fn item_37_capture_graph_goes_up_packer_capture_sink_miniport_and_down_in_reverse() {
    let (log, port) = probe_port(Behaviour::default());
    let pin = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    assert!(state_trace(&port).is_empty());
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.set_state(KSSTATE_STOP).unwrap();
    let mut expected = expect_steps(
        &["packer", "capture sink", "miniport"],
        &[KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN],
    );
    expected.extend(expect_steps(
        &["miniport", "capture sink", "packer"],
        &[KSSTATE_PAUSE, KSSTATE_ACQUIRE, KSSTATE_STOP],
    ));
    assert_eq!(state_trace(&port), expected);
    assert_eq!(
        *lock(&log.stream(0).states),
        [
            KSSTATE_ACQUIRE,
            KSSTATE_PAUSE,
            KSSTATE_RUN,
            KSSTATE_PAUSE,
            KSSTATE_ACQUIRE,
            KSSTATE_STOP
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Items 58–59: render IRP completion by byte position.
// ---------------------------------------------------------------------------------------------

/// A running render pin on a probe stream that holds events, with three one-record IRPs
/// submitted (stream bytes 0..24, 24..48, 48..72).
fn holding_pin() -> (Arc<Log>, Port, RenderPin) {
    let (log, port) = probe_port(Behaviour {
        hold: true,
        ..Behaviour::default()
    });
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    for bytes in [NOTE_ON, NOTE_ON_2, NOTE_OFF] {
        pin.submit(dmus_buffer(&[(0, bytes)]), 0).unwrap();
    }
    assert_eq!(
        probe_of(pin.stream()).held_positions(),
        [Some(24), Some(48), Some(72)]
    );
    assert_eq!(pin.bytes(), (72, 0), "held events complete nothing");
    assert_eq!(pin.completed_irps(), 0);
    (log, port, pin)
}

#[test]
fn item_58_position_notify_completes_only_forward() {
    let (_log, _port, pin) = holding_pin();
    let s = probe_of(pin.stream());

    // The second event comes back first: both the first and the second IRP complete.
    s.release(1);
    assert_eq!(pin.bytes(), (72, 48));
    assert_eq!(pin.completed_irps(), 2);

    // The first event's smaller position is ignored.
    s.release(0);
    assert_eq!(pin.bytes(), (72, 48));
    assert_eq!(pin.completed_irps(), 2);

    s.release(2);
    assert_eq!(pin.bytes(), (72, 72));
    assert_eq!(pin.completed_irps(), 3);
    assert_eq!(pin.allocator().stats().outstanding_events, 0);
    assert_eq!(pin.allocator().stats().position_notifications, 3);
}

#[test]
fn item_58_a_position_inside_an_irp_completes_bytes_but_not_the_irp() {
    let (log, port) = probe_port(Behaviour {
        hold: true,
        ..Behaviour::default()
    });
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    // One IRP of three records: positions 24, 48, 72.
    pin.submit(
        dmus_buffer(&[(0, NOTE_ON), (0, NOTE_ON_2), (0, NOTE_OFF)]),
        0,
    )
    .unwrap();
    let s = probe_of(pin.stream());
    assert_eq!(s.held_positions(), [Some(24), Some(48), Some(72)]);
    s.release(0);
    assert_eq!(pin.bytes(), (72, 24));
    assert_eq!(pin.completed_irps(), 0);
    // The same position again changes nothing.
    s.set_position(1, 24);
    s.release(1);
    assert_eq!(pin.bytes(), (72, 24));
    assert_eq!(pin.allocator().stats().position_notifications, 2);
    s.release(2);
    assert_eq!(pin.bytes(), (72, 72));
    assert_eq!(pin.completed_irps(), 1);
    assert_eq!(
        lock(&log.stream(0).seen)
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        [24, 48, 72]
    );
}

#[test]
fn item_58_render_irps_complete_as_events_return_when_the_stream_does_not_hold() {
    let (log, port) = probe_port(Behaviour::default());
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    let a = dmus_buffer(&[(0, NOTE_ON), (0, NOTE_OFF)]);
    let b = dmus_buffer(&[(0, NOTE_ON_2)]);
    pin.submit(a.clone(), 0).unwrap();
    pin.submit(b.clone(), 0).unwrap();
    let total = (a.len() + b.len()) as u64;
    assert_eq!(pin.bytes(), (total, total));
    assert_eq!(pin.completed_irps(), 2);
    let seen = lock(&log.stream(0).seen).clone();
    assert_eq!(
        seen.iter().map(|e| e.bytes.as_slice()).collect::<Vec<_>>(),
        [NOTE_ON, NOTE_OFF, NOTE_ON_2]
    );
    assert_eq!(
        seen.iter().map(|e| e.position).collect::<Vec<_>>(),
        [24, 48, 72]
    );
}

#[test]
fn item_59_stop_completes_all_submitted_bytes() {
    let (log, _port, pin) = holding_pin();
    let s = probe_of(pin.stream());
    s.release(0);
    assert_eq!(pin.bytes(), (72, 24));
    pin.set_state(KSSTATE_STOP).unwrap();
    assert_eq!(pin.bytes(), (72, 72));
    assert_eq!(pin.completed_irps(), 3);
    // The probe stream ignored STOP and still holds two events: they complete nothing more.
    assert_eq!(s.held_positions(), [None, Some(48), Some(72)]);
    s.release_all();
    assert_eq!(pin.bytes(), (72, 72));
    assert_eq!(pin.completed_irps(), 3);
    assert_eq!(pin.allocator().stats().outstanding_events, 0);

    // IRPs are refused in STOP; after RUN the byte stream continues where it was.
    assert_eq!(
        pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 0),
        Err(STATUS_INVALID_DEVICE_STATE)
    );
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 0).unwrap();
    assert_eq!(s.held_positions()[3], Some(96));
    assert_eq!(pin.bytes(), (96, 72));
    s.release(3);
    assert_eq!(pin.bytes(), (96, 96));
    assert_eq!(pin.completed_irps(), 4);
    assert!(!log.stream(0).dropped.load(Ordering::SeqCst));
}

#[test]
fn item_59_stop_completes_irps_still_waiting_in_the_sequencer() {
    let (_log, port) = probe_port(Behaviour::default());
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    // Due in one second: the sequencer keeps the event.
    pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 10_000_000)
        .unwrap();
    assert_eq!(pin.sequencer().queued(), 1);
    assert_eq!(pin.bytes(), (24, 0));
    pin.set_state(KSSTATE_PAUSE).unwrap();
    assert_eq!(pin.bytes(), (24, 0), "PAUSE completes nothing");
    pin.set_state(KSSTATE_STOP).unwrap();
    assert_eq!(pin.bytes(), (24, 24));
    assert_eq!(pin.completed_irps(), 1);
}

// ---------------------------------------------------------------------------------------------
// Item 60: NewStream arguments.
// ---------------------------------------------------------------------------------------------

fn assert_midi_format(call: &NewStreamCall, sub: GUID) {
    let f = call.format.expect("a data format");
    assert_eq!(f.FormatSize as usize, core::mem::size_of::<KSDATAFORMAT>());
    assert_eq!(f.MajorFormat, KSDATAFORMAT_TYPE_MUSIC);
    assert_eq!(f.SubFormat, sub);
    // What a client sends for MIDI and DirectMusic pins (kernel.md §4.2), and what a declared
    // pin's range names.
    assert_eq!(f.Specifier, KSDATAFORMAT_SPECIFIER_NONE);
}

#[test]
fn item_60_new_stream_gets_null_outer_nonpaged_pool_zero_prefetch_the_port_clock_and_the_pin_format()
 {
    let (log, port) = probe_port(Behaviour::default());
    port.set_time(1234);
    let dm = render_pin(&port, StreamFormat::DirectMusic);
    let cap = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    assert_eq!(log.stream_count(), 2);
    drop(dm);
    let ks = port
        .open_render_pin(2, StreamFormat::Ks, FilterPlacement::AfterSequencer, |_| {
            Ok(Vec::new())
        })
        .unwrap();
    let ks_cap = {
        drop(cap);
        port.open_capture_pin(3, StreamFormat::Ks).unwrap()
    };

    let calls: Vec<NewStreamCall> = lock(&log.calls).clone();
    assert_eq!(calls.len(), 4);
    for c in &calls {
        assert!(c.outer_null, "OuterUnknown is NULL");
        assert_eq!(c.pool, NonPagedPool);
        assert_eq!(c.prefetch_in, Some(0), "*SchedulePreFetch is pre-set to 0");
        assert_eq!(c.mxf_in, Some(0), "*MXF is NULL on entry");
        assert_eq!(c.group_in, Some(0), "*ServiceGroup is NULL on entry");
        assert_eq!(
            c.clock,
            port.clock().as_raw().addr(),
            "the port is the master clock"
        );
        assert_eq!(
            c.clock_read,
            Some((STATUS_SUCCESS, 1234)),
            "the clock works during NewStream"
        );
        assert_ne!(c.allocator, 0, "MIDI pins get an allocator");
    }
    assert_eq!(
        calls
            .iter()
            .map(|c| (c.pin_id, c.stream_type))
            .collect::<Vec<_>>(),
        [
            (1, DMUS_STREAM_MIDI_RENDER),
            (0, DMUS_STREAM_MIDI_CAPTURE),
            (2, DMUS_STREAM_MIDI_RENDER),
            (3, DMUS_STREAM_MIDI_CAPTURE)
        ]
    );
    assert_midi_format(&calls[0], KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    assert_midi_format(&calls[1], KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    assert_midi_format(&calls[2], KSDATAFORMAT_SUBTYPE_MIDI);
    assert_midi_format(&calls[3], KSDATAFORMAT_SUBTYPE_MIDI);

    // The allocator passed is the pin's own, one per pin.
    assert_eq!(calls[2].allocator, ks.allocator().as_raw().addr());
    assert_eq!(calls[3].allocator, ks_cap.allocator().as_raw().addr());
    assert_ne!(
        calls[0].allocator, calls[1].allocator,
        "pins open together have their own allocators"
    );
}

#[test]
fn item_60_the_prefetch_the_miniport_returns_drives_the_render_sequencer() {
    let (log, port) = probe_port(Behaviour {
        prefetch: DONT_HOLD_FOR_SEQUENCING,
        ..Behaviour::default()
    });
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    assert_eq!(
        pin.sequencer().schedule_prefetch(),
        DONT_HOLD_FOR_SEQUENCING
    );
    pin.set_state(KSSTATE_RUN).unwrap();
    // Due in ten seconds, but the miniport does its own timing: delivered at once, in order.
    pin.submit(
        dmus_buffer(&[(200_000, NOTE_OFF), (100_000, NOTE_ON)]),
        100_000_000,
    )
    .unwrap();
    let seen = lock(&log.stream(0).seen).clone();
    assert_eq!(
        seen.iter().map(|e| e.time).collect::<Vec<_>>(),
        [100_100_000, 100_200_000]
    );
    assert_eq!(pin.sequencer().queued(), 0);

    // A prefetch of 5 ms delivers 5 ms early.
    *lock(&log.cfg) = Behaviour {
        prefetch: 50_000,
        ..Behaviour::default()
    };
    drop(pin);
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 1_000_000).unwrap();
    assert_eq!(pin.deadline(), Some(950_000));
    port.set_time(949_999);
    port.run_timers();
    assert!(lock(&log.stream(1).seen).is_empty());
    port.set_time(950_000);
    port.run_timers();
    assert_eq!(lock(&log.stream(1).seen).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Items 61–63: what the port requires of NewStream and ConnectOutput.
// ---------------------------------------------------------------------------------------------

#[test]
fn item_61_capture_without_a_service_group_fails_and_leaks_nothing() {
    let (log, port) = probe_port(Behaviour {
        capture_group: false,
        ..Behaviour::default()
    });
    let books = Books::open();
    assert_eq!(
        port.open_capture_pin(0, StreamFormat::DirectMusic).err(),
        Some(STATUS_UNSUCCESSFUL)
    );
    assert_eq!(log.stream_count(), 1, "NewStream created a stream");
    assert!(
        log.stream(0).dropped.load(Ordering::SeqCst),
        "and the port released it"
    );
    assert!(
        lock(&log.stream(0).connects).is_empty(),
        "nothing was connected"
    );
    books.assert_balanced("failed capture pin");

    // Render streams may come without a group.
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 0).unwrap();
    assert_eq!(pin.bytes(), (24, 24));
}

#[test]
fn item_62_success_with_a_null_stream_fails_pin_creation() {
    let (log, port) = probe_port(Behaviour {
        null_mxf: true,
        render_group: true,
        ..Behaviour::default()
    });
    let books = Books::open();
    assert_eq!(
        port.open_render_pin(
            1,
            StreamFormat::DirectMusic,
            FilterPlacement::AfterSequencer,
            |_| Ok(Vec::new())
        )
        .err(),
        Some(STATUS_UNSUCCESSFUL)
    );
    assert_eq!(
        port.open_capture_pin(0, StreamFormat::DirectMusic).err(),
        Some(STATUS_UNSUCCESSFUL)
    );
    // The groups the miniport handed out with the NULL streams were released, never joined.
    for name in ["call0 group", "call1 group"] {
        assert!(log.group(name).dropped(), "{name}");
        assert_eq!(log.group(name).adds(), 0, "{name}");
    }
    assert_eq!(log.stream_count(), 0);
    books.assert_balanced("NULL streams");
}

#[test]
fn a_failing_new_stream_fails_the_pin_with_its_status_and_leaks_nothing() {
    let (log, port) = probe_port(Behaviour {
        new_stream_status: STATUS_INSUFFICIENT_RESOURCES,
        ..Behaviour::default()
    });
    let books = Books::open();
    assert_eq!(
        port.open_render_pin(
            1,
            StreamFormat::DirectMusic,
            FilterPlacement::AfterSequencer,
            |_| Ok(Vec::new())
        )
        .err(),
        Some(STATUS_INSUFFICIENT_RESOURCES)
    );
    assert_eq!(
        port.open_capture_pin(0, StreamFormat::Ks).err(),
        Some(STATUS_INSUFFICIENT_RESOURCES)
    );
    assert_eq!(lock(&log.calls).len(), 2);
    books.assert_balanced("failed NewStream");
}

#[test]
fn item_63_capture_connects_the_stream_to_the_capture_sink_after_sink_to_packer() {
    let (log, port) = probe_port(Behaviour::default());
    let pin = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    let s = log.stream(0);
    let connects = lock(&s.connects).clone();
    assert_eq!(connects.len(), 1, "ConnectOutput is called once");
    let (sink, stream) = (connects[0], s.addr.load(Ordering::SeqCst));
    assert_ne!(sink, 0);
    // The port's wiring: capture sink → packer first, then stream → capture sink.
    let trace: Vec<String> = port
        .trace()
        .into_iter()
        .filter(|l| l.starts_with("ConnectOutput"))
        .collect();
    assert_eq!(trace.len(), 2, "{trace:?}");
    assert!(
        trace[0].starts_with(&format!("ConnectOutput {sink:#x} -> ")),
        "{trace:?}"
    );
    assert!(trace[0].ends_with("= STATUS_SUCCESS"), "{trace:?}");
    assert_eq!(
        trace[1],
        format!("ConnectOutput {stream:#x} -> {sink:#x} = STATUS_SUCCESS")
    );

    // What the stream sends its output reaches the packer.
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit_buffer(64);
    lock(&s.input).push((0, NOTE_ON.to_vec()));
    pin.service();
    let filled = pin.take_filled();
    assert_eq!(filled.len(), 1);
    assert_eq!(records_of(&filled[0]), [(1, 0, NOTE_ON.to_vec())]);

    drop(pin);
    assert_eq!(
        *lock(&s.disconnects),
        [sink],
        "closing disconnects the same sink"
    );
    assert!(s.dropped());
}

#[test]
fn item_63_capture_pin_creation_fails_when_connect_output_fails() {
    let (log, port) = probe_port(Behaviour {
        connect_status: STATUS_INVALID_DEVICE_REQUEST,
        ..Behaviour::default()
    });
    let books = Books::open();
    assert_eq!(
        port.open_capture_pin(0, StreamFormat::DirectMusic).err(),
        Some(STATUS_INVALID_DEVICE_REQUEST)
    );
    assert_eq!(lock(&log.stream(0).connects).len(), 1);
    assert!(log.stream(0).dropped(), "the stream is released");
    let g = log.group("call0 group");
    assert!(g.dropped(), "the group is released");
    assert_eq!(g.adds(), 0, "the pin never joined the group");
    books.assert_balanced("failed capture connection");
}

#[test]
fn item_63_render_streams_are_never_connected_or_disconnected() {
    let (log, port) = probe_port(Behaviour {
        render_group: true,
        ..Behaviour::default()
    });
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 0).unwrap();
    assert_eq!(pin.bytes(), (24, 24));
    drop(pin);
    let s = log.stream(0);
    assert!(s.dropped());
    assert!(lock(&s.connects).is_empty());
    assert!(lock(&s.disconnects).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Items 64–66: Notify and the service paths.
// ---------------------------------------------------------------------------------------------

/// A port with a render pin (NewStream call 0) and a capture pin (call 1), each stream with a
/// group of its own.
fn serviced_port() -> (Arc<Log>, Port, RenderPin, CapturePin) {
    let (log, port) = probe_port(Behaviour {
        render_group: true,
        ..Behaviour::default()
    });
    let render = render_pin(&port, StreamFormat::DirectMusic);
    let capture = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    (log, port, render, capture)
}

#[test]
fn item_64_notify_null_requests_service_on_the_miniport_group_and_every_stream_group() {
    let (log, port, render, capture) = serviced_port();
    let (g0, g1, g2) = (
        log.group("miniport group"),
        log.group("call0 group"),
        log.group("call1 group"),
    );
    assert_eq!(
        [g0.adds(), g1.adds(), g2.adds()],
        [1, 1, 1],
        "the port joined each group once"
    );

    port.notify_all();
    assert_eq!([g0.requests(), g1.requests(), g2.requests()], [1, 1, 1]);
    assert_eq!(
        log.services(),
        1,
        "the miniport group's service reached IMiniportDMus::Service"
    );
    assert_eq!(
        log.stream(1).put_nulls(),
        1,
        "the capture stream's service ran"
    );
    assert_eq!(
        log.stream(0).put_nulls(),
        0,
        "render streams are never asked for input"
    );

    // Notify(NULL) calls nothing else on the groups.
    for g in [&g0, &g1, &g2] {
        assert_eq!((g.adds(), g.removes()), (1, 0), "{}", g.name);
        assert_eq!(g.delayed_calls.load(Ordering::SeqCst), 0, "{}", g.name);
    }

    // A closed pin's group is no longer notified.
    drop(render);
    assert_eq!(g1.removes(), 1);
    assert_eq!(g1.members.load(Ordering::SeqCst), 0);
    port.notify_all();
    assert_eq!([g0.requests(), g1.requests(), g2.requests()], [2, 1, 2]);
    drop(capture);
    port.notify_all();
    assert_eq!([g0.requests(), g1.requests(), g2.requests()], [3, 1, 2]);
    assert_eq!(log.services(), 3);
}

#[test]
fn item_64_notify_of_one_group_requests_service_of_that_group_only() {
    let (log, port, render, capture) = serviced_port();
    let (g0, g1, g2) = (
        log.group("miniport group"),
        log.group("call0 group"),
        log.group("call1 group"),
    );
    let before = log.lines().len();
    g2.notify_through(&port);
    assert_eq!([g0.requests(), g1.requests(), g2.requests()], [0, 0, 1]);
    assert_eq!(log.services(), 0, "not the miniport's group: no Service");
    assert_eq!(
        log.lines()[before..],
        ["call1 group RequestService", "stream1 PutMessage(NULL)"]
    );

    // The render stream's group: the pin's service runs (no IRP queued: nothing happens).
    let before = log.lines().len();
    g1.notify_through(&port);
    assert_eq!([g0.requests(), g1.requests(), g2.requests()], [0, 1, 1]);
    assert_eq!(log.lines()[before..], ["call0 group RequestService"]);

    for g in [&g0, &g1, &g2] {
        assert_eq!((g.adds(), g.removes()), (1, 0), "{}", g.name);
        assert_eq!(g.delayed_calls.load(Ordering::SeqCst), 0, "{}", g.name);
    }
    drop((render, capture));
}

#[test]
fn item_64_a_render_stream_group_drives_the_render_service() {
    let (log, port) = probe_port(Behaviour {
        render_group: true,
        ..Behaviour::default()
    });
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    let g = log.group("call0 group");
    pin.set_state(KSSTATE_RUN).unwrap();
    let after_run = g.requests();
    assert!(after_run >= 1, "RUN notifies the stream's group");
    // IRP arrival notifies the group; its service hands the IRP to the unpacker.
    pin.submit(dmus_buffer(&[(0, NOTE_ON)]), 0).unwrap();
    assert_eq!(g.requests(), after_run + 1);
    assert_eq!(lock(&log.stream(0).seen).len(), 1);
    assert_eq!(pin.bytes(), (24, 24));
}

#[test]
fn item_65_service_requests_on_the_init_group_call_miniport_service() {
    let (log, port) = probe_port(Behaviour::default());
    let g0 = log.group("miniport group");
    assert_eq!(g0.adds(), 1, "the port joined the miniport's group");
    assert_eq!(g0.members.load(Ordering::SeqCst), 1);
    // The miniport requests service itself (its DPC) ...
    g0.request_service();
    assert_eq!(log.services(), 1);
    // ... or through the port.
    g0.notify_through(&port);
    assert_eq!(log.services(), 2);
    assert_eq!(g0.requests(), 2);

    drop(port);
    assert_eq!(g0.removes(), 1, "the port leaves the group when it goes");
    assert!(log.miniport_dropped.load(Ordering::SeqCst));
    assert!(g0.dropped());
}

#[test]
fn item_65_a_group_registered_during_init_is_joined_once() {
    let (log, port) = probe_port(Behaviour {
        register_early: true,
        ..Behaviour::default()
    });
    let g0 = log.group("miniport group");
    assert_eq!(
        g0.adds(),
        1,
        "RegisterServiceGroup and Init's output are the same group"
    );
    g0.request_service();
    assert_eq!(log.services(), 1);
    port.notify_all();
    assert_eq!(log.services(), 2);
}

#[test]
fn item_65_a_miniport_without_a_service_group_is_never_serviced() {
    let (log, port) = probe_port(Behaviour {
        init_group: false,
        ..Behaviour::default()
    });
    let capture = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    port.notify_all();
    assert_eq!(log.services(), 0);
    assert_eq!(log.stream(0).put_nulls(), 1);
    drop(capture);
}

#[test]
fn item_66_the_capture_service_calls_put_message_null_and_fills_capture_irps() {
    let (log, port) = probe_port(Behaviour::default());
    let pin = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    let s = log.stream(0);
    let g = log.group("call0 group");
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit_buffer(256);
    assert_eq!(s.put_nulls(), 0, "no service without a request");

    // Running status in raw input: the capture sink expands it.
    lock(&s.input).push((500, vec![0x90, 0x3C, 0x40, 0x3E, 0x40]));
    port.set_time(700);
    g.notify_through(&port);
    assert_eq!(s.put_nulls(), 1);
    let filled = pin.take_filled();
    assert_eq!(filled.len(), 1);
    assert_eq!(filled[0].base_time, 700);
    assert!(!filled[0].discontinuity);
    assert_eq!(
        records_of(&filled[0]),
        [
            (1, 500, vec![0x90, 0x3C, 0x40]),
            (1, 500, vec![0x90, 0x3E, 0x40])
        ]
    );

    // Without an empty IRP the data waits in the packer; a new IRP takes it. An IRP whose
    // buffer cannot exist is dropped, not a panic, and the next one is filled.
    lock(&s.input).push((800, NOTE_OFF.to_vec()));
    g.notify_through(&port);
    assert_eq!(s.put_nulls(), 2);
    assert!(pin.take_filled().is_empty());
    pin.submit_buffer(usize::MAX);
    assert!(pin.take_filled().is_empty());
    pin.submit_buffer(256);
    let filled = pin.take_filled();
    assert_eq!(filled.len(), 1);
    assert_eq!(records_of(&filled[0]), [(1, 800, NOTE_OFF.to_vec())]);

    // A service with no input calls PutMessage(NULL) all the same and fills nothing.
    pin.submit_buffer(256);
    g.notify_through(&port);
    assert_eq!(s.put_nulls(), 3);
    assert!(pin.take_filled().is_empty());
    assert_eq!(pin.allocator().stats().outstanding_events, 0);
}

// ---------------------------------------------------------------------------------------------
// Item 67: the master clock.
// ---------------------------------------------------------------------------------------------

fn get_time(clock: &IMasterClock) -> (NTSTATUS, REFERENCE_TIME) {
    let mut t: REFERENCE_TIME = -1;
    // SAFETY: a live clock; `t` is a valid out-pointer.
    let s = unsafe { clock.GetTime(&mut t) };
    (s, t)
}

#[test]
fn item_67_virtual_clock_always_succeeds_and_keeps_running_in_every_state() {
    let (_log, port) = probe_port(Behaviour::default());
    let clock = port.clock().clone();
    assert_eq!(get_time(&clock), (STATUS_SUCCESS, 0));
    let render = render_pin(&port, StreamFormat::DirectMusic);
    let capture = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    let mut last = 0;
    let states = [
        KSSTATE_STOP,
        KSSTATE_ACQUIRE,
        KSSTATE_PAUSE,
        KSSTATE_RUN,
        KSSTATE_PAUSE,
        KSSTATE_ACQUIRE,
        KSSTATE_STOP,
    ];
    for (i, state) in states.into_iter().enumerate() {
        render.set_state(state).unwrap();
        capture.set_state(state).unwrap();
        let t = (i as i64 + 1) * 10_000;
        port.set_time(t);
        let (s, now) = get_time(&clock);
        assert_eq!(s, STATUS_SUCCESS, "{state:?}");
        assert_eq!(now, t, "{state:?}: the clock moves in every state");
        assert!(now > last);
        last = now;
        assert_eq!(port.now(), now);
    }
    // Even a NULL out-pointer is answered with STATUS_SUCCESS.
    // SAFETY: the port checks the pointer before writing.
    let s = unsafe { clock.GetTime(core::ptr::null_mut()) };
    assert_eq!(s, STATUS_SUCCESS);
}

#[test]
fn item_67_real_clock_is_monotonic_and_keeps_running_in_pause_and_stop() {
    let log = Log::new(Behaviour::default());
    let port = Port::new(probe_miniport(&log), ClockMode::Real).unwrap();
    let clock = port.clock().clone();
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    let mut last = get_time(&clock).1;
    for state in [KSSTATE_PAUSE, KSSTATE_STOP, KSSTATE_RUN, KSSTATE_STOP] {
        pin.set_state(state).unwrap();
        let start = last;
        for _ in 0..1000 {
            let (s, t) = get_time(&clock);
            assert_eq!(s, STATUS_SUCCESS);
            assert!(t >= last, "monotonic");
            last = t;
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
        let (_, t) = get_time(&clock);
        assert!(
            t - start >= 30_000,
            "{state:?}: 3 ms pass as at least 30 000 units ({})",
            t - start
        );
        last = t;
    }
    // A real clock ignores set_time.
    port.set_time(0);
    assert!(get_time(&clock).1 >= last);
    // The streams got the same clock.
    assert_eq!(log.call(0).clock, clock.as_raw().addr());
}

// ---------------------------------------------------------------------------------------------
// §4.6: teardown releases everything the port created, exactly once.
// ---------------------------------------------------------------------------------------------

fn sysex(len: usize) -> Vec<u8> {
    let mut v = vec![0xF0];
    v.extend((0..len - 2).map(|i| (i % 0x80) as u8));
    v.push(0xF7);
    v
}

#[test]
fn teardown_4_6_render_pin_and_port_release_everything() {
    let books = Books::open();
    let log = Log::new(Behaviour {
        hold: true,
        render_group: true,
        ..Behaviour::default()
    });
    let port = Port::new(probe_miniport(&log), ClockMode::Virtual).unwrap();
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    let long = sysex(20);
    // Held by the stream: a short and a long event.
    pin.submit(dmus_buffer(&[(0, NOTE_ON), (0, &long)]), 0)
        .unwrap();
    // Waiting in the sequencer.
    pin.submit(dmus_buffer(&[(0, NOTE_OFF)]), 10_000_000)
        .unwrap();
    let s = log.stream(0);
    assert_eq!(probe_of(pin.stream()).held_positions().len(), 2);
    assert_eq!(pin.sequencer().queued(), 1);
    let stats = pin.allocator().stats();
    assert_eq!(
        (stats.outstanding_events, stats.outstanding_buffers),
        (3, 1)
    );

    let alloc = pin.allocator().clone();
    let g = log.group("call0 group");
    let before = log.lines().len();
    drop(pin);
    assert!(s.dropped(), "the stream is released");
    assert!(g.dropped(), "the stream's group is released");
    assert_eq!(g.removes(), 1);
    let stats = alloc.stats();
    assert_eq!(
        stats.outstanding_events, 0,
        "every event is back before the allocator goes"
    );
    assert_eq!(stats.outstanding_buffers, 0);
    assert_eq!(stats.anomalies.misuse(), 0, "no event came back twice");
    // Order: leave the group, walk down to STOP, release the stream.
    let lines: Vec<String> = log.lines()[before..].to_vec();
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| x == l)
            .unwrap_or_else(|| panic!("{l} missing: {lines:?}"))
    };
    assert!(at("call0 group RemoveMember") < at("stream0 SetState KSSTATE_PAUSE"));
    assert!(at("stream0 SetState KSSTATE_PAUSE") < at("stream0 SetState KSSTATE_ACQUIRE"));
    assert!(at("stream0 SetState KSSTATE_ACQUIRE") < at("stream0 SetState KSSTATE_STOP"));
    assert!(at("stream0 SetState KSSTATE_STOP") < at("stream0 Drop"));
    assert!(!lines.iter().any(|l| l.contains("Connect")), "{lines:?}");
    drop(alloc);

    let g0 = log.group("miniport group");
    drop(port);
    assert_eq!(g0.removes(), 1);
    assert!(
        log.miniport_dropped.load(Ordering::SeqCst),
        "the miniport is released"
    );
    assert!(g0.dropped());
    books.assert_balanced("render teardown");
}

#[test]
fn teardown_4_6_capture_pin_and_port_release_everything() {
    let books = Books::open();
    let log = Log::new(Behaviour::default());
    let port = Port::new(probe_miniport(&log), ClockMode::Virtual).unwrap();
    let pin = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    pin.set_state(KSSTATE_RUN).unwrap();
    let s = log.stream(0);
    // Input waiting in the packer (no capture IRP), a SysEx fragment pending in the capture sink.
    lock(&s.input).push((0, NOTE_ON.to_vec()));
    lock(&s.input).push((0, vec![0xF0, 1, 2, 3]));
    pin.service();
    assert!(pin.allocator().stats().outstanding_events > 0);
    let alloc = pin.allocator().clone();
    let g = log.group("call0 group");
    let before = log.lines().len();
    drop(pin);
    let lines: Vec<String> = log.lines()[before..].to_vec();
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| x == l)
            .unwrap_or_else(|| panic!("{l} missing: {lines:?}"))
    };
    assert!(at("call0 group RemoveMember") < at("stream0 SetState KSSTATE_PAUSE"));
    assert!(at("stream0 SetState KSSTATE_STOP") < at("stream0 DisconnectOutput"));
    assert!(at("stream0 DisconnectOutput") < at("stream0 Drop"));
    assert!(s.dropped() && g.dropped());
    let stats = alloc.stats();
    assert_eq!(
        (stats.outstanding_events, stats.outstanding_buffers),
        (0, 0)
    );
    assert_eq!(stats.anomalies.misuse(), 0);
    drop(alloc);
    drop(port);
    assert!(log.miniport_dropped.load(Ordering::SeqCst));
    books.assert_balanced("capture teardown");
}

#[test]
fn teardown_4_6_the_port_may_go_before_its_pins() {
    let books = Books::open();
    let log = Log::new(Behaviour {
        hold: true,
        ..Behaviour::default()
    });
    let port = Port::new(probe_miniport(&log), ClockMode::Virtual).unwrap();
    let render = render_pin(&port, StreamFormat::DirectMusic);
    let capture = port.open_capture_pin(0, StreamFormat::DirectMusic).unwrap();
    render.set_state(KSSTATE_RUN).unwrap();
    render.submit(dmus_buffer(&[(0, NOTE_ON)]), 0).unwrap();
    drop(port);
    render.set_state(KSSTATE_STOP).unwrap();
    assert_eq!(render.bytes(), (24, 24));
    drop(render);
    drop(capture);
    assert!(log.stream(0).dropped() && log.stream(1).dropped());
    assert!(log.miniport_dropped.load(Ordering::SeqCst));
    books.assert_balanced("port first");
}

#[test]
fn a_failing_miniport_init_fails_the_port_and_leaks_nothing() {
    for register_early in [false, true] {
        let books = Books::open();
        let log = Log::new(Behaviour {
            init_status: STATUS_INVALID_DEVICE_STATE,
            register_early,
            ..Behaviour::default()
        });
        assert_eq!(
            Port::new(probe_miniport(&log), ClockMode::Virtual).err(),
            Some(STATUS_INVALID_DEVICE_STATE),
            "register_early {register_early}"
        );
        assert!(
            log.miniport_dropped.load(Ordering::SeqCst),
            "register_early {register_early}: miniport released"
        );
        let g = log.group("miniport group");
        assert!(
            g.dropped(),
            "register_early {register_early}: group released"
        );
        assert_eq!(g.adds(), g.removes(), "register_early {register_early}");
        books.assert_balanced("failed Init");
    }
}

// ---------------------------------------------------------------------------------------------
// End to end with the sample UART miniport and the virtual MPU-401.
// ---------------------------------------------------------------------------------------------

/// Advances the virtual clock from timer to timer until nothing is pending.
fn drive(port: &Port, mpu: &VirtualMpu401) {
    for _ in 0..10_000 {
        port.run_timers();
        mpu.run_timers(port.now());
        let next = [port.next_timer(), mpu.next_timer()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else { return };
        if t > port.now() {
            port.set_time(t);
        }
    }
    panic!("timers never settled");
}

fn timed(t: REFERENCE_TIME, bytes: &[u8]) -> Vec<(REFERENCE_TIME, u8)> {
    bytes.iter().map(|&b| (t, b)).collect()
}

#[test]
fn uart_render_plays_bytes_at_their_times_and_completes_every_irp() {
    let books = Books::open();
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    let pin = render_pin(&port, StreamFormat::DirectMusic);
    pin.set_state(KSSTATE_RUN).unwrap();
    let long = sysex(300);
    let a = dmus_buffer(&[(0, NOTE_ON), (100_000, NOTE_ON_2), (200_000, NOTE_OFF)]);
    let b = dmus_buffer(&[(0, &[0x80, 0x40, 0x00]), (50_000, &long)]);
    let total = (a.len() + b.len()) as u64;
    pin.submit(a, 0).unwrap();
    pin.submit(b, 300_000).unwrap();

    // At time 0 only the first message is due.
    assert_eq!(mpu.take_output(), timed(0, NOTE_ON));
    assert_eq!(pin.bytes(), (total, 24));
    assert_eq!(pin.deadline(), Some(100_000));

    drive(&port, &mpu);
    let mut expected = timed(100_000, NOTE_ON_2);
    expected.extend(timed(200_000, NOTE_OFF));
    expected.extend(timed(300_000, &[0x80, 0x40, 0x00]));
    expected.extend(timed(350_000, &long));
    assert_eq!(mpu.take_output(), expected);
    assert_eq!(pin.bytes(), (total, total));
    assert_eq!(pin.completed_irps(), 2);
    let stats = pin.allocator().stats();
    assert_eq!(
        (stats.outstanding_events, stats.outstanding_buffers),
        (0, 0)
    );
    assert_eq!(stats.anomalies.misuse(), 0);
    assert_eq!(pin.sequencer().queued(), 0);

    pin.set_state(KSSTATE_STOP).unwrap();
    drop(pin);
    drop(port);
    drop(mpu);
    books.assert_balanced("UART render");
}

#[test]
fn uart_render_of_ks_format_buffers() {
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    let pin = port
        .open_render_pin(0, StreamFormat::Ks, FilterPlacement::AfterSequencer, |_| {
            Ok(Vec::new())
        })
        .unwrap();
    pin.set_state(KSSTATE_RUN).unwrap();
    let mut buf = vec![0u8; 64];
    let mut w = KsBufferWriter::new(&mut buf);
    w.push(0, NOTE_ON).unwrap();
    w.push(10, NOTE_OFF).unwrap();
    let n = w.len();
    buf.truncate(n);
    // Base time 2 ms: the first wake-up is at least 1 ms away (item 34) and lands exactly on it.
    pin.submit(buf, 20_000).unwrap();
    assert!(mpu.take_output().is_empty());
    assert_eq!(pin.deadline(), Some(20_000));
    drive(&port, &mpu);
    let mut expected = timed(20_000, NOTE_ON);
    expected.extend(timed(120_000, NOTE_OFF));
    assert_eq!(mpu.take_output(), expected);
    assert_eq!(pin.bytes(), (n as u64, n as u64));
    assert_eq!(pin.completed_irps(), 1);
    assert_eq!(pin.allocator().stats().outstanding_events, 0);
}

#[test]
fn uart_capture_fills_capture_buffers_with_the_received_messages() {
    let books = Books::open();
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    let pin = port.open_capture_pin(4, StreamFormat::DirectMusic).unwrap();
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit_buffer(512);
    pin.submit_buffer(512);

    port.set_time(1_000);
    mpu.receive(&[0x90, 0x3C, 0x40, 0x3E, 0x40], 1_000);
    port.set_time(5_000);
    let sx = sysex(12);
    let mut wire = sx.clone();
    wire.push(0xFE);
    mpu.receive(&wire, 5_000);

    let filled = pin.take_filled();
    assert_eq!(filled.len(), 2);
    assert_eq!(
        records_of(&filled[0]),
        [
            (1, 1_000, vec![0x90, 0x3C, 0x40]),
            (1, 1_000, vec![0x90, 0x3E, 0x40])
        ]
    );
    assert_eq!(
        records_of(&filled[1]),
        [(1, 5_000, sx), (1, 5_000, vec![0xFE])]
    );
    assert_eq!(mpu.lost_input(), 0);
    assert_eq!(pin.allocator().stats().outstanding_events, 0);

    // In STOP the device's input is dropped and nothing is captured.
    pin.set_state(KSSTATE_STOP).unwrap();
    pin.submit_buffer(512);
    mpu.receive(NOTE_ON, 6_000);
    assert!(pin.take_filled().is_empty());

    drop(pin);
    drop(port);
    drop(mpu);
    books.assert_balanced("UART capture");
}

// ---------------------------------------------------------------------------------------------
// The UART's descriptor through the port: KSPROPSETID_Synth on its synth nodes (kernel.md §4.7),
// routed through the node automation tables with the pin's stream as MinorTarget.
// ---------------------------------------------------------------------------------------------

/// The bytes of a plain-data value.
fn bytes_of<T: Copy>(value: &T) -> Vec<u8> {
    // SAFETY: `T` is a plain-data ABI struct without padding; its bytes are initialised.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

/// A plain-data value from the start of `bytes`.
fn value_of<T: Copy>(bytes: &[u8]) -> T {
    assert!(bytes.len() >= size_of::<T>());
    // SAFETY: at least `size_of::<T>()` readable bytes of a plain-data value; read unaligned.
    unsafe { bytes.as_ptr().cast::<T>().read_unaligned() }
}

fn synth(id: u32, verb: u32, node: Option<u32>, instance: &[u8]) -> Vec<u8> {
    property_input(KSPROPSETID_Synth, id, verb, node, instance).unwrap()
}

#[test]
fn uart_synth_properties_answer_through_the_port() {
    let books = Books::open();
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    let render = port
        .open_render_pin(
            1,
            StreamFormat::DirectMusic,
            FilterPlacement::AfterSequencer,
            |_| Ok(Vec::new()),
        )
        .unwrap();
    let capture = port.open_capture_pin(4, StreamFormat::DirectMusic).unwrap();
    let (on_render, on_capture) = (
        PropertyTarget::Render(&render),
        PropertyTarget::Capture(&capture),
    );
    let get = KSPROPERTY_TYPE_GET;

    // CAPS: a size query, then the render synth's caps on node 0, the input synth's on node 1.
    let caps_size = size_of::<SYNTHCAPS>() as u32;
    let caps = synth(KSPROPERTY_SYNTH_CAPS, get, Some(0), &[]);
    assert_eq!(
        port.property(on_render, &caps, &mut []),
        Completion {
            status: STATUS_BUFFER_OVERFLOW,
            information: caps_size
        }
    );
    let mut value = vec![0u8; caps_size as usize];
    assert_eq!(
        port.property(on_render, &caps, &mut value),
        Completion {
            status: STATUS_SUCCESS,
            information: caps_size
        }
    );
    let out: SYNTHCAPS = value_of(&value);
    assert_eq!(
        (out.Guid, out.Flags, out.MaxChannelGroups),
        (CLSID_MiniportDriverDMusUART, SYNTH_PC_EXTERNAL, 1)
    );
    let input_caps = synth(KSPROPERTY_SYNTH_CAPS, get, Some(1), &[]);
    assert_eq!(
        port.property(on_capture, &input_caps, &mut value).status,
        STATUS_SUCCESS
    );
    assert_eq!(
        value_of::<SYNTHCAPS>(&value).Guid,
        CLSID_MiniportDriverDMusUARTCapture
    );
    // BASICSUPPORT: a ULONG of access flags.
    let mut flags = [0u8; 4];
    let basic = synth(
        KSPROPERTY_SYNTH_CAPS,
        KSPROPERTY_TYPE_BASICSUPPORT,
        Some(0),
        &[],
    );
    assert_eq!(port.property(on_render, &basic, &mut flags).information, 4);
    assert_eq!(
        u32::from_ne_bytes(flags),
        KSPROPERTY_TYPE_BASICSUPPORT | KSPROPERTY_TYPE_GET
    );

    // PORTPARAMETERS on a pin: the instance applied as DMusUART does (only the channel-group
    // bit kept, one group); on the filter (no MinorTarget) refused.
    let asked = SYNTH_PORTPARAMS {
        ValidParams: SYNTH_PORTPARAMS_VOICES | SYNTH_PORTPARAMS_CHANNELGROUPS,
        Voices: 32,
        ChannelGroups: 4,
        AudioChannels: 2,
        SampleRate: 22_050,
        EffectsFlags: 0,
        Share: 0,
    };
    let params = synth(
        KSPROPERTY_SYNTH_PORTPARAMETERS,
        get,
        Some(0),
        &bytes_of(&asked),
    );
    let mut value = [0u8; 28];
    assert_eq!(
        port.property(on_render, &params, &mut value),
        Completion {
            status: STATUS_SUCCESS,
            information: 28
        }
    );
    let applied: SYNTH_PORTPARAMS = value_of(&value);
    assert_eq!(
        (applied.ValidParams, applied.ChannelGroups, applied.Voices),
        (SYNTH_PORTPARAMS_CHANNELGROUPS, 1, 32)
    );
    assert_eq!(
        port.property(PropertyTarget::Filter, &params, &mut value),
        Completion {
            status: STATUS_INVALID_DEVICE_REQUEST,
            information: 0
        }
    );

    // CHANNELGROUPS: set and get both write 1.
    for verb in [KSPROPERTY_TYPE_SET, get] {
        let mut groups = 7u32.to_ne_bytes();
        let request = synth(KSPROPERTY_SYNTH_CHANNELGROUPS, verb, Some(0), &[]);
        assert_eq!(
            port.property(on_render, &request, &mut groups).information,
            4
        );
        assert_eq!(u32::from_ne_bytes(groups), 1);
    }

    // LATENCYCLOCK: the master clock now, through the port's own clock.
    port.set_time(1_234_567);
    let mut clock = [0u8; 8];
    let latency = synth(KSPROPERTY_SYNTH_LATENCYCLOCK, get, Some(0), &[]);
    assert_eq!(
        port.property(on_render, &latency, &mut clock),
        Completion {
            status: STATUS_SUCCESS,
            information: 8
        }
    );
    assert_eq!(u64::from_ne_bytes(clock), 1_234_567);
    // A short buffer: STATUS_BUFFER_TOO_SMALL, nothing written.
    assert_eq!(
        port.property(on_render, &latency, &mut clock[..4]),
        Completion {
            status: STATUS_BUFFER_TOO_SMALL,
            information: 0
        }
    );
    // VOLUME is in no table of the UART: the port finds no item.
    let volume = synth(KSPROPERTY_SYNTH_VOLUME, get, Some(0), &[]);
    assert_eq!(
        port.property(on_render, &volume, &mut clock).status,
        STATUS_NOT_FOUND
    );

    drop((render, capture));
    drop(port);
    books.assert_balanced("synth properties through the port");
}

#[test]
fn uart_pins_open_only_as_its_descriptor_says() {
    let books = Books::open();
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    let open = |pin, format| {
        port.open_render_pin(pin, format, FilterPlacement::AfterSequencer, |_| {
            Ok(Vec::new())
        })
        .err()
    };
    // Pin 0 is MIDI only, 1 DirectMusic only; 2 and 3 are bridges; 4 captures.
    assert_eq!(open(0, StreamFormat::DirectMusic), Some(STATUS_NO_MATCH));
    assert_eq!(open(1, StreamFormat::Ks), Some(STATUS_NO_MATCH));
    assert_eq!(
        open(2, StreamFormat::Ks),
        Some(STATUS_INVALID_DEVICE_REQUEST)
    );
    assert_eq!(
        open(4, StreamFormat::Ks),
        Some(STATUS_INVALID_DEVICE_REQUEST)
    );
    assert_eq!(open(5, StreamFormat::Ks), Some(STATUS_INVALID_PARAMETER));
    assert_eq!(
        port.open_capture_pin(0, StreamFormat::Ks).err(),
        Some(STATUS_INVALID_DEVICE_REQUEST)
    );
    // One instance per factory (DMusUART's 1/1/0).
    let first = port.open_capture_pin(4, StreamFormat::Ks).unwrap();
    assert_eq!(
        port.open_capture_pin(4, StreamFormat::DirectMusic).err(),
        Some(STATUS_INSUFFICIENT_RESOURCES)
    );
    drop(first);
    let again = port.open_capture_pin(4, StreamFormat::DirectMusic).unwrap();
    drop(again);
    drop(port);
    books.assert_balanced("refused pins");
}
