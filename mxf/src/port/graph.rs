//! The pins: render graphs (unpacker → sequencer → miniport stream, §4.2) and capture graphs
//! (miniport stream → capture sink → packer, §4.3), their IRP accounting and state changes.

use super::{
    FilterPlacement, InstanceClaim, Port, PortShared, StreamFormat, Traced, connect_chain, try_push,
};
use crate::abi::{
    DMUS_STREAM_MIDI_CAPTURE, DMUS_STREAM_MIDI_RENDER, KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT,
    KSSTATE, KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP, NonPagedPool,
    REFERENCE_TIME, Result, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE,
    STATUS_UNSUCCESSFUL,
};
use crate::allocator::{AllocatorConfig, AllocatorHandle};
use crate::com::{ComObject, Interface};
use crate::components::capture_sink::CaptureSinkHandle;
use crate::components::packer::{PackerFormat, PackerHandle};
use crate::components::sequencer::SequencerHandle;
use crate::components::unpacker::{DmusUnpacker, KsUnpacker, Unpacker, UnpackerStats};
use crate::interfaces::*;
use crate::platform::{OneAtATime, SpinLock};
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

/// A render pin's unpacker, by format (an enum rather than a box: nothing to allocate).
enum AnyUnpacker {
    Dmus(DmusUnpacker),
    Ks(KsUnpacker),
}

impl AnyUnpacker {
    fn get(&mut self) -> &mut dyn Unpacker {
        match self {
            Self::Dmus(u) => u,
            Self::Ks(u) => u,
        }
    }
    fn stats(&self) -> UnpackerStats {
        match self {
            Self::Dmus(u) => u.stats(),
            Self::Ks(u) => u.stats(),
        }
    }
}

