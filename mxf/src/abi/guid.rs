//! `GUID`: the 16-byte identifier of interfaces and classes.

use core::fmt;

/// A Windows `GUID` (`{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`), laid out as the C struct.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[allow(non_snake_case)]
pub struct GUID {
    /// First 32 bits.
    pub Data1: u32,
    /// Next 16 bits.
    pub Data2: u16,
    /// Next 16 bits.
    pub Data3: u16,
    /// Last 64 bits, in string order.
    pub Data4: [u8; 8],
}

/// Why a GUID string was rejected by [`GUID::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuidParseError {
    /// The string is neither 36 characters (bare) nor 38 (in braces).
    Length,
    /// A `-` is missing or misplaced, or only one of the two braces is present.
    Punctuation,
    /// A character that is not a hexadecimal digit stands where a digit belongs.
    Digit,
}

impl fmt::Display for GuidParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Length => {
                "a GUID has 32 hexadecimal digits in the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
            }
            Self::Punctuation => {
                "a GUID has dashes after digits 8, 12, 16 and 20, and braces on both sides or none"
            }
            Self::Digit => "a GUID holds only hexadecimal digits between its dashes",
        })
    }
}

const fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(b.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(b.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

impl GUID {
    /// The all-zero GUID (`GUID_NULL`).
    pub const NULL: GUID = GUID::from_u128(0);

    /// Builds a GUID from its 128-bit big-endian reading (`0xC096DF9E_FB09_11D1_81B0_0060083316C1`).
    pub const fn from_u128(v: u128) -> GUID {
        GUID {
            Data1: (v >> 96) as u32,
            Data2: (v >> 80) as u16,
            Data3: (v >> 64) as u16,
            Data4: (v as u64).to_be_bytes(),
        }
    }

    /// The 128-bit big-endian reading of this GUID; the inverse of [`GUID::from_u128`].
    pub const fn to_u128(&self) -> u128 {
        ((self.Data1 as u128) << 96)
            | ((self.Data2 as u128) << 80)
            | ((self.Data3 as u128) << 64)
            | (u64::from_be_bytes(self.Data4) as u128)
    }

    /// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`, with or without braces, any case.
    ///
    /// This is a `const fn`, so a GUID constant can be checked at compile time:
    ///
    /// ```
    /// use mxf::abi::GUID;
    /// const IID_IMXF: GUID = match GUID::parse("{C096DF9E-FB09-11D1-81B0-0060083316C1}") {
    ///     Ok(g) => g,
    ///     Err(_) => panic!("malformed GUID"),
    /// };
    /// assert_eq!(IID_IMXF.Data1, 0xC096DF9E);
    /// ```
    // Every index is below the length matched first (36 or 38), so no bound check can fail.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub const fn parse(s: &str) -> Result<GUID, GuidParseError> {
        let b = s.as_bytes();
        let (start, len) = match b.len() {
            36 => (0, 36),
            38 => {
                if b[0] != b'{' || b[37] != b'}' {
                    return Err(GuidParseError::Punctuation);
                }
                (1, 36)
            }
            _ => return Err(GuidParseError::Length),
        };
        let mut v: u128 = 0;
        let mut i = 0;
        while i < len {
            let c = b[start + i];
            if i == 8 || i == 13 || i == 18 || i == 23 {
                if c != b'-' {
                    return Err(GuidParseError::Punctuation);
                }
            } else {
                match hex(c) {
                    Some(d) => v = (v << 4) | d as u128,
                    None => {
                        return Err(if c == b'-' || c == b'{' || c == b'}' {
                            GuidParseError::Punctuation
                        } else {
                            GuidParseError::Digit
                        });
                    }
                }
            }
            i += 1;
        }
        Ok(GUID::from_u128(v))
    }
}

impl fmt::Display for GUID {
    /// Prints the registry form, upper case in braces: `{C096DF9E-FB09-11D1-81B0-0060083316C1}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.Data4;
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}}}",
            self.Data1, self.Data2, self.Data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

impl fmt::Debug for GUID {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn parse_and_print_round_trip() {
        let s = "{A5F0D62C-B30F-11D2-B7A3-0060083316C1}";
        let g = GUID::parse(s).unwrap();
        assert_eq!(g.Data1, 0xA5F0D62C);
        assert_eq!(g.Data2, 0xB30F);
        assert_eq!(g.Data3, 0x11D2);
        assert_eq!(g.Data4, [0xB7, 0xA3, 0x00, 0x60, 0x08, 0x33, 0x16, 0xC1]);
        assert_eq!(g.to_string(), s);
        assert_eq!(GUID::parse(&s.to_lowercase()[1..37]), Ok(g));
        assert_eq!(GUID::from_u128(g.to_u128()), g);
    }

    #[test]
    fn rejects_malformed_strings() {
        assert_eq!(GUID::parse(""), Err(GuidParseError::Length));
        assert_eq!(
            GUID::parse("A5F0D62C-B30F-11D2-B7A3-0060083316C"),
            Err(GuidParseError::Length)
        );
        assert_eq!(
            GUID::parse("A5F0D62CXB30F-11D2-B7A3-0060083316C1"),
            Err(GuidParseError::Punctuation)
        );
        assert_eq!(
            GUID::parse("{A5F0D62C-B30F-11D2-B7A3-0060083316C1)"),
            Err(GuidParseError::Punctuation)
        );
        assert_eq!(
            GUID::parse("G5F0D62C-B30F-11D2-B7A3-0060083316C1"),
            Err(GuidParseError::Digit)
        );
    }
}
