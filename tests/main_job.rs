//! The main job end to end: songs built in code go through the simulated DMus port's render graph
//! (DirectMusic buffers → unpacker → sequencer → filters → the sample UART miniport → virtual
//! MPU-401) and its capture graph (virtual MPU-401 input → miniport → capture sink → packer).
//!
//! * An identity chain gives back every channel and SysEx message of the input, in order, at its
//!   time; written to a file and read again, every message is within one tick of its input tick.
//! * `transpose=12` shifts exactly the keys and nothing else.
//! * The capture path reproduces the input's messages.
//! * Random event streams through both graphs: nothing lost, the allocator balanced.
//! * Bad files give the `mxfplay` CLI a one-line error and exit status 2; malformed DirectMusic
//!   buffers give `STATUS_INVALID_PARAMETER_2` (`domain.md` §5.2, item 55) and leak nothing.

use midly::num::{u4, u7, u14, u15, u24, u28};
use midly::{
    Format, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent, TrackEventKind,
};
use mxf::abi::{
    DMUS_EVENT_SIZE, KSSTATE_RUN, KSSTATE_STOP, REFERENCE_TIME, STATUS_INVALID_PARAMETER_2,
    STATUS_SUCCESS,
};
use mxf::allocator::{AllocatorConfig, AllocatorHandle, AllocatorStats};
use mxf::com::IntoComObject;
use mxf::components::sequencer::MIN_RESCHEDULE_DELAY;
use mxf::components::unpacker::{
    DmusBufferWriter, DmusUnpacker, KsBufferWriter, KsUnpacker, Unpacker,
};
use mxf::host::smf::{MessageKind, Song, read_smf, split_wire, write_smf, write_smf_until};
use mxf::host::{ClockMode, FilterPlacement, Port, StreamFormat};
use mxf::prelude::*;
use mxf_suite::player::{self, PlayOptions, Report, musical_messages, song_messages};
use mxf_suite::uart::{VirtualMpu401, create_uart_miniport};
use mxf_suite::{demo, stages};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

type Timed = Vec<(REFERENCE_TIME, Vec<u8>)>;

// ---------------------------------------------------------------------------------------------
// Songs built in code.
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

fn file(format: Format, ppq: u16, tracks: Vec<Vec<TrackEvent<'_>>>) -> Vec<u8> {
    let smf = Smf {
        header: Header::new(format, Timing::Metrical(u15::new(ppq))),
        tracks,
    };
    let mut out = Vec::new();
    smf.write_std(&mut out).expect("writing to a Vec");
    out
}

fn midi(ch: u8, message: MidiMessage) -> TrackEventKind<'static> {
    TrackEventKind::Midi {
        channel: u4::new(ch),
        message,
    }
}

fn note_on(ch: u8, key: u8, vel: u8) -> TrackEventKind<'static> {
    midi(
        ch,
        MidiMessage::NoteOn {
            key: u7::new(key),
            vel: u7::new(vel),
        },
    )
}

