//! The recording sink of the examples and tests: [`mxf::testing`]'s [`Recorder`].

pub use mxf::testing::{Record, RecordLog, Recorder};
