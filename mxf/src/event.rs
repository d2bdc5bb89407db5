//! The safe event layer: owned events and chains tied to their allocator.
//!
//! Every event has exactly one owner. An [`Event`] or [`Chain`] that is dropped without having
//! been delivered goes back to its allocator, so safe code can neither leak an event nor put it
//! twice. Raw pointers enter and leave only through the `unsafe` `from_raw` / `into_raw` pairs.
//!
//! MIDI content is read through [`midly`]'s live-event parser
//! ([`Event::message`]); long events (more than `sizeof(PBYTE)` bytes: 4 on 32-bit targets, 8 on
//! 64-bit ones) live in allocator buffers; INCOMPLETE fragments and packages are exposed as they
//! are.
//!
//! [`EventList`] and [`TimeQueue`] are the queues a component keeps events in between calls
//! (they do not borrow an allocator, so their owner returns what they hold).
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::prelude::*;
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let mut chain = Chain::new(&alloc);
//! chain.push_back(Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?);
//! chain.push_back(Event::with_bytes(&alloc, &[0x80, 60, 0], 1, 5_000_000)?);
//!
//! // A package: a chain handled as one, inside a shell event.
//! let shell = Event::new(&alloc).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
//! let package = shell.into_package(chain)?;
//! assert!(package.is_package());
//!
//! // Taken apart again: the shell (now an empty event) and the contents.
//! let (shell, contents) = package.unwrap_package();
//! drop(shell); // back to the allocator
//! let times: Vec<REFERENCE_TIME> = contents.map(|e| e.time()).collect();
//! assert_eq!(times, [0, 5_000_000]);
//! assert_eq!(alloc.stats().outstanding_events, 0); // every event went back exactly once
//!
//! // Raw pointers enter and leave only through the `unsafe` pairs.
//! let raw = Event::with_bytes(&alloc, &[0xF8], 1, 0)?.into_raw();
//! // SAFETY: `raw` is an event of `alloc` that nothing else owns.
//! let clock = unsafe { Event::from_raw(raw, &alloc) }.ok_or(STATUS_INVALID_PARAMETER)?;
//! assert_eq!(clock.data(), &[0xF8]);
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::{
    DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT, INLINE_DATA_BYTES, NTSTATUS, REFERENCE_TIME, Result,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
};
use crate::interfaces::IAllocatorMXF;
use core::fmt;
use core::ptr::{NonNull, null_mut};

/// True if `a` and `b` are the same allocator (the same interface pointer).
fn same_allocator(a: &IAllocatorMXF, b: &IAllocatorMXF) -> bool {
    use crate::com::Interface;
    core::ptr::eq(a.as_raw(), b.as_raw())
}

/// One owned event (possibly a package shell with its contents).
pub struct Event<'a> {
    ptr: NonNull<DMUS_KERNEL_EVENT>,
    alloc: &'a IAllocatorMXF,
}

// SAFETY: an `Event` is the only owner of its event; the allocator interface is free-threaded.
unsafe impl Send for Event<'_> {}

impl<'a> Event<'a> {
    /// A fresh event from `alloc` (`GetMessage`); `None` if the allocator is exhausted.
    pub fn new(alloc: &'a IAllocatorMXF) -> Option<Self> {
        let mut p = null_mut();
        // SAFETY: a valid out-pointer.
        let s = unsafe { alloc.GetMessage(&mut p) };
        if s.is_success() {
            // SAFETY: the allocator handed this event to us.
            unsafe { Self::from_raw(p, alloc) }
        } else {
            None
        }
    }

    /// A fresh event holding `bytes` as a complete message on `group` at `time`.
    pub fn with_bytes(
        alloc: &'a IAllocatorMXF,
        bytes: &[u8],
        group: u16,
        time: REFERENCE_TIME,
    ) -> Result<Self> {
        let mut e = Self::new(alloc).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        e.set_bytes(bytes)?;
        e.set_channel_group(group);
        e.set_time(time);
        Ok(e)
    }

    /// Takes ownership of one event (its `pNextEvt` is cleared: the rest of a chain stays with
    /// the caller). `None` for NULL.
    ///
    /// # Safety
    /// `p` is NULL or a live event that the caller owns and gives up, belonging to `alloc`.
    pub unsafe fn from_raw(p: *mut DMUS_KERNEL_EVENT, alloc: &'a IAllocatorMXF) -> Option<Self> {
        let ptr = NonNull::new(p)?;
        // SAFETY: the caller owns the live event.
        unsafe { (*p).pNextEvt = null_mut() };
        Some(Self { ptr, alloc })
    }

    /// Gives up ownership; the caller must deliver the pointer or return it to the allocator.
    pub fn into_raw(self) -> *mut DMUS_KERNEL_EVENT {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The allocator this event returns to.
    pub fn allocator(&self) -> &'a IAllocatorMXF {
        self.alloc
    }

    /// The raw event.
    #[inline]
    pub fn raw(&self) -> &DMUS_KERNEL_EVENT {
        // SAFETY: owned, live event.
        unsafe { self.ptr.as_ref() }
    }

    /// The raw event, mutably. The safe setters ([`set_bytes`](Self::set_bytes),
    /// [`set_flags`](Self::set_flags), [`set_byte_position`](Self::set_byte_position),
    /// [`into_package`](Self::into_package), …) cover every field without this.
    ///
    /// # Safety
    /// What the caller leaves in the event must keep the ownership the safe layer and the
    /// allocator read from it: `pNextEvt` stays NULL (an `Event` is one event); `cbEvent`,
    /// `uData` and `DMUS_KEF_PACKAGE_EVENT` agree: an event of more than `sizeof(PBYTE)` bytes
    /// holds in `pbData` a buffer of this event's allocator, owned by this event alone and of at
    /// least `cbEvent` bytes (or NULL); a package holds in `pPackageEvt` a chain of events of this
    /// allocator that nothing else owns (or NULL).
    pub unsafe fn raw_mut(&mut self) -> &mut DMUS_KERNEL_EVENT {
        // SAFETY: owned, live event; the caller keeps its invariants.
        unsafe { self.ptr.as_mut() }
    }

    /// The fields whose values own nothing, mutably: group, time, byte position and the flags
    /// other than the package flag go through here.
    fn fields_mut(&mut self) -> &mut DMUS_KERNEL_EVENT {
        // SAFETY: owned, live event; the callers below write only fields that own nothing.
        unsafe { self.ptr.as_mut() }
    }

    /// `usFlags`.
    #[inline]
    pub fn flags(&self) -> u16 {
        self.raw().usFlags
    }

    /// Sets `usFlags`, except `DMUS_KEF_PACKAGE_EVENT`, which keeps its value: whether the event
    /// is a package is decided by [`into_package`](Self::into_package) and
    /// [`unwrap_package`](Self::unwrap_package), since the flag says what `uData` holds.
    #[inline]
    pub fn set_flags(&mut self, flags: u16) {
        let e = self.fields_mut();
        e.usFlags = (flags & !DMUS_KEF_PACKAGE_EVENT) | (e.usFlags & DMUS_KEF_PACKAGE_EVENT);
    }

    /// `ullBytePosition` (`kBytePositionNone` unless a render stream set it).
    #[inline]
    pub fn byte_position(&self) -> u64 {
        self.raw().ullBytePosition
    }

    /// Sets `ullBytePosition` (the allocator notifies it when the event comes back, `domain.md`
    /// items 14–16).
    #[inline]
    pub fn set_byte_position(&mut self, position: u64) {
        self.fields_mut().ullBytePosition = position;
    }

    /// `usChannelGroup` (groups are numbered from 1).
    #[inline]
    pub fn channel_group(&self) -> u16 {
        self.raw().usChannelGroup
    }
    /// Sets `usChannelGroup`.
    #[inline]
    pub fn set_channel_group(&mut self, g: u16) {
        self.fields_mut().usChannelGroup = g;
    }
    /// Presentation time, 100 ns units on the master clock.
    #[inline]
    pub fn time(&self) -> REFERENCE_TIME {
        self.raw().ullPresTime100ns
    }
    /// Sets the presentation time.
    #[inline]
    pub fn set_time(&mut self, t: REFERENCE_TIME) {
        self.fields_mut().ullPresTime100ns = t;
    }
    /// True for a package (its contents come with it).
    #[inline]
    pub fn is_package(&self) -> bool {
        self.raw().is_package()
    }
    /// True if the message continues in a later event (SysEx chunk, raw capture bytes).
    #[inline]
    pub fn is_incomplete(&self) -> bool {
        self.raw().is_incomplete()
    }
    /// Marks the event INCOMPLETE or COMPLETE.
    #[inline]
    pub fn set_incomplete(&mut self, incomplete: bool) {
        if incomplete {
            self.fields_mut().set_incomplete()
        } else {
            self.fields_mut().set_complete()
        }
    }

