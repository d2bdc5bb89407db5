//! The scenario the double drives after `StartDevice`: for each registered subdevice, each pin
//! its descriptor offers is opened in each format it accepts, and the song is played into it.
//!
//! A render pin is wired as the DMus port wires one: the pin's allocator, the unpacker of the
//! pin's format (`mxf::components::unpacker`) connected to the miniport's stream, each song
//! buffer sunk as one IRP and sent downstream; states go STOP → ACQUIRE → PAUSE → RUN and back;
//! at close the allocator's statistics are read (every event back: outstanding 0).

use crate::kernel::line;
use crate::port::Clock;
use crate::song;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;
use mxf::abi::*;
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::{Interface, IntoComObject};
use mxf::components::unpacker::{DmusUnpacker, KsUnpacker, Unpacker};
use mxf::driver::CM_PARTIAL_RESOURCE_DESCRIPTOR;
use mxf::interfaces::{IMXF, IMasterClock, IMiniportDMus, IServiceGroup};

/// The song (`$WINEPREFIX/drive_c/mxf-wine/song.bin`, written by the tier's host tool).
const SONG_PATH: &str = "\\??\\C:\\mxf-wine\\song.bin";

/// The resource list `StartDevice` gets.
pub fn resources() -> Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR> {
    Vec::new()
}

fn format_name(subformat: GUID) -> Option<(&'static str, u32)> {
    if subformat == KSDATAFORMAT_SUBTYPE_MIDI {
        Some(("midi", song::FORMAT_MIDI))
    } else if subformat == KSDATAFORMAT_SUBTYPE_DIRECTMUSIC {
        Some(("directmusic", song::FORMAT_DIRECTMUSIC))
    } else {
        None
    }
}

