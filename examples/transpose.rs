//! `cargo run --example transpose`: the [`Transpose`] sample filter.
//!
//! Teaches per-note state behind a spin lock: the interval changes while a note sounds, and the
//! note-off still goes to the note its note-on was sent as; a note pushed out of range is dropped
//! together with its note-off.

use mxf::abi::NTSTATUS;
use mxf::filter::IntoFilter;
use mxf::testing::Ev;
use mxf_suite::filters::Transpose;
use mxf_suite::showcase::Showcase;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "transpose",
        "Shifts notes by an interval that may change while notes sound; note-offs follow their note-ons.",
    )?;
    let filter = Transpose::new(12).into_filter(show.allocator())?;
    show.connect(&filter)?;

    show.run(
        &filter,
        "up an octave: C4 and G4 start, a controller passes untouched",
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0x90, 67, 90]),
            Ev::new(&[0xB0, 7, 100]).at(10),
        ],
    )?;

    filter.filter().set_semitones(-5);
    show.run(
        &filter,
        "the interval is now -5: C4 and G4 end where they started (72, 79); a new E4 goes to B3",
        &[
            Ev::new(&[0x80, 60, 64]).at(20),
            Ev::new(&[0x90, 67, 0]).at(20),
            Ev::new(&[0x90, 64, 80]).at(30),
            Ev::new(&[0x80, 64, 64]).at(40),
        ],
    )?;

    show.run(
        &filter,
        "a note shifted below 0 is dropped, and so is its note-off",
        &[
            Ev::new(&[0x90, 2, 100]).at(50),
            Ev::new(&[0x80, 2, 0]).at(60),
        ],
    )?;

    let stats = filter.stats();
    println!(
        "\nfilter: {} events in, {} out, {} dropped out of range",
        stats.events_in,
        stats.events_out,
        filter.filter().out_of_range()
    );
    drop(filter);
    show.finish()
}