    /// The event's data bytes: inline, or from its buffer. Empty for a package or a long event
    /// without buffer; never longer than the allocator's buffer size.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let e = self.raw();
        let n = e.cbEvent as usize;
        if e.is_package() || n == 0 {
            return &[];
        }
        if n <= INLINE_DATA_BYTES {
            // SAFETY: short event: the union holds inline bytes, `n` of them.
            return unsafe { e.uData.abData.get(..n).unwrap_or(&[]) };
        }
        // SAFETY: a long event holds a buffer pointer.
        let p = unsafe { e.uData.pbData };
        if p.is_null() {
            return &[];
        }
        let cap = self.alloc.GetBufferSize() as usize;
        // SAFETY: `p` is the event's buffer of at least `cap` bytes.
        unsafe { core::slice::from_raw_parts(p, n.min(cap)) }
    }

    /// The data bytes, mutably (same extent as [`Event::data`]).
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = self.data().len();
        let n = self.raw().cbEvent as usize;
        // SAFETY: only data bytes are written through the result, never `cbEvent` or a pointer.
        let e = unsafe { self.raw_mut() };
        if len == 0 {
            return &mut [];
        }
        if n <= INLINE_DATA_BYTES {
            // SAFETY: short event: inline bytes.
            return unsafe { e.uData.abData.get_mut(..len).unwrap_or(&mut []) };
        }
        // SAFETY: a long event's buffer of at least `len` bytes (see `data`).
        unsafe { core::slice::from_raw_parts_mut(e.uData.pbData, len) }
    }

    /// Replaces the data with `bytes` (at most the allocator's buffer size, 240): inline when
    /// they fit, else in a buffer from the allocator (reusing the event's own, if any).
    /// `STATUS_INVALID_PARAMETER` if too long (split it into INCOMPLETE chunks),
    /// `STATUS_INVALID_DEVICE_REQUEST` on a package, `STATUS_INSUFFICIENT_RESOURCES` if no buffer.
    pub fn set_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.is_package() {
            return Err(STATUS_INVALID_DEVICE_REQUEST);
        }
        let cap = self.alloc.GetBufferSize() as usize;
        if bytes.len() > cap.max(INLINE_DATA_BYTES) || bytes.len() > u16::MAX as usize {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let alloc = self.alloc;
        // SAFETY: `cbEvent`, `uData` and the buffer's ownership change together below.
        let e = unsafe { self.raw_mut() };
        let had_buffer = e.cbEvent as usize > INLINE_DATA_BYTES;
        let old = if had_buffer {
            // SAFETY: the union holds a buffer pointer when `had_buffer`.
            unsafe { e.uData.pbData }
        } else {
            null_mut()
        };
        if bytes.len() <= INLINE_DATA_BYTES {
            if !old.is_null() {
                // SAFETY: the event owned this buffer; it is no longer referenced.
                unsafe { alloc.PutBuffer(old) };
            }
            let mut inline = [0u8; INLINE_DATA_BYTES];
            if let Some(dst) = inline.get_mut(..bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            e.uData.abData = inline;
        } else {
            let buf = if old.is_null() {
                let mut b = null_mut();
                // SAFETY: a valid out-pointer.
                let s = unsafe { alloc.GetBuffer(&mut b) };
                if !s.is_success() || b.is_null() {
                    return Err(STATUS_INSUFFICIENT_RESOURCES);
                }
                b
            } else {
                old
            };
            // SAFETY: `buf` holds `cap >= bytes.len()` bytes and belongs to this event.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
            e.uData.pbData = buf;
        }
        e.cbEvent = bytes.len() as u16;
        Ok(())
    }

    /// The MIDI message, parsed by `midly`, for a complete event; `None` for fragments,
    /// packages and malformed data.
    pub fn message(&self) -> Option<midly::live::LiveEvent<'_>> {
        if self.is_incomplete() || self.is_package() {
            return None;
        }
        midly::live::LiveEvent::parse(self.data()).ok()
    }

    /// The channel voice message of a complete event whose data is exactly one, read in place
    /// (no decoding); `None` for fragments, packages, system messages, SysEx and malformed data.
    /// See [`crate::message`].
    #[inline]
    pub fn channel_message(&self) -> Option<crate::message::ChannelMessage<'_>> {
        if self.is_incomplete() || self.is_package() {
            return None;
        }
        crate::message::ChannelMessage::parse(self.data())
    }

    /// As [`Event::channel_message`], to edit the message in place: note, velocity, channel,
    /// controller value, program, pitch bend (no decoding, no encoding, no allocation).
    #[inline]
    pub fn channel_message_mut(&mut self) -> Option<crate::message::ChannelMessageMut<'_>> {
        if self.is_incomplete() || self.is_package() {
            return None;
        }
        crate::message::ChannelMessageMut::parse(self.data_mut())
    }

    /// Replaces the data with the encoding of `msg` (complete event).
    pub fn set_message(&mut self, msg: &midly::live::LiveEvent<'_>) -> Result<()> {
        let mut buf = [0u8; 240];
        let len = {
            let mut cursor = midly::io::Cursor::new(&mut buf);
            msg.write(&mut cursor)
                .map_err(|_| STATUS_INVALID_PARAMETER)?;
            cursor.cursor()
        };
        self.set_bytes(buf.get(..len).ok_or(STATUS_INVALID_PARAMETER)?)?;
        self.set_incomplete(false);
        Ok(())
    }

    /// A new event with the same data, group, time and flags (`None` if the allocator is
    /// exhausted). Packages are not copied (`None`).
    pub fn try_clone(&self) -> Option<Event<'a>> {
        if self.is_package() {
            return None;
        }
        let mut c = Event::new(self.alloc)?;
        c.set_bytes(self.data()).ok()?;
        c.set_channel_group(self.channel_group());
        c.set_time(self.time());
        c.set_flags(self.flags());
        Some(c)
    }

    /// Splits a package into its shell (now an ordinary empty event) and its contents.
    /// A non-package is returned unchanged with an empty chain.
    pub fn unwrap_package(mut self) -> (Event<'a>, Chain<'a>) {
        let alloc = self.alloc;
        if !self.is_package() {
            return (self, Chain::new(alloc));
        }
        // SAFETY: the contents pointer moves to the chain and the shell becomes an empty
        // event that is no package.
        let r = unsafe { self.raw_mut() };
        // SAFETY: the package flag says the union holds the contents pointer.
        let contents = unsafe { r.uData.pPackageEvt };
        r.uData.pPackageEvt = null_mut();
        r.clear_package();
        r.cbEvent = 0;
        // SAFETY: the contents belonged to the package, which we own.
        let chain = unsafe { Chain::from_raw(contents, alloc) };
        (self, chain)
    }

    /// Makes this event a package holding `contents` (`DMUS_KEF_PACKAGE_EVENT`, `cbEvent` 0):
    /// its data go (a buffer back to the allocator), its group, time and other flags stay.
    /// Dropping the package returns the shell and its contents.
    ///
    /// Refused, with both returned to the allocator: `STATUS_INVALID_DEVICE_REQUEST` for an
    /// event that is already a package, `STATUS_INVALID_PARAMETER` for contents of another
    /// allocator (a package returns whole to one allocator).
    pub fn into_package(mut self, contents: Chain<'a>) -> Result<Event<'a>> {
        if self.is_package() {
            return Err(STATUS_INVALID_DEVICE_REQUEST);
        }
        if !same_allocator(self.alloc, contents.alloc) {
            return Err(STATUS_INVALID_PARAMETER);
        }
        self.set_bytes(&[])?;
        // SAFETY: the event holds no data (so no buffer); the chain's events, all of this
        // allocator, move into the package, and the flag says so.
        let r = unsafe { self.raw_mut() };
        r.uData.pPackageEvt = contents.into_raw();
        r.set_package();
        Ok(self)
    }
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        // SAFETY: an undelivered event goes back to its allocator, exactly once.
        unsafe { self.alloc.PutMessage(self.ptr.as_ptr()) };
    }
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("group", &self.channel_group())
            .field("time", &self.time())
            .field("flags", &self.raw().usFlags)
            .field("data", &self.data())
            .finish()
    }
}

/// An owned chain of events (linked through `pNextEvt`), in order.
pub struct Chain<'a> {
    head: *mut DMUS_KERNEL_EVENT,
    tail: *mut DMUS_KERNEL_EVENT,
    len: usize,
    alloc: &'a IAllocatorMXF,
}

// SAFETY: the chain is the only owner of its events.
unsafe impl Send for Chain<'_> {}

impl<'a> Chain<'a> {
    /// An empty chain.
    pub fn new(alloc: &'a IAllocatorMXF) -> Self {
        Self {
            head: null_mut(),
            tail: null_mut(),
            len: 0,
            alloc,
        }
    }

    /// Takes ownership of a chain whose shape the caller vouches for: no walk.
    ///
    /// # Safety
    /// `head` .. `tail` is an acyclic chain of `len` (at least one) distinct live events that
    /// the caller owns and gives up, from `alloc`, every link aligned, `tail`'s link NULL.
    #[inline]
    pub(crate) unsafe fn from_verified(
        head: *mut DMUS_KERNEL_EVENT,
        tail: *mut DMUS_KERNEL_EVENT,
        len: usize,
        alloc: &'a IAllocatorMXF,
    ) -> Self {
        Self {
            head,
            tail,
            len,
            alloc,
        }
    }

    /// Takes ownership of a whole chain. A cyclic chain (a caller's bug) is cut where it would
    /// come back to an event already in it, so each of its events is owned once; a misaligned
    /// link (no allocator produces one) is cut and not followed, and a misaligned `head` gives
    /// an empty chain. Finding the tail is one walk over the chain (`scan_chain`).
    ///
    /// # Safety
    /// `head` is NULL or a chain of live events the caller owns and gives up, from `alloc`.
    pub unsafe fn from_raw(head: *mut DMUS_KERNEL_EVENT, alloc: &'a IAllocatorMXF) -> Self {
        // SAFETY: forwarded.
        unsafe { Self::from_raw_noting_packages(head, alloc).0 }
    }

