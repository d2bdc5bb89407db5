//! Inputs the fuzz targets (`fuzz/`) found, pinned: each failed a target's check before the fix
//! named in its test.

use mxf::host::smf::{read_smf, write_smf_until};

/// Reads `file`, writes what was read, reads that back: the same wire messages, in order.
fn round_trip(file: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let song = read_smf(file).expect("the file reads");
    let messages: Vec<_> = song
        .messages
        .iter()
        .map(|m| (m.time, m.bytes.to_vec()))
        .collect();
    let written = write_smf_until(&messages, &song.tempo, song.end_time()).expect("it is written");
    let back = read_smf(&written).expect("the written file reads");
    (
        messages.into_iter().map(|m| m.1).collect(),
        back.messages.iter().map(|m| m.bytes.to_vec()).collect(),
    )
}

/// `smf` target: an escape event holding only F0 (a SysEx begun by an escape, never ended) read
/// as the wire bytes `F0`, which the writer wrote as a SysEx event, read back as `F0 F7`. Fixed
/// by reading an escape that starts a SysEx as a SysEx event is read (ended with F7).
#[test]
fn an_escape_of_a_lone_f0_reads_back_as_it_was_read() {
    #[rustfmt::skip]
    let file = [
        b'M', b'T', b'h', b'd', 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xE0,
        b'M', b'T', b'r', b'k', 0, 0, 0, 0x20,
        0x10, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, // tempo
        0x00, 0x90, 0x3C, 0x64, // note on
        0x81, 0x70, 0xF0, 0x04, 0x01, 0x02, 0x03, 0xF7, // a whole SysEx
        0x81, 0x70, 0x80, 0x3C, 0x00, // note off
        0x00, 0xF7, 0x01, 0xF0, // an escape of F0 alone
        0x00, 0xFF, 0x2F, 0x00, // End-of-Track
    ];
    let (read, back) = round_trip(&file);
    assert_eq!(read.last(), Some(&vec![0xF0, 0xF7]));
    assert_eq!(read, back);
}
