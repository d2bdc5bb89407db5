//! The simulated DMus port.
//!
//! * [`Port::new`] creates the port object (IPortDMus + IMasterClock + the IServiceSink it joins
//!   the miniport's service group with) and calls `IMiniportDMus::Init`.
//! * [`Port::open_render_pin`] builds allocator → (filters) → sequencer → (filters) → miniport
//!   stream, with the DirectMusic or KS unpacker in front (§4.2); [`Port::open_capture_pin`] builds
//!   miniport stream → capture sink → packer (§4.3). `NewStream` gets every parameter as §4.5 says.
//! * Render IRPs complete as events return to the allocator (byte positions through
//!   IPositionNotify, items 58–59); capture IRPs are filled by the packer when the miniport's
//!   service group is notified (items 64–66).
//! * Graph state changes go one step at a time, in the order of item 37; pins close in the order
//!   of §4.6.
//!
//! The port reaches miniports and filters only through their vtables. Service "DPCs" run
//! synchronously on the calling thread; timers run when [`Port::run_timers`] is called (the
//! virtual clock is advanced by the caller with [`Port::set_time`]).
//!
//! With the render-only miniport of the [module example](super) (its definition hidden here),
//! a filter of one's own in the graph, a timer and an IRP's completion:
//!
//! ```
//! # use core::ffi::c_void;
//! use mxf::components::unpacker::DmusBufferWriter;
//! use mxf::host::{ClockMode, FilterPlacement, Port, StreamFormat};
//! use mxf::message::u7;
//! use mxf::platform::atomic::{AtomicU32, Ordering};
//! use mxf::prelude::*;
//! use std::sync::Arc;
//!
//! # /// The miniport's render stream: plays what reaches it (here: counts it).
//! # #[mxf_filter]
//! # struct Stream {
//! #     played: Arc<AtomicU32>,
//! # }
//! #
//! # impl Filter for Stream {
//! #     fn process<'a>(&self, _event: Event<'a>, _out: &mut Output<'a>) {
//! #         self.played.fetch_add(1, Ordering::Relaxed);
//! #         // Dropped: the event goes back to the pin's allocator, which completes its IRP.
//! #     }
//! # }
//! #
//! # /// A render-only DMus miniport.
//! # #[com_object(IMiniportDMus)]
//! # struct Miniport {
//! #     played: Arc<AtomicU32>,
//! # }
//! #
//! # impl IMiniport_Impl for Miniport {
//! #     unsafe fn GetDescription(&self, _description: *mut *mut c_void) -> NTSTATUS {
//! #         STATUS_NOT_IMPLEMENTED
//! #     }
//! #     unsafe fn DataRangeIntersection(
//! #         &self,
//! #         _pin_id: u32,
//! #         _data_range: *mut c_void,
//! #         _matching_data_range: *mut c_void,
//! #         _output_buffer_length: u32,
//! #         _resultant_format: *mut c_void,
//! #         _resultant_format_length: *mut u32,
//! #     ) -> NTSTATUS {
//! #         STATUS_NOT_IMPLEMENTED
//! #     }
//! # }
//! #
//! # impl IMiniportDMus_Impl for Miniport {
//! #     unsafe fn Init(
//! #         &self,
//! #         _unknown_adapter: Option<ComRef<'_, IUnknown>>,
//! #         _resource_list: *mut c_void,
//! #         _port: Option<ComRef<'_, IPortDMus>>,
//! #         _service_group: *mut Option<IServiceGroup>,
//! #     ) -> NTSTATUS {
//! #         STATUS_SUCCESS
//! #     }
//! #     fn Service(&self) {}
//! #     unsafe fn NewStream(
//! #         &self,
//! #         mxf: *mut Option<IMXF>,
//! #         _outer: Option<ComRef<'_, IUnknown>>,
//! #         _pool: POOL_TYPE,
//! #         _pin_id: u32,
//! #         stream_type: DMUS_STREAM_TYPE,
//! #         _data_format: *mut KSDATAFORMAT,
//! #         _service_group: *mut Option<IServiceGroup>,
//! #         allocator: Option<ComRef<'_, IAllocatorMXF>>,
//! #         _master_clock: Option<ComRef<'_, IMasterClock>>,
//! #         schedule_prefetch: *mut u64,
//! #     ) -> NTSTATUS {
//! #         let (Some(allocator), false, false) = (allocator, mxf.is_null(), schedule_prefetch.is_null())
//! #         else {
//! #             return STATUS_INVALID_PARAMETER;
//! #         };
//! #         if stream_type != DMUS_STREAM_MIDI_RENDER {
//! #             return STATUS_INVALID_DEVICE_REQUEST;
//! #         }
//! #         match (Stream { played: self.played.clone() }).into_filter(&allocator) {
//! #             Ok(stream) => {
//! #                 // SAFETY: the port's out-pointers, checked non-NULL above.
//! #                 unsafe {
//! #                     mxf.write(Some(stream.into_interface()));
//! #                     schedule_prefetch.write(0);
//! #                 }
//! #                 STATUS_SUCCESS
//! #             }
//! #             Err(status) => status,
//! #         }
//! #     }
//! # }
//! #
//! /// Raises notes by an octave.
//! #[mxf_filter]
//! struct Octave;
//!
//! impl Filter for Octave {
//!     fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
//!         if let Some(mut message) = event.channel_message_mut() {
//!             if let Some(key) = message.get().key() {
//!                 message.set_key(u7::new(key.as_int().saturating_add(12).min(127)));
//!             }
//!         }
//!         out.push(event);
//!     }
//! }
//!
//! let played = Arc::new(AtomicU32::new(0));
//! let port = Port::new(Miniport { played: played.clone() }.into_com()?, ClockMode::Virtual)?;
//! // A filter of our own after the sequencer: it sees events when they are due.
//! let pin = port.open_render_pin(
//!     0,
//!     StreamFormat::DirectMusic,
//!     FilterPlacement::AfterSequencer,
//!     |allocator| Ok(vec![Octave.into_filter(allocator)?.into_interface()]),
//! )?;
//! // A stopped pin refuses IRPs, as KS does.
//! assert_eq!(pin.submit(Vec::new(), 0), Err(STATUS_INVALID_DEVICE_STATE));
//! pin.set_state(KSSTATE_RUN)?; // STOP -> ACQUIRE -> PAUSE -> RUN, one step at a time
//!
//! let mut bytes = [0u8; 32];
//! let mut buffer = DmusBufferWriter::new(&mut bytes);
//! buffer.push(1, 10_000_000, true, &[0x90, 60, 100])?; // one second from now
//! let irp = buffer.as_bytes().to_vec();
//! let len = irp.len() as u64;
//! pin.submit(irp, 0)?;
//! assert_eq!(port.next_timer(), Some(10_000_000));
//! assert_eq!(pin.bytes(), (len, 0)); // submitted, not completed
//!
//! port.set_time(10_000_000);
//! port.run_timers();
//! assert_eq!(played.load(Ordering::Relaxed), 1);
//! // The event's byte position came back through IPositionNotify: the IRP completed.
//! assert_eq!(pin.bytes(), (len, len));
//! assert!(port.trace().iter().any(|call| call.starts_with("SetState miniport")));
//! # Ok::<(), NTSTATUS>(())
//! ```

