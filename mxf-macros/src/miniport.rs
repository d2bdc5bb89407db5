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

#[cfg(test)]
mod tests {
    use crate::object::{Kind, com_object_core};
    use crate::test_util::{assert_no_error, assert_one_error, compact};
    use quote::quote;

    #[test]
    fn a_miniport_is_an_object_around_miniport_object_with_mxf_miniport_first() {
        let out = com_object_core(
            quote! { IPortBase, tag = "Mini" },
            quote! { struct Uart { base: u32 } },
            Kind::Miniport,
        );
        assert_no_error(&out);
        let text = compact(&out);
        for item in [
            "typeValue=::mxf::miniport::MiniportObject<Uart>",
            "type__Listed0=::mxf::miniport::MxfMiniport",
            "type__Listed1=IPortBase",
            "constCHAINS:usize=2usize",
            "<__IsMiniport<Uart>>::IS_MINIPORT",
        ] {
            assert!(text.contains(item), "the expansion lacks `{item}`:\n{out}");
        }
        // Not an object's value: its IMiniportDMus is the framework's.
        assert!(!text.contains("ObjectValueforUart"), "{out}");
    }

    #[test]
    fn the_frameworks_interfaces_and_other_object_macros_are_refused() {
        for listed in [
            quote! { IMiniportDMus },
            quote! { IMiniport },
            quote! { mxf::miniport::MxfMiniport },
        ] {
            let out = com_object_core(listed, quote! { struct Uart; }, Kind::Miniport);
            assert_one_error(&out, "a miniport implements `IMiniportDMus` already");
        }
        for (attr, options, kind) in [
            (quote! { #[com_object(IMXF)] }, quote! {}, Kind::Miniport),
            (quote! { #[mxf_filter] }, quote! {}, Kind::Miniport),
            (quote! { #[mxf_miniport] }, quote! { IMXF }, Kind::Object),
            (quote! { #[mxf_miniport] }, quote! {}, Kind::Filter),
        ] {
            let out = com_object_core(options, quote! { #attr struct Uart; }, kind);
            assert_one_error(&out, "an `#[mxf_miniport]` already is a COM object");
        }
    }
}
