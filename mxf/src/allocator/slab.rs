//! Pages of fixed-size slots with an address-sorted page table, so that any pointer can be
//! checked for membership by comparing addresses only (never reading foreign memory).
//!
//! Invariants:
//! * S1: `table[..len]` holds the base pointers of live pages, sorted by address, no duplicates.
//! * S2: each page is one pool block of `PER_PAGE` slots of `S` (`Layout::array::<S>(PER_PAGE)`),
//!   allocated under `page_tag` and owned by this table until `remove`/`free_all`.
//! * S3: `table` is a pool block of `cap` pointers under `table_tag` (or dangling when `cap == 0`).
//! * S4: `hint` is NULL or one of the live pages of `table[..len]`.

use crate::abi::POOL_TYPE;
use crate::platform::{pool_alloc, pool_free};
use core::alloc::Layout;
use core::mem::size_of;
use core::ptr::NonNull;

/// The multiplicative inverse of the odd number `o` modulo 2^usize::BITS (Newton's iteration:
/// each step doubles the number of correct low bits, and `o` itself is correct to 3 bits).
const fn inverse_of_odd(o: usize) -> usize {
    let mut x = o;
    let mut i = 0u32;
    while i < 6 {
        x = x.wrapping_mul(2usize.wrapping_sub(o.wrapping_mul(x)));
        i = i.wrapping_add(1);
    }
    x
}

/// One page of a [`Slabs`] table, cached by a caller that checks many pointers in a row (the
/// put walk). Only valid while the table is not changed (the allocator's lock is held).
pub(crate) struct Page<S, const PER_PAGE: usize> {
    base: NonNull<S>,
}

impl<S, const PER_PAGE: usize> Clone for Page<S, PER_PAGE> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S, const PER_PAGE: usize> Copy for Page<S, PER_PAGE> {}

impl<S, const PER_PAGE: usize> Page<S, PER_PAGE> {
    const SIZE: usize = {
        assert!(size_of::<S>() > 0 && PER_PAGE > 0);
        size_of::<S>()
    };
    const TWOS: u32 = Self::SIZE.trailing_zeros();
    const INVERSE: usize = inverse_of_odd(Self::SIZE >> Self::TWOS);

    /// The distance of `addr` from byte `offset_in_slot` of the page's first slot (wrapping:
    /// an address below it gives a huge distance).
    #[inline(always)]
    pub(crate) fn distance(self, addr: usize, offset_in_slot: usize) -> usize {
        addr.wrapping_sub(self.base.as_ptr().addr())
            .wrapping_sub(offset_in_slot)
    }

    /// Whether a [`distance`](Self::distance) names a slot of this page: inside the page and a
    /// whole number of slots. `(x * inverse(odd part of SIZE)).rotate_right(twos)` is `x / SIZE`
    /// when `SIZE` divides `x`, and larger than `usize::MAX / SIZE` otherwise (exact division
    /// by multiplication), so one comparison with `PER_PAGE` checks range and alignment
    /// together, without a division.
    #[inline(always)]
    fn is_slot(x: usize) -> bool {
        x.wrapping_mul(Self::INVERSE).rotate_right(Self::TWOS) < PER_PAGE
    }

    /// The slot at address `slot_addr`, which must be a slot of this page (its distance passed
    /// [`is_slot`](Self::is_slot)). The pointer carries the page's provenance with that address,
    /// whatever pointer the address came from (and costs no arithmetic on the page's base).
    ///
    /// # Safety
    /// `slot_addr` is the address of a slot of this page.
    #[inline(always)]
    unsafe fn slot_at(self, slot_addr: usize) -> NonNull<S> {
        // SAFETY: the caller guarantees a slot of this page (S2), so not NULL.
        unsafe { NonNull::new_unchecked(self.base.as_ptr().with_addr(slot_addr)) }
    }

    /// A pointer with the page's provenance and the address `addr`, whatever pointer the
    /// address came from: computed from the address alone (the page's base cancels out, so
    /// code that loads through it waits for nothing else). It may be used only once
    /// [`slot_distance`](Self::slot_distance) said so.
    #[inline(always)]
    pub(crate) fn with_provenance(self, addr: usize) -> *mut u8 {
        self.base.as_ptr().cast::<u8>().with_addr(addr)
    }

    /// Bytes covered by the page's slots: a [`slot_distance`](Self::slot_distance) below it
    /// names a slot.
    pub(crate) const BYTES: usize = PER_PAGE * Self::SIZE;

