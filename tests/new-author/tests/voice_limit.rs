//! `VoiceLimit` through its vtables, with `mxf::testing`: the cap and its note-offs, packages,
//! SysEx, All Notes Off, STOP, and its second interface, `IVoiceLimit`, reached with
//! QueryInterface from a raw vtable as a C++ caller reaches it.

use core::ffi::c_void;
use core::ptr::null_mut;
use mxf::filter::FilterHandle;
use mxf::prelude::*;
use mxf::testing::raw::{self, RawRef, sentinel};
use mxf::testing::{Rig, control_change, fragments, note_off, note_on, package, set_state, sysex};
use mxf_new_author::{IVoiceLimit, IVoiceLimit_Vtbl, MAX_VOICES, VoiceLimit};

fn connected(rig: &Rig, limit: usize) -> FilterHandle<VoiceLimit> {
    let f = VoiceLimit::new(limit).into_filter(rig.allocator()).unwrap();
    rig.connect(&f).unwrap();
    f
}

/// The keys of the note messages received, with their status bytes.
fn notes(rig: &Rig) -> Vec<(u8, u8)> {
    rig.take_received()
        .iter()
        .map(|e| (e.data()[0], e.data()[1]))
        .collect()
}

#[test]
fn notes_beyond_the_limit_are_dropped_with_their_note_offs() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig, 2);
    rig.send(
        &f,
        &[
            note_on(0, 60, 100),
            note_on(0, 62, 100),
            note_on(0, 64, 100), // a third voice: dropped
            note_on(0, 60, 90),  // sounding already: passes, no new voice
            note_off(0, 64, 0),  // its note-on was dropped: dropped too
            note_off(0, 60, 0),  // frees a voice
            note_on(0, 65, 100), // fits now
            note_on(0, 62, 0),   // a note-off by velocity 0
            note_off(0, 65, 0),
            note_off(0, 99, 0), // never seen: passes
        ],
    )
    .unwrap();
    assert_eq!(
        notes(&rig),
        [
            (0x90, 60),
            (0x90, 62),
            (0x90, 60),
            (0x80, 60),
            (0x90, 65),
            (0x90, 62),
            (0x80, 65),
            (0x80, 99)
        ]
    );
    assert_eq!(f.filter().dropped(), 2);
    assert_eq!(f.filter().sounding(), 0);
    rig.assert_balanced();
}

#[test]
fn voices_are_counted_across_channels_groups_and_calls() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig, 3);
    rig.send(&f, &[note_on(0, 60, 1), note_on(1, 60, 1)])
        .unwrap();
    rig.send(&f, &[note_on(0, 60, 1).group(2), note_on(2, 60, 1)])
        .unwrap();
    assert_eq!(
        rig.take_received().len(),
        3,
        "the fourth voice is one too many"
    );
    // Its note-off is dropped; the others' pass, in another call.
    rig.send(&f, &[note_off(2, 60, 0), note_off(0, 60, 0).group(2)])
        .unwrap();
    assert_eq!(rig.take_received(), [note_off(0, 60, 0).group(2)]);
    assert_eq!(f.filter().sounding(), 2);
}

#[test]
fn packages_sysex_and_other_messages_pass() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig, 1);
    let long: Vec<u8> = [0xF0]
        .into_iter()
        .chain([0x22; 400])
        .chain([0xF7])
        .collect();
    let mut sent = vec![
        package([note_on(0, 60, 100), package([note_on(0, 61, 100)])]).at(7),
        sysex(&[0x43; 100]),
        control_change(0, 7, 100),
    ];
    sent.extend(fragments(&long, 240));
    rig.send(&f, &sent).unwrap();
    let got = rig.received();
    assert_eq!(
        got[0],
        note_on(0, 60, 100),
        "unwrapped; 61 was one voice too many"
    );
    assert_eq!(got[1..], sent[1..]);
    rig.assert_balanced();
}

#[test]
fn all_notes_off_and_stop_free_the_voices() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig, 2);
    rig.send(&f, &[note_on(0, 60, 1), note_on(1, 60, 1)])
        .unwrap();
    // All Notes Off on channel 1 (group 1) frees that channel's voice only.
    rig.send(&f, &[control_change(1, 123, 0), note_on(2, 60, 1)])
        .unwrap();
    assert_eq!(f.filter().sounding(), 2);
    rig.send(&f, &[note_on(3, 60, 1)]).unwrap();
    assert_eq!(rig.take_received().len(), 4, "the last one is dropped");

    assert_eq!(set_state(&f, KSSTATE_STOP), STATUS_SUCCESS);
    assert_eq!(f.filter().sounding(), 0);
    rig.send(&f, &[note_on(4, 60, 1)]).unwrap();
    assert!(
        rig.received().is_empty(),
        "STOP returns events to the allocator"
    );
    assert_eq!(set_state(&f, KSSTATE_RUN), STATUS_SUCCESS);
    rig.send(&f, &[note_on(4, 60, 1), note_on(5, 60, 1)])
        .unwrap();
    assert_eq!(rig.take_received().len(), 2);
    rig.assert_balanced();
}

