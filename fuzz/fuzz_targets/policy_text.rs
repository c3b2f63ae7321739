//! Fuzzes tenant policy texts (the body of `PUT .../policies`): validation never panics, every
//! diagnostic points inside the text, and a text that validates builds an engine that decides.
#![no_main]
use libfuzzer_sys::fuzz_target;
use steward_engine::steward_policy::{Action, AuthzRequest, PolicyEngine, PrincipalRef, ResourceRef, Role};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match PolicyEngine::validate(text) {
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "a refusal names at least one problem");
            let lines = text.lines().count().max(1) as u32;
            for d in &diagnostics {
                assert!(d.line >= 1 && d.line <= lines + 1, "line {} outside a {lines}-line text", d.line);
            }
        }
        Ok(validated) => {
            let engine = PolicyEngine::from_validated(validated).expect("a validated text builds");
            let key = PrincipalRef::ApiKey { id: "k".into(), tenant: "t".into(), role: Role::Reader, purposes: vec![] };
            let request = AuthzRequest::new(key, Action::ReadTimeline, ResourceRef::subject("t", "p")).with_purpose("support");
            let _ = engine.decide(&request);
            let _ = engine.visible_classes(&request);
        }
    }
});
