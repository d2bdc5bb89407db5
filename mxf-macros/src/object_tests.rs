//! In-process tests of `#[com_object]` and `#[mxf_filter]`: `com_object_core` on `quote!`
//! inputs. The compile-time behaviour of the expansion is covered by `tests/ui`.

use super::{Kind, com_object_core};
use crate::test_util::{assert_no_error, assert_one_error, compact, errors};
use proc_macro2::TokenStream;
use quote::quote;

fn object(attr: TokenStream) -> TokenStream {
    com_object_core(
        attr,
        quote! { struct Sink { count: AtomicU32 } },
        Kind::Object,
    )
}

#[test]
fn valid_object_expands_without_errors() {
    let out = object(
        quote! { IMXF, ISynthSinkDMus, qi_failure = STATUS_INVALID_PARAMETER_1, tag = "Tst1" },
    );
    assert_no_error(&out);
    let text = compact(&out);
    for item in [
        // The struct itself, unchanged.
        "structSink{count:AtomicU32}",
        "unsafeimpl::mxf::com::ObjectImplforSink",
        "constCHAINS:usize=2usize",
        "constQI_FAILURE:::mxf::abi::NTSTATUS=STATUS_INVALID_PARAMETER_1",
        "type__Listed0=IMXF",
        "type__Listed1=ISynthSinkDMus",
        "::mxf::com::ComObject::<Sink>::LAYOUT_OK",
    ] {
        assert!(text.contains(item), "the expansion lacks `{item}`:\n{out}");
    }
    // The pool tag as the little-endian u32 the kernel shows as "Tst1".
    assert!(text.contains(&format!(
        "constPOOL_TAG:u32={}u32",
        u32::from_le_bytes(*b"Tst1")
    )));
    // Each listed path is named once (in its alias; messages aside): an unknown interface is one
    // error.
    assert_eq!(
        without_strings(&text).matches("ISynthSinkDMus").count(),
        1,
        "{out}"
    );
    // The struct is an object's value (it may implement IMXF itself); the chains' IIDs are
    // checked against each other, and the fields for thread safety.
    assert!(
        text.contains("impl::mxf::com::ObjectValueforSink{}"),
        "{out}"
    );
    assert!(text.contains("::mxf::com::Lineage::clash("), "{out}");
    assert!(
        text.contains("assert_thread_safe_field::<AtomicU32"),
        "{out}"
    );
    assert!(text.contains("NTSTATUS::is_success("), "{out}");
}

/// `text` without its string literals.
fn without_strings(text: &str) -> String {
    text.split('"').step_by(2).collect()
}

#[test]
fn a_filter_is_no_object_value_and_says_how_it_is_created() {
    let out = com_object_core(quote! {}, quote! { struct Thru; }, Kind::Filter);
    assert_no_error(&out);
    let text = compact(&out);
    assert!(!text.contains("ObjectValue"), "{out}");
    assert!(text.contains("pubfninto_com<__I>(self)"), "{out}");
    assert!(text.contains("::mxf::filter::NotIntoCom<Self>"), "{out}");
    assert!(
        text.contains("<Tas::mxf::filter::Filter>::OUTPUTS"),
        "{out}"
    );
}