impl Port {
    /// Opens a render pin (§4.2) on pin factory `pin_id`. `filters` receives the pin's
    /// allocator and returns the user filters to insert, in order.
    ///
    /// Before `NewStream` the creation is checked against the miniport's descriptor
    /// (`kernel.md` §4.2, §4.3):
    ///
    /// | refusal | status |
    /// |---|---|
    /// | no pin factory `pin_id` | `STATUS_INVALID_PARAMETER` |
    /// | the factory is not a SINK with dataflow IN (render) or OUT (capture): a bridge, a SOURCE, a pin of the other direction | `STATUS_INVALID_DEVICE_REQUEST` |
    /// | `format`'s [`client_format`](Port::client_format) matches none of its ranges ([`format_matches`](crate::miniport::format_matches)) | `STATUS_NO_MATCH` |
    /// | as many pins of the factory are open as `MaxFilterInstanceCount` or `MaxGlobalInstanceCount` allows (0: never instantiable) | `STATUS_INSUFFICIENT_RESOURCES` |
    ///
    /// ReactOS's port never refuses a pin over its counts, and Windows' status for it is
    /// undocumented (`kernel.md` §4.3); this port holds the descriptor's counts, as the KS pin
    /// factories PortCls builds from them do, with one port as one filter (so the global count
    /// is held per port too). Then `NewStream`'s own refusals (its status) and the graph's.
    pub fn open_render_pin(
        &self,
        pin_id: u32,
        format: StreamFormat,
        placement: FilterPlacement,
        filters: impl FnOnce(&IAllocatorMXF) -> Result<Vec<IMXF>>,
    ) -> Result<RenderPin> {
        let claim = self.claim_pin(pin_id, KSPIN_DATAFLOW_IN, &Self::data_format(format))?;
        let serial = self.pin_serial();
        let core = Arc::new(PinCore::new(serial));
        let pin_obj = PinObject { core: core.clone() };
        let notify: IPositionNotify = ComObject::<PinObject>::create_value(
            pin_obj,
            NonPagedPool,
            crate::abi::pool_tag(b"MXFn"),
        )?;
        // SAFETY: chain 0 of the PinObject just created.
        let pin_sink: IServiceSink = unsafe { ComObject::<PinObject>::sibling(notify.as_raw()) }
            .ok_or(STATUS_UNSUCCESSFUL)?;
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), Some(notify))?;
        let (stream, group, prefetch) =
            self.new_stream(pin_id, DMUS_STREAM_MIDI_RENDER, format, &alloc)?;
        let user = filters(&alloc)?;
        let sequencer = SequencerHandle::new((*alloc).clone(), self.clock_iface.clone(), prefetch)?;
        if self.shared.clock.mode() == super::ClockMode::Virtual {
            // A virtual clock has exact timers: the 1 ms floor of item 34 models the kernel's timer
            // resolution, which would only make events leave late here.
            sequencer.set_min_reschedule_delay(1);
        }
        let mut unpacker = match format {
            StreamFormat::DirectMusic => AnyUnpacker::Dmus(DmusUnpacker::new((*alloc).clone())),
            StreamFormat::Ks => AnyUnpacker::Ks(KsUnpacker::new((*alloc).clone())),
        };
        // Wiring: sequencer → … → miniport first, then unpacker → …; the stream's own
        // ConnectOutput is never called for render (item 63).
        let (before, after): (Vec<IMXF>, Vec<IMXF>) = match placement {
            FilterPlacement::AfterSequencer => (Vec::new(), user),
            FilterPlacement::BeforeSequencer => (user, Vec::new()),
        };
        connect_chain(
            &self.shared,
            core::iter::once(sequencer.interface().clone())
                .chain(after.iter().cloned())
                .chain(core::iter::once(stream.clone())),
        )?;
        connect_chain(
            &self.shared,
            before
                .iter()
                .cloned()
                .chain(core::iter::once(sequencer.interface().clone())),
        )?;
        let first = before.first().unwrap_or(sequencer.interface()).clone();
        unpacker.get().connect_output(first).ok()?;
        if let Some(g) = &group {
            try_push(&mut self.shared.stream_groups.lock(), (serial, g.clone()))?;
            g.AddMember(Some(pin_sink.to_ref()));
        }
        let graph = Arc::new(RenderGraph {
            pin_id,
            _claim: claim,
            core: core.clone(),
            port: self.shared.clone(),
            port_iface: self.iface.interface().clone(),
            alloc,
            unpacker: SpinLock::new(unpacker),
            sequencer,
            before,
            after,
            stream,
            group,
            pin_sink,
            state: SpinLock::new(KSSTATE_STOP),
            deadline: SpinLock::new(None),
            serving: OneAtATime::new(),
        });
        *core.graph.lock() = Some(GraphRef::Render(Arc::downgrade(&graph)));
        let pin = RenderPin { graph };
        // On failure the pin is dropped: it leaves the stream's group and disconnects its graph.
        try_push(&mut self.timers.lock(), Arc::downgrade(&pin.graph))?;
        Ok(pin)
    }

    /// Opens a capture pin (§4.3) on pin factory `pin_id`, which must be a SINK with dataflow
    /// OUT offering `format` (the refusals of [`Port::open_render_pin`]).
    pub fn open_capture_pin(&self, pin_id: u32, format: StreamFormat) -> Result<CapturePin> {
        let claim = self.claim_pin(pin_id, KSPIN_DATAFLOW_OUT, &Self::data_format(format))?;
        let serial = self.pin_serial();
        let core = Arc::new(PinCore::new(serial));
        let pin_obj = PinObject { core: core.clone() };
        let notify: IPositionNotify = ComObject::<PinObject>::create_value(
            pin_obj,
            NonPagedPool,
            crate::abi::pool_tag(b"MXFn"),
        )?;
        // SAFETY: chain 0 of the PinObject just created.
        let pin_sink: IServiceSink = unsafe { ComObject::<PinObject>::sibling(notify.as_raw()) }
            .ok_or(STATUS_UNSUCCESSFUL)?;
        drop(notify);
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
        let (stream, group, _prefetch) =
            self.new_stream(pin_id, DMUS_STREAM_MIDI_CAPTURE, format, &alloc)?;
        // A capture stream must come with a service group (item 61).
        let group = group.ok_or(STATUS_UNSUCCESSFUL)?;
        let sink = CaptureSinkHandle::new((*alloc).clone())?;
        let packer = PackerHandle::new(
            (*alloc).clone(),
            match format {
                StreamFormat::DirectMusic => PackerFormat::DirectMusic,
                StreamFormat::Ks => PackerFormat::Ks,
            },
        )?;
        connect_chain(
            &self.shared,
            [sink.interface().clone(), packer.interface().clone()].into_iter(),
        )?;
        // The miniport's capture stream is connected to the capture sink; failure fails the pin (item 63).
        connect_chain(
            &self.shared,
            [stream.clone(), sink.interface().clone()].into_iter(),
        )?;
        try_push(
            &mut self.shared.stream_groups.lock(),
            (serial, group.clone()),
        )?;
        group.AddMember(Some(pin_sink.to_ref()));
        let graph = Arc::new(CaptureGraph {
            pin_id,
            _claim: claim,
            core: core.clone(),
            port: self.shared.clone(),
            alloc,
            sink,
            packer,
            stream,
            group,
            pin_sink,
            state: SpinLock::new(KSSTATE_STOP),
            buffers: SpinLock::new(VecDeque::new()),
            filled: SpinLock::new(Vec::new()),
        });
        *core.graph.lock() = Some(GraphRef::Capture(Arc::downgrade(&graph)));
        Ok(CapturePin { graph })
    }
}

