//! `vmidi`: a virtual MIDI cable, a DMus driver with no hardware. What a client plays on a
//! cable's render pins comes back on the cable's capture pin, through an optional chain of MXF
//! filters; each cable is a subdevice of its own. The driver declares three
//! ([`VirtualMidi`]): two plain cables and one that transposes up an octave.
//!
//! ```text
//! render pin (MIDI or DirectMusic)                                   capture pin (both formats)
//!   port: unpacker -> sequencer --when due--> RenderStream            port: capture sink -> packer
//!     [MIDI bytestream: parser] -> [filters...] -> tap                                ^
//!                                                   | copy (capture pin's allocator)  |
//!                                                   v                                 |
//!                         the cable's bounded queue --Notify(group)--> CaptureStream --PutMessage
//! ```
//!
//! The miniport ([`Cable`]) is written as every mxf miniport is: a struct under
//! `#[mxf_miniport]`, its pins declared with `mxf::miniport_topology!` ([`VMIDI_CABLE`]),
//! `DmusMiniport` implemented. It is the same code in three places: the `.sys`
//! (`.ci/drivers.sh` links it), this crate's host tests (the declaration driven through
//! `mxf::driver::testing`) and the user-mode DMus port (`tests/vmidi.rs` in the root package
//! renders the demo song into a cable and captures it back).
//!
//! # The pins (DMusUART's shape, `kernel.md` §4.7)
//!
//! | id | pin | kind | ranges | instances | name |
//! |---|---|---|---|---|---|
//! | 0 | `midi_out` | render | MIDI | 4, 4, 0 | `KSAUDFNAME_MIDI` |
//! | 1 | `dmusic_out` | render | DirectMusic | 4, 4, 0 | `KSAUDFNAME_DMUSIC_MPU_OUT` |
//! | 2 | `cable_out` | bridge out | MIDI_BUS | — | — |
//! | 3 | `cable_in` | bridge in | MIDI_BUS | — | — |
//! | 4 | `input` | capture | MIDI, DirectMusic | 1, 1, 0 | `KSAUDFNAME_DMUSIC_MPU_IN` |
//!
//! Nodes and connections are DMusUART's (a synth node on the DirectMusic render path and one on
//! the input path, both answering `KSPROPSETID_Synth` with DMusUART's values); the loop from the
//! bridge out to the bridge in is the cable itself. Categories AUDIO, RENDER, CAPTURE. Pin 0 is
//! what Windows MIDI Services opens (it needs a MIDI bytestream range, `kernel.md` §1), pin 1
//! DirectMusic's; both feed the same capture pin. `NewStream` checks pins and formats against
//! the declaration (`PinCheck::Declared`, the default): a render stream on pin 0 or 1 only, in
//! that pin's format; a capture stream on pin 4 only, in either format.
//!
//! # A render stream
//!
//! * `NewStream` (render): at most 4 streams per render pin (the declared instances), else
//!   `STATUS_INVALID_DEVICE_REQUEST`; `*SchedulePreFetch` = 0 (the sequencer delivers each event
//!   when it is due), no service group (the port feeds it from its sequencer). The stream is a
//!   chain of MXFs on the render pin's allocator: for a MIDI bytestream pin first a parser (mxf's
//!   capture sink, the component the port runs on capture: the port's KS unpacker delivers raw
//!   INCOMPLETE bytes, and filters need whole messages), then the cable's filters
//!   ([`CableConfig::filters`], each made by its [`FilterFactory`] on the render allocator), then
//!   the tap, which copies every event into the cable. A filter that fails to be made, or more
//!   than [`MAX_FILTERS`] of them, fail `NewStream` (the status of the factory, or
//!   `STATUS_INVALID_PARAMETER`) with nothing left behind.
//! * `PutMessage(chain)`: in RUN the chain goes down the stream's MXFs; in ACQUIRE and PAUSE it
//!   is held (in order, no limit but the allocator's) and goes down on the next RUN; in STOP it
//!   goes back to the allocator, as what is held does on STOP (the port then completes the IRPs).
//!   `PutMessage(NULL)`: nothing. `SetState` passes the state to the stream's MXFs (downstream
//!   first going up, upstream first going down). `ConnectOutput`/`DisconnectOutput`:
//!   `STATUS_UNSUCCESSFUL` (the output is the cable).
//! * The tap copies each event with data (packages unwrapped; events without data bytes carry
//!   no message and are only returned) into an event of the **capture** pin's allocator: the
//!   bytes, the channel group and the presentation time, flagged INCOMPLETE — raw bytes, as a
//!   MIDI input delivers them, which the port's capture sink parses back into messages. Then
//!   every render event goes back to the render allocator (which completes the render IRPs), and
//!   the capture stream's service group is notified (`RequestService`, which is all that
//!   `IPortDMus::Notify(group)` does, `domain.md` item 64: the cable keeps no reference to its
//!   port).
//!
//! # The capture queue: bounded, and what it drops
//!
//! The copies wait in the cable's queue (a list through `pNextEvt`: nothing allocated) until the
//! port services the capture stream. A copy is **dropped and counted** ([`CableStats`]), the
//! render event still returned, when:
//!
//! * no capture stream is open, or it is not in RUN (`dropped_no_capture`: as a MIDI input
//!   with nobody listening, or DMusUART's ISR outside RUN);
//! * the queue holds [`CableConfig::queue_events`] copies already (`dropped_full`: the port
//!   has not serviced the capture stream since; [`DEFAULT_QUEUE_EVENTS`] by default);
//! * the capture allocator has no event or buffer for it (`dropped_no_event`).
//!
//! Nothing else is ever dropped: `rendered` = `queued` + the three drops, and `queued` =
//! `captured` + `flushed` + what is still queued.
//!
//! # The capture stream
//!
//! * `NewStream` (capture): one per cable (a second one: `STATUS_INVALID_DEVICE_REQUEST`); it
//!   gets a service group of its own (the port adds its pin to it and services the stream
//!   through it, `domain.md` item 61).
//! * `PutMessage(NULL)` (the port's service): in RUN or PAUSE, everything queued goes to the
//!   connected sink (the port's capture sink) in one `PutMessage`, in the order it was queued,
//!   with its times; disconnected, to the allocator. Calls never overlap (one pull at a time; a
//!   call during a pull is served by that pull), so chains leave in order.
//! * `PutMessage(chain)`: nothing flows into a capture stream: back to the allocator,
//!   `STATUS_INVALID_PARAMETER`.
//! * `SetState`: STOP and ACQUIRE empty the queue (counted `flushed`); only RUN accepts copies.
//! * `ConnectOutput`/`DisconnectOutput`: `domain.md` §1.3 (one sink, never replaced).
//! * Closing it (the last release) returns what is queued to its allocator (counted
//!   `flushed`); render streams then drop what they play (`dropped_no_capture`) until another
//!   capture stream opens. Streams and the miniport close in any order: each stream keeps the
//!   miniport alive.
//!
//! # Times
//!
//! A copy keeps the render event's presentation time. With `SchedulePreFetch` 0 the sequencer
//! delivers an event when the master clock reaches its time, so the capture sink receives it
//! at (or, by the port's timer latency, just after) that time, stamped with it.
//!
//! # Several render streams, one capture
//!
//! Render streams feed the one queue in the order their chains arrive; each stream's own order
//! is kept. A stream's messages stay whole (the parser of a MIDI bytestream stream holds a
//! message until its last byte arrived), so streams interleave at message boundaries — except
//! a SysEx longer than 240 bytes that arrives in pieces at different times, which another
//! stream's message can interrupt (the port's capture sink then reports a discontinuity).
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

