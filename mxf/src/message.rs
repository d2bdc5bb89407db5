//! Channel messages read and edited in place, in the event's own bytes.
//!
//! A filter that changes a note, a velocity, a channel, a controller value, a program or a pitch
//! bend needs no decoding into a [`midly`] value and no encoding back: [`Event::channel_message`]
//! checks the bytes once and [`Event::channel_message_mut`] edits them where they are (a channel
//! message always fits the event's inline bytes). The values are `midly`'s number types, so a
//! data byte can never become a status byte. Where a whole message is wanted (or for system and
//! SysEx messages), [`Event::message`] still gives `midly`'s view.
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::message::{ChannelKind, u4, u7};
//! use mxf::prelude::*;
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let mut e = Event::with_bytes(&alloc, &[0x91, 60, 100], 1, 0)?;
//! let mut m = e.channel_message_mut().expect("a note-on");
//! assert_eq!(m.kind(), ChannelKind::NoteOn);
//! assert!(m.set_key(u7::new(67)));
//! m.set_channel(u4::new(9));
//! assert_eq!(e.data(), &[0x99, 67, 100]);
//! // Fragments, packages, SysEx and malformed bytes are no channel message.
//! let sysex = Event::with_bytes(&alloc, &[0xF0, 0x7E, 0xF7], 1, 0)?;
//! assert!(sysex.channel_message().is_none());
//! # Ok::<(), NTSTATUS>(())
//! ```
//!
//! [`Event::channel_message`]: crate::event::Event::channel_message
//! [`Event::channel_message_mut`]: crate::event::Event::channel_message_mut
//! [`Event::message`]: crate::event::Event::message

pub use midly::num::{u4, u7, u14};

/// The kind of a channel voice message: the high nibble of its status byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// `0x8n key velocity`.
    NoteOff,
    /// `0x9n key velocity` (velocity 0 means note-off: see [`ChannelMessage::is_note_off`]).
    NoteOn,
    /// `0xAn key pressure`: polyphonic key pressure (aftertouch).
    KeyPressure,
    /// `0xBn controller value`: control change (also channel mode messages, controllers 120–127).
    Controller,
    /// `0xCn program`.
    ProgramChange,
    /// `0xDn pressure`: channel pressure (aftertouch).
    ChannelPressure,
    /// `0xEn lsb msb`: pitch bend, 14 bits, centre 0x2000.
    PitchBend,
}

impl ChannelKind {
    /// The kind of a status byte, `None` for data bytes and system messages (0xF0..).
    #[inline]
    pub const fn of_status(status: u8) -> Option<ChannelKind> {
        Some(match status >> 4 {
            0x8 => ChannelKind::NoteOff,
            0x9 => ChannelKind::NoteOn,
            0xA => ChannelKind::KeyPressure,
            0xB => ChannelKind::Controller,
            0xC => ChannelKind::ProgramChange,
            0xD => ChannelKind::ChannelPressure,
            0xE => ChannelKind::PitchBend,
            _ => return None,
        })
    }

    /// The message's length on the wire, status byte included: 2 or 3.
    #[inline]
    pub const fn wire_len(self) -> usize {
        match self {
            ChannelKind::ProgramChange | ChannelKind::ChannelPressure => 2,
            _ => 3,
        }
    }

    /// The status byte's high nibble.
    #[inline]
    const fn nibble(self) -> u8 {
        match self {
            ChannelKind::NoteOff => 0x80,
            ChannelKind::NoteOn => 0x90,
            ChannelKind::KeyPressure => 0xA0,
            ChannelKind::Controller => 0xB0,
            ChannelKind::ProgramChange => 0xC0,
            ChannelKind::ChannelPressure => 0xD0,
            ChannelKind::PitchBend => 0xE0,
        }
    }
}

/// Whether `bytes` are exactly one channel voice message: a status byte 0x80..=0xEF followed by
/// the data bytes its kind takes, each below 0x80. Running status (several messages in one
/// event), truncated messages and extra bytes are not.
#[inline]
fn kind_of(bytes: &[u8]) -> Option<ChannelKind> {
    // A channel message is 2 or 3 bytes: its data bytes are tested at once (their OR), not in a
    // loop.
    let (status, data) = match *bytes {
        [status, d1] => (status, d1),
        [status, d1, d2] => (status, d1 | d2),
        _ => return None,
    };
    let kind = ChannelKind::of_status(status)?;
    (bytes.len() == kind.wire_len() && data < 0x80).then_some(kind)
}

