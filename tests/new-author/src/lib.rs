//! Three MXF filters as a new author writes them with mxf, each unlike the samples:
//!
//! | filter | what it does | what it shows |
//! |---|---|---|
//! | [`DrumMap`] | remaps, mutes and layers drum notes on MIDI channel 10 | a fixed table, keys edited in place (`Event::channel_message_mut`), copies through `Output` |
//! | [`VoiceLimit`] | caps the number of sounding notes | state behind a spin lock, a second interface ([`IVoiceLimit`]) |
//! | [`AftertouchToCc`] | turns channel pressure into a controller | changing the message type (and length) of an event (`Event::set_bytes`) |
//!
//! The code is `no_std` and keeps the kernel's rules: nothing panics, nothing allocates, an event
//! is pushed on or dropped (then it goes back to the allocator by itself).
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use mxf::message::{ChannelKind, u7};
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicU64, Ordering};
use mxf::prelude::*;

/// The MIDI channel of General MIDI drums: channel 10, numbered 9 on the wire.
pub const DRUM_CHANNEL: u8 = 9;

/// Sets the key of a note or key-pressure message in place (no decoding, no encoding).
fn set_key(event: &mut Event<'_>, key: u7) {
    if let Some(mut m) = event.channel_message_mut() {
        m.set_key(key);
    }
}

/// Remaps drum notes on MIDI channel 10 (kit A's snare to kit B's, say), mutes some, and layers
/// others (a second note played with the first). Note-ons, note-offs and key pressure of a key
/// follow the same table, so a remapped or layered note ends where it started; everything else,
/// and every other channel, passes untouched.
///
/// The table is fixed when the filter is created, so `process` reads it without a lock.
#[mxf_filter]
pub struct DrumMap {
    /// The key each key is sent as; `None` for a muted key.
    keys: [Option<u7>; 128],
    /// The key each key also plays, if any.
    layers: [Option<u7>; 128],
    /// Layer copies that could not be made (the allocator was exhausted).
    missed: AtomicU64,
}

impl Default for DrumMap {
    fn default() -> Self {
        Self::new()
    }
}

impl DrumMap {
    /// A map that changes nothing.
    pub fn new() -> Self {
        let mut keys = [None; 128];
        for (k, slot) in (0u8..).zip(keys.iter_mut()) {
            *slot = Some(u7::from_int_lossy(k));
        }
        Self {
            keys,
            layers: [None; 128],
            missed: AtomicU64::new(0),
        }
    }

    /// Sends `from` as `to`.
    #[must_use]
    pub fn map(mut self, from: u7, to: u7) -> Self {
        if let Some(slot) = self.keys.get_mut(usize::from(from.as_int())) {
            *slot = Some(to);
        }
        self
    }

    /// Drops every note of `key`.
    #[must_use]
    pub fn mute(mut self, key: u7) -> Self {
        if let Some(slot) = self.keys.get_mut(usize::from(key.as_int())) {
            *slot = None;
        }
        self
    }

    /// Plays `extra` together with `key` (a copy of the event, right after it).
    #[must_use]
    pub fn layer(mut self, key: u7, extra: u7) -> Self {
        if let Some(slot) = self.layers.get_mut(usize::from(key.as_int())) {
            *slot = Some(extra);
        }
        self
    }

    /// Layer copies dropped because the allocator had no event to give.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }

    /// The key of a note-on, note-off or key pressure on the drum channel, if the event is one.
    fn drum_key(event: &Event<'_>) -> Option<u7> {
        let m = event.channel_message()?;
        if m.channel().as_int() != DRUM_CHANNEL {
            return None;
        }
        m.key()
    }
}

