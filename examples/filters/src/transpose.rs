//! `Transpose`: shifts notes by a number of semitones that may change while notes sound.

use super::{Verdict, forward_if};
use mxf::abi::{KSSTATE, KSSTATE_STOP};
use mxf::event::Event;
use mxf::filter::{Filter, Output};
use mxf::midly::num::{u4, u7};
use mxf::mxf_filter;
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicU64, Ordering};

/// How many channel groups a [`Transpose`] remembers notes for (2 KiB each).
pub const TRACKED_GROUPS: usize = 8;

/// No note-on recorded for this (group, channel, note).
const IDLE: u8 = 0xFF;
/// The note-on was out of range and dropped: drop its note-off too.
const DROPPED: u8 = 0x80;

/// The notes a transpose has sent, per tracked group.
struct Notes {
    semitones: i8,
    /// The group of each slot in use (`used` of them).
    groups: [u16; TRACKED_GROUPS],
    used: usize,
    /// `sent_as[slot][channel][original note]`: the note the note-on was sent as, [`DROPPED`] or
    /// [`IDLE`].
    sent_as: [[[u8; 128]; 16]; TRACKED_GROUPS],
}

impl Notes {
    /// The slot of `group`, if it has one.
    #[inline]
    fn find(&self, group: u16) -> Option<usize> {
        self.groups
            .get(..self.used)?
            .iter()
            .position(|&g| g == group)
    }

    /// The slot of `group`, given one if it has none and one is free.
    #[inline]
    fn slot(&mut self, group: u16) -> Option<usize> {
        if let Some(i) = self.find(group) {
            return Some(i);
        }
        let free = self.used;
        *self.groups.get_mut(free)? = group;
        self.used += 1;
        Some(free)
    }

    fn entry(&mut self, slot: usize, channel: u4, key: u7) -> Option<&mut u8> {
        self.sent_as
            .get_mut(slot)?
            .get_mut(usize::from(channel.as_int()))?
            .get_mut(usize::from(key.as_int()))
    }

    fn reset(&mut self) {
        self.used = 0;
        self.sent_as = [[[IDLE; 128]; 16]; TRACKED_GROUPS];
    }
}

/// Transposes notes (note-on, note-off, polyphonic key pressure) by a number of semitones.
///
/// **Teaches:** per-note state behind [`SpinLock`], so `process(&self)` stays correct when the
/// port calls it from several CPUs, and why a transform must remember what it did: the interval
/// can change ([`Transpose::set_semitones`]) while notes sound, and a note-off must still reach
/// the note its note-on was sent as, or the note hangs.
///
/// Policy:
/// * Per (channel group, channel, original note) the filter records what the note-on was sent
///   as. The note-off (or note-on with velocity 0) and key pressure of that note follow the
///   record; a repeated note-on of a sounding note reuses it.
/// * A note shifted out of 0..=127 is dropped and counted ([`Transpose::out_of_range`]); its
///   note-off and key pressure are dropped too.
/// * A note-off with no record (its note-on predates the filter) is shifted by the current
///   interval (dropped if out of range).
/// * Notes are remembered for the first [`TRACKED_GROUPS`] channel groups seen. Notes of further
///   groups pass through untransposed (counted in [`Transpose::untracked`]): unshifted, never
///   hanging.
/// * All Notes Off (CC 123) and All Sound Off (CC 120) forget the channel's notes; `SetState(STOP)`
///   forgets everything. Everything else passes through untouched.
#[mxf_filter]
pub struct Transpose {
    notes: SpinLock<Notes>,
    out_of_range: AtomicU64,
    untracked: AtomicU64,
}

impl Transpose {
    /// A transpose by `semitones` (negative: down).
    pub fn new(semitones: i8) -> Self {
        Self {
            notes: SpinLock::new(Notes {
                semitones,
                groups: [0; TRACKED_GROUPS],
                used: 0,
                sent_as: [[[IDLE; 128]; 16]; TRACKED_GROUPS],
            }),
            out_of_range: AtomicU64::new(0),
            untracked: AtomicU64::new(0),
        }
    }

    /// Changes the interval; sounding notes keep theirs until their note-off.
    pub fn set_semitones(&self, semitones: i8) {
        self.notes.lock().semitones = semitones;
    }

    /// The current interval.
    pub fn semitones(&self) -> i8 {
        self.notes.lock().semitones
    }

    /// Note events dropped because the shifted note was out of range (note-ons and their
    /// note-offs and key pressure).
    pub fn out_of_range(&self) -> u64 {
        self.out_of_range.load(Ordering::Relaxed)
    }

    /// Note events passed untransposed because their group was beyond [`TRACKED_GROUPS`].
    pub fn untracked(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
    }

    /// Forgets every sounding note.
    pub fn reset(&self) {
        self.notes.lock().reset();
    }

    /// Transposes one event in place (its key byte is rewritten where it is).
    #[inline]
    pub fn apply(&self, event: &mut Event<'_>) -> Verdict {
        let group = event.channel_group();
        let Some(mut message) = event.channel_message_mut() else {
            return Verdict::Forward;
        };
        let m = message.get();
        let channel = m.channel();
        let Some(key) = m.key() else {
            if let Some((controller, _)) = m.controller()
                && (controller == 120 || controller == 123)
            {
                self.forget_channel(group, channel);
            }
            return Verdict::Forward;
        };
        let starts = m.is_note_on();
        let ends = m.is_note_off();

        let target = {
            let mut notes = self.notes.lock();
            let semitones = notes.semitones;
            let Some(slot) = notes.slot(group) else {
                drop(notes);
                self.untracked.fetch_add(1, Ordering::Relaxed);
                return Verdict::Forward;
            };
            let Some(entry) = notes.entry(slot, channel, key) else {
                return Verdict::Forward;
            };
            let recorded = *entry;
            if starts {
                // A repeated note-on of a sounding note goes where the first one went.
                let t = match u7::try_from(recorded) {
                    Some(sounding) => Some(sounding),
                    None => shift(key, semitones),
                };
                *entry = t.map_or(DROPPED, u7::as_int);
                t
            } else {
                if ends {
                    *entry = IDLE;
                }
                match recorded {
                    IDLE => shift(key, semitones),
                    DROPPED => None,
                    n => u7::try_from(n),
                }
            }
        };
        match target {
            Some(t) => {
                // A note, so the key is there to set.
                message.set_key(t);
                Verdict::Forward
            }
            None => {
                self.out_of_range.fetch_add(1, Ordering::Relaxed);
                Verdict::Drop
            }
        }
    }

    fn forget_channel(&self, group: u16, channel: u4) {
        let mut notes = self.notes.lock();
        if let Some(slot) = notes.find(group) {
            let ch = usize::from(channel.as_int());
            if let Some(row) = notes.sent_as.get_mut(slot).and_then(|s| s.get_mut(ch)) {
                *row = [IDLE; 128];
            }
        }
    }
}

/// `key + semitones`, if that is a note.
fn shift(key: u7, semitones: i8) -> Option<u7> {
    let n = i16::from(key.as_int()) + i16::from(semitones);
    u8::try_from(n).ok().and_then(u7::try_from)
}

impl Filter for Transpose {
    #[inline]
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        let verdict = self.apply(&mut event);
        forward_if(verdict, event, out);
    }

    fn state_changed(&self, _old: KSSTATE, new: KSSTATE) {
        if new == KSSTATE_STOP {
            self.reset();
        }
    }
}
