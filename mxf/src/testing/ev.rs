//! [`Ev`]: one event described by its MIDI bytes (or a package by its contents), to build into
//! allocator events or to compare with what a sink received.

use crate::abi::{
    DMUS_KEF_EVENT_INCOMPLETE, DMUS_KEF_PACKAGE_EVENT, REFERENCE_TIME, Result,
    STATUS_INSUFFICIENT_RESOURCES,
};
use crate::event::{Chain, Event};
use crate::interfaces::IAllocatorMXF;
use crate::message::ChannelMessage;
use core::fmt;
use midly::MidiMessage;
use midly::live::{LiveEvent, SystemCommon};
use std::borrow::Cow;
use std::string::String;
use std::vec::Vec;

/// One event of a test: MIDI bytes (or, for a package, the events it holds), a channel group, a
/// presentation time and flags.
///
/// Build one with [`msg`] (any bytes), [`note_on`], [`note_off`], [`control_change`],
/// [`program_change`], [`sysex`], [`fragments`] or [`package`], then adjust it with
/// [`at`](Ev::at), [`group`](Ev::group), [`incomplete`](Ev::incomplete) or
/// [`with_flags`](Ev::with_flags). A new description is a complete event on channel group 1 at
/// time 0.
///
/// The same type describes what came out: [`Rig::received`](super::Rig::received) rebuilds
/// descriptions from the events a sink received, so a test compares them with `==`.
/// Equality compares the bytes, the group, the time, the flags and, for packages, the
/// contents.
///
/// ```
/// use mxf::testing::{msg, note_on, package};
///
/// let on = note_on(0, 60, 100).at(10).group(2);
/// assert_eq!(on, msg(&[0x90, 60, 100]).at(10).group(2));
/// assert_eq!(on.data(), [0x90, 60, 100]);
/// assert_eq!((on.time(), on.channel_group()), (10, 2));
/// let pkg = package([on.clone(), note_on(0, 64, 100)]).at(5);
/// assert!(pkg.is_package() && pkg.data().is_empty());
/// assert_eq!(pkg.contents().map(<[_]>::len), Some(2));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Ev<'b> {
    body: Body<'b>,
    group: u16,
    time: REFERENCE_TIME,
    /// `usFlags`, never with `DMUS_KEF_PACKAGE_EVENT` (that is `body`'s business).
    flags: u16,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Body<'b> {
    Data(Cow<'b, [u8]>),
    Package(Vec<Ev<'b>>),
}

/// Byte sequences an [`Ev`] can be made of: borrowed slices and arrays (`&[0x90, 60, 100]`),
/// and vectors. Borrowed bytes are not copied until the event is built.
pub trait IntoBytes<'b> {
    /// The bytes, borrowed or owned.
    fn into_bytes(self) -> Cow<'b, [u8]>;
}

impl<'b> IntoBytes<'b> for &'b [u8] {
    fn into_bytes(self) -> Cow<'b, [u8]> {
        Cow::Borrowed(self)
    }
}

impl<'b, const N: usize> IntoBytes<'b> for &'b [u8; N] {
    fn into_bytes(self) -> Cow<'b, [u8]> {
        Cow::Borrowed(self)
    }
}

impl<'b> IntoBytes<'b> for Vec<u8> {
    fn into_bytes(self) -> Cow<'b, [u8]> {
        Cow::Owned(self)
    }
}

impl<'b> IntoBytes<'b> for &'b Vec<u8> {
    fn into_bytes(self) -> Cow<'b, [u8]> {
        Cow::Borrowed(self.as_slice())
    }
}

impl<'b> Ev<'b> {
    /// A complete event holding `bytes` (any bytes: a message, several, part of one, nothing),
    /// on channel group 1 at time 0. The same as [`msg`].
    pub fn new(bytes: impl IntoBytes<'b>) -> Self {
        Self {
            body: Body::Data(bytes.into_bytes()),
            group: 1,
            time: 0,
            flags: 0,
        }
    }

    /// A package holding `contents` (`DMUS_KEF_PACKAGE_EVENT`, no data), on channel group 1
    /// at time 0. The same as [`package`].
    pub fn package(contents: impl IntoIterator<Item = Ev<'b>>) -> Self {
        Self {
            body: Body::Package(contents.into_iter().collect()),
            group: 1,
            time: 0,
            flags: 0,
        }
    }

    /// The same event at presentation time `time` (100 ns units).
    #[must_use]
    pub fn at(mut self, time: REFERENCE_TIME) -> Self {
        self.time = time;
        self
    }

