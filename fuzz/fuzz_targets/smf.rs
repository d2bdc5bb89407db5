//! The SMF reader on any bytes (a MIDI file, an RMID file, or neither): it refuses or reads,
//! never panics; what it reads is in time order and within the song; and the writer's file of
//! what it read reads back to the same wire bytes (a channel message without what follows its
//! data, which the writer drops as a MIDI port would).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxf::host::smf::{read_smf, write_smf_until};

/// What the writer keeps of a message: a channel message with its data bytes and nothing after
/// them; anything else whole.
fn as_written(bytes: &[u8]) -> &[u8] {
    let data_len = match bytes.first() {
        Some(0xC0..=0xDF) => 1,
        Some(0x80..=0xEF) => 2,
        _ => return bytes,
    };
    match bytes.get(1..=data_len) {
        Some(data) if data.iter().all(|&b| b < 0x80) => &bytes[..=data_len],
        _ => bytes,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(song) = read_smf(data) else {
        return;
    };
    assert_eq!(
        song.tempo.changes.first().map(|c| c.0),
        Some(0),
        "the tempo map starts at tick 0"
    );
    let mut last = 0;
    let mut messages = Vec::new();
    for m in song.messages.iter() {
        assert!(!m.bytes.is_empty(), "an empty message at tick {}", m.tick);
        assert!(
            m.time >= last,
            "messages out of time order at tick {}",
            m.tick
        );
        assert!(m.tick <= song.end_tick, "a message after the song's end");
        last = m.time;
        messages.push((m.time, m.bytes.to_vec()));
    }
    assert!(
        song.end_time() >= last,
        "the song ends before its last message"
    );

    // What was read, written as a format 0 file (or refused: a song that would take too many
    // bridging events), reads back to the same messages in the same order.
    let Ok(file) = write_smf_until(&messages, &song.tempo, song.end_time()) else {
        return;
    };
    let back = read_smf(&file).unwrap_or_else(|e| panic!("the written file does not read: {e}"));
    let expected: Vec<&[u8]> = messages.iter().map(|m| as_written(&m.1)).collect();
    let got: Vec<Vec<u8>> = back.messages.iter().map(|m| m.bytes.to_vec()).collect();
    let got: Vec<&[u8]> = got.iter().map(|b| &b[..]).collect();
    assert_eq!(
        expected, got,
        "the written file reads back to other messages"
    );
});
