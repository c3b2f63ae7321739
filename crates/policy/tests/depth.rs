//! Deeply nested or long-chained policy text: refused before parsing past the bounds of
//! `limits.rs` (a clear error with a position, never a stack overflow), and at the bounds it
//! validates on any thread and decides within half of a runtime thread's 2 MiB stack.

mod common;

use common::{key, request};
use steward_policy::limits::{POLICY_NESTING_MAX, POLICY_OPERATORS_MAX};
use steward_policy::{Action, ComplexityBound, PolicyEngine, PolicyError, Role};

/// Stack of the thread that decides: half of what a tokio thread has.
const DECIDE_STACK_BYTES: usize = 1 << 20;

fn policy(condition: &str) -> String {
    format!("@id(\"deep\")\npermit (principal, action, resource) when {{ {condition} }};\n")
}

/// The deepest shapes the bounds allow: 31 brackets inside the `when { }`, and the rest of
/// the policy's operators in one chain inside them.
fn at_the_limit() -> Vec<(&'static str, String)> {
    let open = POLICY_NESTING_MAX - 1;
    let has = vec!["context has purpose"; POLICY_OPERATORS_MAX / 2].join(" && "); // 2n-1 operators
    let sum = vec!["1"; POLICY_OPERATORS_MAX - 1].join(" + "); // n-2 `+`, one `.`, one `||`
    let ifs = (POLICY_OPERATORS_MAX - 1) / 2; // `if` and `has` each count
    vec![
        (
            "parentheses and &&",
            format!("{}{has}{}", "(".repeat(open), ")".repeat(open)),
        ),
        (
            "sets and +",
            format!(
                "{}{sum}{}.isEmpty() || true",
                "[".repeat(open),
                "]".repeat(open)
            ),
        ),
        (
            "records",
            format!("{}1{} has a", "{a: ".repeat(open), "}".repeat(open)),
        ),
        (
            "if chain",
            format!(
                "{}true{}",
                "if context has purpose then ".repeat(ifs),
                " else false".repeat(ifs)
            ),
        ),
    ]
}

fn decide_on_small_stack(engine: PolicyEngine) -> bool {
    std::thread::Builder::new()
        .stack_size(DECIDE_STACK_BYTES)
        .spawn(move || {
            let allowed = engine
                .decide_uncached(&request(
                    key(Role::Reader),
                    Action::Query,
                    "acme",
                    Some("analytics"),
                ))
                .allowed;
            drop(engine);
            allowed
        })
        .expect("thread")
        .join()
        .expect("decides without overflowing")
}

#[test]
fn the_deepest_policies_allowed_validate_and_decide() {
    for (shape, condition) in at_the_limit() {
        let text = policy(&condition);
        assert_eq!(steward_policy::check_complexity(&text), Ok(()), "{shape}");
        let engine = PolicyEngine::new(Some(&text)).unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert!(decide_on_small_stack(engine), "{shape}");
    }
}

#[test]
fn one_level_or_one_operator_more_is_refused_before_parsing() {
    let open = POLICY_NESTING_MAX;
    let has = |n: usize| vec!["context has purpose"; n].join(" && ");
    for (condition, bound) in [
        (
            format!("{}true{}", "(".repeat(open), ")".repeat(open)),
            ComplexityBound::Nesting,
        ),
        (
            format!("{}1{}.isEmpty()", "[".repeat(open), "]".repeat(open)),
            ComplexityBound::Nesting,
        ),
        (
            format!("{} || true || true", has(POLICY_OPERATORS_MAX / 2)),
            ComplexityBound::Operators,
        ),
    ] {
        let text = policy(&condition);
        match PolicyEngine::new(Some(&text)) {
            Err(PolicyError::TooComplex(e)) => assert_eq!(e.bound, bound, "{e}"),
            other => panic!("expected too complex, got {:?}", other.map(|_| "an engine")),
        }
    }
}

#[test]
fn the_attacks_of_issue_10_are_refused_on_any_thread() {
    // About 150 nested parentheses, sets or records, or 420 chained `&&`/`+`/`if`, used to
    // overflow a 2 MiB worker stack and abort the process.
    let attacks = [
        format!("{}true{}", "(".repeat(150), ")".repeat(150)),
        format!("{}1{}.isEmpty()", "[".repeat(150), "]".repeat(150)),
        format!("{}1{} == {{}}", "{a: ".repeat(150), "}".repeat(150)),
        vec!["true"; 421].join(" && "),
        format!("{} == 3", vec!["1"; 421].join(" + ")),
        format!(
            "{}true{}",
            "if true then ".repeat(420),
            " else false".repeat(420)
        ),
        format!("context{} == 1", ".a".repeat(5000)),
        "(".repeat(200_000),
    ];
    for condition in attacks {
        let text = policy(&condition);
        let diagnostics = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || PolicyEngine::validate(&text).err())
            .expect("thread")
            .join()
            .expect("no overflow")
            .expect("refused");
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].message.contains("nest deeper")
                || diagnostics[0].message.contains("operators"),
            "{}",
            diagnostics[0]
        );
        assert!(
            !diagnostics[0].message.contains("true") && !diagnostics[0].message.contains("(("),
            "{}",
            diagnostics[0]
        );
    }
}
