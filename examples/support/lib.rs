//! Code shared by the examples and the integration tests of the mxf workspace.

pub mod demo;
pub mod filters;
pub mod player;
pub mod showcase;
pub mod stages;
pub mod uart;
