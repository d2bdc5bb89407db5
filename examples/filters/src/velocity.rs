//! `Velocity`: reshapes note-on velocities.

use super::{Verdict, forward_if};
use mxf::event::Event;
use mxf::filter::{Filter, Output};
use mxf::message::{ChannelKind, u7};
use mxf::mxf_filter;

/// How a [`Velocity`] filter maps a note-on velocity (1..=127) before clamping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VelocityCurve {
    /// `v × percent / 100`, rounded.
    Scale {
        /// The factor in percent (100: unchanged).
        percent: u16,
    },
    /// `v + offset`.
    Offset(i8),
    /// Every note at the same velocity (an organ).
    Fixed(u8),
    /// `v² / 127`: soft notes softer, the loudest unchanged (more dynamics).
    Expand,
    /// `√(127 × v)`: soft notes louder, the loudest unchanged (less dynamics).
    Compress,
}

/// Maps note-on velocities through a curve, then clamps them to `min..=max`.
///
/// **Teaches:** a stateless transform computed once into a 128-entry table (integer arithmetic
/// only: kernel code avoids floating point), and the MIDI rule that a note-on with velocity 0 is
/// a note-off: it stays 0, and a real note-on never becomes 0 (`min` is at least 1).
///
/// Note-offs (their release velocity) and every other message pass through untouched.
#[mxf_filter]
pub struct Velocity {
    table: [u8; 128],
}

impl Velocity {
    /// A velocity filter; `min` is raised to 1 and `max` to `min` if needed, both capped at 127.
    pub fn new(curve: VelocityCurve, min: u8, max: u8) -> Self {
        let min = min.clamp(1, 127);
        let max = max.clamp(min, 127);
        let mut table = [0u8; 128];
        for (v, slot) in (0u32..).zip(table.iter_mut()).skip(1) {
            let shaped: i64 = match curve {
                VelocityCurve::Scale { percent } => (i64::from(v) * i64::from(percent) + 50) / 100,
                VelocityCurve::Offset(o) => i64::from(v) + i64::from(o),
                VelocityCurve::Fixed(f) => i64::from(f),
                VelocityCurve::Expand => (i64::from(v * v) + 63) / 127,
                VelocityCurve::Compress => i64::from(isqrt(127 * v)),
            };
            // `min..=max` lies in 1..=127, so the clamped value fits a byte.
            *slot = u8::try_from(shaped.clamp(i64::from(min), i64::from(max))).unwrap_or(max);
        }
        Self { table }
    }

    /// The velocity a note-on of velocity `v` is sent with.
    pub fn map(&self, v: u7) -> u7 {
        let out = self
            .table
            .get(usize::from(v.as_int()))
            .copied()
            .unwrap_or(0);
        u7::from(out)
    }

    /// Reshapes one event in place (its velocity byte is rewritten where it is).
    #[inline]
    pub fn apply(&self, event: &mut Event<'_>) -> Verdict {
        if let Some(mut m) = event.channel_message_mut()
            && m.kind() == ChannelKind::NoteOn
            && let Some(vel) = m.get().velocity()
        {
            m.set_velocity(self.map(vel));
        }
        Verdict::Forward
    }
}

impl Filter for Velocity {
    #[inline]
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        let verdict = self.apply(&mut event);
        forward_if(verdict, event, out);
    }
}

/// The integer square root (the largest `r` with `r² ≤ n`).
fn isqrt(n: u32) -> u32 {
    let mut r = 0u32;
    while (r + 1).saturating_mul(r + 1) <= n {
        r += 1;
    }
    r
}
