//! The virtual MIDI cable (`examples/drivers/vmidi`) in the user-mode DMus port: the demo song
//! rendered into a cable, in DirectMusic and MIDI bytestream format, and captured back in both
//! formats; with a transpose in the cable and without; several cables; refused opens; closing
//! in any order; drops counted. The port calls the miniport through its vtables, as PortCls
//! does, and opens only the pins the cable declares.
//!
//! Times: the port's clock is virtual and every timer runs at its deadline, so a message is
//! rendered exactly at its presentation time and the cable keeps that time. Through a
//! DirectMusic capture pin it comes back exactly (a record's `rtDelta` is in 100 ns). Through a
//! MIDI bytestream capture pin it comes back in whole milliseconds (`KSMUSICFORMAT`'s
//! `TimeDeltaMs`), at most 1 ms early. A MIDI bytestream render pin takes times in whole
//! milliseconds too: the expected times are those the packets say.

use mxf::abi::{DMUS_EVENT_SIZE, REFERENCE_TIME};
use mxf::components::unpacker::KsBufferWriter;
use mxf::host::smf::{MessageKind, Song, WireSplitter, read_smf};
use mxf::host::{
    CapturePin, CapturedBuffer, ClockMode, FilterPlacement, Port, RenderPin, StreamFormat,
};
use mxf::miniport::{IntoMiniport, MiniportHandle};
use mxf::platform::fault;
use mxf::prelude::*;
use mxf_driver_vmidi::{Cable, CableConfig, CableStats, OCTAVE_UP, pins};
use mxf_suite::demo::demo_song;
use mxf_suite::player::RenderBuffers;

type Messages = Vec<(REFERENCE_TIME, Vec<u8>)>;

/// Capture IRP size.
const CAPTURE_IRP: usize = 4096;

fn demo() -> Song {
    read_smf(&demo_song()).expect("the demo song")
}

/// A cable's miniport and the port around it (the port calls `Init`).
fn cable_port(config: CableConfig) -> (MiniportHandle<Cable>, Port) {
    let miniport = Cable::new(config).into_miniport().expect("a cable");
    let port = Port::new(miniport.to_dmus(), ClockMode::Virtual).expect("a port");
    (miniport, port)
}

fn open_render(port: &Port, format: StreamFormat) -> RenderPin {
    let pin = match format {
        StreamFormat::DirectMusic => pins::DMUSIC_OUT,
        StreamFormat::Ks => pins::MIDI_OUT,
    };
    let render = port
        .open_render_pin(pin, format, FilterPlacement::AfterSequencer, |_| {
            Ok(Vec::new())
        })
        .expect("a render pin");
    render.set_state(KSSTATE_RUN).expect("RUN");
    render
}

fn open_capture(port: &Port, format: StreamFormat) -> CapturePin {
    let capture = port
        .open_capture_pin(pins::INPUT, format)
        .expect("a capture pin");
    capture.set_state(KSSTATE_RUN).expect("RUN");
    capture
}

/// The song as render IRPs: `(base time, bytes)`, and the messages in the order and at the
/// times the buffers present them.
fn render_buffers(song: &Song, format: StreamFormat) -> (Vec<(REFERENCE_TIME, Vec<u8>)>, Messages) {
    let wire: Messages = song
        .messages
        .iter()
        .filter(|m| !m.bytes.is_empty())
        .map(|m| (m.time, m.bytes.to_vec()))
        .collect();
    match format {
        StreamFormat::DirectMusic => {
            let buffers = RenderBuffers::new(song)
                .collect::<Result<Vec<_>, _>>()
                .expect("DirectMusic buffers");
            (buffers, wire)
        }
        StreamFormat::Ks => ks_buffers(&wire),
    }
}

/// `KSMUSICFORMAT` buffers of at most 64 packets, one message a packet; a buffer's base time is
/// its first message's, each packet's delta the whole milliseconds since the one before.
fn ks_buffers(wire: &Messages) -> (Vec<(REFERENCE_TIME, Vec<u8>)>, Messages) {
    let mut buffers = Vec::new();
    let mut presented = Messages::new();
    for group in wire.chunks(64) {
        let base = group[0].0;
        let mut bytes = vec![0u8; group.iter().map(|(_, b)| 12 + b.len()).sum()];
        let mut writer = KsBufferWriter::new(&mut bytes);
        let mut at = base;
        for (time, message) in group {
            let delta_ms = ((time - at) as f64 / 10_000.0).round() as u32;
            at += i64::from(delta_ms) * 10_000;
            writer.push(delta_ms, message).expect("room for the packet");
            presented.push((at, message.clone()));
        }
        let len = writer.len();
        bytes.truncate(len);
        buffers.push((base, bytes));
    }
    (buffers, presented)
}

