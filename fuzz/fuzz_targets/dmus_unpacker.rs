//! The DirectMusic-format unpacker on any render IRP bytes (`DMUS_EVENTHEADER` records), cut into
//! IRPs, with the pin's state changes and an allocator that may run out (see
//! `mxf_fuzz::UnpackerInput`). When every record is structured, every COMPLETE event it makes must
//! be a whole message; when none is, the events hold exactly the records' bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxf::abi::{DMUS_EVENT_SIZE, DMUS_EVENT_STRUCTURED};
use mxf::components::unpacker::{DmusUnpacker, RawChunkFlags};
use mxf_fuzz::{Expect, UNPACK_PER_RECORD, UnpackerInput, drive_unpacker};

/// What the records of the IRPs hold: whether each is structured, and its payload, for every
/// whole record (parsing of an IRP stops at a record cut by its end).
fn records<'a>(irps: &[&'a [u8]]) -> Vec<(bool, &'a [u8])> {
    let mut out = Vec::new();
    for irp in irps {
        let mut rest = *irp;
        while rest.len() >= 20 {
            let word = |at: usize| u32::from_ne_bytes(rest[at..at + 4].try_into().unwrap());
            let cb = word(0) as usize;
            let size = DMUS_EVENT_SIZE(cb);
            if size > rest.len() {
                break;
            }
            out.push((word(16) & DMUS_EVENT_STRUCTURED != 0, &rest[20..20 + cb]));
            rest = &rest[size..];
        }
    }
    out
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
    let records = records(&input.irps(8));
    let expect = if records.iter().all(|r| r.0) {
        Expect::WholeMessages
    } else if records.iter().all(|r| !r.0) {
        Expect::Bytes(records.iter().flat_map(|r| r.1.iter().copied()).collect())
    } else {
        Expect::Anything
    };
    drive_unpacker(&input, 8, expect, |alloc| {
        DmusUnpacker::new(alloc).with_raw_chunk_flags(rule)
    });
});
