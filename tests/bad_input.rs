//! Bad input from outside the project, each with its documented outcome: capture IRPs too small
//! for one record (they complete empty and the stream moves on), and events whose fields lie
//! (a length beyond the buffer, a long event without a buffer, a package with a length) sent to
//! the capture sink, the packer, the sequencer, every sample filter and the UART render stream.
//! Malformed Standard MIDI Files (a second `MThd`, unknown chunks between tracks, RMID files
//! with lying lengths or no `data` chunk, escapes carrying F0, zero-length escapes) are in
//! `tests/smf.rs`; a file too big for memory and `--realtime` on a song centuries long in
//! `tests/main_job.rs`.

use midly::num::u4;
use mxf::abi::{DMUS_EVENT_SIZE, DMUS_KERNEL_EVENT, DONT_HOLD_FOR_SEQUENCING};
use mxf::allocator::{AllocatorConfig, AllocatorHandle, AllocatorStats};
use mxf::components::capture_sink::CaptureSinkHandle;
use mxf::components::packer::{PackerFormat, PackerHandle};
use mxf::components::sequencer::SequencerHandle;
use mxf::components::unpacker::DmusBufferWriter;
use mxf::filter::IntoFilter;
use mxf::host::{CapturePin, CapturedBuffer, ClockMode, FilterPlacement, Port, StreamFormat};
use mxf::interfaces::{IAllocatorMXF, IMXF};
use mxf::prelude::*;
use mxf::testing::{Record, Recorder};
use mxf_suite::filters::*;
use mxf_suite::uart::{VirtualMpu401, create_uart_miniport};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Capture IRPs too small for one record.
// ---------------------------------------------------------------------------------------------

const NOTE_ON: &[u8] = &[0x90, 0x3C, 0x40];
const NOTE_OFF: &[u8] = &[0x80, 0x3C, 0x00];
const PROGRAM: &[u8] = &[0xC0, 0x05];

/// The UART miniport on a virtual MPU-401 with a capture pin of `format`, running.
fn capture_rig(format: StreamFormat) -> (Arc<VirtualMpu401>, Port, CapturePin) {
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    let pin = port.open_capture_pin(4, format).unwrap();
    pin.set_state(KSSTATE_RUN).unwrap();
    (mpu, port, pin)
}

