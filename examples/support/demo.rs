//! The embedded demo song of the main job, generated in code: notes on three channels and drums,
//! controllers, program changes, pitch bends, tempo changes, a GM-reset SysEx and a SysEx longer
//! than the 240-byte allocator buffers. Written as a format 1 file (midly writes running status),
//! so reading it exercises the same paths as a file from disk.

use midly::num::{u4, u7, u14, u15, u24, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// Ticks per quarter note of the demo.
pub const PPQ: u16 = 480;

/// The GM System On SysEx.
pub const GM_RESET: [u8; 6] = [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7];

/// A SysEx of `len` bytes in all (F0 … F7) for the non-commercial manufacturer ID 0x7D.
pub fn long_sysex(len: usize) -> Vec<u8> {
    let mut v = vec![0xF0, 0x7D];
    v.extend((0..len.saturating_sub(3)).map(|i| (i % 128) as u8));
    v.push(0xF7);
    v
}

struct Track<'a> {
    events: Vec<(u64, TrackEventKind<'a>)>,
}

impl<'a> Track<'a> {
    fn new() -> Self {
        Self { events: Vec::new() }
    }
    fn at(&mut self, tick: u64, kind: TrackEventKind<'a>) {
        self.events.push((tick, kind));
    }
    fn midi(&mut self, tick: u64, ch: u8, message: MidiMessage) {
        self.at(
            tick,
            TrackEventKind::Midi {
                channel: u4::new(ch),
                message,
            },
        );
    }
    fn note(&mut self, tick: u64, len: u64, ch: u8, key: u8, vel: u8) {
        self.midi(
            tick,
            ch,
            MidiMessage::NoteOn {
                key: u7::new(key),
                vel: u7::new(vel),
            },
        );
        // Half of the note-offs are note-ons with velocity 0, as many files have them.
        if key.is_multiple_of(2) {
            self.midi(
                tick + len,
                ch,
                MidiMessage::NoteOn {
                    key: u7::new(key),
                    vel: u7::new(0),
                },
            );
        } else {
            self.midi(
                tick + len,
                ch,
                MidiMessage::NoteOff {
                    key: u7::new(key),
                    vel: u7::new(64),
                },
            );
        }
    }
    fn finish(mut self) -> Vec<TrackEvent<'a>> {
        self.events.sort_by_key(|e| e.0);
        let mut last = 0;
        let mut out: Vec<TrackEvent<'a>> = self
            .events
            .into_iter()
            .map(|(t, kind)| {
                let delta = u28::new((t - last) as u32);
                last = t;
                TrackEvent { delta, kind }
            })
            .collect();
        out.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        });
        out
    }
}

