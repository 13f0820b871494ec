//! Compile-time behaviour of `#[on_event]` and `handlers!`: what must compile, and the exact
//! errors for what must not. Snapshots are pinned to the toolchain in `rust-toolchain.toml`;
//! regenerate with `TRYBUILD=overwrite cargo test --test ui` and review every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
