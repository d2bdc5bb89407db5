//! Standard MIDI Files in and out, through `midly`.
//!
//! [`read_smf`] turns a format 0, 1 or 2 file (also inside a RIFF RMID file) into one
//! time-ordered list of wire messages with presentation times in 100 ns, following every tempo
//! change; SysEx (a divided SysEx joined into one message) becomes the bytes that go over the
//! wire. It refuses files that are cut or unreadable, saying where, and tolerates defects that
//! lose nothing, listing them in [`Song::warnings`]. [`write_smf`] and [`write_smf_until`] turn
//! timed wire bytes back into a format 0 file with a given tempo map.
//!
//! ```
//! use mxf::host::smf::{SmfError, TempoMap, read_smf, write_smf};
//!
//! // 120 bpm at 480 ticks a quarter: a quarter note lasts half a second (5 000 000 × 100 ns).
//! let tempo = TempoMap::constant(480, 500_000);
//! assert_eq!(tempo.time_of(480), 5_000_000);
//! assert_eq!(tempo.tick_of(2_500_000), 240);
//!
//! // Timed wire messages (what a device received, say) to a file …
//! let played = vec![(0, vec![0x90, 60, 100]), (5_000_000, vec![0x80, 60, 0])];
//! let file: Vec<u8> = write_smf(&played, &tempo)?;
//!
//! // … and a file back to messages with presentation times, ready for a render pin.
//! let song = read_smf(&file)?;
//! assert!(song.warnings.is_empty());
//! let back: Vec<_> = song.messages.iter().map(|m| (m.time, m.bytes.to_vec())).collect();
//! assert_eq!(back, played);
//! # Ok::<(), SmfError>(())
//! ```

extern crate std;

use crate::abi::REFERENCE_TIME;
use midly::num::{u15, u24, u28};
use midly::{Format, Header, MetaMessage, Smf, Timing, TrackEvent, TrackEventKind};
use std::fmt;
use std::string::String;
use std::vec::Vec;

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmfError(String);

impl fmt::Display for SmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SmfError {}

/// What a message is, as far as the identity check of a round trip cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A channel message (0x80–0xEF).
    Channel,
    /// A SysEx (or a piece of a divided one).
    SysEx,
    /// Other wire bytes (system common, real-time, escapes).
    Other,
}

/// One message on the wire at a presentation time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedMessage {
    /// Presentation time, 100 ns, from the start of the song.
    pub time: REFERENCE_TIME,
    /// Absolute tick in the file.
    pub tick: u64,
    /// The bytes as sent to a MIDI port (running status expanded).
    pub bytes: Vec<u8>,
    /// The message kind.
    pub kind: MessageKind,
}

/// Tick ↔ time conversion of a file, with every tempo change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TempoMap {
    /// Ticks per quarter note (metrical), or `None` for SMPTE timing.
    pub ppq: Option<u16>,
    /// Ticks per second for SMPTE timing, as a fraction `(ticks, seconds)`: 25 fps × 40 is
    /// `(1000, 1)`, 29.97 fps (drop frame, 30000/1001 frames a second) × 4 is `(120_000, 1001)`.
    /// `(0, 1)` for metrical timing.
    pub smpte_ticks_per_second: (u32, u32),
    /// `(tick, microseconds per quarter)`, sorted by tick; the first entry is at tick 0.
    pub changes: Vec<(u64, u32)>,
}

/// One stretch of a tempo map: from `tick` (at `start`, 100 ns units) on, `per_tick` units a tick.
#[derive(Clone, Copy, Debug)]
struct Segment {
    tick: u64,
    start: f64,
    per_tick: f64,
}

impl TempoMap {
    /// A metrical map with one tempo.
    pub fn constant(ppq: u16, usec_per_quarter: u32) -> Self {
        Self {
            ppq: Some(ppq.max(1)),
            smpte_ticks_per_second: (0, 1),
            changes: std::vec![(0, usec_per_quarter.max(1))],
        }
    }

    /// 100 ns units per tick at a tempo.
    fn units_per_tick(&self, usec_per_quarter: u32) -> f64 {
        match self.ppq {
            // A map built by hand may hold 0 for either: read as 1, as the reader does.
            Some(ppq) => f64::from(usec_per_quarter.max(1)) * 10.0 / f64::from(ppq.max(1)),
            None => {
                let (ticks, secs) = self.smpte_ticks_per_second;
                10_000_000.0 * f64::from(secs.max(1)) / f64::from(ticks.max(1))
            }
        }
    }

