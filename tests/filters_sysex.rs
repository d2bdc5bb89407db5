//! `SysexFilter` through its IMXF vtable: a SysEx split over several INCOMPLETE events (and
//! several `PutMessage` calls) is handled as one unit, per channel group.

use mxf::filter::{FilterHandle, IntoFilter};
use mxf::testing::{Ev, Rig, fragments};
use mxf_suite::filters::{SysexAction, SysexFilter};

fn setup(filter: SysexFilter) -> (Rig, FilterHandle<SysexFilter>) {
    let r = Rig::new().unwrap();
    let f = filter.into_filter(r.allocator()).unwrap();
    r.connect(&f).unwrap();
    (r, f)
}

fn drop_all() -> SysexFilter {
    SysexFilter::new(SysexAction::Drop)
}

/// A SysEx of `n` bytes (F0, data, F7) split into chunks of at most 240.
fn sysex(n: usize) -> Vec<Vec<u8>> {
    let mut b = vec![0xF0];
    b.extend((0..n - 2).map(|i| (i % 128) as u8));
    b.push(0xF7);
    b.chunks(240).map(<[u8]>::to_vec).collect()
}

/// The chunks as events on `group`, INCOMPLETE but the last (as the unpacker hands them on).
fn chunks_as_events(chunks: &[Vec<u8>], group: u16) -> Vec<Ev<'static>> {
    fragments(&chunks.concat(), 240)
        .into_iter()
        .map(|e| e.group(group))
        .collect()
}

#[test]
fn a_complete_sysex_is_dropped_and_the_rest_passes() {
    let (r, f) = setup(drop_all());
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]),
            Ev::new(&[0xF0, 0x43, 0xF7]),
            Ev::new(&[0xF1, 0x10]),
            Ev::new(&[0x80, 60, 0]),
        ],
    )
    .unwrap();
    assert_eq!(
        r.log().bytes(),
        vec![vec![0x90, 60, 100], vec![0xF1, 0x10], vec![0x80, 60, 0]]
    );
    assert_eq!(f.filter().dropped_events(), 2);
    assert_eq!(f.filter().dropped_bytes(), 9);
    r.assert_balanced();
}

#[test]
fn a_sysex_over_several_events_and_calls_is_one_unit() {
    let (r, f) = setup(drop_all());
    let chunks = sysex(700);
    assert_eq!(chunks.len(), 3);
    let evs = chunks_as_events(&chunks, 1);
    // One chunk per PutMessage, with other groups' traffic and a real-time byte in between
    // (a status byte on the same group would abort the SysEx: see below).
    r.put(&f, &evs[..1]).unwrap();
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 60, 1]).group(3),
            Ev::new(&[0x12, 0x34]).group(2),
            Ev::new(&[0xF8]),
        ],
    )
    .unwrap();
    r.put(&f, &evs[1..2]).unwrap();
    r.put(&f, &[evs[2].clone(), Ev::new(&[0x80, 60, 0])])
        .unwrap();
    // After the unit: data bytes pass again (not ours to judge).
    r.put(&f, &[Ev::new(&[0x12, 0x34]).incomplete()]).unwrap();
    assert_eq!(
        r.log().bytes(),
        vec![
            vec![0x90, 60, 1],
            vec![0x12, 0x34],
            vec![0xF8],
            vec![0x80, 60, 0],
            vec![0x12, 0x34]
        ]
    );
    assert_eq!(f.filter().dropped_events(), 3);
    assert_eq!(f.filter().dropped_bytes(), 700);
    r.assert_balanced();
}

#[test]
fn a_complete_flag_ends_the_unit_even_without_f7() {
    let (r, f) = setup(drop_all());
    r.put(
        &f,
        &[
            Ev::new(&[0xF0, 0x43, 0x10]).incomplete(),
            Ev::new(&[0x11, 0x12]),
            Ev::new(&[0x13, 0x14]).incomplete(),
        ],
    )
    .unwrap();
    assert_eq!(r.log().bytes(), vec![vec![0x13, 0x14]]);
    r.assert_balanced();
}

