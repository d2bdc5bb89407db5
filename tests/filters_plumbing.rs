//! The IMXF plumbing of the sample filters (`domain.md` §1.3 and §6 items 27–30), driven
//! through raw vtables as the DMus port does: connections, unconnected output, states,
//! `PutMessage(NULL)`, chains and packages.

use mxf::abi::*;
use mxf::com::Interface;
use mxf::filter::IntoFilter;
use mxf::interfaces::IMXF;
use mxf::testing::{
    Ev, Rig, connect_output, disconnect_all, disconnect_output, note_on, package, put_null, raw,
    set_state,
};
use mxf_suite::filters::{SPLITTER_OUTPUTS, Splitter, Transpose};
use std::ptr::null_mut;

fn rig() -> Rig {
    Rig::new().expect("allocator")
}

fn note(key: u8) -> [u8; 3] {
    [0x90, key, 100]
}

#[test]
fn item27_connect_output_null_fails() {
    let r = rig();
    let f = Transpose::new(1).into_filter(r.allocator()).unwrap();
    // SAFETY: live filter; NULL sink.
    let s = unsafe { raw::connect_output(f.as_raw(), null_mut()) };
    assert_eq!(s, STATUS_UNSUCCESSFUL);
    // Still unconnected: events go to the allocator, not to the recorder.
    r.put(&f, &[Ev::new(&note(60))]).unwrap();
    assert!(r.log().records().is_empty());
    r.assert_balanced();
}

#[test]
fn item28_second_connect_fails_and_keeps_the_first() {
    let r = rig();
    let f = Transpose::new(1).into_filter(r.allocator()).unwrap();
    let (other, other_log) = r.recorder().unwrap();
    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    assert_eq!(connect_output(&f, &other), STATUS_UNSUCCESSFUL);
    assert_eq!(
        connect_output(&f, r.sink()),
        STATUS_UNSUCCESSFUL,
        "not even the same sink"
    );
    r.put(&f, &[Ev::new(&note(60))]).unwrap();
    assert_eq!(r.log().bytes(), vec![vec![0x90, 61, 100]]);
    assert!(other_log.records().is_empty());
    r.assert_balanced();
}

#[test]
fn item29_disconnect_current_or_null_succeeds_other_fails() {
    let r = rig();
    let f = Transpose::new(0).into_filter(r.allocator()).unwrap();
    let (other, _) = r.recorder().unwrap();

    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    assert_eq!(disconnect_output(&f, &other), STATUS_UNSUCCESSFUL);
    r.put(&f, &[Ev::new(&note(60))]).unwrap();
    assert_eq!(r.log().take().len(), 1, "the connection stays");

    assert_eq!(disconnect_output(&f, r.sink()), STATUS_SUCCESS);
    r.put(&f, &[Ev::new(&note(61))]).unwrap();
    assert!(r.log().take().is_empty(), "disconnected: to the allocator");

    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS, "free again");
    assert_eq!(disconnect_all(&f), STATUS_SUCCESS);
    r.put(&f, &[Ev::new(&note(62))]).unwrap();
    assert!(r.log().take().is_empty());
    assert_eq!(
        disconnect_all(&f),
        STATUS_SUCCESS,
        "NULL succeeds when unconnected too"
    );
    // Unconnected, the filter's sink is its allocator (as in Microsoft's MXFs): naming it
    // succeeds and changes nothing; while connected elsewhere it is not the sink.
    let alloc_as_mxf: IMXF = IMXF::clone(r.allocator());
    assert_eq!(disconnect_output(&f, &alloc_as_mxf), STATUS_SUCCESS);
    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    assert_eq!(disconnect_output(&f, &alloc_as_mxf), STATUS_UNSUCCESSFUL);
    r.put(&f, &[Ev::new(&note(63))]).unwrap();
    assert_eq!(r.log().take().len(), 1, "still connected");
    r.assert_balanced();
}

#[test]
fn item30_unconnected_and_disconnected_filters_deliver_to_the_allocator() {
    let r = rig();
    let f = Transpose::new(3).into_filter(r.allocator()).unwrap();
    let before = r.allocator().stats().puts;
    r.put(&f, &[Ev::new(&note(60)), Ev::new(&note(62))])
        .unwrap();
    let s = r.allocator().stats();
    assert_eq!(s.outstanding_events, 0);
    assert_eq!(s.puts, before + 1, "one PutMessage for the whole chain");
    assert_eq!(f.stats().events_out, 2);

    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    assert_eq!(disconnect_output(&f, r.sink()), STATUS_SUCCESS);
    r.put(&f, &[Ev::new(&note(60))]).unwrap();
    assert!(r.log().records().is_empty());
    r.assert_balanced();
}

