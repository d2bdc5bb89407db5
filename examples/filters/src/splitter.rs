//! `Splitter`: one input, several outputs.

use mxf::event::Event;
use mxf::filter::{Filter, Output, OutputCount};
use mxf::mxf_filter;
use mxf::platform::atomic::{AtomicU64, Ordering};

/// The number of outputs of a [`Splitter`].
pub const SPLITTER_OUTPUTS: usize = 3;

/// Sends every event to each of its [`SPLITTER_OUTPUTS`] outputs: the original to output 0,
/// copies to the others.
///
/// **Teaches:** `Filter::OUTPUTS`. `ConnectOutput` fills the outputs in order (a full splitter
/// refuses a further connection; a connection is never replaced), each output's events go
/// downstream as one chain per incoming chain, and an output that is not connected delivers to
/// the allocator. Copies come from [`Output::clone_event`] (data, long-event buffer, group, time
/// and flags); if the allocator cannot supply one, that output misses the event (counted in
/// [`Splitter::missed`]) and the others still get theirs.
///
/// Fragments, packages' contents (the framework unwraps packages) and malformed data are copied
/// as they are: a splitter needs to understand nothing.
#[mxf_filter]
#[derive(Default)]
pub struct Splitter {
    missed: AtomicU64,
}

impl Splitter {
    /// A splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies that could not be made (allocator exhausted).
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

impl Filter for Splitter {
    const OUTPUTS: OutputCount = OutputCount::new(SPLITTER_OUTPUTS);

    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        for k in 1..out.outputs() {
            match out.clone_event(&event) {
                Some(copy) => out.push_to(k, copy),
                None => {
                    self.missed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        out.push_to(0, event);
    }
}
