//! The checked model of an interface: what the expansion is generated from.

use super::attr::Options;
use super::check;
use crate::ctxt::Ctxt;
use proc_macro2::Ident;
use syn::{Attribute, ItemTrait, Path, TraitItem, Type, TypeParamBound, Visibility};

pub struct Interface {
    pub attrs: Vec<Attribute>,
    /// The user's `unsafe` (the promise that the IID names this layout): re-emitted on the
    /// `unsafe impl Interface`, so `#![forbid(unsafe_code)]` sees it.
    pub unsafety: Option<syn::Token![unsafe]>,
    /// `unsafe_impl`: the `_Impl` trait is an `unsafe trait` (safe code trusts what its
    /// implementations return, as the event layer trusts an allocator's `GetBufferSize`).
    pub unsafe_impl_trait: bool,
    pub vis: Visibility,
    pub ident: Ident,
    /// `None` only for the root (IUnknown).
    pub base: Option<Path>,
    pub iid: Option<u128>,
    /// The user's IID string: a clash with an ancestor's IID is reported there.
    pub iid_span: proc_macro2::Span,
    pub methods: Vec<Method>,
    /// Generate `impl IFoo_Impl for FilterObject<F> where F: IFoo_Impl` (forwarding to the
    /// filter), so an `#[mxf_filter]` struct can expose the interface: every interface but the
    /// root and the one the filter plumbing implements (IMXF).
    pub forward_to_filter: bool,
    /// `filter_plumbing`: the framework implements this interface for every `#[mxf_filter]`
    /// (IMXF), so a filter struct must not implement it itself.
    pub filter_plumbing: bool,
}

pub struct Method {
    pub attrs: Vec<Attribute>,
    pub ident: Ident,
    pub params: Vec<(Ident, Type)>,
    pub ret: Option<Type>,
    /// The `_Impl` method is an `unsafe fn`: some parameter is not a plain value (a raw pointer,
    /// or a type the macro cannot see through), so its implementation relies on its caller.
    pub unsafe_impl: bool,
    /// `#[deprecated]` and `#[must_use]`: they go on the client method, where calls are.
    pub client_attrs: Vec<Attribute>,
}

impl Interface {
    pub fn from_trait(t: &ItemTrait, options: Options, cx: &mut Ctxt) -> Option<Interface> {
        if t.unsafety.is_none() {
            cx.error_spanned_by(
                t.trait_token,
                "a COM interface must be an `unsafe trait`: its methods are called through raw vtables by code that trusts their layout",
            );
        }
        if let Some(tokens) = crate::ctxt::generics_tokens(&t.generics) {
            cx.error_spanned_by(tokens, "a COM interface cannot be generic");
        }
        if let Some(a) = &t.auto_token {
            cx.error_spanned_by(a, "a COM interface cannot be an auto trait");
        }
        let base = base_interface(t, options.root, cx);
        let mut methods: Vec<Method> = Vec::new();
        for item in &t.items {
            match item {
                TraitItem::Fn(f) if !options.root && is_iunknown_method(&f.sig.ident) => {
                    let name = &f.sig.ident;
                    cx.error_spanned_by(
                        name,
                        format!(
                            "`{name}` is IUnknown's: every interface inherits QueryInterface, AddRef and Release through its base, so declaring it again (as C headers do) adds a slot and moves every later method; remove it"
                        ),
                    );
                }
                TraitItem::Fn(f) => {
                    if let Some(m) = check::method(f, cx) {
                        if methods.iter().any(|o| o.ident == m.ident) {
                            cx.error_spanned_by(
                                &m.ident,
                                format!("`{}` is declared twice", m.ident),
                            );
                        } else {
                            methods.push(m);
                        }
                    }
                }
                other => cx.error_spanned_by(other, "a COM interface declares methods only"),
            }
        }
        if options.root {
            let names: Vec<String> = methods.iter().map(|m| m.ident.to_string()).collect();
            if names != ["QueryInterface", "AddRef", "Release"] {
                cx.error_spanned_by(
                    &t.ident,
                    "the root interface declares QueryInterface, AddRef and Release, in that order",
                );
            }
        }
        let attrs = t
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect();
        Some(Interface {
            attrs,
            vis: t.vis.clone(),
            ident: t.ident.clone(),
            base,
            iid: if options.no_iid {
                None
            } else {
                Some(options.iid.unwrap_or(0))
            },
            iid_span: options.iid_span.unwrap_or_else(|| t.ident.span()),
            forward_to_filter: !options.root && !options.filter_plumbing,
            filter_plumbing: options.filter_plumbing,
            unsafety: t.unsafety,
            unsafe_impl_trait: options.unsafe_impl,
            methods,
        })
    }
}

fn base_interface(t: &ItemTrait, root: bool, cx: &mut Ctxt) -> Option<Path> {
    let mut paths = Vec::new();
    let mut rejected = false;
    for b in &t.supertraits {
        match b {
            TypeParamBound::Trait(tb)
                if tb.lifetimes.is_none()
                    && matches!(tb.modifier, syn::TraitBoundModifier::None) =>
            {
                paths.push(tb.path.clone())
            }
            other => {
                cx.error_spanned_by(
                    other,
                    "the base of a COM interface is another COM interface, such as `IUnknown`",
                );
                rejected = true;
            }
        }
    }
    if rejected {
        // Reported above; a missing base would be the same mistake again.
        return None;
    }
    if root {
        if let Some(p) = paths.first() {
            cx.error_spanned_by(p, "the root interface has no base");
        }
        return None;
    }
    match paths.len() {
        0 => {
            cx.error_spanned_by(
                &t.ident,
                "a COM interface must name its base interface: `unsafe trait IFoo: IUnknown` (or a derived interface)",
            );
            None
        }
        1 => {
            let base = paths.pop()?;
            match crate::ctxt::not_an_interface(&base) {
                Some(why) => {
                    cx.error_spanned_by(&base, why);
                    None
                }
                None => Some(base),
            }
        }
        _ => {
            cx.error_spanned_by(
                &paths[1],
                "a COM interface has exactly one base interface (single inheritance)",
            );
            None
        }
    }
}

/// QueryInterface, AddRef and Release: the root's slots, which a C header repeats in every
/// interface and a Rust declaration must not.
fn is_iunknown_method(name: &proc_macro2::Ident) -> bool {
    name == "QueryInterface" || name == "AddRef" || name == "Release"
}
