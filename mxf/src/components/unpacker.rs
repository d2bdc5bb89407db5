//! The render unpackers (`CUnpackerMXF`'s counterparts, `domain.md` §4.2, §5.1, §5.2, §5.4,
//! items 49–56): they turn the bytes of render IRPs into events for the sequencer.
//!
//! An unpacker's upper edge is the port, not IMXF: the pin calls [`Unpacker::sink_irp`] for every
//! locked IRP region and then [`Unpacker::process_queues`], which sends everything queued to the
//! sequencer in one `PutMessage` chain. Two flavours exist, chosen by the pin's data format:
//!
//! * [`DmusUnpacker`] for `KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`: `DMUS_EVENTHEADER` records (§5.1).
//!   Structured records go through the MIDI parser below; unstructured records are copied
//!   verbatim in chunks, flagged INCOMPLETE when more bytes follow the record in the buffer
//!   (Microsoft's quirk, item 52; [`DmusUnpacker::with_raw_chunk_flags`] switches to per-record
//!   flags).
//! * [`KsUnpacker`] for `KSDATAFORMAT_SUBTYPE_MIDI`: `KSMUSICFORMAT` packets, copied as raw
//!   INCOMPLETE chunks on channel group 1, without parsing (§5.4).
//!
//! # The MIDI parser (structured records)
//! Its state survives records and IRPs: running status, a short message cut by a record
//! boundary, and a SysEx spanning records and IRPs.
//! * Real-time bytes (F8–FF) become 1-byte events at once. Inside a SysEx, the SysEx bytes
//!   before them are emitted next, as an INCOMPLETE chunk with the same byte position, and the
//!   SysEx continues.
//! * F0 starts a SysEx, emitted in INCOMPLETE chunks of at most `GetBufferSize()` (240) bytes. Any
//!   status byte ends it: the final chunk is COMPLETE and ends in F7 (a terminator other than F7
//!   is replaced by F7 in the event's copy; the caller's buffer is never written), and a
//!   terminator other than F7 is then parsed as a status byte. A record ending inside a SysEx
//!   emits the bytes so far as an INCOMPLETE chunk. Every chunk of one SysEx carries the time and
//!   channel group of the record holding its F0.
//! * Status bytes start messages of the standard length: 8x/9x/Ax/Bx/Ex 3 bytes, Cx/Dx 2, F1/F3
//!   2, F2 3, F4/F5/F6/F7 1 (a stray F7 is a 1-byte event). Channel statuses set running status,
//!   system common ones clear it. A status byte abandons an unfinished message.
//! * Data bytes outside a message re-create one from running status; without running status
//!   they are dropped (and counted).
//! * A message takes the time and channel group of the record holding its first byte.
//!
//! # Events
//! Time = IRP base time + `rtDelta` (KS: + Σ `TimeDeltaMs` × 10 000); channel group =
//! `dwChannelGroup & 0xFFFF`; `ullBytePosition` = the stream position just past the last byte
//! that produced the event, counting each record's header and padding *before* its data, so the
//! last event of a buffer that ends on a message boundary (or inside a SysEx) lands exactly on
//! the end of the buffer (§2.6, item 54).
//!
//! # Errors
//! * A record that does not fit in the rest of the buffer stops parsing: the last queued event's
//!   position becomes the end of the buffer (so the IRP still completes) and `sink_irp` returns
//!   `STATUS_INVALID_PARAMETER_2` (item 55).
//! * Allocator exhaustion stops parsing: the rest of the buffer is dropped, the message in
//!   progress is abandoned, the last queued event's position becomes the end of the buffer, and
//!   `sink_irp` returns `STATUS_INSUFFICIENT_RESOURCES`. Nothing leaks.
//!
//! # Differences from Microsoft's unpacker
//! * No zero-length SysEx chunk is ever emitted (Microsoft's can emit one when a 240-byte chunk
//!   boundary coincides with the end of a buffer).
//! * Entering `KSSTATE_STOP` resets the MIDI parser, so a new run does not continue a stale
//!   SysEx or running status.
//! * Exhaustion moves the last queued event's position to the end of the buffer, as a truncated
//!   buffer does, so the IRP completes instead of waiting for STOP.
//!
//! # Example
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::components::unpacker::{DmusBufferWriter, DmusUnpacker, Unpacker};
//! use mxf::platform::SpinLock;
//! use mxf::prelude::*;
//!
//! /// Keeps the time and bytes of every event it is given.
//! #[mxf_filter]
//! struct Seen {
//!     events: SpinLock<Vec<(REFERENCE_TIME, Vec<u8>)>>,
//! }
//!
//! impl Filter for Seen {
//!     fn process<'a>(&self, event: Event<'a>, _out: &mut Output<'a>) {
//!         self.events.lock().push((event.time(), event.data().to_vec()));
//!     }
//! }
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let seen = Seen { events: SpinLock::new(Vec::new()) }.into_filter(&alloc)?;
//!
//! let mut bytes = [0u8; 64];
//! let mut buffer = DmusBufferWriter::new(&mut bytes);
//! // Structured: parsed; the second note on uses running status.
//! buffer.push(1, 0, true, &[0x90, 60, 100, 64, 100])?;
//! // Unstructured: copied as it is, 1 ms later.
//! buffer.push(1, 10_000, false, &[0xF8])?;
//!
//! let mut unpacker = DmusUnpacker::new(alloc.interface().clone());
//! assert_eq!(unpacker.connect_output(seen.interface().clone()), STATUS_SUCCESS);
//! // The IRP's presentation time is 1 s; its bytes start the pin's stream (position 0).
//! assert_eq!(unpacker.sink_irp(buffer.as_bytes(), 10_000_000, 0), STATUS_SUCCESS);
//! assert_eq!(unpacker.process_queues(), STATUS_SUCCESS);
//! assert_eq!(
//!     *seen.filter().events.lock(),
//!     [
//!         (10_000_000, vec![0x90, 60, 100]),
//!         (10_000_000, vec![0x90, 64, 100]),
//!         (10_010_000, vec![0xF8]),
//!     ]
//! );
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::{
    DMUS_EVENT_SIZE, DMUS_EVENT_STRUCTURED, DMUS_EVENTHEADER, INLINE_DATA_BYTES, KSMUSICFORMAT,
    KSSTATE, KSSTATE_STOP, NTSTATUS, REFERENCE_TIME, Result, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER_2, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use crate::com::Interface;
use crate::event::{Event, EventList};
use crate::interfaces::{IAllocatorMXF, IMXF};
use core::mem::size_of;

/// `sizeof(DMUS_EVENTHEADER)`.
const DMUS_HEADER: usize = size_of::<DMUS_EVENTHEADER>();
/// `sizeof(KSMUSICFORMAT)`.
const KS_HEADER: usize = size_of::<KSMUSICFORMAT>();
/// The largest chunk ever emitted (Microsoft's `GetBufferSize`).
const MAX_CHUNK: usize = 240;
/// 100 ns units per millisecond.
const UNITS_PER_MS: i64 = 10_000;
/// The channel group of every KS-format event.
const KS_CHANNEL_GROUP: u16 = 1;

/// The port's view of an unpacker: one per render pin.
pub trait Unpacker: Send {
    /// Connects the output (`domain.md` §1.3): `STATUS_UNSUCCESSFUL` if an output is already
    /// connected (the connection is never replaced).
    fn connect_output(&mut self, sink: IMXF) -> NTSTATUS;
    /// Disconnects `sink`, or whatever is connected for `None`; `STATUS_UNSUCCESSFUL` if `sink`
    /// is not the connected output. Output then goes to the allocator.
    fn disconnect_output(&mut self, sink: Option<&IMXF>) -> NTSTATUS;
    /// Parses one IRP buffer. `base_time`: the IRP's presentation time (100 ns); `stream_offset`:
    /// bytes of the pin's stream before this buffer (S in item 54). Events are queued (not sent)
    /// with ullBytePosition per §2.6/§5.2.
    fn sink_irp(&mut self, data: &[u8], base_time: i64, stream_offset: u64) -> NTSTATUS;
    /// Sends everything queued downstream as one PutMessage chain (to the allocator if
    /// unconnected).
    fn process_queues(&mut self) -> NTSTATUS;
    /// Records the pin's state.
    fn set_state(&mut self, state: KSSTATE);
    /// Events queued and not yet sent.
    fn queued(&self) -> usize;
    /// The counters (all zero for an implementation that keeps none).
    fn stats(&self) -> UnpackerStats {
        UnpackerStats::default()
    }
}

/// What an unpacker counted since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnpackerStats {
    /// `sink_irp` calls.
    pub irps: u64,
    /// Bytes passed to `sink_irp`.
    pub bytes: u64,
    /// Events queued.
    pub events: u64,
    /// Downstream `PutMessage` calls made by `process_queues`.
    pub deliveries: u64,
    /// Data bytes dropped because no running status applied.
    pub dropped_bytes: u64,
    /// Buffers whose last record was truncated.
    pub truncated: u64,
    /// Buffers cut short because the allocator was exhausted.
    pub exhausted: u64,
}

