//! [`ServiceTimer`]: a one-shot timer that asks an `IServiceSink` for service at
//! DISPATCH_LEVEL, the way a miniport retries a write the device refused.
//!
//! In a driver (`cfg(windows)` + feature `driver`) it is a `KTIMER` and a `KDPC`
//! (`KeInitializeTimer`, `KeInitializeDpc`, `KeSetTimer` with a relative due time,
//! `KeCancelTimer`); elsewhere a model of those four calls whose expiry a test drives
//! ([`ServiceTimer::expire`], [`ServiceTimer::run_dpc`]), so the reference counting the driver
//! runs is the one the host tests run:
//!
//! * [`set`](ServiceTimer::set) keeps the sink's reference (the AddRef is the caller's, taken
//!   before `KeSetTimer`); arming it again for the same sink moves the deadline and drops the
//!   duplicate reference;
//! * the DPC takes the reference, calls `RequestService` and releases it;
//! * [`cancel`](ServiceTimer::cancel) releases it only if `KeCancelTimer` returned TRUE (the
//!   timer was still queued: its DPC will not run); otherwise the DPC, queued or running, still
//!   owns it.
//!
//! So the sink lives until its timer has fired or been cancelled. If the sink's reference
//! keeps the timer's owner alive (a stream whose device holds the timer), the owner cannot go
//! while the timer is armed; the DPC's release may be the last one, after which the routine
//! touches nothing.

use crate::com::Interface;
use crate::interfaces::IServiceSink;
use crate::platform::SpinLock;
use core::ffi::c_void;

/// A one-shot timer that calls `RequestService` of the sink it was armed for (see the module
/// docs). It must not move once armed: keep it in a heap block (a field of a boxed device).
pub struct ServiceTimer {
    /// The sink the timer was armed for, AddRef'd, until the DPC takes it or a cancel that
    /// dequeued the timer releases it.
    sink: SpinLock<Option<IServiceSink>>,
    hw: hw::Hardware,
}

// SAFETY: the sink is behind a lock; the kernel objects are touched only by the kernel's own
// synchronised calls (and initialised once, under the lock).
unsafe impl Sync for ServiceTimer {}
// SAFETY: as above: nothing in it is tied to a thread.
unsafe impl Send for ServiceTimer {}

impl Default for ServiceTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceTimer {
    /// A timer, not armed.
    pub const fn new() -> Self {
        Self {
            sink: SpinLock::new(None),
            hw: hw::Hardware::new(),
        }
    }

    /// Arms the timer to ask `sink` for service `delay` (100 ns units, at least 0) from now:
    /// `KeSetTimer` with the relative due time `-delay`. If it is armed for `sink` already, the
    /// deadline moves and the duplicate reference is dropped; if it holds another sink, nothing
    /// is armed and `Err(sink)` gives the reference back. `Ok(true)` if the timer was queued
    /// (`KeSetTimer`'s answer). At or below DISPATCH_LEVEL.
    ///
    /// # Safety
    /// `self` does not move from now until it is dropped.
    pub unsafe fn set(&self, delay: i64, sink: IServiceSink) -> Result<bool, IServiceSink> {
        let mut kept = self.sink.lock();
        let duplicate = match &*kept {
            Some(current) if current.as_raw() != sink.as_raw() => return Err(sink),
            Some(_) => Some(sink),
            None => {
                *kept = Some(sink);
                None
            }
        };
        let context = core::ptr::from_ref(self).cast_mut().cast::<c_void>();
        // SAFETY: `self` does not move (caller); the DPC's context is `self`, alive while a
        // sink is kept (see the module docs).
        let queued = unsafe { self.hw.set(delay, context) };
        drop(kept);
        drop(duplicate);
        Ok(queued)
    }

    /// Cancels the timer if it is armed for `sink`: true if `KeCancelTimer` dequeued it, and
    /// then the reference is released; false if it was not armed for `sink`, or its DPC is
    /// queued or running (which releases the reference). At or below DISPATCH_LEVEL.
    pub fn cancel(&self, sink: &IServiceSink) -> bool {
        let mut kept = self.sink.lock();
        if kept.as_ref().map(IServiceSink::as_raw) != Some(sink.as_raw()) {
            return false;
        }
        if !self.hw.cancel() {
            return false;
        }
        let released = kept.take();
        drop(kept);
        drop(released);
        true
    }

    /// Whether the timer holds a sink (armed, or its DPC not yet run).
    pub fn is_armed(&self) -> bool {
        self.sink.lock().is_some()
    }

    /// Whether the timer holds `sink`.
    pub fn holds(&self, sink: &IServiceSink) -> bool {
        self.sink.lock().as_ref().map(IServiceSink::as_raw) == Some(sink.as_raw())
    }

    /// The DPC: takes the sink, asks it for service, releases it.
    fn fire(&self) {
        let sink = self.sink.lock().take();
        if let Some(sink) = sink {
            sink.RequestService();
        }
    }
}

