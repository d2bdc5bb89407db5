//! The DirectMusic-format unpacker on any render IRP bytes (`DMUS_EVENTHEADER` records), cut into
//! IRPs, with the pin's state changes and an allocator that may run out (see
//! `mxf_fuzz::UnpackerInput`). When every record is structured, every COMPLETE event it makes must
//! be a whole message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxf::abi::{DMUS_EVENT_SIZE, DMUS_EVENT_STRUCTURED};
use mxf::components::unpacker::{DmusUnpacker, RawChunkFlags};
use mxf_fuzz::{UNPACK_PER_RECORD, UnpackerInput, drive_unpacker};

/// Whether every whole record of every IRP is structured (parsed as MIDI, not copied raw).
fn all_structured(irps: &[&[u8]]) -> bool {
    irps.iter().all(|irp| {
        let mut rest = *irp;
        while rest.len() >= 20 {
            let word = |at: usize| u32::from_ne_bytes(rest[at..at + 4].try_into().unwrap());
            if word(16) & DMUS_EVENT_STRUCTURED == 0 {
                return false;
            }
            let size = DMUS_EVENT_SIZE(word(0) as usize);
            let Some(next) = rest.get(size..) else {
                break;
            };
            rest = next;
        }
        true
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = UnpackerInput::parse(data) else {
        return;
    };
    let rule = if input.flags & UNPACK_PER_RECORD != 0 {
        RawChunkFlags::PerRecord
    } else {
        RawChunkFlags::MoreInBuffer
    };
    let parsed = all_structured(&input.irps(8));
    drive_unpacker(&input, 8, parsed, |alloc| {
        DmusUnpacker::new(alloc).with_raw_chunk_flags(rule)
    });
});
