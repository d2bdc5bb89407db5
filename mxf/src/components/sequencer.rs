//! The render sequencer (`CSequencerMXF`'s counterpart, `domain.md` §4.2, items 31–36).
//!
//! The sequencer sits between the unpacker and the miniport's render stream. It holds events
//! until they are due on the master clock and then sends them downstream, sorted by
//! presentation time.
//!
//! # Behaviour
//! * `PutMessage(chain)` takes the chain apart and inserts every event into a queue sorted by
//!   `ullPresTime100ns`; events with equal times keep their arrival order (item 31). A package is
//!   queued whole, as one event, at the package shell's time. Then it runs
//!   [`SequencerHandle::process_queues`].
//! * `process_queues` reads the master clock once, detaches every event whose time is at most
//!   `now + SchedulePreFetch` and sends them downstream as **one** `PutMessage` chain (item 32).
//!   With `SchedulePreFetch == DONT_HOLD_FOR_SEQUENCING` it sends the whole queue without reading
//!   the clock (item 33). It returns the delay until the next event is due, never less than 1 ms
//!   (item 34); the environment's timer calls `process_queues` again after that delay
//!   ([`SequencerHandle::next_wakeup`] gives the same deadline as an absolute clock time).
//! * `SetState` returns `STATUS_NOT_IMPLEMENTED` and does not gate delivery (item 35).
//! * `ConnectOutput` / `DisconnectOutput` follow `domain.md` §1.3 (items 27–29); while no output
//!   is connected, due events go to the allocator (item 30). A connection to the sequencer itself
//!   is refused with `STATUS_INVALID_PARAMETER`.
//! * Destroying the sequencer returns every queued event to the allocator (item 36).
//!
//! # Differences from Microsoft's sequencer
//! * `PutMessage(NULL)` returns `STATUS_SUCCESS` (Microsoft's dereferences NULL).
//! * A malformed incoming chain (a misaligned link or a cycle) is not queued: it is handed to
//!   the allocator, which recycles what it can and counts the misuse, and `PutMessage` returns
//!   `STATUS_INVALID_PARAMETER`.
//! * If the master clock fails to answer, nothing is delivered and the sequencer asks to be run
//!   again after 1 ms (Microsoft's port clock never fails).
//! * Delivery happens with the sequencer's lock released, and at most one CPU delivers at a
//!   time: a call that finds a delivery in progress leaves its due events to that delivery, so
//!   chains reach the miniport in the order they were taken from the queue, and a sink that
//!   calls back into the sequencer cannot deadlock.
//!
//! # Cost
//! An incoming chain is sorted by time outside the lock (one walk when it is in order, the
//! common case; a stable merge sort otherwise, O(n log n)), then queued under it in a
//! [`TimeQueue`]: O(1) when it starts no earlier than the last queued event (the common case),
//! O(log n) a event amortised when its times interleave with the queue's (an echo's repeats,
//! seconds ahead of the stream: one walk of the whole queue per chain made that quadratic).
//! Nothing allocates, nothing recurses.
//!
//! # Example
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::com::ObjectHandle;
//! use mxf::components::sequencer::SequencerHandle;
//! use mxf::platform::atomic::{AtomicI64, AtomicU32, Ordering};
//! use mxf::prelude::*;
//!
//! /// The port's master clock, moved by hand.
//! #[com_object(IMasterClock)]
//! struct Clock {
//!     now: AtomicI64,
//! }
//!
//! impl IMasterClock_Impl for Clock {
//!     unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
//!         if time.is_null() {
//!             return STATUS_INVALID_PARAMETER;
//!         }
//!         // SAFETY: non-NULL out-pointer from the caller.
//!         unsafe { time.write(self.now.load(Ordering::Relaxed)) };
//!         STATUS_SUCCESS
//!     }
//! }
//!
//! /// Stands where the miniport's render stream would: counts what arrives, then drops it.
//! #[mxf_filter]
//! struct Device {
//!     got: AtomicU32,
//! }
//!
//! impl Filter for Device {
//!     fn process<'a>(&self, _event: Event<'a>, _out: &mut Output<'a>) {
//!         self.got.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let clock = ObjectHandle::<Clock, IMasterClock>::create(Clock { now: AtomicI64::new(0) })?;
//! let device = Device { got: AtomicU32::new(0) }.into_filter(&alloc)?;
//! // No prefetch: an event leaves when the clock reaches its time.
//! let sequencer = SequencerHandle::new(alloc.interface().clone(), clock.interface().clone(), 0)?;
//! assert_eq!(sequencer.ConnectOutput(Some(device.to_ref())), STATUS_SUCCESS);
//!
//! let mut chain = Chain::new(&alloc);
//! chain.push_back(Event::with_bytes(&alloc, &[0x80, 60, 0], 1, 5_000_000)?);
//! chain.push_back(Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?);
//! chain.deliver(Some(sequencer.interface()));
//! // Sorted by time: the note on is due and gone, the note off waits.
//! assert_eq!(device.filter().got.load(Ordering::Relaxed), 1);
//! assert_eq!(sequencer.queued(), 1);
//! assert_eq!(sequencer.next_wakeup(), Some(5_000_000));
//!
//! // Half a second later the port's timer runs the queue again.
//! clock.value().now.store(5_000_000, Ordering::Relaxed);
//! assert_eq!(sequencer.process_queues(), None); // nothing left to wait for
//! assert_eq!(device.filter().got.load(Ordering::Relaxed), 2);
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::{
    DMUS_KERNEL_EVENT, DONT_HOLD_FOR_SEQUENCING, KSSTATE, NTSTATUS, REFERENCE_TIME, Result,
    STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS,
};
use crate::com::{ComRef, ObjectHandle};
use crate::connection::{Outputs, connect_output_not_to, disconnect_output_from};
use crate::event::{ChainEnd, EventList, TimeQueue, scan_chain, sort_chain_by_time};
use crate::interfaces::{IAllocatorMXF, IMXF, IMXF_Impl, IMasterClock};
use crate::platform::SpinLock;
use crate::platform::atomic::{AtomicU64, Ordering};

