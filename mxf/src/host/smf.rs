//! Standard MIDI Files in and out, through `midly`.
//!
//! [`read_smf`] turns a format 0, 1 (or 2) file into one time-ordered list of wire messages with
//! presentation times in 100 ns, following every tempo change; SysEx (including divided SysEx
//! continued by escape events) becomes the bytes that go over the wire. [`write_smf`] turns timed
//! wire bytes back into a format 0 file with a given tempo map.

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
    /// Ticks per second for SMPTE timing.
    pub smpte_ticks_per_second: u32,
    /// `(tick, microseconds per quarter)`, sorted by tick; the first entry is at tick 0.
    pub changes: Vec<(u64, u32)>,
}

impl TempoMap {
    /// A metrical map with one tempo.
    pub fn constant(ppq: u16, usec_per_quarter: u32) -> Self {
        Self {
            ppq: Some(ppq.max(1)),
            smpte_ticks_per_second: 0,
            changes: std::vec![(0, usec_per_quarter.max(1))],
        }
    }

    /// 100 ns units per tick at a tempo.
    fn units_per_tick(&self, usec_per_quarter: u32) -> f64 {
        match self.ppq {
            Some(ppq) => f64::from(usec_per_quarter) * 10.0 / f64::from(ppq),
            None => 10_000_000.0 / f64::from(self.smpte_ticks_per_second.max(1)),
        }
    }

    /// The presentation time of `tick`.
    pub fn time_of(&self, tick: u64) -> REFERENCE_TIME {
        let mut t = 0f64;
        let mut last_tick = 0u64;
        let mut tempo = self.changes.first().map_or(500_000, |c| c.1);
        for &(ct, ctempo) in &self.changes {
            if ct >= tick {
                break;
            }
            t += ct.saturating_sub(last_tick) as f64 * self.units_per_tick(tempo);
            last_tick = ct;
            tempo = ctempo;
        }
        t += tick.saturating_sub(last_tick) as f64 * self.units_per_tick(tempo);
        t.round() as REFERENCE_TIME
    }

    /// The tick nearest to `time`.
    pub fn tick_of(&self, time: REFERENCE_TIME) -> u64 {
        let time = time.max(0) as f64;
        let mut t = 0f64;
        let mut last_tick = 0u64;
        let mut tempo = self.changes.first().map_or(500_000, |c| c.1);
        for &(ct, ctempo) in &self.changes {
            let seg_end = t + (ct.saturating_sub(last_tick)) as f64 * self.units_per_tick(tempo);
            if seg_end > time {
                break;
            }
            t = seg_end;
            last_tick = ct;
            tempo = ctempo;
        }
        last_tick.saturating_add(((time - t) / self.units_per_tick(tempo)).round() as u64)
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
}

/// Reads a Standard MIDI File.
pub fn read_smf(bytes: &[u8]) -> Result<Song, SmfError> {
    if bytes.is_empty() {
        return Err(SmfError(
            "empty file: a MIDI file starts with an `MThd` header".into(),
        ));
    }
    if bytes.get(..4) != Some(b"MThd".as_slice()) {
        return Err(SmfError(
            "not a MIDI file: it does not start with `MThd`".into(),
        ));
    }
    let smf = Smf::parse(bytes).map_err(|e| SmfError(std::format!("malformed MIDI file: {e}")))?;
    let (ppq, smpte) = match smf.header.timing {
        Timing::Metrical(t) => (Some(t.as_int().max(1)), 0),
        Timing::Timecode(fps, sub) => (
            None,
            (fps.as_f32() * f32::from(sub)).round().max(1.0) as u32,
        ),
    };
    let format = match smf.header.format {
        Format::SingleTrack => 0,
        Format::Parallel => 1,
        Format::Sequential => 2,
    };
    // Absolute ticks; format 2 tracks play one after the other.
    let mut raw: Vec<(u64, usize, usize, TrackEventKind<'_>)> = Vec::new();
    let mut tempo_changes: Vec<(u64, u32)> = Vec::new();
    let mut offset = 0u64;
    for (ti, track) in smf.tracks.iter().enumerate() {
        let mut tick = offset;
        for (ei, ev) in track.iter().enumerate() {
            tick = tick.saturating_add(u64::from(ev.delta.as_int()));
            match ev.kind {
                TrackEventKind::Meta(MetaMessage::Tempo(t)) => {
                    tempo_changes.push((tick, t.as_int().max(1)))
                }
                TrackEventKind::Meta(_) => {}
                k => raw.push((tick, ti, ei, k)),
            }
        }
        if format == 2 {
            offset = tick;
        }
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
    raw.sort_by_key(|r| (r.0, r.1, r.2));
    let mut messages = Vec::with_capacity(raw.len());
    for (tick, _, _, kind) in raw {
        let (bytes, kind) = match kind {
            TrackEventKind::Midi { channel, message } => {
                let mut b = Vec::with_capacity(3);
                midly::live::LiveEvent::Midi { channel, message }
                    .write(&mut b)
                    .map_err(|e| SmfError(std::format!("cannot encode a message: {e}")))?;
                (b, MessageKind::Channel)
            }
            TrackEventKind::SysEx(data) => {
                let mut b = Vec::with_capacity(data.len().saturating_add(1));
                b.push(0xF0);
                b.extend_from_slice(data);
                (b, MessageKind::SysEx)
            }
            TrackEventKind::Escape(data) => {
                // An escape may carry a channel message, the start of a SysEx (F0 …), a
                // continuation of one (data bytes, or an F7 end), or other raw bytes.
                let kind = match (data.first(), data.last()) {
                    (Some(0x80..=0xEF), _) => MessageKind::Channel,
                    (Some(0x00..=0x7F | 0xF0), _) | (_, Some(0xF7)) => MessageKind::SysEx,
                    _ => MessageKind::Other,
                };
                (data.to_vec(), kind)
            }
            TrackEventKind::Meta(_) => continue,
        };
        if bytes.is_empty() {
            continue;
        }
        messages.push(TimedMessage {
            time: tempo.time_of(tick),
            tick,
            bytes,
            kind,
        });
    }
    Ok(Song {
        format,
        tempo,
        messages,
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
    let ppq = tempo.ppq.unwrap_or(480);
    // Out files are always metrical: SMPTE input is written at 480 ppq and 120 bpm equivalents.
    let map = if tempo.ppq.is_some() {
        tempo.clone()
    } else {
        TempoMap::constant(480, 500_000)
    };
    let mut timed: Vec<(u64, u8, TrackEventKind<'_>)> = Vec::new();
    for &(tick, us) in &map.changes {
        timed.push((
            tick,
            0,
            TrackEventKind::Meta(MetaMessage::Tempo(u24::new(us.min(0xFF_FFFF)))),
        ));
    }
    for (t, bytes) in messages {
        let tick = map.tick_of(*t);
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
    let mut track: Vec<TrackEvent<'_>> = Vec::with_capacity(timed.len().saturating_add(1));
    let mut last = 0u64;
    for (tick, _, kind) in timed {
        let delta = tick.saturating_sub(last).min(0x0FFF_FFFF) as u32;
        last = tick;
        track.push(TrackEvent {
            delta: u28::new(delta),
            kind,
        });
    }
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
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