/// The data of the records of a completed capture IRP, in either format.
fn payloads(format: StreamFormat, b: &CapturedBuffer) -> Vec<Vec<u8>> {
    let d = &b.data;
    let u32_at = |o: usize| u32::from_ne_bytes(d[o..o + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let mut off = 0;
    match format {
        StreamFormat::DirectMusic => {
            while off + 20 <= d.len() {
                let cb = u32_at(off);
                out.push(d[off + 20..off + 20 + cb].to_vec());
                off += DMUS_EVENT_SIZE(cb);
            }
        }
        StreamFormat::Ks => {
            while off + 8 <= d.len() {
                let cb = u32_at(off + 4);
                out.push(d[off + 8..off + 8 + cb].to_vec());
                off = (off + 8 + cb).next_multiple_of(4).min(d.len());
            }
        }
    }
    assert_eq!(off, d.len(), "records fill the IRP's DataUsed exactly");
    out
}

/// Every byte captured, in order, over the completed IRPs.
fn captured_bytes(format: StreamFormat, filled: &[CapturedBuffer]) -> Vec<u8> {
    filled
        .iter()
        .flat_map(|b| payloads(format, b))
        .flatten()
        .collect()
}

/// An IRP of `small` bytes, queued first, completes empty (`DataUsed` 0) when data arrives, the
/// next IRP takes the data, and the pin keeps going: nothing queued, nothing lost.
fn small_irp_first(format: StreamFormat, small: usize) {
    let (mpu, port, pin) = capture_rig(format);
    pin.submit_buffer(small);
    pin.submit_buffer(256);
    port.set_time(1_000);
    mpu.receive(NOTE_ON, 1_000);
    let filled = pin.take_filled();
    assert_eq!(
        filled.len(),
        2,
        "{format:?}, {small} bytes: the small IRP completed"
    );
    assert!(filled[0].data.is_empty(), "{format:?}, {small} bytes");
    assert!(!filled[0].discontinuity);
    assert_eq!(payloads(format, &filled[1]).concat(), NOTE_ON);
    // The stream is not stalled: the next IRP takes the next message.
    pin.submit_buffer(256);
    mpu.receive(NOTE_OFF, 2_000);
    let filled = pin.take_filled();
    assert_eq!(filled.len(), 1);
    assert_eq!(payloads(format, &filled[0]).concat(), NOTE_OFF);
    assert_eq!(pin.packer().queued(), 0);
    assert_eq!(mpu.lost_input(), 0);
    let s = pin.allocator().stats();
    assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
    drop(pin);
    drop(port);
}

#[test]
fn directmusic_capture_irps_of_0_16_and_23_bytes_complete_empty() {
    // 23 bytes hold 16 usable (whole quadwords), fewer than DMUS_EVENT_SIZE(1) = 24.
    for small in [0, 16, 23] {
        small_irp_first(StreamFormat::DirectMusic, small);
    }
}

#[test]
fn ks_capture_irps_of_0_and_8_bytes_complete_empty() {
    // A KSMUSICFORMAT header alone (8 bytes) holds no data byte.
    for small in [0, 8] {
        small_irp_first(StreamFormat::Ks, small);
    }
}

#[test]
fn the_smallest_capture_irps_that_hold_a_record_are_filled() {
    // 24 bytes DirectMusic (also 31: its usable length is 24) and 9 bytes KS take data.
    for (format, size) in [
        (StreamFormat::DirectMusic, 24),
        (StreamFormat::DirectMusic, 31),
        (StreamFormat::Ks, 9),
    ] {
        let (mpu, port, pin) = capture_rig(format);
        pin.submit_buffer(size);
        mpu.receive(PROGRAM, 0);
        let filled = pin.take_filled();
        assert_eq!(filled.len(), 1, "{format:?}, {size} bytes");
        assert!(!filled[0].data.is_empty(), "{format:?}, {size} bytes");
        // A 9-byte KS IRP holds one byte: the rest waits for the next IRP.
        pin.submit_buffer(64);
        let mut all = filled;
        all.extend(pin.take_filled());
        assert_eq!(captured_bytes(format, &all), PROGRAM);
        assert_eq!(pin.allocator().stats().outstanding_events, 0);
        drop(pin);
        drop(port);
    }
}

#[test]
fn a_small_capture_irp_between_two_normal_ones_loses_nothing() {
    for (format, small) in [(StreamFormat::DirectMusic, 16), (StreamFormat::Ks, 8)] {
        let (mpu, port, pin) = capture_rig(format);
        pin.submit_buffer(256);
        pin.submit_buffer(small);
        pin.submit_buffer(256);
        port.set_time(1_000);
        mpu.receive(NOTE_ON, 1_000);
        port.set_time(2_000);
        mpu.receive(PROGRAM, 2_000);
        port.set_time(3_000);
        mpu.receive(NOTE_OFF, 3_000);
        let filled = pin.take_filled();
        // The first message fills the first IRP; the second finds the small one, which completes
        // empty, and goes to the third; the third waits for a new IRP.
        assert_eq!(filled.len(), 3, "{format:?}");
        assert_eq!(payloads(format, &filled[0]).concat(), NOTE_ON);
        assert!(filled[1].data.is_empty());
        assert_eq!(payloads(format, &filled[2]).concat(), PROGRAM);
        assert_eq!(pin.packer().queued(), 1, "the note-off waits for an IRP");
        pin.submit_buffer(256);
        let filled = pin.take_filled();
        assert_eq!(captured_bytes(format, &filled), NOTE_OFF);
        assert_eq!(pin.packer().queued(), 0);
        let s = pin.allocator().stats();
        assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
        drop(pin);
        drop(port);
    }
}

#[test]
fn many_small_capture_irps_in_a_row_all_complete_and_the_data_reaches_the_next() {
    let (mpu, port, pin) = capture_rig(StreamFormat::DirectMusic);
    for _ in 0..100 {
        pin.submit_buffer(16);
    }
    pin.submit_buffer(64);
    mpu.receive(NOTE_ON, 0);
    let filled = pin.take_filled();
    assert_eq!(filled.len(), 101);
    assert!(filled[..100].iter().all(|b| b.data.is_empty()));
    assert_eq!(
        captured_bytes(StreamFormat::DirectMusic, &filled[100..]),
        NOTE_ON
    );
    assert_eq!(pin.allocator().stats().outstanding_events, 0);
    drop(pin);
    drop(port);
}

// ---------------------------------------------------------------------------------------------
// Events whose fields lie, sent to the capture sink, the packer, the sequencer, every sample
// filter and the UART render stream. What is documented (`Event::data`, the allocator's
// `Anomalies`): a length beyond the event's buffer reads the buffer only (240 bytes, never
// more); a long event without a buffer holds no data; a package's `cbEvent` means nothing (its
// contents are what it holds). Every event goes back to the allocator exactly once; the one
// thing counted as misuse is each buffer-less long event, when it reaches the allocator.
// ---------------------------------------------------------------------------------------------

/// 80 note-ons: exactly the 240 bytes of an allocator buffer.
fn notes_240() -> Vec<u8> {
    NOTE_ON.repeat(80)
}

/// How an event lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    /// `cbEvent` 1000: more than its buffer, which holds [`notes_240`] (all 240 bytes written).
    Length,
    /// `cbEvent` 20 and `pbData` NULL.
    NoBuffer,
    /// A package (holding one note-on) whose `cbEvent` says 20 bytes.
    PackageLength,
}

const LIES: [Lie; 3] = [Lie::Length, Lie::NoBuffer, Lie::PackageLength];

/// An event of `alloc` on group 1 at time 0 that lies as `lie` says, INCOMPLETE if
/// `incomplete` (for a package: its contents).
fn lying_event(alloc: &IAllocatorMXF, lie: Lie, incomplete: bool) -> Event<'_> {
    let mut e = match lie {
        Lie::Length => Event::with_bytes(alloc, &notes_240(), 1, 0).unwrap(),
        Lie::NoBuffer => Event::with_bytes(alloc, &[0x90], 1, 0).unwrap(),
        Lie::PackageLength => {
            let mut note = Event::with_bytes(alloc, NOTE_ON, 1, 0).unwrap();
            note.set_incomplete(incomplete);
            let mut contents = Chain::new(alloc);
            contents.push_back(note);
            let mut shell = Event::new(alloc).unwrap();
            shell.set_channel_group(1);
            shell.into_package(contents).unwrap()
        }
    };
    if lie != Lie::PackageLength {
        e.set_incomplete(incomplete);
    }
    let raw: *mut DMUS_KERNEL_EVENT = e.into_raw();
    // SAFETY: `raw` is a live event of `alloc` that we own. Only `cbEvent` and, for the event
    // that had inline bytes, `pbData` are written: the lie a miniport or client could tell
    // through the ABI. Nothing is leaked by it (the long event keeps its buffer, the short one
    // had none).
    unsafe {
        match lie {
            Lie::Length => (*raw).cbEvent = 1000,
            Lie::NoBuffer => {
                (*raw).cbEvent = 20;
                (*raw).uData.pbData = core::ptr::null_mut();
            }
            Lie::PackageLength => (*raw).cbEvent = 20,
        }
    }
    // SAFETY: the same live event of `alloc`, given back to an owner.
    unsafe { Event::from_raw(raw, alloc) }.unwrap()
}