    /// The map as stretches with their start times (summed in order, as the tick walk would).
    fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::with_capacity(self.changes.len().max(1));
        let mut seg = Segment {
            tick: 0,
            start: 0.0,
            per_tick: self.units_per_tick(self.changes.first().map_or(500_000, |c| c.1)),
        };
        for &(tick, tempo) in &self.changes {
            seg = Segment {
                tick,
                start: seg.start + tick.saturating_sub(seg.tick) as f64 * seg.per_tick,
                per_tick: self.units_per_tick(tempo),
            };
            out.push(seg);
        }
        if out.is_empty() {
            out.push(seg);
        }
        out
    }

    /// The presentation time of `tick`.
    pub fn time_of(&self, tick: u64) -> REFERENCE_TIME {
        Times::new(self).time_of(tick).round() as REFERENCE_TIME
    }

    /// The tick nearest to `time`.
    pub fn tick_of(&self, time: REFERENCE_TIME) -> u64 {
        Times::new(self).tick_of(time)
    }
}

/// A tempo map prepared for many conversions: each is a binary search over its changes.
struct Times {
    segments: Vec<Segment>,
}

impl Times {
    fn new(map: &TempoMap) -> Self {
        Self {
            segments: map.segments(),
        }
    }

    /// The stretch that holds `tick` (the last change before it; the first for tick 0).
    fn time_of(&self, tick: u64) -> f64 {
        let i = self.segments.partition_point(|s| s.tick < tick);
        let Some(s) = self.segments.get(i.saturating_sub(1)) else {
            return 0.0;
        };
        s.start + tick.saturating_sub(s.tick) as f64 * s.per_tick
    }

    /// The tick nearest to `time`, in the last stretch that starts at or before it.
    fn tick_of(&self, time: REFERENCE_TIME) -> u64 {
        let time = time.max(0) as f64;
        let i = self.segments.partition_point(|s| s.start <= time);
        let Some(s) = self.segments.get(i.saturating_sub(1)) else {
            return 0;
        };
        s.tick
            .saturating_add(((time - s.start) / s.per_tick).round() as u64)
    }
}

/// A file read into wire messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Song {
    /// The file's format (0, 1 or 2).
    pub format: u8,
    /// The tempo map.
    pub tempo: TempoMap,
    /// Every wire message of every track, ordered by time (ties keep track order, then file order).
    pub messages: Vec<TimedMessage>,
    /// The song's end: the latest End-of-Track of its tracks (at least the last message).
    pub end_tick: u64,
    /// Defects of the file that were tolerated, one line each (where, what, what was done);
    /// empty for a well-formed file.
    pub warnings: Vec<String>,
}

impl Song {
    /// The presentation time of the song's end.
    pub fn end_time(&self) -> REFERENCE_TIME {
        self.tempo.time_of(self.end_tick)
    }
}

/// The length of a chunk's kind (`MThd`, `MTrk`, …).
const ID_BYTES: usize = 4;

/// The four bytes at `at` of `b`, if there are four.
fn four(b: &[u8], at: usize) -> Option<[u8; 4]> {
    b.get(at..at.checked_add(4)?)?.try_into().ok()
}

/// Where `part` (a slice of `file`) starts in it.
fn offset_in(file: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(file.as_ptr() as usize)
}

/// The SMF inside a RIFF RMID file (the `data` chunk of a `RIFF` … `RMID` file).
fn unwrap_rmid(bytes: &[u8]) -> Result<&[u8], SmfError> {
    let no = || {
        SmfError(
            "not a MIDI file: a RIFF file that is not an RMID file with a `data` chunk holding \
             an `MThd` header"
                .into(),
        )
    };
    if bytes.get(8..12) != Some(b"RMID".as_slice()) {
        return Err(no());
    }
    let mut rest = bytes.get(12..).unwrap_or(&[]);
    while rest.len() >= 8 {
        let (id, len) = (rest.get(..ID_BYTES), four(rest, ID_BYTES));
        let len = len.map_or(0, |l| u32::from_le_bytes(l) as usize);
        let body = rest.get(8..).unwrap_or(&[]);
        let data = body.get(..len).unwrap_or(body);
        if id == Some(b"data".as_slice()) {
            return Ok(data);
        }
        // RIFF chunks are padded to an even length.
        rest = body.get(len.saturating_add(len & 1)..).unwrap_or(&[]);
    }
    Err(no())
}

