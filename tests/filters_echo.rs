//! `Echo` through its IMXF vtable: repeats created from the allocator with later times and
//! decaying velocity; exhaustion drops repeats (counted), never events or the process.

use mxf::allocator::AllocatorConfig;
use mxf::filter::{FilterHandle, IntoFilter};
use mxf::testing::{Ev, Rig};
use mxf_suite::filters::Echo;

fn setup(config: AllocatorConfig, echo: Echo) -> (Rig, FilterHandle<Echo>) {
    let r = Rig::with_config(config).unwrap();
    let f = echo.into_filter(r.allocator()).unwrap();
    r.connect(&f).unwrap();
    (r, f)
}

#[test]
fn notes_repeat_later_and_softer_with_their_note_offs() {
    let (r, f) = setup(AllocatorConfig::default(), Echo::new(1000, 3, 50));
    r.put(
        &f,
        &[
            Ev::new(&[0x91, 60, 100]).at(100).group(3),
            Ev::new(&[0xB1, 7, 9]).at(100).group(3),
            Ev::new(&[0x81, 60, 40]).at(500).group(3),
            Ev::new(&[0x91, 62, 2]).at(600).group(3),
            Ev::new(&[0x91, 62, 0]).at(700).group(3),
        ],
    )
    .unwrap();
    let got: Vec<(i64, Vec<u8>)> = r
        .records()
        .into_iter()
        .inspect(|r| assert_eq!(r.group, 3))
        .map(|r| (r.time, r.bytes))
        .collect();
    assert_eq!(
        got,
        vec![
            (100, vec![0x91, 60, 100]),
            (1100, vec![0x91, 60, 50]),
            (2100, vec![0x91, 60, 25]),
            (3100, vec![0x91, 60, 12]),
            (100, vec![0xB1, 7, 9]),
            (500, vec![0x81, 60, 40]),
            (1500, vec![0x81, 60, 40]),
            (2500, vec![0x81, 60, 40]),
            (3500, vec![0x81, 60, 40]),
            (600, vec![0x91, 62, 2]),
            (1600, vec![0x91, 62, 1]),
            (2600, vec![0x91, 62, 1]),
            (3600, vec![0x91, 62, 1]),
            (700, vec![0x91, 62, 0]),
            (1700, vec![0x91, 62, 0]),
            (2700, vec![0x91, 62, 0]),
            (3700, vec![0x91, 62, 0]),
        ]
    );
    assert_eq!(f.filter().created(), 12);
    assert_eq!(f.stats().events_out, 17);
    assert_eq!(
        r.log().calls(),
        1,
        "originals and repeats go down as one chain"
    );
    // Repeats carry no byte position: they never complete render IRPs.
    r.assert_balanced();
}

#[test]
fn exhaustion_drops_repeats_never_originals() {
    let config = AllocatorConfig {
        max_events: Some(6),
        ..Default::default()
    };
    let (r, f) = setup(config, Echo::new(10, 4, 90));
    let notes: Vec<[u8; 3]> = (0..4).map(|i| [0x90, 60 + i, 100]).collect();
    let evs: Vec<Ev<'_>> = notes.iter().map(Ev::new).collect();
    r.put(&f, &evs).unwrap();
    let recs = r.log().records();
    // 4 originals + 2 repeats fill the bound of 6.
    assert_eq!(recs.len(), 6);
    for n in &notes {
        assert!(recs.iter().any(|r| r.bytes == n.to_vec() && r.time == 0));
    }
    assert_eq!(f.filter().created(), 2);
    assert_eq!(f.filter().dropped(), 14);
    assert_eq!(f.stats().exhausted, 14);
    r.assert_balanced();
    // Once events are back, repeats work again.
    r.log().take();
    r.put(&f, &[Ev::new(&[0x80, 60, 0])]).unwrap();
    assert_eq!(r.log().records().len(), 5);
    r.assert_balanced();
}

#[test]
fn a_repeat_whose_time_overflows_is_dropped() {
    let (r, f) = setup(AllocatorConfig::default(), Echo::new(i64::MAX / 2, 3, 100));
    r.put(&f, &[Ev::new(&[0x90, 60, 100]).at(10)]).unwrap();
    let times: Vec<i64> = r.log().records().iter().map(|r| r.time).collect();
    assert_eq!(times, vec![10, 10 + i64::MAX / 2]);
    assert_eq!(f.filter().dropped(), 2);
    r.assert_balanced();
}

#[test]
fn zero_repeats_is_a_pass_through() {
    let (r, f) = setup(AllocatorConfig::default(), Echo::new(10, 0, 50));
    r.put(&f, &[Ev::new(&[0x90, 60, 100])]).unwrap();
    assert_eq!(r.log().bytes(), vec![vec![0x90, 60, 100]]);
    assert_eq!(f.filter().created(), 0);
}
