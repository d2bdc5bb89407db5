use mxf::prelude::*;

// Local interfaces keep the expected output independent of mxf's own implementors.

#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGain: IUnknown {
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

#[com_interface(iid = "1A2B3C4D-5E6F-4A8B-9C0D-1E2F3A4B5C6D")]
pub unsafe trait IPan: IUnknown {
    fn SetPan(&self, pan: i32) -> NTSTATUS;
}

#[com_object(IGain, IPan)]
struct Amp;

impl IGain_Impl for Amp {
    fn SetGain(&self, _gain: u32) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

fn main() {}
