/// A render pin offering the bridge pins' range.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER],
        pins: {
            midi_out: render(midi, midi_bus),
        },
    }
}

fn main() {}