#[test]
fn groups_are_independent_and_can_pass() {
    let (r, f) = setup(drop_all().with_group(2, SysexAction::Pass).unwrap());
    let chunks = sysex(300);
    let g1 = chunks_as_events(&chunks, 1);
    let g2 = chunks_as_events(&chunks, 2);
    let g3 = chunks_as_events(&chunks, 3);
    // Interleaved starts: each group keeps its own "inside" state.
    r.put(
        &f,
        &[
            g1[0].clone(),
            g2[0].clone(),
            g3[0].clone(),
            g3[1].clone(),
            g2[1].clone(),
            g1[1].clone(),
        ],
    )
    .unwrap();
    let recs = r.log().records();
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r.group == 2));
    assert_eq!(recs[0].bytes, chunks[0]);
    assert_eq!(recs[1].bytes, chunks[1]);
    assert!(recs[0].is_incomplete() && !recs[1].is_incomplete());
    r.assert_balanced();
}

#[test]
fn pass_all_changes_nothing() {
    let (r, f) = setup(SysexFilter::new(SysexAction::Pass));
    let chunks = sysex(500);
    let evs = chunks_as_events(&chunks, 1);
    r.put(&f, &evs).unwrap();
    assert_eq!(r.log().bytes(), chunks);
    r.assert_balanced();
}

#[test]
fn raw_fragments_keep_the_bytes_around_the_sysex() {
    let (r, f) = setup(drop_all());
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 0x3C, 0x40, 0xF0, 0x43]).incomplete(),
            Ev::new(&[0x01, 0xF8, 0x02]).incomplete(),
            Ev::new(&[0x03, 0xF7, 0x80, 0x3C, 0x40]).incomplete(),
        ],
    )
    .unwrap();
    assert_eq!(
        r.log().bytes(),
        vec![vec![0x90, 0x3C, 0x40], vec![0xF8], vec![0x80, 0x3C, 0x40]],
        "real-time bytes inside a SysEx pass"
    );
    assert_eq!(f.filter().trimmed_events(), 3);
    assert!(r.log().records().iter().all(|r| r.is_incomplete()));
    r.assert_balanced();
}

#[test]
fn a_status_byte_aborts_the_sysex() {
    let (r, f) = setup(drop_all());
    r.put(
        &f,
        &[
            Ev::new(&[0xF0, 0x43, 0x10]).incomplete(),
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0x11, 0x12]).incomplete(),
        ],
    )
    .unwrap();
    assert_eq!(
        r.log().bytes(),
        vec![vec![0x90, 60, 100], vec![0x11, 0x12]],
        "after the abort, data bytes are not SysEx any more"
    );
    r.assert_balanced();
}

#[test]
fn a_new_f0_inside_a_sysex_starts_over_and_a_stray_f7_passes() {
    let (r, f) = setup(drop_all());
    r.put(
        &f,
        &[
            Ev::new(&[0xF7]),
            Ev::new(&[0xF0, 1, 2]).incomplete(),
            Ev::new(&[0xF0, 3]).incomplete(),
            Ev::new(&[4, 0xF7]),
        ],
    )
    .unwrap();
    assert_eq!(r.log().bytes(), vec![vec![0xF7]]);
    r.assert_balanced();
}

#[test]
fn a_long_event_trimmed_to_a_short_one_gives_its_buffer_back() {
    let (r, f) = setup(drop_all());
    let mut bytes = vec![0xF0];
    bytes.extend([0x10; 20]);
    bytes.extend([0xF7, 0x90, 60, 100]);
    r.put(&f, &[Ev::new(&bytes)]).unwrap();
    assert_eq!(r.log().bytes(), vec![vec![0x90, 60, 100]]);
    r.assert_balanced();
    assert_eq!(r.allocator().stats().outstanding_buffers, 0);
}