/// The chunks of a file.
struct Chunks<'a> {
    /// The data of every track chunk, in file order.
    tracks: Vec<&'a [u8]>,
    /// Bytes after the last declared track that are no chunk: where they start, how many.
    trailing: Option<(usize, usize)>,
}

/// The chunks of `smf` (which starts with its `MThd` chunk); chunks of other kinds are skipped.
/// Bytes that are no chunk are an error before the last declared track, and trailing bytes after
/// it.
fn track_chunks<'a>(
    file: &[u8],
    smf: &'a [u8],
    declared_tracks: u16,
    warnings: &mut Vec<String>,
) -> Result<Chunks<'a>, SmfError> {
    let err = |at: usize, what: std::string::String| SmfError(std::format!("byte {at}: {what}"));
    let mut rest = smf;
    let mut header = false;
    let mut tracks = Vec::new();
    loop {
        if rest.is_empty() {
            break;
        }
        let at = offset_in(file, rest);
        let done = header && tracks.len() >= usize::from(declared_tracks);
        let (id, len) = match (rest.get(..ID_BYTES), four(rest, ID_BYTES)) {
            (Some(id), Some(l)) => (id, u32::from_be_bytes(l) as usize),
            _ => (&[][..], usize::MAX),
        };
        let is_id = id.len() == ID_BYTES && id.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
        let body = rest.get(8..).unwrap_or(&[]);
        if !is_id || len > body.len() {
            if done {
                return Ok(Chunks {
                    tracks,
                    trailing: Some((at, rest.len())),
                });
            }
            return Err(if !is_id {
                err(
                    at,
                    std::format!(
                        "no chunk starts here (a track is missing or the file is cut: the header declares {declared_tracks} track(s), {} were read)",
                        tracks.len()
                    ),
                )
            } else {
                err(
                    at,
                    std::format!(
                        "a `{}` chunk claims {len} bytes, the file holds {} more: it is cut or corrupt",
                        std::string::String::from_utf8_lossy(id),
                        body.len()
                    ),
                )
            });
        }
        let (data, tail) = body.split_at_checked(len).unwrap_or((body, &[]));
        match id {
            b"MThd" if !header => header = true,
            b"MThd" => warnings.push(std::format!("byte {at}: a second header chunk: ignored")),
            b"MTrk" => tracks.push(data),
            // Chunks of other kinds (XF, for one) are skipped, as the SMF specification asks.
            _ => {}
        }
        rest = tail;
    }
    Ok(Chunks {
        tracks,
        trailing: None,
    })
}

/// The length of the variable-length quantity at the start of `b`, if it ends within `b`.
fn vlq(b: &[u8]) -> Option<(usize, u64)> {
    let mut v = 0u64;
    for (i, &x) in (1..).zip(b.iter().take(4)) {
        v = v << 7 | u64::from(x & 0x7F);
        if x & 0x80 == 0 {
            return Some((i, v));
        }
    }
    None
}

/// Why the event at the start of `ev` (a delta time, then the event) cannot be read.
fn diagnose(ev: &[u8], running: Option<u8>) -> std::string::String {
    let Some((d, _)) = vlq(ev) else {
        if ev.len() >= 4 && ev.iter().take(4).all(|b| b & 0x80 != 0) {
            return "a delta time of more than 4 bytes (the most a MIDI file allows)".into();
        }
        return "the track is cut in the middle of a delta time".into();
    };
    let rest = ev.get(d..).unwrap_or(&[]);
    let Some(&status) = rest.first() else {
        return "the track is cut after a delta time".into();
    };
    let (status, data) = match status {
        0x80..=0xFF => (status, rest.get(1..).unwrap_or(&[])),
        _ => match running {
            Some(s) => (s, rest),
            None => {
                return std::format!(
                    "a data byte (0x{status:02X}) where an event's status byte should be"
                );
            }
        },
    };
    match status {
        0x80..=0xEF => {
            let need = if (0xC0..=0xDF).contains(&status) {
                1
            } else {
                2
            };
            match data.iter().take(need).find(|b| **b >= 0x80) {
                Some(b) => std::format!(
                    "a status byte (0x{b:02X}) inside a channel message (0x{status:02X})"
                ),
                None => std::format!(
                    "the track is cut in the middle of a channel message (0x{status:02X})"
                ),
            }
        }
        0xF0 | 0xF7 => "a SysEx or escape event longer than its track".into(),
        0xFF => "a meta event longer than its track, or a malformed tempo event".into(),
        _ => std::format!(
            "a system message status (0x{status:02X}) is not an event of a file (only F0, F7 and FF are)"
        ),
    }
}

