//! The packer: the last MXF of a capture pin, which copies captured events into the pin's capture
//! IRPs as packed records (`domain.md` §4.3, §5.3, §6 item 57).
//!
//! # Behaviour
//! * `PutMessage` queues the chain (packages unwrapped: the shell goes back to the allocator, the
//!   contents are queued in its place). `PutMessage(NULL)` does nothing. Events are queued in any
//!   state.
//! * [`PackerHandle::fill`] copies queued events into one capture IRP's buffer, in order:
//!   - [`PackerFormat::DirectMusic`]: one `DMUS_EVENTHEADER` record per piece (`cbEvent` = bytes
//!     of the piece, `dwChannelGroup` = the event's group, `rtDelta` = event time − the IRP's
//!     base time, `dwFlags` = 0: never `DMUS_EVENT_STRUCTURED`, as the port does), records on
//!     8-byte boundaries ([`DMUS_EVENT_SIZE`]), the usable length truncated to a multiple of 8;
//!   - [`PackerFormat::Ks`]: one `KSMUSICFORMAT` packet per piece, padded to a 4-byte boundary,
//!     `TimeDeltaMs` = (event time − running base) / 10 000, where the running base starts at the
//!     base time of the first fill (after creation or ACQUIRE-from-STOP) and advances by every
//!     delta written; an event earlier than the running base gets 0. The channel group is not
//!     recorded (legacy MIDI has one).
//!   - An event that does not fit is split: as much as fits goes into this IRP, the rest into the
//!     next `fill`. An event goes back to the allocator once it is fully copied. Filling stops
//!     when the space left is smaller than the smallest record (24 bytes DirectMusic, 9 KS);
//!     a whole buffer smaller than that gets nothing ([`PackerFormat::holds_a_record`]).
//!   - [`PackerFill::discontinuity`] is set if any event copied (even in part) carried the
//!     capture sink's discontinuity mark ([`DMUS_KEF_CAPTURE_DISCONTINUITY`]); the pin then sets
//!     `KSSTREAM_HEADER_OPTIONSF_DATADISCONTINUITY` on the IRP.
//!   - Events without data bytes are returned to the allocator without a record.
//! * `SetState` records the state; ACQUIRE from STOP returns residual queued data to the
//!   allocator and resets the time bookkeeping. Unknown state values are refused with
//!   `STATUS_INVALID_PARAMETER`. `ConnectOutput` and `DisconnectOutput`:
//!   `STATUS_NOT_IMPLEMENTED` (the packer is a sink).
//! * Dropping the packer returns everything queued to the allocator.
//!
//! The queue is a linked list through `pNextEvt` behind a spin lock: queuing and filling allocate
//! nothing; fully copied events are returned to the allocator after the lock is released.
//!
//! The IRP side stays with the pin: it reads the base time from the IRP header (and treats a zero
//! numerator or denominator as unusable), sets `DataUsed` from [`PackerFill::bytes`], sets or
//! clears the data-discontinuity option, and completes the IRP. An IRP too small for one record
//! is completed at once with `DataUsed` 0 when data waits for it: the port's rule of §4.3 (a
//! packet whose space left is smaller than the smallest record is terminated and the next IRP
//! used) applied at its first byte; kept waiting, it would hold every later IRP behind it.
//!
//! # Where this differs from the port's packer
//! * Events without data bytes produce no record.
//! * KS: the buffer is not truncated to a multiple of 4; a last packet whose padding would run
//!   past the end of the buffer is written without it (so a 9-byte record fits a 9-byte tail).
//! * Unknown `KSSTATE` values are refused with `STATUS_INVALID_PARAMETER`.
//!
//! # Example
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::components::packer::{PackerFormat, PackerHandle};
//! use mxf::prelude::*;
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! // A legacy MIDI capture pin: KSMUSICFORMAT packets.
//! let packer = PackerHandle::new(alloc.interface().clone(), PackerFormat::Ks)?;
//! let mut chain = Chain::new(&alloc);
//! chain.push_back(Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 20_000)?); // at 2 ms
//! chain.deliver(Some(packer.interface()));
//!
//! let mut irp = [0u8; 32];
//! let filled = packer.fill(&mut irp, 0);
//! assert_eq!(filled.bytes, 12); // an 8-byte header, 3 bytes, 1 byte of padding
//! let word = |at: usize| u32::from_ne_bytes(irp[at..at + 4].try_into().unwrap());
//! assert_eq!((word(0), word(4)), (2, 3)); // TimeDeltaMs, ByteCount
//! assert_eq!(&irp[8..11], &[0x90, 60, 100]);
//! assert_eq!(alloc.stats().outstanding_events, 0); // copied, then returned
//! # Ok::<(), NTSTATUS>(())
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use super::capture_sink::DMUS_KEF_CAPTURE_DISCONTINUITY;
use crate::abi::{
    DMUS_EVENT_SIZE, DMUS_KERNEL_EVENT, KSSTATE, KSSTATE_ACQUIRE, KSSTATE_STOP, NTSTATUS,
    REFERENCE_TIME, Result, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS,
};
use crate::com::{ComRef, ObjectHandle};
use crate::event::{Chain, EventList};
use crate::interfaces::{IAllocatorMXF, IMXF, IMXF_Impl};
use crate::platform::SpinLock;
use core::ptr::null_mut;

