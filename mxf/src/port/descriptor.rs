//! The miniport's `PCFILTER_DESCRIPTOR` as the port uses it: fetched once after `Init` (as
//! ReactOS's port does, `kernel.md` §4.1 steps 2 and 4), walked defensively before the port
//! trusts it, then read for pin creation, instance counts, data intersections and property
//! routing.

use crate::abi::{
    GUID, KSDATARANGE, KSPIN_COMMUNICATION_BRIDGE, KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT, NTSTATUS,
    PCAUTOMATION_TABLE, PCCONNECTION_DESCRIPTOR, PCEVENT_ITEM, PCFILTER_DESCRIPTOR, PCFILTER_NODE,
    PCMETHOD_ITEM, PCNODE_DESCRIPTOR, PCPIN_DESCRIPTOR, PCPROPERTY_ITEM,
    STATUS_DEVICE_CONFIGURATION_ERROR,
};
use core::mem::{align_of, size_of};

/// What is wrong with a miniport's descriptor: [`Port::new`](super::Port::new) refuses the
/// miniport with [`DescriptorFault::STATUS`] (`STATUS_DEVICE_CONFIGURATION_ERROR`);
/// [`check_descriptor`] names the fault.
///
/// Pin and node numbers are indices into the descriptor's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorFault {
    /// `GetDescription` succeeded but wrote NULL, or a misaligned pointer.
    Missing,
    /// `PinCount` is not 0 and `Pins` is NULL or misaligned.
    PinTable,
    /// `PinSize` is smaller than a `PCPIN_DESCRIPTOR`, or not a multiple of its alignment.
    PinSize,
    /// `NodeCount` is not 0 and `Nodes` is NULL or misaligned.
    NodeTable,
    /// `NodeSize` is smaller than a `PCNODE_DESCRIPTOR`, or not a multiple of its alignment.
    NodeSize,
    /// `ConnectionCount` is not 0 and `Connections` is NULL or misaligned.
    ConnectionTable,
    /// `CategoryCount` is not 0 and `Categories` is NULL or misaligned.
    CategoryTable,
    /// A table is larger than the address space.
    TooLarge,
    /// The pin's `DataFlow` is neither IN nor OUT, or its `Communication` is not a KS value.
    PinKind(u32),
    /// The pin has ranges but `DataRanges` is NULL or misaligned, or one of its range pointers is.
    DataRanges(u32),
    /// A range of the pin (pin, range) has a `FormatSize` smaller than a `KSDATARANGE`.
    DataRangeSize(u32, u32),
    /// The pin lists interfaces or mediums at a NULL or misaligned pointer.
    PinInterfaces(u32),
    /// The node's `Type` is NULL or misaligned.
    NodeType(u32),
    /// A connection (its index) names a pin or a node that does not exist.
    Connection(u32),
    /// An automation table (of the filter, a pin or a node) is misaligned, has items at a NULL
    /// or misaligned pointer, an item size smaller than its item type, or a property item
    /// whose `Set` is NULL.
    Automation(AutomationOwner),
}

/// Whose automation table a [`DescriptorFault::Automation`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutomationOwner {
    /// The filter's.
    Filter,
    /// The pin's.
    Pin(u32),
    /// The node's.
    Node(u32),
}

impl DescriptorFault {
    /// The status the port refuses such a miniport with.
    pub const STATUS: NTSTATUS = STATUS_DEVICE_CONFIGURATION_ERROR;
}

/// Walks a descriptor as [`Port::new`](super::Port::new) does before using it.
///
/// # Safety
/// `descriptor` is NULL or points to memory readable as the miniport's contract promises: every
/// non-NULL pointer in it, with its count and item size, describes readable memory that stays
/// unchanged while it is used. (What the walk checks is the structure: counts against NULL
/// tables, sizes, alignment, the pins and nodes connections name; it cannot tell a dangling
/// pointer from a good one.)
pub unsafe fn check_descriptor(
    descriptor: *const PCFILTER_DESCRIPTOR,
) -> Result<(), DescriptorFault> {
    // SAFETY: forwarded.
    unsafe { Descriptor::new(descriptor) }.map(|_| ())
}

