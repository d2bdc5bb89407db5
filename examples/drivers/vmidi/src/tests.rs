//! The driver's own code on the host: the declaration driven as the kernel drives it (through
//! `mxf::driver::testing`), and the miniport's streams called through their vtables as the DMus
//! port calls them (the user-mode port's own tests are the root package's `tests/vmidi.rs`).

use super::*;
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::driver::Driver;
use mxf::driver::testing::{Call, FakeKernel, FakePort};
use mxf::miniport::{Format, IntoMiniport};
use mxf::platform::fault;
use mxf::testing::{Rig, fragments, msg, note_off, note_on, package, set_state};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn the_driver_installs_three_cables_and_leaves_nothing_behind() {
    let before = fault::live_blocks();
    let kernel = FakeKernel::load::<VirtualMidi>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(kernel.start_device(None), STATUS_SUCCESS);
    assert_eq!(
        FakeKernel::registered(),
        ["VirtualMidi1", "VirtualMidi2", "VirtualMidi3"]
    );
    let inits = FakeKernel::calls()
        .iter()
        .filter(|c| {
            **c == Call::PortInit {
                status: STATUS_SUCCESS,
            }
        })
        .count();
    assert_eq!(inits, 3);
    kernel.remove_device();
    assert_eq!(fault::live_blocks(), before);
    kernel.unload();
}

#[test]
fn the_inf_names_every_cable_with_its_three_interfaces() {
    let subdevices: Vec<_> = VirtualMidi::SUBDEVICES
        .iter()
        .map(|s| s.inf_subdevice())
        .collect();
    let mut inf = String::new();
    mxf::miniport::inf::write_inf(&mut inf, &INF, &subdevices).expect("an INF");
    for name in ["VirtualMidi1", "VirtualMidi2", "VirtualMidi3"] {
        for category in ["AUDIO", "RENDER", "CAPTURE"] {
            assert!(
                inf.contains(&format!(
                    "AddInterface=%KSCATEGORY_{category}%,%KSNAME_{name}%"
                )),
                "{name} {category}\n{inf}"
            );
        }
    }
    assert!(
        inf.contains("\"Virtual MIDI cable 3 (octave up)\""),
        "{inf}"
    );
    assert!(inf.contains("ServiceBinary=%12%\\vmidi.sys"));
}

#[test]
fn the_declaration_is_dmusuarts_shape_with_several_render_streams() {
    let d = VMIDI_CABLE.descriptor();
    assert_eq!((d.PinCount, d.NodeCount, d.ConnectionCount), (5, 2, 5));
    let kinds: Vec<_> = (0..5)
        .map(|p| {
            let pin = VMIDI_CABLE.pin(p).expect("a pin");
            (pin.kind().direction(), pin.formats().to_vec())
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (Some(Direction::Render), vec![Format::Midi]),
            (Some(Direction::Render), vec![Format::DirectMusic]),
            (None, vec![Format::MidiBus]),
            (None, vec![Format::MidiBus]),
            (
                Some(Direction::Capture),
                vec![Format::Midi, Format::DirectMusic]
            ),
        ]
    );
    let render = VMIDI_CABLE.pin(pins::MIDI_OUT).expect("pin 0").instances();
    assert_eq!(render.filter, MAX_RENDER_STREAMS_PER_PIN);
    let capture = VMIDI_CABLE.pin(pins::INPUT).expect("pin 4").instances();
    assert_eq!(capture.filter, 1);
}

/// The port's master clock, stopped at 0.
#[com_object(IMasterClock)]
struct Stopped;

impl IMasterClock_Impl for Stopped {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        // SAFETY: the caller's out-pointer.
        unsafe { time.write(0) };
        STATUS_SUCCESS
    }
}

/// The capture pin's part of the port: a member of the stream's group whose service is
/// `PutMessage(NULL)` on the stream (`domain.md` item 66).
#[com_object(IServiceSink)]
struct Service {
    stream: IMXF,
    calls: Arc<AtomicUsize>,
}

impl IServiceSink_Impl for Service {
    fn RequestService(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // SAFETY: a live stream; NULL is the capture stream's cue.
        unsafe { self.stream.PutMessage(core::ptr::null_mut()) };
    }
}

/// A cable after `Init`.
fn cable(config: CableConfig) -> MiniportHandle<Cable> {
    let miniport = Cable::new(config).into_miniport().expect("a cable");
    let port = FakePort::create().expect("a port");
    let mut group = None;
    // SAFETY: live interfaces, a valid out-pointer.
    let init =
        unsafe { miniport.Init(None, core::ptr::null_mut(), Some(port.to_ref()), &mut group) };
    assert_eq!(init, STATUS_SUCCESS);
    assert!(group.is_none(), "a cable needs no miniport service");
    miniport
}

