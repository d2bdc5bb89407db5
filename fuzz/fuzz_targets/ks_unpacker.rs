//! The KS-format (`KSMUSICFORMAT`) unpacker on any render IRP bytes, cut into IRPs, with the
//! pin's state changes and an allocator that may run out (see `mxf_fuzz::UnpackerInput`). The
//! events hold exactly the packets' bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxf::components::unpacker::KsUnpacker;
use mxf_fuzz::{Expect, UnpackerInput, drive_unpacker};

/// The payloads of every whole packet of the IRPs, in order (parsing of an IRP stops at a
/// packet cut by its end; the last packet's padding may be missing).
fn payloads(irps: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for irp in irps {
        let mut rest = *irp;
        while rest.len() >= 8 {
            let cb = u32::from_ne_bytes(rest[4..8].try_into().unwrap()) as usize;
            let Some(payload) = rest.get(8..8 + cb) else {
                break;
            };
            out.extend_from_slice(payload);
            let padded = ((8 + cb + 3) & !3).min(rest.len());
            rest = &rest[padded..];
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Some(input) = UnpackerInput::parse(data) {
        let expect = Expect::Bytes(payloads(&input.irps(4)));
        drive_unpacker(&input, 4, expect, KsUnpacker::new);
    }
});
