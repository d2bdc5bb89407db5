/// A capture pin offering the bridge pins' range.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, CAPTURE],
        pins: {
            input: capture(midi_bus),
            midi_out: render(midi),
        },
    }
}

fn main() {}