/// One KS step from `cur` towards `target` (states change one step at a time).
fn next_state_towards(cur: KSSTATE, target: KSSTATE) -> KSSTATE {
    KSSTATE(if target.0 > cur.0 {
        cur.0.saturating_add(1)
    } else {
        cur.0.saturating_sub(1)
    })
}

/// Disconnects each object of the chain from the next.
fn disconnect_chain<'a>(items: impl Iterator<Item = &'a IMXF>) {
    let mut prev: Option<&IMXF> = None;
    for b in items {
        if let Some(a) = prev {
            a.DisconnectOutput(Some(b.to_ref()));
        }
        prev = Some(b);
    }
}

enum GraphRef {
    Render(Weak<RenderGraph>),
    Capture(Weak<CaptureGraph>),
}

struct Irp {
    start: u64,
    len: u64,
    /// The buffer until the unpacker has parsed it (then empty: only its extent is needed).
    data: Vec<u8>,
    base_time: REFERENCE_TIME,
    sunk: bool,
}

struct Accounting {
    submitted: u64,
    completed: u64,
    queued: u64,
    irps: VecDeque<Irp>,
    completed_irps: u64,
}

/// What both pin kinds share with the pin's COM object.
struct PinCore {
    serial: u64,
    acct: SpinLock<Accounting>,
    graph: SpinLock<Option<GraphRef>>,
}

impl PinCore {
    fn new(serial: u64) -> Self {
        Self {
            serial,
            acct: SpinLock::new(Accounting {
                submitted: 0,
                completed: 0,
                queued: 0,
                irps: VecDeque::new(),
                completed_irps: 0,
            }),
            graph: SpinLock::new(None),
        }
    }

    /// Completes IRP bytes up to `pos` (item 58): only forward.
    fn complete_to(&self, pos: u64) {
        let mut a = self.acct.lock();
        if pos <= a.completed {
            return;
        }
        a.completed = pos.min(a.queued);
        let done = a.completed;
        while a
            .irps
            .front()
            .is_some_and(|i| i.sunk && i.start.saturating_add(i.len) <= done)
        {
            a.irps.pop_front();
            a.completed_irps = a.completed_irps.wrapping_add(1);
        }
    }
}

