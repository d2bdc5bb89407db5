use mxf::prelude::*;

// A local IStereoGain : IGain : IUnknown chain (the shape of IAllocatorMXF : IMXF : IUnknown)
// keeps the expected output independent of mxf's own implementors.

#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGain: IUnknown {
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

#[com_interface(iid = "2B3C4D5E-6F7A-4B8C-9D0E-1F2A3B4C5D6E")]
pub unsafe trait IStereoGain: IGain {
    fn SetBalance(&self, balance: i32) -> NTSTATUS;
}

/// Implements the derived interface but not its base.
#[com_object(IStereoGain)]
struct Amp;

impl IStereoGain_Impl for Amp {
    fn SetBalance(&self, _balance: i32) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

fn main() {}
