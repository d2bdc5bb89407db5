//! DMus miniports, declared: the pins, nodes and connections of a miniport are written once with
//! [`miniport_topology!`](crate::miniport_topology), the struct is marked
//! [`#[mxf_miniport]`](crate::mxf_miniport) and implements [`DmusMiniport`], and the framework
//! supplies the rest of `IMiniportDMus`.
//!
//! | from the declaration | what it gives |
//! |---|---|
//! | the `PCFILTER_DESCRIPTOR` and its tables, all `static` | `IMiniport::GetDescription` |
//! | [`Topology`]: pin ids, kinds, formats, node directions | `NewStream`'s checks and dispatch ([`StreamKind`]) |
//! | synth nodes' `KSPROPSETID_Synth` items ([`synth`]) | DMusUART's answers, or the author's ([`DmusMiniport`]'s `synth_*` methods) |
//! | the categories | the INF's `AddInterface` lines ([`inf`]) |
//!
//! ```
//! use mxf::miniport::{DmusMiniport, Direction, Format, InitRequest, IntoMiniport, Stream, StreamRequest};
//! use mxf::prelude::*;
//!
//! /// A device with one MIDI output and one MIDI input.
//! #[mxf_miniport]
//! pub struct Port1;
//!
//! mxf::miniport_topology! {
//!     /// Port1's pins: MIDI in and out, each bridged to the wire.
//!     pub static PORT1 for Port1 {
//!         categories: [AUDIO, RENDER, CAPTURE],
//!         pins: {
//!             out: render(midi), name(KSAUDFNAME_MIDI),
//!             wire_out: bridge(out, midi_bus),
//!             wire_in: bridge(in, midi_bus),
//!             input: capture(midi),
//!         },
//!         connections: [out -> wire_out, wire_in -> input],
//!     }
//! }
//!
//! impl DmusMiniport for Port1 {
//!     fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
//!         Ok(None)
//!     }
//!     fn new_stream(&self, request: StreamRequest<'_>) -> Result<Stream> {
//!         // Only checked requests arrive: pin 0 with a MIDI format, or pin 3.
//!         assert_eq!(request.kind().format, Format::Midi);
//!         Err(STATUS_INSUFFICIENT_RESOURCES) // a real miniport creates its stream here
//!     }
//! }
//!
//! let miniport = Port1.into_miniport()?;
//! let mut description = core::ptr::null_mut();
//! // SAFETY: a valid out-pointer.
//! assert_eq!(unsafe { miniport.GetDescription(&mut description) }, STATUS_SUCCESS);
//! assert_eq!(description.cast_const().cast(), PORT1.descriptor() as *const PCFILTER_DESCRIPTOR);
//! assert_eq!(PORT1.descriptor().PinCount, 4);
//! assert_eq!(PORT1.pin(3).and_then(|p| p.kind().direction()), Some(Direction::Capture));
//! # Ok::<(), NTSTATUS>(())
//! ```
//!
//! `docs/miniport.md` walks through a declaration, what is generated, the checks, the Synth
//! defaults, Windows MIDI Services and the INF.
//!
//! # Windows MIDI Services
//!
//! Windows 11's MIDI stack (the default since 2026) finds kernel-streaming MIDI devices through
//! their `KSCATEGORY_AUDIO` interfaces and opens only pins that offer a MIDI bytestream range
//! (`KSDATAFORMAT_TYPE_MUSIC` with `KSDATAFORMAT_SUBTYPE_MIDI`); it does not support DirectMusic
//! (`kernel.md` §1). A miniport whose render and capture pins offer only DirectMusic ranges, or whose
//! categories lack `AUDIO`, is invisible there: the declaration refuses to compile unless it
//! says `directmusic_only` (for a device meant only for DirectMusic clients).

pub mod inf;
mod object;
pub mod synth;
mod topology;

pub use object::{
    DmusMiniport, InitRequest, IntoMiniport, MiniportHandle, MiniportObject, MxfMiniport,
    MxfMiniport_Impl, MxfMiniport_Vtbl, PinCheck, Stream, StreamKind, StreamRequest,
};
pub use synth::{
    PortParameters, STATUS_NOT_ALL_ASSIGNED, SynthRequest, dmusuart_caps, dmusuart_port_parameters,
    synth_property_handler, synth_property_items,
};
pub use topology::{
    Category, DIRECTMUSIC_RANGE, Direction, End, Format, HasTopology, Instances, MIDI_BUS_RANGE,
    MIDI_RANGE, Node, NodeKind, Pin, PinKind, Topology, connection, filter_descriptor,
    format_matches, node_descriptor, pin_descriptor,
};

#[cfg(all(test, not(loom)))]
mod tests;
