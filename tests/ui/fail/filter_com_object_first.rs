use mxf::prelude::*;

#[com_object(IMXF)]
#[mxf_filter]
struct Thru;

impl Filter for Thru {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

fn main() {}
