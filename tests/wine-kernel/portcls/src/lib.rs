//! `portcls.sys` of the Wine kernel tier: a PortCls test double, built by the project.
//!
//! Wine (`winedevice.exe` and its `ntoskrnl.exe`) loads a driver built with mxf and resolves its
//! `portcls.sys` imports to this image, by name. The double then plays the roles Windows's
//! PnP manager and PortCls play around the driver (`docs/driver.md`, "The Wine kernel tier"):
//!
//! * `PcInitializeAdapterDriver` keeps the driver's `AddDevice`, installs the double's unload
//!   routine, and plays PnP: it creates a device object (the PDO), calls `AddDevice` (which
//!   calls `PcAddAdapterDevice`, where the double creates the functional device object and keeps
//!   `StartDevice`), then `StartDevice` with an IRP and a resource list;
//! * `PcNewPort(CLSID_PortDMus)` returns a DMus port whose `IPort::Init` queries the miniport
//!   for `IMiniportDMus` and calls its `Init` with the resource list and the port;
//!   `PcRegisterSubdevice`, `PcRegisterPhysicalConnection` keep what they are given,
//!   `PcNewServiceGroup` makes mxf's service group;
//! * after `StartDevice`, the scenario (`scenario`): for each registered subdevice, the pins
//!   its descriptor offers are opened and the song (`C:\mxf-wine\song.bin`, written on the Linux
//!   side) is played into each render pin in the pin's format;
//! * at unload (the driver's `DriverUnload` calls the routine the double installed, as it calls
//!   PortCls's), the device is removed (every port, miniport and group released), the device
//!   objects deleted, and the result file `C:\mxf-wine\result.txt` written.
//!
//! Everything runs on the thread that runs `DriverEntry` (net start) or `DriverUnload` (net
//! stop): a service group's `RequestService` is called synchronously from `Notify`, which is what
//! Wine can do (its `KeInsertQueueDpc` queues a DPC that never runs).
//!
//! The image is built with the feature `image` (mxf's kernel backend and port), which
//! `.ci/wine-kernel.sh` turns on; without it, or on a non-Windows target, the crate holds only
//! the song file's format ([`song`]), so the workspace builds, tests and lints it on Linux and the
//! user-mode Windows builds of the workspace (the Wine ABI tier's) can depend on it.
#![cfg_attr(windows, no_std)]

#[cfg(windows)]
extern crate alloc;

pub mod song;

#[cfg(all(windows, feature = "image", not(test)))]
mod kernel;
#[cfg(all(windows, feature = "image", not(test)))]
mod mpu401;
#[cfg(all(windows, feature = "image", not(test)))]
mod nt;
#[cfg(all(windows, feature = "image", not(test)))]
mod port;
#[cfg(all(windows, feature = "image", not(test)))]
mod scenario;