/// The shortest delay `process_queues` asks for when events remain: 1 ms in 100 ns units.
pub const MIN_RESCHEDULE_DELAY: u64 = 10_000;

/// Checks an incoming chain without changing it: every link aligned, no cycle
/// ([`scan_chain`]: O(n) steps, O(1) memory). Returns the number of events.
///
/// # Safety
/// `head` is non-NULL; every aligned pointer reachable through `pNextEvt` is a readable event
/// (the PutMessage contract).
unsafe fn check_chain(head: *mut DMUS_KERNEL_EVENT) -> core::result::Result<usize, NTSTATUS> {
    if !head.is_aligned() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: `head` is non-NULL and aligned; the rest is the caller's contract.
    let scan = unsafe { scan_chain(head) };
    match scan.end {
        ChainEnd::Null => Ok(scan.len),
        ChainEnd::Misaligned | ChainEnd::Cycle => Err(STATUS_INVALID_PARAMETER),
    }
}

/// What the sequencer counted since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequencerStats {
    /// Events received through `PutMessage` (a package counts as one).
    pub received: u64,
    /// Events sent downstream (or to the allocator while unconnected).
    pub delivered: u64,
    /// `PutMessage` calls made downstream.
    pub deliveries: u64,
    /// Malformed chains refused (handed to the allocator).
    pub refused_chains: u64,
    /// Events queued right now (not yet due, or being delivered).
    pub queued: u64,
}

struct State {
    /// Events not yet due, by time.
    queue: TimeQueue,
    /// Due events waiting for the CPU that is delivering.
    outbox: EventList,
    /// A CPU is delivering (outside the lock).
    delivering: bool,
    /// The output; unconnected, events go to the allocator.
    output: Outputs<1>,
    /// Master-clock time of the next due event, as computed by the last `process_queues`.
    wakeup: Option<REFERENCE_TIME>,
}

/// Which events `process_queues` may send.
#[derive(Clone, Copy)]
enum Due {
    /// Everything (`DONT_HOLD_FOR_SEQUENCING`).
    All,
    /// Events with time <= `due`; the clock read `now`.
    Until {
        now: REFERENCE_TIME,
        due: REFERENCE_TIME,
    },
    /// Nothing (the clock failed).
    Nothing,
}

/// The sequencer object (chain 0: IMXF). Create it with [`SequencerHandle::new`].
#[crate::com_object(IMXF, tag = "MXFs")]
pub struct Sequencer {
    alloc: IAllocatorMXF,
    clock: IMasterClock,
    prefetch: AtomicU64,
    /// The earliest re-arm delay ([`MIN_RESCHEDULE_DELAY`] unless changed).
    min_delay: AtomicU64,
    state: SpinLock<State>,
    received: AtomicU64,
    delivered: AtomicU64,
    deliveries: AtomicU64,
    refused: AtomicU64,
}

impl Sequencer {
    fn new(alloc: IAllocatorMXF, clock: IMasterClock, schedule_prefetch: u64) -> Self {
        Self {
            alloc,
            clock,
            prefetch: AtomicU64::new(schedule_prefetch),
            min_delay: AtomicU64::new(MIN_RESCHEDULE_DELAY),
            state: SpinLock::new(State {
                queue: TimeQueue::new(),
                outbox: EventList::new(),
                delivering: false,
                output: Outputs::new(),
                wakeup: None,
            }),
            received: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn now(&self) -> Option<REFERENCE_TIME> {
        let mut t: REFERENCE_TIME = 0;
        // SAFETY: a live clock we hold a reference to; `t` is a valid out-pointer.
        let s = unsafe { self.clock.GetTime(&mut t) };
        s.is_success().then_some(t)
    }

    fn process(&self) -> Option<u64> {
        let prefetch = self.prefetch.load(Ordering::Relaxed);
        let due = if prefetch == DONT_HOLD_FOR_SEQUENCING {
            Due::All
        } else {
            // The clock is read before the lock is taken: it is foreign code.
            match self.now() {
                Some(now) => Due::Until {
                    now,
                    due: now.saturating_add(i64::try_from(prefetch).unwrap_or(i64::MAX)),
                },
                None => Due::Nothing,
            }
        };
        let min_delay = self.min_delay.load(Ordering::Relaxed).max(1);
        let (deliver, delay) = {
            let mut st = self.state.lock();
            let taken = match due {
                Due::All => st.queue.take_all(),
                Due::Until { due, .. } => st.queue.take_until(due),
                Due::Nothing => EventList::new(),
            };
            // Merged, not appended: another CPU's delivery may still hold an earlier batch in
            // the outbox, and an event put since may be due before its last one; one chain
            // goes out sorted either way (items 31–32).
            // SAFETY: the outbox holds only batches taken from the queue, each sorted, merged
            // sorted; `taken` is such a batch.
            unsafe { st.outbox.merge_sorted(taken) };
            let delay = st.queue.first_time().map(|next| match due {
                Due::Until { due, .. } => delay_until(next, due, min_delay),
                Due::All | Due::Nothing => min_delay,
            });
            st.wakeup = match (due, delay) {
                (Due::Until { now, .. }, Some(d)) => {
                    Some(now.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)))
                }
                _ => None,
            };
            let deliver = !st.delivering && !st.outbox.is_empty();
            if deliver {
                st.delivering = true;
            }
            (deliver, delay)
        };
        if deliver {
            self.drain_outbox();
        }
        delay
    }

