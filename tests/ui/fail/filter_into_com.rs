use mxf::prelude::*;

#[mxf_filter]
struct Thru;

impl Filter for Thru {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

fn main() {
    let _ = Thru.into_com::<IMXF>();
}
