//! In-process tests of `#[com_interface]`: `com_interface_core` on `quote!` inputs. The
//! compile-time behaviour of the expansion is covered by the trybuild suite (`tests/ui`).

use super::attr::parse_guid;
use super::com_interface_core;
use crate::test_util::{assert_no_error, assert_one_error, compact, errors};
use proc_macro2::TokenStream;
use quote::quote;

const IID: &str = "6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5C";

fn iid_attr() -> TokenStream {
    quote! { iid = #IID }
}

/// Expands a trait with a valid attribute.
fn expand_trait(item: TokenStream) -> TokenStream {
    com_interface_core(iid_attr(), item)
}

/// Expands `unsafe trait IFoo: IUnknown { <method> }` with a valid attribute.
fn expand_method(method: TokenStream) -> TokenStream {
    expand_trait(quote! {
        pub unsafe trait IFoo: IUnknown {
            #method
        }
    })
}

#[test]
fn valid_interface_expands_without_errors() {
    let out = expand_trait(quote! {
        /// Documented.
        pub unsafe trait IFoo: IMXF {
            /// A method.
            fn SetVolume(&self, volume: u32) -> NTSTATUS;
            fn GetVolume(&self, volume: *mut u32) -> NTSTATUS;
            fn Reset(&self);
            fn Connect(&self, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS;
        }
    });
    assert_no_error(&out);
    let text = compact(&out);
    for item in [
        "pubstructIFoo(::mxf::com::ComPtr<IFoo>)",
        "pubstructIFoo_Vtbl",
        "pubtraitIFoo_Impl",
        "unsafeimpl::mxf::com::InterfaceforIFoo",
        "typeTarget=__IFoo_Base",
        "type__IFoo_Base=IMXF",
        "assert_abi_safe::<u32>",
        "assert_abi_return::<NTSTATUS>",
        "diagnostic::on_unimplemented",
    ] {
        assert!(text.contains(item), "the expansion lacks `{item}`:\n{out}");
    }
    // The IID as a number: 0x6D0E6A0B_5A1C_4C7E_9E7B_2C1D0F3A4B5C.
    assert!(text.contains(&format!(
        "from_u128({}u128)",
        0x6D0E6A0B_5A1C_4C7E_9E7B_2C1D0F3A4B5C_u128
    )));
    // The user's base path appears exactly once (in the alias): an unknown base is one error.
    assert_eq!(text.matches("IMXF;").count(), 1);
    // The alias is private: a base less visible than the interface is reported where the
    // interface's public items use it, at the base path.
    assert!(!text.contains("pubtype__IFoo_Base"), "{out}");
    // The IID is only `HasIid`'s; the lineage records it, the methods and the base's lineage.
    assert!(
        text.contains("unsafeimpl::mxf::com::HasIidforIFoo"),
        "{out}"
    );
    assert!(text.contains("methods:&[\"SetVolume\""), "{out}");
    assert!(
        text.contains("<__IFoo_Baseas::mxf::com::Interface>::LINEAGE"),
        "{out}"
    );
    // Each method is checked against the ancestors' methods, and the IID against theirs.
    assert!(text.contains("LINEAGE.declares(\"SetVolume\")"), "{out}");
    assert!(text.contains("LINEAGE.has_iid("), "{out}");
}

#[test]
fn impl_methods_are_unsafe_exactly_when_they_take_pointers_or_say_so() {
    let out = expand_trait(quote! {
        pub unsafe trait IFoo: IUnknown {
            fn Plain(&self, volume: u32, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS;
            fn Out(&self, volume: *mut u32) -> NTSTATUS;
            fn Nested(&self, p: Option<*mut u8>) -> NTSTATUS;
            fn Callback(&self, f: extern "system" fn(u32)) -> NTSTATUS;
            unsafe fn Declared(&self, handle: HANDLE) -> NTSTATUS;
        }
    });
    assert_no_error(&out);
    let text = compact(&out);
    // In the `_Impl` trait.
    let imp = &text[text.find("traitIFoo_Impl").expect("no _Impl trait")..];
    assert!(imp.contains("too_many_arguments)]fnPlain(&self"), "{out}");
    for m in ["Out", "Nested", "Callback", "Declared"] {
        assert!(
            imp.contains(&format!("too_many_arguments)]unsafefn{m}(&self")),
            "`{m}` is safe:\n{out}"
        );
    }
    // Only the safe method's parameters are checked to be plain values.
    assert!(text.contains("assert_plain_value::<u32>"), "{out}");
    assert!(!text.contains("assert_plain_value::<HANDLE>"), "{out}");
}

#[test]
fn a_raw_identifier_names_an_interface() {
    let out = expand_trait(quote! {
        pub unsafe trait r#IRaw: IMXF { fn r#type(&self) -> u32; }
    });
    assert_no_error(&out);
    let text = compact(&out);
    assert!(text.contains("type__IRaw_Base=IMXF"), "{out}");
    assert!(text.contains("methods:&[\"type\"]"), "{out}");
    assert!(text.contains("pubtraitIRaw_Impl"), "{out}");
}

#[test]
fn no_iid_interface_expands_without_errors() {
    let out = com_interface_core(
        quote! { no_iid },
        quote! { pub unsafe trait IClock: IUnknown { fn GetTime(&self, time: *mut i64) -> NTSTATUS; } },
    );
    assert_no_error(&out);
    let text = compact(&out);
    // No IID at all: no `HasIid`, and the lineage says so.
    assert!(!text.contains("HasIid"), "{out}");
    assert!(text.contains("iid:::core::option::Option::None"), "{out}");
}

#[test]
fn iunknown_methods_declared_again_are_errors() {
    for m in ["QueryInterface", "AddRef", "Release"] {
        let name = proc_macro2::Ident::new(m, proc_macro2::Span::call_site());
        let out = expand_trait(quote! {
            pub unsafe trait IFoo: IUnknown {
                fn #name(&self) -> u32;
                fn Other(&self) -> u32;
            }
        });
        assert_one_error(&out, &format!("`{m}` is IUnknown's"));
    }
}

#[test]
fn client_methods_are_safe_exactly_when_every_parameter_is_a_plain_value() {
    let out = expand_trait(quote! {
        pub unsafe trait IFoo: IUnknown {
            fn Plain(&self, volume: u32, sink: Option<ComRef<'_, IMXF>>) -> NTSTATUS;
            fn NoParams(&self) -> u32;
            fn Out(&self, volume: *mut u32) -> NTSTATUS;
            unsafe fn Declared(&self, handle: u32) -> NTSTATUS;
        }
    });
    assert_no_error(&out);
    let text = compact(&out);
    let client = &text[text.find("implIFoo{").expect("no client methods")..];
    for m in ["Plain", "NoParams"] {
        assert!(
            client.contains(&format!("pubfn{m}(&self")),
            "`{m}` is unsafe:\n{out}"
        );
    }
    for m in ["Out", "Declared"] {
        assert!(
            client.contains(&format!("pubunsafefn{m}(&self")),
            "`{m}` is safe:\n{out}"
        );
    }
}

#[test]
fn root_interface_expands_without_errors() {
    let out = com_interface_core(
        quote! { iid = "00000000-0000-0000-C000-000000000046", root },
        quote! {
            pub unsafe trait IUnknown {
                fn QueryInterface(&self, iid: *const GUID, out: *mut *mut c_void) -> NTSTATUS;
                fn AddRef(&self) -> u32;
                fn Release(&self) -> u32;
            }
        },
    );
    assert_no_error(&out);
    // The root has no base, no `_Impl` trait and no Deref.
    let text = compact(&out);
    assert!(!text.contains("IUnknown_Impl") && !text.contains("Deref"));
}

#[test]
fn root_interface_must_declare_the_three_methods() {
    let out = com_interface_core(
        quote! { iid = "00000000-0000-0000-C000-000000000046", root },
        quote! { pub unsafe trait IUnknown { fn AddRef(&self) -> u32; } },
    );
    assert_one_error(&out, "QueryInterface, AddRef and Release, in that order");
}

#[test]
fn parameters_may_use_the_names_of_generated_locals() {
    // `this`, `value` and `vtbl` are locals of the generated code; they are mixed-site, so
    // the user's parameters of the same names stay distinct (checked by compiling in tests/ui).
    let out =
        expand_method(quote! { fn Set(&self, this: u32, value: u32, vtbl: *mut u8) -> NTSTATUS; });
    assert_no_error(&out);
}

// ---- attribute ----

#[test]
fn missing_iid() {
    let out = com_interface_core(
        TokenStream::new(),
        quote! { pub unsafe trait IFoo: IUnknown {} },
    );
    assert_one_error(&out, "`IFoo` needs its IID");
}

#[test]
fn malformed_iids() {
    let cases = [
        (
            "6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5G",
            "`G` is not a hexadecimal digit",
        ),
        (
            "6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5",
            "expected the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
        ),
        ("6D0E6A0B5A1C4C7E9E7B2C1D0F3A4B5C", "expected the form"),
        ("{6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5C", "unbalanced braces"),
        ("6D0E6A0B-5A1C-4C7E-9E7B-2C1D0F3A4B5C}", "unbalanced braces"),
        ("", "expected the form"),
    ];
    for (iid, needle) in cases {
        let out = com_interface_core(
            quote! { iid = #iid },
            quote! { pub unsafe trait IFoo: IUnknown {} },
        );
        assert_one_error(&out, needle);
    }
}

#[test]
fn iid_must_be_a_string() {
    let out = com_interface_core(
        quote! { iid = 42 },
        quote! { pub unsafe trait IFoo: IUnknown {} },
    );
    assert_one_error(&out, "the IID is a string");
}

#[test]
fn iid_given_twice() {
    let out = com_interface_core(
        quote! { iid = #IID, iid = "C096DF9E-FB09-11D1-81B0-0060083316C1" },
        quote! { pub unsafe trait IFoo: IUnknown {} },
    );
    assert_one_error(&out, "`iid` is given twice");
}

#[test]
fn iid_and_no_iid() {
    for attr in [quote! { iid = #IID, no_iid }, quote! { no_iid, iid = #IID }] {
        let out = com_interface_core(attr, quote! { pub unsafe trait IFoo: IUnknown {} });
        assert_one_error(&out, "`iid` and `no_iid` contradict each other");
    }
}

#[test]
fn unknown_option() {
    let out = com_interface_core(
        quote! { iid = #IID, version = 2 },
        quote! { pub unsafe trait IFoo: IUnknown {} },
    );
    assert_one_error(&out, "unknown option `version`");
}

#[test]
fn unparsable_attribute() {
    let out = com_interface_core(
        quote! { iid = },
        quote! { pub unsafe trait IFoo: IUnknown {} },
    );
    assert_eq!(errors(&out).len(), 1, "{out}");
}

#[test]
fn guid_parsing() {
    let v = 0xC096DF9E_FB09_11D1_81B0_0060083316C1_u128;
    assert_eq!(parse_guid("C096DF9E-FB09-11D1-81B0-0060083316C1"), Ok(v));
    assert_eq!(parse_guid("{c096df9e-fb09-11d1-81b0-0060083316c1}"), Ok(v));
    assert!(parse_guid("{}").is_err());
    assert!(parse_guid("{").is_err());
    assert!(parse_guid("C096DF9E-FB09-11D1-81B0-0060083316C+").is_err());
    // Multi-byte characters never panic on slicing.
    assert!(parse_guid("{é}").is_err());
    assert!(parse_guid("C096DF9E-FB09-11D1-81B0-0060083316é").is_err());
}

// ---- the trait ----

#[test]
fn not_on_a_struct_or_enum() {
    for item in [
        quote! { pub struct IFoo { value: u32 } },
        quote! { pub enum IFoo { A } },
    ] {
        let out = expand_trait(item);
        assert_one_error(&out, "applies to an `unsafe trait`");
        // The user's item is kept, so that code naming it does not cascade.
        let text = compact(&out);
        assert!(
            text.contains("pubstructIFoo") || text.contains("pubenumIFoo"),
            "{out}"
        );
    }
}

#[test]
fn trait_must_be_unsafe() {
    let out = expand_trait(quote! { pub trait IFoo: IUnknown { fn Ping(&self) -> NTSTATUS; } });
    assert_one_error(&out, "must be an `unsafe trait`");
}

#[test]
fn trait_cannot_be_generic() {
    let out = expand_trait(
        quote! { pub unsafe trait IFoo<T>: IUnknown { fn Ping(&self, v: *const T); } },
    );
    assert_one_error(&out, "a COM interface cannot be generic");
}

#[test]
fn base_interface_count() {
    let out = expand_trait(quote! { pub unsafe trait IFoo { fn Ping(&self); } });
    assert_one_error(&out, "must name its base interface");
    let out =
        expand_trait(quote! { pub unsafe trait IFoo: IMXF + IServiceSink { fn Ping(&self); } });
    assert_one_error(&out, "exactly one base interface");
    let out = expand_trait(quote! { pub unsafe trait IFoo: ?Sized { fn Ping(&self); } });
    assert_one_error(&out, "the base of a COM interface is another COM interface");
}

#[test]
fn base_named_after_a_generated_item() {
    let out = expand_trait(quote! { pub unsafe trait IFoo: IMXF_Impl { fn Ping(&self); } });
    assert_one_error(&out, "the interface is `IMXF`");
    let out = expand_trait(quote! { pub unsafe trait IFoo: IMXF_Vtbl { fn Ping(&self); } });
    assert_one_error(&out, "the interface is `IMXF`");
    let out = expand_trait(quote! { pub unsafe trait IFoo: Send { fn Ping(&self); } });
    assert_one_error(&out, "`Send` is not a COM interface");
    let out = expand_trait(quote! { pub unsafe trait IFoo: core::fmt::Debug { fn Ping(&self); } });
    assert_one_error(&out, "`core::fmt::Debug` is not a COM interface");
}

#[test]
fn associated_items_are_rejected() {
    let out =
        expand_trait(quote! { pub unsafe trait IFoo: IUnknown { const V: u32; fn Ping(&self); } });
    assert_one_error(&out, "declares methods only");
    let out = expand_trait(quote! { pub unsafe trait IFoo: IUnknown { type Item; } });
    assert_one_error(&out, "declares methods only");
}

#[test]
fn duplicate_method() {
    let out = expand_method(quote! { fn Ping(&self); fn Ping(&self, v: u32); });
    assert_one_error(&out, "`Ping` is declared twice");
    // The fallback keeps one `Ping`, so the compiler does not add E0428.
    assert_eq!(compact(&out).matches("fnPing").count(), 1, "{out}");
}

#[test]
fn fallback_strips_what_the_compiler_would_reject_again() {
    let out = expand_method(quote! { const fn Version(&self) -> u32; });
    assert_one_error(&out, "cannot be `const`");
    let text = compact(&out);
    assert!(
        text.contains("fnVersion") && !text.contains("constfn"),
        "{out}"
    );
    // The supertrait (maybe unknown) is gone too.
    let out = expand_trait(quote! { pub trait IFoo: IDoesNotExist {} });
    assert!(!compact(&out).contains("IDoesNotExist"), "{out}");
}

// ---- methods ----

#[test]
fn method_modifiers() {
    let cases = [
        (
            quote! { async fn Wait(&self) -> NTSTATUS; },
            "cannot be `async`",
        ),
        (
            quote! { const fn Version(&self) -> u32; },
            "cannot be `const`",
        ),
        (
            quote! { #[cfg(any())] fn Gone(&self) -> u32; },
            "cannot be conditional",
        ),
        (
            quote! { fn Keep(&self, s: Option<ComRef<'static, IMXF>>) -> NTSTATUS; },
            "lent for the call only",
        ),
        (
            quote! { #[inline] fn Fast(&self) -> u32; },
            "doc comments, `#[deprecated]` and `#[must_use]` only",
        ),
        (
            quote! { extern "C" fn Ping(&self) -> NTSTATUS; },
            "calling convention of COM methods is fixed",
        ),
        (
            quote! { fn Ping<T>(&self, v: *const T) -> NTSTATUS; },
            "cannot be generic",
        ),
        (
            quote! { fn Ping(&self) -> NTSTATUS where Self: Sized; },
            "cannot be generic",
        ),
        (
            quote! { fn Ping(&self) -> NTSTATUS { STATUS_SUCCESS } },
            "cannot have a default body",
        ),
    ];
    for (method, needle) in cases {
        assert_one_error(&expand_method(method), needle);
    }
}

#[test]
fn receivers() {
    let cases = [
        (quote! { fn Close(self) -> NTSTATUS; }, "takes `&self`"),
        (quote! { fn Reset(&mut self) -> NTSTATUS; }, "takes `&self`"),
        (
            quote! { fn Reset(self: &Self) -> NTSTATUS; },
            "takes `&self`",
        ),
        (
            quote! { fn Create(size: u32) -> NTSTATUS; },
            "takes `&self` first",
        ),
        (quote! { fn Create() -> NTSTATUS; }, "takes `&self` first"),
    ];
    for (method, needle) in cases {
        assert_one_error(&expand_method(method), needle);
    }
}

#[test]
fn parameter_names() {
    assert_one_error(
        &expand_method(quote! { fn Ping(&self, _: u32); }),
        "use a plain name",
    );
    assert_one_error(
        &expand_method(quote! { fn Ping(&self, ref v: u32); }),
        "use a plain name",
    );
    assert_one_error(
        &expand_method(quote! { fn Move(&self, x: i32, x: i32); }),
        "the parameter `x` is declared twice",
    );
}

#[test]
fn parameter_types_that_cannot_cross_a_vtable() {
    let cases = [
        (quote! { String }, "`String` cannot cross a COM vtable"),
        (
            quote! { std::string::String },
            "`String` cannot cross a COM vtable",
        ),
        (quote! { &str }, "string slices cannot cross a COM vtable"),
        (quote! { &[u8] }, "slices cannot cross a COM vtable"),
        (quote! { &mut [u8] }, "slices cannot cross a COM vtable"),
        (quote! { &u32 }, "references cannot cross a COM vtable"),
        (
            quote! { &'static mut u32 },
            "references cannot cross a COM vtable",
        ),
        (quote! { Vec<u8> }, "`Vec` cannot cross a COM vtable"),
        (quote! { (i32, i32) }, "tuples cannot cross a COM vtable"),
        (quote! { () }, "`()` is not a parameter type"),
        (quote! { bool }, "`bool` has no fixed C type"),
        (quote! { char }, "`char` has no C equivalent"),
        (quote! { u128 }, "128-bit integers"),
        (quote! { Box<u32> }, "smart pointers cannot cross"),
        (
            quote! { [u8; 4] },
            "arrays cannot cross a COM vtable by value",
        ),
        (quote! { impl Copy }, "`impl Trait` cannot cross"),
        (quote! { &dyn Fn() }, "references cannot cross"),
        (quote! { fn(u32) }, "needs `extern \"system\"`"),
        (quote! { Option<&u32> }, "references cannot cross"),
        (quote! { _ }, "write the type out"),
    ];
    for (ty, needle) in cases {
        assert_one_error(
            &expand_method(quote! { fn Take(&self, v: #ty) -> NTSTATUS; }),
            needle,
        );
    }
}

#[test]
fn return_types_that_cannot_be_returned() {
    let cases = [
        (quote! { bool }, "`bool` has no fixed C type"),
        (
            quote! { &u32 },
            "references cannot be returned from a COM method",
        ),
        (
            quote! { (u32, u32) },
            "tuples cannot be returned from a COM method",
        ),
        (quote! { ! }, "a COM method always returns"),
        (quote! { String }, "`String` cannot cross"),
    ];
    for (ty, needle) in cases {
        assert_one_error(&expand_method(quote! { fn Get(&self) -> #ty; }), needle);
    }
}

#[test]
fn types_checked_after_expansion() {
    // Named types that pass the shape check (a by-value struct such as GUID) are checked by the
    // `AbiSafe` / `AbiReturn` assertions of the expansion, spanned at the user's type.
    let out = expand_method(quote! { fn Identity(&self) -> GUID; });
    assert_no_error(&out);
    assert!(compact(&out).contains("assert_abi_return::<GUID>"));
    let out = expand_method(quote! { fn MoveTo(&self, to: Point); });
    assert_no_error(&out);
    assert!(compact(&out).contains("assert_abi_safe::<Point>"));
}

#[test]
fn unit_return_is_no_return() {
    let out = expand_method(quote! { fn Reset(&self) -> (); });
    assert_no_error(&out);
    assert!(!compact(&out).contains("assert_abi_return"));
}

#[test]
fn every_mistake_is_reported() {
    // Independent mistakes are all reported, each once.
    let out = com_interface_core(
        quote! { iid = "nope" },
        quote! {
            pub trait IFoo: IUnknown {
                fn A(&mut self);
                fn B(&self, s: String);
                async fn C(&self);
            }
        },
    );
    let errs = errors(&out);
    assert_eq!(errs.len(), 5, "{errs:#?}");
}
