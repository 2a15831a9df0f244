//! Compile-fail tests: what the type system must reject.
//!
//! - `guard_escape`: a reference loaded under a read guard cannot outlive the guard's scope.
//! - `guard_dropped_early`: the guard cannot be dropped while such a reference is in use.
//! - `guard_not_send`: a read guard cannot move to another thread.
//!
//! The expected compiler messages are in `tests/ui/*.stderr`; regenerate them with
//! `TRYBUILD=overwrite cargo test -p rcu-core --test compile_fail` after a toolchain change
//! and check the new messages still describe the same errors.

#![cfg(not(loom))]

#[test]
fn guard_borrows_cannot_escape() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
