//! `cargo run --example channel_map`: the [`ChannelMap`] sample filter.
//!
//! Teaches configuration per channel group (channel 1 of group 1 and channel 1 of group 2 are
//! different instruments) and that dropping an event (a muted channel) returns it to the
//! allocator.

use mxf::abi::NTSTATUS;
use mxf::filter::IntoFilter;
use mxf::testing::Ev;
use mxf_suite::filters::ChannelMap;
use mxf_suite::showcase::Showcase;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "channel_map",
        "Group 1: channel 1 -> channel 10, channel 2 muted. Group 2: unchanged.",
    )?;
    let map = ChannelMap::new()
        .remap(1, 0.into(), 9.into())
        .and_then(|m| m.mute(1, 1.into()))
        .map_err(|_| mxf::abi::STATUS_INVALID_PARAMETER)?;
    let filter = map.into_filter(show.allocator())?;
    show.connect(&filter)?;
    show.run(
        &filter,
        "the same messages on two channel groups, and a SysEx (no channel)",
        &[
            Ev::new(&[0x90, 36, 100]),
            Ev::new(&[0x91, 60, 80]),
            Ev::new(&[0xC0, 5]),
            Ev::new(&[0x90, 36, 100]).group(2),
            Ev::new(&[0x91, 60, 80]).group(2),
            Ev::new(&[0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]).at(5),
        ],
    )?;
    println!("\nmuted: {} events", filter.filter().muted());
    drop(filter);
    show.finish()
}
