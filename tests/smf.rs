//! Standard MIDI Files in and out (`mxf::host::smf`).
//!
//! Songs are built in code with `midly`: format 0 and format 1 files, tempo maps with several
//! changes (checked against presentation times computed by hand, in 100 ns units), SMPTE timing,
//! running status (which `midly` writes), divided SysEx (a SysEx event without F7 continued by
//! escape events) and escapes of raw bytes. They are read into wire messages, written back with
//! `write_smf` and read again. Bad files are refused with a one-line error, never a panic.

use midly::num::{u4, u7, u14, u15, u24, u28};
use midly::{
    Format, Fps, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent,
    TrackEventKind,
};
use mxf::abi::REFERENCE_TIME;
use mxf::host::smf::{
    MAX_WARNINGS, MessageKind, SmfWriter, Song, TempoMap, read_smf, split_wire, write_smf,
    write_smf_until,
};
use mxf_suite::demo;
use mxf_suite::player::{musical_messages, song_messages};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Building files.
// ---------------------------------------------------------------------------------------------

/// A track from `(absolute tick, event)` pairs (stable-sorted by tick), closed by End of Track.
fn track<'a>(mut events: Vec<(u64, TrackEventKind<'a>)>) -> Vec<TrackEvent<'a>> {
    events.sort_by_key(|e| e.0);
    let mut last = 0;
    let mut out: Vec<TrackEvent<'a>> = events
        .into_iter()
        .map(|(tick, kind)| {
            let delta = u28::new(u32::try_from(tick - last).unwrap());
            last = tick;
            TrackEvent { delta, kind }
        })
        .collect();
    out.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    out
}

/// The bytes of a file.
fn file(format: Format, timing: Timing, tracks: Vec<Vec<TrackEvent<'_>>>) -> Vec<u8> {
    let smf = Smf {
        header: Header::new(format, timing),
        tracks,
    };
    let mut out = Vec::new();
    smf.write_std(&mut out).expect("writing to a Vec");
    out
}

fn metrical(ppq: u16) -> Timing {
    Timing::Metrical(u15::new(ppq))
}

fn midi(ch: u8, message: MidiMessage) -> TrackEventKind<'static> {
    TrackEventKind::Midi {
        channel: u4::new(ch),
        message,
    }
}

fn on(ch: u8, key: u8, vel: u8) -> TrackEventKind<'static> {
    midi(
        ch,
        MidiMessage::NoteOn {
            key: u7::new(key),
            vel: u7::new(vel),
        },
    )
}

fn off(ch: u8, key: u8, vel: u8) -> TrackEventKind<'static> {
    midi(
        ch,
        MidiMessage::NoteOff {
            key: u7::new(key),
            vel: u7::new(vel),
        },
    )
}

fn cc(ch: u8, controller: u8, value: u8) -> TrackEventKind<'static> {
    midi(
        ch,
        MidiMessage::Controller {
            controller: u7::new(controller),
            value: u7::new(value),
        },
    )
}

fn program(ch: u8, program: u8) -> TrackEventKind<'static> {
    midi(
        ch,
        MidiMessage::ProgramChange {
            program: u7::new(program),
        },
    )
}

fn bend(ch: u8, value: u16) -> TrackEventKind<'static> {
    midi(
        ch,
        MidiMessage::PitchBend {
            bend: PitchBend(u14::new(value)),
        },
    )
}

fn tempo(usec_per_quarter: u32) -> TrackEventKind<'static> {
    TrackEventKind::Meta(MetaMessage::Tempo(u24::new(usec_per_quarter)))
}

/// True if `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `(tick, bytes)` of every message of a song.
fn ticks_and_bytes(song: &Song) -> Vec<(u64, Vec<u8>)> {
    song.messages
        .iter()
        .map(|m| (m.tick, m.bytes.to_vec()))
        .collect()
}

/// The song's messages as timed wire messages, as the player produces them.
fn timed(song: &Song) -> Vec<(REFERENCE_TIME, Vec<u8>)> {
    song.messages
        .iter()
        .map(|m| (m.time, m.bytes.to_vec()))
        .collect()
}

/// Writes `song`'s messages with its tempo map and reads the result back.
fn rewrite(song: &Song) -> Song {
    let bytes = write_smf(&timed(song), &song.tempo).expect("write_smf");
    read_smf(&bytes).expect("reading what write_smf wrote")
}

// ---------------------------------------------------------------------------------------------
// Reading.
// ---------------------------------------------------------------------------------------------

#[test]
fn format_0_with_running_status_gives_complete_messages() {
    const PPQ: u16 = 96;
    let events = vec![
        (0, on(0, 60, 100)),
        (0, on(0, 64, 90)),
        (0, on(0, 67, 80)),
        (24, cc(0, 64, 127)),
        (24, cc(0, 1, 20)),
        (48, on(0, 60, 0)),
        (48, on(0, 64, 0)),
        (48, off(0, 67, 64)),
        (72, program(3, 5)),
        (72, bend(3, 0x2000)),
        (72, bend(3, 0x3FFF)),
        (
            96,
            midi(3, MidiMessage::ChannelAftertouch { vel: u7::new(33) }),
        ),
        (
            96,
            midi(
                3,
                MidiMessage::Aftertouch {
                    key: u7::new(61),
                    vel: u7::new(12),
                },
            ),
        ),
    ];
    let bytes = file(Format::SingleTrack, metrical(PPQ), vec![track(events)]);
    // `midly` wrote the chord with running status: one status byte, then (delta, key, velocity).
    assert!(contains(&bytes, &[0x90, 60, 100, 0, 64, 90, 0, 67, 80]));
    assert!(contains(&bytes, &[0xB0, 64, 127, 0, 1, 20]));
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.format, 0);
    assert_eq!(song.tempo, TempoMap::constant(PPQ, 500_000));
    assert_eq!(
        ticks_and_bytes(&song),
        [
            (0, vec![0x90, 60, 100]),
            (0, vec![0x90, 64, 90]),
            (0, vec![0x90, 67, 80]),
            (24, vec![0xB0, 64, 127]),
            (24, vec![0xB0, 1, 20]),
            (48, vec![0x90, 60, 0]),
            (48, vec![0x90, 64, 0]),
            (48, vec![0x80, 67, 64]),
            (72, vec![0xC3, 5]),
            (72, vec![0xE3, 0x00, 0x40]),
            (72, vec![0xE3, 0x7F, 0x7F]),
            (96, vec![0xD3, 33]),
            (96, vec![0xA3, 61, 12]),
        ]
    );
    assert!(song.messages.iter().all(|m| m.kind == MessageKind::Channel));
    // 120 bpm at 96 ppq: a quarter is 5 000 000 units, 24 ticks 1 250 000.
    let times: Vec<REFERENCE_TIME> = song.messages.iter().map(|m| m.time).collect();
    assert_eq!(
        times,
        [
            0, 0, 0, 1_250_000, 1_250_000, 2_500_000, 2_500_000, 2_500_000, 3_750_000, 3_750_000,
            3_750_000, 5_000_000, 5_000_000
        ]
    );
}

