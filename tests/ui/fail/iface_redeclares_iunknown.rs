use mxf::prelude::*;

// The C header habit: IUnknown's methods declared again.
#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGain: IUnknown {
    fn QueryInterface(&self, iid: *const GUID, out: *mut *mut core::ffi::c_void) -> NTSTATUS;
    fn AddRef(&self) -> u32;
    fn Release(&self) -> u32;
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

fn main() {}
