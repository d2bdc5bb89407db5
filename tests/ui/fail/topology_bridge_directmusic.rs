/// A bridge pin with a DirectMusic range: the wire to the hardware carries the MIDI bus.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER],
        pins: {
            midi_out: render(midi),
            bridge_out: bridge(out, directmusic),
        },
        connections: [midi_out -> bridge_out],
    }
}

fn main() {}