    /// [`from_raw`](Self::from_raw), also telling whether any event of the chain is a package.
    /// Inlined, so that the chain comes back in registers rather than through memory (a caller
    /// that then loads two of its fields at once waits for the separate stores to drain).
    ///
    /// # Safety
    /// As [`from_raw`](Self::from_raw).
    #[inline]
    pub(crate) unsafe fn from_raw_noting_packages(
        head: *mut DMUS_KERNEL_EVENT,
        alloc: &'a IAllocatorMXF,
    ) -> (Self, bool) {
        let mut c = Self::new(alloc);
        if head.is_null() || !head.is_aligned() {
            // A misaligned head is no allocator's event: not followed, not owned.
            return (c, false);
        }
        // SAFETY: `head` is non-NULL and aligned, a live event (caller).
        let first = unsafe { &*head };
        if first.pNextEvt.is_null() {
            // One event, the most frequent chain: no walk.
            c.head = head;
            c.tail = head;
            c.len = 1;
            return (c, first.is_package());
        }
        // SAFETY: `head` is non-NULL and aligned, a chain of live events (caller).
        let scan = unsafe { scan_chain(head) };
        if scan.end != ChainEnd::Null {
            // A misaligned link, or the link that closes a cycle: cut, not followed.
            // SAFETY: `last` is an event of the chain, which we own.
            unsafe { (*scan.last).pNextEvt = null_mut() };
        }
        c.head = head;
        c.tail = scan.last;
        c.len = scan.len;
        (c, scan.packages)
    }

    /// Flattens the chain: every package, nested ones too, is replaced in place by its contents;
    /// the emptied shells (no longer packages, `cbEvent` 0) are returned as a chain, for the
    /// caller to drop (back to the allocator, in one call) or reuse.
    ///
    /// Contents that lead back to an event already taken (a package containing itself, a cycle
    /// through contents, contents shared with the chain or with another package: a caller's
    /// bug) are cut where they would, so each event is owned once; a misaligned contents
    /// pointer or link is not followed. While it runs, a taken event is marked in the lowest bit
    /// of its own link (never in its flags, whose high bits the port uses); every link it leaves
    /// is plain. Without packages it only reads the chain once; with them, one walk marks the
    /// chain, one each package's contents, one clears the marks: no extra memory, no recursion.
    pub fn unwrap_packages(&mut self) -> Chain<'a> {
        let alloc = self.alloc;
        let mut e = self.head;
        while !e.is_null() {
            // SAFETY: `e` is a live event of the chain we own.
            let (package, n) = unsafe { ((*e).is_package(), (*e).pNextEvt) };
            if package {
                break;
            }
            e = n;
        }
        if e.is_null() {
            return Chain::new(alloc);
        }
        let mut rest = core::mem::replace(self, Chain::new(alloc)).into_raw();
        // The chain's events are distinct (`from_raw` cut any cycle): mark them all.
        let mut e = rest;
        while !e.is_null() {
            // SAFETY: `e` is a live event of the chain we own; its link is aligned (`from_raw`).
            unsafe {
                let n = (*e).pNextEvt;
                (*e).pNextEvt = taken(n);
                e = n;
            }
        }
        // The flattened chain and the shells, linked with marked links (`tail` of each).
        let none: *mut DMUS_KERNEL_EVENT = null_mut();
        let (mut flat_head, mut flat_tail, mut flat_len) = (none, none, 0usize);
        let (mut shell_head, mut shell_tail, mut shell_len) = (none, none, 0usize);
        while let Some(p) = NonNull::new(rest) {
            let e = p.as_ptr();
            // SAFETY: `e` heads the events still to visit, all owned and marked; it is detached
            // here (keeping its mark) and appended to one of the two chains.
            unsafe {
                rest = link_of(e);
                (*e).pNextEvt = taken(null_mut());
                let (head, tail, len) = if (*e).is_package() {
                    let contents = (*e).uData.pPackageEvt;
                    (*e).uData.pPackageEvt = null_mut();
                    (*e).clear_package();
                    (*e).cbEvent = 0;
                    if let Some(last) = take_contents(contents) {
                        (*last).pNextEvt = taken(rest);
                        rest = contents;
                    }
                    (&mut shell_head, &mut shell_tail, &mut shell_len)
                } else {
                    (&mut flat_head, &mut flat_tail, &mut flat_len)
                };
                if tail.is_null() {
                    *head = e;
                } else {
                    (**tail).pNextEvt = taken(e);
                }
                *tail = e;
                *len = len.wrapping_add(1);
            }
        }
        // The marks come off: every link is plain again.
        for mut e in [flat_head, shell_head] {
            while !e.is_null() {
                // SAFETY: `e` is a live event of a chain we own.
                unsafe {
                    let n = link_of(e);
                    (*e).pNextEvt = n;
                    e = n;
                }
            }
        }
        let mut flat = Chain::new(alloc);
        (flat.head, flat.tail, flat.len) = (flat_head, flat_tail, flat_len);
        let mut shells = Chain::new(alloc);
        (shells.head, shells.tail, shells.len) = (shell_head, shell_tail, shell_len);
        *self = flat;
        shells
    }

    /// Gives up ownership of the whole chain (NULL if empty).
    pub fn into_raw(self) -> *mut DMUS_KERNEL_EVENT {
        let h = self.head;
        core::mem::forget(self);
        h
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Appends an event. An event of another allocator cannot join (a chain returns whole to
    /// one allocator): it goes back to its own allocator instead; [`try_push_back`] hands it
    /// back to the caller.
    ///
    /// [`try_push_back`]: Self::try_push_back
    pub fn push_back(&mut self, e: Event<'a>) {
        // A refused event is dropped here: back to its own allocator.
        let _ = self.try_push_back(e);
    }

    /// Appends an event of this chain's allocator; an event of another allocator comes back as
    /// the error.
    pub fn try_push_back(&mut self, e: Event<'a>) -> core::result::Result<(), Event<'a>> {
        if !same_allocator(e.alloc, self.alloc) {
            return Err(e);
        }
        self.push_raw(e.into_raw());
        Ok(())
    }

    /// Appends an owned event given by pointer (its link is overwritten when another follows).
    fn push_raw(&mut self, p: *mut DMUS_KERNEL_EVENT) {
        if self.tail.is_null() {
            self.head = p;
        } else {
            // SAFETY: `tail` is the chain's live last event.
            unsafe { (*self.tail).pNextEvt = p };
        }
        self.tail = p;
        self.len = self.len.wrapping_add(1);
    }

    /// Prepends a whole chain (keeps its order). A chain of another allocator cannot join: it
    /// goes back to its own allocator instead.
    pub fn prepend(&mut self, mut front: Chain<'a>) {
        if front.is_empty() || !same_allocator(front.alloc, self.alloc) {
            return;
        }
        // SAFETY: `front.tail` is its live last event.
        unsafe { (*front.tail).pNextEvt = self.head };
        if self.tail.is_null() {
            self.tail = front.tail;
        }
        self.head = front.head;
        self.len = self.len.wrapping_add(front.len);
        front.head = null_mut();
        front.tail = null_mut();
        front.len = 0;
    }

    /// Removes and returns the first event.
    #[inline]
    pub fn pop_front(&mut self) -> Option<Event<'a>> {
        let h = NonNull::new(self.head)?;
        // SAFETY: `h` is the chain's live first event.
        let next = unsafe { (*h.as_ptr()).pNextEvt };
        self.head = next;
        if next.is_null() {
            self.tail = null_mut();
        }
        self.len = self.len.saturating_sub(1);
        // SAFETY: detached from the chain; owned by us.
        unsafe { Event::from_raw(h.as_ptr(), self.alloc) }
    }

    /// Delivers the whole chain with one `PutMessage` to `sink` (or to the allocator for
    /// `None`). An empty chain is not delivered. The sink must return events to this chain's
    /// allocator (every MXF of one pin does): a sink bound to another allocator hands them to
    /// one that does not own them, which refuses them (mxf's counts them as foreign), and they
    /// are lost.
    pub fn deliver(self, sink: Option<&crate::interfaces::IMXF>) -> NTSTATUS {
        if self.is_empty() {
            return STATUS_SUCCESS;
        }
        let alloc = self.alloc;
        let head = self.into_raw();
        // SAFETY: the chain is handed over whole; the receiver owns it from here.
        unsafe {
            match sink {
                Some(s) => s.PutMessage(head),
                None => alloc.PutMessage(head),
            }
        }
    }
}

/// The links of a chain being built, without its allocator and without a destructor: what
/// [`crate::filter::Output`] keeps per output, so that an output costs two NULL words until
/// something is pushed to it, and the owner returns what is left (its own `Drop`) for the
/// outputs it has only. Every event in it is owned by the holder and belongs to the allocator
/// the holder passes to [`deliver`](Self::deliver).
///
/// The links also count their events and note whether one is a package, so that a receiver
/// that trusts the sender ([`crate::filter::IMxfFilter::PutChain`]) needs no walk of its own.
#[derive(Clone, Copy)]
pub(crate) struct Links {
    head: *mut DMUS_KERNEL_EVENT,
    tail: *mut DMUS_KERNEL_EVENT,
    len: usize,
    /// True if one of the events is a package.
    packages: bool,
}

impl Links {
    /// No event.
    pub(crate) const EMPTY: Links = Links {
        head: null_mut(),
        tail: null_mut(),
        len: 0,
        packages: false,
    };

    /// The number of events.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True if one of the events is a package.
    #[inline]
    fn packages(&self) -> bool {
        self.packages
    }

    /// Appends `e` if it is an event of `alloc`; gives it back otherwise.
    #[inline]
    pub(crate) fn try_push<'a>(
        &mut self,
        alloc: &'a IAllocatorMXF,
        e: Event<'a>,
    ) -> core::result::Result<(), Event<'a>> {
        if !same_allocator(e.alloc, alloc) {
            return Err(e);
        }
        if e.is_package() {
            // Rare: a branch, not a value carried through every push.
            self.packages = true;
        }
        let p = e.into_raw();
        if self.tail.is_null() {
            self.head = p;
        } else {
            // SAFETY: `tail` is the live last event of the links we own.
            unsafe { (*self.tail).pNextEvt = p };
        }
        self.tail = p;
        self.len = self.len.wrapping_add(1);
        Ok(())
    }

    /// Delivers the events with one call: to `sink`, or to `alloc` for `None`, as
    /// [`Chain::deliver`]; nothing is delivered when there is no event. The links are empty
    /// afterwards. `filter`: `sink` is an `#[mxf_filter]` object whose `QueryInterface` for
    /// [`IMxfFilter`](crate::filter::IMxfFilter) gave its very pointer; two events or more then go
    /// through `PutChain`, with their tail, count and package flag, which the receiver takes on
    /// trust instead of walking the chain (one event takes `PutMessage`'s own short path).
    #[inline]
    pub(crate) fn deliver(
        &mut self,
        alloc: &IAllocatorMXF,
        sink: Option<&crate::interfaces::IMXF>,
        filter: bool,
    ) -> NTSTATUS {
        let links = core::mem::replace(self, Links::EMPTY);
        if links.head.is_null() {
            return STATUS_SUCCESS;
        }
        let Some(sink) = sink else {
            // SAFETY: the events are owned by the holder and belong to `alloc` (the type's
            // contract); handed over whole.
            return unsafe { alloc.PutMessage(links.head) };
        };
        if filter && links.len > 1 {
            use crate::com::Interface;
            let raw = sink.as_raw();
            // SAFETY: `filter`: the object answered IMxfFilter with this very pointer, so its
            // vtable here has IMxfFilter's layout; the caller's reference keeps it alive.
            let put_chain =
                unsafe { crate::com::ComRef::<crate::filter::IMxfFilter>::from_raw(raw) };
            if let Some(f) = put_chain {
                // PutChain's contract holds: the events were linked by `try_push` alone, each
                // once (an `Event` is owned once), so the chain runs from `head` to `tail`,
                // whose link is NULL (`into_raw`), with `len` events; `packages` is false only
                // if none is a package.
                let (head, tail, len) = (links.head, links.tail, links.len);
                // SAFETY: PutChain's contract (above); the events are handed over whole.
                return unsafe { f.PutChain(head, tail, len, links.packages().into()) };
            }
        }
        // SAFETY: as above; the receiver owns the events from here.
        unsafe { sink.PutMessage(links.head) }
    }
}