extern crate std;

use crate::abi::{
    DMUS_STREAM_MIDI_CAPTURE, DMUS_STREAM_MIDI_RENDER, DMUS_STREAM_TYPE, KSDATAFORMAT,
    KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_TYPE_MUSIC, KSSTATE,
    KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP, NTSTATUS, NonPagedPool,
    REFERENCE_TIME, Result, STATUS_INVALID_DEVICE_STATE, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
};
use crate::allocator::{AllocatorConfig, AllocatorHandle};
use crate::com::{ComObject, ComRef, Interface, ObjectHandle};
use crate::components::capture_sink::CaptureSinkHandle;
use crate::components::packer::{PackerFormat, PackerHandle};
use crate::components::sequencer::SequencerHandle;
use crate::components::unpacker::{DmusUnpacker, KsUnpacker, Unpacker};
use crate::interfaces::*;
use crate::platform::OneAtATime;
use core::ffi::c_void;
use std::boxed::Box;
use std::collections::VecDeque;
use std::string::String;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;
use std::vec::Vec;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Where the master clock comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Time moves only through [`Port::set_time`]: deterministic, as fast as possible. Its
    /// timers are exact, so a render pin's sequencer re-arms for the next event's time itself
    /// rather than no sooner than 1 ms (`domain.md` item 34 models the kernel's timer
    /// resolution, which would only make events leave late here): a deliberate deviation.
    Virtual,
    /// The host's monotonic clock, in 100 ns since the port was created. The sequencer keeps
    /// item 34's 1 ms floor.
    Real,
}

