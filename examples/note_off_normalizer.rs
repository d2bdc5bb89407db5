//! `cargo run --example note_off_normalizer`: the [`NoteOffNormalizer`] sample filter.
//!
//! Teaches changing the message type of an event in place through `midly`: a note-on with
//! velocity 0 is decoded, rebuilt as a note-off with release velocity 64, and encoded back.

use mxf::abi::NTSTATUS;
use mxf::filter::IntoFilter;
use mxf::testing::Ev;
use mxf_suite::filters::NoteOffNormalizer;
use mxf_suite::showcase::Showcase;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "note_off_normalizer",
        "Note-on with velocity 0 becomes note-off with velocity 64; real note-offs are kept.",
    )?;
    let filter = NoteOffNormalizer::new().into_filter(show.allocator())?;
    show.connect(&filter)?;
    show.run(
        &filter,
        "running-status style note-offs (9n kk 00) and a real one",
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0x93, 64, 90]),
            Ev::new(&[0x90, 60, 0]).at(10),
            Ev::new(&[0x83, 64, 30]).at(10),
        ],
    )?;
    println!("\nnormalized: {}", filter.filter().normalized());
    drop(filter);
    show.finish()
}
