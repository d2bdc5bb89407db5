//! The raw ABI of `dmusicks.h` and friends: header names kept, layouts asserted.
//!
//! Everything here is `#[repr(C)]` or `#[repr(transparent)]` and matches the WDK header for both
//! 32- and 64-bit pointer widths (`domain.md` §0–§2).
#![allow(non_camel_case_types, non_upper_case_globals)]

mod event;
mod guid;
mod status;
mod types;

pub use event::*;
pub use guid::{GUID, GuidParseError};
pub use status::*;
pub use types::*;

/// `REFERENCE_TIME`: a signed 64-bit time in 100 ns units.
pub type REFERENCE_TIME = i64;

/// `KSDATAFORMAT` (ks.h): the header of a pin's connection format.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_snake_case)]
pub struct KSDATAFORMAT {
    /// Size of the whole format, this header included.
    pub FormatSize: u32,
    /// `KSDATAFORMAT_*` flags.
    pub Flags: u32,
    /// Sample size, or 0.
    pub SampleSize: u32,
    /// Reserved, zero.
    pub Reserved: u32,
    /// `KSDATAFORMAT_TYPE_MUSIC` for MIDI pins.
    pub MajorFormat: GUID,
    /// `KSDATAFORMAT_SUBTYPE_DIRECTMUSIC` or `KSDATAFORMAT_SUBTYPE_MIDI`.
    pub SubFormat: GUID,
    /// The specifier (`KSDATAFORMAT_SPECIFIER_NONE` for MIDI).
    pub Specifier: GUID,
}

const _: () = assert!(core::mem::size_of::<KSDATAFORMAT>() == 64);
