//! [`OneAtATime`]: a job that one caller runs at a time, without waiting, and without losing a
//! request that comes while it runs.

use super::atomic::{AtomicU32, Ordering};

/// Nobody runs the job.
const IDLE: u32 = 0;
/// A caller runs the job.
const BUSY: u32 = 1;
/// A caller runs the job, and another asked for it meanwhile.
const BUSY_AGAIN: u32 = 2;

/// Serialises a job (pulling a capture FIFO, serving a pin's IRPs) without a lock held across
/// it: a caller that finds the job running leaves its request to the runner, which runs the job
/// once more before it stops. Nothing waits, so a job that calls back into itself (a sink that
/// calls the stream that is delivering to it) cannot deadlock, as a spin lock taken twice at
/// DISPATCH_LEVEL would; and since one atomic holds the whole state, no request is lost between
/// the runner's last check and its leaving.
///
/// ```
/// # use mxf::platform::OneAtATime;
/// let gate = OneAtATime::new();
/// if gate.enter() {
///     loop {
///         // ... the job ...
///         if gate.leave() {
///             break;
///         }
///     }
/// }
/// ```
pub struct OneAtATime {
    state: AtomicU32,
}

impl Default for OneAtATime {
    fn default() -> Self {
        Self::new()
    }
}

impl OneAtATime {
    /// Nobody runs the job.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            state: AtomicU32::new(IDLE),
        }
    }

    /// Nobody runs the job.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            state: AtomicU32::new(IDLE),
        }
    }

    /// `true`: the caller now runs the job (and must call [`leave`](Self::leave) after it).
    /// `false`: the job is running; this request is left to its runner.
    pub fn enter(&self) -> bool {
        loop {
            let cur =
                match self
                    .state
                    .compare_exchange(IDLE, BUSY, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => return true,
                    Err(cur) => cur,
                };
            // Ask for one more run with a write (also when one is asked for already), so that
            // the runner's next look at the state sees what this caller did before asking.
            if self
                .state
                .compare_exchange(cur, BUSY_AGAIN, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return false;
            }
            // The state moved in between (the runner left, or ran again): look again.
        }
    }

    /// After one run of the job: `true` if the caller is done (nothing was asked meanwhile),
    /// `false` if it must run the job again (and call `leave` again).
    pub fn leave(&self) -> bool {
        if self
            .state
            .compare_exchange(BUSY, IDLE, Ordering::Release, Ordering::Acquire)
            .is_ok()
        {
            return true;
        }
        // BUSY_AGAIN (read with Acquire: what the requesters did before asking is seen by the
        // next run): the requests that came are served by one more run.
        self.state.store(BUSY, Ordering::Relaxed);
        false
    }

    /// Leaves without another run even if one was asked for (the job cannot make progress now,
    /// say out of memory; the next request starts it again).
    pub fn abandon(&self) {
        self.state.store(IDLE, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_request_during_a_run_makes_one_more_run() {
        let g = OneAtATime::new();
        assert!(g.enter());
        assert!(!g.enter(), "running: left to the runner");
        assert!(!g.enter(), "two requests, one more run");
        assert!(!g.leave(), "run again");
        assert!(g.leave(), "nothing asked since");
        assert!(g.enter(), "idle again");
        assert!(g.leave());
        assert!(g.enter());
        g.abandon();
        assert!(g.enter(), "abandoned: free");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;

    /// Two callers each request a run after making work available: every piece of work is
    /// done by some run, however the two interleave.
    #[test]
    fn loom_no_request_is_lost() {
        loom::model(|| {
            let gate = Arc::new(OneAtATime::new());
            let posted = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicUsize::new(0));
            let run = |gate: &OneAtATime, posted: &AtomicUsize, done: &AtomicUsize| {
                // Relaxed: only the gate orders a request before the run that serves it.
                posted.fetch_add(1, Ordering::Relaxed);
                if gate.enter() {
                    loop {
                        done.fetch_max(posted.load(Ordering::Relaxed), Ordering::Relaxed);
                        if gate.leave() {
                            break;
                        }
                    }
                }
            };
            let (g2, p2, d2) = (gate.clone(), posted.clone(), done.clone());
            let t = loom::thread::spawn(move || run(&g2, &p2, &d2));
            run(&gate, &posted, &done);
            t.join().unwrap();
            assert_eq!(
                done.load(Ordering::SeqCst),
                2,
                "the second request was served"
            );
        });
    }
}