/// The data format of a MIDI pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// `KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`: `DMUS_EVENTHEADER` records.
    DirectMusic,
    /// `KSDATAFORMAT_SUBTYPE_MIDI`: `KSMUSICFORMAT` packets.
    Ks,
}

/// Where user filters sit in a render graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterPlacement {
    /// Between the sequencer and the miniport stream (as in `design.md`): filters see events when
    /// they are due.
    AfterSequencer,
    /// Between the unpacker and the sequencer: events a filter creates with later times (echo)
    /// are sequenced too.
    BeforeSequencer,
}

struct Clock {
    mode: ClockMode,
    now: AtomicI64,
    start: Instant,
}

impl Clock {
    fn now(&self) -> REFERENCE_TIME {
        match self.mode {
            ClockMode::Virtual => self.now.load(Ordering::Acquire),
            ClockMode::Real => {
                i64::try_from(self.start.elapsed().as_nanos() / 100).unwrap_or(i64::MAX)
            }
        }
    }
}

struct PortShared {
    clock: Clock,
    miniport: Mutex<Option<IMiniportDMus>>,
    miniport_group: Mutex<Option<IServiceGroup>>,
    stream_groups: Mutex<Vec<(u64, IServiceGroup)>>,
    trace: Mutex<Vec<String>>,
}

impl PortShared {
    fn trace(&self, s: String) {
        lock(&self.trace).push(s);
    }
}

#[crate::com_object(IPortDMus, IMasterClock, IServiceSink, tag = "MXFP")]
struct PortObject {
    shared: Arc<PortShared>,
    /// The port's own IServiceSink, filled after creation (the member it adds to the miniport's group).
    me: Mutex<Option<IServiceSink>>,
}

impl IPort_Impl for PortObject {
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
        _p: i32,
        _l: u32,
        _b: *mut c_void,
        _r: *mut u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    unsafe fn NewRegistryKey(
        &self,
        out_key: *mut *mut c_void,
        _outer: Option<ComRef<'_, IUnknown>>,
        _key_type: u32,
        _desired_access: u32,
        _object_attributes: *mut c_void,
        _create_options: u32,
        _disposition: *mut u32,
    ) -> NTSTATUS {
        if !out_key.is_null() && out_key.is_aligned() {
            // SAFETY: a non-NULL, aligned out-pointer from the caller.
            unsafe { out_key.write(core::ptr::null_mut()) };
        }
        STATUS_NOT_IMPLEMENTED
    }
}

impl IPortDMus_Impl for PortObject {
    fn Notify(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        match group {
            Some(g) => g.RequestService(),
            None => {
                let mg = lock(&self.shared.miniport_group).clone();
                let streams: Vec<IServiceGroup> = lock(&self.shared.stream_groups)
                    .iter()
                    .map(|(_, g)| g.clone())
                    .collect();
                for g in mg.iter().chain(streams.iter()) {
                    g.RequestService();
                }
            }
        }
    }

    fn RegisterServiceGroup(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        let Some(g) = group else { return };
        self.adopt_miniport_group(g.to_owned());
    }
}

impl PortObject {
    fn adopt_miniport_group(&self, g: IServiceGroup) {
        let mut slot = lock(&self.shared.miniport_group);
        if slot.as_ref().is_some_and(|old| old.as_raw() == g.as_raw()) {
            return;
        }
        if let Some(me) = lock(&self.me).as_ref() {
            g.AddMember(Some(me.to_ref()));
        }
        *slot = Some(g);
    }
}

impl IMasterClock_Impl for PortObject {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if !time.is_null() && time.is_aligned() {
            // SAFETY: a non-NULL, aligned out-pointer from the caller.
            unsafe { time.write(self.shared.clock.now()) };
        }
        STATUS_SUCCESS
    }
}

impl IServiceSink_Impl for PortObject {
    /// Service of the miniport's group: `IMiniportDMus::Service` (item 65).
    fn RequestService(&self) {
        let m = lock(&self.shared.miniport).clone();
        if let Some(m) = m {
            m.Service();
        }
    }
}