    /// The [`distance`](Self::distance) of `addr` if it is byte `offset_in_slot` of a slot of
    /// this page (then below [`BYTES`](Self::BYTES) and a whole number of slots), else
    /// `usize::MAX`. Compares addresses only.
    #[inline(always)]
    pub(crate) fn slot_distance(self, addr: usize, offset_in_slot: usize) -> usize {
        let x = self.distance(addr, offset_in_slot);
        if Self::is_slot(x) { x } else { usize::MAX }
    }

    /// The slot whose byte `offset_in_slot` is at `addr`, if that slot is in this page.
    /// Compares addresses only.
    #[inline(always)]
    pub(crate) fn slot(self, addr: usize, offset_in_slot: usize) -> Option<NonNull<S>> {
        let x = self.distance(addr, offset_in_slot);
        if Self::is_slot(x) {
            // SAFETY: checked just above.
            Some(unsafe { self.slot_at(addr.wrapping_sub(offset_in_slot)) })
        } else {
            None
        }
    }
}

pub(crate) struct Slabs<S, const PER_PAGE: usize> {
    table: NonNull<NonNull<S>>,
    len: usize,
    cap: usize,
    pool: POOL_TYPE,
    page_tag: u32,
    table_tag: u32,
    /// The page of the last successful search (chains usually stay on one page), or NULL.
    hint: *mut S,
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
            hint: core::ptr::null_mut(),
        }
    }

    fn page_layout() -> Option<Layout> {
        Layout::array::<S>(PER_PAGE).ok()
    }

    fn slice(&self) -> &[NonNull<S>] {
        if self.cap == 0 {
            return &[];
        }
        // SAFETY: S1/S3: the first `len` entries of the table block are initialised.
        unsafe { core::slice::from_raw_parts(self.table.as_ptr(), self.len) }
    }

    /// The page of the last successful search, if there is any page.
    #[inline]
    pub(crate) fn hinted(&self) -> Option<Page<S, PER_PAGE>> {
        NonNull::new(self.hint).map(|base| Page { base })
    }

    /// The slot whose byte `offset_in_slot` is at address `addr`, if `addr` is exactly that byte
    /// of a slot of one of our pages. Compares addresses only; never reads the pointer.
    #[inline]
    pub(crate) fn lookup(&mut self, addr: usize, offset_in_slot: usize) -> Option<NonNull<S>> {
        if let Some(slot) = self.hinted().and_then(|p| p.slot(addr, offset_in_slot)) {
            return Some(slot);
        }
        self.search(addr, offset_in_slot).map(|(slot, _)| slot)
    }

    /// [`lookup`](Self::lookup) without the hint: a binary search of the page table. Also
    /// returns the page, which becomes the hint.
    pub(crate) fn search(
        &mut self,
        addr: usize,
        offset_in_slot: usize,
    ) -> Option<(NonNull<S>, Page<S, PER_PAGE>)> {
        let pages = self.slice();
        // The last page whose base is <= addr.
        let idx = pages
            .partition_point(|p| p.as_ptr().addr() <= addr)
            .checked_sub(1)?;
        let page = Page {
            base: *pages.get(idx)?,
        };
        let slot = page.slot(addr, offset_in_slot)?;
        self.hint = page.base.as_ptr();
        Some((slot, page))
    }

    /// Allocates a page, records it, and returns it (slots zeroed). `None` if the pool cannot
    /// supply the page or a larger table.
    ///
    /// Zeroed because safe code reads slot bytes it never wrote: an event whose `cbEvent` says
    /// more than its owner put in its buffer reads the rest of that buffer (`Event::data`), and
    /// those bytes must be initialised (any value) for the read to be defined. Pages are
    /// zeroed once, when the pool supplies them; a slot keeps initialised bytes from then on.
    pub(crate) fn add_page(&mut self) -> Option<NonNull<S>> {
        if self.len == self.cap && !self.grow() {
            return None;
        }
        let layout = Self::page_layout()?;
        let page = pool_alloc(self.pool, self.page_tag, layout)?;
        // SAFETY: a fresh block of `layout.size()` bytes from `pool_alloc`, not shared yet.
        unsafe { page.as_ptr().write_bytes(0, layout.size()) };
        let page = page.cast::<S>();
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
        // Its slots are about to be handed out first: the likeliest next lookups.
        self.hint = page.as_ptr();
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
        self.hint = core::ptr::null_mut();
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
        self.hint = core::ptr::null_mut();
    }
}
