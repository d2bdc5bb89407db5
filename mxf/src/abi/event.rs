//! `DMUS_KERNEL_EVENT`, its flags and the header's helper macros (`dmusicks.h`).
//!
//! Layout (natural alignment, no packing; `domain.md` §2.1), asserted at compile time below for the
//! pointer width being built:
//!
//! | field | x86 offset | x64 offset | size |
//! |---|---|---|---|
//! | `bReserved` | 0 | 0 | 1 |
//! | `cbStruct` | 1 | 1 | 1 |
//! | `cbEvent` | 2 | 2 | 2 |
//! | `usChannelGroup` | 4 | 4 | 2 |
//! | `usFlags` | 6 | 6 | 2 |
//! | `ullPresTime100ns` | 8 | 8 | 8 |
//! | `ullBytePosition` | 16 | 16 | 8 |
//! | `pNextEvt` | 24 | 24 | 4 / 8 |
//! | `uData` | 28 | 32 | 4 / 8 |
//! | **size** | **32** | **40** | |
//!
//! The inline data capacity is `sizeof(PBYTE)`: 4 bytes on 32-bit targets, 8 on 64-bit ones.
//! Never assume 8.
#![allow(non_snake_case, non_camel_case_types)]

use super::status::{NTSTATUS, STATUS_INVALID_PARAMETER};
use core::mem::{align_of, offset_of, size_of};
use core::ptr::NonNull;

/// Bytes of MIDI data an event holds inline: `sizeof(PBYTE)`.
pub const INLINE_DATA_BYTES: usize = size_of::<*mut u8>();

/// The whole message is in this event.
pub const DMUS_KEF_EVENT_COMPLETE: u16 = 0x0000;
/// The message continues in a later event (SysEx chunk, raw capture bytes).
pub const DMUS_KEF_EVENT_INCOMPLETE: u16 = 0x0001;
/// `uData.pPackageEvt` heads a chain of events to be handled atomically.
pub const DMUS_KEF_PACKAGE_EVENT: u16 = 0x0002;
/// Flag bits the port uses privately (`domain.md` §2.3): never expect them to be zero.
pub const DMUS_KEF_PORT_PRIVATE_MASK: u16 = 0xC004;
/// `ullBytePosition` of an event that has no meaningful byte position.
pub const kBytePositionNone: u64 = !0;
/// `SchedulePreFetch` value meaning "deliver immediately, do not sequence".
pub const DONT_HOLD_FOR_SEQUENCING: u64 = 0x8000_0000_0000_0000;

/// The pointer-sized data union of [`DMUS_KERNEL_EVENT`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union DMUS_KERNEL_EVENT_DATA {
    /// Inline bytes when `cbEvent <= sizeof(PBYTE)`.
    pub abData: [u8; INLINE_DATA_BYTES],
    /// A buffer from `IAllocatorMXF::GetBuffer` when `cbEvent > sizeof(PBYTE)`.
    pub pbData: *mut u8,
    /// The head of the package's chain when `DMUS_KEF_PACKAGE_EVENT` is set.
    pub pPackageEvt: *mut DMUS_KERNEL_EVENT,
}

impl DMUS_KERNEL_EVENT_DATA {
    /// All bits zero.
    pub const ZERO: Self = Self {
        abData: [0; INLINE_DATA_BYTES],
    };
}

/// One MIDI event as it travels through the MXF graph.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DMUS_KERNEL_EVENT {
    /// Reserved; miniports must not modify it. The allocator sets 0.
    pub bReserved: u8,
    /// `sizeof(DMUS_KERNEL_EVENT)`; miniports must not modify it.
    pub cbStruct: u8,
    /// Unrounded number of data bytes (0 and ignored for a package).
    pub cbEvent: u16,
    /// The channel group (set of 16 channels), numbered from 1.
    pub usChannelGroup: u16,
    /// `DMUS_KEF_*` flags; the high bits are used privately by the port.
    pub usFlags: u16,
    /// Presentation time on the master clock, in 100 ns units (signed).
    pub ullPresTime100ns: i64,
    /// Position in the pin's IRP byte stream just past the bytes that produced this event.
    pub ullBytePosition: u64,
    /// Next event of a chain, or NULL.
    pub pNextEvt: *mut DMUS_KERNEL_EVENT,
    /// Inline bytes, a long-event buffer or a package chain.
    pub uData: DMUS_KERNEL_EVENT_DATA,
}