/// The length of a complete meta event (delta, FF, type, length, data) at the start of `ev`,
/// with its delta and type.
fn meta_event(ev: &[u8]) -> Option<(usize, u64, u8)> {
    let (d, delta) = vlq(ev)?;
    let rest = ev.get(d..)?;
    if rest.first() != Some(&0xFF) {
        return None;
    }
    let kind = *rest.get(1)?;
    let (l, len) = vlq(rest.get(2..)?)?;
    let total = d
        .checked_add(2)?
        .checked_add(l)?
        .checked_add(usize::try_from(len).ok()?)?;
    (total <= ev.len()).then_some((total, delta, kind))
}

/// The data length of the meta event at the start of `ev`, `total` bytes long in all.
fn tempo_len(ev: &[u8], total: usize) -> Option<usize> {
    let (d, _) = vlq(ev)?;
    let (l, _) = vlq(ev.get(d.checked_add(2)?..)?)?;
    total.checked_sub(d.checked_add(2)?.checked_add(l)?)
}

/// Whether the event at the start of `ev` begins with a data byte (running status).
fn uses_running_status(ev: &[u8]) -> bool {
    vlq(ev)
        .and_then(|(d, _)| ev.get(d))
        .is_some_and(|b| *b < 0x80)
}

/// A wire message of one track, before the tracks are merged.
struct Raw {
    tick: u64,
    track: usize,
    index: usize,
    bytes: Vec<u8>,
    kind: MessageKind,
}

/// The SysEx a track has begun (an F0 event without F7) and continues with escape events.
struct Pending {
    tick: u64,
    index: usize,
    bytes: Vec<u8>,
}

/// The classification of an escape's bytes.
fn escape_kind(data: &[u8]) -> MessageKind {
    match (data.first(), data.last()) {
        (Some(0x80..=0xEF), _) => MessageKind::Channel,
        (Some(0x00..=0x7F | 0xF0), _) | (_, Some(0xF7)) => MessageKind::SysEx,
        _ => MessageKind::Other,
    }
}

/// What reading one track gave.
struct TrackRead {
    messages: Vec<Raw>,
    tempo: Vec<(u64, u32)>,
    end: u64,
    /// Whether the track ended with an End-of-Track event.
    ended: bool,
}

