//! A DMus driver: the adapter glue PortCls expects, generated from a declaration of the
//! subdevices and their miniports.
//!
//! A driver author writes the miniports ([`mxf::miniport`](crate::miniport)) and one
//! [`driver!`](crate::driver!) declaration; the framework supplies the rest:
//!
//! | PortCls calls | the glue does |
//! |---|---|
//! | `DriverEntry(DriverObject, RegistryPath)` | `PcInitializeAdapterDriver(…, AddDevice)`; keeps PortCls's `DriverUnload` and puts its own in front |
//! | `AddDevice(DriverObject, Pdo)` | `PcAddAdapterDevice(…, StartDevice, MaxObjects = number of subdevices, 0)` |
//! | `StartDevice(DeviceObject, Irp, ResourceList)` | per subdevice, in order: `PcNewPort(CLSID_PortDMus)`, the miniport's factory, `IPort::Init(DeviceObject, Irp, miniport, NULL, ResourceList)`, `PcRegisterSubdevice(DeviceObject, name, port)`; then `PcRegisterPhysicalConnection` per declared connection; the first failure is returned |
//! | `DriverUnload(DriverObject)` | the author's `unload` hook, then PortCls's routine |
//!
//! The glue keeps no reference once `StartDevice` returns (PortCls's registrations hold the
//! ports, the ports their miniports), so removing the device releases every object, and
//! unload has nothing of the glue's to free; the kernel build reports how many pool blocks are
//! still allocated when it unloads (`DbgPrint`), which a clean driver sees as 0.
//!
//! ```
//! use mxf::driver::Driver;
//! use mxf::miniport::{DmusMiniport, InitRequest, IntoMiniport, Stream, StreamRequest};
//! use mxf::prelude::*;
//!
//! /// A cable whose streams the example never opens.
//! #[mxf_miniport]
//! pub struct Cable {
//!     number: u32,
//! }
//!
//! mxf::miniport_topology! {
//!     /// One MIDI output, one MIDI input.
//!     pub static CABLE for Cable {
//!         categories: [AUDIO, RENDER, CAPTURE],
//!         pins: { out: render(midi), input: capture(midi) },
//!     }
//! }
//!
//! impl DmusMiniport for Cable {
//!     fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
//!         Ok(None)
//!     }
//!     fn new_stream(&self, _request: StreamRequest<'_>) -> Result<Stream> {
//!         Err(STATUS_INSUFFICIENT_RESOURCES)
//!     }
//! }
//!
//! mxf::driver! {
//!     /// Two cables, each a subdevice.
//!     pub struct TwoCables {
//!         subdevices: [
//!             Cable1 ("Example cable 1"): Cable = |_| Cable { number: 1 }.into_miniport(),
//!             Cable2 ("Example cable 2"): Cable = |_| Cable { number: 2 }.into_miniport(),
//!         ],
//!     }
//! }
//!
//! // In a driver (`cfg(windows)`), this emitted `DriverEntry`, the panic handler (a bug check)
//! // and the pool allocator; everywhere, the declaration is data the tests and the INF use.
//! assert_eq!(TwoCables::SUBDEVICES.len(), 2);
//! assert_eq!(TwoCables::SUBDEVICES[1].name, "Cable2");
//! assert_eq!(TwoCables::SUBDEVICES[1].wide_name, &[67, 97, 98, 108, 101, 50, 0]);
//! assert!(core::ptr::eq((TwoCables::SUBDEVICES[0].topology)(), &CABLE));
//! ```
//!
//! The glue is generic over [`PortClass`]: in a driver it is `PortCls` (`cfg(windows)` +
//! feature `driver`: `portcls.sys`'s functions, declared here), in the host tests the
//! recording double of [`testing`] (feature `std`), so the code the tests run is the code the
//! driver runs. `docs/driver.md` goes from `cargo new` to a linked `.sys` and its INF.

mod adapter;
mod port_io;
mod portcls;
mod resources;
#[cfg(all(windows, feature = "driver"))]
mod runtime;
#[cfg(feature = "std")]
pub mod testing;
// Not under loom: its spin lock there has no `const` constructor, and no model covers the timer.
#[cfg(not(loom))]
mod timer;
mod types;

