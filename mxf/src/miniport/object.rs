//! The author's trait ([`DmusMiniport`]) and the framework's wrapper ([`MiniportObject`]) that
//! implements `IMiniport` / `IMiniportDMus` for it: `GetDescription`, `DataRangeIntersection`,
//! `Init`'s and `NewStream`'s checks, the stream dispatch.

use super::synth::{PortParameters, SynthRequest, dmusuart_caps, dmusuart_port_parameters};
use super::topology::{Direction, Format, HasTopology, Pin, Topology, format_matches};
use crate::abi::{
    DMUS_STREAM_MIDI_CAPTURE, DMUS_STREAM_MIDI_RENDER, DMUS_STREAM_TYPE, KSDATAFORMAT,
    KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, NTSTATUS, POOL_TYPE, Result, STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NO_MATCH, STATUS_NOT_IMPLEMENTED,
    STATUS_SUCCESS, SYNTH_PORTPARAMS, SYNTHCAPS,
};
use crate::com::{ComRef, ObjectHandle, ObjectImpl, SelfRef};
use crate::com_interface;
use crate::interfaces::{
    IAllocatorMXF, IMXF, IMasterClock, IMiniport_Impl, IMiniportDMus, IMiniportDMus_Impl,
    IPortDMus, IServiceGroup, IUnknown,
};
use crate::platform::atomic::{AtomicPtr, AtomicU8, Ordering};
use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;

pub use declaration::{MxfMiniport, MxfMiniport_Impl, MxfMiniport_Vtbl};

// As in `mxf::interfaces`: the generated `_Impl` trait's `unsafe` is the declaration's promise.
#[allow(clippy::missing_safety_doc)]
mod declaration {
    use super::*;

    /// `MxfMiniport`: `IMiniportDMus` and one more slot, [`Declaration`](MxfMiniport::Declaration).
    /// mxf's own interface: no header declares it, its IID was generated for mxf, and its name
    /// lacks the `I` of the headers' interfaces to say so. It is the
    /// primary chain of every `#[mxf_miniport]` object, so the port sees an ordinary
    /// `IMiniportDMus` (its eight slots come first); the Synth property handler asks the
    /// `MajorTarget` it is given for it, to find the miniport behind that pointer without casting a
    /// pointer it does not know (see [`MiniportObject`]).
    ///
    /// `MxfMiniport_Impl` is an `unsafe trait` (`unsafe_impl`): only [`MiniportObject`] implements
    /// it, and an implementation promises what the handler relies on (below).
    ///
    /// # Safety
    /// The IID is mxf's own, for these nine slots in this order; an object that answers it is a
    /// `ComObject<M>` as [`Declaration`](MxfMiniport::Declaration) says.
    #[com_interface(iid = "A82AD1CC-2A57-43D5-AF80-30EF9176B50F", unsafe_impl)]
    // SAFETY: the IID is mxf's own, for these nine slots in this order (IMiniportDMus's eight, then
    // `Declaration`).
    pub unsafe trait MxfMiniport: IMiniportDMus {
        /// Slot 8. The address of the object's [`Topology`] static. An implementation promises
        /// that the object is a `ComObject<M>`, this interface its chain 0, its value a
        /// `MiniportObject<M>`, for the `M` whose [`HasTopology::topology`] is that static.
        fn Declaration(&self) -> *const c_void;
    }
}

/// How `NewStream` holds the port to the declared pins ([`DmusMiniport::PIN_CHECK`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinCheck {
    /// The pin id must name a render or capture pin of the stream's direction, and the data
    /// format must match one of its ranges (`kernel.md` §4.2); anything else is refused (see
    /// [`MiniportObject`]'s `NewStream`). The default.
    Declared,
    /// As DMusUART, whose `NewStream` reads only the stream type (`kernel.md` §4.2): a request
    /// that matches the declaration is dispatched as under `Declared`; one that does not is
    /// served anyway, its kind taken from the stream type and the format's subformat
    /// (DirectMusic, else MIDI bytestream). For a caller that opens pins by number without
    /// reading the descriptor.
    StreamTypeOnly,
}

