/// A miniport whose declaration has no pin: the port could open nothing.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER],
        pins: {},
    }
}

fn main() {}
