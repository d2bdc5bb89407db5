use mxf::prelude::*;

/// `impl Filter` forgotten.
#[mxf_filter]
struct Forgotten;

fn main() {}