/// The pin's COM side: the allocator's IPositionNotify target and the service-group member.
#[crate::com_object(IPositionNotify, IServiceSink, tag = "MXFn")]
struct PinObject {
    core: Arc<PinCore>,
}

impl IPositionNotify_Impl for PinObject {
    fn PositionNotify(&self, byte_position: u64) {
        self.core.complete_to(byte_position);
    }
}

impl IServiceSink_Impl for PinObject {
    fn RequestService(&self) {
        let g = self.core.graph.lock().as_ref().map(|g| match g {
            GraphRef::Render(w) => (w.upgrade(), None),
            GraphRef::Capture(w) => (None, w.upgrade()),
        });
        match g {
            Some((Some(r), _)) => r.serve(),
            Some((_, Some(c))) => c.serve(),
            _ => {}
        }
    }
}

pub(crate) struct RenderGraph {
    /// The pin factory.
    pin_id: u32,
    /// Counts the pin among its factory's instances until the graph goes.
    _claim: InstanceClaim,
    core: Arc<PinCore>,
    port: Arc<PortShared>,
    port_iface: IPortDMus,
    alloc: AllocatorHandle,
    unpacker: SpinLock<AnyUnpacker>,
    sequencer: SequencerHandle,
    before: Vec<IMXF>,
    after: Vec<IMXF>,
    stream: IMXF,
    group: Option<IServiceGroup>,
    pin_sink: IServiceSink,
    state: SpinLock<KSSTATE>,
    deadline: SpinLock<Option<REFERENCE_TIME>>,
    /// One `serve` at a time, never waited for: a filter that submits to its own pin from
    /// `process` (inside `serve`) leaves the IRP to the running `serve`.
    serving: OneAtATime,
}

impl RenderGraph {
    pub(crate) fn deadline(&self) -> Option<REFERENCE_TIME> {
        *self.deadline.lock()
    }

    /// The sequencer's timer DPC.
    pub(crate) fn run_sequencer(&self) {
        let next = self.sequencer.process_queues();
        self.arm(next);
    }

    fn arm(&self, delay: Option<u64>) {
        let now = self.port.clock.now();
        *self.deadline.lock() =
            delay.map(|d| now.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)));
    }

    /// ServeRender: every IRP not yet handed to the unpacker goes in, in order.
    fn serve(&self) {
        if !self.serving.enter() {
            return;
        }
        loop {
            self.serve_once();
            if self.serving.leave() {
                return;
            }
        }
    }

    fn serve_once(&self) {
        loop {
            let next = {
                let mut a = self.core.acct.lock();
                let pos = a.irps.iter().position(|i| !i.sunk);
                match pos.and_then(|p| a.irps.get_mut(p)) {
                    Some(irp) => {
                        irp.sunk = true;
                        // The unpacker copies what it needs: the buffer leaves the IRP.
                        Some((core::mem::take(&mut irp.data), irp.base_time, irp.start))
                    }
                    None => None,
                }
            };
            let Some((data, base, start)) = next else {
                break;
            };
            {
                let mut u = self.unpacker.lock();
                let _ = u.get().sink_irp(&data, base, start);
            }
            self.core.acct.lock().submitted = start.saturating_add(data.len() as u64);
            drop(data);
            let _ = self.unpacker.lock().get().process_queues();
        }
        self.run_sequencer();
    }

    /// The graph's IMXF objects in order: filters before the sequencer, the sequencer, filters
    /// after it, the miniport stream.
    fn objects(&self) -> impl DoubleEndedIterator<Item = (Traced, &IMXF)> {
        let b = self.before.len();
        self.before
            .iter()
            .enumerate()
            .map(|(i, o)| (Traced::Filter(i), o))
            .chain(core::iter::once((
                Traced::Sequencer,
                self.sequencer.interface(),
            )))
            .chain(
                self.after
                    .iter()
                    .enumerate()
                    .map(move |(i, o)| (Traced::Filter(b.saturating_add(i)), o)),
            )
            .chain(core::iter::once((Traced::Miniport, &self.stream)))
    }
}

