//! `AftertouchToCc` through its IMXF vtable, with `mxf::testing`: channel pressure becomes a
//! controller (two bytes become three), everything else passes, packages, SysEx and STOP.

use mxf::filter::FilterHandle;
use mxf::midly::MidiMessage;
use mxf::midly::live::LiveEvent;
use mxf::midly::num::u7;
use mxf::prelude::*;
use mxf::testing::{
    Rig, control_change, fragments, msg, note_on, package, put_null, set_state, sysex,
};
use mxf_new_author::AftertouchToCc;

const MODULATION: u8 = 1;

fn connected(rig: &Rig) -> FilterHandle<AftertouchToCc> {
    let f = AftertouchToCc::new(u7::new(MODULATION))
        .into_filter(rig.allocator())
        .unwrap();
    rig.connect(&f).unwrap();
    f
}

#[test]
fn channel_pressure_becomes_a_controller_on_the_same_channel_group_and_time() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    rig.send(
        &f,
        &[
            msg(&[0xD3, 77]).at(5).group(2),
            note_on(3, 60, 100).at(6),
            msg(&[0xDF, 0]).at(7),
        ],
    )
    .unwrap();
    let got = rig.received();
    assert_eq!(
        got,
        [
            control_change(3, MODULATION, 77).at(5).group(2),
            note_on(3, 60, 100).at(6),
            control_change(15, MODULATION, 0).at(7),
        ]
    );
    // What came out, read as MIDI.
    let Some(LiveEvent::Midi { channel, message }) = got[0].message() else {
        panic!("a channel message");
    };
    assert_eq!(channel.as_int(), 3);
    assert_eq!(
        message,
        MidiMessage::Controller {
            controller: u7::new(MODULATION),
            value: u7::new(77)
        }
    );
    assert_eq!(f.filter().failed(), 0);
    rig.assert_balanced();
}

#[test]
fn key_pressure_fragments_and_malformed_events_pass_untouched() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    let sent = [
        msg(&[0xA3, 60, 77]),            // key pressure: not ours
        msg(&[0xD3]),                    // truncated
        msg(&[0xD3, 77]).incomplete(),   // a fragment
        msg(&[0xD3, 77, 0xD3, 78]),      // two messages in one event
        msg(&[0xD3, 0x80]),              // a status byte for data
        msg(&[]),                        // nothing
        msg(&[0xFE]).with_flags(0x4000), // a real-time byte with a port-private bit
    ];
    rig.send(&f, &sent).unwrap();
    assert_eq!(rig.received(), sent);
    rig.assert_balanced();
}

#[test]
fn packages_are_unwrapped_and_sysex_passes() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    let long: Vec<u8> = [0xF0]
        .into_iter()
        .chain([0x33; 250])
        .chain([0xF7])
        .collect();
    let mut sent = vec![
        package([
            msg(&[0xD0, 1]),
            package([msg(&[0xD1, 2])]),
            note_on(0, 60, 1),
        ]),
        sysex(&[0x7E, 0x7F, 0x09, 0x01]),
    ];
    sent.extend(fragments(&long, 240));
    rig.send(&f, &sent).unwrap();
    let got = rig.received();
    assert_eq!(
        got[..3],
        [
            control_change(0, MODULATION, 1),
            control_change(1, MODULATION, 2),
            note_on(0, 60, 1)
        ]
    );
    assert_eq!(got[3..], sent[1..]);
    assert_eq!(f.stats().events_in, 6, "package shells are not counted");
    rig.assert_balanced();
}

#[test]
fn stop_discards_and_put_message_null_does_nothing() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig);
    assert_eq!(put_null(&f), STATUS_SUCCESS);
    assert_eq!(rig.calls(), 0);
    assert_eq!(set_state(&f, KSSTATE_STOP), STATUS_SUCCESS);
    rig.send(&f, &[msg(&[0xD0, 1]), sysex(&[1; 30])]).unwrap();
    assert!(rig.received().is_empty());
    assert_eq!(f.stats().discarded, 2);
    for state in [KSSTATE_ACQUIRE, KSSTATE_PAUSE] {
        assert_eq!(set_state(&f, state), STATUS_SUCCESS);
    }
    rig.send(&f, &[msg(&[0xD0, 1])]).unwrap();
    assert_eq!(
        rig.received(),
        [control_change(0, MODULATION, 1)],
        "PAUSE processes"
    );
    rig.assert_balanced();
}