/// Submits capture IRPs while the packer holds events, as a client keeps IRPs queued.
fn drain(capture: &CapturePin) {
    while capture.packer().queued() > 0 {
        let before = capture.packer().queued();
        capture.submit_buffer(CAPTURE_IRP);
        if capture.packer().queued() >= before {
            break;
        }
    }
}

/// Reads captured buffers back into messages (pieces of a SysEx joined), with their times.
struct Decoder {
    format: StreamFormat,
    splitter: WireSplitter,
    /// KS: the running time base (the first buffer's base time, plus every delta).
    running: Option<REFERENCE_TIME>,
    messages: Messages,
}

impl Decoder {
    fn new(format: StreamFormat) -> Self {
        Self {
            format,
            splitter: WireSplitter::new(),
            running: None,
            messages: Vec::new(),
        }
    }

    fn push(&mut self, time: REFERENCE_TIME, bytes: &[u8]) {
        let messages = &mut self.messages;
        let mut sink = |t: REFERENCE_TIME, m: &[u8]| -> Result<(), mxf::host::smf::SmfError> {
            messages.push((t, m.to_vec()));
            Ok(())
        };
        for &b in bytes {
            self.splitter.push(time, b, &mut sink).expect("decoded");
        }
    }

    fn buffer(&mut self, b: &CapturedBuffer) {
        let d = &b.data;
        let u32_at = |o: usize| u32::from_ne_bytes(d[o..o + 4].try_into().unwrap());
        let mut off = 0;
        match self.format {
            StreamFormat::DirectMusic => {
                while off + 20 <= d.len() {
                    let cb = u32_at(off) as usize;
                    let delta = i64::from_ne_bytes(d[off + 8..off + 16].try_into().unwrap());
                    let data = d[off + 20..off + 20 + cb].to_vec();
                    self.push(b.base_time + delta, &data);
                    off += DMUS_EVENT_SIZE(cb);
                }
            }
            StreamFormat::Ks => {
                let mut running = *self.running.get_or_insert(b.base_time);
                while off + 8 <= d.len() {
                    running += i64::from(u32_at(off)) * 10_000;
                    let cb = u32_at(off + 4) as usize;
                    let data = d[off + 8..off + 8 + cb].to_vec();
                    self.push(running, &data);
                    off += (8 + cb + 3) & !3;
                }
                self.running = Some(running);
            }
        }
    }

    fn collect(&mut self, capture: &CapturePin) {
        drain(capture);
        for b in capture.take_filled() {
            assert!(!b.discontinuity, "a whole stream has no discontinuity");
            self.buffer(&b);
        }
    }

    fn finish(mut self) -> Messages {
        let messages = &mut self.messages;
        let mut sink = |t: REFERENCE_TIME, m: &[u8]| -> Result<(), mxf::host::smf::SmfError> {
            messages.push((t, m.to_vec()));
            Ok(())
        };
        self.splitter.finish(&mut sink).expect("decoded");
        self.messages
    }
}

/// Submits `buffers` to `render` at once and runs the port's clock through every sequencer
/// deadline, collecting what `capture` gets; then stops both pins.
fn play(
    port: &Port,
    render: &RenderPin,
    buffers: Vec<(REFERENCE_TIME, Vec<u8>)>,
    capture: &CapturePin,
    decoder: &mut Decoder,
) {
    for (base, data) in buffers {
        render.submit(data, base).expect("submitted");
    }
    decoder.collect(capture);
    while let Some(t) = port.next_timer() {
        port.set_time(t.max(port.now()));
        port.run_timers();
        decoder.collect(capture);
    }
    assert_eq!(render.sequencer().queued(), 0, "everything was delivered");
    let (queued, completed) = render.bytes();
    assert_eq!(queued, completed, "every render IRP completed");
}

