use mxf::prelude::*;

#[com_interface]
pub unsafe trait IFoo: IUnknown {
    fn Ping(&self) -> NTSTATUS;
}

fn main() {}
