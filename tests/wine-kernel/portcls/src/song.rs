//! The song file the double reads (`C:\mxf-wine\song.bin`), written on the Linux side by the
//! tier's host tool from the embedded demo song:
//!
//! ```text
//! "MXFSONG1"                                  8 bytes
//! sections: u32                               little-endian, like every number here
//! per section:
//!   format: u32                               0 = MIDI bytestream (KSMUSICFORMAT records),
//!                                             1 = DirectMusic (DMUS_EVENTHEADER records)
//!   messages: u32                             MIDI messages the buffers carry
//!   buffers: u32
//!   per buffer: length: u32, base time: i64,  one render IRP's buffer and its presentation
//!     then the bytes                          time (100 ns; the records' times are relative)
//! ```

/// The file's first 8 bytes.
pub const MAGIC: &[u8; 8] = b"MXFSONG1";
/// A section of MIDI bytestream buffers.
pub const FORMAT_MIDI: u32 = 0;
/// A section of DirectMusic buffers.
pub const FORMAT_DIRECTMUSIC: u32 = 1;

/// A reader of the song file over its bytes; every read is checked.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

/// One section: its format, its message count, and a reader of its buffers.
#[derive(Clone, Debug)]
pub struct Section<'a> {
    /// [`FORMAT_MIDI`] or [`FORMAT_DIRECTMUSIC`].
    pub format: u32,
    /// The MIDI messages of the section's buffers.
    pub messages: u32,
    /// The buffers, in order.
    pub buffers: &'a [u8],
    /// How many.
    pub buffer_count: u32,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes`, `None` if they do not start with [`MAGIC`].
    pub fn new(bytes: &'a [u8]) -> Option<(Self, u32)> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let mut reader = Self { rest };
        let sections = reader.u32()?;
        Some((reader, sections))
    }

    fn u32(&mut self) -> Option<u32> {
        let (head, tail) = self.rest.split_first_chunk::<4>()?;
        self.rest = tail;
        Some(u32::from_le_bytes(*head))
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    /// The next section; `None` at the end or if the file is cut short.
    pub fn section(&mut self) -> Option<Section<'a>> {
        let format = self.u32()?;
        let messages = self.u32()?;
        let buffer_count = self.u32()?;
        let start = self.rest;
        for _ in 0..buffer_count {
            let len = usize::try_from(self.u32()?).ok()?;
            self.bytes(8)?;
            self.bytes(len)?;
        }
        let used = start.len().checked_sub(self.rest.len())?;
        Some(Section {
            format,
            messages,
            buffers: start.get(..used)?,
            buffer_count,
        })
    }
}

impl<'a> Section<'a> {
    /// The section's buffers, in order.
    pub fn buffers(&self) -> Buffers<'a> {
        Buffers { rest: self.buffers }
    }
}

/// The buffers of a [`Section`].
#[derive(Clone, Debug)]
pub struct Buffers<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Buffers<'a> {
    /// The buffer's presentation time and its bytes.
    type Item = (i64, &'a [u8]);

    fn next(&mut self) -> Option<(i64, &'a [u8])> {
        let (head, tail) = self.rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*head)).ok()?;
        let (time, tail) = tail.split_first_chunk::<8>()?;
        let (buffer, rest) = tail.split_at_checked(len)?;
        self.rest = rest;
        Some((i64::from_le_bytes(*time), buffer))
    }
}

/// Appends a section to `out` (the host tool's writer; `out` starts with [`header`]).
#[cfg(not(windows))]
pub fn push_section(out: &mut Vec<u8>, format: u32, messages: u32, buffers: &[(i64, Vec<u8>)]) {
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&messages.to_le_bytes());
    out.extend_from_slice(&(buffers.len() as u32).to_le_bytes());
    for (time, b) in buffers {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(&time.to_le_bytes());
        out.extend_from_slice(b);
    }
}

/// The file's header for `sections` sections.
#[cfg(not(windows))]
pub fn header(sections: u32) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&sections.to_le_bytes());
    out
}

#[cfg(all(test, not(windows)))]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_and_a_cut_one_stops() {
        let mut file = header(2);
        push_section(
            &mut file,
            FORMAT_MIDI,
            3,
            &[(0, vec![1, 2, 3]), (-7, vec![4])],
        );
        push_section(&mut file, FORMAT_DIRECTMUSIC, 1, &[(5, vec![9; 24])]);
        let (mut r, n) = Reader::new(&file).expect("magic");
        assert_eq!(n, 2);
        let a = r.section().expect("first");
        assert_eq!((a.format, a.messages, a.buffer_count), (FORMAT_MIDI, 3, 2));
        assert_eq!(
            a.buffers().collect::<Vec<_>>(),
            [(0, &[1u8, 2, 3][..]), (-7, &[4])]
        );
        let b = r.section().expect("second");
        assert_eq!(b.buffers().next(), Some((5, &[9u8; 24][..])));
        assert!(r.section().is_none());
        let cut = &file[..file.len() - 1];
        let (mut r, _) = Reader::new(cut).expect("magic");
        assert!(r.section().is_some());
        assert!(r.section().is_none(), "a cut buffer ends the file");
        assert!(Reader::new(b"MXFSONG0\0\0\0\0").is_none());
    }
}
