//! `KSPROPSETID_Synth` on the synth nodes of a declared topology: the property items, the
//! handler the port calls, and DMusUART's answers as the defaults of
//! [`DmusMiniport`]'s Synth methods (`kernel.md` §4.5–§4.7).
//!
//! # What the handler checks (as DMusUART's `PropertyHandler_Synth`)
//!
//! Sizes are checked as DMusUART's `ValidatePropertyRequest`: `ValueSize` ≥ the value's size
//! proceeds (a NULL `Value` is then `STATUS_INVALID_PARAMETER`); `ValueSize` 0 is a size query,
//! answered `STATUS_BUFFER_OVERFLOW` with `ValueSize` set to the size; anything between is
//! `STATUS_BUFFER_TOO_SMALL`. Every refusal leaves `ValueSize` 0 (but the size query's); every
//! success sets it to the bytes written.
//!
//! | request | answer |
//! |---|---|
//! | `BASICSUPPORT`, any id | a `ULONG` of access flags: CAPS `BASIC\|GET`, CHANNELGROUPS `BASIC\|GET\|SET`, PORTPARAMETERS `BASIC\|GET` on a pin (on the filter `STATUS_INVALID_DEVICE_REQUEST`), LATENCYCLOCK `BASIC` alone |
//! | CAPS set | `STATUS_INVALID_DEVICE_REQUEST` |
//! | CAPS get | a `SYNTHCAPS` (296 bytes): [`DmusMiniport::synth_caps`] |
//! | PORTPARAMETERS set, or on the filter | `STATUS_INVALID_DEVICE_REQUEST` (before the size check) |
//! | PORTPARAMETERS get on a pin | the instance (a `SYNTH_PORTPARAMS`, 28 bytes) applied: [`DmusMiniport::synth_port_parameters`]; `STATUS_NOT_ALL_ASSIGNED` if it says so |
//! | CHANNELGROUPS get or set | a `ULONG`: [`DmusMiniport::synth_channel_groups`] |
//! | LATENCYCLOCK set | `STATUS_INVALID_DEVICE_REQUEST` |
//! | LATENCYCLOCK get | a `ULONGLONG` (after the size check: on the filter `STATUS_INVALID_DEVICE_REQUEST`): [`DmusMiniport::synth_latency_clock`] |
//! | another id | `STATUS_SUCCESS`, nothing written (`ValueSize` 0) |
//!
//! A target is a pin when the request has a `MinorTarget` (the stream `NewStream` returned),
//! the filter otherwise. A method's error is returned with `ValueSize` 0.
//!
//! **Deviations from DMusUART**, each a pointer DMusUART trusts: a PORTPARAMETERS instance shorter
//! than a `SYNTH_PORTPARAMS`, or NULL, is `STATUS_INVALID_PARAMETER` (DMusUART copies 28 bytes
//! whatever `InstanceSize` says); a `MajorTarget` that is not this miniport type's object is
//! `STATUS_INVALID_DEVICE_REQUEST` (DMusUART casts it); a NULL request or property item is
//! `STATUS_INVALID_PARAMETER`; the refusals DMusUART makes before its size check (a set of CAPS,
//! PORTPARAMETERS or LATENCYCLOCK, PORTPARAMETERS on the filter) and another id set `ValueSize`
//! to 0 (DMusUART leaves the caller's value there, which a port may report as bytes returned).

use super::object::{DmusMiniport, MiniportObject, MxfMiniport};
use super::topology::{Direction, Node};
use crate::abi::{
    CLSID_MiniportDriverDMusUART, CLSID_MiniportDriverDMusUARTCapture, KSPROPERTY_SYNTH_CAPS,
    KSPROPERTY_SYNTH_CHANNELGROUPS, KSPROPERTY_SYNTH_LATENCYCLOCK, KSPROPERTY_SYNTH_PORTPARAMETERS,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET, KSPROPSETID_Synth,
    NTSTATUS, PCPFNPROPERTY_HANDLER, PCPROPERTY_ITEM, PCPROPERTY_ITEM_FLAG_BASICSUPPORT,
    PCPROPERTY_ITEM_FLAG_GET, PCPROPERTY_ITEM_FLAG_SET, PCPROPERTY_REQUEST, Result,
    STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_PARAMETER, STATUS_SUCCESS, SYNTH_PC_EXTERNAL, SYNTH_PORTPARAMS,
    SYNTH_PORTPARAMS_CHANNELGROUPS, SYNTHCAPS,
};
use crate::com::{ComObject, ComRef, Interface, ObjectImpl};
use crate::interfaces::{IMasterClock, IUnknown};
use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;

