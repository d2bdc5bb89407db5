use mxf::prelude::*;

/// A pointer under another name: the macro cannot see it, the `PlainValue` check does.
pub type PVOID = *mut core::ffi::c_void;

#[com_interface(iid = "6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5C")]
pub unsafe trait IFoo: IUnknown {
    fn Poke(&self, at: PVOID) -> NTSTATUS;
}

fn main() {}
