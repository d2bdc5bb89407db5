//! Procedural macros of [mxf](https://docs.rs/mxf): `#[com_interface]`, `#[com_object]`,
//! `#[mxf_filter]`, `#[mxf_miniport]` and `miniport_topology!`.
//!
//! Each entry point forwards to a `*_core` function over `proc_macro2` token streams, which
//! parses a model, checks it (collecting every error), and only then expands, one generator
//! function per emitted item. Nothing here panics on user input: every problem becomes a
//! `syn::Error` on the narrowest span the user wrote, and the user's item is still emitted so
//! that one mistake gives one error. The macros are re-exported and documented by `mxf`.

mod ctxt;
mod interface;
mod miniport;
mod object;
#[cfg(test)]
mod test_util;
mod topology;

use proc_macro::TokenStream;

/// Declares a kernel COM interface from an `unsafe trait`: the interface pointer type, the
/// `#[repr(C)]` vtable, the `_Impl` trait objects implement, and the IID.
///
/// Options: `iid = "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"` (the header's IID) or `no_iid` (no
/// header defines one), and `unsafe_impl` (implementing the interface is a promise: the `_Impl`
/// trait is `unsafe`); `root` and `filter_plumbing` are crate-internal (mxf's IUnknown, and IMXF
/// and IMxfFilter).
/// Use it as `mxf::com_interface` (also in `mxf::prelude`), documented there with an example of
/// every option.
#[proc_macro_attribute]
pub fn com_interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    interface::com_interface_core(attr.into(), item.into()).into()
}

/// Turns a struct into a kernel COM object: one vtable pointer per listed interface, a reference
/// count, QueryInterface over every interface and its ancestors, aggregation and fallible pooled
/// creation. The struct implements the `_Impl` trait of every interface (IUnknown's three
/// methods are the framework's).
///
/// Options: the interfaces (at least one), `qi_failure = STATUS_…` (QueryInterface's answer to an
/// unknown IID) and `tag = "abcd"` (the pool tag). Use it as `mxf::com_object` (also in
/// `mxf::prelude`), documented there with an example of every option.
#[proc_macro_attribute]
pub fn com_object(attr: TokenStream, item: TokenStream) -> TokenStream {
    object::com_object_core(attr.into(), item.into(), object::Kind::Object).into()
}

/// Turns a struct into an IMXF filter: the struct implements `mxf::filter::Filter` (one event
/// at a time) and the framework implements IMXF (chains, packages, connections, states, the
/// allocator's rules), as `mxf::filter::IMxfFilter` (IMXF and one slot for filter-to-filter
/// delivery).
///
/// Options: further interfaces after IMXF, `qi_failure = STATUS_…` and `tag = "abcd"`, as for
/// `com_object`. Use it as `mxf::mxf_filter` (also in `mxf::prelude`), documented there with an
/// example of every option.
#[proc_macro_attribute]
pub fn mxf_filter(attr: TokenStream, item: TokenStream) -> TokenStream {
    object::com_object_core(attr.into(), item.into(), object::Kind::Filter).into()
}

/// Turns a struct into a DMus miniport: the struct implements `mxf::miniport::DmusMiniport`
/// and its pins are declared with `miniport_topology!`; the framework implements
/// `IMiniportDMus` (`GetDescription`, `DataRangeIntersection`, `Init`'s and `NewStream`'s
/// checks and dispatch).
///
/// Options: further interfaces after IMiniportDMus, `qi_failure = STATUS_…` and `tag = "abcd"`,
/// as for `com_object`. Use it as `mxf::mxf_miniport` (also in `mxf::prelude`), documented
/// there.
#[proc_macro_attribute]
pub fn mxf_miniport(attr: TokenStream, item: TokenStream) -> TokenStream {
    object::com_object_core(attr.into(), item.into(), object::Kind::Miniport).into()
}

/// Declares a DMus miniport's pins, nodes, connections and categories once: the
/// `PCFILTER_DESCRIPTOR` and its tables (all `static`), the Synth property items of its synth
/// nodes, and the `mxf::miniport::Topology` the framework dispatches on. A declaration that
/// contradicts itself does not compile. Use it as `mxf::miniport_topology!`, documented there.
#[proc_macro]
pub fn miniport_topology(input: TokenStream) -> TokenStream {
    topology::miniport_topology_core(input.into()).into()
}
