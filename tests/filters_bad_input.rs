//! Bad input for every sample filter, through raw vtables: truncated messages, data bytes with
//! no status, zero-length events, INCOMPLETE fragments, several messages in one event, reserved
//! status bytes, packages, unusual channel groups, port-private flag bits, random streams.
//! Nothing panics, nothing is lost (the allocator gets every event and buffer back), and what a
//! filter does not understand passes through untouched.

use midly::num::u4;
use mxf::abi::*;
use mxf::allocator::AllocatorConfig;
use mxf::event::Chain;
use mxf::interfaces::{IAllocatorMXF, IMXF};
use mxf::testing::{Ev, Rig, connect_output, package, put_chain};
use mxf_suite::filters::*;
use proptest::prelude::*;

/// The number of sample filters.
const FILTERS: usize = 7;

/// Every sample filter, configured so that it changes the notes it understands.
fn all_filters(alloc: &IAllocatorMXF) -> Vec<(&'static str, IMXF)> {
    let map = ChannelMap::new()
        .remap(1, u4::new(0), u4::new(5))
        .and_then(|m| m.mute(1, u4::new(1)))
        .unwrap();
    every_sample(alloc, map)
}

/// Events no filter understands (no SysEx among them): each must come out exactly as it went in.
fn not_understood() -> Vec<Ev<'static>> {
    const LONG_DATA: &[u8] = &[0x7F; 20];
    const LONG_NOTE: &[u8] = &[0x90, 60, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    vec![
        // Truncated messages.
        Ev::new(&[0x90, 60]).at(1),
        Ev::new(&[0x90]).at(2),
        Ev::new(&[0xC0]).at(3),
        Ev::new(&[0xE0, 1]).at(4),
        Ev::new(&[0xB0, 7]).at(5),
        Ev::new(&[0xF2, 1]).at(6),
        // Data bytes with no status.
        Ev::new(&[60, 100]).at(7),
        Ev::new(&[0]).at(8),
        Ev::new(LONG_DATA).at(9),
        // A status byte where a data byte belongs.
        Ev::new(&[0x90, 60, 0x90]).at(10),
        // Zero-length events.
        Ev::new(&[]).at(11),
        Ev::new(&[]).at(12).incomplete(),
        // INCOMPLETE fragments, even ones that look like whole messages.
        Ev::new(&[0x90, 60]).at(13).incomplete(),
        Ev::new(&[100]).at(14).incomplete(),
        Ev::new(&[0x90, 60, 0]).at(15).incomplete(),
        Ev::new(&[0x91, 60, 100, 62, 100]).at(16).incomplete(),
        // Several messages in one complete event.
        Ev::new(&[0x90, 60, 0, 62, 0]).at(17),
        Ev::new(&[0x90, 60, 100, 0x80, 60, 0]).at(18),
        Ev::new(LONG_NOTE).at(19),
        // Reserved and undefined status bytes.
        Ev::new(&[0xF4]).at(20),
        Ev::new(&[0xF5, 1]).at(21),
        Ev::new(&[0xF9]).at(22),
        Ev::new(&[0xFD]).at(23),
        // The same junk on unusual channel groups.
        Ev::new(&[0x90, 60]).at(24).group(0),
        Ev::new(&[60, 100]).at(25).group(u16::MAX),
        Ev::new(&[0x90, 60, 0]).at(26).group(777).incomplete(),
    ]
}

fn assert_balanced(r: &Rig, name: &str) {
    if let Err(unbalanced) = r.check_balanced() {
        panic!("{name}: {unbalanced}");
    }
}

#[test]
fn what_no_filter_understands_passes_untouched() {
    let evs = not_understood();
    for i in 0..FILTERS {
        let r = Rig::new().unwrap();
        let (name, f) = all_filters(r.allocator()).swap_remove(i);
        r.connect(&f).unwrap();
        // Once as one chain, once event by event.
        assert_eq!(r.put(&f, &evs).unwrap(), STATUS_SUCCESS, "{name}");
        for e in &evs {
            assert_eq!(r.put(&f, std::slice::from_ref(e)).unwrap(), STATUS_SUCCESS);
        }
        let want: Vec<Ev<'_>> = evs.iter().chain(&evs).cloned().collect();
        assert_eq!(r.received(), want, "{name}");
        drop(f);
        assert_balanced(&r, name);
    }
}

#[test]
fn port_private_flag_bits_survive_every_filter() {
    for i in 0..FILTERS {
        let r = Rig::new().unwrap();
        let (name, f) = all_filters(r.allocator()).swap_remove(i);
        r.connect(&f).unwrap();
        let port_bits = Ev::new(&[0x90, 60, 100]).with_flags(0xC000);
        assert_eq!(r.put(&f, &[port_bits]).unwrap(), STATUS_SUCCESS);
        let recs = r.log().records();
        assert!(!recs.is_empty(), "{name}");
        assert!(
            recs.iter()
                .all(|r| r.flags & 0xC000 == 0xC000 || r.time > 0),
            "{name}: originals keep the port's bits"
        );
        drop(f);
        assert_balanced(&r, name);
    }
}

