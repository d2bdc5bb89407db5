//! The kernel types the adapter glue touches, declared minimally: opaque where the glue only
//! passes a pointer on, `#[repr(C)]` with the header's fields where it reads or writes one.
//! Layouts are asserted here for both pointer widths and compared with mingw-w64's `<ddk/wdm.h>`
//! by `.ci/drivers.sh` (`.ci/driver/layout.c`).
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use crate::abi::NTSTATUS;
use core::ffi::c_void;
use core::marker::{PhantomData, PhantomPinned};

/// `DEVICE_OBJECT`: opaque; the glue passes it from PortCls back to PortCls.
#[repr(C)]
pub struct DEVICE_OBJECT {
    _opaque: [u8; 0],
    _pinned: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `IRP`: opaque; `StartDevice`'s IRP is passed on to `IPort::Init`.
#[repr(C)]
pub struct IRP {
    _opaque: [u8; 0],
    _pinned: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `DRIVER_EXTENSION`: opaque (PortCls sets its `AddDevice`).
#[repr(C)]
pub struct DRIVER_EXTENSION {
    _opaque: [u8; 0],
    _pinned: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `UNICODE_STRING`: a counted UTF-16 string (lengths in bytes, no terminator required).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UNICODE_STRING {
    /// Bytes in use, without a terminator.
    pub Length: u16,
    /// Bytes `Buffer` holds.
    pub MaximumLength: u16,
    /// The characters.
    pub Buffer: *mut u16,
}

impl UNICODE_STRING {
    /// Describes a NUL-terminated UTF-16 array (the terminator counted in `MaximumLength`
    /// only); `None` if it has no terminator or is longer than a `UNICODE_STRING` can say.
    pub fn from_utf16z(chars: &[u16]) -> Option<Self> {
        let len = chars.iter().position(|&c| c == 0)?;
        let length = u16::try_from(len.checked_mul(2)?).ok()?;
        let maximum = u16::try_from(chars.len().checked_mul(2)?).ok()?;
        Some(Self {
            Length: length,
            MaximumLength: maximum,
            Buffer: chars.as_ptr().cast_mut(),
        })
    }
}

/// `PDRIVER_UNLOAD`.
pub type DriverUnloadFn = unsafe extern "system" fn(driver: *mut DRIVER_OBJECT);
/// `PDRIVER_ADD_DEVICE`: what `PcInitializeAdapterDriver` is given.
pub type AddDeviceFn = unsafe extern "system" fn(
    driver: *mut DRIVER_OBJECT,
    physical_device: *mut DEVICE_OBJECT,
) -> NTSTATUS;
/// `PCPFNSTARTDEVICE`: what `PcAddAdapterDevice` is given; `resource_list` is a
/// `PRESOURCELIST` (an [`IResourceList`](crate::interfaces::IResourceList)).
pub type StartDeviceFn = unsafe extern "system" fn(
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
    resource_list: *mut c_void,
) -> NTSTATUS;
/// `PDRIVER_DISPATCH`.
pub type DispatchFn =
    unsafe extern "system" fn(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS;

/// `IRP_MJ_MAXIMUM_FUNCTION + 1`: the size of `DRIVER_OBJECT::MajorFunction`.
pub const IRP_MJ_FUNCTIONS: usize = 28;

/// `DRIVER_OBJECT`, every field as `<ddk/wdm.h>` declares it (the glue reads and replaces
/// `DriverUnload`, which PortCls sets in `PcInitializeAdapterDriver`).
#[repr(C)]
pub struct DRIVER_OBJECT {
    /// `IO_TYPE_DRIVER`.
    pub Type: i16,
    /// The structure's size.
    pub Size: i16,
    /// The first device object the driver created.
    pub DeviceObject: *mut DEVICE_OBJECT,
    /// `DRVO_*` flags.
    pub Flags: u32,
    /// Where the image is loaded.
    pub DriverStart: *mut c_void,
    /// The image's size.
    pub DriverSize: u32,
    /// The loader's entry.
    pub DriverSection: *mut c_void,
    /// Holds `AddDevice`.
    pub DriverExtension: *mut DRIVER_EXTENSION,
    /// `\Driver\Name`.
    pub DriverName: UNICODE_STRING,
    /// The hardware registry path.
    pub HardwareDatabase: *mut UNICODE_STRING,
    /// Fast I/O entry points.
    pub FastIoDispatch: *mut c_void,
    /// `DriverEntry`.
    pub DriverInit: *mut c_void,
    /// `StartIo`.
    pub DriverStartIo: *mut c_void,
    /// `DriverUnload`.
    pub DriverUnload: Option<DriverUnloadFn>,
    /// The IRP dispatch table.
    pub MajorFunction: [Option<DispatchFn>; IRP_MJ_FUNCTIONS],
}

impl DRIVER_OBJECT {
    /// A driver object with every field zero or NULL (what a test hands to `DriverEntry`).
    pub const fn empty() -> Self {
        Self {
            Type: 0,
            Size: 0,
            DeviceObject: core::ptr::null_mut(),
            Flags: 0,
            DriverStart: core::ptr::null_mut(),
            DriverSize: 0,
            DriverSection: core::ptr::null_mut(),
            DriverExtension: core::ptr::null_mut(),
            DriverName: UNICODE_STRING {
                Length: 0,
                MaximumLength: 0,
                Buffer: core::ptr::null_mut(),
            },
            HardwareDatabase: core::ptr::null_mut(),
            FastIoDispatch: core::ptr::null_mut(),
            DriverInit: core::ptr::null_mut(),
            DriverStartIo: core::ptr::null_mut(),
            DriverUnload: None,
            MajorFunction: [None; IRP_MJ_FUNCTIONS],
        }
    }
}

/// `CmResourceTypePort`: an I/O port range.
pub const CmResourceTypePort: i32 = 1;
/// `CmResourceTypeInterrupt`.
pub const CmResourceTypeInterrupt: i32 = 2;
/// `CmResourceTypeMemory`: a memory-mapped range.
pub const CmResourceTypeMemory: i32 = 3;
/// `CmResourceTypeDeviceSpecific`: device-specific data following the list.
pub const CmResourceTypeDeviceSpecific: i32 = 5;

/// `INTERRUPTSYNCMODE` (`portcls.h`, an `enum`): how `IInterruptSync` calls its service
/// routines when the interrupt fires.
#[allow(non_camel_case_types)]
pub type INTERRUPTSYNCMODE = i32;
/// `InterruptSyncModeNormal`: the routines in order until one returns `STATUS_SUCCESS`.
pub const InterruptSyncModeNormal: INTERRUPTSYNCMODE = 1;
/// `InterruptSyncModeAll`: every routine, once.
pub const InterruptSyncModeAll: INTERRUPTSYNCMODE = 2;
/// `InterruptSyncModeRepeat`: every routine, again until none returns `STATUS_SUCCESS`.
pub const InterruptSyncModeRepeat: INTERRUPTSYNCMODE = 3;

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR`: one resource. The header packs it to 4 bytes (so on x64
/// the 64-bit start address of a port or memory range is not 8-byte aligned): the union `u` is
/// kept as 32-bit words, read through [`port`](Self::port), [`memory`](Self::memory) and
/// [`interrupt`](Self::interrupt). 20 bytes on 64-bit targets, 16 on 32-bit ones.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR {
    /// `CmResourceType*` (a `UCHAR` here).
    pub Type: u8,
    /// `CmResourceShare*`.
    pub ShareDisposition: u8,
    /// `CM_RESOURCE_*` flags of the type.
    pub Flags: u16,
    /// The union: 16 bytes on 64-bit targets, 12 on 32-bit ones.
    pub u: [u32; 2 + core::mem::size_of::<usize>() / 4],
}

impl CM_PARTIAL_RESOURCE_DESCRIPTOR {
    fn start_and_length(&self) -> (u64, u32) {
        let [low, high, length, ..] = self.u;
        ((u64::from(high) << 32) | u64::from(low), length)
    }

    /// `u.Port`: start address and length of an I/O port range, if this is one.
    pub fn port(&self) -> Option<(u64, u32)> {
        (i32::from(self.Type) == CmResourceTypePort).then(|| self.start_and_length())
    }

    /// `u.Memory`: start address and length of a memory range, if this is one.
    pub fn memory(&self) -> Option<(u64, u32)> {
        (i32::from(self.Type) == CmResourceTypeMemory).then(|| self.start_and_length())
    }

    /// `u.Interrupt`: `(Level, Vector)`, if this is an interrupt.
    pub fn interrupt(&self) -> Option<(u32, u32)> {
        let [level, vector, ..] = self.u;
        (i32::from(self.Type) == CmResourceTypeInterrupt).then_some((level, vector))
    }
}

/// Sizes and offsets of `<ddk/wdm.h>` (mingw-w64) for this target's pointer width, computed with
/// x86_64- and i686-w64-mingw32-gcc; `.ci/driver/layout.c` asserts the same numbers against the
/// header.
struct HeaderLayout {
    unicode_string: usize,
    unicode_string_buffer: usize,
    driver_device_object: usize,
    driver_extension: usize,
    driver_name: usize,
    driver_unload: usize,
    driver_major_function: usize,
    driver_object: usize,
    cm_partial_resource_descriptor: usize,
}

#[cfg(target_pointer_width = "64")]
const HEADER: HeaderLayout = HeaderLayout {
    unicode_string: 16,
    unicode_string_buffer: 8,
    driver_device_object: 8,
    driver_extension: 48,
    driver_name: 56,
    driver_unload: 104,
    driver_major_function: 112,
    driver_object: 336,
    cm_partial_resource_descriptor: 20,
};

#[cfg(target_pointer_width = "32")]
const HEADER: HeaderLayout = HeaderLayout {
    unicode_string: 8,
    unicode_string_buffer: 4,
    driver_device_object: 4,
    driver_extension: 24,
    driver_name: 28,
    driver_unload: 52,
    driver_major_function: 56,
    driver_object: 168,
    cm_partial_resource_descriptor: 16,
};

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<UNICODE_STRING>() == HEADER.unicode_string);
    assert!(offset_of!(UNICODE_STRING, Buffer) == HEADER.unicode_string_buffer);
    assert!(offset_of!(DRIVER_OBJECT, DeviceObject) == HEADER.driver_device_object);
    assert!(offset_of!(DRIVER_OBJECT, DriverExtension) == HEADER.driver_extension);
    assert!(offset_of!(DRIVER_OBJECT, DriverName) == HEADER.driver_name);
    assert!(offset_of!(DRIVER_OBJECT, DriverUnload) == HEADER.driver_unload);
    assert!(offset_of!(DRIVER_OBJECT, MajorFunction) == HEADER.driver_major_function);
    assert!(size_of::<DRIVER_OBJECT>() == HEADER.driver_object);
    assert!(offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u) == 4);
    assert!(size_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>() == HEADER.cm_partial_resource_descriptor);
    assert!(align_of::<CM_PARTIAL_RESOURCE_DESCRIPTOR>() == 4);
};
