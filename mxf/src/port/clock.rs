//! The port's master clock and where its real time comes from.

use crate::abi::{REFERENCE_TIME, Result};
use crate::platform::atomic::{AtomicI64, Ordering};
use alloc::boxed::Box;

/// A monotonic real-time source: 100 ns units since an origin of its own choosing (the port
/// subtracts the value it read when it was created).
///
/// The port's graph logic needs only "what time is it, in 100 ns units". A virtual clock needs
/// nothing (time moves when the caller says so); a real clock reads a source the host supplies:
///
/// | host | source | [`ClockMode::Real`] uses |
/// |---|---|---|
/// | user mode (`std`) | `std::time::Instant` | `mxf::host::InstantTime` |
/// | kernel (`cfg(windows)` + `driver`) | `KeQueryPerformanceCounter` | `PerformanceCounterTime` |
/// | anything else without `std` | none | nothing: [`Port::new`](super::Port::new) refuses `Real` with `STATUS_NOT_SUPPORTED` |
///
/// Any host can pass its own source to [`Port::with_time_source`](super::Port::with_time_source).
pub trait TimeSource: Send + Sync {
    /// The time now, in 100 ns units.
    fn now(&self) -> REFERENCE_TIME;
}

/// Where the master clock comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Time moves only through [`Port::set_time`](super::Port::set_time): deterministic, as fast
    /// as possible. Its timers are exact, so a render pin's sequencer re-arms for the next
    /// event's time itself rather than no sooner than 1 ms (`domain.md` item 34 models the
    /// kernel's timer resolution, which would only make events leave late here): a deliberate
    /// deviation.
    Virtual,
    /// The platform's monotonic clock (the table of [`TimeSource`]), in 100 ns since the
    /// port was created. The sequencer keeps item 34's 1 ms floor.
    Real,
}

/// `KeQueryPerformanceCounter` in 100 ns units: the real time of a kernel host.
#[cfg(all(windows, feature = "driver"))]
#[derive(Clone, Copy, Debug, Default)]
pub struct PerformanceCounterTime;

#[cfg(all(windows, feature = "driver"))]
impl TimeSource for PerformanceCounterTime {
    fn now(&self) -> REFERENCE_TIME {
        let (ticks, frequency) = crate::driver::performance_counter();
        if frequency <= 0 {
            return 0;
        }
        let units = i128::from(ticks)
            .saturating_mul(10_000_000)
            .checked_div(i128::from(frequency))
            .unwrap_or(0);
        i64::try_from(units).unwrap_or(i64::MAX)
    }
}

/// The platform's real-time source for [`ClockMode::Real`], if it has one.
#[cfg(all(windows, feature = "driver"))]
type PlatformTime = PerformanceCounterTime;
#[cfg(all(feature = "std", not(all(windows, feature = "driver"))))]
type PlatformTime = crate::host::InstantTime;
/// No real-time source without `std` outside the kernel.
#[cfg(not(any(feature = "std", all(windows, feature = "driver"))))]
#[derive(Clone, Copy, Debug)]
enum PlatformTime {}
#[cfg(not(any(feature = "std", all(windows, feature = "driver"))))]
impl TimeSource for PlatformTime {
    fn now(&self) -> REFERENCE_TIME {
        match *self {}
    }
}

fn platform_time() -> Result<PlatformTime> {
    #[cfg(all(windows, feature = "driver"))]
    return Ok(PerformanceCounterTime);
    #[cfg(all(feature = "std", not(all(windows, feature = "driver"))))]
    return Ok(crate::host::InstantTime::new());
    #[cfg(not(any(feature = "std", all(windows, feature = "driver"))))]
    return Err(crate::abi::STATUS_NOT_SUPPORTED);
}

enum Source {
    Platform(PlatformTime),
    Custom(Box<dyn TimeSource>),
}

impl Source {
    fn now(&self) -> REFERENCE_TIME {
        match self {
            Self::Platform(p) => p.now(),
            Self::Custom(c) => c.now(),
        }
    }
}

/// The port's master clock.
pub(crate) struct Clock {
    mode: ClockMode,
    /// The virtual time, or the source's reading when the port was created.
    base: AtomicI64,
    source: Option<Source>,
}

impl Clock {
    pub(crate) fn new(mode: ClockMode) -> Result<Self> {
        match mode {
            ClockMode::Virtual => Ok(Self {
                mode,
                base: AtomicI64::new(0),
                source: None,
            }),
            ClockMode::Real => Ok(Self::real(Source::Platform(platform_time()?))),
        }
    }

    pub(crate) fn with_source(source: Box<dyn TimeSource>) -> Self {
        Self::real(Source::Custom(source))
    }

    fn real(source: Source) -> Self {
        Self {
            mode: ClockMode::Real,
            base: AtomicI64::new(source.now()),
            source: Some(source),
        }
    }

    pub(crate) fn mode(&self) -> ClockMode {
        self.mode
    }

    pub(crate) fn now(&self) -> REFERENCE_TIME {
        let base = self.base.load(Ordering::Acquire);
        match &self.source {
            None => base,
            Some(s) => s.now().saturating_sub(base).max(0),
        }
    }

    /// Sets the virtual time; a real clock ignores it.
    pub(crate) fn set(&self, t: REFERENCE_TIME) {
        if self.source.is_none() {
            self.base.store(t, Ordering::Release);
        }
    }
}