/// An IID no object here answers.
const IID_UNKNOWN_TO_IT: GUID = GUID::from_u128(0x0BAD_F00D_0000_4000_8000_0000_0000_0001);

#[test]
fn the_limit_changes_through_ivoicelimit_reached_from_a_raw_vtable() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig, 1);
    // What a C++ caller holds: the filter's IMXF pointer.
    let this: *mut c_void = f.as_raw();

    // this->QueryInterface(IID_IVoiceLimit, &limit)
    let iid: *const GUID = &IVoiceLimit::IID;
    let mut limit: *mut c_void = sentinel();
    // SAFETY: `this` is live; `iid` and `&mut limit` are valid for the call.
    let status = unsafe { raw::query_interface(this, iid, &mut limit) };
    assert_eq!(status, STATUS_SUCCESS);
    assert!(!limit.is_null() && limit != sentinel());
    assert_ne!(limit, this, "a chain of its own");
    // SAFETY: QueryInterface returned an IVoiceLimit pointer, which begins with this vtable.
    let vt = unsafe { raw::vtable::<IVoiceLimit_Vtbl>(limit) };

    // limit->GetLimit(&n), limit->SetLimit(n)
    let mut n = 0u32;
    // SAFETY: `limit` is live; `&mut n` is a valid out-pointer.
    assert_eq!(unsafe { (vt.GetLimit)(limit, &mut n) }, STATUS_SUCCESS);
    assert_eq!(n, 1);
    // SAFETY: `limit` is live for every call below; the out-pointers are valid or NULL.
    unsafe {
        assert_eq!((vt.SetLimit)(limit, 0), STATUS_INVALID_PARAMETER);
        assert_eq!(
            (vt.SetLimit)(limit, MAX_VOICES as u32 + 1),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!((vt.GetLimit)(limit, null_mut()), STATUS_INVALID_PARAMETER);
        assert_eq!((vt.GetLimit)(limit, &mut n), STATUS_SUCCESS);
        assert_eq!(n, 1, "refused values change nothing");
        assert_eq!((vt.SetLimit)(limit, 3), STATUS_SUCCESS);
        assert_eq!((vt.GetLimit)(limit, &mut n), STATUS_SUCCESS);
    }
    assert_eq!(n, 3);

    // The filter now lets three voices through.
    rig.send(
        &f,
        &[
            note_on(0, 60, 1),
            note_on(0, 61, 1),
            note_on(0, 62, 1),
            note_on(0, 63, 1),
        ],
    )
    .unwrap();
    assert_eq!(rig.take_received().len(), 3);
    assert_eq!(f.filter().dropped(), 1);

    // The interface's own IUnknown slots lead back to the same object.
    let mut back: *mut c_void = sentinel();
    // SAFETY: `limit` is live; the arguments are valid for the call.
    let status = unsafe { raw::query_interface(limit, &IMXF::IID, &mut back) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(back, this, "IMXF is chain 0, the identity");
    // SAFETY: each QueryInterface returned a reference, given up here.
    unsafe {
        raw::release(back);
        raw::release(limit);
    }
    rig.assert_balanced();
}

#[test]
fn an_unknown_iid_fails_with_null_out() {
    let rig = Rig::new().unwrap();
    let f = connected(&rig, 4);
    let this = f.as_raw();
    let mut out: *mut c_void = sentinel();
    // SAFETY: `this` is live; the IID and the out-pointer are valid for the call.
    let status = unsafe { raw::query_interface(this, &IID_UNKNOWN_TO_IT, &mut out) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert!(out.is_null(), "a failed QueryInterface writes NULL");
    // A NULL out-pointer: nothing to write, and an error.
    // SAFETY: NULL is a valid (refused) out-pointer argument.
    let status = unsafe { raw::query_interface(this, &IVoiceLimit::IID, null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);

    // The same through RawRef, which checks the out-pointer contract on every answer.
    let unknown = RawRef::of(&*f);
    let refs = unknown.refs();
    assert_eq!(
        unknown.qi(&IID_UNKNOWN_TO_IT),
        Err(STATUS_INVALID_PARAMETER)
    );
    let limit = unknown.qi(&IVoiceLimit::IID).unwrap();
    assert_eq!(
        unknown.refs(),
        refs + 1,
        "QueryInterface AddRefs what it returns"
    );
    assert_eq!(unknown.qi(&IUnknown::IID).unwrap(), unknown);
    assert_eq!(limit.qi(&IUnknown::IID).unwrap(), unknown, "one identity");
    drop(limit);
    assert_eq!(unknown.refs(), refs);
}

#[test]
fn the_typed_interface_says_the_same() {
    // What Rust code holding the filter does: cast, then call (SetLimit takes a plain value).
    let rig = Rig::new().unwrap();
    let f = connected(&rig, 2);
    let limit: IVoiceLimit = f.cast().unwrap();
    assert_eq!(limit.SetLimit(5), STATUS_SUCCESS);
    let mut n = 0;
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { limit.GetLimit(&mut n) }, STATUS_SUCCESS);
    assert_eq!(n, 5);
}
