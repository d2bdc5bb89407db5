//! The filter authoring layer: write [`Filter::process`] for one event, and `#[mxf_filter]`
//! plus [`FilterObject`] supply the IMXF plumbing.
//!
//! # What the framework does for a filter
//! * **Chains**: one incoming `PutMessage` chain is taken apart, each event handed to
//!   [`Filter::process`] in order, and what the filter pushes goes downstream as one
//!   `PutMessage` per output, order kept. Between two `#[mxf_filter]` objects a chain of two
//!   events or more goes through [`IMxfFilter::PutChain`] instead, with its tail, count and
//!   package flag, so the receiving filter does not walk it again (QueryInterface of a filter
//!   answers `IUnknown`, `IMXF` and mxf's own `IMxfFilter`).
//! * **Packages** by [`Filter::PACKAGES`]: [`PackagePolicy::Unwrap`] (default; the contents are
//!   processed in place of the package, nested packages included, and the shells go back to the
//!   allocator in one call, whose failure fails the `PutMessage`) or [`PackagePolicy::PassWhole`]
//!   (forwarded untouched to output 0, without calling `process`).
//! * **Broken structures** (a caller's bug) never make an event owned twice: a cyclic chain is
//!   cut where it closes ([`Chain::from_raw`]), and package contents that lead back to an event
//!   already taken are cut there ([`Chain::unwrap_packages`]). What a filter cannot know is
//!   whether an event it is given was already returned to its allocator (that takes the
//!   allocator's books: mxf's allocator refuses such a put itself), nor what lies behind an
//!   event of another allocator once that allocator refuses it; and a cycle through several
//!   filters recurses (a connection of a filter to itself is refused, see below).
//! * **`PutMessage(NULL)`**: succeeds and does nothing (a filter holds no input).
//! * **Connections** (`domain.md` items 27–30): `ConnectOutput(NULL)` fails; `ConnectOutput(s)`
//!   connects the first free output (`STATUS_UNSUCCESSFUL` when all are connected: a connection is
//!   never replaced; `STATUS_INVALID_PARAMETER` for the filter itself, which would recurse); `DisconnectOutput(s)` disconnects the output holding `s`,
//!   `DisconnectOutput(NULL)` disconnects all; anything else fails. An output that is not
//!   connected delivers to the allocator.
//! * **State** policy: in `KSSTATE_STOP` and `KSSTATE_ACQUIRE` incoming events go straight back to
//!   the allocator (STOP never holds events; ACQUIRE may not pass messages downstream); in PAUSE
//!   and RUN they are processed. A new filter starts in [`Filter::INITIAL_STATE`] (RUN, so a
//!   filter inserted by code that does not manage states works). Unknown state values are
//!   refused with `STATUS_INVALID_PARAMETER` and change nothing.
//! * **New events** come from the allocator through [`Output::new_event`]; on exhaustion the event
//!   is dropped and counted ([`FilterStats::exhausted`]), never a panic.
//!
//! Filters are called concurrently from several CPUs: `process` takes `&self`, so mutable state
//! goes behind [`crate::platform::SpinLock`] or atomics ([`crate::platform::atomic`], which loom
//! models can check).
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::prelude::*;
//!
//! /// Sends every event twice: now, and again 100 ms later.
//! #[mxf_filter]
//! struct Doubler;
//!
//! impl Filter for Doubler {
//!     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
//!         // A new event comes from the allocator; `None` (exhausted) is counted for us.
//!         let echo = out.clone_event(&event);
//!         let time = event.time();
//!         out.push(event);
//!         if let Some(mut echo) = echo {
//!             echo.set_time(time.saturating_add(1_000_000));
//!             out.push(echo);
//!         }
//!     }
//! }
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let doubler = Doubler.into_filter(&alloc)?;
//! let note = || Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0);
//!
//! let mut chain = Chain::new(&alloc);
//! chain.push_back(note()?);
//! assert_eq!(chain.deliver(Some(doubler.interface())), STATUS_SUCCESS);
//! let s = doubler.stats();
//! assert_eq!((s.events_in, s.events_out), (1, 2)); // unconnected: to the allocator
//!
//! // In STOP, what the filter is given goes back to the allocator without `process`.
//! assert_eq!(doubler.SetState(KSSTATE_STOP), STATUS_SUCCESS);
//! let mut chain = Chain::new(&alloc);
//! chain.push_back(note()?);
//! chain.deliver(Some(doubler.interface()));
//! assert_eq!(doubler.stats().discarded, 1);
//! assert_eq!(alloc.stats().outstanding_events, 0);
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::{
    DMUS_KERNEL_EVENT, KSSTATE, KSSTATE_ACQUIRE, KSSTATE_STOP, KsState, NTSTATUS, POOL_TYPE,
    Result, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
};
use crate::com::{ComObject, ComRef, Interface, ObjectHandle, ObjectImpl};
use crate::com_interface;
use crate::connection::{Outputs, connect_output_probing, disconnect_output_from};
use crate::event::{Chain, Event, Links};
use crate::interfaces::{IAllocatorMXF, IMXF, IMXF_Impl};
use crate::platform::SpinLock;
use crate::platform::atomic::{AtomicI32, Ordering};

/// How one `#[mxf_filter]` object hands its output to another: `IMXF` and one more slot.
///
/// `PutMessage` must take a chain from anyone, so it walks the chain first, to count it, find
/// its tail and cut a cycle (a caller's bug) before any event is processed. A filter's own
/// output needs none of that: it was linked one owned event at a time. So at `ConnectOutput` a
/// filter asks its sink for this interface; if the sink answers with its very pointer (an
/// `#[mxf_filter]` object of this build), the filter delivers with `PutChain` and the chain's
/// tail, count and package flag, which the sink takes on trust. Any other sink (the port's,
/// a C++ object) gets `PutMessage`.
///
/// The IID is private to mxf and names this ABI: a change of the slot is a new IID.
#[com_interface(iid = "266226A5-B078-4A3E-9228-AD95293FF885", filter_plumbing)]
// SAFETY: mxf's own interface: the IID names exactly IMXF's slots followed by PutChain.
pub unsafe trait IMxfFilter: IMXF {
    /// Slot 7 (DISPATCH_LEVEL). Takes ownership of the chain `head` .. `tail`: `len` (at least
    /// one) distinct events of the receiver's allocator, linked without a cycle, every link
    /// aligned, `tail`'s link NULL; `packages` is 0 only if none of them is a package.
    /// Otherwise as `PutMessage`: a NULL `head` is nothing (`STATUS_SUCCESS`), a misaligned
    /// `head` or `tail` is refused unread (`STATUS_INVALID_PARAMETER`), and a NULL `tail` or a
    /// `len` of 0 gives no shape to trust: the chain is taken as `PutMessage` takes it.
    fn PutChain(
        &self,
        head: *mut DMUS_KERNEL_EVENT,
        tail: *mut DMUS_KERNEL_EVENT,
        len: usize,
        packages: u8,
    ) -> NTSTATUS;
}

