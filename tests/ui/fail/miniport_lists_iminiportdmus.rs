use mxf::miniport::{InitRequest, Stream, StreamRequest};
use mxf::prelude::*;

/// The framework implements IMiniportDMus: listing it is a mistake.
#[mxf_miniport(IMiniportDMus)]
pub struct Listed;

mxf::miniport_topology! {
    pub static LISTED for Listed {
        categories: [AUDIO, RENDER],
        pins: { midi_out: render(midi) },
    }
}

impl DmusMiniport for Listed {
    fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        Ok(None)
    }
    fn new_stream(&self, _request: StreamRequest<'_>) -> Result<Stream> {
        Err(STATUS_NOT_IMPLEMENTED)
    }
}

fn main() {}