impl Drop for ServiceTimer {
    fn drop(&mut self) {
        // A timer still armed for a sink that does not keep its owner alive: dequeue it (the
        // reference is released with the field). Its DPC cannot be queued: the DPC would hold
        // a reference to this timer's context through the sink.
        if self.sink.get_mut().is_some() {
            let _ = self.hw.cancel();
        }
    }
}

/// `KDEFERRED_ROUTINE` of every [`ServiceTimer`]: `context` is the timer.
///
/// # Safety
/// Called by the kernel (or the host model) with the context given to `KeInitializeDpc`: a
/// live `ServiceTimer` (it holds a sink, whose reference keeps it alive).
unsafe extern "system" fn deferred_routine(
    _dpc: *mut c_void,
    context: *mut c_void,
    _argument1: *mut c_void,
    _argument2: *mut c_void,
) {
    // SAFETY: the context is a live ServiceTimer (caller).
    if let Some(timer) = unsafe { context.cast::<ServiceTimer>().as_ref() } {
        timer.fire();
    }
}

#[cfg(all(windows, feature = "driver"))]
mod hw {
    use super::deferred_routine;
    use crate::platform::atomic::{AtomicBool, Ordering};
    use crate::platform::driver::{self as nt, KDPC, KTIMER};
    use core::cell::UnsafeCell;
    use core::ffi::c_void;

    /// A `KTIMER` and its `KDPC`, initialised when first armed.
    pub(super) struct Hardware {
        timer: UnsafeCell<KTIMER>,
        dpc: UnsafeCell<KDPC>,
        initialized: AtomicBool,
    }

    impl Hardware {
        pub(super) const fn new() -> Self {
            Self {
                timer: UnsafeCell::new(KTIMER::zeroed()),
                dpc: UnsafeCell::new(KDPC::zeroed()),
                initialized: AtomicBool::new(false),
            }
        }

        /// `KeSetTimer(timer, -delay, dpc)`; the objects initialised first if they are not.
        ///
        /// # Safety
        /// Called under the timer's lock; `self` does not move from now on; `context` is the
        /// timer, alive while the DPC may run.
        pub(super) unsafe fn set(&self, delay: i64, context: *mut c_void) -> bool {
            if !self.initialized.load(Ordering::Acquire) {
                // SAFETY: fresh objects at their final address (caller), initialised once
                // (under the timer's lock), at or below DISPATCH_LEVEL.
                unsafe {
                    nt::initialize_timer(self.timer.get());
                    nt::initialize_dpc(self.dpc.get(), deferred_routine, context);
                }
                self.initialized.store(true, Ordering::Release);
            }
            // SAFETY: initialised objects; a relative due time.
            unsafe {
                nt::set_timer(
                    self.timer.get(),
                    delay.saturating_neg().min(0),
                    self.dpc.get(),
                )
            }
        }

        /// `KeCancelTimer`: true if the timer was queued (its DPC will not run).
        pub(super) fn cancel(&self) -> bool {
            if !self.initialized.load(Ordering::Acquire) {
                return false;
            }
            // SAFETY: an initialised timer.
            unsafe { nt::cancel_timer(self.timer.get()) }
        }
    }
}

#[cfg(not(all(windows, feature = "driver")))]
mod hw {
    use super::deferred_routine;
    use crate::platform::SpinLock;
    use core::ffi::c_void;

    #[derive(Default)]
    struct State {
        /// In the timer queue (`KeSetTimer` ran, not expired nor cancelled).
        queued: bool,
        /// Expired: the DPC is queued and has not run.
        dpc_queued: bool,
        /// The relative due time of the last `KeSetTimer`.
        due: i64,
        context: Context,
    }

    /// The DPC's context pointer, kept with its provenance (Miri checks it strictly).
    struct Context(*mut c_void);

    impl Default for Context {
        fn default() -> Self {
            Self(core::ptr::null_mut())
        }
    }

    // SAFETY: the pointer is only stored here and handed back to `deferred_routine`, as the
    // kernel's DPC object keeps it; what it points to is the timer, which is `Send + Sync`.
    unsafe impl Send for Context {}

    /// The host's model of a `KTIMER` and its `KDPC`.
    pub(super) struct Hardware {
        state: SpinLock<State>,
    }

    impl Hardware {
        pub(super) const fn new() -> Self {
            Self {
                state: SpinLock::new(State {
                    queued: false,
                    dpc_queued: false,
                    due: 0,
                    context: Context(core::ptr::null_mut()),
                }),
            }
        }

        /// # Safety
        /// As the kernel's.
        pub(super) unsafe fn set(&self, delay: i64, context: *mut c_void) -> bool {
            let mut s = self.state.lock();
            let was = s.queued;
            s.queued = true;
            s.due = delay.saturating_neg().min(0);
            s.context = Context(context);
            was
        }

        pub(super) fn cancel(&self) -> bool {
            core::mem::replace(&mut self.state.lock().queued, false)
        }

        pub(super) fn due(&self) -> Option<i64> {
            let s = self.state.lock();
            s.queued.then_some(s.due)
        }

        pub(super) fn expire(&self) -> bool {
            let mut s = self.state.lock();
            let was = core::mem::replace(&mut s.queued, false);
            if was {
                s.dpc_queued = true;
            }
            was
        }

