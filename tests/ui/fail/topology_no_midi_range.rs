/// DirectMusic pins only, without saying `directmusic_only`: Windows MIDI Services would not see
/// the device.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: {
            dmusic_out: render(directmusic),
            input: capture(directmusic),
        },
    }
}

fn main() {}
