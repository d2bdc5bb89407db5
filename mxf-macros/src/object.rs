//! `#[com_object]` and `#[mxf_filter]`: a struct becomes a COM object.
//!
//! Both produce an `unsafe impl mxf::com::ObjectImpl` inside an anonymous `const _` block, plus
//! compile-time checks (layout, `Send + Sync`). `#[mxf_filter]` puts IMXF first and stores the
//! struct inside `mxf::filter::FilterObject`, which implements IMXF's plumbing.

use crate::ctxt::Ctxt;
use proc_macro2::{Span, TokenStream};
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
    check_struct(&s, kind, &mut cx);
    if let Err(errors) = cx.check() {
        return quote! { #errors #s };
    }
    let generated = expand(&s, &options, kind);
    quote! { #s #generated }
}

fn parse_options(attr: TokenStream, kind: Kind, cx: &mut Ctxt) -> Options {
    let mut o = Options { interfaces: Vec::new(), qi_failure: None, tag: None };
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
                let key = quote!(#p).to_string();
                if o.interfaces.iter().any(|q| quote!(#q).to_string() == key)
                    || (kind == Kind::Filter && p.is_ident("IMXF"))
                {
                    cx.error_spanned_by(p, format!("`{key}` is listed twice"));
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
                    Lit::Str(s) if s.value().len() == 4 && s.value().is_ascii() => {
                        let mut t = [0u8; 4];
                        t.copy_from_slice(s.value().as_bytes());
                        if o.tag.replace(t).is_some() {
                            cx.error_spanned_by(&nv.path, "`tag` is given twice");
                        }
                    }
                    other => cx.error_spanned_by(other, "a pool tag is four ASCII characters: `tag = \"Mxf1\"`"),
                },
                other => cx.error_spanned_by(other, "a pool tag is four ASCII characters: `tag = \"Mxf1\"`"),
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
    if kind == Kind::Object && o.interfaces.is_empty() && cx.len() == 0 {
        cx.error_at(Span::call_site(), "list the interfaces the object implements: `#[com_object(IMXF)]`");
    }
    o
}

fn check_struct(s: &ItemStruct, kind: Kind, cx: &mut Ctxt) {
    if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
        cx.error_spanned_by(&s.generics, format!("{} cannot be generic: each object has its own vtables", kind.name()));
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
    let idx: Vec<_> = (0..n).collect();
    // Each listed path is named once (in its alias), so an unknown interface is one error.
    let alias_items = chains.iter().zip(&aliases).map(|(c, a)| {
        quote_spanned! {c.span()=> #[allow(non_camel_case_types)] type #a = #c; }
    });
    let vtable_refs = aliases.iter().zip(&idx).zip(&chains).map(|((a, k), c)| {
        quote_spanned! {c.span()=>
            &<<#a as ::mxf::com::Interface>::Vtable as ::mxf::com::VtableFor<::mxf::com::ComObject<#name>, #k>>::VTABLE
        }
    });
    let value_ty = match kind {
        Kind::Object => quote! { #name },
        Kind::Filter => quote! { ::mxf::filter::FilterObject<#name> },
    };
    let into_value = match kind {
        Kind::Object => quote! { self },
        Kind::Filter => quote! { ::mxf::filter::FilterObject::new(self) },
    };
    let qi = o.qi_failure.as_ref().map(|e| quote! { const QI_FAILURE: ::mxf::abi::NTSTATUS = #e; });
    let tag = o.tag.map(|t| {
        let v = u32::from_le_bytes(t);
        quote! { const POOL_TAG: u32 = #v; }
    });
    let send_sync = quote_spanned! {name.span()=> ::mxf::com::assert_send_sync::<#name>(); };
    quote! {
        const _: () = {
            #(#alias_items)*

            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct __Vtables(#(&'static <#aliases as ::mxf::com::Interface>::Vtable),*);

            // SAFETY: `__Vtables` holds one vtable per chain, the kth built for slot k;
            // `find_chain` returns indices below CHAINS; Send + Sync is asserted below.
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
                #[inline]
                fn into_value(self) -> Self::Value {
                    #into_value
                }
            }

            #send_sync
            let () = ::mxf::com::ComObject::<#name>::LAYOUT_OK;
        };
    }
}
