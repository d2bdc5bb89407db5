/// A node's pins are 0 (output) and 1 (input); there is no pin 2.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER],
        pins: {
            dmusic_out: render(midi, directmusic),
            bridge_out: bridge(out, midi_bus),
        },
        nodes: { synth: synthesizer },
        connections: [dmusic_out -> synth.2, synth.0 -> bridge_out],
    }
}

fn main() {}
