//! In-process tests of `miniport_topology!`: `miniport_topology_core` on `quote!` inputs. What
//! the expansion does when compiled is covered by `tests/miniport_topology.rs` and `tests/ui`.

use super::miniport_topology_core;
use crate::test_util::{assert_no_error, assert_one_error, compact, errors};
use proc_macro2::TokenStream;
use quote::quote;

/// DMusUART's declaration with `body` spliced over its fields.
fn decl(body: TokenStream) -> TokenStream {
    miniport_topology_core(quote! {
        /// Docs.
        pub static UART for Uart { #body }
    })
}

fn uart_body() -> TokenStream {
    quote! {
        categories: [AUDIO, RENDER, CAPTURE],
        pins: {
            midi_out: render(midi), instances(1, 1, 0), name(KSAUDFNAME_MIDI),
            dmusic_out: render(directmusic), instances(1, 1, 0), name(KSAUDFNAME_DMUSIC_MPU_OUT),
            bridge_out: bridge(out, midi_bus),
            bridge_in: bridge(in, midi_bus),
            input: capture(midi, directmusic), instances(1, 1, 0), name(KSAUDFNAME_DMUSIC_MPU_IN),
        },
        nodes: { render_synth: synthesizer, input_synth: synthesizer },
        connections: [
            midi_out -> bridge_out,
            dmusic_out -> render_synth.1, render_synth.0 -> bridge_out,
            bridge_in -> input_synth.1, input_synth.0 -> input,
        ],
    }
}

#[test]
fn dmusuarts_declaration_expands_to_its_tables() {
    let out = decl(uart_body());
    assert_no_error(&out);
    let text = compact(&out);
    for item in [
        "pubstaticUART:::mxf::miniport::Topology=",
        "static__PINS:[::mxf::abi::PCPIN_DESCRIPTOR;5usize]",
        "static__NODES:[::mxf::abi::PCNODE_DESCRIPTOR;2usize]",
        "static__CONNECTIONS:[::mxf::abi::PCCONNECTION_DESCRIPTOR;5usize]",
        "static__CATEGORIES:[::mxf::abi::GUID;3usize]",
        "static__RANGES_4:::mxf::abi::DataRangeTable<2usize>",
        "::mxf::abi::DataRangeTable([::mxf::miniport::Format::Midi.range(),::mxf::miniport::Format::DirectMusic.range()])",
        "::mxf::miniport::synth_property_items::<__mxf_topology_owner_UART>()",
        "type__mxf_topology_owner_UART=Uart;",
        "unsafeimpl::mxf::miniport::HasTopologyfor__mxf_topology_owner_UART",
        "const__NAME_0:&::mxf::abi::GUID=&KSAUDFNAME_MIDI;",
        // Connections: F.0 -> F.2, F.1 -> 0.1, 0.0 -> F.2, F.3 -> 1.1, 1.0 -> F.4.
        "connection(::mxf::miniport::End::Pin(0u32),::mxf::miniport::End::Pin(2u32))",
        "connection(::mxf::miniport::End::Pin(1u32),::mxf::miniport::End::Node(0u32,1u32))",
        "connection(::mxf::miniport::End::Node(0u32,0u32),::mxf::miniport::End::Pin(2u32))",
        "connection(::mxf::miniport::End::Pin(3u32),::mxf::miniport::End::Node(1u32,1u32))",
        "connection(::mxf::miniport::End::Node(1u32,0u32),::mxf::miniport::End::Pin(4u32))",
        // Node 1 feeds the capture pin.
        "Node::__new(\"input_synth\",::mxf::miniport::NodeKind::Synthesizer,::mxf::miniport::Direction::Capture)",
        "Node::__new(\"render_synth\",::mxf::miniport::NodeKind::Synthesizer,::mxf::miniport::Direction::Render)",
        // Bridges get no instances.
        "Pin::__new(\"bridge_in\",::mxf::miniport::PinKind::BridgeIn,&[::mxf::miniport::Format::MidiBus],::mxf::miniport::Instances::new(0u32,0u32,0u32)",
    ] {
        assert!(text.contains(item), "the expansion lacks `{item}`:\n{out}");
    }
    // The owner type and each name path are named once: a wrong one is one error.
    assert_eq!(text.matches("=Uart;").count(), 1, "{out}");
    assert_eq!(text.matches("KSAUDFNAME_MIDI").count(), 1, "{out}");
    assert!(text.contains("\"midi_out\""));
}

#[test]
fn defaults_and_unlimited_counts() {
    let out = decl(quote! {
        categories: [AUDIO],
        pins: { a: render(midi), b: capture(midi), instances(unlimited, 4, 1) },
    });
    assert_no_error(&out);
    let text = compact(&out);
    assert!(text.contains("Instances::new(1u32,1u32,0u32)"), "{out}");
    assert!(
        text.contains(&format!("Instances::new({}u32,4u32,1u32)", u32::MAX)),
        "{out}"
    );
    // No nodes: no synth items.
    assert!(!text.contains("synth_property_items"), "{out}");
    assert!(text.contains("false,)"), "not directmusic_only: {out}");
}

#[test]
fn directmusic_only_opts_out_of_the_windows_midi_services_checks() {
    let out = decl(quote! {
        categories: [RENDER],
        pins: { dm: render(directmusic) },
        directmusic_only,
    });
    assert_no_error(&out);
    assert!(compact(&out).contains("true,)"), "{out}");
}

/// Each contradiction is one error, and the static is still emitted (so its users compile).
#[test]
fn every_contradiction_is_one_error() {
    let cases: Vec<(TokenStream, &str)> = vec![
        (quote! { categories: [AUDIO], pins: {} }, "at least one pin"),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), a: capture(midi) } },
            "a second pin named `a`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, connections: [a -> c] },
            "no pin or node named `c`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, nodes: { n: synthesizer }, connections: [a -> m.1] },
            "no pin or node named `m`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi, midi_bus) } },
            "`midi_bus` is the range of a bridge pin",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: capture(midi_bus) } },
            "a capture pin streams",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, directmusic) } },
            "a bridge pin carries the MIDI bus",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(sideways, midi_bus) } },
            "a bridge pin is `in`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi, midi) } },
            "`midi` is listed twice",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus), instances(1, 1, 0) } },
            "a bridge pin is never instantiated",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), instances(1, 1, 2) } },
            "the filter needs 2 pins but allows only 1",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), instances(1, 1) } },
            "takes three counts",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), instances(1, 0, 0) } },
            "can never be opened",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), colour(red) } },
            "unknown pin option `colour`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, nodes: { n: synthesizer }, connections: [a -> n.2, n.0 -> b] },
            "a node has two pins",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, nodes: { n: synthesizer }, connections: [a -> n.0, n.0 -> b] },
            "enters node `n` by its input, pin 1",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, nodes: { n: synthesizer }, connections: [a -> n.1, n.1 -> b] },
            "leaves node `n` by its output, pin 0",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, nodes: { n: synthesizer }, connections: [a -> n] },
            "name the pin of node `n`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, connections: [a -> b.1] },
            "it has no pin numbers",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: capture(midi), b: bridge(out, midi_bus) }, connections: [a -> b] },
            "data leaves the filter through `a`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(in, midi_bus) }, connections: [a -> b] },
            "data enters the filter through `b`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi), b: bridge(out, midi_bus) }, connections: [a -> b, a -> b] },
            "listed twice",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi) }, nodes: { a: synthesizer } },
            "names a pin already",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi) }, nodes: { n: mixer } },
            "unknown node kind `mixer`",
        ),
        (
            quote! { categories: [AUDIO, SPEAKERS], pins: { a: render(midi) } },
            "unknown category `SPEAKERS`",
        ),
        (
            quote! { categories: [AUDIO, AUDIO], pins: { a: render(midi) } },
            "`AUDIO` is listed twice",
        ),
        (
            quote! { categories: [], pins: { a: render(midi) } },
            "at least one category",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi) }, colour: red },
            "unknown field `colour`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi) }, pins: { b: render(midi) } },
            "`pins` is given twice",
        ),
        (
            quote! { pins: { a: render(midi) } },
            "lists its filter categories",
        ),
        (quote! { categories: [AUDIO] }, "declares its pins"),
        (
            quote! { categories: [AUDIO], pins: { a: render(directmusic), b: capture(directmusic) } },
            "Windows MIDI Services",
        ),
        (
            quote! { categories: [RENDER], pins: { a: render(midi) } },
            "lack `AUDIO`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(midi) }, directmusic_only },
            "`directmusic_only`, yet",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: playback(midi) } },
            "unknown pin kind `playback`",
        ),
        (
            quote! { categories: [AUDIO], pins: { a: render(mdi) } },
            "unknown range `mdi`",
        ),
    ];
    for (body, needle) in cases {
        let out = decl(body.clone());
        assert_one_error(&out, needle);
        // The static and its impl are still there.
        let text = compact(&out);
        assert!(
            text.contains("pubstaticUART:::mxf::miniport::Topology"),
            "{body}: {out}"
        );
        assert!(text.contains("HasTopologyfor"), "{body}: {out}");
    }
}

#[test]
fn malformed_syntax_is_a_parse_error() {
    for (input, needle) in [
        (quote! { pub UART for Uart { } }, "the topology is a static"),
        (
            quote! { static UART Uart { } },
            "expected `for MiniportType`",
        ),
        (
            quote! { static UART for Uart { categories: [AUDIO], pins: { a: render(midi), name(42) } } },
            "a pin name is a GUID constant",
        ),
    ] {
        let out = miniport_topology_core(input);
        let errs = errors(&out);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains(needle), "{errs:?}");
    }
}
