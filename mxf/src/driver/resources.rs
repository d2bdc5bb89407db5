//! [`Resources`]: a miniport's view of the device's `IResourceList`.

use super::types::{CM_PARTIAL_RESOURCE_DESCRIPTOR, CmResourceTypeInterrupt, CmResourceTypePort};
use crate::com::ComRef;
use crate::interfaces::IResourceList;

/// The hardware resources PortCls gave `StartDevice` (the same list goes to `IPort::Init` and
/// the miniport's `Init`): read with the list's own methods, entries copied out.
///
/// ```
/// # use mxf::driver::Resources;
/// # fn base(resources: Resources<'_>) -> Option<u16> {
/// // An MPU-401's data port is the first I/O port range (the status port follows it).
/// let (start, _length) = resources.port(0)?;
/// u16::try_from(start).ok()
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Resources<'a> {
    list: ComRef<'a, IResourceList>,
}

impl<'a> Resources<'a> {
    /// Reads `list`.
    pub fn new(list: ComRef<'a, IResourceList>) -> Self {
        Self { list }
    }

    /// The list itself.
    pub fn list(&self) -> ComRef<'a, IResourceList> {
        self.list
    }

    /// How many entries the list holds.
    pub fn len(&self) -> u32 {
        self.list.NumberOfEntries()
    }

    /// Whether the list holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries of `resource_type` (`CmResourceType*`) the list holds.
    pub fn count(&self, resource_type: i32) -> u32 {
        self.list.NumberOfEntriesOfType(resource_type)
    }

    /// A copy of the `index`th translated entry of `resource_type`, if there is one.
    pub fn translated(
        &self,
        resource_type: i32,
        index: u32,
    ) -> Option<CM_PARTIAL_RESOURCE_DESCRIPTOR> {
        let entry = self.list.FindTranslatedEntry(resource_type, index);
        if entry.is_null() || !entry.is_aligned() {
            return None;
        }
        // SAFETY: a non-NULL result points at an entry the list owns, alive as long as the list
        // (`IResourceList`'s contract); it is aligned (checked) and copied out at once.
        Some(unsafe { entry.read() })
    }

    /// Start and length of the `index`th I/O port range (translated).
    pub fn port(&self, index: u32) -> Option<(u64, u32)> {
        self.translated(CmResourceTypePort, index)?.port()
    }

    /// `(Level, Vector)` of the `index`th interrupt (translated).
    pub fn interrupt(&self, index: u32) -> Option<(u32, u32)> {
        self.translated(CmResourceTypeInterrupt, index)?.interrupt()
    }
}
