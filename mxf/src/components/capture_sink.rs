//! The capture sink: turns the raw MIDI bytes a capture miniport sends into whole messages, the
//! counterpart of the DMus port's capture sink (`domain.md` §4.3, §6 items 38–48).
//!
//! A capture miniport such as DMusUART does no MIDI parsing: it sends chains of INCOMPLETE events
//! holding up to `sizeof(PBYTE)` raw bytes each (4 on 32-bit targets, 8 on 64-bit ones). The
//! capture sink parses them byte by byte, per channel group, and forwards one event per message
//! to its output (the packer).
//!
//! # Behaviour
//! * **State and connection**: the sink starts in `KSSTATE_STOP`. In STOP, or while no output is
//!   connected, every event it receives goes straight back to the allocator (item 38). In
//!   ACQUIRE, PAUSE and RUN events are parsed. Entering STOP forgets (recycles) any partial
//!   message. Connections follow `domain.md` §1.3 (items 27–29).
//! * **Packages** are unwrapped: the shell goes back to the allocator, the contents are
//!   processed in its place (item 47).
//! * **COMPLETE events** (a device that parses itself): the group's pending fragment is forwarded
//!   first, INCOMPLETE with the discontinuity mark; then the event is forwarded verbatim, with the
//!   port-private parse bits (`0xC000`) cleared. The group's running status is reset (item 45).
//! * **INCOMPLETE events** are parsed byte by byte (items 39–46):
//!   - a channel status `0x80..=0xEF` starts a message of 2 data bytes (1 for `0xC0..=0xDF`); a
//!     finished message is forwarded COMPLETE and leaves running status, so further data bytes
//!     make new messages with the status byte prepended (running status expansion);
//!   - `F0` starts SysEx; every [`SYSEX_CHUNK_BYTES`] bytes the chunk is forwarded INCOMPLETE
//!     (the first one starts with `F0`); `F7` ends it and the last chunk, ending in `F7`, is
//!     forwarded COMPLETE;
//!   - `F1`/`F3` (1 data byte) and `F2` (2) are parsed; `F6` is forwarded as a COMPLETE 1-byte
//!     event; `F4`/`F5` as INCOMPLETE 1-byte events with the discontinuity mark; system common
//!     bytes clear running status;
//!   - real-time bytes `F8..=FF` are forwarded at once as COMPLETE 1-byte events and do not
//!     disturb the message they interrupt;
//!   - any other status byte interrupting an unfinished message (SysEx included) forwards the
//!     partial message INCOMPLETE with the discontinuity mark; an `F7` outside SysEx is forwarded
//!     with the bytes before it, INCOMPLETE with the mark;
//!   - data bytes with neither a message nor running status are collected and forwarded as an
//!     INCOMPLETE fragment with the mark, at the latest when the `PutMessage` call ends;
//!   - each message takes the time of the input event holding its first byte (for a
//!     running-status message: its first data byte; for a SysEx chunk: its first byte).
//! * **Output**: everything one `PutMessage` call produces goes downstream as one chain, in order,
//!   in one `PutMessage`, with no lock held.
//! * **Discontinuity**: fragments that do not hold a whole message (interrupted, orphan, `F4`/`F5`,
//!   flushed, evicted) carry [`DMUS_KEF_CAPTURE_DISCONTINUITY`] (`usFlags` bit `0x8000`, the bit
//!   the port uses privately, `domain.md` §2.3); so does the next event of a group after bytes of
//!   that group were lost. The packer turns it into a data discontinuity on the capture IRP.
//! * [`CaptureSinkHandle::flush`] (the pin calls it on PAUSE→ACQUIRE) forwards every pending
//!   fragment INCOMPLETE with the mark and forgets running status (item 48).
//!
//! # Resources
//! Parse state lives in a fixed table of [`MAX_CHANNEL_GROUPS`] groups inside the object; no heap.
//! When a further group appears, the least recently used one is evicted: its pending fragment is
//! forwarded (INCOMPLETE, marked) and its running status forgotten. A pending fragment is held as
//! an allocator event, inline while it fits `sizeof(PBYTE)` and in an allocator buffer beyond, as
//! the port does. If the allocator is exhausted, parsing of that input event stops: the fragment
//! built so far is forwarded (INCOMPLETE, marked), the remaining bytes of the event are dropped
//! and counted ([`CaptureSinkStats::out_of_memory`], [`CaptureSinkStats::bytes_dropped`]), and
//! the event still goes back to the allocator. Parsing resumes with the next input event.
//!
//! Allocator calls (`GetMessage`, `GetBuffer`, and returning parsed input events) happen under the
//! sink's spin lock; the allocator never calls back into the sink.
//!
//! # Where this differs from the port's capture sink
//! * The parse-state table is bounded ([`MAX_CHANNEL_GROUPS`], least recently used evicted)
//!   instead of a list that grows from the pool at DISPATCH_LEVEL. A COMPLETE event of a group
//!   without parse state takes no entry.
//! * After an allocation failure the fragment built so far is forwarded (marked) rather than
//!   lost, and the group's next event carries the discontinuity mark.
//! * A SysEx interrupted right after a full chunk went out has nothing left to forward; the
//!   group's next event carries the discontinuity mark instead.
//! * Orphan data bytes in a row make one fragment, forwarded when a status byte arrives or the
//!   call ends.
//! * Events without data bytes (`cbEvent == 0`, or a long event without a buffer) are returned
//!   to the allocator, not forwarded.
//! * Entering STOP forgets pending fragments; unknown `KSSTATE` values are refused with
//!   `STATUS_INVALID_PARAMETER` and change nothing.
//!
//! # Example
//!
//! The capture graph's middle: a UART-like stream's raw bytes in, whole messages out to the
//! packer.
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::components::capture_sink::CaptureSinkHandle;
//! use mxf::components::packer::{PackerFormat, PackerHandle};
//! use mxf::prelude::*;
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let sink = CaptureSinkHandle::new(alloc.interface().clone())?;
//! let packer = PackerHandle::new(alloc.interface().clone(), PackerFormat::DirectMusic)?;
//! assert_eq!(sink.ConnectOutput(Some(packer.to_ref())), STATUS_SUCCESS);
//! // The pin runs (the packer first, going up).
//! assert_eq!(packer.SetState(KSSTATE_RUN), STATUS_SUCCESS);
//! assert_eq!(sink.SetState(KSSTATE_RUN), STATUS_SUCCESS);
//!
//! // Raw bytes as the device delivered them, cut anywhere, in INCOMPLETE events.
//! let mut chain = Chain::new(&alloc);
//! for (bytes, time) in [(&[0x90, 60][..], 1_000), (&[100, 64, 90][..], 2_000)] {
//!     let mut e = Event::with_bytes(&alloc, bytes, 1, time)?;
//!     e.set_incomplete(true);
//!     chain.push_back(e);
//! }
//! chain.deliver(Some(sink.interface()));
//!
//! // Two whole messages reached the packer, the second one by running status.
//! assert_eq!(packer.queued(), 2);
//! let mut irp = [0u8; 64];
//! let filled = packer.fill(&mut irp, 0);
//! assert_eq!(filled.bytes, 2 * DMUS_EVENT_SIZE(3));
//! let second = &irp[DMUS_EVENT_SIZE(3)..];
//! let rt_delta = i64::from_ne_bytes(second[8..16].try_into().unwrap());
//! assert_eq!(rt_delta, 2_000); // the time of the event holding its first byte
//! assert_eq!(&second[20..23], &[0x90, 64, 90]);
//! assert_eq!(alloc.stats().outstanding_events, 0);
//! # Ok::<(), NTSTATUS>(())
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use crate::abi::{
    DMUS_KEF_EVENT_COMPLETE, DMUS_KEF_EVENT_INCOMPLETE, DMUS_KERNEL_EVENT, INLINE_DATA_BYTES,
    KSSTATE, KSSTATE_STOP, NTSTATUS, REFERENCE_TIME, Result, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
};
use crate::com::{ComRef, ObjectHandle};
use crate::connection::{Outputs, connect_output_not_to, disconnect_output_from};
use crate::event::{Chain, Event};
use crate::interfaces::{IAllocatorMXF, IMXF, IMXF_Impl};
use crate::platform::SpinLock;
use core::ptr::NonNull;

