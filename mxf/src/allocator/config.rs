//! Allocator configuration.

use crate::abi::{NonPagedPool, POOL_TYPE};

/// What `GetBuffer` reports when it hands out no buffer: the pool could not allocate a page, or
/// [`AllocatorConfig::max_buffers`] buffers are outstanding. Either way `*ppBuffer` is NULL and
/// the refusal is counted in the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GetBufferFailure {
    /// `STATUS_INSUFFICIENT_RESOURCES` (the default; a deliberate deviation from Microsoft's
    /// allocator, `domain.md` §6 item 21).
    #[default]
    ReportError,
    /// `STATUS_SUCCESS`, as Microsoft's allocator does (bug-compatible): its `GetBuffer` never
    /// returns another status, so callers written for it look at the pointer. This holds at
    /// the bound too.
    BugCompatible,
}

/// How an allocator is built. `Default` is Microsoft-compatible: nonpaged pool, no bound, no
/// pre-fill (the first `GetMessage` allocates the first page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocatorConfig {
    /// Pool for events, buffers and the page tables.
    pub pool: POOL_TYPE,
    /// At most this many events outstanding at once; `GetMessage` beyond it returns
    /// `STATUS_INSUFFICIENT_RESOURCES` until events come back. `None`: no bound.
    pub max_events: Option<u32>,
    /// The same bound for long-event buffers: `GetBuffer` beyond it answers as
    /// [`get_buffer_failure`](Self::get_buffer_failure) says.
    pub max_buffers: Option<u32>,
    /// Events to allocate at creation (rounded up to whole pages). Creation fails with
    /// `STATUS_INSUFFICIENT_RESOURCES` if they cannot be allocated.
    pub prefill_events: u32,
    /// `GetBuffer`'s status when it hands out no buffer.
    pub get_buffer_failure: GetBufferFailure,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        Self {
            pool: NonPagedPool,
            max_events: None,
            max_buffers: None,
            prefill_events: 0,
            get_buffer_failure: GetBufferFailure::ReportError,
        }
    }
}
