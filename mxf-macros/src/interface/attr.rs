//! Options of `#[com_interface(...)]`: `iid = "…"`, `no_iid`, and the crate-internal `root`.

use crate::ctxt::Ctxt;
use proc_macro2::{Ident, Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Meta, Token};

/// Parsed options.
#[derive(Default)]
pub struct Options {
    /// The IID as a 128-bit number, or `None` with `no_iid`.
    pub iid: Option<u128>,
    /// The IID string the user wrote, where a clash with an ancestor's IID is reported.
    pub iid_span: Option<Span>,
    /// `no_iid`: the header defines no IID for this interface.
    pub no_iid: bool,
    /// `root`: this is IUnknown itself (used once, inside mxf).
    pub root: bool,
    /// `filter_plumbing`: the framework implements this interface for `FilterObject` itself
    /// (IMXF and IMxfFilter, inside mxf), so no forwarding to the filter is generated.
    pub filter_plumbing: bool,
    /// `unsafe_impl`: implementing the interface is a promise safe code relies on.
    pub unsafe_impl: bool,
    /// Whether `iid` was written (even if malformed).
    iid_given: bool,
    /// With both `iid` and `no_iid`: the second of the two, where the contradiction is reported.
    contradiction: Option<Span>,
}

pub fn parse(attr: TokenStream, cx: &mut Ctxt) -> Options {
    let mut o = Options::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(m) => m,
        Err(e) => {
            cx.syn_error(e);
            // Not also "missing `iid`": the attribute is reported as unreadable.
            o.iid_given = true;
            return o;
        }
    };
    for meta in metas {
        let Some(ident) = meta.path().get_ident().map(ToString::to_string) else {
            cx.error_spanned_by(
                meta.path(),
                "unknown option; expected `iid = \"…\"` or `no_iid`",
            );
            continue;
        };
        match (ident.as_str(), &meta) {
            ("iid", Meta::NameValue(nv)) => {
                if o.iid_given {
                    cx.error_spanned_by(&nv.path, "`iid` is given twice");
                    continue;
                }
                o.iid_given = true;
                if o.no_iid {
                    o.contradiction = Some(nv.path.span());
                }
                match &nv.value {
                    Expr::Lit(l) => match &l.lit {
                        Lit::Str(s) => match parse_guid(&s.value()) {
                            Ok(v) => {
                                o.iid = Some(v);
                                o.iid_span = Some(s.span());
                            }
                            Err(msg) => cx.error_spanned_by(s, msg),
                        },
                        other => cx.error_spanned_by(
                            other,
                            "the IID is a string: `iid = \"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\"`",
                        ),
                    },
                    other => cx.error_spanned_by(
                        other,
                        "the IID is a string: `iid = \"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\"`",
                    ),
                }
            }
            ("iid", other) => cx.error_spanned_by(
                other,
                "expected `iid = \"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\"`",
            ),
            ("no_iid", Meta::Path(p)) => {
                if o.no_iid {
                    cx.error_spanned_by(p, "`no_iid` is given twice");
                    continue;
                }
                o.no_iid = true;
                if o.iid_given {
                    o.contradiction = Some(p.span());
                }
            }
            ("root", Meta::Path(_)) => o.root = true,
            ("filter_plumbing", Meta::Path(_)) => o.filter_plumbing = true,
            ("unsafe_impl", Meta::Path(_)) => o.unsafe_impl = true,
            ("no_iid" | "root" | "filter_plumbing" | "unsafe_impl", other) => {
                cx.error_spanned_by(other, "this option takes no value")
            }
            _ => cx.error_spanned_by(
                meta.path(),
                format!(
                    "unknown option `{ident}`; expected `iid = \"…\"`, `no_iid` or `unsafe_impl`"
                ),
            ),
        }
    }
    o
}

/// Checks that exactly one of `iid` and `no_iid` was given. A missing IID is reported at the
/// trait's name, since the attribute may have no tokens to point at.
pub fn check_iid(o: &Options, ident: &Ident, cx: &mut Ctxt) {
    if let Some(span) = o.contradiction {
        cx.error_at(span, "`iid` and `no_iid` contradict each other: keep one");
    } else if !o.iid_given && !o.no_iid {
        cx.error_spanned_by(
            ident,
            format!(
                "`{ident}` needs its IID: write `#[com_interface(iid = \"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\")]`, or `no_iid` if no header defines one"
            ),
        );
    }
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
        return Err(format!(
            "malformed IID `{s}`: `{c}` is not a hexadecimal digit"
        ));
    }
    u128::from_str_radix(&hex, 16).map_err(|e| format!("malformed IID `{s}`: {e}"))
}
