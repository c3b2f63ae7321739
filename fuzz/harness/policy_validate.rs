//! One input of the `policy_validate` fuzz target, shared by
//! `fuzz/fuzz_targets/policy_validate.rs` (libFuzzer, nightly) and
//! `crates/policy/tests/fuzz_smoke.rs` (a bounded stable run), each of which mounts this file
//! as a module with `#[path]` and names the policy crate `policy` at its root.
//!
//! Cedar text goes the whole way: the complexity scan, parsing and validation against the
//! schema, building an engine, decisions and field classes on the calling thread (2 MiB in
//! tests, as a runtime thread). Never panics or overflows; a text past the bounds is refused
//! with exactly one diagnostic; every diagnostic points inside the text. Returns the outcome.

use super::policy;

pub fn policy_validate(data: &[u8]) -> &'static str {
    let Ok(text) = std::str::from_utf8(data) else {
        return "not_utf8";
    };
    let too_complex = policy::check_complexity(text).err();
    match policy::PolicyEngine::validate(text) {
        Err(diagnostics) => {
            assert!(
                !diagnostics.is_empty(),
                "a refusal names at least one problem"
            );
            let lines = text.lines().count().max(1) as u32;
            for d in &diagnostics {
                assert!(
                    d.line >= 1 && d.line <= lines + 1,
                    "line {} outside a {lines}-line text",
                    d.line
                );
            }
            if let Some(e) = too_complex {
                assert_eq!(diagnostics.len(), 1);
                assert_eq!(
                    (diagnostics[0].line, diagnostics[0].column),
                    (e.line, e.column)
                );
                return "too_complex";
            }
            "invalid"
        }
        Ok(validated) => {
            assert!(too_complex.is_none(), "a text past the bounds validated");
            let engine =
                policy::PolicyEngine::from_validated(validated).expect("a validated text builds");
            let key = policy::PrincipalRef::ApiKey {
                id: "k".into(),
                tenant: "t".into(),
                role: policy::Role::Reader,
                purposes: vec![],
            };
            for action in [
                policy::Action::ReadTimeline,
                policy::Action::Query,
                policy::Action::Ingest,
            ] {
                let request = policy::AuthzRequest::new(
                    key.clone(),
                    action,
                    policy::ResourceRef::subject("t", "p"),
                )
                .with_purpose("support");
                let _ = engine.decide(&request);
                let _ = engine.decide_uncached(&request);
                let _ = engine.visible_classes(&request);
            }
            "valid"
        }
    }
}