/// Puts one lying event into `target` through its vtable.
fn put_lie(alloc: &IAllocatorMXF, target: &IMXF, lie: Lie, incomplete: bool) {
    let mut c = Chain::new(alloc);
    c.push_back(lying_event(alloc, lie, incomplete));
    c.deliver(Some(target));
}

/// Every event and buffer back, and the only misuse counted is `no_buffer` buffer-less events.
#[track_caller]
fn books_after_lies(s: &AllocatorStats, no_buffer: u64, what: &str) {
    assert_eq!(
        (s.outstanding_events, s.outstanding_buffers),
        (0, 0),
        "{what}: {s:?}"
    );
    assert_eq!(s.anomalies.foreign_buffers, no_buffer, "{what}: {s:?}");
    assert_eq!(s.anomalies.misuse(), no_buffer, "{what}: {s:?}");
}

fn allocator() -> AllocatorHandle {
    AllocatorHandle::new(AllocatorConfig::default(), None).unwrap()
}

fn bytes_of(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.bytes.clone()).collect()
}

#[test]
fn the_capture_sink_reads_what_lying_events_hold_and_no_more() {
    let alloc = allocator();
    let a = alloc.interface();
    let sink = CaptureSinkHandle::new(a.clone()).unwrap();
    let (recorder, log) = Recorder::create(a).unwrap();
    assert_eq!(sink.ConnectOutput(Some(recorder.to_ref())), STATUS_SUCCESS);
    for s in [KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN] {
        assert_eq!(sink.SetState(s), STATUS_SUCCESS);
    }
    // Raw bytes (INCOMPLETE) are parsed: the buffer's 240 bytes, 80 note-ons, not 1000 bytes.
    put_lie(a, sink.interface(), Lie::Length, true);
    assert_eq!(bytes_of(&log.take()), vec![NOTE_ON.to_vec(); 80]);
    // A COMPLETE event is forwarded verbatim: its data is the buffer.
    put_lie(a, sink.interface(), Lie::Length, false);
    assert_eq!(bytes_of(&log.take()), [notes_240()]);
    // No buffer: no bytes to parse, and a COMPLETE one holds no data, so it is not forwarded
    // either (as an event of length 0 is not): both go back to the allocator.
    put_lie(a, sink.interface(), Lie::NoBuffer, true);
    assert!(log.take().is_empty());
    put_lie(a, sink.interface(), Lie::NoBuffer, false);
    assert!(log.take().is_empty());
    assert_eq!(sink.stats().empty_events, 2);
    // A package's length is ignored: its contents are parsed, the shell goes back.
    put_lie(a, sink.interface(), Lie::PackageLength, true);
    put_lie(a, sink.interface(), Lie::PackageLength, false);
    let got = log.take();
    assert_eq!(bytes_of(&got), [NOTE_ON.to_vec(), NOTE_ON.to_vec()]);
    assert!(got.iter().all(|r| !r.is_package() && !r.is_incomplete()));
    drop(sink);
    drop(recorder);
    books_after_lies(&alloc.stats(), 2, "capture sink");
}

