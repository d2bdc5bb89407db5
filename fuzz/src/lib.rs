//! What the fuzz targets share: the byte layouts of their inputs (decoded by the targets, encoded
//! by the seed generator, so the two never drift apart), fuzzed event chains (`arbitrary`), the
//! allocator every target runs on, and the checks of what comes out (packed capture records,
//! the allocator's books).
//!
//! Every target ends with [`assert_balanced`]: the allocator got every event and buffer back,
//! detected no misuse, and its free lists match its books.

use arbitrary::Arbitrary;
use mxf::abi::{
    DMUS_EVENT_SIZE, KSSTATE, KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP,
    REFERENCE_TIME, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER_2, STATUS_SUCCESS,
};
use mxf::allocator::{AllocatorConfig, AllocatorHandle, BUFFER_SIZE, GetBufferFailure};
use mxf::components::unpacker::Unpacker;
use mxf::interfaces::IAllocatorMXF;
use mxf::platform::fault;
use mxf::testing::{Ev, Recorder};

pub mod seeds;

/// The most events (package contents included) one fuzzed chain holds: "a few hundred".
pub const MAX_CHAIN_EVENTS: usize = 400;

/// The most `PutMessage` calls, fills or state changes one input makes (bounded work per input).
pub const MAX_OPS: usize = 64;

/// Asserts that `alloc` got every event and buffer back, saw no misuse and passes its audit.
#[track_caller]
pub fn assert_balanced(alloc: &AllocatorHandle) {
    mxf::testing::assert_balanced(alloc);
}

/// Pool blocks allocated and not freed on this thread (take it before a run, compare after).
pub fn live_pool_blocks() -> isize {
    fault::live_blocks()
}

/// Asserts that as many pool blocks are live as `before` (allocator pages, objects: all freed).
#[track_caller]
pub fn assert_no_pool_leak(before: isize) {
    let now = fault::live_blocks();
    assert_eq!(now, before, "{} pool blocks leaked", now - before);
}

/// How a target's allocator is set up.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocSpec {
    /// A bound on outstanding events (`bound + 1`) and buffers (`bound / 4 + 1`), to reach
    /// every exhaustion path; `None`: unbounded.
    pub bound: Option<u8>,
    /// `GetBuffer` failure reported as Microsoft's does (success with NULL).
    pub bug_compatible_get_buffer: bool,
    /// Once the objects are created, pool allocations fail after this many (the allocator
    /// cannot grow: another way to run out); `None`: they never fail.
    pub pool_failures_after: Option<u8>,
}

impl AllocSpec {
    /// The allocator.
    ///
    /// # Panics
    /// If it cannot be created (the host's pool is out of memory).
    pub fn build(self) -> AllocatorHandle {
        let config = AllocatorConfig {
            max_events: self.bound.map(|b| u32::from(b) + 1),
            max_buffers: self.bound.map(|b| u32::from(b) / 4 + 1),
            get_buffer_failure: if self.bug_compatible_get_buffer {
                GetBufferFailure::BugCompatible
            } else {
                GetBufferFailure::default()
            },
            ..AllocatorConfig::default()
        };
        AllocatorHandle::new(config, None).expect("an allocator")
    }

    /// The pool failures, from now until the plan is dropped.
    pub fn pool_faults(self) -> Option<fault::FaultPlan> {
        self.pool_failures_after
            .map(|n| fault::fail_after(usize::from(n)))
    }
}

/// A `KSSTATE` from a fuzzed byte: the four states, and two values no header defines (which
/// every component must refuse without changing anything).
pub fn state_of(b: u8) -> KSSTATE {
    match b % 6 {
        4 => KSSTATE(7),
        5 => KSSTATE(-1),
        n => KSSTATE(i32::from(n)),
    }
}

// ---------------------------------------------------------------------------------------------
// Byte-oriented inputs (a small header, then the bytes under test)
// ---------------------------------------------------------------------------------------------

