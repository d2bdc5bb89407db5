//! The driver's own code on the host: the declaration driven as the kernel drives it (through
//! `mxf::driver::testing`), with and without the I/O port range the factory needs, and the
//! miniport on the driver's port-I/O device, which off the kernel sees an empty bus. The
//! miniport's behaviour on a working device is tested in user mode on the virtual MPU-401
//! (`tests/miniport_uart.rs`, `tests/port_conformance.rs`): the same code.

use super::*;
use core::ffi::c_void;
use mxf::com::{ComRef, IntoComObject};
use mxf::driver::testing::{Call, FakeKernel, FakePort};
use mxf::driver::{
    CM_PARTIAL_RESOURCE_DESCRIPTOR, CmResourceTypeInterrupt, CmResourceTypePort, Driver,
    ResourceEntries, Resources,
};
use mxf::miniport::Format;
use mxf::platform::fault;
use mxf::prelude::*;
use mxf::testing::Rig;

/// A resource list of the given entries.
#[com_object(IResourceList)]
struct FakeResources {
    entries: Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>,
}

impl ResourceEntries for FakeResources {
    fn resource_entries(&self) -> &[CM_PARTIAL_RESOURCE_DESCRIPTOR] {
        &self.entries
    }
}

fn descriptor(resource_type: i32, words: [u32; 3]) -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
    let mut d = CM_PARTIAL_RESOURCE_DESCRIPTOR {
        Type: resource_type as u8,
        ..Default::default()
    };
    d.u[..3].copy_from_slice(&words);
    d
}

/// An MPU-401's resources: IRQ 9, ports 0x330-0x331 (or only the IRQ).
fn mpu401_resources(with_ports: bool) -> IResourceList {
    let mut entries = vec![descriptor(CmResourceTypeInterrupt, [9, 9, 1])];
    if with_ports {
        entries.push(descriptor(CmResourceTypePort, [0x330, 0, 2]));
    }
    FakeResources { entries }
        .into_com()
        .expect("a resource list")
}

fn port_inits() -> Vec<Call> {
    FakeKernel::calls()
        .into_iter()
        .filter(|c| matches!(c, Call::PortInit { .. }))
        .collect()
}

#[test]
fn the_driver_starts_on_its_port_range_and_leaves_nothing_behind() {
    let list = mpu401_resources(true);
    let before = fault::live_blocks();
    let kernel = FakeKernel::load::<UartDriver>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(kernel.start_device(Some(&list)), STATUS_SUCCESS);
    assert_eq!(FakeKernel::registered(), ["Uart"]);
    assert_eq!(
        port_inits(),
        [Call::PortInit {
            status: STATUS_SUCCESS
        }],
        "the port's Init called the miniport's Init, which connected the device"
    );
    assert_eq!(FakeKernel::ports(), 1);
    kernel.remove_device();
    assert_eq!(
        fault::live_blocks(),
        before,
        "port, miniport, device, group"
    );
    kernel.unload();
}

#[test]
fn without_an_io_port_range_start_is_refused() {
    for list in [None, Some(mpu401_resources(false))] {
        let before = fault::live_blocks();
        let kernel = FakeKernel::load::<UartDriver>().expect("DriverEntry");
        assert_eq!(kernel.add_device(), STATUS_SUCCESS);
        assert_eq!(
            kernel.start_device(list.as_ref()),
            STATUS_DEVICE_CONFIGURATION_ERROR,
            "resource list: {}",
            list.is_some()
        );
        assert!(FakeKernel::registered().is_empty());
        assert!(port_inits().is_empty(), "the factory failed before Init");
        kernel.remove_device();
        assert_eq!(fault::live_blocks(), before);
        kernel.unload();
    }
}

#[test]
fn the_factory_takes_the_first_port_range() {
    let list = mpu401_resources(true);
    let resources = Resources::new(list.to_ref());
    let ports = IoPorts::from_resources(&resources, 0).expect("a range");
    assert_eq!((ports.start(), ports.len()), (0x330, 2));
    let device = PortIo::new(ports).expect("timers");
    assert_eq!(device.ports(), ports);
    // Off the kernel there is no port I/O: the bus reads 0xFF, a card that is not there.
    assert!(!IoPorts::available());
    assert_eq!(ports.read(1), 0xFF);
    assert!(!ports.write(0, 0x90));
    assert_eq!(device.write_data(&[0x90, 60, 100], 0), 0, "never ready");
    assert!(
        !device.write_command(MPU401_CMD_RESET),
        "never acknowledges"
    );
    assert_eq!(device.read_data(), None, "no input");
    // Offsets outside the range are not touched.
    assert_eq!(ports.read(2), 0xFF);
    assert!(!ports.write(2, 0));
}

