//! Fuzzes SQL text through the whole planner: complexity scan, read-only check, parse, plan
//! against a tenant's demo views and bounded execution on the heavy-work pool (see
//! `fuzz/harness/sql_plan.rs`, shared with the stable smoke run in
//! `crates/query/tests/fuzz_smoke.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness/sql_plan.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let _ = harness::sql_plan(data);
});
