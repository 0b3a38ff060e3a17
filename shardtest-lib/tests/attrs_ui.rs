//! Misuse of the test attributes is a compile error pointing at the offending token. All
//! cases in one trybuild run (each case costs a compilation).

#[test]
fn attribute_misuse_is_a_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/attrs/*.rs");
}