/// Reads the events of track `k` (its chunk data `data`), its first tick at `start`.
fn read_track(
    file: &[u8],
    k: usize,
    data: &[u8],
    start: u64,
    warnings: &mut Vec<String>,
) -> Result<TrackRead, SmfError> {
    let mut out = TrackRead {
        messages: Vec::new(),
        tempo: Vec::new(),
        end: start,
        ended: false,
    };
    let mut pending: Option<Pending> = None;
    let mut tick = start;
    let mut it = midly::EventIter::new(data);
    // The last channel status: tolerant readers keep running status across meta and SysEx
    // events (the specification cancels it there; some writers do not).
    let mut last_status: Option<u8> = None;
    let mut kept_status = false;
    let mut port_warned = false;
    let mut index = 0usize;
    loop {
        let before = it.unread();
        if before.is_empty() {
            break;
        }
        if it.running_status().is_none() && uses_running_status(before) && last_status.is_some() {
            *it.running_status_mut() = last_status;
            kept_status = true;
        }
        let ev = match it.next() {
            Some(Ok(ev)) => ev,
            Some(Err(_)) | None => {
                let at = offset_in(file, before);
                // A meta event of a well-formed length whose contents midly refuses (a key
                // signature of zero bytes, say): skipped, as the player drops it anyway; a
                // tempo event must be read.
                if let Some((len, delta, kind)) = meta_event(before)
                    && kind != 0x51
                {
                    warnings.push(std::format!(
                        "track {k}, byte {at}: a malformed meta event (type 0x{kind:02X}): skipped"
                    ));
                    tick = tick.saturating_add(delta);
                    it = midly::EventIter::new(before.get(len..).unwrap_or(&[]));
                    index = index.saturating_add(1);
                    continue;
                }
                return Err(SmfError(std::format!(
                    "track {k}, byte {at}: {}",
                    diagnose(before, it.running_status().or(last_status))
                )));
            }
        };
        tick = tick.saturating_add(u64::from(ev.delta.as_int()));
        let i = index;
        index = index.saturating_add(1);
        match ev.kind {
            TrackEventKind::Midi { channel, message } => {
                last_status = it.running_status();
                let mut b = Vec::with_capacity(3);
                midly::live::LiveEvent::Midi { channel, message }
                    .write(&mut b)
                    .map_err(|e| SmfError(std::format!("cannot encode a message: {e}")))?;
                out.messages.push(Raw {
                    tick,
                    track: k,
                    index: i,
                    bytes: b,
                    kind: MessageKind::Channel,
                });
            }
            TrackEventKind::SysEx(d) => {
                if let Some(p) = pending.take() {
                    out.messages
                        .push(close_sysex(k, p, warnings, "a new SysEx"));
                }
                let mut bytes = Vec::with_capacity(d.len().saturating_add(1));
                bytes.push(0xF0);
                bytes.extend_from_slice(d);
                let p = Pending {
                    tick,
                    index: i,
                    bytes,
                };
                if d.last() == Some(&0xF7) {
                    out.messages.push(sysex(k, p));
                } else {
                    pending = Some(p);
                }
            }
            TrackEventKind::Escape(d) => match pending.as_mut() {
                // A packet of the divided SysEx: joined to it.
                Some(p) => {
                    p.bytes.extend_from_slice(d);
                    if d.last() == Some(&0xF7)
                        && let Some(p) = pending.take()
                    {
                        out.messages.push(sysex(k, p));
                    }
                }
                None if !d.is_empty() => out.messages.push(Raw {
                    tick,
                    track: k,
                    index: i,
                    bytes: d.to_vec(),
                    kind: escape_kind(d),
                }),
                None => {}
            },
            TrackEventKind::Meta(MetaMessage::Tempo(t)) => {
                // midly reads the first three bytes of a longer tempo event: refused as a
                // shorter one is (the times after it would be guesses).
                if let Some((total, _, _)) = meta_event(before)
                    && let Some(n) = tempo_len(before, total)
                    && n != 3
                {
                    return Err(SmfError(std::format!(
                        "track {k}, byte {}: a tempo event of {n} bytes (a tempo holds 3)",
                        offset_in(file, before)
                    )));
                }
                if t.as_int() == 0 {
                    warnings.push(std::format!(
                        "track {k}, byte {}: a tempo of 0 microseconds a quarter note: read as 1",
                        offset_in(file, before)
                    ));
                }
                out.tempo.push((tick, t.as_int().max(1)));
            }
            TrackEventKind::Meta(MetaMessage::MidiPort(_)) if !port_warned => {
                port_warned = true;
                warnings.push(std::format!(
                    "track {k}: MIDI port (FF 21) events: ignored, every track plays on channel group 1"
                ));
            }
            // midly leaves a tempo event of the wrong length unread: the times after it would
            // be guesses.
            TrackEventKind::Meta(MetaMessage::Unknown(0x51, d)) => {
                return Err(SmfError(std::format!(
                    "track {k}, byte {}: a tempo event of {} bytes (a tempo holds 3)",
                    offset_in(file, before),
                    d.len()
                )));
            }
            TrackEventKind::Meta(MetaMessage::EndOfTrack) => {
                out.ended = true;
                let after = it.unread();
                if !after.is_empty() {
                    warnings.push(std::format!(
                        "track {k}, byte {}: {} bytes after its End-of-Track: ignored",
                        offset_in(file, after),
                        after.len()
                    ));
                }
                break;
            }
            TrackEventKind::Meta(_) => {}
        }
    }
    if let Some(p) = pending.take() {
        out.messages
            .push(close_sysex(k, p, warnings, "the end of the track"));
    }
    if kept_status {
        warnings.push(std::format!(
            "track {k}: running status across meta or SysEx events: kept, as tolerant readers do"
        ));
    }
    if !out.ended {
        warnings.push(std::format!("track {k}: no End-of-Track event"));
    }
    out.end = tick;
    Ok(out)
}

/// A whole SysEx of track `k`.
fn sysex(k: usize, p: Pending) -> Raw {
    Raw {
        tick: p.tick,
        track: k,
        index: p.index,
        bytes: p.bytes,
        kind: MessageKind::SysEx,
    }
}

