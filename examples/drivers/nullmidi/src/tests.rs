//! The driver's own code on the host: the declaration driven as the kernel drives it (through
//! `mxf::driver::testing`), and the miniport under the user-mode DMus port.

use super::*;
use mxf::driver::Driver;
use mxf::driver::testing::{Call, FakeKernel, FakePort};
use mxf::miniport::Format;
use mxf::platform::fault;
use mxf::testing::{Rig, msg, package};

#[test]
fn the_driver_installs_two_null_outputs_and_leaves_nothing_behind() {
    let before = fault::live_blocks();
    let kernel = FakeKernel::load::<NullMidi>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(kernel.start_device(None), STATUS_SUCCESS);
    assert_eq!(FakeKernel::registered(), ["NullMidi1", "NullMidi2"]);
    let inits = FakeKernel::calls()
        .iter()
        .filter(|c| {
            **c == Call::PortInit {
                status: STATUS_SUCCESS,
            }
        })
        .count();
    assert_eq!(inits, 2);
    kernel.remove_device();
    assert_eq!(fault::live_blocks(), before);
    kernel.unload();
}

#[test]
fn the_inf_names_both_subdevices() {
    let subdevices: Vec<_> = NullMidi::SUBDEVICES
        .iter()
        .map(|s| s.inf_subdevice())
        .collect();
    let mut inf = String::new();
    mxf::miniport::inf::write_inf(&mut inf, &INF, &subdevices).expect("an INF");
    for name in ["NullMidi1", "NullMidi2"] {
        assert!(
            inf.contains(&format!("AddInterface=%KSCATEGORY_AUDIO%,%KSNAME_{name}%")),
            "{inf}"
        );
        assert!(
            inf.contains(&format!("AddInterface=%KSCATEGORY_RENDER%,%KSNAME_{name}%")),
            "{inf}"
        );
    }
    assert!(
        !inf.contains("KSCATEGORY_CAPTURE%,"),
        "no capture pin, no capture interface"
    );
    assert!(inf.contains("ServiceBinary=%12%\\nullmidi.sys"));
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

/// `NewStream` as PortCls calls it when a client opens `pin` with a bare `format` header.
fn new_stream(
    miniport: &MiniportHandle<NullOut>,
    rig: &Rig,
    pin: u32,
    stream_type: DMUS_STREAM_TYPE,
    format: Format,
) -> (NTSTATUS, Option<IMXF>) {
    let port = FakePort::create().expect("a port");
    let mut group = None;
    // SAFETY: live interfaces, a valid out-pointer.
    let init =
        unsafe { miniport.Init(None, core::ptr::null_mut(), Some(port.to_ref()), &mut group) };
    assert!(
        init == STATUS_SUCCESS || init == STATUS_INVALID_DEVICE_STATE,
        "{init:?}"
    );
    let clock: IMasterClock = Stopped.into_com().expect("a clock");
    let allocator: &IAllocatorMXF = rig.allocator();
    let mut data_format = format.header().format();
    let (mut stream, mut stream_group, mut prefetch) = (None, None, 0);
    // SAFETY: live miniport, allocator and clock; valid out-pointers and format.
    let status = unsafe {
        miniport.NewStream(
            &mut stream,
            None,
            NonPagedPool,
            pin,
            stream_type,
            &mut data_format,
            &mut stream_group,
            Some(allocator.to_ref()),
            Some(clock.to_ref()),
            &mut prefetch,
        )
    };
    (status, stream)
}

#[test]
fn every_event_played_goes_back_to_the_allocator() -> Result<()> {
    let miniport = NullOut.into_miniport()?;
    let rig = Rig::new()?;
    let (status, stream) = new_stream(&miniport, &rig, 0, DMUS_STREAM_MIDI_RENDER, Format::Midi);
    assert_eq!(status, STATUS_SUCCESS);
    let stream = stream.expect("a render stream");
    assert_eq!(stream.SetState(KSSTATE_RUN), STATUS_SUCCESS);
    // Even with a sink connected, nothing passes: every event, a package's contents too, goes
    // back to the allocator.
    assert_eq!(
        stream.ConnectOutput(Some(rig.sink().to_ref())),
        STATUS_SUCCESS
    );
    let status = rig.put(
        &stream,
        &[
            msg(&[0x90, 60, 100]),
            msg(&[0x80, 60, 0]).at(10_000),
            package([msg(&[0xB0, 7, 100]), msg(&[0xC0, 5])]),
        ],
    )?;
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(rig.calls(), 0, "nothing reached the sink");
    rig.assert_balanced();
    assert_eq!(rig.allocator().stats().outstanding_events, 0);
    assert!(
        rig.allocator().stats().gets >= 5,
        "the events were the allocator's"
    );

    // What the declaration refuses: a capture stream, DirectMusic data, the bridge pin.
    let refused = [
        (0, DMUS_STREAM_MIDI_CAPTURE, Format::Midi),
        (0, DMUS_STREAM_MIDI_RENDER, Format::DirectMusic),
        (1, DMUS_STREAM_MIDI_RENDER, Format::Midi),
    ];
    for (pin, stream_type, format) in refused {
        let (status, stream) = new_stream(&miniport, &rig, pin, stream_type, format);
        assert!(
            !status.is_success() && stream.is_none(),
            "{pin} {stream_type:?} {format:?}"
        );
    }
    Ok(())
}