/// `NewStream` as PortCls calls it when a client opens `pin` with a bare `format` header.
fn new_stream(
    miniport: &MiniportHandle<Cable>,
    allocator: &IAllocatorMXF,
    pin: u32,
    stream_type: DMUS_STREAM_TYPE,
    format: Format,
) -> Result<(IMXF, Option<IServiceGroup>, u64)> {
    let clock: IMasterClock = Stopped.into_com()?;
    let mut data_format = format.header().format();
    let (mut stream, mut group, mut prefetch) = (None, None, 99);
    // SAFETY: live miniport, allocator and clock; valid out-pointers and format.
    let status = unsafe {
        miniport.NewStream(
            &mut stream,
            None,
            NonPagedPool,
            pin,
            stream_type,
            &mut data_format,
            &mut group,
            Some(allocator.to_ref()),
            Some(clock.to_ref()),
            &mut prefetch,
        )
    };
    if !status.is_success() {
        assert!(stream.is_none() && group.is_none() && prefetch == 0);
        return Err(status);
    }
    Ok((stream.expect("a stream"), group, prefetch))
}

/// A capture stream on `rig`'s allocator, connected to its recorder and serviced as the port
/// does; in RUN.
fn capture(
    miniport: &MiniportHandle<Cable>,
    rig: &Rig,
    format: Format,
) -> (IMXF, IServiceGroup, IServiceSink, Arc<AtomicUsize>) {
    let (stream, group, prefetch) = new_stream(
        miniport,
        rig.allocator(),
        pins::INPUT,
        DMUS_STREAM_MIDI_CAPTURE,
        format,
    )
    .expect("a capture stream");
    assert_eq!(prefetch, 0);
    let group = group.expect("a capture stream comes with a service group");
    rig.connect(&stream).expect("connected to the recorder");
    let calls = Arc::new(AtomicUsize::new(0));
    let service: IServiceSink = Service {
        stream: stream.clone(),
        calls: calls.clone(),
    }
    .into_com()
    .expect("a service sink");
    assert_eq!(group.AddMember(Some(service.to_ref())), STATUS_SUCCESS);
    assert_eq!(set_state(&stream, KSSTATE_RUN), STATUS_SUCCESS);
    (stream, group, service, calls)
}

/// A render stream on `rig`'s allocator, in RUN.
fn render(miniport: &MiniportHandle<Cable>, rig: &Rig, pin: u32, format: Format) -> IMXF {
    let (stream, group, prefetch) = new_stream(
        miniport,
        rig.allocator(),
        pin,
        DMUS_STREAM_MIDI_RENDER,
        format,
    )
    .expect("a render stream");
    assert!(group.is_none(), "the sequencer feeds a render stream");
    assert_eq!(prefetch, 0, "events when they are due");
    assert_eq!(set_state(&stream, KSSTATE_RUN), STATUS_SUCCESS);
    stream
}

