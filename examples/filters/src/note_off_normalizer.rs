//! `NoteOffNormalizer`: note-on with velocity 0 becomes a real note-off.

use super::{Verdict, forward_if};
use mxf::event::Event;
use mxf::filter::{Filter, Output};
use mxf::message::{ChannelKind, u7};
use mxf::mxf_filter;
use mxf::platform::atomic::{AtomicU64, Ordering};

/// Rewrites every note-on with velocity 0 as a note-off (`8n key vel`) with a fixed release
/// velocity: 64 by default (the MIDI specification's value for devices without release
/// velocity), or the one given to [`NoteOffNormalizer::with_release_velocity`].
///
/// **Teaches:** changing the message type of an event in place through `midly` (decode, build
/// the new message, encode), for devices or later filters that only understand `8n`.
///
/// Note-ons with a velocity, note-offs and everything else pass through untouched.
#[mxf_filter]
pub struct NoteOffNormalizer {
    release: u7,
    normalized: AtomicU64,
}

impl Default for NoteOffNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl NoteOffNormalizer {
    /// The release velocity used by [`NoteOffNormalizer::new`].
    pub const DEFAULT_RELEASE_VELOCITY: u8 = 64;

    /// A normalizer using release velocity 64.
    pub fn new() -> Self {
        Self::with_release_velocity(u7::from(Self::DEFAULT_RELEASE_VELOCITY))
    }

    /// A normalizer using `release` as the note-off velocity.
    pub fn with_release_velocity(release: u7) -> Self {
        Self {
            release,
            normalized: AtomicU64::new(0),
        }
    }

    /// Note-ons rewritten so far.
    pub fn normalized(&self) -> u64 {
        self.normalized.load(Ordering::Relaxed)
    }

    /// Rewrites one event in place.
    pub fn apply(&self, event: &mut Event<'_>) -> Verdict {
        if let Some(mut m) = event.channel_message_mut()
            && m.kind() == ChannelKind::NoteOn
            && m.get().is_note_off()
            && m.set_note_kind(ChannelKind::NoteOff)
        {
            // In place: the status byte and the velocity byte.
            m.set_velocity(self.release);
            self.normalized.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Forward
    }
}

impl Filter for NoteOffNormalizer {
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        let verdict = self.apply(&mut event);
        forward_if(verdict, event, out);
    }
}