pub use adapter::{add_device, driver_entry, driver_unload, start_device};
pub use port_io::IoPorts;
#[cfg(all(windows, feature = "driver"))]
pub use portcls::PortCls;
pub use portcls::{PortClass, Report};
pub use resources::{ResourceEntries, Resources};
#[cfg(all(windows, feature = "driver"))]
pub use runtime::{
    BUGCHECK_RUST_PANIC, PoolAllocator, live_pool_blocks, panic_bug_check, performance_counter,
    uses_pool2,
};
#[cfg(not(loom))]
pub use timer::ServiceTimer;
pub use types::*;

use crate::abi::{GUID, NTSTATUS, Result, STATUS_DEVICE_CONFIGURATION_ERROR, STATUS_UNSUCCESSFUL};
use crate::com::ComRef;
use crate::interfaces::{IInterruptSync, IResourceList, IServiceGroup, IUnknown};
use crate::miniport::{DmusMiniport, IntoMiniport, MiniportHandle, Topology};
use core::ffi::CStr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The most subdevices one driver declares (`StartDevice` holds their ports on its stack while
/// it registers the physical connections). [`driver!`](crate::driver!) checks it at compile
/// time.
pub const MAX_SUBDEVICES: usize = 32;

/// A driver's declaration, implemented by [`driver!`](crate::driver!).
pub trait Driver: 'static {
    /// The subdevices, installed by `StartDevice` in this order.
    const SUBDEVICES: &'static [SubdeviceEntry];
    /// The physical connections between subdevices, registered after all of them.
    const CONNECTIONS: &'static [Connection] = &[];
    /// The driver's state (one static per driver).
    fn state() -> &'static DriverState;
    /// Called by `DriverUnload` before PortCls's own routine.
    fn unload() {}
}

/// One subdevice of a [`Driver`]: what `StartDevice` installs.
#[derive(Debug)]
pub struct SubdeviceEntry {
    /// The name given to `PcRegisterSubdevice` (ASCII letters, digits, `_`): the reference
    /// string of the device interfaces, and the INF's section names.
    pub name: &'static str,
    /// `name` as NUL-terminated UTF-16, as `PcRegisterSubdevice` takes it.
    pub wide_name: &'static [u16],
    /// What users see (the INF's `FriendlyName`).
    pub friendly_name: &'static str,
    /// The port's class (`CLSID_PortDMus`).
    pub port_class: GUID,
    /// The miniport's declared topology (for the INF).
    pub topology: fn() -> &'static Topology,
    /// Creates the miniport (a new object each time the device starts).
    pub create: fn(&StartContext<'_>) -> Result<IUnknown>,
}

impl SubdeviceEntry {
    /// The INF writer's view of this subdevice.
    pub fn inf_subdevice(&self) -> crate::miniport::inf::Subdevice<'static> {
        crate::miniport::inf::Subdevice {
            name: self.name,
            topology: (self.topology)(),
            friendly_name: self.friendly_name,
        }
    }
}

/// A physical connection between two subdevices' pins (`PcRegisterPhysicalConnection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The index of the subdevice the connection leaves.
    pub from: usize,
    /// Its pin.
    pub from_pin: u32,
    /// The index of the subdevice the connection enters.
    pub to: usize,
    /// Its pin.
    pub to_pin: u32,
}

/// Which call of `StartDevice` failed (in a [`Report`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The declaration has more subdevices than [`MAX_SUBDEVICES`].
    Declaration,
    /// `PcNewPort`.
    NewPort,
    /// The subdevice's miniport factory.
    CreateMiniport,
    /// `IPort::Init` (which calls the miniport's `Init`).
    PortInit,
    /// `PcRegisterSubdevice`.
    RegisterSubdevice,
}

impl Step {
    /// The step's name as a C string (for `DbgPrint`).
    pub const fn c_name(self) -> &'static CStr {
        match self {
            Step::Declaration => c"the declaration",
            Step::NewPort => c"PcNewPort",
            Step::CreateMiniport => c"the miniport factory",
            Step::PortInit => c"IPort::Init",
            Step::RegisterSubdevice => c"PcRegisterSubdevice",
        }
    }
}

/// `PortClass::new_interrupt_sync` of the driver's PortCls (kept by [`StartContext`]).
type NewInterruptSyncFn = unsafe fn(
    *mut Option<IInterruptSync>,
    Option<ComRef<'_, IUnknown>>,
    Option<ComRef<'_, IResourceList>>,
    u32,
    INTERRUPTSYNCMODE,
) -> NTSTATUS;
/// `PortClass::new_service_group` of the driver's PortCls.
type NewServiceGroupFn =
    unsafe fn(*mut Option<IServiceGroup>, Option<ComRef<'_, IUnknown>>) -> NTSTATUS;

/// What a subdevice's miniport factory is given in `StartDevice`.
pub struct StartContext<'a> {
    device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
    resources: Option<crate::com::ComRef<'a, IResourceList>>,
    subdevice: &'a SubdeviceEntry,
    index: usize,
    new_interrupt_sync: NewInterruptSyncFn,
    new_service_group: NewServiceGroupFn,
}