/// Sets the byte position of the last queued event, if any.
fn set_last_position(queue: &mut EventList, pos: u64) {
    // SAFETY: only the byte position is written, which owns nothing.
    if let Some(last) = unsafe { queue.last_mut() } {
        last.ullBytePosition = pos;
    }
}

/// Creates events and queues them.
struct Emitter<'a> {
    alloc: &'a IAllocatorMXF,
    queue: &'a mut EventList,
    chunk: usize,
    events: &'a mut u64,
}

impl<'a> Emitter<'a> {
    fn make(
        &self,
        bytes: &[u8],
        group: u16,
        time: REFERENCE_TIME,
        incomplete: bool,
        pos: u64,
    ) -> Result<Event<'a>> {
        let mut e = Event::new(self.alloc).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        // On failure `e` is dropped, which returns it to the allocator.
        e.set_bytes(bytes)?;
        e.set_channel_group(group);
        e.set_time(time);
        e.set_incomplete(incomplete);
        e.set_byte_position(pos);
        Ok(e)
    }

    fn push(&mut self, e: Event<'a>) {
        self.queue.push_back(e);
        *self.events = self.events.saturating_add(1);
    }

    fn emit(
        &mut self,
        bytes: &[u8],
        group: u16,
        time: REFERENCE_TIME,
        incomplete: bool,
        pos: u64,
    ) -> Result<()> {
        let e = self.make(bytes, group, time, incomplete, pos)?;
        self.push(e);
        Ok(())
    }

    /// Emits the final chunk of a SysEx: `bytes` ends with the terminating status byte, which the
    /// event's copy turns into F7.
    fn emit_terminated(
        &mut self,
        bytes: &[u8],
        group: u16,
        time: REFERENCE_TIME,
        pos: u64,
    ) -> Result<()> {
        let mut e = self.make(bytes, group, time, false, pos)?;
        if let Some(last) = e.data_mut().last_mut() {
            *last = 0xF7;
        }
        self.push(e);
        Ok(())
    }

    /// Copies `data` verbatim in chunks; the chunk ending at byte `k` gets position
    /// `data_pos + k`.
    fn emit_raw(
        &mut self,
        data: &[u8],
        group: u16,
        time: REFERENCE_TIME,
        incomplete: bool,
        data_pos: u64,
    ) -> Result<()> {
        self.emit_chunks(data, group, time, data_pos, |_| incomplete)
    }

    /// Raw bytes in chunks, each INCOMPLETE but the last ([`RawChunkFlags::PerRecord`]).
    fn emit_raw_per_record(
        &mut self,
        data: &[u8],
        group: u16,
        time: REFERENCE_TIME,
        data_pos: u64,
    ) -> Result<()> {
        let len = data.len();
        self.emit_chunks(data, group, time, data_pos, |end| end < len)
    }

    /// Raw bytes in chunks of at most `chunk` bytes; `incomplete(end)` flags the chunk that
    /// ends at offset `end`.
    fn emit_chunks(
        &mut self,
        data: &[u8],
        group: u16,
        time: REFERENCE_TIME,
        data_pos: u64,
        incomplete: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let mut done = 0usize;
        while done < data.len() {
            let end = done.saturating_add(self.chunk).min(data.len());
            let Some(piece) = data.get(done..end) else {
                break;
            };
            done = end;
            self.emit(
                piece,
                group,
                time,
                incomplete(end),
                data_pos.saturating_add(len64(done)),
            )?;
        }
        Ok(())
    }
}

/// What both unpackers share: the allocator, the output, the queue, the state, the counters.
struct Core {
    alloc: IAllocatorMXF,
    sink: Option<IMXF>,
    queue: EventList,
    state: KSSTATE,
    chunk: usize,
    stats: UnpackerStats,
}

impl Core {
    fn new(alloc: IAllocatorMXF) -> Self {
        // The allocator's buffer size is constant: query it once.
        let size = usize::from(alloc.GetBufferSize());
        Self {
            alloc,
            sink: None,
            queue: EventList::new(),
            state: KSSTATE_STOP,
            chunk: size.clamp(INLINE_DATA_BYTES.max(2), MAX_CHUNK),
            stats: UnpackerStats::default(),
        }
    }

    fn emitter(&mut self) -> Emitter<'_> {
        Emitter {
            alloc: &self.alloc,
            queue: &mut self.queue,
            chunk: self.chunk,
            events: &mut self.stats.events,
        }
    }

    fn begin(&mut self, data: &[u8]) {
        self.stats.irps = self.stats.irps.saturating_add(1);
        self.stats.bytes = self.stats.bytes.saturating_add(len64(data.len()));
    }

    fn truncated(&mut self, end: u64) -> NTSTATUS {
        self.stats.truncated = self.stats.truncated.saturating_add(1);
        set_last_position(&mut self.queue, end);
        STATUS_INVALID_PARAMETER_2
    }

    fn exhausted(&mut self, end: u64, status: NTSTATUS) -> NTSTATUS {
        self.stats.exhausted = self.stats.exhausted.saturating_add(1);
        set_last_position(&mut self.queue, end);
        status
    }

    fn connect_output(&mut self, sink: IMXF) -> NTSTATUS {
        if self.sink.is_some() {
            return STATUS_UNSUCCESSFUL;
        }
        self.sink = Some(sink);
        STATUS_SUCCESS
    }

    fn disconnect_output(&mut self, sink: Option<&IMXF>) -> NTSTATUS {
        match sink {
            None => {
                self.sink = None;
                STATUS_SUCCESS
            }
            Some(s) if self.sink.as_ref().is_some_and(|c| c.as_raw() == s.as_raw()) => {
                self.sink = None;
                STATUS_SUCCESS
            }
            Some(_) => STATUS_UNSUCCESSFUL,
        }
    }

    fn process_queues(&mut self) -> NTSTATUS {
        let head = self.queue.take();
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        self.stats.deliveries = self.stats.deliveries.saturating_add(1);
        // SAFETY: the chain is ours and handed over whole; `sink` and `alloc` are live
        // interfaces we hold references to.
        unsafe {
            match &self.sink {
                Some(s) => s.PutMessage(head),
                None => self.alloc.PutMessage(head),
            }
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let head = self.queue.take();
        if !head.is_null() {
            // SAFETY: the queued events are ours; the allocator takes the whole chain back.
            unsafe { self.alloc.PutMessage(head) };
        }
    }
}

/// `len` as a `u64` (saturating on a hypothetical wider `usize`).
fn len64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn read_i64(b: &[u8], at: usize) -> Option<i64> {
    let bytes = b.get(at..at.checked_add(8)?)?;
    Some(i64::from_ne_bytes(bytes.try_into().ok()?))
}