fn note_off(ch: u8, key: u8) -> TrackEventKind<'static> {
    midi(
        ch,
        MidiMessage::NoteOff {
            key: u7::new(key),
            vel: u7::new(64),
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

fn tempo(usec_per_quarter: u32) -> TrackEventKind<'static> {
    TrackEventKind::Meta(MetaMessage::Tempo(u24::new(usec_per_quarter)))
}

/// The SysEx bodies (after F0) of the test song.
struct Bodies {
    gm: Vec<u8>,
    long500: Vec<u8>,
    long700: Vec<u8>,
}

impl Bodies {
    fn new() -> Self {
        Self {
            gm: demo::GM_RESET[1..].to_vec(),
            long500: demo::long_sysex(500)[1..].to_vec(),
            long700: demo::long_sysex(700)[1..].to_vec(),
        }
    }
}

/// The test song's ticks per quarter note.
const PPQ: u16 = 480;

/// A format 1 song with three tempos; notes (note-offs both ways), controllers, program changes,
/// pitch bends and both pressures on three channels, written with running status; the GM reset,
/// SysEx of 500 and 700 bytes, a divided SysEx (F0 without F7, then escapes ending in F7), a
/// SysEx begun and ended by escapes, an escaped channel message and an escape of raw bytes (song
/// select). Every key is at most 100, so `transpose=12` keeps it in range.
fn test_song(b: &Bodies) -> Vec<u8> {
    let q = u64::from(PPQ);
    let conductor = track(vec![
        (0, TrackEventKind::Meta(MetaMessage::TrackName(b"test"))),
        (0, tempo(500_000)),
        (4 * q, tempo(400_000)),
        (8 * q, tempo(750_000)),
        (0, TrackEventKind::SysEx(&b.gm)),
        // The divided SysEx, alone in its stretch of time.
        (q / 8, TrackEventKind::SysEx(&[0x43, 0x10, 0x4C])),
        (q / 8 + 10, TrackEventKind::Escape(&[0x00, 0x00])),
        (q / 8 + 20, TrackEventKind::Escape(&[0x7E, 0x00, 0xF7])),
        (q / 4 + 10, TrackEventKind::Escape(&[0xF3, 0x02])),
        // A channel message sent as an escape, and a SysEx begun and ended by escapes.
        (q / 4 + 20, TrackEventKind::Escape(&[0xB2, 0x07, 0x50])),
        (3 * q + 30, TrackEventKind::Escape(&[0xF0, 0x7D, 0x55])),
        (3 * q + 40, TrackEventKind::Escape(&[0x56, 0xF7])),
        (2 * q + 7, TrackEventKind::SysEx(&b.long500)),
        (9 * q + 3, TrackEventKind::SysEx(&b.long700)),
    ]);
    let mut lead = vec![
        (
            q / 2,
            midi(
                0,
                MidiMessage::ProgramChange {
                    program: u7::new(81),
                },
            ),
        ),
        (q / 2, cc(0, 7, 100)),
        (q / 2, cc(0, 10, 40)),
    ];
    let melody = [60u8, 62, 64, 65, 67, 69, 71, 72, 100, 0, 1];
    for i in 0..40u64 {
        let key = melody[(i % melody.len() as u64) as usize];
        let t = q + i * (q / 4);
        lead.push((t, note_on(0, key, 40 + (i % 80) as u8)));
        if i % 2 == 0 {
            lead.push((t + q / 8, note_on(0, key, 0)));
        } else {
            lead.push((t + q / 8, note_off(0, key)));
        }
    }
    for i in 0..24u64 {
        let v = (8192 + (i as i32 - 12) * 600) as u16;
        lead.push((
            5 * q + i * 17,
            midi(
                0,
                MidiMessage::PitchBend {
                    bend: PitchBend(u14::new(v)),
                },
            ),
        ));
    }
    let mut bass = vec![(
        q / 2,
        midi(
            1,
            MidiMessage::ProgramChange {
                program: u7::new(33),
            },
        ),
    )];
    for i in 0..12u64 {
        let key = [36u8, 43, 41, 38][(i % 4) as usize];
        let t = q + i * q;
        bass.push((t, note_on(1, key, 90)));
        bass.push((
            t + 1,
            midi(
                1,
                MidiMessage::ChannelAftertouch {
                    vel: u7::new(i as u8),
                },
            ),
        ));
        bass.push((t + q - 20, note_off(1, key)));
        bass.push((t, cc(1, 64, if i % 2 == 0 { 127 } else { 0 })));
    }
    let mut drums = Vec::new();
    for i in 0..32u64 {
        let t = q + i * (q / 2);
        let key = if i % 2 == 0 { 36 } else { 42 };
        drums.push((t, note_on(9, key, 100)));
        drums.push((
            t + 5,
            midi(
                9,
                MidiMessage::Aftertouch {
                    key: u7::new(key),
                    vel: u7::new(20),
                },
            ),
        ));
        drums.push((t + q / 8, note_on(9, key, 0)));
    }
    file(
        Format::Parallel,
        PPQ,
        vec![conductor, track(lead), track(bass), track(drums)],
    )
}

/// The same kind of song as one format 0 track.
fn test_song_format_0(b: &Bodies) -> Vec<u8> {
    let q = u64::from(PPQ);
    let mut events = vec![
        (0, tempo(600_000)),
        (3 * q, tempo(420_000)),
        (0, TrackEventKind::SysEx(&b.gm)),
        (q, TrackEventKind::SysEx(&b.long500)),
        (4 * q, TrackEventKind::SysEx(&[0x7D, 0x01])),
        (4 * q + 1, TrackEventKind::Escape(&[0x02, 0x03, 0xF7])),
    ];
    for i in 0..30u64 {
        let t = i * q / 3 + 11;
        events.push((t, note_on(i as u8 % 3, 48 + i as u8, 90)));
        events.push((t + 50, note_on(i as u8 % 3, 48 + i as u8, 0)));
        events.push((t + 51, cc(i as u8 % 3, 11, i as u8)));
    }
    file(Format::SingleTrack, PPQ, vec![track(events)])
}

// ---------------------------------------------------------------------------------------------
// Checks.
// ---------------------------------------------------------------------------------------------

/// The allocator got every event and buffer back and saw no misuse.
#[track_caller]
fn balanced(report: &Report) {
    assert_eq!(report.lost, 0, "{report}");
    let a: &AllocatorStats = &report.allocator;
    assert_eq!(a.outstanding_events, 0, "{report}");
    assert_eq!(a.outstanding_buffers, 0, "{report}");
    assert_eq!(a.anomalies.misuse(), 0, "{report}");
}

/// `(tick, bytes)` of the channel and SysEx messages of a song (divided SysEx joined).
fn song_ticks(song: &Song) -> Vec<(u64, Vec<u8>)> {
    let wire: Vec<(REFERENCE_TIME, u8)> = song
        .messages
        .iter()
        .filter(|m| m.kind != MessageKind::Other)
        .flat_map(|m| m.bytes.iter().map(move |&b| (m.tick as REFERENCE_TIME, b)))
        .collect();
    musical_messages(&split_wire(&wire))
        .into_iter()
        .map(|(t, b)| (t as u64, b))
        .collect()
}

fn bytes_of(m: &Timed) -> Vec<Vec<u8>> {
    m.iter().map(|(_, b)| b.clone()).collect()
}

/// Same bytes in the same order, each time within `tolerance` of the expected one.
#[track_caller]
fn same_messages(got: &Timed, want: &Timed, tolerance: REFERENCE_TIME) {
    assert_eq!(got.len(), want.len(), "message count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.1, w.1, "message {i}");
        assert!(
            (g.0 - w.0).abs() <= tolerance,
            "message {i} {:02X?}: time {} instead of {}",
            g.1,
            g.0,
            w.0
        );
    }
}

/// The shortest tick of a song's tempo map, in 100 ns.
fn shortest_tick(song: &Song) -> REFERENCE_TIME {
    let ppq = i64::from(song.tempo.ppq.unwrap_or(480));
    song.tempo
        .changes
        .iter()
        .map(|&(_, us)| i64::from(us) * 10 / ppq)
        .min()
        .unwrap_or(0)
}

/// Same bytes in the same order; each message leaves at its time or after it, by less than the
/// sequencer's shortest timer (1 ms, item 34: an event due sooner after a delivery waits for it).
#[track_caller]
fn played_on_time(got: &Timed, want: &Timed) {
    assert_eq!(got.len(), want.len(), "message count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.1, w.1, "message {i}");
        let late = g.0 - w.0;
        assert!(
            (0..MIN_RESCHEDULE_DELAY as i64).contains(&late),
            "message {i} {:02X?}: time {} instead of {}",
            g.1,
            g.0,
            w.0
        );
    }
}

/// Plays with an identity chain and checks the round trip through a file.
fn render_round_trip(bytes: &[u8]) {
    let song = read_smf(bytes).unwrap();
    assert!(shortest_tick(&song) * 3 >= 2 * MIN_RESCHEDULE_DELAY as i64);
    let (out, report) = player::play(&song, vec![], &PlayOptions::default()).unwrap();
    balanced(&report);
    assert_eq!(report.irps.0, report.irps.1, "every IRP completes");
    assert_eq!(report.messages_in, song.messages.len());
    played_on_time(&musical_messages(&out), &song_messages(&song));
    // Written as a file and read again: the same messages, each within one tick (a message is
    // at most 1 ms late, which rounds to at most one tick when a tick lasts 2/3 ms or more).
    let back = read_smf(&write_smf(&out, &song.tempo).unwrap()).unwrap();
    assert_eq!(back.tempo, song.tempo);
    let (a, b) = (song_ticks(&song), song_ticks(&back));
    assert_eq!(a.len(), b.len());
    for ((ta, ma), (tb, mb)) in a.iter().zip(&b) {
        assert_eq!(ma, mb);
        assert!(ta.abs_diff(*tb) <= 1, "{ma:02X?}: tick {ta} became {tb}");
    }
}

// ---------------------------------------------------------------------------------------------
// The demo song.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_demo_song_has_everything_and_plays_without_loss() {
    let song = read_smf(&demo::demo_song()).unwrap();
    let msgs = &song.messages;
    let status = |hi: u8| msgs.iter().any(|m| m.bytes[0] >> 4 == hi);
    assert!(status(0x9), "note-ons");
    assert!(status(0x8), "note-offs");
    assert!(
        msgs.iter()
            .any(|m| m.bytes[0] >> 4 == 0x9 && m.bytes[2] == 0),
        "note-ons of velocity 0"
    );
    assert!(status(0xB), "controllers");
    assert!(status(0xC), "program changes");
    assert!(status(0xE), "pitch bends");
    assert!(status(0xA) && status(0xD), "key and channel pressure");
    let tempi: Vec<u32> = song.tempo.changes.iter().map(|c| c.1).collect();
    assert!(tempi.len() >= 3, "tempo changes: {tempi:?}");
    assert!(tempi.windows(2).all(|w| w[0] != w[1]), "{tempi:?}");
    assert!(msgs.iter().any(|m| m.bytes == demo::GM_RESET), "GM reset");
    assert!(
        msgs.iter().any(|m| m.kind == MessageKind::SysEx
            && m.bytes.len() > 240
            && m.bytes.last() == Some(&0xF7)),
        "a SysEx longer than the 240-byte allocator buffers"
    );
    assert!(
        msgs.iter().map(|m| m.bytes[0] & 0x0F).any(|c| c == 9),
        "drums"
    );
    render_round_trip(&demo::demo_song());
}