/// The musical messages (channel and SysEx) of a list.
fn musical(messages: &Messages) -> Messages {
    messages
        .iter()
        .filter(|(_, b)| MessageKind::of(b) != MessageKind::Other)
        .cloned()
        .collect()
}

/// `messages` as a transpose by +12 sends them: every note on, note off and key pressure an
/// octave up (the demo's notes all stay in range).
fn octave_up(messages: &Messages) -> Messages {
    messages
        .iter()
        .map(|(t, b)| {
            let mut b = b.clone();
            if (0x80..0xB0).contains(&b[0]) {
                b[1] += 12;
                assert!(b[1] < 128);
            }
            (*t, b)
        })
        .collect()
}

/// Asserts `got` is `want`, message for message in order, each time exact or (KS capture) at
/// most 1 ms early.
fn assert_same(got: &Messages, want: &Messages, capture: StreamFormat, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: message count");
    for (i, ((gt, gb), (wt, wb))) in got.iter().zip(want).enumerate() {
        assert_eq!(gb, wb, "{what}: message {i} at {wt}");
        match capture {
            StreamFormat::DirectMusic => assert_eq!(gt, wt, "{what}: time of message {i}"),
            StreamFormat::Ks => assert!(
                *gt <= *wt && wt - gt < 10_000,
                "{what}: message {i} at {gt}, rendered at {wt}"
            ),
        }
    }
}

/// Every note on of `messages` has a later note off of the same channel and key, none left
/// sounding.
fn assert_notes_paired(messages: &Messages) {
    let mut sounding = std::collections::HashMap::<(u8, u8), u32>::new();
    for (_, b) in messages {
        let (status, key) = (b[0] & 0xF0, b.get(1).copied());
        let on = status == 0x90 && b[2] > 0;
        let off = status == 0x80 || (status == 0x90 && b[2] == 0);
        let Some(key) = key else { continue };
        let slot = sounding.entry((b[0] & 0x0F, key)).or_default();
        if on {
            *slot += 1;
        } else if off {
            assert!(*slot > 0, "a note off without its note on: {b:x?}");
            *slot -= 1;
        }
    }
    assert!(sounding.values().all(|&n| n == 0), "notes left sounding");
}

/// Renders the demo into a cable in `render` format and captures it in `capture` format;
/// returns the messages captured, the messages rendered, and the cable's counters.
fn round_trip(
    config: CableConfig,
    render: StreamFormat,
    capture: StreamFormat,
) -> (Messages, Messages, CableStats) {
    let song = demo();
    let before = fault::live_blocks();
    let result = {
        let (miniport, port) = cable_port(config);
        let capture_pin = open_capture(&port, capture);
        let render_pin = open_render(&port, render);
        let (buffers, rendered) = render_buffers(&song, render);
        let mut decoder = Decoder::new(capture);
        play(&port, &render_pin, buffers, &capture_pin, &mut decoder);
        render_pin.set_state(KSSTATE_STOP).unwrap();
        capture_pin.set_state(KSSTATE_STOP).unwrap();
        decoder.collect(&capture_pin);
        let got = decoder.finish();
        assert_eq!(render_pin.allocator().stats().outstanding_events, 0);
        assert_eq!(render_pin.allocator().stats().outstanding_buffers, 0);
        assert_eq!(capture_pin.allocator().stats().outstanding_events, 0);
        assert_eq!(capture_pin.allocator().stats().outstanding_buffers, 0);
        let stats = miniport.miniport().stats();
        drop((render_pin, capture_pin, port));
        assert_eq!(miniport.miniport().render_streams(pins::MIDI_OUT), 0);
        assert!(!miniport.miniport().has_capture());
        (got, rendered, stats)
    };
    assert_eq!(fault::live_blocks(), before, "every pool block freed");
    result
}

const FORMATS: [StreamFormat; 2] = [StreamFormat::DirectMusic, StreamFormat::Ks];

#[test]
fn the_demo_song_comes_back_whole_in_every_format_pair() {
    for render in FORMATS {
        for capture in FORMATS {
            let what = format!("{render:?} -> {capture:?}");
            let (got, rendered, stats) = round_trip(CableConfig::PLAIN, render, capture);
            let want = musical(&rendered);
            assert!(
                want.len() > 250,
                "{what}: the demo has {} messages",
                want.len()
            );
            assert!(
                want.iter().any(|(_, b)| b.len() == 300),
                "{what}: the long SysEx is in the song"
            );
            assert_same(&musical(&got), &want, capture, &what);
            assert_eq!(
                got.len(),
                want.len(),
                "{what}: nothing but the song came back"
            );
            assert_eq!(stats.dropped(), 0, "{what}: {stats:?}");
            assert_eq!(stats.flushed, 0, "{what}: {stats:?}");
            assert_eq!(stats.queued, stats.captured, "{what}: {stats:?}");
            assert_eq!(stats.rendered, stats.queued, "{what}: {stats:?}");
        }
    }
}

