//! Testing filters (feature `std`): an allocator and a recording sink, events described by
//! their MIDI bytes, calls through raw vtables as the DMus port makes them, and a check that
//! every event came back.
//!
//! A filter under test is driven the way PortCls drives it: its events come from an
//! `IAllocatorMXF`, reach it through `PutMessage` in its vtable, and whatever it sends on
//! reaches the next object's `PutMessage`. A [`Rig`] is that surrounding: an allocator (create
//! the filter with it), a [`Recorder`] as the sink (connect the filter to it), [`Ev`]
//! descriptions built into real events and put into the filter through its vtable slot, and
//! what arrived at the sink, as descriptions again, to compare with `==`.
//!
//! ```
//! use mxf::prelude::*;
//! use mxf::testing::{Rig, fragments, note_off, note_on, package, set_state, sysex};
//!
//! /// Moves every event to channel group 2.
//! #[mxf_filter]
//! struct ToGroupTwo;
//!
//! impl Filter for ToGroupTwo {
//!     fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
//!         event.set_channel_group(2);
//!         out.push(event);
//!     }
//! }
//!
//! let rig = Rig::new()?;
//! let filter = ToGroupTwo.into_filter(rig.allocator())?;
//! rig.connect(&filter)?;
//!
//! // One chain in, one PutMessage out, order and times kept.
//! rig.send(&filter, &[note_on(0, 60, 100).at(10), note_off(0, 60, 0).at(20)])?;
//! assert_eq!(
//!     rig.take_received(),
//!     [note_on(0, 60, 100).at(10).group(2), note_off(0, 60, 0).at(20).group(2)]
//! );
//!
//! // A package is unwrapped by the framework; a SysEx (in an allocator buffer) and INCOMPLETE
//! // fragments pass like any event.
//! let gs_reset = sysex(&[0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41]);
//! rig.send(&filter, &[package([note_on(0, 64, 90).at(5)]), gs_reset.clone()])?;
//! let long = [&[0xF0][..], &[0x11; 298], &[0xF7]].concat(); // 300 bytes: two events
//! rig.send(&filter, &fragments(&long, 240))?;
//! let got = rig.take_received();
//! assert_eq!(got[0], note_on(0, 64, 90).at(5).group(2));
//! assert_eq!(got[1], gs_reset.group(2));
//! assert!(got[2].is_incomplete() && !got[3].is_incomplete());
//! assert_eq!([got[2].data(), got[3].data()].concat(), long);
//!
//! // In STOP a filter hands what it gets straight back to the allocator.
//! assert_eq!(set_state(&filter, KSSTATE_STOP), STATUS_SUCCESS);
//! rig.send(&filter, &[note_on(0, 60, 100)])?;
//! assert!(rig.received().is_empty());
//!
//! // Every event and buffer is back in the allocator (panics with what is missing if not).
//! rig.assert_balanced();
//! # Ok::<(), NTSTATUS>(())
//! ```
//!
//! | item | what |
//! |---|---|
//! | [`Rig`] | an allocator, a recorder connected as the sink, sending, what was received, [`Rig::assert_balanced`] |
//! | [`Ev`], [`msg`], [`note_on`], [`note_off`], [`control_change`], [`program_change`], [`sysex`], [`fragments`], [`package`], [`chain`] | events described by bytes, times, groups and flags; built into allocator events |
//! | [`Recorder`], [`RecordLog`], [`Record`] | the recording sink, for graphs of several sinks |
//! | [`set_state`], [`connect_output`], [`disconnect_output`], [`disconnect_all`], [`put_chain`], [`put_null`] | IMXF slots called through the vtable of a typed interface |
//! | [`raw`] | the same slots and IUnknown's on raw `this` pointers (`unsafe`), and [`raw::RawRef`] for QueryInterface |
//! | [`check_balanced`], [`assert_balanced`] | the allocator got every event and buffer back |
//!
//! Every object of one DMus stream returns its events to the stream's allocator: create the
//! filters of a test with the rig's [`allocator`](Rig::allocator), and connect them only to
//! objects of that allocator. A filter bound to another allocator hands the rig's events to one
//! that does not own them, which refuses them (mxf's counts them as foreign), and they are lost.
//!
//! This is test code: the assertions panic with a message saying what is wrong. The recorder's
//! `PutMessage`, which a filter calls through its vtable, does not panic.

mod ev;
pub mod raw;
mod recorder;

pub use ev::{
    Ev, IntoBytes, chain, control_change, fragments, msg, note_off, note_on, package,
    program_change, sysex,
};
pub use recorder::{Record, RecordLog, Recorder};

use crate::abi::{KSSTATE, NTSTATUS, Result, STATUS_SUCCESS};
use crate::allocator::{AllocatorConfig, AllocatorHandle, AllocatorStats};
use crate::com::Interface;
use crate::event::{Chain, Event};
use crate::interfaces::IMXF;
use core::fmt;
use core::ptr::null_mut;
use std::boxed::Box;
use std::vec::Vec;

