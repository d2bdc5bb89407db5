//! The sample filters: the `mxf-sample-filters` crate (`examples/filters/`, `#![no_std]`, so that
//! drivers use the same filters), re-exported here for the examples, tests and benchmarks, and
//! [`every_sample`], the list the bad-input tests run every filter through.

pub use mxf_sample_filters::*;

/// Every sample filter as an IMXF on `alloc`, with its name: transpose +5, velocity 50 %,
/// `map`, the note-off normalizer, a SysEx filter that drops, an echo (100 × 2, 50 %) and a
/// splitter. What the bad-input tests run every filter through.
pub fn every_sample(
    alloc: &mxf::interfaces::IAllocatorMXF,
    map: ChannelMap,
) -> Vec<(&'static str, mxf::interfaces::IMXF)> {
    use mxf::filter::IntoFilter;
    fn com<F: IntoFilter>(f: F, alloc: &mxf::interfaces::IAllocatorMXF) -> mxf::interfaces::IMXF {
        // The tests' allocator has room for seven small objects.
        f.into_filter(alloc)
            .expect("a sample filter")
            .into_interface()
    }
    vec![
        ("transpose", com(Transpose::new(5), alloc)),
        (
            "velocity",
            com(
                Velocity::new(VelocityCurve::Scale { percent: 50 }, 1, 127),
                alloc,
            ),
        ),
        ("channel_map", com(map, alloc)),
        ("note_off_normalizer", com(NoteOffNormalizer::new(), alloc)),
        (
            "sysex_filter",
            com(SysexFilter::new(SysexAction::Drop), alloc),
        ),
        ("echo", com(Echo::new(100, 2, 50), alloc)),
        ("splitter", com(Splitter::new(), alloc)),
    ]
}