/// Copies `src` into `dst` from `at` (never past the end of `dst`).
fn write_at(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..) {
        for (d, s) in d.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

/// The length of a message with status byte `status` (channel statuses; system common ones
/// are handled by the caller).
fn channel_message_len(status: u8) -> usize {
    if status & 0xE0 == 0xC0 { 2 } else { 3 }
}

/// Where a message or SysEx began.
#[derive(Clone, Copy)]
struct Origin {
    time: REFERENCE_TIME,
    group: u16,
}

/// The running MIDI parser of the DirectMusic unpacker (see the module docs).
struct MidiParser {
    /// Running status (a channel status byte), 0 if none.
    running: u8,
    /// The short message in progress.
    msg: [u8; 3],
    /// Bytes of `msg` so far (0: no message in progress).
    have: usize,
    /// Length of the message in progress.
    need: usize,
    /// Where the message in progress began.
    msg_origin: Origin,
    /// Inside a SysEx: where it began.
    sysex: Option<Origin>,
    /// Data bytes dropped for lack of running status.
    dropped: u64,
}

impl MidiParser {
    const fn new() -> Self {
        Self {
            running: 0,
            msg: [0; 3],
            have: 0,
            need: 0,
            msg_origin: Origin { time: 0, group: 0 },
            sysex: None,
            dropped: 0,
        }
    }

    /// Forgets everything in progress (the counters stay).
    fn reset(&mut self) {
        let dropped = self.dropped;
        *self = Self::new();
        self.dropped = dropped;
    }

    fn start(&mut self, status: u8, need: usize, origin: Origin) {
        self.msg = [status, 0, 0];
        self.have = 1;
        self.need = need;
        self.msg_origin = origin;
    }

    /// Parses the data of one structured record whose first byte is at stream position
    /// `data_pos`.
    fn parse(
        &mut self,
        data: &[u8],
        origin: Origin,
        data_pos: u64,
        em: &mut Emitter<'_>,
    ) -> Result<()> {
        // Start (index into `data`) of the SysEx bytes not yet emitted.
        let mut chunk_start = 0usize;
        for (i, &b) in data.iter().enumerate() {
            let after = i.saturating_add(1);
            let pos = data_pos.saturating_add(len64(after));
            if b >= 0xF8 {
                em.emit(&[b], origin.group, origin.time, false, pos)?;
                if let Some(sx) = self.sysex {
                    let pending = data.get(chunk_start..i).unwrap_or(&[]);
                    if !pending.is_empty() {
                        em.emit(pending, sx.group, sx.time, true, pos)?;
                    }
                    chunk_start = after;
                }
                continue;
            }
            if let Some(sx) = self.sysex {
                if b < 0x80 {
                    if after.saturating_sub(chunk_start) >= em.chunk {
                        let piece = data.get(chunk_start..after).unwrap_or(&[]);
                        em.emit(piece, sx.group, sx.time, true, pos)?;
                        chunk_start = after;
                    }
                    continue;
                }
                // Any other status byte ends the SysEx.
                self.sysex = None;
                let piece = data.get(chunk_start..after).unwrap_or(&[]);
                em.emit_terminated(piece, sx.group, sx.time, pos)?;
                if b == 0xF7 {
                    continue;
                }
            }
            if b >= 0x80 {
                // A status byte abandons an unfinished message.
                self.have = 0;
                match b {
                    0xF0 => {
                        self.running = 0;
                        self.sysex = Some(origin);
                        chunk_start = i;
                    }
                    0x80..=0xEF => {
                        self.running = b;
                        self.start(b, channel_message_len(b), origin);
                    }
                    0xF1 | 0xF3 => {
                        self.running = 0;
                        self.start(b, 2, origin);
                    }
                    0xF2 => {
                        self.running = 0;
                        self.start(b, 3, origin);
                    }
                    _ => {
                        // F4, F5, F6 and a stray F7: 1-byte messages.
                        self.running = 0;
                        em.emit(&[b], origin.group, origin.time, false, pos)?;
                    }
                }
                continue;
            }
            // A data byte.
            if self.have == 0 {
                if self.running == 0 {
                    self.dropped = self.dropped.saturating_add(1);
                    continue;
                }
                self.start(self.running, channel_message_len(self.running), origin);
            }
            if let Some(slot) = self.msg.get_mut(self.have) {
                *slot = b;
            }
            self.have = self.have.saturating_add(1);
            if self.have >= self.need {
                let n = self.need;
                self.have = 0;
                let o = self.msg_origin;
                let msg = self.msg;
                em.emit(msg.get(..n).unwrap_or(&msg), o.group, o.time, false, pos)?;
            }
        }
        if let Some(sx) = self.sysex {
            let pending = data.get(chunk_start..).unwrap_or(&[]);
            if !pending.is_empty() {
                let end = data_pos.saturating_add(len64(data.len()));
                em.emit(pending, sx.group, sx.time, true, end)?;
            }
        }
        Ok(())
    }
}

/// How the chunks of an unstructured record are flagged (`domain.md` item 52).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RawChunkFlags {
    /// Microsoft's (the default, bug-compatible): every chunk is INCOMPLETE exactly when more
    /// bytes follow the record in the IRP buffer, so a record alone in its buffer gives only
    /// COMPLETE chunks, and one followed by another only INCOMPLETE ones.
    #[default]
    MoreInBuffer,
    /// Per record: every chunk but the record's last is INCOMPLETE (the record's bytes continue
    /// in the next event), whatever follows the record.
    PerRecord,
}

/// The DirectMusic-format unpacker (`KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`: `DMUS_EVENTHEADER`
/// records). See the module docs.
pub struct DmusUnpacker {
    core: Core,
    parser: MidiParser,
    raw_flags: RawChunkFlags,
}

impl DmusUnpacker {
    /// A new unpacker returning events to `alloc` (and sending there until connected).
    pub fn new(alloc: IAllocatorMXF) -> Self {
        Self {
            core: Core::new(alloc),
            parser: MidiParser::new(),
            raw_flags: RawChunkFlags::default(),
        }
    }

    /// The same, flagging unstructured chunks by `rule` (item 52's quirk is the default).
    pub fn with_raw_chunk_flags(mut self, rule: RawChunkFlags) -> Self {
        self.raw_flags = rule;
        self
    }

    /// The state last set.
    pub fn state(&self) -> KSSTATE {
        self.core.state
    }
}

impl Unpacker for DmusUnpacker {
    fn connect_output(&mut self, sink: IMXF) -> NTSTATUS {
        self.core.connect_output(sink)
    }

    fn disconnect_output(&mut self, sink: Option<&IMXF>) -> NTSTATUS {
        self.core.disconnect_output(sink)
    }

    fn sink_irp(&mut self, data: &[u8], base_time: i64, stream_offset: u64) -> NTSTATUS {
        self.core.begin(data);
        let end = stream_offset.saturating_add(len64(data.len()));
        let mut off = 0usize;
        while off < data.len() {
            let rest = data.get(off..).unwrap_or(&[]);
            let (Some(cb), Some(group), Some(delta), Some(flags)) = (
                read_u32(rest, 0),
                read_u32(rest, 4),
                read_i64(rest, 8),
                read_u32(rest, 16),
            ) else {
                return self.core.truncated(end);
            };
            let Ok(cb) = usize::try_from(cb) else {
                return self.core.truncated(end);
            };
            let size = DMUS_EVENT_SIZE(cb);
            let payload = DMUS_HEADER
                .checked_add(cb)
                .and_then(|data_end| rest.get(DMUS_HEADER..data_end));
            let (Some(payload), true) = (payload, rest.len() >= size) else {
                return self.core.truncated(end);
            };
            let next = off.saturating_add(size);
            // Header and padding count before the data.
            let lead = size.saturating_sub(cb);
            let data_pos = stream_offset
                .saturating_add(len64(off))
                .saturating_add(len64(lead));
            let origin = Origin {
                time: base_time.saturating_add(delta),
                group: (group & 0xFFFF) as u16,
            };
            let r = if flags & DMUS_EVENT_STRUCTURED != 0 {
                let mut em = self.core.emitter();
                let r = self.parser.parse(payload, origin, data_pos, &mut em);
                self.core.stats.dropped_bytes = self.parser.dropped;
                r
            } else {
                let mut em = self.core.emitter();
                match self.raw_flags {
                    // Bug-compatible: INCOMPLETE means "more bytes follow this record in the
                    // buffer".
                    RawChunkFlags::MoreInBuffer => {
                        let more = next < data.len();
                        em.emit_raw(payload, origin.group, origin.time, more, data_pos)
                    }
                    RawChunkFlags::PerRecord => {
                        em.emit_raw_per_record(payload, origin.group, origin.time, data_pos)
                    }
                }
            };
            if let Err(s) = r {
                self.parser.reset();
                return self.core.exhausted(end, s);
            }
            off = next;
        }
        STATUS_SUCCESS
    }

    fn process_queues(&mut self) -> NTSTATUS {
        self.core.process_queues()
    }

    fn set_state(&mut self, state: KSSTATE) {
        if state == KSSTATE_STOP && self.core.state != KSSTATE_STOP {
            self.parser.reset();
        }
        self.core.state = state;
    }

    fn queued(&self) -> usize {
        self.core.queue.len()
    }

    fn stats(&self) -> UnpackerStats {
        self.core.stats
    }
}

/// The legacy KS-format unpacker (`KSDATAFORMAT_SUBTYPE_MIDI`: `KSMUSICFORMAT` packets). It does
/// not parse: every packet's bytes become raw INCOMPLETE chunks on channel group 1.
pub struct KsUnpacker {
    core: Core,
}

impl KsUnpacker {
    /// A new unpacker returning events to `alloc` (and sending there until connected).
    pub fn new(alloc: IAllocatorMXF) -> Self {
        Self {
            core: Core::new(alloc),
        }
    }