/// An allocator and a [`Recorder`] on it: the surroundings of a filter under test.
///
/// Create the filter with [`allocator`](Self::allocator), connect it to the recorder with
/// [`connect`](Self::connect), put events into it with [`send`](Self::send) (through its
/// vtable's `PutMessage`, as the DMus port does), read what reached the recorder with
/// [`received`](Self::received) or [`take_received`](Self::take_received), and end with
/// [`assert_balanced`](Self::assert_balanced). See the [module docs](self) for an example.
///
/// A rig is `Send + Sync`: threads can send through it at the same time.
pub struct Rig {
    alloc: AllocatorHandle,
    sink: IMXF,
    log: RecordLog,
}

impl Rig {
    /// A rig with a default allocator (Microsoft-compatible, unbounded).
    pub fn new() -> Result<Self> {
        Self::with_config(AllocatorConfig::default())
    }

    /// A rig with an allocator built from `config` (a bound to test exhaustion, for one).
    pub fn with_config(config: AllocatorConfig) -> Result<Self> {
        let alloc = AllocatorHandle::new(config, None)?;
        let (sink, log) = Recorder::create(&alloc)?;
        Ok(Self { alloc, sink, log })
    }

    /// The allocator: create filters with it (`MyFilter.into_filter(rig.allocator())`).
    pub fn allocator(&self) -> &AllocatorHandle {
        &self.alloc
    }

    /// The recorder, as the IMXF to connect a filter's output to.
    pub fn sink(&self) -> &IMXF {
        &self.sink
    }

    /// The recorder's log.
    pub fn log(&self) -> &RecordLog {
        &self.log
    }

    /// Another recorder on this rig's allocator (for a filter with several outputs).
    pub fn recorder(&self) -> Result<(IMXF, RecordLog)> {
        Recorder::create(&self.alloc)
    }

    /// Connects `filter`'s next free output to the recorder (`ConnectOutput` through the
    /// vtable); the status it refused with otherwise.
    pub fn connect(&self, filter: &IMXF) -> Result<()> {
        connect_output(filter, &self.sink).ok()
    }

    /// A new event of this rig's allocator, as `ev` describes it.
    pub fn event(&self, ev: &Ev<'_>) -> Result<Event<'_>> {
        ev.build(&self.alloc)
    }

    /// A chain of new events of this rig's allocator, as `events` describe them.
    pub fn chain(&self, events: &[Ev<'_>]) -> Result<Chain<'_>> {
        chain(&self.alloc, events)
    }

    /// Builds `events` and puts them into `filter` as one chain, through the `PutMessage` slot
    /// of its vtable. `Err` if the events cannot be built or `PutMessage` fails; nothing is
    /// put for an empty list.
    pub fn send(&self, filter: &IMXF, events: &[Ev<'_>]) -> Result<()> {
        self.put(filter, events)?.ok()
    }

    /// [`send`](Self::send), returning the status of `PutMessage` itself; `Err` only if the
    /// events cannot be built.
    pub fn put(&self, filter: &IMXF, events: &[Ev<'_>]) -> Result<NTSTATUS> {
        Ok(put_chain(filter, self.chain(events)?))
    }

    /// What the recorder received so far (see [`RecordLog::received`]).
    pub fn received(&self) -> Vec<Ev<'static>> {
        self.log.received()
    }

    /// What the recorder received since the last call (see [`RecordLog::take_received`]).
    pub fn take_received(&self) -> Vec<Ev<'static>> {
        self.log.take_received()
    }

    /// The recorder's records so far: flags, byte positions, calls and package depths too.
    pub fn records(&self) -> Vec<Record> {
        self.log.records()
    }

    /// `PutMessage` calls the recorder received (with events).
    pub fn calls(&self) -> usize {
        self.log.calls()
    }

    /// Whether the allocator got every event and buffer back (see [`check_balanced`]).
    pub fn check_balanced(&self) -> core::result::Result<(), Box<Unbalanced>> {
        check_balanced(&self.alloc)
    }

    /// True if [`check_balanced`](Self::check_balanced) finds nothing wrong.
    pub fn is_balanced(&self) -> bool {
        self.check_balanced().is_ok()
    }

    /// Asserts that the allocator got every event and buffer back (see [`assert_balanced`]).
    ///
    /// # Panics
    /// If anything is outstanding, misuse was detected or the audit failed; the message lists
    /// what.
    #[track_caller]
    pub fn assert_balanced(&self) {
        assert_balanced(&self.alloc);
    }
}

impl fmt::Debug for Rig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rig")
            .field("allocator", &self.alloc.stats())
            .field("log", &self.log)
            .finish()
    }
}

/// `filter->SetState(state)` through slot 3 of the vtable.
pub fn set_state(filter: &IMXF, state: KSSTATE) -> NTSTATUS {
    // SAFETY: `filter` holds a reference, so the IMXF is live.
    unsafe { raw::set_state(filter.as_raw(), state) }
}

/// `filter->ConnectOutput(sink)` through slot 5 of the vtable. For `ConnectOutput(NULL)`, see
/// [`raw::connect_output`].
pub fn connect_output(filter: &IMXF, sink: &IMXF) -> NTSTATUS {
    // SAFETY: both hold a reference, so both IMXFs are live.
    unsafe { raw::connect_output(filter.as_raw(), sink.as_raw()) }
}

/// `filter->DisconnectOutput(sink)` through slot 6 of the vtable.
pub fn disconnect_output(filter: &IMXF, sink: &IMXF) -> NTSTATUS {
    // SAFETY: both hold a reference, so both IMXFs are live.
    unsafe { raw::disconnect_output(filter.as_raw(), sink.as_raw()) }
}

/// `filter->DisconnectOutput(NULL)` (disconnect everything) through slot 6 of the vtable.
pub fn disconnect_all(filter: &IMXF) -> NTSTATUS {
    // SAFETY: `filter` is live; NULL is a valid sink argument.
    unsafe { raw::disconnect_output(filter.as_raw(), null_mut()) }
}

/// `filter->PutMessage(head of chain)` through slot 4 of the vtable: the chain is handed over
/// whole. An empty chain is not put (`PutMessage(NULL)` means something else to a capture
/// stream: see [`put_null`]) and gives `STATUS_SUCCESS`.
///
/// The events must be of the allocator of `filter`'s stream: a filter bound to another
/// allocator hands them to one that does not own them, which refuses them, and they are lost.
pub fn put_chain(filter: &IMXF, chain: Chain<'_>) -> NTSTATUS {
    if chain.is_empty() {
        return STATUS_SUCCESS;
    }
    let head = chain.into_raw();
    // SAFETY: `filter` is live; the chain's live events are handed over whole (the receiver
    // owns them from here; events of another stream's allocator are refused by it, not freed).
    unsafe { raw::put_message(filter.as_raw(), head) }
}

/// `filter->PutMessage(NULL)` through slot 4 of the vtable (a capture stream's cue to send its
/// input on; nothing for a filter).
pub fn put_null(filter: &IMXF) -> NTSTATUS {
    // SAFETY: `filter` is live; NULL is "no event".
    unsafe { raw::put_message(filter.as_raw(), null_mut()) }
}

/// What [`check_balanced`] found wrong: the allocator's books, and whether its audit passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unbalanced {
    /// The allocator's statistics at the check.
    pub stats: AllocatorStats,
    /// Whether the free lists matched the books ([`AllocatorHandle::audit`]).
    pub audit_passed: bool,
}

