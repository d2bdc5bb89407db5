//! The sample DMus miniport (a DMusUART-like device) on a virtual MPU-401.
//!
//! The miniport itself, its streams and its FIFO are the driver crate's
//! (`examples/drivers/uart`, [`mxf_driver_uart`], whose crate docs describe them method by
//! method): the code linked into `uart.sys` is the code re-exported here. What this module adds
//! is the user-mode side of the miniport's device seam ([`mxf_driver_uart::Mpu401`]): the
//! simulated hardware [`VirtualMpu401`] (std: timers, `Arc`, `Mutex`), and
//! [`create_uart_miniport`] on it, which the tests, the examples and the `mxfplay` CLI use.

pub mod mpu401;

pub use mpu401::{InterruptHandler, MPU401_CMD_RESET, MPU401_CMD_UART, VirtualMpu401};
pub use mxf_driver_uart::{
    CAPTURE_CHANNEL_GROUP, CaptureStream, INPUT_FIFO_SIZE, MAX_CAPTURE_STREAMS, MAX_RENDER_STREAMS,
    MAX_ZERO_WRITES, RETRY_DELAY, RenderStream, UART_TOPOLOGY, UartMiniport,
};

/// Creates the miniport (`IMiniportDMus`) on `mpu`.
///
/// The object is created in nonpaged pool; `STATUS_INSUFFICIENT_RESOURCES` if that fails.
pub fn create_uart_miniport(
    mpu: std::sync::Arc<VirtualMpu401>,
) -> mxf::abi::Result<mxf::interfaces::IMiniportDMus> {
    let device = mxf_driver_uart::try_box(mpu)?;
    Ok(mxf_driver_uart::create_uart_miniport(device)?.to_dmus())
}
