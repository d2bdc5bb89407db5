//! The output side of an MXF: the connection rules every Microsoft MXF follows
//! (`domain.md` §1.3, items 27–29), in one place for the framework's filters and components.
//!
//! * `ConnectOutput(NULL)` fails with `STATUS_UNSUCCESSFUL`.
//! * `ConnectOutput(s)` connects the first free output; when every output is connected it fails
//!   with `STATUS_UNSUCCESSFUL`: a connection is never replaced.
//! * `DisconnectOutput(s)` disconnects the output holding `s`; `DisconnectOutput(NULL)`
//!   disconnects every output; anything else fails with `STATUS_UNSUCCESSFUL`.
//! * An output that is not connected delivers to the allocator (the owner's business).
//!
//! References are taken before the owner's lock and released after it, so `AddRef`/`Release`
//! of a sink never run under the lock.
//!
//! `#[mxf_filter]` objects and the built-in components use it already. An MXF written with
//! `#[com_object(IMXF)]` instead (a miniport's capture stream, say) keeps its [`Outputs`] under
//! its lock and answers `ConnectOutput` / `DisconnectOutput` with these functions:
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::connection::{Outputs, connect_output, disconnect_output_from};
//! use mxf::platform::SpinLock;
//! use mxf::platform::atomic::{AtomicU32, Ordering};
//! use mxf::prelude::*;
//!
//! /// A capture stream's output side: sends on what it is given.
//! #[com_object(IMXF)]
//! struct Stream {
//!     alloc: IAllocatorMXF,
//!     outputs: SpinLock<Outputs<1>>,
//! }
//!
//! impl IMXF_Impl for Stream {
//!     fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
//!         STATUS_SUCCESS
//!     }
//!     unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
//!         // SAFETY: the caller hands over a chain of events of this pin's allocator.
//!         let chain = unsafe { Chain::from_raw(event, &self.alloc) };
//!         // An AddRef'd copy of the sink, so the delivery happens outside the lock.
//!         let [sink] = self.outputs.lock().snapshot();
//!         chain.deliver(sink.as_ref()) // unconnected: back to the allocator
//!     }
//!     fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
//!         connect_output(&self.outputs, |o| o, sink, 1)
//!     }
//!     fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
//!         disconnect_output_from(&self.outputs, |o| o, sink, &self.alloc)
//!     }
//! }
//!
//! /// The next MXF: counts what arrives.
//! #[mxf_filter]
//! struct Count {
//!     got: AtomicU32,
//! }
//!
//! impl Filter for Count {
//!     fn process<'a>(&self, _event: Event<'a>, _out: &mut Output<'a>) {
//!         self.got.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let outputs = SpinLock::new(Outputs::new());
//! let stream: IMXF = Stream { alloc: alloc.interface().clone(), outputs }.into_com()?;
//! let count = Count { got: AtomicU32::new(0) }.into_filter(&alloc)?;
//!
//! assert_eq!(stream.ConnectOutput(None), STATUS_UNSUCCESSFUL);
//! assert_eq!(stream.ConnectOutput(Some(count.to_ref())), STATUS_SUCCESS);
//! assert_eq!(stream.ConnectOutput(Some(count.to_ref())), STATUS_UNSUCCESSFUL); // never replaced
//! let mut chain = Chain::new(&alloc);
//! chain.push_back(Event::with_bytes(&alloc, &[0xFE], 1, 0)?);
//! chain.deliver(Some(&stream));
//! assert_eq!(count.filter().got.load(Ordering::Relaxed), 1);
//! assert_eq!(stream.DisconnectOutput(None), STATUS_SUCCESS); // disconnects every output
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::{NTSTATUS, STATUS_SUCCESS, STATUS_UNSUCCESSFUL};
use crate::com::{ComRef, Interface};
use crate::interfaces::IMXF;
use crate::platform::SpinLock;

/// Up to `N` output connections.
pub struct Outputs<const N: usize> {
    sinks: [Option<IMXF>; N],
    /// Per output: the sink is an `#[mxf_filter]` object that takes chains through
    /// `IMxfFilter::PutChain` (false where no sink is connected).
    filters: [bool; N],
}

