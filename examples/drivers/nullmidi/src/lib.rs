//! `nullmidi`: the smallest DMus driver built with mxf. Two subdevices, each a miniport with one
//! MIDI render pin whose stream, an MXF filter, lets every event go back to the allocator (a MIDI
//! output that plays nothing). It exists to be linked into a `.sys` and checked (`.ci/drivers.sh`), and as
//! the template of a driver crate (`docs/driver.md`):
//!
//! * the miniport: a struct under `#[mxf_miniport]`, its pins declared with
//!   `mxf::miniport_topology!`, `DmusMiniport` implemented;
//! * the driver: one `mxf::driver!` declaration naming the subdevices and their factories;
//! * on a Windows target the crate is `#![no_std]`, and the declaration also emits
//!   `DriverEntry`, the panic handler (a bug check) and the pool allocator; on the host it is
//!   the same code, tested with `mxf::driver::testing`.
#![cfg_attr(windows, no_std)]
// As in mxf: nothing reachable from an entry point may panic (the driver checks prove it of
// the linked image; these lints keep the source honest).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

#[cfg(all(windows, not(panic = "abort")))]
compile_error!("a driver is built with panic=abort: use .ci/drivers.sh (or set it in the profile)");

use mxf::driver::StartContext;
use mxf::miniport::{
    DmusMiniport, InitRequest, IntoMiniport, MiniportHandle, Stream, StreamRequest,
};
use mxf::prelude::*;

/// A MIDI output that plays nothing.
#[mxf_miniport]
pub struct NullOut;

mxf::miniport_topology! {
    /// One MIDI render pin, bridged to the (imaginary) wire.
    pub static NULL_OUT for NullOut {
        categories: [AUDIO, RENDER],
        pins: {
            out: render(midi), name(KSAUDFNAME_MIDI),
            wire: bridge(out, midi_bus),
        },
        connections: [out -> wire],
    }
}

impl DmusMiniport for NullOut {
    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        Ok(None)
    }

    fn new_stream(&self, request: StreamRequest<'_>) -> Result<Stream> {
        let discard = Discard.into_filter(&request.allocator())?;
        Ok(Stream::new(discard.into_interface()))
    }
}

/// The render stream: an MXF filter that lets every event go. The framework does the rest:
/// each event it drops returns to the pin's allocator (which completes the render IRPs), chains
/// and packages are taken apart, `PutMessage(NULL)`, states and connections are answered.
#[mxf_filter]
pub struct Discard;

impl Filter for Discard {
    fn process<'a>(&self, event: Event<'a>, _out: &mut Output<'a>) {
        drop(event);
    }
}

/// A subdevice's miniport.
fn null_out(context: &StartContext<'_>) -> Result<MiniportHandle<NullOut>> {
    #[cfg(feature = "reachable-panic")]
    require_resources(context);
    let _ = context;
    NullOut.into_miniport()
}

/// The negative control of the no-panic check (feature `reachable-panic`): PortCls may pass no
/// resource list, so this panic is reachable, and the check must find it and name this
/// function (kept out of line so that it has a name in the image).
#[cfg(feature = "reachable-panic")]
#[inline(never)]
#[allow(clippy::expect_used)]
fn require_resources(context: &StartContext<'_>) {
    let _ = context.resources().expect("PortCls passed a resource list");
}

mxf::driver! {
    /// The driver: two null MIDI outputs.
    pub struct NullMidi {
        subdevices: [
            NullMidi1 ("Null MIDI out 1"): NullOut = null_out,
            NullMidi2 ("Null MIDI out 2"): NullOut = null_out,
        ],
    }
}

/// What the INF says about this driver (the INF itself is written by `src/bin/nullmidi-inf.rs`
/// from this and the declaration).
pub const INF: mxf::miniport::inf::Driver<'static> = mxf::miniport::inf::Driver::new(
    "mxf",
    "Null MIDI outputs (mxf sample)",
    "ROOT\\mxfNullMidi",
    "nullmidi",
);

#[cfg(test)]
mod tests;
