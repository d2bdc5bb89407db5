//! The main job's engine: plays a song through the simulated DMus port and the sample miniport,
//! or feeds it through the capture path, and reports what happened at every stage.
//!
//! Render: SMF → DirectMusic-format IRP buffers → unpacker → sequencer → filters → the UART
//! miniport's render stream → virtual MPU-401 → wire bytes → SMF.
//! Capture: SMF → bytes arriving at the virtual MPU-401 → miniport capture stream → capture sink →
//! packer → DirectMusic-format capture buffers → SMF.

use crate::uart::{INPUT_FIFO_SIZE, VirtualMpu401, create_uart_miniport};
use mxf::abi::{DMUS_EVENT_SIZE, DMUS_EVENTHEADER, KSSTATE_RUN, KSSTATE_STOP, REFERENCE_TIME};
use mxf::allocator::AllocatorStats;
use mxf::components::unpacker::DmusBufferWriter;
use mxf::host::smf::{
    MessageIter, MessageKind, SmfError, Song, TimedMessage, WireSplitter, split_wire,
};
use mxf::host::{ClockMode, FilterPlacement, Port, StreamFormat};
use mxf::interfaces::{IAllocatorMXF, IMXF};
use std::fmt;
use std::time::{Duration, Instant};

/// Bytes per render IRP buffer.
pub const IRP_BYTES: usize = 4096;
/// How far ahead of their time buffers are submitted (100 ns): 200 ms, like a DirectMusic port.
pub const LOOKAHEAD: REFERENCE_TIME = 2_000_000;

/// Timed wire messages: `(presentation time, bytes)`.
pub type Wire = Vec<(REFERENCE_TIME, Vec<u8>)>;
/// Reads a filter's (events in, events out).
pub type StatsReader = Box<dyn Fn() -> (u64, u64)>;
/// Creates a filter object on the pin's allocator.
pub type MakeFilter = Box<dyn FnOnce(&IAllocatorMXF) -> mxf::abi::Result<(IMXF, StatsReader)>>;

/// A filter of the chain, created once the pin's allocator exists.
pub struct FilterStage {
    /// Name for the report.
    pub name: String,
    /// Creates the filter object on the pin's allocator; returns its IMXF and a stats reader.
    pub make: MakeFilter,
    /// The filter creates events with later times (echo): it must sit before the sequencer.
    pub shifts_time: bool,
}

/// Options of a run.
#[derive(Default)]
pub struct PlayOptions {
    /// Follow the real clock instead of running as fast as possible.
    pub realtime: bool,
}

/// What a run measured.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Wire messages read from the file.
    pub messages_in: usize,
    /// DirectMusic-format bytes submitted (render) or captured (capture).
    pub buffer_bytes: u64,
    /// IRP buffers submitted / completed (render) or filled (capture).
    pub irps: (u64, u64),
    /// Events the allocator handed out.
    pub events_created: u64,
    /// Render: events the unpacker parsed out of the buffers. Capture: events the capture sink forwarded.
    pub parsed: u64,
    /// Render: events the sequencer received and delivered, and in how many chains.
    /// Capture: events the packer received and wrote.
    pub sequenced: (u64, u64, u64),
    /// Per filter: (name, events in, events out).
    pub filters: Vec<(String, u64, u64)>,
    /// Bytes the virtual MPU-401 sent (render) or received (capture).
    pub wire_bytes: usize,
    /// Wire messages out.
    pub messages_out: usize,
    /// Allocator statistics at the end.
    pub allocator: AllocatorStats,
    /// Events still outstanding at the end (lost): must be 0.
    pub lost: u64,
    /// Wall time of the run.
    pub wall: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.allocator;
        writeln!(
            f,
            "  messages read from the file     {:>8}",
            self.messages_in
        )?;
        writeln!(
            f,
            "  DirectMusic buffer bytes        {:>8}   IRPs {} submitted, {} completed",
            self.buffer_bytes, self.irps.0, self.irps.1
        )?;
        writeln!(
            f,
            "  events created (allocator gets) {:>8}",
            self.events_created
        )?;
        writeln!(
            f,
            "  events parsed (unpacker | capture sink) {:>}",
            self.parsed
        )?;
        let (r, d, c) = self.sequenced;
        writeln!(
            f,
            "  sequencer | packer: {r} in, {d} out, {c} downstream calls | records"
        )?;
        for (name, i, o) in &self.filters {
            writeln!(f, "  filter {:<24} {:>8} in {:>8} out", name, i, o)?;
        }
        writeln!(
            f,
            "  MPU-401 wire bytes              {:>8}",
            self.wire_bytes
        )?;
        writeln!(
            f,
            "  messages out                    {:>8}",
            self.messages_out
        )?;
        writeln!(
            f,
            "  allocator: {} pages, high water {} events / {} buffers, {} puts, {} lock acquisitions, misuse {}",
            a.event_pages + a.buffer_pages,
            a.high_water_events,
            a.high_water_buffers,
            a.puts,
            a.lock_acquisitions,
            a.anomalies.misuse()
        )?;
        writeln!(f, "  events lost                     {:>8}", self.lost)?;
        let secs = self.wall.as_secs_f64().max(1e-9);
        write!(
            f,
            "  graph time {:.3} s, {:.0} events/s (the port's graph; reading and writing files not counted)",
            secs,
            self.events_created as f64 / secs
        )
    }
}

