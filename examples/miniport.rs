//! The sample DMus miniport (`mxf_suite::uart`) driven exactly as the DMus port drives it:
//! through its vtables, with a per-pin allocator, a port object and a master clock.
//!
//! Run with `cargo run --example miniport`.
//!
//! 1. `Init`: the miniport creates its service group and registers it with the port.
//! 2. `NewStream` for a render and a capture pin.
//! 3. Render: a chain of events (a SysEx in an allocator buffer and a package among them) goes
//!    to the virtual MPU-401; every event returns to the allocator once written.
//! 4. A busy device: a partial write, retried 1 ms later from the stream's timer.
//! 5. Capture: bytes on the wire raise the interrupt; the ISR fills the FIFO and notifies the
//!    port; the port's DPC calls `PutMessage(NULL)`; the stream sends raw INCOMPLETE events to
//!    the capture sink.
//! 6. Teardown: every event is back in its allocator.

use core::ffi::c_void;
use core::ptr::null_mut;
use mxf::abi::NonPagedPool;
use mxf::allocator::{AllocatorConfig, AllocatorHandle};
use mxf::com::IntoComObject;
use mxf::prelude::*;
use mxf::testing::{Ev, RecordLog, Recorder, chain, package};
use mxf_suite::uart::{RETRY_DELAY, VirtualMpu401, create_uart_miniport};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What the port saw of the miniport.
#[derive(Default)]
struct PortLog {
    notifies: AtomicUsize,
    registered: Mutex<Option<IServiceGroup>>,
}

/// A tiny DMus port: records `Notify` calls and forwards them to the group (as
/// `IPortDMus::Notify` does); keeps the group of `RegisterServiceGroup`.
#[com_object(IPortDMus)]
struct ExamplePort {
    log: Arc<PortLog>,
}

