//! The scenario the double drives after `StartDevice`, through the project's DMus port
//! (`mxf::port`, the code the user-mode port runs): for each registered subdevice, each render
//! pin its descriptor offers is opened in each format it accepts, with the subdevice's capture
//! pin (if it has one) opened in the same format; the song is submitted to the render pin as
//! IRPs, the port's virtual clock is moved from timer to timer until the sequencer has nothing
//! left, what the capture pin's IRPs received is kept, and both pins are stopped and closed.
//!
//! Result lines (`kernel::RESULT_PATH`), one per pin and format:
//!
//! ```text
//! pin NAME ID render FORMAT messages M irps I bytes B events E dropped D truncated T exhausted X
//!     failures F completed C outstanding O buffers-outstanding O gets G puts P
//! pin NAME ID capture FORMAT from RENDER-ID irps I bytes B discontinuities D failures F
//!     outstanding O buffers-outstanding O gets G puts P
//! data NAME RENDER-ID FORMAT HEX...     the captured MIDI bytes, in order, in pieces
//! ```

use crate::kernel::line;
use crate::song;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::fmt::Write as _;
use mxf::abi::*;
use mxf::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR;
use mxf::interfaces::IMiniportDMus;
use mxf::port::{CapturePin, FilterPlacement, Port, StreamFormat};

/// The song (`$WINEPREFIX/drive_c/mxf-wine/song.bin`, written by the tier's host tool).
const SONG_PATH: &str = "\\??\\C:\\mxf-wine\\song.bin";
/// Size of each capture IRP.
const CAPTURE_IRP: usize = 4096;
/// Capture IRPs queued before the song is played.
const CAPTURE_IRPS: usize = 8;
/// The most timer runs of one render pin (the demo song has a few hundred event times).
const MAX_TIMER_RUNS: u32 = 100_000;

/// The resource list `StartDevice` gets: the I/O port range of an MPU-401 at 0x330 (two ports),
/// as PnP assigns one to a `*PNPB006` card. Drivers without hardware ignore it; the UART driver
/// takes it (no port is ever accessed there: `kernel.md` §3, `docs/driver.md`).
pub fn resources() -> Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR> {
    let mut port = CM_PARTIAL_RESOURCE_DESCRIPTOR {
        Type: mxf::driver::CmResourceTypePort as u8,
        // CmResourceShareDeviceExclusive, CM_RESOURCE_PORT_IO.
        ShareDisposition: 1,
        Flags: 1,
        ..Default::default()
    };
    for (word, value) in port.u.iter_mut().zip([0x330, 0, 2]) {
        *word = value;
    }
    alloc::vec![port]
}

fn format_of(subformat: GUID) -> Option<(&'static str, StreamFormat, u32)> {
    if subformat == KSDATAFORMAT_SUBTYPE_MIDI {
        Some(("midi", StreamFormat::Ks, song::FORMAT_MIDI))
    } else if subformat == KSDATAFORMAT_SUBTYPE_DIRECTMUSIC {
        Some((
            "directmusic",
            StreamFormat::DirectMusic,
            song::FORMAT_DIRECTMUSIC,
        ))
    } else {
        None
    }
}

fn hex(status: NTSTATUS) -> u32 {
    status.0.cast_unsigned()
}

/// A registered subdevice: its name, and the port `IPort::Init` made with its miniport.
pub type Subdevice = (String, Option<(Arc<Port>, IMiniportDMus)>);

/// Runs the scenario over the registered subdevices.
pub fn run(subdevices: &[Subdevice]) {
    let bytes = match crate::nt::read_file(SONG_PATH) {
        Ok(b) => b,
        Err(status) => {
            line!("song unreadable status {:08x}", hex(status));
            return;
        }
    };
    let Some((mut reader, count)) = song::Reader::new(&bytes) else {
        line!("song malformed");
        return;
    };
    let mut sections = Vec::new();
    for _ in 0..count {
        match reader.section() {
            Some(s) => sections.push(s),
            None => {
                line!("song malformed");
                return;
            }
        }
    }
    for (name, port) in subdevices {
        let Some((port, miniport)) = port else {
            line!("subdevice {name} no miniport");
            continue;
        };
        subdevice(name, port, miniport, &sections);
    }
}