impl Filter for DrumMap {
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        let Some(key) = Self::drum_key(&event) else {
            out.push(event);
            return;
        };
        let index = usize::from(key.as_int());
        let to = self.keys.get(index).copied().flatten();
        // A layer is a copy of the event, sent right after it, with the layer's key.
        let layer = match self.layers.get(index).copied().flatten() {
            Some(extra) => match out.clone_event(&event) {
                Some(mut copy) => {
                    set_key(&mut copy, extra);
                    Some(copy)
                }
                None => {
                    self.missed.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
            None => None,
        };
        match to {
            Some(to) => {
                set_key(&mut event, to);
                out.push(event);
            }
            // Muted: the event goes back to the allocator.
            None => drop(event),
        }
        if let Some(copy) = layer {
            out.push(copy);
        }
    }
}

/// `IVoiceLimit`: reads and sets the polyphony of a [`VoiceLimit`] while it runs (a control
/// panel's knob, reached with QueryInterface on the filter's IMXF).
#[com_interface(iid = "3F2B7C1E-8D4A-4E6B-9C0F-5A1D2E3B4C6D")]
// SAFETY: the IID is this crate's own, for exactly these slots in this order.
pub unsafe trait IVoiceLimit: IUnknown {
    /// Slot 3. Sets the most notes that sound at once, 1 to [`MAX_VOICES`];
    /// `STATUS_INVALID_PARAMETER` otherwise (the limit is unchanged). Notes sounding beyond a
    /// lowered limit go on; new ones wait for room.
    fn SetLimit(&self, limit: u32) -> NTSTATUS;
    /// Slot 4. Stores the limit in `*limit`; `STATUS_INVALID_PARAMETER` for NULL.
    fn GetLimit(&self, limit: *mut u32) -> NTSTATUS;
}

/// The most notes a [`VoiceLimit`] tracks (and the highest limit).
pub const MAX_VOICES: usize = 32;

/// A note: channel group, channel, key.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Voice {
    group: u16,
    channel: u8,
    key: u8,
}

/// A fixed set of notes.
struct Voices {
    slots: [Option<Voice>; MAX_VOICES],
}

impl Voices {
    const fn new() -> Self {
        Self {
            slots: [None; MAX_VOICES],
        }
    }

    fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    fn contains(&self, v: Voice) -> bool {
        self.slots.contains(&Some(v))
    }

    /// Adds `v`; false if the set is full.
    fn insert(&mut self, v: Voice) -> bool {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(v);
                true
            }
            None => false,
        }
    }

    /// Removes `v`; false if it was not there.
    fn remove(&mut self, v: Voice) -> bool {
        match self.slots.iter_mut().find(|s| **s == Some(v)) {
            Some(slot) => {
                *slot = None;
                true
            }
            None => false,
        }
    }

    fn retain(&mut self, keep: impl Fn(Voice) -> bool) {
        for slot in &mut self.slots {
            if slot.is_some_and(|v| !keep(v)) {
                *slot = None;
            }
        }
    }
}

/// What a [`VoiceLimit`] keeps under its lock.
struct Polyphony {
    limit: usize,
    sounding: Voices,
    /// Notes whose note-on was dropped: their note-offs are dropped too.
    refused: Voices,
}

/// Caps polyphony: a note-on beyond the limit of sounding notes is dropped, and so is its
/// note-off. A repeated note-on of a sounding note, and a note-off of a note this filter never
/// saw, pass. All Sound Off and All Notes Off (controllers 120 and 123) end a channel's notes;
/// STOP ends all of them. The limit can change while the filter runs, through [`IVoiceLimit`].
#[mxf_filter(IVoiceLimit)]
pub struct VoiceLimit {
    state: SpinLock<Polyphony>,
    dropped: AtomicU64,
}

impl VoiceLimit {
    /// A limit of `limit` notes (clamped to 1..=[`MAX_VOICES`]).
    pub fn new(limit: usize) -> Self {
        Self {
            state: SpinLock::new(Polyphony {
                limit: limit.clamp(1, MAX_VOICES),
                sounding: Voices::new(),
                refused: Voices::new(),
            }),
            dropped: AtomicU64::new(0),
        }
    }

