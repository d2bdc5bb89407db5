//! The raw ABI of `dmusicks.h` and friends: header names kept, layouts asserted.
//!
//! Everything here is `#[repr(C)]` or `#[repr(transparent)]` and matches the WDK header for both
//! 32- and 64-bit pointer widths (`domain.md` §0–§2).
//!
//! ```
//! use mxf::abi::*;
//!
//! // Statuses: a caller tests success, never a particular error code (`domain.md` §1.3).
//! assert!(NT_SUCCESS(STATUS_SUCCESS) && !STATUS_INVALID_PARAMETER.is_success());
//! assert_eq!(STATUS_INSUFFICIENT_RESOURCES.ok(), Err(STATUS_INSUFFICIENT_RESOURCES));
//!
//! // C enums keep whatever value a caller passes; `known()` tells the header's values apart.
//! assert_eq!(KSSTATE(3), KSSTATE_RUN);
//! assert_eq!(KSSTATE(7).known(), None);
//!
//! // An event as the allocator hands it out, filled the way C code fills it.
//! let mut e = DMUS_KERNEL_EVENT::FRESH;
//! assert_eq!(usize::from(e.cbStruct), core::mem::size_of::<DMUS_KERNEL_EVENT>());
//! assert_eq!(e.ullBytePosition, kBytePositionNone);
//! let mut inline = [0u8; INLINE_DATA_BYTES]; // 4 bytes on x86, 8 on x64: never assume 8
//! inline[..3].copy_from_slice(&[0x90, 60, 100]);
//! e.uData.abData = inline;
//! e.cbEvent = 3;
//! e.usChannelGroup = 1;
//! assert!(SHORT_EVT(&e) && COMPLETE_EVT(&e) && !PACKAGE_EVT(&e));
//! SET_INCOMPLETE_EVT(&mut e);
//! assert!(e.is_incomplete());
//!
//! // GUIDs parse at compile time, as the headers write them.
//! const IID_IMXF: GUID = match GUID::parse("C096DF9E-FB09-11D1-81B0-0060083316C1") {
//!     Ok(g) => g,
//!     Err(_) => panic!("malformed IID"),
//! };
//! assert_eq!(IID_IMXF, GUID::from_u128(0xC096DF9E_FB09_11D1_81B0_0060083316C1));
//! ```
#![allow(non_camel_case_types, non_upper_case_globals)]

mod event;
mod guid;
// First: its `c_enum!` declares the C enums of `ks` too.
#[macro_use]
mod types;
mod ks;
mod status;

pub use event::*;
pub use guid::{GUID, GuidParseError};
pub use ks::*;
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

/// `DMUS_EVENTHEADER` (dmusbuff.h): the header of one record of a DirectMusic-format buffer,
/// declared with 4-byte packing (20 bytes, no tail padding). The `cbEvent` data bytes follow the
/// header directly; the next record starts at the next 8-byte boundary ([`DMUS_EVENT_SIZE`]).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(non_snake_case)]
pub struct DMUS_EVENTHEADER {
    /// Unrounded number of data bytes after the header.
    pub cbEvent: u32,
    /// Channel group (its low 16 bits become `usChannelGroup`).
    pub dwChannelGroup: u32,
    /// Offset from the buffer's presentation time, 100 ns units.
    pub rtDelta: REFERENCE_TIME,
    /// `DMUS_EVENT_*` flags.
    pub dwFlags: u32,
}

const _: () = assert!(core::mem::size_of::<DMUS_EVENTHEADER>() == 20);

/// `DMUS_EVENT_STRUCTURED`: the record's data are MIDI messages to parse.
pub const DMUS_EVENT_STRUCTURED: u32 = 0x0000_0001;

/// `DMUS_EVENT_SIZE(cb)`: bytes a record with `cb` data bytes occupies, quadword aligned
/// (`(20 + cb + 7) & !7`). Saturates instead of overflowing for absurd `cb`.
#[allow(non_snake_case)]
pub const fn DMUS_EVENT_SIZE(cb: usize) -> usize {
    cb.saturating_add(20 + 7) & !7
}

/// `KSMUSICFORMAT` (ks.h): the header of one packet of a legacy MIDI (`KSDATAFORMAT_SUBTYPE_MIDI`)
/// buffer; `ByteCount` bytes follow, padded to a 4-byte boundary.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(non_snake_case)]
pub struct KSMUSICFORMAT {
    /// Milliseconds since the previous packet.
    pub TimeDeltaMs: u32,
    /// Data bytes that follow.
    pub ByteCount: u32,
}

const _: () = assert!(core::mem::size_of::<KSMUSICFORMAT>() == 8);

/// `KSDATAFORMAT_TYPE_MUSIC`.
pub const KSDATAFORMAT_TYPE_MUSIC: GUID = GUID::from_u128(0xE725D360_62CC_11CF_A5D6_28DB04C10000);
/// `KSDATAFORMAT_SUBTYPE_MIDI` (legacy KS MIDI, `KSMUSICFORMAT` packets).
pub const KSDATAFORMAT_SUBTYPE_MIDI: GUID = GUID::from_u128(0x1D262760_E957_11CF_A5D6_28DB04C10000);
/// `KSDATAFORMAT_SUBTYPE_DIRECTMUSIC` (`DMUS_EVENTHEADER` records).
pub const KSDATAFORMAT_SUBTYPE_DIRECTMUSIC: GUID =
    GUID::from_u128(0x1A82F8BC_3F8B_11D2_B774_0060083316C1);
/// `CLSID_PortDMus`.
pub const CLSID_PortDMus: GUID = GUID::from_u128(0xB7902FE9_FB0A_11D1_81B0_0060083316C1);
/// `CLSID_MiniportDriverDMusUART`.
pub const CLSID_MiniportDriverDMusUART: GUID =
    GUID::from_u128(0xD3F0CE1C_FFFC_11D1_81B0_0060083316C1);
/// `CLSID_MiniportDriverDMusUARTCapture`.
pub const CLSID_MiniportDriverDMusUARTCapture: GUID =
    GUID::from_u128(0xD3F0CE1D_FFFC_11D1_81B0_0060083316C1);