// ---------------------------------------------------------------------------------------------
// (a) Render round trip, identity chain.
// ---------------------------------------------------------------------------------------------

#[test]
fn identity_render_of_a_format_1_song() {
    let b = Bodies::new();
    let bytes = test_song(&b);
    let song = read_smf(&bytes).unwrap();
    assert_eq!(song.format, 1);
    assert_eq!(song.tempo.changes.len(), 3);
    // The divided SysEx is expected as one message, and the song-select escape is not a
    // musical message.
    let want = song_messages(&song);
    assert!(
        want.iter()
            .any(|(_, m)| m == &[0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7])
    );
    assert!(want.iter().any(|(_, m)| m.len() == 700));
    assert!(want.iter().any(|(_, m)| m == &[0xB2, 0x07, 0x50]));
    assert!(
        want.iter()
            .any(|(_, m)| m == &[0xF0, 0x7D, 0x55, 0x56, 0xF7])
    );
    render_round_trip(&bytes);
    // The song-select escape is played too.
    let (out, _) = player::play(&song, vec![], &PlayOptions::default()).unwrap();
    assert!(out.iter().any(|(_, m)| m == &[0xF3, 0x02]));
}

#[test]
fn identity_render_of_a_format_0_song() {
    let b = Bodies::new();
    let bytes = test_song_format_0(&b);
    assert_eq!(read_smf(&bytes).unwrap().format, 0);
    render_round_trip(&bytes);
}

#[test]
fn identity_render_times_follow_the_sequencer() {
    // On the virtual clock a message leaves the MPU-401 when the sequencer's timer delivers it:
    // at its presentation time when the timer was set for it, up to 1 ms later when it was due
    // sooner than that after the previous delivery.
    let b = Bodies::new();
    let song = read_smf(&test_song(&b)).unwrap();
    let (out, report) = player::play(&song, vec![], &PlayOptions::default()).unwrap();
    balanced(&report);
    let (got, want) = (musical_messages(&out), song_messages(&song));
    played_on_time(&got, &want);
    let exact = got.iter().zip(&want).filter(|(g, w)| g.0 == w.0).count();
    assert!(
        exact * 10 >= want.len() * 9,
        "{exact} of {} on time",
        want.len()
    );
}

#[test]
fn a_song_without_messages_plays_and_captures_nothing() {
    let bytes = file(
        Format::Parallel,
        PPQ,
        vec![
            track(vec![(0, tempo(500_000))]),
            track(vec![(960, tempo(400_000))]),
        ],
    );
    let song = read_smf(&bytes).unwrap();
    assert!(song.messages.is_empty());
    let (out, report) = player::play(&song, vec![], &PlayOptions::default()).unwrap();
    balanced(&report);
    assert!(out.is_empty());
    let (out, report) = player::capture(&song).unwrap();
    balanced(&report);
    assert!(out.is_empty());
    // Written and read back: a valid file with the tempo map and no messages.
    let back = read_smf(&write_smf(&out, &song.tempo).unwrap()).unwrap();
    assert_eq!(back.tempo, song.tempo);
    assert!(back.messages.is_empty());
}

// ---------------------------------------------------------------------------------------------
// (b) Exact transposition.
// ---------------------------------------------------------------------------------------------

#[test]
fn transpose_12_shifts_the_keys_and_nothing_else() {
    let b = Bodies::new();
    for bytes in [test_song(&b), test_song_format_0(&b), demo::demo_song()] {
        let song = read_smf(&bytes).unwrap();
        let stage = stages::parse("transpose=12").unwrap();
        let (out, report) = player::play(&song, vec![stage], &PlayOptions::default()).unwrap();
        balanced(&report);
        assert_eq!(report.filters.len(), 1);
        let (name, events_in, events_out) = &report.filters[0];
        assert_eq!(name, "transpose=12");
        assert_eq!(events_in, events_out, "the filter dropped nothing");
        let want = song_messages(&song);
        let got = musical_messages(&out);
        assert_eq!(got.len(), want.len());
        for ((gt, g), (wt, w)) in got.iter().zip(&want) {
            assert!(
                (0..MIN_RESCHEDULE_DELAY as i64).contains(&(gt - wt)),
                "{w:02X?}"
            );
            match w[0] >> 4 {
                // Note-off, note-on and key pressure: the key is 12 higher, the rest the same.
                0x8..=0xA => {
                    assert_eq!(g.len(), 3);
                    assert_eq!(g[0], w[0]);
                    assert_eq!(g[1], w[1] + 12, "{w:02X?} became {g:02X?}");
                    assert_eq!(g[2], w[2]);
                }
                _ => assert_eq!(g, w),
            }
        }
    }
}

#[test]
fn the_stage_parser_refuses_bad_specs_in_one_line() {
    for spec in [
        "transpose=",
        "transpose=x",
        "transpose=1000",
        "velocity=abc",
        "velocity=0..100",
        "velocity=100..10",
        "channel-map=17:1",
        "channel-map=1",
        "mute=0",
        "sysex=maybe",
        "echo=ax2",
        "echo=100x0",
        "echo=100x200",
        "bogus",
        "",
    ] {
        match stages::parse(spec) {
            Ok(_) => panic!("`{spec}` accepted"),
            Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "{spec}: {e:?}"),
        }
    }
    for spec in [
        "transpose=-5",
        "velocity=80%",
        "velocity=40..100",
        "channel-map=1:2,10:10",
        "mute=3,4",
        "note-off",
        "sysex=drop",
        "sysex=pass",
        "echo=250x3",
        "echo=100",
    ] {
        assert!(stages::parse(spec).is_ok(), "{spec}");
    }
}

// ---------------------------------------------------------------------------------------------
// (c) The capture path.
// ---------------------------------------------------------------------------------------------

/// One millisecond in 100 ns units.
const MS: REFERENCE_TIME = 10_000;