    /// The same event on channel group `group` (groups are numbered from 1).
    #[must_use]
    pub fn group(mut self, group: u16) -> Self {
        self.group = group;
        self
    }

    /// The same event flagged INCOMPLETE (a SysEx chunk or capture bytes that continue in a
    /// later event).
    #[must_use]
    pub fn incomplete(mut self) -> Self {
        self.flags |= DMUS_KEF_EVENT_INCOMPLETE;
        self
    }

    /// The same event with `usFlags` set to `flags` (INCOMPLETE and port-private bits
    /// included). The package flag is not taken from `flags`: it says whether the event is a
    /// package.
    #[must_use]
    pub fn with_flags(mut self, flags: u16) -> Self {
        self.flags = flags & !DMUS_KEF_PACKAGE_EVENT;
        self
    }

    /// The data bytes (empty for a package).
    pub fn data(&self) -> &[u8] {
        match &self.body {
            Body::Data(d) => d,
            Body::Package(_) => &[],
        }
    }

    /// The events of a package; `None` for an event that is no package.
    pub fn contents(&self) -> Option<&[Ev<'b>]> {
        match &self.body {
            Body::Data(_) => None,
            Body::Package(c) => Some(c),
        }
    }

    /// The channel group.
    pub fn channel_group(&self) -> u16 {
        self.group
    }

    /// The presentation time.
    pub fn time(&self) -> REFERENCE_TIME {
        self.time
    }

    /// `usFlags` as the built event carries them (with `DMUS_KEF_PACKAGE_EVENT` for a package).
    pub fn flags(&self) -> u16 {
        match self.body {
            Body::Data(_) => self.flags,
            Body::Package(_) => self.flags | DMUS_KEF_PACKAGE_EVENT,
        }
    }

    /// True if flagged INCOMPLETE.
    pub fn is_incomplete(&self) -> bool {
        self.flags & DMUS_KEF_EVENT_INCOMPLETE != 0
    }

    /// True for a package.
    pub fn is_package(&self) -> bool {
        matches!(self.body, Body::Package(_))
    }

    /// The MIDI message, parsed by `midly`, for a complete event; `None` for a fragment, a
    /// package or bytes that are no message.
    pub fn message(&self) -> Option<LiveEvent<'_>> {
        if self.is_incomplete() || self.is_package() {
            return None;
        }
        LiveEvent::parse(self.data()).ok()
    }

    /// The channel voice message of a complete event holding exactly one, read in place, as
    /// [`Event::channel_message`] reads it; `None` for a fragment, a package, a system message,
    /// SysEx and malformed bytes.
    pub fn channel_message(&self) -> Option<ChannelMessage<'_>> {
        if self.is_incomplete() || self.is_package() {
            return None;
        }
        ChannelMessage::parse(self.data())
    }

    /// A complete event holding the encoding of `message`; `None` if `midly` cannot encode it
    /// (a data byte above 127 in a SysEx, for one).
    pub fn from_message(message: &LiveEvent<'_>) -> Option<Ev<'static>> {
        let mut bytes = Vec::new();
        message.write(&mut bytes).ok()?;
        Some(Ev::new(bytes))
    }

    /// The same description owning its bytes.
    pub fn into_owned(self) -> Ev<'static> {
        let body = match self.body {
            Body::Data(d) => Body::Data(Cow::Owned(d.into_owned())),
            Body::Package(c) => Body::Package(c.into_iter().map(Ev::into_owned).collect()),
        };
        Ev {
            body,
            group: self.group,
            time: self.time,
            flags: self.flags,
        }
    }

    /// A new event from `alloc` as described (a package with its contents). Data longer than
    /// the allocator's buffer (240 bytes) is refused with `STATUS_INVALID_PARAMETER` (split it
    /// with [`fragments`]); an exhausted allocator gives `STATUS_INSUFFICIENT_RESOURCES`.
    pub fn build<'a>(&self, alloc: &'a IAllocatorMXF) -> Result<Event<'a>> {
        match &self.body {
            Body::Data(d) => {
                let mut e = Event::with_bytes(alloc, d, self.group, self.time)?;
                e.set_flags(self.flags);
                Ok(e)
            }
            Body::Package(contents) => {
                let contents = chain(alloc, contents)?;
                let mut shell = Event::new(alloc).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
                shell.set_channel_group(self.group);
                shell.set_time(self.time);
                shell.set_flags(self.flags);
                shell.into_package(contents)
            }
        }
    }

    /// The description of a received event (its data, group, time and flags; a package's
    /// contents are added by the caller).
    pub(super) fn received(
        bytes: &[u8],
        group: u16,
        time: REFERENCE_TIME,
        flags: u16,
    ) -> Ev<'static> {
        let body = if flags & DMUS_KEF_PACKAGE_EVENT != 0 {
            Body::Package(Vec::new())
        } else {
            Body::Data(Cow::Owned(bytes.to_vec()))
        };
        Ev {
            body,
            group,
            time,
            flags: flags & !DMUS_KEF_PACKAGE_EVENT,
        }
    }

    /// Adds `e` to this package's contents (nothing for an event that is no package).
    pub(super) fn push_content(&mut self, e: Ev<'b>) {
        if let Body::Package(c) = &mut self.body {
            c.push(e);
        }
    }
}