/// `the allocator did not get everything back: 2 events outstanding (of 10 handed out), …`.
impl fmt::Display for Unbalanced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let a = &s.anomalies;
        write!(
            f,
            "the allocator did not get everything back: {} events outstanding (of {} handed out), \
             {} buffers outstanding",
            s.outstanding_events, s.gets, s.outstanding_buffers
        )?;
        let misuse = [
            (a.double_puts, "double puts"),
            (a.foreign_events, "foreign events"),
            (a.cycles, "cyclic chains"),
            (a.foreign_buffers, "foreign buffers"),
            (a.double_buffer_puts, "double buffer puts"),
        ];
        if a.misuse() > 0 {
            f.write_str("; misuse refused:")?;
            for (n, what) in misuse.iter().filter(|(n, _)| *n > 0) {
                write!(f, " {n} {what}")?;
            }
        }
        if !self.audit_passed {
            f.write_str("; audit failed: the free lists do not match the books")?;
        }
        if s.outstanding_events > 0 || s.outstanding_buffers > 0 {
            f.write_str(
                " (still held by a live object, an Event or Chain not dropped, or delivered to \
                 a sink that keeps them)",
            )?;
        }
        Ok(())
    }
}

/// Whether `alloc` got every event and buffer back: no event and no buffer outstanding, no
/// misuse detected (double puts, foreign pointers, cycles) and the audit of its free lists
/// passed. Call it when the objects that hold events (a sequencer's queue, say) are done.
pub fn check_balanced(alloc: &AllocatorHandle) -> core::result::Result<(), Box<Unbalanced>> {
    let stats = alloc.stats();
    let audit_passed = alloc.audit();
    if stats.outstanding_events == 0
        && stats.outstanding_buffers == 0
        && stats.anomalies.misuse() == 0
        && audit_passed
    {
        Ok(())
    } else {
        Err(Box::new(Unbalanced {
            stats,
            audit_passed,
        }))
    }
}

/// Asserts [`check_balanced`].
///
/// # Panics
/// If anything is outstanding, misuse was detected or the audit failed, with a message that
/// lists what (`the allocator did not get everything back: 1 events outstanding …`).
#[track_caller]
#[allow(clippy::panic, reason = "an assertion of test code")]
pub fn assert_balanced(alloc: &AllocatorHandle) {
    if let Err(unbalanced) = check_balanced(alloc) {
        panic!("{unbalanced}");
    }
}

#[cfg(test)]
mod tests;