#[test]
fn splitter_fills_its_outputs_in_order_and_refuses_one_more() {
    let r = rig();
    let f = Splitter::new().into_filter(r.allocator()).unwrap();
    let sinks: Vec<_> = (0..SPLITTER_OUTPUTS)
        .map(|_| r.recorder().unwrap())
        .collect();
    for (s, _) in &sinks {
        assert_eq!(connect_output(&f, s), STATUS_SUCCESS);
    }
    assert_eq!(
        connect_output(&f, r.sink()),
        STATUS_UNSUCCESSFUL,
        "all outputs taken"
    );
    r.put(&f, &[Ev::new(&note(60))]).unwrap();
    for (_, log) in &sinks {
        assert_eq!(log.bytes(), vec![note(60).to_vec()]);
    }
    // Disconnecting the middle output frees exactly that one.
    assert_eq!(disconnect_output(&f, &sinks[1].0), STATUS_SUCCESS);
    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    r.put(&f, &[Ev::new(&note(61))]).unwrap();
    assert_eq!(r.log().bytes(), vec![note(61).to_vec()]);
    assert_eq!(
        sinks[1].1.bytes().len(),
        1,
        "the old output 1 gets nothing more"
    );
    // NULL disconnects all: everything goes to the allocator.
    assert_eq!(disconnect_all(&f), STATUS_SUCCESS);
    r.put(&f, &[Ev::new(&note(62))]).unwrap();
    assert_eq!(r.log().bytes().len(), 1);
    r.assert_balanced();
}

#[test]
fn put_message_null_succeeds_and_delivers_nothing() {
    let r = rig();
    let f = Transpose::new(1).into_filter(r.allocator()).unwrap();
    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    assert_eq!(put_null(&f), STATUS_SUCCESS);
    assert_eq!(r.log().calls(), 0);
    assert_eq!(f.stats().calls, 0);
}

#[test]
fn one_chain_in_one_chain_out_order_kept() {
    let r = rig();
    let f = Transpose::new(2).into_filter(r.allocator()).unwrap();
    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    let events: Vec<[u8; 3]> = (40..60).map(note).collect();
    let evs: Vec<Ev<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, b)| Ev::new(b).at(i as i64))
        .collect();
    assert_eq!(r.put(&f, &evs).unwrap(), STATUS_SUCCESS);
    assert_eq!(r.log().calls(), 1);
    let recs = r.log().records();
    assert_eq!(recs.len(), 20);
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(rec.bytes, vec![0x90, 42 + i as u8, 100]);
        assert_eq!(rec.time, i as i64);
    }
    r.assert_balanced();
}

#[test]
fn packages_are_unwrapped_and_their_contents_processed() {
    let r = rig();
    let f = Transpose::new(1).into_filter(r.allocator()).unwrap();
    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    let nested = package([note_on(0, 70, 100)]);
    let pkg = package([note_on(0, 60, 100), nested, note_on(0, 61, 100)]);
    let s = r
        .put(&f, &[note_on(0, 50, 100), pkg, note_on(0, 51, 100)])
        .unwrap();
    assert_eq!(s, STATUS_SUCCESS);
    let got: Vec<u8> = r.log().records().iter().map(|r| r.bytes[1]).collect();
    assert_eq!(got, vec![51, 61, 71, 62, 52]);
    assert!(
        r.log()
            .records()
            .iter()
            .all(|r| !r.is_package() && r.depth == 0)
    );
    assert_eq!(f.stats().events_in, 5, "shells are not counted");
    r.assert_balanced();
}

#[test]
fn stop_and_acquire_discard_pause_and_run_process() {
    let r = rig();
    let f = Transpose::new(1).into_filter(r.allocator()).unwrap();
    assert_eq!(connect_output(&f, r.sink()), STATUS_SUCCESS);
    for (state, passes) in [
        (KSSTATE_STOP, false),
        (KSSTATE_ACQUIRE, false),
        (KSSTATE_PAUSE, true),
        (KSSTATE_RUN, true),
    ] {
        assert_eq!(set_state(&f, state), STATUS_SUCCESS);
        r.put(&f, &[Ev::new(&note(60))]).unwrap();
        assert_eq!(!r.log().take().is_empty(), passes, "{state:?}");
    }
    assert_eq!(f.stats().discarded, 2);
    r.assert_balanced();
}

