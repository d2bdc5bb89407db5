//! `cargo run --example sysex_filter`: the [`SysexFilter`] sample filter.
//!
//! Teaches long events and fragments: a SysEx longer than one allocator buffer arrives as
//! several events, all but the last INCOMPLETE, and only the first starts with `F0`; the filter
//! remembers per channel group that it is inside a SysEx and drops the chunks as one unit.

use mxf::abi::NTSTATUS;
use mxf::filter::IntoFilter;
use mxf::testing::Ev;
use mxf_suite::filters::{SysexAction, SysexFilter};
use mxf_suite::showcase::Showcase;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "sysex_filter",
        "Drops SysEx on every group except group 2; a 300-byte SysEx spans two events.",
    )?;
    let filter = SysexFilter::new(SysexAction::Drop)
        .with_group(2, SysexAction::Pass)
        .map_err(|_| mxf::abi::STATUS_INVALID_PARAMETER)?
        .into_filter(show.allocator())?;
    show.connect(&filter)?;

    // A 300-byte SysEx: F0, 298 data bytes, F7, split at the 240-byte buffer size.
    let mut sysex = vec![0xF0];
    sysex.extend((0..298u32).map(|i| (i % 128) as u8));
    sysex.push(0xF7);
    let (first, rest) = sysex.split_at(240);
    show.run(
        &filter,
        "a note, a SysEx in two chunks with a note between them, the same SysEx on group 2",
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(first).at(1).incomplete(),
            Ev::new(&[0x90, 64, 100]).at(1).group(3),
            Ev::new(rest).at(2),
            Ev::new(&[0x80, 60, 64]).at(3),
            Ev::new(first).at(4).group(2).incomplete(),
            Ev::new(rest).at(5).group(2),
        ],
    )?;
    show.run(
        &filter,
        "raw capture-style fragments: the SysEx bytes go, the note around them stays",
        &[
            Ev::new(&[0x90, 0x3C, 0x40, 0xF0, 0x43, 0x12])
                .at(10)
                .incomplete(),
            Ev::new(&[0x00, 0x01, 0xF7, 0x80, 0x3C, 0x40])
                .at(10)
                .incomplete(),
        ],
    )?;
    let f = filter.filter();
    println!(
        "\ndropped {} events and {} bytes, trimmed {} events",
        f.dropped_events(),
        f.dropped_bytes(),
        f.trimmed_events()
    );
    drop(filter);
    show.finish()
}
