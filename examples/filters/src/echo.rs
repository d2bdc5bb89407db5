//! `Echo`: delayed repeats of every note with decaying velocity.

use mxf::abi::REFERENCE_TIME;
use mxf::event::Event;
use mxf::filter::{Filter, Output};
use mxf::message::{ChannelKind, u7};
use mxf::mxf_filter;
use mxf::platform::atomic::{AtomicU64, Ordering};

/// Repeats every note `repeats` times, `delay` apart, each repeat's note-on velocity
/// `decay_percent` % of the previous one.
///
/// **Teaches:** creating events. New events come from the stream's allocator through
/// [`Output::new_event`]; they carry later presentation times (the sequencer downstream plays
/// them in time order) and no byte position, so they never complete render IRPs. The allocator
/// can run out (a bounded pool, a burst): the repeat is then dropped and counted
/// ([`Echo::dropped`], and the framework's `FilterStats::exhausted`), never a panic, and the
/// original event always goes on.
///
/// Policy:
/// * Note-ons and note-offs (including note-on with velocity 0) are repeated the same number of
///   times with the same delays, so every repeated note-on gets its note-off. A repeated
///   note-on's velocity decays but stays at least 1 (0 would turn it into a note-off).
/// * A repeat whose time would overflow is dropped and counted.
/// * The original comes first, then its repeats in time order; everything else passes untouched.
#[mxf_filter]
pub struct Echo {
    delay: REFERENCE_TIME,
    repeats: u8,
    decay_percent: u8,
    dropped: AtomicU64,
    created: AtomicU64,
}

impl Echo {
    /// The most repeats per note.
    pub const MAX_REPEATS: u8 = 16;

    /// `repeats` (at most [`Echo::MAX_REPEATS`]) repeats, `delay` (100 ns units, negative taken
    /// as 0) apart, decaying to `decay_percent` % (at most 100) each time.
    pub fn new(delay: REFERENCE_TIME, repeats: u8, decay_percent: u8) -> Self {
        Self {
            delay: delay.max(0),
            repeats: repeats.min(Self::MAX_REPEATS),
            decay_percent: decay_percent.min(100),
            dropped: AtomicU64::new(0),
            created: AtomicU64::new(0),
        }
    }

    /// Repeats that could not be created (allocator exhausted, time overflow).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Repeats created.
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    fn decay(&self, vel: u7) -> u7 {
        if vel == 0 {
            return vel;
        }
        let v = u16::from(vel.as_int()) * u16::from(self.decay_percent) / 100;
        u7::from(u8::try_from(v.clamp(1, 127)).unwrap_or(1))
    }
}

impl Filter for Echo {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        let Some(m) = event.channel_message() else {
            out.push(event);
            return;
        };
        let (Some(key), Some(mut vel)) = (m.key(), m.velocity()) else {
            out.push(event);
            return;
        };
        // The repeats' status byte: the note's kind and channel, as received.
        let (status, on) = (
            m.bytes().first().copied().unwrap_or(0),
            m.kind() == ChannelKind::NoteOn,
        );
        let (group, start) = (event.channel_group(), event.time());
        out.push(event);
        for k in 1..=i64::from(self.repeats) {
            if on {
                vel = self.decay(vel);
            }
            let time = self.delay.checked_mul(k).and_then(|d| start.checked_add(d));
            let Some(time) = time else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let Some(mut e) = out.new_event() else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if e.set_bytes(&[status, key.as_int(), vel.as_int()]).is_err() {
                // `e` goes back to the allocator.
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            e.set_channel_group(group);
            e.set_time(time);
            out.push(e);
            self.created.fetch_add(1, Ordering::Relaxed);
        }
    }
}
