/// Two pins of one name: a connection could not say which.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: {
            port: render(midi),
            port: capture(midi),
        },
    }
}

fn main() {}
