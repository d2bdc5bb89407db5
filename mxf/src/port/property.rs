//! KS property requests routed through the miniport's automation tables, the pin-factory
//! properties the port answers itself, and `KSPROPERTY_PIN_DATAINTERSECTION` (`kernel.md` §4.3,
//! §4.4, §4.6).

use super::{CapturePin, Port, RenderPin};
use crate::abi::{
    GUID, KSDATAFORMAT, KSDATAFORMAT_SPECIFIER_NONE, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
    KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_TYPE_MUSIC, KSDATARANGE, KSMULTIPLE_ITEM,
    KSNODEPROPERTY, KSPIN_CINSTANCES, KSPROPERTY, KSPROPERTY_PIN_CATEGORY,
    KSPROPERTY_PIN_CINSTANCES, KSPROPERTY_PIN_COMMUNICATION, KSPROPERTY_PIN_CTYPES,
    KSPROPERTY_PIN_DATAFLOW, KSPROPERTY_PIN_DATAINTERSECTION, KSPROPERTY_PIN_DATARANGES,
    KSPROPERTY_PIN_GLOBALCINSTANCES, KSPROPERTY_PIN_NECESSARYINSTANCES,
    KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET, KSPROPERTY_TYPE_SET,
    KSPROPERTY_TYPE_TOPOLOGY, KSPROPSETID_Pin, NTSTATUS, PCAUTOMATION_TABLE, PCPIN_DESCRIPTOR,
    PCPROPERTY_REQUEST, Result, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_NO_MATCH, STATUS_NOT_FOUND, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use crate::com::Interface;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::mem::size_of;

/// How a KS request completed: its status and `IoStatus.Information` (the bytes written, or for
/// `STATUS_BUFFER_OVERFLOW` the size the value needs; 0 otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The request's status.
    pub status: NTSTATUS,
    /// Bytes written, or the size needed.
    pub information: u32,
}

impl Completion {
    fn fail(status: NTSTATUS) -> Self {
        Self {
            status,
            information: 0,
        }
    }
}

/// The handle a property request is sent on.
#[derive(Clone, Copy)]
pub enum PropertyTarget<'a> {
    /// The filter: `MinorTarget` NULL.
    Filter,
    /// A render pin: `MinorTarget` the stream `NewStream` returned for it.
    Render(&'a RenderPin),
    /// A capture pin: `MinorTarget` its stream.
    Capture(&'a CapturePin),
}

/// The input buffer of a KS property request: a `KSPROPERTY` `{set, id, flags}` (a
/// `KSNODEPROPERTY` with [`KSPROPERTY_TYPE_TOPOLOGY`] added to `flags` if `node` is given), then
/// `instance` (for a [`KSPROPSETID_Pin`] request: the `PinId` and `Reserved` of a `KSP_PIN`,
/// then what follows it). `STATUS_INSUFFICIENT_RESOURCES` if it cannot be allocated.
pub fn property_input(
    set: GUID,
    id: u32,
    flags: u32,
    node: Option<u32>,
    instance: &[u8],
) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(size_of::<KSNODEPROPERTY>().saturating_add(instance.len()))
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
    let property = KSPROPERTY::new(
        set,
        id,
        if node.is_some() {
            flags | KSPROPERTY_TYPE_TOPOLOGY
        } else {
            flags
        },
    );
    v.extend_from_slice(&guid_bytes(&set));
    v.extend_from_slice(&property.Id.to_ne_bytes());
    v.extend_from_slice(&property.Flags.to_ne_bytes());
    if let Some(node) = node {
        v.extend_from_slice(&node.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
    }
    v.extend_from_slice(instance);
    Ok(v)
}

/// A GUID's 16 bytes as they lie in memory.
fn guid_bytes(g: &GUID) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&g.Data1.to_ne_bytes());
    b[4..6].copy_from_slice(&g.Data2.to_ne_bytes());
    b[6..8].copy_from_slice(&g.Data3.to_ne_bytes());
    b[8..].copy_from_slice(&g.Data4);
    b
}

