//! `NoteOffNormalizer` through its IMXF vtable.

use midly::num::u7;
use mxf::filter::IntoFilter;
use mxf::testing::{Ev, Rig};
use mxf_suite::filters::NoteOffNormalizer;

#[test]
fn note_on_velocity_zero_becomes_note_off_64() {
    let r = Rig::new().unwrap();
    let f = NoteOffNormalizer::new().into_filter(r.allocator()).unwrap();
    r.connect(&f).unwrap();
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 60, 100]).at(5),
            Ev::new(&[0x9A, 60, 0]).at(6).group(4),
            Ev::new(&[0x85, 61, 9]).at(7),
            Ev::new(&[0x90, 60, 0, 62, 0]).at(8),
            Ev::new(&[0x90, 60]).at(9),
        ],
    )
    .unwrap();
    let recs = r.log().records();
    let got: Vec<(i64, u16, Vec<u8>)> = recs
        .into_iter()
        .map(|r| (r.time, r.group, r.bytes))
        .collect();
    assert_eq!(
        got,
        vec![
            (5, 1, vec![0x90, 60, 100]),
            (6, 4, vec![0x8A, 60, 64]),
            (7, 1, vec![0x85, 61, 9]),
            (8, 1, vec![0x90, 60, 0, 62, 0]),
            (9, 1, vec![0x90, 60]),
        ]
    );
    assert_eq!(f.filter().normalized(), 1);
    r.assert_balanced();
}

#[test]
fn the_release_velocity_is_configurable() {
    let r = Rig::new().unwrap();
    let f = NoteOffNormalizer::with_release_velocity(u7::new(0))
        .into_filter(r.allocator())
        .unwrap();
    r.connect(&f).unwrap();
    r.put(&f, &[Ev::new(&[0x91, 60, 0])]).unwrap();
    assert_eq!(r.log().bytes(), vec![vec![0x81, 60, 0]]);
    r.assert_balanced();
}
