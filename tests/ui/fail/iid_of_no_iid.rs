use mxf::prelude::*;

fn ask_for_clock(unknown: &IUnknown) -> *mut core::ffi::c_void {
    let mut out = core::ptr::null_mut();
    // IMasterClock has no IID: no QueryInterface can answer it.
    // SAFETY: `unknown` is live; `out` is a valid out-pointer.
    let _ = unsafe { unknown.QueryInterface(&IMasterClock::IID, &mut out) };
    out
}

fn main() {
    let _ = ask_for_clock;
}
