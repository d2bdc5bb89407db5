//! A service group: the counterpart of PortCls's `PcNewServiceGroup`.
//!
//! `RequestService` calls `RequestService` on every member, in the order they were added, with
//! the group's lock released (a member may add or remove members, or request service again).
//! Delayed service is recorded as a deadline that the environment's timer reads through
//! [`ServiceGroupHandle::delayed_deadline`]; the user-mode port fires it from its clock.
//!
//! ```
//! use mxf::com::ObjectHandle;
//! use mxf::components::service_group::ServiceGroupHandle;
//! use mxf::platform::atomic::{AtomicU32, Ordering};
//! use mxf::prelude::*;
//!
//! /// A stream's service routine (its DPC work).
//! #[com_object(IServiceSink)]
//! struct Dpc {
//!     runs: AtomicU32,
//! }
//!
//! impl IServiceSink_Impl for Dpc {
//!     fn RequestService(&self) {
//!         self.runs.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let group = ServiceGroupHandle::new()?;
//! let dpc = ObjectHandle::<Dpc, IServiceSink>::create(Dpc { runs: AtomicU32::new(0) })?;
//! assert_eq!(group.AddMember(Some(dpc.to_ref())), STATUS_SUCCESS);
//! group.RequestService(); // what the port's Notify does for the group
//! assert_eq!(dpc.value().runs.load(Ordering::Relaxed), 1);
//!
//! // Delayed service is recorded for the environment's timer.
//! group.SupportDelayedService();
//! group.RequestDelayedService(10_000);
//! assert_eq!(group.take_delayed(), Some(10_000));
//!
//! group.RemoveMember(Some(dpc.to_ref()));
//! assert_eq!(group.members(), 0);
//! # Ok::<(), NTSTATUS>(())
//! ```

use crate::abi::{
    NTSTATUS, Result, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
};
use crate::com::{ComRef, Interface, ObjectHandle};
use crate::interfaces::{IServiceGroup, IServiceGroup_Impl, IServiceSink, IServiceSink_Impl};
use crate::platform::SpinLock;

/// Members one group can hold.
pub const MAX_MEMBERS: usize = 16;

struct Members {
    sinks: [Option<IServiceSink>; MAX_MEMBERS],
    delayed: bool,
    deadline: Option<u64>,
}

/// The group object. Create it with [`ServiceGroupHandle::new`].
#[crate::com_object(IServiceGroup, tag = "MXFg")]
pub struct ServiceGroup {
    members: SpinLock<Members>,
}

impl IServiceSink_Impl for ServiceGroup {
    fn RequestService(&self) {
        // Snapshot (AddRef) the members so the call happens without the lock.
        let sinks = self.members.lock().sinks.clone();
        for s in sinks.iter().flatten() {
            s.RequestService();
        }
    }
}

impl IServiceGroup_Impl for ServiceGroup {
    fn AddMember(&self, sink: Option<ComRef<'_, IServiceSink>>) -> NTSTATUS {
        let Some(sink) = sink else {
            return STATUS_INVALID_PARAMETER;
        };
        let mut m = self.members.lock();
        match m.sinks.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(sink.to_owned());
                STATUS_SUCCESS
            }
            None => STATUS_INSUFFICIENT_RESOURCES,
        }
    }

    fn RemoveMember(&self, sink: Option<ComRef<'_, IServiceSink>>) {
        let Some(sink) = sink else { return };
        let removed = {
            let mut m = self.members.lock();
            m.sinks
                .iter_mut()
                .find(|s| s.as_ref().is_some_and(|s| s.as_raw() == sink.as_raw()))
                .and_then(Option::take)
        };
        drop(removed);
    }

    fn SupportDelayedService(&self) {
        self.members.lock().delayed = true;
    }

    fn RequestDelayedService(&self, delay: u64) {
        let mut m = self.members.lock();
        if m.delayed {
            m.deadline = Some(delay);
        }
    }

    fn CancelDelayedService(&self) {
        self.members.lock().deadline = None;
    }
}

/// An owned service group with access to its delayed-service request.
pub type ServiceGroupHandle = ObjectHandle<ServiceGroup, IServiceGroup>;

impl ObjectHandle<ServiceGroup, IServiceGroup> {
    /// A new, empty group.
    pub fn new() -> Result<Self> {
        Self::create(ServiceGroup {
            members: SpinLock::new(Members {
                sinks: Default::default(),
                delayed: false,
                deadline: None,
            }),
        })
    }

    /// The pending delayed-service request (the `delay` argument of `RequestDelayedService`, in
    /// 100 ns units), taking it; `None` if none or delayed service is not enabled.
    pub fn take_delayed(&self) -> Option<u64> {
        self.value().members.lock().deadline.take()
    }

    /// The pending delayed-service request, without taking it.
    pub fn delayed_deadline(&self) -> Option<u64> {
        self.value().members.lock().deadline
    }

    /// Number of members.
    pub fn members(&self) -> usize {
        self.value().members.lock().sinks.iter().flatten().count()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use super::*;
    #[allow(unused_imports)]
    use crate::com::{Interface, IntoComObject};
    use crate::platform::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[crate::com_object(IServiceSink)]
    struct Counter(Arc<AtomicU32>);
    impl IServiceSink_Impl for Counter {
        fn RequestService(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn members_are_serviced_until_removed() {
        let g = ServiceGroupHandle::new().unwrap();
        let n = Arc::new(AtomicU32::new(0));
        let sink: IServiceSink = Counter(n.clone()).into_com().unwrap();
        assert_eq!(g.AddMember(Some(sink.to_ref())), STATUS_SUCCESS);
        assert_eq!(g.AddMember(None), STATUS_INVALID_PARAMETER);
        g.RequestService();
        g.RequestService();
        assert_eq!(n.load(Ordering::Relaxed), 2);
        g.RemoveMember(Some(sink.to_ref()));
        g.RequestService();
        assert_eq!(n.load(Ordering::Relaxed), 2);
        assert_eq!(g.members(), 0);
    }

    #[test]
    fn delayed_service_is_recorded_only_when_supported() {
        let g = ServiceGroupHandle::new().unwrap();
        g.RequestDelayedService(10_000);
        assert_eq!(g.take_delayed(), None);
        g.SupportDelayedService();
        g.RequestDelayedService(10_000);
        assert_eq!(g.delayed_deadline(), Some(10_000));
        g.CancelDelayedService();
        assert_eq!(g.take_delayed(), None);
    }
}
