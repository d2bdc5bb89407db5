//! The KS-format (`KSMUSICFORMAT`) unpacker on any render IRP bytes, cut into IRPs, with the
//! pin's state changes and an allocator that may run out (see `mxf_fuzz::UnpackerInput`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxf::components::unpacker::KsUnpacker;
use mxf_fuzz::{UnpackerInput, drive_unpacker};

fuzz_target!(|data: &[u8]| {
    if let Some(input) = UnpackerInput::parse(data) {
        drive_unpacker(&input, 4, false, KsUnpacker::new);
    }
});
