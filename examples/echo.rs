//! `cargo run --example echo`: the [`Echo`] sample filter.
//!
//! Teaches creating events: repeats come from the allocator through `Output::new_event`, with
//! later presentation times; when the allocator is exhausted the repeat is dropped and counted,
//! never a panic, and the original always goes on.

use mxf::abi::NTSTATUS;
use mxf::allocator::AllocatorConfig;
use mxf::filter::IntoFilter;
use mxf::testing::Ev;
use mxf_suite::filters::Echo;
use mxf_suite::showcase::Showcase;

/// 100 ms in 100 ns units.
const MS_100: i64 = 1_000_000;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "echo",
        "Three repeats 100 ms apart, each at 60% of the previous velocity.",
    )?;
    let filter = Echo::new(MS_100, 3, 60).into_filter(show.allocator())?;
    show.connect(&filter)?;
    show.run(
        &filter,
        "one note and a program change",
        &[
            Ev::new(&[0xC0, 12]),
            Ev::new(&[0x90, 60, 100]),
            Ev::new(&[0x80, 60, 64]).at(5 * MS_100),
        ],
    )?;
    drop(filter);
    show.finish()?;

    println!("\n== echo on an allocator bounded to 4 events ==");
    let small = Showcase::with_config(AllocatorConfig {
        max_events: Some(4),
        ..Default::default()
    })?;
    let filter = Echo::new(MS_100, 3, 60).into_filter(small.allocator())?;
    small.connect(&filter)?;
    small.run(
        &filter,
        "two notes: the allocator runs out of events for most repeats",
        &[Ev::new(&[0x90, 60, 100]), Ev::new(&[0x90, 64, 100])],
    )?;
    println!(
        "\nrepeats created: {}, dropped: {} (framework count of exhausted allocations: {})",
        filter.filter().created(),
        filter.filter().dropped(),
        filter.stats().exhausted
    );
    drop(filter);
    small.finish()
}