/// The input of the unpacker targets: a 4-byte header, then the pin's byte stream, cut into IRP
/// buffers.
///
/// | byte | meaning |
/// |---|---|
/// | 0 | flags: `UNPACK_*` |
/// | 1 | allocator bound (with [`UNPACK_BOUNDED`]) |
/// | 2 | IRP size in units of 8 bytes (DirectMusic) or 4 bytes (KS); 0: the whole stream is one IRP |
/// | 3 | presentation-time step between IRPs, in ms |
#[derive(Clone, Copy, Debug)]
pub struct UnpackerInput<'a> {
    /// Byte 0.
    pub flags: u8,
    /// Byte 1.
    pub bound: u8,
    /// Byte 2.
    pub irp_units: u8,
    /// Byte 3.
    pub time_step_ms: u8,
    /// The rest.
    pub stream: &'a [u8],
}

/// Unstructured DirectMusic records are flagged per record (`RawChunkFlags::PerRecord`).
pub const UNPACK_PER_RECORD: u8 = 1;
/// The unpacker's output is a recorder (else: unconnected, so the allocator).
pub const UNPACK_CONNECTED: u8 = 2;
/// The allocator is bounded by byte 1.
pub const UNPACK_BOUNDED: u8 = 4;
/// `process_queues` after every IRP (as the port does); else once at the end.
pub const UNPACK_DELIVER_EACH: u8 = 8;
/// STOP, then RUN again, between IRPs.
pub const UNPACK_RESTART: u8 = 16;
/// The output is disconnected after the first IRP.
pub const UNPACK_DISCONNECT: u8 = 32;
/// `GetBuffer` failure as Microsoft's (with [`UNPACK_BOUNDED`]).
pub const UNPACK_BUG_COMPATIBLE: u8 = 64;
/// Pool allocations fail after byte 1 of them, once the unpacker is set up.
pub const UNPACK_POOL_FAULTS: u8 = 128;

impl<'a> UnpackerInput<'a> {
    /// Bytes before the stream.
    pub const HEADER: usize = 4;

    /// The input read from fuzzer bytes (`None` if shorter than the header).
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (&[flags, bound, irp_units, time_step_ms], stream) = data.split_first_chunk()?;
        Some(Self {
            flags,
            bound,
            irp_units,
            time_step_ms,
            stream,
        })
    }

    /// The input as bytes (for seeds).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.flags, self.bound, self.irp_units, self.time_step_ms];
        v.extend_from_slice(self.stream);
        v
    }

    /// The allocator.
    pub fn alloc(&self) -> AllocSpec {
        AllocSpec {
            bound: (self.flags & UNPACK_BOUNDED != 0).then_some(self.bound),
            bug_compatible_get_buffer: self.flags & UNPACK_BUG_COMPATIBLE != 0,
            pool_failures_after: (self.flags & UNPACK_POOL_FAULTS != 0).then_some(self.bound),
        }
    }

    /// The stream cut into IRP buffers of `irp_units × unit` bytes (the last one shorter).
    pub fn irps(&self, unit: usize) -> Vec<&'a [u8]> {
        if self.irp_units == 0 || self.stream.is_empty() {
            return vec![self.stream];
        }
        self.stream
            .chunks(usize::from(self.irp_units) * unit)
            .collect()
    }
}

/// The input of the capture sink target: a 7-byte header, then the raw bytes a capture miniport
/// read from the wire, cut into events.
///
/// | byte | meaning |
/// |---|---|
/// | 0 | flags: `CAPTURE_*` |
/// | 1 | allocator bound (with [`CAPTURE_BOUNDED`]) |
/// | 2 | bytes per event: 0 is `sizeof(PBYTE)` (as DMusUART sends them), else 1 + (n − 1) mod 240 |
/// | 3 | events per `PutMessage` call (0: all in one) |
/// | 4 | channel groups the events go round (1 + n mod 32; more than the sink's table holds) |
/// | 5 | every n-th event is COMPLETE (0: none; a device that parses itself) |
/// | 6 | capture IRP size: 1 + 4n bytes (with [`CAPTURE_PACKER`]) |
#[derive(Clone, Copy, Debug)]
pub struct CaptureInput<'a> {
    /// Byte 0.
    pub flags: u8,
    /// Byte 1.
    pub bound: u8,
    /// Byte 2.
    pub chunk: u8,
    /// Byte 3.
    pub per_call: u8,
    /// Byte 4.
    pub groups: u8,
    /// Byte 5.
    pub complete_every: u8,
    /// Byte 6.
    pub irp: u8,
    /// The wire bytes.
    pub bytes: &'a [u8],
}