/// The expected layout of [`DMUS_KERNEL_EVENT`] for one pointer width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLayout {
    /// `sizeof`.
    pub size: usize,
    /// Offsets of the nine fields in declaration order.
    pub offsets: [usize; 9],
    /// Inline data bytes.
    pub inline: usize,
}

/// The x86 (32-bit) layout.
pub const LAYOUT_32: EventLayout = EventLayout {
    size: 32,
    offsets: [0, 1, 2, 4, 6, 8, 16, 24, 28],
    inline: 4,
};
/// The x64 / ARM64 (64-bit) layout.
pub const LAYOUT_64: EventLayout = EventLayout {
    size: 40,
    offsets: [0, 1, 2, 4, 6, 8, 16, 24, 32],
    inline: 8,
};

/// The layout this build must have.
#[cfg(target_pointer_width = "32")]
pub const EXPECTED_LAYOUT: EventLayout = LAYOUT_32;
/// The layout this build must have.
#[cfg(target_pointer_width = "64")]
pub const EXPECTED_LAYOUT: EventLayout = LAYOUT_64;

/// The layout this build actually has.
pub const ACTUAL_LAYOUT: EventLayout = EventLayout {
    size: size_of::<DMUS_KERNEL_EVENT>(),
    offsets: [
        offset_of!(DMUS_KERNEL_EVENT, bReserved),
        offset_of!(DMUS_KERNEL_EVENT, cbStruct),
        offset_of!(DMUS_KERNEL_EVENT, cbEvent),
        offset_of!(DMUS_KERNEL_EVENT, usChannelGroup),
        offset_of!(DMUS_KERNEL_EVENT, usFlags),
        offset_of!(DMUS_KERNEL_EVENT, ullPresTime100ns),
        offset_of!(DMUS_KERNEL_EVENT, ullBytePosition),
        offset_of!(DMUS_KERNEL_EVENT, pNextEvt),
        offset_of!(DMUS_KERNEL_EVENT, uData),
    ],
    inline: INLINE_DATA_BYTES,
};

// Evaluated by the compiler only: an out-of-range index would be a compile error.
#[allow(clippy::indexing_slicing)]
const _: () = {
    let (a, e) = (ACTUAL_LAYOUT, EXPECTED_LAYOUT);
    assert!(
        a.size == e.size,
        "sizeof(DMUS_KERNEL_EVENT) differs from the header"
    );
    assert!(
        a.inline == e.inline,
        "inline data capacity differs from sizeof(PBYTE)"
    );
    assert!(size_of::<DMUS_KERNEL_EVENT_DATA>() == e.inline);
    let mut i = 0;
    while i < 9 {
        assert!(
            a.offsets[i] == e.offsets[i],
            "a DMUS_KERNEL_EVENT field offset differs from the header"
        );
        i += 1;
    }
    assert!(align_of::<DMUS_KERNEL_EVENT>() >= 4);
    assert!(size_of::<DMUS_KERNEL_EVENT>() <= u8::MAX as usize);
};

/// `sizeof(DMUS_KERNEL_EVENT)` as the allocator writes it into `cbStruct`.
pub const EVENT_STRUCT_SIZE: u8 = size_of::<DMUS_KERNEL_EVENT>() as u8;

impl DMUS_KERNEL_EVENT {
    /// The state Microsoft's allocator hands out (`domain.md` §3.2): everything zero except
    /// `cbStruct = sizeof` and `ullBytePosition = kBytePositionNone`.
    pub const FRESH: Self = Self {
        bReserved: 0,
        cbStruct: EVENT_STRUCT_SIZE,
        cbEvent: 0,
        usChannelGroup: 0,
        usFlags: 0,
        ullPresTime100ns: 0,
        ullBytePosition: kBytePositionNone,
        pNextEvt: core::ptr::null_mut(),
        uData: DMUS_KERNEL_EVENT_DATA::ZERO,
    };