/// The song packed into DirectMusic-format buffers of [`IRP_BYTES`], one buffer at a time:
/// `(presentation time, bytes)`. Buffers are made as the player needs them, so a song never
/// exists twice in memory.
///
/// Each buffer's time is that of its first record; records carry their offset from it. A message
/// goes whole into the buffer being filled, or opens the next one. A message longer than a whole
/// buffer (a long SysEx) opens a buffer and goes as structured pieces that fill it and the ones
/// after it, every piece at the message's time: the unpacker keeps its MIDI parser's state across
/// records and IRPs (domain.md §4.2, §5.4), so the port sees one SysEx.
pub struct RenderBuffers<'a> {
    messages: MessageIter<'a>,
    /// The message being packed and how many of its bytes are packed (a long one spans buffers).
    current: Option<(TimedMessage<'a>, usize)>,
    /// The buffer being filled and its time.
    filling: Option<(REFERENCE_TIME, Vec<u8>)>,
}

impl<'a> RenderBuffers<'a> {
    /// The buffers of `song`.
    pub fn new(song: &'a Song) -> Self {
        Self {
            messages: song.messages.iter(),
            current: None,
            filling: None,
        }
    }
}

impl Iterator for RenderBuffers<'_> {
    type Item = Result<(REFERENCE_TIME, Vec<u8>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        /// The most data one record of an empty buffer holds.
        const PIECE: usize = IRP_BYTES - DMUS_EVENT_SIZE(0);
        loop {
            let (m, packed) = match self.current.take() {
                Some(c) => c,
                None => match self.messages.next() {
                    Some(m) => (m, 0),
                    None => return self.filling.take().map(Ok),
                },
            };
            if m.bytes.is_empty() {
                continue;
            }
            let long = DMUS_EVENT_SIZE(m.bytes.len()) > IRP_BYTES;
            let piece = if long {
                &m.bytes[packed..m.bytes.len().min(packed + PIECE)]
            } else {
                m.bytes
            };
            let size = DMUS_EVENT_SIZE(piece.len());
            let free = self
                .filling
                .as_ref()
                .map_or(0, |(_, buf)| IRP_BYTES - buf.len());
            // A long message starts in a buffer of its own; every message opens a buffer when it
            // does not fit the one being filled (which is then complete).
            if size > free || (long && packed == 0) {
                if let Some(full) = self.filling.take() {
                    self.current = Some((m, packed));
                    return Some(Ok(full));
                }
                self.filling = Some((m.time, Vec::with_capacity(IRP_BYTES)));
            }
            let Some((base, buf)) = self.filling.as_mut() else {
                return Some(Err("no buffer to pack into".into()));
            };
            let at = buf.len();
            buf.resize(at + size, 0);
            if let Err(s) =
                DmusBufferWriter::new(&mut buf[at..]).push(1, m.time - *base, true, piece)
            {
                return Some(Err(format!(
                    "cannot pack a {}-byte message: {s}",
                    m.bytes.len()
                )));
            }
            if packed + piece.len() < m.bytes.len() {
                self.current = Some((m, packed + piece.len()));
            }
        }
    }
}

