//! `Transpose` through its IMXF vtable: pairing of note-offs with their note-ons across interval
//! changes, the out-of-range policy, per-group and per-channel state, resets.

use mxf::abi::*;
use mxf::filter::{FilterHandle, IntoFilter};
use mxf::testing::{Ev, Rig, set_state};
use mxf_suite::filters::{TRACKED_GROUPS, Transpose, Verdict};

fn setup(semitones: i8) -> (Rig, FilterHandle<Transpose>) {
    let r = Rig::new().unwrap();
    let f = Transpose::new(semitones)
        .into_filter(r.allocator())
        .unwrap();
    r.connect(&f).unwrap();
    (r, f)
}

fn out(r: &Rig) -> Vec<Vec<u8>> {
    let b = r.log().bytes();
    r.log().take();
    b
}

#[test]
fn shifts_notes_and_passes_everything_else() {
    let (r, f) = setup(7);
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0xA0, 60, 30]),
            Ev::new(&[0xB0, 1, 2]),
            Ev::new(&[0xC5, 3]),
            Ev::new(&[0xE0, 0, 64]),
            Ev::new(&[0x80, 60, 10]),
        ],
    )
    .unwrap();
    assert_eq!(
        out(&r),
        vec![
            vec![0x90, 67, 100],
            vec![0xA0, 67, 30],
            vec![0xB0, 1, 2],
            vec![0xC5, 3],
            vec![0xE0, 0, 64],
            vec![0x80, 67, 10],
        ]
    );
    r.assert_balanced();
}

#[test]
fn note_off_follows_its_note_on_when_the_interval_changes() {
    let (r, f) = setup(12);
    r.put(&f, &[Ev::new(&[0x90, 60, 100])]).unwrap();
    f.filter().set_semitones(-12);
    assert_eq!(f.filter().semitones(), -12);
    r.put(
        &f,
        &[
            Ev::new(&[0xA0, 60, 5]),
            Ev::new(&[0x80, 60, 0]),
            Ev::new(&[0x90, 60, 90]),
            Ev::new(&[0x90, 60, 0]),
        ],
    )
    .unwrap();
    assert_eq!(
        out(&r),
        vec![
            vec![0x90, 72, 100],
            vec![0xA0, 72, 5],
            vec![0x80, 72, 0],
            vec![0x90, 48, 90],
            vec![0x90, 48, 0],
        ]
    );
    r.assert_balanced();
}

#[test]
fn a_repeated_note_on_reuses_the_sounding_note() {
    let (r, f) = setup(1);
    r.put(&f, &[Ev::new(&[0x90, 60, 100])]).unwrap();
    f.filter().set_semitones(5);
    r.put(&f, &[Ev::new(&[0x90, 60, 100]), Ev::new(&[0x80, 60, 0])])
        .unwrap();
    assert_eq!(
        out(&r),
        vec![vec![0x90, 61, 100], vec![0x90, 61, 100], vec![0x80, 61, 0]]
    );
    // The record is gone: a second note-off uses the current interval.
    r.put(&f, &[Ev::new(&[0x80, 60, 0])]).unwrap();
    assert_eq!(out(&r), vec![vec![0x80, 65, 0]]);
}

#[test]
fn state_is_kept_per_group_and_channel() {
    let (r, f) = setup(1);
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0x91, 60, 100]),
            Ev::new(&[0x90, 60, 100]).group(2),
        ],
    )
    .unwrap();
    f.filter().set_semitones(2);
    r.put(
        &f,
        &[
            Ev::new(&[0x92, 60, 100]),
            Ev::new(&[0x80, 60, 0]).group(2),
            Ev::new(&[0x81, 60, 0]),
            Ev::new(&[0x80, 60, 0]),
            Ev::new(&[0x82, 60, 0]),
        ],
    )
    .unwrap();
    let recs = r.log().records();
    let got: Vec<(u16, Vec<u8>)> = recs.into_iter().map(|r| (r.group, r.bytes)).collect();
    assert_eq!(
        got,
        vec![
            (1, vec![0x90, 61, 100]),
            (1, vec![0x91, 61, 100]),
            (2, vec![0x90, 61, 100]),
            (1, vec![0x92, 62, 100]),
            (2, vec![0x80, 61, 0]),
            (1, vec![0x81, 61, 0]),
            (1, vec![0x80, 61, 0]),
            (1, vec![0x82, 62, 0]),
        ]
    );
    r.assert_balanced();
}

