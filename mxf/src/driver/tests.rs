//! The adapter glue driven as the kernel drives it (through [`FakeKernel`]): what each PortCls
//! call receives, in which order, what a failure at each step returns and reports, and that
//! removal and unload leave no pool block behind.

extern crate std;

use super::testing::{Call, Failing, FakeKernel};
use super::*;
use crate::abi::*;
use crate::com::{Interface, IntoComObject};
use crate::interfaces::*;
use crate::miniport::{DmusMiniport, InitRequest, IntoMiniport, Stream, StreamRequest};
use crate::platform::fault;
use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

std::thread_local! {
    /// `(cable number, resource list, port given)` of every miniport `Init` on this thread.
    static INITS: RefCell<Vec<(u32, *mut c_void, *mut c_void)>> = const { RefCell::new(Vec::new()) };
    /// The I/O port base each factory read from the resources.
    static BASES: RefCell<Vec<Option<u64>>> = const { RefCell::new(Vec::new()) };
    static UNLOADS: Cell<usize> = const { Cell::new(0) };
}

/// A cable whose `Init` records its call and fails for cable 99.
#[crate::mxf_miniport]
pub struct Cable {
    number: u32,
}

crate::miniport_topology! {
    /// One MIDI output, one MIDI input.
    pub static CABLE for Cable {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: { out: render(midi), input: capture(midi) },
    }
}

impl DmusMiniport for Cable {
    fn init(&self, request: InitRequest<'_>) -> Result<Option<IServiceGroup>> {
        INITS.with(|i| {
            i.borrow_mut().push((
                self.number,
                request.resource_list(),
                request.port().as_raw(),
            ))
        });
        if self.number == 99 {
            return Err(STATUS_IO_DEVICE_ERROR);
        }
        Ok(None)
    }
    fn new_stream(&self, _request: StreamRequest<'_>) -> Result<Stream> {
        Err(STATUS_NOT_IMPLEMENTED)
    }
}

fn cable(
    context: &StartContext<'_>,
    number: u32,
) -> Result<crate::miniport::MiniportHandle<Cable>> {
    let base = context
        .resources()
        .and_then(|r| r.port(0))
        .map(|(start, _)| start);
    BASES.with(|b| b.borrow_mut().push(base));
    Cable { number }.into_miniport()
}

fn on_unload() {
    UNLOADS.with(|u| u.set(u.get() + 1));
}

crate::driver! {
    /// Three cables, the first two physically connected.
    pub struct Three {
        subdevices: [
            Cable1 ("Cable one"): Cable = |c| cable(c, 1),
            Cable2: Cable = |c| cable(c, 2),
            Cable3 ("Cable three"): Cable = |c| cable(c, 3),
        ],
        connections: [Cable1[1] -> Cable2[0], Cable3[1] -> Cable1[0]],
        unload: on_unload,
    }
}

crate::driver! {
    /// A cable whose miniport's Init fails, between two good ones.
    struct Broken {
        subdevices: [
            Good: Cable = |c| cable(c, 1),
            Bad: Cable = |c| cable(c, 99),
            Never: Cable = |c| cable(c, 3),
        ],
    }
}

crate::driver! {
    /// A factory that fails.
    struct NoMiniport {
        subdevices: [
            First: Cable = |_| Err(STATUS_INSUFFICIENT_RESOURCES),
        ],
    }
}

fn names(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| match c {
            Call::InitializeAdapterDriver => "init-adapter".to_string(),
            Call::AddAdapterDevice { .. } => "add-device".to_string(),
            Call::NewPort { .. } => "new-port".to_string(),
            Call::PortInit { .. } => "port-init".to_string(),
            Call::RegisterSubdevice { name } => format!("register {name}"),
            Call::RegisterPhysicalConnection { from, to, .. } => format!("connect {from} {to}"),
            Call::NewInterruptSync { index, .. } => format!("new-interrupt-sync {index}"),
            Call::InterruptConnect => "interrupt-connect".to_string(),
            Call::InterruptDisconnect => "interrupt-disconnect".to_string(),
            Call::NewServiceGroup => "new-service-group".to_string(),
            Call::PortClsUnload => "portcls-unload".to_string(),
            Call::Report(r) => format!("report {r}"),
        })
        .collect()
}

fn clear_thread_logs() {
    INITS.with(|i| i.borrow_mut().clear());
    BASES.with(|b| b.borrow_mut().clear());
    UNLOADS.with(|u| u.set(0));
}