/// The port's master clock, stopped at 0.
#[com_object(IMasterClock)]
struct Stopped;

impl IMasterClock_Impl for Stopped {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        // SAFETY: the caller's out-pointer.
        unsafe { time.write(0) };
        STATUS_SUCCESS
    }
}

#[test]
fn on_an_absent_card_streams_open_but_do_not_run() -> Result<()> {
    let before = fault::live_blocks();
    {
        let list = mpu401_resources(true);
        let ports = IoPorts::from_resources(&Resources::new(list.to_ref()), 0).expect("ports");
        let miniport = create_uart_miniport(try_box(PortIo::new(ports)?)?)?;
        let port = FakePort::create()?;
        let mut group = None;
        // SAFETY: live interfaces, a valid out-pointer.
        let init = unsafe { miniport.Init(None, list.as_raw(), Some(port.to_ref()), &mut group) };
        assert_eq!(init, STATUS_SUCCESS);
        assert!(group.is_some(), "the miniport's service group");
        let rig = Rig::new()?;
        let clock: IMasterClock = Stopped.into_com()?;
        let mut data_format = Format::Midi.header().format();
        let (mut stream, mut stream_group, mut prefetch) = (None, None, 1);
        // SAFETY: live miniport, allocator and clock; valid out-pointers and format.
        let status = unsafe {
            miniport.NewStream(
                &mut stream,
                None,
                NonPagedPool,
                0,
                DMUS_STREAM_MIDI_RENDER,
                &mut data_format,
                &mut stream_group,
                Some(rig.allocator().to_ref()),
                Some(clock.to_ref()),
                &mut prefetch,
            )
        };
        assert_eq!(status, STATUS_SUCCESS);
        assert_eq!(prefetch, 0);
        let stream = stream.expect("a render stream");
        // The reset was not acknowledged: the device is not in UART mode.
        assert_eq!(stream.SetState(KSSTATE_RUN), STATUS_INVALID_DEVICE_STATE);
        assert_eq!(stream.SetState(KSSTATE_PAUSE), STATUS_SUCCESS);
        assert_eq!(stream.SetState(KSSTATE_STOP), STATUS_SUCCESS);
        drop(stream);
        drop(group);
    }
    assert_eq!(fault::live_blocks(), before);
    Ok(())
}

#[test]
fn the_inf_installs_the_uart_for_an_mpu401() {
    let subdevices: Vec<_> = UartDriver::SUBDEVICES
        .iter()
        .map(|s| s.inf_subdevice())
        .collect();
    let mut inf = String::new();
    mxf::miniport::inf::write_inf(&mut inf, &INF, &subdevices).expect("an INF");
    for category in ["AUDIO", "RENDER", "CAPTURE"] {
        assert!(
            inf.contains(&format!(
                "AddInterface=%KSCATEGORY_{category}%,%KSNAME_Uart%"
            )),
            "{category}: {inf}"
        );
    }
    assert!(inf.contains("ServiceBinary=%12%\\uart.sys"), "{inf}");
    assert!(inf.contains("=Device,*PNPB006"), "{inf}");
}

/// An MPU-401 at the register level, on the host's port bus at 0x330: the status register
/// (output always ready; input-empty while nothing is waiting), the data port (input bytes in
/// order; writes recorded), commands acknowledged with `0xFE` (a reset in UART mode is not: it
/// only leaves UART mode).
#[derive(Default)]
struct Card {
    input: std::collections::VecDeque<u8>,
    written: Vec<u8>,
    uart: bool,
    /// The output-busy bit stays set: the card takes no byte.
    busy: bool,
}

struct CardBus(std::cell::RefCell<Card>);

