use mxf::prelude::*;

// Copy-paste: the IID of IMXF, the base.
#[com_interface(iid = "c096df9e-fb09-11d1-81b0-0060083316c1")]
pub unsafe trait IGainMXF: IMXF {
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

fn main() {}
