use mxf::prelude::*;

#[mxf_filter]
struct Wide;

impl Filter for Wide {
    const OUTPUTS: usize = 16;
    const INITIAL_STATE: KSSTATE = KSSTATE(77);
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        out.push(event);
    }
}

fn main() {
    let alloc = mxf::allocator::AllocatorHandle::new(Default::default(), None).unwrap();
    let _ = Wide.into_filter(&alloc);
}
