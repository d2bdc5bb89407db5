//! # mxf: DirectMusic MIDI transform filters and DMus miniports in Rust
//!
//! mxf lets a Windows audio-driver author write the MXF components and DMus miniport streams of
//! PortCls as plain Rust structs and traits. Proc macros generate the kernel COM machinery the
//! DMus port calls: `#[repr(C)]` vtables, `extern "system"` shims, reference counting and
//! QueryInterface. Everything also runs in user mode, so a filter or a miniport is unit-tested,
//! fed MIDI files and measured without a Windows kernel.
//!
//! A filter is a struct and one method; the framework does chains, packages, connections,
//! states and the allocator's rules:
//!
//! ```
//! use mxf::allocator::{AllocatorConfig, AllocatorHandle};
//! use mxf::message::u7;
//! use mxf::platform::atomic::{AtomicU8, Ordering};
//! use mxf::prelude::*;
//!
//! /// Transposes notes, editing the event's bytes in place.
//! #[mxf_filter]
//! struct Transpose {
//!     semitones: u8,
//! }
//!
//! impl Filter for Transpose {
//!     fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
//!         if let Some(mut message) = event.channel_message_mut() {
//!             // Note on, note off and key pressure have a key; other messages have none.
//!             if let Some(key) = message.get().key() {
//!                 message.set_key(u7::new(key.as_int().saturating_add(self.semitones).min(127)));
//!             }
//!         }
//!         out.push(event); // anything else passes untouched
//!     }
//! }
//!
//! /// Remembers the last key it saw, then lets the event go back to the allocator.
//! #[mxf_filter]
//! struct LastKey {
//!     key: AtomicU8,
//! }
//!
//! impl Filter for LastKey {
//!     fn process<'a>(&self, event: Event<'a>, _out: &mut Output<'a>) {
//!         if let Some(&key) = event.data().get(1) {
//!             self.key.store(key, Ordering::Relaxed);
//!         }
//!         // Dropped: the event returns to its allocator.
//!     }
//! }
//!
//! // One allocator per pin; every MXF of the pin returns events to it.
//! let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
//! let transpose = Transpose { semitones: 12 }.into_filter(&alloc)?;
//! let last = LastKey { key: AtomicU8::new(0) }.into_filter(&alloc)?;
//! // Both belong to the same pin: they return events to the same allocator.
//! assert_eq!(transpose.ConnectOutput(Some(last.to_ref())), STATUS_SUCCESS);
//!
//! // What the port does: one PutMessage with a chain of events.
//! let mut chain = Chain::new(&alloc);
//! chain.push_back(Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0)?);
//! assert_eq!(chain.deliver(Some(transpose.interface())), STATUS_SUCCESS);
//!
//! assert_eq!(last.filter().key.load(Ordering::Relaxed), 72);
//! assert_eq!(alloc.stats().outstanding_events, 0); // nothing lost, nothing leaked
//! # Ok::<(), NTSTATUS>(())
//! ```
//!
//! # Modules
//!
//! | layer | module |
//! |---|---|
//! | raw ABI: `GUID`, `NTSTATUS`, `KSSTATE`, `DMUS_KERNEL_EVENT` and its flag helpers, … | [`abi`] |
//! | the platform seam: pool allocation, spin lock, atomics (loom-checkable), `OneAtATime` | [`platform`] |
//! | kernel COM core: interface pointers, refcount, objects, aggregation | [`com`] |
//! | the DMus interface set (IUnknown … ISynthSinkDMus) | [`interfaces`] |
//! | the built-in `IAllocatorMXF`: events, long-event buffers, statistics | [`allocator`] |
//! | the safe event layer: owned [`Event`](event::Event)s and [`Chain`](event::Chain)s, queues | [`event`] |
//! | channel messages read and edited in place: note, velocity, channel, controller, program, bend | [`message`] |
//! | writing filters: [`Filter`](filter::Filter), [`Output`](filter::Output), `#[mxf_filter]` | [`filter`] |
//! | an MXF's output connections and their rules | [`connection`] |
//! | DMus miniports declared: topology, `GetDescription`, `NewStream` dispatch, Synth properties, the INF | [`miniport`] |
//! | the port's own MXFs: sequencer, unpackers, capture sink, packer, service group | [`components`] |
//! | a driver: the adapter glue (`DriverEntry` … `StartDevice`) from a declaration of subdevices, [`driver!`](macro@driver) | [`driver`](mod@driver) |
#![cfg_attr(
    feature = "port",
    doc = "| the DMus port's logic: graphs, IRPs, states, timers; `alloc` only, so a kernel host runs it too (feature `port`) | [`port`] |"
)]
#![cfg_attr(
    not(feature = "port"),
    doc = "| the DMus port's logic: graphs, IRPs, states, timers; `alloc` only, so a kernel host runs it too (feature `port`) | `port` |"
)]
#![cfg_attr(
    feature = "std",
    doc = "| the user-mode host of the DMus port and Standard MIDI Files (feature `std`) | [`host`] |"
)]
#![cfg_attr(
    not(feature = "std"),
    doc = "| the user-mode host of the DMus port and Standard MIDI Files (feature `std`) | `host` |"
)]
#![cfg_attr(
    feature = "std",
    doc = "| testing filters: a rig with an allocator and a recording sink, events by their bytes, raw vtable calls (feature `std`) | [`testing`] |"
)]
#![cfg_attr(
    not(feature = "std"),
    doc = "| testing filters: a rig with an allocator and a recording sink, events by their bytes, raw vtable calls (feature `std`) | `testing` |"
)]
//! | the MIDI vocabulary of [`Event::message`](event::Event::message): `midly`, re-exported | [`midly`] |
//! | what most code imports: `use mxf::prelude::*;` | [`prelude`] |
//!
//! The macros: [`com_interface`] declares an interface, [`com_object`] makes a struct a COM
//! object, [`mxf_filter`] makes it an IMXF filter, [`mxf_miniport`] a DMus miniport whose pins
//! [`miniport_topology!`] declares.
//!
//! # Features
//!
//! * `port`: the DMus port's logic (`port`); needs `alloc` (a global allocator), not `std`.
//! * `std` (default, implies `port`): the port's user-mode host and SMF I/O (`host`), the test
//!   kit (`testing`). Never enabled for a driver.
//! * `fault-injection` (tests, implies `std`): `platform::fault` makes the Nth pool
//!   allocation of a thread fail, and counts live blocks.
//! * `kernel` (on `cfg(windows)` only): the kernel backend of the platform seam (pool
//!   allocation and spin locks through `wdk-sys`; needs a WDK).
//! * `driver` (on `cfg(windows)` only): the kernel backend without a WDK (imports declared by
//!   hand, linked with mingw-w64 on Linux), and the kernel side of [`driver`](mod@driver):
//!   PortCls, the panic handler's bug check, the pool allocator.
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

