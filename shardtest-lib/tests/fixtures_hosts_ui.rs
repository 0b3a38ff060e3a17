//! Compile errors of `hosts!`, one trybuild run for all cases (they share one build).

#[test]
fn hosts_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/hosts/*.rs");
}