/// The allocator is bounded by byte 1.
pub const CAPTURE_BOUNDED: u8 = 1;
/// The sink's output is a packer whose records are filled into capture IRPs and checked; else a
/// recorder, whose events are checked.
pub const CAPTURE_PACKER: u8 = 2;
/// Each call's events arrive inside a package.
pub const CAPTURE_PACKAGE: u8 = 4;
/// PAUSE → ACQUIRE (a flush) and back after every call.
pub const CAPTURE_FLUSH: u8 = 8;
/// STOP and back to RUN halfway.
pub const CAPTURE_RESTART: u8 = 16;
/// The packer writes KS packets (with [`CAPTURE_PACKER`]).
pub const CAPTURE_KS: u8 = 32;
/// The output is disconnected halfway (the rest goes to the allocator).
pub const CAPTURE_DISCONNECT: u8 = 64;
/// Pool allocations fail after byte 1 of them, once the graph is set up.
pub const CAPTURE_POOL_FAULTS: u8 = 128;

impl<'a> CaptureInput<'a> {
    /// Bytes before the wire bytes.
    pub const HEADER: usize = 7;

    /// The input read from fuzzer bytes (`None` if shorter than the header).
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (&[flags, bound, chunk, per_call, groups, complete_every, irp], bytes) =
            data.split_first_chunk()?;
        Some(Self {
            flags,
            bound,
            chunk,
            per_call,
            groups,
            complete_every,
            irp,
            bytes,
        })
    }

    /// The input as bytes (for seeds).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![
            self.flags,
            self.bound,
            self.chunk,
            self.per_call,
            self.groups,
            self.complete_every,
            self.irp,
        ];
        v.extend_from_slice(self.bytes);
        v
    }

    /// The allocator.
    pub fn alloc(&self) -> AllocSpec {
        AllocSpec {
            bound: (self.flags & CAPTURE_BOUNDED != 0).then_some(self.bound),
            bug_compatible_get_buffer: false,
            pool_failures_after: (self.flags & CAPTURE_POOL_FAULTS != 0).then_some(self.bound),
        }
    }

    /// Bytes per event.
    pub fn chunk_len(&self) -> usize {
        match self.chunk {
            0 => mxf::abi::INLINE_DATA_BYTES,
            n => 1 + usize::from(n - 1) % BUFFER_SIZE,
        }
    }

    /// The channel group of the `k`-th event.
    pub fn group_of(&self, k: usize) -> u16 {
        let groups = 1 + usize::from(self.groups) % 32;
        (k % groups) as u16 + 1
    }

    /// Whether the `k`-th event is COMPLETE.
    pub fn is_complete(&self, k: usize) -> bool {
        let n = usize::from(self.complete_every);
        n != 0 && k % n == n - 1
    }

    /// Bytes of each capture IRP.
    pub fn irp_len(&self) -> usize {
        1 + 4 * usize::from(self.irp)
    }
}

/// Whether `bytes` (a COMPLETE event made by a parser) are one whole message: a channel or
/// system common message of its status's length, a 1-byte message, or the last chunk of a
/// SysEx (starting with F0, or with a data byte when earlier chunks went first), ending in F7.
pub fn is_whole_message(bytes: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let n = bytes.len();
    match first {
        0x80..=0xBF | 0xE0..=0xEF | 0xF2 => n == 3,
        0xC0..=0xDF | 0xF1 | 0xF3 => n == 2,
        0xF4..=0xFF => n == 1,
        0xF0 | 0x00..=0x7F => n >= 2 && last == 0xF7 && bytes[1..n - 1].iter().all(|&b| b < 0x80),
    }
}

