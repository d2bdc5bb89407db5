//! What a cable's streams share (inside the miniport, behind its spin lock): the capture link
//! with its bounded queue, the render stream counts and the counters.

use crate::{MAX_RENDER_STREAMS_PER_PIN, pins};
use mxf::event::EventList;
use mxf::prelude::*;

/// A cable's counters (see the crate docs for what each drop means). Counts events with data
/// bytes (one per message, or per SysEx piece of at most 240 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CableStats {
    /// Events that reached the end of a render stream (after the cable's filters).
    pub rendered: u64,
    /// Copies put in the capture queue.
    pub queued: u64,
    /// Copies the capture stream sent on (to the port's capture sink, or to the allocator when
    /// it was disconnected).
    pub captured: u64,
    /// Queued copies thrown away: the capture stream entered STOP or ACQUIRE, or closed, first.
    pub flushed: u64,
    /// Not copied: no capture stream open, or not in RUN.
    pub dropped_no_capture: u64,
    /// Not copied: the capture queue was full.
    pub dropped_full: u64,
    /// Not copied: the capture allocator had no event or buffer for it.
    pub dropped_no_event: u64,
}

impl CableStats {
    /// Copies not made, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_no_capture
            .saturating_add(self.dropped_full)
            .saturating_add(self.dropped_no_event)
    }
}

/// The open capture stream's side of the cable.
pub(crate) struct Link {
    /// Which capture stream (streams only touch their own link).
    pub(crate) serial: u64,
    /// The capture pin's allocator, AddRef'd: every copy comes from it.
    pub(crate) alloc: IAllocatorMXF,
    /// The capture stream's service group: notified when copies are queued.
    pub(crate) group: IServiceGroup,
    /// The capture stream's state: copies are queued in RUN only.
    pub(crate) state: KSSTATE,
    /// The copies, in order, owned by the link (events of `alloc`).
    pub(crate) queue: EventList,
}

impl Link {
    /// Empties the queue: the copies go back to the capture allocator (when the chain returned is
    /// dropped; the caller drops it outside the cable's lock).
    pub(crate) fn take_queue(&mut self) -> EventList {
        self.queue.take_all()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let rest = self.queue.take();
        // SAFETY: the queue owned these copies, events of `alloc`; they are handed over whole.
        drop(unsafe { Chain::from_raw(rest, &self.alloc) });
    }
}

/// The shared state of one cable.
pub(crate) struct Bus {
    pub(crate) capture: Option<Link>,
    next_serial: u64,
    /// Render streams open per pin id (only the render pins count).
    render_streams: [u32; 2],
    pub(crate) stats: CableStats,
}

impl Bus {
    pub(crate) const fn new() -> Self {
        Self {
            capture: None,
            next_serial: 0,
            render_streams: [0; 2],
            stats: CableStats {
                rendered: 0,
                queued: 0,
                captured: 0,
                flushed: 0,
                dropped_no_capture: 0,
                dropped_full: 0,
                dropped_no_event: 0,
            },
        }
    }

    pub(crate) fn stats(&self) -> CableStats {
        self.stats
    }

    pub(crate) fn queued(&self) -> usize {
        self.capture.as_ref().map_or(0, |l| l.queue.len())
    }

    pub(crate) fn has_capture(&self) -> bool {
        self.capture.is_some()
    }

    fn render_slot(&mut self, pin: u32) -> Option<&mut u32> {
        match pin {
            pins::MIDI_OUT => self.render_streams.get_mut(0),
            pins::DMUSIC_OUT => self.render_streams.get_mut(1),
            _ => None,
        }
    }

    pub(crate) fn render_streams(&mut self, pin: u32) -> u32 {
        self.render_slot(pin).map_or(0, |n| *n)
    }

    /// Counts a render stream on `pin`: `STATUS_INVALID_DEVICE_REQUEST` beyond the declared
    /// instances, or on a pin that is no render pin.
    pub(crate) fn open_render(&mut self, pin: u32) -> Result<()> {
        let n = self.render_slot(pin).ok_or(STATUS_INVALID_DEVICE_REQUEST)?;
        if *n >= MAX_RENDER_STREAMS_PER_PIN {
            return Err(STATUS_INVALID_DEVICE_REQUEST);
        }
        *n = n.saturating_add(1);
        Ok(())
    }

    pub(crate) fn close_render(&mut self, pin: u32) {
        if let Some(n) = self.render_slot(pin) {
            *n = n.saturating_sub(1);
        }
    }

    /// Installs the link of a new capture stream (in STOP), returning its serial:
    /// `STATUS_INVALID_DEVICE_REQUEST` while another capture stream is open.
    pub(crate) fn open_capture(
        &mut self,
        alloc: IAllocatorMXF,
        group: IServiceGroup,
    ) -> Result<u64> {
        if self.capture.is_some() {
            return Err(STATUS_INVALID_DEVICE_REQUEST);
        }
        let serial = self.next_serial;
        self.next_serial = serial.wrapping_add(1);
        self.capture = Some(Link {
            serial,
            alloc,
            group,
            state: KSSTATE_STOP,
            queue: EventList::new(),
        });
        Ok(serial)
    }

    /// The link of capture stream `serial`, if it is the open one.
    pub(crate) fn link(&mut self, serial: u64) -> Option<&mut Link> {
        self.capture.as_mut().filter(|l| l.serial == serial)
    }

    /// Removes the link of capture stream `serial` (the caller drops it outside the lock, which
    /// returns its queue), counting what was still queued as flushed.
    pub(crate) fn close_capture(&mut self, serial: u64) -> Option<Link> {
        self.link(serial)?;
        let link = self.capture.take()?;
        self.stats.flushed = self.stats.flushed.saturating_add(link.queue.len() as u64);
        Some(link)
    }

    /// The tap's part: copies every event of `events` into the capture queue (or counts why
    /// not), moving the render events to `done`. Returns the group to notify if anything was
    /// queued.
    pub(crate) fn carry<'a>(
        &mut self,
        events: Chain<'a>,
        done: &mut Chain<'a>,
        capacity: usize,
    ) -> Option<IServiceGroup> {
        let mut queued_any = false;
        for event in events {
            if event.data().is_empty() {
                done.push_back(event);
                continue;
            }
            let stats = &mut self.stats;
            stats.rendered = stats.rendered.saturating_add(1);
            match self.capture.as_mut() {
                Some(link) if link.state == KSSTATE_RUN => {
                    if link.queue.len() >= capacity {
                        stats.dropped_full = stats.dropped_full.saturating_add(1);
                    } else {
                        match Event::with_bytes(
                            &link.alloc,
                            event.data(),
                            event.channel_group(),
                            event.time(),
                        ) {
                            Ok(mut copy) => {
                                // Raw bytes, as a MIDI input delivers them: the port's capture
                                // sink parses them back into messages.
                                copy.set_incomplete(true);
                                link.queue.push_back(copy);
                                stats.queued = stats.queued.saturating_add(1);
                                queued_any = true;
                            }
                            Err(_) => {
                                stats.dropped_no_event = stats.dropped_no_event.saturating_add(1);
                            }
                        }
                    }
                }
                _ => {
                    stats.dropped_no_capture = stats.dropped_no_capture.saturating_add(1);
                }
            }
            done.push_back(event);
        }
        if queued_any {
            self.capture.as_ref().map(|l| l.group.clone())
        } else {
            None
        }
    }
}