/// What a stream carries: its direction and its format. `NewStream` only gets
/// `DMUS_STREAM_MIDI_RENDER` or `…_CAPTURE`; the format (MIDI bytestream or DirectMusic) comes
/// from the pin and the data format's subformat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamKind {
    /// Render or capture.
    pub direction: Direction,
    /// [`Format::Midi`] or [`Format::DirectMusic`] (never [`Format::MidiBus`]).
    pub format: Format,
}

/// The DMus miniport an author writes: a struct under `#[mxf_miniport]` whose pins are declared
/// with [`miniport_topology!`](crate::miniport_topology). The framework implements
/// `IMiniportDMus` for it ([`MiniportObject`]); the methods get checked, typed requests.
///
/// | item | default | what it decides |
/// |---|---|---|
/// | [`init`](Self::init) | required | `IMiniportDMus::Init`: the device, the miniport's service group |
/// | [`new_stream`](Self::new_stream) | required | the stream of a checked `NewStream` |
/// | [`service`](Self::service) | nothing | `IMiniportDMus::Service` |
/// | [`PIN_CHECK`](Self::PIN_CHECK) | [`PinCheck::Declared`] | how strictly `NewStream` matches pins |
/// | [`synth_caps`](Self::synth_caps) | DMusUART's | `KSPROPERTY_SYNTH_CAPS` |
/// | [`synth_port_parameters`](Self::synth_port_parameters) | DMusUART's | `KSPROPERTY_SYNTH_PORTPARAMETERS` |
/// | [`synth_channel_groups`](Self::synth_channel_groups) | 1 | `KSPROPERTY_SYNTH_CHANNELGROUPS` |
/// | [`synth_latency_clock`](Self::synth_latency_clock) | master clock now | `KSPROPERTY_SYNTH_LATENCYCLOCK` |
///
/// The Synth methods compute answers only: verbs, buffer sizes and targets are checked by the
/// framework as DMusUART checks them ([`synth`](super::synth)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is no DMus miniport: it lacks `impl DmusMiniport for {Self}`",
    label = "an `#[mxf_miniport]` struct implements `mxf::miniport::DmusMiniport`",
    note = "implement `init` and `new_stream`; the framework supplies IMiniportDMus, GetDescription and the checks"
)]
pub trait DmusMiniport: HasTopology + Sized {
    /// How `NewStream` matches the pin id and data format against the declaration.
    const PIN_CHECK: PinCheck = PinCheck::Declared;

    /// `IMiniportDMus::Init`, called once: set up the device, register the miniport's service
    /// group with the port (`request.port().RegisterServiceGroup`) if interrupts must be serviced
    /// before `Init` returns, and return that group (the port adds itself to it and calls
    /// [`service`](Self::service) for its requests), or `None`.
    fn init(&self, request: InitRequest<'_>) -> Result<Option<IServiceGroup>>;

    /// `IMiniportDMus::Service`: a service request on the miniport's group (DISPATCH_LEVEL).
    fn service(&self) {}

    /// Creates the stream of a `NewStream` that passed the framework's checks. `request` says
    /// which kind, on which pin, with which allocator and master clock; keep what you need
    /// (AddRef'd: the values are owned interface pointers once cloned).
    fn new_stream(&self, request: StreamRequest<'_>) -> Result<Stream>;

    /// `KSPROPERTY_SYNTH_CAPS` of a synth node. Default: DMusUART's ([`dmusuart_caps`]) for the
    /// node's direction, without the port base DMusUART appends (the framework knows none).
    fn synth_caps(&self, request: &SynthRequest<'_>) -> Result<SYNTHCAPS> {
        Ok(dmusuart_caps(request.direction(), None))
    }

    /// `KSPROPERTY_SYNTH_PORTPARAMETERS` on a pin: apply `asked` and return what was applied.
    /// Default: DMusUART's ([`dmusuart_port_parameters`]: only the channel-group bit kept,
    /// one channel group), reported as all assigned, as DMusUART does.
    fn synth_port_parameters(
        &self,
        request: &SynthRequest<'_>,
        asked: SYNTH_PORTPARAMS,
    ) -> Result<PortParameters> {
        let _ = request;
        Ok(PortParameters {
            params: dmusuart_port_parameters(asked),
            all_assigned: true,
        })
    }

    /// `KSPROPERTY_SYNTH_CHANNELGROUPS`: `set` is the value of a set request, `None` for a get;
    /// the answer is written to the value buffer either way (as DMusUART writes 1 for both).
    /// Default: 1.
    fn synth_channel_groups(&self, request: &SynthRequest<'_>, set: Option<u32>) -> Result<u32> {
        let _ = (request, set);
        Ok(1)
    }

    /// `KSPROPERTY_SYNTH_LATENCYCLOCK` on a pin: master-clock time plus the device's latency,
    /// in 100 ns units. Default: the master clock now, no latency added (DMusUART), or
    /// `STATUS_INVALID_DEVICE_REQUEST` if no stream was ever opened (no clock known).
    fn synth_latency_clock(&self, request: &SynthRequest<'_>) -> Result<u64> {
        let clock = request
            .master_clock()
            .ok_or(STATUS_INVALID_DEVICE_REQUEST)?;
        let mut now = 0i64;
        // SAFETY: a live clock (the request's); `now` is a valid out-pointer.
        unsafe { clock.GetTime(&mut now) }.ok()?;
        Ok(now.cast_unsigned())
    }
}

/// What [`DmusMiniport::init`] is given: `IMiniportDMus::Init`'s parameters, checked.
pub struct InitRequest<'a> {
    adapter: Option<ComRef<'a, IUnknown>>,
    resource_list: *mut c_void,
    port: ComRef<'a, IPortDMus>,
}

impl<'a> InitRequest<'a> {
    /// The adapter's unknown (`UnknownAdapter`), if the port passed one.
    pub fn adapter(&self) -> Option<ComRef<'a, IUnknown>> {
        self.adapter
    }

