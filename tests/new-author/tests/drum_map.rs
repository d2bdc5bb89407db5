//! `DrumMap` through its IMXF vtable, with `mxf::testing`: remapped, muted and layered drums,
//! everything else untouched, packages, SysEx, STOP and exhaustion.

use mxf::allocator::AllocatorConfig;
use mxf::filter::FilterHandle;
use mxf::midly::num::u7;
use mxf::prelude::*;
use mxf::testing::{
    Ev, Rig, control_change, fragments, msg, note_off, note_on, package, program_change, set_state,
    sysex,
};
use mxf_new_author::{DRUM_CHANNEL, DrumMap};

const KICK: u8 = 36;
const RIM: u8 = 37;
const SNARE: u8 = 38;
const CLAP: u8 = 39;
const HAT: u8 = 42;
const D: u8 = DRUM_CHANNEL;

/// Snare played as rim shot, hi-hat muted, kick layered with a clap.
fn drums() -> DrumMap {
    DrumMap::new()
        .map(u7::new(SNARE), u7::new(RIM))
        .mute(u7::new(HAT))
        .layer(u7::new(KICK), u7::new(CLAP))
}

fn connected(rig: &Rig) -> FilterHandle<DrumMap> {
    let f = drums().into_filter(rig.allocator()).unwrap();
    rig.connect(&f).unwrap();
    f
}

#[test]
fn drum_notes_are_remapped_muted_and_layered() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    rig.send(
        &f,
        &[
            note_on(D, SNARE, 100).at(10),
            note_on(D, HAT, 90).at(10),
            note_on(D, KICK, 120).at(20).group(2),
            msg(&[0xA9, SNARE, 50]).at(25),
            note_off(D, SNARE, 0).at(30),
            note_on(D, HAT, 0).at(30),
            note_on(D, KICK, 0).at(40).group(2),
        ],
    )
    .unwrap();
    assert_eq!(
        rig.take_received(),
        [
            note_on(D, RIM, 100).at(10),
            note_on(D, KICK, 120).at(20).group(2),
            note_on(D, CLAP, 120).at(20).group(2),
            msg(&[0xA9, RIM, 50]).at(25),
            note_off(D, RIM, 0).at(30),
            note_on(D, KICK, 0).at(40).group(2),
            note_on(D, CLAP, 0).at(40).group(2),
        ]
    );
    assert_eq!(rig.calls(), 1, "one chain in, one PutMessage out");
    let stats = f.stats();
    assert_eq!((stats.events_in, stats.events_out), (7, 7));
    drop(f);
    rig.assert_balanced();
}

#[test]
fn other_channels_and_other_messages_pass_untouched() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    let sent = [
        note_on(0, SNARE, 100),
        note_off(15, HAT, 0).group(7),
        control_change(D, 7, 100),
        program_change(D, 25),
        // Not one complete drum note: truncated, two messages in one event, a fragment.
        msg(&[0x99, SNARE]),
        msg(&[0x99, SNARE, 100, HAT, 100]),
        msg(&[0x99, HAT, 100]).incomplete(),
        // Port-private flag bits survive.
        msg(&[0xF8]).with_flags(0xC000),
    ];
    rig.send(&f, &sent).unwrap();
    assert_eq!(rig.received(), sent);
    rig.assert_balanced();
}

#[test]
fn packages_are_unwrapped_and_their_drums_remapped() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    rig.send(
        &f,
        &[
            note_on(0, 60, 1),
            package([
                note_on(D, SNARE, 100).group(3),
                package([note_on(D, KICK, 64).group(3)]),
                package([]),
            ]),
            note_on(0, 61, 1),
        ],
    )
    .unwrap();
    assert_eq!(
        rig.received(),
        [
            note_on(0, 60, 1),
            note_on(D, RIM, 100).group(3),
            note_on(D, KICK, 64).group(3),
            note_on(D, CLAP, 64).group(3),
            note_on(0, 61, 1),
        ]
    );
    assert!(
        rig.records()
            .iter()
            .all(|r| r.depth == 0 && !r.is_package())
    );
    rig.assert_balanced();
}

#[test]
fn sysex_passes_whole_and_in_fragments() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    let whole = sysex(&[0x7D; 200]);
    let long: Vec<u8> = [0xF0]
        .into_iter()
        .chain([0x11; 500])
        .chain([0xF7])
        .collect();
    let mut sent = vec![whole, note_on(D, SNARE, 1)];
    sent.extend(fragments(&long, 240));
    rig.send(&f, &sent).unwrap();
    let got = rig.received();
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], sent[0]);
    assert_eq!(got[1], note_on(D, RIM, 1));
    assert_eq!(got[2..], sent[2..]);
    assert_eq!(rig.allocator().stats().outstanding_buffers, 0);
    rig.assert_balanced();
}

#[test]
fn in_stop_everything_goes_back_to_the_allocator() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    assert_eq!(set_state(&f, KSSTATE_STOP), STATUS_SUCCESS);
    rig.send(&f, &[note_on(D, KICK, 100), sysex(&[1; 20])])
        .unwrap();
    assert!(rig.received().is_empty());
    assert_eq!(f.stats().discarded, 2);
    rig.assert_balanced();
    assert_eq!(set_state(&f, KSSTATE_RUN), STATUS_SUCCESS);
    rig.send(&f, &[note_on(D, KICK, 100)]).unwrap();
    assert_eq!(rig.received().len(), 2, "the kick and its clap");
}

#[test]
fn an_exhausted_allocator_costs_the_layer_only() {
    let rig = Rig::with_config(AllocatorConfig {
        max_events: Some(1),
        ..AllocatorConfig::default()
    })
    .unwrap();
    let f = connected(&rig);
    rig.send(&f, &[note_on(D, KICK, 100)]).unwrap();
    assert_eq!(rig.take_received(), [note_on(D, KICK, 100)]);
    assert_eq!(f.filter().missed(), 1);
    assert_eq!(f.stats().exhausted, 1);
    rig.assert_balanced();
}

#[test]
fn unconnected_it_delivers_to_the_allocator() {
    let rig = Rig::new().unwrap();
    let f = drums().into_filter(rig.allocator()).unwrap();
    let before = rig.allocator().stats().puts;
    rig.send(&f, &[note_on(D, KICK, 100), note_on(D, SNARE, 100)])
        .unwrap();
    assert!(rig.received().is_empty());
    assert_eq!(f.stats().events_out, 3);
    assert_eq!(rig.allocator().stats().puts, before + 1, "one chain");
    rig.assert_balanced();
}

#[test]
fn a_filter_is_send_and_sync_and_keeps_the_books_under_threads() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    std::thread::scope(|s| {
        for g in 1..=4u16 {
            let (rig, f) = (&rig, &f);
            s.spawn(move || {
                for _ in 0..50 {
                    let hits: Vec<Ev<'_>> =
                        vec![note_on(D, KICK, 100).group(g), note_on(D, KICK, 0).group(g)];
                    rig.send(f, &hits).unwrap();
                }
            });
        }
    });
    assert_eq!(rig.received().len(), 4 * 50 * 4);
    rig.assert_balanced();
}