/// A descriptor that passed the walk.
pub(crate) struct Descriptor {
    raw: *const PCFILTER_DESCRIPTOR,
}

// SAFETY: the descriptor is immutable data the miniport keeps alive while the port holds the
// miniport (the contract of `Descriptor::new`); sharing it shares reads only.
unsafe impl Send for Descriptor {}
// SAFETY: as above.
unsafe impl Sync for Descriptor {}

/// Whether `p` may be read as a table of `count` items of `size` bytes each, aligned for `T`.
fn table<T>(p: *const T, count: u32, size: usize) -> Result<bool, DescriptorFault> {
    if count == 0 {
        return Ok(true);
    }
    if p.is_null() || !p.is_aligned() {
        return Ok(false);
    }
    let bytes = (count as usize)
        .checked_mul(size)
        .ok_or(DescriptorFault::TooLarge)?;
    if bytes > isize::MAX as usize || (p.addr()).checked_add(bytes).is_none() {
        return Err(DescriptorFault::TooLarge);
    }
    Ok(true)
}

/// Whether a stride of `size` keeps items of `T` whole and aligned.
fn stride_ok<T>(size: u32) -> bool {
    let size = size as usize;
    size >= size_of::<T>() && size.is_multiple_of(align_of::<T>())
}

/// Item `i` of a table walked by `stride` bytes.
///
/// # Safety
/// The table passed [`table`] for at least `i + 1` items of `stride` bytes.
unsafe fn item<'a, T>(base: *const T, stride: u32, i: u32) -> &'a T {
    // `i * stride` is within the table's size, which `table` checked fits in an `isize`.
    let offset = (i as usize).wrapping_mul(stride as usize);
    // SAFETY: within the table (caller); aligned, as `stride` is a multiple of T's alignment.
    unsafe { &*base.cast::<u8>().add(offset).cast::<T>() }
}

/// Whether a `GUID` pointer may be read (non-NULL and aligned).
fn guid_ok(p: *const GUID) -> bool {
    !p.is_null() && p.is_aligned()
}

/// The descriptor of a port whose miniport has not answered `GetDescription` yet: no pins.
static EMPTY_DESCRIPTOR: PCFILTER_DESCRIPTOR = PCFILTER_DESCRIPTOR {
    Version: 0,
    AutomationTable: core::ptr::null(),
    PinSize: size_of::<PCPIN_DESCRIPTOR>() as u32,
    PinCount: 0,
    Pins: core::ptr::null(),
    NodeSize: size_of::<PCNODE_DESCRIPTOR>() as u32,
    NodeCount: 0,
    Nodes: core::ptr::null(),
    ConnectionCount: 0,
    Connections: core::ptr::null(),
    CategoryCount: 0,
    Categories: core::ptr::null(),
};

impl Descriptor {
    /// No pins, nodes or tables.
    pub(crate) const EMPTY: Self = Self {
        raw: &EMPTY_DESCRIPTOR,
    };