    /// Note-ons and note-offs dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Notes sounding now.
    pub fn sounding(&self) -> usize {
        self.state.lock().sounding.len()
    }

    /// Whether `event` goes on, updating the notes.
    fn admit(&self, event: &Event<'_>) -> bool {
        let Some(m) = event.channel_message() else {
            return true;
        };
        let group = event.channel_group();
        let channel = m.channel().as_int();
        let voice = |key: u7| Voice {
            group,
            channel,
            key: key.as_int(),
        };
        let mut p = self.state.lock();
        if let (true, Some(key)) = (m.is_note_on(), m.key()) {
            let v = voice(key);
            if p.sounding.contains(v) {
                return true;
            }
            if p.sounding.len() < p.limit && p.sounding.insert(v) {
                p.refused.remove(v);
                return true;
            }
            // Remembered so that its note-off is dropped too (if there is room to).
            if !p.refused.contains(v) {
                p.refused.insert(v);
            }
            return false;
        }
        if let (true, Some(key)) = (m.is_note_off(), m.key()) {
            let v = voice(key);
            return p.sounding.remove(v) || !p.refused.remove(v);
        }
        // All Sound Off and All Notes Off end the channel's notes.
        if let Some((controller, _)) = m.controller()
            && matches!(controller.as_int(), 120 | 123)
        {
            let other = |v: Voice| v.group != group || v.channel != channel;
            p.sounding.retain(other);
            p.refused.retain(other);
        }
        true
    }
}

impl Filter for VoiceLimit {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        if self.admit(&event) {
            out.push(event);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn state_changed(&self, _old: KSSTATE, new: KSSTATE) {
        if new == KSSTATE_STOP {
            let mut p = self.state.lock();
            p.sounding = Voices::new();
            p.refused = Voices::new();
        }
    }
}

impl IVoiceLimit_Impl for VoiceLimit {
    fn SetLimit(&self, limit: u32) -> NTSTATUS {
        match usize::try_from(limit) {
            Ok(l) if (1..=MAX_VOICES).contains(&l) => {
                self.state.lock().limit = l;
                STATUS_SUCCESS
            }
            _ => STATUS_INVALID_PARAMETER,
        }
    }

    unsafe fn GetLimit(&self, limit: *mut u32) -> NTSTATUS {
        if limit.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let l = u32::try_from(self.state.lock().limit).unwrap_or(u32::MAX);
        // SAFETY: a non-NULL out-pointer is writable (the caller's contract).
        unsafe { limit.write(l) };
        STATUS_SUCCESS
    }
}

/// Turns channel pressure (`Dn p`, a two-byte message) into a controller (`Bn c p`, three
/// bytes) on the same channel, group and time, for a synth that has no pressure input. Key
/// pressure and everything else pass untouched.
#[mxf_filter]
pub struct AftertouchToCc {
    controller: u7,
    /// Conversions that could not be written (never, with events of mxf's allocator: a
    /// three-byte message fits inline).
    failed: AtomicU64,
}

impl AftertouchToCc {
    /// Channel pressure becomes `controller` (1, the modulation wheel, for one).
    pub fn new(controller: u7) -> Self {
        Self {
            controller,
            failed: AtomicU64::new(0),
        }
    }

    /// Conversions that failed (the event went on unchanged).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Filter for AftertouchToCc {
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        let pressure = event
            .channel_message()
            .filter(|m| m.kind() == ChannelKind::ChannelPressure)
            .and_then(|m| Some((m.channel(), m.pressure()?)));
        if let Some((channel, pressure)) = pressure {
            // Two bytes become three: still inline, so no buffer is involved.
            let cc = [
                0xB0 | channel.as_int(),
                self.controller.as_int(),
                pressure.as_int(),
            ];
            if event.set_bytes(&cc).is_err() {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        out.push(event);
    }
}