    /// Delivers the outbox until it stays empty. Only the CPU that set `delivering` runs this.
    fn drain_outbox(&self) {
        loop {
            let (list, sink) = {
                let mut st = self.state.lock();
                let list = st.outbox.take_all();
                if list.is_empty() {
                    st.delivering = false;
                    return;
                }
                // AddRef'd: a concurrent DisconnectOutput cannot free the sink under us.
                (list, st.output.get(0).cloned())
            };
            self.delivered
                .fetch_add(list.len() as u64, Ordering::Relaxed);
            self.deliveries.fetch_add(1, Ordering::Relaxed);
            let mut list = list;
            let head = list.take();
            // SAFETY: the chain is ours and handed over whole; the receiver owns it from here.
            // `sink` and `alloc` are live interfaces we hold references to.
            unsafe {
                match &sink {
                    Some(s) => s.PutMessage(head),
                    None => self.alloc.PutMessage(head),
                }
            };
            // `sink` is released here, outside the lock.
        }
    }

    fn put(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if head.is_null() {
            return STATUS_SUCCESS;
        }
        // SAFETY: `head` is non-NULL; PutMessage's contract makes the chain readable.
        let checked = unsafe { check_chain(head) };
        let n = match checked {
            Ok(n) => n,
            Err(s) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                // SAFETY: the chain was handed to us; the allocator validates every element
                // itself (foreign pointers, cycles) before touching it.
                unsafe { self.alloc.PutMessage(head) };
                return s;
            }
        };
        // Sorted before the lock is taken (stably; one walk when already in order), merged
        // into the queue under it.
        // SAFETY: the checked, acyclic, non-empty chain we own.
        let (head, tail) = unsafe { sort_chain_by_time(head) };
        {
            let mut st = self.state.lock();
            // SAFETY: the sorted chain of `n` live events we own, in no list; `tail` its last.
            unsafe { st.queue.insert_sorted_chain(head, tail, n) };
        }
        self.received.fetch_add(n as u64, Ordering::Relaxed);
        self.process();
        STATUS_SUCCESS
    }

    fn stats(&self) -> SequencerStats {
        let queued = {
            let st = self.state.lock();
            st.queue.len().saturating_add(st.outbox.len())
        };
        SequencerStats {
            received: self.received.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            deliveries: self.deliveries.load(Ordering::Relaxed),
            refused_chains: self.refused.load(Ordering::Relaxed),
            queued: queued as u64,
        }
    }
}

/// `next − due`, at least `min_delay`.
fn delay_until(next: REFERENCE_TIME, due: REFERENCE_TIME, min_delay: u64) -> u64 {
    let d = i128::from(next).saturating_sub(i128::from(due));
    u64::try_from(d).unwrap_or(0).max(min_delay)
}

impl Drop for Sequencer {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        let mut all = st.outbox.take_all();
        all.append(st.queue.take_all());
        if !all.is_empty() {
            // SAFETY: the queued events are ours; the allocator takes the whole chain back.
            unsafe { self.alloc.PutMessage(all.take()) };
        }
    }
}

impl IMXF_Impl for Sequencer {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        self.put(event)
    }

    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        connect_output_not_to(
            &self.state,
            |st| &mut st.output,
            sink,
            1,
            |s| crate::com::ComObject::<Sequencer>::holds_interface(self, s),
        )
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        disconnect_output_from(&self.state, |st| &mut st.output, sink, &self.alloc)
    }
}

/// An owned sequencer: its IMXF plus the port-side controls (`process_queues` for the timer,
/// the schedule prefetch, counters). Derefs to [`IMXF`].
pub type SequencerHandle = ObjectHandle<Sequencer, IMXF>;