#[cfg(feature = "port")]
extern crate alloc;

// Lets the macros' absolute `::mxf::…` paths resolve inside this crate too.
extern crate self as mxf;

pub mod abi;
pub mod allocator;
pub mod com;
pub mod components;
pub mod connection;
pub mod driver;
pub mod event;
pub mod filter;
#[cfg(feature = "std")]
pub mod host;
pub mod interfaces;
pub mod message;
pub mod miniport;
pub mod platform;
#[cfg(feature = "port")]
pub mod port;
#[cfg(feature = "std")]
pub mod testing;

/// The MIDI vocabulary of mxf: the [`midly`](https://docs.rs/midly/0.5) crate, the version
/// [`Event::message`](event::Event::message) and [`Event::set_message`](event::Event::set_message)
/// speak (`midly::live::LiveEvent`). Name it as `mxf::midly` and a driver never depends on a
/// second, mismatched version; the SMF I/O of `host` uses it too.
///
/// It is built without default features (no_std, no allocation), so in a driver its live-event
/// parser is all there is of it; the `std` feature adds `alloc` (SMF files) and `strict`.
///
/// ```
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::midly::MidiMessage;
/// use mxf::midly::live::LiveEvent;
/// use mxf::prelude::*;
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let mut event = Event::with_bytes(&alloc, &[0x91, 64, 90], 1, 0)?;
/// let Some(LiveEvent::Midi { channel, message: MidiMessage::NoteOn { key, vel } }) =
///     event.message()
/// else {
///     panic!("a note on");
/// };
/// assert_eq!((channel.as_int(), key.as_int(), vel.as_int()), (1, 64, 90));
///
/// // And back: `set_message` encodes a midly message into the event.
/// let off = LiveEvent::Midi {
///     channel,
///     message: MidiMessage::NoteOff { key, vel: 0.into() },
/// };
/// event.set_message(&off)?;
/// assert_eq!(event.data(), &[0x81, 64, 0]);
/// # Ok::<(), NTSTATUS>(())
/// ```
pub use midly;

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
/// # What it generates
///
/// For `unsafe trait IFoo: IBase { … }`:
///
/// * `IFoo`, the interface pointer: an owned reference (`Clone` calls `AddRef`, `Drop` calls
///   `Release`) that derefs to `IBase` and has one client method per slot, calling through the
///   object's vtable, so it works on objects written in C++ too. A method whose parameters are
///   all plain values is safe to call; one with a pointer parameter (or declared `unsafe fn`) is
///   an `unsafe fn`, whose caller vouches for the pointers;
/// * `IFoo_Vtbl`: `#[repr(C)]`, the base's vtable first (`base__`), then one
///   `unsafe extern "system" fn` per method in declaration order;
/// * `IFoo_Impl`: the trait an object implements to expose `IFoo` (together with the `_Impl`
///   trait of every ancestor but IUnknown);
/// * the [`com::Interface`] implementation (ancestry, vtable), [`com::HasIid`] unless `no_iid`,
///   and the vtable of every object type, built in a `const` (no statics, no lazy init).
///
/// `docs/expansion.md` in the repository writes an expansion out.
///
/// # Rules
///
/// The trait must be `unsafe` (declaring an interface promises that its IID names this layout)
/// and name exactly one base interface; IUnknown's methods are inherited, never declared again.
/// Methods take `&self`, are neither generic, `async` nor `const`, have no body, carry no
/// `#[cfg]` (the slot order is the ABI), and use only types that can cross a vtable
/// ([`com::AbiSafe`]; results: [`com::AbiReturn`]). A method with a pointer parameter, or
/// declared `unsafe fn`, is an `unsafe fn` in the `_Impl` trait (its implementation relies on the
/// COM caller's contract); the parameters of the others must be [`com::PlainValue`]s.
///
/// The macros name the runtime `::mxf`: a crate that renames the dependency in its
/// `Cargo.toml` writes `extern crate renamed as mxf;` at its root.
///
/// # Options
///
/// | option | meaning |
/// |---|---|
/// | `iid = "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"` | the interface's IID, as the header gives it (braces allowed); required unless `no_iid` |
/// | `no_iid` | no header defines an IID: QueryInterface never answers the interface, its pointer is passed directly |
/// | `unsafe_impl` | `IFoo_Impl` is an `unsafe trait`: safe code trusts what its implementations return |
/// | `root` | crate-internal: the root interface, IUnknown |
/// | `filter_plumbing` | crate-internal: the framework implements the interface for every `#[mxf_filter]` (IMXF) |
///
/// ## `iid = "…"`
///
/// The IID of the header that defines the interface, hexadecimal digits in the usual groups,
/// with or without braces. It becomes [`com::HasIid::IID`], what QueryInterface compares.
///
/// ```
/// use mxf::prelude::*;
///
/// #[com_interface(iid = "{8E1F0B52-3C4D-4E6F-8A9B-0C1D2E3F4A5B}")]
/// pub unsafe trait ITempo: IUnknown {
///     fn SetTempo(&self, usec_per_quarter: u32) -> NTSTATUS;
/// }
///
/// assert_eq!(ITempo::IID, GUID::from_u128(0x8E1F0B52_3C4D_4E6F_8A9B_0C1D2E3F4A5B));
/// ```
///
/// ## `no_iid`
///
/// For the interfaces no header gives an IID (mxf's IMasterClock and IPositionNotify): none is
/// invented. The interface has no [`com::HasIid`], so QueryInterface cannot be asked for it
/// ([`com::Interface::cast`] to it does not compile); its pointer is handed over directly, as the
/// port passes its IMasterClock to `NewStream`. An object exposes it all the same, and creating
/// the object as that interface selects its chain by type.
///
/// ```
/// use mxf::platform::atomic::{AtomicI64, Ordering};
/// use mxf::prelude::*;
///
/// /// A pin's private callback.
/// #[com_interface(no_iid)]
/// pub unsafe trait ITick: IUnknown {
///     fn Tick(&self, time: REFERENCE_TIME);
/// }
///
/// #[com_object(ITick)]
/// struct LastTick {
///     time: AtomicI64,
/// }
///
/// impl ITick_Impl for LastTick {
///     fn Tick(&self, time: REFERENCE_TIME) {
///         self.time.store(time, Ordering::Relaxed);
///     }
/// }
///
/// let tick: ITick = LastTick { time: AtomicI64::new(0) }.into_com()?;
/// tick.Tick(10_000); // a method without pointer parameters is safe to call
/// // QueryInterface still answers the interfaces that have an IID.
/// let _identity: IUnknown = tick.cast()?;
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ```compile_fail,E0277
/// # use mxf::prelude::*;
/// # #[com_interface(no_iid)]
/// # pub unsafe trait ITick: IUnknown {
/// #     fn Tick(&self, time: REFERENCE_TIME);
/// # }
/// # #[com_object(ITick)]
/// # struct LastTick;
/// # impl ITick_Impl for LastTick {
/// #     fn Tick(&self, _time: REFERENCE_TIME) {}
/// # }
/// let tick: ITick = LastTick.into_com()?;
/// let again: ITick = tick.cast()?; // error: `ITick` has no IID
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ## `unsafe_impl`
///
/// Makes `IFoo_Impl` an `unsafe trait`, for an interface whose callers' memory safety rests on
/// what an implementation returns: implementing it is then a promise, written
/// `unsafe impl IFoo_Impl for …`. mxf's IAllocatorMXF is declared so: the event layer copies up
/// to `GetBufferSize()` bytes into the buffers `GetBuffer` returns.
///
/// ```
/// use mxf::prelude::*;
///
/// /// A device's identity bytes.
/// #[com_interface(iid = "2F7C9E10-4B6A-4D3E-8C21-5A9B0D7E6F43", unsafe_impl)]
/// pub unsafe trait IIdentity: IUnknown {
///     /// How many bytes `Read` writes; callers size their buffer with it.
///     fn Size(&self) -> u32;
///     /// Writes exactly `Size()` bytes to `out`.
///     fn Read(&self, out: *mut u8) -> NTSTATUS;
/// }
///
/// const ID: [u8; 3] = [0x41, 0x10, 0x42];
///
/// #[com_object(IIdentity)]
/// struct Mpu401;
///
/// // SAFETY: `Read` writes exactly `Size()` bytes.
/// unsafe impl IIdentity_Impl for Mpu401 {
///     fn Size(&self) -> u32 {
///         ID.len() as u32
///     }
///     unsafe fn Read(&self, out: *mut u8) -> NTSTATUS {
///         if out.is_null() {
///             return STATUS_INVALID_PARAMETER;
///         }
///         // SAFETY: the caller passes `Size()` writable bytes.
///         unsafe { core::ptr::copy_nonoverlapping(ID.as_ptr(), out, ID.len()) };
///         STATUS_SUCCESS
///     }
/// }
///
/// let id: IIdentity = Mpu401.into_com()?;
/// let mut buf = vec![0u8; id.Size() as usize];
/// // SAFETY: `buf` holds `Size()` bytes, all that `Read` writes: the implementation's promise.
/// assert_eq!(unsafe { id.Read(buf.as_mut_ptr()) }, STATUS_SUCCESS);
/// assert_eq!(buf, ID);
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ## `root` (crate-internal)
///
/// Marks the root of every interface, mxf's IUnknown: it has no base, declares exactly
/// `QueryInterface`, `AddRef` and `Release` in that order, and gets **no `_Impl` trait**: those
/// three slots of every vtable are the object's own. The framework supplies them for every
/// object (one reference count per object, QueryInterface over all its chains, delegation to the
/// controlling unknown when aggregated), so there is no `IUnknown_Impl` to write. A driver never
/// declares a root: its interfaces derive from [`interfaces::IUnknown`].
///
/// ```
/// use mxf::prelude::*;
///
/// #[com_object(IServiceSink)]
/// struct Quiet;
///
/// impl IServiceSink_Impl for Quiet {
///     fn RequestService(&self) {}
/// }
///
/// // No IUnknown_Impl: QueryInterface, AddRef and Release come with the object.
/// let sink: IServiceSink = Quiet.into_com()?;
/// let unknown: IUnknown = sink.cast()?; // QueryInterface
/// let again = unknown.clone(); // AddRef
/// drop(again); // Release
/// assert_eq!(sink.cast::<IMXF>().err(), Some(STATUS_INVALID_PARAMETER));
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ## `filter_plumbing` (crate-internal)
///
/// Marks mxf's IMXF: every `#[mxf_filter]` object gets its IMXF methods (`PutMessage`,
/// `ConnectOutput`, `DisconnectOutput`, `SetState`) from the framework, which implements
/// `IMXF_Impl` for [`filter::FilterObject`]`<F>`. For every other interface the macro generates
/// `impl IFoo_Impl for FilterObject<F> where F: IFoo_Impl`, forwarding to the author's struct;
/// `filter_plumbing` leaves that out, and lets only an object's own value implement the `_Impl`
/// trait (a `#[com_object]` struct, or `FilterObject`), so an `#[mxf_filter]` struct that
/// implements `IMXF_Impl` itself is a compile error rather than dead code. A driver's own
/// interfaces do not use it.
///
/// ```
/// use mxf::filter::FilterObject;
/// use mxf::prelude::*;
///
/// #[mxf_filter]
/// struct Pass;
///
/// impl Filter for Pass {
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         out.push(event);
///     }
/// }
///
/// // IMXF is the framework's, implemented on the object's value, not on `Pass`.
/// fn implements_imxf<T: IMXF_Impl>() {}
/// implements_imxf::<FilterObject<Pass>>();
/// ```
pub use mxf_macros::com_interface;