/// The most outputs a filter can declare.
pub const MAX_OUTPUTS: usize = 8;

/// How many outputs a filter has ([`Filter::OUTPUTS`]): 1 to [`MAX_OUTPUTS`].
///
/// ```
/// use mxf::filter::OutputCount;
///
/// const THREE: OutputCount = OutputCount::new(3);
/// assert_eq!(THREE.get(), 3);
/// ```
///
/// A count out of range is refused where it is written: in a `const`, such as
/// `Filter::OUTPUTS`, that is a compile error at that line (`cargo check` reports it).
///
/// ```compile_fail,E0080
/// use mxf::filter::OutputCount;
///
/// const NONE: OutputCount = OutputCount::new(0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputCount(usize);

impl OutputCount {
    /// One output, the default.
    pub const ONE: OutputCount = OutputCount(1);

    /// `n` outputs.
    ///
    /// # Panics
    /// If `n` is 0 or more than [`MAX_OUTPUTS`]. Written in a `const` (as `Filter::OUTPUTS` is),
    /// that panic is a compile error at the caller's line, never a run-time one.
    #[track_caller]
    pub const fn new(n: usize) -> OutputCount {
        assert!(
            n >= 1 && n <= MAX_OUTPUTS,
            "a filter has 1 to 8 outputs (mxf::filter::MAX_OUTPUTS)"
        );
        OutputCount(n)
    }

    /// The number of outputs.
    pub const fn get(self) -> usize {
        self.0
    }
}

/// What `into_com` on an `#[mxf_filter]` asks for: nothing implements it, so the call does not
/// compile and says to use [`IntoFilter::into_filter`], which binds the filter's allocator.
#[diagnostic::on_unimplemented(
    message = "`{F}` is an `#[mxf_filter]`: create it with `into_filter`, not `into_com`",
    label = "a filter is created with `into_filter(&allocator)`",
    note = "`into_filter` binds the allocator the filter's events go back to and returns its IMXF (`into_filter_in` also takes a pool and a tag)"
)]
#[doc(hidden)]
pub trait NotIntoCom<F> {
    /// Never called: there is no implementation.
    fn refuse(filter: F) -> Result<Self>
    where
        Self: Sized;
}

/// How a filter treats incoming packages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackagePolicy {
    /// Recycle the shell, process the contents one by one (in place of the package).
    Unwrap,
    /// Forward the package whole to output 0 without calling `process`.
    PassWhole,
}

/// A MIDI transform: the trait an `#[mxf_filter]` struct implements. Implement `process`; the
/// framework does the rest (see the module docs).
///
/// | item | default | what it decides |
/// |---|---|---|
/// | [`process`](Self::process) | required | what becomes of one event |
/// | [`state_changed`](Self::state_changed) | nothing | a reaction to each successful `SetState` |
/// | [`PACKAGES`](Self::PACKAGES) | [`PackagePolicy::Unwrap`] | packages taken apart, or passed whole |
/// | [`OUTPUTS`](Self::OUTPUTS) | one | how many outputs `ConnectOutput` fills |
/// | [`INITIAL_STATE`](Self::INITIAL_STATE) | `KsState::Run` | the state of a new filter |
///
/// The constants are checked when the filter is compiled: there is no value the framework
/// would refuse at run time.
///
/// # `PACKAGES`
///
/// ```
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::platform::atomic::{AtomicU32, Ordering};
/// use mxf::prelude::*;
///
/// /// Looks at every event, but leaves packages alone: they go to output 0 whole.
/// #[mxf_filter]
/// struct Look {
///     looked: AtomicU32,
/// }
///
/// impl Filter for Look {
///     const PACKAGES: PackagePolicy = PackagePolicy::PassWhole;
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         self.looked.fetch_add(1, Ordering::Relaxed);
///         out.push(event);
///     }
/// }
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let look = Look { looked: AtomicU32::new(0) }.into_filter(&alloc)?;
/// let mut chord = Chain::new(&alloc);
/// chord.push_back(Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?);
/// chord.push_back(Event::with_bytes(&alloc, &[0x90, 64, 100], 1, 0)?);
/// let package = Event::new(&alloc).ok_or(STATUS_INSUFFICIENT_RESOURCES)?.into_package(chord)?;
/// let mut chain = Chain::new(&alloc);
/// chain.push_back(package);
/// chain.deliver(Some(look.interface()));
/// assert_eq!(look.filter().looked.load(Ordering::Relaxed), 0); // with `Unwrap`: 2
/// assert_eq!(look.stats().events_out, 1);
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// # `OUTPUTS`
///
/// ```
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::filter::OutputCount;
/// use mxf::platform::atomic::{AtomicU32, Ordering};
/// use mxf::prelude::*;
///
/// /// Drums (channel 10) to output 1, everything else to output 0.
/// #[mxf_filter]
/// struct SplitDrums;
///
/// impl Filter for SplitDrums {
///     const OUTPUTS: OutputCount = OutputCount::new(2);
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         let drums = event.data().first().is_some_and(|s| s & 0x0F == 9);
///         out.push_to(usize::from(drums), event);
///     }
/// }
///
/// #[mxf_filter]
/// struct Count {
///     got: AtomicU32,
/// }
///
/// impl Filter for Count {
///     fn process<'a>(&self, _event: Event<'a>, _out: &mut Output<'a>) {
///         self.got.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let split = SplitDrums.into_filter(&alloc)?;
/// let melody = Count { got: AtomicU32::new(0) }.into_filter(&alloc)?;
/// let drums = Count { got: AtomicU32::new(0) }.into_filter(&alloc)?;
/// // ConnectOutput fills the outputs in order.
/// assert_eq!(split.ConnectOutput(Some(melody.to_ref())), STATUS_SUCCESS);
/// assert_eq!(split.ConnectOutput(Some(drums.to_ref())), STATUS_SUCCESS);
///
/// let mut chain = Chain::new(&alloc);
/// chain.push_back(Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?);
/// chain.push_back(Event::with_bytes(&alloc, &[0x99, 36, 100], 1, 0)?);
/// chain.deliver(Some(split.interface()));
/// assert_eq!(melody.filter().got.load(Ordering::Relaxed), 1);
/// assert_eq!(drums.filter().got.load(Ordering::Relaxed), 1);
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// # `INITIAL_STATE`
///
/// ```
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::prelude::*;
///
/// /// Starts stopped, as the port's own MXFs do, and passes nothing until it runs.
/// #[mxf_filter]
/// struct Held;
///
/// impl Filter for Held {
///     const INITIAL_STATE: KsState = KsState::Stop;
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         out.push(event);
///     }
/// }
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let held = Held.into_filter(&alloc)?;
/// let note = || Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0);
///
/// let mut chain = Chain::new(&alloc);
/// chain.push_back(note()?);
/// chain.deliver(Some(held.interface()));
/// assert_eq!(held.stats().discarded, 1); // STOP: straight back to the allocator
///
/// assert_eq!(held.SetState(KSSTATE_RUN), STATUS_SUCCESS);
/// let mut chain = Chain::new(&alloc);
/// chain.push_back(note()?);
/// chain.deliver(Some(held.interface()));
/// assert_eq!(held.stats().events_out, 1);
/// # Ok::<(), NTSTATUS>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is no filter: it lacks `impl Filter for {Self}`",
    label = "an `#[mxf_filter]` struct implements `mxf::filter::Filter`",
    note = "write `impl Filter for {Self} {{ fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {{ out.push(event) }} }}`"
)]
pub trait Filter: Sized + 'static {
    /// Package handling.
    const PACKAGES: PackagePolicy = PackagePolicy::Unwrap;
    /// Number of outputs, 1 to [`MAX_OUTPUTS`]: `const OUTPUTS: OutputCount =
    /// OutputCount::new(3);` (a count out of range is a compile error at that line).
    /// `ConnectOutput` fills them in order.
    const OUTPUTS: OutputCount = OutputCount::ONE;
    /// The state a new filter starts in: one of the four states, so nothing `SetState` would
    /// refuse.
    const INITIAL_STATE: KsState = KsState::Run;

    /// Transforms one event: push it (changed or not) to `out`, push others, or drop it (it then
    /// goes back to the allocator).
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>);

    /// Called after a successful `SetState`.
    fn state_changed(&self, _old: KSSTATE, _new: KSSTATE) {}
}

