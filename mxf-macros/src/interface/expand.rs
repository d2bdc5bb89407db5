//! Code generation for `#[com_interface]`, one function per emitted item.

use super::model::{Interface, Method};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
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
        base: format_ident!("__{}_Base", i.ident),
    }
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
        gen_abi_checks(i),
    ];
    quote! { #(#items)* }
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
        #vis struct #ident(::mxf::com::ComPtr);
    }
}

fn gen_base_alias(i: &Interface, n: &Names) -> TokenStream {
    let Some(base) = &i.base else { return TokenStream::new() };
    let (vis, alias) = (&i.vis, &n.base);
    // The user's base path appears only here: an unknown base gives exactly one error.
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis type #alias = #base;
    }
}

fn gen_vtable(i: &Interface, n: &Names) -> TokenStream {
    let (vis, ident, vtbl, alias) = (&i.vis, &i.ident, &n.vtbl, &n.base);
    let doc = format!("The vtable of [`{ident}`], slots in declaration order after the base's.");
    let base_field = i.base.as_ref().map(|_| {
        quote! {
            /// The base interface's slots.
            pub base__: <#alias as ::mxf::com::Interface>::Vtable,
        }
    });
    let fields = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r, attrs) = (&m.ident, ret(m), &m.attrs);
        quote! {
            #(#attrs)*
            pub #name: unsafe extern "system" fn(this: *mut ::core::ffi::c_void #(, #names: #types)*) #r,
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
    let (iid, has) = match i.iid {
        Some(v) => (v, true),
        None => (0, false),
    };
    let base_match = i.base.as_ref().map(|_| quote! { || <#alias as ::mxf::com::Interface>::matches(iid) });
    quote! {
        // SAFETY: repr(transparent) over ComPtr; the vtable begins with the base's.
        unsafe impl ::mxf::com::Interface for #ident {
            type Vtable = #vtbl;
            const IID: ::mxf::abi::GUID = ::mxf::abi::GUID::from_u128(#iid);
            const HAS_IID: bool = #has;
            #[inline]
            fn matches(iid: &::mxf::abi::GUID) -> bool {
                (#has && *iid == <Self as ::mxf::com::Interface>::IID) #base_match
            }
        }
    }
}

fn gen_deref(i: &Interface, n: &Names) -> TokenStream {
    if i.base.is_none() {
        return TokenStream::new();
    }
    let (ident, alias) = (&i.ident, &n.base);
    quote! {
        impl ::core::ops::Deref for #ident {
            type Target = #alias;
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
    let methods = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r, attrs) = (&m.ident, ret(m), &m.attrs);
        quote! {
            #(#attrs)*
            ///
            /// # Safety
            /// Pointer arguments must satisfy the method's contract in the header.
            #[inline]
            #[allow(non_snake_case, clippy::too_many_arguments)]
            pub unsafe fn #name(&self #(, #names: #types)*) #r {
                let vtbl = <Self as ::mxf::com::Interface>::vtable(self);
                // SAFETY: the object is live while `self` holds a reference; the caller upholds
                // the method's contract.
                unsafe { (vtbl.#name)(<Self as ::mxf::com::Interface>::as_raw(self) #(, #names)*) }
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
        quote! {
            #(#attrs)*
            #[allow(non_snake_case, clippy::too_many_arguments)]
            fn #name(&self #(, #names: #types)*) #r;
        }
    });
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis trait #imp {
            #(#methods)*
        }
    }
}

fn gen_vtable_for(i: &Interface, n: &Names) -> TokenStream {
    let (vtbl, imp, alias) = (&n.vtbl, &n.imp, &n.base);
    let Some(_) = &i.base else {
        // The root: the IUnknown slots are the object's own delegating functions.
        let slots = i.methods.iter().map(|m| {
            let name = &m.ident;
            quote! { #name: <O as ::mxf::com::ComImpl>::#name::<K>, }
        });
        return quote! {
            impl<O: ::mxf::com::ComImpl, const K: usize> ::mxf::com::VtableFor<O, K> for #vtbl {
                const VTABLE: Self = Self { #(#slots)* };
            }
        };
    };
    let slots = i.methods.iter().map(|m| {
        let (names, types) = params(m);
        let (name, r) = (&m.ident, ret(m));
        quote! {
            #name: {
                #[allow(non_snake_case, clippy::too_many_arguments)]
                unsafe extern "system" fn #name<O: ::mxf::com::ComImpl, const K: usize>(
                    this: *mut ::core::ffi::c_void #(, #names: #types)*
                ) #r
                where
                    <O as ::mxf::com::ComImpl>::Value: #imp,
                {
                    // SAFETY: the vtable holding this shim is only installed in chain slot K of
                    // objects of type O, so `this` is that slot of a live object.
                    let value = unsafe { <O as ::mxf::com::ComImpl>::value::<K>(this) };
                    <<O as ::mxf::com::ComImpl>::Value as #imp>::#name(value #(, #names)*)
                }
                #name::<O, K>
            },
        }
    });
    quote! {
        impl<O, const K: usize> ::mxf::com::VtableFor<O, K> for #vtbl
        where
            O: ::mxf::com::ComImpl,
            <O as ::mxf::com::ComImpl>::Value: #imp,
            <#alias as ::mxf::com::Interface>::Vtable: ::mxf::com::VtableFor<O, K>,
        {
            const VTABLE: Self = Self {
                base__: <<#alias as ::mxf::com::Interface>::Vtable as ::mxf::com::VtableFor<O, K>>::VTABLE,
                #(#slots)*
            };
        }
    }
}

fn gen_abi_checks(i: &Interface) -> TokenStream {
    let checks = i.methods.iter().flat_map(|m| {
        let params = m.params.iter().map(|(_, t)| {
            quote_spanned! {t.span()=> ::mxf::com::assert_abi_safe::<#t>(); }
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

fn format_guid(v: u128) -> String {
    let h = format!("{v:032X}");
    format!("{{{}-{}-{}-{}-{}}}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
