//! `cargo run --example note_off_normalizer`: the [`NoteOffNormalizer`] sample filter.
//!
//! Teaches changing the message type of an event in place through `midly`: a note-on with
//! velocity 0 is decoded, rebuilt as a note-off with release velocity 64, and encoded back.

use mxf::abi::NTSTATUS;
use mxf::filter::IntoFilter;
use mxf_suite::filters::NoteOffNormalizer;
use mxf_suite::raw::Ev;
use mxf_suite::showcase::Showcase;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "note_off_normalizer",
        "Note-on with velocity 0 becomes note-off with velocity 64; real note-offs are kept.",
    )?;
    let filter = NoteOffNormalizer::new().into_filter(&show.alloc)?;
    show.connect(&filter)?;
    show.run(
        &filter,
        "running-status style note-offs (9n kk 00) and a real one",
        &[
            Ev::at(0, &[0x90, 60, 100]),
            Ev::at(0, &[0x93, 64, 90]),
            Ev::at(10, &[0x90, 60, 0]),
            Ev::at(10, &[0x83, 64, 30]),
        ],
    )?;
    println!("\nnormalized: {}", filter.filter().normalized());
    drop(filter);
    show.finish()
}
