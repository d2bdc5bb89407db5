//! The simulated DMus port (feature `port`: needs `alloc`, not `std`).
//!
//! One implementation, two hosts: `mxf::host` re-exports it for user-mode tests (with `std`:
//! SMF files, `Instant` as the real clock), and a kernel-mode PortCls test double (a `no_std`
//! driver image with the `driver` feature) runs the same code, its real clock from
//! `KeQueryPerformanceCounter`. The port needs only the platform's lock
//! ([`SpinLock`]), `alloc`'s `Arc`, `Vec` and `VecDeque`, and for a
//! real clock a [`TimeSource`] (its docs list each host's).
//!
//! * [`Port::new`] creates the port object (IPortDMus + IMasterClock + the IServiceSink it joins
//!   the miniport's service group with), calls `IMiniportDMus::Init`, then `GetDescription`,
//!   and walks the descriptor before trusting it: a wrong or missing one is refused with
//!   `STATUS_DEVICE_CONFIGURATION_ERROR` ([`DescriptorFault`], [`check_descriptor`]), nothing
//!   leaking.
//! * Pins open only as the descriptor says: the factory exists, is a SINK of the pin's
//!   direction, offers the format by `KsValidateConnectRequest`'s rule, and has an instance left
//!   ([`Port::open_render_pin`] lists the refusals).
//! * [`Port::property`] routes KS property requests (filter, pin, node) through the
//!   miniport's `PCAUTOMATION_TABLE`s with the `PCPROPERTY_REQUEST` PortCls builds, and answers
//!   the pin-factory properties itself; [`Port::data_intersection`] is
//!   `KSPROPERTY_PIN_DATAINTERSECTION` (`kernel.md` §4.3–§4.6).
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
//! # Allocation
//!
//! Growing a list on a graph path (queuing a render IRP, a capture buffer or its completion, a
//! timer, a stream's service group, a trace entry) is fallible: a render IRP that cannot be
//! queued is refused with `STATUS_INSUFFICIENT_RESOURCES`, a pin whose bookkeeping cannot grow is
//! not opened, a trace entry is dropped. What still allocates infallibly (and so, in a driver,
//! reaches the allocation error handler, a bug check) is on the control paths only: the `Arc`s
//! of the port's shared state ([`Port::new`]) and of each pin's graph and IRP accounting (pin
//! creation), for which stable Rust has no fallible constructor; and [`Port::trace`]'s strings,
//! formatted only when a test reads the trace.
//!
//! With the render-only miniport of the `mxf::host` module example (its definition hidden here),
//! a filter of one's own in the graph, a timer and an IRP's completion:
//!
//! ```
//! # use core::ffi::c_void;
//! # use mxf::abi::{DataRangeTable, KSCATEGORY_AUDIO, PCFILTER_DESCRIPTOR, PCPIN_DESCRIPTOR};
//! # use mxf::miniport::{Format, Instances, PinKind, filter_descriptor, pin_descriptor};
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
//! # /// Its one pin, as the port reads it from `GetDescription`: pin 0 renders DirectMusic.
//! # static RANGES: DataRangeTable<1> = DataRangeTable([Format::DirectMusic.range()]);
//! # static PINS: [PCPIN_DESCRIPTOR; 1] = [pin_descriptor(
//! #     PinKind::Render,
//! #     Instances::ONE,
//! #     (RANGES.count(), RANGES.as_ptr()),
//! #     None,
//! # )];
//! # static DESCRIPTOR: PCFILTER_DESCRIPTOR = filter_descriptor(&PINS, &[], &[], &[KSCATEGORY_AUDIO]);
//! #
//! # /// A render-only DMus miniport.
//! # #[com_object(IMiniportDMus)]
//! # struct Miniport {
//! #     played: Arc<AtomicU32>,
//! # }
//! #
//! # impl IMiniport_Impl for Miniport {
//! #     unsafe fn GetDescription(&self, description: *mut *mut c_void) -> NTSTATUS {
//! #         if description.is_null() {
//! #             return STATUS_INVALID_PARAMETER;
//! #         }
//! #         // SAFETY: the port's out-pointer, checked non-NULL.
//! #         unsafe { description.write(core::ptr::from_ref(&DESCRIPTOR).cast_mut().cast()) };
//! #         STATUS_SUCCESS
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

