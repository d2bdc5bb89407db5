//! Checks of methods and of the types that cross the vtable.

use super::model::Method;
use crate::ctxt::Ctxt;
use syn::{FnArg, GenericArgument, Pat, PathArguments, ReturnType, TraitItemFn, Type};

pub fn method(f: &TraitItemFn, cx: &mut Ctxt) -> Option<Method> {
    let sig = &f.sig;
    let before = cx.len();
    if let Some(c) = &sig.constness {
        cx.error_spanned_by(c, "a COM method cannot be `const`");
    }
    if let Some(a) = &sig.asyncness {
        cx.error_spanned_by(
            a,
            "a COM method cannot be `async`: the vtable calls it synchronously",
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(
            abi,
            "the calling convention of COM methods is fixed (`extern \"system\"`); remove it",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &sig.generics,
            "a COM method cannot be generic: a vtable slot has one signature",
        );
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, "a COM method cannot be variadic");
    }
    if let Some(body) = &f.default {
        cx.error_spanned_by(
            body,
            "a COM method cannot have a default body: every object implements it",
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() && r.colon_token.is_none() => {}
        Some(FnArg::Receiver(r)) => cx.error_spanned_by(
            r,
            "a COM method takes `&self`: objects are shared between CPUs, so state goes behind a lock",
        ),
        Some(other) => cx.error_spanned_by(other, "a COM method takes `&self` first"),
        None => cx.error_spanned_by(&sig.ident, "a COM method takes `&self` first"),
    }
    let mut params: Vec<(syn::Ident, Type)> = Vec::new();
    for arg in inputs {
        match arg {
            FnArg::Typed(pt) => {
                let name = match &*pt.pat {
                    Pat::Ident(pi) if params.iter().any(|(n, _)| *n == pi.ident) => {
                        cx.error_spanned_by(
                            &pi.ident,
                            format!("the parameter `{}` is declared twice", pi.ident),
                        );
                        None
                    }
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        Some(pi.ident.clone())
                    }
                    other => {
                        cx.error_spanned_by(other, "use a plain name for a COM method parameter");
                        None
                    }
                };
                ffi_type(&pt.ty, Position::Param, cx);
                if let Some(n) = name {
                    params.push((n, (*pt.ty).clone()));
                }
            }
            FnArg::Receiver(r) => cx.error_spanned_by(r, "`self` can only come first"),
        }
    }
    let ret = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => {
            ffi_type(ty, Position::Return, cx);
            match &**ty {
                Type::Tuple(t) if t.elems.is_empty() => None,
                _ => Some((**ty).clone()),
            }
        }
    };
    let mut client_attrs = Vec::new();
    for a in &f.attrs {
        let p = a.path();
        if p.is_ident("doc") {
        } else if p.is_ident("deprecated") || p.is_ident("must_use") {
            client_attrs.push(a.clone());
        } else if p.is_ident("cfg") || p.is_ident("cfg_attr") {
            cx.error_spanned_by(
                a,
                "a vtable slot cannot be conditional: the slot order is the ABI; declare the method always (or a second interface)",
            );
        } else {
            cx.error_spanned_by(
                a,
                "a COM method takes doc comments, `#[deprecated]` and `#[must_use]` only",
            );
        }
    }
    if cx.len() != before {
        return None;
    }
    let attrs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    let unsafe_impl = sig.unsafety.is_some() || params.iter().any(|(_, t)| !plain_value(t));
    Some(Method {
        attrs,
        ident: sig.ident.clone(),
        params,
        ret,
        unsafe_impl,
        client_attrs,
    })
}

/// False for the parameter types that are pointers by their syntax (raw and function pointers,
/// also inside other types): an implementation receiving one relies on its caller's contract, so
/// its `_Impl` method is an `unsafe fn`. The other (named) types are checked after expansion to
/// be `PlainValue`s, so an alias that hides a pointer is an error, not a safe method.
fn plain_value(ty: &Type) -> bool {
    match ty {
        Type::Paren(p) => plain_value(&p.elem),
        Type::Group(g) => plain_value(&g.elem),
        Type::Path(tp) => tp.path.segments.iter().all(|seg| match &seg.arguments {
            PathArguments::AngleBracketed(a) => a.args.iter().all(|ga| match ga {
                GenericArgument::Type(t) => plain_value(t),
                _ => true,
            }),
            PathArguments::Parenthesized(_) => false,
            PathArguments::None => true,
        }),
        _ => false,
    }
}