#[test]
fn format_1_tracks_merge_by_time_then_track_then_file_order() {
    const PPQ: u16 = 120;
    let conductor = track(vec![
        (
            0,
            TrackEventKind::Meta(MetaMessage::TrackName(b"conductor")),
        ),
        (0, tempo(600_000)),
        (0, TrackEventKind::SysEx(&[0x7E, 0x7F, 0x09, 0x01, 0xF7])),
    ]);
    let a = track(vec![
        (0, program(0, 10)),
        (60, on(0, 60, 100)),
        (60, on(0, 62, 100)),
        (120, on(0, 60, 0)),
    ]);
    let b = track(vec![
        (0, program(1, 20)),
        (30, on(1, 40, 90)),
        (60, on(1, 41, 90)),
        (120, off(1, 40, 0)),
    ]);
    let bytes = file(Format::Parallel, metrical(PPQ), vec![conductor, a, b]);
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.format, 1);
    assert_eq!(song.tempo, TempoMap::constant(PPQ, 600_000));
    assert_eq!(
        ticks_and_bytes(&song),
        [
            (0, vec![0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]),
            (0, vec![0xC0, 10]),
            (0, vec![0xC1, 20]),
            (30, vec![0x91, 40, 90]),
            (60, vec![0x90, 60, 100]),
            (60, vec![0x90, 62, 100]),
            (60, vec![0x91, 41, 90]),
            (120, vec![0x90, 60, 0]),
            (120, vec![0x81, 40, 0]),
        ]
    );
    assert_eq!(song.messages.get(0).unwrap().kind, MessageKind::SysEx);
    // 600 000 µs per quarter of 120 ticks: 50 000 units per tick.
    assert!(
        song.messages
            .iter()
            .all(|m| m.time == m.tick as i64 * 50_000)
    );
}

#[test]
fn tempo_changes_give_hand_computed_presentation_times() {
    const PPQ: u16 = 96;
    // Tempo changes in the conductor track and one in a note track (they apply to every track).
    let conductor = track(vec![
        (0, tempo(500_000)),
        (192, tempo(250_000)),
        (288, tempo(1_000_000)),
    ]);
    let ticks = [0u64, 96, 192, 240, 288, 384, 480, 500, 576];
    let notes = track(
        ticks
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, on(0, 60 + i as u8, 100)))
            .chain([(480, tempo(750_000))])
            .collect(),
    );
    let bytes = file(Format::Parallel, metrical(PPQ), vec![conductor, notes]);
    let song = read_smf(&bytes).unwrap();
    assert_eq!(
        song.tempo.changes,
        [
            (0, 500_000),
            (192, 250_000),
            (288, 1_000_000),
            (480, 750_000)
        ]
    );
    assert_eq!(song.tempo.ppq, Some(PPQ));
    // By hand: 96 ticks at 500 000 µs = 0.5 s; 48 ticks at 250 000 µs = 0.125 s; 96 ticks at
    // 1 s = 1 s; 20 ticks at 750 000 µs = 0.15625 s; 96 of them = 0.75 s.
    let expected: [REFERENCE_TIME; 9] = [
        0, 5_000_000, 10_000_000, 11_250_000, 12_500_000, 22_500_000, 32_500_000, 34_062_500,
        40_000_000,
    ];
    for (&tick, &t) in ticks.iter().zip(&expected) {
        assert_eq!(song.tempo.time_of(tick), t, "tick {tick}");
        assert_eq!(song.tempo.tick_of(t), tick, "time {t}");
    }
    let times: Vec<REFERENCE_TIME> = song.messages.iter().map(|m| m.time).collect();
    assert_eq!(times, expected);
    // A time between two ticks maps to the nearest one.
    assert_eq!(song.tempo.tick_of(11_250_000 + 12_000), 240);
    assert_eq!(song.tempo.tick_of(11_250_000 + 14_000), 241);
    assert_eq!(song.tempo.tick_of(-5), 0);
}

#[test]
fn tempo_map_rounds_each_time_once() {
    // 90 bpm at 480 ppq: 13 888.895 833… units per tick; errors must not add up.
    let map = TempoMap::constant(480, 666_667);
    assert_eq!(map.time_of(1), 13_889);
    assert_eq!(map.time_of(3), 41_667);
    assert_eq!(map.time_of(480), 6_666_670);
    assert_eq!(map.time_of(480 * 1000), 6_666_670_000);
    for tick in [0u64, 1, 2, 3, 479, 480, 481, 100_000] {
        assert_eq!(map.tick_of(map.time_of(tick)), tick);
    }
    // A file with no tempo event is at 120 bpm; a first tempo event after tick 0 leaves 120 bpm
    // before it.
    let late = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (96, tempo(1_000_000)),
            (96, on(0, 60, 1)),
            (192, on(0, 60, 0)),
        ])],
    );
    let song = read_smf(&late).unwrap();
    assert_eq!(song.tempo.changes, [(0, 500_000), (96, 1_000_000)]);
    assert_eq!(song.messages.get(0).unwrap().time, 5_000_000);
    assert_eq!(song.messages.get(1).unwrap().time, 15_000_000);
    // Two tempo events at one tick: the later one applies.
    let twice = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, tempo(500_000)),
            (0, tempo(1_000_000)),
            (96, on(0, 60, 1)),
        ])],
    );
    assert_eq!(
        read_smf(&twice).unwrap().messages.get(0).unwrap().time,
        10_000_000
    );
}

#[test]
fn smpte_timing_ignores_tempo_events() {
    // 25 fps × 40 subframes: 1000 ticks per second, one tick per millisecond.
    let events = |t: &[u64]| {
        track(
            t.iter()
                .map(|&t| (t, on(9, 36, 100)))
                .chain([(0, tempo(1_000_000)), (500, tempo(300_000))])
                .collect(),
        )
    };
    let bytes = file(
        Format::SingleTrack,
        Timing::Timecode(Fps::Fps25, 40),
        vec![events(&[0, 1, 1000, 2500])],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.tempo.ppq, None);
    assert_eq!(song.tempo.smpte_ticks_per_second, (1000, 1));
    let times: Vec<REFERENCE_TIME> = song.messages.iter().map(|m| m.time).collect();
    assert_eq!(times, [0, 10_000, 10_000_000, 25_000_000]);
    // 30 fps × 4: 120 ticks per second.
    let bytes = file(
        Format::SingleTrack,
        Timing::Timecode(Fps::Fps30, 4),
        vec![events(&[3, 120, 600])],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.tempo.smpte_ticks_per_second, (120, 1));
    let times: Vec<REFERENCE_TIME> = song.messages.iter().map(|m| m.time).collect();
    assert_eq!(times, [250_000, 10_000_000, 50_000_000]);
    // Written back as a metrical file (480 ppq, 120 bpm): the same times within one tick.
    let back = rewrite(&song);
    assert_eq!(back.tempo, TempoMap::constant(480, 500_000));
    assert_eq!(back.messages.len(), song.messages.len());
    for (a, b) in song.messages.iter().zip(&back.messages) {
        assert_eq!(a.bytes, b.bytes);
        assert!(
            (a.time - b.time).abs() <= 10_417,
            "{} vs {}",
            a.time,
            b.time
        );
    }
}