impl Drop for Chain<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.head.is_null() {
            // SAFETY: undelivered events go back to their allocator, all at once.
            unsafe { self.alloc.PutMessage(self.head) };
        }
    }
}

impl<'a> Iterator for Chain<'a> {
    type Item = Event<'a>;
    fn next(&mut self) -> Option<Event<'a>> {
        self.pop_front()
    }
}

impl<'a> Chain<'a> {
    /// The events in order, each taken off as it is yielded: [`pop_front`](Self::pop_front)
    /// without the books of a chain that can grow (only the next event is kept), for a caller
    /// that takes every event. What is not taken goes back to the allocator when the drain is
    /// dropped.
    #[inline]
    pub fn drain(self) -> Drain<'a> {
        let alloc = self.alloc;
        Drain {
            next: self.into_raw(),
            alloc,
        }
    }
}

/// The rest of a chain being taken apart: see [`Chain::drain`].
pub struct Drain<'a> {
    /// The first event not yet taken, NULL at the end; the events from here on are owned, from
    /// `alloc`, linked as the chain was (every link aligned, no cycle).
    next: *mut DMUS_KERNEL_EVENT,
    alloc: &'a IAllocatorMXF,
}

impl<'a> Iterator for Drain<'a> {
    type Item = Event<'a>;
    #[inline]
    fn next(&mut self) -> Option<Event<'a>> {
        let p = NonNull::new(self.next)?;
        // SAFETY: `p` is the first of the events we own (the field's invariant).
        self.next = unsafe { (*p.as_ptr()).pNextEvt };
        // SAFETY: owned by us, handed to the caller (its link is cleared).
        unsafe { Event::from_raw(p.as_ptr(), self.alloc) }
    }
}

impl Drop for Drain<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.next.is_null() {
            // SAFETY: the events not taken go back to their allocator, all at once.
            unsafe { self.alloc.PutMessage(self.next) };
        }
    }
}

/// How a chain ends, as [`scan_chain`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChainEnd {
    /// The last event's link is NULL.
    Null,
    /// The last event's link is misaligned (no allocator produces one).
    Misaligned,
    /// The last event's link goes back to an event of the chain.
    Cycle,
}

/// What [`scan_chain`] found: the chain's distinct events up to where it ends.
pub(crate) struct ChainScan {
    /// How many events (each counted once).
    pub(crate) len: usize,
    /// The event whose link ends the chain (see `end`).
    pub(crate) last: *mut DMUS_KERNEL_EVENT,
    /// How that link ends it.
    pub(crate) end: ChainEnd,
    /// Whether any of the events is a package.
    pub(crate) packages: bool,
}

/// Walks a chain without writing to it: one pass for a chain that ends, and for a cyclic one
/// (a caller's bug) two more, Brent's cycle finding, to find the event that closes the cycle.
/// No memory, no recursion, no bound on the length.
///
/// # Safety
/// `head` is non-NULL and aligned, and every aligned pointer reachable through `pNextEvt` is a
/// live event (the PutMessage contract).
pub(crate) unsafe fn scan_chain(head: *mut DMUS_KERNEL_EVENT) -> ChainScan {
    // The hare walks the chain in order; the tortoise waits at the hare's position of every
    // power of two. If the hare meets it, the chain is cyclic with period `lam`. Every event the
    // hare visits is one of the chain's, and every link it follows is checked non-NULL and
    // aligned; in a cyclic chain it visits all of them before the meeting.
    let (mut power, mut lam, mut len) = (1usize, 1usize, 1usize);
    let mut tortoise = head;
    let mut last = head;
    // SAFETY: `head` is live (caller).
    let (mut packages, mut hare) = unsafe { ((*head).is_package(), (*head).pNextEvt) };
    loop {
        let end = if hare.is_null() {
            ChainEnd::Null
        } else if !hare.is_aligned() {
            ChainEnd::Misaligned
        } else if hare == tortoise {
            break;
        } else {
            if power == lam {
                tortoise = hare;
                power = power.saturating_mul(2);
                lam = 0;
            }
            last = hare;
            // SAFETY: `hare` is a non-NULL, aligned link of the chain: a live event.
            unsafe {
                packages |= (*hare).is_package();
                hare = (*hare).pNextEvt;
            }
            lam = lam.wrapping_add(1);
            len = len.wrapping_add(1);
            continue;
        };
        return ChainScan {
            len,
            last,
            end,
            packages,
        };
    }
    // Cyclic with period `lam`: the first event of the cycle is where two walkers `lam` apart
    // meet; the event `lam - 1` after it closes the cycle. (The links here are the ones the hare
    // checked; the NULL tests only keep a broken premise from dereferencing one.)
    let step = |e: *mut DMUS_KERNEL_EVENT| {
        if e.is_null() {
            e
        } else {
            // SAFETY: a non-NULL argument is a live event of the chain.
            unsafe { (*e).pNextEvt }
        }
    };
    let mut ahead = head;
    for _ in 0..lam {
        ahead = step(ahead);
    }
    let (mut first, mut mu) = (head, 0usize);
    while first != ahead && !ahead.is_null() && !first.is_null() {
        first = step(first);
        ahead = step(ahead);
        mu = mu.wrapping_add(1);
    }
    let mut last = if first.is_null() { head } else { first };
    for _ in 1..lam {
        let n = step(last);
        if n.is_null() {
            break;
        }
        last = n;
    }
    ChainScan {
        len: mu.wrapping_add(lam),
        last,
        end: ChainEnd::Cycle,
        packages,
    }
}

/// A link with its lowest bit set: while [`Chain::unwrap_packages`] runs, an event whose own link
/// carries the bit has been taken (links are aligned, so the bit is free; nothing else reads
/// these events meanwhile). No flag of the event is touched: the port and the capture sink use
/// the high `usFlags` bits themselves (`domain.md` §2.3).
fn taken(link: *mut DMUS_KERNEL_EVENT) -> *mut DMUS_KERNEL_EVENT {
    link.map_addr(|a| a | 1)
}

/// The link of `e` without the mark.
///
/// # Safety
/// `e` is a live event.
unsafe fn link_of(e: *mut DMUS_KERNEL_EVENT) -> *mut DMUS_KERNEL_EVENT {
    // SAFETY: caller.
    unsafe { (*e).pNextEvt }.map_addr(|a| a & !1)
}

/// Whether `e` was taken (its link carries the mark).
///
/// # Safety
/// `e` is a live event.
unsafe fn is_taken(e: *mut DMUS_KERNEL_EVENT) -> bool {
    // SAFETY: caller.
    unsafe { (*e).pNextEvt }.addr() & 1 != 0
}

