//! A render stream: what the port's sequencer delivers, through the cable's MXFs (a parser for
//! MIDI bytestream streams, the filters), into the tap, which copies it into the capture queue.

use crate::{Cable, MAX_FILTERS};
use mxf::com::{ComRef, IntoComObject, ObjectImpl};
use mxf::components::capture_sink::CaptureSinkHandle;
use mxf::event::EventList;
use mxf::miniport::MiniportHandle;
use mxf::platform::SpinLock;
use mxf::prelude::*;

/// The parser, the filters and the tap.
const MAX_STAGES: usize = MAX_FILTERS + 2;

/// The stream's MXFs, upstream first: `[parser], filters…, tap`.
struct Stages {
    objects: [Option<IMXF>; MAX_STAGES],
    len: usize,
}

impl Stages {
    fn new() -> Self {
        Self {
            objects: Default::default(),
            len: 0,
        }
    }

    fn push(&mut self, object: IMXF) -> Result<()> {
        let slot = self
            .objects
            .get_mut(self.len)
            .ok_or(STATUS_INVALID_PARAMETER)?;
        *slot = Some(object);
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// The stages in use, upstream first.
    fn all(&self) -> impl DoubleEndedIterator<Item = &IMXF> {
        self.objects.iter().take(self.len).flatten()
    }

    fn head(&self) -> Option<&IMXF> {
        self.all().next()
    }

    /// Connects each stage's output to the next one.
    fn connect(&self) -> Result<()> {
        for (from, to) in self.all().zip(self.all().skip(1)) {
            from.ConnectOutput(Some(to.to_ref())).ok()?;
        }
        Ok(())
    }

    fn disconnect(&self) {
        for (from, to) in self.all().zip(self.all().skip(1)) {
            from.DisconnectOutput(Some(to.to_ref()));
        }
    }

    /// Every stage to `state`: downstream first going up, upstream first going down, so that no
    /// stage sends into one in a lower state.
    fn set_state(&self, old: KSSTATE, state: KSSTATE) {
        if state.0 > old.0 {
            for s in self.all().rev() {
                s.SetState(state);
            }
        } else {
            for s in self.all() {
                s.SetState(state);
            }
        }
    }
}

/// What arrived while the stream was not running.
struct Held {
    state: KSSTATE,
    events: EventList,
}

/// A render stream (`IMXF`): the object the port's sequencer delivers to.
#[com_object(IMXF, tag = "VMIr")]
pub(crate) struct RenderStream {
    held: SpinLock<Held>,
    stages: Stages,
    /// The render pin's allocator, AddRef'd: every event ends up there.
    alloc: IAllocatorMXF,
    /// Counted in the cable's render streams of `pin` until this stream is destroyed; keeps the
    /// miniport alive.
    cable: MiniportHandle<Cable>,
    pin: u32,
}

impl RenderStream {
    /// Creates a render stream on `pin` in KSSTATE_STOP: `[parser (if `bytestream`)], the cable's
    /// filters, the tap`, connected.
    pub(crate) fn create(
        cable: MiniportHandle<Cable>,
        pin: u32,
        bytestream: bool,
        alloc: IAllocatorMXF,
        pool: POOL_TYPE,
    ) -> Result<IMXF> {
        let filters = cable.miniport().config.filters;
        if filters.len() > MAX_FILTERS {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let mut stages = Stages::new();
        if bytestream {
            // The port's KS unpacker delivers raw INCOMPLETE bytes; the parser makes whole
            // messages of them (running status expanded, SysEx in chunks of 240), as the
            // port's capture sink does for a device's input.
            let parser = CaptureSinkHandle::new(alloc.clone())?;
            stages.push(parser.into_interface())?;
        }
        for make in filters {
            stages.push(make(&alloc)?)?;
        }
        let tap = Tap {
            cable: cable.clone(),
            alloc: alloc.clone(),
        }
        .into_com_in(pool, <Tap as ObjectImpl>::POOL_TAG)?;
        stages.push(tap)?;
        stages.connect()?;
        // Every stage starts where the stream starts (a new filter is in RUN).
        stages.set_state(KSSTATE_RUN, KSSTATE_STOP);
        cable.miniport().bus.lock().open_render(pin)?;
        // From here the count is the stream's: its destructor gives it back.
        let stream = Self {
            held: SpinLock::new(Held {
                state: KSSTATE_STOP,
                events: EventList::new(),
            }),
            stages,
            alloc,
            cable,
            pin,
        };
        stream.into_com_in(pool, <Self as ObjectImpl>::POOL_TAG)
    }

    /// Sends `events` down the stream's MXFs.
    fn run(&self, events: Chain<'_>) -> NTSTATUS {
        match self.stages.head() {
            Some(head) => events.deliver(Some(head)),
            // Never: the tap is always there. The events go back.
            None => events.deliver(None),
        }
    }
}

impl IMXF_Impl for RenderStream {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        let (old, held) = {
            let mut h = self.held.lock();
            let old = core::mem::replace(&mut h.state, state);
            let release = state == KSSTATE_RUN || state == KSSTATE_STOP;
            (
                old,
                if release {
                    h.events.take_all()
                } else {
                    EventList::new()
                },
            )
        };
        self.stages.set_state(old, state);
        let mut held = held;
        // SAFETY: the held events are render events of this stream's allocator, owned by the
        // list, handed over whole.
        let held = unsafe { Chain::from_raw(held.take(), &self.alloc) };
        if state == KSSTATE_RUN {
            // What arrived in ACQUIRE or PAUSE plays now.
            self.run(held);
        }
        // STOP: `held` goes back to the allocator (the port completes the IRPs).
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if event.is_null() {
            return STATUS_SUCCESS;
        }
        if check_event_ptr(event).is_err() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: the caller hands over a chain of live events of this pin's allocator.
        let chain = unsafe { Chain::from_raw(event, &self.alloc) };
        let chain = {
            let mut h = self.held.lock();
            if h.state == KSSTATE_RUN {
                chain
            } else if h.state == KSSTATE_STOP {
                // A stopped stream holds nothing: back to the allocator (outside the lock).
                drop(h);
                drop(chain);
                return STATUS_SUCCESS;
            } else {
                for e in chain {
                    h.events.push_back(e);
                }
                return STATUS_SUCCESS;
            }
        };
        self.run(chain);
        STATUS_SUCCESS
    }

    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        // A render stream's output is the cable.
        STATUS_UNSUCCESSFUL
    }

    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

impl Drop for RenderStream {
    fn drop(&mut self) {
        let held = self.held.get_mut().events.take();
        // SAFETY: events of this stream's allocator, owned by the list.
        drop(unsafe { Chain::from_raw(held, &self.alloc) });
        self.stages.disconnect();
        self.cable.miniport().bus.lock().close_render(self.pin);
    }
}

/// The last MXF of a render stream: copies what reaches it into the cable and lets the render
/// events go back to their allocator.
#[com_object(IMXF, tag = "VMIt")]
struct Tap {
    cable: MiniportHandle<Cable>,
    /// The render pin's allocator, AddRef'd.
    alloc: IAllocatorMXF,
}

impl IMXF_Impl for Tap {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        STATUS_SUCCESS
    }

    unsafe fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if event.is_null() {
            return STATUS_SUCCESS;
        }
        if check_event_ptr(event).is_err() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: the caller hands over a chain of live events of this pin's allocator.
        let mut events = unsafe { Chain::from_raw(event, &self.alloc) };
        // Packages are taken apart; their shells go back at once.
        drop(events.unwrap_packages());
        let cable = self.cable.miniport();
        let mut done = Chain::new(&self.alloc);
        let group = {
            let capacity = cable.config.queue_events;
            cable.bus.lock().carry(events, &mut done, capacity)
        };
        // The render events go back to the render allocator (which completes the render IRPs),
        // outside the cable's lock.
        drop(done);
        if let Some(group) = group {
            // What `IPortDMus::Notify(group)` does: the port services the capture stream.
            group.RequestService();
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
