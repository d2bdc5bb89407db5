use mxf::prelude::*;

/// A handle the author declared `Sync` but not `Send`.
struct Handle(*mut u8);

// SAFETY: the handle is only read through shared references.
unsafe impl Sync for Handle {}

#[com_object(IMXF)]
struct Sink {
    handle: Handle,
}

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