/// Marks the contents chain starting at `head` as taken, up to an event already taken or a
/// misaligned link (the chain is cut there); returns its last event, or `None` if its first
/// event cannot be taken (NULL, misaligned or taken). An event whose own link is misaligned
/// looks taken and is not followed.
///
/// # Safety
/// `head` is NULL, misaligned, or the contents chain of a package the caller owns.
unsafe fn take_contents(head: *mut DMUS_KERNEL_EVENT) -> Option<*mut DMUS_KERNEL_EVENT> {
    // SAFETY: a non-NULL aligned `head` is a live event of the contents (caller).
    if head.is_null() || !head.is_aligned() || unsafe { is_taken(head) } {
        return None;
    }
    let mut cur = head;
    loop {
        // SAFETY: `cur` is a live event of the contents, not taken before this call marks it;
        // `n`, when followed, is the next one (non-NULL, aligned, not taken).
        unsafe {
            let n = (*cur).pNextEvt;
            if n.is_null() {
                (*cur).pNextEvt = taken(null_mut());
                return Some(cur);
            }
            if !n.is_aligned() || is_taken(n) {
                (*cur).pNextEvt = taken(null_mut());
                return Some(cur);
            }
            (*cur).pNextEvt = taken(n);
            cur = n;
        }
    }
}

/// An owned list of events threaded through `pNextEvt`, not tied to an allocator borrow: the
/// queue type of components that keep events between calls (the sequencer's time-ordered queue,
/// the unpacker's output queue, the packer's input queue).
///
/// Unlike [`Chain`], dropping a non-empty list does not return its events (there is no
/// allocator to return them to): the owner hands the list on with [`EventList::take`] or
/// returns it to its allocator in its own `Drop`.
///
/// Invariant: every event reachable from `head` is live, owned by the list and reachable exactly
/// once; `tail` is the last of them (its `pNextEvt` is NULL), or NULL when the list is empty;
/// `len` counts them.
pub struct EventList {
    head: *mut DMUS_KERNEL_EVENT,
    tail: *mut DMUS_KERNEL_EVENT,
    len: usize,
}

// SAFETY: the list owns its events exclusively; events are plain data that any CPU may touch.
unsafe impl Send for EventList {}

impl Default for EventList {
    fn default() -> Self {
        Self::new()
    }
}

impl EventList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            head: null_mut(),
            tail: null_mut(),
            len: 0,
        }
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The first event.
    pub fn first(&self) -> Option<&DMUS_KERNEL_EVENT> {
        // SAFETY: a non-NULL `head` is a live event of the list (invariant).
        unsafe { self.head.as_ref() }
    }

    /// The last event, mutably (to stamp it, say).
    ///
    /// # Safety
    /// The caller keeps the list's invariant and the event's ownership: `pNextEvt` stays NULL,
    /// and `cbEvent`, `uData` and the package flag keep agreeing (as [`Event::raw_mut`] says).
    pub unsafe fn last_mut(&mut self) -> Option<&mut DMUS_KERNEL_EVENT> {
        // SAFETY: a non-NULL `tail` is a live event of the list (invariant), borrowed through
        // `&mut self`.
        unsafe { self.tail.as_mut() }
    }

    /// Appends an event.
    pub fn push_back(&mut self, e: Event<'_>) {
        // SAFETY: an `Event` owns a live event whose `pNextEvt` is NULL; it is given up here.
        unsafe { self.push_back_raw(e.into_raw()) }
    }

    /// Appends a raw event.
    ///
    /// # Safety
    /// `p` is a live event the caller owns and gives up, with `pNextEvt == NULL`, in no list.
    pub unsafe fn push_back_raw(&mut self, p: *mut DMUS_KERNEL_EVENT) {
        if self.tail.is_null() {
            self.head = p;
        } else {
            // SAFETY: `tail` is the live last event (invariant); `p` is ours (caller).
            unsafe { (*self.tail).pNextEvt = p };
        }
        self.tail = p;
        self.len = self.len.saturating_add(1);
    }

    /// Prepends an event.
    pub fn push_front(&mut self, e: Event<'_>) {
        let p = e.into_raw();
        // SAFETY: `p` was just given up by its `Event`: a live event, now ours.
        unsafe { (*p).pNextEvt = self.head };
        if self.tail.is_null() {
            self.tail = p;
        }
        self.head = p;
        self.len = self.len.saturating_add(1);
    }

    /// Removes the first event, as an [`Event`] of `alloc`.
    ///
    /// # Safety
    /// The event comes from `alloc` (a list does not know its events' allocator).
    pub unsafe fn pop_front<'a>(&mut self, alloc: &'a IAllocatorMXF) -> Option<Event<'a>> {
        let p = NonNull::new(self.head)?;
        // SAFETY: `head` is the live first event (invariant).
        let next = unsafe { (*p.as_ptr()).pNextEvt };
        self.head = next;
        if next.is_null() {
            self.tail = null_mut();
        }
        self.len = self.len.saturating_sub(1);
        // SAFETY: detached from the list, owned by us, from `alloc` (the caller's contract).
        unsafe { Event::from_raw(p.as_ptr(), alloc) }
    }

    /// Merges `other` in by presentation time, stably (on equal times this list's events
    /// first). O(1) when `other` starts no earlier than this list's last event, one walk of both
    /// otherwise.
    ///
    /// # Safety
    /// Both lists are sorted by presentation time (the merge finds the new tail from that).
    pub unsafe fn merge_sorted(&mut self, other: EventList) {
        if other.is_empty() {
            return;
        }
        if self.tail.is_null() {
            *self = other;
            return;
        }
        let n = other.len;
        // SAFETY: `other` is an acyclic list of live events we now own (its invariant), sorted
        // (the caller's contract), in no other list; its tail is its last event.
        unsafe { self.insert_sorted_chain(other.head, other.tail, n) };
    }

    /// Appends `other`, keeping both orders.
    pub fn append(&mut self, other: EventList) {
        if other.is_empty() {
            return;
        }
        if self.tail.is_null() {
            *self = other;
            return;
        }
        // SAFETY: `tail` is the live last event (invariant); `other`'s events become ours.
        unsafe { (*self.tail).pNextEvt = other.head };
        self.tail = other.tail;
        self.len = self.len.saturating_add(other.len);
    }

    /// Takes every event out, leaving the list empty.
    pub fn take_all(&mut self) -> EventList {
        core::mem::take(self)
    }

    /// Takes every event out as one NULL-terminated chain (NULL if empty), leaving the list
    /// empty. The caller owns the chain.
    pub fn take(&mut self) -> *mut DMUS_KERNEL_EVENT {
        self.take_all().head
    }

    /// Inserts a chain sorted by [`sort_chain_by_time`] (the sort can run outside the list
    /// owner's lock), stably by presentation time: an event goes after the listed events of the
    /// same time, the chain's order is kept among equals. O(1) when the chain starts no earlier
    /// than the list's last event, one walk of the list otherwise. No allocation, no recursion.
    ///
    /// # Safety
    /// `head` heads a sorted, acyclic chain of `n` live events, owned by the caller and given up,
    /// none of them in a list; `tail` is its last event.
    pub unsafe fn insert_sorted_chain(
        &mut self,
        head: *mut DMUS_KERNEL_EVENT,
        tail: *mut DMUS_KERNEL_EVENT,
        n: usize,
    ) {
        if head.is_null() || tail.is_null() {
            return;
        }
        self.len = self.len.saturating_add(n);
        if self.tail.is_null() {
            self.head = head;
            self.tail = tail;
            return;
        }
        // SAFETY: both are live events (the list's invariant, the caller's chain).
        if unsafe { (*self.tail).ullPresTime100ns <= (*head).ullPresTime100ns } {
            // SAFETY: the list's tail is live and ours.
            unsafe { (*self.tail).pNextEvt = head };
            self.tail = tail;
            return;
        }
        // SAFETY: two sorted, disjoint chains we own; ties take the list's event first, so the
        // chain's last event ends the merge unless the list's last one is later.
        unsafe {
            self.head = merge_by_time(self.head, head);
            if time_of(self.tail) <= time_of(tail) {
                self.tail = tail;
            }
        }
    }

    /// Inserts `e` after every event whose presentation time is not later than its own (stable
    /// for equal times). Appending in time order costs O(1); otherwise the list is walked.
    ///
    /// # Safety
    /// `e` is a live event the caller owns and gives up, with `pNextEvt == NULL`, in no list.
    pub unsafe fn insert_by_time(&mut self, e: *mut DMUS_KERNEL_EVENT) {
        // SAFETY: a one-event chain (its link is NULL) is sorted and is its own tail.
        unsafe { self.insert_sorted_chain(e, e, 1) }
    }

    /// Detaches the leading events whose presentation time is at most `due`.
    pub fn take_until(&mut self, due: REFERENCE_TIME) -> EventList {
        let mut taken = EventList::new();
        let mut last = null_mut::<DMUS_KERNEL_EVENT>();
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: `cur` is a live event of the list (invariant).
            let (time, next) = unsafe { ((*cur).ullPresTime100ns, (*cur).pNextEvt) };
            if time > due {
                break;
            }
            last = cur;
            taken.len = taken.len.saturating_add(1);
            cur = next;
        }
        if last.is_null() {
            return taken;
        }
        taken.head = self.head;
        taken.tail = last;
        // SAFETY: `last` is a live event of the list; cutting after it splits the list in two.
        unsafe { (*last).pNextEvt = null_mut() };
        self.head = cur;
        if cur.is_null() {
            self.tail = null_mut();
        }
        self.len = self.len.saturating_sub(taken.len);
        taken
    }
}

/// How many sorted runs a [`TimeQueue`] keeps at most. Runs are merged so that each is more than
/// twice as long as the next, so 2^RUNS events could not fill them; at the limit the two newest
/// are merged before another is added.
const RUNS: usize = 64;

