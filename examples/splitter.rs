//! `cargo run --example splitter`: the [`Splitter`] sample filter.
//!
//! Teaches several outputs: `const OUTPUTS: OutputCount = OutputCount::new(3)`, `ConnectOutput` filling them in order,
//! copies made with `Output::clone_event` (long SysEx buffers included), and an unconnected
//! output delivering to the allocator.

use mxf::abi::NTSTATUS;
use mxf::filter::IntoFilter;
use mxf::testing::{Ev, connect_output};
use mxf_suite::filters::Splitter;
use mxf_suite::showcase::Showcase;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "splitter",
        "One input, three outputs: output 0 and 1 go to recorders, output 2 is not connected.",
    )?;
    let filter = Splitter::new().into_filter(show.allocator())?;
    show.connect(&filter)?;
    let (second, second_log) = show.recorder()?;
    connect_output(&filter, &second).ok()?;

    let sysex: Vec<u8> = [0xF0, 0x7D]
        .into_iter()
        .chain((0..20).map(|i| i as u8))
        .chain([0xF7])
        .collect();
    show.run(
        &filter,
        "output 0 (the original events)",
        &[
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&sysex),
            Ev::new(&[0x80, 60, 64]).at(10),
        ],
    )?;
    println!("output 1 (copies):");
    for r in second_log.take() {
        println!("  {r}");
    }
    let stats = filter.stats();
    println!(
        "\nfilter: {} events in, {} out over 3 outputs (output 2 went to the allocator)",
        stats.events_in, stats.events_out
    );
    drop((filter, second));
    show.finish()
}
