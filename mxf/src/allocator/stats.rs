//! Allocator statistics.

/// Misuse the allocator detected and refused. None of these corrupts the pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// An event put while already in the pool (its chain was not followed further).
    pub double_puts: u64,
    /// A pointer this allocator never handed out (not followed, not written).
    pub foreign_events: u64,
    /// A chain or package that leads back to an event of the same put.
    pub cycles: u64,
    /// A long event whose buffer is not one of this allocator's (not freed), or NULL; also
    /// `PutBuffer` of such a pointer.
    pub foreign_buffers: u64,
    /// A buffer returned while already in the pool.
    pub double_buffer_puts: u64,
    /// `GetMessage`/`GetBuffer` refused at the configured bound.
    pub bound_refusals: u64,
    /// `GetMessage`/`GetBuffer` failed because the pool could not grow.
    pub allocation_failures: u64,
}

impl Anomalies {
    /// Misuse by callers (everything but bound refusals and allocation failures).
    pub fn misuse(&self) -> u64 {
        [
            self.foreign_events,
            self.cycles,
            self.foreign_buffers,
            self.double_buffer_puts,
        ]
        .iter()
        .fold(self.double_puts, |a, &b| a.saturating_add(b))
    }
}

/// A snapshot of an allocator's books. `outstanding_* = total_* − free_*` always holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Events handed out and not yet returned.
    pub outstanding_events: u64,
    /// Events in the pool.
    pub free_events: u64,
    /// Events in all pages.
    pub total_events: u64,
    /// Long-event buffers handed out and not yet returned.
    pub outstanding_buffers: u64,
    /// Buffers in the pool.
    pub free_buffers: u64,
    /// Buffers in all pages.
    pub total_buffers: u64,
    /// Pages of events.
    pub event_pages: u64,
    /// Pages of buffers.
    pub buffer_pages: u64,
    /// Most events ever outstanding at once.
    pub high_water_events: u64,
    /// Most buffers ever outstanding at once.
    pub high_water_buffers: u64,
    /// Successful `GetMessage` calls.
    pub gets: u64,
    /// `PutMessage` calls with a non-NULL argument.
    pub puts: u64,
    /// `PositionNotify` calls made.
    pub position_notifications: u64,
    /// Byte positions at or above `0xFFFF_FFFF_FFFF_F000` (about to roll over) in events put
    /// back, counted only by an allocator with a notification target: without one, byte
    /// positions are never notified, so they are not read.
    pub position_rollover_warnings: u64,
    /// Times the lock was taken by `GetMessage`, `PutMessage`, `GetBuffer` and `PutBuffer`.
    pub lock_acquisitions: u64,
    /// Pages freed by trimming.
    pub trimmed_pages: u64,
    /// Refused misuse and failures.
    pub anomalies: Anomalies,
}