#[test]
fn filters_are_released_with_their_sinks_and_nothing_leaks() {
    let r = rig();
    let f = Transpose::new(1).into_filter(r.allocator()).unwrap();
    let (sink, log) = r.recorder().unwrap();
    assert_eq!(connect_output(&f, &sink), STATUS_SUCCESS);
    drop(sink);
    // The filter's reference keeps the recorder alive.
    r.put(&f, &[Ev::new(&note(60))]).unwrap();
    assert_eq!(log.bytes().len(), 1);
    drop(f);
    r.assert_balanced();
}

/// A filter that is also a synth sink (ddksynth's shape: one stream object for the MIDI pin and
/// the wave-sink pin), written as an `#[mxf_filter]` listing a further interface of mxf's.
#[mxf::mxf_filter(mxf::interfaces::ISynthSinkDMus)]
struct SynthFilter {
    rendered: std::sync::atomic::AtomicU32,
}

impl mxf::filter::Filter for SynthFilter {
    fn process<'a>(&self, event: mxf::event::Event<'a>, out: &mut mxf::filter::Output<'a>) {
        out.push(event);
    }
}

impl mxf::interfaces::ISynthSinkDMus_Impl for SynthFilter {
    unsafe fn Render(&self, _buffer: *mut u8, length: u32, _position: i64) {
        self.rendered
            .fetch_add(length, std::sync::atomic::Ordering::Relaxed);
    }
    fn SyncToMaster(&self, _time: REFERENCE_TIME, _start: i32) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn SampleToRefTime(&self, sample: i64, time: *mut REFERENCE_TIME) -> NTSTATUS {
        // SAFETY: the caller passes a valid out-pointer.
        unsafe { time.write(sample * 10) };
        STATUS_SUCCESS
    }
    unsafe fn RefTimeToSample(&self, time: REFERENCE_TIME, sample: *mut i64) -> NTSTATUS {
        // SAFETY: the caller passes a valid out-pointer.
        unsafe { sample.write(time / 10) };
        STATUS_SUCCESS
    }
}

#[test]
fn a_filter_exposes_a_further_interface_of_mxf() {
    use mxf::interfaces::ISynthSinkDMus;
    let r = rig();
    let f = SynthFilter {
        rendered: std::sync::atomic::AtomicU32::new(0),
    }
    .into_filter(r.allocator())
    .unwrap();
    let sink: ISynthSinkDMus = f.cast().expect("the filter answers ISynthSinkDMus");
    // SAFETY: live interface; a valid buffer and out-pointer.
    unsafe {
        let mut buf = [0u8; 16];
        sink.Render(buf.as_mut_ptr(), 16, 0);
        let mut t = 0;
        assert_eq!(sink.SampleToRefTime(5, &mut t), STATUS_SUCCESS);
        assert_eq!(t, 50);
    }
    assert_eq!(
        f.filter()
            .rendered
            .load(std::sync::atomic::Ordering::Relaxed),
        16
    );
    // The same object still filters (its IMXF is the framework's plumbing).
    let back: IMXF = sink.cast().unwrap();
    assert_eq!(back.as_raw(), f.as_raw());
    let e = mxf::event::Event::with_bytes(r.allocator(), &note(60), 1, 0)
        .unwrap()
        .into_raw();
    // SAFETY: handing the event over.
    assert_eq!(unsafe { back.PutMessage(e) }, STATUS_SUCCESS);
    assert_eq!(f.stats().events_out, 1);
    drop((sink, back, f));
    assert_eq!(r.allocator().stats().outstanding_events, 0);
}

#[test]
fn a_filter_cannot_be_connected_to_itself() {
    // Every event it delivered would come straight back in, without end.
    let r = rig();
    let f = Transpose::new(1).into_filter(r.allocator()).unwrap();
    let me: IMXF = (*f).clone();
    assert_eq!(connect_output(&f, &me), STATUS_INVALID_PARAMETER);
    // Still unconnected: its output goes to the allocator.
    let e = mxf::event::Event::with_bytes(r.allocator(), &note(60), 1, 0)
        .unwrap()
        .into_raw();
    // SAFETY: handing the event over.
    assert_eq!(unsafe { f.PutMessage(e) }, STATUS_SUCCESS);
    assert_eq!(r.allocator().stats().outstanding_events, 0);
    // Another filter is still a fine sink.
    let g = Transpose::new(2).into_filter(r.allocator()).unwrap();
    assert_eq!(connect_output(&f, &g), STATUS_SUCCESS);
}