/// What an unpacker's events must be, beyond the checks every input gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Nothing more.
    Anything,
    /// Every COMPLETE event is a whole message ([`is_whole_message`]): every record was parsed.
    WholeMessages,
    /// Copied, not parsed: when the allocator cannot run out and the output stays connected,
    /// the events' bytes, in order, are these (the payloads of every whole record).
    Bytes(Vec<u8>),
}

/// Drives an unpacker as a render pin does: RUN, then every IRP of `input` (`unit`: the IRP size
/// unit) with its presentation time and stream offset, `process_queues`, state changes. Checks
/// the statuses, that every event delivered holds 1 to 240 bytes, that byte positions never go
/// back nor past the end of the stream, what `expect` says about the events, and at the end
/// that the allocator is balanced and no pool block leaked.
///
/// # Panics
/// If a check fails.
pub fn drive_unpacker<U: Unpacker>(
    input: &UnpackerInput<'_>,
    unit: usize,
    expect: Expect,
    make: impl FnOnce(IAllocatorMXF) -> U,
) {
    let blocks = live_pool_blocks();
    let spec = input.alloc();
    let alloc = spec.build();
    let (recorder, log) = Recorder::create(alloc.interface()).expect("a recorder");
    let mut end = 0u64;
    {
        let mut u = make(alloc.interface().clone());
        if input.flags & UNPACK_CONNECTED != 0 {
            assert_eq!(u.connect_output(recorder.clone()), STATUS_SUCCESS);
        }
        let _faults = spec.pool_faults();
        let run = |u: &mut U| {
            for s in [KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN] {
                u.set_state(s);
            }
        };
        run(&mut u);
        let irps = input.irps(unit);
        let mut time: REFERENCE_TIME = 0;
        for (k, irp) in irps.iter().enumerate() {
            let s = u.sink_irp(irp, time, end);
            assert!(
                [
                    STATUS_SUCCESS,
                    STATUS_INVALID_PARAMETER_2,
                    STATUS_INSUFFICIENT_RESOURCES
                ]
                .contains(&s),
                "sink_irp returned {s:?}"
            );
            end += irp.len() as u64;
            time = time.saturating_add(ms(input.time_step_ms));
            if input.flags & UNPACK_DELIVER_EACH != 0 {
                u.process_queues();
                assert_eq!(u.queued(), 0, "events left after process_queues");
            }
            if input.flags & UNPACK_RESTART != 0 {
                for s in [KSSTATE_PAUSE, KSSTATE_ACQUIRE, KSSTATE_STOP] {
                    u.set_state(s);
                }
                run(&mut u);
            }
            if k == 0 && input.flags & UNPACK_DISCONNECT != 0 {
                assert_eq!(u.disconnect_output(None), STATUS_SUCCESS);
            }
        }
        u.process_queues();
        assert_eq!(u.queued(), 0, "events left after process_queues");
        let stats = u.stats();
        if stats != Default::default() {
            assert_eq!(stats.irps, irps.len() as u64);
            assert_eq!(stats.bytes, input.stream.len() as u64);
        }
    }
    let mut last = 0u64;
    for r in log.records() {
        assert!(
            (1..=BUFFER_SIZE).contains(&r.bytes.len()),
            "an event of {} bytes",
            r.bytes.len()
        );
        assert!(
            r.byte_position >= last && r.byte_position <= end,
            "byte position {} after {last} (stream end {end})",
            r.byte_position
        );
        last = r.byte_position;
        if expect == Expect::WholeMessages && !r.is_incomplete() {
            assert!(
                is_whole_message(&r.bytes),
                "a COMPLETE event that is no whole message: {r:?}"
            );
        }
    }
    // Every event sent on arrived, nothing was lost to the allocator: the bytes are the
    // payloads', in order.
    let everything = input.flags & (UNPACK_CONNECTED | UNPACK_DISCONNECT) == UNPACK_CONNECTED
        && input.flags & (UNPACK_BOUNDED | UNPACK_POOL_FAULTS) == 0;
    if let (Expect::Bytes(payloads), true) = (&expect, everything) {
        let got: Vec<u8> = log.records().iter().flat_map(|r| r.bytes.clone()).collect();
        assert!(
            got == *payloads,
            "the events hold other bytes than the records"
        );
    }
    drop(recorder);
    assert_balanced(&alloc);
    drop(alloc);
    assert_no_pool_leak(blocks);
}

