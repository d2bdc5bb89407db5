//! `#[mxf_miniport]`: what the object expansion (`object.rs`) does differently for a DMus
//! miniport. The struct implements `mxf::miniport::DmusMiniport`; its value is
//! `mxf::miniport::MiniportObject<Self>`, which implements `IMiniportDMus` (and mxf's
//! `MxfMiniport`, the object's first chain).

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};

/// The interfaces the framework implements for a miniport: listing one is a mistake.
pub const FRAMEWORK_INTERFACES: [&str; 3] = ["IMiniportDMus", "IMiniport", "MxfMiniport"];

/// The first chain of every miniport object.
pub fn first_chain() -> TokenStream {
    quote! { ::mxf::miniport::MxfMiniport }
}

/// The object's value type, spanned at the struct's name, where a struct that is no
/// `DmusMiniport` is reported (once).
pub fn value_type(name: &Ident) -> TokenStream {
    quote_spanned! {name.span()=> ::mxf::miniport::MiniportObject<#name> }
}

/// Whether the struct is a miniport, as a constant: the first chain is `MxfMiniport` only
/// then (else IUnknown, so that the missing `impl DmusMiniport` is the only error).
pub fn usable(name: &Ident) -> TokenStream {
    quote! { <__IsMiniport<#name>>::IS_MINIPORT }
}

/// The probe behind [`usable`].
pub fn gen_probe() -> TokenStream {
    quote! {
        #[allow(dead_code, non_camel_case_types)]
        struct __IsMiniport<T: ?Sized>(::core::marker::PhantomData<T>);
        #[allow(non_camel_case_types)]
        trait __NotAMiniport {
            const IS_MINIPORT: bool = false;
        }
        impl<T: ?Sized> __NotAMiniport for __IsMiniport<T> {}
        impl<T: ::mxf::miniport::DmusMiniport> __IsMiniport<T> {
            #[allow(dead_code)]
            const IS_MINIPORT: bool = true;
        }
    }
}