/// Size of `DMUS_EVENTHEADER`.
const DMUS_HEADER: usize = 20;
/// Size of `KSMUSICFORMAT`.
const KS_HEADER: usize = 8;
/// 100 ns units per millisecond.
const UNITS_PER_MS: i64 = 10_000;

/// The packed format of a capture pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackerFormat {
    /// `KSDATAFORMAT_SUBTYPE_DIRECTMUSIC`: `DMUS_EVENTHEADER` records, quadword aligned.
    DirectMusic,
    /// `KSDATAFORMAT_SUBTYPE_MIDI` (legacy): `KSMUSICFORMAT` packets, DWORD aligned.
    Ks,
}

impl PackerFormat {
    /// Bytes of the smallest record: 24 for DirectMusic (`DMUS_EVENT_SIZE(1)`), 9 for KS
    /// (header and one byte; the padding may be cut off by the end of the buffer).
    pub const fn min_record(self) -> usize {
        match self {
            Self::DirectMusic => DMUS_EVENT_SIZE(1),
            Self::Ks => KS_HEADER + 1,
        }
    }

    /// Bytes of a buffer of `len` bytes that records may use: DirectMusic truncates the length
    /// to a multiple of 8 (records are quadword aligned); KS uses it all.
    pub const fn usable(self, len: usize) -> usize {
        match self {
            Self::DirectMusic => len & !7,
            Self::Ks => len,
        }
    }

    /// Whether a buffer of `len` bytes holds at least one record ([`usable`](Self::usable)
    /// length at least [`min_record`](Self::min_record)). [`PackerHandle::fill`] writes nothing
    /// into a smaller one: the pin completes such an IRP empty instead of waiting for room that
    /// never comes.
    pub const fn holds_a_record(self, len: usize) -> bool {
        self.usable(len) >= self.min_record()
    }

    /// Data bytes of the next record, given `space` bytes left and `rest` bytes to copy.
    fn piece(self, space: usize, rest: usize) -> Option<usize> {
        if space < self.min_record() {
            return None;
        }
        let header = match self {
            Self::DirectMusic => DMUS_HEADER,
            Self::Ks => KS_HEADER,
        };
        Some(rest.min(space.saturating_sub(header)))
    }
}

/// What one [`PackerHandle::fill`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PackerFill {
    /// Bytes of the buffer used (the IRP's `DataUsed`).
    pub bytes: usize,
    /// An event copied into this buffer carried the capture sink's discontinuity mark.
    pub discontinuity: bool,
}

/// Counters of a packer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PackerStats {
    /// Events queued (package contents counted, shells not).
    pub events_in: u64,
    /// Events fully copied and returned to the allocator.
    pub events_packed: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written (headers and padding included).
    pub bytes: u64,
    /// Events without data bytes, returned without a record.
    pub empty_events: u64,
    /// Queued events returned unpacked on ACQUIRE from STOP.
    pub discarded: u64,
}

/// Everything behind the packer's lock.
struct PackerState {
    queue: EventList,
    /// Bytes of the queue's first event already copied into earlier buffers.
    offset: usize,
    state: KSSTATE,
    /// KS running time base (`None` until the first record after a reset).
    ks_base: Option<REFERENCE_TIME>,
    stats: PackerStats,
}

/// Copies `bytes` to `buf[at..]`; the position after them, or `None` if they do not fit.
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> Option<usize> {
    let end = at.checked_add(bytes.len())?;
    buf.get_mut(at..end)?.copy_from_slice(bytes);
    Some(end)
}

/// Zeroes `buf[from..to]` (the padding of a record); `to`, or `None` if out of range.
fn pad(buf: &mut [u8], from: usize, to: usize) -> Option<usize> {
    buf.get_mut(from..to)?.fill(0);
    Some(to)
}

/// Writes one DirectMusic record at `pos`; the position after its padding.
fn write_dmus(
    buf: &mut [u8],
    pos: usize,
    data: &[u8],
    group: u16,
    delta: REFERENCE_TIME,
) -> Option<usize> {
    let cb = u32::try_from(data.len()).ok()?;
    let end = pos.checked_add(DMUS_EVENT_SIZE(data.len()))?;
    if end > buf.len() {
        return None;
    }
    // DMUS_EVENTHEADER, packed(4): cbEvent, dwChannelGroup, rtDelta, dwFlags (always 0).
    let at = put(buf, pos, &cb.to_ne_bytes())?;
    let at = put(buf, at, &u32::from(group).to_ne_bytes())?;
    let at = put(buf, at, &delta.to_ne_bytes())?;
    let at = put(buf, at, &0u32.to_ne_bytes())?;
    let at = put(buf, at, data)?;
    pad(buf, at, end)
}

/// Writes one KS packet at `pos`; the position after its padding (cut at the end of `buf`).
fn write_ks(buf: &mut [u8], pos: usize, data: &[u8], delta_ms: u32) -> Option<usize> {
    let cb = u32::try_from(data.len()).ok()?;
    let unpadded = pos.checked_add(KS_HEADER)?.checked_add(data.len())?;
    if unpadded > buf.len() {
        return None;
    }
    // Padded to a 4-byte boundary of the buffer, unless the buffer ends first.
    let end = (unpadded.checked_add(3)? & !3).min(buf.len());
    // KSMUSICFORMAT: TimeDeltaMs, ByteCount.
    let at = put(buf, pos, &delta_ms.to_ne_bytes())?;
    let at = put(buf, at, &cb.to_ne_bytes())?;
    let at = put(buf, at, data)?;
    pad(buf, at, end)
}

