//! The main job's `--filter NAME=VALUE` arguments, turned into filter stages.

use crate::filters::{
    ChannelMap, Echo, NoteOffNormalizer, SysexAction, SysexFilter, Transpose, Velocity,
    VelocityCurve,
};
use crate::player::FilterStage;
use midly::num::u4;
use mxf::filter::{Filter, FilterObject, IntoFilter};
use mxf::interfaces::{IAllocatorMXF, IMXF};

/// Builds a stage around one filter value.
fn stage<F>(name: String, filter: F, shifts_time: bool) -> FilterStage
where
    F: Filter + mxf::com::ObjectImpl<Value = FilterObject<F>>,
{
    FilterStage {
        name,
        shifts_time,
        make: Box::new(move |alloc: &IAllocatorMXF| {
            let h = filter.into_filter(alloc)?;
            let iface: IMXF = h.interface().clone();
            let reader = move || {
                let s = h.stats();
                (s.events_in, s.events_out)
            };
            Ok((iface, Box::new(reader) as crate::player::StatsReader))
        }),
    }
}

fn channel(s: &str, spec: &str) -> Result<u4, String> {
    match s.trim().parse::<u8>() {
        Ok(c @ 1..=16) => Ok(u4::new(c - 1)),
        _ => Err(format!("{spec}: `{s}` is not a MIDI channel (1 to 16)")),
    }
}

/// Parses one `--filter` argument.
pub fn parse(spec: &str) -> Result<FilterStage, String> {
    let (name, value) = match spec.split_once('=') {
        Some((n, v)) => (n.trim(), v.trim()),
        None => (spec.trim(), ""),
    };
    let label = spec.to_string();
    match name {
        "transpose" => {
            let n: i8 = value.parse().map_err(|_| {
                format!("{spec}: transpose takes semitones, e.g. transpose=12 or transpose=-5")
            })?;
            Ok(stage(label, Transpose::new(n), false))
        }
        "velocity" => {
            let curve_err = || {
                format!(
                    "{spec}: velocity takes a percentage (velocity=80%) or a range (velocity=40..100)"
                )
            };
            if let Some((lo, hi)) = value.split_once("..") {
                let lo: u8 = lo.trim().parse().map_err(|_| curve_err())?;
                let hi: u8 = hi.trim().parse().map_err(|_| curve_err())?;
                if lo == 0 || lo > hi || hi > 127 {
                    return Err(format!(
                        "{spec}: the range must satisfy 1 <= MIN <= MAX <= 127"
                    ));
                }
                Ok(stage(
                    label,
                    Velocity::new(VelocityCurve::Scale { percent: 100 }, lo, hi),
                    false,
                ))
            } else {
                let p: u16 = value
                    .trim_end_matches('%')
                    .trim()
                    .parse()
                    .map_err(|_| curve_err())?;
                Ok(stage(
                    label,
                    Velocity::new(VelocityCurve::Scale { percent: p }, 1, 127),
                    false,
                ))
            }
        }
        "channel-map" => {
            let mut map = ChannelMap::new();
            for pair in value.split(',') {
                let (from, to) = pair.split_once(':').ok_or_else(|| {
                    format!("{spec}: channel-map takes FROM:TO pairs, e.g. channel-map=1:2,10:10")
                })?;
                map = map
                    .remap(1, channel(from, spec)?, channel(to, spec)?)
                    .map_err(|_| format!("{spec}: too many groups"))?;
            }
            Ok(stage(label, map, false))
        }
        "mute" => {
            let mut map = ChannelMap::new();
            for ch in value.split(',') {
                map = map
                    .mute(1, channel(ch, spec)?)
                    .map_err(|_| format!("{spec}: too many groups"))?;
            }
            Ok(stage(label, map, false))
        }
        "note-off" => Ok(stage(label, NoteOffNormalizer::new(), false)),
        "sysex" => match value {
            "drop" => Ok(stage(label, SysexFilter::new(SysexAction::Drop), false)),
            "pass" | "" => Ok(stage(label, SysexFilter::new(SysexAction::Pass), false)),
            _ => Err(format!("{spec}: sysex takes `drop` or `pass`")),
        },
        "echo" => {
            let (ms, n) = match value.split_once('x') {
                Some((ms, n)) => (ms, n),
                None => (value, "2"),
            };
            let ms: u32 = ms.trim().parse().map_err(|_| {
                format!("{spec}: echo takes a delay in ms and a count, e.g. echo=250x3")
            })?;
            let n: u8 = n.trim().parse().map_err(|_| {
                format!("{spec}: echo takes a delay in ms and a count, e.g. echo=250x3")
            })?;
            if n == 0 || n > Echo::MAX_REPEATS {
                return Err(format!(
                    "{spec}: echo repeats must be 1 to {}",
                    Echo::MAX_REPEATS
                ));
            }
            Ok(stage(label, Echo::new(i64::from(ms) * 10_000, n, 60), true))
        }
        other => Err(format!(
            "unknown filter `{other}`; known: transpose=N, velocity=P% or MIN..MAX, channel-map=FROM:TO,.., mute=CH,.., note-off, sysex=drop|pass, echo=MSxN"
        )),
    }
}
