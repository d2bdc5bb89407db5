//! `Recorder`: an IMXF sink that writes down what reaches it, then returns the events to the
//! allocator, as the last object of a render graph does.

use core::fmt;
use midly::MidiMessage;
use midly::live::LiveEvent;
use mxf::abi::{
    DMUS_KERNEL_EVENT, KSSTATE, NTSTATUS, REFERENCE_TIME, Result, STATUS_NOT_IMPLEMENTED,
    STATUS_SUCCESS,
};
use mxf::com::{ComRef, IntoComObject};
use mxf::com_object;
use mxf::event::Chain;
use mxf::interfaces::{IAllocatorMXF, IMXF, IMXF_Impl};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    /// Which `PutMessage` call (0, 1, …) delivered it.
    pub call: usize,
    /// Nesting depth: 0 for an event of the chain, 1 inside a package, …
    pub depth: usize,
}

impl Record {
    /// True if the event was flagged INCOMPLETE.
    pub fn incomplete(&self) -> bool {
        self.flags & mxf::abi::DMUS_KEF_EVENT_INCOMPLETE != 0
    }
    /// True for a package shell (its contents follow with `depth + 1`).
    pub fn package(&self) -> bool {
        self.flags & mxf::abi::DMUS_KEF_PACKAGE_EVENT != 0
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:indent$}", "", indent = self.depth * 2)?;
        if self.package() {
            return write!(f, "package (group {}, t={})", self.group, self.time);
        }
        describe(f, &self.bytes, self.group, self.time, self.incomplete())
    }
}

/// Writes one event as `g1 t=0  90 3C 64  NoteOn …` (decoded by `midly` when it parses).
pub fn describe(
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
        hex.push_str(&format!(" {b:02X}"));
    }
    write!(f, "{hex:<28}")?;
    if incomplete {
        return write!(f, " fragment ({} bytes, INCOMPLETE)", bytes.len());
    }
    match LiveEvent::parse(bytes) {
        Ok(LiveEvent::Midi { channel, message }) => {
            write!(f, " ch{:<2} ", channel.as_int() + 1)?;
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
        Ok(LiveEvent::Common(midly::live::SystemCommon::SysEx(d))) => {
            write!(f, " SysEx ({} data bytes)", d.len())
        }
        Ok(other) => write!(f, " {other:?}"),
        Err(_) => write!(f, " (not a complete message)"),
    }
}

/// The records of a [`Recorder`], shared with whoever created it.
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
    /// Everything recorded so far.
    pub fn records(&self) -> Vec<Record> {
        self.lock().records.clone()
    }
    /// Takes the records, leaving the log empty (the call count goes on).
    pub fn take(&self) -> Vec<Record> {
        core::mem::take(&mut self.lock().records)
    }
    /// The data bytes of every non-package record, in order.
    pub fn bytes(&self) -> Vec<Vec<u8>> {
        self.lock()
            .records
            .iter()
            .filter(|r| !r.package())
            .map(|r| r.bytes.clone())
            .collect()
    }
    /// `PutMessage` calls with a non-NULL argument received.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }
}

/// An IMXF sink that records every event it receives (package contents included, in order) and
/// returns them to the allocator. `SetState` succeeds; it has no output, so `ConnectOutput` and
/// `DisconnectOutput` answer `STATUS_NOT_IMPLEMENTED`, as the allocator does.
#[com_object(IMXF)]
pub struct Recorder {
    alloc: IAllocatorMXF,
    log: RecordLog,
}

impl Recorder {
    /// A recorder returning events to `alloc`, and its log.
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
        // SAFETY: PutMessage hands over the chain; its events come from `alloc`.
        let mut chain = unsafe { Chain::from_raw(head, &self.alloc) };
        let mut log = self.log.lock();
        let call = log.calls;
        log.calls += 1;
        // Depth bookkeeping: how many events remain at each open package level.
        let mut remaining: Vec<usize> = Vec::new();
        while let Some(event) = chain.pop_front() {
            while remaining.last() == Some(&0) {
                remaining.pop();
            }
            if let Some(n) = remaining.last_mut() {
                *n -= 1;
            }
            log.records.push(Record {
                bytes: event.data().to_vec(),
                group: event.channel_group(),
                time: event.time(),
                flags: event.raw().usFlags,
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
