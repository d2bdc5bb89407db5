//! Standard MIDI Files in and out (events read through `midly`).
//!
//! [`read_smf`] turns a format 0, 1 or 2 file (also inside a RIFF RMID file) into one
//! time-ordered list of wire messages with presentation times in 100 ns, following every tempo
//! change; SysEx (a divided SysEx joined into one message) becomes the bytes that go over the
//! wire. It refuses files that are cut or unreadable, saying where, and tolerates defects that
//! lose nothing, listing them in [`Song::warnings`]. [`write_smf`] and [`write_smf_until`] turn
//! timed wire bytes back into a format 0 file with a given tempo map; [`SmfWriter`] does it one
//! message at a time and [`WireSplitter`] splits a byte stream into messages as it comes, so a
//! player can write what it plays without holding it. Songs are held compactly ([`Messages`]),
//! and sizes that come from a file are allocated fallibly: a file too big for memory is an
//! error, not an abort.
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
use midly::{MetaMessage, TrackEventKind};
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

impl MessageKind {
    /// The kind of a message's wire bytes: a channel status first is a channel message; F0
    /// first, a data byte first (a SysEx continued) or F7 last is a SysEx; anything else
    /// (system common, real-time) is other.
    pub fn of(bytes: &[u8]) -> Self {
        match (bytes.first(), bytes.last()) {
            (Some(0x80..=0xEF), _) => Self::Channel,
            (Some(0x00..=0x7F | 0xF0), _) | (_, Some(0xF7)) => Self::SysEx,
            _ => Self::Other,
        }
    }
}

/// One message on the wire at a presentation time: a view of one of [`Song::messages`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedMessage<'a> {
    /// Presentation time, 100 ns, from the start of the song.
    pub time: REFERENCE_TIME,
    /// Absolute tick in the file.
    pub tick: u64,
    /// The bytes as sent to a MIDI port (running status expanded).
    pub bytes: &'a [u8],
    /// The message kind ([`MessageKind::of`] its bytes).
    pub kind: MessageKind,
}

/// The wire messages of a [`Song`] in play order, held compactly: the bytes of every message in
/// one buffer, and for each message its tick and where its bytes end (12 bytes a message besides
/// its bytes; 16 when several tracks play together and the play order is kept as an index).
/// Presentation times are computed from the ticks with the song's tempo map, so a song takes
/// four to six times the size of its file (six for one that uses running status throughout).
///
/// [`get`](Self::get) and [`iter`](Self::iter) give [`TimedMessage`] views.
#[derive(Clone, Default)]
pub struct Messages {
    /// The bytes of every message, in stored order.
    bytes: Vec<u8>,
    /// Where each stored message's bytes end in `bytes`.
    ends: Vec<u32>,
    /// Each stored message's tick.
    ticks: Vec<u64>,
    /// The play order as indices into the stored order; empty when they are the same.
    order: Vec<u32>,
    /// Tick to time.
    times: Times,
}

/// `SmfError` for an allocation of `what` that failed.
fn no_memory(what: &str) -> SmfError {
    SmfError(std::format!("out of memory for {what}"))
}

/// Makes room for `n` more elements in `v`, or says that `what` do not fit.
fn room<T>(v: &mut Vec<T>, n: usize, what: &str) -> Result<(), SmfError> {
    v.try_reserve(n).map_err(|_| no_memory(what))
}

/// The most bytes [`Messages`] holds (its offsets are 32-bit).
const MAX_MESSAGE_BYTES: usize = u32::MAX as usize;