impl ObjectHandle<Sequencer, IMXF> {
    /// Creates a sequencer that returns events to `alloc`, reads time from `clock` and delivers
    /// events `schedule_prefetch` (100 ns units) ahead of their presentation time
    /// (`DONT_HOLD_FOR_SEQUENCING`: at once). Fails only if the object cannot be allocated.
    pub fn new(alloc: IAllocatorMXF, clock: IMasterClock, schedule_prefetch: u64) -> Result<Self> {
        Self::create(Sequencer::new(alloc, clock, schedule_prefetch))
    }

    fn sequencer(&self) -> &Sequencer {
        self.value()
    }

    /// Changes the schedule prefetch (what the miniport's `NewStream` returned).
    pub fn set_schedule_prefetch(&self, prefetch: u64) {
        self.sequencer().prefetch.store(prefetch, Ordering::Relaxed);
    }

    /// Changes the earliest re-arm delay (100 ns units, at least 1). The default,
    /// [`MIN_RESCHEDULE_DELAY`] (1 ms), is Microsoft's, set by the kernel timer resolution; a
    /// host with a virtual clock has exact timers and may lower it so events leave on time.
    pub fn set_min_reschedule_delay(&self, delay: u64) {
        self.sequencer()
            .min_delay
            .store(delay.max(1), Ordering::Relaxed);
    }

    /// The current schedule prefetch.
    pub fn schedule_prefetch(&self) -> u64 {
        self.sequencer().prefetch.load(Ordering::Relaxed)
    }

    /// Reads the clock, delivers every due event (time <= now + prefetch) downstream as ONE
    /// chain (all at once, sorted, for `DONT_HOLD_FOR_SEQUENCING` without reading the clock);
    /// returns the delay in 100 ns until the next event is due, at least 10_000 (1 ms), or
    /// `None` if the queue is empty.
    pub fn process_queues(&self) -> Option<u64> {
        self.sequencer().process()
    }

    /// The master-clock time at which `process_queues` should run next, as computed by the
    /// last `process_queues` (including the one every `PutMessage` runs); `None` if nothing is
    /// waiting or the clock is not read (`DONT_HOLD_FOR_SEQUENCING`).
    pub fn next_wakeup(&self) -> Option<REFERENCE_TIME> {
        self.sequencer().state.lock().wakeup
    }

    /// Events held right now.
    pub fn queued(&self) -> usize {
        let st = self.sequencer().state.lock();
        st.queue.len().saturating_add(st.outbox.len())
    }

    /// The counters.
    pub fn stats(&self) -> SequencerStats {
        self.sequencer().stats()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    #[allow(unused_imports)]
    use crate::abi::STATUS_UNSUCCESSFUL;
    use crate::abi::{
        DMUS_KEF_PACKAGE_EVENT, KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP,
    };
    use crate::allocator::{AllocatorConfig, AllocatorHandle};
    #[allow(unused_imports)]
    use crate::com::{Interface, IntoComObject};
    use crate::event::{Chain, Event};
    use crate::interfaces::{IMXF_Vtbl, IMasterClock_Impl};
    use crate::platform::atomic::{AtomicI64, AtomicU32};
    use core::ffi::c_void;
    use std::sync::{Arc, Mutex};
    use std::vec;
    use std::vec::Vec;

    /// A master clock whose time the test sets; counts how often it is read.
    #[crate::com_object(IMasterClock)]
    struct TestClock {
        now: Arc<AtomicI64>,
        reads: Arc<AtomicU32>,
    }

    impl IMasterClock_Impl for TestClock {
        unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
            if time.is_null() {
                return STATUS_INVALID_PARAMETER;
            }
            self.reads.fetch_add(1, Ordering::Relaxed);
            // SAFETY: non-NULL out-pointer from the caller.
            unsafe { time.write(self.now.load(Ordering::Relaxed)) };
            STATUS_SUCCESS
        }
    }

