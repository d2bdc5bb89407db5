//! Writes `vmidi.inf` from the driver's declaration: `vmidi-inf [amd64|x86|arm64]` prints it to
//! stdout.

use mxf_driver_vmidi::{INF, VirtualMidi};

fn main() -> std::process::ExitCode {
    mxf::driver::inf_command::<VirtualMidi>("vmidi-inf", &INF)
}