/// The simulated DMus port around one miniport.
pub struct Port {
    iface: ObjectHandle<PortObject, IPortDMus>,
    clock_iface: IMasterClock,
    sink_iface: IServiceSink,
    shared: Arc<PortShared>,
    miniport: IMiniportDMus,
    next_pin: Mutex<u64>,
    timers: Mutex<Vec<Weak<RenderGraph>>>,
    /// `run_timers`' list of due graphs, kept between calls so that a timer run (one per
    /// sequencer deadline: as many as there are event times) allocates nothing.
    due: Mutex<Vec<Arc<RenderGraph>>>,
}

impl Port {
    /// Creates the port and calls `IMiniportDMus::Init(NULL, NULL, port, &group)`.
    pub fn new(miniport: IMiniportDMus, clock: ClockMode) -> Result<Self> {
        let shared = Arc::new(PortShared {
            clock: Clock {
                mode: clock,
                now: AtomicI64::new(0),
                start: Instant::now(),
            },
            miniport: Mutex::new(Some(miniport.clone())),
            miniport_group: Mutex::new(None),
            stream_groups: Mutex::new(Vec::new()),
            trace: Mutex::new(Vec::new()),
        });
        let iface = ObjectHandle::<PortObject, IPortDMus>::create_in(
            PortObject {
                shared: shared.clone(),
                me: Mutex::new(None),
            },
            NonPagedPool,
            crate::abi::pool_tag(b"MXFP"),
        )?;
        // SAFETY: `iface` is chain 0 of the PortObject just created.
        let clock_iface: IMasterClock = unsafe { ComObject::<PortObject>::sibling(iface.as_raw()) }
            .ok_or(STATUS_UNSUCCESSFUL)?;
        // SAFETY: as above.
        let sink_iface: IServiceSink = unsafe { ComObject::<PortObject>::sibling(iface.as_raw()) }
            .ok_or(STATUS_UNSUCCESSFUL)?;
        *lock(&iface.value().me) = Some(sink_iface.clone());
        // The port exists before `Init` runs: if `Init` fails, dropping it breaks the reference
        // cycles made so far (the port's own sink in `me`, the miniport in `shared`, a group the
        // miniport registered early with the port as a member), so nothing leaks.
        let port = Self {
            iface,
            clock_iface,
            sink_iface,
            shared,
            miniport,
            next_pin: Mutex::new(0),
            timers: Mutex::new(Vec::new()),
            due: Mutex::new(Vec::new()),
        };
        let mut group: Option<IServiceGroup> = None;
        // SAFETY: live interfaces; `group` is a valid out-pointer.
        let s = unsafe {
            port.miniport.Init(
                None,
                core::ptr::null_mut(),
                Some(port.iface.to_ref()),
                &mut group,
            )
        };
        s.ok()?;
        if let Some(g) = group {
            port.iface.value().adopt_miniport_group(g);
        }
        Ok(port)
    }

    /// The port's IPortDMus.
    pub fn interface(&self) -> &IPortDMus {
        &self.iface
    }
    /// The master clock every stream gets.
    pub fn clock(&self) -> &IMasterClock {
        &self.clock_iface
    }
    /// The master clock's time.
    pub fn now(&self) -> REFERENCE_TIME {
        self.shared.clock.now()
    }
    /// Sets the virtual clock (ignored by a real clock).
    pub fn set_time(&self, t: REFERENCE_TIME) {
        self.shared.clock.now.store(t, Ordering::Release);
    }
    /// Calls the port made to graph objects (state changes, connections), in order, for tests.
    pub fn trace(&self) -> Vec<String> {
        lock(&self.shared.trace).clone()
    }
    /// `IPortDMus::Notify(NULL)`: services the miniport's group and every stream's group.
    pub fn notify_all(&self) {
        self.iface.Notify(None);
    }

    /// Runs the sequencer timers that are due on the current clock.
    pub fn run_timers(&self) {
        let now = self.now();
        // The due graphs are collected under the timer lock and run after it; the list's
        // storage is reused (a nested run, from a sequencer that runs the timers, takes an empty
        // one and allocates).
        let mut due = core::mem::take(&mut *lock(&self.due));
        {
            let mut t = lock(&self.timers);
            t.retain(|w| w.strong_count() > 0);
            due.extend(
                t.iter()
                    .filter_map(Weak::upgrade)
                    .filter(|g| g.deadline().is_some_and(|d| d <= now)),
            );
        }
        for g in due.drain(..) {
            g.run_sequencer();
        }
        *lock(&self.due) = due;
    }

