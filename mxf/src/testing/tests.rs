//! The kit checks itself: descriptions round-trip through real events and the recorder,
//! packages come back nested, and the balance check names what is wrong.

use super::*;
use crate::allocator::BUFFER_SIZE;
use crate::prelude::*;
use std::format;
use std::vec;

#[test]
fn descriptions_round_trip_through_events_and_the_recorder() {
    let rig = Rig::new().unwrap();
    let sent = vec![
        note_on(0, 60, 100).at(10),
        control_change(15, 7, 127).group(3),
        program_change(9, 5).at(-1),
        msg(&[0x90, 60]).incomplete(),
        msg(&[]),
        sysex(&[0x41; 30]).at(7),
        msg(&[0xF8]).with_flags(0xC000),
    ];
    assert_eq!(
        put_chain(rig.sink(), rig.chain(&sent).unwrap()),
        STATUS_SUCCESS
    );
    assert_eq!(rig.received(), sent);
    let recs = rig.records();
    assert_eq!(recs[3].flags, DMUS_KEF_EVENT_INCOMPLETE);
    assert_eq!(recs[6].flags, 0xC000);
    assert!(recs.iter().all(|r| r.call == 0 && r.depth == 0));
    assert_eq!(rig.calls(), 1);
    rig.assert_balanced();
}

#[test]
fn packages_come_back_nested_with_their_depths() {
    let rig = Rig::new().unwrap();
    let sent = vec![
        note_on(0, 1, 1),
        package([
            note_on(0, 2, 1),
            package([note_on(0, 3, 1), package([])]).group(4),
            note_on(0, 4, 1),
        ])
        .at(9),
        package([]),
        note_on(0, 5, 1),
    ];
    assert_eq!(
        put_chain(rig.sink(), rig.chain(&sent).unwrap()),
        STATUS_SUCCESS
    );
    let depths: Vec<(usize, bool)> = rig
        .records()
        .iter()
        .map(|r| (r.depth, r.is_package()))
        .collect();
    assert_eq!(
        depths,
        [
            (0, false),
            (0, true),
            (1, false),
            (1, true),
            (2, false),
            (2, true),
            (1, false),
            (0, true),
            (0, false)
        ]
    );
    assert_eq!(rig.records()[1].flags, DMUS_KEF_PACKAGE_EVENT);
    assert_eq!(rig.take_received(), sent);
    assert!(rig.received().is_empty(), "taken");
    rig.assert_balanced();
}

#[test]
fn each_put_message_is_one_call() {
    let rig = Rig::new().unwrap();
    rig.send(rig.sink(), &[note_on(0, 60, 1), note_on(0, 61, 1)])
        .unwrap();
    rig.send(rig.sink(), &[note_on(0, 62, 1)]).unwrap();
    rig.send(rig.sink(), &[]).unwrap();
    assert_eq!(put_null(rig.sink()), STATUS_SUCCESS);
    let calls: Vec<usize> = rig.records().iter().map(|r| r.call).collect();
    assert_eq!(calls, [0, 0, 1]);
    assert_eq!(rig.calls(), 2, "neither an empty list nor NULL is a call");
}

#[test]
fn data_beyond_one_buffer_is_refused_and_fragments_fit() {
    let rig = Rig::new().unwrap();
    let long = vec![0x11u8; BUFFER_SIZE + 1];
    assert_eq!(
        rig.send(rig.sink(), &[note_on(0, 1, 1), msg(&long)]),
        Err(STATUS_INVALID_PARAMETER)
    );
    assert!(rig.received().is_empty());
    let parts = fragments(&long, BUFFER_SIZE);
    assert_eq!(parts.len(), 2);
    rig.send(rig.sink(), &parts).unwrap();
    let got = rig.received();
    assert_eq!(got, parts);
    assert_eq!([got[0].data(), got[1].data()].concat(), long);
    assert!(got[0].is_incomplete() && !got[1].is_incomplete());
    rig.assert_balanced();
}