/// `STATUS_NOT_ALL_ASSIGNED` (ntstatus.h, 0x00000106): a success status; a PORTPARAMETERS get
/// that replaced values it cannot support returns it with the value written.
pub const STATUS_NOT_ALL_ASSIGNED: NTSTATUS = NTSTATUS(0x0000_0106);

/// What a synth property request is about, for [`DmusMiniport`]'s Synth methods.
pub struct SynthRequest<'a> {
    node: u32,
    node_info: Option<&'static Node>,
    stream: Option<ComRef<'a, IUnknown>>,
    master_clock: Option<ComRef<'a, IMasterClock>>,
}

impl<'a> SynthRequest<'a> {
    /// The request's `Node` (the node id of a topology request, else `u32::MAX`).
    pub fn node(&self) -> u32 {
        self.node
    }

    /// The declared node `Node` names, if any.
    pub fn node_info(&self) -> Option<&'static Node> {
        self.node_info
    }

    /// The stream of a pin request (`MinorTarget`: the `IMXF` that `NewStream` returned);
    /// `None` on the filter.
    pub fn stream(&self) -> Option<ComRef<'a, IUnknown>> {
        self.stream
    }

    /// Whether the request targets a pin (it has a stream).
    pub fn on_pin(&self) -> bool {
        self.stream.is_some()
    }

    /// The master clock the port passed to the last `NewStream`, if a stream was ever opened.
    pub fn master_clock(&self) -> Option<ComRef<'a, IMasterClock>> {
        self.master_clock
    }

    /// The direction of the node: the declared node's ([`Node::direction`]), or, for a `Node`
    /// the declaration has no node for, [`Direction::Capture`] (DMusUART answers its render
    /// caps for node 0 only).
    pub fn direction(&self) -> Direction {
        self.node_info.map_or(Direction::Capture, Node::direction)
    }
}

/// A PORTPARAMETERS answer: the parameters applied, and whether every asked value was kept
/// (`false` makes the request return [`STATUS_NOT_ALL_ASSIGNED`], the value written anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortParameters {
    /// The parameters as applied (the value written).
    pub params: SYNTH_PORTPARAMS,
    /// Every asked value was kept.
    pub all_assigned: bool,
}

/// DMusUART's `SYNTHCAPS` (`kernel.md` §4.7): zeroed, then `CLSID_MiniportDriverDMusUART` and
/// "DMusic MPU-401 Out " for a render node, `CLSID_MiniportDriverDMusUARTCapture` and "DMusic
/// MPU-401 In " for a capture node, followed by the port base as `[%03X]` if given; Flags
/// `SYNTH_PC_EXTERNAL`, MemorySize 0, MaxChannelGroups 1, MaxVoices and MaxAudioChannels
/// `0xFFFFFFFF`, EffectFlags 0.
///
/// ```
/// use mxf::abi::*;
/// use mxf::miniport::{Direction, dmusuart_caps};
///
/// let caps = dmusuart_caps(Direction::Render, Some(0x330));
/// let text: Vec<u16> = "DMusic MPU-401 Out [330]".encode_utf16().collect();
/// assert_eq!(&caps.Description[..text.len()], &text[..]);
/// assert_eq!(caps.Description[text.len()], 0);
/// assert_eq!((caps.Guid, caps.Flags), (CLSID_MiniportDriverDMusUART, SYNTH_PC_EXTERNAL));
/// ```
pub fn dmusuart_caps(direction: Direction, port_base: Option<u32>) -> SYNTHCAPS {
    let mut caps = SYNTHCAPS::ZERO;
    let (guid, text): (_, &[u8]) = match direction {
        Direction::Render => (CLSID_MiniportDriverDMusUART, b"DMusic MPU-401 Out "),
        Direction::Capture => (CLSID_MiniportDriverDMusUARTCapture, b"DMusic MPU-401 In "),
    };
    caps.Guid = guid;
    caps.Flags = SYNTH_PC_EXTERNAL;
    caps.MemorySize = 0;
    caps.MaxChannelGroups = 1;
    caps.MaxVoices = u32::MAX;
    caps.MaxAudioChannels = u32::MAX;
    caps.EffectFlags = 0;
    // ASCII only: one UTF-16 unit per byte. The NUL at the end stays (the array is zeroed and
    // at most 19 + 10 units are written).
    let mut units = caps.Description.iter_mut();
    for &b in text {
        if let Some(u) = units.next() {
            *u = u16::from(b);
        }
    }
    if let Some(base) = port_base {
        let mut digits = [0u8; 8];
        let n = hex_digits(base, &mut digits);
        let bracketed = [b'['].iter().chain(digits.iter().take(n)).chain(b"]");
        for &b in bracketed {
            if let Some(u) = units.next() {
                *u = u16::from(b);
            }
        }
    }
    caps
}