/// A GUID from its 16 bytes in memory.
fn guid_from_bytes(b: [u8; 16]) -> GUID {
    let [a0, a1, a2, a3, b0, b1, c0, c1, d @ ..] = b;
    GUID {
        Data1: u32::from_ne_bytes([a0, a1, a2, a3]),
        Data2: u16::from_ne_bytes([b0, b1]),
        Data3: u16::from_ne_bytes([c0, c1]),
        Data4: d,
    }
}

/// An 8-byte-aligned copy of `bytes` (what a handler may read as any KS structure), with room
/// for `len` bytes at least.
fn aligned(bytes: &[u8], len: usize) -> Result<Vec<u64>> {
    let words = len.max(bytes.len()).div_ceil(8);
    let mut v: Vec<u64> = Vec::new();
    v.try_reserve_exact(words)
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
    v.resize(words, 0);
    as_bytes_mut(&mut v)
        .get_mut(..bytes.len())
        .ok_or(STATUS_UNSUCCESSFUL)?
        .copy_from_slice(bytes);
    Ok(v)
}

fn as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    let len = words.len().saturating_mul(8);
    // SAFETY: `words` is `len` initialised bytes, and any byte pattern is a valid `u64`.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(b.try_into().ok()?))
}

/// Writes `value` by KS's size rule: an empty buffer is a size query (`STATUS_BUFFER_OVERFLOW`,
/// the size as information), a short one `STATUS_BUFFER_TOO_SMALL`.
fn answer(value: &mut [u8], bytes: &[u8]) -> Completion {
    let need = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    if value.is_empty() {
        return Completion {
            status: STATUS_BUFFER_OVERFLOW,
            information: need,
        };
    }
    match value.get_mut(..bytes.len()) {
        Some(out) => {
            out.copy_from_slice(bytes);
            Completion {
                status: STATUS_SUCCESS,
                information: need,
            }
        }
        None => Completion::fail(STATUS_BUFFER_TOO_SMALL),
    }
}

/// Whether two format GUIDs are compatible (equal, or either the wildcard `GUID_NULL`).
fn compatible(a: &GUID, b: &GUID) -> bool {
    a.to_u128() == 0 || b.to_u128() == 0 || a == b
}

