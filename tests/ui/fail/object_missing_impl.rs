use mxf::prelude::*;

// Local interfaces keep the expected output independent of mxf's own implementors.

#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGain: IUnknown {
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

#[com_object(IGain)]
struct Amp;

fn main() {}