/// Receives each wire message as it leaves: `(presentation time, bytes)`.
pub type WireSink<'a> = dyn FnMut(REFERENCE_TIME, &[u8]) -> Result<(), SmfError> + 'a;

/// The longest wait `--realtime` accepts: a song whose last message, or an event the graph
/// schedules, lies more than 24 hours after the start is refused. Such times come from a corrupt
/// or hostile file (deltas of 2^28 ticks at the slowest tempo reach centuries); without
/// `--realtime` the song plays as fast as possible and the limit does not apply.
pub const REALTIME_LIMIT: REFERENCE_TIME = 24 * 3600 * 10_000_000;

/// The error of a `--realtime` run that would wait for `time`.
fn too_far_for_realtime(what: &str, time: REFERENCE_TIME) -> String {
    format!(
        "--realtime: {what} lies {:.0} hours after the start, later than the {} hours a real-time \
         run waits (play it without --realtime)",
        time as f64 / 36e9,
        REALTIME_LIMIT / 36_000_000_000
    )
}

/// Moves what the MPU-401 wrote since the last call through `splitter` into `sink`, counting
/// wire bytes and messages in `report`.
fn drain_wire(
    mpu: &VirtualMpu401,
    splitter: &mut WireSplitter,
    report: &mut Report,
    sink: &mut WireSink<'_>,
) -> Result<(), String> {
    let mut result = Ok(());
    let mut counted = |t: REFERENCE_TIME, m: &[u8]| {
        report.messages_out += 1;
        sink(t, m)
    };
    let mut wire_bytes = 0;
    mpu.drain_output(|t, bytes| {
        wire_bytes += bytes.len();
        for &b in bytes {
            if result.is_ok() {
                result = splitter.push(t, b, &mut counted);
            }
        }
    });
    report.wire_bytes += wire_bytes;
    result.map_err(|e| e.to_string())
}

/// Plays `song` through the render graph; returns the wire messages the MPU-401 sent and the report.
pub fn play(
    song: &Song,
    stages: Vec<FilterStage>,
    opts: &PlayOptions,
) -> Result<(Wire, Report), String> {
    let mut out = Wire::new();
    let report = play_into(song, stages, opts, &mut |t, m| {
        out.push((t, m.to_vec()));
        Ok(())
    })?;
    Ok((out, report))
}

