use mxf::prelude::*;

#[com_object(IMXF, qi_failure = 0xC000000D)]
struct Sink;

impl IMXF_Impl for Sink {
    fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    unsafe fn PutMessage(&self, _event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        STATUS_SUCCESS
    }
    fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_SUCCESS
    }
    fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

fn main() {}
