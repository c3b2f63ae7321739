//! Fuzzes Cedar policy text through the complexity scan, parsing, validation against the
//! schema, engine building and decisions (see `fuzz/harness/policy_validate.rs`, shared with
//! the stable smoke run in `crates/policy/tests/fuzz_smoke.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use steward_engine::steward_policy as policy;

#[path = "../harness/policy_validate.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let _ = harness::policy_validate(data);
});