// ---------------------------------------------------------------------------------------------
// Fuzzed event chains (structured inputs)
// ---------------------------------------------------------------------------------------------

/// One event with data: any bytes (cut to the allocator's buffer size), group, time and flags
/// (INCOMPLETE and the port-private bits included; the package flag is never taken from here).
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct DataEvent {
    /// The data (0 to 240 bytes are used: inline, or in an allocator buffer).
    pub bytes: Vec<u8>,
    /// `usChannelGroup`.
    pub group: u16,
    /// `ullPresTime100ns`.
    pub time: i64,
    /// `usFlags`.
    pub flags: u16,
}

impl DataEvent {
    /// The bytes the event holds.
    pub fn data(&self) -> &[u8] {
        self.bytes.get(..BUFFER_SIZE).unwrap_or(&self.bytes)
    }

    /// Its description.
    pub fn ev(&self) -> Ev<'static> {
        Ev::new(self.data().to_vec())
            .group(self.group)
            .at(self.time)
            .with_flags(self.flags)
    }
}

/// An event inside a package: data, or a package of its own (two levels of nesting).
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum PackageItem {
    /// An event with data.
    Data(DataEvent),
    /// A package inside the package.
    Package(Vec<DataEvent>),
}

/// One event of a chain: data, or a package.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// An event with data.
    Data(DataEvent),
    /// A package (its shell's group and time are those of the first content, or 0).
    Package(Vec<PackageItem>),
}

/// A piece of a chain.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum ChainPart {
    /// These events.
    Events(Vec<ChainEvent>),
    /// These events, `times + 1` times over (long chains from short inputs).
    Repeat {
        /// The events.
        events: Vec<ChainEvent>,
        /// Repetitions beyond the first.
        times: u8,
    },
    /// A SysEx of `len` data bytes (`fill` masked to 7 bits, counting up) in INCOMPLETE
    /// fragments of `chunk` bytes, the last COMPLETE, all on `group` at `time`; `cut`: the F7 is
    /// missing.
    Sysex {
        /// Channel group.
        group: u16,
        /// Presentation time.
        time: i64,
        /// Data bytes between F0 and F7 (at most 2000 are used).
        len: u16,
        /// Fragment size (1 + n mod 240).
        chunk: u8,
        /// First data byte.
        fill: u8,
        /// The terminating F7 is left out.
        cut: bool,
    },
}

/// The data events a chain event stands for, in the order a package is unwrapped (depth first).
pub fn flatten(e: &ChainEvent, out: &mut Vec<DataEvent>) {
    match e {
        ChainEvent::Data(d) => out.push(d.clone()),
        ChainEvent::Package(items) => {
            for item in items {
                match item {
                    PackageItem::Data(d) => out.push(d.clone()),
                    PackageItem::Package(ds) => out.extend(ds.iter().cloned()),
                }
            }
        }
    }
}

/// Events a chain event holds (package shells included).
fn count(e: &ChainEvent) -> usize {
    match e {
        ChainEvent::Data(_) => 1,
        ChainEvent::Package(items) => {
            1 + items
                .iter()
                .map(|i| match i {
                    PackageItem::Data(_) => 1,
                    PackageItem::Package(ds) => 1 + ds.len(),
                })
                .sum::<usize>()
        }
    }
}