/// A queue of events ordered by presentation time, stably (equal times leave in arrival order),
/// for a sequencer: the events wait in a few sorted runs, in arrival order, instead of one
/// sorted list, so that a chain whose times interleave with what is queued (an echo's repeats,
/// seconds ahead) costs O(log n) a event, amortised, rather than a walk of the whole queue.
///
/// * [`insert_sorted_chain`](Self::insert_sorted_chain): a chain that starts no earlier than the
///   newest run's last event extends that run (O(1), the common case); otherwise it is a new run.
///   Then the two newest runs are merged while the older is at most twice as long as the newer
///   (a binary counter's carries), which keeps a run count of about log2(n).
/// * [`take_until`](Self::take_until) detaches each run's due prefix and merges the prefixes,
///   older runs first on equal times: O(runs + due events × runs).
/// * [`first_time`](Self::first_time): the earliest time, O(runs).
///
/// Nothing allocates (the runs are a fixed array) and nothing recurses. Like [`EventList`], a
/// queue dropped with events in it does not return them: its owner takes them out first.
///
/// Invariant: `runs[..count]` are non-empty, sorted, disjoint [`EventList`]s the queue owns,
/// `runs[count..]` are empty, every event of `runs[i]` arrived before every event of
/// `runs[i + 1]`, and `len` is the sum of their lengths.
pub struct TimeQueue {
    runs: [EventList; RUNS],
    count: usize,
    len: usize,
}

// SAFETY: the queue owns its events exclusively; events are plain data that any CPU may touch.
unsafe impl Send for TimeQueue {}

impl Default for TimeQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            runs: [const { EventList::new() }; RUNS],
            count: 0,
            len: 0,
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest presentation time queued.
    pub fn first_time(&self) -> Option<REFERENCE_TIME> {
        self.live()
            .iter()
            .filter_map(|r| r.first().map(|e| e.ullPresTime100ns))
            .min()
    }

    /// The runs in use.
    fn live(&self) -> &[EventList] {
        self.runs.get(..self.count).unwrap_or(&[])
    }

    /// Queues a chain sorted by [`sort_chain_by_time`] (the sort can run outside the queue
    /// owner's lock).
    ///
    /// # Safety
    /// `head` heads a sorted, acyclic chain of `n` live events, owned by the caller and given up,
    /// none of them in a list or queue; `tail` is its last event.
    pub unsafe fn insert_sorted_chain(
        &mut self,
        head: *mut DMUS_KERNEL_EVENT,
        tail: *mut DMUS_KERNEL_EVENT,
        n: usize,
    ) {
        if head.is_null() || tail.is_null() {
            return;
        }
        self.len = self.len.saturating_add(n);
        let newest = self.count.checked_sub(1).and_then(|i| self.runs.get_mut(i));
        if let Some(r) = newest
            // SAFETY: the newest run's tail is live (invariant), `head` is the caller's.
            && unsafe { time_of(r.tail) <= time_of(head) }
        {
            // SAFETY: the caller's sorted chain, starting no earlier than the run's end: the
            // list appends it (O(1)).
            unsafe { r.insert_sorted_chain(head, tail, n) };
        } else {
            if self.count == RUNS {
                // Unreachable by the run lengths (see RUNS); merged rather than refused.
                self.merge_newest();
            }
            if let Some(slot) = self.runs.get_mut(self.count) {
                *slot = EventList { head, tail, len: n };
                self.count = self.count.saturating_add(1);
            }
        }
        while let (Some(i), Some(j)) = (self.count.checked_sub(2), self.count.checked_sub(1)) {
            let (older, newer) = match (self.runs.get(i), self.runs.get(j)) {
                (Some(a), Some(b)) => (a.len, b.len),
                _ => break,
            };
            if older > newer.saturating_mul(2) {
                break;
            }
            self.merge_newest();
        }
    }

    /// Merges the two newest runs into one (older events first on equal times).
    fn merge_newest(&mut self) {
        let (Some(i), Some(j)) = (self.count.checked_sub(2), self.count.checked_sub(1)) else {
            return;
        };
        let Some(newer) = self.runs.get_mut(j).map(EventList::take_all) else {
            return;
        };
        if let Some(older) = self.runs.get_mut(i) {
            // SAFETY: two sorted runs of the queue (invariant); `older` arrived first.
            unsafe { older.merge_sorted(newer) };
        }
        self.count = j;
    }

    /// Detaches every event whose presentation time is at most `due`, as one list in time order
    /// (equal times in arrival order).
    pub fn take_until(&mut self, due: REFERENCE_TIME) -> EventList {
        let mut out = EventList::new();
        let mut kept = 0usize;
        for k in 0..self.count {
            let Some(r) = self.runs.get_mut(k) else {
                break;
            };
            // SAFETY: `out` holds the due events of older runs than `r`'s, both sorted.
            unsafe { out.merge_sorted(r.take_until(due)) };
            if !r.is_empty() {
                let r = r.take_all();
                if let Some(slot) = self.runs.get_mut(kept) {
                    *slot = r;
                }
                kept = kept.saturating_add(1);
            }
        }
        self.count = kept;
        self.len = self.len.saturating_sub(out.len);
        out
    }

    /// Takes every event out, in time order, leaving the queue empty.
    pub fn take_all(&mut self) -> EventList {
        self.take_until(REFERENCE_TIME::MAX)
    }
}

/// The presentation time of a live event.
///
/// # Safety
/// `e` is a live event.
unsafe fn time_of(e: *mut DMUS_KERNEL_EVENT) -> REFERENCE_TIME {
    // SAFETY: caller.
    unsafe { (*e).ullPresTime100ns }
}

/// Merges two sorted, disjoint, acyclic chains by presentation time, stably: on equal times the
/// event of `a` comes first. Returns the head (NULL for two empty chains).
///
/// # Safety
/// `a` and `b` head such chains of live events the caller owns.
unsafe fn merge_by_time(
    mut a: *mut DMUS_KERNEL_EVENT,
    mut b: *mut DMUS_KERNEL_EVENT,
) -> *mut DMUS_KERNEL_EVENT {
    if a.is_null() {
        return b;
    }
    if b.is_null() {
        return a;
    }
    let mut head: *mut DMUS_KERNEL_EVENT = null_mut();
    let mut tail: *mut DMUS_KERNEL_EVENT = null_mut();
    // Until one side runs out; the rest of the other then follows as it is.
    while !a.is_null() && !b.is_null() {
        // SAFETY: `a` and `b` are live heads; `tail` is the last event taken.
        unsafe {
            let take = if time_of(b) < time_of(a) { b } else { a };
            if take == a {
                a = (*a).pNextEvt;
            } else {
                b = (*b).pNextEvt;
            }
            if tail.is_null() {
                head = take;
            } else {
                (*tail).pNextEvt = take;
            }
            tail = take;
        }
    }
    // SAFETY: `tail` is the last event taken (both sides were non-empty).
    unsafe { (*tail).pNextEvt = if a.is_null() { b } else { a } };
    head
}

