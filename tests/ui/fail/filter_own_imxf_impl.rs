use mxf::prelude::*;

#[mxf_filter]
struct Thru;

impl Filter for Thru {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

// Dead code: the framework implements IMXF for every #[mxf_filter].
impl IMXF_Impl for Thru {
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
