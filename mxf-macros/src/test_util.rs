//! Helpers of the in-process macro tests: run a `*_core` function and read its errors back.

use proc_macro2::{TokenStream, TokenTree};

/// The messages of every `compile_error!` in `out`, in order.
pub fn errors(out: &TokenStream) -> Vec<String> {
    let mut found = Vec::new();
    collect(out.clone(), &mut found);
    found
}

fn collect(ts: TokenStream, found: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    for (k, tt) in tokens.iter().enumerate() {
        match tt {
            TokenTree::Ident(i) if i == "compile_error" => {
                let bang =
                    matches!(tokens.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                if let (true, Some(TokenTree::Group(g))) = (bang, tokens.get(k + 2)) {
                    match syn::parse2::<syn::LitStr>(g.stream()) {
                        Ok(s) => found.push(s.value()),
                        Err(e) => found.push(format!("<unreadable compile_error: {e}>")),
                    }
                }
            }
            TokenTree::Group(g) => collect(g.stream(), found),
            _ => {}
        }
    }
}

/// Asserts that `out` holds exactly one error, and that it contains `needle`.
#[track_caller]
pub fn assert_one_error(out: &TokenStream, needle: &str) {
    let errs = errors(out);
    assert_eq!(
        errs.len(),
        1,
        "expected exactly one error containing {needle:?}, got {errs:#?}"
    );
    assert!(
        errs[0].contains(needle),
        "expected an error containing {needle:?}, got {:?}",
        errs[0]
    );
    assert!(
        errs[0].chars().next().is_some_and(|c| !c.is_uppercase()),
        "error messages start lower-case: {:?}",
        errs[0]
    );
}

/// Asserts that `out` holds no error.
#[track_caller]
pub fn assert_no_error(out: &TokenStream) {
    let errs = errors(out);
    assert!(errs.is_empty(), "unexpected errors: {errs:#?}");
}

/// The expansion as a string without spaces, for `contains` checks that ignore formatting.
pub fn compact(out: &TokenStream) -> String {
    out.to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}
