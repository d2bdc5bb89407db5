/// No AUDIO category, without saying `directmusic_only`: Windows MIDI Services finds devices by
/// their KSCATEGORY_AUDIO interfaces.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [RENDER, CAPTURE],
        pins: {
            midi_out: render(midi),
            input: capture(midi),
        },
    }
}

fn main() {}
