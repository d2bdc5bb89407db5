//! The packer fed arbitrary event chains (packages, long events, INCOMPLETE fragments, the
//! capture sink's discontinuity mark, empty events) and filling capture IRPs of arbitrary sizes,
//! between state changes. Every fill is read back record by record and compared with a model:
//! the bytes queued, in order, each record holding bytes of one event with that event's group
//! and time; ACQUIRE from STOP discards what is queued.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mxf::abi::*;
use mxf::components::capture_sink::DMUS_KEF_CAPTURE_DISCONTINUITY;
use mxf::components::packer::{PackerFormat, PackerHandle};
use mxf::event::Chain;
use mxf::testing::put_null;
use mxf_fuzz::*;
use std::collections::VecDeque;

#[derive(Arbitrary, Debug)]
struct Input {
    alloc: AllocSpec,
    ks: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// `PutMessage` of a chain.
    Put(Vec<ChainPart>),
    /// `PutMessage(NULL)`.
    PutNull,
    /// One capture IRP of `size` bytes with presentation time `base`.
    Fill { size: u16, base: i64 },
    /// `SetState`.
    State(u8),
}

/// One queued data byte, with what its event said.
#[derive(Clone, Copy, Debug)]
struct Byte {
    value: u8,
    /// The index of its event (bytes of one record come from one event).
    event: usize,
    group: u16,
    time: i64,
    marked: bool,
}

struct Model {
    pending: VecDeque<Byte>,
    events: usize,
    state: KSSTATE,
}

fn check_fill(
    packer: &PackerHandle,
    model: &mut Model,
    size: usize,
    base: REFERENCE_TIME,
    format: PackerFormat,
) {
    let mut buf = vec![0xAAu8; size];
    let f = packer.fill(&mut buf, base);
    let usable = match format {
        PackerFormat::DirectMusic => size & !7,
        PackerFormat::Ks => size,
    };
    assert!(f.bytes <= usable, "{} bytes used of {usable}", f.bytes);
    assert!(
        buf[f.bytes..].iter().all(|&b| b == 0xAA),
        "bytes written past DataUsed"
    );
    if model.pending.is_empty() {
        assert_eq!(f.bytes, 0, "records without queued data");
    } else if usable >= format.min_record() {
        assert!(f.bytes > 0, "no record in {usable} bytes with data queued");
    }
    let records = match format {
        PackerFormat::DirectMusic => parse_dmus_records(&buf[..f.bytes]),
        PackerFormat::Ks => parse_ks_records(&buf[..f.bytes]),
    };
    let mut marked = false;
    for r in &records {
        let first = *model
            .pending
            .front()
            .expect("a record of bytes never queued");
        for (i, &b) in r.data.iter().enumerate() {
            let q = model
                .pending
                .pop_front()
                .expect("a record of bytes never queued");
            assert_eq!(b, q.value, "byte {i} of a record: {r:?}");
            assert_eq!(
                q.event, first.event,
                "a record holds bytes of two events: {r:?}"
            );
            marked |= q.marked;
        }
        if let Some(g) = r.group {
            assert_eq!(g, u32::from(first.group), "the group of {r:?}");
            assert_eq!(r.delta, first.time.saturating_sub(base), "rtDelta of {r:?}");
        }
    }
    if marked {
        assert!(
            f.discontinuity,
            "a marked event was copied without a discontinuity"
        );
    }
}

fuzz_target!(|input: Input| {
    let blocks = live_pool_blocks();
    let alloc = input.alloc.build();
    let a = alloc.interface();
    let format = if input.ks {
        PackerFormat::Ks
    } else {
        PackerFormat::DirectMusic
    };
    {
        let packer = PackerHandle::new(a.clone(), format).expect("a packer");
        let faults = input.alloc.pool_faults();
        let mut model = Model {
            pending: VecDeque::new(),
            events: 0,
            state: KSSTATE_STOP,
        };
        for op in input.ops.iter().take(MAX_OPS) {
            match op {
                Op::Put(parts) => {
                    let mut chain = Chain::new(a);
                    for e in expand(parts) {
                        // An event the bounded allocator cannot supply is left out.
                        let Ok(built) = ev_of(&e).build(a) else {
                            continue;
                        };
                        chain.push_back(built);
                        let mut flat = Vec::new();
                        flatten(&e, &mut flat);
                        for d in flat {
                            model.events += 1;
                            let marked = d.flags & DMUS_KEF_CAPTURE_DISCONTINUITY != 0;
                            for &value in d.data() {
                                model.pending.push_back(Byte {
                                    value,
                                    event: model.events,
                                    group: d.group,
                                    time: d.time,
                                    marked,
                                });
                            }
                        }
                    }
                    let s = chain.deliver(Some(packer.interface()));
                    assert_eq!(s, STATUS_SUCCESS);
                }
                Op::PutNull => assert_eq!(put_null(packer.interface()), STATUS_SUCCESS),
                &Op::Fill { size, base } => {
                    check_fill(&packer, &mut model, usize::from(size), base, format)
                }
                &Op::State(b) => {
                    let s = state_of(b);
                    let status = packer.SetState(s);
                    if s.known().is_none() {
                        assert_eq!(status, STATUS_INVALID_PARAMETER);
                    } else {
                        assert_eq!(status, STATUS_SUCCESS);
                        if model.state == KSSTATE_STOP && s == KSSTATE_ACQUIRE {
                            model.pending.clear();
                        }
                        model.state = s;
                    }
                }
            }
        }
        drop(faults);
        // Large IRPs take everything that is left.
        for _ in 0..=MAX_CHAIN_EVENTS * MAX_OPS {
            if packer.queued() == 0 {
                break;
            }
            check_fill(&packer, &mut model, 4096, 0, format);
        }
        assert_eq!(packer.queued(), 0, "events left after filling");
        assert!(model.pending.is_empty(), "queued bytes never written");
    }
    assert_balanced(&alloc);
    drop(alloc);
    assert_no_pool_leak(blocks);
});
