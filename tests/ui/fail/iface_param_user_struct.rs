use mxf::prelude::*;

/// Not `#[repr(C)]`, and not `AbiSafe`.
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[com_interface(iid = "6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5C")]
pub unsafe trait IFoo: IUnknown {
    fn MoveTo(&self, to: Point) -> NTSTATUS;
}

fn main() {}