/// The demo song as SMF bytes.
pub fn demo_song() -> Vec<u8> {
    let q = u64::from(PPQ);
    let bar = 4 * q;
    let gm = &GM_RESET[1..];
    let long = long_sysex(300);
    let long_body = &long[1..];

    let mut conductor = Track::new();
    conductor.at(0, TrackEventKind::Meta(MetaMessage::TrackName(b"mxf demo")));
    conductor.at(
        0,
        TrackEventKind::Meta(MetaMessage::Tempo(u24::new(500_000))),
    ); // 120 bpm
    conductor.at(
        2 * bar,
        TrackEventKind::Meta(MetaMessage::Tempo(u24::new(666_667))),
    ); // 90 bpm
    conductor.at(
        4 * bar,
        TrackEventKind::Meta(MetaMessage::Tempo(u24::new(428_571))),
    ); // 140 bpm
    conductor.at(0, TrackEventKind::SysEx(gm));
    conductor.at(bar / 2, TrackEventKind::SysEx(long_body));

    let mut lead = Track::new();
    lead.midi(
        q / 4,
        0,
        MidiMessage::ProgramChange {
            program: u7::new(81),
        },
    );
    lead.midi(
        q / 4,
        0,
        MidiMessage::Controller {
            controller: u7::new(7),
            value: u7::new(100),
        },
    );
    lead.midi(
        q / 4,
        0,
        MidiMessage::Controller {
            controller: u7::new(10),
            value: u7::new(40),
        },
    );
    let melody = [
        60u8, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 67,
    ];
    for (i, &k) in melody.iter().cycle().take(48).enumerate() {
        let t = bar + i as u64 * (q / 2);
        lead.note(t, q / 2 - 10, 0, k, 70 + (i as u8 % 5) * 10);
    }
    // A pitch-bend sweep in bar 4, back to centre at bar 5.
    for i in 0..16u64 {
        let v = 8192 + (i as i32 - 8) * 400;
        lead.midi(
            3 * bar + i * (q / 4),
            0,
            MidiMessage::PitchBend {
                bend: midly::PitchBend(u14::new(v as u16)),
            },
        );
    }
    lead.midi(
        4 * bar,
        0,
        MidiMessage::PitchBend {
            bend: midly::PitchBend(u14::new(8192)),
        },
    );

    let mut bass = Track::new();
    bass.midi(
        q / 4,
        1,
        MidiMessage::ProgramChange {
            program: u7::new(33),
        },
    );
    for i in 0..24u64 {
        let key = [36u8, 43, 41, 38][(i / 4 % 4) as usize];
        bass.note(bar + i * q, q - 20, 1, key, 90);
        if i % 4 == 0 {
            bass.midi(
                bar + i * q,
                1,
                MidiMessage::Controller {
                    controller: u7::new(64),
                    value: u7::new(127),
                },
            );
            bass.midi(
                bar + i * q + 3 * q,
                1,
                MidiMessage::Controller {
                    controller: u7::new(64),
                    value: u7::new(0),
                },
            );
        }
    }
    bass.midi(
        2 * bar,
        1,
        MidiMessage::ChannelAftertouch { vel: u7::new(40) },
    );

    let mut drums = Track::new();
    for i in 0..48u64 {
        let t = bar + i * (q / 2);
        drums.note(t, q / 8, 9, if i % 2 == 0 { 36 } else { 42 }, 100);
        if i % 4 == 2 {
            drums.note(t, q / 8, 9, 38, 110);
        }
    }
    drums.midi(
        bar,
        9,
        MidiMessage::Aftertouch {
            key: u7::new(42),
            vel: u7::new(30),
        },
    );

    let tracks = vec![
        conductor.finish(),
        lead.finish(),
        bass.finish(),
        drums.finish(),
    ];
    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(PPQ))),
        tracks,
    };
    let mut out = Vec::new();
    if smf.write_std(&mut out).is_err() {
        // Writing to a Vec does not fail; an empty song is still a valid answer.
        out.clear();
    }
    out
}

/// A long generated song, for throughput measurements: `tracks` parallel tracks (channels 0..,
/// skipping drums), each `notes` overlapping notes of pseudo-random key, velocity and length,
/// with a volume controller every 50 notes and a pitch bend every 97 (a fixed seed, so every run
/// plays the same song). About `tracks × notes × 2.03` messages.
pub fn generated_song(tracks: u8, notes: u32) -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let tracks: Vec<Vec<TrackEvent<'static>>> = (0..tracks)
        .map(|k| {
            let ch = if k >= 9 { k.wrapping_add(1) % 16 } else { k };
            let mut t = Track::new();
            let mut tick = 0u64;
            t.midi(
                0,
                ch,
                MidiMessage::ProgramChange {
                    program: u7::new(k % 128),
                },
            );
            for i in 0..notes {
                tick += 1 + next(30);
                let key = 36 + next(60) as u8;
                let vel = 1 + next(126) as u8;
                t.note(tick, 1 + next(60), ch, key, vel);
                if i % 50 == 0 {
                    let value = u7::new(next(128) as u8);
                    t.midi(
                        tick,
                        ch,
                        MidiMessage::Controller {
                            controller: u7::new(7),
                            value,
                        },
                    );
                }
                if i % 97 == 0 {
                    let bend = u14::new(next(0x4000) as u16);
                    t.midi(
                        tick,
                        ch,
                        MidiMessage::PitchBend {
                            bend: midly::PitchBend(bend),
                        },
                    );
                }
            }
            t.finish()
        })
        .collect();
    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(PPQ))),
        tracks,
    };
    let mut out = Vec::new();
    if smf.write_std(&mut out).is_err() {
        // Writing to a Vec does not fail; an empty song is still a valid answer.
        out.clear();
    }
    out
}