/// Counters of a filter object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Events received (package contents counted, shells not).
    pub events_in: u64,
    /// Events sent downstream (or to the allocator from an unconnected output).
    pub events_out: u64,
    /// Events returned to the allocator because of the state (STOP/ACQUIRE).
    pub discarded: u64,
    /// New events that could not be created (allocator exhausted) and were dropped.
    pub exhausted: u64,
    /// `PutMessage` calls.
    pub calls: u64,
    /// Events of another allocator pushed by `process` (a filter's bug), returned to their own
    /// allocator instead of forwarded.
    pub foreign: u64,
}

/// Where `process` sends events.
pub struct Output<'a> {
    /// Each output's events, one entry per output the filter has; what is left when the
    /// `Output` is dropped goes back to `alloc`. Borrowed from the caller's frame, sized by
    /// `F::OUTPUTS`, so a one-output filter keeps two words here, not eight pairs.
    chains: &'a mut [Links],
    alloc: &'a IAllocatorMXF,
    exhausted: u64,
    foreign: u64,
}

impl<'a> Output<'a> {
    /// `chains` holds one (empty) entry per output: 1 to [`MAX_OUTPUTS`] of them.
    #[inline]
    fn new(alloc: &'a IAllocatorMXF, chains: &'a mut [Links]) -> Self {
        Self {
            chains,
            alloc,
            exhausted: 0,
            foreign: 0,
        }
    }

    /// Sends `event` to output 0.
    #[inline]
    pub fn push(&mut self, event: Event<'a>) {
        self.push_to(0, event);
    }

    /// Sends `event` to output `k`; an output the filter does not have drops the event (it goes
    /// back to the allocator). An event of another allocator than the filter's cannot travel in
    /// this graph (it would end in an allocator that does not own it): it goes back to its own
    /// allocator and is counted ([`FilterStats::foreign`]).
    #[inline]
    pub fn push_to(&mut self, k: usize, event: Event<'a>) {
        if let Some(links) = self.chains.get_mut(k)
            && links.try_push(self.alloc, event).is_err()
        {
            self.foreign = self.foreign.wrapping_add(1);
        }
    }

    /// Events pushed so far, on every output.
    #[inline]
    fn pushed(&self) -> u64 {
        self.chains.iter().map(|l| l.len() as u64).sum()
    }

    /// The number of outputs.
    pub fn outputs(&self) -> usize {
        self.chains.len()
    }

    /// A fresh event from the allocator, or `None` (counted) if it is exhausted.
    pub fn new_event(&mut self) -> Option<Event<'a>> {
        let e = Event::new(self.alloc);
        if e.is_none() {
            self.exhausted = self.exhausted.wrapping_add(1);
        }
        e
    }

    /// A copy of `event`, or `None` (counted) if the allocator is exhausted.
    pub fn clone_event(&mut self, event: &Event<'a>) -> Option<Event<'a>> {
        let e = event.try_clone();
        if e.is_none() {
            self.exhausted = self.exhausted.wrapping_add(1);
        }
        e
    }

    /// The allocator (for [`Event::with_bytes`] and friends).
    pub fn allocator(&self) -> &'a IAllocatorMXF {
        self.alloc
    }

    /// Delivers output `k`'s events with one call to `sink`; nothing for an output without
    /// events.
    #[inline]
    fn deliver(&mut self, k: usize, (sink, filter): (Option<&IMXF>, bool)) -> NTSTATUS {
        match self.chains.get_mut(k) {
            Some(links) => links.deliver(self.alloc, sink, filter),
            None => STATUS_SUCCESS,
        }
    }
}

impl Drop for Output<'_> {
    #[inline]
    fn drop(&mut self) {
        // Undelivered events (a `process` that panicked in a test) go back to the allocator.
        for links in self.chains.iter_mut() {
            links.deliver(self.alloc, None, false);
        }
    }
}