/// The chain the parts describe, as chain events, at most [`MAX_CHAIN_EVENTS`] events in all
/// (package shells and contents counted).
pub fn expand(parts: &[ChainPart]) -> Vec<ChainEvent> {
    let mut out = Vec::new();
    let mut n = 0usize;
    let mut add = |e: ChainEvent, out: &mut Vec<ChainEvent>| {
        let c = count(&e);
        if n + c > MAX_CHAIN_EVENTS {
            return false;
        }
        n += c;
        out.push(e);
        true
    };
    'parts: for part in parts {
        match part {
            ChainPart::Events(events) => {
                for e in events {
                    if !add(e.clone(), &mut out) {
                        break 'parts;
                    }
                }
            }
            ChainPart::Repeat { events, times } => {
                for _ in 0..=*times {
                    for e in events {
                        if !add(e.clone(), &mut out) {
                            break 'parts;
                        }
                    }
                }
            }
            &ChainPart::Sysex {
                group,
                time,
                len,
                chunk,
                fill,
                cut,
            } => {
                let mut bytes = vec![0xF0];
                bytes.extend((0..len.min(2000)).map(|i| (fill.wrapping_add(i as u8)) & 0x7F));
                if !cut {
                    bytes.push(0xF7);
                }
                let chunk = 1 + usize::from(chunk) % BUFFER_SIZE;
                let pieces: Vec<&[u8]> = bytes.chunks(chunk).collect();
                let last = pieces.len() - 1;
                for (i, piece) in pieces.into_iter().enumerate() {
                    let flags = if i < last {
                        mxf::abi::DMUS_KEF_EVENT_INCOMPLETE
                    } else {
                        0
                    };
                    let d = DataEvent {
                        bytes: piece.to_vec(),
                        group,
                        time,
                        flags,
                    };
                    if !add(ChainEvent::Data(d), &mut out) {
                        break 'parts;
                    }
                }
            }
        }
    }
    out
}

/// The description of a chain event, ready to build from an allocator.
pub fn ev_of(e: &ChainEvent) -> Ev<'static> {
    match e {
        ChainEvent::Data(d) => d.ev(),
        ChainEvent::Package(items) => {
            let contents: Vec<Ev<'static>> = items
                .iter()
                .map(|i| match i {
                    PackageItem::Data(d) => d.ev(),
                    PackageItem::Package(ds) => {
                        let (g, t) = ds.first().map_or((0, 0), |d| (d.group, d.time));
                        Ev::package(ds.iter().map(DataEvent::ev)).group(g).at(t)
                    }
                })
                .collect();
            let (g, t) = contents
                .first()
                .map_or((0, 0), |c| (c.channel_group(), c.time()));
            Ev::package(contents).group(g).at(t)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packed capture records
// ---------------------------------------------------------------------------------------------

/// One record of a filled capture IRP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedRecord {
    /// `dwChannelGroup` (DirectMusic), `None` for KS.
    pub group: Option<u32>,
    /// `rtDelta` (DirectMusic, 100 ns) or `TimeDeltaMs` (KS).
    pub delta: i64,
    /// The data bytes.
    pub data: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

/// The DirectMusic records of the first `used` bytes of a capture IRP, checked: records on
/// 8-byte boundaries, each with data (`cbEvent` > 0), `dwFlags` 0, zero padding, and exactly
/// filling `used`.
///
/// # Panics
/// If the bytes are not such records.
pub fn parse_dmus_records(buf: &[u8]) -> Vec<PackedRecord> {
    assert_eq!(
        buf.len() % 8,
        0,
        "DataUsed {} is no multiple of 8",
        buf.len()
    );
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        assert!(
            pos + 24 <= buf.len(),
            "a record header cut at {pos} of {}",
            buf.len()
        );
        let cb = u32_at(buf, pos) as usize;
        let group = u32_at(buf, pos + 4);
        let delta = i64::from_ne_bytes(buf[pos + 8..pos + 16].try_into().unwrap());
        let flags = u32_at(buf, pos + 16);
        assert!(cb > 0, "a record without data at {pos}");
        assert_eq!(flags, 0, "dwFlags of the record at {pos}");
        let end = pos + DMUS_EVENT_SIZE(cb);
        assert!(
            end <= buf.len(),
            "the record at {pos} ({cb} bytes) runs past {}",
            buf.len()
        );
        let data = buf[pos + 20..pos + 20 + cb].to_vec();
        assert!(
            buf[pos + 20 + cb..end].iter().all(|&b| b == 0),
            "padding of the record at {pos}"
        );
        out.push(PackedRecord {
            group: Some(group),
            delta,
            data,
        });
        pos = end;
    }
    out
}

/// The KS packets of the first `used` bytes of a capture IRP, checked: each with data, padded
/// to 4 bytes unless the buffer ends first, exactly filling `used`.
///
/// # Panics
/// If the bytes are not such packets.
pub fn parse_ks_records(buf: &[u8]) -> Vec<PackedRecord> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        assert!(
            pos + 9 <= buf.len(),
            "a packet cut at {pos} of {}",
            buf.len()
        );
        let ms = u32_at(buf, pos);
        let cb = u32_at(buf, pos + 4) as usize;
        assert!(cb > 0, "a packet without data at {pos}");
        let unpadded = pos + 8 + cb;
        assert!(
            unpadded <= buf.len(),
            "the packet at {pos} ({cb} bytes) runs past {}",
            buf.len()
        );
        let end = ((unpadded + 3) & !3).min(buf.len());
        assert!(
            buf[unpadded..end].iter().all(|&b| b == 0),
            "padding of the packet at {pos}"
        );
        out.push(PackedRecord {
            group: None,
            delta: i64::from(ms),
            data: buf[pos + 8..unpadded].to_vec(),
        });
        pos = end;
    }
    out
}

