//! Bad input for every sample filter, through raw vtables: truncated messages, data bytes with
//! no status, zero-length events, INCOMPLETE fragments, several messages in one event, reserved
//! status bytes, packages, unusual channel groups, port-private flag bits, random streams.
//! Nothing panics, nothing is lost (the allocator gets every event and buffer back), and what a
//! filter does not understand passes through untouched.

use midly::num::u4;
use mxf::abi::*;
use mxf::allocator::AllocatorConfig;
use mxf::com::Interface;
use mxf::event::{Chain, Event};
use mxf::filter::IntoFilter;
use mxf::interfaces::{IAllocatorMXF, IMXF};
use mxf_suite::filters::*;
use mxf_suite::raw::{self, Ev};
use mxf_suite::recorder::Record;
use mxf_suite::showcase::Showcase;
use proptest::prelude::*;

/// The number of sample filters.
const FILTERS: usize = 7;

/// Every sample filter, configured so that it changes the notes it understands.
fn all_filters(alloc: &IAllocatorMXF) -> Vec<(&'static str, IMXF)> {
    let map = ChannelMap::new()
        .remap(1, u4::new(0), u4::new(5))
        .and_then(|m| m.mute(1, u4::new(1)))
        .unwrap();
    vec![
        (
            "transpose",
            Transpose::new(5)
                .into_filter(alloc)
                .unwrap()
                .into_interface(),
        ),
        (
            "velocity",
            Velocity::new(VelocityCurve::Scale { percent: 50 }, 1, 127)
                .into_filter(alloc)
                .unwrap()
                .into_interface(),
        ),
        (
            "channel_map",
            map.into_filter(alloc).unwrap().into_interface(),
        ),
        (
            "note_off_normalizer",
            NoteOffNormalizer::new()
                .into_filter(alloc)
                .unwrap()
                .into_interface(),
        ),
        (
            "sysex_filter",
            SysexFilter::new(SysexAction::Drop)
                .into_filter(alloc)
                .unwrap()
                .into_interface(),
        ),
        (
            "echo",
            Echo::new(100, 2, 50)
                .into_filter(alloc)
                .unwrap()
                .into_interface(),
        ),
        (
            "splitter",
            Splitter::new().into_filter(alloc).unwrap().into_interface(),
        ),
    ]
}

/// Events no filter understands (no SysEx among them): each must come out exactly as it went in.
fn not_understood() -> Vec<Ev<'static>> {
    const LONG_DATA: &[u8] = &[0x7F; 20];
    const LONG_NOTE: &[u8] = &[0x90, 60, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    vec![
        // Truncated messages.
        Ev::at(1, &[0x90, 60]),
        Ev::at(2, &[0x90]),
        Ev::at(3, &[0xC0]),
        Ev::at(4, &[0xE0, 1]),
        Ev::at(5, &[0xB0, 7]),
        Ev::at(6, &[0xF2, 1]),
        // Data bytes with no status.
        Ev::at(7, &[60, 100]),
        Ev::at(8, &[0]),
        Ev::at(9, LONG_DATA),
        // A status byte where a data byte belongs.
        Ev::at(10, &[0x90, 60, 0x90]),
        // Zero-length events.
        Ev::at(11, &[]),
        Ev::at(12, &[]).incomplete(),
        // INCOMPLETE fragments, even ones that look like whole messages.
        Ev::at(13, &[0x90, 60]).incomplete(),
        Ev::at(14, &[100]).incomplete(),
        Ev::at(15, &[0x90, 60, 0]).incomplete(),
        Ev::at(16, &[0x91, 60, 100, 62, 100]).incomplete(),
        // Several messages in one complete event.
        Ev::at(17, &[0x90, 60, 0, 62, 0]),
        Ev::at(18, &[0x90, 60, 100, 0x80, 60, 0]),
        Ev::at(19, LONG_NOTE),
        // Reserved and undefined status bytes.
        Ev::at(20, &[0xF4]),
        Ev::at(21, &[0xF5, 1]),
        Ev::at(22, &[0xF9]),
        Ev::at(23, &[0xFD]),
        // The same junk on unusual channel groups.
        Ev::at(24, &[0x90, 60]).group(0),
        Ev::at(25, &[60, 100]).group(u16::MAX),
        Ev::at(26, &[0x90, 60, 0]).group(777).incomplete(),
    ]
}

fn as_tuple(r: &Record) -> (Vec<u8>, u16, i64, u16) {
    (r.bytes.clone(), r.group, r.time, r.flags)
}

