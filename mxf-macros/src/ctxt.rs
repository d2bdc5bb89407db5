//! Error collection: every check reports into a `Ctxt`, and all errors are emitted together.

use proc_macro2::TokenStream;
use std::fmt::Display;

/// Collects errors during checking.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error at the span of `tokens`.
    pub fn error_spanned_by<T: quote::ToTokens, M: Display>(&mut self, tokens: T, message: M) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub fn error_at<M: Display>(&mut self, span: proc_macro2::Span, message: M) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records a parse error.
    pub fn syn_error(&mut self, err: syn::Error) {
        self.errors.push(err);
    }

    /// How many errors were recorded so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// `Ok` if nothing was recorded, else all errors as `compile_error!` invocations.
    pub fn check(self) -> Result<(), TokenStream> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self
                .errors
                .into_iter()
                .map(|e| e.to_compile_error())
                .collect())
        }
    }
}

/// The tokens to report a generics error at: the parameters, or the `where` clause when there
/// are none; `None` if the item is not generic.
pub fn generics_tokens(g: &syn::Generics) -> Option<TokenStream> {
    if !g.params.is_empty() {
        Some(quote::quote! { #g })
    } else {
        g.where_clause.as_ref().map(|w| quote::quote! { #w })
    }
}

/// Why `path`, written where an interface is expected, is certainly not one: the items that
/// `#[com_interface]` generates beside interface `I` (`I_Impl`, `I_Vtbl`), and the standard
/// traits people reach for (`Send`, `Sync`, ...). `None` if it may be an interface; the
/// compiler checks the rest. The message names the path as written.
pub fn not_an_interface(path: &syn::Path) -> Option<String> {
    let last = path.segments.last()?.ident.to_string();
    let written = quote::quote!(#path).to_string().replace(' ', "");
    if let Some(i) = last.strip_suffix("_Impl").filter(|i| !i.is_empty()) {
        return Some(format!(
            "`{written}` is the trait an object implements; the interface is `{i}`"
        ));
    }
    if let Some(i) = last.strip_suffix("_Vtbl").filter(|i| !i.is_empty()) {
        return Some(format!(
            "`{written}` is a vtable type; the interface is `{i}`"
        ));
    }
    const STD_TRAITS: [&str; 10] = [
        "Send", "Sync", "Sized", "Unpin", "Copy", "Clone", "Default", "Debug", "Drop", "Any",
    ];
    STD_TRAITS.contains(&last.as_str()).then(|| {
        format!("`{written}` is not a COM interface: name one declared with `#[com_interface]`, such as `IUnknown`")
    })
}
