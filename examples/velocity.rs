//! `cargo run --example velocity`: the [`Velocity`] sample filter.
//!
//! Teaches a stateless, table-driven transform with integer arithmetic only, and the MIDI rule
//! it must keep: a note-on with velocity 0 is a note-off and stays 0, and a real note-on never
//! becomes 0.

use mxf::abi::NTSTATUS;
use mxf::filter::IntoFilter;
use mxf::testing::Ev;
use mxf_suite::filters::{Velocity, VelocityCurve};
use mxf_suite::showcase::Showcase;

fn main() -> Result<(), NTSTATUS> {
    let show = Showcase::new(
        "velocity",
        "Compresses note-on velocities into 40..=110; velocity 0 (a note-off) stays 0.",
    )?;
    let filter = Velocity::new(VelocityCurve::Compress, 40, 110).into_filter(show.allocator())?;
    show.connect(&filter)?;
    show.run(
        &filter,
        "soft, medium and loud notes, their note-offs, and a controller",
        &[
            Ev::new(&[0x90, 60, 1]),
            Ev::new(&[0x90, 64, 32]),
            Ev::new(&[0x91, 67, 127]),
            Ev::new(&[0x90, 60, 0]).at(10),
            Ev::new(&[0x80, 64, 20]).at(10),
            Ev::new(&[0x81, 67, 127]).at(10),
            Ev::new(&[0xB0, 7, 5]).at(20),
        ],
    )?;

    let scale = Velocity::new(VelocityCurve::Scale { percent: 50 }, 1, 127);
    println!(
        "\nScale 50%: 1 -> {}, 2 -> {}, 100 -> {}, 127 -> {} (never 0)",
        scale.map(1.into()),
        scale.map(2.into()),
        scale.map(100.into()),
        scale.map(127.into())
    );
    drop(filter);
    show.finish()
}
