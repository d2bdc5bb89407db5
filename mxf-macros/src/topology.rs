//! `miniport_topology!`: a DMus miniport's pins, nodes, connections and categories, declared
//! once; parse → check → expand into the PortCls tables (all `static`) and the Rust-side
//! `mxf::miniport::Topology`.
//!
//! ```text
//! miniport_topology! {
//!     /// docs
//!     pub static NAME for MiniportType {
//!         categories: [AUDIO, RENDER, CAPTURE],
//!         pins: {
//!             pin_name: render(midi, directmusic) [, instances(g, f, min)] [, name(GUID_CONST)],
//!             pin_name: capture(...) …,
//!             pin_name: bridge(in | out, midi_bus),
//!         },
//!         nodes: { node_name: synthesizer, … },          // optional
//!         connections: [ a -> b, a -> node.1, node.0 -> b ], // optional
//!         directmusic_only,                                  // optional
//!     }
//! }
//! ```

use crate::ctxt::Ctxt;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Ident, LitInt, Path, Token, Type, Visibility, braced, bracketed, parenthesized,
};

/// The testable core of `miniport_topology!`.
pub fn miniport_topology_core(input: TokenStream) -> TokenStream {
    let decl: Decl = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    let model = check(&decl, &mut cx);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => expand(&decl, &model),
        (Err(errors), _) => {
            let placeholder = placeholder(&decl);
            quote! { #errors #placeholder }
        }
        (Ok(()), None) => placeholder(&decl),
    }
}

// ---------------------------------------------------------------------------------------------
// Parse: the declaration as written, every token kept for its span.

struct Decl {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    owner: Type,
    fields: Vec<Field>,
    /// The braces of the body: where a missing field is reported.
    body: Span,
}

enum Field {
    Categories(Ident, Vec<Ident>),
    Pins(Ident, Vec<PinDecl>),
    Nodes(Ident, Vec<NodeDecl>),
    Connections(Ident, Vec<ConnDecl>),
    DirectMusicOnly(Ident),
    Unknown(Ident),
}

impl Field {
    fn key(&self) -> &Ident {
        match self {
            Field::Categories(k, _)
            | Field::Pins(k, _)
            | Field::Nodes(k, _)
            | Field::Connections(k, _)
            | Field::DirectMusicOnly(k)
            | Field::Unknown(k) => k,
        }
    }
}

struct PinDecl {
    name: Ident,
    kind: Ident,
    args: Vec<Ident>,
    /// The parentheses of the kind's arguments.
    args_span: Span,
    options: Vec<PinOption>,
}

enum PinOption {
    Instances(Ident, Vec<Count>),
    Name(Ident, Path),
    Unknown(Ident),
}

enum Count {
    Number(LitInt),
    Unlimited,
    Other(TokenStream),
}

struct NodeDecl {
    name: Ident,
    kind: Ident,
}

struct ConnDecl {
    from: EndDecl,
    to: EndDecl,
}

struct EndDecl {
    name: Ident,
    pin: Option<LitInt>,
}

impl Parse for Decl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![static]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `static NAME for MiniportType { … }`: the topology is a static",
            )
        })?;
        let name: Ident = input.parse()?;
        input.parse::<Token![for]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `for MiniportType`: the `#[mxf_miniport]` struct the topology belongs to",
            )
        })?;
        let owner = Type::Path(input.parse()?);
        let content;
        let brace = braced!(content in input);
        let mut fields = Vec::new();
        while !content.is_empty() {
            fields.push(parse_field(&content)?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the topology's braces"));
        }
        Ok(Decl {
            attrs,
            vis,
            name,
            owner,
            fields,
            body: brace.span.join(),
        })
    }
}