        pub(super) fn run_dpc(&self) -> bool {
            let context = {
                let mut s = self.state.lock();
                if !core::mem::replace(&mut s.dpc_queued, false) {
                    return false;
                }
                s.context.0
            };
            // SAFETY: the context `set` was given: the timer, alive while it holds a sink.
            unsafe {
                deferred_routine(
                    core::ptr::null_mut(),
                    context,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                )
            };
            true
        }
    }
}

/// The host model's controls (off the kernel): what the kernel's timer queue and DPC queue do,
/// step by step.
#[cfg(not(all(windows, feature = "driver")))]
impl ServiceTimer {
    /// The relative due time (negative, 100 ns units) the timer is queued with, if queued.
    pub fn due(&self) -> Option<i64> {
        self.hw.due()
    }

    /// The due time passes: a queued timer leaves the timer queue and its DPC is queued (not
    /// run yet). True if it was queued.
    pub fn expire(&self) -> bool {
        self.hw.expire()
    }

    /// Runs the queued DPC, if any (true then).
    pub fn run_dpc(&self) -> bool {
        self.hw.run_dpc()
    }

    /// [`expire`](Self::expire), then [`run_dpc`](Self::run_dpc): true if the DPC ran.
    pub fn fire_now(&self) -> bool {
        self.expire() && self.run_dpc()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::com::ObjectHandle;
    use crate::interfaces::IServiceSink_Impl;
    use crate::platform::atomic::{AtomicU32, Ordering};

    #[crate::com_object(IServiceSink)]
    struct Counter {
        calls: AtomicU32,
    }

    impl IServiceSink_Impl for Counter {
        fn RequestService(&self) {
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    type Sink = ObjectHandle<Counter, IServiceSink>;

    fn sink() -> Sink {
        Sink::create(Counter {
            calls: AtomicU32::new(0),
        })
        .unwrap_or_else(|_| unreachable!())
    }

    fn refs(sink: &Sink) -> u32 {
        let s = sink.interface();
        // SAFETY: a live interface; the AddRef is undone at once.
        unsafe {
            s.AddRef();
            s.Release()
        }
    }

    fn calls(sink: &Sink) -> u32 {
        sink.value().calls.load(Ordering::Relaxed)
    }

    fn new_ref(sink: &Sink) -> IServiceSink {
        sink.interface().clone()
    }

    #[test]
    fn the_dpc_services_the_sink_and_releases_its_reference() {
        let timer = ServiceTimer::new();
        let s = sink();
        let base = refs(&s);
        // SAFETY: a local that is not moved.
        assert_eq!(unsafe { timer.set(10_000, new_ref(&s)) }.ok(), Some(false));
        assert_eq!(timer.due(), Some(-10_000), "relative: negative");
        assert_eq!(refs(&s), base + 1, "AddRef'd before KeSetTimer");
        // Arming again moves the deadline and keeps one reference.
        // SAFETY: as above.
        assert_eq!(unsafe { timer.set(20_000, new_ref(&s)) }.ok(), Some(true));
        assert_eq!(timer.due(), Some(-20_000));
        assert_eq!(refs(&s), base + 1);
        assert!(timer.fire_now());
        assert_eq!(calls(&s), 1);
        assert_eq!(refs(&s), base, "released by the DPC");
        assert!(!timer.fire_now(), "one-shot");
        assert!(!timer.is_armed());
    }

    #[test]
    fn a_cancel_releases_only_what_it_dequeued() {
        let timer = ServiceTimer::new();
        let (s, other) = (sink(), sink());
        let base = refs(&s);
        // SAFETY: a local that is not moved.
        let _ = unsafe { timer.set(10_000, new_ref(&s)) };
        // Another sink is refused while it is armed, its reference handed back.
        // SAFETY: as above.
        let back = unsafe { timer.set(10_000, new_ref(&other)) };
        assert!(back.is_err_and(|b| b.as_raw() == other.interface().as_raw()));
        assert!(!timer.cancel(other.interface()), "not armed for it");
        assert!(timer.cancel(s.interface()), "dequeued");
        assert_eq!(refs(&s), base, "released after KeCancelTimer returned TRUE");
        assert!(!timer.expire() && !timer.run_dpc());
        assert_eq!(calls(&s), 0);

        // Expired, DPC queued: the cancel is too late; the DPC still serves and releases.
        // SAFETY: as above.
        let _ = unsafe { timer.set(10_000, new_ref(&s)) };
        assert!(timer.expire());
        assert!(!timer.cancel(s.interface()), "KeCancelTimer returned FALSE");
        assert_eq!(refs(&s), base + 1, "the DPC owns it");
        assert!(timer.run_dpc());
        assert_eq!((calls(&s), refs(&s)), (1, base));
    }

    #[test]
    fn a_timer_dropped_while_armed_releases_its_sink() {
        let s = sink();
        let base = refs(&s);
        let timer = ServiceTimer::new();
        // SAFETY: a local that is not moved.
        let _ = unsafe { timer.set(10_000, new_ref(&s)) };
        drop(timer);
        assert_eq!(refs(&s), base);
    }
}
