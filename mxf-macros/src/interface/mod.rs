//! `#[com_interface]`: attribute → model → checks → expansion.

mod attr;
mod check;
mod expand;
mod model;

use crate::ctxt::Ctxt;
use proc_macro2::TokenStream;
use quote::quote;

/// The testable core of `#[com_interface]`.
pub fn com_interface_core(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let options = attr::parse(attr, &mut cx);
    let item: syn::Item = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let trait_item = match item {
        syn::Item::Trait(t) => t,
        other => {
            cx.error_spanned_by(
                item_keyword(&other),
                "#[com_interface] applies to an `unsafe trait` that declares the interface's methods",
            );
            let errors = cx.check().err().unwrap_or_default();
            return quote! { #errors #other };
        }
    };
    attr::check_iid(&options, &trait_item.ident, &mut cx);
    let model = model::Interface::from_trait(&trait_item, options, &mut cx);
    if let Err(errors) = cx.check() {
        return fallback(errors, trait_item);
    }
    match model {
        Some(m) => expand::expand(&m),
        None => fallback(TokenStream::new(), trait_item),
    }
}

/// On error: the errors, plus the user's trait stripped of everything the compiler would
/// reject a second time (supertraits that may not exist, `const fn`, `auto`, C variadics,
/// repeated method names), so that one mistake gives one error.
fn fallback(errors: TokenStream, mut t: syn::ItemTrait) -> TokenStream {
    t.supertraits.clear();
    t.colon_token = None;
    t.auto_token = None;
    let mut seen: Vec<syn::Ident> = Vec::new();
    t.items.retain_mut(|item| {
        let syn::TraitItem::Fn(f) = item else {
            return true;
        };
        if seen.contains(&f.sig.ident) {
            return false;
        }
        seen.push(f.sig.ident.clone());
        f.sig.constness = None;
        f.sig.variadic = None;
        true
    });
    quote! { #errors #t }
}

fn item_keyword(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Struct(s) => {
            let t = s.struct_token;
            quote! { #t }
        }
        syn::Item::Enum(e) => {
            let t = e.enum_token;
            quote! { #t }
        }
        other => quote! { #other },
    }
}

#[cfg(test)]
mod tests;
