//! Code generation for `#[com_interface]`, one function per emitted item.

use super::model::{Interface, Method};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

struct Names {
    vtbl: Ident,
    imp: Ident,
    base: Ident,
}

fn names(i: &Interface) -> Names {
    Names {
        vtbl: format_ident!("{}_Vtbl", i.ident),
        imp: format_ident!("{}_Impl", i.ident),
        // Spanned at the user's base path, like every use of it below: a base that is not an
        // interface gives the same error at the same place everywhere, reported once.
        // `unraw`: `r#IFoo` names the interface `IFoo`, and `__r#IFoo_Base` is no identifier.
        base: Ident::new(&format!("__{}_Base", i.ident.unraw()), base_span(i)),
    }
}

fn base_span(i: &Interface) -> Span {
    i.base
        .as_ref()
        .map_or_else(|| i.ident.span(), Spanned::span)
}

/// `<Base as Interface>::Vtable`, spanned at the user's base path.
fn base_vtable(i: &Interface, n: &Names) -> TokenStream {
    let alias = &n.base;
    quote_spanned! {base_span(i)=> <#alias as ::mxf::com::Interface>::Vtable }
}

pub fn expand(i: &Interface) -> TokenStream {
    let n = names(i);
    let items = [
        gen_pointer_type(i),
        gen_base_alias(i, &n),
        gen_vtable(i, &n),
        gen_interface_impl(i, &n),
        gen_deref(i, &n),
        gen_client_methods(i, &n),
        gen_impl_trait(i, &n),
        gen_vtable_for(i, &n),
        gen_filter_forwarding(i, &n),
        gen_abi_checks(i),
        gen_lineage_checks(i, &n),
    ];
    quote! { #(#items)* }
}

/// A local of the generated code. `Span::mixed_site()` keeps it apart from the user's parameter
/// names, so a parameter may be called `this`, `value` or `vtbl`.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

fn params(m: &Method) -> (Vec<&Ident>, Vec<&syn::Type>) {
    m.params.iter().map(|(n, t)| (n, t)).unzip()
}

fn ret(m: &Method) -> TokenStream {
    match &m.ret {
        Some(t) => quote! { -> #t },
        None => TokenStream::new(),
    }
}

fn gen_pointer_type(i: &Interface) -> TokenStream {
    let (attrs, vis, ident) = (&i.attrs, &i.vis, &i.ident);
    let iid_doc = match i.iid {
        Some(v) => format!("IID: `{}`.", format_guid(v)),
        None => "No header defines an IID for this interface: it cannot be obtained through \
                 QueryInterface, only passed directly."
            .to_string(),
    };
    quote! {
        #(#attrs)*
        ///
        #[doc = #iid_doc]
        ///
        /// An owned interface pointer: `Clone` calls `AddRef`, `Drop` calls `Release`, and every
        /// method calls through the object's vtable, so it works on objects written in C++ too.
        #[repr(transparent)]
        #[derive(Clone, PartialEq, Eq, Debug)]
        #vis struct #ident(::mxf::com::ComPtr<#ident>);
    }
}

fn gen_base_alias(i: &Interface, n: &Names) -> TokenStream {
    let Some(base) = &i.base else {
        return TokenStream::new();
    };
    let alias = &n.base;
    // The user's base path appears only here: an unknown base gives exactly one error. Private
    // (aliases are transparent to the privacy checks), so a base less visible than the
    // interface is reported where it is used in the interface's public items, at the base path.
    quote_spanned! {base_span(i)=>
        #[allow(non_camel_case_types)]
        type #alias = #base;
    }
}

fn gen_vtable(i: &Interface, n: &Names) -> TokenStream {
    let (vis, ident, vtbl) = (&i.vis, &i.ident, &n.vtbl);
    let doc = format!("The vtable of [`{ident}`], slots in declaration order after the base's.");
    let base_field = i.base.as_ref().map(|_| {
        let base_vtbl = base_vtable(i, n);
        quote! {
            /// The base interface's slots.
            pub base__: #base_vtbl,
        }
    });
    let this = local("this");
    let fields = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r, attrs) = (&m.ident, ret(m), &m.attrs);
        // Documented either way: an undocumented method is reported once, at the user's method
        // (its `_Impl` declaration), not also here.
        let fallback = attrs.is_empty().then(|| {
            let doc = format!("The slot of `{}`.", name.unraw());
            quote! { #[doc = #doc] }
        });
        quote! {
            #(#attrs)*
            #fallback
            pub #name: unsafe extern "system" fn(#this: *mut ::core::ffi::c_void #(, #names: #types)*) #r,
        }
    });
    quote! {
        #[doc = #doc]
        #[repr(C)]
        #[allow(non_snake_case, non_camel_case_types)]
        #vis struct #vtbl {
            #base_field
            #(#fields)*
        }
    }
}

