//! The user-mode DMus port (`std` only): the render and capture graphs of PortCls's DMus port
//! (`domain.md` §4), built around any miniport and driven through its vtables, with a virtual or
//! real master clock; and Standard MIDI File input and output through `midly`.

pub mod port;
pub mod smf;

pub use port::{
    CapturePin, CapturedBuffer, ClockMode, FilterPlacement, Port, RenderPin, StreamFormat,
};