impl Port {
    /// A KS property request (`IOCTL_KS_PROPERTY`) on `target`: `input` is the request's input
    /// buffer (a `KSPROPERTY`, or a `KSNODEPROPERTY` when `Flags` has
    /// [`KSPROPERTY_TYPE_TOPOLOGY`], then the instance data: [`property_input`] builds one),
    /// `value` its output buffer (empty: a size query).
    ///
    /// Routing, as PortCls (`kernel.md` §4.6): a node request goes to the node's automation
    /// table (on the filter or a pin handle); any other to the filter's table on the filter,
    /// the pin factory's on a pin. The item matching `Set` and `Id` whose `Flags` hold the verb
    /// gets a `PCPROPERTY_REQUEST` with `MajorTarget` the unknown the port was given for the
    /// miniport, `MinorTarget` the very `IMXF` `NewStream` returned for the pin (NULL on the
    /// filter), `Node` the node id or `u32::MAX`, `Verb` the request's flags without
    /// `TOPOLOGY`, `Instance`/`InstanceSize` the bytes after the header (NULL/0 if none),
    /// `Value`/`ValueSize` the output buffer (NULL/0 for a size query), `Irp` NULL. The handler's
    /// `ValueSize` becomes the information (for a success at most the buffer's length).
    ///
    /// Without such an item the port answers [`KSPROPSETID_Pin`] on the filter itself (GET
    /// only): CTYPES, CINSTANCES and GLOBALCINSTANCES (the descriptor's counts and the pins open
    /// now), NECESSARYINSTANCES, DATAFLOW, COMMUNICATION, CATEGORY (`STATUS_NOT_FOUND` if the
    /// factory has none), DATARANGES (a `KSMULTIPLE_ITEM` and the ranges, each on an 8-byte
    /// boundary) and DATAINTERSECTION ([`Port::data_intersection`]).
    ///
    /// | refusal | status |
    /// |---|---|
    /// | `input` shorter than its header; a `KSP_PIN` without its `PinId`; a node or pin factory that does not exist | `STATUS_INVALID_PARAMETER` |
    /// | the item exists but does not serve the verb, or has no handler; a verb other than GET on a pin-factory property | `STATUS_INVALID_DEVICE_REQUEST` |
    /// | no item and nothing the port answers | `STATUS_NOT_FOUND` |
    /// | a value too small for the port's own answer | `STATUS_BUFFER_TOO_SMALL` (empty: `STATUS_BUFFER_OVERFLOW` with the size) |
    /// | buffers the port cannot copy (pool exhausted) | `STATUS_INSUFFICIENT_RESOURCES` |
    pub fn property(
        &self,
        target: PropertyTarget<'_>,
        input: &[u8],
        value: &mut [u8],
    ) -> Completion {
        let header = size_of::<KSPROPERTY>();
        let (Some(set), Some(id), Some(flags)) = (
            input
                .get(..16)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(guid_from_bytes),
            read_u32(input, 16),
            read_u32(input, 20),
        ) else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let verb = flags & !KSPROPERTY_TYPE_TOPOLOGY;
        let (node, table, instance_at) = if flags & KSPROPERTY_TYPE_TOPOLOGY != 0 {
            let Some(node_id) = read_u32(input, header) else {
                return Completion::fail(STATUS_INVALID_PARAMETER);
            };
            let Some(node) = self.descriptor.node(node_id) else {
                return Completion::fail(STATUS_INVALID_PARAMETER);
            };
            (node_id, node.AutomationTable, size_of::<KSNODEPROPERTY>())
        } else {
            let table = match target {
                PropertyTarget::Filter => self.descriptor.filter().AutomationTable,
                PropertyTarget::Render(p) => self.pin_table(p.pin_id()),
                PropertyTarget::Capture(p) => self.pin_table(p.pin_id()),
            };
            (u32::MAX, table, header)
        };
        let instance = input.get(instance_at..).unwrap_or(&[]);
        match super::descriptor::Descriptor::property_item(table, &set, id) {
            Some(item) => {
                let served = item.Flags
                    & verb
                    & (KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT)
                    != 0;
                let Some(handler) = item.Handler.filter(|_| served) else {
                    return Completion::fail(STATUS_INVALID_DEVICE_REQUEST);
                };
                let minor = match target {
                    PropertyTarget::Filter => core::ptr::null_mut(),
                    PropertyTarget::Render(p) => p.stream().as_raw(),
                    PropertyTarget::Capture(p) => p.stream().as_raw(),
                };
                self.call_handler(handler, item, node, minor, verb, instance, value)
            }
            None if set == KSPROPSETID_Pin
                && matches!(target, PropertyTarget::Filter)
                && node == u32::MAX =>
            {
                self.pin_property(id, verb, instance, value)
            }
            None => Completion::fail(STATUS_NOT_FOUND),
        }
    }

    fn pin_table(&self, pin_id: u32) -> *const PCAUTOMATION_TABLE {
        self.descriptor
            .pin(pin_id)
            .map_or(core::ptr::null(), |p| p.AutomationTable)
    }

    /// Builds the `PCPROPERTY_REQUEST` and calls the handler on aligned copies of the buffers.
    #[allow(clippy::too_many_arguments)]
    fn call_handler(
        &self,
        handler: crate::abi::PCPFNPROPERTY_HANDLER,
        item: &crate::abi::PCPROPERTY_ITEM,
        node: u32,
        minor: *mut c_void,
        verb: u32,
        instance: &[u8],
        value: &mut [u8],
    ) -> Completion {
        let (Ok(mut instance_copy), Ok(mut value_copy)) =
            (aligned(instance, instance.len()), aligned(&[], value.len()))
        else {
            return Completion::fail(STATUS_INSUFFICIENT_RESOURCES);
        };
        let (Ok(instance_size), Ok(value_size)) =
            (u32::try_from(instance.len()), u32::try_from(value.len()))
        else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let mut request = PCPROPERTY_REQUEST {
            MajorTarget: self.unknown.as_raw(),
            MinorTarget: minor,
            Node: node,
            PropertyItem: item,
            Verb: verb,
            InstanceSize: instance_size,
            Instance: if instance.is_empty() {
                core::ptr::null_mut()
            } else {
                instance_copy.as_mut_ptr().cast()
            },
            ValueSize: value_size,
            Value: if value.is_empty() {
                core::ptr::null_mut()
            } else {
                value_copy.as_mut_ptr().cast()
            },
            Irp: core::ptr::null_mut(),
        };
        // SAFETY: the request is valid for the call: `Instance` and `Value` point to buffers of
        // at least `InstanceSize` and `ValueSize` bytes (or are NULL with 0), the targets are
        // alive (the port holds the miniport, the pin its stream), `PropertyItem` is the
        // descriptor's item the handler belongs to.
        let status = unsafe { handler(&mut request) };
        let information = if status.is_success() {
            request.ValueSize.min(value_size)
        } else if status == STATUS_BUFFER_OVERFLOW {
            request.ValueSize
        } else {
            0
        };
        if status.is_success() {
            let n = information as usize;
            if let (Some(out), Some(from)) =
                (value.get_mut(..n), as_bytes_mut(&mut value_copy).get(..n))
            {
                out.copy_from_slice(from);
            }
        }
        Completion {
            status,
            information,
        }
    }

