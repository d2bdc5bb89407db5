use mxf::abi::KSPROPERTY_SYNTH_CAPS;

/// A pin name that is a property id, not a GUID constant.
pub struct Device;

mxf::miniport_topology! {
    pub static DEVICE for Device {
        categories: [AUDIO, RENDER],
        pins: {
            midi_out: render(midi), name(KSPROPERTY_SYNTH_CAPS),
        },
    }
}

fn main() {}
