//! The sample filters of mxf (package `mxf-sample-filters`). Each one is a `#[mxf_filter]`
//! struct with a `Filter::process` of a few lines, and each teaches one thing about writing MXF
//! filters:
//!
//! | filter | teaches |
//! |---|---|
//! | [`Transpose`] | per-note state behind a spin lock: a note-off goes where its note-on went |
//! | [`Velocity`] | a stateless table-driven transform; velocity 0 is a note-off and stays 0 |
//! | [`ChannelMap`] | configuration per channel group; dropping an event returns it to the allocator |
//! | [`NoteOffNormalizer`] | changing the message type of an event in place |
//! | [`SysexFilter`] | long events and INCOMPLETE fragments: a SysEx is handled as one unit |
//! | [`Echo`] | creating events from the allocator, later presentation times, exhaustion |
//! | [`Splitter`] | several outputs (`Filter::OUTPUTS`) and copies of events |
//!
//! Common rules, kept by every filter here:
//! * Channel messages are read and edited in place through [`mxf::message`]
//!   ([`Event::channel_message`](mxf::event::Event::channel_message),
//!   [`channel_message_mut`](mxf::event::Event::channel_message_mut)): no status byte is decoded
//!   by hand, and no event is decoded into a `midly` value and encoded back.
//! * What a filter does not understand passes through untouched: fragments, truncated or
//!   malformed messages, events holding more than one message, zero-length events, other
//!   message types. Packages are unwrapped by the framework ([`mxf::filter::PackagePolicy`]).
//! * Nothing panics and nothing is lost: an event is pushed downstream or dropped, and a dropped
//!   event goes back to its allocator by itself.
//! * One-in, at-most-one-out transforms expose `apply(&self, &mut Event) -> Verdict`, a plain
//!   Rust function that `process` wraps; it can be tested, benchmarked and chained directly.
//!
//! The crate is `#![no_std]` and allocates nothing: the filters run in a driver (the virtual
//! MIDI cable, `examples/drivers/vmidi/`, puts [`Transpose`] in a cable) as they do in the
//! user-mode port. `mxf_suite::filters` re-exports it for the examples, tests and benchmarks,
//! with `every_sample`, the bad-input tests' list of every filter.
#![no_std]

mod channel_map;
mod echo;
mod note_off_normalizer;
mod splitter;
mod sysex_filter;
mod transpose;
mod velocity;

pub use channel_map::ChannelMap;
pub use echo::Echo;
pub use note_off_normalizer::NoteOffNormalizer;
pub use splitter::{SPLITTER_OUTPUTS, Splitter};
pub use sysex_filter::{SysexAction, SysexFilter};
pub use transpose::{TRACKED_GROUPS, Transpose};
pub use velocity::{Velocity, VelocityCurve};

use mxf::event::Event;

/// A filter's per-group configuration table is full (see the filter's `MAX_GROUPS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupTableFull;

/// What a one-in, at-most-one-out transform decided for an event.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (possibly changed) event on.
    Forward,
    /// Drop the event (it returns to the allocator).
    Drop,
}

impl Verdict {
    /// True for [`Verdict::Forward`].
    pub fn is_forward(self) -> bool {
        self == Verdict::Forward
    }
}

/// Applies a one-in, at-most-one-out transform inside `Filter::process`.
#[inline]
pub(crate) fn forward_if<'a>(
    verdict: Verdict,
    event: Event<'a>,
    out: &mut mxf::filter::Output<'a>,
) {
    if verdict.is_forward() {
        out.push(event);
    }
    // Otherwise `event` is dropped here and goes back to its allocator.
}
