//! `NTSTATUS`: the status code every kernel COM method returns.

use core::fmt;

/// A kernel status code. Success and informational codes are `>= 0` ([`NTSTATUS::is_success`], the
/// C macro `NT_SUCCESS`); errors have the top bit set.
///
/// Callers of MXF methods must only test success: Microsoft's own objects answer the same mistake
/// with different error codes (`domain.md` §1.3).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NTSTATUS(pub i32);

/// The result of an operation that fails with an [`NTSTATUS`].
///
/// The error type defaults to `NTSTATUS` and can be given (`Result<u8, String>` is
/// `core::result::Result<u8, String>`), so a glob import of the prelude does not take the
/// two-parameter `Result` away from code that uses it.
pub type Result<T, E = NTSTATUS> = core::result::Result<T, E>;

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        $( $(#[$doc])* pub const $name: NTSTATUS = NTSTATUS($value as u32 as i32); )*
        impl NTSTATUS {
            /// The header name of a status this crate knows, or `None`.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 as u32 {
                    $( $value => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    /// The operation succeeded.
    STATUS_SUCCESS = 0x0000_0000;
    /// A warning: the output buffer was too small and the size needed was returned (a KS
    /// property size query answers it with `ValueSize` set).
    STATUS_BUFFER_OVERFLOW = 0x8000_0005;
    /// The output buffer is too small for the value (a KS property request with a short buffer).
    STATUS_BUFFER_TOO_SMALL = 0xC000_0023;
    /// No match: a data-range intersection found no common format.
    STATUS_NO_MATCH = 0xC000_0272;
    /// Generic failure; what Microsoft's MXFs answer to a refused connection.
    STATUS_UNSUCCESSFUL = 0xC000_0001;
    /// The method exists in the vtable but does nothing for this object.
    STATUS_NOT_IMPLEMENTED = 0xC000_0002;
    /// A parameter is invalid (NULL out-pointer, unknown IID by default, misaligned pointer).
    STATUS_INVALID_PARAMETER = 0xC000_000D;
    /// The request does not fit this device (too many streams).
    STATUS_INVALID_DEVICE_REQUEST = 0xC000_0010;
    /// A pool allocation failed, or a configured bound was reached.
    STATUS_INSUFFICIENT_RESOURCES = 0xC000_009A;
    /// The first parameter is invalid; the allocator's answer to an unknown IID.
    STATUS_INVALID_PARAMETER_1 = 0xC000_00EF;
    /// The second parameter is invalid; a truncated DirectMusic record.
    STATUS_INVALID_PARAMETER_2 = 0xC000_00F0;
    /// The third parameter is invalid.
    STATUS_INVALID_PARAMETER_3 = 0xC000_00F1;
    /// The request is not supported (e.g. a real clock where the platform has none).
    STATUS_NOT_SUPPORTED = 0xC000_00BB;
    /// The object, property or set asked for does not exist (a KS property no table serves).
    STATUS_NOT_FOUND = 0xC000_0225;
    /// The device's configuration is wrong: the port refuses a miniport whose
    /// `PCFILTER_DESCRIPTOR` it cannot walk; a driver's start found a resource it needs missing
    /// (the UART driver without an I/O port range).
    STATUS_DEVICE_CONFIGURATION_ERROR = 0xC000_0182;
    /// The device is not in a state that allows the request.
    STATUS_INVALID_DEVICE_STATE = 0xC000_0184;
    /// The device reported an I/O error.
    STATUS_IO_DEVICE_ERROR = 0xC000_0185;
}

impl NTSTATUS {
    /// `NT_SUCCESS`: true for success and informational codes (`>= 0`).
    #[inline]
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }

    /// `Ok(())` for a success code, else `Err(self)`.
    #[inline]
    pub const fn ok(self) -> Result<()> {
        if self.is_success() { Ok(()) } else { Err(self) }
    }

    /// The bits as the `ULONG` a C caller prints (`0xC000000D`).
    #[inline]
    pub const fn bits(self) -> u32 {
        self.0 as u32
    }
}

/// The C macro `NT_SUCCESS`.
#[allow(non_snake_case)]
#[inline]
pub const fn NT_SUCCESS(status: NTSTATUS) -> bool {
    status.is_success()
}

impl From<Result<()>> for NTSTATUS {
    #[inline]
    fn from(r: Result<()>) -> Self {
        match r {
            Ok(()) => STATUS_SUCCESS,
            Err(e) => e,
        }
    }
}

impl fmt::Debug for NTSTATUS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "NTSTATUS({:#010X})", self.bits()),
        }
    }
}

impl fmt::Display for NTSTATUS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({:#010X})", self.bits()),
            None => write!(f, "{:#010X}", self.bits()),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn success_test_follows_the_sign_bit() {
        assert!(NT_SUCCESS(STATUS_SUCCESS));
        assert!(NTSTATUS(0x4000_0000).is_success());
        assert!(!STATUS_INVALID_PARAMETER.is_success());
        assert_eq!(STATUS_INVALID_PARAMETER_1.bits(), 0xC000_00EF);
        assert_eq!(
            STATUS_INSUFFICIENT_RESOURCES.ok(),
            Err(STATUS_INSUFFICIENT_RESOURCES)
        );
        assert_eq!(NTSTATUS::from(Ok(())), STATUS_SUCCESS);
    }

    #[test]
    fn prints_names_and_unknown_codes() {
        assert_eq!(format!("{:?}", STATUS_UNSUCCESSFUL), "STATUS_UNSUCCESSFUL");
        assert_eq!(format!("{}", NTSTATUS(0xC0DE_0001u32 as i32)), "0xC0DE0001");
    }
}
