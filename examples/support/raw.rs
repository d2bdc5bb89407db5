//! Raw-vtable calls for the examples, tests and benchmarks: those of [`mxf::testing::raw`],
//! and [`connect`] (`ConnectOutput` through the vtable, as [`mxf::testing::connect_output`]).

pub use mxf::testing::connect_output as connect;
pub use mxf::testing::raw::*;
