//! [`Recorder`]: an IMXF sink that writes down what reaches it, then returns the events to the
//! allocator, as the last object of a render graph does.

use super::ev::{Ev, describe};
use crate::abi::{
    DMUS_KEF_EVENT_INCOMPLETE, DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT, KSSTATE, NTSTATUS,
    REFERENCE_TIME, Result, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS,
};
use crate::com::{ComRef, IntoComObject};
use crate::event::Chain;
use crate::interfaces::{IAllocatorMXF, IMXF, IMXF_Impl};
use core::fmt;
use midly::live::LiveEvent;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

/// One event as it reached a [`Recorder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The data bytes (empty for a package shell).
    pub bytes: Vec<u8>,
    /// `usChannelGroup`.
    pub group: u16,
    /// `ullPresTime100ns`.
    pub time: REFERENCE_TIME,
    /// `usFlags`.
    pub flags: u16,
    /// `ullBytePosition`.
    pub byte_position: u64,
    /// Which `PutMessage` call (0, 1, …) delivered it.
    pub call: usize,
    /// Nesting depth: 0 for an event of the chain, 1 inside a package, …
    pub depth: usize,
}

impl Record {
    /// True if the event was flagged INCOMPLETE.
    pub fn is_incomplete(&self) -> bool {
        self.flags & DMUS_KEF_EVENT_INCOMPLETE != 0
    }

    /// True for a package shell (its contents follow with `depth + 1`).
    pub fn is_package(&self) -> bool {
        self.flags & DMUS_KEF_PACKAGE_EVENT != 0
    }

    /// The MIDI message, parsed by `midly`; `None` for a fragment, a package shell or bytes
    /// that are no message.
    pub fn message(&self) -> Option<LiveEvent<'_>> {
        if self.is_incomplete() || self.is_package() {
            return None;
        }
        LiveEvent::parse(&self.bytes).ok()
    }
}

/// One line, indented by the depth: `g1 t=0        90 3C 64   ch1  note-on 60 vel 100`.
impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:indent$}", "", indent = self.depth.saturating_mul(2))?;
        if self.is_package() {
            return write!(f, "package (group {}, t={})", self.group, self.time);
        }
        describe(f, &self.bytes, self.group, self.time, self.is_incomplete())
    }
}

/// Rebuilds descriptions from records in arrival order: package contents (the records after a
/// shell, one level deeper) go back into their package.
fn rebuild(records: &[Record]) -> Vec<Ev<'static>> {
    let mut top: Vec<Ev<'static>> = Vec::new();
    // The packages still collecting contents, outermost first.
    let mut open: Vec<Ev<'static>> = Vec::new();
    let close = |open: &mut Vec<Ev<'static>>, top: &mut Vec<Ev<'static>>| {
        if let Some(done) = open.pop() {
            match open.last_mut() {
                Some(parent) => parent.push_content(done),
                None => top.push(done),
            }
        }
    };
    for r in records {
        while open.len() > r.depth {
            close(&mut open, &mut top);
        }
        let e = Ev::received(&r.bytes, r.group, r.time, r.flags);
        if r.is_package() {
            open.push(e);
        } else {
            match open.last_mut() {
                Some(parent) => parent.push_content(e),
                None => top.push(e),
            }
        }
    }
    while !open.is_empty() {
        close(&mut open, &mut top);
    }
    top
}

/// The records of a [`Recorder`], shared with whoever created it (clones share them).
#[derive(Clone, Default)]
pub struct RecordLog(Arc<Mutex<Log>>);

#[derive(Default)]
struct Log {
    records: Vec<Record>,
    calls: usize,
}

impl RecordLog {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every event recorded so far, package shells and contents included, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        self.lock().records.clone()
    }

    /// Takes the records, leaving the log empty (the call count goes on).
    pub fn take(&self) -> Vec<Record> {
        core::mem::take(&mut self.lock().records)
    }

    /// Forgets the records (the call count goes on).
    pub fn clear(&self) {
        self.lock().records.clear();
    }

    /// What was received so far, as event descriptions (packages with their contents), to
    /// compare with `==` to what a test expects.
    pub fn received(&self) -> Vec<Ev<'static>> {
        rebuild(&self.lock().records)
    }

    /// [`received`](Self::received), leaving the log empty: each call sees what arrived since
    /// the last one.
    pub fn take_received(&self) -> Vec<Ev<'static>> {
        rebuild(&self.take())
    }

    /// The data bytes of every event that is no package shell, in order.
    pub fn bytes(&self) -> Vec<Vec<u8>> {
        self.lock()
            .records
            .iter()
            .filter(|r| !r.is_package())
            .map(|r| r.bytes.clone())
            .collect()
    }

    /// `PutMessage` calls with a non-NULL argument received.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }
}

impl fmt::Debug for RecordLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.lock();
        f.debug_struct("RecordLog")
            .field("calls", &log.calls)
            .field("records", &log.records)
            .finish()
    }
}

/// An IMXF sink that records every event it receives (package contents included, in order,
/// with their depth) and returns them to its allocator, as the last object of a render graph
/// does. `SetState` succeeds; it has no output, so `ConnectOutput` and `DisconnectOutput`
/// answer `STATUS_NOT_IMPLEMENTED`, as the allocator does. `PutMessage(NULL)` succeeds and is
/// not counted as a call.
///
/// Create one with [`Recorder::create`] (or take the one of a [`Rig`](super::Rig)).
#[crate::com_object(IMXF, tag = "MXFr")]
pub struct Recorder {
    alloc: IAllocatorMXF,
    log: RecordLog,
}

impl Recorder {
    /// A recorder returning events to `alloc`: its IMXF (connect filters to it) and its log.
    /// Connect it only to objects of `alloc`'s stream: the events it receives go back to
    /// `alloc`.
    pub fn create(alloc: &IAllocatorMXF) -> Result<(IMXF, RecordLog)> {
        let log = RecordLog::default();
        let sink = Recorder {
            alloc: alloc.clone(),
            log: log.clone(),
        }
        .into_com::<IMXF>()?;
        Ok((sink, log))
    }
}

impl IMXF_Impl for Recorder {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        // SAFETY: PutMessage hands over the chain; its events come from `alloc` (the contract
        // of `create`: the recorder is connected within `alloc`'s stream).
        let mut chain = unsafe { Chain::from_raw(head, &self.alloc) };
        let mut log = self.log.lock();
        let call = log.calls;
        log.calls = log.calls.wrapping_add(1);
        // Depth bookkeeping: how many events remain at each open package level.
        let mut remaining: Vec<usize> = Vec::new();
        while let Some(event) = chain.pop_front() {
            while remaining.last() == Some(&0) {
                remaining.pop();
            }
            if let Some(n) = remaining.last_mut() {
                *n = n.saturating_sub(1);
            }
            log.records.push(Record {
                bytes: event.data().to_vec(),
                group: event.channel_group(),
                time: event.time(),
                flags: event.flags(),
                byte_position: event.byte_position(),
                call,
                depth: remaining.len(),
            });
            if event.is_package() {
                let (shell, contents) = event.unwrap_package();
                drop(shell);
                if !contents.is_empty() {
                    remaining.push(contents.len());
                    chain.prepend(contents);
                }
            }
            // `event` (or the shell) returns to the allocator here.
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
