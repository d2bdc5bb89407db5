/// A connection to a pin that is not declared.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER],
        pins: {
            midi_out: render(midi),
            bridge_out: bridge(out, midi_bus),
        },
        connections: [midi_out -> bridge_output],
    }
}

fn main() {}