    /// The `PRESOURCELIST` (an `IResourceList`), possibly NULL: where a driver finds its I/O
    /// ports and interrupt.
    pub fn resource_list(&self) -> *mut c_void {
        self.resource_list
    }

    /// The port (never NULL: the framework refuses a NULL port).
    pub fn port(&self) -> ComRef<'a, IPortDMus> {
        self.port
    }
}

/// What [`DmusMiniport::new_stream`] is given: a `NewStream` that passed the framework's checks.
pub struct StreamRequest<'a> {
    kind: StreamKind,
    pin_id: u32,
    pin: Option<&'static Pin>,
    format: Option<KSDATAFORMAT>,
    pool: POOL_TYPE,
    allocator: ComRef<'a, IAllocatorMXF>,
    master_clock: ComRef<'a, IMasterClock>,
    this: &'a SelfRef<IMiniportDMus>,
}

impl<'a> StreamRequest<'a> {
    /// Render or capture, MIDI bytestream or DirectMusic.
    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    /// `PinID` as the port passed it.
    pub fn pin_id(&self) -> u32 {
        self.pin_id
    }

    /// The declared pin `PinID` names (always one of the stream's direction under
    /// [`PinCheck::Declared`]; under [`PinCheck::StreamTypeOnly`], whatever the id names).
    pub fn pin(&self) -> Option<&'static Pin> {
        self.pin
    }

    /// A copy of the data format's header (`NewStream`'s `DataFormat` is the port's copy and may
    /// be freed after the call); `None` if the port passed none (only under
    /// [`PinCheck::StreamTypeOnly`]).
    pub fn format(&self) -> Option<KSDATAFORMAT> {
        self.format
    }

    /// The pool to allocate the stream in.
    pub fn pool(&self) -> POOL_TYPE {
        self.pool
    }

    /// The pin's allocator: the source of every event a capture stream sends and the
    /// destination of every event a render stream consumes.
    pub fn allocator(&self) -> ComRef<'a, IAllocatorMXF> {
        self.allocator
    }

    /// The port's master clock.
    pub fn master_clock(&self) -> ComRef<'a, IMasterClock> {
        self.master_clock
    }

    /// A counted pointer to the miniport, for a stream that keeps its miniport alive; `None` if
    /// the object was not made by [`IntoMiniport`] (which records it).
    pub fn miniport(&self) -> Option<IMiniportDMus> {
        // SAFETY: a request exists only during `NewStream`, called through a live interface of
        // the miniport whose caller holds a reference: the object is alive and not being
        // destroyed.
        unsafe { self.this.get() }
    }
}