/// One pin of the descriptor: its id, direction and the formats of its ranges.
struct Pin {
    id: u32,
    render: bool,
    formats: Vec<GUID>,
}

fn pins(name: &str, miniport: &IMiniportDMus) -> Option<Vec<Pin>> {
    let mut description: *mut c_void = core::ptr::null_mut();
    // SAFETY: a live miniport; a valid out-pointer.
    let status = unsafe { miniport.GetDescription(&mut description) };
    let filter = description.cast::<PCFILTER_DESCRIPTOR>().cast_const();
    if !status.is_success() || filter.is_null() {
        line!("subdevice {name} GetDescription status {:08x}", hex(status));
        return None;
    }
    // SAFETY: the miniport's descriptor, static for the port's life (kernel.md §4.1).
    let filter = unsafe { &*filter };
    line!("subdevice {name} pins {}", filter.PinCount);
    let mut out = Vec::new();
    for id in 0..filter.PinCount {
        let offset = (id as usize).checked_mul(filter.PinSize as usize)?;
        // SAFETY: `PinCount` entries of `PinSize` bytes each (the descriptor's contract).
        let descriptor = unsafe {
            &*filter
                .Pins
                .cast::<u8>()
                .add(offset)
                .cast::<PCPIN_DESCRIPTOR>()
        };
        let ks = &descriptor.KsPinDescriptor;
        if ks.Communication != KSPIN_COMMUNICATION_SINK {
            line!("pin {name} {id} bridge");
            continue;
        }
        let mut formats = Vec::new();
        for r in 0..ks.DataRangesCount {
            // SAFETY: `DataRangesCount` range pointers (the descriptor's contract).
            let range = unsafe { *ks.DataRanges.add(r as usize) };
            if !range.is_null() {
                // SAFETY: a range of the descriptor.
                formats.push(unsafe { (*range).SubFormat });
            }
        }
        out.push(Pin {
            id,
            render: ks.DataFlow == KSPIN_DATAFLOW_IN,
            formats,
        });
    }
    Some(out)
}