mod bus;
mod capture;
mod render;

pub use bus::CableStats;

use bus::Bus;
use mxf::driver::StartContext;
use mxf::miniport::{
    Direction, DmusMiniport, Format, InitRequest, MiniportHandle, MxfMiniport, Stream,
    StreamRequest,
};
use mxf::platform::SpinLock;
use mxf::prelude::*;
use mxf_sample_filters::Transpose;

/// Makes one MXF filter of a cable's render stream, on that stream's allocator (the render pin's:
/// events the filter drops go back there, events it creates come from there).
pub type FilterFactory = fn(&IAllocatorMXF) -> Result<IMXF>;

/// The most filters a cable's chain holds.
pub const MAX_FILTERS: usize = 6;

/// The capture queue's default bound, in events.
pub const DEFAULT_QUEUE_EVENTS: usize = 512;

/// Render streams a render pin serves at once (its declared instances).
pub const MAX_RENDER_STREAMS_PER_PIN: u32 = 4;

/// What makes one cable differ from another.
#[derive(Clone, Copy, Debug)]
pub struct CableConfig {
    /// The filters every render stream of the cable runs its events through, in order (at most
    /// [`MAX_FILTERS`]); empty for a plain cable. Each render stream gets filters of its own,
    /// so a filter's state (a transpose's sounding notes) belongs to one stream.
    pub filters: &'static [FilterFactory],
    /// The capture queue's bound, in events: what render streams may queue between two services
    /// of the capture stream.
    pub queue_events: usize,
}

