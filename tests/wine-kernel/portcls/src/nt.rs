//! The kernel functions the double calls beyond mxf's backend, declared by hand (as
//! `mxf/src/platform/driver.rs` declares mxf's), linked against the import library of
//! `tests/wine-kernel/ntoskrnl.def`.

use alloc::vec::Vec;
use core::ffi::{c_char, c_void};
use mxf::abi::{NTSTATUS, STATUS_SUCCESS};
use mxf::driver::{DEVICE_OBJECT, DRIVER_OBJECT, IRP, UNICODE_STRING};

/// `IO_STATUS_BLOCK`.
#[repr(C)]
struct IoStatusBlock {
    status: usize,
    information: usize,
}

/// `OBJECT_ATTRIBUTES`.
#[repr(C)]
struct ObjectAttributes {
    length: u32,
    root_directory: *mut c_void,
    object_name: *const UNICODE_STRING,
    attributes: u32,
    security_descriptor: *mut c_void,
    security_quality_of_service: *mut c_void,
}

unsafe extern "system" {
    fn IoCreateDevice(
        driver: *mut DRIVER_OBJECT,
        extension_size: u32,
        name: *const UNICODE_STRING,
        device_type: u32,
        characteristics: u32,
        exclusive: u8,
        device: *mut *mut DEVICE_OBJECT,
    ) -> NTSTATUS;
    fn IoDeleteDevice(device: *mut DEVICE_OBJECT);
    fn IoAllocateIrp(stack_size: i8, charge_quota: u8) -> *mut IRP;
    fn IoFreeIrp(irp: *mut IRP);
    fn ZwCreateFile(
        handle: *mut *mut c_void,
        access: u32,
        attributes: *const ObjectAttributes,
        io_status: *mut IoStatusBlock,
        allocation_size: *const i64,
        file_attributes: u32,
        share: u32,
        disposition: u32,
        options: u32,
        ea: *mut c_void,
        ea_length: u32,
    ) -> NTSTATUS;
    fn ZwReadFile(
        handle: *mut c_void,
        event: *mut c_void,
        apc: *mut c_void,
        apc_context: *mut c_void,
        io_status: *mut IoStatusBlock,
        buffer: *mut c_void,
        length: u32,
        offset: *const i64,
        key: *const u32,
    ) -> NTSTATUS;
    fn ZwWriteFile(
        handle: *mut c_void,
        event: *mut c_void,
        apc: *mut c_void,
        apc_context: *mut c_void,
        io_status: *mut IoStatusBlock,
        buffer: *const c_void,
        length: u32,
        offset: *const i64,
        key: *const u32,
    ) -> NTSTATUS;
    fn ZwClose(handle: *mut c_void) -> NTSTATUS;
}

unsafe extern "C" {
    fn DbgPrint(format: *const c_char, ...) -> u32;
}

/// `FILE_DEVICE_UNKNOWN`.
const FILE_DEVICE_UNKNOWN: u32 = 0x22;

/// `IoCreateDevice` of an unnamed device of `driver`.
pub fn create_device(driver: *mut DRIVER_OBJECT) -> Result<*mut DEVICE_OBJECT, NTSTATUS> {
    let mut device = core::ptr::null_mut();
    // SAFETY: `driver` is the live driver object the I/O manager passed to DriverEntry; an
    // unnamed device without extension; `device` is a valid out-pointer.
    let status = unsafe {
        IoCreateDevice(
            driver,
            0,
            core::ptr::null(),
            FILE_DEVICE_UNKNOWN,
            0,
            0,
            &mut device,
        )
    };
    if status.is_success() && !device.is_null() {
        Ok(device)
    } else {
        Err(status)
    }
}

/// `IoDeleteDevice`.
///
/// # Safety
/// `device` came from [`create_device`] and is deleted once.
pub unsafe fn delete_device(device: *mut DEVICE_OBJECT) {
    // SAFETY: forwarded contract.
    unsafe { IoDeleteDevice(device) }
}

/// An IRP for `StartDevice` (the glue passes it on to `IPort::Init` only).
pub fn allocate_irp() -> *mut IRP {
    // SAFETY: one stack location, no quota.
    unsafe { IoAllocateIrp(1, 0) }
}

/// `IoFreeIrp`.
///
/// # Safety
/// `irp` came from [`allocate_irp`], non-NULL, freed once.
pub unsafe fn free_irp(irp: *mut IRP) {
    // SAFETY: forwarded contract.
    unsafe { IoFreeIrp(irp) }
}

