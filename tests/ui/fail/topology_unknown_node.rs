/// A connection to a node that is not declared.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER],
        pins: {
            midi_out: render(midi),
            bridge_out: bridge(out, midi_bus),
        },
        nodes: { synth: synthesizer },
        connections: [midi_out -> synthesiser.1, synth.0 -> bridge_out],
    }
}

fn main() {}