/// What [`DmusMiniport::new_stream`] returns: `NewStream`'s three outputs.
pub struct Stream {
    /// The stream (`*MXF`).
    pub mxf: IMXF,
    /// `*ServiceGroup`: the group the port services the stream through (a capture stream needs
    /// one: the port pulls input with `PutMessage(NULL)` from it), or `None`.
    pub service_group: Option<IServiceGroup>,
    /// `*SchedulePreFetch`: how far ahead (100 ns) the sequencer delivers events.
    pub schedule_prefetch: u64,
}

impl Stream {
    /// `mxf`, no service group, no prefetch.
    pub fn new(mxf: IMXF) -> Self {
        Self {
            mxf,
            service_group: None,
            schedule_prefetch: 0,
        }
    }
}

/// `Init` has not run.
const FRESH: u8 = 0;
/// `Init` is running.
const STARTING: u8 = 1;
/// `Init` succeeded: streams may open.
const READY: u8 = 2;

/// The value inside an `#[mxf_miniport]` object: the author's miniport and what the framework
/// keeps for it. Implements `IMiniport`, `IMiniportDMus` and [`MxfMiniport`].
///
/// # `IMiniport` / `IMiniportDMus`, method by method
///
/// * `GetDescription(out)`: stores the declared `PCFILTER_DESCRIPTOR` (a static: the port may
///   keep it) and returns `STATUS_SUCCESS`; NULL `out`: `STATUS_INVALID_PARAMETER`.
/// * `DataRangeIntersection(...)`: `STATUS_NOT_IMPLEMENTED`, nothing written, as DMusUART for
///   every pin (`kernel.md` §4.4): the port runs its default handler. Clients open MIDI and
///   DirectMusic pins with a bare `KSDATAFORMAT` and no intersection (§4.2), and the music ranges
///   have nothing to negotiate (no rates, no channel layouts).
/// * `Init(adapter, resources, port, &group)`: writes NULL to `*group`, then: NULL
///   out-pointer or port → `STATUS_INVALID_PARAMETER`; a second `Init` (or one while another
///   runs) → `STATUS_INVALID_DEVICE_STATE`; else [`DmusMiniport::init`], whose error is
///   returned (and `Init` may be called again) and whose group is stored AddRef'd in `*group`.
/// * `Service()`: [`DmusMiniport::service`].
/// * `NewStream(&mxf, outer, pool, pin, type, format, &group, allocator, clock, &prefetch)`:
///   writes NULL, NULL and 0 to the three outputs first, so that every failure leaves them so,
///   then refuses, in this order:
///
///   | request | status |
///   |---|---|
///   | an output pointer NULL or misaligned | `STATUS_INVALID_PARAMETER` |
///   | NULL allocator or master clock | `STATUS_INVALID_PARAMETER` |
///   | an `OuterUnknown` (aggregation: the port never asks for it) | `STATUS_INVALID_PARAMETER` |
///   | a type other than `DMUS_STREAM_MIDI_RENDER` / `…_CAPTURE` | `STATUS_INVALID_DEVICE_REQUEST` |
///   | before `Init` succeeded | `STATUS_INVALID_DEVICE_STATE` |
///   | a pin id the declaration has no pin for | `STATUS_INVALID_PARAMETER` |
///   | a bridge pin (never instantiated, `kernel.md` §4.3) | `STATUS_INVALID_DEVICE_REQUEST` |
///   | a render type on a capture pin, or the reverse | `STATUS_INVALID_DEVICE_REQUEST` |
///   | NULL data format, or `FormatSize` below a `KSDATAFORMAT` | `STATUS_INVALID_PARAMETER` |
///   | a format none of the pin's ranges matches ([`format_matches`]) | `STATUS_NO_MATCH` |
///
///   (the last five only under [`PinCheck::Declared`]), then calls
///   [`DmusMiniport::new_stream`] with the stream's [`StreamKind`]: the pin's direction and the
///   format of the first of its ranges the data format matches. Its error is returned; on
///   success the stream, its group and its prefetch are written. Every interface the request
///   lends is borrowed: nothing stays AddRef'd by a failure.
///
/// # How the Synth handler finds the miniport
///
/// A property handler gets `MajorTarget`, the unknown given to `IPort::Init`. The handler of
/// miniport type `M` asks it for [`MxfMiniport`] (QueryInterface, so an aggregated or foreign
/// object answers for itself) and calls [`Declaration`](MxfMiniport::Declaration): only an
/// object whose answer is `M`'s own topology static (unique to `M`, [`HasTopology`]) is taken
/// as a `ComObject<M>`, whose value is then read through that interface, chain 0 — never a cast
/// of an unknown pointer. Any other object gets `STATUS_INVALID_DEVICE_REQUEST`.
pub struct MiniportObject<M: DmusMiniport> {
    miniport: M,
    state: AtomicU8,
    /// This object's own `IMiniportDMus`, without a reference (for [`StreamRequest::miniport`]).
    this: SelfRef<IMiniportDMus>,
    /// The master clock of the last stream opened, without a reference (DMusUART keeps it the
    /// same way): the default latency clock. The port passes itself to every `NewStream`
    /// (`domain.md` item 60), and it outlives every property request it dispatches to this
    /// miniport. Not counted, so the miniport does not keep the port alive.
    clock: AtomicPtr<c_void>,
}