/// A channel voice message, read in place (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelMessage<'e> {
    /// Invariant: exactly one channel message (`kind_of` is `Some`), so `bytes[0]` and the data
    /// bytes its kind takes exist.
    bytes: &'e [u8],
    kind: ChannelKind,
}

impl<'e> ChannelMessage<'e> {
    /// `bytes` as a channel message, if they are exactly one (a status byte 0x80..=0xEF and the
    /// data bytes its kind takes, each below 0x80).
    #[inline]
    pub fn parse(bytes: &'e [u8]) -> Option<ChannelMessage<'e>> {
        let kind = kind_of(bytes)?;
        Some(ChannelMessage { bytes, kind })
    }

    /// The kind of message.
    #[inline]
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// The message's bytes, status byte first.
    #[inline]
    pub fn bytes(&self) -> &'e [u8] {
        self.bytes
    }

    /// The channel, 0..=15.
    #[inline]
    pub fn channel(&self) -> u4 {
        u4::from_int_lossy(self.status() & 0x0F)
    }

    /// The key of a note-off, note-on or key pressure.
    #[inline]
    pub fn key(&self) -> Option<u7> {
        match self.kind {
            ChannelKind::NoteOff | ChannelKind::NoteOn | ChannelKind::KeyPressure => {
                Some(self.byte(1))
            }
            _ => None,
        }
    }

    /// The velocity of a note-off or note-on.
    #[inline]
    pub fn velocity(&self) -> Option<u7> {
        match self.kind {
            ChannelKind::NoteOff | ChannelKind::NoteOn => Some(self.byte(2)),
            _ => None,
        }
    }

    /// The pressure of a key pressure or channel pressure.
    #[inline]
    pub fn pressure(&self) -> Option<u7> {
        match self.kind {
            ChannelKind::KeyPressure => Some(self.byte(2)),
            ChannelKind::ChannelPressure => Some(self.byte(1)),
            _ => None,
        }
    }

    /// The controller number and value of a control change.
    #[inline]
    pub fn controller(&self) -> Option<(u7, u7)> {
        (self.kind == ChannelKind::Controller).then(|| (self.byte(1), self.byte(2)))
    }

    /// The program of a program change.
    #[inline]
    pub fn program(&self) -> Option<u7> {
        (self.kind == ChannelKind::ProgramChange).then(|| self.byte(1))
    }

    /// The value of a pitch bend: 0..=0x3FFF, centre 0x2000.
    #[inline]
    pub fn bend(&self) -> Option<u14> {
        (self.kind == ChannelKind::PitchBend).then(|| {
            let lsb = u16::from(self.byte(1).as_int());
            let msb = u16::from(self.byte(2).as_int());
            u14::from_int_lossy(msb << 7 | lsb)
        })
    }

    /// A note-on with a velocity above 0.
    #[inline]
    pub fn is_note_on(&self) -> bool {
        self.kind == ChannelKind::NoteOn && self.byte(2).as_int() > 0
    }

    /// A note-off, or a note-on with velocity 0 (which means note-off).
    #[inline]
    pub fn is_note_off(&self) -> bool {
        self.kind == ChannelKind::NoteOff
            || (self.kind == ChannelKind::NoteOn && self.byte(2).as_int() == 0)
    }

    /// The message in `midly`'s terms.
    #[inline]
    pub fn to_midly(&self) -> (u4, midly::MidiMessage) {
        use midly::MidiMessage as M;
        let (a, b) = (self.byte(1), self.byte(2));
        let message = match self.kind {
            ChannelKind::NoteOff => M::NoteOff { key: a, vel: b },
            ChannelKind::NoteOn => M::NoteOn { key: a, vel: b },
            ChannelKind::KeyPressure => M::Aftertouch { key: a, vel: b },
            ChannelKind::Controller => M::Controller {
                controller: a,
                value: b,
            },
            ChannelKind::ProgramChange => M::ProgramChange { program: a },
            ChannelKind::ChannelPressure => M::ChannelAftertouch { vel: a },
            ChannelKind::PitchBend => M::PitchBend {
                bend: midly::PitchBend(u14::from_int_lossy(
                    u16::from(b.as_int()) << 7 | u16::from(a.as_int()),
                )),
            },
        };
        (self.channel(), message)
    }

