use mxf::prelude::*;

#[mxf_filter]
#[com_object(IMXF)]
struct Thru;

impl Filter for Thru {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

fn main() {}