impl<'a> StartContext<'a> {
    /// The functional device object PortCls created.
    pub fn device(&self) -> *mut DEVICE_OBJECT {
        self.device
    }

    /// The start IRP.
    pub fn irp(&self) -> *mut IRP {
        self.irp
    }

    /// The device's hardware resources (I/O ports, interrupts), if PortCls passed a list.
    pub fn resources(&self) -> Option<Resources<'a>> {
        self.resources.map(Resources::new)
    }

    /// The subdevice being installed.
    pub fn subdevice(&self) -> &'a SubdeviceEntry {
        self.subdevice
    }

    /// Its position in the declaration.
    pub fn index(&self) -> usize {
        self.index
    }

    /// `PcNewInterruptSync` on the `index`th interrupt of the resource list, mode
    /// `InterruptSyncModeNormal`: an interrupt object, not connected yet (register a service
    /// routine, then `Connect`; `Disconnect` before the routine's context goes).
    /// `STATUS_DEVICE_CONFIGURATION_ERROR` without a resource list or without that interrupt
    /// (checked first, so PortCls is never asked for one that is not there); else PortCls's
    /// status.
    pub fn interrupt_sync(&self, index: u32) -> Result<IInterruptSync> {
        let resources = self.resources.ok_or(STATUS_DEVICE_CONFIGURATION_ERROR)?;
        Resources::new(resources)
            .interrupt(index)
            .ok_or(STATUS_DEVICE_CONFIGURATION_ERROR)?;
        let mut out: Option<IInterruptSync> = None;
        // SAFETY: `out` is a valid out-pointer; the list is StartDevice's.
        let status = unsafe {
            (self.new_interrupt_sync)(
                &mut out,
                None,
                Some(resources),
                index,
                InterruptSyncModeNormal,
            )
        };
        status.ok()?;
        out.ok_or(STATUS_UNSUCCESSFUL)
    }

    /// `PcNewServiceGroup`: a service group whose `RequestService` may be called from an
    /// interrupt service routine (PortCls queues a DPC when it is called above
    /// DISPATCH_LEVEL), for a miniport that notifies its port from its ISR.
    pub fn service_group(&self) -> Result<IServiceGroup> {
        let mut out: Option<IServiceGroup> = None;
        // SAFETY: `out` is a valid out-pointer.
        let status = unsafe { (self.new_service_group)(&mut out, None) };
        status.ok()?;
        out.ok_or(STATUS_UNSUCCESSFUL)
    }
}

/// Per-driver state (the macro gives each driver one static).
#[derive(Debug)]
pub struct DriverState {
    /// PortCls's `DriverUnload`, kept by `DriverEntry`.
    portcls_unload: AtomicPtr<()>,
}

