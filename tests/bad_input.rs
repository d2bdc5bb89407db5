//! Bad input from outside the project, each with its documented outcome: capture IRPs too small
//! for one record (they complete empty and the stream moves on), lying or NULL event fields sent
//! to the port's MXFs (capture sink, packer, sequencer, render stream) and to a filter, and
//! malformed Standard MIDI Files (a second `MThd`, unknown chunks between tracks, RMID files
//! with lying RIFF lengths or no `data` chunk, escapes carrying F0 outside a divided SysEx,
//! zero-length escapes). Item numbers refer to `domain.md` §6.

use mxf::abi::DMUS_EVENT_SIZE;
use mxf::host::{CapturePin, CapturedBuffer, ClockMode, Port, StreamFormat};
use mxf::prelude::*;
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
    let pin = port.open_capture_pin(0, format).unwrap();
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
