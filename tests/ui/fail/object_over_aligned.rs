use mxf::prelude::*;

/// Cache-line padding: more than a pool block's alignment.
#[repr(align(64))]
struct Padded(u64);

#[com_object(IMasterClock)]
struct Clock {
    now: Padded,
}

impl IMasterClock_Impl for Clock {
    unsafe fn GetTime(&self, time: *mut REFERENCE_TIME) -> NTSTATUS {
        // SAFETY: the caller passes a valid out-pointer.
        unsafe { time.write(self.now.0 as i64) };
        STATUS_SUCCESS
    }
}

fn main() {
    let _: Result<IMasterClock> = Clock { now: Padded(0) }.into_com();
}
