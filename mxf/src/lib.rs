//! # mxf: DirectMusic MIDI transform filters and DMus miniports in Rust
//!
//! mxf lets a Windows audio-driver author write the MXF components and DMus miniport streams of
//! PortCls as plain Rust structs and traits. Proc macros generate the kernel COM machinery the
//! DMus port calls: `#[repr(C)]` vtables, `extern "system"` shims, reference counting and
//! QueryInterface.
//!
//! | layer | module |
//! |---|---|
//! | raw ABI: `GUID`, `NTSTATUS`, `KSSTATE`, `DMUS_KERNEL_EVENT`, … | [`abi`] |
//! | kernel COM core: interface pointers, refcount, objects | [`com`] |
//! | the DMus interface set (IUnknown … ISynthSinkDMus) | [`interfaces`] |
//! | pool allocation and spin lock, per environment | [`platform`] |
//!
//! The crate is `#![no_std]`: nothing in it panics on an ABI path, every allocation is fallible,
//! and the `std` feature only adds user-mode conveniences.
#![no_std]
// Hard constraint 2: nothing reachable from an ABI entry point may panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;

// Lets the macros' absolute `::mxf::…` paths resolve inside this crate too.
extern crate self as mxf;

pub mod abi;
pub mod allocator;
pub mod com;
pub mod components;
pub mod connection;
pub mod event;
pub mod filter;
#[cfg(feature = "std")]
pub mod host;
pub mod interfaces;
pub mod platform;

/// Declares a kernel COM interface from an `unsafe trait`.
///
/// ```
/// use mxf::prelude::*;
///
/// /// A made-up interface deriving from IMXF.
/// #[com_interface(iid = "6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5C")]
/// pub unsafe trait IVolumeMXF: IMXF {
///     fn SetVolume(&self, volume: u32) -> NTSTATUS;
///     fn GetVolume(&self, volume: *mut u32) -> NTSTATUS;
/// }
///
/// // Generated: the pointer type `IVolumeMXF` (Clone = AddRef, Drop = Release, derefs to IMXF),
/// // `IVolumeMXF_Vtbl` (#[repr(C)], IMXF's vtable first), `IVolumeMXF_Impl` (implement it on an
/// // object), and the IID.
/// assert_eq!(IVolumeMXF::IID.Data1, 0x6D0E6A0B);
/// assert!(IVolumeMXF::matches(&IMXF::IID) && IVolumeMXF::matches(&IUnknown::IID));
/// assert_eq!(core::mem::size_of::<IVolumeMXF_Vtbl>(), 9 * core::mem::size_of::<usize>());
/// ```
///
/// The trait must be `unsafe` and name exactly one base interface. Methods take `&self`, are
/// neither generic, `async` nor `const`, have no body, carry no `#[cfg]` (the slot order is the
/// ABI), and use only types that can cross a vtable ([`com::AbiSafe`]; results:
/// [`com::AbiReturn`]). A method with a pointer parameter, or declared `unsafe fn`, is an
/// `unsafe fn` in the `_Impl` trait (its implementation relies on the COM caller's contract);
/// the parameters of the others must be [`com::PlainValue`]s. Options: `iid = "…"` (required)
/// or `no_iid` for the interfaces no header gives an IID (they are then never answered by
/// QueryInterface, and [`com::Interface::cast`] to them does not compile).
///
/// The macros name the runtime `::mxf`: a crate that renames the dependency in its
/// `Cargo.toml` writes `extern crate renamed as mxf;` at its root.
pub use mxf_macros::com_interface;

/// Turns a struct into a kernel COM object implementing the listed interfaces.
///
/// Each listed interface is one *chain*: one vtable pointer in the object, answering
/// QueryInterface for that interface and all its ancestors (when two chains share an ancestor,
/// the first listed answers). The struct implements the `_Impl` trait of every interface in
/// every chain.
///
/// ```
/// use mxf::prelude::*;
/// use mxf::platform::atomic::{AtomicI64, Ordering};
///
/// #[com_object(IMasterClock)]
/// struct FixedClock {
///     now: AtomicI64,
/// }
///
/// impl IMasterClock_Impl for FixedClock {
///     // A method that takes a pointer is an `unsafe fn`: it relies on its caller's contract.
///     unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
///         if time.is_null() {
///             return STATUS_INVALID_PARAMETER;
///         }
///         // SAFETY: non-NULL out-pointer from the caller.
///         unsafe { time.write(self.now.load(Ordering::Relaxed)) };
///         STATUS_SUCCESS
///     }
/// }
///
/// let clock: IMasterClock = FixedClock { now: AtomicI64::new(42) }.into_com()?;
/// let mut t = 0;
/// // SAFETY: `t` is a valid out-pointer.
/// assert_eq!(unsafe { clock.GetTime(&mut t) }, STATUS_SUCCESS);
/// assert_eq!(t, 42);
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// Options: `qi_failure = STATUS_…` (what QueryInterface returns for an unknown IID; default
/// `STATUS_INVALID_PARAMETER`) and `tag = "abcd"` (the pool tag). The struct must be
/// `Send + Sync` and not generic. Objects are created with [`com::IntoComObject`] or
/// [`com::ComObject::create_raw`] (aggregation, C-style out-pointer).
pub use mxf_macros::com_object;

/// Turns a struct into an IMXF filter: implement [`filter::Filter`] for it, create it with
/// [`filter::IntoFilter::into_filter`] (which binds the stream's allocator), and the framework
/// supplies `PutMessage`, `ConnectOutput`, `DisconnectOutput` and `SetState` (see [`filter`]).
///
/// ```
/// use mxf::prelude::*;
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
///
/// /// Moves every event to channel group 2.
/// #[mxf_filter]
/// struct ToGroupTwo;
///
/// impl Filter for ToGroupTwo {
///     fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
///         event.set_channel_group(2);
///         out.push(event);
///     }
/// }
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let filter = ToGroupTwo.into_filter(&alloc)?;
/// let e = Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?.into_raw();
/// // Unconnected: the filter's output goes to the allocator.
/// // SAFETY: `e` is an event of this allocator, handed over.
/// assert_eq!(unsafe { filter.PutMessage(e) }, STATUS_SUCCESS);
/// assert_eq!(filter.stats().events_out, 1);
/// assert_eq!(alloc.stats().outstanding_events, 0);
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// Options: further interfaces to expose after IMXF, `qi_failure = …`, `tag = "…"`. The struct
/// implements the `_Impl` trait of each further interface (and of its ancestors other than IMXF);
/// every `#[com_interface]` forwards its `_Impl` from [`filter::FilterObject`]`<Self>` to the
/// struct, so `#[mxf_filter(ISynthSinkDMus)]` with `impl ISynthSinkDMus_Impl for MySynth` is a
/// filter and a synth sink in one object, as ddksynth's stream is.
///
/// A panic in `process` (or any method called through a vtable) does not unwind into the caller:
/// Rust aborts at the `extern "system"` boundary, which in a driver is a bugcheck. Return the
/// event instead (drop it) and count the fault.
pub use mxf_macros::mxf_filter;

/// What most code needs: the ABI types, the COM core, the interfaces and the macros.
pub mod prelude {
    pub use crate::abi::*;
    pub use crate::com::{ComRef, Interface, IntoComObject};
    pub use crate::event::{Chain, Event};
    pub use crate::filter::{Filter, IntoFilter, Output, PackagePolicy};
    pub use crate::interfaces::*;
    pub use crate::{com_interface, com_object, mxf_filter};
}
