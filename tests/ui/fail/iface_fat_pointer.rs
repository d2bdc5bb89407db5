use mxf::prelude::*;

#[com_interface(iid = "6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5C")]
pub unsafe trait IFoo: IUnknown {
    /// Two machine words: no C parameter is a slice pointer.
    fn Write(&self, bytes: *const [u8]) -> NTSTATUS;
}

fn main() {}