    /// The state last set.
    pub fn state(&self) -> KSSTATE {
        self.core.state
    }
}

impl Unpacker for KsUnpacker {
    fn connect_output(&mut self, sink: IMXF) -> NTSTATUS {
        self.core.connect_output(sink)
    }

    fn disconnect_output(&mut self, sink: Option<&IMXF>) -> NTSTATUS {
        self.core.disconnect_output(sink)
    }

    fn sink_irp(&mut self, data: &[u8], base_time: i64, stream_offset: u64) -> NTSTATUS {
        self.core.begin(data);
        let end = stream_offset.saturating_add(len64(data.len()));
        let mut time = base_time;
        let mut off = 0usize;
        while off < data.len() {
            let rest = data.get(off..).unwrap_or(&[]);
            let (Some(delta_ms), Some(count)) = (read_u32(rest, 0), read_u32(rest, 4)) else {
                return self.core.truncated(end);
            };
            time = time.saturating_add(i64::from(delta_ms).saturating_mul(UNITS_PER_MS));
            let Ok(cb) = usize::try_from(count) else {
                return self.core.truncated(end);
            };
            let Some(payload) = KS_HEADER
                .checked_add(cb)
                .and_then(|data_end| rest.get(KS_HEADER..data_end))
            else {
                return self.core.truncated(end);
            };
            // Packets are padded to 4 bytes; the last one's padding may be missing.
            let padded = (KS_HEADER.saturating_add(cb).saturating_add(3) & !3).min(rest.len());
            let lead = padded.saturating_sub(cb);
            let data_pos = stream_offset
                .saturating_add(len64(off))
                .saturating_add(len64(lead));
            let r = self
                .core
                .emitter()
                .emit_raw(payload, KS_CHANNEL_GROUP, time, true, data_pos);
            if let Err(s) = r {
                return self.core.exhausted(end, s);
            }
            off = off.saturating_add(padded);
        }
        STATUS_SUCCESS
    }

    fn process_queues(&mut self) -> NTSTATUS {
        self.core.process_queues()
    }

    fn set_state(&mut self, state: KSSTATE) {
        self.core.state = state;
    }

    fn queued(&self) -> usize {
        self.core.queue.len()
    }

    fn stats(&self) -> UnpackerStats {
        self.core.stats
    }
}