    /// The [`KSPROPSETID_Pin`] properties the port answers (see [`Port::property`]).
    fn pin_property(&self, id: u32, verb: u32, instance: &[u8], value: &mut [u8]) -> Completion {
        if verb != KSPROPERTY_TYPE_GET {
            return Completion::fail(STATUS_INVALID_DEVICE_REQUEST);
        }
        if id == KSPROPERTY_PIN_CTYPES {
            return answer(value, &self.descriptor.pin_count().to_ne_bytes());
        }
        // Every other pin property names its factory: `KSP_PIN.PinId`, then `Reserved`.
        let Some(pin_id) = read_u32(instance, 0) else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let Some(pin) = self.descriptor.pin(pin_id) else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let ks = &pin.KsPinDescriptor;
        let u32_answer = |value: &mut [u8], v: u32| answer(value, &v.to_ne_bytes());
        match id {
            KSPROPERTY_PIN_CINSTANCES | KSPROPERTY_PIN_GLOBALCINSTANCES => {
                let possible = if id == KSPROPERTY_PIN_CINSTANCES {
                    pin.MaxFilterInstanceCount
                } else {
                    pin.MaxGlobalInstanceCount
                };
                let c = KSPIN_CINSTANCES {
                    PossibleCount: possible,
                    CurrentCount: self.open_instances(pin_id),
                };
                let mut bytes = [0u8; 8];
                bytes[..4].copy_from_slice(&c.PossibleCount.to_ne_bytes());
                bytes[4..].copy_from_slice(&c.CurrentCount.to_ne_bytes());
                answer(value, &bytes)
            }
            KSPROPERTY_PIN_NECESSARYINSTANCES => u32_answer(value, pin.MinFilterInstanceCount),
            KSPROPERTY_PIN_DATAFLOW => u32_answer(value, ks.DataFlow.0 as u32),
            KSPROPERTY_PIN_COMMUNICATION => u32_answer(value, ks.Communication.0 as u32),
            KSPROPERTY_PIN_CATEGORY => {
                if ks.Category.is_null() || !ks.Category.is_aligned() {
                    return Completion::fail(STATUS_NOT_FOUND);
                }
                // SAFETY: non-NULL and aligned; the miniport's GUID (descriptor contract).
                answer(value, &guid_bytes(unsafe { &*ks.Category }))
            }
            KSPROPERTY_PIN_DATARANGES => self.data_ranges(pin, value),
            KSPROPERTY_PIN_DATAINTERSECTION => {
                self.data_intersection(pin_id, instance.get(8..).unwrap_or(&[]), value)
            }
            _ => Completion::fail(STATUS_NOT_FOUND),
        }
    }