impl mxf::driver::testing::PortBus for CardBus {
    fn read(&self, port: usize) -> u8 {
        let mut card = self.0.borrow_mut();
        match port {
            0x330 => card.input.pop_front().unwrap_or(0xFF),
            0x331 => {
                let empty = if card.input.is_empty() {
                    device::MPU401_STATUS_INPUT_EMPTY
                } else {
                    0
                };
                let busy = if card.busy {
                    device::MPU401_STATUS_OUTPUT_BUSY
                } else {
                    0
                };
                empty | busy
            }
            _ => 0xFF,
        }
    }
    fn write(&self, port: usize, value: u8) {
        let mut card = self.0.borrow_mut();
        match (port, value) {
            (0x330, b) => card.written.push(b),
            (0x331, MPU401_CMD_RESET) if card.uart => card.uart = false,
            (0x331, MPU401_CMD_RESET) => card.input.push_back(device::MPU401_ACK),
            (0x331, MPU401_CMD_UART) => {
                card.uart = true;
                card.input.push_back(device::MPU401_ACK);
            }
            _ => {}
        }
    }
}

/// The master clock, stopped at 4242.
#[com_object(IMasterClock)]
struct At4242;

impl IMasterClock_Impl for At4242 {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        // SAFETY: the caller's out-pointer.
        unsafe { time.write(4242) };
        STATUS_SUCCESS
    }
}

fn open_stream(
    miniport: &IMiniportDMus,
    rig: &Rig,
    clock: &IMasterClock,
    kind: DMUS_STREAM_TYPE,
) -> (NTSTATUS, Option<IMXF>) {
    let mut data_format = Format::Midi.header().format();
    let (mut stream, mut stream_group, mut prefetch) = (None, None, 1);
    // SAFETY: live miniport, allocator and clock; valid out-pointers and format.
    let status = unsafe {
        miniport.NewStream(
            &mut stream,
            None,
            NonPagedPool,
            u32::from(kind == DMUS_STREAM_MIDI_CAPTURE) * 4,
            kind,
            &mut data_format,
            &mut stream_group,
            Some(rig.allocator().to_ref()),
            Some(clock.to_ref()),
            &mut prefetch,
        )
    };
    (status, stream)
}