#[test]
fn divided_sysex_and_escapes_become_wire_bytes() {
    const PPQ: u16 = 96;
    let events = vec![
        // A SysEx divided in three packets: F0 without F7, then escapes; the last ends in F7.
        (0, TrackEventKind::SysEx(&[0x43, 0x10, 0x4C])),
        (4, TrackEventKind::Escape(&[0x00, 0x00])),
        (8, TrackEventKind::Escape(&[0x7E, 0x00, 0xF7])),
        // Escapes of raw bytes: a system common message, a real-time byte.
        (12, TrackEventKind::Escape(&[0xF3, 0x02])),
        (16, TrackEventKind::Escape(&[0xF8])),
        // A whole SysEx sent as an escape, and an ordinary one.
        (20, TrackEventKind::Escape(&[0xF0, 0x7D, 0x01, 0xF7])),
        (24, TrackEventKind::SysEx(&[0x7E, 0x7F, 0x09, 0x01, 0xF7])),
        // Running status resumes after the SysEx (midly writes the status again).
        (28, on(2, 70, 1)),
        (28, on(2, 71, 2)),
    ];
    let bytes = file(Format::SingleTrack, metrical(PPQ), vec![track(events)]);
    let song = read_smf(&bytes).unwrap();
    let got: Vec<(u64, Vec<u8>, MessageKind)> = song
        .messages
        .iter()
        .map(|m| (m.tick, m.bytes.to_vec(), m.kind))
        .collect();
    use MessageKind::*;
    assert_eq!(
        got,
        [
            // The divided SysEx is one message at the time of its first packet.
            (
                0,
                vec![0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7],
                SysEx
            ),
            (12, vec![0xF3, 0x02], Other),
            (16, vec![0xF8], Other),
            (20, vec![0xF0, 0x7D, 0x01, 0xF7], SysEx),
            (24, vec![0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7], SysEx),
            (28, vec![0x92, 70, 1], Channel),
            (28, vec![0x92, 71, 2], Channel),
        ]
    );
    // The identity view agrees.
    let t = |tick| song.tempo.time_of(tick);
    assert_eq!(
        song_messages(&song),
        [
            (
                0,
                vec![0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7]
            ),
            (t(20), vec![0xF0, 0x7D, 0x01, 0xF7]),
            (t(24), vec![0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]),
            (t(28), vec![0x92, 70, 1]),
            (t(28), vec![0x92, 71, 2]),
        ]
    );
    // Written back and read again: the same messages at the same ticks.
    let back = rewrite(&song);
    assert_eq!(ticks_and_bytes(&back), ticks_and_bytes(&song));
    assert_eq!(
        back.messages.iter().map(|m| m.kind).collect::<Vec<_>>(),
        song.messages.iter().map(|m| m.kind).collect::<Vec<_>>()
    );
}

#[test]
fn an_escaped_channel_message_counts_as_a_channel_message() {
    // An escape may carry any bytes, a channel message included: it is played, so the identity
    // check must expect it.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, TrackEventKind::Escape(&[0xB0, 0x07, 0x64])),
            (10, on(0, 60, 1)),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.messages.get(0).unwrap().bytes, [0xB0, 0x07, 0x64]);
    assert_eq!(song.messages.get(0).unwrap().kind, MessageKind::Channel);
    assert_eq!(song_messages(&song).len(), 2);
    // A SysEx begun by an escape (F0 without F7) and ended by another is a SysEx too.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, TrackEventKind::Escape(&[0xF0, 0x7D, 0x01])),
            (1, TrackEventKind::Escape(&[0x02, 0xF7])),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    assert!(song.messages.iter().all(|m| m.kind == MessageKind::SysEx));
    assert_eq!(
        song_messages(&song),
        [(0, vec![0xF0, 0x7D, 0x01, 0x02, 0xF7])]
    );
}

#[test]
fn format_2_tracks_play_one_after_the_other() {
    let a = track(vec![(0, on(0, 60, 1)), (96, on(0, 60, 0))]);
    let b = track(vec![(0, on(0, 62, 1)), (48, on(0, 62, 0))]);
    let bytes = file(Format::Sequential, metrical(96), vec![a, b]);
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.format, 2);
    let ticks: Vec<u64> = song.messages.iter().map(|m| m.tick).collect();
    assert_eq!(ticks, [0, 96, 96, 144]);
}

#[test]
fn the_demo_song_reads_and_rewrites() {
    let song = read_smf(&demo::demo_song()).unwrap();
    assert_eq!(song.format, 1);
    assert_eq!(song.tempo.ppq, Some(demo::PPQ));
    assert_eq!(song.tempo.changes.len(), 3);
    let back = rewrite(&song);
    assert_eq!(back.format, 0);
    assert_eq!(back.tempo, song.tempo);
    assert_eq!(ticks_and_bytes(&back), ticks_and_bytes(&song));
    assert_eq!(song_messages(&back), song_messages(&song));
}

#[test]
fn write_smf_of_player_output_keeps_ticks() {
    // Wire messages with times off the tick grid (as a real clock gives them) land on the
    // nearest tick; tempo changes are written too.
    let map = TempoMap {
        ppq: Some(480),
        smpte_ticks_per_second: (0, 1),
        changes: vec![(0, 500_000), (960, 400_000), (1920, 800_000)],
    };
    let ticks = [0u64, 1, 959, 960, 961, 1500, 1919, 1920, 5000];
    let msgs: Vec<(REFERENCE_TIME, Vec<u8>)> = ticks
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            (
                map.time_of(t) + [0, 3_000, -3_000][i % 3],
                vec![0x90, i as u8, 64],
            )
        })
        .collect();
    let song = read_smf(&write_smf(&msgs, &map).unwrap()).unwrap();
    assert_eq!(song.tempo, map);
    let got: Vec<u64> = song.messages.iter().map(|m| m.tick).collect();
    assert_eq!(got, ticks);
    // Empty messages are skipped; everything else becomes an event.
    let odd = vec![
        (0, vec![]),
        (0, vec![0xF0, 0x01, 0xF7]),
        (0, vec![0xF8]),
        (0, vec![0x90, 0x3C]),
    ];
    let song = read_smf(&write_smf(&odd, &map).unwrap()).unwrap();
    let got: Vec<Vec<u8>> = song.messages.iter().map(|m| m.bytes.to_vec()).collect();
    assert_eq!(got, [vec![0xF0, 0x01, 0xF7], vec![0xF8], vec![0x90, 0x3C]]);
}

#[test]
fn split_wire_reassembles_messages() {
    let stream: Vec<(REFERENCE_TIME, u8)> = vec![
        (0, 0x90),
        (0, 0x3C),
        (0, 0x40),
        // Running status.
        (1, 0x3E),
        (1, 0x40),
        // A SysEx with a real-time byte inside it.
        (2, 0xF0),
        (2, 0x01),
        (3, 0xF8),
        (3, 0x02),
        (4, 0xF7),
        // Two-byte messages with running status.
        (5, 0xC0),
        (5, 0x05),
        (6, 0x06),
        // System common clears running status; the stray data byte is dropped.
        (7, 0xF3),
        (7, 0x01),
        (7, 0x33),
        // A status byte interrupts a message.
        (8, 0x90),
        (8, 0x3C),
        (9, 0xB0),
        (9, 0x07),
        (9, 0x64),
        // Cut at the end.
        (10, 0xE0),
        (10, 0x01),
    ];
    assert_eq!(
        split_wire(&stream),
        [
            (0, vec![0x90, 0x3C, 0x40]),
            (1, vec![0x90, 0x3E, 0x40]),
            (3, vec![0xF8]),
            (2, vec![0xF0, 0x01, 0x02, 0xF7]),
            (5, vec![0xC0, 0x05]),
            (6, vec![0xC0, 0x06]),
            (7, vec![0xF3, 0x01]),
            (8, vec![0x90, 0x3C]),
            (9, vec![0xB0, 0x07, 0x64]),
            (10, vec![0xE0, 0x01]),
        ]
    );
    // `musical_messages` keeps channel messages and SysEx only.
    let m = musical_messages(&split_wire(&stream));
    assert_eq!(m.len(), 8);
    assert!(m.iter().all(|(_, b)| (0x80..=0xF0).contains(&b[0])));
}

// ---------------------------------------------------------------------------------------------
// Bad files.
// ---------------------------------------------------------------------------------------------