/// A render pin: submit DirectMusic or KS buffers, watch them complete.
pub struct RenderPin {
    graph: Arc<RenderGraph>,
}

impl RenderPin {
    /// Submits one IRP buffer with its presentation time. Refused in STOP (KS rejects IRPs then)
    /// with `STATUS_INVALID_DEVICE_STATE`; `STATUS_INSUFFICIENT_RESOURCES` if the IRP cannot be
    /// queued.
    pub fn submit(&self, data: Vec<u8>, base_time: REFERENCE_TIME) -> Result<()> {
        if *self.graph.state.lock() == KSSTATE_STOP {
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        {
            let mut a = self.graph.core.acct.lock();
            a.irps
                .try_reserve(1)
                .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
            let start = a.queued;
            let len = data.len() as u64;
            a.queued = a.queued.wrapping_add(len);
            a.irps.push_back(Irp {
                start,
                len,
                data,
                base_time,
                sunk: false,
            });
        }
        self.kick();
        Ok(())
    }

    /// IRP arrival or RUN: the stream's group is notified, or (no group) the zero-delay timer runs.
    fn kick(&self) {
        match &self.graph.group {
            Some(g) => self.graph.port_iface.Notify(Some(g.to_ref())),
            None => self.graph.serve(),
        }
    }

    /// Moves the graph to `target` one KS step at a time (item 37 ordering).
    pub fn set_state(&self, target: KSSTATE) -> Result<()> {
        if target.known().is_none() {
            return Err(crate::abi::STATUS_INVALID_PARAMETER);
        }
        let g = &self.graph;
        let port = &g.port;
        loop {
            let cur = *g.state.lock();
            if cur == target {
                break;
            }
            let next = next_state_towards(cur, target);
            // Unpacker → sequencer → filters → miniport going up; the reverse going down.
            if next.0 > cur.0 {
                g.unpacker.lock().get().set_state(next);
                port.trace_state(Traced::Unpacker, next, None);
                for (name, o) in g.objects() {
                    port.trace_state(name, next, Some(o.SetState(next)));
                }
            } else {
                for (name, o) in g.objects().rev() {
                    port.trace_state(name, next, Some(o.SetState(next)));
                }
                g.unpacker.lock().get().set_state(next);
                port.trace_state(Traced::Unpacker, next, None);
            }
            *g.state.lock() = next;
            if next == KSSTATE_STOP {
                // Everything submitted is completed, whatever the events did (item 59).
                let q = g.core.acct.lock().queued;
                g.core.complete_to(q);
                let mut a = g.core.acct.lock();
                let n = a.irps.len() as u64;
                a.irps.clear();
                a.completed_irps = a.completed_irps.wrapping_add(n);
                a.completed = a.queued;
                a.submitted = a.queued;
            }
            if next == KSSTATE_RUN {
                self.kick();
            }
        }
        Ok(())
    }

    /// Bytes submitted and bytes completed in the IRP stream.
    pub fn bytes(&self) -> (u64, u64) {
        let a = self.graph.core.acct.lock();
        (a.queued, a.completed)
    }
    /// IRPs completed so far.
    pub fn completed_irps(&self) -> u64 {
        self.graph.core.acct.lock().completed_irps
    }
    /// The pin's allocator.
    pub fn allocator(&self) -> &AllocatorHandle {
        &self.graph.alloc
    }
    /// The sequencer.
    pub fn sequencer(&self) -> &SequencerHandle {
        &self.graph.sequencer
    }
    /// The miniport stream.
    pub fn stream(&self) -> &IMXF {
        &self.graph.stream
    }
    /// The pin factory the pin was opened on.
    pub fn pin_id(&self) -> u32 {
        self.graph.pin_id
    }
    /// The unpacker's counters.
    pub fn unpacker_stats(&self) -> UnpackerStats {
        self.graph.unpacker.lock().stats()
    }
    /// Runs the sequencer now (its timer DPC), whatever the deadline.
    pub fn run_sequencer(&self) {
        self.graph.run_sequencer();
    }
    /// When the sequencer wants to run next.
    pub fn deadline(&self) -> Option<REFERENCE_TIME> {
        self.graph.deadline()
    }
}

impl Drop for RenderPin {
    /// Teardown in the order of §4.6.
    fn drop(&mut self) {
        let g = &self.graph;
        g.port
            .stream_groups
            .lock()
            .retain(|(s, _)| *s != g.core.serial);
        if let Some(grp) = &g.group {
            grp.RemoveMember(Some(g.pin_sink.to_ref()));
        }
        let _ = self.set_state(KSSTATE_STOP);
        let _ = g.unpacker.lock().get().disconnect_output(None);
        disconnect_chain(g.objects().map(|(_, o)| o));
        *g.core.graph.lock() = None;
    }
}

struct CaptureGraph {
    /// The pin factory.
    pin_id: u32,
    /// Counts the pin among its factory's instances until the graph goes.
    _claim: InstanceClaim,
    core: Arc<PinCore>,
    port: Arc<PortShared>,
    alloc: AllocatorHandle,
    sink: CaptureSinkHandle,
    packer: PackerHandle,
    stream: IMXF,
    group: IServiceGroup,
    pin_sink: IServiceSink,
    state: SpinLock<KSSTATE>,
    buffers: SpinLock<VecDeque<usize>>,
    filled: SpinLock<Vec<CapturedBuffer>>,
}

/// One completed capture IRP. Every capture IRP completes with `STATUS_SUCCESS`; its
/// `DataUsed` is the length of `data`, 0 for a buffer too small for one record (see
/// [`CapturePin::submit_buffer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedBuffer {
    /// The records written by the packer.
    pub data: Vec<u8>,
    /// The IRP's presentation time (records carry times relative to it).
    pub base_time: REFERENCE_TIME,
    /// The packer saw a data discontinuity.
    pub discontinuity: bool,
}