fn parse_field(input: ParseStream) -> syn::Result<Field> {
    let key: Ident = input.parse()?;
    let field = match key.to_string().as_str() {
        "directmusic_only" => return Ok(Field::DirectMusicOnly(key)),
        "categories" => {
            input.parse::<Token![:]>()?;
            let content;
            bracketed!(content in input);
            let list = content.parse_terminated(Ident::parse, Token![,])?;
            Field::Categories(key, list.into_iter().collect())
        }
        "pins" => {
            input.parse::<Token![:]>()?;
            let content;
            braced!(content in input);
            Field::Pins(key, parse_pins(&content)?)
        }
        "nodes" => {
            input.parse::<Token![:]>()?;
            let content;
            braced!(content in input);
            let mut nodes = Vec::new();
            while !content.is_empty() {
                let name: Ident = content.parse()?;
                content.parse::<Token![:]>()?;
                let kind: Ident = content.parse()?;
                nodes.push(NodeDecl { name, kind });
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            Field::Nodes(key, nodes)
        }
        "connections" => {
            input.parse::<Token![:]>()?;
            let content;
            bracketed!(content in input);
            let mut conns = Vec::new();
            while !content.is_empty() {
                let from = parse_end(&content)?;
                content.parse::<Token![->]>()?;
                let to = parse_end(&content)?;
                conns.push(ConnDecl { from, to });
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            Field::Connections(key, conns)
        }
        _ => {
            // Reported by the checks; its value is skipped.
            if input.peek(Token![:]) {
                input.parse::<Token![:]>()?;
                input.parse::<proc_macro2::TokenTree>()?;
            }
            Field::Unknown(key)
        }
    };
    Ok(field)
}

fn parse_pins(input: ParseStream) -> syn::Result<Vec<PinDecl>> {
    let mut pins = Vec::new();
    while !input.is_empty() {
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let kind: Ident = input.parse()?;
        let content;
        let parens = parenthesized!(content in input);
        let args = content.parse_terminated(Ident::parse_any, Token![,])?;
        let mut options = Vec::new();
        // `, option(...)` belongs to this pin; `, name: ...` starts the next one.
        while input.peek(Token![,]) && input.peek2(Ident) && !input.peek3(Token![:]) {
            input.parse::<Token![,]>()?;
            options.push(parse_pin_option(input)?);
        }
        pins.push(PinDecl {
            name,
            kind,
            args: args.into_iter().collect(),
            args_span: parens.span.join(),
            options,
        });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(pins)
}

fn parse_pin_option(input: ParseStream) -> syn::Result<PinOption> {
    let key: Ident = input.parse()?;
    let content;
    parenthesized!(content in input);
    Ok(match key.to_string().as_str() {
        "instances" => {
            let mut counts = Vec::new();
            while !content.is_empty() {
                let count = if content.peek(LitInt) {
                    Count::Number(content.parse()?)
                } else if content.peek(Ident) && content.fork().parse::<Ident>()? == "unlimited" {
                    {
                        content.parse::<Ident>()?;
                        Count::Unlimited
                    }
                } else {
                    let mut other = TokenStream::new();
                    while !content.is_empty() && !content.peek(Token![,]) {
                        other.extend([content.parse::<proc_macro2::TokenTree>()?]);
                    }
                    Count::Other(other)
                };
                counts.push(count);
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            PinOption::Instances(key, counts)
        }
        "name" => {
            let path: Path = content.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "a pin name is a GUID constant, such as `KSAUDFNAME_MIDI`",
                )
            })?;
            if !content.is_empty() {
                return Err(content.error("a pin name is one GUID constant"));
            }
            PinOption::Name(key, path)
        }
        _ => {
            // Reported by the checks.
            let _: TokenStream = content.parse()?;
            PinOption::Unknown(key)
        }
    })
}

fn parse_end(input: ParseStream) -> syn::Result<EndDecl> {
    let name: Ident = input.parse()?;
    let pin = if input.peek(Token![.]) {
        input.parse::<Token![.]>()?;
        Some(input.parse::<LitInt>()?)
    } else {
        None
    };
    Ok(EndDecl { name, pin })
}

// ---------------------------------------------------------------------------------------------
// Check: the model the expansion is built from, and every contradiction as an error.

#[derive(Clone, Copy, PartialEq, Eq)]
enum PinKind {
    Render,
    Capture,
    BridgeIn,
    BridgeOut,
}

impl PinKind {
    fn is_bridge(self) -> bool {
        matches!(self, PinKind::BridgeIn | PinKind::BridgeOut)
    }
    /// Data flows into the filter through it (KSPIN_DATAFLOW_IN).
    fn flows_in(self) -> bool {
        matches!(self, PinKind::Render | PinKind::BridgeIn)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Midi,
    DirectMusic,
    MidiBus,
}

struct PinModel {
    name: Ident,
    kind: PinKind,
    formats: Vec<Format>,
    instances: (u32, u32, u32),
    guid_name: Option<Path>,
}

struct NodeModel {
    name: Ident,
    capture: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Pin(usize),
    Node(usize, u32),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    Audio,
    Render,
    Capture,
}

struct Model {
    pins: Vec<PinModel>,
    nodes: Vec<NodeModel>,
    connections: Vec<(End, End)>,
    categories: Vec<Category>,
    directmusic_only: bool,
}

fn check(decl: &Decl, cx: &mut Ctxt) -> Option<Model> {
    let mut categories = None;
    let mut pins = None;
    let mut nodes = None;
    let mut connections = None;
    let mut directmusic_only = None;
    for f in &decl.fields {
        let key = f.key();
        let seen = match f {
            Field::Categories(_, c) => categories.replace((key, c)).is_some(),
            Field::Pins(_, p) => pins.replace((key, p)).is_some(),
            Field::Nodes(_, n) => nodes.replace((key, n)).is_some(),
            Field::Connections(_, c) => connections.replace((key, c)).is_some(),
            Field::DirectMusicOnly(k) => directmusic_only.replace(k).is_some(),
            Field::Unknown(k) => {
                cx.error_spanned_by(
                    k,
                    format!(
                        "unknown field `{k}`; expected `categories`, `pins`, `nodes`, `connections` or `directmusic_only`"
                    ),
                );
                false
            }
        };
        if seen {
            cx.error_spanned_by(key, format!("`{key}` is given twice"));
        }
    }
    let Some((categories_key, category_idents)) = categories else {
        cx.error_at(
            decl.body,
            "a topology lists its filter categories: `categories: [AUDIO, RENDER, CAPTURE]`",
        );
        return None;
    };
    let Some((pins_key, pin_decls)) = pins else {
        cx.error_at(decl.body, "a topology declares its pins: `pins: { … }`");
        return None;
    };

    // A visibility error only for declarations that are otherwise right: a misspelt range or
    // category is one error, not two.
    let before = cx.len();
    let categories = check_categories(categories_key, category_idents, cx);
    let categories_ok = cx.len() == before;
    let before = cx.len();
    let pins = check_pins(pins_key, pin_decls, cx);
    let pins_ok = cx.len() == before;
    let mut node_models = Vec::new();
    for n in nodes.map(|(_, n)| n.as_slice()).unwrap_or_default() {
        if n.kind != "synthesizer" {
            cx.error_spanned_by(
                &n.kind,
                format!("unknown node kind `{}`; expected `synthesizer`", n.kind),
            );
        }
        if pins.iter().any(|p| p.name == n.name) {
            cx.error_spanned_by(
                &n.name,
                format!(
                    "`{}` names a pin already; give the node its own name",
                    n.name
                ),
            );
        } else if node_models.iter().any(|m: &NodeModel| m.name == n.name) {
            cx.error_spanned_by(&n.name, format!("a second node named `{}`", n.name));
        }
        node_models.push(NodeModel {
            name: n.name.clone(),
            capture: false,
        });
    }
    let conn_decls = connections.map(|(_, c)| c.as_slice()).unwrap_or_default();
    let mut resolved: Vec<(End, End)> = Vec::new();
    for c in conn_decls {
        let from = resolve_end(&c.from, &pins, &node_models, true, cx);
        let to = resolve_end(&c.to, &pins, &node_models, false, cx);
        let (Some(from), Some(to)) = (from, to) else {
            continue;
        };
        if resolved.contains(&(from, to)) {
            cx.error_spanned_by(&c.from.name, "this connection is listed twice");
            continue;
        }
        resolved.push((from, to));
    }
    let connections = resolved;
    for (k, node) in node_models.iter_mut().enumerate() {
        node.capture = leads_to_capture(k, &connections, &pins);
    }

    // Windows MIDI Services (kernel.md §1): visible through KSCATEGORY_AUDIO, MIDI bytestream
    // pins only.
    let has_midi = pins
        .iter()
        .any(|p| !p.kind.is_bridge() && p.formats.contains(&Format::Midi));
    match directmusic_only {
        Some(k) if has_midi => cx.error_spanned_by(
            k,
            "`directmusic_only`, yet a render or capture pin offers `midi`: remove the option (the device is visible to Windows MIDI Services)",
        ),
        Some(_) => {}
        None => {
            if pins_ok && !has_midi {
                cx.error_spanned_by(
                    pins_key,
                    "no render or capture pin offers `midi` (a MIDI bytestream range): Windows MIDI Services, Windows 11's MIDI stack, opens only such pins and would not see this device; add `midi` to a pin, or write `directmusic_only` for a device meant for DirectMusic clients alone",
                );
            }
            if categories_ok && !categories.contains(&Category::Audio) {
                cx.error_spanned_by(
                    categories_key,
                    "the categories lack `AUDIO`: Windows MIDI Services finds MIDI devices through their KSCATEGORY_AUDIO interfaces and would not see this one; add `AUDIO`, or write `directmusic_only` for a device meant for DirectMusic clients alone",
                );
            }
        }
    }
    Some(Model {
        pins,
        nodes: node_models,
        connections,
        categories,
        directmusic_only: directmusic_only.is_some(),
    })
}

fn check_categories(key: &Ident, idents: &[Ident], cx: &mut Ctxt) -> Vec<Category> {
    if idents.is_empty() {
        cx.error_spanned_by(
            key,
            "a topology has at least one category: `PcRegisterSubdevice` registers one device interface per category",
        );
    }
    let mut out = Vec::new();
    for i in idents {
        let c = match i.to_string().as_str() {
            "AUDIO" => Category::Audio,
            "RENDER" => Category::Render,
            "CAPTURE" => Category::Capture,
            _ => {
                cx.error_spanned_by(
                    i,
                    format!("unknown category `{i}`; expected `AUDIO`, `RENDER` or `CAPTURE`"),
                );
                continue;
            }
        };
        if out.contains(&c) {
            cx.error_spanned_by(i, format!("`{i}` is listed twice"));
        } else {
            out.push(c);
        }
    }
    out
}

fn check_pins(key: &Ident, decls: &[PinDecl], cx: &mut Ctxt) -> Vec<PinModel> {
    if decls.is_empty() {
        cx.error_spanned_by(
            key,
            "a miniport has at least one pin: the port opens streams on pins",
        );
    }
    let mut pins: Vec<PinModel> = Vec::new();
    for d in decls {
        if pins.iter().any(|p| p.name == d.name) {
            cx.error_spanned_by(&d.name, format!("a second pin named `{}`", d.name));
        }
        let (kind, format_args) = match d.kind.to_string().as_str() {
            "render" => (PinKind::Render, d.args.as_slice()),
            "capture" => (PinKind::Capture, d.args.as_slice()),
            "bridge" => {
                let Some((dir, rest)) = d.args.split_first() else {
                    cx.error_at(
                        d.args_span,
                        "a bridge pin says which way data flows and its range: `bridge(out, midi_bus)`",
                    );
                    continue;
                };
                let kind = match dir.to_string().as_str() {
                    "in" => PinKind::BridgeIn,
                    "out" => PinKind::BridgeOut,
                    _ => {
                        cx.error_spanned_by(
                            dir,
                            "a bridge pin is `in` (from the hardware into the filter) or `out` (from the filter to the hardware)",
                        );
                        continue;
                    }
                };
                (kind, rest)
            }
            _ => {
                cx.error_spanned_by(
                    &d.kind,
                    format!(
                        "unknown pin kind `{}`; expected `render(…)`, `capture(…)` or `bridge(in | out, midi_bus)`",
                        d.kind
                    ),
                );
                continue;
            }
        };
        if format_args.is_empty() {
            cx.error_at(
                d.args_span,
                if kind.is_bridge() {
                    "a bridge pin's range is `midi_bus`: `bridge(out, midi_bus)`"
                } else {
                    "a stream pin lists its ranges: `midi`, `directmusic` or both"
                },
            );
        }
        let mut formats = Vec::new();
        for f in format_args {
            let format = match f.to_string().as_str() {
                "midi" => Format::Midi,
                "directmusic" => Format::DirectMusic,
                "midi_bus" => Format::MidiBus,
                _ => {
                    cx.error_spanned_by(
                        f,
                        format!(
                            "unknown range `{f}`; expected `midi`, `directmusic` or `midi_bus`"
                        ),
                    );
                    continue;
                }
            };
            match (kind, format) {
                (PinKind::Render | PinKind::Capture, Format::MidiBus) => {
                    let what = if kind == PinKind::Render {
                        "render"
                    } else {
                        "capture"
                    };
                    cx.error_spanned_by(
                        f,
                        format!(
                            "`midi_bus` is the range of a bridge pin to the hardware; a {what} pin streams `midi` or `directmusic`"
                        ),
                    );
                    continue;
                }
                (PinKind::BridgeIn | PinKind::BridgeOut, Format::Midi | Format::DirectMusic) => {
                    cx.error_spanned_by(
                        f,
                        format!(
                            "a bridge pin carries the MIDI bus to the hardware, not `{f}`: its range is `midi_bus`"
                        ),
                    );
                    continue;
                }
                _ => {}
            }
            if formats.contains(&format) {
                cx.error_spanned_by(f, format!("`{f}` is listed twice"));
                continue;
            }
            formats.push(format);
        }
        let mut instances = None;
        let mut guid_name = None;
        for o in &d.options {
            match o {
                PinOption::Instances(k, counts) => {
                    if kind.is_bridge() {
                        cx.error_spanned_by(
                            k,
                            "a bridge pin is never instantiated (its instances are 0, 0, 0): remove `instances`",
                        );
                        continue;
                    }
                    if instances.is_some() {
                        cx.error_spanned_by(k, "`instances` is given twice");
                        continue;
                    }
                    instances = check_instances(k, counts, cx);
                }
                PinOption::Name(k, path) => {
                    if guid_name.replace(path.clone()).is_some() {
                        cx.error_spanned_by(k, "`name` is given twice");
                    }
                }
                PinOption::Unknown(k) => cx.error_spanned_by(
                    k,
                    format!("unknown pin option `{k}`; expected `instances(global, filter, min)` or `name(GUID)`"),
                ),
            }
        }
        let instances = if kind.is_bridge() {
            (0, 0, 0)
        } else {
            instances.unwrap_or((1, 1, 0))
        };
        pins.push(PinModel {
            name: d.name.clone(),
            kind,
            formats,
            instances,
            guid_name,
        });
    }
    pins
}

fn check_instances(key: &Ident, counts: &[Count], cx: &mut Ctxt) -> Option<(u32, u32, u32)> {
    let mut values = Vec::new();
    for c in counts {
        match c {
            Count::Number(n) => match n.base10_parse::<u32>() {
                Ok(v) => values.push(v),
                Err(_) => {
                    cx.error_spanned_by(n, "an instance count is a `u32`, or `unlimited`");
                    return None;
                }
            },
            Count::Unlimited => values.push(u32::MAX),
            Count::Other(t) => {
                cx.error_spanned_by(t, "an instance count is an integer literal, or `unlimited`");
                return None;
            }
        }
    }
    let [global, filter, min] = values[..] else {
        cx.error_spanned_by(
            key,
            "`instances(global, filter, min)` takes three counts: pins in the system, per filter, and needed",
        );
        return None;
    };
    if min > filter {
        cx.error_spanned_by(
            key,
            format!("the filter needs {min} pins but allows only {filter}"),
        );
        return None;
    }
    if filter == 0 {
        cx.error_spanned_by(
            key,
            "a stream pin with no instances can never be opened; a pin that is only described is a `bridge`",
        );
        return None;
    }
    Some((global, filter, min))
}

/// Resolves one end of a connection; `from` is the source side.
fn resolve_end(
    e: &EndDecl,
    pins: &[PinModel],
    nodes: &[NodeModel],
    from: bool,
    cx: &mut Ctxt,
) -> Option<End> {
    if let Some(k) = pins.iter().position(|p| p.name == e.name) {
        if let Some(n) = &e.pin {
            cx.error_spanned_by(
                n,
                format!(
                    "`{}` is a pin of the filter: it has no pin numbers (only nodes do)",
                    e.name
                ),
            );
            return None;
        }
        let kind = pins.get(k)?.kind;
        if from && !kind.flows_in() {
            cx.error_spanned_by(
                &e.name,
                format!(
                    "data leaves the filter through `{}`: a connection starts at a pin data enters by (render, or bridge in)",
                    e.name
                ),
            );
            return None;
        }
        if !from && kind.flows_in() {
            cx.error_spanned_by(
                &e.name,
                format!(
                    "data enters the filter through `{}`: a connection ends at a pin data leaves by (capture, or bridge out)",
                    e.name
                ),
            );
            return None;
        }
        return Some(End::Pin(k));
    }
    if let Some(k) = nodes.iter().position(|n| n.name == e.name) {
        let Some(n) = &e.pin else {
            cx.error_spanned_by(
                &e.name,
                format!(
                    "name the pin of node `{0}`: `{0}.1` (its input) or `{0}.0` (its output)",
                    e.name
                ),
            );
            return None;
        };
        let pin = match n.base10_parse::<u32>() {
            Ok(p @ (0 | 1)) => p,
            _ => {
                cx.error_spanned_by(
                    n,
                    "a node has two pins: 0 (KSNODEPIN_STANDARD_OUT) and 1 (KSNODEPIN_STANDARD_IN)",
                );
                return None;
            }
        };
        if from && pin != 0 {
            cx.error_spanned_by(
                n,
                format!("a connection leaves node `{}` by its output, pin 0", e.name),
            );
            return None;
        }
        if !from && pin != 1 {
            cx.error_spanned_by(
                n,
                format!("a connection enters node `{}` by its input, pin 1", e.name),
            );
            return None;
        }
        return Some(End::Node(k, pin));
    }
    cx.error_spanned_by(&e.name, format!("no pin or node named `{}`", e.name));
    None
}

/// Whether node `k`'s output leads (through other nodes) to a capture pin.
fn leads_to_capture(k: usize, connections: &[(End, End)], pins: &[PinModel]) -> bool {
    let mut seen = vec![k];
    let mut todo = vec![k];
    while let Some(n) = todo.pop() {
        for (from, to) in connections {
            if *from != End::Node(n, 0) {
                continue;
            }
            match to {
                End::Pin(p) if pins.get(*p).is_some_and(|p| p.kind == PinKind::Capture) => {
                    return true;
                }
                End::Node(m, _) if !seen.contains(m) => {
                    seen.push(*m);
                    todo.push(*m);
                }
                _ => {}
            }
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Expand.

fn owner_alias(decl: &Decl) -> Ident {
    format_ident!("__mxf_topology_owner_{}", decl.name)
}

fn gen_owner(decl: &Decl) -> TokenStream {
    let alias = owner_alias(decl);
    let owner = &decl.owner;
    // The user's type is named once, here: a wrong name is one error.
    quote_spanned! {owner.span()=>
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        type #alias = #owner;
    }
}

fn gen_has_topology(decl: &Decl) -> TokenStream {
    let alias = owner_alias(decl);
    let name = &decl.name;
    quote_spanned! {decl.owner.span()=>
        // SAFETY: this declaration's own static, named by this implementation only (a second
        // declaration for the type conflicts with it), its synth items monomorphized for it.
        unsafe impl ::mxf::miniport::HasTopology for #alias {
            fn topology() -> &'static ::mxf::miniport::Topology {
                &#name
            }
        }
    }
}

/// On error: the static and its impl over an empty topology, so that uses of the name and the
/// miniport's `impl DmusMiniport` are no second error.
fn placeholder(decl: &Decl) -> TokenStream {
    let (attrs, vis, name) = (&decl.attrs, &decl.vis, &decl.name);
    let owner = gen_owner(decl);
    let has = gen_has_topology(decl);
    quote! {
        #owner
        #(#attrs)*
        #vis static #name: ::mxf::miniport::Topology = ::mxf::miniport::Topology::__new(
            ::mxf::miniport::filter_descriptor(&[], &[], &[], &[]),
            &[],
            &[],
            &[],
            false,
        );
        #has
    }
}

fn format_path(f: Format) -> TokenStream {
    match f {
        Format::Midi => quote! { ::mxf::miniport::Format::Midi },
        Format::DirectMusic => quote! { ::mxf::miniport::Format::DirectMusic },
        Format::MidiBus => quote! { ::mxf::miniport::Format::MidiBus },
    }
}

fn kind_path(k: PinKind) -> TokenStream {
    match k {
        PinKind::Render => quote! { ::mxf::miniport::PinKind::Render },
        PinKind::Capture => quote! { ::mxf::miniport::PinKind::Capture },
        PinKind::BridgeIn => quote! { ::mxf::miniport::PinKind::BridgeIn },
        PinKind::BridgeOut => quote! { ::mxf::miniport::PinKind::BridgeOut },
    }
}

fn category_path(c: Category) -> TokenStream {
    match c {
        Category::Audio => quote! { ::mxf::miniport::Category::Audio },
        Category::Render => quote! { ::mxf::miniport::Category::Render },
        Category::Capture => quote! { ::mxf::miniport::Category::Capture },
    }
}

fn end_expr(e: End) -> TokenStream {
    match e {
        End::Pin(k) => {
            let k = k as u32;
            quote! { ::mxf::miniport::End::Pin(#k) }
        }
        End::Node(k, pin) => {
            let k = k as u32;
            quote! { ::mxf::miniport::End::Node(#k, #pin) }
        }
    }
}

fn expand(decl: &Decl, m: &Model) -> TokenStream {
    let (attrs, vis, name) = (&decl.attrs, &decl.vis, &decl.name);
    let owner = gen_owner(decl);
    let alias = owner_alias(decl);
    let has = gen_has_topology(decl);

    let mut items = Vec::new();
    let mut pin_descriptors = Vec::new();
    let mut pin_infos = Vec::new();
    for (k, p) in m.pins.iter().enumerate() {
        let ranges = format_ident!("__RANGES_{}", k);
        let n = p.formats.len();
        let formats: Vec<_> = p.formats.iter().map(|f| format_path(*f)).collect();
        items.push(quote! {
            static #ranges: ::mxf::abi::DataRangeTable<#n> =
                ::mxf::abi::DataRangeTable([#(#formats.range()),*]);
        });
        let guid_name = match &p.guid_name {
            Some(path) => {
                let konst = format_ident!("__NAME_{}", k);
                // The user's path is named once, here, as a `&GUID`: anything else is one
                // type error at that path.
                items.push(quote_spanned! {path.span()=>
                    const #konst: &::mxf::abi::GUID = &#path;
                });
                quote! { ::core::option::Option::Some(#konst) }
            }
            None => quote! { ::core::option::Option::None },
        };
        let kind = kind_path(p.kind);
        let (g, f, min) = p.instances;
        let instances = quote! { ::mxf::miniport::Instances::new(#g, #f, #min) };
        pin_descriptors.push(quote! {
            ::mxf::miniport::pin_descriptor(
                #kind,
                #instances,
                (#ranges.count(), #ranges.as_ptr()),
                #guid_name,
            )
        });
        let pin_name = p.name.to_string();
        pin_infos.push(quote! {
            ::mxf::miniport::Pin::__new(#pin_name, #kind, &[#(#formats),*], #instances, #guid_name)
        });
    }
    let pin_count = m.pins.len();

    let node_count = m.nodes.len();
    let synth = (node_count > 0).then(|| {
        quote_spanned! {decl.owner.span()=>
            static __SYNTH_ITEMS: [::mxf::abi::PCPROPERTY_ITEM; 4] =
                ::mxf::miniport::synth_property_items::<#alias>();
            static __SYNTH_AUTOMATION: ::mxf::abi::PCAUTOMATION_TABLE =
                ::mxf::abi::PCAUTOMATION_TABLE::properties(&__SYNTH_ITEMS);
        }
    });
    let node_descriptors = m.nodes.iter().map(|_| {
        quote! {
            ::mxf::miniport::node_descriptor(
                ::mxf::miniport::NodeKind::Synthesizer,
                &__SYNTH_AUTOMATION,
            )
        }
    });
    let node_infos = m.nodes.iter().map(|n| {
        let node_name = n.name.to_string();
        let direction = if n.capture {
            quote! { ::mxf::miniport::Direction::Capture }
        } else {
            quote! { ::mxf::miniport::Direction::Render }
        };
        quote! {
            ::mxf::miniport::Node::__new(#node_name, ::mxf::miniport::NodeKind::Synthesizer, #direction)
        }
    });

    let connection_count = m.connections.len();
    let connections = m.connections.iter().map(|(from, to)| {
        let (from, to) = (end_expr(*from), end_expr(*to));
        quote! { ::mxf::miniport::connection(#from, #to) }
    });
    let category_count = m.categories.len();
    let categories: Vec<_> = m.categories.iter().map(|c| category_path(*c)).collect();
    let directmusic_only = m.directmusic_only;

    quote! {
        #owner
        #(#attrs)*
        #vis static #name: ::mxf::miniport::Topology = {
            #(#items)*
            #synth
            static __PINS: [::mxf::abi::PCPIN_DESCRIPTOR; #pin_count] = [#(#pin_descriptors),*];
            static __PIN_INFO: [::mxf::miniport::Pin; #pin_count] = [#(#pin_infos),*];
            static __NODES: [::mxf::abi::PCNODE_DESCRIPTOR; #node_count] = [#(#node_descriptors),*];
            static __NODE_INFO: [::mxf::miniport::Node; #node_count] = [#(#node_infos),*];
            static __CONNECTIONS: [::mxf::abi::PCCONNECTION_DESCRIPTOR; #connection_count] =
                [#(#connections),*];
            static __CATEGORIES: [::mxf::abi::GUID; #category_count] =
                [#(#categories.guid()),*];
            ::mxf::miniport::Topology::__new(
                ::mxf::miniport::filter_descriptor(&__PINS, &__NODES, &__CONNECTIONS, &__CATEGORIES),
                &__PIN_INFO,
                &__NODE_INFO,
                &[#(#categories),*],
                #directmusic_only,
            )
        };
        #has
    }
}

#[cfg(test)]
#[path = "topology_tests.rs"]
mod tests;