/// `read_smf` refuses `bytes` with a one-line message.
#[track_caller]
fn refused(bytes: &[u8]) -> String {
    let e = match read_smf(bytes) {
        Ok(song) => panic!(
            "accepted a bad file of {} bytes: {} messages",
            bytes.len(),
            song.messages.len()
        ),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(!text.trim().is_empty(), "empty message");
    assert!(!text.contains('\n'), "not one line: {text:?}");
    text
}

/// A header chunk: format, track count, division.
fn mthd(format: u16, tracks: u16, division: u16) -> Vec<u8> {
    let mut v = b"MThd".to_vec();
    v.extend_from_slice(&6u32.to_be_bytes());
    v.extend_from_slice(&format.to_be_bytes());
    v.extend_from_slice(&tracks.to_be_bytes());
    v.extend_from_slice(&division.to_be_bytes());
    v
}

/// A track chunk with a declared length.
fn mtrk_with_len(len: u32, body: &[u8]) -> Vec<u8> {
    let mut v = b"MTrk".to_vec();
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A track chunk whose declared length is right.
fn mtrk(body: &[u8]) -> Vec<u8> {
    mtrk_with_len(u32::try_from(body.len()).unwrap(), body)
}

#[test]
fn a_hand_built_file_is_accepted() {
    // The builders below make valid files when nothing is broken.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[
        0x00, 0x90, 0x3C, 0x40, 0x60, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00,
    ]));
    let song = read_smf(&f).unwrap();
    assert_eq!(
        ticks_and_bytes(&song),
        [(0, vec![0x90, 0x3C, 0x40]), (96, vec![0x90, 0x3C, 0x00])]
    );
}

#[test]
fn empty_and_foreign_files_are_refused() {
    let e = refused(&[]);
    assert!(e.contains("empty"), "{e}");
    for bad in [
        &b"M"[..],
        b"MTh",
        b"MThx\0\0\0\x06\0\0\0\x01\0\x60",
        b"mthd\0\0\0\x06\0\0\0\x01\0\x60",
        b"RIFF\x10\0\0\0RMIDdata",
        b"MTrk\0\0\0\x04\0\xFF\x2F\0",
        b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        b"hello, world\n",
    ] {
        let e = refused(bad);
        assert!(e.contains("MThd"), "{e}");
    }
    // Another file type renamed .mid: the demo song with its magic overwritten.
    let mut demo = demo::demo_song();
    demo[..4].copy_from_slice(b"RIFF");
    refused(&demo);
}

#[test]
fn every_truncation_of_the_demo_song_is_refused() {
    let full = demo::demo_song();
    assert!(read_smf(&full).is_ok());
    for len in 0..full.len() {
        refused(&full[..len]);
    }
}

#[test]
fn absurd_lengths_are_refused() {
    // The header chunk claims 2^31 bytes.
    let mut f = b"MThd".to_vec();
    f.extend_from_slice(&0x8000_0000u32.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 96]);
    refused(&f);
    // The header claims 2^32 - 1 bytes.
    let mut f = b"MThd".to_vec();
    f.extend_from_slice(&u32::MAX.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 96]);
    refused(&f);
    // A track chunk claims 2^31 bytes.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk_with_len(0x8000_0000, &[0x00, 0xFF, 0x2F, 0x00]));
    refused(&f);
    // A track chunk claims more than the file holds.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk_with_len(100, &[0x00, 0xFF, 0x2F, 0x00]));
    refused(&f);
    // A SysEx whose length claims 2^28 - 1 bytes.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[0x00, 0xF0, 0xFF, 0xFF, 0xFF, 0x7F, 0x01, 0xF7]));
    refused(&f);
    // A header shorter than six bytes.
    let mut f = b"MThd".to_vec();
    f.extend_from_slice(&2u32.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
    refused(&f);
    // More tracks declared than present, and an unknown format.
    let mut f = mthd(1, 3, 96);
    f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
    refused(&f);
    let mut f = mthd(7, 1, 96);
    f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
    refused(&f);
    // A format 0 file with two tracks.
    let mut f = mthd(0, 2, 96);
    f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
    f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
    refused(&f);
}

#[test]
fn tracks_ending_mid_event_are_refused() {
    let bodies: [&[u8]; 10] = [
        // A note-on without its velocity.
        &[0x00, 0x90, 0x3C],
        // A status byte alone.
        &[0x00, 0x90],
        // A delta time cut in the middle.
        &[0x00, 0x90, 0x3C, 0x40, 0x81],
        // Running status with no status before it.
        &[0x00, 0x3C, 0x40],
        // A tempo event cut short.
        &[0x00, 0xFF, 0x51, 0x03, 0x07],
        // A SysEx whose data is cut.
        &[0x00, 0xF0, 0x05, 0x01, 0x02],
        // An escape whose length is cut.
        &[0x00, 0xF7, 0x81],
        // A program change without its program.
        &[0x00, 0x90, 0x3C, 0x40, 0x00, 0xC0],
        // System common and real-time bytes are not events of a file.
        &[0x00, 0xF3, 0x01],
        &[0x00, 0xF8],
    ];
    for body in bodies {
        let mut f = mthd(0, 1, 96);
        f.extend(mtrk(body));
        let e = refused(&f);
        assert!(!e.is_empty(), "{body:02X?}");
        // The same track in the middle of a format 1 file.
        let mut f = mthd(1, 3, 96);
        f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
        f.extend(mtrk(body));
        f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
        refused(&f);
    }
}

#[test]
fn refusals_say_where_and_why() {
    // A note-on cut after its key, in the second track: the track, the byte and the reason.
    let mut f = mthd(1, 2, 96);
    f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
    let at = f.len() + 8;
    f.extend(mtrk(&[0x00, 0x90, 0x3C]));
    let e = refused(&f);
    assert!(e.contains("track 1"), "{e}");
    assert!(e.contains(&format!("byte {at}")), "{e}");
    assert!(e.contains("cut in the middle of a channel message"), "{e}");
    // One-track files: the body and what the message must say.
    for (body, why) in [
        // A data byte with no status before it.
        (&[0x00, 0x3C, 0x40][..], "data byte (0x3C)"),
        // A status byte where a data byte belongs.
        (
            &[0x00, 0x90, 0x3C, 0x80, 0x3C, 0x00],
            "status byte (0x80) inside",
        ),
        // A system status in a track.
        (&[0x00, 0xF3, 0x01], "0xF3"),
    ] {
        let mut f = mthd(0, 1, 96);
        f.extend(mtrk(body));
        let e = refused(&f);
        assert!(e.contains(why) && e.contains("track 0, byte 22"), "{e}");
    }
    // Fewer tracks than declared, and a chunk longer than the file.
    let mut f = mthd(1, 3, 96);
    f.extend(mtrk(&[0x00, 0xFF, 0x2F, 0x00]));
    let e = refused(&f);
    assert!(e.contains("declares 3 track(s)"), "{e}");
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk_with_len(100, &[0x00, 0xFF, 0x2F, 0x00]));
    let e = refused(&f);
    assert!(e.contains("claims 100 bytes"), "{e}");
    // SMPTE at 23 frames a second.
    let e = refused(&[&mthd(0, 1, 0xE904)[..], &mtrk(&[0x00, 0xFF, 0x2F, 0x00])].concat());
    assert!(e.contains("23 frames"), "{e}");
}

/// A small valid format 0 file: a note on and off, then End-of-Track.
fn small_file() -> Vec<u8> {
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[
        0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00,
    ]));
    f
}

/// `read_smf` accepts `bytes`, gives the messages of [`small_file`] and warns once, with
/// a line containing `what`.
#[track_caller]
fn tolerated(bytes: &[u8], what: &str) -> Song {
    let song = read_smf(bytes).unwrap_or_else(|e| panic!("refused ({what}): {e}"));
    assert!(
        song.warnings.iter().any(|w| w.contains(what)),
        "no warning about {what:?}: {:?}",
        song.warnings
    );
    assert!(song.warnings.iter().all(|w| !w.contains('\n')));
    song
}

