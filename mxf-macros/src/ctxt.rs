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
            Err(self.errors.into_iter().map(|e| e.to_compile_error()).collect())
        }
    }
}