    /// `SHORT_EVT`: the data is inline (`cbEvent <= sizeof(PBYTE)`).
    #[inline]
    pub const fn is_short(&self) -> bool {
        self.cbEvent as usize <= INLINE_DATA_BYTES
    }
    /// `PACKAGE_EVT`: `uData.pPackageEvt` heads a package chain.
    #[inline]
    pub const fn is_package(&self) -> bool {
        self.usFlags & DMUS_KEF_PACKAGE_EVENT != 0
    }
    /// `INCOMPLETE_EVT`: the message continues in a later event.
    #[inline]
    pub const fn is_incomplete(&self) -> bool {
        self.usFlags & DMUS_KEF_EVENT_INCOMPLETE != 0
    }
    /// `COMPLETE_EVT`, parenthesized correctly (the 1998 header's version is always false).
    #[inline]
    pub const fn is_complete(&self) -> bool {
        (self.usFlags & DMUS_KEF_EVENT_INCOMPLETE) == 0
    }
    /// `SET_INCOMPLETE_EVT`.
    #[inline]
    pub fn set_incomplete(&mut self) {
        self.usFlags |= DMUS_KEF_EVENT_INCOMPLETE;
    }
    /// `SET_COMPLETE_EVT`.
    #[inline]
    pub fn set_complete(&mut self) {
        self.usFlags &= !DMUS_KEF_EVENT_INCOMPLETE;
    }
    /// `SET_PACKAGE_EVT`.
    #[inline]
    pub fn set_package(&mut self) {
        self.usFlags |= DMUS_KEF_PACKAGE_EVENT;
    }
    /// `CLEAR_PACKAGE_EVT`.
    #[inline]
    pub fn clear_package(&mut self) {
        self.usFlags &= !DMUS_KEF_PACKAGE_EVENT;
    }
}

/// `SHORT_EVT(e)`.
#[inline]
pub const fn SHORT_EVT(e: &DMUS_KERNEL_EVENT) -> bool {
    e.is_short()
}
/// `PACKAGE_EVT(e)`.
#[inline]
pub const fn PACKAGE_EVT(e: &DMUS_KERNEL_EVENT) -> bool {
    e.is_package()
}
/// `INCOMPLETE_EVT(e)`.
#[inline]
pub const fn INCOMPLETE_EVT(e: &DMUS_KERNEL_EVENT) -> bool {
    e.is_incomplete()
}
/// `COMPLETE_EVT(e)` (the corrected one).
#[inline]
pub const fn COMPLETE_EVT(e: &DMUS_KERNEL_EVENT) -> bool {
    e.is_complete()
}
/// `SET_INCOMPLETE_EVT(e)`.
#[inline]
pub fn SET_INCOMPLETE_EVT(e: &mut DMUS_KERNEL_EVENT) {
    e.set_incomplete()
}
/// `SET_COMPLETE_EVT(e)`.
#[inline]
pub fn SET_COMPLETE_EVT(e: &mut DMUS_KERNEL_EVENT) {
    e.set_complete()
}
/// `SET_PACKAGE_EVT(e)`.
#[inline]
pub fn SET_PACKAGE_EVT(e: &mut DMUS_KERNEL_EVENT) {
    e.set_package()
}
/// `CLEAR_PACKAGE_EVT(e)`.
#[inline]
pub fn CLEAR_PACKAGE_EVT(e: &mut DMUS_KERNEL_EVENT) {
    e.clear_package()
}

/// Checks a raw event pointer from a C caller: `STATUS_INVALID_PARAMETER` if it is NULL or not
/// aligned for `DMUS_KERNEL_EVENT`. The pointer is never dereferenced here.
#[inline]
pub fn check_event_ptr(p: *mut DMUS_KERNEL_EVENT) -> Result<NonNull<DMUS_KERNEL_EVENT>, NTSTATUS> {
    match NonNull::new(p) {
        Some(nn) if p.is_aligned() => Ok(nn),
        _ => Err(STATUS_INVALID_PARAMETER),
    }
}