impl Messages {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    /// The `i`th message in play order.
    pub fn get(&self, i: usize) -> Option<TimedMessage<'_>> {
        let j = if self.order.is_empty() {
            i
        } else {
            *self.order.get(i)? as usize
        };
        let (tick, bytes) = self.stored(j)?;
        Some(TimedMessage {
            time: self.times.time_of(tick).round() as REFERENCE_TIME,
            tick,
            bytes,
            kind: MessageKind::of(bytes),
        })
    }

    /// The first message.
    pub fn first(&self) -> Option<TimedMessage<'_>> {
        self.get(0)
    }

    /// The last message.
    pub fn last(&self) -> Option<TimedMessage<'_>> {
        self.get(self.len().checked_sub(1)?)
    }

    /// The messages in play order.
    pub fn iter(&self) -> MessageIter<'_> {
        MessageIter {
            messages: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Where stored message `j` starts in `bytes`.
    fn start(&self, j: usize) -> usize {
        match j.checked_sub(1) {
            Some(p) => self.ends.get(p).map_or(0, |&e| e as usize),
            None => 0,
        }
    }

    /// Stored message `j`: its tick and bytes.
    fn stored(&self, j: usize) -> Option<(u64, &[u8])> {
        let tick = *self.ticks.get(j)?;
        let end = *self.ends.get(j)? as usize;
        Some((tick, self.bytes.get(self.start(j)..end)?))
    }

    /// Makes room for one more message of `n` bytes; its end offset.
    fn reserve(&mut self, n: usize) -> Result<u32, SmfError> {
        let end = self
            .bytes
            .len()
            .checked_add(n)
            .filter(|&e| e <= MAX_MESSAGE_BYTES)
            .ok_or_else(|| {
                SmfError(std::format!(
                    "the song's messages hold more than {MAX_MESSAGE_BYTES} bytes, the most a \
                     song holds"
                ))
            })?;
        room(&mut self.bytes, n, "the song's messages")?;
        room(&mut self.ends, 1, "the song's messages")?;
        room(&mut self.ticks, 1, "the song's messages")?;
        Ok(end as u32)
    }

    /// Appends a message at `tick` made of `head` then `tail`.
    fn push(&mut self, tick: u64, head: &[u8], tail: &[u8]) -> Result<(), SmfError> {
        let end = self.reserve(head.len().saturating_add(tail.len()))?;
        self.bytes.extend_from_slice(head);
        self.bytes.extend_from_slice(tail);
        self.ends.push(end);
        self.ticks.push(tick);
        Ok(())
    }

    /// Inserts a message at `tick` before stored message `at` (after the last if there is none).
    fn insert(&mut self, at: usize, tick: u64, data: &[u8]) -> Result<(), SmfError> {
        if at >= self.len() {
            return self.push(tick, data, &[]);
        }
        self.reserve(data.len())?;
        let start = self.start(at);
        // Within MAX_MESSAGE_BYTES, checked by `reserve`.
        let n = data.len() as u32;
        self.bytes.splice(start..start, data.iter().copied());
        self.ticks.insert(at, tick);
        self.ends.insert(at, start as u32);
        for e in self.ends.iter_mut().skip(at) {
            *e = e.saturating_add(n);
        }
        Ok(())
    }

    /// Sets the play order: the stored messages are `tracks` runs (`(first, end)` stored
    /// indices), each in tick order; they play merged by tick, the earlier track first on a tie.
    fn merge(&mut self, tracks: &[(usize, usize)]) -> Result<(), SmfError> {
        if self.ticks.is_sorted() {
            return Ok(());
        }
        let mut order: Vec<u32> = Vec::new();
        order
            .try_reserve_exact(self.len())
            .map_err(|_| no_memory("the song's play order"))?;
        // The next tick of each track, earliest first (ties: the earlier track).
        let mut heads = std::collections::BinaryHeap::new();
        heads
            .try_reserve_exact(tracks.len())
            .map_err(|_| no_memory("the song's play order"))?;
        let mut next: Vec<(usize, usize)> = Vec::new();
        room(&mut next, tracks.len(), "the song's play order")?;
        for (k, &(first, end)) in tracks.iter().enumerate() {
            next.push((first, end));
            if let Some(&t) = self.ticks.get(first).filter(|_| first < end) {
                heads.push(core::cmp::Reverse((t, k)));
            }
        }
        while let Some(core::cmp::Reverse((_, k))) = heads.pop() {
            let Some((j, end)) = next.get_mut(k) else {
                break;
            };
            order.push(*j as u32);
            *j = j.saturating_add(1);
            if let Some(&t) = self.ticks.get(*j).filter(|_| *j < *end) {
                heads.push(core::cmp::Reverse((t, k)));
            }
        }
        self.order = order;
        Ok(())
    }
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Messages {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Messages {}

impl<'a> IntoIterator for &'a Messages {
    type Item = TimedMessage<'a>;
    type IntoIter = MessageIter<'a>;

    fn into_iter(self) -> MessageIter<'a> {
        self.iter()
    }
}

/// The messages of a [`Messages`] in play order.
#[derive(Clone, Debug)]
pub struct MessageIter<'a> {
    messages: &'a Messages,
    front: usize,
    back: usize,
}

impl<'a> Iterator for MessageIter<'a> {
    type Item = TimedMessage<'a>;

    fn next(&mut self) -> Option<TimedMessage<'a>> {
        if self.front >= self.back {
            return None;
        }
        let m = self.messages.get(self.front);
        self.front = self.front.saturating_add(1);
        m
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back.saturating_sub(self.front);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for MessageIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back = self.back.saturating_sub(1);
        self.messages.get(self.back)
    }
}

impl ExactSizeIterator for MessageIter<'_> {}

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
#[derive(Clone, Debug, Default)]
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
    pub messages: Messages,
    /// The song's end: the latest End-of-Track of its tracks (at least the last message).
    pub end_tick: u64,
    /// Defects of the file that were tolerated, one line each (where, what, what was done);
    /// empty for a well-formed file. At most [`MAX_WARNINGS`] are listed, then one line counts
    /// the rest.
    pub warnings: Vec<String>,
}