impl CableConfig {
    /// A plain cable: no filter, [`DEFAULT_QUEUE_EVENTS`].
    pub const PLAIN: CableConfig = CableConfig {
        filters: &[],
        queue_events: DEFAULT_QUEUE_EVENTS,
    };

    /// A cable through `filters`, [`DEFAULT_QUEUE_EVENTS`].
    pub const fn with_filters(filters: &'static [FilterFactory]) -> Self {
        Self {
            filters,
            queue_events: DEFAULT_QUEUE_EVENTS,
        }
    }
}

/// The filters of the driver's third cable: [`transpose_octave_up`].
pub const OCTAVE_UP: &[FilterFactory] = &[transpose_octave_up];

/// A [`FilterFactory`]: the sample `Transpose` filter, +12 semitones.
pub fn transpose_octave_up(alloc: &IAllocatorMXF) -> Result<IMXF> {
    Ok(Transpose::new(12).into_filter(alloc)?.into_interface())
}

/// One virtual MIDI cable (the miniport of one subdevice).
#[mxf_miniport(tag = "VMIm")]
pub struct Cable {
    config: CableConfig,
    /// The capture link, the stream counts and the counters.
    bus: SpinLock<Bus>,
}

mxf::miniport_topology! {
    /// A cable's pins, nodes and connections: DMusUART's (legacy MIDI and DirectMusic render,
    /// the two ends of the cable as bridges, capture in both formats), with room for several
    /// render streams per render pin.
    pub static VMIDI_CABLE for Cable {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: {
            midi_out: render(midi), instances(4, 4, 0), name(KSAUDFNAME_MIDI),
            dmusic_out: render(directmusic), instances(4, 4, 0), name(KSAUDFNAME_DMUSIC_MPU_OUT),
            cable_out: bridge(out, midi_bus),
            cable_in: bridge(in, midi_bus),
            input: capture(midi, directmusic), instances(1, 1, 0), name(KSAUDFNAME_DMUSIC_MPU_IN),
        },
        nodes: { render_synth: synthesizer, input_synth: synthesizer },
        connections: [
            midi_out -> cable_out,
            dmusic_out -> render_synth.1, render_synth.0 -> cable_out,
            cable_in -> input_synth.1, input_synth.0 -> input,
        ],
    }
}

/// Pin ids of [`VMIDI_CABLE`].
pub mod pins {
    /// MIDI bytestream render (`KSAUDFNAME_MIDI`).
    pub const MIDI_OUT: u32 = 0;
    /// DirectMusic render (`KSAUDFNAME_DMUSIC_MPU_OUT`).
    pub const DMUSIC_OUT: u32 = 1;
    /// The bridge the render pins lead to (never instantiated).
    pub const CABLE_OUT: u32 = 2;
    /// The bridge the capture pin is fed from (never instantiated).
    pub const CABLE_IN: u32 = 3;
    /// Capture, MIDI bytestream or DirectMusic (`KSAUDFNAME_DMUSIC_MPU_IN`).
    pub const INPUT: u32 = 4;
}

impl Cable {
    /// A cable configured by `config`, before `Init`.
    pub fn new(config: CableConfig) -> Self {
        Self {
            config,
            bus: SpinLock::new(Bus::new()),
        }
    }

    /// The cable's configuration.
    pub fn config(&self) -> &CableConfig {
        &self.config
    }