/// A SysEx that `what` interrupted before its F7: ended with one.
fn close_sysex(k: usize, mut p: Pending, warnings: &mut Vec<String>, what: &str) -> Raw {
    warnings.push(std::format!(
        "track {k}, tick {}: a SysEx without its F7 before {what}: ended with one",
        p.tick
    ));
    p.bytes.push(0xF7);
    sysex(k, p)
}

/// Reads a Standard MIDI File (also one inside a RIFF RMID file).
///
/// * Every track is read to its End-of-Track; format 0 and 1 tracks play together, format 2
///   tracks one after the other. Meta events other than tempo changes are dropped.
/// * A SysEx divided into packets (an F0 event without F7, continued by F7 escape events of its
///   track) becomes one message at the time of its first packet: the port and the wire carry a
///   SysEx whole, and events of other tracks between the packets would cut it. A SysEx whose F7
///   never comes is ended with one. Other escape events are sent as they are.
/// * Defects that lose nothing are tolerated and listed in [`Song::warnings`]: bytes after the
///   last track, more tracks than declared, running status across meta and SysEx events,
///   malformed meta events other than tempo, bytes after an End-of-Track, a missing
///   End-of-Track, a second header.
/// * Refused with a one-line [`SmfError`] that says where (track and byte): a file that is empty,
///   not an SMF, cut (a chunk longer than the file, fewer tracks than declared, a track that
///   ends inside an event), an event that cannot be read, a format above 2, a format 0 file
///   with several tracks, SMPTE timing at a frame rate other than 24, 25, 29.97 or 30, and a
///   song longer than a `REFERENCE_TIME` can hold.
pub fn read_smf(bytes: &[u8]) -> Result<Song, SmfError> {
    if bytes.is_empty() {
        return Err(SmfError(
            "empty file: a MIDI file starts with an `MThd` header".into(),
        ));
    }
    let smf = match bytes.get(..ID_BYTES) {
        Some(b"RIFF") => unwrap_rmid(bytes)?,
        _ => bytes,
    };
    if smf.get(..ID_BYTES) != Some(b"MThd".as_slice()) {
        return Err(SmfError(
            "not a MIDI file: it does not start with `MThd`".into(),
        ));
    }
    let mut warnings = Vec::new();
    let h: [u8; 6] = smf
        .get(8..14)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| SmfError("the `MThd` header is cut: it holds fewer than 6 bytes".into()))?;
    let header_len = four(smf, ID_BYTES).map_or(0, u32::from_be_bytes);
    if header_len < 6 {
        return Err(SmfError(std::format!(
            "the `MThd` header declares {header_len} bytes, fewer than the 6 it must hold"
        )));
    }
    let [f0, f1, n0, n1, d0, d1] = h;
    let (format, declared, division) = (
        u16::from_be_bytes([f0, f1]),
        u16::from_be_bytes([n0, n1]),
        u16::from_be_bytes([d0, d1]),
    );
    let format = match format {
        0..=2 => format as u8,
        f => {
            return Err(SmfError(std::format!(
                "unknown format {f} (a MIDI file is format 0, 1 or 2)"
            )));
        }
    };
    let (ppq, smpte) = if division & 0x8000 == 0 {
        if division == 0 {
            warnings.push("the header gives 0 ticks a quarter note: read as 1".into());
        }
        (Some(division.max(1)), (0, 1))
    } else {
        // Ticks a frame (the low byte; at most 255) and the frame rate (the high byte, negated).
        if division as u8 == 0 {
            warnings.push("the header gives 0 ticks a frame: read as 1".into());
        }
        let sub = u32::from(division as u8).max(1);
        let fps = (division >> 8) as u8 as i8;
        let (frames, secs): (u32, u32) = match fps {
            -24 => (24, 1),
            -25 => (25, 1),
            -29 => (30_000, 1001),
            -30 => (30, 1),
            _ => {
                return Err(SmfError(std::format!(
                    "SMPTE timing at {} frames a second (a MIDI file uses 24, 25, 29.97 or 30)",
                    i16::from(fps).unsigned_abs()
                )));
            }
        };
        let rate = (frames.saturating_mul(sub), secs);
        (None, rate)
    };
    let Chunks { tracks, trailing } = track_chunks(bytes, smf, declared, &mut warnings)?;
    if tracks.len() < usize::from(declared) {
        return Err(SmfError(std::format!(
            "the header declares {declared} track(s), the file holds {}: it is cut or corrupt",
            tracks.len()
        )));
    }
    if tracks.len() > usize::from(declared) {
        warnings.push(std::format!(
            "the header declares {declared} track(s), the file holds {}: all are played",
            tracks.len()
        ));
    }
    if format == 0 && tracks.len() > 1 {
        return Err(SmfError(std::format!(
            "a format 0 file holds one track, this one {}",
            tracks.len()
        )));
    }
    // Absolute ticks; format 2 tracks play one after the other.
    let mut raw: Vec<Raw> = Vec::new();
    let mut tempo_changes: Vec<(u64, u32)> = Vec::new();
    let mut start = 0u64;
    let mut end_tick = 0u64;
    let mut last_ended = true;
    for (k, t) in tracks.iter().enumerate() {
        let read = read_track(bytes, k, t, start, &mut warnings)?;
        last_ended = read.ended;
        raw.extend(read.messages);
        tempo_changes.extend(read.tempo);
        end_tick = end_tick.max(read.end);
        if format == 2 {
            start = read.end;
        }
    }
    if let Some((at, n)) = trailing {
        // Bytes after a last track that has no End-of-Track are likely the rest of it (its
        // chunk length is wrong): playing without them would drop events unseen.
        if !last_ended {
            return Err(SmfError(std::format!(
                "byte {at}: {n} bytes follow the last track, which has no End-of-Track: its \
                 length is wrong or the file is corrupt"
            )));
        }
        warnings.push(std::format!(
            "{n} bytes after the last track (from byte {at}) are not a chunk: ignored"
        ));
    }
    tempo_changes.sort_by_key(|c| c.0);
    if tempo_changes.first().is_none_or(|c| c.0 != 0) {
        tempo_changes.insert(0, (0, 500_000));
    }
    let tempo = TempoMap {
        ppq,
        smpte_ticks_per_second: smpte,
        changes: tempo_changes,
    };
    raw.sort_by_key(|r| (r.tick, r.track, r.index));
    let times = Times::new(&tempo);
    // Every track ends at or after its last message, so `end_tick` is the song's last tick.
    let last = times.time_of(end_tick);
    if last.is_nan() || last >= REFERENCE_TIME::MAX as f64 {
        return Err(SmfError(std::format!(
            "the song lasts {:.3e} s, longer than a REFERENCE_TIME holds",
            last / 1e7
        )));
    }
    let messages = raw
        .into_iter()
        .map(|r| TimedMessage {
            time: times.time_of(r.tick).round() as REFERENCE_TIME,
            tick: r.tick,
            bytes: r.bytes,
            kind: r.kind,
        })
        .collect::<Vec<_>>();
    Ok(Song {
        format,
        tempo,
        messages,
        end_tick,
        warnings,
    })
}