impl Song {
    /// The presentation time of the song's end.
    pub fn end_time(&self) -> REFERENCE_TIME {
        self.tempo.time_of(self.end_tick)
    }
}

/// The most warnings a song lists; a file with more defects gets one more line that counts the
/// rest (so a hostile file of a million defects takes no memory for them).
pub const MAX_WARNINGS: usize = 100;

/// The warnings of a file being read: the first [`MAX_WARNINGS`], and how many more there were.
#[derive(Default)]
struct Warnings {
    list: Vec<String>,
    more: usize,
}

impl Warnings {
    fn push(&mut self, w: String) {
        if self.list.len() < MAX_WARNINGS && self.list.try_reserve(1).is_ok() {
            self.list.push(w);
        } else {
            self.more = self.more.saturating_add(1);
        }
    }

    fn into_list(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list.push(std::format!(
                "{} more defects like the ones above: not listed",
                self.more
            ));
        }
        self.list
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
/// A RIFF header or a `data` chunk length that does not match the file is listed in `warnings`:
/// the chunks are read by their own lengths, and a `data` chunk longer than the file is read to
/// its end.
fn unwrap_rmid<'a>(bytes: &'a [u8], warnings: &mut Warnings) -> Result<&'a [u8], SmfError> {
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
    let declared = four(bytes, ID_BYTES).map_or(0, u32::from_le_bytes);
    let holds = bytes.len().saturating_sub(8);
    if usize::try_from(declared) != Ok(holds) {
        warnings.push(std::format!(
            "the RIFF header declares {declared} bytes, the file holds {holds} after it: ignored"
        ));
    }
    let mut rest = bytes.get(12..).unwrap_or(&[]);
    while rest.len() >= 8 {
        let (id, len) = (rest.get(..ID_BYTES), four(rest, ID_BYTES));
        let len = len.map_or(0, |l| u32::from_le_bytes(l) as usize);
        let body = rest.get(8..).unwrap_or(&[]);
        let data = body.get(..len).unwrap_or(body);
        if id == Some(b"data".as_slice()) {
            if len > body.len() {
                warnings.push(std::format!(
                    "byte {}: the RMID `data` chunk claims {len} bytes, the file holds {} more: \
                     read to the end of the file",
                    offset_in(bytes, rest),
                    body.len()
                ));
            }
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
    warnings: &mut Warnings,
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

/// The SysEx a track has begun (an F0 event without F7) and continues with escape events.
struct Pending {
    tick: u64,
    /// The stored index it takes when it ends: before the messages of its track that came
    /// after its first packet.
    at: usize,
    bytes: Vec<u8>,
}

/// What reading one track gave (its messages went to the song's [`Messages`]).
struct TrackRead {
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
    messages: &mut Messages,
    warnings: &mut Warnings,
) -> Result<TrackRead, SmfError> {
    let mut out = TrackRead {
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
                    continue;
                }
                return Err(SmfError(std::format!(
                    "track {k}, byte {at}: {}",
                    diagnose(before, it.running_status().or(last_status))
                )));
            }
        };
        tick = tick.saturating_add(u64::from(ev.delta.as_int()));
        match ev.kind {
            TrackEventKind::Midi { channel, message } => {
                last_status = it.running_status();
                let mut b = [0u8; 3];
                let mut w = &mut b[..];
                midly::live::LiveEvent::Midi { channel, message }
                    .write(&mut w)
                    .map_err(|e| SmfError(std::format!("cannot encode a message: {e:?}")))?;
                let n = 3usize.saturating_sub(w.len());
                messages.push(tick, b.get(..n).unwrap_or(&b), &[])?;
            }
            TrackEventKind::SysEx(d) => {
                if let Some(p) = pending.take() {
                    close_sysex(k, p, messages, warnings, "a new SysEx")?;
                }
                if d.last() == Some(&0xF7) {
                    messages.push(tick, &[0xF0], d)?;
                } else {
                    let mut bytes = Vec::new();
                    room(&mut bytes, d.len().saturating_add(1), "a SysEx of the file")?;
                    bytes.push(0xF0);
                    bytes.extend_from_slice(d);
                    pending = Some(Pending {
                        tick,
                        at: messages.len(),
                        bytes,
                    });
                }
            }
            TrackEventKind::Escape(d) => {
                // An escape that starts a SysEx ends the one begun before it, as a new SysEx
                // event does: F0 inside a SysEx would end it on the wire anyway.
                if d.first() == Some(&0xF0)
                    && let Some(p) = pending.take()
                {
                    close_sysex(k, p, messages, warnings, "an escape that starts a SysEx")?;
                }
                match pending.as_mut() {
                    // A packet of the divided SysEx: joined to it (an empty one adds nothing).
                    Some(p) => {
                        room(&mut p.bytes, d.len(), "a SysEx of the file")?;
                        p.bytes.extend_from_slice(d);
                        if d.last() == Some(&0xF7)
                            && let Some(p) = pending.take()
                        {
                            messages.insert(p.at, p.tick, &p.bytes)?;
                        }
                    }
                    // A SysEx begun by an escape and not ended by it: divided, as one begun by
                    // a SysEx event is; the track's next escapes continue it.
                    None if d.first() == Some(&0xF0) && d.last() != Some(&0xF7) => {
                        let mut bytes = Vec::new();
                        room(&mut bytes, d.len(), "a SysEx of the file")?;
                        bytes.extend_from_slice(d);
                        pending = Some(Pending {
                            tick,
                            at: messages.len(),
                            bytes,
                        });
                    }
                    // Other escapes are sent as they are; an empty one is no message.
                    None if !d.is_empty() => messages.push(tick, d, &[])?,
                    None => {}
                }
            }
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
                room(&mut out.tempo, 1, "the tempo changes")?;
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
        close_sysex(k, p, messages, warnings, "the end of the track")?;
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

/// A SysEx of track `k` that `what` interrupted before its F7: ended with one, and stored.
fn close_sysex(
    k: usize,
    mut p: Pending,
    messages: &mut Messages,
    warnings: &mut Warnings,
    what: &str,
) -> Result<(), SmfError> {
    warnings.push(std::format!(
        "track {k}, tick {}: a SysEx without its F7 before {what}: ended with one",
        p.tick
    ));
    room(&mut p.bytes, 1, "a SysEx of the file")?;
    p.bytes.push(0xF7);
    messages.insert(p.at, p.tick, &p.bytes)
}

/// Reads a Standard MIDI File (also one inside a RIFF RMID file).
///
/// * Every track is read to its End-of-Track; format 0 and 1 tracks play together, format 2
///   tracks one after the other. Meta events other than tempo changes are dropped.
/// * A SysEx divided into packets (an F0 event without F7, or an escape event that starts with F0
///   and does not end with F7, continued by F7 escape events of its track) becomes one message
///   at the time of its first packet: the port and the wire carry a SysEx whole, and events of
///   other tracks between the packets would cut it. A SysEx whose F7 never comes (the track
///   ends, or a new SysEx or an escape starting with F0 comes first) is ended with one, with a
///   warning. Other escape events are sent as they are; an empty one is no message (and adds
///   nothing to a divided SysEx).
/// * Defects that lose nothing are tolerated and listed in [`Song::warnings`]: bytes after the
///   last track, more tracks than declared, running status across meta and SysEx events,
///   malformed meta events other than tempo, bytes after an End-of-Track, a missing
///   End-of-Track, a second header (ignored), an RMID file whose RIFF header or `data` chunk
///   length does not match the file. Chunks of unknown kinds are skipped without a warning, as
///   the SMF specification asks.
/// * Refused with a one-line [`SmfError`] that says where (track and byte): a file that is empty,
///   not an SMF, cut (a chunk longer than the file, fewer tracks than declared, a track that
///   ends inside an event), an event that cannot be read, a format above 2, a format 0 file
///   with several tracks, SMPTE timing at a frame rate other than 24, 25, 29.97 or 30, and a
///   song longer than a `REFERENCE_TIME` can hold.
/// * Memory: the song takes four to six times the file ([`Messages`]); every allocation whose
///   size comes from the file is fallible, so a song that does not fit in memory is refused
///   ("out of memory: …"), as is one whose messages hold more than 4 GiB (the most a song
///   holds), instead of aborting.
pub fn read_smf(bytes: &[u8]) -> Result<Song, SmfError> {
    if bytes.is_empty() {
        return Err(SmfError(
            "empty file: a MIDI file starts with an `MThd` header".into(),
        ));
    }
    let mut warnings = Warnings::default();
    let smf = match bytes.get(..ID_BYTES) {
        Some(b"RIFF") => unwrap_rmid(bytes, &mut warnings)?,
        _ => bytes,
    };
    if smf.get(..ID_BYTES) != Some(b"MThd".as_slice()) {
        return Err(SmfError(
            "not a MIDI file: it does not start with `MThd`".into(),
        ));
    }
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
    // Absolute ticks; format 2 tracks play one after the other. The messages are stored track
    // after track (`runs`: the stored indices of each track).
    let mut messages = Messages::default();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    room(&mut runs, tracks.len(), "the tracks")?;
    let mut tempo_changes: Vec<(u64, u32)> = Vec::new();
    let mut start = 0u64;
    let mut end_tick = 0u64;
    let mut last_ended = true;
    for (k, t) in tracks.iter().enumerate() {
        let first = messages.len();
        let read = read_track(bytes, k, t, start, &mut messages, &mut warnings)?;
        runs.push((first, messages.len()));
        last_ended = read.ended;
        room(&mut tempo_changes, read.tempo.len(), "the tempo changes")?;
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
    let times = Times::new(&tempo);
    // Every track ends at or after its last message, so `end_tick` is the song's last tick.
    let last = times.time_of(end_tick);
    if last.is_nan() || last >= REFERENCE_TIME::MAX as f64 {
        return Err(SmfError(std::format!(
            "the song lasts {:.3e} s, longer than a REFERENCE_TIME holds",
            last / 1e7
        )));
    }
    messages.merge(&runs)?;
    messages.times = times;
    Ok(Song {
        format,
        tempo,
        messages,
        end_tick,
        warnings: warnings.into_list(),
    })
}

/// Splits a byte stream as a MIDI port sends it into messages (a SysEx from F0 to F7 is one
/// message; real-time bytes inside it are separate). Each message keeps the time of its first
/// byte. [`WireSplitter`] does the same as the bytes come; a message too big for memory ends the
/// list here.
pub fn split_wire(bytes: &[(REFERENCE_TIME, u8)]) -> Vec<(REFERENCE_TIME, Vec<u8>)> {
    let mut out: Vec<(REFERENCE_TIME, Vec<u8>)> = Vec::new();
    let mut splitter = WireSplitter::new();
    let mut keep = |t: REFERENCE_TIME, m: &[u8]| -> Result<(), SmfError> {
        out.push((t, m.to_vec()));
        Ok(())
    };
    let mut split = || -> Result<(), SmfError> {
        for &(t, b) in bytes {
            splitter.push(t, b, &mut keep)?;
        }
        splitter.finish(&mut keep)
    };
    // The only error is a message that does not fit in memory: the list ends before it.
    let _ = split();
    out
}

/// A byte stream as a MIDI port sends it, split into messages as the bytes come (the rules of
/// [`split_wire`]): each message goes to a sink, with the time of its first byte, as soon as it
/// is complete; a real-time byte goes at once, also from inside another message (so it comes
/// before that message).
///
/// ```
/// use mxf::host::smf::{SmfError, WireSplitter};
///
/// let mut got = Vec::new();
/// let mut sink = |t: i64, m: &[u8]| -> Result<(), SmfError> {
///     got.push((t, m.to_vec()));
///     Ok(())
/// };
/// let mut s = WireSplitter::new();
/// for (t, b) in [(0, 0x90), (0, 0x3C), (1, 0xF8), (1, 0x40), (2, 0x3E), (2, 0x00)] {
///     s.push(t, b, &mut sink)?;
/// }
/// s.finish(&mut sink)?;
/// assert_eq!(
///     got,
///     [(1, vec![0xF8]), (0, vec![0x90, 0x3C, 0x40]), (2, vec![0x90, 0x3E, 0x00])]
/// );
/// # Ok::<(), SmfError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct WireSplitter {
    /// The message being assembled; empty when there is none.
    cur: Vec<u8>,
    /// Its time (that of its first byte).
    time: REFERENCE_TIME,
    /// Its length when complete; 0 for a SysEx (complete at its F7).
    need: usize,
    /// The channel status that data bytes without one continue.
    running: Option<u8>,
}

/// A message [`WireSplitter`] keeps assembling with no more than this capacity once it is
/// handed on (a long SysEx's buffer is given back).
const SPLITTER_KEPT_CAPACITY: usize = 4096;

impl WireSplitter {
    /// A splitter at the start of a stream (no running status).
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next byte of the stream, which arrived at `time`; hands every message it
    /// completes to `sink`. Fails with the sink's error, or if a message does not fit in memory.
    pub fn push<E, F>(&mut self, time: REFERENCE_TIME, byte: u8, sink: &mut F) -> Result<(), E>
    where
        E: From<SmfError>,
        F: FnMut(REFERENCE_TIME, &[u8]) -> Result<(), E> + ?Sized,
    {
        if byte >= 0xF8 {
            return sink(time, &[byte]);
        }
        if byte & 0x80 != 0 {
            if !self.cur.is_empty() {
                if self.need == 0 && byte == 0xF7 {
                    self.add(byte)?;
                    return self.emit(sink);
                }
                self.emit(sink)?;
            }
            let need = match byte {
                0x80..=0xBF | 0xE0..=0xEF | 0xF2 => 3,
                0xC0..=0xDF | 0xF1 | 0xF3 => 2,
                0xF0 => 0,
                _ => 1,
            };
            self.running = (byte < 0xF0).then_some(byte);
            if need == 1 {
                return sink(time, &[byte]);
            }
            return Ok(self.start(time, &[byte], need)?);
        }
        if !self.cur.is_empty() {
            self.add(byte)?;
            if self.need != 0 && self.cur.len() == self.need {
                return self.emit(sink);
            }
            return Ok(());
        }
        match self.running {
            Some(s) if (0xC0..=0xDF).contains(&s) => sink(time, &[s, byte]),
            Some(s) => Ok(self.start(time, &[s, byte], 3)?),
            // A data byte with neither a message nor running status: dropped.
            None => Ok(()),
        }
    }

    /// The end of the stream: an unfinished message goes to `sink` as it is.
    pub fn finish<E, F>(&mut self, sink: &mut F) -> Result<(), E>
    where
        E: From<SmfError>,
        F: FnMut(REFERENCE_TIME, &[u8]) -> Result<(), E> + ?Sized,
    {
        if self.cur.is_empty() {
            return Ok(());
        }
        self.emit(sink)
    }

    fn start(&mut self, time: REFERENCE_TIME, bytes: &[u8], need: usize) -> Result<(), SmfError> {
        room(&mut self.cur, bytes.len(), "a message on the wire")?;
        self.cur.extend_from_slice(bytes);
        self.time = time;
        self.need = need;
        Ok(())
    }

    fn add(&mut self, byte: u8) -> Result<(), SmfError> {
        room(&mut self.cur, 1, "a message on the wire")?;
        self.cur.push(byte);
        Ok(())
    }

    fn emit<E, F>(&mut self, sink: &mut F) -> Result<(), E>
    where
        F: FnMut(REFERENCE_TIME, &[u8]) -> Result<(), E> + ?Sized,
    {
        let r = sink(self.time, &self.cur);
        self.cur.clear();
        if self.cur.capacity() > SPLITTER_KEPT_CAPACITY {
            self.cur = Vec::new();
        }
        r
    }
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

/// The longest delta time an SMF event holds, and the longest SysEx or escape event.
const MAX_DELTA: u64 = 0x0FFF_FFFF;

/// [`write_smf`], with the End-of-Track no earlier than `end` (a song's rest after its last
/// message is kept). A gap longer than a delta time holds (2^28 - 1 ticks) is bridged by empty
/// text events, which readers drop. Messages are written at their ticks in time order (ties keep
/// the order of the slice), a tempo change before the messages of its tick; a channel message is
/// written with running status, a message that is not one SysEx or one channel message as an
/// escape. [`SmfWriter`] writes the same file one message at a time.
pub fn write_smf_until(
    messages: &[(REFERENCE_TIME, Vec<u8>)],
    tempo: &TempoMap,
    end: REFERENCE_TIME,
) -> Result<Vec<u8>, SmfError> {
    let mut w = SmfWriter::new(tempo);
    for (t, bytes) in messages {
        w.push(*t, bytes)?;
    }
    w.finish(end)
}

/// Bytes before a format 0 file's first event: the header chunk, then the track chunk's id and
/// length.
const FILE_HEAD: usize = 22;

/// Where the track chunk's length sits in the file.
const TRACK_LENGTH_AT: usize = 18;

/// A format 0 file written one message at a time: the file [`write_smf_until`] writes of the
/// same messages, without holding them.
///
/// Messages that come in time order are written at once, so memory holds little more than the
/// file. A message earlier than one already written (a real-time byte on the wire overtakes the
/// message it interrupted, for one) makes the writer keep everything from there on, compactly,
/// and sort it at [`finish`](Self::finish). Allocation failures are errors, not aborts.
///
/// ```
/// use mxf::host::smf::{SmfError, SmfWriter, TempoMap, read_smf, write_smf};
///
/// let tempo = TempoMap::constant(480, 500_000);
/// let mut w = SmfWriter::new(&tempo);
/// w.push(0, &[0x90, 60, 100])?;
/// w.push(5_000_000, &[0x80, 60, 0])?;
/// let file = w.finish(0)?;
/// let played = [(0, vec![0x90, 60, 100]), (5_000_000, vec![0x80, 60, 0])];
/// assert_eq!(file, write_smf(&played, &tempo)?);
/// assert_eq!(read_smf(&file)?.messages.len(), 2);
/// # Ok::<(), SmfError>(())
/// ```
#[derive(Debug)]
pub struct SmfWriter {
    times: Times,
    /// The map's tempo changes, `(tick, microseconds a quarter)`, by tick.
    tempo: Vec<(u64, u32)>,
    /// How many of them are written.
    tempo_done: usize,
    /// The file so far: the header, the track chunk's id and length (set at the end), events.
    out: Vec<u8>,
    /// The tick of the last event written.
    tick: u64,
    /// The channel status a channel message may leave out.
    running: Option<u8>,
    /// Once a message came out of time order: every message from the first one on, in the
    /// order of the calls, written sorted at the end.
    late: Option<Messages>,
}

impl SmfWriter {
    /// A file with the tempo map `tempo` (written at its ticks). Files are always metrical:
    /// SMPTE timing is written at 480 ticks a quarter note and 120 bpm.
    pub fn new(tempo: &TempoMap) -> Self {
        let ppq = tempo.ppq.unwrap_or(480);
        let map = if tempo.ppq.is_some() {
            tempo.clone()
        } else {
            TempoMap::constant(480, 500_000)
        };
        let mut out = Vec::with_capacity(FILE_HEAD);
        out.extend_from_slice(b"MThd");
        out.extend_from_slice(&6u32.to_be_bytes());
        // Format 0, one track.
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&ppq.min(0x7FFF).to_be_bytes());
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&[0; 4]);
        Self {
            times: Times::new(&map),
            tempo: map.changes,
            tempo_done: 0,
            out,
            tick: 0,
            running: None,
            late: None,
        }
    }

    /// Adds a message at `time` (an empty one is skipped). Refused: a message later than the
    /// file can reach with at most 2^20 bridging events, one longer than an event holds
    /// (2^28 - 1 bytes), or one that does not fit in memory.
    pub fn push(&mut self, time: REFERENCE_TIME, bytes: &[u8]) -> Result<(), SmfError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let tick = self.times.tick_of(time);
        reachable(tick)?;
        if self.late.is_none() && tick < self.tick {
            self.keep_from_here()?;
        }
        match self.late.as_mut() {
            Some(late) => late.push(tick, bytes, &[]),
            None => {
                self.tempo_until(tick)?;
                self.event(tick, bytes)
            }
        }
    }

    /// The file, its End-of-Track at `end` or at its last event if that is later.
    pub fn finish(mut self, end: REFERENCE_TIME) -> Result<Vec<u8>, SmfError> {
        if let Some(late) = self.late.take() {
            let mut order: Vec<u32> = Vec::new();
            order
                .try_reserve_exact(late.len())
                .map_err(|_| no_memory("the messages to write"))?;
            // Fewer than 2^32 messages: `Messages` holds fewer bytes.
            order.extend((0..late.len()).map(|i| i as u32));
            order.sort_by_key(|&i| late.ticks.get(i as usize).copied().unwrap_or(0));
            for i in order {
                if let Some((tick, bytes)) = late.stored(i as usize) {
                    self.tempo_until(tick)?;
                    self.event(tick, bytes)?;
                }
            }
        }
        let last_tempo = self.tempo.last().map_or(0, |c| c.0);
        let end_tick = self.times.tick_of(end).max(self.tick).max(last_tempo);
        reachable(end_tick)?;
        self.tempo_until(u64::MAX)?;
        self.delta_to(end_tick)?;
        self.put(&[0xFF, 0x2F, 0x00])?;
        let len = u32::try_from(self.out.len().saturating_sub(FILE_HEAD)).map_err(|_| {
            SmfError("cannot write the file: its track would hold more than 4 GiB".into())
        })?;
        if let Some(at) = self
            .out
            .get_mut(TRACK_LENGTH_AT..TRACK_LENGTH_AT.saturating_add(4))
        {
            at.copy_from_slice(&len.to_be_bytes());
        }
        Ok(self.out)
    }

    /// Moves what is written back into messages, kept from now on and sorted at the end.
    fn keep_from_here(&mut self) -> Result<(), SmfError> {
        let mut late = Messages::default();
        reread(self.out.get(FILE_HEAD..).unwrap_or(&[]), &mut late)?;
        self.out.truncate(FILE_HEAD);
        self.tempo_done = 0;
        self.tick = 0;
        self.running = None;
        self.late = Some(late);
        Ok(())
    }

    /// Writes the tempo changes up to `tick`.
    fn tempo_until(&mut self, tick: u64) -> Result<(), SmfError> {
        while let Some(&(t, us)) = self.tempo.get(self.tempo_done) {
            if t > tick {
                break;
            }
            self.delta_to(t)?;
            let [_, a, b, c] = us.min(0xFF_FFFF).to_be_bytes();
            self.put(&[0xFF, 0x51, 0x03, a, b, c])?;
            self.running = None;
            self.tempo_done = self.tempo_done.saturating_add(1);
        }
        Ok(())
    }

    /// Writes one message at `tick` (not before the last event).
    fn event(&mut self, tick: u64, bytes: &[u8]) -> Result<(), SmfError> {
        self.delta_to(tick)?;
        if let [0xF0, data @ ..] = bytes {
            self.running = None;
            self.put(&[0xF0])?;
            return self.sized(data);
        }
        if let [s @ 0x80..=0xEF, rest @ ..] = bytes
            && let Some(data) = rest.get(..channel_data_len(*s))
            && data.iter().all(|b| *b < 0x80)
        {
            // Bytes after the message's data are not written (as a MIDI port would drop them).
            if self.running != Some(*s) {
                self.put(&[*s])?;
                self.running = Some(*s);
            }
            return self.put(data);
        }
        self.running = None;
        self.put(&[0xF7])?;
        self.sized(bytes)
    }

    /// Writes the delta time to `tick`, bridging a gap longer than a delta time holds.
    fn delta_to(&mut self, tick: u64) -> Result<(), SmfError> {
        let mut delta = tick.saturating_sub(self.tick);
        self.tick = self.tick.max(tick);
        while delta > MAX_DELTA {
            self.varlen(MAX_DELTA)?;
            self.put(&[0xFF, 0x01, 0x00])?;
            self.running = None;
            delta = delta.saturating_sub(MAX_DELTA);
        }
        self.varlen(delta)
    }

    /// Writes a length, then `data`.
    fn sized(&mut self, data: &[u8]) -> Result<(), SmfError> {
        let n = u64::try_from(data.len())
            .ok()
            .filter(|&n| n <= MAX_DELTA)
            .ok_or_else(|| {
                SmfError(std::format!(
                    "cannot write the file: a message of {} bytes (an event holds at most {MAX_DELTA})",
                    data.len()
                ))
            })?;
        self.varlen(n)?;
        self.put(data)
    }

    /// Writes a variable-length quantity (at most 2^28 - 1).
    fn varlen(&mut self, v: u64) -> Result<(), SmfError> {
        let groups = [(v >> 21) as u8, (v >> 14) as u8, (v >> 7) as u8, v as u8];
        let first = groups.iter().position(|&g| g & 0x7F != 0).unwrap_or(3);
        let mut b = [0u8; 4];
        let mut n = 0usize;
        for (i, g) in groups.iter().enumerate().skip(first) {
            if let Some(slot) = b.get_mut(n) {
                *slot = if i == 3 { g & 0x7F } else { g | 0x80 };
            }
            n = n.saturating_add(1);
        }
        self.put(b.get(..n).unwrap_or(&b))
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), SmfError> {
        room(&mut self.out, bytes.len(), "the file being written")?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

/// Refuses a tick that would take more than [`MAX_BRIDGES`] empty events to reach: a file of
/// that song would be gigabytes of padding.
fn reachable(tick: u64) -> Result<(), SmfError> {
    let bridges = tick / MAX_DELTA;
    if bridges > MAX_BRIDGES {
        return Err(SmfError(std::format!(
            "the song reaches tick {tick}: writing it would take {bridges} empty events to span the gaps (at most {MAX_BRIDGES})"
        )));
    }
    Ok(())
}

/// The data bytes of a channel message with status `s`.
fn channel_data_len(s: u8) -> usize {
    if (0xC0..=0xDF).contains(&s) { 1 } else { 2 }
}

/// Reads the messages back from events [`SmfWriter`] wrote (tempo and padding events are
/// skipped: the writer writes them again).
fn reread(track: &[u8], into: &mut Messages) -> Result<(), SmfError> {
    let bad = || SmfError("cannot write the file: its events do not read back".into());
    let mut rest = track;
    let mut tick = 0u64;
    let mut running: Option<u8> = None;
    while !rest.is_empty() {
        let (d, delta) = vlq(rest).ok_or_else(bad)?;
        tick = tick.saturating_add(delta);
        rest = rest.get(d..).ok_or_else(bad)?;
        let first = *rest.first().ok_or_else(bad)?;
        let (status, at) = match first {
            0x00..=0x7F => (running.ok_or_else(bad)?, 0),
            _ => (first, 1usize),
        };
        let body = rest.get(at..).ok_or_else(bad)?;
        let used = match status {
            0x80..=0xEF => {
                running = Some(status);
                let n = channel_data_len(status);
                into.push(tick, &[status], body.get(..n).ok_or_else(bad)?)?;
                n
            }
            0xF0 | 0xF7 | 0xFF => {
                running = None;
                // A meta event's type byte comes before its length.
                let skip = usize::from(status == 0xFF);
                let (l, len) = vlq(body.get(skip..).ok_or_else(bad)?).ok_or_else(bad)?;
                let from = skip.saturating_add(l);
                let to = usize::try_from(len)
                    .ok()
                    .and_then(|n| from.checked_add(n))
                    .ok_or_else(bad)?;
                let data = body.get(from..to).ok_or_else(bad)?;
                match status {
                    0xF0 => into.push(tick, &[0xF0], data)?,
                    0xF7 => into.push(tick, data, &[])?,
                    _ => {}
                }
                to
            }
            _ => return Err(bad()),
        };
        rest = body.get(used..).ok_or_else(bad)?;
    }
    Ok(())
}
