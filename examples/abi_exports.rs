//! The Rust half of the Wine ABI tier (`docs/wine-abi.md`): a static library that a C++ client,
//! compiled with mingw-w64 against the unmodified `<ddk/dmusicks.h>`, links and drives.
//!
//! It exports plain `extern "C"` functions that
//! * report the Rust side of every compared number (layouts, constants, vtable slots) by name,
//!   so the client can compare them with what the header gives its compiler;
//! * report the interface identifiers;
//! * create mxf objects and hand them out as raw interface pointers: the built-in allocator,
//!   and a small `#[com_object(IMXF)]` forwarder that follows the connection rules of the DMus
//!   port's own MXFs (`domain.md` §1.3).
//!
//! The same numbers are also emitted into the assembly listing as `# MXFV name=value` lines
//! (compile-time only, no bytes in the object), so a cross build for a target that cannot be run
//! here (i686 Windows) can still be compared with the header, value by value.
//!
//! Build: `cargo build --example abi_exports --target x86_64-pc-windows-gnu`.
#![allow(non_snake_case)]

use core::ffi::{c_char, c_void};
use core::mem::{align_of, offset_of, size_of, size_of_val};
use mxf::allocator::{AllocatorConfig, create_allocator};
use mxf::com::ComObject;
use mxf::interfaces::{
    IAllocatorMXF_Vtbl, IMXF_Vtbl, IMasterClock, IMasterClock_Vtbl, IMiniport, IMiniportDMus,
    IMiniportDMus_Vtbl, IPort, IPortDMus, IPortDMus_Vtbl, IPositionNotify, IServiceGroup,
    IServiceSink, ISynthSinkDMus, IUnknown_Vtbl,
};
use mxf::platform::SpinLock;
use mxf::platform::atomic::{AtomicU32, AtomicU64, Ordering};
use mxf::prelude::*;

/// Declares the compile-time numbers once: a const table for the run-time lookup, and the
/// `# MXFV name=value` lines of the assembly listing.
macro_rules! layout_values {
    ($( $name:literal => $value:expr, )*) => {
        /// The numbers known at compile time, by the names the C++ client uses.
        const LAYOUT_VALUES: &[(&str, i64)] = &[ $( ($name, $value as i64), )* ];

        // Comments only: nothing reaches the object file.
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        core::arch::global_asm!(
            $( concat!("# MXFV ", $name, "={}"), )*
            $( const $value as i64, )*
        );
    };
}

const EV: DMUS_KERNEL_EVENT = DMUS_KERNEL_EVENT::FRESH;
const fn field<T>(_: &T) -> usize {
    size_of::<T>()
}
// SAFETY: (this and the next two union reads run at compile time) `EV.uData` is fully
// initialised (all bits zero), valid for every member type; only the member's size is taken.
const SIZE_AB_DATA: usize = field(unsafe { &EV.uData.abData });
// SAFETY: as above.
const SIZE_PB_DATA: usize = field(unsafe { &EV.uData.pbData });
// SAFETY: as above.
const SIZE_PACKAGE: usize = field(unsafe { &EV.uData.pPackageEvt });