impl<const N: usize> Default for Outputs<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Outputs<N> {
    /// No output connected.
    pub const fn new() -> Self {
        Self {
            sinks: [const { None }; N],
            filters: [false; N],
        }
    }

    /// Connects `sink` to the first free output among the first `limit`; gives it back if all
    /// of them are connected.
    pub fn connect_within(&mut self, sink: IMXF, limit: usize) -> Result<(), IMXF> {
        self.connect_within_as(sink, limit, false)
    }

    /// [`connect_within`](Self::connect_within), noting whether `sink` is an `#[mxf_filter]`
    /// object that takes chains through `IMxfFilter::PutChain`.
    pub(crate) fn connect_within_as(
        &mut self,
        sink: IMXF,
        limit: usize,
        filter: bool,
    ) -> Result<(), IMXF> {
        let free = self
            .sinks
            .iter_mut()
            .zip(self.filters.iter_mut())
            .take(limit)
            .find(|(s, _)| s.is_none());
        match free {
            Some((slot, is_filter)) => {
                *slot = Some(sink);
                *is_filter = filter;
                Ok(())
            }
            None => Err(sink),
        }
    }

    /// Takes the connection(s) `DisconnectOutput(sink)` names: the output holding `sink`, or all
    /// for `None`. `Err` if `sink` is not connected.
    pub fn disconnect(
        &mut self,
        sink: Option<ComRef<'_, IMXF>>,
    ) -> Result<[Option<IMXF>; N], NTSTATUS> {
        let mut taken: [Option<IMXF>; N] = [const { None }; N];
        match sink {
            None => {
                core::mem::swap(&mut taken, &mut self.sinks);
                self.filters = [false; N];
            }
            Some(s) => {
                let (slot, is_filter) = self
                    .sinks
                    .iter_mut()
                    .zip(self.filters.iter_mut())
                    .find(|(x, _)| x.as_ref().is_some_and(|x| x.as_raw() == s.as_raw()))
                    .ok_or(STATUS_UNSUCCESSFUL)?;
                *is_filter = false;
                if let Some(first) = taken.first_mut() {
                    *first = slot.take();
                }
            }
        }
        Ok(taken)
    }

    /// Output `k`, if connected.
    pub fn get(&self, k: usize) -> Option<&IMXF> {
        self.sinks.get(k).and_then(Option::as_ref)
    }

    /// True if output `k` is connected to an `#[mxf_filter]` object that takes chains through
    /// `IMxfFilter::PutChain` (see [`connect_within_as`](Self::connect_within_as)).
    pub(crate) fn is_filter(&self, k: usize) -> bool {
        // False where no sink is connected: every connect sets the flag, every disconnect
        // clears it (and a stray flag without a sink would still deliver to the allocator).
        self.filters.get(k).copied().unwrap_or(false)
    }

    /// True if output 0 is connected.
    pub fn is_connected(&self) -> bool {
        self.get(0).is_some()
    }

    /// AddRef'd copies of every output, to deliver outside the owner's lock.
    pub fn snapshot(&self) -> [Option<IMXF>; N] {
        self.sinks.clone()
    }

    /// AddRef'd copies of the first `n` outputs (the others `None`): [`snapshot`] for an owner
    /// that uses only those (a filter with fewer outputs than `N`), which spares the copies of
    /// the rest.
    ///
    /// [`snapshot`]: Self::snapshot
    #[inline]
    pub(crate) fn snapshot_first(&self, n: usize) -> [Option<IMXF>; N] {
        let mut out = [const { None }; N];
        for (o, s) in out.iter_mut().zip(&self.sinks).take(n) {
            o.clone_from(s);
        }
        out
    }
}

/// `ConnectOutput` for an object whose outputs live in `lock`, reached through `outputs`;
/// at most `limit` outputs are used.
pub fn connect_output<S, const N: usize>(
    lock: &SpinLock<S>,
    outputs: impl FnOnce(&mut S) -> &mut Outputs<N>,
    sink: Option<ComRef<'_, IMXF>>,
    limit: usize,
) -> NTSTATUS {
    connect_output_not_to(lock, outputs, sink, limit, |_| false)
}