impl CaptureGraph {
    /// ServeCapture: `PutMessage(NULL)` on the miniport stream (item 66), then the packer fills IRPs.
    fn serve(&self) {
        // SAFETY: live interface; NULL is the capture stream's cue.
        unsafe { self.stream.PutMessage(core::ptr::null_mut()) };
        self.fill();
    }

    /// Completes a capture IRP. One whose completion cannot be recorded (pool exhausted) is
    /// lost, as the client's IRP would be if the port could not complete it.
    fn complete(&self, buffer: CapturedBuffer) {
        let _ = try_push(&mut self.filled.lock(), buffer);
    }

    fn fill(&self) {
        loop {
            if self.packer.queued() == 0 {
                break;
            }
            let Some(size) = self.buffers.lock().pop_front() else {
                break;
            };
            if !self.packer.format().holds_a_record(size) {
                // No record fits: the packet ends before its first byte (§4.3), the IRP completes
                // empty and the data goes to the next one.
                self.complete(CapturedBuffer {
                    data: Vec::new(),
                    base_time: self.port.clock.now(),
                    discontinuity: false,
                });
                continue;
            }
            // A buffer that cannot be allocated (an absurd size) is an IRP no client could
            // have sent: dropped, as the I/O manager would refuse it.
            let mut buf = Vec::new();
            if buf.try_reserve_exact(size).is_err() {
                continue;
            }
            buf.resize(size, 0);
            let base = self.port.clock.now();
            let f = self.packer.fill(&mut buf, base);
            if f.bytes == 0 {
                // Back to the front: popped just above, so the deque has room for it.
                self.buffers.lock().push_front(size);
                break;
            }
            buf.truncate(f.bytes);
            self.complete(CapturedBuffer {
                data: buf,
                base_time: base,
                discontinuity: f.discontinuity,
            });
        }
    }
}