/// `DbgPrint("%s", text)`: `text` is NUL-terminated by the caller.
pub fn print(text: &[u8]) {
    if text.last() == Some(&0) {
        // SAFETY: a NUL-terminated byte string for "%s".
        unsafe { DbgPrint(c"mxf-wine-portcls: %s\n".as_ptr(), text.as_ptr()) };
    }
}

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const SYNCHRONIZE: u32 = 0x0010_0000;
const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
const FILE_SHARE_READ: u32 = 1;
const FILE_OPEN: u32 = 1;
const FILE_OVERWRITE_IF: u32 = 5;
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
const OBJ_CASE_INSENSITIVE: u32 = 0x40;
const OBJ_KERNEL_HANDLE: u32 = 0x200;
/// `STATUS_END_OF_FILE`.
const STATUS_END_OF_FILE: NTSTATUS = NTSTATUS(0xC000_0011_u32 as i32);

/// An open file, closed on drop.
struct File(*mut c_void);

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: a handle ZwCreateFile returned, closed once.
        unsafe { ZwClose(self.0) };
    }
}

fn open(path: &str, access: u32, disposition: u32) -> Result<File, NTSTATUS> {
    let mut wide: Vec<u16> = path.encode_utf16().collect();
    wide.push(0);
    let name = UNICODE_STRING::from_utf16z(&wide).ok_or(STATUS_END_OF_FILE)?;
    let attributes = ObjectAttributes {
        length: core::mem::size_of::<ObjectAttributes>() as u32,
        root_directory: core::ptr::null_mut(),
        object_name: &name,
        attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
        security_descriptor: core::ptr::null_mut(),
        security_quality_of_service: core::ptr::null_mut(),
    };
    let mut io = IoStatusBlock {
        status: 0,
        information: 0,
    };
    let mut handle = core::ptr::null_mut();
    // SAFETY: valid attributes naming `wide` (alive across the call), valid out-pointers; a
    // synchronous open at PASSIVE_LEVEL.
    let status = unsafe {
        ZwCreateFile(
            &mut handle,
            access | SYNCHRONIZE,
            &attributes,
            &mut io,
            core::ptr::null(),
            FILE_ATTRIBUTE_NORMAL,
            FILE_SHARE_READ,
            disposition,
            FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE,
            core::ptr::null_mut(),
            0,
        )
    };
    if status.is_success() {
        Ok(File(handle))
    } else {
        Err(status)
    }
}

/// The whole file at `path` (an NT path, `\??\C:\...`).
pub fn read_file(path: &str) -> Result<Vec<u8>, NTSTATUS> {
    let file = open(path, GENERIC_READ, FILE_OPEN)?;
    let mut out = Vec::new();
    let mut chunk = alloc::vec![0u8; 65536];
    loop {
        let mut io = IoStatusBlock {
            status: 0,
            information: 0,
        };
        // SAFETY: an open synchronous handle; `chunk` is valid for its length; the current
        // file position is used (NULL offset).
        let status = unsafe {
            ZwReadFile(
                file.0,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                &mut io,
                chunk.as_mut_ptr().cast(),
                chunk.len() as u32,
                core::ptr::null(),
                core::ptr::null(),
            )
        };
        if status == STATUS_END_OF_FILE {
            break;
        }
        if !status.is_success() {
            return Err(status);
        }
        let got = chunk.get(..io.information).ok_or(STATUS_END_OF_FILE)?;
        if got.is_empty() {
            break;
        }
        out.extend_from_slice(got);
    }
    Ok(out)
}

/// Writes `data` to `path` (created or replaced).
pub fn write_file(path: &str, data: &[u8]) -> NTSTATUS {
    let file = match open(path, GENERIC_WRITE, FILE_OVERWRITE_IF) {
        Ok(f) => f,
        Err(status) => return status,
    };
    let mut io = IoStatusBlock {
        status: 0,
        information: 0,
    };
    // SAFETY: an open synchronous handle; `data` is valid for its length.
    let status = unsafe {
        ZwWriteFile(
            file.0,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            &mut io,
            data.as_ptr().cast(),
            data.len() as u32,
            core::ptr::null(),
            core::ptr::null(),
        )
    };
    if status.is_success() {
        STATUS_SUCCESS
    } else {
        status
    }
}
