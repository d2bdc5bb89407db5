/// `impl DmusMiniport` forgotten.
#[mxf::mxf_miniport]
pub struct Forgotten;

mxf::miniport_topology! {
    pub static FORGOTTEN for Forgotten {
        categories: [AUDIO, RENDER],
        pins: { midi_out: render(midi) },
    }
}

fn main() {}