mod clock;
mod descriptor;
mod graph;
mod property;
#[cfg(all(test, feature = "std", not(loom)))]
mod tests;

#[cfg(all(windows, feature = "driver"))]
pub use clock::PerformanceCounterTime;
pub use clock::{ClockMode, TimeSource};
pub use descriptor::{AutomationOwner, DescriptorFault, check_descriptor};
pub use graph::{CapturePin, CapturedBuffer, RenderPin};
pub use property::{Completion, PropertyTarget, property_input};

use crate::abi::{
    DMUS_STREAM_TYPE, KSDATAFORMAT, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSDATAFORMAT_SUBTYPE_MIDI,
    KSDATAFORMAT_TYPE_MUSIC, KSSTATE, NTSTATUS, NonPagedPool, REFERENCE_TIME, Result,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use crate::com::{ComObject, ComRef, Interface, ObjectHandle};
use crate::interfaces::*;
use crate::platform::SpinLock;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use clock::Clock;
use core::ffi::c_void;
use descriptor::Descriptor;
use graph::RenderGraph;

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

/// Pushes onto a vector without aborting: `STATUS_INSUFFICIENT_RESOURCES` if it cannot grow.
pub(crate) fn try_push<T>(v: &mut Vec<T>, value: T) -> Result<()> {
    v.try_reserve(1)
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
    v.push(value);
    Ok(())
}

/// Which graph object a traced call went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Traced {
    Unpacker,
    Sequencer,
    /// The n-th user filter of the render graph.
    Filter(usize),
    Miniport,
    Packer,
    CaptureSink,
}

/// One call the port made, recorded as data (formatting happens only when the trace is read,
/// so a kernel host formats nothing on its graph paths).
#[derive(Clone, Copy, Debug)]
enum TraceEntry {
    SetState(Traced, KSSTATE, Option<NTSTATUS>),
    ConnectOutput(usize, usize, NTSTATUS),
}

impl TraceEntry {
    fn render(&self) -> String {
        let name = |t: &Traced| match t {
            Traced::Unpacker => String::from("unpacker"),
            Traced::Sequencer => String::from("sequencer"),
            Traced::Filter(i) => alloc::format!("filter{i}"),
            Traced::Miniport => String::from("miniport"),
            Traced::Packer => String::from("packer"),
            Traced::CaptureSink => String::from("capture sink"),
        };
        match self {
            Self::SetState(t, state, None) => alloc::format!("SetState {} {state:?}", name(t)),
            Self::SetState(t, state, Some(s)) => {
                alloc::format!("SetState {} {state:?} = {s:?}", name(t))
            }
            Self::ConnectOutput(a, b, s) => {
                alloc::format!("ConnectOutput {a:#x} -> {b:#x} = {s:?}")
            }
        }
    }
}

pub(crate) struct PortShared {
    pub(crate) clock: Clock,
    miniport: SpinLock<Option<IMiniportDMus>>,
    miniport_group: SpinLock<Option<IServiceGroup>>,
    pub(crate) stream_groups: SpinLock<Vec<(u64, IServiceGroup)>>,
    trace: SpinLock<Vec<TraceEntry>>,
    /// Open pins per pin factory (`CurrentCount`), one entry per descriptor pin.
    instances: SpinLock<Vec<u32>>,
}

/// One open pin of a factory: counted while it lives.
pub(crate) struct InstanceClaim {
    port: Arc<PortShared>,
    pin_id: u32,
}

impl Drop for InstanceClaim {
    fn drop(&mut self) {
        if let Some(n) = self.port.instances.lock().get_mut(self.pin_id as usize) {
            *n = n.saturating_sub(1);
        }
    }
}

impl PortShared {
    /// Records a call; an entry that cannot be stored is dropped (the trace is a test aid).
    fn trace(&self, entry: TraceEntry) {
        let _ = try_push(&mut self.trace.lock(), entry);
    }
    pub(crate) fn trace_state(&self, object: Traced, state: KSSTATE, status: Option<NTSTATUS>) {
        self.trace(TraceEntry::SetState(object, state, status));
    }
}