fn gen_interface_impl(i: &Interface, n: &Names) -> TokenStream {
    let (ident, vtbl, alias) = (&i.ident, &n.vtbl, &n.base);
    let base_match = i
        .base
        .as_ref()
        .map(|_| quote_spanned! {base_span(i)=> <#alias as ::mxf::com::Interface>::matches(iid) });
    let own_match = i.iid.map(|v| {
        quote! { *iid == ::mxf::abi::GUID::from_u128(#v) }
    });
    let matches = match (own_match, base_match) {
        (Some(o), Some(b)) => quote! { #o || #b },
        (Some(o), None) => o,
        (None, Some(b)) => b,
        (None, None) => quote! { { let _ = iid; false } },
    };
    let lineage_iid = match i.iid {
        Some(v) => quote! { ::core::option::Option::Some(::mxf::abi::GUID::from_u128(#v)) },
        None => quote! { ::core::option::Option::None },
    };
    let lineage_base = match &i.base {
        Some(_) => quote_spanned! {base_span(i)=>
            ::core::option::Option::Some(<#alias as ::mxf::com::Interface>::LINEAGE)
        },
        None => quote! { ::core::option::Option::None },
    };
    let extends_base = match &i.base {
        Some(_) => quote_spanned! {base_span(i)=>
            || <#alias as ::mxf::com::Interface>::is_or_extends(t)
        },
        None => TokenStream::new(),
    };
    let name = ident.unraw().to_string();
    let methods = i.methods.iter().map(|m| m.ident.unraw().to_string());
    // A marker impl spanned at the user's own `unsafe`: declaring an interface promises that
    // its IID names this layout (a wrong IID lets `cast` hand out a pointer with another
    // vtable), and a crate that forbids `unsafe_code` must see that promise.
    let promise = i.unsafety.map(|u| {
        // The declaration is the promise and its documentation: the user's crate gets no
        // undocumented-unsafe lint for it.
        quote_spanned! {u.span=>
            #[doc(hidden)]
            #[allow(clippy::undocumented_unsafe_blocks)]
            unsafe impl ::mxf::com::IidNamesLayout for #ident {}
        }
    });
    // Only an interface with an IID has one: `IFoo::IID` of a `no_iid` interface does not
    // compile (rather than being a zero GUID that QueryInterface refuses at run time).
    let has_iid = i.iid.map(|v| {
        quote! {
            // SAFETY: the IID the declaration names (the user's promise, above).
            unsafe impl ::mxf::com::HasIid for #ident {
                const IID: ::mxf::abi::GUID = ::mxf::abi::GUID::from_u128(#v);
            }
        }
    });
    quote! {
        #promise
        // SAFETY: repr(transparent) over ComPtr; the vtable begins with the base's; `matches`
        // answers this interface's IID (the user's promise) and its ancestors'.
        unsafe impl ::mxf::com::Interface for #ident {
            type Vtable = #vtbl;
            const LINEAGE: &'static ::mxf::com::Lineage = &::mxf::com::Lineage {
                name: ::core::concat!(::core::module_path!(), "::", #name),
                iid: #lineage_iid,
                methods: &[#(#methods),*],
                base: #lineage_base,
            };
            #[inline]
            fn matches(iid: &::mxf::abi::GUID) -> bool {
                #matches
            }
            #[inline]
            fn is_or_extends(t: ::core::any::TypeId) -> bool {
                t == ::core::any::TypeId::of::<Self>() #extends_base
            }
        }
        #has_iid
    }
}

fn gen_deref(i: &Interface, n: &Names) -> TokenStream {
    if i.base.is_none() {
        return TokenStream::new();
    }
    let (ident, alias) = (&i.ident, &n.base);
    // The target spanned at the user's base path: a base less visible than the interface is
    // reported there.
    let target = quote_spanned! {base_span(i)=> type Target = #alias; };
    quote! {
        impl ::core::ops::Deref for #ident {
            #target
            #[inline]
            fn deref(&self) -> &#alias {
                // SAFETY: both are repr(transparent) over ComPtr, and this interface's vtable
                // begins with the base's, so the pointer is a valid base pointer.
                unsafe { &*(self as *const Self).cast::<#alias>() }
            }
        }
    }
}

fn gen_client_methods(i: &Interface, _n: &Names) -> TokenStream {
    let ident = &i.ident;
    let vtbl = local("vtbl");
    let methods = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r, attrs, extra) = (&m.ident, ret(m), &m.attrs, &m.client_attrs);
        // A method whose parameters are all plain values (checked: `PlainValue`) cannot be
        // called with arguments that break its contract, and the pointer it is called through
        // is typed and live: calling it is safe. IUnknown's own slots stay unsafe (Release
        // gives up a reference the pointer still holds).
        if !m.unsafe_impl && i.base.is_some() {
            return quote! {
                #(#attrs)*
                #(#extra)*
                #[inline]
                #[allow(non_snake_case, clippy::too_many_arguments)]
                pub fn #name(&self #(, #names: #types)*) #r {
                    let #vtbl = <Self as ::mxf::com::Interface>::vtable(self);
                    // SAFETY: the object is live while `self` holds a reference, and every
                    // argument is a plain value, which no value can make break the contract.
                    unsafe { (#vtbl.#name)(<Self as ::mxf::com::Interface>::as_raw(self) #(, #names)*) }
                }
            };
        }
        quote! {
            #(#attrs)*
            ///
            /// # Safety
            /// Pointer arguments must satisfy the method's contract in the header.
            #(#extra)*
            #[inline]
            #[allow(non_snake_case, clippy::too_many_arguments)]
            pub unsafe fn #name(&self #(, #names: #types)*) #r {
                let #vtbl = <Self as ::mxf::com::Interface>::vtable(self);
                // SAFETY: the object is live while `self` holds a reference; the caller upholds
                // the method's contract.
                unsafe { (#vtbl.#name)(<Self as ::mxf::com::Interface>::as_raw(self) #(, #names)*) }
            }
        }
    });
    quote! {
        impl #ident {
            #(#methods)*
        }
    }
}

fn gen_impl_trait(i: &Interface, n: &Names) -> TokenStream {
    if i.base.is_none() {
        return TokenStream::new();
    }
    let (vis, ident, imp) = (&i.vis, &i.ident, &n.imp);
    let doc = format!(
        "Implement this (and the `_Impl` traits of every ancestor) to expose [`{ident}`] from an object."
    );
    let methods = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r, attrs) = (&m.ident, ret(m), &m.attrs);
        // Spanned at the user's method: a lint about it (say `missing_docs`) points there.
        if m.unsafe_impl {
            quote_spanned! {m.ident.span()=>
                #(#attrs)*
                ///
                /// # Safety
                /// Called by the vtable's shim on behalf of a COM caller, who upholds the
                /// header's contract for the parameters (valid or NULL pointers, as the method
                /// says). An implementation may rely on that contract, and only on that.
                #[allow(non_snake_case, clippy::too_many_arguments)]
                unsafe fn #name(&self #(, #names: #types)*) #r;
            }
        } else {
            quote_spanned! {m.ident.span()=>
                #(#attrs)*
                #[allow(non_snake_case, clippy::too_many_arguments)]
                fn #name(&self #(, #names: #types)*) #r;
            }
        }
    });
    let message = format!("`{{Self}}` does not implement the COM interface `{ident}`");
    let label = format!("`{{Self}}` lacks `impl {imp} for {{Self}}`");
    let note = format!(
        "an object exposing `{ident}` implements `{imp}` and the `_Impl` trait of every ancestor of `{ident}`"
    );
    // Spanned at the user's trait name: "`X` does not implement" errors point there.
    let (unsafety, safety_doc) = if i.unsafe_impl_trait {
        (
            quote! { unsafe },
            quote! {
                ///
                /// # Safety
                /// Safe code trusts what an implementation returns (an allocator's
                /// `GetBufferSize` sizes the copies into its buffers, say): each method keeps
                /// the contract the interface's documentation gives it.
            },
        )
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    // The framework implements this interface for every `#[mxf_filter]`: a filter struct's
    // own implementation would be dead code, so only an object's value may implement it.
    let supertrait = i
        .filter_plumbing
        .then(|| quote! { : ::mxf::com::ObjectValue });
    quote_spanned! {i.ident.span()=>
        #[doc = #doc]
        #safety_doc
        #[allow(non_camel_case_types)]
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
        #vis #unsafety trait #imp #supertrait {
            #(#methods)*
        }
    }
}

fn gen_vtable_for(i: &Interface, n: &Names) -> TokenStream {
    let (vtbl, imp) = (&n.vtbl, &n.imp);
    let Some(_) = &i.base else {
        // The root: the IUnknown slots are the object's own delegating functions.
        let slots = i.methods.iter().map(|m| {
            let name = &m.ident;
            quote! { #name: <__O as ::mxf::com::ComImpl>::#name::<__K>, }
        });
        return quote! {
            impl<__O: ::mxf::com::ComImpl, const __K: usize> ::mxf::com::VtableFor<__O, __K> for #vtbl {
                const VTABLE: Self = Self { #(#slots)* };
            }
        };
    };
    let base_vtbl = base_vtable(i, n);
    let base_bound = quote_spanned! {base_span(i)=> #base_vtbl: ::mxf::com::VtableFor<__O, __K> };
    let base_slots =
        quote_spanned! {base_span(i)=> <#base_vtbl as ::mxf::com::VtableFor<__O, __K>>::VTABLE };
    let (this, value) = (local("this"), local("value"));
    let slots = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r) = (&m.ident, ret(m));
        let call = if m.unsafe_impl {
            quote! {
                // SAFETY: the COM caller upholds the method's contract for its parameters.
                unsafe { <<__O as ::mxf::com::ComImpl>::Value as #imp>::#name(#value #(, #names)*) }
            }
        } else {
            quote! { <<__O as ::mxf::com::ComImpl>::Value as #imp>::#name(#value #(, #names)*) }
        };
        quote! {
            #name: {
                #[allow(non_snake_case, clippy::too_many_arguments)]
                unsafe extern "system" fn #name<__O: ::mxf::com::ComImpl, const __K: usize>(
                    #this: *mut ::core::ffi::c_void #(, #names: #types)*
                ) #r
                where
                    <__O as ::mxf::com::ComImpl>::Value: #imp,
                {
                    // SAFETY: the vtable holding this shim is only installed in chain slot K of
                    // objects of type O, so `this` is that slot of a live object.
                    let #value = unsafe { <__O as ::mxf::com::ComImpl>::value::<__K>(#this) };
                    #call
                }
                #name::<__O, __K>
            },
        }
    });
    // Spanned at the user's base path: a base that is not an interface is reported there, once
    // (the same error as the vtable's `base__` field), and the notes of a missing `_Impl` point
    // at the user's trait rather than into the attribute.
    quote_spanned! {base_span(i)=>
        impl<__O, const __K: usize> ::mxf::com::VtableFor<__O, __K> for #vtbl
        where
            __O: ::mxf::com::ComImpl,
            <__O as ::mxf::com::ComImpl>::Value: #imp,
            #base_bound,
        {
            const VTABLE: Self = Self {
                base__: #base_slots,
                #(#slots)*
            };
        }
    }
}

/// `#[mxf_filter(IFoo)]` stores the author's struct in `FilterObject<F>`, a type of mxf's: the
/// author cannot implement `IFoo_Impl` for it when `IFoo` is mxf's too (the orphan rule), so the
/// interface's own crate forwards it to the filter, where the author implements it.
fn gen_filter_forwarding(i: &Interface, n: &Names) -> TokenStream {
    if !i.forward_to_filter || i.base.is_none() {
        return TokenStream::new();
    }
    let imp = &n.imp;
    // Hygienic, so it cannot collide with the user's names; plain, so notes read `FilterObject<F>`.
    let filter = Ident::new("F", Span::mixed_site());
    // SAFETY (of the generated `unsafe impl`): every method forwards to the filter's own
    // implementation of the same unsafe trait, which keeps the contract.
    let unsafety = i.unsafe_impl_trait.then(|| quote! { unsafe });
    let methods = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r) = (&m.ident, ret(m));
        if m.unsafe_impl {
            quote! {
                #[allow(non_snake_case, clippy::too_many_arguments)]
                unsafe fn #name(&self #(, #names: #types)*) #r {
                    // SAFETY: the caller's contract, passed on unchanged.
                    unsafe { <#filter as #imp>::#name(self.filter() #(, #names)*) }
                }
            }
        } else {
            quote! {
                #[allow(non_snake_case, clippy::too_many_arguments)]
                fn #name(&self #(, #names: #types)*) #r {
                    <#filter as #imp>::#name(self.filter() #(, #names)*)
                }
            }
        }
    });
    quote! {
        /// An `#[mxf_filter]` object exposes the interface through its filter's implementation.
        #unsafety impl<#filter> #imp for ::mxf::filter::FilterObject<#filter>
        where
            #filter: ::mxf::filter::Filter + #imp,
        {
            #(#methods)*
        }
    }
}