/// Builds DirectMusic-format buffers (for the port, tests and the SMF player): appends one record.
pub struct DmusBufferWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> DmusBufferWriter<'a> {
    /// A writer filling `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends a record (header + data + padding to 8). Err(STATUS_INSUFFICIENT_RESOURCES) if it
    /// does not fit.
    pub fn push(
        &mut self,
        channel_group: u32,
        rt_delta: i64,
        structured: bool,
        data: &[u8],
    ) -> Result<()> {
        let cb = u32::try_from(data.len()).map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        let size = DMUS_EVENT_SIZE(data.len());
        if size < DMUS_HEADER.saturating_add(data.len()) {
            // DMUS_EVENT_SIZE saturated: far too large for any buffer.
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        let end = self
            .len
            .checked_add(size)
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let record = self
            .buf
            .get_mut(self.len..end)
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        record.fill(0);
        let flags = if structured { DMUS_EVENT_STRUCTURED } else { 0 };
        write_at(record, 0, &cb.to_ne_bytes());
        write_at(record, 4, &channel_group.to_ne_bytes());
        write_at(record, 8, &rt_delta.to_ne_bytes());
        write_at(record, 16, &flags.to_ne_bytes());
        write_at(record, DMUS_HEADER, data);
        self.len = end;
        Ok(())
    }

    /// Bytes written so far (whole records, padding included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// Builds legacy KS-format (`KSMUSICFORMAT`) buffers: appends one packet.
pub struct KsBufferWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> KsBufferWriter<'a> {
    /// A writer filling `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends a packet (header + data + padding to 4), `time_delta_ms` after the previous one.
    /// Err(STATUS_INSUFFICIENT_RESOURCES) if it does not fit.
    pub fn push(&mut self, time_delta_ms: u32, data: &[u8]) -> Result<()> {
        let count = u32::try_from(data.len()).map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
        let size = KS_HEADER
            .checked_add(data.len())
            .and_then(|n| n.checked_add(3))
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)?
            & !3;
        let end = self
            .len
            .checked_add(size)
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let packet = self
            .buf
            .get_mut(self.len..end)
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        packet.fill(0);
        write_at(packet, 0, &time_delta_ms.to_ne_bytes());
        write_at(packet, 4, &count.to_ne_bytes());
        write_at(packet, KS_HEADER, data);
        self.len = end;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packets written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    use crate::abi::DMUS_KERNEL_EVENT;
    use crate::abi::{
        DMUS_KEF_EVENT_INCOMPLETE, KSSTATE_ACQUIRE, KSSTATE_RUN, STATUS_INVALID_PARAMETER,
        kBytePositionNone,
    };
    use crate::allocator::{AllocatorConfig, AllocatorHandle};
    use crate::com::{ComRef, IntoComObject};
    use crate::components::sequencer::SequencerHandle;
    use crate::event::Chain;
    use crate::interfaces::{IMXF_Impl, IMasterClock, IMasterClock_Impl};
    use crate::platform::atomic::{AtomicI64, Ordering};
    use std::boxed::Box;
    use std::sync::{Arc, Mutex};
    use std::vec;
    use std::vec::Vec;

    /// One event as the sink saw it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Seen {
        bytes: Vec<u8>,
        time: i64,
        group: u16,
        flags: u16,
        pos: u64,
    }

    impl Seen {
        fn incomplete(&self) -> bool {
            self.flags & DMUS_KEF_EVENT_INCOMPLETE != 0
        }
    }

    /// Records every PutMessage (one entry per call) and returns the events to the allocator.
    #[crate::com_object(IMXF)]
    struct Recorder {
        alloc: IAllocatorMXF,
        calls: Arc<Mutex<Vec<Vec<Seen>>>>,
    }

    impl IMXF_Impl for Recorder {
        fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
            STATUS_SUCCESS
        }
        unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            if event.is_null() {
                return STATUS_SUCCESS;
            }
            // SAFETY: the chain is handed to us; its events come from `alloc`.
            let chain = unsafe { Chain::from_raw(event, &self.alloc) };
            let seen = chain
                .map(|e| Seen {
                    bytes: e.data().to_vec(),
                    time: e.time(),
                    group: e.channel_group(),
                    flags: e.raw().usFlags,
                    pos: e.raw().ullBytePosition,
                })
                .collect();
            self.calls.lock().unwrap().push(seen);
            STATUS_SUCCESS
        }
        fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
        fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
    }

    #[crate::com_object(IMasterClock)]
    struct TestClock(Arc<AtomicI64>);

    impl IMasterClock_Impl for TestClock {
        unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
            if time.is_null() {
                return STATUS_INVALID_PARAMETER;
            }
            // SAFETY: non-NULL out-pointer from the caller.
            unsafe { time.write(self.0.load(Ordering::Relaxed)) };
            STATUS_SUCCESS
        }
    }

    struct Rig {
        alloc: AllocatorHandle,
        calls: Arc<Mutex<Vec<Vec<Seen>>>>,
        sink: IMXF,
    }

    impl Rig {
        fn new() -> Self {
            Self::with(AllocatorConfig::default())
        }
        fn with(config: AllocatorConfig) -> Self {
            let alloc = AllocatorHandle::new(config, None).unwrap();
            let calls = Arc::new(Mutex::new(Vec::new()));
            let sink: IMXF = Recorder {
                alloc: alloc.interface().clone(),
                calls: calls.clone(),
            }
            .into_com()
            .unwrap();
            Self { alloc, calls, sink }
        }
        fn dmus(&self) -> DmusUnpacker {
            let mut u = DmusUnpacker::new(self.alloc.interface().clone());
            assert_eq!(u.connect_output(self.sink.clone()), STATUS_SUCCESS);
            u
        }
        fn ks(&self) -> KsUnpacker {
            let mut u = KsUnpacker::new(self.alloc.interface().clone());
            assert_eq!(u.connect_output(self.sink.clone()), STATUS_SUCCESS);
            u
        }
        /// Everything delivered so far, flattened.
        fn seen(&self) -> Vec<Seen> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .flatten()
                .cloned()
                .collect()
        }
        fn deliveries(&self) -> usize {
            self.calls.lock().unwrap().len()
        }
        fn bytes(&self) -> Vec<Vec<u8>> {
            self.seen().into_iter().map(|s| s.bytes).collect()
        }
        fn outstanding(&self) -> u64 {
            self.alloc.stats().outstanding_events
        }
    }

    /// A DirectMusic buffer of `(group, rt_delta, structured, data)` records.
    fn dmus_buffer(records: &[(u32, i64, bool, &[u8])]) -> Vec<u8> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut w = DmusBufferWriter::new(&mut buf);
        for &(g, d, s, data) in records {
            w.push(g, d, s, data).unwrap();
        }
        let n = w.len();
        buf.truncate(n);
        buf
    }

    /// One structured record per item, group 1, delta 0.
    fn structured(records: &[&[u8]]) -> Vec<u8> {
        let r: Vec<(u32, i64, bool, &[u8])> = records.iter().map(|d| (1, 0, true, *d)).collect();
        dmus_buffer(&r)
    }

    /// Parses `buf` and delivers it, returning the status of `sink_irp`.
    fn feed(u: &mut dyn Unpacker, buf: &[u8], base: i64, offset: u64) -> NTSTATUS {
        let s = u.sink_irp(buf, base, offset);
        assert_eq!(u.process_queues(), STATUS_SUCCESS);
        s
    }

    #[test]
    fn item_49_record_sizes_and_header_size() {
        assert_eq!(size_of::<DMUS_EVENTHEADER>(), 20);
        for (cb, size) in [
            (0, 24),
            (1, 24),
            (4, 24),
            (5, 32),
            (12, 32),
            (13, 40),
            (20, 40),
            (240, 264),
        ] {
            assert_eq!(DMUS_EVENT_SIZE(cb), size, "cb = {cb}");
            assert_eq!(DMUS_EVENT_SIZE(cb), (20 + cb + 7) & !7);
            let data = vec![0x42u8; cb];
            assert_eq!(dmus_buffer(&[(1, 0, true, &data)]).len(), size);
        }
        // The writer lays out the header as the C struct does.
        let buf = dmus_buffer(&[(0x0002_0003, -7, true, &[0x90, 0x3C, 0x40])]);
        // SAFETY: the buffer holds at least one header; the read is unaligned-safe.
        let h = unsafe { buf.as_ptr().cast::<DMUS_EVENTHEADER>().read_unaligned() };
        let (cb, g, d, f) = (h.cbEvent, h.dwChannelGroup, h.rtDelta, h.dwFlags);
        assert_eq!((cb, g, d, f), (3, 0x0002_0003, -7, DMUS_EVENT_STRUCTURED));
        assert_eq!(&buf[20..23], [0x90, 0x3C, 0x40]);
        assert_eq!(buf[23], 0, "padding is zero");
    }

    #[test]
    fn item_49_writer_refuses_records_that_do_not_fit() {
        let mut buf = [0u8; 40];
        let mut w = DmusBufferWriter::new(&mut buf);
        assert!(w.is_empty());
        w.push(1, 0, true, &[0x90, 1, 2]).unwrap();
        assert_eq!(w.len(), 24);
        assert_eq!(
            w.push(1, 0, true, &[0x90, 1, 2]),
            Err(STATUS_INSUFFICIENT_RESOURCES)
        );
        assert_eq!(w.len(), 24, "a failed push writes nothing");
        assert_eq!(w.as_bytes().len(), 24);
        let mut big = [0u8; 8];
        let mut k = KsBufferWriter::new(&mut big);
        assert_eq!(k.push(0, &[1]), Err(STATUS_INSUFFICIENT_RESOURCES));
        assert!(k.is_empty());
    }

    #[test]
    fn item_50_structured_record_time_group_flags() {
        let r = Rig::new();
        let mut u = r.dmus();
        let b = 5_000_000i64;
        let buf = dmus_buffer(&[(0x0007_0002, 12_345, true, &[0x90, 0x3C, 0x40])]);
        assert_eq!(feed(&mut u, &buf, b, 0), STATUS_SUCCESS);
        let seen = r.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].bytes, [0x90, 0x3C, 0x40]);
        assert_eq!(seen[0].time, b + 12_345);
        assert_eq!(seen[0].group, 0x0002, "dwChannelGroup & 0xFFFF");
        assert_eq!(seen[0].flags, 0);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_51_running_status_within_and_across_records_and_irps() {
        let r = Rig::new();
        let mut u = r.dmus();
        let buf = structured(&[&[0x90, 0x3C, 0x40, 0x3E, 0x40], &[0x3C, 0x00]]);
        assert_eq!(feed(&mut u, &buf, 0, 0), STATUS_SUCCESS);
        let buf2 = structured(&[&[0x3E, 0x00]]);
        assert_eq!(feed(&mut u, &buf2, 0, buf.len() as u64), STATUS_SUCCESS);
        assert_eq!(
            r.bytes(),
            [
                vec![0x90, 0x3C, 0x40],
                vec![0x90, 0x3E, 0x40],
                vec![0x90, 0x3C, 0x00],
                vec![0x90, 0x3E, 0x00]
            ]
        );
        // Two-byte channel messages run too.
        let buf3 = structured(&[&[0xC5, 0x01, 0x02]]);
        feed(&mut u, &buf3, 0, 0);
        assert_eq!(r.bytes()[4..], [vec![0xC5, 0x01], vec![0xC5, 0x02]]);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_51_short_message_split_across_records_and_irps() {
        let r = Rig::new();
        let mut u = r.dmus();
        let a = dmus_buffer(&[(1, 100, true, &[0x90]), (1, 200, true, &[0x3C])]);
        feed(&mut u, &a, 0, 0);
        assert!(r.seen().is_empty());
        let b = dmus_buffer(&[(1, 300, true, &[0x40])]);
        feed(&mut u, &b, 1_000, a.len() as u64);
        let seen = r.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].bytes, [0x90, 0x3C, 0x40]);
        assert_eq!(
            seen[0].time, 100,
            "a message takes the time of its first byte's record"
        );
        assert_eq!(seen[0].pos, a.len() as u64 + 24);
    }

    #[test]
    fn item_52_unstructured_600_bytes_in_chunks_with_the_buffer_quirk() {
        let r = Rig::new();
        let mut u = r.dmus();
        let mut sysex = vec![0x11u8; 600];
        sysex[0] = 0xF0;
        sysex[599] = 0xF7;
        // Alone in its buffer: no bytes follow the record, so no chunk is INCOMPLETE.
        let alone = dmus_buffer(&[(1, 0, false, &sysex)]);
        assert_eq!(feed(&mut u, &alone, 0, 0), STATUS_SUCCESS);
        let seen = r.seen();
        let lens: Vec<usize> = seen.iter().map(|s| s.bytes.len()).collect();
        assert_eq!(lens, [240, 240, 120]);
        assert!(seen.iter().all(|s| !s.incomplete()));
        let joined: Vec<u8> = seen.iter().flat_map(|s| s.bytes.clone()).collect();
        assert_eq!(joined, sysex, "copied verbatim");
        let end = alone.len() as u64;
        let lead = end - 600;
        assert_eq!(
            seen.iter().map(|s| s.pos).collect::<Vec<_>>(),
            [lead + 240, lead + 480, end]
        );
        // Followed by another record: every chunk is INCOMPLETE, the quirk.
        r.calls.lock().unwrap().clear();
        let followed = dmus_buffer(&[(1, 0, false, &sysex), (1, 0, true, &[0xF8])]);
        assert_eq!(feed(&mut u, &followed, 0, 0), STATUS_SUCCESS);
        let seen = r.seen();
        assert_eq!(seen.len(), 4);
        assert!(seen[..3].iter().all(Seen::incomplete));
        assert!(!seen[3].incomplete());
        assert_eq!(r.deliveries(), 1, "one PutMessage per process_queues");
        // Unstructured bytes never touch the parser: no running status appears.
        r.calls.lock().unwrap().clear();
        let b = dmus_buffer(&[
            (1, 0, false, &[0x90, 0x3C, 0x40]),
            (1, 0, true, &[0x3E, 0x40]),
        ]);
        feed(&mut u, &b, 0, 0);
        assert_eq!(r.bytes(), [vec![0x90, 0x3C, 0x40]]);
        // Switched off: the record's own chunks say whether it goes on, whatever follows.
        for buffer in [&alone, &followed] {
            let mut per = r.dmus().with_raw_chunk_flags(RawChunkFlags::PerRecord);
            r.calls.lock().unwrap().clear();
            assert_eq!(feed(&mut per, buffer, 0, 0), STATUS_SUCCESS);
            let flags: Vec<bool> = r.seen().iter().take(3).map(Seen::incomplete).collect();
            assert_eq!(flags, [true, true, false]);
        }
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.alloc.stats().outstanding_buffers, 0);
    }

    #[test]
    fn item_53_sysex_ended_by_a_status_byte_gets_f7() {
        let r = Rig::new();
        let mut u = r.dmus();
        let data = [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0x90, 0x3C, 0x40];
        let buf = structured(&[&data]);
        let copy = buf.clone();
        assert_eq!(feed(&mut u, &buf, 0, 0), STATUS_SUCCESS);
        assert_eq!(buf, copy, "the caller's buffer is not written");
        let seen = r.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].bytes, [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]);
        assert!(!seen[0].incomplete());
        assert_eq!(seen[1].bytes, [0x90, 0x3C, 0x40]);
        // Terminated by a new F0, and across records: the terminator is the first byte.
        r.calls.lock().unwrap().clear();
        let buf = structured(&[&[0xF0, 0x01], &[0xF0, 0x02, 0xF7]]);
        feed(&mut u, &buf, 0, 0);
        assert_eq!(
            r.bytes(),
            [vec![0xF0, 0x01], vec![0xF7], vec![0xF0, 0x02, 0xF7]]
        );
        let seen = r.seen();
        assert!(seen[0].incomplete() && !seen[1].incomplete() && !seen[2].incomplete());
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_53_long_sysex_in_240_byte_chunks() {
        let r = Rig::new();
        let mut u = r.dmus();
        let mut sysex = vec![0x22u8; 500];
        sysex[0] = 0xF0;
        sysex[499] = 0xF7;
        let buf = dmus_buffer(&[(3, 70, true, &sysex)]);
        feed(&mut u, &buf, 0, 0);
        let seen = r.seen();
        assert_eq!(
            seen.iter().map(|s| s.bytes.len()).collect::<Vec<_>>(),
            [240, 240, 20]
        );
        assert!(seen[0].incomplete() && seen[1].incomplete() && !seen[2].incomplete());
        assert_eq!(seen[0].bytes[0], 0xF0);
        assert_eq!(*seen[2].bytes.last().unwrap(), 0xF7);
        assert!(seen.iter().all(|s| s.group == 3 && s.time == 70));
        // Exactly 240 bytes before the F7: the F7 is a chunk of its own, never an empty chunk.
        r.calls.lock().unwrap().clear();
        let mut sysex = vec![0x22u8; 241];
        sysex[0] = 0xF0;
        sysex[240] = 0xF7;
        let buf = structured(&[&sysex[..240], &sysex[240..]]);
        feed(&mut u, &buf, 0, 0);
        let seen = r.seen();
        assert_eq!(
            seen.iter().map(|s| s.bytes.len()).collect::<Vec<_>>(),
            [240, 1]
        );
        assert_eq!(seen[1].bytes, [0xF7]);
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.alloc.stats().outstanding_buffers, 0);
    }

    #[test]
    fn sysex_straddles_records_and_irps_and_keeps_its_origin() {
        let r = Rig::new();
        let mut u = r.dmus();
        let a = dmus_buffer(&[(2, 10, true, &[0xF0, 0x01, 0x02]), (5, 20, true, &[0x03])]);
        feed(&mut u, &a, 1_000, 0);
        let b = dmus_buffer(&[(7, 30, true, &[0x04, 0xF7, 0x90, 0x3C, 0x40])]);
        feed(&mut u, &b, 2_000, a.len() as u64);
        let seen = r.seen();
        assert_eq!(
            r.bytes(),
            [
                vec![0xF0, 0x01, 0x02],
                vec![0x03],
                vec![0x04, 0xF7],
                vec![0x90, 0x3C, 0x40]
            ]
        );
        assert!(seen[0].incomplete() && seen[1].incomplete() && !seen[2].incomplete());
        assert!(seen[..3].iter().all(|s| s.group == 2 && s.time == 1_010));
        assert_eq!((seen[3].group, seen[3].time), (7, 2_030));
        // The first buffer ends inside the SysEx: its last event lands on its end.
        assert_eq!(seen[1].pos, a.len() as u64);
    }

    #[test]
    fn real_time_bytes_inside_sysex_come_first_with_the_same_position() {
        let r = Rig::new();
        let mut u = r.dmus();
        let buf = structured(&[&[0xF0, 0x01, 0x02, 0xF8, 0x03, 0xFE, 0xF7]]);
        feed(&mut u, &buf, 0, 100);
        let seen = r.seen();
        assert_eq!(
            r.bytes(),
            [
                vec![0xF8],
                vec![0xF0, 0x01, 0x02],
                vec![0xFE],
                vec![0x03],
                vec![0xF7]
            ]
        );
        assert!(!seen[0].incomplete() && seen[1].incomplete());
        assert_eq!(seen[0].pos, seen[1].pos);
        assert_eq!(seen[2].pos, seen[3].pos);
        assert!(!seen[4].incomplete());
        assert_eq!(seen[4].pos, 100 + buf.len() as u64);
        // Real-time bytes do not disturb a short message or running status either.
        r.calls.lock().unwrap().clear();
        let buf = structured(&[&[0x90, 0xF8, 0x3C, 0xF9, 0x40, 0xFD, 0x3E, 0x40]]);
        feed(&mut u, &buf, 0, 0);
        assert_eq!(
            r.bytes(),
            [
                vec![0xF8],
                vec![0xF9],
                vec![0x90, 0x3C, 0x40],
                vec![0xFD],
                vec![0x90, 0x3E, 0x40]
            ]
        );
    }

    #[test]
    fn status_byte_table_and_running_status_rules() {
        let r = Rig::new();
        let mut u = r.dmus();
        let buf = structured(&[&[
            0xF1, 0x10, // MTC quarter frame: 1 data byte
            0xF2, 0x01, 0x02, // song position: 2
            0xF3, 0x05, // song select: 1
            0xF4, 0xF5, 0xF6, 0xF7, // 0 data bytes: 1-byte events
            0x55, // no running status after system common: dropped
            0xB0, 0x07, 0x64, 0x0A, 0x40, // control changes with running status
            0xF6, 0x01, // tune request clears running status: 0x01 dropped
            0x90, 0x3C, 0x80, 0x3C, 0x00, // a status byte abandons 90 3C
            0xE0, 0x00, 0x40, // pitch bend: 2 data bytes
            0xD0, 0x33, // channel pressure: 1
        ]]);
        feed(&mut u, &buf, 0, 0);
        assert_eq!(
            r.bytes(),
            [
                vec![0xF1, 0x10],
                vec![0xF2, 0x01, 0x02],
                vec![0xF3, 0x05],
                vec![0xF4],
                vec![0xF5],
                vec![0xF6],
                vec![0xF7],
                vec![0xB0, 0x07, 0x64],
                vec![0xB0, 0x0A, 0x40],
                vec![0xF6],
                vec![0x80, 0x3C, 0x00],
                vec![0xE0, 0x00, 0x40],
                vec![0xD0, 0x33],
            ]
        );
        assert!(r.seen().iter().all(|s| !s.incomplete()));
        assert_eq!(u.stats().dropped_bytes, 2);
        // Data bytes at stream start are dropped.
        let mut fresh = r.dmus();
        feed(&mut fresh, &structured(&[&[0x3C, 0x40]]), 0, 0);
        assert_eq!(r.seen().len(), 13);
        assert_eq!(fresh.stats().dropped_bytes, 2);
    }

    #[test]
    fn item_54_byte_positions() {
        let r = Rig::new();
        let mut u = r.dmus();
        let s = 1_000u64;
        // Ends on a message boundary.
        let buf = dmus_buffer(&[
            (1, 0, true, &[0x90, 0x3C, 0x40, 0x3E]),
            (1, 0, true, &[0x40]),
            (1, 0, false, &[0x01; 20]),
            (1, 0, true, &[0xC0, 0x05, 0x80, 0x3C, 0x00]),
        ]);
        let n = buf.len() as u64;
        assert_eq!(u.sink_irp(&buf, 0, s), STATUS_SUCCESS);
        let queued = u.queued();
        u.process_queues();
        let seen = r.seen();
        assert_eq!(seen.len(), queued);
        let pos: Vec<u64> = seen.iter().map(|e| e.pos).collect();
        // Header and padding count first: 90 3C 40 ends 3 bytes into the first record's data.
        assert_eq!(pos[0], s + 24 - 1);
        assert_eq!(pos[1], s + 24 + 24);
        assert!(pos.iter().all(|&p| p > s && p <= s + n));
        assert!(pos.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*pos.last().unwrap(), s + n);
        // Ends inside a short message: the last event is before the end.
        r.calls.lock().unwrap().clear();
        let buf = structured(&[&[0xC0, 0x05], &[0x90, 0x3C]]);
        feed(&mut u, &buf, 0, s);
        let seen = r.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].pos, s + 24);
        assert!(seen[0].pos < s + buf.len() as u64);
        // The next buffer completes it.
        r.calls.lock().unwrap().clear();
        let s2 = s + buf.len() as u64;
        let buf2 = structured(&[&[0x40]]);
        feed(&mut u, &buf2, 0, s2);
        assert_eq!(r.seen()[0].pos, s2 + 24);
    }

    #[test]
    fn item_55_truncated_last_record() {
        let r = Rig::new();
        let mut u = r.dmus();
        let s = 500u64;
        let mut buf = structured(&[&[0x90, 0x3C, 0x40], &[0x80, 0x3C, 0x00]]);
        // A truncated header.
        buf.extend_from_slice(&[3, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
        let n = buf.len() as u64;
        assert_eq!(u.sink_irp(&buf, 0, s), STATUS_INVALID_PARAMETER_2);
        u.process_queues();
        let seen = r.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].pos, s + 24);
        assert_eq!(
            seen[1].pos,
            s + n,
            "the last queued event completes the buffer"
        );
        // A record whose data (or padding) is cut off.
        r.calls.lock().unwrap().clear();
        let mut buf = structured(&[&[0x90, 0x3C, 0x40], &[0x80, 0x3C, 0x00, 0x01, 0x02]]);
        buf.truncate(buf.len() - 1);
        let n = buf.len() as u64;
        assert_eq!(feed(&mut u, &buf, 0, s), STATUS_INVALID_PARAMETER_2);
        let seen = r.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].pos, s + n);
        assert_eq!(u.stats().truncated, 2);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_56_ks_format_raw_chunks() {
        let r = Rig::new();
        let mut u = r.ks();
        let mut buf = vec![0u8; 2048];
        let mut w = KsBufferWriter::new(&mut buf);
        w.push(0, &[0x90, 0x3C, 0x40]).unwrap();
        w.push(5, &[0x3E, 0x40]).unwrap();
        w.push(0, &[]).unwrap();
        w.push(7, &[0x77; 300]).unwrap();
        let n = w.len();
        buf.truncate(n);
        let base = 40_000_000;
        assert_eq!(feed(&mut u, &buf, base, 64), STATUS_SUCCESS);
        let seen = r.seen();
        assert_eq!(
            seen.iter().map(|s| s.bytes.len()).collect::<Vec<_>>(),
            [3, 2, 240, 60]
        );
        assert_eq!(seen[0].bytes, [0x90, 0x3C, 0x40]);
        assert_eq!(seen[1].bytes, [0x3E, 0x40], "no parsing, no running status");
        assert!(seen.iter().all(|s| s.incomplete() && s.group == 1));
        assert_eq!(
            seen.iter().map(|s| s.time).collect::<Vec<_>>(),
            [base, base + 50_000, base + 120_000, base + 120_000]
        );
        assert!(seen.windows(2).all(|w| w[0].pos <= w[1].pos));
        assert_eq!(seen[3].pos, 64 + n as u64);
        // A packet whose bytes are cut off.
        r.calls.lock().unwrap().clear();
        let mut bad = vec![0u8; 64];
        let mut w = KsBufferWriter::new(&mut bad);
        w.push(1, &[0xF8]).unwrap();
        w.push(1, &[1, 2, 3, 4, 5, 6]).unwrap();
        let n = w.len() - 3;
        assert_eq!(feed(&mut u, &bad[..n], 0, 0), STATUS_INVALID_PARAMETER_2);
        let seen = r.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].pos, n as u64);
        // The final packet's padding may be missing.
        r.calls.lock().unwrap().clear();
        let mut buf = vec![0u8; 64];
        let mut w = KsBufferWriter::new(&mut buf);
        w.push(0, &[0xF8]).unwrap();
        assert_eq!(feed(&mut u, &buf[..9], 0, 0), STATUS_SUCCESS);
        assert_eq!(r.seen()[0].pos, 9);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn process_queues_sends_one_chain_or_recycles_when_unconnected() {
        let r = Rig::new();
        let mut u = DmusUnpacker::new(r.alloc.interface().clone());
        let buf = structured(&[&[0x90, 0x3C, 0x40], &[0x80, 0x3C, 0x00]]);
        // Unconnected: to the allocator.
        assert_eq!(u.sink_irp(&buf, 0, 0), STATUS_SUCCESS);
        assert_eq!(u.queued(), 2);
        assert_eq!(u.process_queues(), STATUS_SUCCESS);
        assert_eq!(u.queued(), 0);
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.deliveries(), 0);
        // Connected: one PutMessage for two IRPs' worth of events.
        assert_eq!(u.connect_output(r.sink.clone()), STATUS_SUCCESS);
        u.sink_irp(&buf, 0, 0);
        u.sink_irp(&buf, 0, 48);
        assert_eq!(u.process_queues(), STATUS_SUCCESS);
        assert_eq!(r.deliveries(), 1);
        assert_eq!(r.seen().len(), 4);
        // Nothing queued: nothing sent.
        assert_eq!(u.process_queues(), STATUS_SUCCESS);
        assert_eq!(r.deliveries(), 1);
        assert_eq!(u.stats().deliveries, 2);
        assert_eq!(u.stats().events, 6);
    }

    #[test]
    fn items_27_to_29_unpacker_connection_rules() {
        let r = Rig::new();
        let other = Rig::new();
        for u in [
            &mut DmusUnpacker::new(r.alloc.interface().clone()) as &mut dyn Unpacker,
            &mut KsUnpacker::new(r.alloc.interface().clone()),
        ] {
            assert_eq!(u.connect_output(r.sink.clone()), STATUS_SUCCESS);
            assert_eq!(u.connect_output(other.sink.clone()), STATUS_UNSUCCESSFUL);
            assert_eq!(u.disconnect_output(Some(&other.sink)), STATUS_UNSUCCESSFUL);
            assert_eq!(u.disconnect_output(Some(&r.sink)), STATUS_SUCCESS);
            assert_eq!(u.connect_output(other.sink.clone()), STATUS_SUCCESS);
            assert_eq!(u.disconnect_output(None), STATUS_SUCCESS);
            assert_eq!(u.disconnect_output(None), STATUS_SUCCESS);
        }
    }

    #[test]
    fn stop_resets_the_parser_but_other_states_do_not() {
        let r = Rig::new();
        let mut u = r.dmus();
        assert_eq!(u.state(), KSSTATE_STOP);
        u.set_state(KSSTATE_ACQUIRE);
        u.set_state(KSSTATE_RUN);
        feed(
            &mut u,
            &structured(&[&[0x90, 0x3C, 0x40], &[0xF0, 0x01]]),
            0,
            0,
        );
        u.set_state(KSSTATE_ACQUIRE);
        u.set_state(KSSTATE_RUN);
        feed(&mut u, &structured(&[&[0x02]]), 0, 0);
        assert_eq!(r.bytes().last().unwrap(), &[0x02], "still inside the SysEx");
        u.set_state(KSSTATE_STOP);
        assert_eq!(u.state(), KSSTATE_STOP);
        u.set_state(KSSTATE_RUN);
        feed(&mut u, &structured(&[&[0x03, 0x3C, 0x40]]), 0, 0);
        assert_eq!(r.seen().len(), 3, "no SysEx, no running status after STOP");
        let mut k = r.ks();
        k.set_state(KSSTATE_RUN);
        assert_eq!(k.state(), KSSTATE_RUN);
    }

    #[test]
    fn bad_input_never_leaks() {
        let r = Rig::new();
        let mut u = r.dmus();
        let mut k = r.ks();
        // Empty buffers.
        assert_eq!(feed(&mut u, &[], 0, 0), STATUS_SUCCESS);
        assert_eq!(feed(&mut k, &[], 0, 0), STATUS_SUCCESS);
        // Truncated headers.
        assert_eq!(feed(&mut u, &[1, 2, 3], 0, 0), STATUS_INVALID_PARAMETER_2);
        assert_eq!(feed(&mut k, &[1, 2, 3], 0, 0), STATUS_INVALID_PARAMETER_2);
        // Absurd cbEvent / ByteCount.
        let mut buf = structured(&[&[0x90, 0x3C, 0x40]]);
        buf.extend_from_slice(&u32::MAX.to_ne_bytes());
        buf.extend_from_slice(&[0; 28]);
        assert_eq!(feed(&mut u, &buf, 0, 0), STATUS_INVALID_PARAMETER_2);
        let mut ks = vec![0u8; 16];
        ks[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(
            feed(&mut k, &ks, i64::MAX, u64::MAX),
            STATUS_INVALID_PARAMETER_2
        );
        // Extreme times and offsets saturate.
        let buf = dmus_buffer(&[(1, i64::MAX, true, &[0xF8])]);
        assert_eq!(feed(&mut u, &buf, i64::MAX, u64::MAX - 3), STATUS_SUCCESS);
        assert_eq!(r.seen().last().unwrap().time, i64::MAX);
        assert_eq!(r.seen().last().unwrap().pos, u64::MAX);
        // A SysEx without end, then the unpacker goes away with events queued.
        let mut sysex = vec![0x33u8; 600];
        sysex[0] = 0xF0;
        let buf = dmus_buffer(&[(1, 0, true, &sysex), (1, 0, false, &[0x44; 600])]);
        assert_eq!(u.sink_irp(&buf, 0, 0), STATUS_SUCCESS);
        assert_eq!(u.queued(), 6);
        assert!(r.outstanding() > 0);
        drop(u);
        drop(k);
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.alloc.stats().outstanding_buffers, 0);
        assert_eq!(r.alloc.stats().anomalies.misuse(), 0);
    }

    #[test]
    fn allocator_exhaustion_stops_parsing_and_leaks_nothing() {
        for limit in 0..6u32 {
            let r = Rig::with(AllocatorConfig {
                max_events: Some(limit),
                ..AllocatorConfig::default()
            });
            let mut u = r.dmus();
            let buf = structured(&[
                &[0x90, 0x3C, 0x40],
                &[0x3E, 0x40],
                &[0xF0, 0x01, 0x02, 0xF8, 0x03],
                &[0x90, 0x40, 0x40],
            ]);
            let s = u.sink_irp(&buf, 0, 10);
            assert_eq!(s, STATUS_INSUFFICIENT_RESOURCES, "limit {limit}");
            assert_eq!(u.queued(), limit as usize);
            assert_eq!(u.stats().exhausted, 1);
            u.process_queues();
            let seen = r.seen();
            if let Some(last) = seen.last() {
                assert_eq!(last.pos, 10 + buf.len() as u64);
            }
            // The parser starts afresh: no SysEx continues, no running status applies.
            feed(&mut u, &structured(&[&[0x05, 0x06]]), 0, 0);
            assert_eq!(r.seen().len(), seen.len());
            drop(u);
            assert_eq!(r.outstanding(), 0, "limit {limit}");
        }
        // Long-event buffers exhausted: unstructured chunks and SysEx chunks.
        let r = Rig::with(AllocatorConfig {
            max_buffers: Some(1),
            ..AllocatorConfig::default()
        });
        let mut u = r.dmus();
        let buf = dmus_buffer(&[(1, 0, false, &[0x55; 600])]);
        assert_eq!(u.sink_irp(&buf, 0, 0), STATUS_INSUFFICIENT_RESOURCES);
        assert_eq!(u.queued(), 1);
        drop(u);
        let mut k = r.ks();
        let mut ks = vec![0u8; 512];
        let mut w = KsBufferWriter::new(&mut ks);
        w.push(0, &[0x66; 300]).unwrap();
        assert_eq!(k.sink_irp(&ks, 0, 0), STATUS_INSUFFICIENT_RESOURCES);
        drop(k);
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.alloc.stats().outstanding_buffers, 0);
    }

    #[test]
    fn events_carry_fresh_defaults_where_not_set() {
        let r = Rig::new();
        let mut u = r.dmus();
        feed(&mut u, &structured(&[&[0xFE]]), 0, 0);
        let seen = r.seen();
        assert_ne!(seen[0].pos, kBytePositionNone);
        assert_eq!(seen[0].flags, 0);
    }

    #[test]
    fn render_path_unpacker_to_sequencer_to_sink() {
        let r = Rig::new();
        let now = Arc::new(AtomicI64::new(1_000_000));
        let clock: IMasterClock = TestClock(now.clone()).into_com().unwrap();
        let seq = SequencerHandle::new(r.alloc.interface().clone(), clock, 0).unwrap();
        let s = seq.ConnectOutput(Some(r.sink.to_ref()));
        assert_eq!(s, STATUS_SUCCESS);
        let mut u = DmusUnpacker::new(r.alloc.interface().clone());
        assert_eq!(u.connect_output(seq.interface().clone()), STATUS_SUCCESS);
        // Records out of time order, as a buggy client may send them.
        let buf = dmus_buffer(&[
            (1, 30_000, true, &[0x90, 0x3C, 0x40]),
            (1, 10_000, true, &[0x90, 0x40, 0x40]),
            (1, 20_000, true, &[0x80, 0x40, 0x00]),
        ]);
        assert_eq!(u.sink_irp(&buf, 1_000_000, 0), STATUS_SUCCESS);
        assert_eq!(u.process_queues(), STATUS_SUCCESS);
        assert!(r.seen().is_empty());
        assert_eq!(seq.queued(), 3);
        now.store(1_020_000, Ordering::Relaxed);
        assert_eq!(seq.process_queues(), Some(10_000));
        now.store(1_030_000, Ordering::Relaxed);
        assert_eq!(seq.process_queues(), None);
        assert_eq!(
            r.bytes(),
            [
                vec![0x90, 0x40, 0x40],
                vec![0x80, 0x40, 0x00],
                vec![0x90, 0x3C, 0x40]
            ]
        );
        assert_eq!(r.deliveries(), 2);
        // Teardown order of the port: disconnect, then drop.
        assert_eq!(u.disconnect_output(Some(seq.interface())), STATUS_SUCCESS);
        assert_eq!(seq.DisconnectOutput(None), STATUS_SUCCESS);
        drop(u);
        drop(seq);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn unpackers_are_send() {
        fn is_send<T: Send>() {}
        is_send::<DmusUnpacker>();
        is_send::<KsUnpacker>();
        let b: Box<dyn Unpacker> = Box::new(KsUnpacker::new(Rig::new().alloc.interface().clone()));
        assert_eq!(b.queued(), 0);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            // Miri runs a few cases only (its interpretation is slow); the tests run 256. No
            // failure file: Miri's isolation has no current directory to resolve it against.
            #![proptest_config(ProptestConfig {
                cases: if cfg!(miri) { 4 } else { 256 },
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// Any sequence of records: positions stay inside the buffer and never go back,
            /// nothing leaks, and the parser never panics.
            #[test]
            fn random_records_are_parsed_safely(
                records in proptest::collection::vec(
                    (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)),
                    0..8,
                ),
                cut in 0usize..64,
                s in 0u64..1_000_000,
            ) {
                let r = Rig::new();
                let mut u = r.dmus();
                let recs: Vec<(u32, i64, bool, &[u8])> =
                    records.iter().map(|(st, d)| (1, 0, *st, d.as_slice())).collect();
                let mut buf = dmus_buffer(&recs);
                let full = buf.len();
                buf.truncate(full.saturating_sub(cut));
                let status = u.sink_irp(&buf, 0, s);
                prop_assert!(status == STATUS_SUCCESS || status == STATUS_INVALID_PARAMETER_2);
                u.process_queues();
                let seen = r.seen();
                let n = buf.len() as u64;
                prop_assert!(seen.iter().all(|e| e.pos > s && e.pos <= s + n));
                prop_assert!(seen.windows(2).all(|w| w[0].pos <= w[1].pos));
                prop_assert!(seen.iter().all(|e| !e.bytes.is_empty() && e.bytes.len() <= 240));
                drop(u);
                prop_assert_eq!(r.outstanding(), 0);
                prop_assert_eq!(r.alloc.stats().outstanding_buffers, 0);
            }

            /// Random bytes as a buffer, both flavours: no panic, no leak.
            #[test]
            fn random_bytes_never_leak(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let r = Rig::new();
                let mut u = r.dmus();
                let mut k = r.ks();
                let _ = u.sink_irp(&bytes, 0, 0);
                let _ = k.sink_irp(&bytes, 0, 0);
                u.process_queues();
                drop(u);
                drop(k);
                prop_assert_eq!(r.outstanding(), 0);
            }
        }
    }
}
