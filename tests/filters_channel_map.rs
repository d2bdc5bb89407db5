//! `ChannelMap` through its IMXF vtable: remapping and muting per channel group.

use mxf::filter::IntoFilter;
use mxf::testing::{Ev, Rig};
use mxf_suite::filters::{ChannelMap, GroupTableFull};

#[test]
fn remaps_and_mutes_per_group() {
    let r = Rig::new().unwrap();
    let map = ChannelMap::new()
        .remap(1, 0.into(), 15.into())
        .unwrap()
        .remap(1, 15.into(), 0.into())
        .unwrap()
        .mute(1, 3.into())
        .unwrap()
        .mute(2, 0.into())
        .unwrap();
    let f = map.into_filter(r.allocator()).unwrap();
    r.connect(&f).unwrap();
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0x9F, 60, 100]),
            Ev::new(&[0xC0, 7]),
            Ev::new(&[0xE0, 1, 2]),
            Ev::new(&[0x93, 60, 100]),
            Ev::new(&[0xB3, 7, 100]),
            Ev::new(&[0x94, 60, 100]),
            Ev::new(&[0x90, 60, 100]).group(2),
            Ev::new(&[0x91, 60, 100]).group(2),
            Ev::new(&[0x93, 60, 100]).group(3),
            Ev::new(&[0xF8]),
            Ev::new(&[0xF0, 1, 2, 0xF7]),
        ],
    )
    .unwrap();
    let got: Vec<(u16, Vec<u8>)> = r
        .records()
        .into_iter()
        .map(|r| (r.group, r.bytes))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, vec![0x9F, 60, 100]),
            (1, vec![0x90, 60, 100]),
            (1, vec![0xCF, 7]),
            (1, vec![0xEF, 1, 2]),
            (1, vec![0x94, 60, 100]),
            (2, vec![0x91, 60, 100]),
            (3, vec![0x93, 60, 100]),
            (1, vec![0xF8]),
            (1, vec![0xF0, 1, 2, 0xF7]),
        ]
    );
    assert_eq!(f.filter().muted(), 3);
    assert_eq!(f.stats().events_in, 12);
    assert_eq!(f.stats().events_out, 9);
    r.assert_balanced();
}

#[test]
fn route_reports_the_map() {
    let map = ChannelMap::new().mute(5, 2.into()).unwrap();
    assert_eq!(map.route(5, 2.into()), None);
    assert_eq!(map.route(5, 3.into()), Some(3.into()));
    assert_eq!(map.route(6, 2.into()), Some(2.into()));
}

#[test]
fn the_group_table_reports_full_instead_of_panicking() {
    let mut map = ChannelMap::new();
    for g in 0..ChannelMap::MAX_GROUPS as u16 {
        map = map.remap(g, 0.into(), 1.into()).unwrap();
    }
    // Groups already present still take changes.
    map = map.mute(0, 2.into()).unwrap();
    assert!(matches!(
        map.remap(999, 0.into(), 1.into()),
        Err(GroupTableFull)
    ));
}