#[test]
fn both_object_macros_on_one_struct_are_one_error() {
    for (kind, other) in [
        (Kind::Filter, quote! { #[com_object(IMXF)] }),
        (Kind::Object, quote! { #[mxf_filter] }),
    ] {
        let attr = if kind == Kind::Object {
            quote! { IMXF }
        } else {
            quote! {}
        };
        let out = com_object_core(attr, quote! { #other struct Thru; }, kind);
        assert_one_error(&out, "already is a COM object");
        // The other attribute is gone, so it does not expand too.
        let text = without_strings(&compact(&out));
        assert!(
            !text.contains("#[com_object") && !text.contains("#[mxf_filter"),
            "{out}"
        );
    }
}

#[test]
fn defaults_are_left_to_the_trait() {
    let out = object(quote! { IMXF });
    assert_no_error(&out);
    let text = compact(&out);
    assert!(
        !text.contains("constQI_FAILURE") && !text.contains("constPOOL_TAG"),
        "{out}"
    );
}

#[test]
fn paths_and_trailing_comma_are_accepted() {
    assert_no_error(&object(quote! { mxf::interfaces::IMXF, }));
}

#[test]
fn not_on_an_enum_or_union() {
    for item in [
        quote! { enum Sink { A, B } },
        quote! { union Sink { a: u32, b: i32 } },
    ] {
        let out = com_object_core(quote! { IMXF }, item, Kind::Object);
        assert_one_error(&out, "#[com_object] applies to a struct");
        let text = compact(&out);
        assert!(
            text.contains("enumSink") || text.contains("unionSink"),
            "the item is kept: {out}"
        );
    }
    let out = com_object_core(
        TokenStream::new(),
        quote! { enum Transpose { A } },
        Kind::Filter,
    );
    assert_one_error(&out, "#[mxf_filter] applies to a struct");
}

#[test]
fn empty_interface_list() {
    assert_one_error(
        &object(TokenStream::new()),
        "list the interfaces `Sink` implements",
    );
    // Options alone are no interface either.
    assert_one_error(
        &object(quote! { tag = "Snk1" }),
        "list the interfaces `Sink` implements",
    );
    // A filter is an IMXF already.
    assert_no_error(&com_object_core(
        TokenStream::new(),
        quote! { struct Transpose; },
        Kind::Filter,
    ));
}

#[test]
fn duplicated_interface() {
    assert_one_error(&object(quote! { IMXF, IMXF }), "`IMXF` is listed twice");
    assert_one_error(
        &object(quote! { mxf::IMXF, mxf::IMXF }),
        "`mxf::IMXF` is listed twice",
    );
    let out = com_object_core(quote! { IMXF }, quote! { struct Transpose; }, Kind::Filter);
    assert_one_error(&out, "a filter implements `IMXF` already");
}

#[test]
fn generated_items_listed_instead_of_interfaces() {
    assert_one_error(
        &object(quote! { IMXF_Impl }),
        "`IMXF_Impl` is the trait an object implements; the interface is `IMXF`",
    );
    assert_one_error(&object(quote! { IMXF_Vtbl }), "the interface is `IMXF`");
    assert_one_error(
        &object(quote! { IMXF, Sync }),
        "`Sync` is not a COM interface",
    );
}

#[test]
fn unknown_options() {
    assert_one_error(
        &object(quote! { IMXF, pool = NonPagedPool }),
        "unknown option `pool`",
    );
    assert_one_error(&object(quote! { IMXF, a::b = 1 }), "unknown option `a::b`");
    assert_one_error(
        &object(quote! { IMXF, tag("Snk1") }),
        "unknown option `tag`",
    );
}

#[test]
fn unparsable_options() {
    let out = object(quote! { IMXF, tag = });
    assert_eq!(errors(&out).len(), 1, "{out}");
}

#[test]
fn bad_tags() {
    for tag in [
        quote! { "Sink1" },
        quote! { "Snk" },
        quote! { "" },
        quote! { "Sïn" },
        quote! { 0x4B4E4953 },
        quote! { b"Snk1" },
    ] {
        assert_one_error(
            &object(quote! { IMXF, tag = #tag }),
            "a pool tag is four ASCII characters",
        );
    }
}

#[test]
fn options_given_twice() {
    assert_one_error(
        &object(quote! { IMXF, tag = "Snk1", tag = "Snk2" }),
        "`tag` is given twice",
    );
    assert_one_error(
        &object(
            quote! { IMXF, qi_failure = STATUS_INVALID_PARAMETER_1, qi_failure = STATUS_UNSUCCESSFUL },
        ),
        "`qi_failure` is given twice",
    );
}

#[test]
fn generic_object() {
    let out = com_object_core(
        quote! { IMXF },
        quote! { struct Sink<T> { value: T } },
        Kind::Object,
    );
    assert_one_error(&out, "#[com_object] cannot be generic");
    let out = com_object_core(
        quote! { IMXF },
        quote! { struct Sink<'a> { value: &'a u32 } },
        Kind::Object,
    );
    assert_one_error(&out, "#[com_object] cannot borrow");
    let out = com_object_core(
        quote! { IMXF },
        quote! { struct Sink where u32: Copy { value: u32 } },
        Kind::Object,
    );
    assert_one_error(&out, "cannot be generic");
}

#[test]
fn repr_is_rejected() {
    for repr in [quote! { #[repr(C)] }, quote! { #[repr(align(64))] }] {
        let out = com_object_core(quote! { IMXF }, quote! { #repr struct Sink; }, Kind::Object);
        assert_one_error(&out, "remove `#[repr]`");
    }
}

#[test]
fn on_error_the_struct_is_kept_without_generated_code() {
    let out = com_object_core(quote! { IMXF, IMXF }, quote! { struct Sink; }, Kind::Object);
    let text = compact(&out);
    assert!(text.contains("structSink;"), "{out}");
    assert!(!text.contains("ObjectImpl"), "{out}");
}

#[test]
fn every_mistake_is_reported() {
    let out = com_object_core(
        quote! { IMXF, IMXF, tag = "toolong", colour = 3 },
        quote! { #[repr(C)] struct Sink<T>(T); },
        Kind::Object,
    );
    assert_eq!(errors(&out).len(), 5, "{:#?}", errors(&out));
}

#[test]
fn each_listed_type_is_checked_once() {
    // The expansion checks each listed type once against the local `__ComInterface` trait, at the
    // user's path; every other use goes through the chain alias, which is always an interface.
    let out = object(quote! { IMXF, IServiceSink });
    let text = compact(&out);
    assert_eq!(
        text.matches("as __ComInterface>::CHECKED".replace(' ', "").as_str())
            .count(),
        2,
        "{out}"
    );
    assert_eq!(text.matches("type__Chain").count(), 2, "{out}");
}