layout_values! {
    "sizeof(DMUS_KERNEL_EVENT)" => size_of::<DMUS_KERNEL_EVENT>(),
    "alignof(DMUS_KERNEL_EVENT)" => align_of::<DMUS_KERNEL_EVENT>(),
    "offsetof(DMUS_KERNEL_EVENT, bReserved)" => offset_of!(DMUS_KERNEL_EVENT, bReserved),
    "offsetof(DMUS_KERNEL_EVENT, cbStruct)" => offset_of!(DMUS_KERNEL_EVENT, cbStruct),
    "offsetof(DMUS_KERNEL_EVENT, cbEvent)" => offset_of!(DMUS_KERNEL_EVENT, cbEvent),
    "offsetof(DMUS_KERNEL_EVENT, usChannelGroup)" => offset_of!(DMUS_KERNEL_EVENT, usChannelGroup),
    "offsetof(DMUS_KERNEL_EVENT, usFlags)" => offset_of!(DMUS_KERNEL_EVENT, usFlags),
    "offsetof(DMUS_KERNEL_EVENT, ullPresTime100ns)" => offset_of!(DMUS_KERNEL_EVENT, ullPresTime100ns),
    "offsetof(DMUS_KERNEL_EVENT, ullBytePosition)" => offset_of!(DMUS_KERNEL_EVENT, ullBytePosition),
    "offsetof(DMUS_KERNEL_EVENT, pNextEvt)" => offset_of!(DMUS_KERNEL_EVENT, pNextEvt),
    "offsetof(DMUS_KERNEL_EVENT, uData)" => offset_of!(DMUS_KERNEL_EVENT, uData),
    "offsetof(DMUS_KERNEL_EVENT, uData.abData)" => offset_of!(DMUS_KERNEL_EVENT, uData.abData),
    "offsetof(DMUS_KERNEL_EVENT, uData.pbData)" => offset_of!(DMUS_KERNEL_EVENT, uData.pbData),
    "offsetof(DMUS_KERNEL_EVENT, uData.pPackageEvt)" => offset_of!(DMUS_KERNEL_EVENT, uData.pPackageEvt),
    "sizeof(DMUS_KERNEL_EVENT::bReserved)" => field(&EV.bReserved),
    "sizeof(DMUS_KERNEL_EVENT::cbStruct)" => field(&EV.cbStruct),
    "sizeof(DMUS_KERNEL_EVENT::cbEvent)" => field(&EV.cbEvent),
    "sizeof(DMUS_KERNEL_EVENT::usChannelGroup)" => field(&EV.usChannelGroup),
    "sizeof(DMUS_KERNEL_EVENT::usFlags)" => field(&EV.usFlags),
    "sizeof(DMUS_KERNEL_EVENT::ullPresTime100ns)" => field(&EV.ullPresTime100ns),
    "sizeof(DMUS_KERNEL_EVENT::ullBytePosition)" => field(&EV.ullBytePosition),
    "sizeof(DMUS_KERNEL_EVENT::pNextEvt)" => field(&EV.pNextEvt),
    "sizeof(DMUS_KERNEL_EVENT::uData)" => field(&EV.uData),
    "alignof(DMUS_KERNEL_EVENT::uData)" => align_of::<DMUS_KERNEL_EVENT_DATA>(),
    "sizeof(DMUS_KERNEL_EVENT::uData.abData)" => SIZE_AB_DATA,
    "sizeof(DMUS_KERNEL_EVENT::uData.pbData)" => SIZE_PB_DATA,
    "sizeof(DMUS_KERNEL_EVENT::uData.pPackageEvt)" => SIZE_PACKAGE,
    "sizeof(DMUS_STREAM_TYPE)" => size_of::<DMUS_STREAM_TYPE>(),
    "DMUS_STREAM_MIDI_INVALID" => DMUS_STREAM_MIDI_INVALID.0,
    "DMUS_STREAM_MIDI_RENDER" => DMUS_STREAM_MIDI_RENDER.0,
    "DMUS_STREAM_MIDI_CAPTURE" => DMUS_STREAM_MIDI_CAPTURE.0,
    "DMUS_STREAM_WAVE_SINK" => DMUS_STREAM_WAVE_SINK.0,
    "sizeof(GUID)" => size_of::<GUID>(),
    "sizeof(PMXF)" => size_of::<Option<IMXF>>(),
}

/// Slot index of a vtable member (`offset / sizeof(void*)`).
macro_rules! slot {
    ($vtbl:ty, $($path:tt)+) => {
        (offset_of!($vtbl, $($path)+) / size_of::<*const c_void>()) as i64
    };
}