/// A complete event holding `bytes` on channel group 1 at time 0 (see [`Ev::new`]).
pub fn msg<'b>(bytes: impl IntoBytes<'b>) -> Ev<'b> {
    Ev::new(bytes)
}

/// A package holding `contents` on channel group 1 at time 0 (see [`Ev::package`]).
pub fn package<'b>(contents: impl IntoIterator<Item = Ev<'b>>) -> Ev<'b> {
    Ev::package(contents)
}

/// The status byte `kind | channel`.
///
/// # Panics
/// If `channel` is not 0..=15 (test code: a wrong argument is the test's bug).
fn status(kind: u8, channel: u8) -> u8 {
    assert!(channel < 16, "MIDI channels are 0..=15, not {channel}");
    kind | channel
}

/// A data byte.
///
/// # Panics
/// If `value` is above 127 (use [`msg`] for bytes that are no valid message).
fn data_byte(what: &str, value: u8) -> u8 {
    assert!(value < 0x80, "a MIDI {what} is 0..=127, not {value}");
    value
}

/// A note-on: `9n key velocity`. `channel` is 0..=15 (MIDI channel 1 is 0); velocity 0 is a
/// note-off by MIDI's rule.
///
/// # Panics
/// If `channel` is above 15 or `key` or `velocity` above 127 (use [`msg`] for malformed bytes).
pub fn note_on(channel: u8, key: u8, velocity: u8) -> Ev<'static> {
    msg(std::vec![
        status(0x90, channel),
        data_byte("key", key),
        data_byte("velocity", velocity),
    ])
}

/// A note-off: `8n key velocity`.
///
/// # Panics
/// As [`note_on`].
pub fn note_off(channel: u8, key: u8, velocity: u8) -> Ev<'static> {
    msg(std::vec![
        status(0x80, channel),
        data_byte("key", key),
        data_byte("velocity", velocity),
    ])
}

/// A control change: `Bn controller value`.
///
/// # Panics
/// If `channel` is above 15 or `controller` or `value` above 127.
pub fn control_change(channel: u8, controller: u8, value: u8) -> Ev<'static> {
    msg(std::vec![
        status(0xB0, channel),
        data_byte("controller", controller),
        data_byte("controller value", value),
    ])
}

/// A program change: `Cn program`.
///
/// # Panics
/// If `channel` is above 15 or `program` above 127.
pub fn program_change(channel: u8, program: u8) -> Ev<'static> {
    msg(std::vec![
        status(0xC0, channel),
        data_byte("program", program)
    ])
}

/// A whole SysEx message, `F0 data… F7`, as one complete event (longer than `sizeof(PBYTE)`,
/// it is built in an allocator buffer). At most 238 data bytes fit one event: split a longer
/// message with [`fragments`].
pub fn sysex(data: &[u8]) -> Ev<'static> {
    let mut bytes = Vec::with_capacity(data.len().saturating_add(2));
    bytes.push(0xF0);
    bytes.extend_from_slice(data);
    bytes.push(0xF7);
    msg(bytes)
}

/// `bytes` split into events of at most `max_len` bytes (at least 1), every one flagged
/// INCOMPLETE but the last: a long SysEx as the DMus unpacker hands it on.
///
/// ```
/// use mxf::testing::fragments;
///
/// let parts = fragments(&[0xF0, 1, 2, 3, 4, 0xF7], 4);
/// assert_eq!(parts.len(), 2);
/// assert!(parts[0].is_incomplete() && !parts[1].is_incomplete());
/// assert_eq!(parts[1].data(), [4, 0xF7]);
/// ```
pub fn fragments(bytes: &[u8], max_len: usize) -> Vec<Ev<'static>> {
    let mut out: Vec<Ev<'static>> = bytes
        .chunks(max_len.max(1))
        .map(|c| msg(c.to_vec()).incomplete())
        .collect();
    if let Some(last) = out.last_mut() {
        last.flags &= !DMUS_KEF_EVENT_INCOMPLETE;
    }
    out
}