/// Splits a byte stream as a MIDI port sends it into messages (a SysEx from F0 to F7 is one
/// message; real-time bytes inside it are separate). Each message keeps the time of its first byte.
pub fn split_wire(bytes: &[(REFERENCE_TIME, u8)]) -> Vec<(REFERENCE_TIME, Vec<u8>)> {
    let mut out: Vec<(REFERENCE_TIME, Vec<u8>)> = Vec::new();
    let mut cur: Option<(REFERENCE_TIME, Vec<u8>, usize)> = None; // (time, bytes, expected length or 0 for SysEx)
    let mut running: Option<u8> = None;
    for &(t, b) in bytes {
        if b >= 0xF8 {
            out.push((t, std::vec![b]));
            continue;
        }
        if b & 0x80 != 0 {
            if let Some((ct, cb, need)) = cur.take() {
                if need == 0 && b == 0xF7 {
                    let mut cb = cb;
                    cb.push(b);
                    out.push((ct, cb));
                    continue;
                }
                out.push((ct, cb));
            }
            let need = match b {
                0x80..=0xBF | 0xE0..=0xEF | 0xF2 => 3,
                0xC0..=0xDF | 0xF1 | 0xF3 => 2,
                0xF0 => 0,
                _ => 1,
            };
            running = if b < 0xF0 { Some(b) } else { None };
            if need == 1 {
                out.push((t, std::vec![b]));
            } else {
                cur = Some((t, std::vec![b], need));
            }
            continue;
        }
        match cur.as_mut() {
            Some((_, cb, need)) => {
                cb.push(b);
                if *need != 0
                    && cb.len() == *need
                    && let Some((ct, cb, _)) = cur.take()
                {
                    out.push((ct, cb));
                }
            }
            None => {
                if let Some(s) = running {
                    let need = if (0xC0..=0xDF).contains(&s) { 2 } else { 3 };
                    let v = std::vec![s, b];
                    if v.len() == need {
                        out.push((t, v));
                    } else {
                        cur = Some((t, v, need));
                    }
                }
            }
        }
    }
    if let Some((ct, cb, _)) = cur {
        out.push((ct, cb));
    }
    out
}