#[test]
fn the_packer_writes_what_lying_events_hold_and_no_more() {
    let alloc = allocator();
    let a = alloc.interface();
    let packer = PackerHandle::new(a.clone(), PackerFormat::DirectMusic).unwrap();
    for lie in LIES {
        put_lie(a, packer.interface(), lie, false);
    }
    let mut irp = [0u8; 1024];
    let f = packer.fill(&mut irp, 0);
    let got = payloads(
        StreamFormat::DirectMusic,
        &CapturedBuffer {
            data: irp[..f.bytes].to_vec(),
            base_time: 0,
            discontinuity: false,
        },
    );
    // The buffer's 240 bytes (a record of cbEvent 240), nothing for the buffer-less event (no
    // record for an event without data bytes), the package's note-on.
    assert_eq!(got, [notes_240(), NOTE_ON.to_vec()]);
    assert_eq!(packer.stats().empty_events, 1);
    assert_eq!(packer.queued(), 0);
    drop(packer);
    books_after_lies(&alloc.stats(), 1, "packer");
}

/// A master clock that always says 0.
#[com_object(IMasterClock)]
struct ClockAtZero;

impl IMasterClock_Impl for ClockAtZero {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(0) };
        STATUS_SUCCESS
    }
}

#[test]
fn the_sequencer_delivers_lying_events_as_they_are() {
    let alloc = allocator();
    let a = alloc.interface();
    let clock: IMasterClock = ClockAtZero.into_com().unwrap();
    let seq = SequencerHandle::new(a.clone(), clock, DONT_HOLD_FOR_SEQUENCING).unwrap();
    let (recorder, log) = Recorder::create(a).unwrap();
    assert_eq!(seq.ConnectOutput(Some(recorder.to_ref())), STATUS_SUCCESS);
    for lie in LIES {
        put_lie(a, seq.interface(), lie, false);
    }
    seq.process_queues();
    // The sequencer reads no data: each event arrives whole, the package as a package.
    let got = log.take();
    assert_eq!(
        bytes_of(&got),
        [notes_240(), vec![], vec![], NOTE_ON.to_vec()]
    );
    assert!(got[2].is_package() && got[3].depth == 1);
    assert_eq!(seq.queued(), 0);
    drop(seq);
    drop(recorder);
    books_after_lies(&alloc.stats(), 1, "sequencer");
}

