//! `NoteOffNormalizer` through its IMXF vtable.

use midly::num::u7;
use mxf::allocator::AllocatorConfig;
use mxf::filter::IntoFilter;
use mxf_suite::filters::NoteOffNormalizer;
use mxf_suite::raw::Ev;
use mxf_suite::showcase::Showcase;

#[test]
fn note_on_velocity_zero_becomes_note_off_64() {
    let r = Showcase::with_config(AllocatorConfig::default()).unwrap();
    let f = NoteOffNormalizer::new().into_filter(&r.alloc).unwrap();
    r.connect(&f).unwrap();
    r.put(
        &f,
        &[
            Ev::at(5, &[0x90, 60, 100]),
            Ev::at(6, &[0x9A, 60, 0]).group(4),
            Ev::at(7, &[0x85, 61, 9]),
            Ev::at(8, &[0x90, 60, 0, 62, 0]),
            Ev::at(9, &[0x90, 60]),
        ],
    )
    .unwrap();
    let recs = r.log.records();
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
    assert!(r.balanced());
}

#[test]
fn the_release_velocity_is_configurable() {
    let r = Showcase::with_config(AllocatorConfig::default()).unwrap();
    let f = NoteOffNormalizer::with_release_velocity(u7::new(0))
        .into_filter(&r.alloc)
        .unwrap();
    r.connect(&f).unwrap();
    r.put(&f, &[Ev::new(&[0x91, 60, 0])]).unwrap();
    assert_eq!(r.log.bytes(), vec![vec![0x81, 60, 0]]);
    assert!(r.balanced());
}
