//! Options of `#[com_interface(...)]`: `iid = "…"`, `no_iid`, and the crate-internal `root`.

use crate::ctxt::Ctxt;
use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Meta, Token};

/// Parsed options.
#[derive(Default)]
pub struct Options {
    /// The IID as a 128-bit number, or `None` with `no_iid`.
    pub iid: Option<u128>,
    /// `no_iid`: the header defines no IID for this interface.
    pub no_iid: bool,
    /// `root`: this is IUnknown itself (used once, inside mxf).
    pub root: bool,
}

pub fn parse(attr: TokenStream, cx: &mut Ctxt) -> Options {
    let mut o = Options::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(m) => m,
        Err(e) => {
            cx.syn_error(e);
            return o;
        }
    };
    let mut iid_seen = false;
    for meta in metas {
        let Some(ident) = meta.path().get_ident().map(ToString::to_string) else {
            cx.error_spanned_by(meta.path(), "unknown option; expected `iid = \"…\"` or `no_iid`");
            continue;
        };
        match (ident.as_str(), &meta) {
            ("iid", Meta::NameValue(nv)) => {
                if iid_seen {
                    cx.error_spanned_by(&nv.path, "`iid` is given twice");
                    continue;
                }
                iid_seen = true;
                match &nv.value {
                    Expr::Lit(l) => match &l.lit {
                        Lit::Str(s) => match parse_guid(&s.value()) {
                            Ok(v) => o.iid = Some(v),
                            Err(msg) => cx.error_spanned_by(s, msg),
                        },
                        other => cx.error_spanned_by(other, "the IID is a string: `iid = \"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\"`"),
                    },
                    other => cx.error_spanned_by(other, "the IID is a string: `iid = \"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\"`"),
                }
            }
            ("iid", other) => cx.error_spanned_by(other, "expected `iid = \"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\"`"),
            ("no_iid", Meta::Path(p)) => {
                if o.no_iid {
                    cx.error_spanned_by(p, "`no_iid` is given twice");
                }
                o.no_iid = true;
            }
            ("root", Meta::Path(_)) => o.root = true,
            ("no_iid" | "root", other) => cx.error_spanned_by(other, "this option takes no value"),
            _ => cx.error_spanned_by(meta.path(), format!("unknown option `{ident}`; expected `iid = \"…\"` or `no_iid`")),
        }
    }
    if iid_seen && o.no_iid {
        cx.error_at(Span::call_site(), "`iid` and `no_iid` contradict each other");
    } else if !iid_seen && !o.no_iid {
        cx.error_at(
            Span::call_site(),
            "missing `iid = \"…\"`: every COM interface needs its IID (write `no_iid` if no header defines one)",
        );
    }
    o
}

/// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`, optionally in braces.
pub fn parse_guid(s: &str) -> Result<u128, String> {
    let inner = match (s.strip_prefix('{'), s.strip_suffix('}')) {
        (Some(rest), Some(_)) => &rest[..rest.len().saturating_sub(1)],
        (None, None) => s,
        _ => return Err("malformed IID: unbalanced braces".into()),
    };
    let groups: Vec<&str> = inner.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    if groups.len() != 5 || groups.iter().zip(lens).any(|(g, l)| g.len() != l) {
        return Err(format!(
            "malformed IID `{s}`: expected the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
        ));
    }
    let hex: String = groups.concat();
    if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("malformed IID `{s}`: `{c}` is not a hexadecimal digit"));
    }
    u128::from_str_radix(&hex, 16).map_err(|e| format!("malformed IID `{s}`: {e}"))
}