/// Every sample filter, configured so that it acts on note-ons of channel 1.
fn sample_filters(alloc: &IAllocatorMXF) -> Vec<(&'static str, IMXF)> {
    let map = ChannelMap::new().remap(1, u4::new(0), u4::new(5)).unwrap();
    every_sample(alloc, map)
}

#[test]
fn every_sample_filter_copes_with_lying_events() {
    for k in 0..sample_filters(allocator().interface()).len() {
        let alloc = allocator();
        let a = alloc.interface();
        let (name, filter) = sample_filters(a).swap_remove(k);
        let (recorder, log) = Recorder::create(a).unwrap();
        assert_eq!(
            filter.ConnectOutput(Some(recorder.to_ref())),
            STATUS_SUCCESS
        );
        for incomplete in [false, true] {
            for lie in LIES {
                put_lie(a, &filter, lie, incomplete);
            }
        }
        let got = log.take();
        // Nothing is read beyond a buffer; the package's note-on comes through (changed as the
        // filter changes notes).
        assert!(got.iter().all(|r| r.bytes.len() <= 240), "{name}");
        assert!(
            got.iter()
                .any(|r| r.depth == 0 && r.bytes.len() == 3 && r.bytes[0] & 0xF0 == 0x90),
            "{name}: {got:?}"
        );
        drop(filter);
        drop(recorder);
        // Each of the two buffer-less events reaches the allocator once.
        books_after_lies(&alloc.stats(), 2, name);
    }
}

/// Replaces every event it gets (which goes back to the allocator, completing its IRP) with
/// one lying event of each kind.
#[mxf_filter]
struct Liar;

impl Filter for Liar {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        drop(event);
        let alloc = out.allocator();
        for lie in LIES {
            out.push(lying_event(alloc, lie, false));
        }
    }
}

#[test]
fn the_uart_render_stream_writes_what_lying_events_hold_and_no_more() {
    let mpu = VirtualMpu401::new();
    let port = Port::new(
        create_uart_miniport(mpu.clone()).unwrap(),
        ClockMode::Virtual,
    )
    .unwrap();
    let pin = port
        .open_render_pin(
            1,
            StreamFormat::DirectMusic,
            FilterPlacement::AfterSequencer,
            |alloc| Ok(vec![Liar.into_filter(alloc)?.into_interface()]),
        )
        .unwrap();
    pin.set_state(KSSTATE_RUN).unwrap();
    let mut buf = vec![0u8; 64];
    let mut w = DmusBufferWriter::new(&mut buf);
    w.push(1, 0, true, PROGRAM).unwrap();
    let n = w.len();
    buf.truncate(n);
    pin.submit(buf, 20_000).unwrap();
    for _ in 0..100 {
        port.run_timers();
        mpu.run_timers(port.now());
        match [port.next_timer(), mpu.next_timer()]
            .into_iter()
            .flatten()
            .min()
        {
            Some(t) => port.set_time(t.max(port.now())),
            None => break,
        }
    }
    // The device got the buffer's 240 bytes, nothing for the buffer-less event, the package's
    // note-on; the IRP completed.
    let wire: Vec<u8> = mpu.take_output().into_iter().map(|(_, b)| b).collect();
    assert_eq!(wire, [notes_240(), NOTE_ON.to_vec()].concat());
    assert_eq!(pin.completed_irps(), 1);
    let stats = pin.allocator().stats();
    drop(pin);
    drop(port);
    books_after_lies(&stats, 1, "render stream");
}