fn subdevice(name: &str, port: &Port, miniport: &IMiniportDMus, sections: &[song::Section<'_>]) {
    let Some(pins) = pins(name, miniport) else {
        return;
    };
    for pin in pins.iter().filter(|p| p.render) {
        for &subformat in &pin.formats {
            let Some((format, stream_format, code)) = format_of(subformat) else {
                continue;
            };
            let Some(section) = sections.iter().find(|s| s.format == code) else {
                line!("pin {name} {} render {format} no song section", pin.id);
                continue;
            };
            let capture = pins
                .iter()
                .find(|p| !p.render && p.formats.contains(&subformat))
                .map(|p| p.id);
            play(name, port, pin.id, format, stream_format, section, capture);
        }
    }
}

/// Opens the capture pin and queues its IRPs.
fn open_capture(
    name: &str,
    port: &Port,
    id: u32,
    format: &str,
    stream_format: StreamFormat,
) -> Option<CapturePin> {
    match port.open_capture_pin(id, stream_format) {
        Ok(pin) => {
            if let Err(status) = pin.set_state(KSSTATE_RUN) {
                line!(
                    "pin {name} {id} capture {format} SetState status {:08x}",
                    hex(status)
                );
            }
            for _ in 0..CAPTURE_IRPS {
                pin.submit_buffer(CAPTURE_IRP);
            }
            Some(pin)
        }
        Err(status) => {
            line!(
                "pin {name} {id} capture {format} NewStream status {:08x}",
                hex(status)
            );
            None
        }
    }
}

fn play(
    name: &str,
    port: &Port,
    id: u32,
    format: &str,
    stream_format: StreamFormat,
    section: &song::Section<'_>,
    capture_id: Option<u32>,
) {
    let capture =
        capture_id.and_then(|c| open_capture(name, port, c, format, stream_format).map(|p| (c, p)));
    let pin = match port.open_render_pin(id, stream_format, FilterPlacement::AfterSequencer, |_| {
        Ok(Vec::new())
    }) {
        Ok(p) => p,
        Err(status) => {
            line!(
                "pin {name} {id} render {format} NewStream status {:08x}",
                hex(status)
            );
            return;
        }
    };
    let mut failures = 0u32;
    failures += u32::from(pin.set_state(KSSTATE_RUN).is_err());
    for (time, buffer) in section.buffers() {
        failures += u32::from(pin.submit(buffer.to_vec(), time).is_err());
    }
    // The sequencer's timer: the virtual clock moves to each deadline in turn.
    let mut runs = 0u32;
    loop {
        port.run_timers();
        crate::mpu401::raise(port.now());
        let Some(next) = port.next_timer() else {
            break;
        };
        runs += 1;
        if runs > MAX_TIMER_RUNS {
            failures += 1;
            break;
        }
        if next > port.now() {
            port.set_time(next);
        }
    }
    crate::mpu401::raise(port.now());
    let (queued, completed) = pin.bytes();
    failures += u32::from(pin.set_state(KSSTATE_STOP).is_err());
    let stats = pin.unpacker_stats();
    let a = pin.allocator().stats();
    drop(pin);
    line!(
        "pin {name} {id} render {format} messages {} irps {} bytes {} events {} dropped {} truncated {} exhausted {} failures {failures} completed {} outstanding {} buffers-outstanding {} gets {} puts {}",
        section.messages,
        stats.irps,
        stats.bytes,
        stats.events,
        stats.dropped_bytes,
        stats.truncated,
        stats.exhausted,
        u64::from(completed == queued && queued > 0),
        a.outstanding_events,
        a.outstanding_buffers,
        a.gets,
        a.puts
    );
    if let Some((capture_id, capture)) = capture {
        close_capture(name, id, capture_id, format, stream_format, capture);
    }
}

fn close_capture(
    name: &str,
    render_id: u32,
    id: u32,
    format: &str,
    stream_format: StreamFormat,
    pin: CapturePin,
) {
    let mut filled = pin.take_filled();
    // Whatever did not fit the first IRPs waits in the packer: more IRPs until it is out.
    let mut extra = 0;
    while pin.packer().queued() > 0 && extra < 1024 {
        pin.submit_buffer(CAPTURE_IRP);
        filled.extend(pin.take_filled());
        extra += 1;
    }
    let mut failures = u32::from(pin.set_state(KSSTATE_STOP).is_err());
    filled.extend(pin.take_filled());
    let a = pin.allocator().stats();
    drop(pin);
    let mut data = Vec::new();
    let mut discontinuities = 0u32;
    for buffer in &filled {
        discontinuities += u32::from(buffer.discontinuity);
        if !records(&buffer.data, stream_format, &mut data) {
            failures += 1;
        }
    }
    line!(
        "pin {name} {id} capture {format} from {render_id} irps {} bytes {} discontinuities {discontinuities} failures {failures} outstanding {} buffers-outstanding {} gets {} puts {}",
        filled.len(),
        data.len(),
        a.outstanding_events,
        a.outstanding_buffers,
        a.gets,
        a.puts
    );
    for piece in data.chunks(96) {
        let mut text = String::new();
        for b in piece {
            let _ = write!(text, "{b:02x}");
        }
        line!("data {name} {render_id} {format} {text}");
    }
}

/// Appends the MIDI bytes of a capture IRP's records to `out`; false if a record is cut.
fn records(mut buffer: &[u8], format: StreamFormat, out: &mut Vec<u8>) -> bool {
    let word = |b: &[u8], at: usize| -> Option<usize> {
        let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(bytes)).ok()
    };
    while !buffer.is_empty() {
        // KSMUSICFORMAT: TimeDeltaMs, ByteCount, data, padding to 4. DMUS_EVENTHEADER:
        // cbEvent, dwChannelGroup, rtDelta, dwFlags (20 bytes), data, padding to 8.
        let (count, header, align) = match format {
            StreamFormat::Ks => (word(buffer, 4), 8usize, 4usize),
            StreamFormat::DirectMusic => (word(buffer, 0), 20, 8),
        };
        let Some(count) = count else {
            return false;
        };
        let Some(data) = header
            .checked_add(count)
            .and_then(|end| buffer.get(header..end))
        else {
            return false;
        };
        out.extend_from_slice(data);
        let size = (header + count).div_ceil(align) * align;
        buffer = buffer.get(size..).unwrap_or(&[]);
    }
    true
}