/// `usFlags` bit marking a forwarded fragment that follows or contains a data discontinuity.
/// Port-private (`domain.md` §2.3); the packer reports it on the capture IRP.
pub const DMUS_KEF_CAPTURE_DISCONTINUITY: u16 = 0x8000;

/// The port-private parse-state bits of `usFlags`, cleared on COMPLETE events forwarded verbatim.
pub const DMUS_KEF_PARSE_STATE_MASK: u16 = 0xC000;

/// Channel groups whose parse state the sink keeps at once (least recently used evicted beyond).
pub const MAX_CHANNEL_GROUPS: usize = 16;

/// Bytes per SysEx chunk: the allocator's buffer size (`kMXFBufferSize`), 240. With an allocator
/// reporting a smaller buffer size, chunks are that size (at least `sizeof(PBYTE)`).
pub const SYSEX_CHUNK_BYTES: usize = 240;

const BROKEN: u16 = DMUS_KEF_EVENT_INCOMPLETE | DMUS_KEF_CAPTURE_DISCONTINUITY;

/// Counters of a capture sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureSinkStats {
    /// `PutMessage` calls with a non-NULL chain.
    pub calls: u64,
    /// Events parsed or forwarded (package contents counted, shells not).
    pub events_in: u64,
    /// Events sent downstream (messages, fragments, forwarded COMPLETE events).
    pub events_out: u64,
    /// Events returned to the allocator unparsed because of STOP or a missing connection.
    pub discarded: u64,
    /// Events without data bytes (returned to the allocator).
    pub empty_events: u64,
    /// Times the allocator could not supply an event or buffer while parsing.
    pub out_of_memory: u64,
    /// Input bytes dropped after an allocation failure.
    pub bytes_dropped: u64,
    /// Groups evicted from the parse-state table to make room for another.
    pub group_evictions: u64,
}

/// Where a group's parser stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// Between messages (running status may be set; no fragment is held).
    Idle,
    /// A short message still missing `need` data bytes.
    Message { need: u8 },
    /// Inside SysEx; the fragment, if any, is the current chunk.
    SysEx,
    /// Data bytes that belong to no message.
    Orphan,
}

/// Parse state of one channel group.
struct GroupState {
    group: u16,
    used: bool,
    last_use: u64,
    /// Running status (a channel status byte), or 0.
    running: u8,
    pending: Pending,
    /// The fragment being built: an event of the sink's allocator, owned by this entry.
    frag: Option<NonNull<DMUS_KERNEL_EVENT>>,
    /// Bytes in `frag`.
    len: usize,
    /// Bytes of this group were lost: mark the next forwarded event.
    lost: bool,
}

// SAFETY: `frag` is an event owned exclusively by this entry; it is only touched under the
// sink's lock (or with exclusive access to the sink), from whichever CPU holds it.
unsafe impl Send for GroupState {}

impl GroupState {
    const EMPTY: Self = Self {
        group: 0,
        used: false,
        last_use: 0,
        running: 0,
        pending: Pending::Idle,
        frag: None,
        len: 0,
        lost: false,
    };

    /// Takes the fragment out as an owned event.
    fn take_frag<'a>(&mut self, alloc: &'a IAllocatorMXF) -> Option<Event<'a>> {
        let p = self.frag.take()?;
        self.len = 0;
        // SAFETY: `frag` is only ever set by `keep_frag` from `Event::into_raw` of an event of
        // this allocator, and it is taken out exactly once (`take` cleared it).
        unsafe { Event::from_raw(p.as_ptr(), alloc) }
    }

    /// Stores `e` as the fragment, holding `len` bytes.
    fn keep_frag(&mut self, e: Event<'_>, len: usize) {
        self.frag = NonNull::new(e.into_raw());
        self.len = len;
    }

    /// `flags`, plus the discontinuity mark if bytes of this group were lost.
    fn mark(&mut self, flags: u16) -> u16 {
        if core::mem::take(&mut self.lost) {
            flags | DMUS_KEF_CAPTURE_DISCONTINUITY
        } else {
            flags
        }
    }
}

/// Data bytes of a message starting with status `s` (channel or system common).
fn data_bytes(s: u8) -> u8 {
    match s {
        0xC0..=0xDF | 0xF1 | 0xF3 => 1,
        _ => 2,
    }
}

