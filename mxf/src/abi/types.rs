//! 32-bit C enums of the kernel headers, as newtypes that accept every value a C caller can pass.
//!
//! A C enum parameter can hold any 32-bit value; transmuting it into a Rust `enum` would be
//! undefined behaviour for an unknown value. These types keep the raw value, compare with the
//! header constants and report unknown values through `known()` without ever rejecting them.

use core::fmt;

macro_rules! c_enum {
    (
        $(#[$doc:meta])* $ty:ident / $known:ident {
            $( $(#[$vdoc:meta])* $konst:ident = $variant:ident = $value:expr, )*
        }
    ) => {
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $ty(pub i32);

        $( $(#[$vdoc])* pub const $konst: $ty = $ty($value); )*

        #[doc = concat!("The values of [`", stringify!($ty), "`] the headers define.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $known {
            $( $(#[$vdoc])* $variant, )*
        }

        impl $ty {
            /// The header value this is, or `None` for a value no header defines.
            pub const fn known(self) -> Option<$known> {
                match self.0 {
                    $( $value => Some($known::$variant), )*
                    _ => None,
                }
            }

            /// The header name of this value, or `None` if it is unknown.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl From<$known> for $ty {
            fn from(k: $known) -> Self {
                match k { $( $known::$variant => $konst, )* }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}(unknown {})", stringify!($ty), self.0),
                }
            }
        }
    };
}

c_enum! {
    /// `KSSTATE`: the streaming state of a pin and of every MXF in its graph.
    KSSTATE / KsState {
        /// Stopped: no data flows; render streams discard to the allocator.
        KSSTATE_STOP = Stop = 0,
        /// Resources acquired; messages cannot be passed downstream.
        KSSTATE_ACQUIRE = Acquire = 1,
        /// Paused: render streams hold data.
        KSSTATE_PAUSE = Pause = 2,
        /// Running.
        KSSTATE_RUN = Run = 3,
    }
}

c_enum! {
    /// `POOL_TYPE`: which kernel pool an allocation comes from.
    POOL_TYPE / PoolType {
        /// `NonPagedPool`: usable at DISPATCH_LEVEL; what the DMus port passes to `NewStream`.
        NonPagedPool = NonPaged = 0,
        /// `PagedPool`: PASSIVE_LEVEL only.
        PagedPool = Paged = 1,
        /// `NonPagedPoolMustSucceed`: rejected by the modern headers.
        NonPagedPoolMustSucceed = NonPagedMustSucceed = 2,
        /// `NonPagedPoolCacheAligned`.
        NonPagedPoolCacheAligned = NonPagedCacheAligned = 4,
        /// `PagedPoolCacheAligned`.
        PagedPoolCacheAligned = PagedCacheAligned = 5,
        /// `NonPagedPoolNx`: non-executable nonpaged pool (Windows 8 and later).
        NonPagedPoolNx = NonPagedNx = 512,
    }
}

c_enum! {
    /// `DMUS_STREAM_TYPE`: the kind of stream `IMiniportDMus::NewStream` is asked for.
    DMUS_STREAM_TYPE / DmusStreamType {
        /// Not a valid stream type.
        DMUS_STREAM_MIDI_INVALID = Invalid = -1,
        /// MIDI render (data flows to the device).
        DMUS_STREAM_MIDI_RENDER = Render = 0,
        /// MIDI capture (data flows from the device).
        DMUS_STREAM_MIDI_CAPTURE = Capture = 1,
        /// Wave sink of a software synthesizer.
        DMUS_STREAM_WAVE_SINK = WaveSink = 2,
    }
}

impl POOL_TYPE {
    /// True for the nonpaged pools, which are usable at DISPATCH_LEVEL.
    pub const fn is_nonpaged(self) -> bool {
        // Paged pools are the odd base values (PagedPool = 1, PagedPoolCacheAligned = 5, and
        // their session variants 33, 37); the Nx flag (512) does not change pageability.
        self.0 & 1 == 0
    }
}

/// Builds a pool tag from its four characters as they appear in a memory dump (`pool_tag(b"MXF ")`).
///
/// The C source writes the reversed multi-character constant (`' FXM'`); both give the same bits.
pub const fn pool_tag(chars: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*chars)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn unknown_values_round_trip_unchanged() {
        for raw in [i32::MIN, -2, 4, 7, 1000, i32::MAX] {
            let s = KSSTATE(raw);
            assert_eq!(s.0, raw);
            assert_eq!(s.known(), None);
            assert!(format!("{s:?}").contains("unknown"));
        }
        assert_eq!(DMUS_STREAM_TYPE(-1).known(), Some(DmusStreamType::Invalid));
        assert_eq!(DMUS_STREAM_TYPE(3).known(), None);
        assert_eq!(POOL_TYPE(99).known(), None);
        assert_eq!(KSSTATE::from(KsState::Run), KSSTATE_RUN);
        assert_eq!(format!("{:?}", KSSTATE_PAUSE), "KSSTATE_PAUSE");
    }

    #[test]
    fn pool_tags_read_as_in_a_dump() {
        assert_eq!(pool_tag(b"MXF "), u32::from_be_bytes(*b" FXM"));
        assert!(NonPagedPool.is_nonpaged());
        assert!(NonPagedPoolNx.is_nonpaged());
        assert!(!PagedPool.is_nonpaged());
    }
}