/// `TimeDeltaMs` of an event at `time` after `base`, and the base advanced by it.
fn ks_delta(time: REFERENCE_TIME, base: REFERENCE_TIME) -> (u32, REFERENCE_TIME) {
    let d = time.saturating_sub(base);
    let ms = if d > 0 {
        d.checked_div(UNITS_PER_MS).unwrap_or(0)
    } else {
        0
    };
    let ms = u32::try_from(ms).unwrap_or(u32::MAX);
    let advanced = base.saturating_add(i64::from(ms).saturating_mul(UNITS_PER_MS));
    (ms, advanced)
}

/// The packer object. Create it with [`PackerHandle::new`].
#[crate::com_object(IMXF, tag = "MXFk")]
pub struct Packer {
    alloc: IAllocatorMXF,
    format: PackerFormat,
    state: SpinLock<PackerState>,
}

impl Packer {
    fn new(alloc: IAllocatorMXF, format: PackerFormat) -> Self {
        Self {
            alloc,
            format,
            state: SpinLock::new(PackerState {
                queue: EventList::new(),
                offset: 0,
                state: KSSTATE_STOP,
                ks_base: None,
                stats: PackerStats::default(),
            }),
        }
    }

    fn put(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        if !head.is_aligned() {
            // No allocator hands out such a pointer: refused without touching it.
            return STATUS_INVALID_PARAMETER;
        }
        let alloc = &self.alloc;
        // SAFETY: PutMessage hands over the whole chain; its events come from this stream's
        // allocator.
        let mut ready = unsafe { Chain::from_raw(head, alloc) };
        // Unwrap packages outside the lock (shells go back to the allocator).
        drop(ready.unwrap_packages());
        let mut st = self.state.lock();
        st.stats.events_in = st.stats.events_in.saturating_add(ready.len() as u64);
        while let Some(e) = ready.pop_front() {
            st.queue.push_back(e);
        }
        STATUS_SUCCESS
    }

    fn fill(&self, buf: &mut [u8], base_time: REFERENCE_TIME) -> PackerFill {
        let alloc = &self.alloc;
        let format = self.format;
        let usable = format.usable(buf.len());
        let Some(buf) = buf.get_mut(..usable) else {
            return PackerFill::default();
        };
        // Fully copied events, returned to the allocator after the lock is released.
        let mut done = Chain::new(alloc);
        let mut result = PackerFill::default();
        let mut pos = 0usize;
        {
            let mut st = self.state.lock();
            // SAFETY: the queue holds events this packer was given by `PutMessage`, which come
            // from the pin's allocator, `alloc`.
            while let Some(ev) = unsafe { st.queue.pop_front(alloc) } {
                let offset = core::mem::take(&mut st.offset);
                let marked = ev.raw().usFlags & DMUS_KEF_CAPTURE_DISCONTINUITY != 0;
                let data = ev.data();
                let total = data.len();
                let rest = data.get(offset..).unwrap_or(&[]);
                if rest.is_empty() {
                    result.discontinuity |= marked;
                    if total == 0 {
                        st.stats.empty_events = st.stats.empty_events.saturating_add(1);
                    } else {
                        st.stats.events_packed = st.stats.events_packed.saturating_add(1);
                    }
                    done.push_back(ev);
                    continue;
                }
                let space = usable.saturating_sub(pos);
                let piece = format.piece(space, rest.len());
                let chunk = piece.and_then(|n| rest.get(..n));
                let mut ks_base = st.ks_base;
                let end = chunk.and_then(|chunk| match format {
                    PackerFormat::DirectMusic => {
                        let delta = ev.time().saturating_sub(base_time);
                        write_dmus(buf, pos, chunk, ev.channel_group(), delta)
                    }
                    PackerFormat::Ks => {
                        let (ms, advanced) = ks_delta(ev.time(), ks_base.unwrap_or(base_time));
                        ks_base = Some(advanced);
                        write_ks(buf, pos, chunk, ms)
                    }
                });
                let (Some(end), Some(n)) = (end, piece) else {
                    // No room left in this buffer: the event waits for the next one.
                    st.offset = offset;
                    st.queue.push_front(ev);
                    break;
                };
                st.ks_base = ks_base;
                pos = end;
                result.discontinuity |= marked;
                st.stats.records = st.stats.records.saturating_add(1);
                let copied = offset.saturating_add(n);
                if copied >= total {
                    st.stats.events_packed = st.stats.events_packed.saturating_add(1);
                    done.push_back(ev);
                } else {
                    st.offset = copied;
                    st.queue.push_front(ev);
                }
            }
            st.stats.bytes = st.stats.bytes.saturating_add(pos as u64);
        }
        drop(done);
        result.bytes = pos;
        result
    }

    fn queued(&self) -> usize {
        self.state.lock().queue.len()
    }

    fn stats(&self) -> PackerStats {
        self.state.lock().stats
    }
}

impl Drop for Packer {
    fn drop(&mut self) {
        let head = self.state.get_mut().queue.take();
        // SAFETY: the queue owned this chain of events of our allocator; it is handed back whole.
        drop(unsafe { Chain::from_raw(head, &self.alloc) });
    }
}