#[test]
fn defects_that_lose_nothing_are_tolerated_with_a_warning() {
    let clean = read_smf(&small_file()).unwrap();
    assert!(clean.warnings.is_empty(), "{:?}", clean.warnings);
    let want = ticks_and_bytes(&clean);
    // Bytes after the last track: a zero byte, DOS's end-of-file mark, garbage, a cut chunk.
    for tail in [&[0x00][..], &[0x1A], &[0xAB; 100], b"MTrk\0\0\x01\0\0\x90"] {
        let f = [&small_file()[..], tail].concat();
        let song = tolerated(&f, "after the last track");
        assert_eq!(ticks_and_bytes(&song), want, "tail {tail:02X?}");
    }
    // An RMID file: the SMF in the `data` chunk of a RIFF file (with an odd-length chunk before
    // it, padded).
    let smf = small_file();
    let mut riff = b"RMID".to_vec();
    riff.extend_from_slice(b"INFO\x03\0\0\0abc\0");
    riff.extend_from_slice(b"data");
    riff.extend_from_slice(&u32::try_from(smf.len()).unwrap().to_le_bytes());
    riff.extend_from_slice(&smf);
    let mut rmid = b"RIFF".to_vec();
    rmid.extend_from_slice(&u32::try_from(riff.len()).unwrap().to_le_bytes());
    rmid.extend(riff);
    let song = read_smf(&rmid).unwrap();
    assert_eq!(ticks_and_bytes(&song), want);
    assert!(song.warnings.is_empty());
    // Running status across a meta event and across a SysEx.
    for between in [&[0xFF, 0x01, 0x01, b'x'][..], &[0xF0, 0x02, 0x7D, 0xF7]] {
        let mut body = vec![0x00, 0x90, 0x3C, 0x40, 0x00];
        body.extend_from_slice(between);
        body.extend_from_slice(&[0x60, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00]);
        let mut f = mthd(0, 1, 96);
        f.extend(mtrk(&body));
        let song = tolerated(&f, "running status");
        let notes: Vec<(u64, Vec<u8>)> = ticks_and_bytes(&song)
            .into_iter()
            .filter(|m| m.1[0] == 0x90)
            .collect();
        assert_eq!(
            notes,
            [(0, vec![0x90, 0x3C, 0x40]), (96, vec![0x90, 0x3C, 0x00])]
        );
    }
    // Meta events whose values are out of range (a channel prefix of 16, a port of 0x80, an
    // SMPTE offset at hour 96): skipped.
    for meta in [
        &[0xFF, 0x20, 0x01, 0x10][..],
        &[0xFF, 0x21, 0x01, 0x80],
        &[0xFF, 0x54, 0x05, 0x60, 0x00, 0x00, 0x1E, 0x00],
    ] {
        let mut body = meta.to_vec();
        body.insert(0, 0x00);
        body.extend_from_slice(&small_file()[22..]);
        let mut f = mthd(0, 1, 96);
        f.extend(mtrk(&body));
        let song = tolerated(&f, "malformed meta event");
        assert_eq!(ticks_and_bytes(&song), want);
    }
    // A malformed tempo event is refused: the times depend on it.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[
        0x00, 0xFF, 0x51, 0x02, 0x07, 0xA1, 0x00, 0xFF, 0x2F, 0x00,
    ]));
    assert!(refused(&f).contains("tempo event of 2 bytes"));
    // Events after End-of-Track are not played.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[
        0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00, 0x00, 0x90, 0x40,
        0x40,
    ]));
    let song = tolerated(&f, "after its End-of-Track");
    assert_eq!(ticks_and_bytes(&song), want);
    // A track chunk that claims fewer bytes than its events take: the rest of the track
    // (here its note-off and End-of-Track) follows as bytes that are no chunk. Refused, since
    // ignoring them would drop events.
    let body = [
        0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00,
    ];
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk_with_len(4, &body));
    assert!(refused(&f).contains("no End-of-Track"));
    // No End-of-Track; more tracks than declared.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00]));
    assert_eq!(ticks_and_bytes(&tolerated(&f, "no End-of-Track")), want);
    let mut f = mthd(1, 1, 96);
    f.extend(mtrk(&[
        0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00,
    ]));
    f.extend(mtrk(&[0x00, 0x91, 0x3C, 0x40, 0x00, 0xFF, 0x2F, 0x00]));
    let song = tolerated(&f, "declares 1 track(s), the file holds 2");
    assert_eq!(song.messages.len(), 3);
}

#[test]
fn header_tempo_and_length_defects_are_named() {
    let body = [
        0x00, 0x90, 0x3C, 0x40, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00,
    ];
    let want = ticks_and_bytes(&read_smf(&small_file()).unwrap());
    // A tempo event of 4 bytes is refused like one of 2 (midly would read its first three).
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[
        0x00, 0xFF, 0x51, 0x04, 0x07, 0xA1, 0x20, 0x00, 0x00, 0xFF, 0x2F, 0x00,
    ]));
    assert!(refused(&f).contains("tempo event of 4 bytes"));
    // A delta time of five bytes is named as such, not as a cut track.
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&[
        0x81, 0x81, 0x81, 0x81, 0x01, 0x90, 0x3C, 0x40, 0x00, 0xFF, 0x2F, 0x00,
    ]));
    assert!(refused(&f).contains("more than 4 bytes"));
    // Zero where the header or a tempo needs a positive number: read as 1, with a warning.
    let mut f = mthd(0, 1, 0);
    f.extend(mtrk(&body));
    tolerated(&f, "0 ticks a quarter note");
    let mut f = mthd(0, 1, 0xE700);
    f.extend(mtrk(&body));
    tolerated(&f, "0 ticks a frame");
    let mut f = mthd(0, 1, 96);
    let mut t = vec![0x00, 0xFF, 0x51, 0x03, 0x00, 0x00, 0x00];
    t.extend_from_slice(&body);
    f.extend(mtrk(&t));
    tolerated(&f, "a tempo of 0 microseconds");
    // MIDI port events are not kept: said once per track.
    let mut f = mthd(0, 1, 96);
    let mut t = vec![0x00, 0xFF, 0x21, 0x01, 0x01, 0x00, 0xFF, 0x21, 0x01, 0x00];
    t.extend_from_slice(&body);
    f.extend(mtrk(&t));
    let song = tolerated(&f, "MIDI port (FF 21)");
    assert_eq!(song.warnings.len(), 1, "{:?}", song.warnings);
    assert_eq!(ticks_and_bytes(&song), want);
}

#[test]
fn a_divided_sysex_stays_whole_among_other_tracks() {
    // Track 1 sends a SysEx in three packets 48 ticks apart; track 2 plays notes in between.
    // On the wire a note inside a SysEx would end it and turn its remaining bytes into running
    // status notes: the SysEx is one message at the time of its first packet.
    let body: Vec<u8> = (0..20).collect();
    let packets = vec![
        (0, TrackEventKind::SysEx(&body[..8])),
        (48, TrackEventKind::Escape(&body[8..14])),
        (96, TrackEventKind::Escape(&[0x0E, 0x0F, 0xF7])),
    ];
    let notes = vec![(24, on(1, 60, 100)), (72, on(1, 60, 0))];
    let bytes = file(
        Format::Parallel,
        metrical(96),
        vec![track(packets), track(notes)],
    );
    let song = read_smf(&bytes).unwrap();
    assert!(song.warnings.is_empty(), "{:?}", song.warnings);
    let mut whole = vec![0xF0];
    whole.extend_from_slice(&body[..14]);
    whole.extend_from_slice(&[0x0E, 0x0F, 0xF7]);
    assert_eq!(
        ticks_and_bytes(&song),
        [
            (0, whole.clone()),
            (24, vec![0x91, 60, 100]),
            (72, vec![0x91, 60, 0])
        ]
    );
    assert_eq!(song_messages(&song).len(), 3);
    // A SysEx whose F7 never comes ends with the track, with an F7 and a warning.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, TrackEventKind::SysEx(&[0x7D, 0x01])),
            (10, on(0, 60, 1)),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(
        ticks_and_bytes(&song),
        [(0, vec![0xF0, 0x7D, 0x01, 0xF7]), (10, vec![0x90, 60, 1])]
    );
    assert!(song.warnings.iter().any(|w| w.contains("without its F7")));
}