    /// The earliest pending sequencer timer.
    pub fn next_timer(&self) -> Option<REFERENCE_TIME> {
        let t = lock(&self.timers);
        t.iter()
            .filter_map(Weak::upgrade)
            .filter_map(|g| g.deadline())
            .min()
    }

    fn pin_serial(&self) -> u64 {
        let mut n = lock(&self.next_pin);
        *n = n.wrapping_add(1);
        *n
    }

    fn data_format(format: StreamFormat) -> KSDATAFORMAT {
        KSDATAFORMAT {
            FormatSize: core::mem::size_of::<KSDATAFORMAT>() as u32,
            Flags: 0,
            SampleSize: 0,
            Reserved: 0,
            MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
            SubFormat: match format {
                StreamFormat::DirectMusic => KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
                StreamFormat::Ks => KSDATAFORMAT_SUBTYPE_MIDI,
            },
            // What a client sends ("MIDI Stream Data Format", kernel.md §4.2).
            Specifier: crate::abi::KSDATAFORMAT_SPECIFIER_NONE,
        }
    }

    /// Calls `NewStream` as the port does (§4.5) and checks what comes back (items 60–62).
    fn new_stream(
        &self,
        pin_id: u32,
        kind: DMUS_STREAM_TYPE,
        format: StreamFormat,
        alloc: &IAllocatorMXF,
    ) -> Result<(IMXF, Option<IServiceGroup>, u64)> {
        let mut mxf: Option<IMXF> = None;
        let mut group: Option<IServiceGroup> = None;
        let mut prefetch: u64 = 0;
        // The port's private copy of the connection format.
        let mut df = Box::new(Self::data_format(format));
        // SAFETY: live interfaces; valid out-pointers; `df` outlives the call.
        let s = unsafe {
            self.miniport.NewStream(
                &mut mxf,
                None,
                NonPagedPool,
                pin_id,
                kind,
                &mut *df,
                &mut group,
                Some(alloc.to_ref()),
                Some(self.clock_iface.to_ref()),
                &mut prefetch,
            )
        };
        if !s.is_success() {
            // "Don't trust the miniport return values": whatever it wrote is not ours. The
            // `Option`s may hold pointers the miniport did not AddRef for us, so forget them.
            core::mem::forget(mxf);
            core::mem::forget(group);
            return Err(s);
        }
        let mxf = mxf.ok_or(STATUS_UNSUCCESSFUL)?;
        Ok((mxf, group, prefetch))
    }

    /// Opens a render pin (§4.2). `filters` receives the pin's allocator and returns the user
    /// filters to insert, in order.
    pub fn open_render_pin(
        &self,
        pin_id: u32,
        format: StreamFormat,
        placement: FilterPlacement,
        filters: impl FnOnce(&IAllocatorMXF) -> Result<Vec<IMXF>>,
    ) -> Result<RenderPin> {
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
        if self.shared.clock.mode == ClockMode::Virtual {
            // A virtual clock has exact timers: the 1 ms floor of item 34 models the kernel's timer
            // resolution, which would only make events leave late here.
            sequencer.set_min_reschedule_delay(1);
        }
        let mut unpacker: Box<dyn Unpacker> = match format {
            StreamFormat::DirectMusic => Box::new(DmusUnpacker::new((*alloc).clone())),
            StreamFormat::Ks => Box::new(KsUnpacker::new((*alloc).clone())),
        };
        // Wiring: sequencer → … → miniport first, then unpacker → …; the stream's own
        // ConnectOutput is never called for render (item 63).
        let (before, after): (Vec<IMXF>, Vec<IMXF>) = match placement {
            FilterPlacement::AfterSequencer => (Vec::new(), user),
            FilterPlacement::BeforeSequencer => (user, Vec::new()),
        };
        let mut downstream: Vec<IMXF> = Vec::new();
        downstream.extend(after.iter().cloned());
        downstream.push(stream.clone());
        connect_chain(
            &self.shared,
            core::iter::once(sequencer.interface().clone()).chain(downstream.iter().cloned()),
        )?;
        let mut upstream: Vec<IMXF> = before.clone();
        upstream.push(sequencer.interface().clone());
        connect_chain(&self.shared, upstream.iter().cloned())?;
        let first = upstream.first().cloned().ok_or(STATUS_UNSUCCESSFUL)?;
        unpacker.connect_output(first).ok()?;
        if let Some(g) = &group {
            g.AddMember(Some(pin_sink.to_ref()));
            lock(&self.shared.stream_groups).push((serial, g.clone()));
        }
        let graph = Arc::new(RenderGraph {
            core: core.clone(),
            port: self.shared.clone(),
            port_iface: self.iface.interface().clone(),
            alloc,
            unpacker: Mutex::new(unpacker),
            sequencer,
            before,
            after,
            stream,
            group,
            pin_sink,
            state: Mutex::new(KSSTATE_STOP),
            deadline: Mutex::new(None),
            serving: OneAtATime::new(),
        });
        *lock(&core.graph) = Some(GraphRef::Render(Arc::downgrade(&graph)));
        lock(&self.timers).push(Arc::downgrade(&graph));
        Ok(RenderPin { graph })
    }