#[test]
fn messages_parse_and_encode_through_midly() {
    use midly::MidiMessage;
    use midly::live::LiveEvent;
    let on = note_on(3, 60, 100);
    let Some(LiveEvent::Midi { channel, message }) = on.message() else {
        panic!("a note-on parses");
    };
    assert_eq!(channel.as_int(), 3);
    assert_eq!(
        message,
        MidiMessage::NoteOn {
            key: 60.into(),
            vel: 100.into()
        }
    );
    assert_eq!(Ev::from_message(&on.message().unwrap()), Some(on.clone()));
    assert!(on.clone().incomplete().message().is_none());
    assert!(package([on]).message().is_none());
    assert!(msg(&[0x90, 60]).message().is_none(), "truncated");
    let cc = control_change(2, 7, 99).at(4);
    let m = cc.channel_message().expect("a control change");
    assert_eq!(
        (m.channel().as_int(), m.controller()),
        (2, Some((7.into(), 99.into())))
    );
    assert!(cc.clone().incomplete().channel_message().is_none());
    assert!(
        msg(&[0xB2, 7, 99, 0xB2, 7, 98]).channel_message().is_none(),
        "two messages"
    );
}

#[test]
fn descriptions_print_readably() {
    let on = note_on(0, 60, 100).at(10);
    assert_eq!(format!("{on:?}"), "Ev(g1 t=10 [90 3C 64])");
    assert_eq!(
        format!("{:?}", package([on.clone()]).group(2).incomplete()),
        "Package(g2 t=0 [Ev(g1 t=10 [90 3C 64])] flags=0x0001)"
    );
    assert!(format!("{on}").contains("note-on 60 vel 100"));
    let pkg = format!("{}", package([on, program_change(1, 5)]));
    assert_eq!(pkg.lines().count(), 3);
    assert!(pkg.lines().nth(2).unwrap().starts_with("  g1"));
    assert!(format!("{}", sysex(&[1, 2])).contains("SysEx (2 data bytes)"));
}

#[test]
#[should_panic(expected = "MIDI channels are 0..=15, not 16")]
fn a_channel_out_of_range_is_the_tests_bug() {
    let _ = note_on(16, 60, 100);
}

#[test]
fn an_event_still_held_is_reported() {
    let rig = Rig::new().unwrap();
    let held = rig.event(&sysex(&[0x10; 20])).unwrap();
    let err = rig.check_balanced().unwrap_err();
    assert_eq!(err.stats.outstanding_events, 1);
    assert_eq!(err.stats.outstanding_buffers, 1);
    assert!(err.audit_passed);
    let text = format!("{err}");
    assert!(
        text.contains("1 events outstanding (of 1 handed out), 1 buffers outstanding"),
        "{text}"
    );
    drop(held);
    assert!(rig.is_balanced());
}

#[test]
#[should_panic(expected = "the allocator did not get everything back: 1 events outstanding")]
fn assert_balanced_panics_with_what_is_outstanding() {
    let rig = Rig::new().unwrap();
    let held = rig.event(&note_on(0, 60, 100)).unwrap();
    rig.assert_balanced();
    drop(held);
}

#[test]
fn misuse_is_reported() {
    let rig = Rig::new().unwrap();
    let e = rig.event(&note_on(0, 60, 100)).unwrap().into_raw();
    // SAFETY: `e` is this allocator's event, put once legitimately; the second put is the
    // misuse under test, which the allocator detects without touching freed memory.
    unsafe {
        assert_eq!(rig.allocator().PutMessage(e), STATUS_SUCCESS);
        assert_eq!(rig.allocator().PutMessage(e), STATUS_INVALID_PARAMETER);
    }
    let err = rig.check_balanced().unwrap_err();
    assert!(format!("{err}").contains("misuse refused: 1 double puts"));
}

#[test]
fn the_recorders_slots_answer_through_raw_vtables() {
    let rig = Rig::new().unwrap();
    let sink = rig.sink().as_raw();
    // SAFETY: `sink` is the rig's live recorder.
    unsafe {
        assert_eq!(raw::set_state(sink, KSSTATE_RUN), STATUS_SUCCESS);
        assert_eq!(
            raw::connect_output(sink, core::ptr::null_mut()),
            STATUS_NOT_IMPLEMENTED
        );
    }
    assert_eq!(
        disconnect_output(rig.sink(), rig.allocator()),
        STATUS_NOT_IMPLEMENTED
    );
    let me = raw::RawRef::of(rig.sink());
    let unknown = me.qi(&IUnknown::IID).unwrap();
    assert_eq!(unknown, me, "one chain");
    assert_eq!(me.refs(), 3, "the rig's, `me` and `unknown`");
}