/// A chain mixing good events, junk, SysEx chunks and nested packages.
fn mixed_chain() -> Vec<Ev<'static>> {
    let junk = not_understood();
    let good = [
        Ev::new(&[0x90, 60, 100]),
        Ev::new(&[0x91, 62, 0]),
        Ev::new(&[0x80, 60, 0]),
        Ev::new(&[0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xF7]),
        Ev::new(&[0xF0, 0x43, 0x10]).incomplete(),
        Ev::new(&[0x11, 0xF7]),
        Ev::new(&[0x90, 60, 100]).group(2),
    ];
    let mut contents = junk[..5].to_vec();
    contents.push(package(good[..3].to_vec()));
    contents.push(package([]));
    let mut all = junk;
    all.extend(good);
    all.push(package(contents));
    all
}

#[test]
fn packages_and_mixed_chains_lose_nothing() {
    for i in 0..FILTERS {
        let r = Rig::new().unwrap();
        let (name, f) = all_filters(r.allocator()).swap_remove(i);
        r.connect(&f).unwrap();
        assert_eq!(r.put(&f, &mixed_chain()).unwrap(), STATUS_SUCCESS, "{name}");
        // Unconnected too.
        let g = all_filters(r.allocator()).swap_remove(i).1;
        let s = r.put(&g, &mixed_chain()).unwrap();
        assert_eq!(s, STATUS_SUCCESS, "{name}, unconnected");
        assert!(!r.log().records().is_empty());
        drop((f, g));
        assert_balanced(&r, name);
    }
}

/// All seven filters in one graph, ending at the recorder; returns the head.
fn graph(r: &Rig) -> Vec<IMXF> {
    let fs: Vec<IMXF> = all_filters(r.allocator())
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    for w in fs.windows(2) {
        assert_eq!(connect_output(&w[0], &w[1]), STATUS_SUCCESS);
    }
    r.connect(fs.last().unwrap()).unwrap();
    fs
}

#[test]
fn the_whole_graph_under_exhaustion_loses_nothing() {
    for max in [1, 2, 5, 17, 40] {
        let r = Rig::with_config(AllocatorConfig {
            max_events: Some(max),
            max_buffers: Some(1),
            ..Default::default()
        })
        .unwrap();
        let fs = graph(&r);
        for _ in 0..3 {
            let Ok(c) = r.chain(&not_understood()[..(max as usize).min(26)]) else {
                continue;
            };
            assert_eq!(put_chain(&fs[0], c), STATUS_SUCCESS);
            assert_balanced(&r, "graph");
        }
        let notes: Vec<[u8; 3]> = (0..max.min(30) as u8)
            .map(|i| [0x90, 40 + i, 100])
            .collect();
        let evs: Vec<Ev<'_>> = notes.iter().map(Ev::new).collect();
        assert_eq!(r.put(&fs[0], &evs).unwrap(), STATUS_SUCCESS);
        drop(fs);
        assert_balanced(&r, "graph");
    }
}

/// One random event description: bytes biased towards MIDI-looking content.
fn arb_event() -> impl Strategy<Value = (Vec<u8>, u16, bool)> {
    let byte = prop_oneof![
        4 => 0u8..0x80,
        2 => 0x80u8..0xF0,
        1 => Just(0xF0u8),
        1 => Just(0xF7u8),
        1 => 0xF1u8..=0xFF,
    ];
    let len = prop_oneof![6 => 0usize..5, 2 => 5usize..40, 1 => 200usize..=240];
    let group = prop_oneof![Just(1u16), Just(2), Just(0), Just(u16::MAX), any::<u16>()];
    (len, group, any::<bool>()).prop_flat_map(move |(n, g, inc)| {
        (
            proptest::collection::vec(byte.clone(), n),
            Just(g),
            Just(inc),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_streams_through_the_whole_graph_lose_nothing(
        batches in proptest::collection::vec(
            (proptest::collection::vec(arb_event(), 0..24), 0usize..4),
            1..6,
        ),
        bounded in any::<bool>(),
    ) {
        let r = Rig::with_config(AllocatorConfig {
            max_events: bounded.then_some(48),
            max_buffers: bounded.then_some(4),
            ..Default::default()
        })
        .unwrap();
        let fs = graph(&r);
        for (batch, pkg_at) in &batches {
            let mut c = Chain::new(r.allocator());
            for (i, (bytes, group, incomplete)) in batch.iter().enumerate() {
                let mut e = Ev::new(bytes).group(*group).at(i as i64);
                if *incomplete {
                    e = e.incomplete();
                }
                if i % 4 == *pkg_at {
                    e = package([e]);
                }
                // Under the bound, what cannot be built is left out.
                let Ok(ev) = r.event(&e) else { continue };
                c.push_back(ev);
            }
            prop_assert_eq!(put_chain(&fs[0], c), STATUS_SUCCESS);
            let st = r.allocator().stats();
            prop_assert_eq!(st.outstanding_events, 0);
            prop_assert_eq!(st.outstanding_buffers, 0);
            prop_assert_eq!(st.anomalies.misuse(), 0);
        }
    }
}
