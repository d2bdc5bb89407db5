//! Compile-time diagnostics of `#[com_interface]` and `#[com_object]`.
//!
//! Every case in `ui/fail/` makes one mistake and must produce exactly one error, pointing at the
//! token the user wrote. The cases in `ui/pass/` must compile (and run).
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui`, then read
//! every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
