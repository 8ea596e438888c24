//! What must not compile: the context cannot leave its request.

#[test]
fn the_context_cannot_escape_into_a_task() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