    /// `KSPROPERTY_PIN_DATARANGES`: a `KSMULTIPLE_ITEM`, then each range on an 8-byte boundary.
    fn data_ranges(&self, pin: &PCPIN_DESCRIPTOR, value: &mut [u8]) -> Completion {
        let mut size = size_of::<KSMULTIPLE_ITEM>();
        for (_, r) in self.descriptor.ranges(pin) {
            size = size
                .saturating_add(r.FormatSize as usize)
                .next_multiple_of(8);
        }
        let mut bytes: Vec<u8> = Vec::new();
        if bytes.try_reserve_exact(size).is_err() {
            return Completion::fail(STATUS_INSUFFICIENT_RESOURCES);
        }
        let (Ok(size32), count) = (u32::try_from(size), pin.KsPinDescriptor.DataRangesCount) else {
            return Completion::fail(STATUS_INSUFFICIENT_RESOURCES);
        };
        bytes.extend_from_slice(&size32.to_ne_bytes());
        bytes.extend_from_slice(&count.to_ne_bytes());
        for (p, r) in self.descriptor.ranges(pin) {
            // SAFETY: the range's pointer covers `FormatSize` readable bytes (descriptor
            // contract; the walk checked it is at least a KSDATARANGE).
            let range =
                unsafe { core::slice::from_raw_parts(p.cast::<u8>(), r.FormatSize as usize) };
            bytes.extend_from_slice(range);
            bytes.resize(bytes.len().next_multiple_of(8), 0);
        }
        answer(value, &bytes)
    }

    /// `KSPROPERTY_PIN_DATAINTERSECTION` on pin factory `pin_id`: `ranges` is the client's list
    /// (a `KSMULTIPLE_ITEM`, then its ranges, each on an 8-byte boundary), `value` the output
    /// buffer for the format chosen (empty: a size query).
    ///
    /// For each client range in order, each of the pin's ranges in order whose major format,
    /// subformat and specifier are compatible (equal, or either side the wildcard) goes to the
    /// miniport's `IMiniport::DataRangeIntersection` (`kernel.md` §4.4): its success, size
    /// answer (`STATUS_BUFFER_OVERFLOW` with the size) or `STATUS_BUFFER_TOO_SMALL` is the
    /// answer; `STATUS_NO_MATCH` tries the next pair; `STATUS_NOT_IMPLEMENTED` takes the port's
    /// default (Windows documents its own for PCM only): for a MIDI or DirectMusic range (major
    /// format `KSDATAFORMAT_TYPE_MUSIC`, subformat `…_MIDI` or `…_DIRECTMUSIC` on one side,
    /// the other side equal or the wildcard) a bare 64-byte `KSDATAFORMAT` — MUSIC, that
    /// subformat, `KSDATAFORMAT_SPECIFIER_NONE`, as clients send it (`kernel.md` §4.2) — and no
    /// match for any other range (a bridge's `MIDI_BUS`, PCM, …). Unlike ReactOS,
    /// which offers only a pin's first range, every range is tried. Any other status of the
    /// miniport is returned.
    ///
    /// | refusal | status |
    /// |---|---|
    /// | no pin factory `pin_id`; a list shorter than its header, whose `Size` exceeds the buffer, or with a range shorter than a `KSDATARANGE` or past the list's end | `STATUS_INVALID_PARAMETER` |
    /// | no pair matches | `STATUS_NO_MATCH` |
    /// | a miniport's success whose length exceeds the buffer | `STATUS_UNSUCCESSFUL` |
    pub fn data_intersection(&self, pin_id: u32, ranges: &[u8], value: &mut [u8]) -> Completion {
        let Some(pin) = self.descriptor.pin(pin_id) else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let (Some(size), Some(count)) = (read_u32(ranges, 0), read_u32(ranges, 4)) else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let Some(list) = ranges.get(..size as usize) else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let mut at = size_of::<KSMULTIPLE_ITEM>();
        for _ in 0..count {
            let Some(format_size) = read_u32(list, at) else {
                return Completion::fail(STATUS_INVALID_PARAMETER);
            };
            let end = at.saturating_add(format_size as usize);
            let (true, Some(client)) = (
                format_size as usize >= size_of::<KSDATARANGE>(),
                list.get(at..end),
            ) else {
                return Completion::fail(STATUS_INVALID_PARAMETER);
            };
            let Ok(mut client_copy) = aligned(client, client.len()) else {
                return Completion::fail(STATUS_INSUFFICIENT_RESOURCES);
            };
            let client_ptr = client_copy.as_mut_ptr().cast::<KSDATARANGE>();
            // SAFETY: an 8-byte-aligned copy of at least a KSDATARANGE's bytes.
            let client_range = unsafe { client_ptr.read() };
            for (pin_ptr, pin_range) in self.descriptor.ranges(pin) {
                if !compatible(&pin_range.MajorFormat, &client_range.MajorFormat)
                    || !compatible(&pin_range.SubFormat, &client_range.SubFormat)
                    || !compatible(&pin_range.Specifier, &client_range.Specifier)
                {
                    continue;
                }
                let c = self.intersect_one(pin_id, client_ptr, pin_ptr, &client_range, value);
                if c.status != STATUS_NO_MATCH {
                    return c;
                }
            }
            at = end.next_multiple_of(8);
        }
        Completion::fail(STATUS_NO_MATCH)
    }

