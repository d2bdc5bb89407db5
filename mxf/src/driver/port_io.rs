//! [`IoPorts`]: a device's I/O port range, read and written through hal.dll's
//! `READ_PORT_UCHAR` / `WRITE_PORT_UCHAR`.
//!
//! The functions are declared once, in the kernel backend (`platform/driver.rs`): imported from
//! hal.dll on x86; looked up at `DriverEntry` with `MmGetSystemRoutineAddress` elsewhere, since
//! x64's hal.dll does not list them (the x64 header makes them inline `in`/`out` instructions,
//! and the runtime has no inline assembly). Where the system has none of them
//! ([`IoPorts::available`] is false) and off the kernel (host builds, where the driver's code
//! runs in tests), there is no port I/O: a read gives `0xFF`, what an ISA bus with nothing behind
//! the address reads, and a write goes nowhere. A driver's code then sees a machine without its
//! card, which is what a device seam's user-mode double replaces in the tests.
//!
//! ```
//! # use mxf::driver::{IoPorts, Resources};
//! # fn open(resources: Resources<'_>) -> Option<IoPorts> {
//! // An MPU-401: data port at the range's start, status/command port next to it.
//! let ports = IoPorts::from_resources(&resources, 0)?;
//! let status = ports.read(1);
//! # let _ = status;
//! # Some(ports)
//! # }
//! ```

use super::Resources;

/// An I/O port range of the device, from its translated resource list. Offsets are checked
/// against the range's length: nothing outside it is touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoPorts {
    start: usize,
    length: u32,
}

impl IoPorts {
    /// The `index`th I/O port range of `resources` ([`Resources::port`]); `None` if there is
    /// none, if it is empty, or if its start is not an address of this architecture.
    pub fn from_resources(resources: &Resources<'_>, index: u32) -> Option<Self> {
        let (start, length) = resources.port(index)?;
        let start = usize::try_from(start).ok()?;
        (length > 0).then_some(Self { start, length })
    }

    /// The range's first port.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The range's length in ports.
    pub fn len(&self) -> u32 {
        self.length
    }

    /// Whether the range is empty (never, for a range made by [`from_resources`](Self::from_resources)).
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Whether this system does port I/O: in a driver on x86 always, on x64 and arm64 if
    /// hal.dll has `READ_PORT_UCHAR` and `WRITE_PORT_UCHAR`; off the kernel never.
    pub fn available() -> bool {
        #[cfg(all(windows, feature = "driver"))]
        return crate::platform::driver::port_io_available();
        #[cfg(not(all(windows, feature = "driver")))]
        return false;
    }

    /// The port at `offset`, if it is in the range.
    fn port(&self, offset: u32) -> Option<usize> {
        if offset >= self.length {
            return None;
        }
        self.start.checked_add(usize::try_from(offset).ok()?)
    }

    /// Reads the port at `offset` (`READ_PORT_UCHAR`); `0xFF` (nothing on the bus) if `offset`
    /// is outside the range or the system has no port I/O. Any IRQL.
    pub fn read(&self, offset: u32) -> u8 {
        let Some(port) = self.port(offset) else {
            return 0xFF;
        };
        #[cfg(all(windows, feature = "driver"))]
        // SAFETY: `port` is in the range PnP assigned to this device (from its translated
        // resource list).
        return unsafe { crate::platform::driver::read_port_uchar(port) }.unwrap_or(0xFF);
        #[cfg(not(all(windows, feature = "driver")))]
        {
            let _ = port;
            0xFF
        }
    }

    /// Writes `value` to the port at `offset` (`WRITE_PORT_UCHAR`); false (nothing written) if
    /// `offset` is outside the range or the system has no port I/O. Any IRQL.
    pub fn write(&self, offset: u32, value: u8) -> bool {
        let Some(port) = self.port(offset) else {
            return false;
        };
        #[cfg(all(windows, feature = "driver"))]
        // SAFETY: as in `read`.
        return unsafe { crate::platform::driver::write_port_uchar(port, value) };
        #[cfg(not(all(windows, feature = "driver")))]
        {
            let _ = (port, value);
            false
        }
    }
}
