//! Built-in MXF components of the DMus port, usable inside a driver (no_std) and by the
//! user-mode port simulation: the sequencer, the DirectMusic and KS unpackers, the capture sink,
//! the packer, and a service group (`PcNewServiceGroup`'s counterpart).

pub mod capture_sink;
pub mod packer;
pub mod sequencer;
pub mod service_group;
pub mod unpacker;