/// The connections one `PutMessage` delivers to: AddRef'd copies, taken under the lock, so a
/// `DisconnectOutput` on another CPU cannot free a sink during the delivery.
/// With each copy, whether the sink is an `#[mxf_filter]` object that takes chains through
/// [`IMxfFilter::PutChain`] (asked once, at `ConnectOutput`).
enum Sinks {
    /// A filter with one output (most of them): one copy, one `Release`.
    One(Option<IMXF>, bool),
    /// The first `F::OUTPUTS` outputs, the others `None`.
    Many([Option<IMXF>; MAX_OUTPUTS], [bool; MAX_OUTPUTS]),
}

impl Sinks {
    /// The copies a filter `F` delivers to (`F::OUTPUTS` is a constant: one arm is compiled).
    #[inline]
    fn of<F: Filter>(outputs: &Outputs<MAX_OUTPUTS>) -> Sinks {
        match F::OUTPUTS.get() {
            1 => Sinks::One(outputs.get(0).cloned(), outputs.is_filter(0)),
            n => Sinks::Many(
                outputs.snapshot_first(n),
                core::array::from_fn(|k| outputs.is_filter(k)),
            ),
        }
    }

    /// Output `k`'s sink (`None`: the allocator), and whether it takes `PutChain`.
    #[inline]
    fn get(&self, k: usize) -> (Option<&IMXF>, bool) {
        match self {
            Sinks::One(s, f) if k == 0 => (s.as_ref(), *f),
            Sinks::One(..) => (None, false),
            Sinks::Many(s, f) => (
                s.get(k).and_then(Option::as_ref),
                f.get(k).copied().unwrap_or(false),
            ),
        }
    }
}

/// True if `sink` is an `#[mxf_filter]` object (of this build of mxf: the interface's IID is
/// its ABI version) that takes chains through [`IMxfFilter::PutChain`] at this very pointer.
fn answers_put_chain(sink: &IMXF) -> bool {
    sink.cast::<IMxfFilter>()
        .is_ok_and(|f| f.as_raw() == sink.as_raw())
}

struct Plumbing {
    outputs: Outputs<MAX_OUTPUTS>,
    /// Kept under the one lock hold `PutMessage` makes anyway: cheaper than one atomic per
    /// counter.
    stats: FilterStats,
}

/// The value inside a filter's COM object: the author's filter, its allocator, its connections.
///
/// `PutMessage` takes the lock once per call, after processing: it counts, and copies the
/// connections it delivers to (AddRef'd, so a concurrent `DisconnectOutput` cannot free a sink
/// during the delivery). The state is an atomic of its own, read before processing without the
/// lock; a `SetState` that races a `PutMessage` takes effect from the next call, as it would
/// with the lock.
pub struct FilterObject<F: Filter> {
    filter: F,
    alloc: IAllocatorMXF,
    /// The `KSSTATE` value.
    state: AtomicI32,
    plumbing: SpinLock<Plumbing>,
}

impl<F: Filter> FilterObject<F> {
    /// Wraps `filter`, which returns events to `alloc`.
    pub fn new(filter: F, alloc: IAllocatorMXF) -> Self {
        Self {
            filter,
            alloc,
            state: AtomicI32::new(KSSTATE::from(F::INITIAL_STATE).0),
            plumbing: SpinLock::new(Plumbing {
                outputs: Outputs::new(),
                stats: FilterStats::default(),
            }),
        }
    }

    /// The author's filter.
    pub fn filter(&self) -> &F {
        &self.filter
    }

    /// The counters.
    pub fn stats(&self) -> FilterStats {
        self.plumbing.lock().stats
    }

    /// `PutMessage` (`tail` NULL: the chain is walked) and `PutChain` (`tail` not NULL: the
    /// sender vouches for `head` .. `tail`, `len` and `packages`) in one body, so the author's
    /// `process` is inlined into one copy.
    #[inline(never)]
    fn put(
        &self,
        head: *mut DMUS_KERNEL_EVENT,
        tail: *mut DMUS_KERNEL_EVENT,
        len: usize,
        packages: bool,
    ) -> NTSTATUS {
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        if !head.is_aligned() {
            // No allocator hands out such a pointer: refuse it without touching it.
            return STATUS_INVALID_PARAMETER;
        }
        // A NULL `tail` or a `len` of 0 (PutMessage, or a PutChain without a shape to trust):
        // the chain is walked.
        let (mut input, packages) = if tail.is_null() || len == 0 {
            // SAFETY: PutMessage hands us ownership of the whole chain, whose events come from
            // the allocator of this stream.
            unsafe { Chain::from_raw_noting_packages(head, &self.alloc) }
        } else if !tail.is_aligned() {
            return STATUS_INVALID_PARAMETER;
        } else {
            // SAFETY: PutChain's contract (`head` and `tail` checked non-NULL and aligned): the
            // sender, an mxf filter's `Output`, vouches for the chain's shape.
            (
                unsafe { Chain::from_verified(head, tail, len, &self.alloc) },
                packages,
            )
        };
        let state = KSSTATE(self.state.load(Ordering::Acquire));
        if state == KSSTATE_STOP || state == KSSTATE_ACQUIRE {
            {
                let mut p = self.plumbing.lock();
                p.stats.calls = p.stats.calls.wrapping_add(1);
                p.stats.discarded = p.stats.discarded.wrapping_add(input.len() as u64);
            }
            return input.deliver(None);
        }
        // Packages to unwrap are flattened before any event is processed, their shells returned
        // in one call: contents that lead back into the structure are cut there
        // (`Chain::unwrap_packages`), so no event is processed or forwarded twice.
        let mut status = STATUS_SUCCESS;
        if packages && F::PACKAGES == PackagePolicy::Unwrap {
            status = input.unwrap_packages().deliver(None);
        }
        // Storage for the outputs the filter has (a constant: one arm is compiled).
        let s = match F::OUTPUTS.get() {
            1 => self.run(input, &mut [Links::EMPTY]),
            n => {
                let mut all = [Links::EMPTY; MAX_OUTPUTS];
                let chains = all.get_mut(..n).unwrap_or(&mut []);
                self.run(input, chains)
            }
        };
        if status.is_success() { s } else { status }
    }