impl DriverState {
    /// A state before `DriverEntry`.
    pub const fn new() -> Self {
        Self {
            portcls_unload: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    fn set_portcls_unload(&self, routine: Option<DriverUnloadFn>) {
        let raw = routine.map_or(core::ptr::null_mut(), |f| f as *mut ());
        self.portcls_unload.store(raw, Ordering::Release);
    }

    fn take_portcls_unload(&self) -> Option<DriverUnloadFn> {
        let raw = self
            .portcls_unload
            .swap(core::ptr::null_mut(), Ordering::AcqRel);
        if raw.is_null() {
            return None;
        }
        // SAFETY: a non-NULL value was stored by `set_portcls_unload` from a `DriverUnloadFn`.
        Some(unsafe { core::mem::transmute::<*mut (), DriverUnloadFn>(raw) })
    }
}

impl Default for DriverState {
    fn default() -> Self {
        Self::new()
    }
}

/// `s` as NUL-terminated UTF-16, in an array of exactly `s.len() + 1` units. For the
/// [`driver!`](crate::driver!) macro, which calls it in a constant: a name that is not ASCII,
/// or a wrong `N`, stops the compilation there.
// Evaluated at compile time only (the macro calls it in a `const` item): its panics are
// compilation errors, never code in a driver.
#[allow(clippy::panic)]
pub const fn utf16z<const N: usize>(s: &str) -> [u16; N] {
    match s.len().checked_add(1) {
        Some(n) if n == N => {}
        _ => panic!("utf16z: N must be the string's length plus one"),
    }
    let mut out = [0u16; N];
    let mut rest = s.as_bytes();
    let mut slots: &mut [u16] = &mut out;
    while let ([b, tail @ ..], [slot, more @ ..]) = (rest, slots) {
        if !b.is_ascii() || *b == 0 {
            panic!("a subdevice name is ASCII without NUL");
        }
        *slot = *b as u16;
        rest = tail;
        slots = more;
    }
    out
}

/// The factory glue of [`driver!`](crate::driver!): runs the author's factory and hands the
/// miniport to the port as an `IUnknown`.
#[doc(hidden)]
pub fn __create<M, F>(context: &StartContext<'_>, factory: F) -> Result<IUnknown>
where
    M: IntoMiniport,
    F: FnOnce(&StartContext<'_>) -> Result<MiniportHandle<M>>,
{
    let handle = factory(context)?;
    let unknown: &IUnknown = handle.interface();
    Ok(unknown.clone())
}

/// Checks a factory's type against its subdevice's miniport type (the macro's error says so).
#[doc(hidden)]
pub const fn __miniport_type<M: DmusMiniport>() {}

/// Emits a driver from a declaration of its subdevices.
///
/// ```text
/// mxf::driver! {
///     /// Docs of the driver type.
///     pub struct NAME {
///         subdevices: [
///             SUBDEVICE ("Friendly name"): MINIPORT_TYPE = FACTORY,
///             ...
///         ],
///         connections: [FROM[PIN] -> TO[PIN], ...],   // optional: physical connections
///         unload: PATH,                                 // optional: fn() called at unload
///     }
/// }
/// ```
///
/// * `SUBDEVICE` is the name given to `PcRegisterSubdevice` (an identifier, so it is valid in
///   the INF; unique); the friendly name is optional (default: the name).
/// * `MINIPORT_TYPE` is an `#[mxf_miniport]` type; `FACTORY` a closure
///   `|context: &StartContext| -> Result<MiniportHandle<MINIPORT_TYPE>>`, called each time the
///   device starts (typically `|_| Cable::new().into_miniport()`; the context gives the
///   device's resources).
/// * The ports are DMus ports (`CLSID_PortDMus`).
///
/// It declares `NAME` and implements [`Driver`] for it (on every target: the host tests and
/// the INF writer read the declaration), and, where mxf is built with its `driver` feature for
/// a Windows target (outside tests), emits the driver's `DriverEntry`, its `#[panic_handler]`
/// (`mxf::driver::panic_bug_check`: a bug check) and its `#[global_allocator]`
/// (`mxf::driver::PoolAllocator`). A driver crate turns that feature on with a feature of its own
/// (`image = ["mxf/driver"]`, which `.ci/drivers.sh` enables), so the same crate used as a
/// library by a user-mode Windows program has no kernel items.
#[macro_export]
macro_rules! driver {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            subdevices: [
                $( $sub:ident $( ($friendly:literal) )? : $miniport:ty = $factory:expr ),+ $(,)?
            ]
            $(, connections: [ $( $from:ident [ $from_pin:expr ] -> $to:ident [ $to_pin:expr ] ),* $(,)? ] )?
            $(, unload: $unload:path )?
            $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name;

        impl $crate::driver::Driver for $name {
            const SUBDEVICES: &'static [$crate::driver::SubdeviceEntry] = &[
                $( $crate::driver::SubdeviceEntry {
                    name: ::core::stringify!($sub),
                    wide_name: &$crate::driver::utf16z::<{ ::core::stringify!($sub).len() + 1 }>(
                        ::core::stringify!($sub),
                    ),
                    friendly_name: $crate::__driver_friendly_name!($sub $(, $friendly)?),
                    port_class: $crate::abi::CLSID_PortDMus,
                    topology: <$miniport as $crate::miniport::HasTopology>::topology,
                    create: {
                        const _: () = $crate::driver::__miniport_type::<$miniport>();
                        fn create(
                            context: &$crate::driver::StartContext<'_>,
                        ) -> $crate::abi::Result<$crate::interfaces::IUnknown> {
                            $crate::driver::__create::<$miniport, _>(context, $factory)
                        }
                        create
                    },
                } ),+
            ];

            const CONNECTIONS: &'static [$crate::driver::Connection] = {
                #[allow(non_camel_case_types, dead_code, clippy::enum_variant_names)]
                enum Subdevice { $( $sub ),+ }
                &[ $($( $crate::driver::Connection {
                    from: Subdevice::$from as usize,
                    from_pin: $from_pin,
                    to: Subdevice::$to as usize,
                    to_pin: $to_pin,
                } ),*)? ]
            };

            fn state() -> &'static $crate::driver::DriverState {
                static STATE: $crate::driver::DriverState = $crate::driver::DriverState::new();
                &STATE
            }

            $( fn unload() { $unload() } )?
        }

        const _: () = ::core::assert!(
            <$name as $crate::driver::Driver>::SUBDEVICES.len() <= $crate::driver::MAX_SUBDEVICES,
            "a driver declares at most mxf::driver::MAX_SUBDEVICES subdevices"
        );

        $crate::__driver_image!($name);
    };
}

