use mxf::prelude::*;

#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGain: IUnknown {
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

// Copy-paste: the same IID as IGain.
#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IPan: IUnknown {
    fn SetPan(&self, pan: i32) -> NTSTATUS;
}

#[com_object(IGain, IPan)]
struct Mixer;

impl IGain_Impl for Mixer {
    fn SetGain(&self, _gain: u32) -> NTSTATUS {
        STATUS_SUCCESS
    }
}
impl IPan_Impl for Mixer {
    fn SetPan(&self, _pan: i32) -> NTSTATUS {
        STATUS_SUCCESS
    }
}

fn main() {}
