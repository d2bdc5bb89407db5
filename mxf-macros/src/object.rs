//! `#[com_object]`, `#[mxf_filter]` and `#[mxf_miniport]`: a struct becomes a COM object.
//!
//! All produce an `unsafe impl mxf::com::ObjectImpl` inside an anonymous `const _` block, plus
//! compile-time checks (layout, `Send + Sync`). `#[mxf_filter]` puts IMXF first (as `IMxfFilter`:
//! IMXF and `PutChain`, for filter-to-filter delivery) and stores the
//! struct inside `mxf::filter::FilterObject`, which implements IMXF's plumbing;
//! `#[mxf_miniport]` puts mxf's `MxfMiniport` (an `IMiniportDMus`) first and stores the struct
//! inside `mxf::miniport::MiniportObject` (`miniport.rs`).

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
    Miniport,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Object => "#[com_object]",
            Kind::Filter => "#[mxf_filter]",
            Kind::Miniport => "#[mxf_miniport]",
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
            // Still an object's value for the `impl IMXF_Impl` the author wrote beside it, so
            // that the mistake is one error.
            let marker = match (&other, kind) {
                (
                    Item::Enum(syn::ItemEnum {
                        ident, generics, ..
                    }),
                    Kind::Object,
                )
                | (
                    Item::Union(syn::ItemUnion {
                        ident, generics, ..
                    }),
                    Kind::Object,
                ) if generics.params.is_empty() => {
                    quote! { impl ::mxf::com::ObjectValue for #ident {} }
                }
                _ => TokenStream::new(),
            };
            return quote! { #errors #other #marker };
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
    let mut s = s;
    other_object_attribute(&mut s, kind, &mut cx);
    check_struct(&s, kind, &mut cx);
    if let Err(errors) = cx.check() {
        // The struct stays an object's value, so its `impl IMXF_Impl` is not a second error.
        let name = &s.ident;
        let (ig, tg, wc) = s.generics.split_for_impl();
        let marker = (kind == Kind::Object)
            .then(|| quote! { impl #ig ::mxf::com::ObjectValue for #name #tg #wc {} });
        return quote! { #errors #s #marker };
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
                } else if kind == Kind::Miniport
                    && p.segments.last().is_some_and(|s| {
                        crate::miniport::FRAMEWORK_INTERFACES
                            .contains(&s.ident.to_string().as_str())
                    })
                {
                    cx.error_spanned_by(
                        p,
                        "a miniport implements `IMiniportDMus` already (the framework does, from `DmusMiniport`); list only its other interfaces",
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

/// `#[mxf_filter]` and `#[com_object]` on one struct: the filter already is the COM object.
/// Reported at the second attribute, which is removed so that it does not expand as well.
fn other_object_attribute(s: &mut ItemStruct, kind: Kind, cx: &mut Ctxt) {
    let others: &[&str] = match kind {
        Kind::Object => &["mxf_filter", "mxf_miniport"],
        Kind::Filter => &["com_object", "mxf_miniport"],
        Kind::Miniport => &["com_object", "mxf_filter"],
    };
    let mut found = false;
    s.attrs.retain(|a| {
        let Some(other) = a
            .path()
            .segments
            .last()
            .map(|seg| seg.ident.to_string())
            .filter(|i| others.contains(&i.as_str()))
        else {
            return true;
        };
        if !found {
            found = true;
            let message = if kind == Kind::Miniport || other == "mxf_miniport" {
                "an `#[mxf_miniport]` already is a COM object (IMiniportDMus first, then the interfaces it lists): use `#[mxf_miniport(IFoo, …)]` alone"
            } else {
                "an `#[mxf_filter]` already is a COM object (IMXF first, then the interfaces it lists): use `#[mxf_filter(IFoo, …)]` alone"
            };
            cx.error_spanned_by(a, message);
        }
        false
    });
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
    match kind {
        Kind::Filter => chains.push(quote! { ::mxf::filter::IMxfFilter }),
        Kind::Miniport => chains.push(crate::miniport::first_chain()),
        Kind::Object => {}
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
    // A filter's IMXF chain is IUnknown too while the struct is no `Filter`: that mistake is
    // reported once, by the value type `FilterObject<Self>`, at the struct's name.
    let alias_items =
        chains
            .iter()
            .zip(&listed)
            .zip(&aliases)
            .enumerate()
            .map(|(k, ((c, l), a))| {
                let listed_item =
                    quote_spanned! {c.span()=> #[allow(non_camel_case_types)] type #l = #c; };
                let usable = match kind {
                    Kind::Filter if k == 0 => quote! { <__IsFilter<#name>>::IS_FILTER },
                    Kind::Miniport if k == 0 => crate::miniport::usable(name),
                    _ => quote! { <__Probe<#l>>::IS_INTERFACE },
                };
                quote! {
                    #listed_item
                    #[allow(non_camel_case_types)]
                    type #a = <__If<{ #usable }> as __PickChain<#l>>::Chain;
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
        Kind::Miniport => crate::miniport::value_type(name),
    };
    let qi = o
        .qi_failure
        .as_ref()
        .map(|e| quote! { const QI_FAILURE: ::mxf::abi::NTSTATUS = #e; });
    // A QueryInterface that fails must say so: a success status with a NULL out-pointer makes
    // the caller use NULL as an interface.
    let qi_check = o.qi_failure.as_ref().map(|e| {
        quote_spanned! {e.span()=>
            const _: () = ::core::assert!(
                !::mxf::abi::NTSTATUS::is_success(<#name as ::mxf::com::ObjectImpl>::QI_FAILURE),
                "`qi_failure` is the status of a QueryInterface that fails: an error status such as `STATUS_NOINTERFACE` (a success status with a NULL out-pointer makes the caller use NULL)"
            );
        }
    });
    let tag = o.tag.map(|t| {
        let v = u32::from_le_bytes(t);
        quote! { const POOL_TAG: u32 = #v; }
    });
    let probe = gen_probe();
    let clashes = gen_iid_clash_checks(&chains, &aliases);
    let thread_safety = gen_thread_safety(s, &value_ty);
    let (value_marker, filter_items) = match kind {
        Kind::Object => (
            quote! { impl ::mxf::com::ObjectValue for #name {} },
            TokenStream::new(),
        ),
        Kind::Filter => (TokenStream::new(), gen_filter_items(name)),
        Kind::Miniport => (TokenStream::new(), crate::miniport::gen_probe()),
    };
    let filter_probe = (kind == Kind::Filter).then(|| {
        quote! {
            #[allow(dead_code, non_camel_case_types)]
            struct __IsFilter<T: ?Sized>(::core::marker::PhantomData<T>);
            #[allow(non_camel_case_types)]
            trait __NotAFilter {
                const IS_FILTER: bool = false;
            }
            impl<T: ?Sized> __NotAFilter for __IsFilter<T> {}
            impl<T: ::mxf::filter::Filter> __IsFilter<T> {
                #[allow(dead_code)]
                const IS_FILTER: bool = true;
            }
        }
    });
    quote! {
        #value_marker
        const _: () = {
            #probe
            #filter_probe
            #filter_items
            #(#alias_items)*
            #(#interface_checks)*
            #clashes
            #thread_safety
            #qi_check

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
                    #( if <#aliases as ::mxf::com::Interface>::is_or_extends(t) {
                        return ::core::option::Option::Some(#idx);
                    } )*
                    ::core::option::Option::None
                }
            }

            let () = ::mxf::com::ComObject::<#name>::LAYOUT_OK;
        };
    }
}

/// No two different interfaces of one object (its chains and their ancestors) may share an IID:
/// QueryInterface answers the first chain that matches, so the second would be handed out with
/// the first one's layout. Reported at the later of the two listed interfaces.
fn gen_iid_clash_checks(chains: &[TokenStream], aliases: &[proc_macro2::Ident]) -> TokenStream {
    let mut checks = Vec::new();
    for (j, (later, b)) in chains.iter().zip(aliases).enumerate() {
        for (earlier, a) in chains.iter().zip(aliases).take(j) {
            let msg = format!(
                "`{}` shares an IID with `{}` (or their ancestors) in this object: QueryInterface would hand out one for the other; give each interface its own IID",
                later.to_string().replace(' ', ""),
                earlier.to_string().replace(' ', "")
            );
            checks.push(quote_spanned! {later.span()=>
                const _: () = ::core::assert!(
                    !::mxf::com::Lineage::clash(
                        <#a as ::mxf::com::Interface>::LINEAGE,
                        <#b as ::mxf::com::Interface>::LINEAGE,
                    ),
                    #msg
                );
            });
        }
    }
    quote! { #(#checks)* }
}

/// The object's value is `Send + Sync` (its methods are called from several CPUs at once). A
/// struct that is not is reported at each field whose type is not, once, with the hint; the
/// last check covers a struct that is not although every field is (a negative impl).
fn gen_thread_safety(s: &ItemStruct, value_ty: &TokenStream) -> TokenStream {
    let name = &s.ident;
    let fields: Vec<&syn::Type> = s.fields.iter().map(|f| &f.ty).collect();
    let field_checks = fields.iter().map(|ty| {
        let probe = quote_spanned! {name.span()=> <__SendSync<#value_ty>>::SEND_SYNC };
        quote_spanned! {ty.span()=>
            ::mxf::com::assert_thread_safe_field::<#ty, { #probe }>();
        }
    });
    let msg = format!(
        "`{name}` is not `Send + Sync` although its fields are: a COM object is called from several CPUs at once"
    );
    // Spanned at the struct's name, where a filter without `impl Filter` is reported already.
    let whole = quote_spanned! {name.span()=>
        const _: () = ::core::assert!(
            <__SendSync<#value_ty>>::SEND_SYNC || !<__SendSync<(#(#fields,)*)>>::SEND_SYNC,
            #msg
        );
    };
    quote! {
        #[allow(dead_code, non_camel_case_types)]
        struct __SendSync<T: ?Sized>(::core::marker::PhantomData<T>);
        #[allow(non_camel_case_types)]
        trait __NotSendSync {
            const SEND_SYNC: bool = false;
        }
        impl<T: ?Sized> __NotSendSync for __SendSync<T> {}
        impl<T: ?Sized + ::core::marker::Send + ::core::marker::Sync> __SendSync<T> {
            #[allow(dead_code)]
            const SEND_SYNC: bool = true;
        }
        #(#field_checks)*
        #whole
    }
}

/// Items of `#[mxf_filter]` beside the object: the filter's declared constants evaluated by
/// `cargo check` (a count out of range is reported at the author's line), and an `into_com`
/// that explains that a filter is created with `into_filter`.
fn gen_filter_items(name: &proc_macro2::Ident) -> TokenStream {
    // Evaluated only when the struct is a `Filter` (a missing impl is reported once, elsewhere).
    let declarations = quote_spanned! {name.span()=>
        const _: () = {
            #[allow(non_camel_case_types)]
            trait __Declarations<T: ?Sized> {
                const EVALUATED: () = ();
            }
            impl<T: ?Sized> __Declarations<T> for __If<false> {}
            impl<T: ::mxf::filter::Filter> __Declarations<T> for __If<true> {
                const EVALUATED: () = {
                    let _ = <T as ::mxf::filter::Filter>::OUTPUTS;
                };
            }
            let () = <__If<{ <__IsFilter<#name>>::IS_FILTER }> as __Declarations<#name>>::EVALUATED;
        };
    };
    quote! {
        #declarations
        #[allow(dead_code)]
        impl #name {
            /// A filter is created with [`IntoFilter::into_filter`](::mxf::filter::IntoFilter::into_filter),
            /// which binds the allocator its events go back to; this method only says so.
            #[doc(hidden)]
            pub fn into_com<__I>(self) -> ::mxf::abi::Result<__I>
            where
                __I: ::mxf::filter::NotIntoCom<Self>,
            {
                <__I as ::mxf::filter::NotIntoCom<Self>>::refuse(self)
            }
            /// As `into_com`: a filter is created with `into_filter_in`.
            #[doc(hidden)]
            pub fn into_com_in<__I>(
                self,
                _pool: ::mxf::abi::POOL_TYPE,
                _tag: u32,
            ) -> ::mxf::abi::Result<__I>
            where
                __I: ::mxf::filter::NotIntoCom<Self>,
            {
                <__I as ::mxf::filter::NotIntoCom<Self>>::refuse(self)
            }
        }
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