/// Appends `b` to `e`, which holds `n` bytes: inline while they fit, in an allocator buffer beyond.
fn append_byte(e: &mut Event<'_>, n: usize, b: u8) -> Result<()> {
    let n1 = n.checked_add(1).ok_or(STATUS_INVALID_PARAMETER)?;
    if n <= INLINE_DATA_BYTES {
        // Still inline, or crossing into a buffer: `set_bytes` takes the buffer from the allocator.
        let mut tmp = [0u8; INLINE_DATA_BYTES + 1];
        for (d, s) in tmp.iter_mut().zip(e.data()) {
            *d = *s;
        }
        let slot = tmp.get_mut(n).ok_or(STATUS_INVALID_PARAMETER)?;
        *slot = b;
        return e.set_bytes(tmp.get(..n1).ok_or(STATUS_INVALID_PARAMETER)?);
    }
    // Already long: the buffer holds the allocator's buffer size, more than the chunk size.
    let new_len = u16::try_from(n1).map_err(|_| STATUS_INVALID_PARAMETER)?;
    let cap = e.allocator().GetBufferSize() as usize;
    if n1 > cap {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let old_len = e.raw().cbEvent;
    // SAFETY: a long event: `cbEvent` grows within its buffer of `cap` bytes (or, without a
    // buffer, is put back below before anything reads it).
    unsafe { e.raw_mut() }.cbEvent = new_len;
    match e.data_mut().get_mut(n) {
        Some(slot) => {
            *slot = b;
            Ok(())
        }
        None => {
            // SAFETY: back to the length it had.
            unsafe { e.raw_mut() }.cbEvent = old_len;
            Err(STATUS_INVALID_PARAMETER)
        }
    }
}

/// The parser's view of one `PutMessage` call: where events come from and go.
struct Cx<'o, 'a> {
    alloc: &'a IAllocatorMXF,
    out: &'o mut Chain<'a>,
    chunk: usize,
}

impl<'a> Cx<'_, 'a> {
    /// Forwards the group's fragment (if any) with `flags`.
    fn forward(&mut self, g: &mut GroupState, flags: u16) {
        if let Some(mut e) = g.take_frag(self.alloc) {
            e.set_flags(g.mark(flags));
            self.out.push_back(e);
        }
    }

    /// Forwards a new 1-byte event.
    fn emit_byte(
        &mut self,
        g: &mut GroupState,
        b: u8,
        t: REFERENCE_TIME,
        flags: u16,
    ) -> Result<()> {
        let mut e = Event::with_bytes(self.alloc, &[b], g.group, t)?;
        e.set_flags(g.mark(flags));
        self.out.push_back(e);
        Ok(())
    }

    /// Adds `b` to the group's fragment, starting one at time `t` if there is none.
    fn push(&mut self, g: &mut GroupState, b: u8, t: REFERENCE_TIME) -> Result<()> {
        let n = g.len;
        match g.take_frag(self.alloc) {
            None => {
                let e = Event::with_bytes(self.alloc, &[b], g.group, t)?;
                g.keep_frag(e, 1);
                Ok(())
            }
            Some(mut e) => {
                let r = append_byte(&mut e, n, b);
                let len = if r.is_ok() { n.saturating_add(1) } else { n };
                g.keep_frag(e, len);
                r
            }
        }
    }

    /// A status byte arrives: the unfinished message, if any, is forwarded as a broken fragment.
    fn interrupt(&mut self, g: &mut GroupState) {
        match g.pending {
            Pending::Idle => {}
            // Every chunk of this SysEx is already out; mark the next event instead.
            Pending::SysEx if g.frag.is_none() => g.lost = true,
            _ => self.forward(g, BROKEN),
        }
        g.pending = Pending::Idle;
    }

    /// Parses one byte of an INCOMPLETE event with time `t`.
    fn feed(&mut self, g: &mut GroupState, b: u8, t: REFERENCE_TIME) -> Result<()> {
        match b {
            0xF8..=0xFF => self.emit_byte(g, b, t, DMUS_KEF_EVENT_COMPLETE),
            0xF7 if g.pending == Pending::SysEx => {
                let r = self.push(g, b, t);
                if r.is_ok() {
                    self.forward(g, DMUS_KEF_EVENT_COMPLETE);
                    g.pending = Pending::Idle;
                }
                r
            }
            0xF7 => {
                // End of exclusive outside SysEx: forwarded with the bytes before it.
                g.running = 0;
                let r = self.push(g, b, t);
                self.forward(g, BROKEN);
                g.pending = Pending::Idle;
                r
            }
            0x80..=0xF6 => {
                self.interrupt(g);
                g.running = if b < 0xF0 { b } else { 0 };
                match b {
                    0xF0 => {
                        g.pending = Pending::SysEx;
                        self.push(g, b, t)
                    }
                    0xF6 => self.emit_byte(g, b, t, DMUS_KEF_EVENT_COMPLETE),
                    0xF4 | 0xF5 => self.emit_byte(g, b, t, BROKEN),
                    _ => {
                        g.pending = Pending::Message {
                            need: data_bytes(b),
                        };
                        self.push(g, b, t)
                    }
                }
            }
            _ => self.data(g, b, t),
        }
    }

    /// Parses a data byte.
    fn data(&mut self, g: &mut GroupState, b: u8, t: REFERENCE_TIME) -> Result<()> {
        if g.pending == Pending::Idle {
            if g.running == 0 {
                g.pending = Pending::Orphan;
            } else {
                // Running status: a new message, the status byte prepended, at this byte's time.
                let s = g.running;
                g.pending = Pending::Message {
                    need: data_bytes(s),
                };
                self.push(g, s, t)?;
            }
        }
        match g.pending {
            Pending::Message { need } => {
                self.push(g, b, t)?;
                if need <= 1 {
                    self.forward(g, DMUS_KEF_EVENT_COMPLETE);
                    g.pending = Pending::Idle;
                } else {
                    g.pending = Pending::Message {
                        need: need.saturating_sub(1),
                    };
                }
            }
            Pending::SysEx => {
                self.push(g, b, t)?;
                if g.len >= self.chunk {
                    self.forward(g, DMUS_KEF_EVENT_INCOMPLETE);
                }
            }
            Pending::Orphan => {
                self.push(g, b, t)?;
                if g.len >= self.chunk {
                    self.forward(g, BROKEN);
                    g.pending = Pending::Idle;
                }
            }
            Pending::Idle => {}
        }
        Ok(())
    }
}

/// Everything behind the sink's lock.
struct SinkState {
    state: KSSTATE,
    output: Outputs<1>,
    groups: [GroupState; MAX_CHANNEL_GROUPS],
    tick: u64,
    stats: CaptureSinkStats,
}

impl SinkState {
    /// The table entry of `group`, evicting the least recently used entry if the table is full.
    fn slot(&mut self, cx: &mut Cx<'_, '_>, group: u16) -> usize {
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        if let Some((i, g)) = self
            .groups
            .iter_mut()
            .enumerate()
            .find(|(_, g)| g.used && g.group == group)
        {
            g.last_use = tick;
            return i;
        }
        let i = self
            .groups
            .iter()
            .position(|g| !g.used)
            .or_else(|| {
                self.groups
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, g)| g.last_use)
                    .map(|(i, _)| i)
            })
            .unwrap_or(0);
        if let Some(g) = self.groups.get_mut(i) {
            if g.used {
                cx.interrupt(g);
                self.stats.group_evictions = self.stats.group_evictions.saturating_add(1);
            }
            *g = GroupState {
                group,
                used: true,
                last_use: tick,
                ..GroupState::EMPTY
            };
        }
        i
    }

    /// Parses or forwards every event of `input` into `out`.
    fn process<'a>(&mut self, cx: &mut Cx<'_, 'a>, input: &mut Chain<'a>) {
        // Packages are replaced by their contents first (shells back to the allocator).
        drop(input.unwrap_packages());
        while let Some(ev) = input.pop_front() {
            self.stats.events_in = self.stats.events_in.saturating_add(1);
            // No data bytes: a length of 0, or a long event without a buffer (a caller's lie
            // that `data()` reads as empty).
            if ev.data().is_empty() {
                self.stats.empty_events = self.stats.empty_events.saturating_add(1);
                continue;
            }
            let group = ev.channel_group();
            if !ev.is_incomplete() {
                // Forwarded verbatim, after the group's fragment. A group without parse state
                // gets no table entry.
                let mut ev = ev;
                let flags = ev.raw().usFlags & !DMUS_KEF_PARSE_STATE_MASK;
                let flags = match self.groups.iter_mut().find(|g| g.used && g.group == group) {
                    Some(g) => {
                        cx.interrupt(g);
                        g.running = 0;
                        g.mark(flags)
                    }
                    None => flags,
                };
                ev.set_flags(flags);
                cx.out.push_back(ev);
                continue;
            }
            let idx = self.slot(cx, group);
            if let Some(g) = self.groups.get_mut(idx) {
                let t = ev.time();
                let data = ev.data();
                for (i, &b) in data.iter().enumerate() {
                    if cx.feed(g, b, t).is_err() {
                        // Out of memory: keep what was built, drop the rest of this event.
                        cx.forward(g, BROKEN);
                        g.pending = Pending::Idle;
                        g.running = 0;
                        g.lost = true;
                        let dropped = data.len().saturating_sub(i) as u64;
                        self.stats.out_of_memory = self.stats.out_of_memory.saturating_add(1);
                        self.stats.bytes_dropped = self.stats.bytes_dropped.saturating_add(dropped);
                        break;
                    }
                }
            }
            // `ev` goes back to the allocator here (its buffer with it).
        }
        // Orphan data does not wait for a later call.
        for g in self.groups.iter_mut() {
            if g.used && g.pending == Pending::Orphan {
                cx.forward(g, BROKEN);
                g.pending = Pending::Idle;
            }
        }
    }

    /// Forwards every pending fragment (into `cx`) and forgets all parse state.
    fn flush_groups(&mut self, cx: &mut Cx<'_, '_>) {
        for g in self.groups.iter_mut() {
            if g.used {
                cx.interrupt(g);
            }
            *g = GroupState::EMPTY;
        }
    }
}

