use mxf::prelude::*;

#[mxf_filter]
struct Counter {
    seen: core::cell::Cell<u32>,
}

impl Filter for Counter {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        self.seen.set(self.seen.get() + 1);
        out.push(event);
    }
}

fn main() {}