impl IPort_Impl for ExamplePort {
    unsafe fn Init(
        &self,
        _device_object: *mut c_void,
        _irp: *mut c_void,
        _unknown_miniport: Option<ComRef<'_, IUnknown>>,
        _unknown_adapter: Option<ComRef<'_, IUnknown>>,
        _resource_list: *mut c_void,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    unsafe fn GetDeviceProperty(
        &self,
        _property: i32,
        _buffer_length: u32,
        _buffer: *mut c_void,
        _result_length: *mut u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    unsafe fn NewRegistryKey(
        &self,
        _out_key: *mut *mut c_void,
        _outer: Option<ComRef<'_, IUnknown>>,
        _key_type: u32,
        _desired_access: u32,
        _object_attributes: *mut c_void,
        _create_options: u32,
        _disposition: *mut u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
}

impl IPortDMus_Impl for ExamplePort {
    fn Notify(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        self.log.notifies.fetch_add(1, Ordering::SeqCst);
        let target = match group {
            Some(g) => Some(g.to_owned()),
            None => self
                .log
                .registered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        };
        if let Some(g) = target {
            g.RequestService();
        }
    }

    fn RegisterServiceGroup(&self, group: Option<ComRef<'_, IServiceGroup>>) {
        *self
            .log
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = group.map(|g| g.to_owned());
    }
}

/// A virtual master clock: 100 ns units, set by this program.
#[com_object(IMasterClock)]
struct ExampleClock {
    now: Arc<AtomicI64>,
}

impl IMasterClock_Impl for ExampleClock {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        if time.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { time.write(self.now.load(Ordering::SeqCst)) };
        STATUS_SUCCESS
    }
}

/// The capture pin's service-group member: its service request is the port's capture DPC,
/// which calls `PutMessage(NULL)` on the stream.
#[com_object(IServiceSink)]
struct CapturePin {
    stream: IMXF,
}

impl IServiceSink_Impl for CapturePin {
    fn RequestService(&self) {
        // SAFETY: live stream; NULL asks it to push its input.
        let status = unsafe { self.stream.PutMessage(null_mut()) };
        println!("   port DPC: capture PutMessage(NULL) -> {status:?}");
    }
}

/// The result of one `NewStream` call.
struct Stream {
    status: NTSTATUS,
    mxf: Option<IMXF>,
    group: Option<IServiceGroup>,
    prefetch: u64,
}

/// `NewStream` with the arguments the port passes (`domain.md` §4.5): the pin, and the bare
/// DirectMusic format a client sends (`kernel.md` §4.2).
fn new_stream(
    miniport: &IMiniportDMus,
    ty: DMUS_STREAM_TYPE,
    pin: u32,
    alloc: &IAllocatorMXF,
    clock: &IMasterClock,
) -> Stream {
    let (mut mxf, mut group, mut prefetch) = (None, None, 0u64);
    let mut format = KSDATAFORMAT {
        FormatSize: size_of::<KSDATAFORMAT>() as u32,
        Flags: 0,
        SampleSize: 0,
        Reserved: 0,
        MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
        SubFormat: KSDATAFORMAT_SUBTYPE_DIRECTMUSIC,
        Specifier: KSDATAFORMAT_SPECIFIER_NONE,
    };
    // SAFETY: live miniport, allocator and clock; valid out-pointers.
    let status = unsafe {
        miniport.NewStream(
            &mut mxf,
            None,
            NonPagedPool,
            pin,
            ty,
            &mut format,
            &mut group,
            Some(alloc.to_ref()),
            Some(clock.to_ref()),
            &mut prefetch,
        )
    };
    Stream {
        status,
        mxf,
        group,
        prefetch,
    }
}

fn hex(bytes: impl IntoIterator<Item = u8>) -> String {
    bytes
        .into_iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints what the device received since the last call, grouped by write time.
fn show_output(mpu: &VirtualMpu401) {
    let out = mpu.take_output();
    if out.is_empty() {
        println!("   the MPU-401 received nothing");
        return;
    }
    println!("   the MPU-401 received {} bytes:", out.len());
    let mut start = 0;
    while start < out.len() {
        let t = out[start].0;
        let end = out[start..]
            .iter()
            .position(|&(u, _)| u != t)
            .map_or(out.len(), |n| start + n);
        for line in out[start..end].chunks(16) {
            println!("     t={t:<7} {}", hex(line.iter().map(|&(_, b)| b)));
        }
        start = end;
    }
}

fn show_captured(log: &RecordLog) {
    let records = log.take();
    println!(
        "   the capture sink received {} events in {} PutMessage call(s):",
        records.len(),
        log.calls()
    );
    for r in records {
        println!("     {r}");
    }
}

fn outstanding(what: &str, alloc: &AllocatorHandle) {
    let s = alloc.stats();
    println!(
        "   {what} allocator: outstanding events {}, buffers {}",
        s.outstanding_events, s.outstanding_buffers
    );
}

fn set_states(stream: &IMXF, states: &[KSSTATE]) -> Vec<NTSTATUS> {
    let set = |state| stream.SetState(state);
    states.iter().map(|&s| set(s)).collect()
}

fn main() -> Result<()> {
    println!("mxf sample miniport: a DMusUART-like device on a virtual MPU-401\n");
    let mpu = VirtualMpu401::new();
    let now = Arc::new(AtomicI64::new(0));
    let clock: IMasterClock = ExampleClock { now: now.clone() }.into_com()?;
    let port_log = Arc::new(PortLog::default());
    let port: IPortDMus = ExamplePort {
        log: port_log.clone(),
    }
    .into_com()?;
    // One allocator per pin, as the port creates them.
    let render_alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;
    let capture_alloc = AllocatorHandle::new(AllocatorConfig::default(), None)?;

    println!("1. Init");
    let miniport = create_uart_miniport(mpu.clone())?;
    let mut group = None;
    // SAFETY: live miniport and port; `group` is a valid out-pointer.
    let status = unsafe { miniport.Init(None, null_mut(), Some(port.to_ref()), &mut group) };
    let group = group.ok_or(status)?;
    let registered = port_log
        .registered
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|g| g.as_raw() == group.as_raw());
    println!(
        "   Init -> {status:?}; the miniport's service group was registered early: {registered}"
    );

    println!("\n2. NewStream");
    // DMusUART's pins (`kernel.md` §4.7): 1 renders DirectMusic, 4 captures.
    let r = new_stream(&miniport, DMUS_STREAM_MIDI_RENDER, 1, &render_alloc, &clock);
    println!(
        "   render pin:  {:?}, SchedulePreFetch = {}, service group: {}",
        r.status,
        r.prefetch,
        if r.group.is_some() { "yes" } else { "NULL" }
    );
    let render = r.mxf.ok_or(r.status)?;
    let c = new_stream(
        &miniport,
        DMUS_STREAM_MIDI_CAPTURE,
        4,
        &capture_alloc,
        &clock,
    );
    let same = c
        .group
        .as_ref()
        .is_some_and(|g| g.as_raw() == group.as_raw());
    println!(
        "   capture pin: {:?}, SchedulePreFetch = {}, service group: the miniport's: {same}",
        c.status, c.prefetch
    );
    let capture = c.mxf.ok_or(c.status)?;
    let c2 = new_stream(
        &miniport,
        DMUS_STREAM_MIDI_CAPTURE,
        4,
        &capture_alloc,
        &clock,
    );
    println!("   a second capture pin: {:?}", c2.status);
    println!("   MPU-401 in UART mode: {}", mpu.is_uart_mode());

    // The port wires the capture graph: stream -> capture sink, pin in the stream's group.
    let (sink, log) = Recorder::create(&capture_alloc)?;
    let connected = capture.ConnectOutput(Some(sink.to_ref()));
    let pin: IServiceSink = CapturePin {
        stream: capture.clone(),
    }
    .into_com()?;
    let stream_group = c.group.ok_or(STATUS_UNSUCCESSFUL)?;
    let added = stream_group.AddMember(Some(pin.to_ref()));
    println!(
        "   capture ConnectOutput(capture sink) -> {connected:?}; pin added to the group -> {added:?}"
    );
    let up = [KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN];
    println!(
        "   render  SetState ACQUIRE, PAUSE, RUN -> {:?}",
        set_states(&render, &up)
    );
    println!(
        "   capture SetState ACQUIRE, PAUSE, RUN -> {:?}",
        set_states(&capture, &up)
    );

    println!("\n3. Render");
    now.store(10_000_000, Ordering::SeqCst);
    let a = &*render_alloc;
    // Roland GS reset: longer than sizeof(PBYTE), so it lives in an allocator buffer.
    let sysex = [
        0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41, 0xF7,
    ];
    let events = chain(
        a,
        &[
            Ev::new(&[0xC0, 0x00]),
            Ev::new(&[0x90, 0x3C, 0x64]),
            Ev::new(&sysex),
            package([Ev::new(&[0xB0, 0x40, 0x7F]), Ev::new(&[0xB0, 0x40, 0x00])]),
            Ev::new(&[0x80, 0x3C, 0x00]),
        ],
    )?;
    println!(
        "   PutMessage(program change, note-on, SysEx of {} bytes in a buffer, package of 2 pedal events, note-off)",
        sysex.len()
    );
    // SAFETY: live stream; a chain of this pin's allocator's events, handed over.
    let status = unsafe { render.PutMessage(events.into_raw()) };
    println!("   -> {status:?}");
    show_output(&mpu);
    outstanding("render", &render_alloc);

    println!("\n4. A busy device (2 bytes per write)");
    mpu.set_write_budget(Some(2));
    now.store(20_000_000, Ordering::SeqCst);
    let head = chain(a, &[Ev::new(&[0x90, 0x40, 0x7F])])?.into_raw();
    // SAFETY: live stream; this allocator's events, handed over.
    let status = unsafe { render.PutMessage(head) };
    println!("   PutMessage(90 40 7F) -> {status:?}");
    show_output(&mpu);
    outstanding("render", &render_alloc);
    if let Some(due) = mpu.next_timer() {
        println!("   retry timer armed for t={due} (now + {RETRY_DELAY})");
        now.store(due, Ordering::SeqCst);
        mpu.run_timers(due);
        println!("   run_timers(t={due}):");
        show_output(&mpu);
    }
    outstanding("render", &render_alloc);
    mpu.set_write_budget(None);

    println!("\n5. Capture");
    let input = [0x90, 0x3C, 0x64, 0xF8, 0x3E, 0x64, 0xF0, 0x43, 0x10, 0xF7];
    now.store(30_000_000, Ordering::SeqCst);
    println!(
        "   {} bytes arrive on the wire at t=30000000: {}",
        input.len(),
        hex(input)
    );
    mpu.receive(&input, 30_000_000);
    println!(
        "   Port.Notify calls so far: {}",
        port_log.notifies.load(Ordering::SeqCst)
    );
    show_captured(&log);
    outstanding("capture", &capture_alloc);

    println!("\n6. Teardown");
    let down = [KSSTATE_PAUSE, KSSTATE_ACQUIRE, KSSTATE_STOP];
    println!(
        "   SetState PAUSE, ACQUIRE, STOP -> render {:?}",
        set_states(&render, &down)
    );
    println!(
        "                                  capture {:?}",
        set_states(&capture, &down)
    );
    stream_group.RemoveMember(Some(pin.to_ref()));
    capture.DisconnectOutput(Some(sink.to_ref()));
    drop((
        pin,
        stream_group,
        capture,
        render,
        sink,
        group,
        miniport,
        port,
        clock,
    ));
    outstanding("render", &render_alloc);
    outstanding("capture", &capture_alloc);
    println!("   pending timers: {}", mpu.next_timer().map_or(0, |_| 1));
    Ok(())
}