fn gen_abi_checks(i: &Interface) -> TokenStream {
    let checks = i.methods.iter().flat_map(|m| {
        let params = m.params.iter().map(|(_, t)| {
            // A safe `_Impl` method receives only plain values: a named type that hides a
            // pointer fails here (declare the method `unsafe fn`, or use the pointer type).
            let plain = (!m.unsafe_impl).then(|| {
                quote_spanned! {t.span()=> ::mxf::com::assert_plain_value::<#t>(); }
            });
            quote_spanned! {t.span()=> ::mxf::com::assert_abi_safe::<#t>(); #plain }
        });
        let r = m.ret.iter().map(|t| {
            quote_spanned! {t.span()=> ::mxf::com::assert_abi_return::<#t>(); }
        });
        params.chain(r).collect::<Vec<_>>()
    });
    quote! {
        const _: () = { #(#checks)* };
    }
}

/// Compile-time checks against the ancestors' declarations, each spanned at the user's token:
/// a method an ancestor declares already (it would add a slot and move every later one), and
/// an IID an ancestor has already (QueryInterface would answer with the wrong layout).
fn gen_lineage_checks(i: &Interface, n: &Names) -> TokenStream {
    if i.base.is_none() {
        return TokenStream::new();
    }
    let alias = &n.base;
    let lineage = quote_spanned! {base_span(i)=> <#alias as ::mxf::com::Interface>::LINEAGE };
    let methods = i.methods.iter().map(|m| {
        let name = m.ident.unraw().to_string();
        let msg = format!(
            "`{name}` is already a method of the base interface (or an ancestor): declaring it again adds a slot and moves every later method; remove it"
        );
        quote_spanned! {m.ident.span()=>
            const _: () = ::core::assert!(!#lineage.declares(#name), #msg);
        }
    });
    let iid = i.iid.map(|v| {
        let msg = format!(
            "this IID is already that of an ancestor of `{}`: each interface has its own IID, or QueryInterface hands out the wrong layout",
            i.ident.unraw()
        );
        quote_spanned! {i.iid_span=>
            const _: () = ::core::assert!(!#lineage.has_iid(#v), #msg);
        }
    });
    quote! { #(#methods)* #iid }
}

fn format_guid(v: u128) -> String {
    let h = format!("{v:032X}");
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
