use mxf::prelude::*;

fn clock_of(port: &IPortDMus) -> Result<IMasterClock> {
    // IMasterClock has no IID: no QueryInterface can find it.
    port.cast::<IMasterClock>()
}

fn main() {
    let port: Option<IPortDMus> = None;
    if let Some(p) = &port {
        let _ = clock_of(p);
    }
}
