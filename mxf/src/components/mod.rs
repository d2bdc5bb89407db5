//! Built-in MXF components of the DMus port, usable inside a driver (no_std) and by the
//! user-mode port simulation: the sequencer, the DirectMusic and KS unpackers, the capture sink,
//! the packer, and a service group (`PcNewServiceGroup`'s counterpart).
//!
//! Each works alone, so a driver can reuse one (a DMus miniport that sequences itself, a capture
//! stream that parses bytes as the port would) or test against the port's own behaviour. The
//! beginning of the port's render graph, as the user-mode port (`host`) wires it:
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::components::unpacker::{DmusBufferWriter, DmusUnpacker, Unpacker};
//! use mxf::platform::atomic::{AtomicU32, Ordering};
//! use mxf::prelude::*;
//!
//! /// Stands where the miniport's render stream would: counts what arrives, then drops it.
//! #[mxf_filter]
//! struct Device {
//!     got: AtomicU32,
//! }
//!
//! impl Filter for Device {
//!     fn process<'a>(&self, _event: Event<'a>, _out: &mut Output<'a>) {
//!         self.got.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let device = Device { got: AtomicU32::new(0) }.into_filter(&alloc)?;
//!
//! // A render IRP's buffer as DirectMusic writes it: two structured records.
//! let mut bytes = [0u8; 64];
//! let mut buffer = DmusBufferWriter::new(&mut bytes);
//! buffer.push(1, 0, true, &[0x90, 60, 100])?;
//! buffer.push(1, 5_000_000, true, &[0x80, 60, 0])?;
//!
//! let mut unpacker = DmusUnpacker::new(alloc.interface().clone());
//! assert_eq!(unpacker.connect_output(device.interface().clone()), STATUS_SUCCESS);
//! assert_eq!(unpacker.sink_irp(buffer.as_bytes(), 0, 0), STATUS_SUCCESS);
//! assert_eq!(unpacker.queued(), 2);
//! assert_eq!(unpacker.process_queues(), STATUS_SUCCESS); // one PutMessage, one chain
//! assert_eq!(device.filter().got.load(Ordering::Relaxed), 2);
//! assert_eq!(alloc.stats().outstanding_events, 0);
//! # Ok::<(), NTSTATUS>(())
//! ```

pub mod capture_sink;
pub mod packer;
pub mod sequencer;
pub mod service_group;
pub mod unpacker;