/// Runs the scenario over the registered subdevices.
pub fn run(subdevices: &[(String, Option<IMiniportDMus>)]) {
    let bytes = match crate::nt::read_file(SONG_PATH) {
        Ok(b) => b,
        Err(status) => {
            line!("song unreadable status {:08x}", status.0.cast_unsigned());
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
    let before = mxf::driver::live_pool_blocks();
    for (name, miniport) in subdevices {
        let Some(miniport) = miniport else {
            line!("subdevice {name} no miniport");
            continue;
        };
        subdevice(name, miniport, &sections);
    }
    let after = mxf::driver::live_pool_blocks();
    line!("double-pool before {before} after {after}");
}

fn subdevice(name: &str, miniport: &IMiniportDMus, sections: &[song::Section<'_>]) {
    let mut description: *mut c_void = core::ptr::null_mut();
    // SAFETY: a live miniport; a valid out-pointer.
    let status = unsafe { miniport.GetDescription(&mut description) };
    let filter = description.cast::<PCFILTER_DESCRIPTOR>().cast_const();
    if !status.is_success() || filter.is_null() {
        line!(
            "subdevice {name} GetDescription status {:08x}",
            status.0.cast_unsigned()
        );
        return;
    }
    // SAFETY: the miniport's descriptor, static for the port's life (kernel.md §4.1).
    let filter = unsafe { &*filter };
    line!("subdevice {name} pins {}", filter.PinCount);
    for pin in 0..filter.PinCount {
        let Some(offset) = (pin as usize).checked_mul(filter.PinSize as usize) else {
            return;
        };
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
            line!("pin {name} {pin} bridge");
            continue;
        }
        for r in 0..ks.DataRangesCount {
            // SAFETY: `DataRangesCount` range pointers (the descriptor's contract).
            let range = unsafe { *ks.DataRanges.add(r as usize) };
            if range.is_null() {
                continue;
            }
            // SAFETY: a range of the descriptor.
            let subformat = unsafe { (*range).SubFormat };
            let Some((format, code)) = format_name(subformat) else {
                continue;
            };
            if ks.DataFlow == KSPIN_DATAFLOW_IN {
                let Some(section) = sections.iter().find(|s| s.format == code) else {
                    line!("pin {name} {pin} render {format} no song section");
                    continue;
                };
                render(name, miniport, pin, format, subformat, section);
            } else {
                line!("pin {name} {pin} capture {format} not opened");
            }
        }
    }
}

fn data_format(subformat: GUID) -> KSDATAFORMAT {
    KSDATAFORMAT {
        FormatSize: core::mem::size_of::<KSDATAFORMAT>() as u32,
        Flags: 0,
        SampleSize: 0,
        Reserved: 0,
        MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
        SubFormat: subformat,
        Specifier: KSDATAFORMAT_SPECIFIER_NONE,
    }
}

/// `NewStream` as the port calls it; the stream or the status.
fn new_stream(
    miniport: &IMiniportDMus,
    pin: u32,
    stream_type: DMUS_STREAM_TYPE,
    subformat: GUID,
    allocator: &AllocatorHandle,
    clock: &IMasterClock,
) -> core::result::Result<(IMXF, Option<IServiceGroup>), NTSTATUS> {
    let mut format = data_format(subformat);
    let (mut stream, mut group, mut prefetch) = (None, None, 0u64);
    // SAFETY: a live miniport, allocator and clock; valid out-pointers and format.
    let status = unsafe {
        miniport.NewStream(
            &mut stream,
            None,
            NonPagedPool,
            pin,
            stream_type,
            &mut format,
            &mut group,
            Some(allocator.interface().to_ref()),
            Some(clock.to_ref()),
            &mut prefetch,
        )
    };
    match stream {
        Some(stream) if status.is_success() => Ok((stream, group)),
        _ => Err(if status.is_success() {
            STATUS_UNSUCCESSFUL
        } else {
            status
        }),
    }
}

const UP: [KSSTATE; 3] = [KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN];
const DOWN: [KSSTATE; 3] = [KSSTATE_PAUSE, KSSTATE_ACQUIRE, KSSTATE_STOP];

fn render(
    name: &str,
    miniport: &IMiniportDMus,
    pin: u32,
    format: &str,
    subformat: GUID,
    section: &song::Section<'_>,
) {
    let allocator = match AllocatorHandle::new(AllocatorConfig::default(), None) {
        Ok(a) => a,
        Err(status) => {
            line!(
                "pin {name} {pin} render {format} allocator status {:08x}",
                status.0.cast_unsigned()
            );
            return;
        }
    };
    let clock: IMasterClock = match Clock.into_com() {
        Ok(c) => c,
        Err(_) => return,
    };
    let (stream, group) = match new_stream(
        miniport,
        pin,
        DMUS_STREAM_MIDI_RENDER,
        subformat,
        &allocator,
        &clock,
    ) {
        Ok(s) => s,
        Err(status) => {
            line!(
                "pin {name} {pin} render {format} NewStream status {:08x}",
                status.0.cast_unsigned()
            );
            return;
        }
    };
    let mut unpacker: Box<dyn Unpacker> = if section.format == song::FORMAT_DIRECTMUSIC {
        Box::new(DmusUnpacker::new(allocator.interface().clone()))
    } else {
        Box::new(KsUnpacker::new(allocator.interface().clone()))
    };
    let mut failures = 0u32;
    for state in UP {
        unpacker.set_state(state);
        failures += u32::from(!stream.SetState(state).is_success());
    }
    failures += u32::from(!unpacker.connect_output(stream.clone()).is_success());
    let mut offset = 0u64;
    for buffer in section.buffers() {
        failures += u32::from(!unpacker.sink_irp(buffer, 0, offset).is_success());
        offset += buffer.len() as u64;
        failures += u32::from(!unpacker.process_queues().is_success());
    }
    let stats = unpacker.stats();
    for state in DOWN {
        failures += u32::from(!stream.SetState(state).is_success());
        unpacker.set_state(state);
    }
    let _ = unpacker.disconnect_output(None);
    drop(unpacker);
    drop(stream);
    drop(group);
    let a = allocator.stats();
    line!(
        "pin {name} {pin} render {format} messages {} irps {} bytes {} events {} dropped {} truncated {} exhausted {} failures {failures} outstanding {} buffers-outstanding {} gets {} puts {}",
        section.messages,
        stats.irps,
        stats.bytes,
        stats.events,
        stats.dropped_bytes,
        stats.truncated,
        stats.exhausted,
        a.outstanding_events,
        a.outstanding_buffers,
        a.gets,
        a.puts
    );
}
