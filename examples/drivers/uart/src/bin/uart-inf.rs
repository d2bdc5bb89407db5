//! Writes `uart.inf` from the driver's declaration: `uart-inf [amd64|x86|arm64]` prints it to
//! stdout.

use mxf_driver_uart::{INF, UartDriver};

fn main() -> std::process::ExitCode {
    mxf::driver::inf_command::<UartDriver>("uart-inf", &INF)
}