    /// Opens a capture pin (§4.3).
    pub fn open_capture_pin(&self, pin_id: u32, format: StreamFormat) -> Result<CapturePin> {
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
        group.AddMember(Some(pin_sink.to_ref()));
        lock(&self.shared.stream_groups).push((serial, group.clone()));
        let graph = Arc::new(CaptureGraph {
            core: core.clone(),
            port: self.shared.clone(),
            alloc,
            sink,
            packer,
            stream,
            group,
            pin_sink,
            state: Mutex::new(KSSTATE_STOP),
            buffers: Mutex::new(VecDeque::new()),
            filled: Mutex::new(Vec::new()),
        });
        *lock(&core.graph) = Some(GraphRef::Capture(Arc::downgrade(&graph)));
        Ok(CapturePin { graph })
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // Break the port ↔ miniport references: the miniport holds the port from Init.
        let g = lock(&self.shared.miniport_group).take();
        if let Some(g) = g {
            g.RemoveMember(Some(self.sink_iface.to_ref()));
        }
        lock(&self.shared.miniport).take();
        lock(&self.iface.value().me).take();
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

fn connect_chain(port: &PortShared, items: impl Iterator<Item = IMXF>) -> Result<()> {
    let v: Vec<IMXF> = items.collect();
    for (a, b) in v.iter().zip(v.iter().skip(1)) {
        let s = a.ConnectOutput(Some(b.to_ref()));
        port.trace(std::format!(
            "ConnectOutput {:p} -> {:p} = {:?}",
            a.as_raw(),
            b.as_raw(),
            s
        ));
        s.ok()?;
    }
    Ok(())
}

fn disconnect_chain(items: &[IMXF]) {
    for (a, b) in items.iter().zip(items.iter().skip(1)) {
        a.DisconnectOutput(Some(b.to_ref()));
    }
}

enum GraphRef {
    Render(Weak<RenderGraph>),
    Capture(Weak<CaptureGraph>),
}

struct Irp {
    start: u64,
    len: u64,
    data: Arc<[u8]>,
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
    acct: Mutex<Accounting>,
    graph: Mutex<Option<GraphRef>>,
}

impl PinCore {
    fn new(serial: u64) -> Self {
        Self {
            serial,
            acct: Mutex::new(Accounting {
                submitted: 0,
                completed: 0,
                queued: 0,
                irps: VecDeque::new(),
                completed_irps: 0,
            }),
            graph: Mutex::new(None),
        }
    }

    /// Completes IRP bytes up to `pos` (item 58): only forward.
    fn complete_to(&self, pos: u64) {
        let mut a = lock(&self.acct);
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
        let g = lock(&self.core.graph).as_ref().map(|g| match g {
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

struct RenderGraph {
    core: Arc<PinCore>,
    port: Arc<PortShared>,
    port_iface: IPortDMus,
    alloc: AllocatorHandle,
    unpacker: Mutex<Box<dyn Unpacker>>,
    sequencer: SequencerHandle,
    before: Vec<IMXF>,
    after: Vec<IMXF>,
    stream: IMXF,
    group: Option<IServiceGroup>,
    pin_sink: IServiceSink,
    state: Mutex<KSSTATE>,
    deadline: Mutex<Option<REFERENCE_TIME>>,
    /// One `serve` at a time, never waited for: a filter that submits to its own pin from
    /// `process` (inside `serve`) leaves the IRP to the running `serve`.
    serving: OneAtATime,
}

impl RenderGraph {
    fn deadline(&self) -> Option<REFERENCE_TIME> {
        *lock(&self.deadline)
    }

    /// The sequencer's timer DPC.
    fn run_sequencer(&self) {
        let next = self.sequencer.process_queues();
        self.arm(next);
    }

    fn arm(&self, delay: Option<u64>) {
        let now = self.port.clock.now();
        *lock(&self.deadline) =
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
                let mut a = lock(&self.core.acct);
                let pos = a.irps.iter().position(|i| !i.sunk);
                match pos.and_then(|p| a.irps.get_mut(p)) {
                    Some(irp) => {
                        irp.sunk = true;
                        Some((irp.data.clone(), irp.base_time, irp.start))
                    }
                    None => None,
                }
            };
            let Some((data, base, start)) = next else {
                break;
            };
            {
                let mut u = lock(&self.unpacker);
                let _ = u.sink_irp(&data, base, start);
            }
            lock(&self.core.acct).submitted = start.saturating_add(data.len() as u64);
            let _ = lock(&self.unpacker).process_queues();
        }
        self.run_sequencer();
    }

    fn objects_in_order(&self) -> Vec<IMXF> {
        let mut v = self.before.clone();
        v.push(self.sequencer.interface().clone());
        v.extend(self.after.iter().cloned());
        v.push(self.stream.clone());
        v
    }
}

/// A render pin: submit DirectMusic or KS buffers, watch them complete.
pub struct RenderPin {
    graph: Arc<RenderGraph>,
}

impl RenderPin {
    /// Submits one IRP buffer with its presentation time. Refused in STOP (KS rejects IRPs then).
    pub fn submit(&self, data: Vec<u8>, base_time: REFERENCE_TIME) -> Result<()> {
        if *lock(&self.graph.state) == KSSTATE_STOP {
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        {
            let mut a = lock(&self.graph.core.acct);
            let start = a.queued;
            let len = data.len() as u64;
            a.queued = a.queued.wrapping_add(len);
            a.irps.push_back(Irp {
                start,
                len,
                data: data.into(),
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
        loop {
            let cur = *lock(&self.graph.state);
            if cur == target {
                break;
            }
            let next = next_state_towards(cur, target);
            let up = next.0 > cur.0;
            // Unpacker → sequencer → filters → miniport going up; the reverse going down.
            let objects = self.graph.objects_in_order();
            let port = &self.graph.port;
            if up {
                lock(&self.graph.unpacker).set_state(next);
                port.trace(std::format!("SetState unpacker {:?}", next));
                for (i, o) in objects.iter().enumerate() {
                    let s = o.SetState(next);
                    port.trace(std::format!(
                        "SetState {} {:?} = {:?}",
                        self.graph.name_of(i, objects.len()),
                        next,
                        s
                    ));
                }
            } else {
                for (i, o) in objects.iter().enumerate().rev() {
                    let s = o.SetState(next);
                    port.trace(std::format!(
                        "SetState {} {:?} = {:?}",
                        self.graph.name_of(i, objects.len()),
                        next,
                        s
                    ));
                }
                lock(&self.graph.unpacker).set_state(next);
                port.trace(std::format!("SetState unpacker {:?}", next));
            }
            *lock(&self.graph.state) = next;
            if next == KSSTATE_STOP {
                // Everything submitted is completed, whatever the events did (item 59).
                let q = lock(&self.graph.core.acct).queued;
                self.graph.core.complete_to(q);
                let mut a = lock(&self.graph.core.acct);
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
        let a = lock(&self.graph.core.acct);
        (a.queued, a.completed)
    }
    /// IRPs completed so far.
    pub fn completed_irps(&self) -> u64 {
        lock(&self.graph.core.acct).completed_irps
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
    /// The unpacker's counters.
    pub fn unpacker_stats(&self) -> crate::components::unpacker::UnpackerStats {
        lock(&self.graph.unpacker).stats()
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

impl RenderGraph {
    fn name_of(&self, i: usize, n: usize) -> String {
        let b = self.before.len();
        if i.saturating_add(1) == n {
            "miniport".into()
        } else if i < b {
            std::format!("filter{}", i)
        } else if i == b {
            "sequencer".into()
        } else {
            std::format!("filter{}", i.saturating_sub(1))
        }
    }
}

impl Drop for RenderPin {
    /// Teardown in the order of §4.6.
    fn drop(&mut self) {
        let g = &self.graph;
        lock(&g.port.stream_groups).retain(|(s, _)| *s != g.core.serial);
        if let Some(grp) = &g.group {
            grp.RemoveMember(Some(g.pin_sink.to_ref()));
        }
        let _ = self.set_state(KSSTATE_STOP);
        let _ = lock(&g.unpacker).disconnect_output(None);
        let objects = g.objects_in_order();
        disconnect_chain(&objects);
        *lock(&g.core.graph) = None;
    }
}

struct CaptureGraph {
    core: Arc<PinCore>,
    port: Arc<PortShared>,
    alloc: AllocatorHandle,
    sink: CaptureSinkHandle,
    packer: PackerHandle,
    stream: IMXF,
    group: IServiceGroup,
    pin_sink: IServiceSink,
    state: Mutex<KSSTATE>,
    buffers: Mutex<VecDeque<usize>>,
    filled: Mutex<Vec<CapturedBuffer>>,
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

    fn fill(&self) {
        loop {
            if self.packer.queued() == 0 {
                break;
            }
            let Some(size) = lock(&self.buffers).pop_front() else {
                break;
            };
            if !self.packer.format().holds_a_record(size) {
                // No record fits: the packet ends before its first byte (§4.3), the IRP completes
                // empty and the data goes to the next one.
                lock(&self.filled).push(CapturedBuffer {
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
                lock(&self.buffers).push_front(size);
                break;
            }
            buf.truncate(f.bytes);
            buf.shrink_to_fit();
            lock(&self.filled).push(CapturedBuffer {
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
    /// allocated (an absurd size) is dropped when its turn comes.
    pub fn submit_buffer(&self, size: usize) {
        lock(&self.graph.buffers).push_back(size);
        self.graph.fill();
    }

    /// Takes the completed capture IRPs.
    pub fn take_filled(&self) -> Vec<CapturedBuffer> {
        core::mem::take(&mut *lock(&self.graph.filled))
    }

    /// Moves the graph to `target` one step at a time: packer → capture sink → miniport going up,
    /// the reverse going down (item 37); PAUSE → ACQUIRE flushes the capture sink.
    pub fn set_state(&self, target: KSSTATE) -> Result<()> {
        if target.known().is_none() {
            return Err(crate::abi::STATUS_INVALID_PARAMETER);
        }
        let g = &self.graph;
        let objects = [
            ("packer", g.packer.interface().clone()),
            ("capture sink", g.sink.interface().clone()),
            ("miniport", g.stream.clone()),
        ];
        loop {
            let cur = *lock(&g.state);
            if cur == target {
                break;
            }
            let next = next_state_towards(cur, target);
            let order: Vec<usize> = if next.0 > cur.0 {
                std::vec![0, 1, 2]
            } else {
                std::vec![2, 1, 0]
            };
            for (name, o) in order.into_iter().filter_map(|i| objects.get(i)) {
                let s = o.SetState(next);
                g.port
                    .trace(std::format!("SetState {} {:?} = {:?}", name, next, s));
            }
            if cur == KSSTATE_PAUSE && next == KSSTATE_ACQUIRE {
                g.sink.flush();
                g.fill();
            }
            *lock(&g.state) = next;
        }
        Ok(())
    }

    /// The pin's allocator.
    pub fn allocator(&self) -> &AllocatorHandle {
        &self.graph.alloc
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
        lock(&g.port.stream_groups).retain(|(s, _)| *s != g.core.serial);
        g.group.RemoveMember(Some(g.pin_sink.to_ref()));
        let _ = self.set_state(KSSTATE_STOP);
        g.stream.DisconnectOutput(Some(g.sink.interface().to_ref()));
        g.sink
            .interface()
            .DisconnectOutput(Some(g.packer.interface().to_ref()));
        *lock(&g.core.graph) = None;
    }
}