#[test]
fn smpte_29_97_is_exact() {
    // 29.97 fps (30000/1001 frames a second) × 4 ticks a frame: 120 000 ticks take 1001 s.
    let notes = track(vec![(0, on(0, 60, 1)), (120_000, on(0, 60, 0))]);
    let bytes = file(
        Format::SingleTrack,
        Timing::Timecode(Fps::Fps29, 4),
        vec![notes],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.tempo.smpte_ticks_per_second, (120_000, 1001));
    assert_eq!(song.messages.get(1).unwrap().time, 10_010_000_000);
}

#[test]
fn the_end_of_a_song_and_long_gaps_survive_a_rewrite() {
    // The rest after the last note (End-of-Track 480 ticks later) is kept by write_smf_until.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, on(0, 60, 1)),
            (96, on(0, 60, 0)),
            (576, TrackEventKind::Meta(MetaMessage::Text(b"end"))),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.end_tick, 576);
    let back =
        read_smf(&write_smf_until(&timed(&song), &song.tempo, song.end_time()).unwrap()).unwrap();
    assert_eq!(back.end_tick, 576);
    assert_eq!(ticks_and_bytes(&back), ticks_and_bytes(&song));
    // Two notes 3 × (2^28 - 1) + 5 ticks apart: more than one delta time holds; the gap is
    // bridged and the second note keeps its tick.
    let gap = 3 * 0x0FFF_FFFFu64 + 5;
    let map = TempoMap::constant(96, 500_000);
    let msgs = vec![
        (0, vec![0x90, 60, 1]),
        (map.time_of(gap), vec![0x90, 60, 0]),
    ];
    let back = read_smf(&write_smf(&msgs, &map).unwrap()).unwrap();
    assert_eq!(
        ticks_and_bytes(&back),
        [(0, vec![0x90, 60, 1]), (gap, vec![0x90, 60, 0])]
    );
    // A song longer than a REFERENCE_TIME holds is refused: 1 tick a quarter, 16.7 s a
    // quarter, 250 × (2^28 - 1) quarters.
    let mut events = vec![(0u64, tempo(0xFF_FFFF))];
    events.extend((0..250u64).map(|i| (i * 0x0FFF_FFFF, on(0, 60, 1))));
    let e = refused(&file(Format::SingleTrack, metrical(1), vec![track(events)]));
    assert!(e.contains("REFERENCE_TIME"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Generated songs, written and read back.
// ---------------------------------------------------------------------------------------------

/// One random event of a generated song.
fn arb_event() -> impl Strategy<Value = (u64, Vec<u8>)> {
    let channel = (0x8u8..=0xE, 0u8..16, 0u8..128, 0u8..128).prop_map(|(kind, ch, a, b)| {
        let status = kind << 4 | ch;
        if kind == 0xC || kind == 0xD {
            vec![status, a]
        } else {
            vec![status, a, b]
        }
    });
    let sysex = proptest::collection::vec(0u8..128, 0..300).prop_map(|mut d| {
        d.insert(0, 0xF0);
        d.push(0xF7);
        d
    });
    (0u64..400, prop_oneof![4 => channel, 1 => sysex])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random format 1 songs with random tempo maps: read, write, read again: every message
    /// comes back in order with the same bytes at the same tick, and the tempo map is kept.
    #[test]
    fn generated_songs_round_trip(
        ppq in 24u16..1000,
        tempi in proptest::collection::vec((1u64..2000, 100_000u32..2_000_000), 0..5),
        tracks in proptest::collection::vec(proptest::collection::vec(arb_event(), 0..40), 1..4),
    ) {
        let mut conductor: Vec<(u64, TrackEventKind<'_>)> = vec![(0, tempo(500_000))];
        conductor.extend(tempi.iter().map(|&(t, us)| (t, tempo(us))));
        // Absolute ticks per track.
        let abs: Vec<Vec<(u64, &[u8])>> = tracks
            .iter()
            .map(|evs| {
                let mut tick = 0;
                evs.iter()
                    .map(|(d, b)| {
                        tick += d;
                        (tick, b.as_slice())
                    })
                    .collect()
            })
            .collect();
        let mut all = vec![track(conductor)];
        for evs in &abs {
            all.push(track(
                evs.iter()
                    .map(|&(t, b)| {
                        let kind = if b[0] == 0xF0 {
                            TrackEventKind::SysEx(&b[1..])
                        } else {
                            match midly::live::LiveEvent::parse(b).unwrap() {
                                midly::live::LiveEvent::Midi { channel, message } => {
                                    TrackEventKind::Midi { channel, message }
                                }
                                _ => unreachable!(),
                            }
                        };
                        (t, kind)
                    })
                    .collect(),
            ));
        }
        let bytes = file(Format::Parallel, metrical(ppq), all);
        let song = read_smf(&bytes).unwrap();
        prop_assert_eq!(song.messages.len(), abs.iter().map(Vec::len).sum::<usize>());
        let back = rewrite(&song);
        prop_assert_eq!(&back.tempo, &song.tempo);
        prop_assert_eq!(back.messages.len(), song.messages.len());
        for (a, b) in song.messages.iter().zip(&back.messages) {
            prop_assert_eq!(&a.bytes, &b.bytes);
            prop_assert!(a.tick.abs_diff(b.tick) <= 1, "tick {} became {}", a.tick, b.tick);
            prop_assert_eq!(a.time, song.tempo.time_of(a.tick));
        }
    }
}

/// The presentation time of `tick` by walking the map from its start (the definition the
/// tempo map's search must agree with).
fn time_by_walking(map: &TempoMap, tick: u64) -> REFERENCE_TIME {
    let per_tick = |us: u32| f64::from(us) * 10.0 / f64::from(map.ppq.unwrap());
    let (mut t, mut last, mut tempo) = (0f64, 0u64, map.changes[0].1);
    for &(ct, ctempo) in &map.changes {
        if ct >= tick {
            break;
        }
        t += (ct - last) as f64 * per_tick(tempo);
        last = ct;
        tempo = ctempo;
    }
    (t + (tick - last) as f64 * per_tick(tempo)).round() as REFERENCE_TIME
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The tempo map's binary searches agree with walking it: every tick's time, and the tick of
    /// every time (the nearest tick, in the last stretch that starts at or before it).
    #[test]
    fn tempo_map_search_agrees_with_walking_it(
        ppq in 1u16..1000,
        mut steps in proptest::collection::vec((0u64..500, 1u32..3_000_000), 0..40),
        probes in proptest::collection::vec(0u64..25_000, 1..60),
    ) {
        let mut changes = vec![(0u64, 500_000u32)];
        let mut tick = 0;
        for (d, us) in steps.drain(..) {
            tick += d;
            changes.push((tick, us));
        }
        let map = TempoMap { ppq: Some(ppq), smpte_ticks_per_second: (0, 1), changes };
        for &p in &probes {
            let t = map.time_of(p);
            prop_assert_eq!(t, time_by_walking(&map, p), "tick {}", p);
            // Ticks of one stretch (no zero-length stretch at p) map back to themselves.
            prop_assert!(map.tick_of(t).abs_diff(p) <= 1, "tick {} -> {} -> {}", p, t, map.tick_of(t));
            prop_assert!(map.time_of(map.tick_of(t)).abs_diff(t) as f64 <= 1.0 + 3_000_000.0 * 10.0 / f64::from(ppq) / 2.0);
        }
        // Monotonic: later ticks are never earlier.
        let mut sorted = probes.clone();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            prop_assert!(map.time_of(w[0]) <= map.time_of(w[1]));
        }
    }
}

#[test]
fn writing_refuses_songs_too_long_for_a_file_of_reasonable_size() {
    // The latest time at the finest grid: 2^26 bridging events; refused, not gigabytes.
    let e = write_smf_until(
        &[(i64::MAX, vec![0x90, 60, 1])],
        &TempoMap::constant(0x7FFF, 1),
        0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("empty events"), "{e}");
    // A map built by hand with a zero tempo and division reads them as 1 (no division by zero).
    let map = TempoMap {
        ppq: Some(0),
        smpte_ticks_per_second: (0, 1),
        changes: vec![(0, 0)],
    };
    assert!(write_smf_until(&[(10, vec![0x90, 60, 1])], &map, 10).is_ok());
    // A long gap that fits is still bridged exactly.
    let song = read_smf(
        &write_smf_until(
            &[(0, vec![0x90, 60, 1]), (i64::MAX / 4, vec![0x80, 60, 0])],
            &TempoMap::constant(96, 500_000),
            0,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(song.messages.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Bad input: chunks, RMID wrappers, escapes.
// ---------------------------------------------------------------------------------------------

/// The track of [`small_file`], as a chunk.
fn small_track() -> Vec<u8> {
    small_file()[14..].to_vec()
}

/// A track of one program change on channel `ch` at tick 0, as a chunk.
fn program_track(ch: u8) -> Vec<u8> {
    mtrk(&[0x00, 0xC0 | ch, 0x05, 0x00, 0xFF, 0x2F, 0x00])
}

#[test]
fn a_second_header_is_ignored_with_a_warning() {
    // Format 1, two tracks, 96 ticks a quarter; a second header (format 0, 480 ticks) before,
    // between and after the tracks changes nothing.
    let want_tracks = |song: &Song| {
        assert_eq!(song.format, 1);
        assert_eq!(song.tempo.ppq, Some(96));
        assert_eq!(
            ticks_and_bytes(song),
            [
                (0, vec![0x90, 0x3C, 0x40]),
                (0, vec![0xC1, 0x05]),
                (96, vec![0x80, 0x3C, 0x00])
            ]
        );
    };
    let second = mthd(0, 1, 480);
    for at in 0..3 {
        let mut f = mthd(1, 2, 96);
        let mut chunks = vec![small_track(), program_track(1)];
        chunks.insert(at, second.clone());
        let offset = 14 + chunks[..at].iter().map(Vec::len).sum::<usize>();
        f.extend(chunks.concat());
        let song = read_smf(&f).unwrap();
        assert_eq!(
            song.warnings,
            [format!("byte {offset}: a second header chunk: ignored")]
        );
        want_tracks(&song);
    }
}

#[test]
fn unknown_chunks_between_tracks_are_skipped() {
    // Chunks of other kinds (XF's `XFIH` and `XFKM`, an odd length, an empty one) are skipped
    // without a warning, as the SMF specification asks.
    let unknown = |id: &[u8], body: &[u8]| {
        let mut c = id.to_vec();
        c.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        c.extend_from_slice(body);
        c
    };
    let mut f = mthd(1, 2, 96);
    f.extend(unknown(b"XFIH", b"abc"));
    f.extend(small_track());
    f.extend(unknown(b"XFKM", &[0xFF; 9]));
    f.extend(unknown(b"junk", &[]));
    f.extend(program_track(1));
    let song = read_smf(&f).unwrap();
    assert!(song.warnings.is_empty(), "{:?}", song.warnings);
    assert_eq!(song.messages.len(), 3);
    // One that claims more bytes than the file holds, before the last track: refused (the tracks
    // after it cannot be found).
    let mut f = mthd(1, 2, 96);
    f.extend(small_track());
    let at = f.len();
    f.extend(
        mtrk_with_len(1000, &[])
            .iter()
            .map(|&b| if b == b'M' { b'X' } else { b }),
    );
    f.extend(program_track(1));
    let e = refused(&f);
    assert!(
        e.starts_with(&format!("byte {at}: a `XTrk` chunk claims 1000 bytes")),
        "{e}"
    );
    // Bytes that are no chunk (an id that is not text) between tracks: refused, saying where.
    let mut f = mthd(1, 2, 96);
    f.extend(small_track());
    f.extend([0x00, 0x01, 0x02, 0x03, 0, 0, 0, 0]);
    f.extend(program_track(1));
    let e = refused(&f);
    assert!(e.contains("no chunk starts here"), "{e}");
    // After the last declared track, the same are trailing bytes: tolerated with a warning.
    let mut f = small_file();
    f.extend(b"XFKM\0\0\x03\xE8abc");
    tolerated(&f, "after the last track");
}

/// An RMID file: `RIFF`, a declared length, `RMID`, then `chunks`.
fn riff(declared: Option<u32>, chunks: &[(&[u8], Option<u32>, &[u8])]) -> Vec<u8> {
    let mut body = b"RMID".to_vec();
    for &(id, len, data) in chunks {
        body.extend_from_slice(id);
        let len = len.unwrap_or(u32::try_from(data.len()).unwrap());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut f = b"RIFF".to_vec();
    let len = declared.unwrap_or(u32::try_from(body.len()).unwrap());
    f.extend_from_slice(&len.to_le_bytes());
    f.extend(body);
    f
}

#[test]
fn rmid_files_with_lying_lengths_or_without_a_data_chunk() {
    let smf = small_file();
    let want = ticks_and_bytes(&read_smf(&smf).unwrap());
    let good = riff(None, &[(b"INFO", None, b"abc"), (b"data", None, &smf)]);
    let song = read_smf(&good).unwrap();
    assert!(song.warnings.is_empty(), "{:?}", song.warnings);
    assert_eq!(ticks_and_bytes(&song), want);
    // A RIFF length that is too large, too small or zero: the chunks are read by their own
    // lengths, with a warning.
    for declared in [u32::MAX, 10, 0] {
        let f = riff(
            Some(declared),
            &[(b"INFO", None, b"abc"), (b"data", None, &smf)],
        );
        let song = tolerated(&f, "the RIFF header declares");
        assert_eq!(song.warnings.len(), 1, "{:?}", song.warnings);
        assert_eq!(ticks_and_bytes(&song), want);
    }
    // A `data` chunk that claims more than the file holds: read to the end, with a warning.
    let f = riff(None, &[(b"data", Some(1 << 30), &smf)]);
    let song = tolerated(&f, "the RMID `data` chunk claims 1073741824 bytes");
    assert_eq!(ticks_and_bytes(&song), want);
    // One that claims less than its SMF: the SMF is cut, refused.
    let short = u32::try_from(smf.len() - 4).unwrap();
    let e = refused(&riff(None, &[(b"data", Some(short), &smf)]));
    assert!(e.contains("cut"), "{e}");
    // No `data` chunk; a chunk before it whose length runs past the file (so none is found);
    // another RIFF form; a `data` chunk holding something else than an SMF.
    for (what, f) in [
        ("no data chunk", riff(None, &[(b"INFO", None, b"abc")])),
        (
            "a lying chunk before it",
            riff(
                None,
                &[(b"INFO", Some(1 << 20), b"abc"), (b"data", None, &smf)],
            ),
        ),
        ("a cut data chunk", b"RIFF\x10\0\0\0RMIDdat".to_vec()),
        ("a WAVE file", {
            let mut w = riff(None, &[(b"data", None, &smf)]);
            w[8..12].copy_from_slice(b"WAVE");
            w
        }),
    ] {
        let e = refused(&f);
        assert!(
            e.starts_with("not a MIDI file: a RIFF file that is not an RMID file"),
            "{what}: {e}"
        );
    }
    let e = refused(&riff(None, &[(b"data", None, b"hello, world")]));
    assert!(e.contains("does not start with `MThd`"), "{e}");
}

#[test]
fn an_escape_starting_a_sysex_is_divided_like_a_sysex_event() {
    // Track 1 begins a SysEx in an escape (F0 without F7) and ends it in another escape 48 ticks
    // later; track 2 plays a note between them. The SysEx is one message at the time of its
    // first packet, as for a SysEx event: on the wire the note would cut it.
    let notes = vec![(24, on(1, 60, 100))];
    let bytes = file(
        Format::Parallel,
        metrical(96),
        vec![
            track(vec![
                (0, TrackEventKind::Escape(&[0xF0, 0x7D, 0x01])),
                (48, TrackEventKind::Escape(&[0x02, 0xF7])),
            ]),
            track(notes),
        ],
    );
    let song = read_smf(&bytes).unwrap();
    assert!(song.warnings.is_empty(), "{:?}", song.warnings);
    assert_eq!(
        ticks_and_bytes(&song),
        [
            (0, vec![0xF0, 0x7D, 0x01, 0x02, 0xF7]),
            (24, vec![0x91, 60, 100])
        ]
    );
    // Never ended: ended with F7 at the end of its track, with a warning.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, TrackEventKind::Escape(&[0xF0, 0x7D, 0x01])),
            (10, on(0, 60, 1)),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(
        ticks_and_bytes(&song),
        [(0, vec![0xF0, 0x7D, 0x01, 0xF7]), (10, vec![0x90, 60, 1])]
    );
    assert_eq!(song.warnings.len(), 1, "{:?}", song.warnings);
    assert!(song.warnings[0].contains("before the end of the track"));
    // An escape carrying F0 inside a divided SysEx ends that SysEx (F0 would end it on the
    // wire) and is a SysEx of its own.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, TrackEventKind::SysEx(&[0x43, 0x10])),
            (5, TrackEventKind::Escape(&[0xF0, 0x7E, 0xF7])),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    assert_eq!(
        ticks_and_bytes(&song),
        [
            (0, vec![0xF0, 0x43, 0x10, 0xF7]),
            (5, vec![0xF0, 0x7E, 0xF7])
        ]
    );
    assert!(
        song.warnings[0].contains("before an escape that starts a SysEx"),
        "{:?}",
        song.warnings
    );
    // A whole SysEx in one escape is one message, as before.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![(
            0,
            TrackEventKind::Escape(&[0xF0, 0x01, 0xF7]),
        )])],
    );
    let song = read_smf(&bytes).unwrap();
    assert!(song.warnings.is_empty());
    assert_eq!(ticks_and_bytes(&song), [(0, vec![0xF0, 0x01, 0xF7])]);
}

#[test]
fn zero_length_escapes_are_no_messages() {
    // Alone: nothing to send, nothing to warn about. Inside a divided SysEx: they add nothing
    // and the SysEx goes on to its F7.
    let bytes = file(
        Format::SingleTrack,
        metrical(96),
        vec![track(vec![
            (0, TrackEventKind::Escape(&[])),
            (1, TrackEventKind::SysEx(&[0x43])),
            (2, TrackEventKind::Escape(&[])),
            (3, TrackEventKind::Escape(&[0x10, 0xF7])),
            (4, TrackEventKind::Escape(&[])),
            (5, on(0, 60, 1)),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    assert!(song.warnings.is_empty(), "{:?}", song.warnings);
    assert_eq!(
        ticks_and_bytes(&song),
        [(1, vec![0xF0, 0x43, 0x10, 0xF7]), (5, vec![0x90, 60, 1])]
    );
    // Written back, they are gone and nothing else changed.
    let back = rewrite(&song);
    assert_eq!(ticks_and_bytes(&back), ticks_and_bytes(&song));
    // An empty message is not written either.
    let map = TempoMap::constant(96, 500_000);
    assert_eq!(
        write_smf(&[(0, vec![]), (5, vec![0xF8])], &map).unwrap(),
        write_smf(&[(5, vec![0xF8])], &map).unwrap()
    );
}

#[test]
fn a_file_of_many_defects_lists_the_first_hundred_warnings() {
    // 1000 malformed meta events (a key signature of zero bytes): a warning each would take
    // more memory than the file; the first MAX_WARNINGS are listed and one line counts the rest.
    let mut body = Vec::new();
    for _ in 0..1000 {
        body.extend_from_slice(&[0x00, 0xFF, 0x59, 0x00]);
    }
    body.extend_from_slice(&small_track()[8..]);
    let mut f = mthd(0, 1, 96);
    f.extend(mtrk(&body));
    let song = read_smf(&f).unwrap();
    assert_eq!(song.warnings.len(), MAX_WARNINGS + 1);
    assert!(
        song.warnings[..MAX_WARNINGS]
            .iter()
            .all(|w| w.contains("malformed meta event"))
    );
    assert_eq!(
        song.warnings[MAX_WARNINGS],
        format!(
            "{} more defects like the ones above: not listed",
            1000 - MAX_WARNINGS
        )
    );
    assert_eq!(
        ticks_and_bytes(&song),
        ticks_and_bytes(&read_smf(&small_file()).unwrap())
    );
}

#[test]
fn messages_are_views_in_play_order() {
    // Two tracks merged: get, first, last, iteration both ways and len agree.
    let bytes = file(
        Format::Parallel,
        metrical(96),
        vec![
            track(vec![(0, on(0, 60, 1)), (20, on(0, 61, 1))]),
            track(vec![(10, on(1, 62, 1)), (20, on(1, 63, 1))]),
        ],
    );
    let song = read_smf(&bytes).unwrap();
    let m = &song.messages;
    assert_eq!(m.len(), 4);
    let keys: Vec<u8> = m.iter().map(|x| x.bytes[1]).collect();
    assert_eq!(keys, [60, 62, 61, 63]);
    let back: Vec<u8> = m.iter().rev().map(|x| x.bytes[1]).collect();
    assert_eq!(back, [63, 61, 62, 60]);
    assert_eq!(m.first(), m.get(0));
    assert_eq!(m.last(), m.get(3));
    assert_eq!(m.get(4), None);
    assert_eq!(m.iter().len(), 4);
    assert_eq!(m.get(1).unwrap().time, song.tempo.time_of(10));
    assert_eq!(m.get(1).unwrap().kind, MessageKind::of(&[0x91, 62, 1]));
    assert!(Song::clone(&song) == song);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Messages given in any order are written as if sorted by tick first (ties in the order
    /// given): the writer streams messages in time order and keeps the rest for the end.
    #[test]
    fn the_writer_sorts_messages_given_out_of_order(
        msgs in proptest::collection::vec(
            (0i64..50_000_000, prop_oneof![
                Just(vec![0x90u8, 60, 100]),
                Just(vec![0xF8]),
                Just(vec![0x80, 60, 0]),
                Just(vec![0xF0, 0x01, 0xF7]),
                Just(vec![0x90, 0x3C]),
            ]),
            0..60,
        ),
        end in 0i64..60_000_000,
    ) {
        let map = TempoMap {
            ppq: Some(96),
            smpte_ticks_per_second: (0, 1),
            changes: vec![(0, 500_000), (200, 250_000), (700, 1_000_000)],
        };
        let mut sorted = msgs.clone();
        sorted.sort_by_key(|m| map.tick_of(m.0));
        let mut w = SmfWriter::new(&map);
        for (t, b) in &msgs {
            w.push(*t, b).unwrap();
        }
        prop_assert_eq!(w.finish(end).unwrap(), write_smf_until(&sorted, &map, end).unwrap());
    }
}
