use mxf::prelude::*;

#[com_interface(iid = 0x6D0E6A0B)]
pub unsafe trait IFoo: IUnknown {
    fn Ping(&self) -> NTSTATUS;
}

fn main() {}