#[test]
fn capture_reproduces_the_input() {
    let b = Bodies::new();
    for bytes in [test_song(&b), test_song_format_0(&b), demo::demo_song()] {
        let song = read_smf(&bytes).unwrap();
        let (out, report) = player::capture(&song).unwrap();
        balanced(&report);
        same_messages(&musical_messages(&out), &song_messages(&song), MS);
        // Captured, written and read back: the same messages within a tick.
        let back = read_smf(&write_smf(&out, &song.tempo).unwrap()).unwrap();
        let (x, y) = (song_ticks(&song), song_ticks(&back));
        assert_eq!(
            x.iter().map(|m| &m.1).collect::<Vec<_>>(),
            y.iter().map(|m| &m.1).collect::<Vec<_>>()
        );
        assert!(x.iter().zip(&y).all(|(a, b)| a.0.abs_diff(b.0) <= 1));
    }
}

#[test]
fn capture_keeps_sysex_longer_than_the_input_fifo() {
    // The miniport's software FIFO holds 128 bytes: a long SysEx arriving from the wire must
    // still come out whole.
    let b = Bodies::new();
    let q = u64::from(PPQ);
    let bytes = file(
        Format::SingleTrack,
        PPQ,
        vec![track(vec![
            (0, TrackEventKind::SysEx(&b.long700)),
            (q, note_on(0, 60, 1)),
            (q, TrackEventKind::SysEx(&b.long500)),
        ])],
    );
    let song = read_smf(&bytes).unwrap();
    let (out, report) = player::capture(&song).unwrap();
    balanced(&report);
    let got = bytes_of(&musical_messages(&out));
    assert_eq!(got, bytes_of(&song_messages(&song)));
    assert_eq!(got[0].len(), 700);
}

#[test]
fn capture_keeps_sysex_longer_than_a_capture_buffer() {
    // A SysEx of more bytes than one 4096-byte capture IRP holds fills several: the client keeps
    // buffers coming until the packer holds nothing, so the SysEx and the notes after it arrive.
    let q = u64::from(PPQ);
    for len in [4100usize, 32_776, 65_536] {
        let body = demo::long_sysex(len)[1..].to_vec();
        let bytes = file(
            Format::SingleTrack,
            PPQ,
            vec![track(vec![
                (0, TrackEventKind::SysEx(&body)),
                (q, note_on(0, 60, 100)),
                (q, note_on(0, 60, 0)),
            ])],
        );
        let song = read_smf(&bytes).unwrap();
        let (out, report) = player::capture(&song).unwrap();
        balanced(&report);
        let got = bytes_of(&musical_messages(&out));
        assert_eq!(got, bytes_of(&song_messages(&song)), "{len}-byte SysEx");
        assert_eq!(got[0].len(), len);
    }
}

#[test]
fn render_plays_sysex_longer_than_an_irp_buffer() {
    // A record holds at most 4072 data bytes of a 4096-byte buffer: longer SysEx goes as pieces
    // over several buffers, and the unpacker joins them. Lengths around the edges, and a note
    // before and after each SysEx (the pieces must not cut into other messages).
    let q = u64::from(PPQ);
    for len in [4070usize, 4071, 4072, 4073, 4096, 8151, 8152, 10_000] {
        let body = demo::long_sysex(len)[1..].to_vec();
        let bytes = file(
            Format::SingleTrack,
            PPQ,
            vec![track(vec![
                (0, note_on(0, 60, 1)),
                (q, TrackEventKind::SysEx(&body)),
                (q, note_on(0, 62, 1)),
                (2 * q, note_off(0, 60)),
            ])],
        );
        let song = read_smf(&bytes).unwrap();
        let (out, report) = player::play(&song, vec![], &PlayOptions::default())
            .unwrap_or_else(|e| panic!("{len}-byte SysEx: {e}"));
        balanced(&report);
        assert_eq!(report.irps.0, report.irps.1, "every IRP completes");
        played_on_time(&musical_messages(&out), &song_messages(&song));
        assert_eq!(musical_messages(&out)[1].1.len(), len);
    }
}

#[test]
fn a_divided_sysex_among_other_tracks_plays_whole() {
    // Track 0 sends a SysEx as three packets with gaps, track 1 plays notes between them: the
    // wire carries the SysEx whole, then the notes (no bytes of the SysEx become notes).
    let body: Vec<u8> = (0x10..0x50).collect();
    let q = u64::from(PPQ);
    let bytes = file(
        Format::Parallel,
        PPQ,
        vec![
            track(vec![
                (0, TrackEventKind::SysEx(&body[..20])),
                (q / 2, TrackEventKind::Escape(&body[20..40])),
                (q, TrackEventKind::Escape(&[0x7F, 0xF7])),
            ]),
            track(vec![
                (q / 4, note_on(1, 64, 90)),
                (3 * q / 4, note_off(1, 64)),
            ]),
        ],
    );
    let song = read_smf(&bytes).unwrap();
    let (out, report) = player::play(&song, vec![], &PlayOptions::default()).unwrap();
    balanced(&report);
    let got = musical_messages(&out);
    assert_eq!(got.len(), 3, "{got:02X?}");
    let mut whole = vec![0xF0];
    whole.extend_from_slice(&body[..40]);
    whole.extend_from_slice(&[0x7F, 0xF7]);
    assert_eq!(got[0].1, whole);
    assert_eq!(got[1].1, [0x91, 64, 90]);
    assert_eq!(got[2].1[..2], [0x81, 64]);
    played_on_time(&got, &song_messages(&song));
}

// ---------------------------------------------------------------------------------------------
// (d) Random event streams through both graphs.
// ---------------------------------------------------------------------------------------------

/// One random event: ticks since the previous one and the message's wire bytes.
fn arb_event() -> impl Strategy<Value = (u64, Vec<u8>)> {
    let channel = (0x80u8..=0xEF, 0u8..128, 0u8..128).prop_map(|(status, a, b)| {
        if (0xC0..=0xDF).contains(&status) {
            vec![status, a]
        } else {
            vec![status, a, b]
        }
    });
    // SysEx of 2 to 700 bytes in all, often longer than the 240-byte allocator buffers.
    let sysex = proptest::collection::vec(0u8..128, 0..=698).prop_map(|mut d| {
        d.insert(0, 0xF0);
        d.push(0xF7);
        d
    });
    let delta = prop_oneof![2 => Just(0u64), 3 => 1u64..200, 1 => 200u64..5000];
    (delta, prop_oneof![6 => channel, 1 => sysex])
}

