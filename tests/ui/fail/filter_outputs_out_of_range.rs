use mxf::prelude::*;

#[mxf_filter]
struct Wide;

impl Filter for Wide {
    // Reported here, by `cargo check` too: a filter has 1 to 8 outputs.
    const OUTPUTS: OutputCount = OutputCount::new(16);
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

fn main() {}