/// Sorts a non-empty, acyclic chain of live events the caller owns by presentation time,
/// stably (equal times keep their order); returns its head and tail, for
/// [`EventList::insert_sorted_chain`]. Already sorted (the common case): one walk. Otherwise a
/// bottom-up merge sort of the links: `runs[i]` holds a sorted run of 2^i events taken before the
/// ones in `runs[..i]`, so the array of 64 bounds any length; one more walk finds the tail.
///
/// # Safety
/// `head` heads such a chain.
pub unsafe fn sort_chain_by_time(
    head: *mut DMUS_KERNEL_EVENT,
) -> (*mut DMUS_KERNEL_EVENT, *mut DMUS_KERNEL_EVENT) {
    let mut t = head;
    loop {
        // SAFETY: `t` is a live event of the chain.
        let n = unsafe { (*t).pNextEvt };
        if n.is_null() {
            return (head, t);
        }
        // SAFETY: `n` and `t` are live events of the chain.
        if unsafe { time_of(n) < time_of(t) } {
            break;
        }
        t = n;
    }
    let mut runs: [*mut DMUS_KERNEL_EVENT; 64] = [null_mut(); 64];
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is live; detached to become a run of one.
        let mut carry = unsafe {
            let next = (*cur).pNextEvt;
            (*cur).pNextEvt = null_mut();
            core::mem::replace(&mut cur, next)
        };
        for run in runs.iter_mut() {
            if run.is_null() {
                *run = carry;
                carry = null_mut();
                break;
            }
            // SAFETY: two sorted runs we own; the older one (`run`) first on ties.
            carry = unsafe { merge_by_time(*run, carry) };
            *run = null_mut();
        }
        if !carry.is_null() {
            // Only after 2^64 events; kept in the last run rather than lost.
            if let Some(last) = runs.last_mut() {
                // SAFETY: as above.
                *last = unsafe { merge_by_time(*last, carry) };
            }
        }
    }
    let mut sorted = null_mut();
    for &run in runs.iter() {
        // SAFETY: sorted runs we own; `run` holds earlier events than `sorted`.
        sorted = unsafe { merge_by_time(run, sorted) };
    }
    let mut tail = sorted;
    // SAFETY: the sorted chain's events are live (and it is not empty).
    while let Some(n) = NonNull::new(unsafe { (*tail).pNextEvt }) {
        tail = n.as_ptr();
    }
    (sorted, tail)
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use super::*;
    use crate::abi::DMUS_KEF_PACKAGE_EVENT;
    use crate::allocator::{AllocatorConfig, AllocatorHandle};
    use std::vec::Vec;

    /// `n` events of `alloc`, each with one distinct note.
    fn events(alloc: &IAllocatorMXF, n: usize) -> Vec<*mut DMUS_KERNEL_EVENT> {
        (0..n)
            .map(|i| {
                Event::with_bytes(alloc, &[0x90, (i % 128) as u8, 1], 1, 0)
                    .unwrap()
                    .into_raw()
            })
            .collect()
    }

    /// A long event whose length says more than its owner wrote reads the rest of its buffer:
    /// bytes of a fresh buffer page, which must be initialised (Miri checks the read).
    #[test]
    fn a_length_beyond_what_was_written_reads_initialised_bytes() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let mut e = Event::with_bytes(
            alloc.interface(),
            &[0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 0xF7],
            1,
            0,
        )
        .unwrap();
        let cap = alloc.interface().GetBufferSize();
        // SAFETY: only the length changes, within the buffer's size (what a lying caller does).
        unsafe { e.raw_mut().cbEvent = cap };
        let data = e.data();
        assert_eq!(data.len(), usize::from(cap));
        assert_eq!(
            data.get(..10),
            Some(&[0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 0xF7][..])
        );
        // The rest was never written: a fresh page is zeroed.
        assert!(data.iter().skip(10).all(|&b| b == 0));
    }

    /// Links `v` in order (the last one's link NULL).
    fn link(v: &[*mut DMUS_KERNEL_EVENT]) {
        for (i, &e) in v.iter().enumerate() {
            // SAFETY: events of the test.
            unsafe { (*e).pNextEvt = v.get(i + 1).copied().unwrap_or(null_mut()) };
        }
    }

    /// Makes `p` a package holding the chain at `contents`.
    fn package(p: *mut DMUS_KERNEL_EVENT, contents: *mut DMUS_KERNEL_EVENT) {
        // SAFETY: an event of the test.
        unsafe {
            (*p).usFlags |= DMUS_KEF_PACKAGE_EVENT;
            (*p).cbEvent = 0;
            (*p).uData.pPackageEvt = contents;
        }
    }

    /// The events of `c` in order, as pointers, checking the tail, the length and the marks.
    fn walk(c: &Chain<'_>) -> Vec<*mut DMUS_KERNEL_EVENT> {
        let mut out = Vec::new();
        let mut e = c.head;
        while !e.is_null() {
            out.push(e);
            // SAFETY: events of the chain.
            unsafe {
                assert!((*e).pNextEvt.is_aligned(), "a mark was left");
                e = (*e).pNextEvt;
            }
            assert!(out.len() <= 1 << 20, "the chain does not end");
        }
        assert_eq!(out.len(), c.len());
        assert_eq!(out.last().copied().unwrap_or(null_mut()), c.tail);
        out
    }

    fn allocator() -> AllocatorHandle {
        AllocatorHandle::new(AllocatorConfig::default(), None).unwrap()
    }

    /// Events of `alloc` with the given times, linked in order; each carries its index as its
    /// note number and (index / 128) as its channel group, to tell them apart.
    fn timed(alloc: &IAllocatorMXF, times: &[i64]) -> Vec<*mut DMUS_KERNEL_EVENT> {
        let v: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                Event::with_bytes(alloc, &[0x90, (i % 128) as u8, 1], (i / 128) as u16, t)
                    .unwrap()
                    .into_raw()
            })
            .collect();
        link(&v);
        v
    }

    #[test]
    fn a_drain_yields_in_order_and_returns_what_it_did_not_yield() {
        let alloc = allocator();
        let v = timed(&alloc, &[0, 1, 2, 3]);
        // SAFETY: a chain of the test, handed over.
        let mut d = unsafe { Chain::from_raw(v[0], &alloc) }.drain();
        let first = d.next().unwrap();
        assert_eq!(first.data().get(1), Some(&0));
        assert!(
            first.raw().pNextEvt.is_null(),
            "a yielded event is detached"
        );
        let second = d.next().unwrap();
        assert_eq!(second.data().get(1), Some(&1));
        drop(d);
        assert_eq!(alloc.stats().outstanding_events, 2);
        drop((first, second));
        assert_eq!(alloc.stats().outstanding_events, 0);
        // Drained to the end: nothing left to return.
        let v = timed(&alloc, &[0, 1, 2]);
        // SAFETY: as above.
        let notes: Vec<u8> = unsafe { Chain::from_raw(v[0], &alloc) }
            .drain()
            .map(|e| e.data().get(1).copied().unwrap_or(0xFF))
            .collect();
        assert_eq!(notes, [0, 1, 2]);
        assert_eq!(alloc.stats().outstanding_events, 0);
        assert!(alloc.audit());
    }

    #[test]
    fn the_safe_setters_never_touch_what_owns_memory() {
        let a = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let alloc = a.interface();
        let long = [0xF0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xF7];
        let mut e = Event::with_bytes(alloc, &long, 1, 0).unwrap();
        e.set_flags(0xFFFF);
        assert!(!e.is_package(), "set_flags cannot make a package");
        assert_eq!(e.flags(), !DMUS_KEF_PACKAGE_EVENT);
        assert_eq!(e.data(), long);
        e.set_byte_position(77);
        assert_eq!(e.byte_position(), 77);
        let mut contents = Chain::new(alloc);
        contents.push_back(Event::with_bytes(alloc, &[0xC0, 5], 1, 0).unwrap());
        let mut pkg = e.into_package(contents).unwrap();
        assert!(pkg.is_package());
        assert_eq!(pkg.data(), [0u8; 0], "the long event's buffer went back");
        assert_eq!(a.stats().outstanding_buffers, 0);
        pkg.set_flags(0);
        assert!(pkg.is_package(), "set_flags cannot unmake a package");
        let again = Chain::new(alloc);
        assert_eq!(
            pkg.into_package(again).err(),
            Some(STATUS_INVALID_DEVICE_REQUEST)
        );
        assert_eq!(a.stats().outstanding_events, 0);
        assert_eq!(a.stats().anomalies.misuse(), 0);
    }

    #[test]
    fn events_of_another_allocator_never_join_a_chain() {
        let (a, b) = (
            AllocatorHandle::new(AllocatorConfig::default(), None).unwrap(),
            AllocatorHandle::new(AllocatorConfig::default(), None).unwrap(),
        );
        let (ia, ib) = (a.interface(), b.interface());
        let mut chain = Chain::new(ib);
        let foreign = Event::new(ia).unwrap();
        let back = chain.try_push_back(foreign).unwrap_err();
        assert!(chain.is_empty());
        drop(back);
        chain.push_back(Event::new(ia).unwrap());
        chain.push_back(Event::new(ib).unwrap());
        assert_eq!(chain.len(), 1);
        let mut front = Chain::new(ia);
        front.push_back(Event::new(ia).unwrap());
        chain.prepend(front);
        assert_eq!(chain.len(), 1);
        let mut other = Chain::new(ia);
        other.push_back(Event::new(ia).unwrap());
        assert_eq!(
            Event::new(ib).unwrap().into_package(other).err(),
            Some(STATUS_INVALID_PARAMETER)
        );
        drop(chain);
        for h in [&a, &b] {
            assert_eq!(h.stats().outstanding_events, 0);
            assert_eq!(h.stats().anomalies.misuse(), 0, "each event went home");
        }
    }

    /// Times and identities (the channel group) of a list, in order.
    fn drain_list(mut l: EventList, alloc: &IAllocatorMXF) -> Vec<(REFERENCE_TIME, u16)> {
        let mut out = Vec::new();
        // SAFETY: the test's events, all of `alloc`.
        while let Some(e) = unsafe { l.pop_front(alloc) } {
            out.push((e.time(), e.channel_group()));
        }
        out
    }

    #[test]
    fn a_time_queue_is_a_stable_sort_of_its_chains() {
        let a = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let alloc = a.interface();
        // A pseudo-random stream of chains, each sorted, with times that interleave with the
        // queue's; the channel group numbers the events in arrival order.
        let mut q = TimeQueue::new();
        let mut expected: Vec<(REFERENCE_TIME, u16)> = Vec::new();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut serial = 0u16;
        for round in 0..300 {
            let n = (next() % 6 + 1) as usize;
            let base = (next() % 50) as REFERENCE_TIME;
            let mut times: Vec<REFERENCE_TIME> = (0..n)
                .map(|_| base + (next() % 8) as REFERENCE_TIME)
                .collect();
            times.sort_unstable();
            let mut c = Chain::new(alloc);
            for &t in &times {
                c.push_back(Event::with_bytes(alloc, &[0x90, 60, 1], serial, t).unwrap());
                expected.push((t, serial));
                serial += 1;
            }
            let len = c.len();
            let head = c.into_raw();
            // SAFETY: a sorted chain of ours.
            let (h, t) = unsafe { sort_chain_by_time(head) };
            // SAFETY: as above, given up to the queue.
            unsafe { q.insert_sorted_chain(h, t, len) };
            assert!(
                q.count <= 2 + usize::BITS as usize,
                "runs stay few: {}",
                q.count
            );
            if round % 7 == 6 {
                let due = (next() % 60) as REFERENCE_TIME;
                let first = q.first_time();
                let got = drain_list(q.take_until(due), alloc);
                // What is due, stably sorted, leaves; the rest stays.
                let mut due_now: Vec<_> = expected.iter().copied().filter(|e| e.0 <= due).collect();
                due_now.sort_by_key(|e| e.0);
                expected.retain(|e| e.0 > due);
                assert_eq!(got, due_now);
                assert_eq!(first, expected.iter().chain(&due_now).map(|e| e.0).min());
            }
            assert_eq!(q.len(), expected.len());
        }
        expected.sort_by_key(|e| e.0);
        assert_eq!(drain_list(q.take_all(), alloc), expected);
        assert!(q.is_empty() && q.first_time().is_none());
        assert_eq!(a.stats().outstanding_events, 0);
    }

    #[test]
    fn chains_insert_stably_by_time() {
        let alloc = allocator();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let sizes: &[usize] = if cfg!(miri) {
            &[1, 2, 3, 7, 33]
        } else {
            &[1, 2, 3, 7, 33, 64, 300, 5_000]
        };
        for &n in sizes {
            for spread in [1u64, 4, 1000] {
                for queued in [0usize, 1, 5, 40] {
                    // A queue (sorted, as the list keeps it) and an incoming chain in any order.
                    let mut qt: Vec<i64> = (0..queued).map(|_| rand(spread) as i64).collect();
                    qt.sort();
                    let ct: Vec<i64> = (0..n).map(|_| rand(spread) as i64).collect();
                    let q = timed(&alloc, &qt);
                    let c = timed(&alloc, &ct);
                    let mut list = EventList::new();
                    for &e in &q {
                        // SAFETY: detached events of the test.
                        unsafe {
                            (*e).pNextEvt = null_mut();
                            list.push_back_raw(e);
                        }
                    }
                    // SAFETY: the test's acyclic chain, sorted, then given up.
                    unsafe {
                        let (h, t) = sort_chain_by_time(c[0]);
                        list.insert_sorted_chain(h, t, n);
                    }
                    // The expected order: a stable sort of the queue then the chain by time.
                    let mut want: Vec<(i64, usize, *mut DMUS_KERNEL_EVENT)> = qt
                        .iter()
                        .zip(&q)
                        .chain(ct.iter().zip(&c))
                        .enumerate()
                        .map(|(k, (&t, &e))| (t, k, e))
                        .collect();
                    want.sort_by_key(|w| (w.0, w.1));
                    let mut got = Vec::new();
                    let mut e = list.head;
                    while !e.is_null() {
                        got.push(e);
                        // SAFETY: events of the list.
                        e = unsafe { (*e).pNextEvt };
                    }
                    let want: Vec<_> = want.into_iter().map(|w| w.2).collect();
                    assert_eq!(got, want, "n {n}, spread {spread}, queued {queued}");
                    assert_eq!(list.len(), n + queued);
                    assert_eq!(list.tail, *want.last().unwrap());
                    // SAFETY: the list's events go back to their allocator.
                    unsafe { alloc.PutMessage(list.take()) };
                    assert_eq!(alloc.stats().outstanding_events, 0);
                }
            }
        }
    }

    #[test]
    fn from_raw_cuts_a_cycle_where_it_closes() {
        let alloc = allocator();
        // (length, where the last event links back to; None: no cycle).
        let cases: &[(usize, Option<usize>)] = &[
            (1, None),
            (5, None),
            (1, Some(0)),
            (2, Some(0)),
            (2, Some(1)),
            (3, Some(0)),
            (10, Some(4)),
            (10, Some(9)),
            (33, Some(17)),
            (64, Some(0)),
            (65, Some(63)),
        ];
        for &(n, back) in cases {
            let v = events(&alloc, n);
            link(&v);
            if let (Some(b), Some(&last)) = (back, v.last()) {
                // SAFETY: events of the test.
                unsafe { (*last).pNextEvt = v[b] };
            }
            // SAFETY: the test owns the chain and gives it up.
            let (c, packages) = unsafe { Chain::from_raw_noting_packages(v[0], &alloc) };
            assert!(!packages);
            assert_eq!(walk(&c), v, "{n} events, back to {back:?}");
            drop(c);
            assert_eq!(alloc.stats().outstanding_events, 0);
            assert!(alloc.audit());
        }
    }

    #[test]
    fn from_raw_notes_packages_and_cuts_misaligned_links() {
        let alloc = allocator();
        let v = events(&alloc, 4);
        link(&v[..3]);
        package(v[1], v[3]);
        let third = v[2];
        // SAFETY: events of the test; then the test gives the chain up.
        let (c, packages) = unsafe {
            (*third).pNextEvt = core::ptr::without_provenance_mut(0x1001);
            Chain::from_raw_noting_packages(v[0], &alloc)
        };
        assert!(packages);
        assert_eq!(walk(&c), v[..3]);
        drop(c);
        assert_eq!(alloc.stats().outstanding_events, 0);
    }

    #[test]
    fn unwrap_packages_takes_each_event_once() {
        let alloc = allocator();
        // Each case builds a structure from events 0.. and names the main chain's head; then
        // the flat events (in order) and the shells (in order) expected.
        type Build = fn(&[*mut DMUS_KERNEL_EVENT]) -> *mut DMUS_KERNEL_EVENT;
        type Case = (
            &'static str,
            usize,
            Build,
            &'static [usize],
            &'static [usize],
        );
        let cases: &[Case] = &[
            (
                "P{a b} c",
                4,
                |v| {
                    link(&[v[1], v[2]]);
                    package(v[0], v[1]);
                    link(&[v[0], v[3]]);
                    v[0]
                },
                &[1, 2, 3],
                &[0],
            ),
            (
                "P{a Q{b c} d} e",
                7,
                |v| {
                    link(&[v[3], v[4]]);
                    package(v[2], v[3]);
                    link(&[v[1], v[2], v[5]]);
                    package(v[0], v[1]);
                    link(&[v[0], v[6]]);
                    v[0]
                },
                &[1, 3, 4, 5, 6],
                &[0, 2],
            ),
            (
                "P{P} a b",
                3,
                |v| {
                    package(v[0], v[0]);
                    link(v);
                    v[0]
                },
                &[1, 2],
                &[0],
            ),
            (
                "P{a P} b",
                3,
                |v| {
                    link(&[v[1], v[0]]);
                    package(v[0], v[1]);
                    // P's own link is the main chain's: P b.
                    // SAFETY: events of the test.
                    unsafe { (*v[0]).pNextEvt = v[2] };
                    v[0]
                },
                &[1, 2],
                &[0],
            ),
            (
                "P{a} a",
                2,
                |v| {
                    package(v[0], v[1]);
                    link(v);
                    v[0]
                },
                &[1],
                &[0],
            ),
            (
                "P{Q{P}}",
                2,
                |v| {
                    package(v[1], v[0]);
                    package(v[0], v[1]);
                    // SAFETY: events of the test.
                    unsafe { (*v[0]).pNextEvt = null_mut() };
                    v[0]
                },
                &[],
                &[0, 1],
            ),
            (
                "P{a b} Q{b}",
                4,
                |v| {
                    link(&[v[1], v[2]]);
                    package(v[0], v[1]);
                    package(v[3], v[2]);
                    link(&[v[0], v[3]]);
                    v[0]
                },
                &[1, 2],
                &[0, 3],
            ),
            (
                "P{a b a}",
                3,
                |v| {
                    link(&[v[1], v[2]]);
                    // SAFETY: events of the test: b links back to a.
                    unsafe { (*v[2]).pNextEvt = v[1] };
                    package(v[0], v[1]);
                    // SAFETY: events of the test.
                    unsafe { (*v[0]).pNextEvt = null_mut() };
                    v[0]
                },
                &[1, 2],
                &[0],
            ),
        ];
        for &(name, n, build, flat, shells) in cases {
            let v = events(&alloc, n);
            // The port's private flag bits (parse state, the capture discontinuity mark) are
            // the events' own: set on every event, they must neither stop the walk nor be lost.
            for &e in &v {
                // SAFETY: events of the test.
                unsafe { (*e).usFlags |= 0xC000 };
            }
            let head = build(&v);
            // SAFETY: the test owns the structure and gives it up.
            let mut c = unsafe { Chain::from_raw(head, &alloc) };
            let s = c.unwrap_packages();
            let pick = |ix: &[usize]| ix.iter().map(|&i| v[i]).collect::<Vec<_>>();
            assert_eq!(walk(&c), pick(flat), "{name}: flat");
            assert_eq!(walk(&s), pick(shells), "{name}: shells");
            for &e in walk(&s).iter() {
                // SAFETY: shells we own.
                assert!(!unsafe { (*e).is_package() }, "{name}");
            }
            for &e in walk(&c).iter() {
                // SAFETY: events we own.
                assert_eq!(unsafe { (*e).usFlags }, 0xC000, "{name}: flags kept");
            }
            drop(c);
            drop(s);
            assert_eq!(alloc.stats().outstanding_events, 0, "{name}");
            assert!(alloc.audit(), "{name}");
        }
    }

    #[test]
    fn unwrap_packages_of_deep_nesting_uses_no_stack() {
        let alloc = allocator();
        let depth = if cfg!(miri) { 200 } else { 10_000 };
        let v = events(&alloc, depth + 1);
        for w in v.windows(2) {
            package(w[0], w[1]);
        }
        // SAFETY: the test owns the structure and gives it up.
        let mut c = unsafe { Chain::from_raw(v[0], &alloc) };
        // On a small stack: the walk is a loop.
        let (flat, shells) = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn_scoped(scope, move || {
                    let s = c.unwrap_packages();
                    (walk(&c).len(), walk(&s).len())
                })
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!((flat, shells), (1, depth));
        assert_eq!(alloc.stats().outstanding_events, 0);
        assert!(alloc.audit());
    }
}