/// Numbers compared at run time only: 64-bit constants and vtable slot indices.
const RUNTIME_VALUES: &[(&str, i64)] = &[
    ("DONT_HOLD_FOR_SEQUENCING", DONT_HOLD_FOR_SEQUENCING as i64),
    ("kBytePositionNone", kBytePositionNone as i64),
    ("DMUS_KEF_EVENT_COMPLETE", DMUS_KEF_EVENT_COMPLETE as i64),
    (
        "DMUS_KEF_EVENT_INCOMPLETE",
        DMUS_KEF_EVENT_INCOMPLETE as i64,
    ),
    ("DMUS_KEF_PACKAGE_EVENT", DMUS_KEF_PACKAGE_EVENT as i64),
    (
        "slot(IUnknown::QueryInterface)",
        slot!(IUnknown_Vtbl, QueryInterface),
    ),
    ("slot(IUnknown::AddRef)", slot!(IUnknown_Vtbl, AddRef)),
    ("slot(IUnknown::Release)", slot!(IUnknown_Vtbl, Release)),
    (
        "slot(IMXF::QueryInterface)",
        slot!(IMXF_Vtbl, base__.QueryInterface),
    ),
    ("slot(IMXF::AddRef)", slot!(IMXF_Vtbl, base__.AddRef)),
    ("slot(IMXF::Release)", slot!(IMXF_Vtbl, base__.Release)),
    ("slot(IMXF::SetState)", slot!(IMXF_Vtbl, SetState)),
    ("slot(IMXF::PutMessage)", slot!(IMXF_Vtbl, PutMessage)),
    ("slot(IMXF::ConnectOutput)", slot!(IMXF_Vtbl, ConnectOutput)),
    (
        "slot(IMXF::DisconnectOutput)",
        slot!(IMXF_Vtbl, DisconnectOutput),
    ),
    (
        "slot(IAllocatorMXF::QueryInterface)",
        slot!(IAllocatorMXF_Vtbl, base__.base__.QueryInterface),
    ),
    (
        "slot(IAllocatorMXF::AddRef)",
        slot!(IAllocatorMXF_Vtbl, base__.base__.AddRef),
    ),
    (
        "slot(IAllocatorMXF::Release)",
        slot!(IAllocatorMXF_Vtbl, base__.base__.Release),
    ),
    (
        "slot(IAllocatorMXF::SetState)",
        slot!(IAllocatorMXF_Vtbl, base__.SetState),
    ),
    (
        "slot(IAllocatorMXF::PutMessage)",
        slot!(IAllocatorMXF_Vtbl, base__.PutMessage),
    ),
    (
        "slot(IAllocatorMXF::ConnectOutput)",
        slot!(IAllocatorMXF_Vtbl, base__.ConnectOutput),
    ),
    (
        "slot(IAllocatorMXF::DisconnectOutput)",
        slot!(IAllocatorMXF_Vtbl, base__.DisconnectOutput),
    ),
    (
        "slot(IAllocatorMXF::GetMessage)",
        slot!(IAllocatorMXF_Vtbl, GetMessage),
    ),
    (
        "slot(IAllocatorMXF::GetBufferSize)",
        slot!(IAllocatorMXF_Vtbl, GetBufferSize),
    ),
    (
        "slot(IAllocatorMXF::GetBuffer)",
        slot!(IAllocatorMXF_Vtbl, GetBuffer),
    ),
    (
        "slot(IAllocatorMXF::PutBuffer)",
        slot!(IAllocatorMXF_Vtbl, PutBuffer),
    ),
    (
        "slot(IMasterClock::GetTime)",
        slot!(IMasterClock_Vtbl, GetTime),
    ),
    ("slot(IPortDMus::Notify)", slot!(IPortDMus_Vtbl, Notify)),
    (
        "slot(IPortDMus::RegisterServiceGroup)",
        slot!(IPortDMus_Vtbl, RegisterServiceGroup),
    ),
    ("slot(IMiniportDMus::Init)", slot!(IMiniportDMus_Vtbl, Init)),
    (
        "slot(IMiniportDMus::Service)",
        slot!(IMiniportDMus_Vtbl, Service),
    ),
    (
        "slot(IMiniportDMus::NewStream)",
        slot!(IMiniportDMus_Vtbl, NewStream),
    ),
];

/// The identifiers the client can ask for, under their header names.
const GUIDS: &[(&str, GUID)] = &[
    ("IID_IUnknown", IUnknown::IID),
    ("IID_IMXF", IMXF::IID),
    ("IID_IAllocatorMXF", IAllocatorMXF::IID),
    ("IID_IPortDMus", IPortDMus::IID),
    ("IID_IMiniportDMus", IMiniportDMus::IID),
    ("IID_ISynthSinkDMus", ISynthSinkDMus::IID),
    ("IID_IPort", IPort::IID),
    ("IID_IMiniport", IMiniport::IID),
    ("IID_IServiceSink", IServiceSink::IID),
    ("IID_IServiceGroup", IServiceGroup::IID),
];

/// Whether an interface declares an IID, by name (the header gives none for these two).
const HAS_IID: &[(&str, bool)] = &[
    ("IMasterClock", <IMasterClock as Interface>::HAS_IID),
    ("IPositionNotify", <IPositionNotify as Interface>::HAS_IID),
];

/// The NUL-terminated C string at `name` as bytes, without the NUL; `None` for NULL.
///
/// # Safety
/// A non-NULL `name` points to a NUL-terminated string.
unsafe fn c_name<'a>(name: *const c_char) -> Option<&'a [u8]> {
    if name.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated (caller).
    Some(unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes())
}

/// Looks up `name` in `table`.
fn find<T: Copy>(table: &[(&str, T)], name: &[u8]) -> Option<T> {
    table
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|&(_, v)| v)
}

