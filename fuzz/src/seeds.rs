//! Seed corpora, made by code: valid (and tolerably defective) Standard MIDI Files, DirectMusic
//! and KS render buffers of several records, raw capture byte streams, and pseudo-random bytes
//! for the structured targets. `gen_corpus` writes them to `fuzz/corpus/<target>/`.

use crate::{
    CAPTURE_BOUNDED, CAPTURE_DISCONNECT, CAPTURE_FLUSH, CAPTURE_KS, CAPTURE_PACKAGE,
    CAPTURE_PACKER, CAPTURE_POOL_FAULTS, CAPTURE_RESTART, CaptureInput, UNPACK_BOUNDED,
    UNPACK_CONNECTED, UNPACK_DELIVER_EACH, UNPACK_DISCONNECT, UNPACK_PER_RECORD,
    UNPACK_POOL_FAULTS, UNPACK_RESTART, UnpackerInput,
};
use mxf::components::unpacker::{DmusBufferWriter, KsBufferWriter};
use mxf::host::smf::{TempoMap, write_smf};

/// The fuzz targets, by name (each has a seed set here and a binary in `fuzz_targets/`).
pub const TARGETS: [&str; 6] = [
    "smf",
    "dmus_unpacker",
    "ks_unpacker",
    "capture_sink",
    "packer",
    "filter_chain",
];

/// The seeds of `target`: `(file name, bytes)`. Empty for an unknown target.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "smf" => smf_seeds(),
        "dmus_unpacker" => dmus_seeds(),
        "ks_unpacker" => ks_seeds(),
        "capture_sink" => capture_seeds(),
        "packer" | "filter_chain" => random_seeds(target),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Standard MIDI Files
// ---------------------------------------------------------------------------------------------

/// A variable-length quantity.
pub fn vlq(mut n: u32) -> Vec<u8> {
    let mut out = vec![(n & 0x7F) as u8];
    n >>= 7;
    while n > 0 {
        out.insert(0, (n & 0x7F) as u8 | 0x80);
        n >>= 7;
    }
    out
}

/// A chunk: id, big-endian length, body.
pub fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An `MThd` chunk.
pub fn header(format: u16, tracks: u16, division: u16) -> Vec<u8> {
    let mut body = format.to_be_bytes().to_vec();
    body.extend_from_slice(&tracks.to_be_bytes());
    body.extend_from_slice(&division.to_be_bytes());
    chunk(b"MThd", &body)
}

/// An `MTrk` chunk of `(delta, event bytes as written)`: the caller writes running status,
/// meta and SysEx events (length included) as they appear in the file.
pub fn track(events: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (delta, bytes) in events {
        body.extend(vlq(*delta));
        body.extend_from_slice(bytes);
    }
    chunk(b"MTrk", &body)
}

/// A meta event: `FF type len data`.
pub fn meta(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0xFF, kind];
    v.extend(vlq(data.len() as u32));
    v.extend_from_slice(data);
    v
}

/// A SysEx (`F0`) or escape (`F7`) event: the byte, the length, the data.
pub fn sysex_event(first: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    v.extend(vlq(data.len() as u32));
    v.extend_from_slice(data);
    v
}

/// The End-of-Track meta event.
pub fn end_of_track() -> Vec<u8> {
    meta(0x2F, &[])
}

