//! `#[com_object]` and `#[mxf_filter]`: a struct becomes a COM object.
//!
//! Both produce an `unsafe impl mxf::com::ObjectImpl` inside an anonymous `const _` block, plus
//! compile-time checks (layout, `Send + Sync`). `#[mxf_filter]` puts IMXF first and stores the
//! struct inside `mxf::filter::FilterObject`, which implements IMXF's plumbing.

use crate::ctxt::Ctxt;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Item, ItemStruct, Lit, Meta, Path, Token};

/// Which macro is expanding.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Object,
    Filter,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Object => "#[com_object]",
            Kind::Filter => "#[mxf_filter]",
        }
    }
}

struct Options {
    interfaces: Vec<Path>,
    qi_failure: Option<Expr>,
    tag: Option<[u8; 4]>,
}

/// The testable core of both object macros.
pub fn com_object_core(attr: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let mut cx = Ctxt::default();
    let options = parse_options(attr, kind, &mut cx);
    let item: Item = match syn::parse2(item) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let s = match item {
        Item::Struct(s) => s,
        other => {
            let span = match &other {
                Item::Enum(e) => e.enum_token.span,
                Item::Union(u) => u.union_token.span,
                o => o.span(),
            };
            cx.error_at(span, format!("{} applies to a struct", kind.name()));
            let errors = cx.check().err().unwrap_or_default();
            return quote! { #errors #other };
        }
    };
    if kind == Kind::Object && options.interfaces.is_empty() && cx.len() == 0 {
        // The attribute may have no tokens to point at: report at the struct's name.
        cx.error_spanned_by(
            &s.ident,
            format!(
                "list the interfaces `{}` implements: `#[com_object(IMXF)]`",
                s.ident
            ),
        );
    }
    check_struct(&s, kind, &mut cx);
    if let Err(errors) = cx.check() {
        return quote! { #errors #s };
    }
    let generated = expand(&s, &options, kind);
    quote! { #s #generated }
}

fn parse_options(attr: TokenStream, kind: Kind, cx: &mut Ctxt) -> Options {
    let mut o = Options {
        interfaces: Vec::new(),
        qi_failure: None,
        tag: None,
    };
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(m) => m,
        Err(e) => {
            cx.syn_error(e);
            return o;
        }
    };
    for meta in metas {
        match &meta {
            Meta::Path(p) => {
                let key = quote!(#p).to_string().replace(' ', "");
                if let Some(why) = crate::ctxt::not_an_interface(p) {
                    cx.error_spanned_by(p, why);
                } else if o
                    .interfaces
                    .iter()
                    .any(|q| quote!(#q).to_string().replace(' ', "") == key)
                {
                    cx.error_spanned_by(p, format!("`{key}` is listed twice"));
                } else if kind == Kind::Filter
                    && p.segments.last().is_some_and(|s| s.ident == "IMXF")
                {
                    cx.error_spanned_by(
                        p,
                        "a filter implements `IMXF` already; list only its other interfaces",
                    );
                } else {
                    o.interfaces.push(p.clone());
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("qi_failure") => {
                if o.qi_failure.replace(nv.value.clone()).is_some() {
                    cx.error_spanned_by(&nv.path, "`qi_failure` is given twice");
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("tag") => match &nv.value {
                Expr::Lit(l) => match &l.lit {
                    Lit::Str(s) => match <[u8; 4]>::try_from(s.value().as_bytes()) {
                        Ok(t) if t.is_ascii() => {
                            if o.tag.replace(t).is_some() {
                                cx.error_spanned_by(&nv.path, "`tag` is given twice");
                            }
                        }
                        _ => cx.error_spanned_by(
                            s,
                            "a pool tag is four ASCII characters: `tag = \"Mxf1\"`",
                        ),
                    },
                    other => cx.error_spanned_by(
                        other,
                        "a pool tag is four ASCII characters: `tag = \"Mxf1\"`",
                    ),
                },
                other => cx.error_spanned_by(
                    other,
                    "a pool tag is four ASCII characters: `tag = \"Mxf1\"`",
                ),
            },
            other => {
                let path = other.path();
                cx.error_spanned_by(
                    path,
                    format!(
                        "unknown option `{}`; expected interface names, `qi_failure = STATUS` or `tag = \"abcd\"`",
                        quote!(#path).to_string().replace(' ', "")
                    ),
                );
            }
        }
    }
    o
}

fn check_struct(s: &ItemStruct, kind: Kind, cx: &mut Ctxt) {
    let only_lifetimes = !s.generics.params.is_empty()
        && s.generics
            .params
            .iter()
            .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
    if only_lifetimes {
        cx.error_spanned_by(
            &s.generics,
            format!(
                "{} cannot borrow: its callers hold it for as long as they keep a reference (it is `'static`); own the data, or hold a counted interface pointer",
                kind.name()
            ),
        );
    } else if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &s.generics,
            format!(
                "{} cannot be generic: each object has its own vtables",
                kind.name()
            ),
        );
    }
    if let Some(a) = s.attrs.iter().find(|a| a.path().is_ident("repr")) {
        cx.error_spanned_by(a, "the object macro chooses the layout; remove `#[repr]`");
    }
}

fn expand(s: &ItemStruct, o: &Options, kind: Kind) -> TokenStream {
    let name = &s.ident;
    let mut chains: Vec<TokenStream> = Vec::new();
    if kind == Kind::Filter {
        chains.push(quote! { ::mxf::interfaces::IMXF });
    }
    chains.extend(o.interfaces.iter().map(|p| quote! { #p }));
    let n = chains.len();
    let aliases: Vec<_> = (0..n).map(|k| format_ident!("__Chain{}", k)).collect();
    let listed: Vec<_> = chains
        .iter()
        .enumerate()
        .map(|(k, c)| format_ident!("__Listed{}", k, span = c.span()))
        .collect();
    let idx: Vec<_> = (0..n).collect();
    // Each listed path is named once, in its `__Listed` alias, so an unknown name is one error.
    // The chain is that type if it is an interface, else IUnknown (see `gen_probe`): a type
    // that is not an interface fails only its `__ComInterface` check, at the user's path.
    let alias_items = chains.iter().zip(&listed).zip(&aliases).map(|((c, l), a)| {
        let listed_item = quote_spanned! {c.span()=> #[allow(non_camel_case_types)] type #l = #c; };
        quote! {
            #listed_item
            #[allow(non_camel_case_types)]
            type #a = <__If<{ <__Probe<#l>>::IS_INTERFACE }> as __PickChain<#l>>::Chain;
        }
    });
    let interface_checks = chains.iter().zip(&listed).map(|(c, l)| {
        quote_spanned! {c.span()=> let () = <#l as __ComInterface>::CHECKED; }
    });
    let vtable_refs = aliases.iter().zip(&idx).zip(&chains).map(|((a, k), c)| {
        quote_spanned! {c.span()=>
            &<<#a as ::mxf::com::Interface>::Vtable as ::mxf::com::VtableFor<::mxf::com::ComObject<#name>, #k>>::VTABLE
        }
    });
    // The bound `ObjectImpl::Value: Send + Sync` is the thread-safety check. The type is
    // spanned at the struct's name, so a field that is not `Send` (or not `Sync`) is reported
    // there, once per missing trait.
    let value_ty = match kind {
        Kind::Object => quote! { #name },
        Kind::Filter => quote_spanned! {name.span()=> ::mxf::filter::FilterObject<#name> },
    };
    let qi = o
        .qi_failure
        .as_ref()
        .map(|e| quote! { const QI_FAILURE: ::mxf::abi::NTSTATUS = #e; });
    let tag = o.tag.map(|t| {
        let v = u32::from_le_bytes(t);
        quote! { const POOL_TAG: u32 = #v; }
    });
    let probe = gen_probe();
    quote! {
        const _: () = {
            #probe
            #(#alias_items)*
            #(#interface_checks)*

            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct __Vtables(#(&'static <#aliases as ::mxf::com::Interface>::Vtable),*);

            // SAFETY: `__Vtables` holds one vtable per chain, the kth built for slot k;
            // `find_chain` returns indices below CHAINS; `Value` is `Send + Sync` (a bound of
            // `ObjectImpl::Value`).
            unsafe impl ::mxf::com::ObjectImpl for #name {
                type Value = #value_ty;
                type Vtables = __Vtables;
                const CHAINS: usize = #n;
                const VTABLES: __Vtables = __Vtables(#(#vtable_refs),*);
                #qi
                #tag
                #[inline]
                fn find_chain(iid: &::mxf::abi::GUID) -> ::core::option::Option<usize> {
                    #( if <#aliases as ::mxf::com::Interface>::matches(iid) {
                        return ::core::option::Option::Some(#idx);
                    } )*
                    ::core::option::Option::None
                }
                fn chain_of(t: ::core::any::TypeId) -> ::core::option::Option<usize> {
                    #( if t == ::core::any::TypeId::of::<#aliases>() {
                        return ::core::option::Option::Some(#idx);
                    } )*
                    ::core::option::Option::None
                }
            }

            let () = ::mxf::com::ComObject::<#name>::LAYOUT_OK;
        };
    }
}

/// Local items that keep the expansion well-typed when a listed type is not an interface, so
/// that the mistake is reported once, by its own check, at the user's path.
///
/// `__Probe<T>` answers without an error: its inherent `IS_INTERFACE` exists only when `T` is an
/// interface, and then wins over the `false` of the `__Fallback` trait. For `false`,
/// `__If<false>` substitutes IUnknown for the chain, and only the local `__ComInterface` check fails
/// (its blanket impl is `do_not_recommend`, so the error names the listed type and not the
/// `mxf::com::Interface` bound behind it). For interfaces the pick is the identity.
fn gen_probe() -> TokenStream {
    quote! {
        #[allow(dead_code, non_camel_case_types)]
        struct __Probe<T: ?Sized>(::core::marker::PhantomData<T>);
        #[allow(non_camel_case_types)]
        trait __Fallback {
            const IS_INTERFACE: bool = false;
        }
        impl<T: ?Sized> __Fallback for __Probe<T> {}
        impl<T: ::mxf::com::Interface> __Probe<T> {
            #[allow(dead_code)]
            const IS_INTERFACE: bool = true;
        }

        #[allow(dead_code, non_camel_case_types)]
        struct __If<const B: bool>;
        #[allow(non_camel_case_types)]
        trait __PickChain<T: ?Sized> {
            type Chain: ::mxf::com::Interface;
        }
        impl<T: ::mxf::com::Interface> __PickChain<T> for __If<true> {
            type Chain = T;
        }
        impl<T: ?Sized> __PickChain<T> for __If<false> {
            type Chain = ::mxf::interfaces::IUnknown;
        }

        #[diagnostic::on_unimplemented(
            message = "`{Self}` is not a COM interface",
            label = "not an interface declared with `#[com_interface]`",
            note = "list the interfaces the object exposes, such as `IMXF`; the struct implements their `_Impl` traits"
        )]
        trait __ComInterface {
            const CHECKED: () = ();
        }
        #[diagnostic::do_not_recommend]
        impl<T: ::mxf::com::Interface> __ComInterface for T {}
    }
}

#[cfg(test)]
#[path = "object_tests.rs"]
mod tests;
