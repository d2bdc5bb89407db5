//! A chain of the sample filters (`examples/filters`), in any order and configuration, fed
//! arbitrary event chains built from arbitrary bytes: packages (nested), long events and
//! SysEx in allocator buffers, INCOMPLETE fragments, chains of up to a few hundred events,
//! between state changes, disconnections and `PutMessage(NULL)`, on an allocator that may run
//! out. Nothing panics and every event and buffer is back in the allocator at the end.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mxf::abi::*;
use mxf::event::Chain;
use mxf::filter::IntoFilter;
use mxf::interfaces::{IAllocatorMXF, IMXF};
use mxf::message::{u4, u7};
use mxf::testing::{Recorder, connect_output, disconnect_all, put_chain, put_null, set_state};
use mxf_fuzz::*;
use mxf_suite::filters::*;

/// The most filters in the chain.
const MAX_FILTERS: usize = 6;

#[derive(Arbitrary, Debug)]
enum Curve {
    Scale(u16),
    Offset(i8),
    Fixed(u8),
    Expand,
    Compress,
}

#[derive(Arbitrary, Debug)]
enum FilterSpec {
    Transpose(i8),
    Velocity {
        curve: Curve,
        min: u8,
        max: u8,
    },
    ChannelMap {
        remaps: Vec<(u16, u8, u8)>,
        mutes: Vec<(u16, u8)>,
    },
    NoteOffNormalizer(u8),
    Sysex {
        drop: bool,
        groups: Vec<(u16, bool)>,
    },
    Echo {
        delay: i64,
        repeats: u8,
        decay: u8,
    },
    Splitter,
}