    /// One event as a sink saw it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Seen {
        bytes: Vec<u8>,
        time: i64,
        group: u16,
        flags: u16,
    }

    #[derive(Default)]
    struct Log {
        calls: Vec<Vec<Seen>>,
    }

    /// A sink that records every PutMessage and returns the events to the allocator.
    #[crate::com_object(IMXF)]
    struct Recorder {
        alloc: IAllocatorMXF,
        log: Arc<Mutex<Log>>,
    }

    impl IMXF_Impl for Recorder {
        fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
            STATUS_SUCCESS
        }
        unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            if event.is_null() {
                return STATUS_SUCCESS;
            }
            // SAFETY: the chain is handed to us; its events come from `alloc`.
            let chain = unsafe { Chain::from_raw(event, &self.alloc) };
            let seen: Vec<Seen> = chain
                .map(|e| Seen {
                    bytes: e.data().to_vec(),
                    time: e.time(),
                    group: e.channel_group(),
                    flags: e.raw().usFlags,
                })
                .collect();
            self.log.lock().unwrap().calls.push(seen);
            STATUS_SUCCESS
        }
        fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
        fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
    }

    /// A sink that puts one new event back into the sequencer the first time it is called.
    #[crate::com_object(IMXF)]
    struct Echo {
        alloc: IAllocatorMXF,
        target: Mutex<Option<IMXF>>,
        log: Arc<Mutex<Log>>,
    }

    impl IMXF_Impl for Echo {
        fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
            STATUS_SUCCESS
        }
        unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            // SAFETY: the chain is handed to us; its events come from `alloc`.
            let chain = unsafe { Chain::from_raw(event, &self.alloc) };
            let seen: Vec<Seen> = chain
                .map(|e| Seen {
                    bytes: e.data().to_vec(),
                    time: e.time(),
                    group: e.channel_group(),
                    flags: e.raw().usFlags,
                })
                .collect();
            self.log.lock().unwrap().calls.push(seen);
            let target = self.target.lock().unwrap().take();
            if let Some(t) = target {
                let e = Event::with_bytes(&self.alloc, &[0xF8], 1, 0).unwrap();
                // SAFETY: a live IMXF; the event is handed over.
                unsafe { t.PutMessage(e.into_raw()) };
            }
            STATUS_SUCCESS
        }
        fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
        fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
            STATUS_UNSUCCESSFUL
        }
    }

    struct Rig {
        alloc: AllocatorHandle,
        now: Arc<AtomicI64>,
        reads: Arc<AtomicU32>,
        seq: SequencerHandle,
        log: Arc<Mutex<Log>>,
        sink: IMXF,
    }

    impl Rig {
        fn new(prefetch: u64) -> Self {
            let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
            let now = Arc::new(AtomicI64::new(0));
            let reads = Arc::new(AtomicU32::new(0));
            let clock: IMasterClock = TestClock {
                now: now.clone(),
                reads: reads.clone(),
            }
            .into_com()
            .unwrap();
            let seq = SequencerHandle::new(alloc.interface().clone(), clock, prefetch).unwrap();
            let log = Arc::new(Mutex::new(Log::default()));
            let sink: IMXF = Recorder {
                alloc: alloc.interface().clone(),
                log: log.clone(),
            }
            .into_com()
            .unwrap();
            let rig = Self {
                alloc,
                now,
                reads,
                seq,
                log,
                sink,
            };
            assert_eq!(rig.connect(Some(&rig.sink)), STATUS_SUCCESS);
            rig
        }

        /// The sequencer's vtable, as the port calls it.
        fn vt(&self) -> &IMXF_Vtbl {
            // SAFETY: a live IMXF's first word is its vtable pointer.
            unsafe { &**self.seq.as_raw().cast::<*const IMXF_Vtbl>() }
        }
        fn this(&self) -> *mut c_void {
            self.seq.as_raw()
        }
        fn put_raw(&self, head: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
            // SAFETY: slot 4 with a chain we hand over (or NULL).
            unsafe { (self.vt().PutMessage)(self.this(), head) }
        }
        fn connect(&self, sink: Option<&IMXF>) -> NTSTATUS {
            let p = sink.map_or(core::ptr::null_mut(), |s| s.as_raw());
            // SAFETY: slot 5 with a live IMXF or NULL.
            unsafe { (self.vt().ConnectOutput)(self.this(), ComRef::from_raw(p)) }
        }
        fn disconnect(&self, sink: Option<&IMXF>) -> NTSTATUS {
            let p = sink.map_or(core::ptr::null_mut(), |s| s.as_raw());
            // SAFETY: slot 6 with a live IMXF or NULL.
            unsafe { (self.vt().DisconnectOutput)(self.this(), ComRef::from_raw(p)) }
        }
        fn set_state(&self, s: KSSTATE) -> NTSTATUS {
            // SAFETY: slot 3.
            unsafe { (self.vt().SetState)(self.this(), s) }
        }
        /// A chain of one-byte events (byte = tag) at the given times, in the given order.
        fn chain(&self, items: &[(u8, i64)]) -> *mut DMUS_KERNEL_EVENT {
            let mut c = Chain::new(self.alloc.interface());
            for &(tag, t) in items {
                c.push_back(Event::with_bytes(self.alloc.interface(), &[tag], 1, t).unwrap());
            }
            c.into_raw()
        }
        fn put(&self, items: &[(u8, i64)]) -> NTSTATUS {
            self.put_raw(self.chain(items))
        }
        fn calls(&self) -> Vec<Vec<Seen>> {
            self.log.lock().unwrap().calls.clone()
        }
        fn tags(&self) -> Vec<Vec<u8>> {
            self.calls()
                .iter()
                .map(|c| c.iter().flat_map(|s| s.bytes.iter().copied()).collect())
                .collect()
        }
        fn outstanding(&self) -> u64 {
            self.alloc.stats().outstanding_events
        }
    }

    #[test]
    fn item_31_delivered_in_time_order_equal_times_keep_arrival_order() {
        let r = Rig::new(0);
        r.now.store(0, Ordering::Relaxed);
        // Out of order, with ties (1/2/3 at time 50 arrive in that order, across two chains).
        assert_eq!(
            r.put(&[(10, 300), (1, 50), (20, 400), (2, 50), (5, 100)]),
            STATUS_SUCCESS
        );
        assert_eq!(r.put(&[(3, 50), (6, 100), (0, 10)]), STATUS_SUCCESS);
        assert_eq!(r.seq.queued(), 8);
        assert!(r.calls().is_empty());
        r.now.store(1_000, Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), None);
        assert_eq!(r.tags(), [[0u8, 1, 2, 3, 5, 6, 10, 20]]);
        let times: Vec<i64> = r.calls()[0].iter().map(|s| s.time).collect();
        assert_eq!(times, [10, 50, 50, 50, 100, 100, 300, 400]);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn a_long_chain_out_of_time_order_is_sorted_not_walked_per_event() {
        // Times t + i % 7: inserting each event by a walk of the queue would take n^2 / 2 steps
        // (minutes at this size); sorting the chain first takes n log n.
        let n: usize = if cfg!(miri) { 300 } else { 200_000 };
        let r = Rig::new(0);
        r.now.store(0, Ordering::Relaxed);
        let items: Vec<(u8, i64)> = (0..n)
            .map(|i| ((i % 7) as u8, 1_000 + (i % 7) as i64))
            .collect();
        assert_eq!(r.put(&items), STATUS_SUCCESS);
        assert_eq!(r.seq.queued(), n);
        r.now.store(10_000, Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), None);
        let calls = r.calls();
        assert_eq!(calls.len(), 1);
        let got: Vec<(i64, u8)> = calls[0].iter().map(|s| (s.time, s.bytes[0])).collect();
        let mut want: Vec<(i64, u8)> = items.iter().map(|&(tag, t)| (t, tag)).collect();
        want.sort_by_key(|w| w.0);
        assert_eq!(got, want);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_32_due_when_clock_reaches_time_minus_prefetch_as_one_chain() {
        let prefetch = 20_000;
        let r = Rig::new(prefetch);
        r.now.store(100_000, Ordering::Relaxed);
        // Due at clock 130_000 (150_000 - prefetch) and 180_000.
        r.put(&[(1, 150_000), (2, 150_000), (3, 200_000)]);
        assert!(r.calls().is_empty(), "nothing is due yet");
        assert_eq!(r.seq.next_wakeup(), Some(130_000));
        r.now.store(129_999, Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), Some(MIN_RESCHEDULE_DELAY));
        assert!(r.calls().is_empty());
        r.now.store(130_000, Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), Some(50_000));
        assert_eq!(r.tags(), [[1u8, 2]], "both due events in one PutMessage");
        assert_eq!(r.seq.next_wakeup(), Some(180_000));
        // Late: everything due at once, in one chain.
        r.put(&[(4, 190_000)]);
        r.now.store(10_000_000, Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), None);
        assert_eq!(r.tags(), [vec![1u8, 2], vec![4, 3]]);
        // An event already due when it arrives goes straight through.
        r.put(&[(5, 0)]);
        assert_eq!(r.tags().len(), 3);
        assert_eq!(r.seq.stats().deliveries, 3);
        assert_eq!(r.seq.stats().delivered, 5);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_33_dont_hold_forwards_everything_sorted_without_reading_the_clock() {
        let r = Rig::new(DONT_HOLD_FOR_SEQUENCING);
        r.now.store(0, Ordering::Relaxed);
        assert_eq!(
            r.put(&[
                (3, 3_000_000),
                (1, 1_000_000),
                (2, 2_000_000),
                (4, 1_000_000)
            ]),
            STATUS_SUCCESS
        );
        assert_eq!(r.tags(), [[1u8, 4, 2, 3]]);
        assert_eq!(r.seq.process_queues(), None);
        assert_eq!(r.seq.next_wakeup(), None);
        assert_eq!(
            r.reads.load(Ordering::Relaxed),
            0,
            "the clock is never read"
        );
        assert_eq!(r.seq.queued(), 0);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_33_switching_to_dont_hold_releases_the_queue() {
        let r = Rig::new(0);
        r.put(&[(1, 5_000_000)]);
        assert_eq!(r.seq.queued(), 1);
        r.seq.set_schedule_prefetch(DONT_HOLD_FOR_SEQUENCING);
        assert_eq!(r.seq.schedule_prefetch(), DONT_HOLD_FOR_SEQUENCING);
        let reads = r.reads.load(Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), None);
        assert_eq!(r.reads.load(Ordering::Relaxed), reads);
        assert_eq!(r.tags(), [[1u8]]);
    }

    #[test]
    fn item_34_reschedules_no_sooner_than_one_millisecond() {
        let r = Rig::new(0);
        r.now.store(1_000, Ordering::Relaxed);
        r.put(&[(1, 1_001)]);
        assert_eq!(r.seq.process_queues(), Some(MIN_RESCHEDULE_DELAY));
        assert_eq!(r.seq.next_wakeup(), Some(1_000 + 10_000));
        r.put(&[(2, 1_000 + 10_000_000)]);
        // The nearer event still decides.
        assert_eq!(r.seq.process_queues(), Some(MIN_RESCHEDULE_DELAY));
        r.now.store(1_001, Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), Some(10_000_000 - 1));
        // Extreme times do not overflow.
        r.put(&[(3, i64::MAX)]);
        r.now.store(i64::MIN, Ordering::Relaxed);
        assert_eq!(r.seq.process_queues(), Some(10_001_000 + (1u64 << 63)));
        r.seq.set_schedule_prefetch(u64::MAX - 1);
        r.now.store(i64::MAX, Ordering::Relaxed);
        assert_eq!(
            r.seq.process_queues(),
            None,
            "a huge prefetch delivers everything"
        );
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_35_set_state_is_not_implemented_and_does_not_stop_delivery() {
        let r = Rig::new(0);
        for s in [
            KSSTATE_STOP,
            KSSTATE_ACQUIRE,
            KSSTATE_PAUSE,
            KSSTATE_RUN,
            KSSTATE(77),
        ] {
            assert_eq!(r.set_state(s), STATUS_NOT_IMPLEMENTED);
        }
        assert_eq!(r.set_state(KSSTATE_STOP), STATUS_NOT_IMPLEMENTED);
        r.put(&[(1, 0), (2, 5)]);
        r.now.store(5, Ordering::Relaxed);
        r.seq.process_queues();
        assert_eq!(r.tags(), [vec![1u8], vec![2]]);
    }

    #[test]
    fn item_36_dropping_the_sequencer_returns_queued_events() {
        let r = Rig::new(0);
        r.put(&[(1, 10_000), (2, 20_000), (3, 30_000)]);
        let shell = Event::new(r.alloc.interface()).unwrap();
        let mut pkg = shell;
        let inner = r.chain(&[(7, 0), (8, 0)]);
        // SAFETY: `inner` is a chain of this allocator's events, given to the package.
        let raw = unsafe { pkg.raw_mut() };
        raw.uData.pPackageEvt = inner;
        raw.usFlags |= DMUS_KEF_PACKAGE_EVENT;
        pkg.set_time(40_000);
        r.put_raw(pkg.into_raw());
        assert_eq!(r.seq.queued(), 4);
        assert_eq!(r.outstanding(), 6);
        let Rig {
            alloc, seq, sink, ..
        } = r;
        drop(sink);
        drop(seq);
        assert_eq!(alloc.stats().outstanding_events, 0);
        assert_eq!(alloc.stats().anomalies.misuse(), 0);
    }

    #[test]
    fn packages_are_queued_and_delivered_whole() {
        let r = Rig::new(0);
        let mut pkg = Event::new(r.alloc.interface()).unwrap();
        let inner = r.chain(&[(7, 999), (8, 1)]);
        // SAFETY: `inner` is a chain of this allocator's events, given to the package.
        let raw = unsafe { pkg.raw_mut() };
        raw.uData.pPackageEvt = inner;
        raw.usFlags |= DMUS_KEF_PACKAGE_EVENT;
        pkg.set_time(50);
        r.put(&[(1, 100)]);
        r.put_raw(pkg.into_raw());
        assert_eq!(r.seq.queued(), 2, "a package is one queued event");
        r.now.store(100, Ordering::Relaxed);
        r.seq.process_queues();
        let calls = r.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].len(), 2);
        assert_eq!(
            calls[0][0].flags & DMUS_KEF_PACKAGE_EVENT,
            DMUS_KEF_PACKAGE_EVENT
        );
        assert_eq!(calls[0][0].time, 50);
        assert_eq!(calls[0][1].bytes, [1]);
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn item_27_to_30_connection_rules_and_unconnected_output() {
        let r = Rig::new(0);
        let other: IMXF = Recorder {
            alloc: r.alloc.interface().clone(),
            log: Arc::new(Mutex::new(Log::default())),
        }
        .into_com()
        .unwrap();
        assert_eq!(r.connect(None), STATUS_UNSUCCESSFUL, "item 27");
        assert_eq!(r.connect(Some(&other)), STATUS_UNSUCCESSFUL, "item 28");
        assert_eq!(r.disconnect(Some(&other)), STATUS_UNSUCCESSFUL, "item 29");
        r.put(&[(1, 0)]);
        assert_eq!(r.tags(), [[1u8]], "the first connection stays");
        assert_eq!(r.disconnect(Some(&r.sink)), STATUS_SUCCESS);
        // Item 30: unconnected output goes to the allocator.
        r.put(&[(2, 0)]);
        assert_eq!(r.tags().len(), 1);
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.disconnect(None), STATUS_SUCCESS);
        assert_eq!(r.connect(Some(&other)), STATUS_SUCCESS);
        assert_eq!(r.disconnect(None), STATUS_SUCCESS);
        assert_eq!(r.connect(Some(&r.sink)), STATUS_SUCCESS);
        r.put(&[(3, 0)]);
        assert_eq!(r.tags(), [vec![1u8], vec![3]]);
        // Not to itself: its deliveries would come back in without end.
        assert_eq!(r.disconnect(None), STATUS_SUCCESS);
        let me: IMXF = (*r.seq).clone();
        assert_eq!(r.connect(Some(&me)), STATUS_INVALID_PARAMETER);
        assert_eq!(r.connect(Some(&r.sink)), STATUS_SUCCESS);
    }

    #[test]
    fn put_message_null_succeeds() {
        let r = Rig::new(0);
        assert_eq!(r.put_raw(core::ptr::null_mut()), STATUS_SUCCESS);
        assert_eq!(r.seq.queued(), 0);
        assert!(r.calls().is_empty());
    }

    #[test]
    fn cyclic_chain_is_refused_and_recycled() {
        let r = Rig::new(0);
        let head = r.chain(&[(1, 0), (2, 0)]);
        // SAFETY: both events are ours; the second is made to point back at the first.
        unsafe { (*(*head).pNextEvt).pNextEvt = head };
        assert_eq!(r.put_raw(head), STATUS_INVALID_PARAMETER);
        assert_eq!(r.seq.queued(), 0);
        assert_eq!(r.seq.stats().refused_chains, 1);
        assert_eq!(r.outstanding(), 0);
        // A self-loop too.
        let e = r.chain(&[(3, 0)]);
        // SAFETY: our event.
        unsafe { (*e).pNextEvt = e };
        assert_eq!(r.put_raw(e), STATUS_INVALID_PARAMETER);
        assert_eq!(r.outstanding(), 0);
        assert!(r.calls().is_empty());
    }

    #[test]
    fn long_chains_are_checked_without_false_cycles() {
        let r = Rig::new(DONT_HOLD_FOR_SEQUENCING);
        let n = if cfg!(miri) { 40 } else { 1_000 };
        let items: Vec<(u8, i64)> = (0..n).map(|i| ((i % 251) as u8, (n - i) as i64)).collect();
        assert_eq!(r.put(&items), STATUS_SUCCESS);
        let calls = r.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].len(), n);
        assert!(calls[0].windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(r.outstanding(), 0);
    }

    #[test]
    fn a_sink_calling_back_into_the_sequencer_does_not_deadlock() {
        let alloc = AllocatorHandle::new(AllocatorConfig::default(), None).unwrap();
        let clock: IMasterClock = TestClock {
            now: Arc::new(AtomicI64::new(0)),
            reads: Arc::new(AtomicU32::new(0)),
        }
        .into_com()
        .unwrap();
        let seq = SequencerHandle::new(alloc.interface().clone(), clock, 0).unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let echo: IMXF = Echo {
            alloc: alloc.interface().clone(),
            target: Mutex::new(Some(seq.interface().clone())),
            log: log.clone(),
        }
        .into_com()
        .unwrap();
        let s = seq.ConnectOutput(Some(echo.to_ref()));
        assert_eq!(s, STATUS_SUCCESS);
        let e = Event::with_bytes(alloc.interface(), &[0x90, 60, 100], 1, 0).unwrap();
        // SAFETY: the event is handed over.
        assert_eq!(unsafe { seq.PutMessage(e.into_raw()) }, STATUS_SUCCESS);
        let calls = log.lock().unwrap().calls.clone();
        assert_eq!(
            calls.len(),
            2,
            "the echoed event is delivered by the same drain"
        );
        assert_eq!(calls[1][0].bytes, [0xF8]);
        assert_eq!(seq.DisconnectOutput(None), STATUS_SUCCESS);
        drop(echo);
        drop(seq);
        assert_eq!(alloc.stats().outstanding_events, 0);
    }

    #[test]
    fn concurrent_puts_lose_nothing() {
        let r = Arc::new(Rig::new(0));
        let threads = if cfg!(miri) { 2 } else { 4 };
        let per = if cfg!(miri) { 5 } else { 500 };
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        r.put(&[(t as u8, i as i64)]);
                        r.seq.process_queues();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        r.now.store(i64::MAX, Ordering::Relaxed);
        r.seq.process_queues();
        let total: usize = r.calls().iter().map(Vec::len).sum();
        assert_eq!(total, threads * per);
        assert_eq!(r.seq.queued(), 0);
        assert_eq!(r.outstanding(), 0);
        let st = r.seq.stats();
        assert_eq!(st.received, st.delivered);
    }

    #[test]
    fn every_delivered_chain_is_sorted_under_concurrent_puts_and_timer_runs() {
        // Two CPUs put chains around "now" (some already due) while a third moves the clock and
        // runs the timer: batches taken by different CPUs meet in the outbox, and each chain that
        // leaves must still be in time order (items 31–32).
        let r = Arc::new(Rig::new(500));
        let per = if cfg!(miri) { 20 } else { 3000 };
        let putters: Vec<_> = (0..2u8)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut x = 0x9E37_79B9u32.wrapping_add(u32::from(t));
                    for _ in 0..per {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        let now = r.now.load(Ordering::Relaxed);
                        let t0 = now + i64::from(x % 20_000) - 2_000;
                        r.put(&[(t, t0), (t, t0 + 1)]);
                    }
                })
            })
            .collect();
        let timer = {
            let r = r.clone();
            std::thread::spawn(move || {
                for _ in 0..per {
                    r.now.fetch_add(7, Ordering::Relaxed);
                    r.seq.process_queues();
                }
            })
        };
        for h in putters {
            h.join().unwrap();
        }
        timer.join().unwrap();
        r.now.store(i64::MAX, Ordering::Relaxed);
        r.seq.process_queues();
        let calls = r.calls();
        for c in &calls {
            assert!(
                c.windows(2).all(|w| w[0].time <= w[1].time),
                "a delivered chain out of time order: {:?}",
                c.iter().map(|s| s.time).collect::<Vec<_>>()
            );
        }
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 2 * 2 * per);
        assert_eq!(r.outstanding(), 0);
    }
}