/// The capture sink object. Create it with [`CaptureSinkHandle::new`].
#[crate::com_object(IMXF, tag = "MXFc")]
pub struct CaptureSink {
    alloc: IAllocatorMXF,
    chunk: usize,
    state: SpinLock<SinkState>,
}

impl CaptureSink {
    fn new(alloc: IAllocatorMXF) -> Self {
        let buffer = usize::from(alloc.GetBufferSize());
        Self {
            alloc,
            chunk: buffer.clamp(INLINE_DATA_BYTES, SYSEX_CHUNK_BYTES),
            state: SpinLock::new(SinkState {
                state: KSSTATE_STOP,
                output: Outputs::new(),
                groups: [const { GroupState::EMPTY }; MAX_CHANNEL_GROUPS],
                tick: 0,
                stats: CaptureSinkStats::default(),
            }),
        }
    }

    fn put(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        if !head.is_aligned() {
            // No allocator hands out such a pointer: refused without touching it.
            return STATUS_INVALID_PARAMETER;
        }
        let alloc = &self.alloc;
        // SAFETY: PutMessage hands over the whole chain; its events come from this stream's
        // allocator.
        let mut input = unsafe { Chain::from_raw(head, alloc) };
        let mut out = Chain::new(alloc);
        let sink = {
            let mut st = self.state.lock();
            st.stats.calls = st.stats.calls.saturating_add(1);
            if st.state == KSSTATE_STOP || !st.output.is_connected() {
                st.stats.discarded = st.stats.discarded.saturating_add(input.len() as u64);
                None
            } else {
                let mut cx = Cx {
                    alloc,
                    out: &mut out,
                    chunk: self.chunk,
                };
                st.process(&mut cx, &mut input);
                st.stats.events_out = st.stats.events_out.saturating_add(out.len() as u64);
                st.output.get(0).cloned()
            }
        };
        // Unparsed input (STOP, unconnected) goes back to the allocator, outside the lock.
        drop(input);
        match sink {
            Some(s) => out.deliver(Some(&s)),
            None => STATUS_SUCCESS,
        }
    }

    fn flush(&self) {
        let alloc = &self.alloc;
        let mut out = Chain::new(alloc);
        let sink = {
            let mut st = self.state.lock();
            let mut cx = Cx {
                alloc,
                out: &mut out,
                chunk: self.chunk,
            };
            st.flush_groups(&mut cx);
            if st.output.is_connected() {
                st.stats.events_out = st.stats.events_out.saturating_add(out.len() as u64);
            }
            st.output.get(0).cloned()
        };
        // Unconnected: the fragments go to the allocator.
        let _ = out.deliver(sink.as_ref());
    }

    fn stats(&self) -> CaptureSinkStats {
        self.state.lock().stats
    }
}

impl Drop for CaptureSink {
    fn drop(&mut self) {
        let alloc = &self.alloc;
        for g in self.state.get_mut().groups.iter_mut() {
            // Pending fragments go back to the allocator.
            drop(g.take_frag(alloc));
        }
    }
}

impl IMXF_Impl for CaptureSink {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        let alloc = &self.alloc;
        let mut forgotten = Chain::new(alloc);
        {
            let mut st = self.state.lock();
            st.state = state;
            if state == KSSTATE_STOP {
                for g in st.groups.iter_mut() {
                    if let Some(e) = g.take_frag(alloc) {
                        forgotten.push_back(e);
                    }
                    *g = GroupState::EMPTY;
                }
            }
        }
        drop(forgotten);
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        self.put(event)
    }

    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        connect_output_not_to(
            &self.state,
            |st| &mut st.output,
            sink,
            1,
            |s| crate::com::ComObject::<CaptureSink>::holds_interface(self, s),
        )
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        disconnect_output_from(&self.state, |st| &mut st.output, sink, &self.alloc)
    }
}

/// An owned capture sink with access to `flush` and its counters. Derefs to [`IMXF`].
pub type CaptureSinkHandle = ObjectHandle<CaptureSink, IMXF>;

impl ObjectHandle<CaptureSink, IMXF> {
    /// Creates a capture sink (in `KSSTATE_STOP`, unconnected) that recycles into `alloc`.
    /// `STATUS_INSUFFICIENT_RESOURCES` if the object cannot be allocated.
    pub fn new(alloc: IAllocatorMXF) -> Result<Self> {
        Self::create(CaptureSink::new(alloc))
    }

    /// Forwards pending fragments INCOMPLETE (+ discontinuity mark), recycles bare running-status
    /// placeholders (item 48). The pin calls it on PAUSE→ACQUIRE. Unconnected, the fragments go
    /// to the allocator.
    pub fn flush(&self) {
        self.value().flush();
    }

    /// The counters.
    pub fn stats(&self) -> CaptureSinkStats {
        self.value().stats()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Conformance (`domain.md` §6 items 27–29, 38–48) and hardening tests, driving the sink
    //! through its IMXF vtable with INCOMPLETE fragments of `sizeof(PBYTE)` bytes on group 1, as
    //! DMusUART sends them.
    extern crate std;

    use super::*;
    #[allow(unused_imports)]
    use crate::abi::STATUS_UNSUCCESSFUL;
    use crate::abi::{KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, STATUS_NOT_IMPLEMENTED};
    use crate::allocator::{AllocatorConfig, AllocatorHandle};
    #[allow(unused_imports)]
    use crate::com::{Interface, IntoComObject};
    use std::sync::{Arc, Mutex};
    use std::vec;
    use std::vec::Vec;

    const INC: u16 = DMUS_KEF_EVENT_INCOMPLETE;
    const DISC: u16 = DMUS_KEF_CAPTURE_DISCONTINUITY;

    /// One event as the recorder saw it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Rec {
        bytes: Vec<u8>,
        flags: u16,
        group: u16,
        time: i64,
    }

    impl Rec {
        fn complete(&self) -> bool {
            self.flags & INC == 0
        }
        fn marked(&self) -> bool {
            self.flags & DISC != 0
        }
    }

    #[derive(Default)]
    struct Log {
        events: Vec<Rec>,
        calls: usize,
    }

    /// A downstream IMXF that records what it receives and returns it to the allocator.
    #[crate::com_object(IMXF)]
    struct Recorder {
        alloc: IAllocatorMXF,
        log: Arc<Mutex<Log>>,
    }

