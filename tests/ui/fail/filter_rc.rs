use mxf::prelude::*;

#[mxf_filter]
struct Shared {
    table: std::rc::Rc<[u8; 128]>,
}

impl Filter for Shared {
    fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
        let _ = self.table[0];
        out.push(event);
    }
}

fn main() {}