    #[inline]
    fn status(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    /// Byte `i` (1 and 2 are the data bytes; 0 for a kind with fewer: never read for those).
    #[inline]
    fn byte(&self, i: usize) -> u7 {
        u7::from_int_lossy(self.bytes.get(i).copied().unwrap_or(0))
    }
}

/// A channel voice message, edited in place (see the [module docs](self)). Every setter keeps
/// the bytes one valid message of the same length: a value is a 4-, 7- or 14-bit number, and a
/// setter that does not apply to the message's kind changes nothing and returns false.
#[derive(Debug)]
pub struct ChannelMessageMut<'e> {
    /// Invariant: as [`ChannelMessage::bytes`], and `kind` is `kind_of(bytes)`.
    bytes: &'e mut [u8],
    kind: ChannelKind,
}

impl<'e> ChannelMessageMut<'e> {
    /// `bytes` as a channel message to edit, if they are exactly one.
    #[inline]
    pub fn parse(bytes: &'e mut [u8]) -> Option<ChannelMessageMut<'e>> {
        let kind = kind_of(bytes)?;
        Some(ChannelMessageMut { bytes, kind })
    }

    /// A read-only view, for the getters.
    #[inline]
    pub fn get(&self) -> ChannelMessage<'_> {
        ChannelMessage {
            bytes: self.bytes,
            kind: self.kind,
        }
    }

    /// The kind of message.
    #[inline]
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// Moves the message to `channel`.
    #[inline]
    pub fn set_channel(&mut self, channel: u4) {
        if let Some(status) = self.bytes.first_mut() {
            *status = (*status & 0xF0) | channel.as_int();
        }
    }

    /// Sets the key of a note-off, note-on or key pressure; false for other kinds.
    #[inline]
    pub fn set_key(&mut self, key: u7) -> bool {
        match self.kind {
            ChannelKind::NoteOff | ChannelKind::NoteOn | ChannelKind::KeyPressure => {
                self.set_byte(1, key)
            }
            _ => false,
        }
    }

    /// Sets the velocity of a note-off or note-on; false for other kinds. (Velocity 0 turns a
    /// note-on into a note-off.)
    #[inline]
    pub fn set_velocity(&mut self, velocity: u7) -> bool {
        match self.kind {
            ChannelKind::NoteOff | ChannelKind::NoteOn => self.set_byte(2, velocity),
            _ => false,
        }
    }

    /// Sets the pressure of a key pressure or channel pressure; false for other kinds.
    #[inline]
    pub fn set_pressure(&mut self, pressure: u7) -> bool {
        match self.kind {
            ChannelKind::KeyPressure => self.set_byte(2, pressure),
            ChannelKind::ChannelPressure => self.set_byte(1, pressure),
            _ => false,
        }
    }

    /// Sets the controller number of a control change; false for other kinds.
    #[inline]
    pub fn set_controller(&mut self, controller: u7) -> bool {
        self.kind == ChannelKind::Controller && self.set_byte(1, controller)
    }

    /// Sets the value of a control change; false for other kinds.
    #[inline]
    pub fn set_value(&mut self, value: u7) -> bool {
        self.kind == ChannelKind::Controller && self.set_byte(2, value)
    }

    /// Sets the program of a program change; false for other kinds.
    #[inline]
    pub fn set_program(&mut self, program: u7) -> bool {
        self.kind == ChannelKind::ProgramChange && self.set_byte(1, program)
    }

    /// Sets the value of a pitch bend (0..=0x3FFF, centre 0x2000); false for other kinds.
    #[inline]
    pub fn set_bend(&mut self, bend: u14) -> bool {
        let v = bend.as_int();
        self.kind == ChannelKind::PitchBend
            && self.set_byte(1, u7::from_int_lossy((v & 0x7F) as u8))
            && self.set_byte(2, u7::from_int_lossy((v >> 7) as u8))
    }