/// A capture pin: provide empty IRP buffers, collect the filled ones.
pub struct CapturePin {
    graph: Arc<CaptureGraph>,
}

impl CapturePin {
    /// Queues an empty capture IRP of `size` bytes. IRPs are filled in order as captured data
    /// waits for them. One too small for a single record (under 24 bytes DirectMusic, counting
    /// only whole quadwords, under 9 bytes KS: [`PackerFormat::holds_a_record`]) completes
    /// empty, with `STATUS_SUCCESS` and `DataUsed` 0, when its turn comes with data waiting:
    /// the packer terminates a packet that has no room for the next record and uses the next IRP
    /// (domain.md §4.3), and a buffer this small has no room from its first byte. A KS MIDI pin
    /// does not fail a streaming IRP for its size, and an error would end a client's capture
    /// loop; an IRP kept waiting would stall every later one. One whose buffer cannot be
    /// allocated (an absurd size), or that cannot be queued (pool exhausted), is dropped.
    pub fn submit_buffer(&self, size: usize) {
        {
            let mut b = self.graph.buffers.lock();
            if b.try_reserve(1).is_err() {
                return;
            }
            b.push_back(size);
        }
        self.graph.fill();
    }

    /// Takes the completed capture IRPs.
    pub fn take_filled(&self) -> Vec<CapturedBuffer> {
        core::mem::take(&mut *self.graph.filled.lock())
    }

    /// Moves the graph to `target` one step at a time: packer → capture sink → miniport going up,
    /// the reverse going down (item 37); PAUSE → ACQUIRE flushes the capture sink.
    pub fn set_state(&self, target: KSSTATE) -> Result<()> {
        if target.known().is_none() {
            return Err(crate::abi::STATUS_INVALID_PARAMETER);
        }
        let g = &self.graph;
        let objects = [
            (Traced::Packer, g.packer.interface()),
            (Traced::CaptureSink, g.sink.interface()),
            (Traced::Miniport, &g.stream),
        ];
        loop {
            let cur = *g.state.lock();
            if cur == target {
                break;
            }
            let next = next_state_towards(cur, target);
            let up = next.0 > cur.0;
            let order = |(name, o): &(Traced, &IMXF)| {
                g.port.trace_state(*name, next, Some(o.SetState(next)))
            };
            if up {
                objects.iter().for_each(order);
            } else {
                objects.iter().rev().for_each(order);
            }
            if cur == KSSTATE_PAUSE && next == KSSTATE_ACQUIRE {
                g.sink.flush();
                g.fill();
            }
            *g.state.lock() = next;
        }
        Ok(())
    }

    /// The pin's allocator.
    pub fn allocator(&self) -> &AllocatorHandle {
        &self.graph.alloc
    }
    /// The miniport stream.
    pub fn stream(&self) -> &IMXF {
        &self.graph.stream
    }
    /// The pin factory the pin was opened on.
    pub fn pin_id(&self) -> u32 {
        self.graph.pin_id
    }
    /// The capture sink.
    pub fn capture_sink(&self) -> &CaptureSinkHandle {
        &self.graph.sink
    }
    /// The packer.
    pub fn packer(&self) -> &PackerHandle {
        &self.graph.packer
    }
    /// Runs the capture service now (as a Notify of the stream's group would).
    pub fn service(&self) {
        self.graph.serve();
    }
}

impl Drop for CapturePin {
    /// Teardown in the order of §4.6.
    fn drop(&mut self) {
        let g = &self.graph;
        g.port
            .stream_groups
            .lock()
            .retain(|(s, _)| *s != g.core.serial);
        g.group.RemoveMember(Some(g.pin_sink.to_ref()));
        let _ = self.set_state(KSSTATE_STOP);
        g.stream.DisconnectOutput(Some(g.sink.interface().to_ref()));
        g.sink
            .interface()
            .DisconnectOutput(Some(g.packer.interface().to_ref()));
        *g.core.graph.lock() = None;
    }
}