/// A `ComRef` parameter is lent for the call: a named lifetime (`'static`) would let a safe
/// implementation keep it after the caller released it.
fn borrowed_for_the_call(tp: &syn::TypePath, cx: &mut Ctxt) {
    let Some(last) = tp.path.segments.last() else {
        return;
    };
    if last.ident != "ComRef" {
        return;
    }
    if let PathArguments::AngleBracketed(a) = &last.arguments {
        for ga in &a.args {
            if let GenericArgument::Lifetime(l) = ga
                && l.ident != "_"
            {
                cx.error_spanned_by(
                    l,
                    "an interface parameter is lent for the call only: write `ComRef<'_, I>` (to keep it, clone it into an owned pointer)",
                );
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Position {
    Param,
    Return,
}

/// Rejects, by shape, the types that can never cross a vtable. Named types that pass are checked
/// again after expansion with the `AbiSafe` / `AbiReturn` traits.
fn ffi_type(ty: &Type, pos: Position, cx: &mut Ctxt) {
    let what = if pos == Position::Param {
        "cross a COM vtable"
    } else {
        "be returned from a COM method"
    };
    match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Slice(_) => cx.error_spanned_by(ty, format!("slices cannot {what}: pass a pointer and a length")),
            Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => {
                cx.error_spanned_by(ty, format!("string slices cannot {what}: pass a pointer and a length"))
            }
            _ => cx.error_spanned_by(
                ty,
                format!("references cannot {what}: use a raw pointer (`*const T` / `*mut T`), or `Option<ComRef<'_, I>>` for an interface"),
            ),
        },
        Type::Slice(_) => cx.error_spanned_by(ty, format!("slices cannot {what}: pass a pointer and a length")),
        Type::Array(_) => cx.error_spanned_by(ty, format!("arrays cannot {what} by value: pass a pointer")),
        Type::Tuple(t) if !t.elems.is_empty() => {
            cx.error_spanned_by(ty, format!("tuples cannot {what}: they have no C layout"))
        }
        Type::Tuple(_) if pos == Position::Param => cx.error_spanned_by(ty, "`()` is not a parameter type"),
        Type::ImplTrait(_) | Type::TraitObject(_) => {
            cx.error_spanned_by(ty, format!("trait objects and `impl Trait` cannot {what}"))
        }
        Type::Never(_) => cx.error_spanned_by(ty, "a COM method always returns"),
        Type::Infer(_) => cx.error_spanned_by(ty, "write the type out"),
        Type::Macro(_) | Type::Verbatim(_) => cx.error_spanned_by(ty, "write the type out; type macros are not supported here"),
        Type::BareFn(f) if f.abi.is_none() => {
            cx.error_spanned_by(ty, "a function pointer that crosses a vtable needs `extern \"system\"`")
        }
        Type::Ptr(p) if matches!(&*p.elem, Type::Slice(_) | Type::TraitObject(_))
            || matches!(&*p.elem, Type::Path(tp) if tp.qself.is_none() && tp.path.is_ident("str")) =>
        {
            cx.error_spanned_by(
                ty,
                format!("a pointer to a slice, `str` or trait object is two machine words and cannot {what}: pass a pointer to the first element and a length"),
            )
        }
        Type::Paren(p) => ffi_type(&p.elem, pos, cx),
        Type::Group(g) => ffi_type(&g.elem, pos, cx),
        Type::Path(tp) if tp.qself.is_none() => {
            if let Some(last) = tp.path.segments.last() {
                let name = last.ident.to_string();
                let hint = match name.as_str() {
                    "str" => Some("`str` has no C layout: pass a pointer and a length"),
                    "String" => Some("`String` cannot cross a COM vtable: pass a pointer and a length"),
                    "Vec" => Some("`Vec` cannot cross a COM vtable: pass a pointer and a length"),
                    "Box" | "Rc" | "Arc" => Some("smart pointers cannot cross a COM vtable: use a raw pointer or an interface"),
                    "bool" => Some("`bool` has no fixed C type here: use `i32` for BOOL or `u8` for BOOLEAN"),
                    "char" => Some("`char` has no C equivalent: use `u8` or `u16`"),
                    "u128" | "i128" => Some("128-bit integers have no stable C ABI"),
                    _ => None,
                };
                if let Some(h) = hint {
                    cx.error_spanned_by(ty, h);
                } else if name == "Option"
                    && let PathArguments::AngleBracketed(a) = &last.arguments
                {
                    for ga in &a.args {
                        if let GenericArgument::Type(inner) = ga
                            && !matches!(inner, Type::Path(_))
                        {
                            ffi_type(inner, pos, cx);
                        }
                        if let GenericArgument::Type(Type::Path(inner)) = ga {
                            borrowed_for_the_call(inner, cx);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