/// A RIFF RMID file holding `smf` in its `data` chunk.
pub fn rmid(smf: &[u8]) -> Vec<u8> {
    let mut body = b"RMID".to_vec();
    body.extend_from_slice(b"data");
    body.extend_from_slice(&(smf.len() as u32).to_le_bytes());
    body.extend_from_slice(smf);
    if smf.len() % 2 == 1 {
        body.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// A format 0 song: tempo, time signature, name, program change, notes in running status,
/// controllers, pitch bend, aftertouch, a GM reset SysEx.
fn song_format0() -> Vec<u8> {
    let mut t = vec![
        (0, meta(0x03, b"seed")),
        (0, meta(0x51, &[0x07, 0xA1, 0x20])),
        (0, meta(0x58, &[4, 2, 24, 8])),
        (0, sysex_event(0xF0, &[0x7E, 0x7F, 0x09, 0x01, 0xF7])),
        (0, vec![0xC0, 5]),
        (0, vec![0xB0, 7, 100]),
        (0, vec![0x90, 60, 100]),
        (0, vec![64, 90]),
        (0, vec![67, 80]),
        (240, vec![0xE0, 0, 0x50]),
        (0, vec![0xA0, 60, 30]),
        (0, vec![0xD0, 40]),
        (240, vec![0x80, 60, 0]),
        (0, vec![64, 0]),
        (0, vec![67, 0]),
    ];
    t.push((480, end_of_track()));
    [header(0, 1, 480), track(&t)].concat()
}

/// A format 1 song of three tracks: a tempo track with changes and markers, a melody in running
/// status, and a SysEx divided into packets (F0 without F7, continued by F7 escapes), with a
/// real-time escape.
fn song_format1() -> Vec<u8> {
    let tempo = track(&[
        (0, meta(0x51, &[0x07, 0xA1, 0x20])),
        (0, meta(0x06, b"intro")),
        (960, meta(0x51, &[0x03, 0xD0, 0x90])),
        (960, meta(0x51, &[0x0F, 0x42, 0x40])),
        (0, end_of_track()),
    ]);
    let mut melody = vec![(0, meta(0x03, b"melody")), (0, vec![0x91, 72, 110])];
    for k in 0..40u8 {
        melody.push((60, vec![72 + (k % 12), 0]));
        melody.push((0, vec![72 + ((k + 1) % 12), 100]));
    }
    melody.push((60, vec![0x81, 72, 64]));
    melody.push((0, end_of_track()));
    let divided = track(&[
        (10, sysex_event(0xF0, &[0x43, 0x10, 0x4C, 0x00])),
        (5, sysex_event(0xF7, &[0x00, 0x7E, 0x00])),
        (5, sysex_event(0xF7, &[0x01, 0xF7])),
        (0, sysex_event(0xF7, &[0xF8])),
        (20, vec![0xB2, 64, 127]),
        (20, vec![0xB2, 64, 0]),
        (0, end_of_track()),
    ]);
    [header(1, 3, 96), tempo, track(&melody), divided].concat()
}

/// A format 2 file: two patterns played one after the other.
fn song_format2() -> Vec<u8> {
    let pattern = |key: u8| {
        track(&[
            (0, vec![0x99, key, 100]),
            (24, vec![0x89, key, 0]),
            (24, vec![0x99, key + 2, 90]),
            (24, vec![key + 2, 0]),
            (0, end_of_track()),
        ])
    };
    [header(2, 2, 24), pattern(36), pattern(38)].concat()
}

/// SMPTE timing: 25 frames a second, 40 ticks a frame (millisecond ticks), and 29.97 drop frame.
fn song_smpte(fps: i8, ticks: u8) -> Vec<u8> {
    let division = u16::from_be_bytes([fps as u8, ticks]);
    let t = track(&[
        (0, vec![0x90, 60, 100]),
        (500, vec![0x80, 60, 0]),
        (0, vec![62, 0]),
        (0, end_of_track()),
    ]);
    [header(0, 1, division), t].concat()
}

/// Defects the reader tolerates: running status across a meta event, a malformed meta event,
/// events after End-of-Track, more tracks than declared, bytes after the last track.
fn song_tolerated() -> Vec<u8> {
    let first = track(&[
        (0, vec![0x90, 60, 100]),
        (0, meta(0x01, b"text")),
        (100, vec![60, 0]),
        (0, meta(0x58, &[4])),
        (0, end_of_track()),
        (0, vec![0x90, 62, 100]),
    ]);
    let second = track(&[(0, vec![0xC3, 1]), (0, end_of_track())]);
    [header(1, 1, 0), first, second, vec![0, 0, 0]].concat()
}

/// Many short notes (a few hundred messages).
fn song_long() -> Vec<u8> {
    let mut t = Vec::new();
    for k in 0..300u32 {
        let key = 36 + (k % 48) as u8;
        t.push((k % 7, vec![0x90 | (k % 16) as u8, key, 1 + (k % 127) as u8]));
        t.push((3, vec![0x80 | (k % 16) as u8, key, 0]));
    }
    t.push((0, end_of_track()));
    [header(0, 1, 960), track(&t)].concat()
}

fn smf_seeds() -> Vec<(String, Vec<u8>)> {
    let written = write_smf(
        &[
            (0, vec![0x90, 60, 100]),
            (2_500_000, vec![0xF0, 1, 2, 3, 0xF7]),
            (5_000_000, vec![0x80, 60, 0]),
            (5_000_000, vec![0xF8]),
        ],
        &TempoMap::constant(480, 500_000),
    )
    .expect("a small song is written");
    vec![
        ("format0.mid".into(), song_format0()),
        ("format1.mid".into(), song_format1()),
        ("format2.mid".into(), song_format2()),
        ("smpte25.mid".into(), song_smpte(-25, 40)),
        ("smpte2997.mid".into(), song_smpte(-29, 4)),
        ("tolerated.mid".into(), song_tolerated()),
        ("long.mid".into(), song_long()),
        ("rmid.rmi".into(), rmid(&song_format1())),
        ("written.mid".into(), written),
    ]
}

// ---------------------------------------------------------------------------------------------
// Render buffers
// ---------------------------------------------------------------------------------------------

/// A SysEx of `len` data bytes.
fn sysex(len: usize) -> Vec<u8> {
    let mut v = vec![0xF0];
    v.extend((0..len).map(|i| (i % 128) as u8));
    v.push(0xF7);
    v
}

/// DirectMusic records as DirectMusic writes them: `(group, rtDelta, structured, data)`.
fn dmus_stream(records: &[(u32, i64, bool, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = vec![0u8; 16 * 1024];
    let mut w = DmusBufferWriter::new(&mut bytes);
    for (group, delta, structured, data) in records {
        w.push(*group, *delta, *structured, data)
            .expect("the seed fits");
    }
    w.as_bytes().to_vec()
}

fn dmus_seeds() -> Vec<(String, Vec<u8>)> {
    let notes = dmus_stream(&[
        (1, 0, true, vec![0x90, 60, 100, 64, 100]),
        (1, 10_000, true, vec![0xB0, 7, 90, 0xC0, 3]),
        (2, 20_000, true, vec![0xE0, 0, 0x40]),
        (1, 5_000_000, true, vec![0x80, 60, 0]),
        (1, 5_000_000, true, vec![64, 0]),
    ]);
    // A message and a SysEx cut by record boundaries, real-time bytes inside both.
    let cut = dmus_stream(&[
        (1, 0, true, vec![0x90, 60]),
        (1, 100, true, vec![0xF8, 100]),
        (3, 200, true, vec![0xF0, 0x7E, 0x7F]),
        (3, 300, true, vec![0x09, 0xFE, 0x01]),
        (3, 400, true, vec![0xF7, 0xF4, 0xF6, 0xF1, 0x10, 0xF2, 1, 2]),
        (1, 500, true, vec![0x30, 0x31, 0xF7]),
    ]);
    let long_sysex = dmus_stream(&[
        (1, 0, true, sysex(600)),
        (1, 0, true, [&sysex(100)[..101], &[0x90, 1, 2][..]].concat()),
    ]);
    let unstructured = dmus_stream(&[
        (1, 0, false, vec![0x90, 60, 100]),
        (2, 10, false, sysex(300)),
        (0x1_0005, 20, false, vec![0xF8]),
        (1, 30, true, vec![0x80, 60, 0]),
    ]);
    let mut truncated = notes.clone();
    truncated.truncate(notes.len() - 5);
    let many = dmus_stream(
        &(0..200u32)
            .map(|k| {
                let key = (k % 128) as u8;
                (1 + k % 3, i64::from(k) * 1000, true, vec![0x90, key, 64])
            })
            .collect::<Vec<_>>(),
    );
    let input = |flags: u8, bound: u8, irp_units: u8, stream: &[u8]| {
        UnpackerInput {
            flags,
            bound,
            irp_units,
            time_step_ms: 1,
            stream,
        }
        .encode()
    };
    let c = UNPACK_CONNECTED | UNPACK_DELIVER_EACH;
    vec![
        ("notes".into(), input(c, 0, 0, &notes)),
        (
            "notes_unconnected".into(),
            input(UNPACK_DELIVER_EACH, 0, 0, &notes),
        ),
        ("cut".into(), input(c, 0, 0, &cut)),
        ("cut_in_irps".into(), input(c, 0, 4, &cut)),
        ("cut_restart".into(), input(c | UNPACK_RESTART, 0, 4, &cut)),
        ("long_sysex".into(), input(c, 0, 0, &long_sysex)),
        (
            "long_sysex_bounded".into(),
            input(c | UNPACK_BOUNDED, 2, 16, &long_sysex),
        ),
        ("unstructured".into(), input(c, 0, 0, &unstructured)),
        (
            "unstructured_per_record".into(),
            input(c | UNPACK_PER_RECORD, 0, 0, &unstructured),
        ),
        ("truncated".into(), input(c, 0, 0, &truncated)),
        ("many_once".into(), input(UNPACK_CONNECTED, 0, 32, &many)),
        (
            "many_bounded".into(),
            input(c | UNPACK_BOUNDED, 40, 32, &many),
        ),
        (
            "many_disconnect".into(),
            input(c | UNPACK_DISCONNECT, 0, 64, &many),
        ),
        (
            "many_pool_faults".into(),
            input(UNPACK_CONNECTED | UNPACK_POOL_FAULTS, 1, 64, &many),
        ),
    ]
}

/// KS packets: `(TimeDeltaMs, data)`.
fn ks_stream(packets: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = vec![0u8; 16 * 1024];
    let mut w = KsBufferWriter::new(&mut bytes);
    for (delta, data) in packets {
        w.push(*delta, data).expect("the seed fits");
    }
    w.as_bytes().to_vec()
}

fn ks_seeds() -> Vec<(String, Vec<u8>)> {
    let notes = ks_stream(&[
        (0, vec![0x90, 60, 100]),
        (1, vec![0x90, 64, 100, 67, 100]),
        (500, vec![0x80, 60, 0]),
        (0, vec![0xF8]),
    ]);
    let sysex_packets = ks_stream(&[(0, sysex(500)), (2, vec![0xF0, 1, 2]), (0, vec![3, 0xF7])]);
    let mut unpadded = notes.clone();
    unpadded.truncate(notes.len() - 3);
    let many = ks_stream(
        &(0..200u32)
            .map(|k| (k % 3, vec![0x90 | (k % 16) as u8, (k % 128) as u8, 1]))
            .collect::<Vec<_>>(),
    );
    let input = |flags: u8, bound: u8, irp_units: u8, stream: &[u8]| {
        UnpackerInput {
            flags,
            bound,
            irp_units,
            time_step_ms: 2,
            stream,
        }
        .encode()
    };
    let c = UNPACK_CONNECTED | UNPACK_DELIVER_EACH;
    vec![
        ("notes".into(), input(c, 0, 0, &notes)),
        ("notes_in_irps".into(), input(c, 0, 3, &notes)),
        ("sysex".into(), input(c, 0, 0, &sysex_packets)),
        (
            "sysex_bounded".into(),
            input(c | UNPACK_BOUNDED, 1, 0, &sysex_packets),
        ),
        ("unpadded_end".into(), input(c, 0, 0, &unpadded)),
        ("many".into(), input(UNPACK_CONNECTED, 0, 16, &many)),
        (
            "many_restart".into(),
            input(c | UNPACK_RESTART, 0, 16, &many),
        ),
        (
            "many_pool_faults".into(),
            input(UNPACK_CONNECTED | UNPACK_POOL_FAULTS, 1, 0, &many),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Capture byte streams
// ---------------------------------------------------------------------------------------------

fn capture_seeds() -> Vec<(String, Vec<u8>)> {
    let notes: Vec<u8> = [
        &[0x90, 60, 100, 64, 100, 67, 100][..],
        &[0xB0, 7, 100, 0xC0, 5, 0xE0, 0, 0x40],
        &[0x80, 60, 0, 64, 0, 67, 0],
    ]
    .concat();
    let realtime: Vec<u8> = [
        &[0x90, 0xF8, 60, 0xFE, 100][..],
        &[0xF0, 1, 2, 0xF8, 3, 0xF7],
        &[0xF6, 0xF4, 0xF5, 0xF1, 0x20, 0xF2, 1, 2, 0xF3, 5],
    ]
    .concat();
    let broken: Vec<u8> = [
        &[1, 2, 3][..],                 // orphan data
        &[0x90, 60, 0xB0, 7],           // interrupted
        &[0xF7, 0x90, 61, 99],          // stray F7
        &[0xF0, 1, 2, 0x90, 62, 98, 5], // SysEx interrupted, running status
    ]
    .concat();
    let big = sysex(1000);
    let input = |flags: u8, chunk: u8, per_call: u8, groups: u8, complete: u8, bytes: &[u8]| {
        CaptureInput {
            flags,
            bound: 30,
            chunk,
            per_call,
            groups,
            complete_every: complete,
            irp: 16,
            bytes,
        }
        .encode()
    };
    let p = CAPTURE_PACKER;
    vec![
        ("notes".into(), input(0, 0, 0, 0, 0, &notes)),
        ("notes_bytewise".into(), input(0, 1, 1, 0, 0, &notes)),
        ("notes_packer".into(), input(p, 0, 2, 0, 0, &notes)),
        (
            "notes_packer_ks".into(),
            input(p | CAPTURE_KS, 3, 2, 0, 0, &notes),
        ),
        ("realtime".into(), input(0, 0, 0, 0, 0, &realtime)),
        ("realtime_groups".into(), input(0, 2, 3, 2, 0, &realtime)),
        ("broken".into(), input(0, 3, 2, 0, 0, &broken)),
        ("broken_complete".into(), input(0, 3, 2, 0, 3, &broken)),
        (
            "broken_flush".into(),
            input(CAPTURE_FLUSH, 3, 1, 0, 0, &broken),
        ),
        ("sysex".into(), input(0, 0, 0, 0, 0, &big)),
        ("sysex_long_events".into(), input(p, 200, 1, 0, 0, &big)),
        (
            "sysex_bounded".into(),
            input(p | CAPTURE_BOUNDED, 0, 0, 0, 0, &big),
        ),
        (
            "sysex_package".into(),
            input(CAPTURE_PACKAGE, 0, 10, 0, 0, &big),
        ),
        (
            "many_groups".into(),
            input(0, 0, 0, 20, 0, &notes.repeat(10)),
        ),
        (
            "restart".into(),
            input(p | CAPTURE_RESTART, 0, 4, 1, 0, &broken.repeat(4)),
        ),
        (
            "disconnect".into(),
            input(CAPTURE_DISCONNECT, 0, 4, 1, 0, &notes.repeat(4)),
        ),
        (
            "pool_faults".into(),
            input(p | CAPTURE_POOL_FAULTS, 8, 0, 3, 0, &big.repeat(3)),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Structured targets: pseudo-random bytes
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic bytes.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Pseudo-random inputs of several lengths, and some made of MIDI-looking bytes, which
/// `arbitrary` reads as operations and chains of events.
fn random_seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let salt = target
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut out = Vec::new();
    for (k, len) in [32usize, 128, 512, 1024, 2048, 4096]
        .into_iter()
        .enumerate()
    {
        out.push((
            format!("random{k}"),
            pseudo_random(salt ^ (k as u64 + 1), len),
        ));
    }
    let midi: Vec<u8> = (0..64u8)
        .flat_map(|k| {
            [
                0x90 | (k % 16),
                60 + k % 12,
                100,
                0x80 | (k % 16),
                60 + k % 12,
                0,
            ]
        })
        .collect();
    out.push(("midi_bytes".into(), midi.clone()));
    out.push((
        "midi_and_sysex".into(),
        [&midi[..], &sysex(300), &pseudo_random(salt, 256)].concat(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxf::host::smf::read_smf;

    #[test]
    fn every_smf_seed_reads_and_only_the_defective_one_warns() {
        for (name, bytes) in smf_seeds() {
            let song = read_smf(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!song.messages.is_empty(), "{name}: no messages");
            assert_eq!(
                song.warnings.is_empty(),
                name != "tolerated.mid",
                "{name}: {:?}",
                song.warnings
            );
        }
    }

    #[test]
    fn the_format1_seed_has_running_status_a_divided_sysex_and_tempo_changes() {
        let song = read_smf(&song_format1()).unwrap();
        assert_eq!(song.format, 1);
        assert_eq!(song.tempo.changes.len(), 3);
        let sysex = [0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0x01, 0xF7];
        assert!(song.messages.iter().any(|m| m.bytes == sysex));
        // One note-on, then 40 note-offs (velocity 0) and note-ons, all in running status.
        assert_eq!(
            song.messages.iter().filter(|m| m.bytes[0] == 0x91).count(),
            81
        );
        assert_eq!(read_smf(&rmid(&song_format1())).unwrap(), song);
    }

    #[test]
    fn the_input_layouts_round_trip() {
        for (name, bytes) in dmus_seeds().into_iter().chain(ks_seeds()) {
            let input = UnpackerInput::parse(&bytes).unwrap();
            assert_eq!(input.encode(), bytes, "{name}");
        }
        for (name, bytes) in capture_seeds() {
            let input = CaptureInput::parse(&bytes).unwrap();
            assert_eq!(input.encode(), bytes, "{name}");
        }
        assert!(UnpackerInput::parse(&[1, 2, 3]).is_none());
        assert!(CaptureInput::parse(&[1, 2, 3, 4, 5, 6]).is_none());
    }

    #[test]
    fn every_target_has_seeds() {
        for t in TARGETS {
            assert!(seeds(t).len() >= 5, "{t}");
        }
        assert!(seeds("nothing").is_empty());
    }
}
