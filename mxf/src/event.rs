//! The safe event layer: owned events and chains tied to their allocator.
//!
//! Every event has exactly one owner. An [`Event`] or [`Chain`] that is dropped without having
//! been delivered goes back to its allocator, so safe code can neither leak an event nor put it
//! twice. Raw pointers enter and leave only through the `unsafe` `from_raw` / `into_raw` pairs.
//!
//! MIDI content is read through `midly`'s live-event parser ([`Event::message`]); long events
//! (more than `sizeof(PBYTE)` bytes: 4 on 32-bit targets, 8 on 64-bit ones) live in allocator
//! buffers; INCOMPLETE fragments and packages are exposed as they are.

use crate::abi::{
    DMUS_KERNEL_EVENT, INLINE_DATA_BYTES, NTSTATUS, REFERENCE_TIME, Result,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
};
use crate::interfaces::IAllocatorMXF;
use core::fmt;
use core::ptr::{NonNull, null_mut};

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
    pub fn raw(&self) -> &DMUS_KERNEL_EVENT {
        // SAFETY: owned, live event.
        unsafe { self.ptr.as_ref() }
    }

    /// The raw event, mutably. Changing `cbEvent` or `uData` by hand can break the buffer
    /// ownership the allocator infers from `cbEvent`; prefer [`Event::set_bytes`].
    pub fn raw_mut(&mut self) -> &mut DMUS_KERNEL_EVENT {
        // SAFETY: owned, live event.
        unsafe { self.ptr.as_mut() }
    }

    /// `usChannelGroup` (groups are numbered from 1).
    pub fn channel_group(&self) -> u16 {
        self.raw().usChannelGroup
    }
    /// Sets `usChannelGroup`.
    pub fn set_channel_group(&mut self, g: u16) {
        self.raw_mut().usChannelGroup = g;
    }
    /// Presentation time, 100 ns units on the master clock.
    pub fn time(&self) -> REFERENCE_TIME {
        self.raw().ullPresTime100ns
    }
    /// Sets the presentation time.
    pub fn set_time(&mut self, t: REFERENCE_TIME) {
        self.raw_mut().ullPresTime100ns = t;
    }
    /// True for a package (its contents come with it).
    pub fn is_package(&self) -> bool {
        self.raw().is_package()
    }
    /// True if the message continues in a later event (SysEx chunk, raw capture bytes).
    pub fn is_incomplete(&self) -> bool {
        self.raw().is_incomplete()
    }
    /// Marks the event INCOMPLETE or COMPLETE.
    pub fn set_incomplete(&mut self, incomplete: bool) {
        if incomplete {
            self.raw_mut().set_incomplete()
        } else {
            self.raw_mut().set_complete()
        }
    }

    /// The event's data bytes: inline, or from its buffer. Empty for a package or a long event
    /// without buffer; never longer than the allocator's buffer size.
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
        // SAFETY: a long event's buffer holds GetBufferSize bytes; never read past them.
        let cap = unsafe { self.alloc.GetBufferSize() } as usize;
        // SAFETY: `p` is the event's buffer of at least `cap` bytes.
        unsafe { core::slice::from_raw_parts(p, n.min(cap)) }
    }

    /// The data bytes, mutably (same extent as [`Event::data`]).
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = self.data().len();
        let n = self.raw().cbEvent as usize;
        let e = self.raw_mut();
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
        // SAFETY: GetBufferSize has no preconditions.
        let cap = unsafe { self.alloc.GetBufferSize() } as usize;
        if bytes.len() > cap.max(INLINE_DATA_BYTES) || bytes.len() > u16::MAX as usize {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let alloc = self.alloc;
        let e = self.raw_mut();
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
        let (g, t, f) = (self.channel_group(), self.time(), self.raw().usFlags);
        let r = c.raw_mut();
        r.usChannelGroup = g;
        r.ullPresTime100ns = t;
        r.usFlags = f;
        Some(c)
    }

    /// Splits a package into its shell (now an ordinary empty event) and its contents.
    /// A non-package is returned unchanged with an empty chain.
    pub fn unwrap_package(mut self) -> (Event<'a>, Chain<'a>) {
        let alloc = self.alloc;
        if !self.is_package() {
            return (self, Chain::new(alloc));
        }
        let r = self.raw_mut();
        // SAFETY: the package flag says the union holds the contents pointer.
        let contents = unsafe { r.uData.pPackageEvt };
        r.uData.pPackageEvt = null_mut();
        r.clear_package();
        r.cbEvent = 0;
        // SAFETY: the contents belonged to the package, which we own.
        let chain = unsafe { Chain::from_raw(contents, alloc) };
        (self, chain)
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

    /// Takes ownership of a whole chain. The walk to find the tail is bounded by
    /// [`MAX_CHAIN_LEN`]: a longer (or cyclic) chain is cut there, and so is a chain whose next
    /// link is misaligned; the remainder is neither followed nor owned.
    ///
    /// # Safety
    /// `head` is NULL or a chain of live events the caller owns and gives up, from `alloc`.
    pub unsafe fn from_raw(head: *mut DMUS_KERNEL_EVENT, alloc: &'a IAllocatorMXF) -> Self {
        let mut c = Self::new(alloc);
        if head.is_null() {
            return c;
        }
        let mut tail = head;
        let mut len = 1;
        loop {
            // SAFETY: `tail` is a live event of the chain (caller).
            let next = unsafe { (*tail).pNextEvt };
            if next.is_null() {
                break;
            }
            if len == MAX_CHAIN_LEN || !next.is_aligned() {
                // Too long (or cyclic), or a link no allocator produced: not followed.
                // SAFETY: as above; cut the chain here.
                unsafe { (*tail).pNextEvt = null_mut() };
                break;
            }
            tail = next;
            len = len.wrapping_add(1);
        }
        c.head = head;
        c.tail = tail;
        c.len = len;
        c
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

    /// Appends an event.
    pub fn push_back(&mut self, e: Event<'a>) {
        let p = e.into_raw();
        if self.tail.is_null() {
            self.head = p;
        } else {
            // SAFETY: `tail` is the chain's live last event.
            unsafe { (*self.tail).pNextEvt = p };
        }
        self.tail = p;
        self.len = self.len.wrapping_add(1);
    }

    /// Prepends a whole chain (keeps its order).
    pub fn prepend(&mut self, mut front: Chain<'a>) {
        if front.is_empty() {
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
    /// `None`). An empty chain is not delivered.
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

impl Drop for Chain<'_> {
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

/// The longest incoming chain a filter or [`Chain::from_raw`] follows (a cyclic chain, which is
/// a caller's bug, is cut here instead of looping forever).
pub const MAX_CHAIN_LEN: usize = 1 << 22;

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
    pub fn last_mut(&mut self) -> Option<&mut DMUS_KERNEL_EVENT> {
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

    /// Removes the first event, as an [`Event`] of `alloc` (which it belongs to).
    pub fn pop_front<'a>(&mut self, alloc: &'a IAllocatorMXF) -> Option<Event<'a>> {
        let p = NonNull::new(self.head)?;
        // SAFETY: `head` is the live first event (invariant).
        let next = unsafe { (*p.as_ptr()).pNextEvt };
        self.head = next;
        if next.is_null() {
            self.tail = null_mut();
        }
        self.len = self.len.saturating_sub(1);
        // SAFETY: detached from the list, owned by us, from `alloc` (caller's word).
        unsafe { Event::from_raw(p.as_ptr(), alloc) }
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

    /// Inserts `e` after every event whose presentation time is not later than its own (stable
    /// for equal times). Appending in time order costs O(1); otherwise the list is walked.
    ///
    /// # Safety
    /// `e` is a live event the caller owns and gives up, with `pNextEvt == NULL`, in no list.
    pub unsafe fn insert_by_time(&mut self, e: *mut DMUS_KERNEL_EVENT) {
        // SAFETY: `e` is live (caller).
        let t = unsafe { (*e).ullPresTime100ns };
        if self.tail.is_null() {
            // SAFETY: forwarded contract.
            return unsafe { self.push_back_raw(e) };
        }
        // SAFETY: the list is not empty, so `head` and `tail` are live events (invariant).
        let (first, last) =
            unsafe { ((*self.head).ullPresTime100ns, (*self.tail).ullPresTime100ns) };
        if last <= t {
            // SAFETY: forwarded contract.
            return unsafe { self.push_back_raw(e) };
        }
        self.len = self.len.saturating_add(1);
        if t < first {
            // SAFETY: `e` is live and ours (caller).
            unsafe { (*e).pNextEvt = self.head };
            self.head = e;
            return;
        }
        // first <= t < last: the event `p` with p.time <= t < p.next.time exists, and p.next is
        // never NULL here (the tail is later than `t`).
        let mut p = self.head;
        loop {
            // SAFETY: `p` is a live event of the list (invariant).
            let next = unsafe { (*p).pNextEvt };
            if next.is_null() {
                break;
            }
            // SAFETY: `next` is a live event of the list (invariant).
            if unsafe { (*next).ullPresTime100ns } > t {
                break;
            }
            p = next;
        }
        // SAFETY: `p` is a live event of the list; `e` is ours (caller).
        unsafe {
            (*e).pNextEvt = (*p).pNextEvt;
            (*p).pNextEvt = e;
        }
        if p == self.tail {
            self.tail = e;
        }
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