/// The Rust value of the number called `name` (a layout value, constant or vtable slot).
/// Returns 0 and stores the value in `*out`, or returns -1 if the name is unknown.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_value(name: *const c_char, out: *mut i64) -> i32 {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { c_name(name) }) else {
        return -1;
    };
    let Some(v) = find(LAYOUT_VALUES, name).or_else(|| find(RUNTIME_VALUES, name)) else {
        return -1;
    };
    if out.is_null() {
        return -1;
    }
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(v) };
    0
}

/// The Rust identifier called `name` (`IID_IMXF`, …): 0 and `*out`, or -1 if unknown.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_guid(name: *const c_char, out: *mut GUID) -> i32 {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { c_name(name) }) else {
        return -1;
    };
    let Some(g) = find(GUIDS, name) else {
        return -1;
    };
    if out.is_null() {
        return -1;
    }
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(g) };
    0
}

/// Whether the Rust declaration of the interface called `name` carries an IID: 1 yes, 0 no,
/// -1 unknown name.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_has_iid(name: *const c_char) -> i32 {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { c_name(name) }) else {
        return -1;
    };
    find(HAS_IID, name).map_or(-1, i32::from)
}

/// A fresh event as the Rust side builds it (`DMUS_KERNEL_EVENT::FRESH`), returned by value
/// through `out` so the client can read every field at its header offset.
///
/// # Safety
/// `out` is NULL or points to writable storage for one event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_fresh_event(out: *mut DMUS_KERNEL_EVENT) -> i32 {
    if out.is_null() {
        return -1;
    }
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(DMUS_KERNEL_EVENT::FRESH) };
    0
}

/// Creates mxf's allocator with the default (Microsoft-compatible) configuration and stores its
/// `IAllocatorMXF` (one reference) in `*out`. `notify`, if not NULL, is an `IPositionNotify` the
/// allocator keeps a reference to. Returns an `NTSTATUS`.
///
/// # Safety
/// `out` is NULL or writable; `notify` is NULL or a live `IPositionNotify`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_create_allocator(
    notify: *mut c_void,
    out: *mut *mut c_void,
) -> NTSTATUS {
    if out.is_null() || !out.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `notify` is NULL or live (caller); the borrowed pointer is cloned (AddRef) before
    // the borrow ends.
    let notify = unsafe { ComRef::<IPositionNotify>::from_raw(notify) }.map(|n| n.to_owned());
    let (p, status) = match create_allocator(AllocatorConfig::default(), notify) {
        Ok(a) => (a.into_raw(), STATUS_SUCCESS),
        Err(s) => (core::ptr::null_mut(), s),
    };
    // SAFETY: checked non-NULL and aligned; writable (caller).
    unsafe { out.write(p) };
    status
}

/// A minimal MXF: forwards every `PutMessage` to its connected sink, or to the allocator while
/// disconnected, following the connection rules of the port's own MXFs (`domain.md` §1.3).
/// It also counts what passes through, reading each event of a chain through the Rust layout.
#[com_object(IMXF, tag = "mxfF")]
struct Forwarder {
    allocator: IAllocatorMXF,
    sink: SpinLock<Option<IMXF>>,
    state: AtomicU32,
    calls: AtomicU64,
    events: AtomicU64,
    data_bytes: AtomicU64,
}

/// A chain longer than this is treated as cyclic and not counted further.
const MAX_CHAIN: u64 = 1 << 20;

