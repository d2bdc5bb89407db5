//! Procedural macros of [mxf](https://docs.rs/mxf): `#[com_interface]`, `#[com_object]` and
//! `#[mxf_filter]`.
//!
//! Each entry point forwards to a `*_core` function over `proc_macro2` token streams, which
//! parses a model, checks it (collecting every error), and only then expands, one generator
//! function per emitted item. Nothing here panics on user input: every problem becomes a
//! `syn::Error` on the narrowest span the user wrote, and the user's item is still emitted so
//! that one mistake gives one error. The macros are re-exported and documented by `mxf`.

mod ctxt;
mod interface;
mod object;
#[cfg(test)]
mod test_util;

use proc_macro::TokenStream;

/// Declares a kernel COM interface. See `mxf::com_interface` for the documentation.
#[proc_macro_attribute]
pub fn com_interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    interface::com_interface_core(attr.into(), item.into()).into()
}

/// Turns a struct into a COM object. See `mxf::com_object` for the documentation.
#[proc_macro_attribute]
pub fn com_object(attr: TokenStream, item: TokenStream) -> TokenStream {
    object::com_object_core(attr.into(), item.into(), object::Kind::Object).into()
}

/// Turns a struct into an IMXF filter. See `mxf::mxf_filter` for the documentation.
#[proc_macro_attribute]
pub fn mxf_filter(attr: TokenStream, item: TokenStream) -> TokenStream {
    object::com_object_core(attr.into(), item.into(), object::Kind::Filter).into()
}