/// [`connect_output`] for an object that refuses a connection to itself: `is_self(sink)` tells
/// (usually [`ComObject::holds_interface`](crate::com::ComObject::holds_interface)), and such a
/// sink is refused with `STATUS_INVALID_PARAMETER` (every event delivered would come back in,
/// without end).
pub fn connect_output_not_to<S, const N: usize>(
    lock: &SpinLock<S>,
    outputs: impl FnOnce(&mut S) -> &mut Outputs<N>,
    sink: Option<ComRef<'_, IMXF>>,
    limit: usize,
    is_self: impl FnOnce(*const core::ffi::c_void) -> bool,
) -> NTSTATUS {
    connect_output_probing(lock, outputs, sink, limit, is_self, |_| false)
}

/// [`connect_output_not_to`] that also asks `is_filter(sink)`, before taking the lock, whether
/// the sink takes chains through `IMxfFilter::PutChain`, and notes the answer with the output.
pub(crate) fn connect_output_probing<S, const N: usize>(
    lock: &SpinLock<S>,
    outputs: impl FnOnce(&mut S) -> &mut Outputs<N>,
    sink: Option<ComRef<'_, IMXF>>,
    limit: usize,
    is_self: impl FnOnce(*const core::ffi::c_void) -> bool,
    is_filter: impl FnOnce(&IMXF) -> bool,
) -> NTSTATUS {
    let Some(sink) = sink else {
        return STATUS_UNSUCCESSFUL;
    };
    if is_self(sink.as_raw()) {
        return crate::abi::STATUS_INVALID_PARAMETER;
    }
    let sink = sink.to_owned();
    let filter = is_filter(&sink);
    let refused = {
        let mut guard = lock.lock();
        outputs(&mut guard).connect_within_as(sink, limit, filter)
    };
    match refused {
        Ok(()) => STATUS_SUCCESS,
        // The refused reference is released here, outside the lock.
        Err(_) => STATUS_UNSUCCESSFUL,
    }
}

/// [`disconnect_output`] for an object that delivers to `allocator` while unconnected, as
/// Microsoft's MXFs do (their sink *is* the allocator then): `DisconnectOutput(allocator)` of an
/// unconnected object names its current sink and succeeds, changing nothing (`domain.md` §1.3,
/// item 29).
pub fn disconnect_output_from<S, const N: usize>(
    lock: &SpinLock<S>,
    outputs: impl FnOnce(&mut S) -> &mut Outputs<N>,
    sink: Option<ComRef<'_, IMXF>>,
    allocator: &crate::interfaces::IAllocatorMXF,
) -> NTSTATUS {
    disconnect(lock, outputs, sink, |s| s == allocator.as_raw())
}

/// `DisconnectOutput` for an object whose outputs live in `lock`, reached through `outputs`.
pub fn disconnect_output<S, const N: usize>(
    lock: &SpinLock<S>,
    outputs: impl FnOnce(&mut S) -> &mut Outputs<N>,
    sink: Option<ComRef<'_, IMXF>>,
) -> NTSTATUS {
    disconnect(lock, outputs, sink, |_| false)
}

/// Both of the above: `is_allocator(sink)` names the sink an unconnected object delivers to.
fn disconnect<S, const N: usize>(
    lock: &SpinLock<S>,
    outputs: impl FnOnce(&mut S) -> &mut Outputs<N>,
    sink: Option<ComRef<'_, IMXF>>,
    is_allocator: impl FnOnce(*mut core::ffi::c_void) -> bool,
) -> NTSTATUS {
    let taken = {
        let mut guard = lock.lock();
        let outs = outputs(&mut guard);
        match outs.disconnect(sink) {
            Err(_) if !outs.is_connected() && sink.is_some_and(|s| is_allocator(s.as_raw())) => {
                Ok([const { None }; N])
            }
            other => other,
        }
    };
    match taken {
        // The references are released here, outside the lock.
        Ok(_) => STATUS_SUCCESS,
        Err(s) => s,
    }
}
