//! The user-mode DMus port (`std` only): the render and capture graphs of PortCls's DMus port
//! (`domain.md` §4), built around any miniport and driven through its vtables, with a virtual or
//! real master clock; and Standard MIDI File input and output through `midly`.
//!
//! A miniport is tested by plugging it into a [`Port`]: the port calls it exactly as PortCls
//! would, through its vtables.
//!
//! ```
//! use core::ffi::c_void;
//! use mxf::abi::{DataRangeTable, KSCATEGORY_AUDIO, PCFILTER_DESCRIPTOR, PCPIN_DESCRIPTOR};
//! use mxf::components::unpacker::DmusBufferWriter;
//! use mxf::host::{ClockMode, FilterPlacement, Port, StreamFormat};
//! use mxf::miniport::{Format, Instances, PinKind, filter_descriptor, pin_descriptor};
//! use mxf::platform::atomic::{AtomicU32, Ordering};
//! use mxf::prelude::*;
//! use std::sync::Arc;
//!
//! /// The miniport's render stream: plays what reaches it (here: counts it).
//! #[mxf_filter]
//! struct Stream {
//!     played: Arc<AtomicU32>,
//! }
//!
//! impl Filter for Stream {
//!     fn process<'a>(&self, _event: Event<'a>, _out: &mut Output<'a>) {
//!         self.played.fetch_add(1, Ordering::Relaxed);
//!         // Dropped: the event goes back to the pin's allocator, which completes its IRP.
//!     }
//! }
//!
//! /// Its one pin, as the port reads it from `GetDescription`: pin 0 renders DirectMusic.
//! static RANGES: DataRangeTable<1> = DataRangeTable([Format::DirectMusic.range()]);
//! static PINS: [PCPIN_DESCRIPTOR; 1] = [pin_descriptor(
//!     PinKind::Render,
//!     Instances::ONE,
//!     (RANGES.count(), RANGES.as_ptr()),
//!     None,
//! )];
//! static DESCRIPTOR: PCFILTER_DESCRIPTOR = filter_descriptor(&PINS, &[], &[], &[KSCATEGORY_AUDIO]);
//!
//! /// A render-only DMus miniport.
//! #[com_object(IMiniportDMus)]
//! struct Miniport {
//!     played: Arc<AtomicU32>,
//! }
//!
//! impl IMiniport_Impl for Miniport {
//!     unsafe fn GetDescription(&self, description: *mut *mut c_void) -> NTSTATUS {
//!         if description.is_null() {
//!             return STATUS_INVALID_PARAMETER;
//!         }
//!         // SAFETY: the port's out-pointer, checked non-NULL.
//!         unsafe { description.write(core::ptr::from_ref(&DESCRIPTOR).cast_mut().cast()) };
//!         STATUS_SUCCESS
//!     }
//!     unsafe fn DataRangeIntersection(
//!         &self,
//!         _pin_id: u32,
//!         _data_range: *mut c_void,
//!         _matching_data_range: *mut c_void,
//!         _output_buffer_length: u32,
//!         _resultant_format: *mut c_void,
//!         _resultant_format_length: *mut u32,
//!     ) -> NTSTATUS {
//!         STATUS_NOT_IMPLEMENTED
//!     }
//! }
//!
//! impl IMiniportDMus_Impl for Miniport {
//!     unsafe fn Init(
//!         &self,
//!         _unknown_adapter: Option<ComRef<'_, IUnknown>>,
//!         _resource_list: *mut c_void,
//!         _port: Option<ComRef<'_, IPortDMus>>,
//!         _service_group: *mut Option<IServiceGroup>,
//!     ) -> NTSTATUS {
//!         STATUS_SUCCESS
//!     }
//!     fn Service(&self) {}
//!     unsafe fn NewStream(
//!         &self,
//!         mxf: *mut Option<IMXF>,
//!         _outer: Option<ComRef<'_, IUnknown>>,
//!         _pool: POOL_TYPE,
//!         _pin_id: u32,
//!         stream_type: DMUS_STREAM_TYPE,
//!         _data_format: *mut KSDATAFORMAT,
//!         _service_group: *mut Option<IServiceGroup>,
//!         allocator: Option<ComRef<'_, IAllocatorMXF>>,
//!         _master_clock: Option<ComRef<'_, IMasterClock>>,
//!         schedule_prefetch: *mut u64,
//!     ) -> NTSTATUS {
//!         let (Some(allocator), false, false) = (allocator, mxf.is_null(), schedule_prefetch.is_null())
//!         else {
//!             return STATUS_INVALID_PARAMETER;
//!         };
//!         if stream_type != DMUS_STREAM_MIDI_RENDER {
//!             return STATUS_INVALID_DEVICE_REQUEST;
//!         }
//!         match (Stream { played: self.played.clone() }).into_filter(&allocator) {
//!             Ok(stream) => {
//!                 // SAFETY: the port's out-pointers, checked non-NULL above.
//!                 unsafe {
//!                     mxf.write(Some(stream.into_interface()));
//!                     schedule_prefetch.write(0);
//!                 }
//!                 STATUS_SUCCESS
//!             }
//!             Err(status) => status,
//!         }
//!     }
//! }
//!
//! let played = Arc::new(AtomicU32::new(0));
//! let miniport: IMiniportDMus = Miniport { played: played.clone() }.into_com()?;
//! // Calls IMiniportDMus::Init with the port's IPortDMus.
//! let port = Port::new(miniport, ClockMode::Virtual)?;
//! // NewStream, then unpacker -> sequencer -> the miniport's stream, all on the pin's allocator.
//! let pin = port.open_render_pin(
//!     0,
//!     StreamFormat::DirectMusic,
//!     FilterPlacement::AfterSequencer,
//!     |_allocator| Ok(Vec::new()), // no filters of our own
//! )?;
//! pin.set_state(KSSTATE_RUN)?;
//!
//! // One IRP: a note now, its note off half a second later.
//! let mut bytes = [0u8; 64];
//! let mut buffer = DmusBufferWriter::new(&mut bytes);
//! buffer.push(1, 0, true, &[0x90, 60, 100])?;
//! buffer.push(1, 5_000_000, true, &[0x80, 60, 0])?;
//! pin.submit(buffer.as_bytes().to_vec(), 0)?;
//! assert_eq!(played.load(Ordering::Relaxed), 1); // due at once
//!
//! port.set_time(5_000_000); // the virtual clock moves only when told
//! port.run_timers(); // the sequencer's timer
//! assert_eq!(played.load(Ordering::Relaxed), 2);
//! assert_eq!(pin.completed_irps(), 1); // every event is back: the IRP completed
//! pin.set_state(KSSTATE_STOP)?;
//! # Ok::<(), NTSTATUS>(())
//! ```

pub mod smf;

/// The port itself lives in [`mxf::port`](crate::port) (it needs only `alloc`); `mxf::host`
/// re-exports it.
pub use crate::port;
pub use crate::port::{
    CapturePin, CapturedBuffer, ClockMode, Completion, DescriptorFault, FilterPlacement, Port,
    PropertyTarget, RenderPin, StreamFormat, TimeSource, property_input,
};

extern crate std;

/// The real time of a user-mode host: `std::time::Instant` in 100 ns units since the value was
/// created ([`ClockMode::Real`] under `std`).
#[derive(Clone, Copy, Debug)]
pub struct InstantTime {
    origin: std::time::Instant,
}

impl InstantTime {
    /// A source whose time starts at 0 now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for InstantTime {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeSource for InstantTime {
    fn now(&self) -> crate::abi::REFERENCE_TIME {
        i64::try_from(self.origin.elapsed().as_nanos() / 100).unwrap_or(i64::MAX)
    }
}
