pub mod inner {
    use mxf::prelude::*;

    #[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
    pub(crate) unsafe trait IPrivate: IUnknown {
        fn Ping(&self) -> NTSTATUS;
    }
}

use mxf::prelude::*;

#[com_interface(iid = "1F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IPublic: inner::IPrivate {
    fn Pong(&self) -> NTSTATUS;
}

fn main() {}