/// A format 0 file of the events, with a tempo change in the middle.
fn stream_file(events: &[(u64, Vec<u8>)], ppq: u16) -> Vec<u8> {
    let mut tick = 0;
    let mut list: Vec<(u64, TrackEventKind<'_>)> = vec![(0, tempo(500_000))];
    for (d, b) in events {
        tick += d;
        let kind = if b[0] == 0xF0 {
            TrackEventKind::SysEx(&b[1..])
        } else {
            match midly::live::LiveEvent::parse(b).unwrap() {
                midly::live::LiveEvent::Midi { channel, message } => {
                    TrackEventKind::Midi { channel, message }
                }
                _ => unreachable!("channel messages only"),
            }
        };
        list.push((tick, kind));
    }
    list.push((tick / 2, tempo(350_000)));
    file(Format::SingleTrack, ppq, vec![track(list)])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Nothing lost, the allocator balanced, and the output equals the input, through the render
    /// graph with an identity chain and through the capture graph.
    #[test]
    fn random_streams_through_both_graphs(
        events in proptest::collection::vec(arb_event(), 1..60),
        ppq in prop_oneof![Just(96u16), Just(480), Just(960)],
    ) {
        let song = read_smf(&stream_file(&events, ppq)).unwrap();
        let want = song_messages(&song);
        prop_assert_eq!(want.len(), events.len());
        prop_assert_eq!(
            bytes_of(&want),
            events.iter().map(|e| e.1.clone()).collect::<Vec<_>>()
        );

        let (out, report) = player::play(&song, vec![], &PlayOptions::default()).unwrap();
        prop_assert_eq!(report.lost, 0);
        prop_assert_eq!(report.allocator.outstanding_events, 0);
        prop_assert_eq!(report.allocator.outstanding_buffers, 0);
        prop_assert_eq!(report.allocator.anomalies.misuse(), 0);
        prop_assert_eq!(report.irps.0, report.irps.1);
        let got = musical_messages(&out);
        prop_assert_eq!(bytes_of(&got), bytes_of(&want));
        for ((gt, _), (wt, _)) in got.iter().zip(&want) {
            prop_assert!(
                (0..MIN_RESCHEDULE_DELAY as i64).contains(&(gt - wt)),
                "played at {} instead of {}", gt, wt
            );
        }

        let (out, report) = player::capture(&song).unwrap();
        prop_assert_eq!(report.lost, 0);
        prop_assert_eq!(report.allocator.outstanding_events, 0);
        prop_assert_eq!(report.allocator.outstanding_buffers, 0);
        prop_assert_eq!(report.allocator.anomalies.misuse(), 0);
        let got = musical_messages(&out);
        prop_assert_eq!(bytes_of(&got), bytes_of(&want));
        for ((gt, _), (wt, _)) in got.iter().zip(&want) {
            prop_assert!((gt - wt).abs() <= MS, "captured at {} instead of {}", gt, wt);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (e) Bad input through the CLI.
// ---------------------------------------------------------------------------------------------

/// The `mxfplay` example next to this test binary, built (or brought up to date) first, once.
fn mxfplay() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_mxfplay).clone()
}

fn build_mxfplay() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target[/<triple>]/<profile>/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir
        .join("examples")
        .join(format!("mxfplay{}", std::env::consts::EXE_SUFFIX));
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name");
    let mut target_dir = profile_dir
        .parent()
        .expect("target directory")
        .to_path_buf();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", "mxfplay"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    if !target_dir.join("CACHEDIR.TAG").exists() {
        // target/<triple>/<profile>.
        let triple = target_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("target triple")
            .to_string();
        cmd.args(["--target", &triple]);
        target_dir = target_dir.parent().expect("target directory").to_path_buf();
    }
    cmd.env("CARGO_TARGET_DIR", &target_dir);
    let status = cmd.status().expect("running cargo build");
    assert!(status.success(), "cargo build --example mxfplay failed");
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxf-main-job-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_cli(args: &[&std::ffi::OsStr], dir: &Path) -> Run {
    let out = Command::new(mxfplay())
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("running mxfplay");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Exit status 2, one line on stderr starting with `mxfplay:`, no panic, no output file.
#[track_caller]
fn fails_cleanly(r: &Run, what: &str, out_file: &Path) {
    assert_eq!(r.code, Some(2), "{what}: {}", r.stderr);
    let err = r.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
    assert!(err.starts_with("mxfplay: "), "{what}: {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{what}: {err:?}"
    );
    assert!(!r.stdout.contains("panicked"), "{what}");
    assert!(!out_file.exists(), "{what}: an output file was written");
}

#[test]
fn cli_bad_files_give_one_line_and_status_2() {
    let dir = scratch("bad");
    let out = dir.join("out.mid");
    let demo_bytes = demo::demo_song();
    let mut mthd_only = b"MThd".to_vec();
    mthd_only.extend_from_slice(&0x8000_0000u32.to_be_bytes());
    mthd_only.extend_from_slice(&[0, 0, 0, 1, 0, 96]);
    let mut mid_event = b"MThd\0\0\0\x06\0\0\0\x01\0\x60MTrk".to_vec();
    mid_event.extend_from_slice(&3u32.to_be_bytes());
    mid_event.extend_from_slice(&[0x00, 0x90, 0x3C]);
    let mut wrong_magic = demo_bytes.clone();
    wrong_magic[..4].copy_from_slice(b"RIFF");
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("wrong magic".into(), wrong_magic),
        ("text".into(), b"not a midi file\n".to_vec()),
        ("absurd header length".into(), mthd_only),
        ("track ending mid-event".into(), mid_event),
    ];
    for len in [
        3,
        4,
        13,
        14,
        22,
        23,
        100,
        demo_bytes.len() / 2,
        demo_bytes.len() - 1,
    ] {
        cases.push((
            format!("truncated to {len} bytes"),
            demo_bytes[..len].to_vec(),
        ));
    }
    for (i, (what, bytes)) in cases.iter().enumerate() {
        let input = dir.join(format!("case{i}.mid"));
        std::fs::write(&input, bytes).unwrap();
        let r = run_cli(&[input.as_os_str(), "-o".as_ref(), out.as_os_str()], &dir);
        fails_cleanly(&r, what, &out);
        assert!(
            r.stderr.contains(&*input.to_string_lossy()),
            "{what}: names the file"
        );
        // The capture path reads files the same way.
        let r = run_cli(
            &[
                input.as_os_str(),
                "--capture".as_ref(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
            &dir,
        );
        fails_cleanly(&r, what, &out);
    }
    // A missing file and a directory.
    let missing = dir.join("no such file.mid");
    let r = run_cli(&[missing.as_os_str(), "-o".as_ref(), out.as_os_str()], &dir);
    fails_cleanly(&r, "missing file", &out);
    let r = run_cli(&[dir.as_os_str(), "-o".as_ref(), out.as_os_str()], &dir);
    fails_cleanly(&r, "a directory", &out);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_bad_arguments_give_one_line_and_status_2() {
    let dir = scratch("args");
    let out = dir.join("out.mid");
    for args in [
        vec!["--filter", "bogus=1"],
        vec!["--filter", "transpose=x"],
        vec!["--filter", "transpose=12", "--capture"],
    ] {
        let mut a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
        a.extend(["-o".as_ref(), out.as_os_str()]);
        let r = run_cli(&a, &dir);
        fails_cleanly(&r, &args.join(" "), &out);
    }
    // An output file that cannot be written.
    let bad_out = dir.join("missing-dir").join("out.mid");
    let r = run_cli(&["-o".as_ref(), bad_out.as_os_str()], &dir);
    fails_cleanly(&r, "unwritable output", &bad_out);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_plays_files_and_writes_what_it_played() {
    let dir = scratch("good");
    let b = Bodies::new();
    let input = dir.join("song.mid");
    std::fs::write(&input, test_song(&b)).unwrap();
    let song = read_smf(&test_song(&b)).unwrap();
    let out = dir.join("out.mid");
    // Identity render, capture and the embedded demo song.
    for extra in [&[][..], &["--capture"][..]] {
        let mut a: Vec<&std::ffi::OsStr> = vec![input.as_os_str(), "-o".as_ref(), out.as_os_str()];
        a.extend(extra.iter().map(std::ffi::OsStr::new));
        let r = run_cli(&a, &dir);
        assert_eq!(r.code, Some(0), "{extra:?}: {}", r.stderr);
        let lost = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("events lost"));
        assert_eq!(
            lost.and_then(|l| l.split_whitespace().last()),
            Some("0"),
            "{}",
            r.stdout
        );
        let played = read_smf(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(
            bytes_of(&song_messages(&played)),
            bytes_of(&song_messages(&song)),
            "{extra:?}"
        );
        std::fs::remove_file(&out).unwrap();
    }
    let r = run_cli(
        &[
            "--filter".as_ref(),
            "transpose=12".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &dir,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let demo_song = read_smf(&demo::demo_song()).unwrap();
    let played = read_smf(&std::fs::read(&out).unwrap()).unwrap();
    let (x, y) = (song_messages(&demo_song), song_messages(&played));
    assert_eq!(x.len(), y.len());
    assert!(
        x.iter()
            .zip(&y)
            .all(|((_, w), (_, g))| if matches!(w[0] >> 4, 0x8..=0xA) {
                g[1] == w[1] + 12
            } else {
                g == w
            })
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_plays_tolerated_defects_with_warnings_and_keeps_the_end() {
    let dir = scratch("warn");
    let b = Bodies::new();
    // The test song with a rest of four quarters after its last message (a marker there), and
    // a DOS end-of-file mark after its last track.
    let q = u64::from(PPQ);
    let mut events = vec![
        (0, note_on(0, 60, 100)),
        (q, note_off(0, 60)),
        (q, TrackEventKind::SysEx(&b.gm)),
    ];
    events.push((5 * q, TrackEventKind::Meta(MetaMessage::Marker(b"end"))));
    let mut bytes = file(Format::SingleTrack, PPQ, vec![track(events)]);
    let song = read_smf(&bytes).unwrap();
    bytes.push(0x1A);
    let input = dir.join("eof-mark.mid");
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.join("out.mid");
    let r = run_cli(&[input.as_os_str(), "-o".as_ref(), out.as_os_str()], &dir);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let warnings: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].starts_with("mxfplay: warning: ")
            && warnings[0].contains("eof-mark.mid")
            && warnings[0].contains("after the last track"),
        "{}",
        warnings[0]
    );
    let played = read_smf(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        bytes_of(&song_messages(&played)),
        bytes_of(&song_messages(&song))
    );
    // The output ends where the song ends (its last End-of-Track), not at its last message.
    assert!(song.end_tick > song.messages.last().unwrap().tick);
    assert!(
        played.end_time().abs_diff(song.end_time()) <= 10_000,
        "{} vs {}",
        played.end_time(),
        song.end_time()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_writes_as_it_plays_the_file_write_smf_writes_of_what_was_played() {
    // mxfplay writes its output as the wire messages leave the device; the file is the one
    // `write_smf_until` makes of the collected messages, byte for byte: render, render through an
    // echo (times a filter makes), capture.
    let dir = scratch("stream");
    let b = Bodies::new();
    let bytes = test_song(&b);
    let input = dir.join("song.mid");
    std::fs::write(&input, &bytes).unwrap();
    let song = read_smf(&bytes).unwrap();
    let out = dir.join("out.mid");
    for extra in [&[][..], &["--filter", "echo=10x3"][..], &["--capture"][..]] {
        let mut a: Vec<&std::ffi::OsStr> = vec![input.as_os_str(), "-o".as_ref(), out.as_os_str()];
        a.extend(extra.iter().map(std::ffi::OsStr::new));
        let r = run_cli(&a, &dir);
        assert_eq!(r.code, Some(0), "{extra:?}: {}", r.stderr);
        let (played, _) = match extra {
            ["--capture"] => player::capture(&song).unwrap(),
            [] => player::play(&song, vec![], &PlayOptions::default()).unwrap(),
            _ => player::play(
                &song,
                vec![stages::parse("echo=10x3").unwrap()],
                &PlayOptions::default(),
            )
            .unwrap(),
        };
        let want = write_smf_until(&played, &song.tempo, song.end_time()).unwrap();
        assert!(std::fs::read(&out).unwrap() == want, "{extra:?}");
        std::fs::remove_file(&out).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A format 1 file of about `size` bytes: a tempo track and four tracks of note-on/note-off
/// pairs 10 ticks apart (4 bytes an event).
fn big_song(size: usize) -> Vec<u8> {
    let chunk = |kind: &[u8], body: &[u8]| {
        let mut c = kind.to_vec();
        c.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        c.extend_from_slice(body);
        c
    };
    let mut f = chunk(b"MThd", &[0, 1, 0, 5, 0x01, 0xE0]);
    f.extend(chunk(
        b"MTrk",
        &[0, 0xFF, 0x51, 3, 0x07, 0xA1, 0x20, 0, 0xFF, 0x2F, 0],
    ));
    for ch in 0..4u8 {
        let mut t = Vec::with_capacity(size / 4 + 8);
        let mut k = 0u8;
        while t.len() < size / 4 {
            let key = 36 + k % 48;
            t.extend_from_slice(&[10, 0x90 | ch, key, 100, 10, 0x80 | ch, key, 0]);
            k = k.wrapping_add(1);
        }
        t.extend_from_slice(&[0, 0xFF, 0x2F, 0]);
        f.extend(chunk(b"MTrk", &t));
    }
    f
}

/// [`run_cli`] with the address space limited to `limit_kib` KiB (`ulimit -v`): allocations
/// beyond it fail as they do on a machine without the memory.
fn run_cli_limited(limit_kib: u64, args: &[&std::ffi::OsStr], dir: &Path) -> Run {
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(limit_kib.to_string())
        .arg(mxfplay())
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("running mxfplay");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn cli_refuses_a_file_too_big_for_memory_in_one_line() {
    // A 16 MB song needs about 64 MB as a song: with 40 MB of address space the file is read
    // but its song does not fit; with 12 MB the file itself does not. Both are refused with one
    // line and exit status 2, not an allocation abort.
    let dir = scratch("oom");
    let input = dir.join("big.mid");
    std::fs::write(&input, big_song(16 << 20)).unwrap();
    let out = dir.join("out.mid");
    let args = [input.as_os_str(), "-o".as_ref(), out.as_os_str()];
    let r = run_cli_limited(40 << 10, &args, &dir);
    fails_cleanly(&r, "song too big", &out);
    assert!(
        r.stderr.contains("big.mid: out of memory for"),
        "{}",
        r.stderr
    );
    let r = run_cli_limited(12 << 10, &args, &dir);
    fails_cleanly(&r, "file too big", &out);
    assert!(
        r.stderr.contains("cannot read") && r.stderr.contains("do not fit in memory"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_plays_a_song_in_a_small_multiple_of_its_size() {
    // A 1 MB song (250 000 messages) plays in 32 MB of address space, program included; holding
    // a Vec per message, 16 bytes per wire byte and copies in the writer took over 70 MB.
    let dir = scratch("small-memory");
    let input = dir.join("big.mid");
    std::fs::write(&input, big_song(1 << 20)).unwrap();
    let out = dir.join("out.mid");
    let r = run_cli_limited(
        32 << 10,
        &[input.as_os_str(), "-o".as_ref(), out.as_os_str()],
        &dir,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        read_smf(&std::fs::read(&out).unwrap())
            .unwrap()
            .messages
            .len(),
        read_smf(&std::fs::read(&input).unwrap())
            .unwrap()
            .messages
            .len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A song whose second note lies `gaps` × (2^28 − 1) ticks of 16.8 s after its first: at the
/// slowest tempo and one tick a quarter, each gap is about 142 years.
fn song_centuries_long(gaps: usize) -> Vec<u8> {
    let mut t = vec![
        0x00, 0xFF, 0x51, 0x03, 0xFF, 0xFF, 0xFF, 0x00, 0x90, 0x3C, 0x40,
    ];
    for _ in 0..gaps {
        t.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0x01, 0x00]);
    }
    t.extend_from_slice(&[0x00, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00]);
    let mut f = b"MThd\0\0\0\x06\0\0\0\x01\0\x01MTrk".to_vec();
    f.extend_from_slice(&u32::try_from(t.len()).unwrap().to_be_bytes());
    f.extend(t);
    f
}

#[test]
fn realtime_refuses_a_song_whose_events_lie_centuries_ahead() {
    // 5 gaps: about 710 years, past what 100 ns × 100 in a u64 of nanoseconds holds (584
    // years): the wait overflowed (a panic in a debug build, a wrapped sleep in release).
    let song = read_smf(&song_centuries_long(5)).unwrap();
    assert!(song.messages.last().unwrap().time > player::REALTIME_LIMIT);
    let started = std::time::Instant::now();
    let e = player::play(&song, vec![], &PlayOptions { realtime: true }).unwrap_err();
    assert!(
        e.starts_with("--realtime: the song's last message lies"),
        "{e}"
    );
    assert!(!e.contains('\n'));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Without --realtime the song plays (as fast as possible).
    let (out, report) = player::play(&song, vec![], &PlayOptions::default()).unwrap();
    balanced(&report);
    assert_eq!(musical_messages(&out).len(), 2);
    assert_eq!(out[1].0, song.messages.last().unwrap().time);
}

#[test]
fn cli_realtime_refuses_a_song_centuries_long_in_one_line() {
    let dir = scratch("realtime");
    let input = dir.join("centuries.mid");
    std::fs::write(&input, song_centuries_long(5)).unwrap();
    let out = dir.join("out.mid");
    let r = run_cli(
        &[
            input.as_os_str(),
            "--realtime".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &dir,
    );
    fails_cleanly(&r, "--realtime, centuries", &out);
    assert!(r.stderr.contains("--realtime"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// (f) Malformed DirectMusic buffers.
// ---------------------------------------------------------------------------------------------

/// The render pin's byte-position callback: the allocator reports each returned event's position.
#[com_object(IPositionNotify)]
struct Positions {
    seen: Arc<Mutex<Vec<u64>>>,
}

impl IPositionNotify_Impl for Positions {
    fn PositionNotify(&self, byte_position: u64) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(byte_position);
    }
}

/// An allocator that reports positions, and the positions it reported.
fn allocator_with_positions() -> (AllocatorHandle, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let notify: IPositionNotify = Positions { seen: seen.clone() }.into_com().unwrap();
    let alloc = AllocatorHandle::new(AllocatorConfig::default(), Some(notify)).unwrap();
    (alloc, seen)
}

/// A DirectMusic buffer of `(rtDelta, structured, data)` records on channel group 1.
fn dmus(records: &[(i64, bool, &[u8])]) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let mut w = DmusBufferWriter::new(&mut buf);
    for &(delta, structured, data) in records {
        w.push(1, delta, structured, data).unwrap();
    }
    let n = w.len();
    buf.truncate(n);
    buf
}

#[test]
fn truncated_last_records_give_invalid_parameter_2_and_leak_nothing() {
    let good = dmus(&[
        (0, true, &[0x90, 0x3C, 0x40]),
        (10, true, &[0x80, 0x3C, 0x00]),
    ]);
    assert_eq!(good.len(), 48);
    let header = |cb: u32, flags: u32| {
        let mut h = Vec::new();
        h.extend_from_slice(&cb.to_ne_bytes());
        h.extend_from_slice(&1u32.to_ne_bytes());
        h.extend_from_slice(&20i64.to_ne_bytes());
        h.extend_from_slice(&flags.to_ne_bytes());
        h
    };
    let with = |tail: &[u8]| {
        let mut b = good.clone();
        b.extend_from_slice(tail);
        b
    };
    let whole = dmus(&[(20, true, &[0x90, 0x40, 0x40, 0x41, 0x40])]);
    let long = dmus(&[(20, false, &[0x55; 600])]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a header cut after 10 bytes", with(&header(3, 1)[..10])),
        ("a header cut after 19 bytes", with(&header(3, 1)[..19])),
        ("data cut", with(&whole[..22])),
        ("padding cut", with(&whole[..whole.len() - 1])),
        (
            "an unstructured record cut",
            with(&long[..long.len() - 100]),
        ),
        ("cbEvent = 2^32 - 1", {
            let mut t = header(u32::MAX, 1);
            t.extend_from_slice(&[0; 28]);
            with(&t)
        }),
        ("cbEvent = 2^31", {
            let mut t = header(0x8000_0000, 0);
            t.extend_from_slice(&[0; 28]);
            with(&t)
        }),
        ("cbEvent one byte too many", {
            let mut t = header(5, 1);
            t.extend_from_slice(&[0x90, 0x40, 0x40, 0x41, 0x40, 0, 0, 0]);
            t[0] = 13;
            with(&t)
        }),
    ];
    for (what, buf) in cases {
        let (alloc, seen) = allocator_with_positions();
        let mut u = DmusUnpacker::new(alloc.interface().clone());
        u.set_state(KSSTATE_RUN);
        let s = 1_000u64;
        let n = buf.len() as u64;
        assert_eq!(
            u.sink_irp(&buf, 5_000, s),
            STATUS_INVALID_PARAMETER_2,
            "{what}"
        );
        assert_eq!(
            u.queued(),
            2,
            "{what}: the whole records before the cut are kept"
        );
        assert_eq!(u.stats().truncated, 1, "{what}");
        // Unconnected: the events go back to the allocator, which reports their positions.
        assert_eq!(u.process_queues(), STATUS_SUCCESS, "{what}");
        let positions = seen.lock().unwrap().clone();
        assert_eq!(
            positions,
            [s + 24, s + n],
            "{what}: the last event completes the whole buffer"
        );
        drop(u);
        let st = alloc.stats();
        assert_eq!(st.outstanding_events, 0, "{what}");
        assert_eq!(st.outstanding_buffers, 0, "{what}");
        assert_eq!(st.anomalies.misuse(), 0, "{what}");
    }
}

#[test]
fn malformed_buffers_of_both_formats_never_leak() {
    let (alloc, _seen) = allocator_with_positions();
    let mut u = DmusUnpacker::new(alloc.interface().clone());
    let mut k = KsUnpacker::new(alloc.interface().clone());
    // Nothing but a cut header.
    assert_eq!(u.sink_irp(&[1, 2, 3], 0, 0), STATUS_INVALID_PARAMETER_2);
    assert_eq!(u.queued(), 0);
    // A SysEx begun in a whole record, then a cut record: the SysEx bytes so far are queued.
    let mut sysex = vec![0x11u8; 500];
    sysex[0] = 0xF0;
    let mut buf = dmus(&[(0, true, &sysex)]);
    buf.extend_from_slice(&dmus(&[(0, true, &[0x22; 40])])[..30]);
    assert_eq!(u.sink_irp(&buf, 0, 0), STATUS_INVALID_PARAMETER_2);
    assert_eq!(u.queued(), 3, "chunks of 240, 240 and 20");
    assert_eq!(u.process_queues(), STATUS_SUCCESS);
    // KS format: a packet whose bytes are cut.
    let mut ks = vec![0u8; 64];
    let mut w = KsBufferWriter::new(&mut ks);
    w.push(0, &[0x90, 0x3C, 0x40]).unwrap();
    w.push(1, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let n = w.len();
    assert_eq!(k.sink_irp(&ks[..n - 4], 0, 0), STATUS_INVALID_PARAMETER_2);
    assert_eq!(k.queued(), 1);
    // Random garbage.
    let garbage: Vec<u8> = (0..997u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _ = u.sink_irp(&garbage, 0, 0);
    let _ = k.sink_irp(&garbage, 0, 0);
    u.process_queues();
    k.process_queues();
    u.set_state(KSSTATE_STOP);
    drop(u);
    drop(k);
    let st = alloc.stats();
    assert_eq!(st.outstanding_events, 0);
    assert_eq!(st.outstanding_buffers, 0);
    assert_eq!(st.anomalies.misuse(), 0);
}

/// A virtual-clock port on the sample UART miniport and its virtual MPU-401.
fn uart_port() -> (Arc<VirtualMpu401>, Port) {
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    (mpu, port)
}

#[test]
fn a_truncated_buffer_through_the_port_still_completes_its_irp() {
    let (mpu, port) = uart_port();
    let pin = port
        .open_render_pin(
            1,
            StreamFormat::DirectMusic,
            FilterPlacement::AfterSequencer,
            |_| Ok(vec![]),
        )
        .unwrap();
    pin.set_state(KSSTATE_RUN).unwrap();
    let mut buf = dmus(&[
        (0, true, &[0x90, 0x3C, 0x40]),
        (10_000, true, &[0x80, 0x3C, 0x00]),
    ]);
    let cut = dmus(&[(20_000, true, &[0x90, 0x40, 0x40])]);
    buf.extend_from_slice(&cut[..DMUS_EVENT_SIZE(3) - 2]);
    let n = buf.len() as u64;
    pin.submit(buf, 0).unwrap();
    for t in [0, 5_000, 10_000, 20_000, 1_000_000] {
        port.set_time(t);
        port.run_timers();
        mpu.run_timers(t);
    }
    assert_eq!(pin.bytes(), (n, n), "the IRP completed");
    assert_eq!(pin.completed_irps(), 1);
    let wire = split_wire(&mpu.take_output());
    assert_eq!(
        wire,
        [
            (0, vec![0x90, 0x3C, 0x40]),
            (10_000, vec![0x80, 0x3C, 0x00])
        ]
    );
    pin.set_state(KSSTATE_STOP).unwrap();
    let st = pin.allocator().stats();
    assert_eq!(st.outstanding_events, 0);
    assert_eq!(st.anomalies.misuse(), 0);
}

/// The render pin of [`a_filter_that_submits_to_its_own_pin_does_not_deadlock`].
static REENTERED_PIN: OnceLock<mxf::host::RenderPin> = OnceLock::new();

/// On its first event, submits another IRP to its own pin (from inside the pin's serving).
#[mxf_filter]
struct Resubmit {
    done: std::sync::atomic::AtomicBool,
}

impl Filter for Resubmit {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst)
            && let Some(p) = REENTERED_PIN.get()
        {
            let _ = p.submit(dmus(&[(0, true, &[0x90, 0x40, 1])]), 0);
        }
        out.push(event);
    }
}

#[test]
fn a_filter_that_submits_to_its_own_pin_does_not_deadlock() {
    let (mpu, port) = uart_port();
    let pin = port
        .open_render_pin(
            1,
            StreamFormat::DirectMusic,
            FilterPlacement::BeforeSequencer,
            |a| {
                Ok(vec![
                    Resubmit {
                        done: std::sync::atomic::AtomicBool::new(false),
                    }
                    .into_filter(a)?
                    .into_interface(),
                ])
            },
        )
        .unwrap();
    let pin = REENTERED_PIN.get_or_init(|| pin);
    pin.set_state(KSSTATE_RUN).unwrap();
    pin.submit(dmus(&[(0, true, &[0x90, 0x3C, 1])]), 0).unwrap();
    // The nested IRP was served by the running serve: both notes reach the wire.
    let wire: Vec<u8> = mpu.take_output().into_iter().map(|(_, b)| b).collect();
    assert_eq!(wire, [0x90, 0x3C, 0x01, 0x90, 0x40, 0x01], "{wire:02X?}");
}

/// The render graph bench's generated song is a valid file that plays whole: every message comes
/// out, nothing is lost.
#[test]
fn the_generated_bench_song_plays_whole() {
    let bytes = mxf_suite::demo::generated_song(3, 400);
    let song = read_smf(&bytes).unwrap();
    // A program change per track, two messages per note, a controller every 50 notes and a
    // pitch bend every 97.
    assert_eq!(song.messages.len(), 3 * (1 + 2 * 400 + 8 + 5));
    let (out, report) = mxf_suite::player::play(
        &song,
        Vec::new(),
        &mxf_suite::player::PlayOptions::default(),
    )
    .unwrap();
    assert_eq!(report.lost, 0);
    assert_eq!(out.len(), song.messages.len());
}
