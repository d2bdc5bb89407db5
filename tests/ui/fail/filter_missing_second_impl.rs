use mxf::prelude::*;

#[com_interface(iid = "0F6C1E2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B")]
pub unsafe trait IGain: IUnknown {
    fn SetGain(&self, gain: u32) -> NTSTATUS;
}

#[mxf_filter(IGain)]
struct Amp;

impl Filter for Amp {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

fn main() {}