/// Writes timed wire messages as a format 0 file with `tempo` (its tempo changes are written too).
pub fn write_smf(
    messages: &[(REFERENCE_TIME, Vec<u8>)],
    tempo: &TempoMap,
) -> Result<Vec<u8>, SmfError> {
    write_smf_until(messages, tempo, 0)
}

/// The most empty events [`write_smf_until`] writes to bridge long gaps.
const MAX_BRIDGES: u64 = 1 << 20;

/// The longest delta time an SMF event holds.
const MAX_DELTA: u64 = 0x0FFF_FFFF;

/// [`write_smf`], with the End-of-Track no earlier than `end` (a song's rest after its last
/// message is kept). A gap longer than a delta time holds (2^28 - 1 ticks) is bridged by empty
/// text events, which readers drop.
pub fn write_smf_until(
    messages: &[(REFERENCE_TIME, Vec<u8>)],
    tempo: &TempoMap,
    end: REFERENCE_TIME,
) -> Result<Vec<u8>, SmfError> {
    let ppq = tempo.ppq.unwrap_or(480);
    // Out files are always metrical: SMPTE input is written at 480 ppq and 120 bpm equivalents.
    let map = if tempo.ppq.is_some() {
        tempo.clone()
    } else {
        TempoMap::constant(480, 500_000)
    };
    let times = Times::new(&map);
    let mut timed: Vec<(u64, u8, TrackEventKind<'_>)> = Vec::new();
    for &(tick, us) in &map.changes {
        timed.push((
            tick,
            0,
            TrackEventKind::Meta(MetaMessage::Tempo(u24::new(us.min(0xFF_FFFF)))),
        ));
    }
    for (t, bytes) in messages {
        let tick = times.tick_of(*t);
        let kind = match bytes.first() {
            Some(0xF0) => TrackEventKind::SysEx(bytes.get(1..).unwrap_or(&[])),
            Some(&s) if (0x80..0xF0).contains(&s) => match midly::live::LiveEvent::parse(bytes) {
                Ok(midly::live::LiveEvent::Midi { channel, message }) => {
                    TrackEventKind::Midi { channel, message }
                }
                _ => TrackEventKind::Escape(bytes),
            },
            Some(_) => TrackEventKind::Escape(bytes),
            None => continue,
        };
        timed.push((tick, 1, kind));
    }
    timed.sort_by_key(|e| (e.0, e.1));
    let end_tick = times.tick_of(end).max(timed.last().map_or(0, |e| e.0));
    // Each gap longer than a delta time holds takes an empty event per 2^28 - 1 ticks: a song
    // whose ticks would need more than a million of them is refused rather than written as
    // gigabytes of padding.
    let bridges = end_tick / MAX_DELTA;
    if bridges > MAX_BRIDGES {
        return Err(SmfError(std::format!(
            "the song ends at tick {end_tick}: writing it would take {bridges} empty events to span the gaps (at most {MAX_BRIDGES})"
        )));
    }
    timed.push((end_tick, 2, TrackEventKind::Meta(MetaMessage::EndOfTrack)));
    let mut track: Vec<TrackEvent<'_>> = Vec::with_capacity(timed.len());
    let mut last = 0u64;
    for (tick, _, kind) in timed {
        let mut delta = tick.saturating_sub(last);
        last = tick;
        while delta > MAX_DELTA {
            track.push(TrackEvent {
                delta: u28::new(MAX_DELTA as u32),
                kind: TrackEventKind::Meta(MetaMessage::Text(&[])),
            });
            delta = delta.saturating_sub(MAX_DELTA);
        }
        track.push(TrackEvent {
            delta: u28::new(delta as u32),
            kind,
        });
    }
    let smf = Smf {
        header: Header::new(
            Format::SingleTrack,
            Timing::Metrical(u15::new(ppq.min(0x7FFF))),
        ),
        tracks: std::vec![track],
    };
    let mut out = Vec::new();
    smf.write(&mut out)
        .map_err(|e| SmfError(std::format!("cannot write the file: {e}")))?;
    Ok(out)
}