/// Turns a struct into a kernel COM object implementing the listed interfaces.
///
/// Each listed interface is one *chain*: one vtable pointer in the object, answering
/// QueryInterface for that interface and all its ancestors (when two chains share an ancestor,
/// the first listed answers). The first chain is the object's identity: QueryInterface for
/// IUnknown answers it, whichever chain is asked. The struct implements the `_Impl` trait of
/// every interface in every chain (IUnknown excepted, see below).
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
/// # IUnknown: nothing to implement
///
/// There is no `IUnknown_Impl`: IUnknown is the root interface (see [`com_interface`]'s `root`),
/// and the framework supplies `QueryInterface`, `AddRef` and `Release` for every object. It
/// keeps one reference count per object, answers QueryInterface over every chain and its
/// ancestors as kernel COM does (an `NTSTATUS`; the out-pointer AddRef'd through the interface
/// returned, or NULL on failure), delegates all three to the controlling unknown when the object
/// is aggregated, and frees the object to its pool at the last `Release`. A `Release` too many
/// is counted ([`com::refcount::anomalies`]) and never frees twice.
///
/// # Options
///
/// | option | meaning | default |
/// |---|---|---|
/// | `IFoo, IBar, …` | the interfaces, one chain each, in this order; at least one | — |
/// | `qi_failure = EXPR` | the [`NTSTATUS`](abi::NTSTATUS) QueryInterface returns for an IID the object does not implement | `STATUS_INVALID_PARAMETER` |
/// | `tag = "abcd"` | the pool tag of the object's block: four ASCII characters, as a pool dump shows them | `"mxfO"` |
///
/// ## The interface list
///
/// ```
/// use mxf::platform::atomic::{AtomicI64, Ordering};
/// use mxf::prelude::*;
///
/// /// A clock that advances 1 ms each time it is serviced: two chains in one object.
/// #[com_object(IMasterClock, IServiceSink)]
/// struct Metronome {
///     now: AtomicI64,
/// }
///
/// impl IMasterClock_Impl for Metronome {
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
/// impl IServiceSink_Impl for Metronome {
///     fn RequestService(&self) {
///         self.now.fetch_add(10_000, Ordering::Relaxed);
///     }
/// }
///
/// let clock: IMasterClock = Metronome { now: AtomicI64::new(0) }.into_com()?;
/// // IServiceSink has an IID: QueryInterface reaches the other chain.
/// let sink: IServiceSink = clock.cast()?;
/// sink.RequestService();
/// let mut t = 0;
/// // SAFETY: `t` is a valid out-pointer.
/// unsafe { clock.GetTime(&mut t) };
/// assert_eq!(t, 10_000);
/// // One object, one identity.
/// assert_eq!(clock.cast::<IUnknown>()?, sink.cast::<IUnknown>()?);
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ## `qi_failure = …`
///
/// Kernel COM leaves the status of a refused QueryInterface to the object: most answer
/// `STATUS_INVALID_PARAMETER`, Microsoft's allocator `STATUS_INVALID_PARAMETER_1`. Any constant
/// expression of type `NTSTATUS` that is an error: a success status (a refusal that reports
/// success) does not compile.
///
/// ```
/// use mxf::prelude::*;
///
/// #[com_object(IServiceSink, qi_failure = STATUS_INVALID_PARAMETER_1)]
/// struct Strict;
///
/// impl IServiceSink_Impl for Strict {
///     fn RequestService(&self) {}
/// }
///
/// let sink: IServiceSink = Strict.into_com()?;
/// assert_eq!(sink.cast::<IMXF>().err(), Some(STATUS_INVALID_PARAMETER_1));
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ## `tag = "…"`
///
/// The tag under which [`com::IntoComObject::into_com`] and [`com::ObjectHandle::create`]
/// allocate the object (`into_com_in` and `create_in` take one explicitly).
///
/// ```
/// use mxf::com::ObjectImpl;
/// use mxf::prelude::*;
///
/// #[com_object(IServiceSink, tag = "Svc1")]
/// struct Tagged;
///
/// impl IServiceSink_Impl for Tagged {
///     fn RequestService(&self) {}
/// }
///
/// assert_eq!(<Tagged as ObjectImpl>::POOL_TAG, pool_tag(b"Svc1"));
/// let _sink: IServiceSink = Tagged.into_com()?; // allocated under "Svc1"
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// # Creating objects
///
/// * [`com::IntoComObject::into_com`] / `into_com_in`: the object as one of its interfaces;
/// * [`com::ObjectHandle::create`] / `create_in`: an interface with the struct at hand
///   (`handle.value()`), as a C++ driver keeps its class pointer;
/// * [`com::ComObject::create_raw`] (a C-style out-pointer, the shape of `NewStream`'s) and
///   [`com::ComObject::create_aggregated`] (aggregation by an outer unknown).
///
/// Every creation is fallible: a full pool is `STATUS_INSUFFICIENT_RESOURCES`, nothing leaked.
///
/// # Restrictions
///
/// The struct must be `Send + Sync` (checked: kernel COM objects are called from any CPU), not
/// generic and without lifetimes (each object type has its own vtables, and callers keep it as
/// long as they hold a reference), without `#[repr]` (the macro chooses the layout), and no
/// field may need an alignment above [`platform::POOL_ALIGNMENT`].
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
/// # What the framework implements
///
/// * **IMXF**: the object's value is a [`filter::FilterObject`]`<Self>`, which implements
///   `IMXF_Impl` (chains, packages, connections, states, the allocator's rules). IMXF is always
///   the filter's first chain and is the framework's: the struct does not implement `IMXF_Impl`
///   itself, and an `impl IMXF_Impl` for it does not compile.
/// * **IUnknown**, as for every object (see [`com_object`]): nothing to implement.
///
/// ```compile_fail,E0277
/// use mxf::prelude::*;
///
/// #[mxf_filter]
/// struct Mine;
///
/// impl Filter for Mine {
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         out.push(event);
///     }
/// }
///
/// // error: an `#[mxf_filter]` gets IMXF from the framework
/// impl IMXF_Impl for Mine {
///     fn SetState(&self, _state: KSSTATE) -> NTSTATUS {
///         STATUS_SUCCESS
///     }
///     unsafe fn PutMessage(&self, _event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
///         STATUS_SUCCESS
///     }
///     fn ConnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
///         STATUS_SUCCESS
///     }
///     fn DisconnectOutput(&self, _sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
///         STATUS_SUCCESS
///     }
/// }
/// ```
///
/// What the struct implements is [`filter::Filter`]: `process`, and optionally the constants
/// `PACKAGES` ([`filter::PackagePolicy`], default `Unwrap`), `OUTPUTS` ([`filter::OutputCount`],
/// 1 to 8, default one) and `INITIAL_STATE` ([`abi::KsState`], default `Run`), each checked when
/// the filter is compiled; the trait's documentation has an example of each.
///
/// A panic in `process` (or any method called through a vtable) does not unwind into the caller:
/// Rust aborts at the `extern "system"` boundary, which in a driver is a bugcheck. Return the
/// event instead (drop it) and count the fault.
///
/// # Options
///
/// | option | meaning | default |
/// |---|---|---|
/// | `IFoo, …` | further interfaces, chains after IMXF (IMXF itself is not listed) | none |
/// | `qi_failure = EXPR` | as for [`com_object`] | `STATUS_INVALID_PARAMETER` |
/// | `tag = "abcd"` | as for [`com_object`] | `"mxfO"` |
///
/// ## Further interfaces
///
/// The struct implements the `_Impl` trait of each further interface (and of its ancestors
/// other than IMXF); every `#[com_interface]` forwards its `_Impl` from
/// [`filter::FilterObject`]`<Self>` to the struct, so `#[mxf_filter(ISynthSinkDMus)]` with
/// `impl ISynthSinkDMus_Impl for MySynth` is a filter and a synth sink in one object, as
/// ddksynth's stream is.
///
/// ```
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::platform::atomic::{AtomicBool, Ordering};
/// use mxf::prelude::*;
///
/// /// Drops everything until it is serviced once.
/// #[mxf_filter(IServiceSink)]
/// struct Gate {
///     open: AtomicBool,
/// }
///
/// impl Filter for Gate {
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         if self.open.load(Ordering::Acquire) {
///             out.push(event);
///         }
///     }
/// }
///
/// impl IServiceSink_Impl for Gate {
///     fn RequestService(&self) {
///         self.open.store(true, Ordering::Release);
///     }
/// }
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let gate = Gate { open: AtomicBool::new(false) }.into_filter(&alloc)?;
/// let note = || Event::with_bytes(&alloc, &[0x90, 60, 100], 1, 0);
/// let mut chain = Chain::new(&alloc);
/// chain.push_back(note()?);
/// chain.deliver(Some(gate.interface()));
/// assert_eq!(gate.stats().events_out, 0);
///
/// let sink: IServiceSink = gate.cast()?;
/// sink.RequestService();
/// let mut chain = Chain::new(&alloc);
/// chain.push_back(note()?);
/// chain.deliver(Some(gate.interface()));
/// assert_eq!(gate.stats().events_out, 1);
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ## `qi_failure = …`
///
/// ```
/// use mxf::allocator::{AllocatorConfig, AllocatorHandle};
/// use mxf::prelude::*;
///
/// #[mxf_filter(qi_failure = STATUS_INVALID_PARAMETER_1)]
/// struct Pass;
///
/// impl Filter for Pass {
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         out.push(event);
///     }
/// }
///
/// let alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
/// let pass = Pass.into_filter(&alloc)?;
/// assert_eq!(pass.cast::<IServiceSink>().err(), Some(STATUS_INVALID_PARAMETER_1));
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// ## `tag = "…"`
///
/// The tag [`filter::IntoFilter::into_filter`] allocates the filter object under
/// (`into_filter_in` takes one explicitly).
///
/// ```
/// use mxf::com::ObjectImpl;
/// use mxf::prelude::*;
///
/// #[mxf_filter(tag = "Echo")]
/// struct Echo;
///
/// impl Filter for Echo {
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         out.push(event);
///     }
/// }
///
/// assert_eq!(<Echo as ObjectImpl>::POOL_TAG, pool_tag(b"Echo"));
/// ```
pub use mxf_macros::mxf_filter;

/// Turns a struct into a DMus miniport: implement [`miniport::DmusMiniport`] for it, declare
/// its pins with [`miniport_topology!`] `for` it, create it with
/// [`miniport::IntoMiniport::into_miniport`], and the framework supplies `IMiniport` and
/// `IMiniportDMus` (see [`miniport::MiniportObject`] for every method's checks and statuses).
///
/// ```
/// use mxf::miniport::{Direction, InitRequest, Stream, StreamRequest};
/// use mxf::prelude::*;
///
/// /// A MIDI output that takes nothing yet.
/// #[mxf_miniport(tag = "Out1")]
/// struct Out1;
///
/// miniport_topology! {
///     static OUT1 for Out1 {
///         categories: [AUDIO, RENDER],
///         pins: { out: render(midi), wire: bridge(out, midi_bus) },
///         connections: [out -> wire],
///     }
/// }
///
/// impl DmusMiniport for Out1 {
///     fn init(&self, _request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
///         Ok(None)
///     }
///     fn new_stream(&self, request: StreamRequest<'_>) -> Result<Stream> {
///         assert_eq!(request.kind().direction, Direction::Render);
///         Err(STATUS_INSUFFICIENT_RESOURCES)
///     }
/// }
///
/// let miniport = Out1.into_miniport()?;
/// // The port sees an IMiniportDMus: QueryInterface answers it, IMiniport and IUnknown.
/// let dmus: IMiniportDMus = miniport.cast()?;
/// assert_eq!(dmus.as_raw(), miniport.as_raw());
/// # Ok::<(), NTSTATUS>(())
/// ```
///
/// # Options
///
/// | option | meaning | default |
/// |---|---|---|
/// | `IFoo, …` | further interfaces, chains after IMiniportDMus (which is not listed) | none |
/// | `qi_failure = EXPR` | as for [`com_object`] | `STATUS_INVALID_PARAMETER` |
/// | `tag = "abcd"` | as for [`com_object`] | `"mxfO"` |
///
/// A struct without `impl DmusMiniport`, or without a declared topology, does not compile; nor
/// does one that lists `IMiniportDMus` or `IMiniport` itself, or that is also a
/// `#[com_object]` or an `#[mxf_filter]`.
pub use mxf_macros::mxf_miniport;

/// Declares a DMus miniport's pins, nodes, connections and categories, once: the
/// `PCFILTER_DESCRIPTOR` `GetDescription` returns, its tables, the Synth property items of its
/// synth nodes (all `static`, built in `const` context), and the [`miniport::Topology`]
/// `NewStream` dispatches on and the INF is written from.
///
/// ```
/// # use mxf::miniport::{InitRequest, Stream, StreamRequest};
/// use mxf::abi::*;
/// use mxf::miniport::{Category, Format, PinKind};
/// # use mxf::prelude::*;
/// # #[mxf_miniport]
/// # pub struct UartLike;
/// # impl DmusMiniport for UartLike {
/// #     fn init(&self, _: InitRequest<'_>) -> Result<Option<IServiceGroup>> { Ok(None) }
/// #     fn new_stream(&self, _: StreamRequest<'_>) -> Result<Stream> { Err(STATUS_NOT_IMPLEMENTED) }
/// # }
///
/// mxf::miniport_topology! {
///     /// DMusUART's pins, nodes and connections.
///     pub static UART_LIKE for UartLike {
///         categories: [AUDIO, RENDER, CAPTURE],
///         pins: {
///             midi_out: render(midi), instances(1, 1, 0), name(KSAUDFNAME_MIDI),
///             dmusic_out: render(directmusic), name(KSAUDFNAME_DMUSIC_MPU_OUT),
///             bridge_out: bridge(out, midi_bus),
///             bridge_in: bridge(in, midi_bus),
///             input: capture(midi, directmusic), name(KSAUDFNAME_DMUSIC_MPU_IN),
///         },
///         nodes: { render_synth: synthesizer, input_synth: synthesizer },
///         connections: [
///             midi_out -> bridge_out,
///             dmusic_out -> render_synth.1, render_synth.0 -> bridge_out,
///             bridge_in -> input_synth.1, input_synth.0 -> input,
///         ],
///     }
/// }
///
/// let d = UART_LIKE.descriptor();
/// assert_eq!((d.PinCount, d.NodeCount, d.ConnectionCount, d.CategoryCount), (5, 2, 5, 3));
/// assert_eq!(UART_LIKE.pin(4).map(|p| p.formats()), Some(&[Format::Midi, Format::DirectMusic][..]));
/// assert_eq!(UART_LIKE.pin(2).map(|p| p.kind()), Some(PinKind::BridgeOut));
/// assert_eq!(UART_LIKE.categories()[0], Category::Audio);
/// ```
///
/// # Syntax
///
/// | field | written | meaning |
/// |---|---|---|
/// | `categories` | `[AUDIO, RENDER, CAPTURE]` | the filter categories (device interfaces) |
/// | `pins` | `{ name: kind(ranges) [, instances(g, f, min)] [, name(GUID)], … }` | pin ids in order |
/// | pin kinds | `render(…)`, `capture(…)`, `bridge(in \| out, midi_bus)` | SINK+IN, SINK+OUT, NONE |
/// | ranges | `midi`, `directmusic` (stream pins), `midi_bus` (bridges) | music ranges as DMusUART's |
/// | `instances` | three counts, or `unlimited`; default 1, 1, 0 | a stream pin's limits |
/// | `name` | a GUID constant (`KSAUDFNAME_MIDI`) | the pin's KS name |
/// | `nodes` | `{ name: synthesizer, … }` (optional) | `KSNODETYPE_SYNTHESIZER` with the Synth items |
/// | `connections` | `[a -> b, a -> node.1, node.0 -> b]` (optional) | node pin 1 is its input, 0 its output |
/// | `directmusic_only` | (optional) | opts out of the Windows MIDI Services check |
///
/// # What does not compile
///
/// Each with one error at the offending token: no pins; two pins (or nodes) of one name; an
/// unknown kind, range, category or field; `midi_bus` on a render or capture pin, `midi` or
/// `directmusic` on a bridge; `instances` on a bridge, or a minimum above the maximum; a
/// connection to a pin or node that does not exist, from a pin data leaves by or to one data
/// enters by, to a node's pin other than 1 or from one other than 0; a `name` that is not a
/// GUID constant; and, unless `directmusic_only`, a topology whose render and capture pins
/// offer no `midi` range or whose categories lack `AUDIO` (Windows MIDI Services would not
/// see it: see [`miniport`]).
pub use mxf_macros::miniport_topology;

/// What most code needs: the ABI types, the COM core, the interfaces and the macros.
///
/// `use mxf::prelude::*;` brings every name of [`abi`] (statuses, `KSSTATE`,
/// `DMUS_KERNEL_EVENT`, …), the interfaces with their `_Impl` and `_Vtbl` items, the traits
/// that make their methods and IIDs callable, [`Event`](event::Event) and
/// [`Chain`](event::Chain), the [`Filter`](filter::Filter) vocabulary and the three macros.
/// Its [`Result`](abi::Result) is `Result<T, NTSTATUS>` by default and still takes a second
/// parameter, so it does not shadow `core`'s for code that names an error type.
///
/// ```
/// use mxf::prelude::*;
///
/// /// Passes note messages, drops the rest.
/// #[mxf_filter]
/// struct NotesOnly;
///
/// impl Filter for NotesOnly {
///     fn process<'a>(&self, event: Event<'a>, out: &mut Output<'a>) {
///         if event.data().first().is_some_and(|s| matches!(s & 0xF0, 0x80 | 0x90)) {
///             out.push(event);
///         }
///     }
/// }
///
/// fn check(status: NTSTATUS) -> Result<()> {
///     status.ok()
/// }
/// assert_eq!(check(STATUS_SUCCESS), Ok(()));
/// let parsed: Result<u8, core::num::ParseIntError> = "7".parse();
/// assert_eq!(parsed, Ok(7));
/// assert_ne!(IMXF::IID, IUnknown::IID);
/// ```
pub mod prelude {
    pub use crate::abi::*;
    pub use crate::com::{ComRef, HasIid, Interface, IntoComObject};
    pub use crate::event::{Chain, Event};
    pub use crate::filter::{Filter, IntoFilter, Output, OutputCount, PackagePolicy};
    pub use crate::interfaces::*;
    pub use crate::miniport::{DmusMiniport, IntoMiniport};
    pub use crate::{com_interface, com_object, miniport_topology, mxf_filter, mxf_miniport};
}