    /// The cable's counters.
    pub fn stats(&self) -> CableStats {
        self.bus.lock().stats()
    }

    /// Copies waiting in the capture queue.
    pub fn queued(&self) -> usize {
        self.bus.lock().queued()
    }

    /// Render streams open on pin `pin` (0 for a pin that is not a render pin).
    pub fn render_streams(&self, pin: u32) -> u32 {
        self.bus.lock().render_streams(pin)
    }

    /// Whether a capture stream is open.
    pub fn has_capture(&self) -> bool {
        self.bus.lock().has_capture()
    }
}

/// The counted, typed handle of the cable a request is made on, for a stream that keeps its
/// miniport alive.
fn this_cable(request: &StreamRequest<'_>) -> Result<MiniportHandle<Cable>> {
    let miniport = request.miniport().ok_or(STATUS_UNSUCCESSFUL)?;
    let declared: MxfMiniport = miniport.cast()?;
    // Only an object that answers `Cable`'s own topology static is a `ComObject<Cable>`
    // (`MxfMiniport::Declaration`'s promise).
    let ours = core::ptr::from_ref(&VMIDI_CABLE).cast::<core::ffi::c_void>();
    if declared.Declaration() != ours {
        return Err(STATUS_UNSUCCESSFUL);
    }
    // SAFETY: `declared` is the MxfMiniport of an object whose `Declaration` is `Cable`'s
    // topology static: a `ComObject<Cable>` whose chain 0 is `MxfMiniport` (the interface's
    // promise, checked just above).
    unsafe { MiniportHandle::<Cable>::from_interface(declared) }.ok_or(STATUS_UNSUCCESSFUL)
}

impl DmusMiniport for Cable {
    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        // No device, no interrupt: nothing to set up, no miniport service group.
        Ok(None)
    }

    fn new_stream(&self, request: StreamRequest<'_>) -> Result<Stream> {
        let cable = this_cable(&request)?;
        let kind = request.kind();
        match kind.direction {
            Direction::Render => {
                let mxf = render::RenderStream::create(
                    cable,
                    request.pin_id(),
                    kind.format == Format::Midi,
                    request.allocator().to_owned(),
                    request.pool(),
                )?;
                // No group: the port feeds the stream from its sequencer; prefetch 0: each event
                // when it is due.
                Ok(Stream::new(mxf))
            }
            Direction::Capture => {
                let (mxf, group) = capture::CaptureStream::create(
                    cable,
                    request.allocator().to_owned(),
                    request.pool(),
                )?;
                Ok(Stream {
                    mxf,
                    service_group: Some(group),
                    schedule_prefetch: 0,
                })
            }
        }
    }
}

/// A plain cable's miniport (the factory of [`VirtualMidi`]'s first two subdevices).
pub fn plain_cable(_context: &StartContext<'_>) -> Result<MiniportHandle<Cable>> {
    Cable::new(CableConfig::PLAIN).into_miniport()
}

/// A cable that transposes up an octave ([`OCTAVE_UP`]; the third subdevice's factory).
pub fn octave_up_cable(_context: &StartContext<'_>) -> Result<MiniportHandle<Cable>> {
    Cable::new(CableConfig::with_filters(OCTAVE_UP)).into_miniport()
}

mxf::driver! {
    /// The driver: three virtual MIDI cables, each a subdevice; the third transposes what it
    /// carries up an octave.
    pub struct VirtualMidi {
        subdevices: [
            VirtualMidi1 ("Virtual MIDI cable 1"): Cable = plain_cable,
            VirtualMidi2 ("Virtual MIDI cable 2"): Cable = plain_cable,
            VirtualMidi3 ("Virtual MIDI cable 3 (octave up)"): Cable = octave_up_cable,
        ],
    }
}

/// What the INF says about this driver (the INF itself is written by `src/bin/vmidi-inf.rs`
/// from this and the declaration).
pub const INF: mxf::miniport::inf::Driver<'static> = mxf::miniport::inf::Driver::new(
    "mxf",
    "Virtual MIDI cables (mxf sample)",
    "ROOT\\mxfVirtualMidi",
    "vmidi",
);

#[cfg(test)]
mod tests;