/// The driver image's items of [`driver!`](crate::driver!): `DriverEntry`, the panic handler and
/// the global allocator, emitted only where mxf is the kernel backend (`driver` feature on a
/// Windows target), so a driver crate used as a library elsewhere (host tests, a user-mode
/// Windows program) has none of them.
#[cfg(all(windows, feature = "driver"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __driver_image {
    ($name:ident) => {
        #[cfg(not(test))]
        const _: () = {
            /// The driver's entry point: the adapter glue of [`mxf::driver`].
            ///
            /// # Safety
            /// Called by the I/O manager, once, with its driver object and registry path.
            #[unsafe(no_mangle)]
            pub unsafe extern "system" fn DriverEntry(
                driver: *mut $crate::driver::DRIVER_OBJECT,
                registry_path: *mut $crate::driver::UNICODE_STRING,
            ) -> $crate::abi::NTSTATUS {
                // SAFETY: forwarded contract: DriverEntry's own arguments.
                unsafe {
                    $crate::driver::driver_entry::<$name, $crate::driver::PortCls>(
                        driver,
                        registry_path,
                    )
                }
            }

            #[panic_handler]
            fn panic(info: &::core::panic::PanicInfo<'_>) -> ! {
                $crate::driver::panic_bug_check(info)
            }

            #[global_allocator]
            static ALLOCATOR: $crate::driver::PoolAllocator = $crate::driver::PoolAllocator::new();
        };
    };
}

/// Without the kernel backend, a driver declaration emits no image items.
#[cfg(not(all(windows, feature = "driver")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __driver_image {
    ($name:ident) => {};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __driver_friendly_name {
    ($sub:ident) => {
        ::core::stringify!($sub)
    };
    ($sub:ident, $friendly:literal) => {
        $friendly
    };
}

/// The body of a driver crate's INF command (`NAME-inf [amd64|x86|arm64]`, which
/// `.ci/drivers.sh` runs): writes the INF of driver `D` with the details `inf` to stdout, for
/// the architecture named by the first argument (`amd64` when none). An unknown architecture
/// prints a line to stderr and exits 2; an INF the writer refuses, 1.
///
/// The whole of `examples/drivers/vmidi/src/bin/vmidi-inf.rs`:
///
/// ```rust,ignore
/// use mxf_driver_vmidi::{INF, VirtualMidi};
///
/// fn main() -> std::process::ExitCode {
///     mxf::driver::inf_command::<VirtualMidi>("vmidi-inf", &INF)
/// }
/// ```
#[cfg(feature = "std")]
pub fn inf_command<D: Driver>(
    program: &str,
    inf: &crate::miniport::inf::Driver<'_>,
) -> std::process::ExitCode {
    use crate::miniport::inf::{Architecture, write_inf};
    use std::process::ExitCode;
    let architecture = match std::env::args().nth(1).as_deref() {
        None | Some("amd64") => Architecture::Amd64,
        Some("x86") => Architecture::X86,
        Some("arm64") => Architecture::Arm64,
        Some(other) => {
            std::eprintln!("{program}: unknown architecture {other} (amd64, x86, arm64)");
            return ExitCode::from(2);
        }
    };
    let subdevices: std::vec::Vec<_> = D::SUBDEVICES.iter().map(|s| s.inf_subdevice()).collect();
    let driver = crate::miniport::inf::Driver {
        architecture,
        ..*inf
    };
    let mut text = std::string::String::new();
    match write_inf(&mut text, &driver, &subdevices) {
        Ok(()) => {
            std::print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            std::eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
