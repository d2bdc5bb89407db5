//! The frame of the sample-filter examples: an allocator, a [`Recorder`] as the filter's sink,
//! and a before/after listing of every stream pushed through the filter's vtable.

use crate::raw::{self, Ev};
use crate::recorder::{RecordLog, Recorder, describe};
use mxf::abi::{NTSTATUS, Result, STATUS_UNSUCCESSFUL};
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::Interface;
use mxf::interfaces::IMXF;

/// An allocator and a recording sink, ready for a filter.
pub struct Showcase {
    /// The stream's allocator.
    pub alloc: AllocatorHandle,
    /// The recorder, as an interface to connect filters to.
    pub sink: IMXF,
    /// What the recorder received.
    pub log: RecordLog,
}

impl Showcase {
    /// Prints the title and what the example teaches, and builds the allocator and the sink.
    pub fn new(title: &str, teaches: &str) -> Result<Self> {
        println!("== {title} ==");
        println!("{teaches}");
        Self::with_config(AllocatorConfig::default())
    }

    /// An allocator built from `config` and a recorder, printing nothing (for tests).
    pub fn with_config(config: AllocatorConfig) -> Result<Self> {
        let alloc = AllocatorHandle::new(config, None)?;
        let (sink, log) = Recorder::create(&alloc)?;
        Ok(Self { alloc, sink, log })
    }

    /// Connects `filter`'s next output to the recorder (`ConnectOutput` through the vtable).
    pub fn connect(&self, filter: &IMXF) -> Result<()> {
        raw::connect(filter, &self.sink).ok()
    }

    /// Prints `events`, puts them into `filter` as one chain through its vtable (`PutMessage`),
    /// and prints what reached the recorder.
    pub fn run(&self, filter: &IMXF, label: &str, events: &[Ev<'_>]) -> Result<NTSTATUS> {
        println!("\n-- {label}");
        println!("before:");
        for e in events {
            let mut line = String::new();
            // Writing to a String cannot fail.
            let _ = describe(&mut line, e.bytes, e.group, e.time, e.incomplete);
            println!("  {line}");
        }
        // SAFETY: `filter` is a live IMXF whose events return to `self.alloc`.
        let status = unsafe { raw::put_events(filter.as_raw(), &self.alloc, events)? };
        println!("after (PutMessage returned {status:?}):");
        let records = self.log.take();
        if records.is_empty() {
            println!("  (nothing)");
        }
        for r in records {
            println!("  {r}");
        }
        Ok(status)
    }

    /// Puts `events` into `filter` as one chain through its vtable, printing nothing.
    pub fn put(&self, filter: &IMXF, events: &[Ev<'_>]) -> Result<NTSTATUS> {
        // SAFETY: `filter` is a live IMXF whose events return to `self.alloc`.
        unsafe { raw::put_events(filter.as_raw(), &self.alloc, events) }
    }

    /// True if every event and buffer handed out is back in the allocator and no misuse was
    /// detected.
    pub fn balanced(&self) -> bool {
        let s = self.alloc.stats();
        s.outstanding_events == 0 && s.outstanding_buffers == 0 && s.anomalies.misuse() == 0
    }

    /// Prints the allocator's books; fails if an event or buffer is still outstanding.
    pub fn finish(self) -> Result<()> {
        let s = self.alloc.stats();
        println!(
            "\nallocator: {} events handed out, {} outstanding, {} buffers outstanding, misuse {}",
            s.gets,
            s.outstanding_events,
            s.outstanding_buffers,
            s.anomalies.misuse()
        );
        if self.balanced() {
            Ok(())
        } else {
            Err(STATUS_UNSUCCESSFUL)
        }
    }
}