impl IMXF_Impl for Packer {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        let residual = {
            let mut st = self.state.lock();
            let old = core::mem::replace(&mut st.state, state);
            if old == KSSTATE_STOP && state == KSSTATE_ACQUIRE {
                st.ks_base = None;
                st.offset = 0;
                st.stats.discarded = st.stats.discarded.saturating_add(st.queue.len() as u64);
                st.queue.take()
            } else {
                null_mut()
            }
        };
        // SAFETY: the queue owned this chain of events of our allocator; it is handed back whole,
        // outside the lock.
        drop(unsafe { Chain::from_raw(residual, &self.alloc) });
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        self.put(event)
    }

    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }

    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

/// An owned packer with access to `fill`, its queue and its counters. Derefs to [`IMXF`].
pub type PackerHandle = ObjectHandle<Packer, IMXF>;

impl ObjectHandle<Packer, IMXF> {
    /// Creates a packer for `format` (in `KSSTATE_STOP`) that recycles into `alloc`.
    /// `STATUS_INSUFFICIENT_RESOURCES` if the object cannot be allocated.
    pub fn new(alloc: IAllocatorMXF, format: PackerFormat) -> Result<Self> {
        Self::create(Packer::new(alloc, format))
    }

    fn object(&self) -> &Packer {
        self.value()
    }

    /// Copies queued events into `buf` (one capture IRP) as records (§5.3: DMUS_EVENTHEADER with
    /// dwFlags 0, rtDelta = event time − `base_time`, records on 8-byte boundaries, usable length
    /// truncated to a multiple of 8; KS: KSMUSICFORMAT with TimeDeltaMs, 4-byte padding). A long
    /// event is split across calls when it does not fit; each event goes back to the allocator
    /// once fully copied. Stops when the remaining space is smaller than the smallest record (24
    /// bytes DirectMusic, 9 bytes KS), so a buffer smaller than that
    /// ([`PackerFormat::holds_a_record`] false) gets nothing and the queue stays as it was.
    /// `discontinuity` if any copied event carried 0x8000.
    pub fn fill(&self, buf: &mut [u8], base_time: i64) -> PackerFill {
        self.object().fill(buf, base_time)
    }

    /// Events waiting to be copied (a partly copied one included).
    pub fn queued(&self) -> usize {
        self.object().queued()
    }

    /// The format this packer writes.
    pub fn format(&self) -> PackerFormat {
        self.object().format
    }

    /// The counters.
    pub fn stats(&self) -> PackerStats {
        self.object().stats()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Packed-format tests (`domain.md` §5.1, §5.3, §6 item 57) and the capture pipeline
    //! (capture sink → packer), driven through IMXF as the port drives them.
    extern crate std;

    use super::*;
    use crate::abi::{
        DMUS_EVENTHEADER, DMUS_KEF_EVENT_INCOMPLETE, INLINE_DATA_BYTES, KSMUSICFORMAT,
        KSSTATE_PAUSE, KSSTATE_RUN,
    };
    use crate::allocator::{AllocatorConfig, AllocatorHandle};
    #[allow(unused_imports)]
    use crate::com::{Interface, IntoComObject};
    use crate::components::capture_sink::CaptureSinkHandle;
    use crate::event::Event;
    use std::vec;
    use std::vec::Vec;

    const INC: u16 = DMUS_KEF_EVENT_INCOMPLETE;
    const DISC: u16 = DMUS_KEF_CAPTURE_DISCONTINUITY;
    const BASE: i64 = 50_000_000;

    struct Rig {
        alloc: AllocatorHandle,
        packer: PackerHandle,
    }

    impl Rig {
        fn new(format: PackerFormat) -> Self {
            let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
            let packer = PackerHandle::new(alloc.interface().clone(), format).unwrap();
            Self { alloc, packer }
        }

        fn event(&self, bytes: &[u8], group: u16, time: i64, flags: u16) -> Event<'_> {
            let mut e = Event::with_bytes(self.alloc.interface(), bytes, group, time).unwrap();
            e.set_flags(flags);
            e
        }

        fn put(&self, events: Vec<Event<'_>>) {
            let mut c = Chain::new(self.alloc.interface());
            for e in events {
                c.push_back(e);
            }
            // SAFETY: the chain's events come from this rig's allocator and are handed over.
            let s = unsafe { self.packer.PutMessage(c.into_raw()) };
            assert_eq!(s, STATUS_SUCCESS);
        }

        fn assert_balanced(&self) {
            let s = self.alloc.stats();
            assert_eq!(s.outstanding_events, 0, "{s:?}");
            assert_eq!(s.outstanding_buffers, 0, "{s:?}");
            assert_eq!(s.anomalies.misuse(), 0, "{s:?}");
        }
    }

    /// A DirectMusic record read back: header, data, and where it started.
    #[derive(Debug)]
    struct DmusRecord {
        at: usize,
        cb: u32,
        group: u32,
        delta: i64,
        flags: u32,
        data: Vec<u8>,
    }