/// Reads a flag helper through a raw pointer, after [`check_event_ptr`].
///
/// # Safety
/// A non-NULL, aligned `p` must point to a readable `DMUS_KERNEL_EVENT`.
#[inline]
pub unsafe fn read_flags(p: *const DMUS_KERNEL_EVENT) -> Result<u16, NTSTATUS> {
    let nn = check_event_ptr(p.cast_mut())?;
    // SAFETY: `nn` is non-NULL and aligned; the caller guarantees it points to a live event.
    Ok(unsafe { (*nn.as_ptr()).usFlags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_header_for_this_target() {
        assert_eq!(ACTUAL_LAYOUT, EXPECTED_LAYOUT);
        #[cfg(target_pointer_width = "32")]
        {
            assert_eq!(size_of::<DMUS_KERNEL_EVENT>(), 32);
            assert_eq!(INLINE_DATA_BYTES, 4);
            assert_eq!(offset_of!(DMUS_KERNEL_EVENT, uData), 28);
        }
        #[cfg(target_pointer_width = "64")]
        {
            assert_eq!(size_of::<DMUS_KERNEL_EVENT>(), 40);
            assert_eq!(INLINE_DATA_BYTES, 8);
            assert_eq!(offset_of!(DMUS_KERNEL_EVENT, uData), 32);
        }
    }

    #[test]
    fn flag_helpers_match_the_corrected_macros() {
        let mut e = DMUS_KERNEL_EVENT::FRESH;
        assert!(COMPLETE_EVT(&e) && !INCOMPLETE_EVT(&e) && !PACKAGE_EVT(&e));
        SET_INCOMPLETE_EVT(&mut e);
        assert!(INCOMPLETE_EVT(&e) && !COMPLETE_EVT(&e));
        SET_PACKAGE_EVT(&mut e);
        assert_eq!(
            e.usFlags,
            DMUS_KEF_EVENT_INCOMPLETE | DMUS_KEF_PACKAGE_EVENT
        );
        SET_COMPLETE_EVT(&mut e);
        CLEAR_PACKAGE_EVT(&mut e);
        assert_eq!(e.usFlags, 0);
        // Port-private bits do not disturb the public tests.
        e.usFlags = 0xC004;
        assert!(COMPLETE_EVT(&e) && !PACKAGE_EVT(&e));
        e.cbEvent = INLINE_DATA_BYTES as u16;
        assert!(SHORT_EVT(&e));
        e.cbEvent += 1;
        assert!(!SHORT_EVT(&e));
    }

    #[test]
    fn fresh_event_is_the_allocators_state() {
        let e = DMUS_KERNEL_EVENT::FRESH;
        assert_eq!(e.cbStruct as usize, size_of::<DMUS_KERNEL_EVENT>());
        assert_eq!(e.ullBytePosition, kBytePositionNone);
        // SAFETY: reading the pointer member of an all-zero union.
        assert!(unsafe { e.uData.pbData }.is_null());
    }

    #[test]
    fn null_and_misaligned_pointers_are_rejected_unread() {
        assert_eq!(
            check_event_ptr(core::ptr::null_mut()),
            Err(STATUS_INVALID_PARAMETER)
        );
        let mut storage = [DMUS_KERNEL_EVENT::FRESH; 2];
        let misaligned = storage
            .as_mut_ptr()
            .cast::<u8>()
            .wrapping_add(1)
            .cast::<DMUS_KERNEL_EVENT>();
        assert_eq!(check_event_ptr(misaligned), Err(STATUS_INVALID_PARAMETER));
        // SAFETY: both pointers are rejected before any read.
        let r = unsafe { read_flags(misaligned) };
        assert_eq!(r, Err(STATUS_INVALID_PARAMETER));
        // SAFETY: as above.
        let r = unsafe { read_flags(core::ptr::null()) };
        assert_eq!(r, Err(STATUS_INVALID_PARAMETER));
        storage[0].usFlags = DMUS_KEF_PACKAGE_EVENT;
        // SAFETY: a valid, aligned pointer to a live event.
        let r = unsafe { read_flags(storage.as_ptr()) };
        assert_eq!(r, Ok(DMUS_KEF_PACKAGE_EVENT));
    }
}
