use mxf::prelude::*;

#[mxf_filter]
struct Odd;

impl Filter for Odd {
    // A raw KSSTATE could be a value SetState refuses: the initial state is one of the four.
    const INITIAL_STATE: KSSTATE = KSSTATE(77);
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

fn main() {}
