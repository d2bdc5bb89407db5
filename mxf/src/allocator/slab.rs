//! Pages of fixed-size slots with an address-sorted page table, so that any pointer can be
//! checked for membership by comparing addresses only (never reading foreign memory).
//!
//! Invariants:
//! * S1: `table[..len]` holds the base pointers of live pages, sorted by address, no duplicates.
//! * S2: each page is one pool block of `PER_PAGE` slots of `S` (`Layout::array::<S>(PER_PAGE)`),
//!   allocated under `page_tag` and owned by this table until `remove`/`free_all`.
//! * S3: `table` is a pool block of `cap` pointers under `table_tag` (or dangling when `cap == 0`).

use crate::abi::POOL_TYPE;
use crate::platform::{pool_alloc, pool_free};
use core::alloc::Layout;
use core::mem::size_of;
use core::ptr::NonNull;

pub(crate) struct Slabs<S, const PER_PAGE: usize> {
    table: NonNull<NonNull<S>>,
    len: usize,
    cap: usize,
    pool: POOL_TYPE,
    page_tag: u32,
    table_tag: u32,
    /// Index of the page of the last successful lookup (chains usually stay on one page).
    hint: usize,
}

// SAFETY: the table owns its pages exclusively (S2); access is serialised by the allocator's lock.
unsafe impl<S, const N: usize> Send for Slabs<S, N> {}

impl<S, const PER_PAGE: usize> Slabs<S, PER_PAGE> {
    pub(crate) const fn new(pool: POOL_TYPE, page_tag: u32, table_tag: u32) -> Self {
        Self {
            table: NonNull::dangling(),
            len: 0,
            cap: 0,
            pool,
            page_tag,
            table_tag,
            hint: 0,
        }
    }

    fn page_layout() -> Option<Layout> {
        Layout::array::<S>(PER_PAGE).ok()
    }

    /// Bytes covered by one page.
    const PAGE_BYTES: usize = PER_PAGE * size_of::<S>();

    fn slice(&self) -> &[NonNull<S>] {
        if self.cap == 0 {
            return &[];
        }
        // SAFETY: S1/S3: the first `len` entries of the table block are initialised.
        unsafe { core::slice::from_raw_parts(self.table.as_ptr(), self.len) }
    }

    /// The slot whose byte `offset_in_slot` is at address `addr`, if `addr` is exactly that byte
    /// of a slot of one of our pages. Compares addresses only; never reads the pointer.
    #[inline]
    pub(crate) fn lookup(&mut self, addr: usize, offset_in_slot: usize) -> Option<NonNull<S>> {
        let pages = self.slice();
        let hinted = pages.get(self.hint).copied();
        if let Some(slot) = hinted.and_then(|base| Self::slot_in(base, addr, offset_in_slot)) {
            return Some(slot);
        }
        // The last page whose base is <= addr.
        let idx = pages
            .partition_point(|p| p.as_ptr().addr() <= addr)
            .checked_sub(1)?;
        let base = *pages.get(idx)?;
        let slot = Self::slot_in(base, addr, offset_in_slot)?;
        self.hint = idx;
        Some(slot)
    }

    #[inline]
    fn slot_in(base: NonNull<S>, addr: usize, offset_in_slot: usize) -> Option<NonNull<S>> {
        let rel = addr
            .checked_sub(base.as_ptr().addr())?
            .checked_sub(offset_in_slot)?;
        if rel >= Self::PAGE_BYTES || rel.checked_rem(size_of::<S>()) != Some(0) {
            return None;
        }
        // SAFETY: `rel / size_of::<S>() < PER_PAGE`, so the slot lies inside the page (S2); the
        // pointer is derived from the page's own pointer and keeps its provenance.
        Some(unsafe { base.add(rel.checked_div(size_of::<S>())?) })
    }

    /// Allocates a page, records it, and returns it (slots uninitialised). `None` if the pool
    /// cannot supply the page or a larger table.
    pub(crate) fn add_page(&mut self) -> Option<NonNull<S>> {
        if self.len == self.cap && !self.grow() {
            return None;
        }
        let layout = Self::page_layout()?;
        let page = pool_alloc(self.pool, self.page_tag, layout)?.cast::<S>();
        let addr = page.as_ptr().addr();
        let pos = self.slice().partition_point(|p| p.as_ptr().addr() < addr);
        // SAFETY: `len < cap` (grown above); shifting `len - pos` initialised entries up by one
        // stays inside the table block (S3); then `pos` is written.
        unsafe {
            let t = self.table.as_ptr();
            core::ptr::copy(
                t.add(pos),
                t.add(pos.wrapping_add(1)),
                self.len.wrapping_sub(pos),
            );
        }
        // SAFETY: `pos <= len < cap`.
        unsafe { self.table.as_ptr().add(pos).write(page) };
        self.len = self.len.wrapping_add(1);
        Some(page)
    }

    fn grow(&mut self) -> bool {
        let new_cap = if self.cap == 0 {
            8
        } else {
            self.cap.saturating_mul(2)
        };
        let Ok(layout) = Layout::array::<NonNull<S>>(new_cap) else {
            return false;
        };
        let Some(block) = pool_alloc(self.pool, self.table_tag, layout) else {
            return false;
        };
        let block = block.cast::<NonNull<S>>();
        if self.cap != 0 {
            // SAFETY: copies the `len` initialised entries into the new, larger block; the old
            // block came from `pool_alloc` with this layout (S3).
            unsafe {
                core::ptr::copy_nonoverlapping(self.table.as_ptr(), block.as_ptr(), self.len);
                if let Ok(old) = Layout::array::<NonNull<S>>(self.cap) {
                    pool_free(self.table.cast(), self.pool, self.table_tag, old);
                }
            }
        }
        self.table = block;
        self.cap = new_cap;
        true
    }

    /// Frees every page for which `keep` returns false, keeping the table sorted.
    ///
    /// # Safety
    /// No pointer into a removed page is used afterwards.
    pub(crate) unsafe fn retain(&mut self, mut keep: impl FnMut(NonNull<S>) -> bool) {
        let Some(layout) = Self::page_layout() else {
            return;
        };
        let mut w = 0;
        for r in 0..self.len {
            // SAFETY: `r < len`: an initialised entry (S1).
            let page = unsafe { self.table.as_ptr().add(r).read() };
            if keep(page) {
                // SAFETY: `w <= r < len`.
                unsafe { self.table.as_ptr().add(w).write(page) };
                w = w.wrapping_add(1);
            } else {
                // SAFETY: the page came from `pool_alloc` with this layout and tag (S2); the caller
                // guarantees no further use.
                unsafe { pool_free(page.cast(), self.pool, self.page_tag, layout) };
            }
        }
        self.len = w;
    }

    /// The page pointers, in address order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = NonNull<S>> + '_ {
        self.slice().iter().copied()
    }

    /// Frees every page and the table.
    ///
    /// # Safety
    /// No pointer into any page is used afterwards.
    pub(crate) unsafe fn free_all(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.retain(|_| false) };
        self.forget_pages();
    }

    /// Frees the table but leaves the pages allocated (used when events are still outstanding
    /// at destruction: a leak is safer than memory that someone still writes to).
    pub(crate) fn forget_pages(&mut self) {
        if self.cap != 0
            && let Ok(old) = Layout::array::<NonNull<S>>(self.cap)
        {
            // SAFETY: the table block came from `pool_alloc` with this layout (S3).
            unsafe { pool_free(self.table.cast(), self.pool, self.table_tag, old) };
        }
        self.table = NonNull::dangling();
        self.len = 0;
        self.cap = 0;
    }
}
