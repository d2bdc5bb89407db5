//! Writes `uart.inf` from the driver's declaration: `uart-inf [amd64|x86|arm64]` prints
//! it to stdout.

use mxf::driver::Driver;
use mxf::miniport::inf::{Architecture, write_inf};
use mxf_driver_uart::{INF, UartDriver};
use std::process::ExitCode;

fn main() -> ExitCode {
    let architecture = match std::env::args().nth(1).as_deref() {
        None | Some("amd64") => Architecture::Amd64,
        Some("x86") => Architecture::X86,
        Some("arm64") => Architecture::Arm64,
        Some(other) => {
            eprintln!("uart-inf: unknown architecture {other} (amd64, x86, arm64)");
            return ExitCode::from(2);
        }
    };
    let subdevices: Vec<_> = UartDriver::SUBDEVICES
        .iter()
        .map(|s| s.inf_subdevice())
        .collect();
    let driver = mxf::miniport::inf::Driver {
        architecture,
        ..INF
    };
    let mut inf = String::new();
    match write_inf(&mut inf, &driver, &subdevices) {
        Ok(()) => {
            print!("{inf}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("uart-inf: {e}");
            ExitCode::FAILURE
        }
    }
}