#[crate::com_object(IPortDMus, IMasterClock, IServiceSink, tag = "MXFP")]
struct PortObject {
    shared: Arc<PortShared>,
    /// The port's own IServiceSink, filled after creation (the member it adds to the miniport's group).
    me: SpinLock<Option<IServiceSink>>,
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
                let mg = self.shared.miniport_group.lock().clone();
                if let Some(g) = mg {
                    g.RequestService();
                }
                // The groups are collected under the lock and serviced after it. A list that
                // cannot be allocated leaves the streams unserviced this time (their next
                // Notify or IRP serves them).
                let mut streams: Vec<IServiceGroup> = Vec::new();
                {
                    let groups = self.shared.stream_groups.lock();
                    if streams.try_reserve_exact(groups.len()).is_err() {
                        return;
                    }
                    streams.extend(groups.iter().map(|(_, g)| g.clone()));
                }
                for g in &streams {
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
        let mut slot = self.shared.miniport_group.lock();
        if slot.as_ref().is_some_and(|old| old.as_raw() == g.as_raw()) {
            return;
        }
        if let Some(me) = self.me.lock().as_ref() {
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
        let m = self.shared.miniport.lock().clone();
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
    /// The unknown given to the port for the miniport: `MajorTarget` of every property request.
    unknown: IUnknown,
    /// The descriptor `GetDescription` returned after `Init`, walked.
    descriptor: Descriptor,
    next_pin: SpinLock<u64>,
    timers: SpinLock<Vec<Weak<RenderGraph>>>,
    /// `run_timers`' list of due graphs, kept between calls so that a timer run (one per
    /// sequencer deadline: as many as there are event times) allocates nothing.
    due: SpinLock<Vec<Arc<RenderGraph>>>,
}

impl Port {
    /// Creates the port, calls `IMiniportDMus::Init(NULL, NULL, port, &group)`, then
    /// `IMiniport::GetDescription`, whose descriptor it walks before trusting it (as ReactOS's
    /// port, `kernel.md` §4.1: `Init` first, the descriptor kept for the port's life).
    ///
    /// | refusal | status |
    /// |---|---|
    /// | `ClockMode::Real` without a platform clock (no `std`, not a kernel) | `STATUS_NOT_SUPPORTED` |
    /// | `Init` fails | its status |
    /// | `GetDescription` fails | its status |
    /// | the descriptor is NULL or cannot be walked ([`DescriptorFault`]) | `STATUS_DEVICE_CONFIGURATION_ERROR` |
    ///
    /// On every refusal the reference cycles `Init` made (the miniport's service group with the
    /// port as member, the port the miniport keeps) are broken and the miniport is released:
    /// nothing leaks.
    pub fn new(miniport: IMiniportDMus, clock: ClockMode) -> Result<Self> {
        let unknown = IUnknown::clone(&miniport);
        // SAFETY: a NULL resource list.
        unsafe {
            Self::with_clock(
                miniport,
                unknown,
                Clock::new(clock)?,
                None,
                core::ptr::null_mut(),
            )
        }
    }

    /// [`Port::new`] for the miniport's unknown, as `IPort::Init` gets it: queried for
    /// `IMiniportDMus` (`STATUS_INVALID_PARAMETER` if it is none, `kernel.md` §4.1), and passed
    /// unchanged as every property request's `MajorTarget`.
    pub fn from_unknown(unknown: &IUnknown, clock: ClockMode) -> Result<Self> {
        // SAFETY: a NULL resource list.
        unsafe { Self::with_init_arguments(unknown, clock, None, core::ptr::null_mut()) }
    }

    /// [`Port::new`] with a real clock read from `source` (a host's own time, e.g. a test's).
    pub fn with_time_source(miniport: IMiniportDMus, source: Box<dyn TimeSource>) -> Result<Self> {
        let unknown = IUnknown::clone(&miniport);
        // SAFETY: a NULL resource list.
        unsafe {
            Self::with_clock(
                miniport,
                unknown,
                Clock::with_source(source),
                None,
                core::ptr::null_mut(),
            )
        }
    }

    /// [`Port::from_unknown`] as a PortCls host makes it from `IPort::Init`: the miniport's
    /// `Init` gets the adapter's `IUnknown` and the resource list (`IResourceList`, or NULL) that
    /// `IPort::Init` was given, as a DMus port passes them on (`kernel.md` §4.1). The unknown is
    /// queried for `IMiniportDMus` (`STATUS_INVALID_PARAMETER` if it is none).
    ///
    /// # Safety
    /// `resource_list` is NULL or a live `IResourceList` for the duration of the call.
    pub unsafe fn with_init_arguments(
        unknown: &IUnknown,
        clock: ClockMode,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> Result<Self> {
        let miniport: IMiniportDMus = unknown
            .cast()
            .map_err(|_| crate::abi::STATUS_INVALID_PARAMETER)?;
        // SAFETY: forwarded contract.
        unsafe {
            Self::with_clock(
                miniport,
                unknown.clone(),
                Clock::new(clock)?,
                unknown_adapter,
                resource_list,
            )
        }
    }

    /// # Safety
    /// `resource_list` is NULL or a live `IResourceList` for the duration of the call.
    unsafe fn with_clock(
        miniport: IMiniportDMus,
        unknown: IUnknown,
        clock: Clock,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
    ) -> Result<Self> {
        let shared = Arc::new(PortShared {
            clock,
            miniport: SpinLock::new(Some(miniport.clone())),
            miniport_group: SpinLock::new(None),
            stream_groups: SpinLock::new(Vec::new()),
            trace: SpinLock::new(Vec::new()),
            instances: SpinLock::new(Vec::new()),
        });
        let iface = ObjectHandle::<PortObject, IPortDMus>::create_in(
            PortObject {
                shared: shared.clone(),
                me: SpinLock::new(None),
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
        *iface.value().me.lock() = Some(sink_iface.clone());
        // The port exists before `Init` runs: if `Init` fails, dropping it breaks the reference
        // cycles made so far (the port's own sink in `me`, the miniport in `shared`, a group the
        // miniport registered early with the port as a member), so nothing leaks.
        let mut port = Self {
            iface,
            clock_iface,
            sink_iface,
            shared,
            miniport,
            unknown,
            descriptor: Descriptor::EMPTY,
            next_pin: SpinLock::new(0),
            timers: SpinLock::new(Vec::new()),
            due: SpinLock::new(Vec::new()),
        };
        let mut group: Option<IServiceGroup> = None;
        // SAFETY: live interfaces; `group` is a valid out-pointer; the resource list is NULL
        // or live for the call (caller).
        let s = unsafe {
            port.miniport.Init(
                unknown_adapter,
                resource_list,
                Some(port.iface.to_ref()),
                &mut group,
            )
        };
        s.ok()?;
        if let Some(g) = group {
            port.iface.value().adopt_miniport_group(g);
        }
        let mut raw: *mut c_void = core::ptr::null_mut();
        // SAFETY: a live interface; `raw` is a valid out-pointer.
        unsafe { port.miniport.GetDescription(&mut raw) }.ok()?;
        // SAFETY: the miniport's descriptor: by the `GetDescription` contract, readable and
        // unchanged while the port holds the miniport (which it does until it drops).
        port.descriptor = unsafe { Descriptor::new(raw.cast_const().cast()) }
            .map_err(|_| DescriptorFault::STATUS)?;
        let pins = port.descriptor.pin_count() as usize;
        {
            let mut counts = port.shared.instances.lock();
            counts
                .try_reserve_exact(pins)
                .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
            counts.resize(pins, 0);
        }
        Ok(port)
    }

    /// The `PCFILTER_DESCRIPTOR` the miniport returned, as walked (valid while the port lives).
    pub fn descriptor(&self) -> *const crate::abi::PCFILTER_DESCRIPTOR {
        self.descriptor.as_ptr()
    }

    /// Checks a pin creation against the descriptor and counts the new instance (the
    /// refusals are listed at [`Port::open_render_pin`]).
    fn claim_pin(
        &self,
        pin_id: u32,
        flow: crate::abi::KSPIN_DATAFLOW,
        format: &KSDATAFORMAT,
    ) -> Result<InstanceClaim> {
        let pin = self
            .descriptor
            .pin(pin_id)
            .ok_or(crate::abi::STATUS_INVALID_PARAMETER)?;
        let ks = &pin.KsPinDescriptor;
        if ks.Communication != crate::abi::KSPIN_COMMUNICATION_SINK || ks.DataFlow != flow {
            return Err(crate::abi::STATUS_INVALID_DEVICE_REQUEST);
        }
        if !self
            .descriptor
            .ranges(pin)
            .any(|(_, r)| crate::miniport::format_matches(r, format))
        {
            return Err(crate::abi::STATUS_NO_MATCH);
        }
        let limit = pin.MaxFilterInstanceCount.min(pin.MaxGlobalInstanceCount);
        {
            let mut counts = self.shared.instances.lock();
            let n = counts.get_mut(pin_id as usize).ok_or(STATUS_UNSUCCESSFUL)?;
            if *n >= limit {
                return Err(STATUS_INSUFFICIENT_RESOURCES);
            }
            *n = n.saturating_add(1);
        }
        Ok(InstanceClaim {
            port: self.shared.clone(),
            pin_id,
        })
    }

    /// Pins of factory `pin_id` open now (`KSPIN_CINSTANCES.CurrentCount`).
    pub fn open_instances(&self, pin_id: u32) -> u32 {
        self.shared
            .instances
            .lock()
            .get(pin_id as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The port's IPortDMus.
    pub fn interface(&self) -> &IPortDMus {
        &self.iface
    }
    /// The miniport the port was made around (`None` once the port has closed).
    pub fn miniport(&self) -> Option<IMiniportDMus> {
        self.shared.miniport.lock().clone()
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
        self.shared.clock.set(t);
    }
    /// Calls the port made to graph objects (state changes, connections), in order, for tests.
    /// Entries the port could not store (pool exhausted) are missing.
    pub fn trace(&self) -> Vec<String> {
        self.shared
            .trace
            .lock()
            .iter()
            .map(TraceEntry::render)
            .collect()
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
        // one and allocates). If it cannot grow, nothing runs now: the timers stay due.
        let mut due = core::mem::take(&mut *self.due.lock());
        {
            let mut t = self.timers.lock();
            t.retain(|w| w.strong_count() > 0);
            if due.try_reserve(t.len()).is_ok() {
                due.extend(
                    t.iter()
                        .filter_map(Weak::upgrade)
                        .filter(|g| g.deadline().is_some_and(|d| d <= now)),
                );
            }
        }
        for g in due.drain(..) {
            g.run_sequencer();
        }
        *self.due.lock() = due;
    }

    /// The earliest pending sequencer timer.
    pub fn next_timer(&self) -> Option<REFERENCE_TIME> {
        let t = self.timers.lock();
        t.iter()
            .filter_map(Weak::upgrade)
            .filter_map(|g| g.deadline())
            .min()
    }

    fn pin_serial(&self) -> u64 {
        let mut n = self.next_pin.lock();
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

    /// The data format a client sends for `format` (`kernel.md` §4.2).
    pub fn client_format(format: StreamFormat) -> KSDATAFORMAT {
        Self::data_format(format)
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
        let mut df = Self::data_format(format);
        // SAFETY: live interfaces; valid out-pointers; `df` outlives the call.
        let s = unsafe {
            self.miniport.NewStream(
                &mut mxf,
                None,
                NonPagedPool,
                pin_id,
                kind,
                &mut df,
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
}

impl Drop for Port {
    fn drop(&mut self) {
        // Break the port ↔ miniport references: the miniport holds the port from Init.
        let g = self.shared.miniport_group.lock().take();
        if let Some(g) = g {
            g.RemoveMember(Some(self.sink_iface.to_ref()));
        }
        self.shared.miniport.lock().take();
        self.iface.value().me.lock().take();
    }
}

/// Connects each object of `items` to the next, tracing every call; the first failure stops.
fn connect_chain(port: &PortShared, items: impl Iterator<Item = IMXF>) -> Result<()> {
    let mut prev: Option<IMXF> = None;
    for b in items {
        if let Some(a) = &prev {
            let s = a.ConnectOutput(Some(b.to_ref()));
            port.trace(TraceEntry::ConnectOutput(
                a.as_raw() as usize,
                b.as_raw() as usize,
                s,
            ));
            s.ok()?;
        }
        prev = Some(b);
    }
    Ok(())
}