/// [`play`], handing each wire message to `sink` as the MPU-401 sends it instead of collecting
/// them: the run holds the song, the IRP buffers in flight and what the sink keeps.
pub fn play_into(
    song: &Song,
    stages: Vec<FilterStage>,
    opts: &PlayOptions,
    sink: &mut WireSink<'_>,
) -> Result<Report, String> {
    let started = Instant::now();
    let err = |what: &str, s: mxf::abi::NTSTATUS| format!("{what}: {s}");
    if opts.realtime
        && let Some(last) = song.messages.last()
        && last.time > REALTIME_LIMIT
    {
        return Err(too_far_for_realtime("the song's last message", last.time));
    }
    let mpu = VirtualMpu401::new();
    let miniport =
        create_uart_miniport(mpu.clone()).map_err(|s| err("creating the miniport", s))?;
    let port = Port::new(
        miniport,
        if opts.realtime {
            ClockMode::Real
        } else {
            ClockMode::Virtual
        },
    )
    .map_err(|s| err("initialising the port", s))?;
    let placement = if stages.iter().any(|s| s.shifts_time) {
        FilterPlacement::BeforeSequencer
    } else {
        FilterPlacement::AfterSequencer
    };
    let mut readers: Vec<(String, StatsReader)> = Vec::new();
    let pin = port
        .open_render_pin(1, StreamFormat::DirectMusic, placement, |alloc| {
            let mut v = Vec::new();
            for s in stages {
                let (i, r) = (s.make)(alloc)?;
                readers.push((s.name, r));
                v.push(i);
            }
            Ok(v)
        })
        .map_err(|s| err("opening the render pin", s))?;
    pin.set_state(KSSTATE_RUN)
        .map_err(|s| err("starting the pin", s))?;
    let mut buffers = RenderBuffers::new(song);
    let mut next = buffers.next().transpose()?;
    let mut submitted = 0u64;
    let mut splitter = WireSplitter::new();
    let mut report = Report {
        messages_in: song.messages.len(),
        ..Report::default()
    };
    let mut t: REFERENCE_TIME = 0;
    let t0 = Instant::now();
    loop {
        while let Some((base, _)) = &next
            && *base <= t + LOOKAHEAD
        {
            let Some((base, data)) = next.take() else {
                break;
            };
            report.buffer_bytes += data.len() as u64;
            pin.submit(data, base)
                .map_err(|s| err("submitting a buffer", s))?;
            submitted += 1;
            next = buffers.next().transpose()?;
        }
        port.run_timers();
        mpu.run_timers(port.now());
        drain_wire(&mpu, &mut splitter, &mut report, sink)?;
        let candidates = [
            port.next_timer(),
            mpu.next_timer(),
            next.as_ref().map(|b| b.0 - LOOKAHEAD),
        ];
        let Some(n) = candidates.into_iter().flatten().min() else {
            break;
        };
        t = n.max(t + 1);
        if opts.realtime {
            if t > REALTIME_LIMIT {
                return Err(too_far_for_realtime("an event", t));
            }
            // Within REALTIME_LIMIT: no overflow.
            let target = t0 + Duration::from_nanos(t.max(0) as u64 * 100);
            if let Some(d) = target.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        } else {
            port.set_time(t);
        }
        if next.is_none() && pin.sequencer().queued() == 0 && mpu.next_timer().is_none() {
            // Everything has been delivered; one last service to drain.
            port.run_timers();
            break;
        }
    }
    pin.set_state(KSSTATE_STOP)
        .map_err(|s| err("stopping the pin", s))?;
    drain_wire(&mpu, &mut splitter, &mut report, sink)?;
    let mut counted = |t: REFERENCE_TIME, m: &[u8]| {
        report.messages_out += 1;
        sink(t, m)
    };
    splitter.finish(&mut counted).map_err(|e| e.to_string())?;
    report.irps = (submitted, pin.completed_irps());
    report.allocator = pin.allocator().stats();
    report.events_created = report.allocator.gets;
    report.lost = report.allocator.outstanding_events;
    report.parsed = pin.unpacker_stats().events;
    let seq = pin.sequencer().stats();
    report.sequenced = (seq.received, seq.delivered, seq.deliveries);
    report.filters = readers
        .iter()
        .map(|(n, r)| {
            let (i, o) = r();
            (n.clone(), i, o)
        })
        .collect();
    drop(pin);
    drop(port);
    report.wall = started.elapsed();
    Ok(report)
}

/// Passes the bytes of the DirectMusic records in capture buffer `b`, each at its record's
/// time, through `splitter` into `sink`.
fn decode_records(
    b: &mxf::host::CapturedBuffer,
    splitter: &mut WireSplitter,
    sink: &mut WireSink<'_>,
) -> Result<(), SmfError> {
    let mut off = 0;
    while off + 20 <= b.data.len() {
        let h: DMUS_EVENTHEADER = bytemuck_header(&b.data[off..off + 20]);
        let cb = h.cbEvent as usize;
        let Some(data) = b.data.get(off + 20..off + 20 + cb) else {
            break;
        };
        let t = b.base_time + h.rtDelta;
        for &x in data {
            splitter.push(t, x, sink)?;
        }
        off += DMUS_EVENT_SIZE(cb);
    }
    Ok(())
}

/// Submits capture buffers while the packer holds events (a long SysEx fills several), as a
/// client keeps IRPs queued; stops when a buffer takes nothing more.
fn drain(pin: &mxf::host::CapturePin) {
    let mut queued = pin.packer().queued();
    while queued > 0 {
        pin.submit_buffer(IRP_BYTES);
        let now = pin.packer().queued();
        if now >= queued {
            break;
        }
        queued = now;
    }
}

/// Feeds `song` in through the virtual MPU-401's input and the capture graph; returns what the
/// packer produced, as timed wire messages, and the report.
pub fn capture(song: &Song) -> Result<(Wire, Report), String> {
    let mut out = Wire::new();
    let report = capture_into(song, &mut |t, m| {
        out.push((t, m.to_vec()));
        Ok(())
    })?;
    Ok((out, report))
}

