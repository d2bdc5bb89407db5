use mxf::miniport::{InitRequest, Stream, StreamRequest};
use mxf::prelude::*;

/// A miniport whose pins were never declared.
#[mxf_miniport]
pub struct Undeclared;

impl DmusMiniport for Undeclared {
    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        Ok(None)
    }
    fn new_stream(&self, _request: StreamRequest<'_>) -> Result<Stream> {
        Err(STATUS_NOT_IMPLEMENTED)
    }
}

fn main() {}
