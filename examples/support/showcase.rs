//! The frame of the sample-filter examples: a [`Rig`] (an allocator and a recorder as the
//! filter's sink) and a before/after listing of every stream pushed through the filter's vtable.

use mxf::abi::{NTSTATUS, Result, STATUS_UNSUCCESSFUL};
use mxf::allocator::AllocatorConfig;
use mxf::interfaces::IMXF;
use mxf::testing::{Ev, Rig};

/// A [`Rig`] that prints what goes into a filter and what comes out. Derefs to the rig.
pub struct Showcase {
    rig: Rig,
}

impl Showcase {
    /// Prints the title and what the example teaches, and builds the allocator and the sink.
    pub fn new(title: &str, teaches: &str) -> Result<Self> {
        println!("== {title} ==");
        println!("{teaches}");
        Self::with_config(AllocatorConfig::default())
    }

    /// A showcase on an allocator built from `config` (a bound, for one), printing nothing.
    pub fn with_config(config: AllocatorConfig) -> Result<Self> {
        Ok(Self {
            rig: Rig::with_config(config)?,
        })
    }

    /// Prints `events`, puts them into `filter` as one chain through its vtable (`PutMessage`),
    /// and prints what reached the recorder.
    pub fn run(&self, filter: &IMXF, label: &str, events: &[Ev<'_>]) -> Result<NTSTATUS> {
        println!("\n-- {label}");
        println!("before:");
        for e in events {
            // A package prints its contents on the following lines.
            for line in e.to_string().lines() {
                println!("  {line}");
            }
        }
        let status = self.rig.put(filter, events)?;
        println!("after (PutMessage returned {status:?}):");
        let records = self.rig.log().take();
        if records.is_empty() {
            println!("  (nothing)");
        }
        for r in records {
            println!("  {r}");
        }
        Ok(status)
    }

    /// Prints the allocator's books; fails if an event or buffer is still outstanding.
    pub fn finish(self) -> Result<()> {
        let s = self.rig.allocator().stats();
        println!(
            "\nallocator: {} events handed out, {} outstanding, {} buffers outstanding, misuse {}",
            s.gets,
            s.outstanding_events,
            s.outstanding_buffers,
            s.anomalies.misuse()
        );
        self.rig.check_balanced().map_err(|unbalanced| {
            println!("{unbalanced}");
            STATUS_UNSUCCESSFUL
        })
    }
}

impl core::ops::Deref for Showcase {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}