#[test]
fn the_interrupt_carries_input_to_the_capture_stream_and_is_disconnected_at_remove() -> Result<()> {
    let before = fault::live_blocks();
    let bus = std::rc::Rc::new(CardBus(Default::default()));
    mxf::driver::testing::attach_port_bus(bus.clone());
    {
        let list = mpu401_resources(true);
        let kernel = FakeKernel::load::<UartDriver>().expect("DriverEntry");
        assert_eq!(kernel.add_device(), STATUS_SUCCESS);
        assert_eq!(kernel.start_device(Some(&list)), STATUS_SUCCESS);
        let calls = FakeKernel::calls();
        for call in [
            Call::NewInterruptSync {
                index: 0,
                mode: mxf::driver::InterruptSyncModeNormal,
            },
            Call::NewServiceGroup,
            Call::InterruptConnect,
        ] {
            assert!(calls.contains(&call), "{call:?} in {calls:?}");
        }
        let interrupts = FakeKernel::interrupts();
        let [interrupt] = interrupts.as_slice() else {
            panic!("one interrupt object: {}", interrupts.len());
        };
        let interrupt = interrupt.value();
        assert!(interrupt.connected());
        assert_eq!(interrupt.routines(), 1);
        // No input waiting: the interrupt is not this card's (a shared line asks the next).
        assert_eq!(interrupt.fire(), Some(STATUS_UNSUCCESSFUL));

        let port = FakeKernel::port(0).expect("the port");
        let miniport = port.value().miniport().expect("Init kept the miniport");
        let rig = Rig::new()?;
        let clock: IMasterClock = At4242.into_com()?;
        let (status, capture) = open_stream(&miniport, &rig, &clock, DMUS_STREAM_MIDI_CAPTURE);
        assert_eq!(status, STATUS_SUCCESS);
        let capture = capture.expect("a capture stream");
        assert!(
            bus.0.borrow().uart,
            "the first stream put the card in UART mode"
        );
        assert!(
            bus.0.borrow().input.is_empty(),
            "both acknowledgements read"
        );
        rig.connect(&capture)?;
        assert_eq!(capture.SetState(KSSTATE_RUN), STATUS_SUCCESS);

        bus.0.borrow_mut().input.extend([0x90, 60, 100]);
        assert_eq!(interrupt.fire(), Some(STATUS_SUCCESS), "the card had input");
        assert!(
            bus.0.borrow().input.is_empty(),
            "the ISR drained the data port"
        );
        // SAFETY: NULL asks the capture stream to deliver what the FIFO holds.
        let pulled = unsafe { capture.PutMessage(core::ptr::null_mut()) };
        assert_eq!(pulled, STATUS_SUCCESS);
        let received = rig.take_received();
        let bytes: Vec<u8> = received.iter().flat_map(|e| e.data().to_vec()).collect();
        assert_eq!(bytes, [0x90, 60, 100], "{received:?}");
        assert!(
            received
                .iter()
                .all(|e| e.time() == 4242 && e.is_incomplete())
        );

        // Render goes out on the data port (synchronized with the interrupt).
        let (status, render) = open_stream(&miniport, &rig, &clock, DMUS_STREAM_MIDI_RENDER);
        assert_eq!(status, STATUS_SUCCESS);
        let render = render.expect("a render stream");
        assert_eq!(render.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        rig.send(&render, &[mxf::testing::note_on(0, 64, 90)])?;
        assert_eq!(bus.0.borrow().written, [0x90, 64, 90]);

        drop((render, capture, miniport, port));
        assert!(
            interrupt.connected(),
            "connected while the port keeps the miniport"
        );
        kernel.remove_device();
        assert!(FakeKernel::calls().contains(&Call::InterruptDisconnect));
        kernel.unload();
    }
    mxf::driver::testing::detach_port_bus();
    assert_eq!(fault::live_blocks(), before, "nothing leaked");
    Ok(())
}

#[test]
fn without_an_interrupt_the_driver_renders_but_refuses_capture() -> Result<()> {
    let before = fault::live_blocks();
    let bus = std::rc::Rc::new(CardBus(Default::default()));
    mxf::driver::testing::attach_port_bus(bus.clone());
    {
        let list: IResourceList = FakeResources {
            entries: vec![descriptor(CmResourceTypePort, [0x330, 0, 2])],
        }
        .into_com()?;
        let kernel = FakeKernel::load::<UartDriver>().expect("DriverEntry");
        assert_eq!(kernel.add_device(), STATUS_SUCCESS);
        assert_eq!(kernel.start_device(Some(&list)), STATUS_SUCCESS);
        assert!(FakeKernel::interrupts().is_empty());
        let miniport = FakeKernel::port(0)
            .and_then(|p| p.value().miniport())
            .expect("the miniport");
        let rig = Rig::new()?;
        let clock: IMasterClock = At4242.into_com()?;
        let (status, capture) = open_stream(&miniport, &rig, &clock, DMUS_STREAM_MIDI_CAPTURE);
        assert_eq!(status, STATUS_INVALID_DEVICE_REQUEST);
        assert!(capture.is_none());
        let (status, render) = open_stream(&miniport, &rig, &clock, DMUS_STREAM_MIDI_RENDER);
        assert_eq!(status, STATUS_SUCCESS);
        let render = render.expect("a render stream");
        assert_eq!(render.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        rig.send(&render, &[mxf::testing::note_on(1, 60, 1)])?;
        assert_eq!(bus.0.borrow().written, [0x91, 60, 1]);
        drop((render, miniport));
        kernel.remove_device();
        kernel.unload();
    }
    mxf::driver::testing::detach_port_bus();
    assert_eq!(fault::live_blocks(), before);
    Ok(())
}

#[test]
fn a_refused_write_is_retried_from_the_stream_timer_which_holds_the_stream() -> Result<()> {
    let before = fault::live_blocks();
    let bus = std::rc::Rc::new(CardBus(Default::default()));
    mxf::driver::testing::attach_port_bus(bus.clone());
    {
        let list = mpu401_resources(true);
        let ports = IoPorts::from_resources(&Resources::new(list.to_ref()), 0).expect("ports");
        let device = std::sync::Arc::new(PortIo::new(ports)?);
        let miniport = create_uart_miniport(try_box(device.clone())?)?;
        let port = FakePort::create()?;
        let mut group = None;
        // SAFETY: live interfaces, a valid out-pointer.
        let init = unsafe { miniport.Init(None, list.as_raw(), Some(port.to_ref()), &mut group) };
        assert_eq!(init, STATUS_SUCCESS);
        let miniport: IMiniportDMus = miniport.interface().cast::<IMiniportDMus>()?;
        let rig = Rig::new()?;
        let clock: IMasterClock = At4242.into_com()?;
        let (status, render) = open_stream(&miniport, &rig, &clock, DMUS_STREAM_MIDI_RENDER);
        assert_eq!(status, STATUS_SUCCESS);
        let render = render.expect("a render stream");
        assert_eq!(render.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        let refs = |s: &IMXF| {
            // SAFETY: a live interface; the AddRef is undone at once.
            unsafe {
                s.AddRef();
                s.Release()
            }
        };
        let base = refs(&render);
        let armed = || device.timers().iter().filter(|t| t.is_armed()).count();

        // The card is busy: nothing written, the stream's timer armed 1 ms ahead (relative),
        // holding a reference to the stream.
        bus.0.borrow_mut().busy = true;
        rig.send(&render, &[mxf::testing::note_on(0, 64, 90)])?;
        assert!(bus.0.borrow().written.is_empty());
        assert_eq!(armed(), 1);
        let timer = device
            .timers()
            .iter()
            .find(|t| t.is_armed())
            .expect("armed");
        assert_eq!(timer.due(), Some(-RETRY_DELAY));
        assert_eq!(refs(&render), base + 1, "the timer holds the stream");

        // The card is ready again; the timer fires: its DPC asks the stream for service, which
        // writes the note, and releases the stream.
        bus.0.borrow_mut().busy = false;
        assert!(timer.fire_now());
        assert_eq!(bus.0.borrow().written, [0x90, 64, 90]);
        assert_eq!((armed(), refs(&render)), (0, base));

        // Busy again: armed; STOP cancels the timer (still queued) and the reference goes.
        bus.0.borrow_mut().busy = true;
        rig.send(&render, &[mxf::testing::note_off(0, 64, 0)])?;
        assert_eq!((armed(), refs(&render)), (1, base + 1));
        assert_eq!(render.SetState(KSSTATE_STOP), STATUS_SUCCESS);
        assert_eq!((armed(), refs(&render)), (0, base));

        // Armed, expired, DPC queued when the stream stops: the cancel is too late, the DPC
        // keeps the stream alive, serves it (in STOP: nothing written) and releases it.
        assert_eq!(render.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        rig.send(&render, &[mxf::testing::note_on(0, 65, 1)])?;
        let timer = device
            .timers()
            .iter()
            .find(|t| t.is_armed())
            .expect("armed");
        assert!(timer.expire());
        assert_eq!(render.SetState(KSSTATE_STOP), STATUS_SUCCESS);
        assert_eq!(refs(&render), base + 1, "the queued DPC owns a reference");
        assert!(timer.run_dpc());
        assert_eq!((armed(), refs(&render)), (0, base));
        drop((render, miniport, group, port));
    }
    mxf::driver::testing::detach_port_bus();
    assert_eq!(fault::live_blocks(), before, "nothing leaked");
    Ok(())
}

/// A host's MPU-401 behind the resource list (what the Wine tier's PortCls double provides):
/// records the commands (the first stream's reset and UART mode), takes every byte written, hands out the bytes of `input`, keeps the
/// interrupt line it is given.
#[com_object(IResourceList, host_device::IMpu401Host)]
struct HostMpu {
    commands: std::sync::Mutex<Vec<u8>>,
    written: std::sync::Mutex<Vec<u8>>,
    input: std::sync::Mutex<std::collections::VecDeque<u8>>,
    line: std::sync::Mutex<Option<host_device::IMpu401Interrupt>>,
    disconnects: std::sync::atomic::AtomicU32,
}

impl IResourceList_Impl for HostMpu {
    fn NumberOfEntries(&self) -> u32 {
        0
    }
    fn NumberOfEntriesOfType(&self, _resource_type: i32) -> u32 {
        0
    }
    fn FindTranslatedEntry(&self, _t: i32, _i: u32) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        core::ptr::null_mut()
    }
    fn FindUntranslatedEntry(&self, _t: i32, _i: u32) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        core::ptr::null_mut()
    }
    unsafe fn AddEntry(
        &self,
        _translated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
        _untranslated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn AddEntryFromParent(
        &self,
        _parent: Option<ComRef<'_, IResourceList>>,
        _resource_type: i32,
        _index: u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn TranslatedList(&self) -> *mut c_void {
        core::ptr::null_mut()
    }
    fn UntranslatedList(&self) -> *mut c_void {
        core::ptr::null_mut()
    }
}

impl host_device::IMpu401Host_Impl for HostMpu {
    unsafe fn WriteData(&self, bytes: *const u8, length: u32, _now: i64) -> u32 {
        // SAFETY: the caller's bytes.
        let bytes = unsafe { core::slice::from_raw_parts(bytes, length as usize) };
        self.written.lock().unwrap().extend_from_slice(bytes);
        length
    }
    fn WriteCommand(&self, command: u8) -> u8 {
        self.commands.lock().unwrap().push(command);
        1
    }
    unsafe fn ReadData(&self, byte: *mut u8) -> u8 {
        match self.input.lock().unwrap().pop_front() {
            Some(b) => {
                // SAFETY: the caller's out-pointer.
                unsafe { byte.write(b) };
                1
            }
            None => 0,
        }
    }
    fn ConnectInterrupt(&self, interrupt: Option<ComRef<'_, host_device::IMpu401Interrupt>>) -> u8 {
        *self.line.lock().unwrap() = interrupt.map(ComRef::to_owned);
        1
    }
    fn DisconnectInterrupt(&self) {
        self.disconnects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.line.lock().unwrap().take();
    }
}

#[test]
fn a_device_the_host_provides_is_taken_before_the_port_range_and_released() {
    let before = fault::live_blocks();
    let host = mxf::com::ObjectHandle::<HostMpu, IResourceList>::create(HostMpu {
        commands: Default::default(),
        written: Default::default(),
        input: Default::default(),
        line: Default::default(),
        disconnects: Default::default(),
    })
    .expect("a host device");
    let list: &IResourceList = host.interface();
    let kernel = FakeKernel::load::<UartDriver>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(
        kernel.start_device(Some(list)),
        STATUS_SUCCESS,
        "a host device needs no port range"
    );
    assert_eq!(FakeKernel::registered(), ["Uart"]);
    let value = host.value();
    // The miniport's Init connected its interrupt to the host's device (no port range used).
    let line = value
        .line
        .lock()
        .unwrap()
        .clone()
        .expect("the interrupt connected");
    // Input on the wire: the interrupt routine reads all of it.
    value.input.lock().unwrap().extend([0x90, 60, 100]);
    line.Interrupt(0);
    assert!(
        value.input.lock().unwrap().is_empty(),
        "the routine read the data port"
    );
    drop(line);
    kernel.remove_device();
    assert_eq!(
        value.disconnects.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the miniport disconnected when it went"
    );
    assert!(value.line.lock().unwrap().is_none());
    kernel.unload();
    drop(host);
    assert_eq!(fault::live_blocks(), before);
}

/// A loopback MPU-401 the host provides behind the resource list: every byte written to the
/// data port comes back as input and raises the interrupt at the write's time; commands are
/// acknowledged.
#[com_object(IResourceList, host_device::IMpu401Host)]
struct Loopback {
    input: std::sync::Mutex<std::collections::VecDeque<u8>>,
    written: std::sync::Mutex<Vec<u8>>,
    line: std::sync::Mutex<Option<host_device::IMpu401Interrupt>>,
}

impl IResourceList_Impl for Loopback {
    fn NumberOfEntries(&self) -> u32 {
        0
    }
    fn NumberOfEntriesOfType(&self, _resource_type: i32) -> u32 {
        0
    }
    fn FindTranslatedEntry(&self, _: i32, _: u32) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        core::ptr::null_mut()
    }
    fn FindUntranslatedEntry(&self, _: i32, _: u32) -> *mut CM_PARTIAL_RESOURCE_DESCRIPTOR {
        core::ptr::null_mut()
    }
    unsafe fn AddEntry(
        &self,
        _translated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
        _untranslated: *mut CM_PARTIAL_RESOURCE_DESCRIPTOR,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn AddEntryFromParent(
        &self,
        _parent: Option<ComRef<'_, IResourceList>>,
        _resource_type: i32,
        _index: u32,
    ) -> NTSTATUS {
        STATUS_NOT_IMPLEMENTED
    }
    fn TranslatedList(&self) -> *mut c_void {
        core::ptr::null_mut()
    }
    fn UntranslatedList(&self) -> *mut c_void {
        core::ptr::null_mut()
    }
}

impl host_device::IMpu401Host_Impl for Loopback {
    unsafe fn WriteData(&self, bytes: *const u8, length: u32, now: i64) -> u32 {
        // SAFETY: the driver passes `length` readable bytes.
        let bytes = unsafe { core::slice::from_raw_parts(bytes, length as usize) };
        self.written.lock().unwrap().extend_from_slice(bytes);
        self.input.lock().unwrap().extend(bytes.iter().copied());
        let line = self.line.lock().unwrap().clone();
        if let Some(line) = line {
            line.Interrupt(now);
        }
        length
    }
    fn WriteCommand(&self, _command: u8) -> u8 {
        1
    }
    unsafe fn ReadData(&self, byte: *mut u8) -> u8 {
        match self.input.lock().unwrap().pop_front() {
            Some(b) => {
                // SAFETY: the driver's out-pointer.
                unsafe { byte.write(b) };
                1
            }
            None => 0,
        }
    }
    fn ConnectInterrupt(&self, interrupt: Option<ComRef<'_, host_device::IMpu401Interrupt>>) -> u8 {
        *self.line.lock().unwrap() = interrupt.map(ComRef::to_owned);
        1
    }
    fn DisconnectInterrupt(&self) {
        let old = self.line.lock().unwrap().take();
        drop(old);
    }
}

#[test]
fn a_loopback_device_from_the_host_carries_a_rendered_note_back_to_the_capture_stream() -> Result<()>
{
    let before = fault::live_blocks();
    {
        let host = mxf::com::ObjectHandle::<Loopback, IResourceList>::create(Loopback {
            input: Default::default(),
            written: Default::default(),
            line: Default::default(),
        })?;
        let kernel = FakeKernel::load::<UartDriver>().expect("DriverEntry");
        assert_eq!(kernel.add_device(), STATUS_SUCCESS);
        assert_eq!(kernel.start_device(Some(host.interface())), STATUS_SUCCESS);
        let miniport = FakeKernel::port(0)
            .and_then(|p| p.value().miniport())
            .expect("the miniport");
        let rig = Rig::new()?;
        let clock: IMasterClock = At4242.into_com()?;
        let (status, capture) = open_stream(&miniport, &rig, &clock, DMUS_STREAM_MIDI_CAPTURE);
        assert_eq!(status, STATUS_SUCCESS);
        let capture = capture.expect("a capture stream");
        rig.connect(&capture)?;
        assert_eq!(capture.SetState(KSSTATE_RUN), STATUS_SUCCESS);
        let (status, render) = open_stream(&miniport, &rig, &clock, DMUS_STREAM_MIDI_RENDER);
        assert_eq!(status, STATUS_SUCCESS);
        let render = render.expect("a render stream");
        assert_eq!(render.SetState(KSSTATE_RUN), STATUS_SUCCESS);

        rig.send(&render, &[mxf::testing::note_on(2, 67, 80)])?;
        assert_eq!(*host.value().written.lock().unwrap(), [0x92, 67, 80]);
        assert!(
            host.value().input.lock().unwrap().is_empty(),
            "the ISR read the echo"
        );
        // SAFETY: NULL asks the capture stream to deliver what the FIFO holds.
        let pulled = unsafe { capture.PutMessage(core::ptr::null_mut()) };
        assert_eq!(pulled, STATUS_SUCCESS);
        let received = rig.take_received();
        let bytes: Vec<u8> = received.iter().flat_map(|e| e.data().to_vec()).collect();
        assert_eq!(bytes, [0x92, 67, 80], "{received:?}");
        assert!(
            received
                .iter()
                .all(|e| e.time() == 4242 && e.is_incomplete())
        );

        drop((render, capture, miniport));
        kernel.remove_device();
        assert!(host.value().line.lock().unwrap().is_none(), "disconnected");
        kernel.unload();
    }
    assert_eq!(fault::live_blocks(), before, "nothing leaked");
    Ok(())
}