    /// One (client range, pin range) pair: the miniport, then the default.
    fn intersect_one(
        &self,
        pin_id: u32,
        client_ptr: *mut KSDATARANGE,
        pin_ptr: *const KSDATARANGE,
        client_range: &KSDATARANGE,
        value: &mut [u8],
    ) -> Completion {
        let Ok(mut out) = aligned(&[], value.len()) else {
            return Completion::fail(STATUS_INSUFFICIENT_RESOURCES);
        };
        let Ok(len) = u32::try_from(value.len()) else {
            return Completion::fail(STATUS_INVALID_PARAMETER);
        };
        let mut result_len: u32 = 0;
        // SAFETY: the client range is an aligned copy of `FormatSize` bytes, the pin range the
        // miniport's own, the output `len` writable bytes (NULL for a size query), `result_len`
        // a valid out-pointer.
        let status = unsafe {
            self.miniport.DataRangeIntersection(
                pin_id,
                client_ptr.cast(),
                pin_ptr.cast_mut().cast(),
                len,
                if value.is_empty() {
                    core::ptr::null_mut()
                } else {
                    out.as_mut_ptr().cast()
                },
                &mut result_len,
            )
        };
        if status == STATUS_NOT_IMPLEMENTED {
            // SAFETY: a range of the descriptor (walked: non-NULL, aligned, a KSDATARANGE).
            return default_intersection(unsafe { &*pin_ptr }, client_range, value);
        }
        if status == STATUS_BUFFER_OVERFLOW {
            return Completion {
                status,
                information: result_len,
            };
        }
        if !status.is_success() {
            return Completion::fail(status);
        }
        let n = result_len as usize;
        match (value.get_mut(..n), as_bytes_mut(&mut out).get(..n)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                Completion {
                    status,
                    information: result_len,
                }
            }
            _ => Completion::fail(STATUS_UNSUCCESSFUL),
        }
    }
}

/// The port's default intersection for music ranges (see [`Port::data_intersection`]).
fn default_intersection(
    pin_range: &KSDATARANGE,
    client_range: &KSDATARANGE,
    value: &mut [u8],
) -> Completion {
    let pick = |a: &GUID, b: &GUID| if a.to_u128() == 0 { *b } else { *a };
    let major = pick(&pin_range.MajorFormat, &client_range.MajorFormat);
    let sub = pick(&pin_range.SubFormat, &client_range.SubFormat);
    if major != KSDATAFORMAT_TYPE_MUSIC
        || (sub != KSDATAFORMAT_SUBTYPE_MIDI && sub != KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)
    {
        return Completion::fail(STATUS_NO_MATCH);
    }
    let format = KSDATAFORMAT {
        FormatSize: size_of::<KSDATAFORMAT>() as u32,
        Flags: 0,
        SampleSize: 0,
        Reserved: 0,
        MajorFormat: major,
        SubFormat: sub,
        Specifier: KSDATAFORMAT_SPECIFIER_NONE,
    };
    let mut bytes = [0u8; size_of::<KSDATAFORMAT>()];
    // SAFETY: `bytes` has the format's size; the format has no padding (4 ULONGs, 3 GUIDs).
    unsafe {
        bytes
            .as_mut_ptr()
            .cast::<KSDATAFORMAT>()
            .write_unaligned(format)
    };
    answer(value, &bytes)
}