#[test]
fn the_declaration_is_data() {
    let subs = Three::SUBDEVICES;
    assert_eq!(subs.len(), 3);
    assert_eq!(subs[0].name, "Cable1");
    assert_eq!(subs[0].friendly_name, "Cable one");
    assert_eq!(
        subs[1].friendly_name, "Cable2",
        "the name when no friendly name is given"
    );
    assert_eq!(
        subs[2].wide_name,
        &[u16::from(b'C'), 97, 98, 108, 101, 51, 0][..]
    );
    assert!(subs.iter().all(|s| s.port_class == CLSID_PortDMus));
    assert!(core::ptr::eq((subs[1].topology)(), &CABLE));
    assert_eq!(
        Three::CONNECTIONS,
        &[
            Connection {
                from: 0,
                from_pin: 1,
                to: 1,
                to_pin: 0
            },
            Connection {
                from: 2,
                from_pin: 1,
                to: 0,
                to_pin: 0
            },
        ]
    );
    assert!(Broken::CONNECTIONS.is_empty());
    let inf = subs[0].inf_subdevice();
    assert_eq!((inf.name, inf.friendly_name), ("Cable1", "Cable one"));
}

#[test]
fn the_lifecycle_calls_portcls_in_order_and_releases_everything() {
    clear_thread_logs();
    let before = fault::live_blocks();
    let kernel = FakeKernel::load::<Three>().expect("DriverEntry");
    // DriverEntry kept PortCls's unload routine and put the glue's in front (the unload below
    // runs the author's hook, then PortCls's).
    assert!(kernel.driver_object().DriverUnload.is_some());

    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(kernel.start_device(None), STATUS_SUCCESS);
    let calls = FakeKernel::calls();
    assert_eq!(
        names(&calls),
        [
            "init-adapter",
            "add-device",
            "new-port",
            "port-init",
            "register Cable1",
            "new-port",
            "port-init",
            "register Cable2",
            "new-port",
            "port-init",
            "register Cable3",
            "connect Cable1 Cable2",
            "connect Cable3 Cable1",
            "report 3 subdevices started",
        ]
    );
    assert!(calls.contains(&Call::AddAdapterDevice {
        max_objects: 3,
        extension_size: 0
    }));
    assert!(calls.contains(&Call::NewPort {
        class_id: CLSID_PortDMus
    }));
    assert!(calls.contains(&Call::RegisterPhysicalConnection {
        from: "Cable3".into(),
        from_pin: 1,
        to: "Cable1".into(),
        to_pin: 0
    }));
    // Each miniport's Init ran once, in order, given a port and no resource list.
    let inits = INITS.with(|i| i.borrow().clone());
    assert_eq!(inits.iter().map(|i| i.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(
        inits
            .iter()
            .all(|&(_, list, port)| list.is_null() && !port.is_null())
    );
    assert_eq!(FakeKernel::registered(), ["Cable1", "Cable2", "Cable3"]);
    assert!(
        fault::live_blocks() > before,
        "PortCls holds the ports and miniports"
    );

    // Removal releases every port and miniport: the glue kept no reference.
    kernel.remove_device();
    assert_eq!(fault::live_blocks(), before);
    kernel.unload();
    assert_eq!(UNLOADS.with(Cell::get), 1);
    let calls = names(&FakeKernel::calls());
    assert_eq!(
        calls[calls.len() - 2..],
        ["portcls-unload", "report unloaded"]
    );
}

#[test]
fn a_failing_miniport_init_stops_the_start_and_names_the_subdevice() {
    clear_thread_logs();
    let before = fault::live_blocks();
    let kernel = FakeKernel::load::<Broken>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(kernel.start_device(None), STATUS_IO_DEVICE_ERROR);
    let calls = FakeKernel::calls();
    assert!(calls.contains(&Call::PortInit {
        status: STATUS_IO_DEVICE_ERROR
    }));
    assert_eq!(
        names(&calls)[2..],
        [
            "new-port",
            "port-init",
            "register Good",
            "new-port",
            "port-init",
            &format!("report subdevice Bad: IPort::Init failed: {STATUS_IO_DEVICE_ERROR:?}"),
        ]
    );
    // The third subdevice was never attempted; the first stays registered with PortCls.
    assert_eq!(INITS.with(|i| i.borrow().len()), 2);
    assert_eq!(FakeKernel::registered(), ["Good"]);
    kernel.remove_device();
    assert_eq!(fault::live_blocks(), before);
    kernel.unload();
}

#[test]
fn every_portcls_failure_is_returned_and_reported_with_its_step() {
    let cases = [
        (
            Failing::NewPort,
            2,
            "PcNewPort",
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            Failing::PortInit,
            1,
            "IPort::Init",
            STATUS_INVALID_PARAMETER,
        ),
        (
            Failing::RegisterSubdevice,
            3,
            "PcRegisterSubdevice",
            STATUS_UNSUCCESSFUL,
        ),
    ];
    for (failing, nth, step, status) in cases {
        clear_thread_logs();
        let before = fault::live_blocks();
        let kernel = FakeKernel::load::<Three>().expect("DriverEntry");
        assert_eq!(kernel.add_device(), STATUS_SUCCESS);
        FakeKernel::fail(failing, nth, status);
        assert_eq!(kernel.start_device(None), status, "{failing:?}");
        let subdevice = Three::SUBDEVICES[nth - 1].name;
        let last = FakeKernel::calls().last().cloned();
        assert_eq!(
            last,
            Some(Call::Report(format!(
                "subdevice {subdevice}: {step} failed: {status:?}"
            ))),
            "{failing:?}"
        );
        assert_eq!(FakeKernel::registered().len(), nth - 1, "{failing:?}");
        kernel.remove_device();
        assert_eq!(fault::live_blocks(), before, "{failing:?}");
        kernel.unload();
    }
}

#[test]
fn a_failing_connection_is_returned_and_reported() {
    clear_thread_logs();
    let kernel = FakeKernel::load::<Three>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    FakeKernel::fail(
        Failing::RegisterPhysicalConnection,
        2,
        STATUS_INVALID_DEVICE_REQUEST,
    );
    assert_eq!(kernel.start_device(None), STATUS_INVALID_DEVICE_REQUEST);
    assert_eq!(
        FakeKernel::calls().last(),
        Some(&Call::Report(format!(
            "physical connection 1 failed: {STATUS_INVALID_DEVICE_REQUEST:?}"
        )))
    );
    kernel.remove_device();
    kernel.unload();
}

#[test]
fn a_failing_factory_is_reported_and_leaks_nothing() {
    clear_thread_logs();
    let before = fault::live_blocks();
    let kernel = FakeKernel::load::<NoMiniport>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(kernel.start_device(None), STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(
        FakeKernel::calls().last(),
        Some(&Call::Report(format!(
            "subdevice First: the miniport factory failed: {STATUS_INSUFFICIENT_RESOURCES:?}"
        )))
    );
    kernel.remove_device();
    assert_eq!(fault::live_blocks(), before);
}

#[test]
fn an_out_of_memory_start_fails_cleanly_at_every_allocation() {
    // Every pool allocation of StartDevice in turn fails (two per subdevice: the port, the
    // miniport): the status is an error, and removal leaves nothing behind.
    for n in 1..=8 {
        clear_thread_logs();
        let before = fault::live_blocks();
        let kernel = FakeKernel::load::<Three>().expect("DriverEntry");
        assert_eq!(kernel.add_device(), STATUS_SUCCESS);
        let status = {
            let _plan = fault::fail_nth(n);
            kernel.start_device(None)
        };
        assert_eq!(status.is_success(), n > 6, "allocation {n}: {status:?}");
        assert_eq!(
            FakeKernel::registered().len(),
            (n - 1) / 2,
            "allocation {n}"
        );
        kernel.remove_device();
        assert_eq!(fault::live_blocks(), before, "allocation {n}");
        kernel.unload();
    }
}

#[test]
fn a_failing_driver_entry_keeps_the_driver_object_untouched() {
    let mut kernel = FakeKernel::new();
    FakeKernel::fail(
        Failing::InitializeAdapterDriver,
        1,
        STATUS_INSUFFICIENT_RESOURCES,
    );
    assert_eq!(
        kernel.driver_entry::<Three>(),
        STATUS_INSUFFICIENT_RESOURCES
    );
    assert!(kernel.driver_object().DriverUnload.is_none());
    assert_eq!(
        FakeKernel::calls().last(),
        Some(&Call::Report(format!(
            "PcInitializeAdapterDriver failed: {STATUS_INSUFFICIENT_RESOURCES:?}"
        )))
    );
    // A second DriverEntry (the plan is spent) succeeds.
    assert_eq!(kernel.driver_entry::<Three>(), STATUS_SUCCESS);
    assert!(kernel.driver_object().DriverUnload.is_some());
}

/// A resource list with one I/O port range and one interrupt.
#[crate::com_object(IResourceList)]
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

#[test]
fn the_resource_list_reaches_the_factories_and_every_miniport_init() {
    clear_thread_logs();
    let list: IResourceList = FakeResources {
        entries: vec![
            descriptor(CmResourceTypeInterrupt, [5, 53, 1]),
            descriptor(CmResourceTypePort, [0x330, 0, 2]),
            descriptor(CmResourceTypePort, [0x0001_0000, 0x2, 4]),
        ],
    }
    .into_com()
    .expect("list");
    let resources = Resources::new(list.to_ref());
    assert_eq!(
        (resources.len(), resources.count(CmResourceTypePort)),
        (3, 2)
    );
    assert_eq!(resources.port(0), Some((0x330, 2)));
    assert_eq!(
        resources.port(1),
        Some((0x2_0001_0000, 4)),
        "a 64-bit start"
    );
    assert_eq!(resources.port(2), None);
    assert_eq!(resources.interrupt(0), Some((5, 53)));
    assert_eq!(resources.translated(CmResourceTypeMemory, 0), None);

    let kernel = FakeKernel::load::<Three>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert_eq!(kernel.start_device(Some(&list)), STATUS_SUCCESS);
    assert_eq!(BASES.with(|b| b.borrow().clone()), [Some(0x330); 3]);
    let inits = INITS.with(|i| i.borrow().clone());
    assert!(inits.iter().all(|&(_, l, _)| l == list.as_raw()));
    kernel.remove_device();
    kernel.unload();
}

#[test]
fn io_ports_come_from_the_resource_list_and_stay_in_their_range() {
    let list: IResourceList = FakeResources {
        entries: vec![
            descriptor(CmResourceTypePort, [0x330, 0, 2]),
            descriptor(CmResourceTypePort, [0x388, 0, 0]),
        ],
    }
    .into_com()
    .expect("list");
    let resources = Resources::new(list.to_ref());
    let ports = IoPorts::from_resources(&resources, 0).expect("the first range");
    assert_eq!(
        (ports.start(), ports.len(), ports.is_empty()),
        (0x330, 2, false)
    );
    assert_eq!(
        IoPorts::from_resources(&resources, 1),
        None,
        "an empty range"
    );
    assert_eq!(
        IoPorts::from_resources(&resources, 2),
        None,
        "no third range"
    );
    // Off the kernel there is no port I/O: an empty bus, whatever the offset.
    assert!(!IoPorts::available());
    for offset in [0, 1, 2, u32::MAX] {
        assert_eq!(ports.read(offset), 0xFF);
        assert!(!ports.write(offset, 0x3F));
    }
}

#[test]
fn kernel_strings_and_descriptors() {
    let units = utf16z::<6>("Cable");
    assert_eq!(units, [67, 97, 98, 108, 101, 0]);
    let s = UNICODE_STRING::from_utf16z(&units).expect("terminated");
    assert_eq!((s.Length, s.MaximumLength), (10, 12));
    assert!(
        UNICODE_STRING::from_utf16z(&[65, 66]).is_none(),
        "no terminator"
    );
    let port = descriptor(CmResourceTypePort, [0x300, 0, 2]);
    assert_eq!(
        (port.port(), port.memory(), port.interrupt()),
        (Some((0x300, 2)), None, None)
    );
    let memory = descriptor(CmResourceTypeMemory, [0xFED0_0000, 0, 0x1000]);
    assert_eq!(memory.memory(), Some((0xFED0_0000, 0x1000)));
    assert_eq!(Step::RegisterSubdevice.c_name(), c"PcRegisterSubdevice");
}

fn many_cable(context: &StartContext<'_>) -> Result<IUnknown> {
    __create::<Cable, _>(context, |c| cable(c, 7))
}

const MANY_ENTRY: SubdeviceEntry = SubdeviceEntry {
    name: "Many",
    wide_name: &utf16z::<5>("Many"),
    friendly_name: "Many",
    port_class: CLSID_PortDMus,
    topology: <Cable as crate::miniport::HasTopology>::topology,
    create: many_cable,
};

/// A hand-written declaration with one subdevice more than the glue holds ports for.
struct TooMany;

impl Driver for TooMany {
    const SUBDEVICES: &'static [SubdeviceEntry] = &[MANY_ENTRY; MAX_SUBDEVICES + 1];
    fn state() -> &'static DriverState {
        static STATE: DriverState = DriverState::new();
        &STATE
    }
}

#[test]
fn a_declaration_beyond_the_limit_fails_before_making_the_extra_subdevice() {
    clear_thread_logs();
    let before = fault::live_blocks();
    let kernel = FakeKernel::load::<TooMany>().expect("DriverEntry");
    assert_eq!(kernel.add_device(), STATUS_SUCCESS);
    assert!(FakeKernel::calls().contains(&Call::AddAdapterDevice {
        max_objects: 33,
        extension_size: 0
    }));
    assert_eq!(kernel.start_device(None), STATUS_INVALID_PARAMETER);
    let calls = FakeKernel::calls();
    let ports = calls
        .iter()
        .filter(|c| matches!(c, Call::NewPort { .. }))
        .count();
    assert_eq!(ports, MAX_SUBDEVICES, "no port for the extra subdevice");
    assert_eq!(FakeKernel::registered().len(), MAX_SUBDEVICES);
    assert_eq!(
        calls.last(),
        Some(&Call::Report(format!(
            "subdevice Many: the declaration failed: {STATUS_INVALID_PARAMETER:?}"
        )))
    );
    kernel.remove_device();
    assert_eq!(fault::live_blocks(), before);
    kernel.unload();
}