    /// Walks `raw` (see [`check_descriptor`]).
    ///
    /// # Safety
    /// As [`check_descriptor`].
    pub(crate) unsafe fn new(raw: *const PCFILTER_DESCRIPTOR) -> Result<Self, DescriptorFault> {
        if raw.is_null() || !raw.is_aligned() {
            return Err(DescriptorFault::Missing);
        }
        let d = Self { raw };
        let f = d.filter();
        if f.PinCount != 0 && !stride_ok::<PCPIN_DESCRIPTOR>(f.PinSize) {
            return Err(DescriptorFault::PinSize);
        }
        if !table(f.Pins, f.PinCount, f.PinSize as usize)? {
            return Err(DescriptorFault::PinTable);
        }
        if f.NodeCount != 0 && !stride_ok::<PCNODE_DESCRIPTOR>(f.NodeSize) {
            return Err(DescriptorFault::NodeSize);
        }
        if !table(f.Nodes, f.NodeCount, f.NodeSize as usize)? {
            return Err(DescriptorFault::NodeTable);
        }
        if !table(
            f.Connections,
            f.ConnectionCount,
            size_of::<PCCONNECTION_DESCRIPTOR>(),
        )? {
            return Err(DescriptorFault::ConnectionTable);
        }
        if !table(f.Categories, f.CategoryCount, size_of::<GUID>())? {
            return Err(DescriptorFault::CategoryTable);
        }
        // SAFETY: the filter's table pointer is the miniport's (contract).
        unsafe { check_automation(f.AutomationTable, AutomationOwner::Filter) }?;
        for id in 0..f.PinCount {
            // SAFETY: the pin table passed `table` for `PinCount` items of `PinSize`.
            let pin = unsafe { item(f.Pins, f.PinSize, id) };
            // SAFETY: the pin's pointers are the miniport's (contract).
            unsafe { check_pin(pin, id) }?;
        }
        for id in 0..f.NodeCount {
            // SAFETY: the node table passed `table` for `NodeCount` items of `NodeSize`.
            let node = unsafe { item(f.Nodes, f.NodeSize, id) };
            if !guid_ok(node.Type) {
                return Err(DescriptorFault::NodeType(id));
            }
            // SAFETY: the node's table pointer is the miniport's (contract).
            unsafe { check_automation(node.AutomationTable, AutomationOwner::Node(id)) }?;
        }
        for i in 0..f.ConnectionCount {
            // SAFETY: the connection table passed `table` for `ConnectionCount` items.
            let c = unsafe {
                item(
                    f.Connections,
                    size_of::<PCCONNECTION_DESCRIPTOR>() as u32,
                    i,
                )
            };
            let end_ok = |node: u32, pin: u32| {
                if node == PCFILTER_NODE {
                    pin < f.PinCount
                } else {
                    node < f.NodeCount
                }
            };
            if !end_ok(c.FromNode, c.FromNodePin) || !end_ok(c.ToNode, c.ToNodePin) {
                return Err(DescriptorFault::Connection(i));
            }
        }
        Ok(d)
    }

    pub(crate) fn filter(&self) -> &PCFILTER_DESCRIPTOR {
        // SAFETY: non-NULL and aligned (checked in `new`); alive while the port holds the
        // miniport (contract).
        unsafe { &*self.raw }
    }

    /// The descriptor's address (what `GetDescription` returned).
    pub(crate) fn as_ptr(&self) -> *const PCFILTER_DESCRIPTOR {
        self.raw
    }

    pub(crate) fn pin_count(&self) -> u32 {
        self.filter().PinCount
    }

    pub(crate) fn pin(&self, id: u32) -> Option<&PCPIN_DESCRIPTOR> {
        let f = self.filter();
        // SAFETY: `id` is below `PinCount`; the table passed the walk.
        (id < f.PinCount).then(|| unsafe { item(f.Pins, f.PinSize, id) })
    }

    pub(crate) fn node(&self, id: u32) -> Option<&PCNODE_DESCRIPTOR> {
        let f = self.filter();
        // SAFETY: `id` is below `NodeCount`; the table passed the walk.
        (id < f.NodeCount).then(|| unsafe { item(f.Nodes, f.NodeSize, id) })
    }

    /// The ranges of `pin` (one of this descriptor's), in order: each range's pointer, which
    /// covers its `FormatSize` bytes, and its header.
    pub(crate) fn ranges<'a>(
        &'a self,
        pin: &'a PCPIN_DESCRIPTOR,
    ) -> impl Iterator<Item = (*const KSDATARANGE, &'a KSDATARANGE)> + 'a {
        let ks = &pin.KsPinDescriptor;
        (0..ks.DataRangesCount).map(move |i| {
            // SAFETY: the range table passed the walk.
            let p = *unsafe { item(ks.DataRanges, size_of::<*const KSDATARANGE>() as u32, i) };
            // SAFETY: every range pointer passed the walk (non-NULL, aligned, a KSDATARANGE
            // at least).
            (p, unsafe { &*p })
        })
    }

    /// The property item of `table` for `set` and `id`, if any.
    pub(crate) fn property_item(
        table: *const PCAUTOMATION_TABLE,
        set: &GUID,
        id: u32,
    ) -> Option<&PCPROPERTY_ITEM> {
        if table.is_null() {
            return None;
        }
        // SAFETY: the table passed the walk (every table reachable from the descriptor did).
        let t = unsafe { &*table };
        (0..t.PropertyCount)
            // SAFETY: the item table passed the walk.
            .map(|i| unsafe { item(t.Properties, t.PropertyItemSize, i) })
            // SAFETY: every item's `Set` passed the walk.
            .find(|p| p.Id == id && unsafe { *p.Set } == *set)
    }
}

