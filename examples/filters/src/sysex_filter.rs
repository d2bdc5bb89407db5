//! `SysexFilter`: drops or passes System Exclusive messages, per channel group.

use super::{GroupTableFull, Verdict, forward_if};
use mxf::allocator::BUFFER_SIZE;
use mxf::event::Event;
use mxf::filter::{Filter, Output};
use mxf::mxf_filter;
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicU64, Ordering};

/// What a [`SysexFilter`] does with the SysEx of a channel group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysexAction {
    /// SysEx passes untouched.
    Pass,
    /// SysEx is removed; everything else passes.
    Drop,
}

/// Start of System Exclusive.
const SOX: u8 = 0xF0;
/// End of System Exclusive.
const EOX: u8 = 0xF7;

/// Removes (or passes) System Exclusive messages, per channel group, including a SysEx that
/// spans several events.
///
/// **Teaches:** long events (data in an allocator buffer, [`Event::data`] hides the difference)
/// and fragments: a SysEx longer than one buffer arrives as several events, all but the last
/// flagged INCOMPLETE, and only the first starts with `F0`. The filter keeps, per channel group,
/// whether it is inside a SysEx, so the continuation chunks are handled with their start as one
/// unit.
///
/// Rules for the groups whose action is [`SysexAction::Drop`] (bytes are examined with the MIDI
/// 1.0 rules, so raw capture fragments work too):
/// * `F0` begins a SysEx; its data bytes are removed up to and including the `F7` that ends it.
/// * The unit also ends with an event that is not INCOMPLETE, or with a status byte other than
///   real-time (an aborted SysEx: the status byte and what follows pass).
/// * Real-time bytes (`F8`–`FF`) inside a SysEx pass, and an event holding only real-time bytes
///   does not end the unit. An event left empty is dropped; an event that held SysEx and other
///   bytes keeps the other bytes.
/// * Events outside a SysEx pass untouched, zero-length events and packages too (the framework
///   unwraps packages).
#[mxf_filter]
pub struct SysexFilter {
    default: SysexAction,
    overrides: [(u16, SysexAction); SysexFilter::MAX_GROUPS],
    len: usize,
    /// One bit per channel group: inside a SysEx.
    inside: SpinLock<[u64; 1024]>,
    dropped_events: AtomicU64,
    trimmed_events: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl SysexFilter {
    /// The most groups with their own action.
    pub const MAX_GROUPS: usize = 16;

    /// A filter applying `default` to every channel group.
    pub fn new(default: SysexAction) -> Self {
        Self {
            default,
            overrides: [(0, default); Self::MAX_GROUPS],
            len: 0,
            inside: SpinLock::new([0; 1024]),
            dropped_events: AtomicU64::new(0),
            trimmed_events: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
        }
    }

    /// Uses `action` for `group` instead of the default.
    pub fn with_group(mut self, group: u16, action: SysexAction) -> Result<Self, GroupTableFull> {
        let len = self.len;
        let existing = self
            .overrides
            .get(..len)
            .and_then(|o| o.iter().position(|&(g, _)| g == group));
        let i = existing.unwrap_or(len);
        *self.overrides.get_mut(i).ok_or(GroupTableFull)? = (group, action);
        if existing.is_none() {
            self.len += 1;
        }
        Ok(self)
    }

    /// The action for `group`.
    pub fn action(&self, group: u16) -> SysexAction {
        self.overrides
            .get(..self.len)
            .and_then(|o| o.iter().find(|&&(g, _)| g == group))
            .map_or(self.default, |&(_, a)| a)
    }

    /// Events dropped whole (they held only SysEx bytes).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events.load(Ordering::Relaxed)
    }

    /// Events that lost their SysEx bytes but kept others.
    pub fn trimmed_events(&self) -> u64 {
        self.trimmed_events.load(Ordering::Relaxed)
    }

    /// SysEx bytes removed.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes.load(Ordering::Relaxed)
    }

    /// Removes the SysEx bytes of one event (or passes it).
    pub fn apply(&self, event: &mut Event<'_>) -> Verdict {
        let group = event.channel_group();
        if event.is_package() || self.action(group) == SysexAction::Pass {
            return Verdict::Forward;
        }
        let data = event.data();
        // Empty events and real-time messages (which may come between the chunks of a SysEx)
        // neither belong to a SysEx nor end one.
        if data.iter().all(|&b| b >= 0xF8) {
            return Verdict::Forward;
        }
        let word = usize::from(group / 64);
        let bit = 1u64 << (group % 64);
        let mut kept = [0u8; BUFFER_SIZE];
        let mut n = 0usize;
        {
            let mut inside_bits = self.inside.lock();
            let Some(bits) = inside_bits.get_mut(word) else {
                return Verdict::Forward;
            };
            let mut inside = *bits & bit != 0;
            for &b in data {
                let keep = match b {
                    SOX => {
                        inside = true;
                        false
                    }
                    // A stray EOX outside a SysEx is not ours to judge: it passes.
                    EOX => !core::mem::replace(&mut inside, false),
                    0xF8..=0xFF => true,
                    0x80..=0xFF => {
                        inside = false;
                        true
                    }
                    _ => !inside,
                };
                if keep && let Some(slot) = kept.get_mut(n) {
                    *slot = b;
                    n += 1;
                }
            }
            if !event.is_incomplete() {
                inside = false;
            }
            if inside {
                *bits |= bit;
            } else {
                *bits &= !bit;
            }
        }
        let removed = data.len().saturating_sub(n);
        if removed == 0 {
            return Verdict::Forward;
        }
        self.dropped_bytes
            .fetch_add(removed as u64, Ordering::Relaxed);
        if n == 0 {
            self.dropped_events.fetch_add(1, Ordering::Relaxed);
            return Verdict::Drop;
        }
        // Shorter than before, so this cannot fail; if it did, the event would pass unchanged.
        if kept.get(..n).is_some_and(|k| event.set_bytes(k).is_ok()) {
            self.trimmed_events.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Forward
    }
}

impl Filter for SysexFilter {
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        let verdict = self.apply(&mut event);
        forward_if(verdict, event, out);
    }
}
