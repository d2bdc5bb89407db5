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

#[cfg(all(windows, feature = "image", not(panic = "abort")))]
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
        #[cfg(feature = "wine-control-leak-event")]
        if !controls::LEAKED.swap(true, core::sync::atomic::Ordering::Relaxed) {
            // The negative control: this event never goes back to its allocator.
            core::mem::forget(event);
            return;
        }
        drop(event);
    }
}

/// A subdevice's miniport.
fn null_out(context: &StartContext<'_>) -> Result<MiniportHandle<NullOut>> {
    #[cfg(feature = "reachable-panic")]
    require_resources(context);
    let _ = context;
    #[cfg(feature = "wine-control-missing-import")]
    controls::import_missing();
    let handle = NullOut.into_miniport()?;
    #[cfg(feature = "wine-control-swapped-slots")]
    controls::swap_slots(&handle);
    Ok(handle)
}

/// The negative controls of the Wine kernel tier (features `wine-control-*`): each makes the
/// driver wrong in a way only a run under Wine's kernel emulation can see.
#[cfg(any(
    feature = "wine-control-swapped-slots",
    feature = "wine-control-leak-event",
    feature = "wine-control-missing-import"
))]
mod controls {
    #[cfg(feature = "wine-control-leak-event")]
    pub static LEAKED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

    /// Points the miniport's vtable at a copy whose IMiniportDMus slots 6 (`Service`) and 7
    /// (`NewStream`) are swapped, as a driver written against a wrong header would have them.
    #[cfg(feature = "wine-control-swapped-slots")]
    pub fn swap_slots(handle: &super::MiniportHandle<super::NullOut>) {
        use core::sync::atomic::{AtomicUsize, Ordering};
        use mxf::com::Interface;
        /// MxfMiniport's nine slots, swapped.
        static TABLE: [AtomicUsize; 9] = [const { AtomicUsize::new(0) }; 9];
        let this = handle.interface().as_raw().cast::<*const usize>();
        // SAFETY: `this` is a live COM interface pointer, whose first word is its vtable of
        // MxfMiniport's nine slots; the copy is a static that lives as long as the image, and
        // the object is not yet shared (the factory has not returned it).
        unsafe {
            let vtable = *this;
            let mut copy = [0usize; 9];
            for (i, word) in copy.iter_mut().enumerate() {
                *word = *vtable.add(i);
            }
            copy.swap(6, 7);
            for (slot, word) in TABLE.iter().zip(copy) {
                slot.store(word, Ordering::Relaxed);
            }
            *this = TABLE.as_ptr().cast::<usize>();
        }
    }

    #[cfg(all(windows, feature = "wine-control-missing-import"))]
    unsafe extern "system" {
        fn ExAllocatePool2(flags: u64, size: usize, tag: u32) -> *mut core::ffi::c_void;
    }

    /// Keeps an import of `ExAllocatePool2` in the image (never called): Wine 8 lacks it and
    /// logs `No implementation for ntoskrnl.exe.ExAllocatePool2` when it loads the driver.
    #[cfg(feature = "wine-control-missing-import")]
    pub fn import_missing() {
        #[cfg(windows)]
        core::hint::black_box(ExAllocatePool2 as *const () as usize);
    }
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