/// Walks one pin.
///
/// # Safety
/// As [`check_descriptor`], for the pin's pointers.
unsafe fn check_pin(pin: &PCPIN_DESCRIPTOR, id: u32) -> Result<(), DescriptorFault> {
    let ks = &pin.KsPinDescriptor;
    if (ks.DataFlow != KSPIN_DATAFLOW_IN && ks.DataFlow != KSPIN_DATAFLOW_OUT)
        || ks.Communication.0 > KSPIN_COMMUNICATION_BRIDGE.0
    {
        return Err(DescriptorFault::PinKind(id));
    }
    if !table(
        ks.Interfaces,
        ks.InterfacesCount,
        size_of::<crate::abi::KSPIN_INTERFACE>(),
    )? || !table(
        ks.Mediums,
        ks.MediumsCount,
        size_of::<crate::abi::KSPIN_MEDIUM>(),
    )? {
        return Err(DescriptorFault::PinInterfaces(id));
    }
    if !table(
        ks.DataRanges,
        ks.DataRangesCount,
        size_of::<*const KSDATARANGE>(),
    )? {
        return Err(DescriptorFault::DataRanges(id));
    }
    for i in 0..ks.DataRangesCount {
        // SAFETY: the range table passed `table`.
        let range: *const KSDATARANGE =
            *unsafe { item(ks.DataRanges, size_of::<*const KSDATARANGE>() as u32, i) };
        if range.is_null() || !range.is_aligned() {
            return Err(DescriptorFault::DataRanges(id));
        }
        // SAFETY: non-NULL, aligned, the miniport's range (contract).
        if (unsafe { (*range).FormatSize } as usize) < size_of::<KSDATARANGE>() {
            return Err(DescriptorFault::DataRangeSize(id, i));
        }
    }
    // SAFETY: forwarded.
    unsafe { check_automation(pin.AutomationTable, AutomationOwner::Pin(id)) }
}

/// Walks one automation table (NULL: none).
///
/// # Safety
/// As [`check_descriptor`], for the table's pointers.
unsafe fn check_automation(
    table_ptr: *const PCAUTOMATION_TABLE,
    owner: AutomationOwner,
) -> Result<(), DescriptorFault> {
    if table_ptr.is_null() {
        return Ok(());
    }
    let fault = DescriptorFault::Automation(owner);
    if !table_ptr.is_aligned() {
        return Err(fault);
    }
    // SAFETY: non-NULL, aligned, the miniport's (contract).
    let t = unsafe { &*table_ptr };
    let ok = (t.PropertyCount == 0 || stride_ok::<PCPROPERTY_ITEM>(t.PropertyItemSize))
        && (t.MethodCount == 0 || stride_ok::<PCMETHOD_ITEM>(t.MethodItemSize))
        && (t.EventCount == 0 || stride_ok::<PCEVENT_ITEM>(t.EventItemSize))
        && table(t.Properties, t.PropertyCount, t.PropertyItemSize as usize)?
        && table(t.Methods, t.MethodCount, t.MethodItemSize as usize)?
        && table(t.Events, t.EventCount, t.EventItemSize as usize)?;
    if !ok {
        return Err(fault);
    }
    for i in 0..t.PropertyCount {
        // SAFETY: the item table passed `table`.
        let p = unsafe { item(t.Properties, t.PropertyItemSize, i) };
        if !guid_ok(p.Set) {
            return Err(fault);
        }
    }
    Ok(())
}