/// The presentation-time step between IRPs, in 100 ns units.
pub fn ms(n: u8) -> REFERENCE_TIME {
    REFERENCE_TIME::from(n) * 10_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxf::testing::chain;

    fn data(bytes: &[u8]) -> DataEvent {
        DataEvent {
            bytes: bytes.to_vec(),
            group: 1,
            time: 0,
            flags: 0,
        }
    }

    #[test]
    fn packages_flatten_depth_first_as_the_packer_unwraps_them() {
        let e = ChainEvent::Package(vec![
            PackageItem::Data(data(&[1])),
            PackageItem::Package(vec![data(&[2]), data(&[3])]),
            PackageItem::Data(data(&[4])),
        ]);
        let mut flat = Vec::new();
        flatten(&e, &mut flat);
        let bytes: Vec<u8> = flat.iter().map(|d| d.bytes[0]).collect();
        assert_eq!(bytes, [1, 2, 3, 4]);

        let alloc = AllocSpec::default().build();
        let a = alloc.interface();
        let mut c = chain(a, &[ev_of(&e)]).unwrap();
        let contents = c.unwrap_packages();
        drop(contents);
        let got: Vec<u8> = c.map(|e| e.data()[0]).collect();
        assert_eq!(got, [1, 2, 3, 4]);
        assert_balanced(&alloc);
    }

    #[test]
    fn expand_caps_chains_and_splits_sysex() {
        let many = expand(&[ChainPart::Repeat {
            events: vec![ChainEvent::Data(data(&[0x90, 60, 100]))],
            times: 255,
        }]);
        assert_eq!(many.len(), 256);
        let capped = expand(&[
            ChainPart::Repeat {
                events: vec![ChainEvent::Data(data(&[0xF8]))],
                times: 255,
            },
            ChainPart::Repeat {
                events: vec![ChainEvent::Data(data(&[0xF8]))],
                times: 255,
            },
        ]);
        assert_eq!(capped.len(), MAX_CHAIN_EVENTS);
        let sysex = expand(&[ChainPart::Sysex {
            group: 2,
            time: 5,
            len: 500,
            chunk: 99,
            fill: 0,
            cut: false,
        }]);
        assert_eq!(sysex.len(), 6); // 502 bytes in fragments of 100
        let ChainEvent::Data(last) = &sysex[5] else {
            panic!("a package")
        };
        assert_eq!((last.bytes.len(), last.flags), (2, 0));
        assert_eq!(last.bytes[1], 0xF7);
    }

    #[test]
    fn records_are_read_back_and_checked() {
        use mxf::components::packer::{PackerFormat, PackerHandle};
        let alloc = AllocSpec::default().build();
        let a = alloc.interface();
        for format in [PackerFormat::DirectMusic, PackerFormat::Ks] {
            let packer = PackerHandle::new(a.clone(), format).unwrap();
            let c = chain(
                a,
                &[Ev::new(vec![0x90, 60, 100]).at(20_000), Ev::new(vec![0xF8])],
            )
            .unwrap();
            assert_eq!(c.deliver(Some(packer.interface())), STATUS_SUCCESS);
            let mut buf = [0u8; 64];
            let f = packer.fill(&mut buf, 0);
            let records = match format {
                PackerFormat::DirectMusic => parse_dmus_records(&buf[..f.bytes]),
                PackerFormat::Ks => parse_ks_records(&buf[..f.bytes]),
            };
            let data: Vec<&[u8]> = records.iter().map(|r| &r.data[..]).collect();
            assert_eq!(data, [&[0x90, 60, 100][..], &[0xF8]]);
            assert_eq!(
                records[0].delta,
                if format == PackerFormat::Ks {
                    2
                } else {
                    20_000
                }
            );
        }
        assert_balanced(&alloc);
    }

    #[test]
    fn whole_messages_are_told_from_parts() {
        for whole in [
            &[0x90, 60, 100][..],
            &[0xC0, 5],
            &[0xF2, 1, 2],
            &[0xF8],
            &[0xF6],
            &[0xF0, 1, 2, 0xF7],
            &[3, 4, 0xF7],
            &[0xF7],
        ] {
            assert!(is_whole_message(whole), "{whole:X?}");
        }
        for part in [
            &[0x90, 60][..],
            &[0xC0, 5, 6],
            &[0xF8, 0xF8],
            &[0xF0, 1, 2],
            &[0xF0, 1, 0x90, 0xF7],
            &[3, 4],
            &[],
        ] {
            assert!(!is_whole_message(part), "{part:X?}");
        }
    }

    fn ks_input(stream: &[u8]) -> Vec<u8> {
        UnpackerInput {
            flags: UNPACK_CONNECTED | UNPACK_DELIVER_EACH,
            bound: 0,
            irp_units: 3,
            time_step_ms: 1,
            stream,
        }
        .encode()
    }

    fn ks_stream() -> Vec<u8> {
        let mut bytes = [0u8; 64];
        let mut w = mxf::components::unpacker::KsBufferWriter::new(&mut bytes);
        w.push(0, &[0x90, 60, 100]).unwrap();
        w.push(1, &[0xF8]).unwrap();
        w.as_bytes().to_vec()
    }

    #[test]
    fn an_unpacker_passes_the_checks_with_the_bytes_it_was_given() {
        use mxf::components::unpacker::KsUnpacker;
        let data = ks_input(&ks_stream());
        let input = UnpackerInput::parse(&data).unwrap();
        assert_eq!(input.irps(4).len(), 2);
        drive_unpacker(
            &input,
            4,
            Expect::Bytes(vec![0x90, 60, 100, 0xF8]),
            KsUnpacker::new,
        );
    }

    #[test]
    #[should_panic(expected = "other bytes")]
    fn an_unpacker_fails_the_checks_with_other_bytes() {
        use mxf::components::unpacker::KsUnpacker;
        let data = ks_input(&ks_stream());
        let input = UnpackerInput::parse(&data).unwrap();
        drive_unpacker(
            &input,
            4,
            Expect::Bytes(vec![0x90, 60, 100]),
            KsUnpacker::new,
        );
    }

    #[test]
    #[should_panic(expected = "padding")]
    fn a_record_with_dirty_padding_is_refused() {
        let mut buf = [0u8; 24];
        buf[0] = 1; // cbEvent 1
        buf[23] = 5;
        parse_dmus_records(&buf);
    }
}
