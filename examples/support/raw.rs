//! Calling MXF objects the way the DMus port (C++) does, through the vtable of a raw interface
//! pointer, and building raw event chains to call them with.

use core::ffi::c_void;
use core::ptr::null_mut;
use mxf::abi::{DMUS_KERNEL_EVENT, KSSTATE, NTSTATUS, REFERENCE_TIME, Result};
use mxf::com::{ComRef, Interface};
use mxf::event::{Chain, Event};
use mxf::interfaces::{IAllocatorMXF, IMXF, IMXF_Vtbl};

/// The IMXF vtable of the interface at `this`.
///
/// # Safety
/// `this` is a live IMXF (or derived) interface pointer, live for `'a`.
unsafe fn vtbl<'a>(this: *mut c_void) -> &'a IMXF_Vtbl {
    // SAFETY: the first word of a live interface is its vtable pointer, which begins with IMXF's
    // slots (caller); vtables are never freed.
    unsafe { &**this.cast::<*const IMXF_Vtbl>() }
}

/// `this->PutMessage(head)` through slot 4.
///
/// # Safety
/// `this` is a live IMXF; `head` is NULL or a chain of live events of the allocator the object
/// uses, handed over.
pub unsafe fn put_message(this: *mut c_void, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { (vtbl(this).PutMessage)(this, head) }
}

/// `this->ConnectOutput(sink)` through slot 5 (`sink` may be NULL).
///
/// # Safety
/// `this` is a live IMXF; a non-NULL `sink` is a live IMXF.
pub unsafe fn connect_output(this: *mut c_void, sink: *mut c_void) -> NTSTATUS {
    // SAFETY: forwarded contract; the callee AddRefs what it keeps.
    unsafe { (vtbl(this).ConnectOutput)(this, ComRef::from_raw(sink)) }
}

/// `this->DisconnectOutput(sink)` through slot 6 (`sink` may be NULL).
///
/// # Safety
/// `this` is a live IMXF; a non-NULL `sink` is a live IMXF.
pub unsafe fn disconnect_output(this: *mut c_void, sink: *mut c_void) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { (vtbl(this).DisconnectOutput)(this, ComRef::from_raw(sink)) }
}

/// `this->SetState(state)` through slot 3.
///
/// # Safety
/// `this` is a live IMXF.
pub unsafe fn set_state(this: *mut c_void, state: KSSTATE) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { (vtbl(this).SetState)(this, state) }
}

/// Connects `filter`'s next free output to `sink` through the vtable.
pub fn connect(filter: &IMXF, sink: &IMXF) -> NTSTATUS {
    // SAFETY: both interfaces are held live by the caller.
    unsafe { connect_output(filter.as_raw(), sink.as_raw()) }
}

/// One event to build: bytes, channel group, time, flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ev<'b> {
    /// The MIDI bytes (at most 240).
    pub bytes: &'b [u8],
    /// `usChannelGroup`.
    pub group: u16,
    /// `ullPresTime100ns`.
    pub time: REFERENCE_TIME,
    /// INCOMPLETE (a fragment or a SysEx chunk that continues).
    pub incomplete: bool,
}

impl<'b> Ev<'b> {
    /// A complete message on group 1 at `time`.
    pub const fn at(time: REFERENCE_TIME, bytes: &'b [u8]) -> Self {
        Self {
            bytes,
            group: 1,
            time,
            incomplete: false,
        }
    }

    /// A complete message on group 1 at time 0.
    pub const fn new(bytes: &'b [u8]) -> Self {
        Self::at(0, bytes)
    }

    /// The same event on `group`.
    pub const fn group(mut self, group: u16) -> Self {
        self.group = group;
        self
    }

    /// The same event flagged INCOMPLETE.
    pub const fn incomplete(mut self) -> Self {
        self.incomplete = true;
        self
    }

    /// A new event from `alloc` holding this description.
    pub fn build<'a>(&self, alloc: &'a IAllocatorMXF) -> Result<Event<'a>> {
        let mut e = Event::with_bytes(alloc, self.bytes, self.group, self.time)?;
        e.set_incomplete(self.incomplete);
        Ok(e)
    }
}

/// A chain of new events from `alloc`, in order.
pub fn chain<'a>(alloc: &'a IAllocatorMXF, events: &[Ev<'_>]) -> Result<Chain<'a>> {
    let mut c = Chain::new(alloc);
    for e in events {
        c.push_back(e.build(alloc)?);
    }
    Ok(c)
}

/// A package: a shell event from `alloc` whose `uData.pPackageEvt` heads `contents`
/// (`DMUS_KEF_PACKAGE_EVENT`, `cbEvent` 0, no byte position). Dropping it returns the shell and
/// its contents.
pub fn package<'a>(alloc: &'a IAllocatorMXF, contents: Chain<'a>) -> Result<Event<'a>> {
    Event::new(alloc)
        .ok_or(mxf::abi::STATUS_INSUFFICIENT_RESOURCES)?
        .into_package(contents)
}

/// Builds `events` and puts them into `this` as one chain through the vtable.
///
/// # Safety
/// `this` is a live IMXF whose events return to `alloc`.
pub unsafe fn put_events(
    this: *mut c_void,
    alloc: &IAllocatorMXF,
    events: &[Ev<'_>],
) -> Result<NTSTATUS> {
    let head = chain(alloc, events)?.into_raw();
    // SAFETY: a chain of this allocator's events, handed over (caller: `this` is live).
    Ok(unsafe { put_message(this, head) })
}

/// `PutMessage(NULL)` through the vtable.
///
/// # Safety
/// `this` is a live IMXF.
pub unsafe fn put_null(this: *mut c_void) -> NTSTATUS {
    // SAFETY: NULL is "no event" (caller: `this` is live).
    unsafe { put_message(this, null_mut()) }
}