impl Forwarder {
    /// Counts the events of a chain and their data bytes.
    ///
    /// # Safety
    /// `head` is a valid event chain (the caller's contract for `PutMessage`).
    unsafe fn count(&self, head: *mut DMUS_KERNEL_EVENT) {
        let (mut n, mut bytes, mut p) = (0u64, 0u64, head);
        while !p.is_null() && n < MAX_CHAIN {
            // SAFETY: every element of a valid chain is a live event.
            let e = unsafe { &*p };
            n += 1;
            bytes += u64::from(e.cbEvent);
            p = e.pNextEvt;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(n, Ordering::Relaxed);
        self.data_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl IMXF_Impl for Forwarder {
    fn SetState(&self, state: KSSTATE) -> NTSTATUS {
        if state.known().is_none() {
            return STATUS_INVALID_PARAMETER;
        }
        self.state.store(state.0 as u32, Ordering::Relaxed);
        STATUS_SUCCESS
    }

    fn PutMessage(&self, event: *mut DMUS_KERNEL_EVENT) -> NTSTATUS {
        if event.is_null() {
            return STATUS_SUCCESS;
        }
        if check_event_ptr(event).is_err() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: a non-NULL, aligned event chain handed over by the caller.
        unsafe { self.count(event) };
        // Take a reference to the sink and call it with the lock released: the sink may call
        // back into this object (DisconnectOutput from its PutMessage).
        let sink = self.sink.lock().clone();
        match sink {
            // SAFETY: the chain is passed on whole; ownership moves downstream.
            Some(s) => unsafe { s.PutMessage(event) },
            // SAFETY: as above; the allocator is the last destination of every event.
            None => unsafe { self.allocator.PutMessage(event) },
        }
    }

    fn ConnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        let Some(sink) = sink else {
            return STATUS_UNSUCCESSFUL;
        };
        let mut cur = self.sink.lock();
        if cur.is_some() {
            // An existing connection is never replaced.
            return STATUS_UNSUCCESSFUL;
        }
        *cur = Some(sink.to_owned());
        STATUS_SUCCESS
    }

    fn DisconnectOutput(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS {
        let old = {
            let mut cur = self.sink.lock();
            let matches = match (&sink, &*cur) {
                (None, _) => true,
                (Some(s), Some(c)) => s.as_raw() == c.as_raw(),
                (Some(_), None) => false,
            };
            if !matches {
                return STATUS_UNSUCCESSFUL;
            }
            cur.take()
        };
        // Released with the lock dropped: the sink's Release may run arbitrary code.
        drop(old);
        STATUS_SUCCESS
    }
}

/// Creates a forwarder whose disconnected output is `allocator` (an `IAllocatorMXF`, borrowed
/// and AddRef'd) and stores its `IMXF` (one reference) in `*out`. Returns an `NTSTATUS`.
///
/// # Safety
/// `out` is NULL or writable; `allocator` is NULL or a live `IAllocatorMXF`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_create_forwarder(
    allocator: *mut c_void,
    out: *mut *mut c_void,
) -> NTSTATUS {
    if out.is_null() || !out.is_aligned() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: checked non-NULL and aligned; writable (caller).
    unsafe { out.write(core::ptr::null_mut()) };
    // SAFETY: `allocator` is NULL or live (caller); cloned (AddRef) before the borrow ends.
    let Some(allocator) =
        (unsafe { ComRef::<IAllocatorMXF>::from_raw(allocator) }).map(|a| a.to_owned())
    else {
        return STATUS_INVALID_PARAMETER;
    };
    let value = Forwarder {
        allocator,
        sink: SpinLock::new(None),
        state: AtomicU32::new(KSSTATE_STOP.0 as u32),
        calls: AtomicU64::new(0),
        events: AtomicU64::new(0),
        data_bytes: AtomicU64::new(0),
    };
    match value.into_com::<IMXF>() {
        Ok(mxf) => {
            // SAFETY: as above.
            unsafe { out.write(mxf.into_raw()) };
            STATUS_SUCCESS
        }
        Err(s) => s,
    }
}

/// What a forwarder has seen, for the client to compare with what it sent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwarderInfo {
    /// The last state set (`KSSTATE`).
    pub state: i32,
    /// 1 while an output is connected.
    pub connected: i32,
    /// `PutMessage` calls with a non-NULL event.
    pub calls: u64,
    /// Events counted by walking `pNextEvt`.
    pub events: u64,
    /// Sum of `cbEvent` over those events.
    pub data_bytes: u64,
}

/// Fills `*out` with what the forwarder `mxf` has seen. Returns 0, or -1 for NULL arguments.
///
/// # Safety
/// `mxf` is an `IMXF` returned by [`mxf_abi_create_forwarder`] and still alive; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxf_abi_forwarder_info(mxf: *mut c_void, out: *mut ForwarderInfo) -> i32 {
    if mxf.is_null() || out.is_null() {
        return -1;
    }
    // SAFETY: `mxf` is chain 0 of a live `ComObject<Forwarder>` (caller).
    let f = unsafe { ComObject::<Forwarder>::value_of::<0>(mxf) };
    let info = ForwarderInfo {
        state: f.state.load(Ordering::Relaxed) as i32,
        connected: i32::from(f.sink.lock().is_some()),
        calls: f.calls.load(Ordering::Relaxed),
        events: f.events.load(Ordering::Relaxed),
        data_bytes: f.data_bytes.load(Ordering::Relaxed),
    };
    // SAFETY: non-NULL, writable (caller).
    unsafe { out.write_unaligned(info) };
    0
}

/// `sizeof(ForwarderInfo)`, so the client can check its own declaration.
#[unsafe(no_mangle)]
pub extern "C" fn mxf_abi_forwarder_info_size() -> u32 {
    size_of::<ForwarderInfo>() as u32
}

const _: () = assert!(size_of_val(&EV) == size_of::<DMUS_KERNEL_EVENT>());