fn expected(evs: &[Ev<'_>]) -> Vec<(Vec<u8>, u16, i64, u16)> {
    evs.iter()
        .map(|e| {
            let flags = if e.incomplete {
                DMUS_KEF_EVENT_INCOMPLETE
            } else {
                0
            };
            (e.bytes.to_vec(), e.group, e.time, flags)
        })
        .collect()
}

fn assert_balanced(r: &Showcase, name: &str) {
    let s = r.alloc.stats();
    assert_eq!(s.outstanding_events, 0, "{name}: events outstanding");
    assert_eq!(s.outstanding_buffers, 0, "{name}: buffers outstanding");
    assert_eq!(s.anomalies.misuse(), 0, "{name}: misuse");
}

#[test]
fn what_no_filter_understands_passes_untouched() {
    let evs = not_understood();
    for i in 0..FILTERS {
        let r = Showcase::with_config(AllocatorConfig::default()).unwrap();
        let (name, f) = all_filters(&r.alloc).swap_remove(i);
        r.connect(&f).unwrap();
        // Once as one chain, once event by event.
        assert_eq!(r.put(&f, &evs).unwrap(), STATUS_SUCCESS, "{name}");
        for e in &evs {
            assert_eq!(r.put(&f, std::slice::from_ref(e)).unwrap(), STATUS_SUCCESS);
        }
        let got: Vec<_> = r.log.records().iter().map(as_tuple).collect();
        let mut want = expected(&evs);
        want.extend(expected(&evs));
        assert_eq!(got, want, "{name}");
        drop(f);
        assert_balanced(&r, name);
    }
}

#[test]
fn port_private_flag_bits_survive_every_filter() {
    for i in 0..FILTERS {
        let r = Showcase::with_config(AllocatorConfig::default()).unwrap();
        let (name, f) = all_filters(&r.alloc).swap_remove(i);
        r.connect(&f).unwrap();
        let mut e = Event::with_bytes(&r.alloc, &[0x90, 60, 100], 1, 0).unwrap();
        e.set_flags(0xC000);
        // SAFETY: our event, handed over.
        let s = unsafe { raw::put_message(f.as_raw(), e.into_raw()) };
        assert_eq!(s, STATUS_SUCCESS);
        let recs = r.log.records();
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
fn mixed_chain(alloc: &IAllocatorMXF) -> Chain<'_> {
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
    let inner = raw::chain(alloc, &good[..3]).unwrap();
    let nested = raw::package(alloc, inner).unwrap();
    let mut contents = raw::chain(alloc, &junk[..5]).unwrap();
    contents.push_back(nested);
    contents.push_back(raw::package(alloc, Chain::new(alloc)).unwrap());
    let pkg = raw::package(alloc, contents).unwrap();
    let mut c = raw::chain(alloc, &good).unwrap();
    c.push_back(pkg);
    c.prepend(raw::chain(alloc, &junk).unwrap());
    c
}

#[test]
fn packages_and_mixed_chains_lose_nothing() {
    for i in 0..FILTERS {
        let r = Showcase::with_config(AllocatorConfig::default()).unwrap();
        let (name, f) = all_filters(&r.alloc).swap_remove(i);
        r.connect(&f).unwrap();
        let head = mixed_chain(&r.alloc).into_raw();
        // SAFETY: our chain, handed over.
        let s = unsafe { raw::put_message(f.as_raw(), head) };
        assert_eq!(s, STATUS_SUCCESS, "{name}");
        // Unconnected too.
        let g = all_filters(&r.alloc).swap_remove(i).1;
        let head = mixed_chain(&r.alloc).into_raw();
        // SAFETY: as above.
        let s = unsafe { raw::put_message(g.as_raw(), head) };
        assert_eq!(s, STATUS_SUCCESS, "{name}, unconnected");
        assert!(!r.log.records().is_empty());
        drop((f, g));
        assert_balanced(&r, name);
    }
}

/// All seven filters in one graph, ending at the recorder; returns the head.
fn graph(r: &Showcase) -> Vec<IMXF> {
    let fs: Vec<IMXF> = all_filters(&r.alloc).into_iter().map(|(_, f)| f).collect();
    for w in fs.windows(2) {
        assert_eq!(raw::connect(&w[0], &w[1]), STATUS_SUCCESS);
    }
    r.connect(fs.last().unwrap()).unwrap();
    fs
}

#[test]
fn the_whole_graph_under_exhaustion_loses_nothing() {
    for max in [1, 2, 5, 17, 40] {
        let r = Showcase::with_config(AllocatorConfig {
            max_events: Some(max),
            max_buffers: Some(1),
            ..Default::default()
        })
        .unwrap();
        let fs = graph(&r);
        for _ in 0..3 {
            let Ok(c) = raw::chain(&r.alloc, &not_understood()[..(max as usize).min(26)]) else {
                continue;
            };
            // SAFETY: our chain, handed over.
            let s = unsafe { raw::put_message(fs[0].as_raw(), c.into_raw()) };
            assert_eq!(s, STATUS_SUCCESS);
            assert_balanced(&r, "graph");
        }
        let notes: Vec<[u8; 3]> = (0..max.min(30) as u8)
            .map(|i| [0x90, 40 + i, 100])
            .collect();
        let evs: Vec<Ev<'_>> = notes.iter().map(|n| Ev::new(n)).collect();
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
        let r = Showcase::with_config(AllocatorConfig {
            max_events: bounded.then_some(48),
            max_buffers: bounded.then_some(4),
            ..Default::default()
        })
        .unwrap();
        let fs = graph(&r);
        for (batch, pkg_at) in &batches {
            let mut c = Chain::new(&r.alloc);
            for (i, (bytes, group, incomplete)) in batch.iter().enumerate() {
                let e = Ev { bytes, group: *group, time: i as i64, incomplete: *incomplete };
                let Ok(ev) = e.build(&r.alloc) else { continue };
                if i % 4 == *pkg_at {
                    let mut inner = Chain::new(&r.alloc);
                    inner.push_back(ev);
                    let Ok(p) = raw::package(&r.alloc, inner) else { continue };
                    c.push_back(p);
                } else {
                    c.push_back(ev);
                }
            }
            // SAFETY: our chain, handed over.
            let s = unsafe { raw::put_message(fs[0].as_raw(), c.into_raw()) };
            prop_assert_eq!(s, STATUS_SUCCESS);
            let st = r.alloc.stats();
            prop_assert_eq!(st.outstanding_events, 0);
            prop_assert_eq!(st.outstanding_buffers, 0);
            prop_assert_eq!(st.anomalies.misuse(), 0);
        }
    }
}
