use mxf::prelude::*;

// A method of the base interface (IMXF's SetState) declared again in the derived one.
#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGainMXF: IMXF {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS;
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

fn main() {}
