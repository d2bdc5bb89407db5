//! The capture sink fed any bytes: raw wire bytes cut into INCOMPLETE events (some COMPLETE,
//! packaged, on several channel groups), with flushes, state changes and a disconnection, into
//! a recorder or the packer, whose capture IRPs of any size are checked record by record (see
//! `mxf_fuzz::CaptureInput`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxf::abi::*;
use mxf::com::Interface;
use mxf::components::capture_sink::CaptureSinkHandle;
use mxf::components::packer::{PackerFormat, PackerHandle};
use mxf::event::{Chain, Event};
use mxf::interfaces::IMXF;
use mxf::testing::{Ev, Recorder};
use mxf_fuzz::*;

/// Moves the packer and the sink to `target` one step at a time, in the capture pin's order
/// (packer first going up, sink first going down), flushing the sink on PAUSE → ACQUIRE.
fn step(sink: &CaptureSinkHandle, packer: &PackerHandle, from: &mut KSSTATE, target: KSSTATE) {
    while *from != target {
        let next = if target.0 > from.0 {
            KSSTATE(from.0 + 1)
        } else {
            KSSTATE(from.0 - 1)
        };
        let objects: [&IMXF; 2] = [packer.interface(), sink.interface()];
        let order = if next.0 > from.0 { [0, 1] } else { [1, 0] };
        for i in order {
            assert_eq!(objects[i].SetState(next), STATUS_SUCCESS);
        }
        if *from == KSSTATE_PAUSE && next == KSSTATE_ACQUIRE {
            sink.flush();
        }
        *from = next;
    }
}

/// Fills capture IRPs while the packer has events and makes progress; checks every record.
fn fill(packer: &PackerHandle, input: &CaptureInput<'_>, base: REFERENCE_TIME) {
    let size = input.irp_len();
    while packer.queued() > 0 {
        let mut buf = vec![0u8; size];
        let f = packer.fill(&mut buf, base);
        assert!(f.bytes <= size);
        if f.bytes == 0 {
            // Only a buffer too small for the smallest record leaves events with data waiting.
            let usable = match packer.format() {
                PackerFormat::DirectMusic => size & !7,
                PackerFormat::Ks => size,
            };
            assert!(
                packer.queued() == 0 || usable < packer.format().min_record(),
                "no progress with {} events queued and {size} bytes",
                packer.queued()
            );
            break;
        }
        let used = &buf[..f.bytes];
        let records = match packer.format() {
            PackerFormat::DirectMusic => parse_dmus_records(used),
            PackerFormat::Ks => parse_ks_records(used),
        };
        for r in records {
            if let Some(g) = r.group {
                assert!((1..=32).contains(&g), "a record of channel group {g}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = CaptureInput::parse(data) else {
        return;
    };
    let blocks = live_pool_blocks();
    let spec = input.alloc();
    let alloc = spec.build();
    let (recorder, log) = Recorder::create(alloc.interface()).expect("a recorder");
    {
        let a = alloc.interface();
        let sink = CaptureSinkHandle::new(a.clone()).expect("a capture sink");
        let format = if input.flags & CAPTURE_KS != 0 {
            PackerFormat::Ks
        } else {
            PackerFormat::DirectMusic
        };
        let packer = PackerHandle::new(a.clone(), format).expect("a packer");
        let use_packer = input.flags & CAPTURE_PACKER != 0;
        let output: &IMXF = if use_packer {
            packer.interface()
        } else {
            &recorder
        };
        assert_eq!(sink.ConnectOutput(Some(output.to_ref())), STATUS_SUCCESS);
        let mut state = KSSTATE_STOP;
        step(&sink, &packer, &mut state, KSSTATE_RUN);
        let _faults = spec.pool_faults();

        let events: Vec<&[u8]> = input.bytes.chunks(input.chunk_len()).collect();
        let per_call = match input.per_call {
            0 => events.len().max(1),
            n => usize::from(n),
        };
        let calls = events.len().div_ceil(per_call);
        for (c, call) in events.chunks(per_call).enumerate() {
            let mut chain = Chain::new(a);
            for (i, bytes) in call.iter().enumerate() {
                let k = c * per_call + i;
                let mut ev = Ev::new(bytes.to_vec())
                    .group(input.group_of(k))
                    .at(k as i64 * 1000);
                if !input.is_complete(k) {
                    ev = ev.incomplete();
                }
                // An exhausted allocator: the event is not sent, as a device would lose it.
                if let Ok(e) = ev.build(a) {
                    chain.push_back(e);
                }
            }
            // Packaged (sent unpackaged if the allocator has no shell to spare).
            if input.flags & CAPTURE_PACKAGE != 0
                && !chain.is_empty()
                && let Some(shell) = Event::new(a)
            {
                let contents = std::mem::replace(&mut chain, Chain::new(a));
                if let Ok(p) = shell.into_package(contents) {
                    chain.push_back(p);
                }
            }
            let _ = chain.deliver(Some(sink.interface()));
            if use_packer {
                fill(&packer, &input, c as i64 * 1000);
            }
            if input.flags & CAPTURE_FLUSH != 0 {
                step(&sink, &packer, &mut state, KSSTATE_ACQUIRE);
                step(&sink, &packer, &mut state, KSSTATE_RUN);
            }
            if c == calls / 2 {
                if input.flags & CAPTURE_RESTART != 0 {
                    step(&sink, &packer, &mut state, KSSTATE_STOP);
                    step(&sink, &packer, &mut state, KSSTATE_RUN);
                }
                if input.flags & CAPTURE_DISCONNECT != 0 {
                    assert_eq!(sink.DisconnectOutput(Some(output.to_ref())), STATUS_SUCCESS);
                }
            }
        }
        // The pin stops: PAUSE -> ACQUIRE flushes what is pending into the packer.
        step(&sink, &packer, &mut state, KSSTATE_ACQUIRE);
        if use_packer {
            fill(&packer, &input, 0);
        }
        step(&sink, &packer, &mut state, KSSTATE_STOP);
    }

    // What the sink sent on: 1 to 240 bytes each; while every input event was INCOMPLETE, a
    // COMPLETE event is one whole message.
    for r in log.records() {
        let n = r.bytes.len();
        assert!((1..=240).contains(&n), "an event of {n} bytes: {r:?}");
        if input.complete_every != 0 || r.is_incomplete() {
            continue;
        }
        assert!(
            is_whole_message(&r.bytes),
            "a COMPLETE event that is no whole message: {r:?}"
        );
    }
    drop(recorder);
    assert_balanced(&alloc);
    drop(alloc);
    assert_no_pool_leak(blocks);
});