    /// Processes `input` into `chains` (one entry per output) and delivers each output.
    #[inline(always)]
    fn run<'a>(&'a self, input: Chain<'a>, chains: &'a mut [Links]) -> NTSTATUS {
        let mut out = Output::new(&self.alloc, chains);
        // Every event of the input is taken.
        let received = input.len() as u64;
        for event in input.drain() {
            // Only a filter that passes packages whole still meets one here.
            if event.is_package() {
                out.push(event);
            } else {
                self.filter.process(event, &mut out);
            }
        }
        // The one lock hold: count, and copy the connections (AddRef) so a concurrent
        // DisconnectOutput cannot free a sink while we deliver to it.
        let sinks = {
            let mut p = self.plumbing.lock();
            p.stats.calls = p.stats.calls.wrapping_add(1);
            p.stats.events_in = p.stats.events_in.wrapping_add(received);
            p.stats.events_out = p.stats.events_out.wrapping_add(out.pushed());
            p.stats.exhausted = p.stats.exhausted.wrapping_add(out.exhausted);
            p.stats.foreign = p.stats.foreign.wrapping_add(out.foreign);
            Sinks::of::<F>(&p.outputs)
        };
        let mut status = STATUS_SUCCESS;
        for k in 0..out.outputs() {
            let s = out.deliver(k, sinks.get(k));
            if status.is_success() && !s.is_success() {
                status = s;
            }
        }
        status
    }
}

impl<F: Filter> crate::com::ObjectValue for FilterObject<F> {}

impl<F: Filter + ObjectImpl<Value = FilterObject<F>>> IMXF_Impl for FilterObject<F> {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        let old = KSSTATE(self.state.swap(state.0, Ordering::AcqRel));
        self.filter.state_changed(old, state);
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        self.put(event, core::ptr::null_mut(), 0, false)
    }

    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        let limit = F::OUTPUTS.get();
        connect_output_probing(
            &self.plumbing,
            |p| &mut p.outputs,
            sink,
            limit,
            |s| ComObject::<F>::holds_interface(self, s),
            answers_put_chain,
        )
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        disconnect_output_from(&self.plumbing, |p| &mut p.outputs, sink, &self.alloc)
    }
}

impl<F: Filter + ObjectImpl<Value = FilterObject<F>>> IMxfFilter_Impl for FilterObject<F> {
    unsafe fn PutChain(
        &self,
        head: *mut DMUS_KERNEL_EVENT,
        tail: *mut DMUS_KERNEL_EVENT,
        len: usize,
        packages: u8,
    ) -> NTSTATUS {
        self.put(head, tail, len, packages != 0)
    }
}

/// Creation of filter objects (implemented for every `#[mxf_filter]` type).
pub trait IntoFilter: ObjectImpl<Value = FilterObject<Self>> + Filter {
    /// Creates the filter object in nonpaged pool; undelivered events return to `alloc`.
    fn into_filter(self, alloc: &IAllocatorMXF) -> Result<FilterHandle<Self>> {
        self.into_filter_in(alloc, crate::abi::NonPagedPool, Self::POOL_TAG)
    }

    /// Creates the filter object in `pool` under `tag`.
    fn into_filter_in(
        self,
        alloc: &IAllocatorMXF,
        pool: POOL_TYPE,
        tag: u32,
    ) -> Result<FilterHandle<Self>> {
        FilterHandle::create_in(FilterObject::new(self, alloc.clone()), pool, tag)
    }
}

impl<F: ObjectImpl<Value = FilterObject<F>> + Filter> IntoFilter for F {}

/// An owned filter object with typed access to the filter and its counters. Derefs to [`IMXF`].
pub type FilterHandle<F> = ObjectHandle<F, IMXF>;

impl<F: Filter + ObjectImpl<Value = FilterObject<F>>> ObjectHandle<F, IMXF> {
    /// The author's filter.
    pub fn filter(&self) -> &F {
        self.value().filter()
    }
    /// The counters.
    pub fn stats(&self) -> FilterStats {
        self.value().stats()
    }
}