impl<M: DmusMiniport> MiniportObject<M> {
    /// Wraps `miniport` (before `Init`).
    pub fn new(miniport: M) -> Self {
        Self {
            miniport,
            state: AtomicU8::new(FRESH),
            this: SelfRef::new(),
            clock: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The author's miniport.
    pub fn miniport(&self) -> &M {
        &self.miniport
    }

    /// Whether `Init` has succeeded.
    pub fn is_initialized(&self) -> bool {
        self.state.load(Ordering::Acquire) == READY
    }

    /// The master clock of the last stream opened (borrowed for the call of a property
    /// handler).
    ///
    /// # Safety
    /// Called while the port that opened the streams is alive (during a request it dispatches).
    pub(super) unsafe fn last_clock(&self) -> Option<ComRef<'_, IMasterClock>> {
        let p = self.clock.load(Ordering::Acquire);
        // SAFETY: NULL, or the clock the port passed to `NewStream`, alive while the port is
        // (caller).
        unsafe { ComRef::from_raw(p) }
    }

    fn init(
        &self,
        adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
        port: Option<ComRef<'_, IPortDMus>>,
        service_group: *mut Option<IServiceGroup>,
    ) -> NTSTATUS {
        if !write_out(service_group, None) {
            return STATUS_INVALID_PARAMETER;
        }
        let Some(port) = port else {
            return STATUS_INVALID_PARAMETER;
        };
        if self
            .state
            .compare_exchange(FRESH, STARTING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return STATUS_INVALID_DEVICE_STATE;
        }
        let request = InitRequest {
            adapter,
            resource_list,
            port,
        };
        match self.miniport.init(request) {
            Ok(group) => {
                self.state.store(READY, Ordering::Release);
                write_out(service_group, group);
                STATUS_SUCCESS
            }
            Err(status) => {
                self.state.store(FRESH, Ordering::Release);
                status
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_stream(
        &self,
        mxf: *mut Option<IMXF>,
        outer: Option<ComRef<'_, IUnknown>>,
        pool: POOL_TYPE,
        pin_id: u32,
        stream_type: DMUS_STREAM_TYPE,
        data_format: *const KSDATAFORMAT,
        service_group: *mut Option<IServiceGroup>,
        allocator: Option<ComRef<'_, IAllocatorMXF>>,
        master_clock: Option<ComRef<'_, IMasterClock>>,
        schedule_prefetch: *mut u64,
    ) -> NTSTATUS {
        // Outputs first, so that every failure leaves NULLs behind.
        let outs_ok =
            write_out(mxf, None) & write_out(service_group, None) & write_out(schedule_prefetch, 0);
        if !outs_ok {
            return STATUS_INVALID_PARAMETER;
        }
        let (Some(allocator), Some(master_clock)) = (allocator, master_clock) else {
            return STATUS_INVALID_PARAMETER;
        };
        if outer.is_some() {
            return STATUS_INVALID_PARAMETER;
        }
        let direction = if stream_type == DMUS_STREAM_MIDI_RENDER {
            Direction::Render
        } else if stream_type == DMUS_STREAM_MIDI_CAPTURE {
            Direction::Capture
        } else {
            return STATUS_INVALID_DEVICE_REQUEST;
        };
        if !self.is_initialized() {
            return STATUS_INVALID_DEVICE_STATE;
        }
        // SAFETY: `data_format` is NULL or the port's copy of the connection format, readable
        // for `FormatSize` bytes (the NewStream contract).
        let format = unsafe { read_format(data_format) };
        let (kind, pin) = match dispatch(M::topology(), M::PIN_CHECK, pin_id, direction, format) {
            Ok(d) => d,
            Err(status) => return status,
        };
        let request = StreamRequest {
            kind,
            pin_id,
            pin,
            format,
            pool,
            allocator,
            master_clock,
            this: &self.this,
        };
        let stream = match self.miniport.new_stream(request) {
            Ok(s) => s,
            Err(status) => return status,
        };
        self.clock.store(master_clock.as_raw(), Ordering::Release);
        write_out(schedule_prefetch, stream.schedule_prefetch);
        write_out(service_group, stream.service_group);
        write_out(mxf, Some(stream.mxf));
        STATUS_SUCCESS
    }
}

/// The header of the data format at `p`: `None` for NULL, or for a format whose `FormatSize`
/// says it is shorter than a `KSDATAFORMAT` (only `FormatSize` is read then).
///
/// # Safety
/// `p` is NULL or points to a readable `FormatSize` (4 bytes) followed by `FormatSize - 4`
/// readable bytes.
unsafe fn read_format(p: *const KSDATAFORMAT) -> Option<KSDATAFORMAT> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-NULL format begins with its `FormatSize` (caller); read unaligned, since
    // nothing promises the port's copy is aligned.
    let size = unsafe { p.cast::<u32>().read_unaligned() };
    if usize::try_from(size).ok()? < size_of::<KSDATAFORMAT>() {
        return None;
    }
    // SAFETY: `FormatSize` bytes are readable (caller), at least a whole header.
    Some(unsafe { p.read_unaligned() })
}

/// Matches a `NewStream` request against the declaration (see [`MiniportObject`]): the stream's
/// kind and the pin it names.
pub(super) fn dispatch(
    topology: &'static Topology,
    check: PinCheck,
    pin_id: u32,
    direction: Direction,
    format: Option<KSDATAFORMAT>,
) -> Result<(StreamKind, Option<&'static Pin>)> {
    let declared = declared(topology, pin_id, direction, format);
    match (declared, check) {
        (Ok(d), _) => Ok(d),
        (Err(status), PinCheck::Declared) => Err(status),
        (Err(_), PinCheck::StreamTypeOnly) => {
            let dm = format.is_some_and(|f| f.SubFormat == KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
            let format = if dm {
                Format::DirectMusic
            } else {
                Format::Midi
            };
            Ok((StreamKind { direction, format }, topology.pin(pin_id)))
        }
    }
}

fn declared(
    topology: &'static Topology,
    pin_id: u32,
    direction: Direction,
    format: Option<KSDATAFORMAT>,
) -> Result<(StreamKind, Option<&'static Pin>)> {
    let pin = topology.pin(pin_id).ok_or(STATUS_INVALID_PARAMETER)?;
    let pin_direction = pin
        .kind()
        .direction()
        .ok_or(STATUS_INVALID_DEVICE_REQUEST)?;
    if pin_direction != direction {
        return Err(STATUS_INVALID_DEVICE_REQUEST);
    }
    let format = format.ok_or(STATUS_INVALID_PARAMETER)?;
    let matched = pin
        .formats()
        .iter()
        .copied()
        .find(|f| format_matches(f.header(), &format))
        .ok_or(STATUS_NO_MATCH)?;
    Ok((
        StreamKind {
            direction,
            format: matched,
        },
        Some(pin),
    ))
}

/// Writes `value` through a C out-pointer if it is usable; false (and `value` dropped) if it is
/// NULL or misaligned.
fn write_out<T>(out: *mut T, value: T) -> bool {
    if out.is_null() || !out.is_aligned() {
        return false;
    }
    // SAFETY: non-NULL and aligned; the COM caller provides writable storage for an output.
    // `write` does not drop what was there (uninitialised garbage for an out-pointer).
    unsafe { out.write(value) };
    true
}

impl<M> IMiniport_Impl for MiniportObject<M>
where
    M: DmusMiniport + ObjectImpl<Value = MiniportObject<M>>,
{
    unsafe fn GetDescription(&self, description: *mut *mut c_void) -> NTSTATUS {
        // The port only reads the tables; the pointer is `mut` in the header's signature only.
        let table = ptr::from_ref(M::topology().descriptor()).cast_mut().cast();
        if write_out(description, table) {
            STATUS_SUCCESS
        } else {
            STATUS_INVALID_PARAMETER
        }
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
        // DMusUART's answer for every pin: the port's default handler (see the type's docs).
        STATUS_NOT_IMPLEMENTED
    }
}

impl<M> IMiniportDMus_Impl for MiniportObject<M>
where
    M: DmusMiniport + ObjectImpl<Value = MiniportObject<M>>,
{
    unsafe fn Init(
        &self,
        unknown_adapter: Option<ComRef<'_, IUnknown>>,
        resource_list: *mut c_void,
        port: Option<ComRef<'_, IPortDMus>>,
        service_group: *mut Option<IServiceGroup>,
    ) -> NTSTATUS {
        self.init(unknown_adapter, resource_list, port, service_group)
    }

    fn Service(&self) {
        self.miniport.service();
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
        self.new_stream(
            mxf,
            outer,
            pool,
            pin_id,
            stream_type,
            data_format,
            service_group,
            allocator,
            master_clock,
            schedule_prefetch,
        )
    }
}

// SAFETY: `MiniportObject<M>` is only the value of `ComObject<M>`, whose chain 0 is
// `MxfMiniport` (`#[mxf_miniport]` lists it first; `ObjectImpl::Value = MiniportObject<M>`
// is bound here), and the address returned is `M`'s own topology static (`HasTopology`).
unsafe impl<M> MxfMiniport_Impl for MiniportObject<M>
where
    M: DmusMiniport + ObjectImpl<Value = MiniportObject<M>>,
{
    fn Declaration(&self) -> *const c_void {
        ptr::from_ref(M::topology()).cast()
    }
}

/// An owned miniport object with its value at hand: derefs to [`MxfMiniport`], which derefs
/// to `IMiniportDMus` (what the port is given).
pub type MiniportHandle<M> = ObjectHandle<M, MxfMiniport>;

impl<M> ObjectHandle<M, MxfMiniport>
where
    M: DmusMiniport + ObjectImpl<Value = MiniportObject<M>>,
{
    /// The author's miniport.
    pub fn miniport(&self) -> &M {
        self.value().miniport()
    }

    /// The miniport's `IMiniportDMus` (what `IPort::Init` is given), AddRef'd.
    pub fn to_dmus(&self) -> IMiniportDMus {
        let iface: &IMiniportDMus = self.interface();
        iface.clone()
    }
}

/// Creation of miniport objects (implemented for every `#[mxf_miniport]` type).
pub trait IntoMiniport: ObjectImpl<Value = MiniportObject<Self>> + DmusMiniport {
    /// Creates the miniport object in nonpaged pool under the object's tag.
    fn into_miniport(self) -> Result<MiniportHandle<Self>> {
        self.into_miniport_in(crate::abi::NonPagedPool, Self::POOL_TAG)
    }

    /// Creates the miniport object in `pool` under `tag`.
    fn into_miniport_in(self, pool: POOL_TYPE, tag: u32) -> Result<MiniportHandle<Self>> {
        let handle = MiniportHandle::<Self>::create_in(MiniportObject::new(self), pool, tag)?;
        let iface: &IMiniportDMus = handle.interface();
        // SAFETY: `iface` is an interface of the object that holds this `SelfRef`.
        unsafe { handle.value().this.set(iface) };
        Ok(handle)
    }
}

impl<M: ObjectImpl<Value = MiniportObject<M>> + DmusMiniport> IntoMiniport for M {}