    impl IMXF_Impl for Recorder {
        fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
            STATUS_SUCCESS
        }
        unsafe fn PutMessage(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            // SAFETY: the chain is handed over; its events come from `alloc`.
            let chain = unsafe { Chain::from_raw(head, &self.alloc) };
            let mut log = self.log.lock().unwrap();
            log.calls += 1;
            for e in chain {
                log.events.push(Rec {
                    bytes: e.data().to_vec(),
                    flags: e.raw().usFlags,
                    group: e.channel_group(),
                    time: e.time(),
                });
            }
            STATUS_SUCCESS
        }
        fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_NOT_IMPLEMENTED
        }
        fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_NOT_IMPLEMENTED
        }
    }

    /// An allocator, a capture sink in RUN connected to a recorder.
    struct Rig {
        alloc: AllocatorHandle,
        sink: CaptureSinkHandle,
        rec: IMXF,
        log: Arc<Mutex<Log>>,
    }

    impl Rig {
        fn new() -> Self {
            Self::with(AllocatorConfig::default())
        }

        fn with(config: AllocatorConfig) -> Self {
            let rig = Self::unconnected(config);
            assert_eq!(
                rig.sink.ConnectOutput(Some(rig.rec.to_ref())),
                STATUS_SUCCESS
            );
            assert_eq!(rig.sink.SetState(KSSTATE_RUN), STATUS_SUCCESS);
            rig
        }

        fn unconnected(config: AllocatorConfig) -> Self {
            let alloc = AllocatorHandle::new(config, None).unwrap();
            let sink = CaptureSinkHandle::new(alloc.interface().clone()).unwrap();
            let log = Arc::new(Mutex::new(Log::default()));
            let rec: IMXF = Recorder {
                alloc: alloc.interface().clone(),
                log: log.clone(),
            }
            .into_com()
            .unwrap();
            Self {
                alloc,
                sink,
                rec,
                log,
            }
        }

        fn event(&self, bytes: &[u8], group: u16, time: i64, flags: u16) -> Event<'_> {
            let mut e = Event::with_bytes(self.alloc.interface(), bytes, group, time).unwrap();
            e.set_flags(flags);
            e
        }

        /// One chain of INCOMPLETE fragments, one PutMessage.
        fn put_frags(&self, frags: &[&[u8]], group: u16, time: i64) -> NTSTATUS {
            let mut c = Chain::new(self.alloc.interface());
            for f in frags {
                c.push_back(self.event(f, group, time, INC));
            }
            self.put(c.into_raw())
        }

        /// What DMusUART does with `bytes` read at `time`: `sizeof(PBYTE)`-byte fragments.
        fn feed(&self, bytes: &[u8], group: u16, time: i64) {
            let frags: Vec<&[u8]> = bytes.chunks(INLINE_DATA_BYTES).collect();
            assert_eq!(self.put_frags(&frags, group, time), STATUS_SUCCESS);
        }

        fn put(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            // SAFETY: the chain's events come from this rig's allocator and are handed over.
            unsafe { self.sink.PutMessage(head) }
        }

        fn take(&self) -> Vec<Rec> {
            core::mem::take(&mut self.log.lock().unwrap().events)
        }

        fn calls(&self) -> usize {
            self.log.lock().unwrap().calls
        }

        /// Nothing outstanding, nothing misused.
        fn assert_balanced(&self) {
            let s = self.alloc.stats();
            assert_eq!(s.outstanding_events, 0, "{s:?}");
            assert_eq!(s.outstanding_buffers, 0, "{s:?}");
            assert_eq!(s.anomalies.misuse(), 0, "{s:?}");
        }
    }

    fn bytes_of(recs: &[Rec]) -> Vec<Vec<u8>> {
        recs.iter().map(|r| r.bytes.clone()).collect()
    }

    #[test]
    fn a_misaligned_chain_head_is_refused_unread() {
        let rig = Rig::new();
        let bad = core::ptr::without_provenance_mut::<DMUS_KERNEL_EVENT>(0x1003);
        assert_eq!(rig.put(bad), STATUS_INVALID_PARAMETER);
        assert_eq!(rig.calls(), 0);
    }

    #[test]
    fn item_38_stop_and_unconnected_go_to_the_allocator() {
        let rig = Rig::unconnected(AllocatorConfig::default());
        // Connected, but in the initial state (STOP).
        assert_eq!(
            rig.sink.ConnectOutput(Some(rig.rec.to_ref())),
            STATUS_SUCCESS
        );
        rig.feed(&[0x90, 0x3C, 0x40], 1, 0);
        assert_eq!(rig.calls(), 0);
        rig.assert_balanced();
        // Running, but disconnected.
        assert_eq!(rig.sink.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        assert_eq!(
            rig.sink.DisconnectOutput(Some(rig.rec.to_ref())),
            STATUS_SUCCESS
        );
        rig.feed(&[0x90, 0x3C, 0x40], 1, 0);
        assert_eq!(
            rig.put(rig.event(&[0xC0, 5], 1, 0, 0).into_raw()),
            STATUS_SUCCESS
        );
        assert_eq!(rig.calls(), 0);
        assert_eq!(rig.sink.stats().discarded, 3);
        rig.assert_balanced();
        // Connected and STOP again: still nothing.
        assert_eq!(
            rig.sink.ConnectOutput(Some(rig.rec.to_ref())),
            STATUS_SUCCESS
        );
        assert_eq!(rig.sink.SetState(KSSTATE_STOP), STATUS_SUCCESS);
        rig.feed(&[0x90, 0x3C, 0x40], 1, 0);
        assert_eq!(rig.calls(), 0);
        // ACQUIRE and PAUSE parse.
        for s in [KSSTATE_ACQUIRE, KSSTATE_PAUSE] {
            assert_eq!(rig.sink.SetState(s), STATUS_SUCCESS);
            rig.feed(&[0x90, 0x3C, 0x40], 1, 0);
            assert_eq!(bytes_of(&rig.take()), vec![vec![0x90, 0x3C, 0x40]]);
        }
        rig.assert_balanced();
    }

    #[test]
    fn item_39_running_status_expanded() {
        let rig = Rig::new();
        assert_eq!(
            rig.put_frags(&[&[0x90, 0x3C], &[0x40, 0x3C, 0x00]], 1, 7),
            STATUS_SUCCESS
        );
        let out = rig.take();
        assert_eq!(
            out,
            vec![
                Rec {
                    bytes: vec![0x90, 0x3C, 0x40],
                    flags: 0,
                    group: 1,
                    time: 7
                },
                Rec {
                    bytes: vec![0x90, 0x3C, 0x00],
                    flags: 0,
                    group: 1,
                    time: 7
                },
            ]
        );
        // The same across calls, fed the way DMusUART does, with 1-data-byte messages too.
        rig.feed(
            &[0x80, 0x3C, 0x00, 0x3E, 0x00, 0xC0, 0x05, 0x06, 0x07],
            1,
            8,
        );
        rig.feed(&[0x08], 1, 9);
        assert_eq!(
            bytes_of(&rig.take()),
            vec![
                vec![0x80, 0x3C, 0x00],
                vec![0x80, 0x3E, 0x00],
                vec![0xC0, 0x05],
                vec![0xC0, 0x06],
                vec![0xC0, 0x07],
                vec![0xC0, 0x08],
            ]
        );
        rig.assert_balanced();
    }

    #[test]
    fn item_39_each_message_takes_the_time_of_its_first_byte() {
        let rig = Rig::new();
        rig.feed(&[0x90, 0x3C], 1, 100);
        rig.feed(&[0x40, 0x3C], 1, 200);
        rig.feed(&[0x00], 1, 300);
        rig.feed(&[0xF0, 1, 2], 1, 400);
        rig.feed(&[3, 0xF7], 1, 500);
        let out = rig.take();
        let got: Vec<(Vec<u8>, i64)> = out.iter().map(|r| (r.bytes.clone(), r.time)).collect();
        assert_eq!(
            got,
            vec![
                (vec![0x90, 0x3C, 0x40], 100),
                (vec![0x90, 0x3C, 0x00], 200),
                (vec![0xF0, 1, 2, 3, 0xF7], 400),
            ]
        );
        assert!(out.iter().all(|r| r.complete() && r.group == 1));
        rig.assert_balanced();
    }

    #[test]
    fn item_40_real_time_byte_inside_a_message() {
        let rig = Rig::new();
        rig.feed(&[0x90, 0xF8, 0x3C, 0x40], 1, 0);
        let out = rig.take();
        assert_eq!(bytes_of(&out), vec![vec![0xF8], vec![0x90, 0x3C, 0x40]]);
        assert!(out.iter().all(Rec::complete));
        // Inside SysEx: the SysEx is not split by it.
        rig.feed(&[0xF0, 0x7E, 0xFE, 0x7F, 0xF7], 1, 0);
        let out = rig.take();
        assert_eq!(
            bytes_of(&out),
            vec![vec![0xFE], vec![0xF0, 0x7E, 0x7F, 0xF7]]
        );
        assert!(out.iter().all(Rec::complete));
        rig.assert_balanced();
    }

    fn sysex(len: usize) -> Vec<u8> {
        let mut v = vec![0xF0];
        v.extend((1..len - 1).map(|i| (i % 0x80) as u8));
        v.push(0xF7);
        v
    }

    #[test]
    fn item_41_sysex_of_500_bytes_in_240_byte_chunks() {
        let rig = Rig::new();
        let sx = sysex(500);
        rig.feed(&sx, 1, 42);
        let out = rig.take();
        let shape: Vec<(usize, bool)> = out.iter().map(|r| (r.bytes.len(), r.complete())).collect();
        assert_eq!(shape, vec![(240, false), (240, false), (20, true)]);
        assert_eq!(out[0].bytes[0], 0xF0);
        assert_eq!(*out[2].bytes.last().unwrap(), 0xF7);
        assert!(
            out.iter()
                .all(|r| !r.marked() && r.group == 1 && r.time == 42)
        );
        assert_eq!(out.concat_bytes(), sx);
        // All output came in one downstream call.
        assert_eq!(rig.calls(), 1);
        rig.assert_balanced();
    }

    trait Concat {
        fn concat_bytes(&self) -> Vec<u8>;
    }
    impl Concat for Vec<Rec> {
        fn concat_bytes(&self) -> Vec<u8> {
            self.iter().flat_map(|r| r.bytes.iter().copied()).collect()
        }
    }

    #[test]
    fn item_41_sysex_spanning_calls_and_chunk_times() {
        let rig = Rig::new();
        let sx = sysex(300);
        let (a, b) = sx.split_at(250);
        rig.feed(a, 1, 10);
        let first = rig.take();
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].bytes.len(), first[0].complete(), first[0].time),
            (240, false, 10)
        );
        rig.feed(b, 1, 20);
        let second = rig.take();
        assert_eq!(second.len(), 1);
        // The second chunk began with a byte of the first call.
        assert_eq!(
            (second[0].bytes.len(), second[0].complete(), second[0].time),
            (60, true, 10)
        );
        assert_eq!([first, second].concat().concat_bytes(), sx);
        rig.assert_balanced();
    }

    #[test]
    fn item_42_status_byte_interrupts_a_message() {
        let rig = Rig::new();
        rig.feed(&[0x90, 0x3C, 0xC0, 0x05], 1, 0);
        let out = rig.take();
        assert_eq!(
            out.iter()
                .map(|r| (r.bytes.clone(), r.flags))
                .collect::<Vec<_>>(),
            vec![(vec![0x90, 0x3C], INC | DISC), (vec![0xC0, 0x05], 0)]
        );
        // SysEx without F7, interrupted by a status byte.
        rig.feed(&[0xF0, 0x01, 0x02, 0x80, 0x3C, 0x00], 1, 0);
        let out = rig.take();
        assert_eq!(
            out.iter()
                .map(|r| (r.bytes.clone(), r.flags))
                .collect::<Vec<_>>(),
            vec![
                (vec![0xF0, 0x01, 0x02], INC | DISC),
                (vec![0x80, 0x3C, 0x00], 0)
            ]
        );
        rig.assert_balanced();
    }

    #[test]
    fn item_42_stray_f7_is_forwarded_with_the_bytes_before_it() {
        let rig = Rig::new();
        rig.feed(&[0x90, 0x3C, 0xF7, 0x40], 1, 0);
        let out = rig.take();
        assert_eq!(
            out.iter()
                .map(|r| (r.bytes.clone(), r.flags))
                .collect::<Vec<_>>(),
            vec![
                (vec![0x90, 0x3C, 0xF7], INC | DISC),
                (vec![0x40], INC | DISC)
            ]
        );
        rig.feed(&[0xF7], 1, 0);
        assert_eq!(rig.take()[0].bytes, vec![0xF7]);
        rig.assert_balanced();
    }

    #[test]
    fn item_42_sysex_interrupted_after_a_full_chunk_marks_the_next_event() {
        let rig = Rig::new();
        let sx = sysex(241);
        // 240 bytes without F7: one full chunk goes out, nothing is left pending.
        rig.feed(&sx[..240], 1, 0);
        assert_eq!(rig.take().len(), 1);
        rig.feed(&[0x90, 0x3C, 0x40], 1, 0);
        let out = rig.take();
        assert_eq!(out[0].bytes, vec![0x90, 0x3C, 0x40]);
        assert_eq!(out[0].flags, DISC);
        rig.assert_balanced();
    }

    #[test]
    fn item_43_f6_complete_f4_f5_incomplete() {
        let rig = Rig::new();
        rig.feed(&[0xF6, 0xF4, 0xF5], 1, 0);
        let out = rig.take();
        assert_eq!(
            out.iter()
                .map(|r| (r.bytes.clone(), r.flags))
                .collect::<Vec<_>>(),
            vec![
                (vec![0xF6], 0),
                (vec![0xF4], INC | DISC),
                (vec![0xF5], INC | DISC)
            ]
        );
        // System common messages with data bytes are parsed and clear running status.
        rig.feed(
            &[
                0x90, 0x3C, 0x40, 0xF1, 0x23, 0xF2, 0x01, 0x02, 0xF3, 0x05, 0x3C,
            ],
            1,
            0,
        );
        let out = rig.take();
        assert_eq!(
            out.iter()
                .map(|r| (r.bytes.clone(), r.flags))
                .collect::<Vec<_>>(),
            vec![
                (vec![0x90, 0x3C, 0x40], 0),
                (vec![0xF1, 0x23], 0),
                (vec![0xF2, 0x01, 0x02], 0),
                (vec![0xF3, 0x05], 0),
                (vec![0x3C], INC | DISC),
            ]
        );
        rig.assert_balanced();
    }

    #[test]
    fn item_44_orphan_data_bytes_forwarded_incomplete() {
        let rig = Rig::new();
        rig.feed(&[0x3C], 1, 5);
        let out = rig.take();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].bytes.clone(), out[0].complete(), out[0].marked()),
            (vec![0x3C], false, true)
        );
        // A run of them is one fragment; the following status byte starts a message.
        rig.feed(&[0x3C, 0x40, 0x41, 0x90, 0x3C, 0x40], 1, 6);
        assert_eq!(
            bytes_of(&rig.take()),
            vec![vec![0x3C, 0x40, 0x41], vec![0x90, 0x3C, 0x40]]
        );
        rig.assert_balanced();
    }

    #[test]
    fn item_45_complete_event_flushes_only_its_groups_fragment() {
        let rig = Rig::new();
        let mut c = Chain::new(rig.alloc.interface());
        c.push_back(rig.event(&[0x90, 0x3C], 1, 1, INC));
        c.push_back(rig.event(&[0xC0], 2, 2, INC));
        // A device that parses itself; the port-private parse bits are cleared.
        c.push_back(rig.event(&[0xB0, 0x07, 0x64], 1, 3, DMUS_KEF_PARSE_STATE_MASK));
        c.push_back(rig.event(&[0x05], 2, 4, INC));
        // Running status was reset by the complete event: this is an orphan now.
        c.push_back(rig.event(&[0x3C], 1, 5, INC));
        assert_eq!(rig.put(c.into_raw()), STATUS_SUCCESS);
        let out = rig.take();
        assert_eq!(
            out,
            vec![
                Rec {
                    bytes: vec![0x90, 0x3C],
                    flags: INC | DISC,
                    group: 1,
                    time: 1
                },
                Rec {
                    bytes: vec![0xB0, 0x07, 0x64],
                    flags: 0,
                    group: 1,
                    time: 3
                },
                Rec {
                    bytes: vec![0xC0, 0x05],
                    flags: 0,
                    group: 2,
                    time: 2
                },
                Rec {
                    bytes: vec![0x3C],
                    flags: INC | DISC,
                    group: 1,
                    time: 5
                },
            ]
        );
        // A bare running-status placeholder is not forwarded.
        rig.feed(&[0x90, 0x3C, 0x40], 1, 6);
        assert_eq!(
            rig.put(rig.event(&[0xF8], 1, 7, 0).into_raw()),
            STATUS_SUCCESS
        );
        assert_eq!(
            bytes_of(&rig.take()),
            vec![vec![0x90, 0x3C, 0x40], vec![0xF8]]
        );
        rig.assert_balanced();
    }

    #[test]
    fn item_46_parse_state_is_per_channel_group() {
        let rig = Rig::new();
        rig.feed(&[0x90, 0x3C], 1, 1);
        rig.feed(&[0x80, 0x40], 2, 2);
        rig.feed(&[0xF0, 0x01], 3, 3);
        rig.feed(&[0x40, 0x3E, 0x41], 1, 4);
        rig.feed(&[0x00], 2, 5);
        rig.feed(&[0x02, 0xF7], 3, 6);
        rig.feed(&[0x00], 1, 7);
        let got: Vec<(Vec<u8>, u16, i64)> = rig
            .take()
            .into_iter()
            .map(|r| (r.bytes, r.group, r.time))
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![0x90, 0x3C, 0x40], 1, 1),
                (vec![0x90, 0x3E, 0x41], 1, 4),
                (vec![0x80, 0x40, 0x00], 2, 2),
                (vec![0xF0, 0x01, 0x02, 0xF7], 3, 3),
            ]
        );
        // Group 1's running status made `00` the start of a message still missing a byte.
        rig.sink.flush();
        let out = rig.take();
        assert_eq!(bytes_of(&out), vec![vec![0x90, 0x00]]);
        rig.assert_balanced();
    }

    #[test]
    fn item_47_packages_are_unwrapped_and_the_shell_recycled() {
        let rig = Rig::new();
        let alloc = rig.alloc.interface();
        let mut inner = Chain::new(alloc);
        inner.push_back(rig.event(&[0x90, 0x3C], 1, 0, INC));
        inner.push_back(rig.event(&[0x40], 1, 0, INC));
        let mut nested_contents = Chain::new(alloc);
        nested_contents.push_back(rig.event(&[0xC0, 0x05], 1, 0, 0));
        let nested = Event::new(alloc).unwrap();
        let nested = nested.into_package(nested_contents).unwrap();
        inner.push_back(nested);
        let shell = Event::new(alloc).unwrap();
        let shell = shell.into_package(inner).unwrap();
        let mut c = Chain::new(alloc);
        c.push_back(shell);
        c.push_back(rig.event(&[0xF8], 1, 0, 0));
        assert_eq!(rig.put(c.into_raw()), STATUS_SUCCESS);
        assert_eq!(
            bytes_of(&rig.take()),
            vec![vec![0x90, 0x3C, 0x40], vec![0xC0, 0x05], vec![0xF8]]
        );
        assert_eq!(rig.sink.stats().events_in, 4);
        rig.assert_balanced();
    }

    #[test]
    fn item_48_flush_forwards_fragments_and_recycles_placeholders() {
        let rig = Rig::new();
        // Only a running-status placeholder: nothing to forward.
        rig.feed(&[0x90, 0x3C, 0x40], 1, 0);
        rig.take();
        rig.sink.flush();
        assert!(rig.take().is_empty());
        // The placeholder is gone: data bytes are orphans now.
        rig.feed(&[0x3C], 1, 0);
        assert_eq!(rig.take()[0].flags, INC | DISC);
        // Pending fragments on two groups, one of them a long SysEx fragment.
        rig.feed(&[0x90, 0x3C], 1, 0);
        rig.feed(&sysex(40)[..30], 2, 0);
        assert!(rig.take().is_empty());
        rig.sink.flush();
        let out = rig.take();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].bytes.clone(), out[0].flags),
            (vec![0x90, 0x3C], INC | DISC)
        );
        assert_eq!(
            (out[1].bytes.len(), out[1].flags, out[1].group),
            (30, INC | DISC, 2)
        );
        assert_eq!(rig.calls(), 3);
        rig.assert_balanced();
        // Unconnected, a flush returns the fragments to the allocator.
        rig.feed(&[0x90, 0x3C], 1, 0);
        assert_eq!(rig.sink.DisconnectOutput(None), STATUS_SUCCESS);
        rig.sink.flush();
        assert!(rig.take().is_empty());
        rig.assert_balanced();
    }

    #[test]
    fn items_27_29_connection_rules() {
        let rig = Rig::unconnected(AllocatorConfig::default());
        let other: IMXF = Recorder {
            alloc: rig.alloc.interface().clone(),
            log: rig.log.clone(),
        }
        .into_com()
        .unwrap();
        assert_eq!(rig.sink.ConnectOutput(None), STATUS_UNSUCCESSFUL);
        assert_eq!(rig.sink.DisconnectOutput(None), STATUS_SUCCESS);
        assert_eq!(
            rig.sink.ConnectOutput(Some(rig.rec.to_ref())),
            STATUS_SUCCESS
        );
        assert_eq!(
            rig.sink.ConnectOutput(Some(other.to_ref())),
            STATUS_UNSUCCESSFUL
        );
        assert_eq!(
            rig.sink.DisconnectOutput(Some(other.to_ref())),
            STATUS_UNSUCCESSFUL
        );
        assert_eq!(rig.sink.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        // The first connection stayed.
        rig.feed(&[0xF8], 1, 0);
        assert_eq!(rig.calls(), 1);
        assert_eq!(
            rig.sink.DisconnectOutput(Some(rig.rec.to_ref())),
            STATUS_SUCCESS
        );
        assert_eq!(rig.sink.ConnectOutput(Some(other.to_ref())), STATUS_SUCCESS);
        assert_eq!(rig.sink.DisconnectOutput(None), STATUS_SUCCESS);
        rig.assert_balanced();
    }

    #[test]
    fn one_downstream_chain_per_call_in_order() {
        let rig = Rig::new();
        rig.feed(
            &[0x90, 0x3C, 0x40, 0x3E, 0x40, 0xF8, 0x40, 0x40, 0xC0, 0x01],
            1,
            0,
        );
        assert_eq!(rig.calls(), 1);
        assert_eq!(
            bytes_of(&rig.take()),
            vec![
                vec![0x90, 0x3C, 0x40],
                vec![0x90, 0x3E, 0x40],
                vec![0xF8],
                vec![0x90, 0x40, 0x40],
                vec![0xC0, 0x01],
            ]
        );
        // A call that produces nothing makes no downstream call.
        rig.feed(&[0x90], 1, 0);
        assert_eq!(rig.calls(), 1);
        // PutMessage(NULL) is harmless.
        assert_eq!(rig.put(core::ptr::null_mut()), STATUS_SUCCESS);
        rig.sink.flush();
        rig.assert_balanced();
    }

    #[test]
    fn long_input_events_are_parsed_and_their_buffers_recycled() {
        let rig = Rig::new();
        let bytes = [
            0x90, 0x3C, 0x40, 0x3E, 0x40, 0x40, 0x40, 0x41, 0x40, 0x42, 0x40, 0x43,
        ];
        assert_eq!(rig.put_frags(&[&bytes], 1, 0), STATUS_SUCCESS);
        assert_eq!(rig.take().len(), 5);
        // `43` waits for its second data byte, in an event of the sink.
        assert_eq!(rig.alloc.stats().outstanding_events, 1);
        rig.sink.flush();
        assert_eq!(bytes_of(&rig.take()), vec![vec![0x90, 0x43]]);
        rig.assert_balanced();
    }

    #[test]
    fn bad_input_zero_length_events() {
        let rig = Rig::new();
        let mut c = Chain::new(rig.alloc.interface());
        c.push_back(rig.event(&[], 1, 0, INC));
        c.push_back(rig.event(&[0x90, 0x3C], 1, 0, INC));
        c.push_back(rig.event(&[], 1, 0, 0));
        c.push_back(rig.event(&[0x40], 1, 0, INC));
        assert_eq!(rig.put(c.into_raw()), STATUS_SUCCESS);
        // Empty events neither carry nor interrupt anything.
        assert_eq!(bytes_of(&rig.take()), vec![vec![0x90, 0x3C, 0x40]]);
        assert_eq!(rig.sink.stats().empty_events, 2);
        rig.assert_balanced();
    }

    #[test]
    fn bad_input_many_groups_evict_the_least_recently_used() {
        let rig = Rig::new();
        let groups = 40u16;
        for g in 1..=groups {
            rig.feed(&[0x90, 0x3C], g, 0);
        }
        // Groups 1..=24 were evicted by 25..=40: their fragments went out.
        let evicted = rig.take();
        assert_eq!(evicted.len(), 24);
        assert!(
            evicted
                .iter()
                .all(|r| r.bytes == [0x90, 0x3C] && r.flags == INC | DISC)
        );
        assert_eq!(
            evicted.iter().map(|r| r.group).collect::<Vec<_>>(),
            (1..=24).collect::<Vec<_>>()
        );
        for g in (25..=groups).chain(1..=24) {
            rig.feed(&[0x40], g, 0);
        }
        let out = rig.take();
        let complete: Vec<_> = out.iter().filter(|r| r.complete()).collect();
        assert_eq!(complete.len(), 16);
        assert!(
            complete
                .iter()
                .all(|r| r.bytes == [0x90, 0x3C, 0x40] && r.group >= 25)
        );
        // Every byte came out exactly once.
        let total: usize = evicted
            .iter()
            .chain(out.iter())
            .map(|r| r.bytes.len())
            .sum();
        assert_eq!(total, 3 * usize::from(groups));
        assert_eq!(rig.sink.stats().group_evictions, 48);
        rig.sink.flush();
        rig.assert_balanced();
    }

    #[test]
    fn item_45_complete_events_of_many_groups_evict_nothing() {
        let rig = Rig::new();
        rig.feed(&[0x90, 0x3C], 1, 0);
        let mut c = Chain::new(rig.alloc.interface());
        for g in 2..100u16 {
            c.push_back(rig.event(&[0xC0, 0x05], g, 0, 0));
        }
        assert_eq!(rig.put(c.into_raw()), STATUS_SUCCESS);
        assert_eq!(rig.take().len(), 98);
        assert_eq!(rig.sink.stats().group_evictions, 0);
        // Group 1's fragment is still pending and completes.
        rig.feed(&[0x40], 1, 0);
        assert_eq!(bytes_of(&rig.take()), vec![vec![0x90, 0x3C, 0x40]]);
        rig.assert_balanced();
    }

    #[test]
    fn bad_input_sysex_of_1000_bytes() {
        let rig = Rig::new();
        let sx = sysex(1000);
        rig.feed(&sx, 1, 0);
        let out = rig.take();
        let shape: Vec<(usize, bool)> = out.iter().map(|r| (r.bytes.len(), r.complete())).collect();
        assert_eq!(
            shape,
            vec![
                (240, false),
                (240, false),
                (240, false),
                (240, false),
                (40, true)
            ]
        );
        assert_eq!(out.concat_bytes(), sx);
        rig.assert_balanced();
    }

    #[test]
    fn bad_input_allocator_exhausted_while_parsing() {
        // Five events at most: the input event and four messages.
        let rig = Rig::with(AllocatorConfig {
            max_events: Some(5),
            ..AllocatorConfig::default()
        });
        let mut bytes = vec![0x90];
        for k in 0..14u8 {
            bytes.extend([0x30 + k, 0x40]);
        }
        assert_eq!(rig.put_frags(&[&bytes], 1, 0), STATUS_SUCCESS);
        let out = rig.take();
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|r| r.complete() && r.bytes.len() == 3));
        let st = rig.sink.stats();
        assert_eq!(st.out_of_memory, 1);
        assert_eq!(st.bytes_dropped, 29 - 9);
        rig.assert_balanced();
        // Parsing resumes; the loss is marked on the group's next event.
        rig.feed(&[0x90, 0x3C, 0x40], 1, 0);
        let out = rig.take();
        assert_eq!(
            (out[0].bytes.clone(), out[0].flags),
            (vec![0x90, 0x3C, 0x40], DISC)
        );
        rig.assert_balanced();
    }

    #[test]
    fn bad_input_buffers_exhausted_mid_sysex() {
        // One buffer: the input event's. The SysEx fragment cannot grow past the inline bytes.
        let rig = Rig::with(AllocatorConfig {
            max_buffers: Some(1),
            ..AllocatorConfig::default()
        });
        let sx = sysex(30);
        assert_eq!(rig.put_frags(&[&sx], 1, 0), STATUS_SUCCESS);
        let out = rig.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes, sx[..INLINE_DATA_BYTES]);
        assert_eq!(out[0].flags, INC | DISC);
        let st = rig.sink.stats();
        assert_eq!(st.out_of_memory, 1);
        assert_eq!(st.bytes_dropped, (30 - INLINE_DATA_BYTES) as u64);
        rig.assert_balanced();
    }

    #[test]
    fn stop_forgets_pending_fragments_and_drop_returns_them() {
        let rig = Rig::new();
        rig.feed(&sysex(40)[..20], 1, 0);
        assert_eq!(rig.alloc.stats().outstanding_events, 1);
        assert_eq!(rig.sink.SetState(KSSTATE_STOP), STATUS_SUCCESS);
        rig.assert_balanced();
        assert_eq!(rig.sink.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        rig.feed(&sysex(40)[..20], 1, 0);
        rig.feed(&[0x90, 0x3C], 2, 0);
        assert!(rig.take().is_empty());
        let Rig {
            alloc,
            sink,
            rec,
            log: _,
        } = rig;
        drop(sink);
        drop(rec);
        let s = alloc.stats();
        assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
    }

    #[test]
    fn unknown_state_values_are_refused() {
        let rig = Rig::new();
        assert_eq!(rig.sink.SetState(KSSTATE(7)), STATUS_INVALID_PARAMETER);
        rig.feed(&[0xF8], 1, 0);
        assert_eq!(rig.take().len(), 1);
        rig.assert_balanced();
    }
}