/// `value` in upper-case hexadecimal, at least three digits (`%03X`): the digits in `out`,
/// their count returned.
fn hex_digits(value: u32, out: &mut [u8; 8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut nibbles = [0u8; 8];
    for (pair, b) in nibbles.chunks_exact_mut(2).zip(value.to_be_bytes()) {
        if let [high, low] = pair {
            *high = b >> 4;
            *low = b & 0xF;
        }
    }
    // Leading zeros dropped, but three digits kept.
    let first = nibbles.iter().position(|&d| d != 0).unwrap_or(8).min(5);
    let digits = nibbles.get(first..).unwrap_or_default();
    for (slot, &d) in out.iter_mut().zip(digits) {
        *slot = HEX.get(usize::from(d)).copied().unwrap_or(b'0');
    }
    digits.len()
}

/// DMusUART's PORTPARAMETERS (`kernel.md` §4.7): the asked parameters with only the
/// `SYNTH_PORTPARAMS_CHANNELGROUPS` valid bit kept and one channel group.
pub const fn dmusuart_port_parameters(asked: SYNTH_PORTPARAMS) -> SYNTH_PORTPARAMS {
    let mut p = asked;
    p.ValidParams &= SYNTH_PORTPARAMS_CHANNELGROUPS;
    p.ChannelGroups = 1;
    p
}

/// The `KSPROPSETID_Synth` items of every synth node of miniport type `M`: CAPS (GET|BASIC),
/// PORTPARAMETERS (GET|BASIC), CHANNELGROUPS (SET|GET|BASIC), LATENCYCLOCK (GET|BASIC), as
/// DMusUART's `SynthProperties`, each with [`synth_property_handler::<M>`].
pub const fn synth_property_items<M>() -> [PCPROPERTY_ITEM; 4]
where
    M: DmusMiniport + ObjectImpl<Value = MiniportObject<M>>,
{
    const GET_BASIC: u32 = PCPROPERTY_ITEM_FLAG_GET | PCPROPERTY_ITEM_FLAG_BASICSUPPORT;
    const fn item(id: u32, flags: u32, handler: PCPFNPROPERTY_HANDLER) -> PCPROPERTY_ITEM {
        PCPROPERTY_ITEM {
            Set: &KSPROPSETID_Synth,
            Id: id,
            Flags: flags,
            Handler: Some(handler),
        }
    }
    let handler: PCPFNPROPERTY_HANDLER = synth_property_handler::<M>;
    [
        item(KSPROPERTY_SYNTH_CAPS, GET_BASIC, handler),
        item(KSPROPERTY_SYNTH_PORTPARAMETERS, GET_BASIC, handler),
        item(
            KSPROPERTY_SYNTH_CHANNELGROUPS,
            PCPROPERTY_ITEM_FLAG_SET | GET_BASIC,
            handler,
        ),
        item(KSPROPERTY_SYNTH_LATENCYCLOCK, GET_BASIC, handler),
    ]
}

/// The `PCPFNPROPERTY_HANDLER` of the Synth items of miniport type `M` (see the module docs).
///
/// # Safety
/// `request` is NULL or a `PCPROPERTY_REQUEST` valid for the call, as the port passes it:
/// `PropertyItem` one of the items, `Value` NULL or writable for `ValueSize` bytes, `Instance`
/// NULL or readable for `InstanceSize` bytes, `MajorTarget` the unknown given to `IPort::Init`,
/// `MinorTarget` NULL or the stream `NewStream` returned, both alive for the call.
pub unsafe extern "system" fn synth_property_handler<M>(
    request: *mut PCPROPERTY_REQUEST,
) -> NTSTATUS
where
    M: DmusMiniport + ObjectImpl<Value = MiniportObject<M>>,
{
    if request.is_null() || !request.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: non-NULL and aligned; the port hands the request to this call alone.
    let request = unsafe { &mut *request };
    let item = request.PropertyItem;
    if item.is_null() || !item.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the item the port matched, one of the static items (caller).
    let id = unsafe { (*item).Id };
    // SAFETY: `MajorTarget` is NULL or a live unknown for the call (caller).
    let Some(major) = (unsafe { IUnknown::from_raw_borrowed(&request.MajorTarget) }) else {
        request.ValueSize = 0;
        return STATUS_INVALID_DEVICE_REQUEST;
    };
    let Some(mine) = find::<M>(major) else {
        request.ValueSize = 0;
        return STATUS_INVALID_DEVICE_REQUEST;
    };
    // SAFETY: `mine` is chain 0 of a live `ComObject<M>` (`find`), kept alive by the reference
    // it holds until the end of this function, which outlives `value`.
    let value: &MiniportObject<M> = unsafe { ComObject::<M>::value_of::<0>(mine.as_raw()) };
    // SAFETY: NULL or the stream `NewStream` returned, alive for the call (caller).
    let stream = unsafe { ComRef::<IUnknown>::from_raw(request.MinorTarget) };
    let synth = SynthRequest {
        node: request.Node,
        node_info: M::topology().node(request.Node),
        stream,
        // SAFETY: a request the port dispatches: the port that opened the streams is alive.
        master_clock: unsafe { value.last_clock() },
    };
    // SAFETY: forwarded (caller).
    unsafe { handle(value.miniport(), &synth, id, request) }
}

/// The object behind `major`, if it is one of `M`'s (see [`MiniportObject`]).
fn find<M>(major: &IUnknown) -> Option<MxfMiniport>
where
    M: DmusMiniport + ObjectImpl<Value = MiniportObject<M>>,
{
    let mine: MxfMiniport = major.cast().ok()?;
    let ours = ptr::from_ref(M::topology()).cast::<c_void>();
    (mine.Declaration() == ours).then_some(mine)
}

/// Dispatches one request (see the module docs).
///
/// # Safety
/// As [`synth_property_handler`]: `Value` NULL or writable for `ValueSize` bytes, `Instance`
/// NULL or readable for `InstanceSize` bytes.
unsafe fn handle<M: DmusMiniport>(
    miniport: &M,
    synth: &SynthRequest<'_>,
    id: u32,
    request: &mut PCPROPERTY_REQUEST,
) -> NTSTATUS {
    let verb = request.Verb;
    if verb & KSPROPERTY_TYPE_BASICSUPPORT != 0 {
        // SAFETY: forwarded.
        return unsafe { basic_support(synth, id, request) };
    }
    let set = verb & KSPROPERTY_TYPE_SET != 0;
    match id {
        KSPROPERTY_SYNTH_CAPS => {
            if set {
                request.ValueSize = 0;
                return STATUS_INVALID_DEVICE_REQUEST;
            }
            if let Err(s) = validate(request, size_of::<SYNTHCAPS>()) {
                return s;
            }
            // SAFETY: validated: `Value` holds a `SYNTHCAPS`.
            unsafe { answer(request, miniport.synth_caps(synth)) }
        }
        KSPROPERTY_SYNTH_PORTPARAMETERS => {
            if set || !synth.on_pin() {
                request.ValueSize = 0;
                return STATUS_INVALID_DEVICE_REQUEST;
            }
            if let Err(s) = validate(request, size_of::<SYNTH_PORTPARAMS>()) {
                return s;
            }
            // SAFETY: `Instance` is NULL or readable for `InstanceSize` bytes (caller).
            let Some(asked) = (unsafe { read_instance::<SYNTH_PORTPARAMS>(request) }) else {
                return STATUS_INVALID_PARAMETER;
            };
            match miniport.synth_port_parameters(synth, asked) {
                Ok(p) => {
                    // SAFETY: validated: `Value` holds a `SYNTH_PORTPARAMS`.
                    let s = unsafe { answer(request, Ok(p.params)) };
                    if s.is_success() && !p.all_assigned {
                        STATUS_NOT_ALL_ASSIGNED
                    } else {
                        s
                    }
                }
                Err(s) => s,
            }
        }
        KSPROPERTY_SYNTH_CHANNELGROUPS => {
            if let Err(s) = validate(request, size_of::<u32>()) {
                return s;
            }
            let asked = if set {
                // SAFETY: validated: `Value` holds a `ULONG`, the set's input.
                Some(unsafe { request.Value.cast::<u32>().read_unaligned() })
            } else {
                None
            };
            // SAFETY: validated: `Value` holds a `ULONG`.
            unsafe { answer(request, miniport.synth_channel_groups(synth, asked)) }
        }
        KSPROPERTY_SYNTH_LATENCYCLOCK => {
            if set {
                request.ValueSize = 0;
                return STATUS_INVALID_DEVICE_REQUEST;
            }
            if let Err(s) = validate(request, size_of::<u64>()) {
                return s;
            }
            if !synth.on_pin() {
                return STATUS_INVALID_DEVICE_REQUEST;
            }
            // SAFETY: validated: `Value` holds a `ULONGLONG`.
            unsafe { answer(request, miniport.synth_latency_clock(synth)) }
        }
        _ => {
            request.ValueSize = 0;
            STATUS_SUCCESS
        }
    }
}

/// `BASICSUPPORT`: the access flags as a `ULONG`.
///
/// # Safety
/// `Value` NULL or writable for `ValueSize` bytes.
unsafe fn basic_support(
    synth: &SynthRequest<'_>,
    id: u32,
    request: &mut PCPROPERTY_REQUEST,
) -> NTSTATUS {
    if let Err(s) = validate(request, size_of::<u32>()) {
        return s;
    }
    let mut flags = KSPROPERTY_TYPE_BASICSUPPORT;
    match id {
        KSPROPERTY_SYNTH_CAPS => flags |= KSPROPERTY_TYPE_GET,
        KSPROPERTY_SYNTH_CHANNELGROUPS => flags |= KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET,
        KSPROPERTY_SYNTH_PORTPARAMETERS => {
            if !synth.on_pin() {
                return STATUS_INVALID_DEVICE_REQUEST;
            }
            flags |= KSPROPERTY_TYPE_GET;
        }
        _ => {}
    }
    // SAFETY: validated: `Value` holds a `ULONG`.
    unsafe { answer(request, Ok(flags)) }
}

/// DMusUART's `ValidatePropertyRequest` for a value of `need` bytes: `Ok` to proceed (with
/// `ValueSize` 0 until the answer is written), else the status, with `ValueSize` = `need` for
/// a size query and 0 otherwise.
fn validate(request: &mut PCPROPERTY_REQUEST, need: usize) -> core::result::Result<(), NTSTATUS> {
    let need = u32::try_from(need).unwrap_or(u32::MAX);
    let status = if request.ValueSize >= need {
        if request.Value.is_null() {
            STATUS_INVALID_PARAMETER
        } else {
            STATUS_SUCCESS
        }
    } else if request.ValueSize == 0 {
        STATUS_BUFFER_OVERFLOW
    } else {
        STATUS_BUFFER_TOO_SMALL
    };
    request.ValueSize = if status == STATUS_BUFFER_OVERFLOW {
        need
    } else {
        0
    };
    if status == STATUS_SUCCESS {
        Ok(())
    } else {
        Err(status)
    }
}

/// Writes a method's answer to `Value` and sets `ValueSize`; an error is returned as it is,
/// nothing written (`ValueSize` stays 0).
///
/// # Safety
/// `Value` is writable for `size_of::<T>()` bytes (validated).
unsafe fn answer<T: Copy>(request: &mut PCPROPERTY_REQUEST, value: Result<T>) -> NTSTATUS {
    match value {
        Ok(v) => {
            // SAFETY: writable for a `T` (caller); the buffer's alignment is the client's, so
            // the write is unaligned.
            unsafe { request.Value.cast::<T>().write_unaligned(v) };
            request.ValueSize = u32::try_from(size_of::<T>()).unwrap_or(u32::MAX);
            STATUS_SUCCESS
        }
        Err(s) => {
            request.ValueSize = 0;
            s
        }
    }
}

/// The request's instance as a `T`, if it holds one.
///
/// # Safety
/// `Instance` is NULL or readable for `InstanceSize` bytes.
unsafe fn read_instance<T: Copy>(request: &PCPROPERTY_REQUEST) -> Option<T> {
    let size = usize::try_from(request.InstanceSize).ok()?;
    if request.Instance.is_null() || size < size_of::<T>() {
        return None;
    }
    // SAFETY: readable for at least a `T` (caller and the check above); unaligned, as above.
    Some(unsafe { request.Instance.cast::<T>().read_unaligned() })
}

// The verbs the items declare are those the handler serves.
const _: () = {
    assert!(PCPROPERTY_ITEM_FLAG_GET == KSPROPERTY_TYPE_GET);
    assert!(PCPROPERTY_ITEM_FLAG_SET == KSPROPERTY_TYPE_SET);
};