/// Loom model of connect/disconnect racing with PutMessage: whatever the interleaving, every
/// event ends in the sink or back in the allocator, and the sink reference is released exactly
/// once. Run with `RUSTFLAGS="--cfg loom" cargo test -p mxf --release --lib -- loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    extern crate std;
    use super::*;
    use crate::abi::STATUS_UNSUCCESSFUL;
    use crate::allocator::{AllocatorConfig, AllocatorHandle};
    use crate::com::Interface;
    use crate::com::IntoComObject;
    use crate::platform::atomic::{AtomicU64, Ordering};
    use loom::thread;

    #[crate::mxf_filter]
    struct Pass;
    impl Filter for Pass {
        fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
            out.push(event);
        }
    }

    /// A sink that returns what it gets to the allocator and counts it.
    #[crate::com_object(IMXF)]
    struct Sink {
        alloc: IAllocatorMXF,
        got: AtomicU64,
    }
    impl IMXF_Impl for Sink {
        fn SetState(&self, _s: KSSTATE) -> NTSTATUS {
            STATUS_SUCCESS
        }
        unsafe fn PutMessage(&self, e: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            // SAFETY: we own the chain handed to us.
            let c = unsafe { Chain::from_raw(e, &self.alloc) };
            self.got.fetch_add(c.len() as u64, Ordering::Relaxed);
            drop(c);
            STATUS_SUCCESS
        }
        fn ConnectOutput(&self, _s: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
        fn DisconnectOutput(&self, _s: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
    }

    #[test]
    fn loom_put_races_disconnect() {
        loom::model(|| {
            let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
            let f = Pass.into_filter(&alloc).unwrap();
            let sink: IMXF = Sink {
                alloc: (*alloc).clone(),
                got: AtomicU64::new(0),
            }
            .into_com()
            .unwrap();
            assert_eq!(f.ConnectOutput(Some(sink.to_ref())), STATUS_SUCCESS);
            let e = Event::with_bytes(&alloc, &[0x90, 60, 1], 1, 0)
                .unwrap()
                .into_raw();
            let e_addr = e as usize;
            let f2 = f.clone();
            let t = thread::spawn(move || {
                // SAFETY: the event is ours to hand over.
                let s = unsafe { f2.PutMessage(e_addr as *mut DMUS_KERNEL_EVENT) };
                assert_eq!(s, STATUS_SUCCESS);
            });
            let s2 = sink.clone();
            let d = f.DisconnectOutput(Some(s2.to_ref()));
            assert_eq!(d, STATUS_SUCCESS);
            t.join().unwrap();
            assert_eq!(alloc.stats().outstanding_events, 0);
            assert_eq!(f.stats().events_out, 1);
        });
    }

    /// The same race when the sink is a filter and the chain goes through `PutChain`.
    #[test]
    fn loom_put_chain_races_disconnect() {
        loom::model(|| {
            let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
            let f = Pass.into_filter(&alloc).unwrap();
            let g = Pass.into_filter(&alloc).unwrap();
            assert_eq!(f.ConnectOutput(Some(g.to_ref())), STATUS_SUCCESS);
            let a = Event::with_bytes(&alloc, &[0x90, 60, 1], 1, 0)
                .unwrap()
                .into_raw();
            let b = Event::with_bytes(&alloc, &[0x80, 60, 0], 1, 0)
                .unwrap()
                .into_raw();
            // SAFETY: our two events, linked.
            unsafe { (*a).pNextEvt = b };
            let a_addr = a as usize;
            let f2 = f.clone();
            let t = thread::spawn(move || {
                // SAFETY: the chain is ours to hand over.
                let s = unsafe { f2.PutMessage(a_addr as *mut DMUS_KERNEL_EVENT) };
                assert_eq!(s, STATUS_SUCCESS);
            });
            assert_eq!(f.DisconnectOutput(Some(g.to_ref())), STATUS_SUCCESS);
            drop(g);
            t.join().unwrap();
            assert_eq!(alloc.stats().outstanding_events, 0);
            assert_eq!(f.stats().events_out, 2);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use super::*;
    use crate::allocator::{AllocatorConfig, AllocatorHandle};

    #[crate::mxf_filter]
    struct Pass;
    impl Filter for Pass {
        fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
            out.push(event);
        }
    }

    /// `n` events of `alloc`, linked in order.
    fn chain_of(alloc: &IAllocatorMXF, n: usize) -> std::vec::Vec<*mut DMUS_KERNEL_EVENT> {
        let v: std::vec::Vec<_> = (0..n)
            .map(|i| {
                Event::with_bytes(alloc, &[0x90, i as u8, 1], 1, 0)
                    .unwrap()
                    .into_raw()
            })
            .collect();
        for w in v.windows(2) {
            // SAFETY: events of the test.
            unsafe { (*w[0]).pNextEvt = w[1] };
        }
        v
    }

    #[test]
    fn structures_that_lead_back_into_themselves_are_taken_once() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let f = Pass.into_filter(&alloc).unwrap();
        // A package that contains itself, then two notes: the shell goes back once, the notes
        // are processed once (the unconnected output returns them).
        let v = chain_of(&alloc, 3);
        let p = v[0];
        // SAFETY: events of the test, then handed over.
        unsafe {
            (*p).usFlags |= crate::abi::DMUS_KEF_PACKAGE_EVENT;
            (*p).uData.pPackageEvt = p;
            assert_eq!(f.PutMessage(p), STATUS_SUCCESS);
        }
        assert_eq!(f.stats().events_in, 2);
        assert_eq!(alloc.stats().outstanding_events, 0);
        assert!(alloc.audit());
        // A cyclic chain while stopped: each event is discarded, and counted, once.
        // SAFETY: a valid state.
        assert_eq!(f.SetState(KSSTATE_STOP), STATUS_SUCCESS);
        let v = chain_of(&alloc, 2);
        let (a, b) = (v[0], v[1]);
        // SAFETY: events of the test (b links back to a), then handed over.
        unsafe {
            (*b).pNextEvt = a;
            assert_eq!(f.PutMessage(a), STATUS_SUCCESS);
        }
        assert_eq!(f.stats().discarded, 2);
        assert_eq!(alloc.stats().outstanding_events, 0);
        assert!(alloc.audit());
    }

    #[test]
    fn a_refused_package_shell_fails_the_call() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let other = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let f = Pass.into_filter(&alloc).unwrap();
        // A shell of another allocator around a note of ours: the note is processed, the shell
        // is refused by our allocator, and the call says so.
        let note = chain_of(&alloc, 1)[0];
        let shell = chain_of(&other, 1)[0];
        // SAFETY: events of the test, then handed over.
        unsafe {
            (*shell).usFlags |= crate::abi::DMUS_KEF_PACKAGE_EVENT;
            (*shell).uData.pPackageEvt = note;
            assert_eq!(f.PutMessage(shell), STATUS_INVALID_PARAMETER);
        }
        assert_eq!(f.stats().events_in, 1);
        assert_eq!(alloc.stats().outstanding_events, 0);
        assert_eq!(other.stats().outstanding_events, 1);
        // SAFETY: the refused shell is still the other allocator's event.
        unsafe { other.PutMessage(shell) };
        assert_eq!(other.stats().outstanding_events, 0);
    }

    /// An allocator that outlives every call: a filter can reach it from `process`.
    static OTHER: std::sync::OnceLock<AllocatorHandle> = std::sync::OnceLock::new();

    fn other() -> &'static AllocatorHandle {
        OTHER.get_or_init(|| AllocatorHandle::new(AllocatorConfig::default(), None).unwrap())
    }

    /// Pushes, beside each event, a new event of another allocator (a filter's bug).
    #[crate::mxf_filter]
    struct Smuggler;
    impl Filter for Smuggler {
        fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
            out.push(event);
            if let Some(e) = Event::new(other().interface()) {
                out.push(e);
            }
        }
    }

    #[test]
    fn events_of_another_allocator_are_sent_home_and_counted() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let f = Smuggler.into_filter(&alloc).unwrap();
        let v = chain_of(&alloc, 3);
        // SAFETY: a chain of the test's events, handed over.
        assert_eq!(unsafe { f.PutMessage(v[0]) }, STATUS_SUCCESS);
        let s = f.stats();
        assert_eq!((s.events_in, s.events_out, s.foreign), (3, 3, 3));
        for h in [&alloc, other()] {
            assert_eq!(h.stats().outstanding_events, 0);
            assert_eq!(h.stats().anomalies.misuse(), 0);
        }
    }

    /// Sends events 0 and 2 of a chain to output 1 and the others to output 0, and panics at
    /// the fourth event.
    #[crate::mxf_filter]
    struct SplitThenPanic;
    impl Filter for SplitThenPanic {
        const OUTPUTS: OutputCount = OutputCount::new(2);
        fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
            let key = event.data().get(1).copied().unwrap_or(0);
            assert!(key < 3, "the fourth event");
            out.push_to(usize::from(key % 2 == 0), event);
        }
    }

    #[test]
    fn what_a_panicking_process_was_given_and_pushed_goes_back_to_the_allocator() {
        // Only in tests can `process` unwind (a driver's panic is a bug check): the events
        // already pushed to either output, and those not yet processed, go back to the
        // allocator, none twice.
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let f = SplitThenPanic.into_filter(&alloc).unwrap();
        let v = chain_of(&alloc, 6);
        let head = v[0];
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            f.value().put(head, core::ptr::null_mut(), 0, false)
        }));
        assert!(unwound.is_err());
        let s = alloc.stats();
        assert_eq!(s.outstanding_events, 0);
        assert_eq!(s.anomalies.misuse(), 0);
        assert!(alloc.audit());
    }

    /// A sink with both entries of `IMxfFilter` that records which one it was given and
    /// checks the shape a `PutChain` vouches for. Returns what it gets to the allocator.
    #[crate::com_object(IMxfFilter)]
    struct Recorder {
        alloc: IAllocatorMXF,
        by_message: core::sync::atomic::AtomicU64,
        by_chain: core::sync::atomic::AtomicU64,
        /// The first data byte of every event received, in order.
        got: std::sync::Mutex<std::vec::Vec<u8>>,
    }
    impl Recorder {
        fn create(alloc: &IAllocatorMXF) -> IMXF {
            use crate::com::IntoComObject;
            Recorder {
                alloc: alloc.clone(),
                by_message: 0.into(),
                by_chain: 0.into(),
                got: std::vec::Vec::new().into(),
            }
            .into_com()
            .unwrap()
        }
        fn take(&self, c: Chain<'_>) {
            let mut got = self.got.lock().unwrap();
            for e in c {
                got.push(e.data().get(1).copied().unwrap_or(0xFF));
            }
        }
        fn counts(f: &IMXF) -> (u64, u64, std::vec::Vec<u8>) {
            // SAFETY: `f` is chain 0 of a live Recorder (made by `Recorder::new`).
            let r = unsafe { ComObject::<Recorder>::value_of::<0>(f.as_raw()) };
            (
                r.by_message.load(core::sync::atomic::Ordering::Relaxed),
                r.by_chain.load(core::sync::atomic::Ordering::Relaxed),
                r.got.lock().unwrap().clone(),
            )
        }
    }
    impl IMXF_Impl for Recorder {
        fn SetState(&self, _s: KSSTATE) -> NTSTATUS {
            STATUS_SUCCESS
        }
        unsafe fn PutMessage(&self, e: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            self.by_message
                .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            // SAFETY: we own the chain handed to us.
            self.take(unsafe { Chain::from_raw(e, &self.alloc) });
            STATUS_SUCCESS
        }
        fn ConnectOutput(&self, _s: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            crate::abi::STATUS_UNSUCCESSFUL
        }
        fn DisconnectOutput(&self, _s: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            crate::abi::STATUS_UNSUCCESSFUL
        }
    }
    impl IMxfFilter_Impl for Recorder {
        unsafe fn PutChain(
            &self,
            head: *mut DMUS_KERNEL_EVENT,
            tail: *mut DMUS_KERNEL_EVENT,
            len: usize,
            packages: u8,
        ) -> NTSTATUS {
            self.by_chain
                .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            // SAFETY: we own the chain handed to us; `from_raw` walks it, so the shape the
            // sender vouched for is checked against the real one.
            let c = unsafe { Chain::from_raw(head, &self.alloc) };
            assert_eq!(c.len(), len, "the count PutChain vouches for");
            let (mut e, mut last, mut any_package) = (c.into_raw(), core::ptr::null_mut(), false);
            let head = e;
            while !e.is_null() {
                // SAFETY: an event of the (acyclic, `from_raw` cut any cycle) chain we own.
                unsafe {
                    any_package |= (*e).is_package();
                    last = e;
                    e = (*e).pNextEvt;
                }
            }
            assert_eq!(last, tail, "the tail PutChain vouches for");
            assert_eq!(
                any_package,
                packages != 0,
                "the package flag PutChain vouches for"
            );
            // SAFETY: ours, handed back whole.
            self.take(unsafe { Chain::from_raw(head, &self.alloc) });
            STATUS_SUCCESS
        }
    }

    /// Every event back in the allocator, its books in order.
    fn assert_balanced(alloc: &AllocatorHandle) {
        assert_eq!(alloc.stats().outstanding_events, 0);
        assert!(alloc.audit());
    }

    /// `a` → `b` → a recorder, `b` a `Pass`.
    fn row<A: IntoFilter>(
        alloc: &AllocatorHandle,
        a: A,
    ) -> (FilterHandle<A>, FilterHandle<Pass>, IMXF) {
        let a = a.into_filter(alloc).unwrap();
        let b = Pass.into_filter(alloc).unwrap();
        let r = Recorder::create(alloc);
        assert_eq!(a.ConnectOutput(Some(b.to_ref())), STATUS_SUCCESS);
        assert_eq!(b.ConnectOutput(Some(r.to_ref())), STATUS_SUCCESS);
        (a, b, r)
    }

    #[test]
    fn a_filter_hands_a_chain_to_a_filter_through_put_chain() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let (a, b, r) = row(&alloc, Pass);
        // A filter answers IMxfFilter with its very pointer (chain 0); so does the recorder.
        let q: IMxfFilter = b.cast().unwrap();
        assert_eq!(q.as_raw(), b.as_raw());
        drop(q);
        // Five events: a → b by PutChain (b takes the shape on trust), b → r by PutChain
        // (r checks the shape it is given against a walk of its own).
        let v = chain_of(&alloc, 5);
        // SAFETY: a chain of the test, handed over.
        assert_eq!(unsafe { a.PutMessage(v[0]) }, STATUS_SUCCESS);
        assert_eq!(b.stats().events_in, 5);
        assert_eq!(b.stats().calls, 1);
        assert_eq!(Recorder::counts(&r), (0, 1, std::vec![0, 1, 2, 3, 4]));
        // One event: PutMessage, whose one-event path needs no walk either.
        let v = chain_of(&alloc, 1);
        // SAFETY: as above.
        assert_eq!(unsafe { a.PutMessage(v[0]) }, STATUS_SUCCESS);
        assert_eq!(Recorder::counts(&r), (1, 1, std::vec![0, 1, 2, 3, 4, 0]));
        // A cycle given to the head is cut there: downstream gets (and trusts) a clean chain.
        let v = chain_of(&alloc, 3);
        // SAFETY: events of the test (the last links back to the first), handed over.
        unsafe {
            let (first, last) = (v[0], v[2]);
            (*last).pNextEvt = first;
            assert_eq!(a.PutMessage(first), STATUS_SUCCESS);
        }
        assert_eq!(Recorder::counts(&r).1, 2);
        assert_eq!(Recorder::counts(&r).2.len(), 9);
        // After a disconnect the output goes to the allocator; nothing else changes.
        assert_eq!(b.DisconnectOutput(Some(r.to_ref())), STATUS_SUCCESS);
        let v = chain_of(&alloc, 2);
        // SAFETY: as above.
        assert_eq!(unsafe { a.PutMessage(v[0]) }, STATUS_SUCCESS);
        assert_eq!(Recorder::counts(&r).1, 2);
        assert_eq!(b.stats().events_in, 11);
        assert_balanced(&alloc);
    }

    #[crate::mxf_filter]
    struct Whole;
    impl Filter for Whole {
        const PACKAGES: PackagePolicy = PackagePolicy::PassWhole;
        fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
            out.push(event);
        }
    }

    #[test]
    fn a_package_passed_whole_is_flagged_and_unwrapped_downstream() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let (a, b, r) = row(&alloc, Whole);
        // A note, then a package of two notes: `a` passes the package whole, flagged, and `b`
        // (which unwraps) processes the contents in its place.
        let v = chain_of(&alloc, 4);
        // SAFETY: events of the test: v[1] becomes a package holding v[2] and v[3].
        unsafe {
            let (note, package, contents) = (v[0], v[1], v[2]);
            (*note).pNextEvt = package;
            (*package).pNextEvt = core::ptr::null_mut();
            (*package).usFlags |= crate::abi::DMUS_KEF_PACKAGE_EVENT;
            (*package).cbEvent = 0;
            (*package).uData.pPackageEvt = contents;
            assert_eq!(a.PutMessage(note), STATUS_SUCCESS);
        }
        assert_eq!(a.stats().events_in, 2);
        assert_eq!(b.stats().events_in, 3);
        assert_eq!(Recorder::counts(&r), (0, 1, std::vec![0, 2, 3]));
        assert_balanced(&alloc);
    }

    #[test]
    fn a_handle_of_an_ancestor_interface_holds_the_first_chain_that_extends_it() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        // A filter's chain 0 is an IMxfFilter: an IMXF and an IUnknown handle both hold it.
        let f = Pass.into_filter(&alloc).unwrap();
        let q: IMxfFilter = f.cast().unwrap();
        assert_eq!(f.as_raw(), q.as_raw());
        let u = ObjectHandle::<Pass, crate::interfaces::IUnknown>::create(FilterObject::new(
            Pass,
            (*alloc).clone(),
        ))
        .unwrap();
        let imxf: IMXF = u.cast().unwrap();
        assert_eq!(u.as_raw(), imxf.as_raw());
        assert_eq!(u.value().stats().calls, 0);
        // An interface no chain is or extends is refused, nothing leaked.
        let other =
            ObjectHandle::<Pass, IAllocatorMXF>::create(FilterObject::new(Pass, (*alloc).clone()));
        assert_eq!(other.err(), Some(STATUS_INVALID_PARAMETER));
    }

    #[test]
    fn put_chain_trusts_a_shape_and_walks_a_chain_without_one() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let f = Pass.into_filter(&alloc).unwrap();
        let q: IMxfFilter = f.cast().unwrap();
        // A shape: taken as given.
        let v = chain_of(&alloc, 3);
        // SAFETY: a chain of the test, with its true shape, handed over.
        assert_eq!(unsafe { q.PutChain(v[0], v[2], 3, 0) }, STATUS_SUCCESS);
        assert_eq!(f.stats().events_in, 3);
        // No shape (NULL tail, or a count of 0): walked as PutMessage walks, a cycle cut.
        for (tail, len) in [(true, 2), (false, 0)] {
            let v = chain_of(&alloc, 2);
            // SAFETY: events of the test (the last links back to the first), handed over.
            unsafe {
                let (first, second) = (v[0], v[1]);
                (*second).pNextEvt = first;
                let tail = if tail { core::ptr::null_mut() } else { second };
                assert_eq!(q.PutChain(first, tail, len, 0), STATUS_SUCCESS);
            }
        }
        assert_eq!(f.stats().events_in, 7);
        // NULL head: nothing. A misaligned tail: refused unread, the chain stays the caller's.
        let none = core::ptr::null_mut();
        // SAFETY: nothing is handed over.
        assert_eq!(unsafe { q.PutChain(none, none, 1, 0) }, STATUS_SUCCESS);
        let v = chain_of(&alloc, 2);
        let bad = core::ptr::without_provenance_mut::<DMUS_KERNEL_EVENT>(3);
        let first = v[0];
        // SAFETY: the filter must refuse the call without taking or reading anything.
        let refused = unsafe { q.PutChain(first, bad, 2, 0) };
        assert_eq!(refused, STATUS_INVALID_PARAMETER);
        assert_eq!(f.stats().events_in, 7);
        assert_eq!(alloc.stats().outstanding_events, 2);
        // SAFETY: still ours: returned.
        unsafe { alloc.PutMessage(v[0]) };
        assert_balanced(&alloc);
    }

    #[test]
    fn misaligned_pointers_are_refused_unread() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let f = Pass.into_filter(&alloc).unwrap();
        let bad = core::ptr::without_provenance_mut::<DMUS_KERNEL_EVENT>(3);
        // SAFETY: the filter must refuse the pointer without dereferencing it.
        assert_eq!(unsafe { f.PutMessage(bad) }, STATUS_INVALID_PARAMETER);
        // A good event whose link is misaligned: the event is handled, the link not followed.
        let e = Event::with_bytes(&alloc, &[0x90, 60, 1], 1, 0)
            .unwrap()
            .into_raw();
        // SAFETY: `e` is ours until handed over.
        unsafe { (*e).pNextEvt = bad };
        // SAFETY: handing the event over.
        assert_eq!(unsafe { f.PutMessage(e) }, STATUS_SUCCESS);
        assert_eq!(f.stats().events_in, 1);
        assert_eq!(alloc.stats().outstanding_events, 0);
    }
}
