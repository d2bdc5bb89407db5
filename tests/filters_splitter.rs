//! `Splitter` through its IMXF vtable: copies on every output, long events included, and
//! exhaustion costing only the copies.

use mxf::allocator::AllocatorConfig;
use mxf::filter::IntoFilter;
use mxf::testing::{Ev, RecordLog, Rig, connect_output};
use mxf_suite::filters::{SPLITTER_OUTPUTS, Splitter};

fn connected(
    config: AllocatorConfig,
) -> (Rig, mxf::filter::FilterHandle<Splitter>, Vec<RecordLog>) {
    let r = Rig::with_config(config).unwrap();
    let f = Splitter::new().into_filter(r.allocator()).unwrap();
    let mut logs = Vec::new();
    for _ in 0..SPLITTER_OUTPUTS {
        let (sink, log) = r.recorder().unwrap();
        connect_output(&f, &sink).ok().unwrap();
        logs.push(log);
    }
    (r, f, logs)
}

#[test]
fn every_output_gets_the_same_stream() {
    let (r, f, logs) = connected(AllocatorConfig::default());
    let long: Vec<u8> = [0xF0].into_iter().chain(1..=100).chain([0xF7]).collect();
    let evs = [
        Ev::new(&[0x90, 60, 100]).at(1).group(2),
        Ev::new(&long).at(2),
        Ev::new(&[0xF0, 1, 2]).at(3).incomplete(),
        Ev::new(&[]).at(4),
    ];
    r.put(&f, &evs).unwrap();
    let first = logs[0].records();
    assert_eq!(first.len(), 4);
    for log in &logs {
        assert_eq!(log.records(), first);
        assert_eq!(log.calls(), 1);
    }
    assert_eq!(first[1].bytes, long);
    assert!(first[2].is_incomplete());
    assert_eq!(f.stats().events_out, 12);
    r.assert_balanced();
}

#[test]
fn unconnected_outputs_deliver_to_the_allocator() {
    let r = Rig::new().unwrap();
    let f = Splitter::new().into_filter(r.allocator()).unwrap();
    r.connect(&f).unwrap();
    r.put(&f, &[Ev::new(&[0x90, 60, 100])]).unwrap();
    assert_eq!(r.log().bytes().len(), 1);
    assert_eq!(f.stats().events_out, SPLITTER_OUTPUTS as u64);
    r.assert_balanced();
}

#[test]
fn exhaustion_costs_only_copies() {
    let (r, f, logs) = connected(AllocatorConfig {
        max_events: Some(4),
        ..Default::default()
    });
    let notes: Vec<[u8; 3]> = (0..3).map(|i| [0x90, 60 + i, 100]).collect();
    let evs: Vec<Ev<'_>> = notes.iter().map(Ev::new).collect();
    r.put(&f, &evs).unwrap();
    assert_eq!(logs[0].bytes().len(), 3, "originals always reach output 0");
    let copies = logs[1].bytes().len() + logs[2].bytes().len();
    assert_eq!(copies, 1);
    assert_eq!(f.filter().missed(), 5);
    assert_eq!(f.stats().exhausted, 5);
    r.assert_balanced();
}

#[test]
fn buffer_exhaustion_costs_only_copies_of_long_events() {
    let (r, f, logs) = connected(AllocatorConfig {
        max_buffers: Some(1),
        ..Default::default()
    });
    let long: Vec<u8> = [0xF0].into_iter().chain(1..=20).chain([0xF7]).collect();
    r.put(&f, &[Ev::new(&long), Ev::new(&[0xF8])]).unwrap();
    assert_eq!(logs[0].bytes(), vec![long.clone(), vec![0xF8]]);
    assert_eq!(logs[1].bytes(), vec![vec![0xF8]]);
    assert_eq!(logs[2].bytes(), vec![vec![0xF8]]);
    assert_eq!(f.filter().missed(), 2);
    r.assert_balanced();
}