/// A chain of new events from `alloc`, built from `events` in order (see [`Ev::build`]). On a
/// failure, what was built goes back to the allocator.
pub fn chain<'a>(alloc: &'a IAllocatorMXF, events: &[Ev<'_>]) -> Result<Chain<'a>> {
    let mut c = Chain::new(alloc);
    for e in events {
        c.push_back(e.build(alloc)?);
    }
    Ok(c)
}

/// Writes one event as `g1 t=0        90 3C 64   ch1  note-on 60 vel 100` (decoded by `midly`
/// when it parses).
pub(super) fn describe(
    f: &mut dyn fmt::Write,
    bytes: &[u8],
    group: u16,
    time: REFERENCE_TIME,
    incomplete: bool,
) -> fmt::Result {
    write!(f, "g{group} t={time:<8}")?;
    let mut hex = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i == 12 {
            hex.push_str(" …");
            break;
        }
        // Writing to a String cannot fail.
        let _ = fmt::Write::write_fmt(&mut hex, format_args!(" {b:02X}"));
    }
    write!(f, "{hex:<28}")?;
    if incomplete {
        return write!(f, " fragment ({} bytes, INCOMPLETE)", bytes.len());
    }
    match LiveEvent::parse(bytes) {
        Ok(LiveEvent::Midi { channel, message }) => {
            write!(
                f,
                " ch{:<2} ",
                u16::from(channel.as_int()).saturating_add(1)
            )?;
            match message {
                MidiMessage::NoteOn { key, vel } if vel == 0 => {
                    write!(f, "note-on {key} vel 0 (a note-off)")
                }
                MidiMessage::NoteOn { key, vel } => write!(f, "note-on {key} vel {vel}"),
                MidiMessage::NoteOff { key, vel } => write!(f, "note-off {key} vel {vel}"),
                MidiMessage::Aftertouch { key, vel } => write!(f, "key pressure {key} = {vel}"),
                MidiMessage::Controller { controller, value } => {
                    write!(f, "controller {controller} = {value}")
                }
                MidiMessage::ProgramChange { program } => write!(f, "program {program}"),
                MidiMessage::ChannelAftertouch { vel } => write!(f, "channel pressure {vel}"),
                MidiMessage::PitchBend { bend } => write!(f, "pitch bend {}", bend.as_int()),
            }
        }
        Ok(LiveEvent::Common(SystemCommon::SysEx(d))) => {
            write!(f, " SysEx ({} data bytes)", d.len())
        }
        Ok(other) => write!(f, " {other:?}"),
        Err(_) => write!(f, " (not a complete message)"),
    }
}

impl Ev<'_> {
    fn write_lines(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        write!(f, "{:indent$}", "", indent = depth.saturating_mul(2))?;
        match &self.body {
            Body::Data(d) => describe(f, d, self.group, self.time, self.is_incomplete()),
            Body::Package(contents) => {
                write!(
                    f,
                    "package (group {}, t={}, {} events)",
                    self.group,
                    self.time,
                    contents.len()
                )?;
                for e in contents {
                    writeln!(f)?;
                    e.write_lines(f, depth.saturating_add(1))?;
                }
                Ok(())
            }
        }
    }
}

/// One line per event (a package's contents on the following lines, indented), decoded.
impl fmt::Display for Ev<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_lines(f, 0)
    }
}

/// Compact: `Ev(g1 t=10 [90 3C 64])`, flags when not 0, packages with their contents.
impl fmt::Debug for Ev<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            Body::Data(d) => {
                write!(f, "Ev(g{} t={} [", self.group, self.time)?;
                for (i, b) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{b:02X}")?;
                }
                f.write_str("]")?;
            }
            Body::Package(contents) => {
                write!(f, "Package(g{} t={} ", self.group, self.time)?;
                f.debug_list().entries(contents).finish()?;
            }
        }
        if self.flags != 0 {
            write!(f, " flags={:#06X}", self.flags)?;
        }
        f.write_str(")")
    }
}