#[test]
fn a_transposing_cable_shifts_every_note_and_pairs_every_note_off() {
    for (render, capture) in [
        (StreamFormat::DirectMusic, StreamFormat::DirectMusic),
        (StreamFormat::Ks, StreamFormat::Ks),
        (StreamFormat::Ks, StreamFormat::DirectMusic),
    ] {
        let what = format!("{render:?} -> {capture:?}, octave up");
        let (got, rendered, stats) =
            round_trip(CableConfig::with_filters(OCTAVE_UP), render, capture);
        let got = musical(&got);
        let want = octave_up(&musical(&rendered));
        assert_ne!(want, musical(&rendered), "the song has notes");
        assert_same(&got, &want, capture, &what);
        assert_notes_paired(&got);
        assert_eq!(stats.dropped(), 0, "{what}: {stats:?}");
    }
}

#[test]
fn cables_are_independent_and_several_render_streams_feed_one_capture() {
    let before = fault::live_blocks();
    {
        let song = demo();
        let (plain, plain_port) = cable_port(CableConfig::PLAIN);
        let (up, up_port) = cable_port(CableConfig::with_filters(OCTAVE_UP));
        let plain_capture = open_capture(&plain_port, StreamFormat::DirectMusic);
        let up_capture = open_capture(&up_port, StreamFormat::DirectMusic);
        // Two render streams into the plain cable: the demo (DirectMusic) and a scale on
        // channel 16, which the demo leaves free (MIDI bytestream).
        let dm = open_render(&plain_port, StreamFormat::DirectMusic);
        let midi = open_render(&plain_port, StreamFormat::Ks);
        let up_dm = open_render(&up_port, StreamFormat::DirectMusic);
        assert_eq!(plain.miniport().render_streams(pins::DMUSIC_OUT), 1);
        assert_eq!(plain.miniport().render_streams(pins::MIDI_OUT), 1);
        let scale: Messages = (0..16u8)
            .flat_map(|i| {
                let t = i64::from(i) * 2_500_000 + 1_230_000;
                [
                    (t, vec![0x9F, 48 + i, 100]),
                    (t + 1_000_000, vec![0x8F, 48 + i, 0]),
                ]
            })
            .collect();
        let (scale_buffers, scale_rendered) = ks_buffers(&scale);
        for (base, data) in scale_buffers {
            midi.submit(data, base).unwrap();
        }
        let (buffers, rendered) = render_buffers(&song, StreamFormat::DirectMusic);
        let mut decoder = Decoder::new(StreamFormat::DirectMusic);
        play(&plain_port, &dm, buffers, &plain_capture, &mut decoder);
        let got = musical(&decoder.finish());
        let (mine, theirs): (Messages, Messages) = got
            .into_iter()
            .partition(|(_, b)| b[0] & 0x0F == 0x0F && b[0] < 0xF0);
        assert_same(
            &mine,
            &scale_rendered,
            StreamFormat::DirectMusic,
            "the scale",
        );
        assert_same(
            &theirs,
            &musical(&rendered),
            StreamFormat::DirectMusic,
            "the demo",
        );
        assert_eq!(midi.bytes().0, midi.bytes().1, "the scale's IRPs completed");

        // The other cable saw nothing of it.
        let mut up_decoder = Decoder::new(StreamFormat::DirectMusic);
        up_decoder.collect(&up_capture);
        assert!(up_decoder.finish().is_empty());
        assert_eq!(up.miniport().stats(), CableStats::default());

        // And the plain cable sees nothing of what the other one carries.
        let plain_stats = plain.miniport().stats();
        let (buffers, rendered) = render_buffers(&song, StreamFormat::DirectMusic);
        let mut up_decoder = Decoder::new(StreamFormat::DirectMusic);
        play(&up_port, &up_dm, buffers, &up_capture, &mut up_decoder);
        assert_same(
            &musical(&up_decoder.finish()),
            &octave_up(&musical(&rendered)),
            StreamFormat::DirectMusic,
            "the transposing cable",
        );
        assert_eq!(plain.miniport().stats(), plain_stats);
        for pin in [&dm, &midi, &up_dm] {
            pin.set_state(KSSTATE_STOP).unwrap();
            assert_eq!(pin.allocator().stats().outstanding_events, 0);
        }
        for pin in [&plain_capture, &up_capture] {
            pin.set_state(KSSTATE_STOP).unwrap();
            assert_eq!(pin.allocator().stats().outstanding_events, 0);
        }
    }
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn opens_the_cable_does_not_declare_are_refused() {
    let before = fault::live_blocks();
    {
        let (miniport, port) = cable_port(CableConfig::PLAIN);
        let render = |pin, format| {
            port.open_render_pin(pin, format, FilterPlacement::AfterSequencer, |_| {
                Ok(Vec::new())
            })
        };
        // Render on the capture pin and the bridges; capture on the render pins and the
        // bridges; pins that do not exist; a render pin in the other render pin's format.
        for pin in [pins::CABLE_OUT, pins::CABLE_IN, pins::INPUT, 5, 99] {
            for format in FORMATS {
                assert!(render(pin, format).is_err(), "render {pin} {format:?}");
            }
        }
        for pin in [
            pins::MIDI_OUT,
            pins::DMUSIC_OUT,
            pins::CABLE_OUT,
            pins::CABLE_IN,
            5,
        ] {
            for format in FORMATS {
                assert!(
                    port.open_capture_pin(pin, format).is_err(),
                    "capture {pin} {format:?}"
                );
            }
        }
        assert!(render(pins::MIDI_OUT, StreamFormat::DirectMusic).is_err());
        assert!(render(pins::DMUSIC_OUT, StreamFormat::Ks).is_err());
        // One capture stream per cable; four render streams per render pin.
        let capture = port
            .open_capture_pin(pins::INPUT, StreamFormat::Ks)
            .unwrap();
        assert!(
            port.open_capture_pin(pins::INPUT, StreamFormat::DirectMusic)
                .is_err()
        );
        let renders: Vec<_> = (0..4)
            .map(|_| render(pins::MIDI_OUT, StreamFormat::Ks).unwrap())
            .collect();
        assert!(render(pins::MIDI_OUT, StreamFormat::Ks).is_err());
        assert_eq!(miniport.miniport().render_streams(pins::MIDI_OUT), 4);
        drop(renders);
        drop(capture);
        assert_eq!(miniport.miniport().render_streams(pins::MIDI_OUT), 0);
        // Every refusal left the cable as it was: it still carries.
        let capture = open_capture(&port, StreamFormat::DirectMusic);
        let dm = open_render(&port, StreamFormat::DirectMusic);
        let (buffers, rendered) = render_buffers(&demo(), StreamFormat::DirectMusic);
        let mut decoder = Decoder::new(StreamFormat::DirectMusic);
        play(&port, &dm, buffers, &capture, &mut decoder);
        assert_same(
            &musical(&decoder.finish()),
            &musical(&rendered),
            StreamFormat::DirectMusic,
            "after the refusals",
        );
    }
    assert_eq!(fault::live_blocks(), before);
}

/// One note on now and its note off 10 ms later, as a DirectMusic buffer.
fn one_note(channel: u8) -> Vec<u8> {
    let mut bytes = vec![0u8; 2 * DMUS_EVENT_SIZE(3)];
    let mut writer = mxf::components::unpacker::DmusBufferWriter::new(&mut bytes);
    writer.push(1, 0, true, &[0x90 | channel, 60, 100]).unwrap();
    writer
        .push(1, 100_000, true, &[0x80 | channel, 60, 0])
        .unwrap();
    bytes
}

#[test]
fn pins_streams_and_the_port_close_in_any_order() {
    // Which of (render pin, capture pin, port, miniport handle) goes first, second, ...
    let orders: [[usize; 4]; 6] = [
        [0, 1, 2, 3],
        [1, 0, 2, 3],
        [3, 1, 0, 2],
        [3, 0, 1, 2],
        [2, 0, 3, 1],
        [2, 3, 1, 0],
    ];
    for order in orders {
        let before = fault::live_blocks();
        {
            let (miniport, port) = cable_port(CableConfig::with_filters(OCTAVE_UP));
            let capture = open_capture(&port, StreamFormat::DirectMusic);
            let render = open_render(&port, StreamFormat::DirectMusic);
            render.submit(one_note(0), 0).unwrap();
            drain(&capture);
            assert_eq!(
                capture.take_filled().len(),
                1,
                "{order:?}: the note on came back"
            );
            // A note off still in the sequencer, and a note on queued in the packer without
            // an IRP to go to, when things start to close.
            render.submit(one_note(1), 0).unwrap();
            let mut parts: [Option<Box<dyn std::any::Any>>; 4] = [
                Some(Box::new(render)),
                Some(Box::new(capture)),
                Some(Box::new(port)),
                Some(Box::new(miniport)),
            ];
            for i in order {
                drop(parts[i].take());
            }
        }
        assert_eq!(
            fault::live_blocks(),
            before,
            "{order:?}: every pool block freed"
        );
    }
}

#[test]
fn closing_the_capture_pin_while_rendering_drops_and_counts() {
    let before = fault::live_blocks();
    {
        let (miniport, port) = cable_port(CableConfig::PLAIN);
        let render = open_render(&port, StreamFormat::DirectMusic);
        let capture = open_capture(&port, StreamFormat::DirectMusic);
        render.submit(one_note(0), 0).unwrap();
        drop(capture);
        port.set_time(100_000);
        port.run_timers();
        let s = miniport.miniport().stats();
        assert_eq!(
            (s.rendered, s.captured, s.dropped_no_capture),
            (2, 1, 1),
            "{s:?}"
        );
        assert_eq!(
            render.bytes().0,
            render.bytes().1,
            "the IRP completed all the same"
        );
        // A new capture pin gets what is rendered from then on.
        let capture = open_capture(&port, StreamFormat::Ks);
        render.submit(one_note(2), 200_000).unwrap();
        port.set_time(200_000);
        port.run_timers();
        drain(&capture);
        let mut decoder = Decoder::new(StreamFormat::Ks);
        decoder.collect(&capture);
        assert_eq!(decoder.finish(), [(200_000, vec![0x92, 60, 100])]);
        assert_eq!(
            render.allocator().stats().outstanding_events,
            1,
            "the note off waits"
        );
    }
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn a_full_capture_queue_is_counted_not_leaked() {
    let before = fault::live_blocks();
    {
        // Room for four copies between two services of the capture stream; a chord of ten
        // notes arrives as one chain, before the port can service it.
        let (miniport, port) = cable_port(CableConfig {
            filters: &[],
            queue_events: 4,
        });
        let capture = open_capture(&port, StreamFormat::DirectMusic);
        let render = open_render(&port, StreamFormat::DirectMusic);
        let mut bytes = vec![0u8; 10 * DMUS_EVENT_SIZE(3)];
        let mut writer = mxf::components::unpacker::DmusBufferWriter::new(&mut bytes);
        for k in 0..10 {
            writer.push(1, 0, true, &[0x90, 60 + k, 100]).unwrap();
        }
        render.submit(bytes, 0).unwrap();
        let mut decoder = Decoder::new(StreamFormat::DirectMusic);
        decoder.collect(&capture);
        let got = decoder.finish();
        let want: Messages = (0..4).map(|k| (0, vec![0x90, 60 + k, 100])).collect();
        assert_eq!(got, want, "the first four, in order");
        let s = miniport.miniport().stats();
        assert_eq!(
            (s.rendered, s.queued, s.captured, s.dropped_full),
            (10, 4, 4, 6),
            "{s:?}"
        );
        assert_eq!(miniport.miniport().queued(), 0);
        // The next chain finds room again.
        render.submit(one_note(0), 0).unwrap();
        assert_eq!(miniport.miniport().stats().captured, 5);
        port.set_time(100_000);
        port.run_timers();
        assert_eq!(miniport.miniport().stats().captured, 6);
        render.set_state(KSSTATE_STOP).unwrap();
        capture.set_state(KSSTATE_STOP).unwrap();
        drain(&capture);
        assert_eq!(render.allocator().stats().outstanding_events, 0);
        assert_eq!(capture.allocator().stats().outstanding_events, 0);
    }
    assert_eq!(fault::live_blocks(), before);
}
