//! `ChannelMap`: remaps and mutes MIDI channels, per channel group.

use super::{GroupTableFull, Verdict, forward_if};
use mxf::event::Event;
use mxf::filter::{Filter, Output};
use mxf::message::u4;
use mxf::mxf_filter;
use mxf::platform::atomic::{AtomicU64, Ordering};

/// A channel that is muted.
const MUTE: u8 = 0xFF;

/// The map of one channel group: `to[channel]` is the new channel or [`MUTE`].
#[derive(Clone, Copy)]
struct GroupMap {
    group: u16,
    to: [u8; 16],
}

/// Moves channel messages to other channels and mutes channels, per channel group.
///
/// **Teaches:** configuration per channel group (the 16 MIDI channels of group 1 and those of
/// group 2 are different instruments), a builder that reports a full table instead of
/// panicking, and that dropping an event (a muted channel) simply returns it to the allocator.
///
/// Groups without a map pass through unchanged, as do system messages (SysEx, real-time), which
/// have no channel, and everything that is not one complete channel message.
#[mxf_filter]
pub struct ChannelMap {
    maps: [GroupMap; ChannelMap::MAX_GROUPS],
    len: usize,
    muted: AtomicU64,
}

impl Default for ChannelMap {
    fn default() -> Self {
        Self::new()
    }
}

impl ChannelMap {
    /// The most channel groups one map configures.
    pub const MAX_GROUPS: usize = 16;

    /// The identity map (every group unchanged).
    pub fn new() -> Self {
        Self {
            maps: [GroupMap {
                group: 0,
                to: [0; 16],
            }; Self::MAX_GROUPS],
            len: 0,
            muted: AtomicU64::new(0),
        }
    }

    fn group_mut(&mut self, group: u16) -> Result<&mut GroupMap, GroupTableFull> {
        let len = self.len;
        if let Some(i) = self
            .maps
            .get(..len)
            .and_then(|m| m.iter().position(|m| m.group == group))
        {
            return self.maps.get_mut(i).ok_or(GroupTableFull);
        }
        let slot = self.maps.get_mut(len).ok_or(GroupTableFull)?;
        *slot = GroupMap {
            group,
            to: core::array::from_fn(|c| c as u8),
        };
        self.len += 1;
        Ok(slot)
    }

    /// Sends channel `from` of `group` to channel `to`.
    pub fn remap(mut self, group: u16, from: u4, to: u4) -> Result<Self, GroupTableFull> {
        let m = self.group_mut(group)?;
        if let Some(slot) = m.to.get_mut(usize::from(from.as_int())) {
            *slot = to.as_int();
        }
        Ok(self)
    }

    /// Drops every channel message of `channel` in `group`.
    pub fn mute(mut self, group: u16, channel: u4) -> Result<Self, GroupTableFull> {
        let m = self.group_mut(group)?;
        if let Some(slot) = m.to.get_mut(usize::from(channel.as_int())) {
            *slot = MUTE;
        }
        Ok(self)
    }

    /// Where channel `channel` of `group` goes: `Some(channel)` or `None` (muted).
    #[inline]
    pub fn route(&self, group: u16, channel: u4) -> Option<u4> {
        let to = self
            .maps
            .get(..self.len)
            .and_then(|m| m.iter().find(|m| m.group == group))
            .and_then(|m| m.to.get(usize::from(channel.as_int())).copied());
        match to {
            None => Some(channel),
            Some(MUTE) => None,
            Some(c) => Some(u4::from(c)),
        }
    }

    /// Events dropped because their channel is muted.
    pub fn muted(&self) -> u64 {
        self.muted.load(Ordering::Relaxed)
    }

    /// Remaps or mutes one event in place (its status byte is rewritten where it is).
    #[inline]
    pub fn apply(&self, event: &mut Event<'_>) -> Verdict {
        let group = event.channel_group();
        let Some(mut message) = event.channel_message_mut() else {
            return Verdict::Forward;
        };
        match self.route(group, message.get().channel()) {
            Some(to) => {
                message.set_channel(to);
                Verdict::Forward
            }
            None => {
                self.muted.fetch_add(1, Ordering::Relaxed);
                Verdict::Drop
            }
        }
    }
}

impl Filter for ChannelMap {
    #[inline]
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        let verdict = self.apply(&mut event);
        forward_if(verdict, event, out);
    }
}