/// [`capture`], handing each captured message to `sink` as its buffer completes.
pub fn capture_into(song: &Song, sink: &mut WireSink<'_>) -> Result<Report, String> {
    let started = Instant::now();
    let err = |what: &str, s: mxf::abi::NTSTATUS| format!("{what}: {s}");
    let mpu = VirtualMpu401::new();
    let miniport =
        create_uart_miniport(mpu.clone()).map_err(|s| err("creating the miniport", s))?;
    let port =
        Port::new(miniport, ClockMode::Virtual).map_err(|s| err("initialising the port", s))?;
    let pin = port
        .open_capture_pin(4, StreamFormat::DirectMusic)
        .map_err(|s| err("opening the capture pin", s))?;
    pin.set_state(KSSTATE_RUN)
        .map_err(|s| err("starting the pin", s))?;
    let mut report = Report {
        messages_in: song.messages.len(),
        ..Report::default()
    };
    // Completed buffers are decoded as they come (a buffer per message would otherwise hold 4 KiB
    // for every message of the song).
    let mut splitter = WireSplitter::new();
    let mut irps = 0u64;
    let mut messages_out = 0usize;
    let mut counted = |t: REFERENCE_TIME, m: &[u8]| {
        messages_out += 1;
        sink(t, m)
    };
    let mut collect = |pin: &mxf::host::CapturePin, report: &mut Report| -> Result<(), String> {
        for b in pin.take_filled() {
            irps += 1;
            report.buffer_bytes += b.data.len() as u64;
            decode_records(&b, &mut splitter, &mut counted).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    for m in &song.messages {
        port.set_time(m.time);
        pin.submit_buffer(IRP_BYTES);
        // The miniport's ISR keeps at most INPUT_FIFO_SIZE bytes per interrupt (the rest would
        // overflow its FIFO and be dropped): a longer message arrives over several interrupts,
        // as a real wire delivers it byte by byte.
        for piece in m.bytes.chunks(INPUT_FIFO_SIZE) {
            mpu.receive(piece, m.time);
        }
        report.wire_bytes += m.bytes.len();
        drain(&pin);
        collect(&pin, &mut report)?;
    }
    pin.submit_buffer(IRP_BYTES);
    pin.set_state(KSSTATE_STOP)
        .map_err(|s| err("stopping the pin", s))?;
    // Stopping flushed the capture sink's fragments into the packer.
    drain(&pin);
    collect(&pin, &mut report)?;
    splitter.finish(&mut counted).map_err(|e| e.to_string())?;
    report.messages_out = messages_out;
    report.irps = (irps, irps);
    report.allocator = pin.allocator().stats();
    report.events_created = report.allocator.gets;
    report.lost = report.allocator.outstanding_events;
    report.parsed = pin.capture_sink().stats().events_out;
    let pk = pin.packer().stats();
    report.sequenced = (pk.events_in, pk.events_packed, pk.records);
    drop(pin);
    drop(port);
    report.wall = started.elapsed();
    Ok(report)
}

fn bytemuck_header(b: &[u8]) -> DMUS_EVENTHEADER {
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let mut t = [0u8; 8];
    t.copy_from_slice(&b[8..16]);
    DMUS_EVENTHEADER {
        cbEvent: u32_at(0),
        dwChannelGroup: u32_at(4),
        rtDelta: i64::from_le_bytes(t),
        dwFlags: u32_at(16),
    }
}

/// The channel and SysEx messages of a list, for identity comparisons (SysEx pieces joined).
pub fn musical_messages(msgs: &[(REFERENCE_TIME, Vec<u8>)]) -> Vec<(REFERENCE_TIME, Vec<u8>)> {
    msgs.iter()
        .filter(|(_, b)| b.first().is_some_and(|&s| (0x80..0xF1).contains(&s)))
        .cloned()
        .collect()
}

/// The channel and SysEx messages of a song, in the same form as [`musical_messages`].
pub fn song_messages(song: &Song) -> Vec<(REFERENCE_TIME, Vec<u8>)> {
    let wire: Vec<(REFERENCE_TIME, u8)> = song
        .messages
        .iter()
        .filter(|m| m.kind != MessageKind::Other)
        .flat_map(|m| m.bytes.iter().map(move |&b| (m.time, b)))
        .collect();
    musical_messages(&split_wire(&wire))
}
