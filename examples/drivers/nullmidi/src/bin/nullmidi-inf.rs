//! Writes `nullmidi.inf` from the driver's declaration: `nullmidi-inf [amd64|x86|arm64]` prints it to
//! stdout.

use mxf_driver_nullmidi::{INF, NullMidi};

fn main() -> std::process::ExitCode {
    mxf::driver::inf_command::<NullMidi>("nullmidi-inf", &INF)
}