    /// Turns a note-on into a note-off of the same key and velocity, or back (the two have the
    /// same length); false for other kinds.
    #[inline]
    pub fn set_note_kind(&mut self, kind: ChannelKind) -> bool {
        let notes = [ChannelKind::NoteOff, ChannelKind::NoteOn];
        if !notes.contains(&self.kind) || !notes.contains(&kind) {
            return false;
        }
        if let Some(status) = self.bytes.first_mut() {
            *status = kind.nibble() | (*status & 0x0F);
            self.kind = kind;
            return true;
        }
        false
    }

    /// Sets byte `i` (a data byte: 1 or 2).
    #[inline]
    fn set_byte(&mut self, i: usize, v: u7) -> bool {
        match self.bytes.get_mut(i) {
            Some(b) => {
                *b = v.as_int();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use midly::live::LiveEvent;
    use std::vec;
    use std::vec::Vec;

    /// Every byte string of up to 3 bytes from a set that covers every status kind, data and
    /// non-data bytes: the in-place view agrees with midly's parse (strict) wherever midly sees
    /// exactly one channel message of the right length, and is `None` elsewhere.
    #[test]
    fn agrees_with_midly_on_every_short_byte_string() {
        let probe = [
            0x00, 0x3C, 0x7F, 0x80, 0x8F, 0x91, 0xA2, 0xB3, 0xC4, 0xD5, 0xE6, 0xF0, 0xF8,
        ];
        let mut strings: Vec<Vec<u8>> = vec![vec![]];
        for a in probe {
            strings.push(vec![a]);
            for b in probe {
                strings.push(vec![a, b]);
                for c in probe {
                    strings.push(vec![a, b, c]);
                }
            }
        }
        for s in strings {
            let ours = ChannelMessage::parse(&s).map(|m| m.to_midly());
            let theirs = match LiveEvent::parse(&s) {
                Ok(LiveEvent::Midi { channel, message }) => {
                    let len = match message {
                        midly::MidiMessage::ProgramChange { .. }
                        | midly::MidiMessage::ChannelAftertouch { .. } => 2,
                        _ => 3,
                    };
                    (s.len() == len).then_some((channel, message))
                }
                _ => None,
            };
            assert_eq!(ours, theirs, "{s:02X?}");
        }
    }

    #[test]
    fn setters_keep_one_valid_message_and_refuse_other_kinds() {
        let mut b = [0x93, 60, 100];
        let mut m = ChannelMessageMut::parse(&mut b).unwrap();
        assert!(m.set_key(u7::new(72)) && m.set_velocity(u7::new(0)));
        assert!(!m.set_program(u7::new(1)) && !m.set_value(u7::new(1)) && !m.set_bend(u14::new(0)));
        m.set_channel(u4::new(15));
        assert!(m.get().is_note_off() && !m.get().is_note_on());
        assert!(m.set_note_kind(ChannelKind::NoteOff));
        assert_eq!(b, [0x8F, 72, 0]);

        let mut b = [0xE0, 0x00, 0x40];
        let mut m = ChannelMessageMut::parse(&mut b).unwrap();
        assert_eq!(m.get().bend(), Some(u14::new(0x2000)));
        assert!(m.set_bend(u14::new(0x3FFF)));
        assert!(!m.set_note_kind(ChannelKind::NoteOn));
        assert_eq!(b, [0xE0, 0x7F, 0x7F]);

        let mut b = [0xC2, 5];
        let mut m = ChannelMessageMut::parse(&mut b).unwrap();
        assert!(m.set_program(u7::new(127)) && !m.set_key(u7::new(1)));
        assert_eq!(b, [0xC2, 127]);

        let mut b = [0xB1, 7, 90];
        let mut m = ChannelMessageMut::parse(&mut b).unwrap();
        assert_eq!(m.get().controller(), Some((u7::new(7), u7::new(90))));
        assert!(m.set_value(u7::new(10)) && m.set_controller(u7::new(11)));
        assert_eq!(b, [0xB1, 11, 10]);

        let mut b = [0xD0, 1];
        let mut m = ChannelMessageMut::parse(&mut b).unwrap();
        assert!(m.set_pressure(u7::new(99)));
        assert_eq!(b, [0xD0, 99]);
        let mut b = [0xA0, 60, 1];
        let mut m = ChannelMessageMut::parse(&mut b).unwrap();
        assert!(m.set_pressure(u7::new(99)));
        assert_eq!(b, [0xA0, 60, 99]);
    }
}