#[derive(Arbitrary, Debug)]
enum Call {
    /// `PutMessage` of a chain into the first filter.
    Put(Vec<ChainPart>),
    /// `PutMessage(NULL)` into a filter.
    PutNull(u8),
    /// `SetState` of a filter.
    State { filter: u8, state: u8 },
    /// Every filter's state, in the pin's order.
    All(u8),
    /// `DisconnectOutput(NULL)` of a filter.
    Disconnect(u8),
    /// `ConnectOutput` of a filter to its successor (refused if it is connected).
    Reconnect(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    alloc: AllocSpec,
    filters: Vec<FilterSpec>,
    calls: Vec<Call>,
}

fn action(drop: bool) -> SysexAction {
    if drop {
        SysexAction::Drop
    } else {
        SysexAction::Pass
    }
}

/// The filter as an IMXF on `alloc` (`None` if it cannot be created, or for an `Echo` when the
/// chain has one: echoes of echoes multiply the work).
fn build(spec: &FilterSpec, alloc: &IAllocatorMXF, echoes: &mut usize) -> Option<IMXF> {
    let f = match spec {
        &FilterSpec::Transpose(n) => Transpose::new(n).into_filter(alloc).ok()?.into_interface(),
        FilterSpec::Velocity { curve, min, max } => {
            let curve = match *curve {
                Curve::Scale(percent) => VelocityCurve::Scale { percent },
                Curve::Offset(o) => VelocityCurve::Offset(o),
                Curve::Fixed(v) => VelocityCurve::Fixed(v),
                Curve::Expand => VelocityCurve::Expand,
                Curve::Compress => VelocityCurve::Compress,
            };
            Velocity::new(curve, *min, *max)
                .into_filter(alloc)
                .ok()?
                .into_interface()
        }
        FilterSpec::ChannelMap { remaps, mutes } => {
            let mut map = ChannelMap::new();
            let mut groups: Vec<u16> = Vec::new();
            let mut fits = |g: u16| {
                if !groups.contains(&g) && groups.len() == ChannelMap::MAX_GROUPS {
                    return false;
                }
                if !groups.contains(&g) {
                    groups.push(g);
                }
                true
            };
            for &(g, from, to) in remaps {
                if fits(g) {
                    map = map.remap(g, u4::new(from & 15), u4::new(to & 15)).ok()?;
                }
            }
            for &(g, ch) in mutes {
                if fits(g) {
                    map = map.mute(g, u4::new(ch & 15)).ok()?;
                }
            }
            map.into_filter(alloc).ok()?.into_interface()
        }
        &FilterSpec::NoteOffNormalizer(v) => {
            NoteOffNormalizer::with_release_velocity(u7::new(v & 0x7F))
                .into_filter(alloc)
                .ok()?
                .into_interface()
        }
        FilterSpec::Sysex { drop, groups } => {
            let mut f = SysexFilter::new(action(*drop));
            let mut seen: Vec<u16> = Vec::new();
            for &(g, d) in groups {
                if !seen.contains(&g) {
                    if seen.len() == SysexFilter::MAX_GROUPS {
                        continue;
                    }
                    seen.push(g);
                }
                f = f.with_group(g, action(d)).ok()?;
            }
            f.into_filter(alloc).ok()?.into_interface()
        }
        &FilterSpec::Echo {
            delay,
            repeats,
            decay,
        } => {
            if *echoes > 0 {
                return None;
            }
            *echoes += 1;
            Echo::new(delay, repeats, decay)
                .into_filter(alloc)
                .ok()?
                .into_interface()
        }
        FilterSpec::Splitter => Splitter::new().into_filter(alloc).ok()?.into_interface(),
    };
    Some(f)
}

fn all_to(filters: &[IMXF], from: &mut KSSTATE, target: KSSTATE) {
    while *from != target {
        let next = if target.0 > from.0 {
            KSSTATE(from.0 + 1)
        } else {
            KSSTATE(from.0 - 1)
        };
        for f in filters {
            assert_eq!(set_state(f, next), STATUS_SUCCESS);
        }
        *from = next;
    }
}

fuzz_target!(|input: Input| {
    let blocks = live_pool_blocks();
    let alloc = input.alloc.build();
    let a = alloc.interface();
    let (recorder, _log) = Recorder::create(a).expect("a recorder");
    {
        let mut echoes = 0;
        let filters: Vec<IMXF> = input
            .filters
            .iter()
            .take(MAX_FILTERS)
            .filter_map(|s| build(s, a, &mut echoes))
            .collect();
        let next_of = |i: usize| filters.get(i + 1).unwrap_or(&recorder);
        for (i, f) in filters.iter().enumerate() {
            assert_eq!(connect_output(f, next_of(i)), STATUS_SUCCESS);
        }
        let mut state = KSSTATE_STOP;
        all_to(&filters, &mut state, KSSTATE_RUN);
        let first = filters.first().unwrap_or(&recorder);
        let faults = input.alloc.pool_faults();
        let pick = |k: u8| filters.get(usize::from(k) % filters.len().max(1));
        for call in input.calls.iter().take(MAX_OPS) {
            match call {
                Call::Put(parts) => {
                    let mut chain = Chain::new(a);
                    for e in expand(parts) {
                        // An event the bounded allocator cannot supply is left out.
                        if let Ok(built) = ev_of(&e).build(a) {
                            chain.push_back(built);
                        }
                    }
                    let _ = put_chain(first, chain);
                }
                &Call::PutNull(k) => {
                    if let Some(f) = pick(k) {
                        let _ = put_null(f);
                    }
                }
                &Call::State { filter, state: s } => {
                    if let Some(f) = pick(filter) {
                        let s = state_of(s);
                        let status = set_state(f, s);
                        if s.known().is_some() {
                            assert_eq!(status, STATUS_SUCCESS);
                        }
                    }
                }
                &Call::All(s) => {
                    let s = state_of(s);
                    if s.known().is_some() {
                        all_to(&filters, &mut state, s);
                    }
                }
                &Call::Disconnect(k) => {
                    if let Some(f) = pick(k) {
                        let _ = disconnect_all(f);
                    }
                }
                &Call::Reconnect(k) => {
                    let i = usize::from(k) % filters.len().max(1);
                    if let Some(f) = filters.get(i) {
                        let _ = connect_output(f, next_of(i));
                    }
                }
            }
        }
        drop(faults);
        all_to(&filters, &mut state, KSSTATE_STOP);
        for f in &filters {
            let _ = disconnect_all(f);
        }
    }
    drop(recorder);
    assert_balanced(&alloc);
    drop(alloc);
    assert_no_pool_leak(blocks);
});
