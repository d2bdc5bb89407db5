use mxf::prelude::*;

#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGain: IUnknown {
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

// A failed QueryInterface that reports success: the caller would use the NULL it got.
#[com_object(IGain, qi_failure = STATUS_SUCCESS)]
struct Amp;

impl IGain_Impl for Amp {
    fn SetGain(&self, _gain: u32) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

fn main() {}