    fn parse_dmus(buf: &[u8]) -> Vec<DmusRecord> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 20 <= buf.len() {
            let h = &buf[pos..pos + 20];
            // SAFETY: 20 readable bytes; DMUS_EVENTHEADER is plain data read unaligned.
            let hdr: DMUS_EVENTHEADER =
                unsafe { h.as_ptr().cast::<DMUS_EVENTHEADER>().read_unaligned() };
            let cb = hdr.cbEvent;
            let data = buf[pos + 20..pos + 20 + cb as usize].to_vec();
            // Padding is zero.
            let end = pos + DMUS_EVENT_SIZE(cb as usize);
            assert!(buf[pos + 20 + cb as usize..end].iter().all(|&b| b == 0));
            out.push(DmusRecord {
                at: pos,
                cb,
                group: hdr.dwChannelGroup,
                delta: hdr.rtDelta,
                flags: hdr.dwFlags,
                data,
            });
            pos = end;
        }
        assert_eq!(pos, buf.len(), "records fill the used bytes exactly");
        out
    }

    fn parse_ks(buf: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 8 <= buf.len() {
            // SAFETY: 8 readable bytes; KSMUSICFORMAT is plain data read unaligned.
            let h: KSMUSICFORMAT =
                unsafe { buf[pos..].as_ptr().cast::<KSMUSICFORMAT>().read_unaligned() };
            let n = h.ByteCount as usize;
            out.push((h.TimeDeltaMs, buf[pos + 8..pos + 8 + n].to_vec()));
            pos = (pos + 8 + n + 3) & !3;
        }
        out
    }

    #[test]
    fn a_misaligned_chain_head_is_refused_unread() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        let bad = core::ptr::without_provenance_mut::<DMUS_KERNEL_EVENT>(0x1003);
        // SAFETY: the packer must refuse the pointer without dereferencing it.
        let status = unsafe { rig.packer.PutMessage(bad) };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
        rig.assert_balanced();
    }

    #[test]
    fn item_57_records_have_dwflags_0_rtdelta_and_8_byte_alignment() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        let sx: Vec<u8> = [0xF0].into_iter().chain(1..29).chain([0xF7]).collect();
        rig.put(vec![
            rig.event(&[0x90, 0x3C, 0x40], 1, BASE + 100, 0),
            rig.event(&[0xC0, 0x05], 2, BASE + 250, 0),
            rig.event(&sx, 0x1234, BASE + 300, 0),
            rig.event(&[0xF8], 1, BASE - 10, 0),
        ]);
        assert_eq!(rig.packer.queued(), 4);
        let mut buf = [0xAAu8; 256];
        let fill = rig.packer.fill(&mut buf, BASE);
        assert_eq!(
            fill,
            PackerFill {
                bytes: 24 + 24 + 56 + 24,
                discontinuity: false
            }
        );
        let recs = parse_dmus(&buf[..fill.bytes]);
        let got: Vec<(usize, u32, u32, i64, u32, Vec<u8>)> = recs
            .into_iter()
            .map(|r| (r.at, r.cb, r.group, r.delta, r.flags, r.data))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 3, 1, 100, 0, vec![0x90, 0x3C, 0x40]),
                (24, 2, 2, 250, 0, vec![0xC0, 0x05]),
                (48, 30, 0x1234, 300, 0, sx.clone()),
                (104, 1, 1, -10, 0, vec![0xF8]),
            ]
        );
        assert_eq!(rig.packer.queued(), 0);
        assert_eq!(rig.packer.stats().events_packed, 4);
        rig.assert_balanced();
    }

    #[test]
    fn item_57_usable_length_is_a_multiple_of_8_and_small_space_stops() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        rig.put(vec![
            rig.event(&[0x90, 0x3C, 0x40], 1, BASE, 0),
            rig.event(&[0x80, 0x3C, 0x00], 1, BASE, 0),
        ]);
        // 47 bytes: 40 usable; after one record 16 are left, less than the smallest record.
        let mut buf = [0u8; 47];
        assert_eq!(rig.packer.fill(&mut buf, BASE).bytes, 24);
        assert_eq!(rig.packer.queued(), 1);
        // 23 bytes: nothing fits.
        let mut small = [0u8; 23];
        assert_eq!(rig.packer.fill(&mut small, BASE).bytes, 0);
        assert_eq!(rig.packer.fill(&mut [], BASE).bytes, 0);
        assert_eq!(rig.packer.fill(&mut buf[..24], BASE).bytes, 24);
        assert_eq!(rig.packer.queued(), 0);
        rig.assert_balanced();
    }

    #[test]
    fn item_57_long_event_is_split_across_irps() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        let sx: Vec<u8> = (0..240).map(|i| (i % 0x80) as u8).collect();
        rig.put(vec![
            rig.event(&sx, 1, BASE + 5, INC),
            rig.event(&[0xF7], 1, BASE + 6, 0),
        ]);
        let mut data = Vec::new();
        let mut fills = 0;
        loop {
            let mut buf = [0u8; 64];
            let f = rig.packer.fill(&mut buf, BASE + 1);
            if f.bytes == 0 {
                break;
            }
            fills += 1;
            for r in parse_dmus(&buf[..f.bytes]) {
                assert_eq!(
                    (r.delta, r.flags),
                    (if r.data == [0xF7] { 5 } else { 4 }, 0)
                );
                data.extend(r.data);
            }
            // The long event is returned only once fully copied.
            if data.len() < 240 {
                assert_eq!(rig.alloc.stats().outstanding_buffers, 1);
            }
        }
        // 44 data bytes per 64-byte IRP (5 × 44 + 20), the last IRP also holds the F7.
        assert_eq!(fills, 6);
        assert_eq!(data, [sx, vec![0xF7]].concat());
        rig.assert_balanced();
    }

    #[test]
    fn discontinuity_mark_is_reported() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        rig.put(vec![
            rig.event(&[0x90, 0x3C, 0x40], 1, BASE, 0),
            rig.event(&[0x90, 0x3C], 1, BASE, INC | DISC),
        ]);
        let mut buf = [0u8; 24];
        assert!(!rig.packer.fill(&mut buf, BASE).discontinuity);
        assert!(rig.packer.fill(&mut buf, BASE).discontinuity);
        assert!(!rig.packer.fill(&mut buf, BASE).discontinuity);
        rig.assert_balanced();
    }

    #[test]
    fn packages_are_unwrapped_and_empty_events_skipped() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        let alloc = rig.alloc.interface();
        let mut contents = Chain::new(alloc);
        contents.push_back(rig.event(&[0xC0, 0x01], 1, BASE, 0));
        contents.push_back(rig.event(&[], 1, BASE, 0));
        let shell = Event::new(alloc).unwrap();
        let shell = shell.into_package(contents).unwrap();
        rig.put(vec![shell, rig.event(&[0xC0, 0x02], 1, BASE, 0)]);
        assert_eq!(rig.packer.queued(), 3);
        let mut buf = [0u8; 128];
        let f = rig.packer.fill(&mut buf, BASE);
        let data: Vec<Vec<u8>> = parse_dmus(&buf[..f.bytes])
            .into_iter()
            .map(|r| r.data)
            .collect();
        assert_eq!(data, vec![vec![0xC0, 0x01], vec![0xC0, 0x02]]);
        assert_eq!(rig.packer.stats().empty_events, 1);
        rig.assert_balanced();
    }

    #[test]
    fn imxf_methods_connect_state_and_null() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        // SAFETY: live interfaces; NULL is allowed.
        unsafe {
            assert_eq!(rig.packer.ConnectOutput(None), STATUS_NOT_IMPLEMENTED);
            assert_eq!(
                rig.packer.ConnectOutput(Some(rig.packer.to_ref())),
                STATUS_NOT_IMPLEMENTED
            );
            assert_eq!(rig.packer.DisconnectOutput(None), STATUS_NOT_IMPLEMENTED);
            assert_eq!(rig.packer.PutMessage(core::ptr::null_mut()), STATUS_SUCCESS);
            assert_eq!(rig.packer.SetState(KSSTATE(9)), STATUS_INVALID_PARAMETER);
        }
        // Queued in STOP; ACQUIRE from STOP returns residual data.
        rig.put(vec![rig.event(&[0xF8], 1, BASE, 0)]);
        assert_eq!(rig.packer.queued(), 1);
        assert_eq!(rig.packer.SetState(KSSTATE_ACQUIRE), STATUS_SUCCESS);
        assert_eq!(rig.packer.queued(), 0);
        assert_eq!(rig.packer.stats().discarded, 1);
        rig.assert_balanced();
        // Other transitions keep the queue.
        rig.put(vec![rig.event(&[0xF8], 1, BASE, 0)]);
        assert_eq!(rig.packer.SetState(KSSTATE_PAUSE), STATUS_SUCCESS);
        assert_eq!(rig.packer.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        assert_eq!(rig.packer.SetState(KSSTATE_PAUSE), STATUS_SUCCESS);
        assert_eq!(rig.packer.SetState(KSSTATE_ACQUIRE), STATUS_SUCCESS);
        assert_eq!(rig.packer.queued(), 1);
        rig.assert_balanced_after_drop();
    }

    impl Rig {
        fn assert_balanced_after_drop(self) {
            let Rig { alloc, packer } = self;
            drop(packer);
            let s = alloc.stats();
            assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
        }
    }

    #[test]
    fn dropping_the_packer_returns_the_queue_and_a_partly_copied_event() {
        let rig = Rig::new(PackerFormat::DirectMusic);
        let sx: Vec<u8> = (0..100).collect();
        rig.put(vec![
            rig.event(&sx, 1, BASE, INC),
            rig.event(&[0xF8], 1, BASE, 0),
        ]);
        let mut buf = [0u8; 32];
        assert_eq!(rig.packer.fill(&mut buf, BASE).bytes, 32);
        assert_eq!(rig.packer.queued(), 2);
        assert_eq!(rig.alloc.stats().outstanding_events, 2);
        rig.assert_balanced_after_drop();
    }

    #[test]
    fn ks_format_packets_time_deltas_and_padding() {
        let rig = Rig::new(PackerFormat::Ks);
        assert_eq!(rig.packer.SetState(KSSTATE_ACQUIRE), STATUS_SUCCESS);
        rig.put(vec![
            rig.event(&[0x90, 0x3C, 0x40], 1, BASE + 25_000, 0),
            rig.event(&[0xF8], 1, BASE + 29_999, 0),
            rig.event(&[0xC0, 0x05], 1, BASE + 40_000, 0),
            rig.event(&[0xFE], 1, BASE - 70_000, 0),
        ]);
        let mut buf = [0u8; 64];
        let f = rig.packer.fill(&mut buf, BASE);
        assert_eq!(f.bytes, 12 + 12 + 12 + 12);
        assert_eq!(
            parse_ks(&buf[..f.bytes]),
            vec![
                (2, vec![0x90, 0x3C, 0x40]),
                // 2.9999 ms after BASE: 0 ms after the running base (BASE + 2 ms).
                (0, vec![0xF8]),
                (2, vec![0xC0, 0x05]),
                // Earlier than the running base.
                (0, vec![0xFE]),
            ]
        );
        // The running base carries over to the next IRP.
        rig.put(vec![rig.event(&[0xF8], 1, BASE + 100_000, 0)]);
        let f = rig.packer.fill(&mut buf, BASE + 90_000);
        assert_eq!(parse_ks(&buf[..f.bytes]), vec![(6, vec![0xF8])]);
        // ACQUIRE from STOP resets it to the next IRP's base.
        assert_eq!(rig.packer.SetState(KSSTATE_STOP), STATUS_SUCCESS);
        assert_eq!(rig.packer.SetState(KSSTATE_ACQUIRE), STATUS_SUCCESS);
        rig.put(vec![rig.event(&[0xF8], 1, BASE + 100_000, 0)]);
        let f = rig.packer.fill(&mut buf, BASE + 90_000);
        assert_eq!(parse_ks(&buf[..f.bytes]), vec![(1, vec![0xF8])]);
        rig.assert_balanced();
    }

    #[test]
    fn ks_format_smallest_record_is_9_bytes() {
        let rig = Rig::new(PackerFormat::Ks);
        let sx: Vec<u8> = (0..20).collect();
        rig.put(vec![rig.event(&sx, 1, BASE, INC)]);
        let mut buf = [0u8; 8];
        assert_eq!(rig.packer.fill(&mut buf, BASE).bytes, 0);
        // 9 bytes: one byte, no room for padding.
        let mut buf = [0u8; 9];
        assert_eq!(rig.packer.fill(&mut buf, BASE).bytes, 9);
        assert_eq!(parse_ks(&buf), vec![(0, vec![0])]);
        // 14 bytes: 6 data bytes, packet of 14 (padding cut at the end of the buffer).
        let mut buf = [0u8; 14];
        assert_eq!(rig.packer.fill(&mut buf, BASE).bytes, 14);
        assert_eq!(parse_ks(&buf), vec![(0, (1..7).collect())]);
        let mut buf = [0u8; 64];
        let f = rig.packer.fill(&mut buf, BASE);
        assert_eq!(f.bytes, 8 + 13 + 3);
        assert_eq!(parse_ks(&buf[..f.bytes]), vec![(0, (7..20).collect())]);
        rig.assert_balanced();
    }

    /// A tiny MIDI splitter for reading packed output back: SysEx until F7, real-time bytes
    /// alone, other messages by status.
    fn split_messages(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        let mut need = 0usize;
        let mut in_sysex = false;
        for &b in bytes {
            if b >= 0xF8 {
                out.push(vec![b]);
            } else if in_sysex {
                cur.push(b);
                if b == 0xF7 {
                    out.push(core::mem::take(&mut cur));
                    in_sysex = false;
                }
            } else if b == 0xF0 {
                cur = vec![b];
                in_sysex = true;
            } else if b >= 0x80 {
                cur = vec![b];
                need = match b {
                    0xC0..=0xDF | 0xF1 | 0xF3 => 1,
                    0xF4..=0xF7 => 0,
                    _ => 2,
                };
                if need == 0 {
                    out.push(core::mem::take(&mut cur));
                }
            } else {
                cur.push(b);
                need -= 1;
                if need == 0 {
                    out.push(core::mem::take(&mut cur));
                }
            }
        }
        assert!(cur.is_empty());
        out
    }

    /// The wire stream of the pipeline tests and the messages it must come out as.
    fn wire() -> (Vec<u8>, Vec<Vec<u8>>) {
        let sysex_len = if cfg!(miri) { 60 } else { 300 };
        let sx: Vec<u8> = [0xF0]
            .into_iter()
            .chain((1..sysex_len - 1).map(|i| (i % 0x80) as u8))
            .chain([0xF7])
            .collect();
        let mut wire = vec![0x90, 0x3C, 0x40, 0x3E, 0x40, 0xF8, 0x80, 0x3C, 0x00];
        wire.extend(&sx);
        wire.extend([0xC0, 0x05, 0x90, 0x40, 0xF8, 0x7F, 0xB0, 0x07, 0x64, 0xF6]);
        let expected = vec![
            vec![0x90, 0x3C, 0x40],
            vec![0x90, 0x3E, 0x40],
            vec![0xF8],
            vec![0x80, 0x3C, 0x00],
            sx,
            vec![0xC0, 0x05],
            vec![0xF8],
            vec![0x90, 0x40, 0x7F],
            vec![0xB0, 0x07, 0x64],
            vec![0xF6],
        ];
        (wire, expected)
    }

    struct Pipeline {
        alloc: AllocatorHandle,
        sink: CaptureSinkHandle,
        packer: PackerHandle,
    }

    impl Pipeline {
        fn new(format: PackerFormat) -> Self {
            let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
            let sink = CaptureSinkHandle::new(alloc.interface().clone()).unwrap();
            let packer = PackerHandle::new(alloc.interface().clone(), format).unwrap();
            // The port's wiring and state order (packer first going up).
            assert_eq!(sink.ConnectOutput(Some(packer.to_ref())), STATUS_SUCCESS);
            for s in [KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN] {
                assert_eq!(packer.SetState(s), STATUS_SUCCESS);
                assert_eq!(sink.SetState(s), STATUS_SUCCESS);
            }
            Self {
                alloc,
                sink,
                packer,
            }
        }

        /// DMusUART-style capture: each "interrupt" reads `per_call` bytes, sent as a chain of
        /// `sizeof(PBYTE)`-byte INCOMPLETE fragments on group 1, all stamped with one time.
        fn capture(&self, wire: &[u8], per_call: usize, t0: i64, step: i64) -> Vec<i64> {
            let mut times = Vec::new();
            for (k, call) in wire.chunks(per_call).enumerate() {
                let t = t0 + step * k as i64;
                let mut c = Chain::new(self.alloc.interface());
                for frag in call.chunks(INLINE_DATA_BYTES) {
                    let mut e = Event::with_bytes(self.alloc.interface(), frag, 1, t).unwrap();
                    e.set_incomplete(true);
                    c.push_back(e);
                }
                // SAFETY: the chain's events come from the pipeline's allocator.
                let s = unsafe { self.sink.PutMessage(c.into_raw()) };
                assert_eq!(s, STATUS_SUCCESS);
                times.extend(core::iter::repeat_n(t, call.len()));
            }
            times
        }
    }

    #[test]
    fn pipeline_directmusic_fragments_in_records_out() {
        let p = Pipeline::new(PackerFormat::DirectMusic);
        let (wire, expected) = wire();
        let times = p.capture(&wire, 20, BASE, 10_000);
        let mut data = Vec::new();
        let mut first_delta = None;
        let mut irps = 0;
        loop {
            let mut irp = [0u8; 96];
            let f = p.packer.fill(&mut irp, BASE);
            if f.bytes == 0 {
                break;
            }
            irps += 1;
            assert!(!f.discontinuity);
            for r in parse_dmus(&irp[..f.bytes]) {
                assert_eq!((r.group, r.flags), (1, 0));
                first_delta.get_or_insert(r.delta);
                data.extend(r.data);
            }
        }
        assert!(irps > 1);
        assert_eq!(first_delta, Some(0));
        assert_eq!(split_messages(&data), expected);
        // The last message came from the last call.
        assert_eq!(
            *times.last().unwrap(),
            BASE + 10_000 * ((wire.len() as i64 - 1) / 20)
        );
        assert_eq!(p.sink.stats().out_of_memory, 0);
        let Pipeline {
            alloc,
            sink,
            packer,
        } = p;
        drop(sink);
        drop(packer);
        let s = alloc.stats();
        assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
    }

    #[test]
    fn pipeline_directmusic_times_are_those_of_the_first_byte() {
        let p = Pipeline::new(PackerFormat::DirectMusic);
        // 90 3C | 40 3E | 40 — three calls, 1 ms apart.
        p.capture(&[0x90, 0x3C, 0x40, 0x3E, 0x40], 2, BASE + 10_000, 10_000);
        let mut irp = [0u8; 64];
        let f = p.packer.fill(&mut irp, BASE);
        let got: Vec<(i64, Vec<u8>)> = parse_dmus(&irp[..f.bytes])
            .into_iter()
            .map(|r| (r.delta, r.data))
            .collect();
        assert_eq!(
            got,
            vec![
                (10_000, vec![0x90, 0x3C, 0x40]),
                (20_000, vec![0x90, 0x3E, 0x40])
            ]
        );
        let s = p.alloc.stats();
        assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
    }

    #[test]
    fn pipeline_ks_fragments_in_packets_out() {
        let p = Pipeline::new(PackerFormat::Ks);
        let (wire, expected) = wire();
        p.capture(&wire, 16, BASE + 30_000, 10_000);
        let mut data = Vec::new();
        let mut elapsed_ms = 0u64;
        loop {
            let mut irp = [0u8; 100];
            let f = p.packer.fill(&mut irp, BASE);
            if f.bytes == 0 {
                break;
            }
            for (ms, d) in parse_ks(&irp[..f.bytes]) {
                elapsed_ms += u64::from(ms);
                data.extend(d);
            }
        }
        assert_eq!(split_messages(&data), expected);
        // Σ TimeDeltaMs reaches the last message's call (whole milliseconds after BASE).
        let calls = wire.len().div_ceil(16) as u64;
        assert_eq!(elapsed_ms, 3 + (calls - 1));
        let s = p.alloc.stats();
        assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
    }

    #[test]
    fn pipeline_reports_discontinuity_and_flush() {
        let p = Pipeline::new(PackerFormat::DirectMusic);
        p.capture(&[0x90, 0x3C, 0x40, 0x90, 0x3E], 8, BASE, 0);
        let mut irp = [0u8; 64];
        let f = p.packer.fill(&mut irp, BASE);
        assert_eq!(
            f,
            PackerFill {
                bytes: 24,
                discontinuity: false
            }
        );
        // PAUSE → ACQUIRE: the pin flushes the sink; the fragment reaches the IRP, marked.
        p.sink.flush();
        let f = p.packer.fill(&mut irp, BASE);
        assert_eq!(
            f,
            PackerFill {
                bytes: 24,
                discontinuity: true
            }
        );
        assert_eq!(parse_dmus(&irp[..24])[0].data, vec![0x90, 0x3E]);
        let s = p.alloc.stats();
        assert_eq!((s.outstanding_events, s.outstanding_buffers), (0, 0));
    }
}
