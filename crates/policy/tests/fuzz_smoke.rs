//! A bounded stable-Rust run of the `policy_validate` fuzz target (the same per-input check
//! as `fuzz/fuzz_targets/policy_validate.rs`, which needs nightly and cargo-fuzz): Cedar text
//! from a seeded grammar (scopes, conditions, sets, records, chains, `if`, nesting past the
//! bounds) and seeded mutations of it and of the default policies, for
//! `STEWARD_FUZZ_SECONDS` (default 5). Prints the figures; fails on a panic or overflow.

use steward_policy as policy;

#[path = "../../../fuzz/harness/policy_validate.rs"]
mod harness;

use harness::policy_validate;

#[path = "../../../fuzz/harness/smoke.rs"]
mod smoke;

use smoke::{Rng, mutate};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ATOMS: [&str; 12] = [
    "context.purpose",
    "context.field_class",
    "principal",
    "resource",
    "\"support\"",
    "\"a\\\"b\"",
    "1",
    "-9223372036854775808",
    "true",
    "Steward::Role::\"reader\"",
    "context.source_ip",
    "ip(\"10.0.0.1\")",
];
const BINARY: [&str; 11] = [
    "&&", "||", "==", "!=", "<", "<=", "+", "-", "*", "in", "like",
];

fn expr(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.below(4) == 0 {
        return rng.pick(&ATOMS).to_owned();
    }
    match rng.below(9) {
        0..=2 => format!(
            "{} {} {}",
            expr(rng, depth - 1),
            rng.pick(&BINARY),
            expr(rng, depth - 1)
        ),
        3 => format!("({})", expr(rng, depth - 1)),
        4 => format!(
            "[{}]",
            (0..rng.below(3))
                .map(|_| expr(rng, depth - 1))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        5 => format!("{{a: {}}}", expr(rng, depth - 1)),
        6 => format!(
            "if {} then {} else {}",
            expr(rng, depth - 1),
            expr(rng, depth - 1),
            expr(rng, depth - 1)
        ),
        7 => format!(
            "{}.contains({})",
            expr(rng, depth - 1),
            expr(rng, depth - 1)
        ),
        _ => format!("!{}", expr(rng, depth - 1)),
    }
}

fn policy_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    for i in 0..1 + rng.below(3) {
        let effect = rng.pick(&["permit", "forbid"]);
        let principal = rng.pick(&[
            "principal",
            "principal in Steward::Role::\"reader\"",
            "principal == ?principal",
        ]);
        let action = rng.pick(&[
            "action",
            "action == Steward::Action::\"query\"",
            "action in [Steward::Action::\"read_timeline\", Steward::Action::\"export\"]",
        ]);
        let condition = match rng.below(6) {
            0 => format!(
                "{}true{}",
                "(".repeat(28 + rng.below(8)),
                ")".repeat(28 + rng.below(8))
            ),
            1 => vec!["context has purpose"; 60 + rng.below(8)].join(" && "),
            2 => format!(
                "{}1{}.isEmpty()",
                "[".repeat(28 + rng.below(8)),
                "]".repeat(28 + rng.below(8))
            ),
            _ => expr(rng, 6),
        };
        text += &format!(
            "@id(\"p{i}\")\n{effect} ({principal}, {action}, resource)\nwhen {{ {condition} }};\n"
        );
    }
    text
}

#[test]
fn policy_validate_smoke() {
    let seconds = std::env::var("STEWARD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed = std::env::var("STEWARD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_ced4);
    let mut rng = Rng(seed | 1);
    let (started, mut execs, mut outcomes) = (Instant::now(), 0u64, BTreeMap::<&str, u64>::new());
    while started.elapsed() < Duration::from_secs(seconds) {
        let input = match rng.below(4) {
            0 => mutate(&mut rng, policy::DEFAULT_POLICIES, 24, b"()[]{}\";&|!.x0\\"),
            1 => {
                let text = policy_text(&mut rng);
                mutate(&mut rng, &text, 24, b"()[]{}\";&|!.x0\\")
            }
            _ => policy_text(&mut rng).into_bytes(),
        };
        *outcomes.entry(policy_validate(&input)).or_default() += 1;
        execs += 1;
    }
    eprintln!(
        "policy_validate smoke: seed {seed}, {execs} inputs in {:.1} s, 0 crashes; outcomes {outcomes:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(execs > 0);
}
