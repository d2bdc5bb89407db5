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

/// A fixed resource list: an object whose value gives its entries implements `IResourceList`
/// over them (`IResourceList_Impl` comes with this trait), as a PortCls double or a test builds
/// the list `StartDevice` gets. `FindTranslatedEntry` and `FindUntranslatedEntry` both give the
/// `index`-th entry of the type (NULL past the last); `NumberOfEntriesOfType` counts them;
/// `AddEntry` and `AddEntryFromParent` answer `STATUS_NOT_IMPLEMENTED` (the list is fixed);
/// `TranslatedList` and `UntranslatedList` NULL (there is no `CM_RESOURCE_LIST` behind it).
///
/// ```
/// use mxf::driver::{CM_PARTIAL_RESOURCE_DESCRIPTOR, CmResourceTypePort, ResourceEntries, Resources};
/// use mxf::prelude::*;
///
/// #[com_object(IResourceList)]
/// struct List(Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>);
///
/// impl ResourceEntries for List {
///     fn resource_entries(&self) -> &[CM_PARTIAL_RESOURCE_DESCRIPTOR] {
///         &self.0
///     }
/// }
///
/// let mut port = CM_PARTIAL_RESOURCE_DESCRIPTOR { Type: CmResourceTypePort as u8, ..Default::default() };
/// port.u[..3].copy_from_slice(&[0x330, 0, 2]); // start 0x330 (64 bits), length 2
/// let list: IResourceList = List(vec![port]).into_com()?;
/// assert_eq!(Resources::new(list.to_ref()).port(0), Some((0x330, 2)));
/// # Ok::<(), NTSTATUS>(())
/// ```
pub trait ResourceEntries {
    /// The list's entries, in order.
    fn resource_entries(&self) -> &[CM_PARTIAL_RESOURCE_DESCRIPTOR];
}

fn nth_of_type(
    entries: &[CM_PARTIAL_RESOURCE_DESCRIPTOR],
    resource_type: i32,
    index: u32,
) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
    entries
        .iter()
        .filter(|e| i32::from(e.Type) == resource_type)
        .nth(index as usize)
        .map_or(core::ptr::null_mut(), |e| core::ptr::from_ref(e).cast_mut())
}

impl<T: ResourceEntries> crate::interfaces::IResourceList_Impl for T {
    fn NumberOfEntries(&self) -> u32 {
        u32::try_from(self.resource_entries().len()).unwrap_or(u32::MAX)
    }
    fn NumberOfEntriesOfType(&self, resource_type: i32) -> u32 {
        let count = self
            .resource_entries()
            .iter()
            .filter(|e| i32::from(e.Type) == resource_type)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }
    fn FindTranslatedEntry(
        &self,
        resource_type: i32,
        index: u32,
    ) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        nth_of_type(self.resource_entries(), resource_type, index)
    }
    fn FindUntranslatedEntry(
        &self,
        resource_type: i32,
        index: u32,
    ) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        nth_of_type(self.resource_entries(), resource_type, index)
    }
    unsafe fn AddEntry(
        &self,
        _translated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
        _untranslated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
    ) -> crate::abi::NTSTATUS {
        crate::abi::STATUS_NOT_IMPLEMENTED
    }
    fn AddEntryFromParent(
        &self,
        _parent: Option<ComRef<'_, IResourceList>>,
        _resource_type: i32,
        _index: u32,
    ) -> crate::abi::NTSTATUS {
        crate::abi::STATUS_NOT_IMPLEMENTED
    }
    fn TranslatedList(&self) -> *mut core::ffi::c_void {
        core::ptr::null_mut()
    }
    fn UntranslatedList(&self) -> *mut core::ffi::c_void {
        core::ptr::null_mut()
    }
}