#[test]
fn out_of_range_notes_are_dropped_with_their_note_offs_and_counted() {
    let (r, f) = setup(10);
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 120, 100]),
            Ev::new(&[0x90, 117, 100]),
            Ev::new(&[0xA0, 120, 50]),
        ],
    )
    .unwrap();
    // Back in range now, but the note-off belongs to a dropped note-on.
    f.filter().set_semitones(0);
    r.put(&f, &[Ev::new(&[0x80, 120, 0]), Ev::new(&[0x80, 117, 0])])
        .unwrap();
    assert_eq!(out(&r), vec![vec![0x90, 127, 100], vec![0x80, 127, 0]]);
    assert_eq!(f.filter().out_of_range(), 3);
    // The record is cleared: the next note 120 is in range with interval 0.
    r.put(&f, &[Ev::new(&[0x90, 120, 1])]).unwrap();
    assert_eq!(out(&r), vec![vec![0x90, 120, 1]]);

    f.filter().set_semitones(-128);
    r.put(&f, &[Ev::new(&[0x90, 0, 1]), Ev::new(&[0x80, 120, 1])])
        .unwrap();
    assert_eq!(
        out(&r),
        vec![vec![0x80, 120, 1]],
        "the recorded note 120 ends; note 0 - 128 does not exist"
    );
    r.assert_balanced();
}

#[test]
fn all_notes_off_forgets_the_channel() {
    let (r, f) = setup(1);
    r.put(&f, &[Ev::new(&[0x90, 60, 100]), Ev::new(&[0x91, 60, 100])])
        .unwrap();
    f.filter().set_semitones(3);
    r.put(
        &f,
        &[
            Ev::new(&[0xB0, 123, 0]),
            Ev::new(&[0x80, 60, 0]),
            Ev::new(&[0x81, 60, 0]),
        ],
    )
    .unwrap();
    assert_eq!(
        out(&r)[2..],
        [vec![0xB0, 123, 0], vec![0x80, 63, 0], vec![0x81, 61, 0]]
    );
}

#[test]
fn stop_forgets_every_note() {
    let (r, f) = setup(1);
    r.put(&f, &[Ev::new(&[0x90, 60, 100])]).unwrap();
    f.filter().set_semitones(2);
    assert_eq!(set_state(&f, KSSTATE_STOP), STATUS_SUCCESS);
    assert_eq!(set_state(&f, KSSTATE_RUN), STATUS_SUCCESS);
    r.put(&f, &[Ev::new(&[0x80, 60, 0])]).unwrap();
    assert_eq!(out(&r), vec![vec![0x90, 61, 100], vec![0x80, 62, 0]]);
}

#[test]
fn groups_beyond_the_tracked_ones_pass_untransposed() {
    let (r, f) = setup(1);
    let groups: Vec<u16> = (0..TRACKED_GROUPS as u16 + 2).map(|g| g * 100).collect();
    let evs: Vec<Ev<'_>> = groups
        .iter()
        .map(|&g| Ev::new(&[0x90, 60, 100]).group(g))
        .collect();
    r.put(&f, &evs).unwrap();
    let keys: Vec<u8> = r.log().records().iter().map(|r| r.bytes[1]).collect();
    let mut expected = vec![61u8; TRACKED_GROUPS];
    expected.extend([60, 60]);
    assert_eq!(keys, expected);
    assert_eq!(f.filter().untracked(), 2);
    r.log().take();
    // Their note-offs are untransposed too: nothing hangs.
    let offs: Vec<Ev<'_>> = groups
        .iter()
        .map(|&g| Ev::new(&[0x80, 60, 0]).group(g))
        .collect();
    r.put(&f, &offs).unwrap();
    let keys: Vec<u8> = r.log().records().iter().map(|r| r.bytes[1]).collect();
    assert_eq!(keys, expected);
    r.assert_balanced();
}

#[test]
fn apply_is_the_same_transform_as_the_com_path() {
    let (r, f) = setup(4);
    let direct = Transpose::new(4);
    let stream: Vec<[u8; 3]> = (0..60u8)
        .map(|i| {
            if i % 3 == 2 {
                [0x80, 100 + i % 30, 0]
            } else {
                [0x90, 100 + i % 30, 1 + i]
            }
        })
        .collect();
    let evs: Vec<Ev<'_>> = stream.iter().map(Ev::new).collect();
    r.put(&f, &evs).unwrap();
    let mut expected = Vec::new();
    for e in &evs {
        let mut ev = e.build(r.allocator()).unwrap();
        if direct.apply(&mut ev) == Verdict::Forward {
            expected.push(ev.data().to_vec());
        }
    }
    assert_eq!(out(&r), expected);
    assert_eq!(f.filter().out_of_range(), direct.out_of_range());
    assert!(f.filter().out_of_range() > 0);
    r.assert_balanced();
}

#[test]
fn concurrent_callers_keep_the_books() {
    let (r, f) = setup(1);
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let (r, f) = (&r, &f);
            s.spawn(move || {
                for i in 0..200u8 {
                    let on = [0x90 | t, i % 128, 100];
                    let off = [0x80 | t, i % 128, 0];
                    r.put(f, &[Ev::new(&on), Ev::new(&off)]).unwrap();
                }
            });
        }
    });
    let recs = r.log().records();
    assert_eq!(recs.len(), 4 * 200 * 2 - f.filter().out_of_range() as usize);
    r.assert_balanced();
}