#[test]
fn what_is_rendered_is_captured_as_raw_bytes_with_its_time_and_group() {
    let before = fault::live_blocks();
    {
        let miniport = cable(CableConfig::PLAIN);
        let (render_rig, capture_rig) = (Rig::new().unwrap(), Rig::new().unwrap());
        let (cap, group, service, calls) = capture(&miniport, &capture_rig, Format::DirectMusic);
        let dm = render(
            &miniport,
            &render_rig,
            pins::DMUSIC_OUT,
            Format::DirectMusic,
        );
        let long = [&[0xF0][..], &[0x11; 298], &[0xF7]].concat();
        let mut input = vec![
            note_on(0, 60, 100).at(10).group(2),
            package([note_off(0, 60, 0).at(20)]),
        ];
        input.extend(fragments(&long, 240).into_iter().map(|e| e.at(30)));
        assert_eq!(render_rig.put(&dm, &input).unwrap(), STATUS_SUCCESS);
        let got = capture_rig.take_received();
        assert_eq!(
            got,
            [
                msg(&[0x90, 60, 100]).at(10).group(2).incomplete(),
                msg(&[0x80, 60, 0]).at(20).incomplete(),
                msg(&long[..240]).at(30).incomplete(),
                msg(&long[240..]).at(30).incomplete(),
            ]
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one service per chain");
        assert_eq!(
            miniport.miniport().stats(),
            CableStats {
                rendered: 4,
                queued: 4,
                captured: 4,
                ..CableStats::default()
            }
        );
        // Every render event (and the package's shell) went back to the render allocator; the
        // copies are the capture allocator's, now the recorder's to give back.
        render_rig.assert_balanced();
        assert_eq!(capture_rig.allocator().stats().outstanding_events, 0);
        group.RemoveMember(Some(service.to_ref()));
        drop((cap, dm, service, group));
        capture_rig.assert_balanced();
    }
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn a_bytestream_stream_parses_before_its_filters_and_several_streams_feed_one_capture() {
    let miniport = cable(CableConfig::with_filters(OCTAVE_UP));
    let (midi_rig, dm_rig, capture_rig) = (
        Rig::new().unwrap(),
        Rig::new().unwrap(),
        Rig::new().unwrap(),
    );
    let (cap, group, service, _calls) = capture(&miniport, &capture_rig, Format::Midi);
    let midi = render(&miniport, &midi_rig, pins::MIDI_OUT, Format::Midi);
    let dm = render(&miniport, &dm_rig, pins::DMUSIC_OUT, Format::DirectMusic);
    assert_eq!(miniport.miniport().render_streams(pins::MIDI_OUT), 1);
    // Raw bytes as the KS unpacker delivers them: a note on cut in two, then a note off by
    // running status. The parser makes messages of them; the transpose sees whole notes.
    midi_rig
        .send(
            &midi,
            &[
                msg(&[0x90, 60]).incomplete().at(5),
                msg(&[100, 60, 0]).incomplete().at(6),
            ],
        )
        .unwrap();
    dm_rig
        .send(&dm, &[note_on(1, 64, 90).at(7), note_off(1, 64, 0).at(8)])
        .unwrap();
    assert_eq!(
        capture_rig.take_received(),
        [
            msg(&[0x90, 72, 100]).at(5).incomplete(),
            msg(&[0x90, 72, 0]).at(6).incomplete(),
            msg(&[0x91, 76, 90]).at(7).incomplete(),
            msg(&[0x81, 76, 0]).at(8).incomplete(),
        ]
    );
    midi_rig.assert_balanced();
    dm_rig.assert_balanced();
    group.RemoveMember(Some(service.to_ref()));
    drop((cap, midi, dm, service, group));
    assert_eq!(miniport.miniport().render_streams(pins::MIDI_OUT), 0);
    assert!(!miniport.miniport().has_capture());
    capture_rig.assert_balanced();
}

#[test]
fn new_stream_refuses_what_the_declaration_does_not_offer() {
    let miniport = cable(CableConfig::PLAIN);
    let rig = Rig::new().unwrap();
    let alloc: &IAllocatorMXF = rig.allocator();
    let refused = [
        // Capture on a render pin, render on the capture pin, the bridges, no such pin.
        (
            pins::MIDI_OUT,
            DMUS_STREAM_MIDI_CAPTURE,
            Format::Midi,
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            pins::INPUT,
            DMUS_STREAM_MIDI_RENDER,
            Format::Midi,
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            pins::CABLE_OUT,
            DMUS_STREAM_MIDI_RENDER,
            Format::Midi,
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            pins::CABLE_IN,
            DMUS_STREAM_MIDI_CAPTURE,
            Format::Midi,
            STATUS_INVALID_DEVICE_REQUEST,
        ),
        (
            5,
            DMUS_STREAM_MIDI_RENDER,
            Format::Midi,
            STATUS_INVALID_PARAMETER,
        ),
        // The wrong format for the pin.
        (
            pins::MIDI_OUT,
            DMUS_STREAM_MIDI_RENDER,
            Format::DirectMusic,
            STATUS_NO_MATCH,
        ),
        (
            pins::DMUSIC_OUT,
            DMUS_STREAM_MIDI_RENDER,
            Format::Midi,
            STATUS_NO_MATCH,
        ),
        (
            pins::INPUT,
            DMUS_STREAM_MIDI_CAPTURE,
            Format::MidiBus,
            STATUS_NO_MATCH,
        ),
    ];
    for (pin, stream_type, format, status) in refused {
        assert_eq!(
            new_stream(&miniport, alloc, pin, stream_type, format).err(),
            Some(status),
            "{pin} {stream_type:?} {format:?}"
        );
    }
    // One capture stream per cable, four render streams per render pin.
    let (cap, _, _) = new_stream(
        &miniport,
        alloc,
        pins::INPUT,
        DMUS_STREAM_MIDI_CAPTURE,
        Format::Midi,
    )
    .unwrap();
    assert_eq!(
        new_stream(
            &miniport,
            alloc,
            pins::INPUT,
            DMUS_STREAM_MIDI_CAPTURE,
            Format::DirectMusic
        )
        .err(),
        Some(STATUS_INVALID_DEVICE_REQUEST)
    );
    let renders: Vec<_> = (0..MAX_RENDER_STREAMS_PER_PIN)
        .map(|_| {
            new_stream(
                &miniport,
                alloc,
                pins::MIDI_OUT,
                DMUS_STREAM_MIDI_RENDER,
                Format::Midi,
            )
            .unwrap()
        })
        .collect();
    assert_eq!(
        new_stream(
            &miniport,
            alloc,
            pins::MIDI_OUT,
            DMUS_STREAM_MIDI_RENDER,
            Format::Midi
        )
        .err(),
        Some(STATUS_INVALID_DEVICE_REQUEST)
    );
    // The other render pin has its own count.
    let dm = new_stream(
        &miniport,
        alloc,
        pins::DMUSIC_OUT,
        DMUS_STREAM_MIDI_RENDER,
        Format::DirectMusic,
    )
    .unwrap();
    // Closing frees the slots.
    drop((cap, renders, dm));
    assert!(
        new_stream(
            &miniport,
            alloc,
            pins::INPUT,
            DMUS_STREAM_MIDI_CAPTURE,
            Format::Midi
        )
        .is_ok()
    );
    rig.assert_balanced();
}

#[test]
fn drops_are_counted_and_nothing_leaks() {
    let before = fault::live_blocks();
    {
        let miniport = cable(CableConfig {
            filters: &[],
            queue_events: 3,
        });
        let render_rig = Rig::new().unwrap();
        // A capture allocator with room for four events.
        let capture_rig = Rig::with_config(AllocatorConfig {
            max_events: Some(4),
            ..AllocatorConfig::default()
        })
        .unwrap();
        let out = render(&miniport, &render_rig, pins::MIDI_OUT, Format::Midi);
        let notes = |n: u8| -> Vec<_> { (0..n).map(|k| note_on(0, 60 + k, 100)).collect() };
        let bytes = |v: Vec<mxf::testing::Ev<'static>>| -> Vec<_> {
            v.into_iter()
                .map(|e| msg(e.data().to_vec()).incomplete())
                .collect()
        };
        // No capture stream: dropped.
        render_rig.send(&out, &bytes(notes(2))).unwrap();
        let s = miniport.miniport().stats();
        assert_eq!((s.rendered, s.dropped_no_capture), (2, 2));

        // A capture stream nobody services: the queue fills (3), the rest is counted.
        let (cap, _, _) = new_stream(
            &miniport,
            capture_rig.allocator(),
            pins::INPUT,
            DMUS_STREAM_MIDI_CAPTURE,
            Format::Midi,
        )
        .unwrap();
        // In STOP it takes nothing either.
        render_rig.send(&out, &bytes(notes(1))).unwrap();
        assert_eq!(miniport.miniport().stats().dropped_no_capture, 3);
        assert_eq!(set_state(&cap, KSSTATE_RUN), STATUS_SUCCESS);
        render_rig.send(&out, &bytes(notes(5))).unwrap();
        let s = miniport.miniport().stats();
        assert_eq!((s.queued, s.dropped_full), (3, 2));
        assert_eq!(miniport.miniport().queued(), 3);
        // One more event is left in the capture allocator: a full queue is refused first.
        assert_eq!(capture_rig.allocator().stats().outstanding_events, 3);

        // PAUSE keeps the queue and stops accepting.
        assert_eq!(set_state(&cap, KSSTATE_PAUSE), STATUS_SUCCESS);
        render_rig.send(&out, &bytes(notes(1))).unwrap();
        assert_eq!(miniport.miniport().stats().dropped_no_capture, 4);
        assert_eq!(miniport.miniport().queued(), 3);
        // A pull in PAUSE sends what is queued (unconnected: to the allocator).
        assert_eq!(mxf::testing::put_null(&cap), STATUS_SUCCESS);
        assert_eq!(miniport.miniport().stats().captured, 3);
        assert_eq!(capture_rig.allocator().stats().outstanding_events, 0);

        // The capture allocator runs dry: counted.
        assert_eq!(set_state(&cap, KSSTATE_RUN), STATUS_SUCCESS);
        let hog: Vec<_> = (0..2)
            .map(|_| Event::new(capture_rig.allocator()).expect("an event"))
            .collect();
        render_rig.send(&out, &bytes(notes(3))).unwrap();
        let s = miniport.miniport().stats();
        assert_eq!((s.queued, s.dropped_no_event), (5, 1));
        drop(hog);

        // STOP flushes the queue; closing flushes it too.
        assert_eq!(set_state(&cap, KSSTATE_STOP), STATUS_SUCCESS);
        assert_eq!(miniport.miniport().stats().flushed, 2);
        assert_eq!(set_state(&cap, KSSTATE_RUN), STATUS_SUCCESS);
        render_rig.send(&out, &bytes(notes(1))).unwrap();
        drop(cap);
        let s = miniport.miniport().stats();
        assert_eq!(s.flushed, 3);
        assert_eq!(s.rendered, s.queued + s.dropped());
        assert_eq!(s.queued, s.captured + s.flushed);
        render_rig.assert_balanced();
        capture_rig.assert_balanced();
        drop((out, miniport));
    }
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn a_render_stream_holds_outside_run_and_returns_on_stop() {
    let miniport = cable(CableConfig::PLAIN);
    let (render_rig, capture_rig) = (Rig::new().unwrap(), Rig::new().unwrap());
    let (cap, group, service, _) = capture(&miniport, &capture_rig, Format::DirectMusic);
    let dm = render(
        &miniport,
        &render_rig,
        pins::DMUSIC_OUT,
        Format::DirectMusic,
    );
    assert_eq!(set_state(&dm, KSSTATE_PAUSE), STATUS_SUCCESS);
    render_rig.send(&dm, &[note_on(0, 60, 100)]).unwrap();
    assert!(capture_rig.received().is_empty(), "held in PAUSE");
    assert_eq!(render_rig.allocator().stats().outstanding_events, 1);
    assert_eq!(set_state(&dm, KSSTATE_RUN), STATUS_SUCCESS);
    assert_eq!(capture_rig.take_received().len(), 1, "played on RUN");
    assert_eq!(set_state(&dm, KSSTATE_PAUSE), STATUS_SUCCESS);
    render_rig.send(&dm, &[note_on(0, 61, 100)]).unwrap();
    assert_eq!(set_state(&dm, KSSTATE_ACQUIRE), STATUS_SUCCESS);
    assert_eq!(set_state(&dm, KSSTATE_STOP), STATUS_SUCCESS);
    render_rig.assert_balanced();
    assert!(capture_rig.received().is_empty(), "STOP returned it");
    // In STOP a chain goes straight back; NULL is nothing; the output is the cable.
    render_rig.send(&dm, &[note_on(0, 62, 100)]).unwrap();
    assert_eq!(mxf::testing::put_null(&dm), STATUS_SUCCESS);
    assert_eq!(
        mxf::testing::connect_output(&dm, capture_rig.sink()),
        STATUS_UNSUCCESSFUL
    );
    render_rig.assert_balanced();
    // A capture stream takes no input.
    let status = capture_rig.put(&cap, &[note_on(0, 60, 1)]).unwrap();
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    group.RemoveMember(Some(service.to_ref()));
    drop((cap, dm, service, group));
    capture_rig.assert_balanced();
}

#[test]
fn failing_allocations_while_opening_leave_nothing_behind() {
    let miniport = cable(CableConfig::with_filters(OCTAVE_UP));
    let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
    let opens = [
        (pins::MIDI_OUT, DMUS_STREAM_MIDI_RENDER, Format::Midi),
        (
            pins::DMUSIC_OUT,
            DMUS_STREAM_MIDI_RENDER,
            Format::DirectMusic,
        ),
        (pins::INPUT, DMUS_STREAM_MIDI_CAPTURE, Format::Midi),
    ];
    for (pin, stream_type, format) in opens {
        let mut failures = 0;
        for n in 1.. {
            let before = fault::live_blocks();
            let opened = {
                let _plan = fault::fail_nth(n);
                new_stream(&miniport, &alloc, pin, stream_type, format)
            };
            match opened {
                Ok(stream) => {
                    drop(stream);
                    assert_eq!(fault::live_blocks(), before, "pin {pin}");
                    break;
                }
                Err(status) => {
                    failures += 1;
                    assert_eq!(status, STATUS_INSUFFICIENT_RESOURCES, "pin {pin}, n {n}");
                    assert_eq!(fault::live_blocks(), before, "pin {pin}, n {n}");
                }
            }
        }
        assert!(failures >= 2, "pin {pin}: {failures} allocations");
        assert_eq!(miniport.miniport().render_streams(pin), 0);
        assert!(!miniport.miniport().has_capture());
    }
    // The clock objects of `new_stream` are this test's own; the allocator is untouched.
    assert_eq!(alloc.stats().outstanding_events, 0);
}
