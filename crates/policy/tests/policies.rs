//! Policy text management: what validates, what is rejected with which position, and that a
//! rejected set leaves the engine in force untouched.

mod common;

use common::{key, request};
use steward_policy::{
    Action, DEFAULT_POLICIES, PLATFORM_POLICIES, PolicyDiagnostic, PolicyEngine, PolicyError, Role,
    SCHEMA_TEXT,
};

/// 1-based line and column of the first occurrence of `needle` in `text`.
fn position(text: &str, needle: &str) -> (u32, u32) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line as u32, column as u32)
}

fn rejected(text: &str) -> Vec<PolicyDiagnostic> {
    let diagnostics = PolicyEngine::validate(text).expect_err("should be rejected");
    assert!(!diagnostics.is_empty());
    diagnostics
}

#[track_caller]
fn assert_at(d: &PolicyDiagnostic, text: &str, needle: &str, policy_id: Option<&str>) {
    assert_eq!((d.line, d.column), position(text, needle), "{d}");
    assert_eq!(d.policy_id.as_deref(), policy_id, "{d}");
}

const GOOD: &str = r#"// a tenant's policies
@id("writers")
permit (
  principal in Steward::Role::"writer",
  action == Steward::Action::"ingest",
  resource
);
"#;

#[test]
fn the_shipped_texts_validate() {
    let validated = PolicyEngine::validate(DEFAULT_POLICIES).unwrap();
    assert!(
        validated.warnings().is_empty(),
        "{:?}",
        validated.warnings()
    );
    assert_eq!(validated.policy_ids().len(), 9);
    assert!(validated.tenant_purposes().is_empty());
    assert!(SCHEMA_TEXT.contains("namespace Steward"));
    assert!(PLATFORM_POLICIES.contains("platform.tenant-wall-key"));
    let engine = PolicyEngine::new(Some(GOOD)).unwrap();
    assert_eq!(engine.text(), GOOD);
    assert_eq!(engine.policies().policy_ids(), ["writers"]);
}

#[test]
fn syntax_errors_point_at_the_token() {
    let text = format!(
        "{GOOD}\n@id(\"broken\")\npermit (principal, action, resource) when {{ context.purpose == }};\n"
    );
    let diagnostics = rejected(&text);
    assert_at(&diagnostics[0], &text, "};", Some("broken"));
    assert!(
        diagnostics[0].message.contains("unexpected token"),
        "{}",
        diagnostics[0]
    );
}

#[test]
fn policies_without_an_id_are_named_by_position() {
    let text = "permit (principal, action, resource);\nforbid (principal, action, resource);\n\
                permit (principal, action, resource) when { context.nonsense };\n";
    let diagnostics = rejected(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_at(&diagnostics[0], text, "context.nonsense", Some("policy2"));
    assert!(
        diagnostics[0].message.contains("nonsense"),
        "{}",
        diagnostics[0]
    );
}

#[test]
fn unknown_entity_types_attributes_and_actions() {
    let text = format!(
        "{GOOD}\n@id(\"robots\")\npermit (principal is Steward::Robot, action, resource);\n\
         @id(\"departments\")\npermit (principal, action == Steward::Action::\"query\", resource)\n  when {{ principal.department == \"sales\" }};\n\
         @id(\"flying\")\npermit (principal, action == Steward::Action::\"fly\", resource);\n"
    );
    let diagnostics = rejected(&text);
    assert_eq!(diagnostics.len(), 3, "{diagnostics:#?}");
    assert_at(&diagnostics[0], &text, "Steward::Robot", Some("robots"));
    assert!(
        diagnostics[0].message.contains("unrecognized entity type"),
        "{}",
        diagnostics[0]
    );
    assert_at(
        &diagnostics[1],
        &text,
        "principal.department",
        Some("departments"),
    );
    assert!(
        diagnostics[1].message.contains("department"),
        "{}",
        diagnostics[1]
    );
    assert_at(
        &diagnostics[2],
        &text,
        "Steward::Action::\"fly\"",
        Some("flying"),
    );
    assert!(
        diagnostics[2].message.contains("unrecognized action"),
        "{}",
        diagnostics[2]
    );
}

#[test]
fn type_errors_are_rejected() {
    let text = "@id(\"typo\")\npermit (principal, action == Steward::Action::\"query\", resource)\nwhen { context.time == \"noon\" };";
    let diagnostics = rejected(text);
    assert_eq!(diagnostics[0].policy_id.as_deref(), Some("typo"));
    assert_eq!(diagnostics[0].line, 3);
}

#[test]
fn ids_must_be_unique_and_not_reserved() {
    let text = format!("{GOOD}{GOOD}");
    let diagnostics = rejected(&text);
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].line, 9, "{}", diagnostics[0]);
    assert!(diagnostics[0].message.contains("same @id"));

    let text = "\n\n  @id(\"platform.mine\") permit (principal, action, resource);";
    let diagnostics = rejected(text);
    assert_at(&diagnostics[0], text, "@id", Some("platform.mine"));
}

#[test]
fn templates_are_not_supported() {
    let diagnostics = rejected("permit (principal == ?principal, action, resource);");
    assert!(
        diagnostics[0].message.contains("templates"),
        "{}",
        diagnostics[0]
    );
}

#[test]
fn a_rejected_set_leaves_the_old_one_in_force() {
    let current = PolicyEngine::new(None).unwrap();
    let read = request(key(Role::Reader), Action::Query, "acme", Some("analytics"));
    assert!(current.decide(&read).allowed);

    let broken =
        "@id(\"oops\")\npermit (principal, action, resource) when { context.purpose == 1 };";
    let error = PolicyEngine::new(Some(broken)).unwrap_err();
    let PolicyError::Invalid(diagnostics) = &error else {
        panic!("{error}")
    };
    assert_eq!(diagnostics[0].policy_id.as_deref(), Some("oops"));
    assert!(
        error.to_string().starts_with("invalid policies: 2:"),
        "{error}"
    );

    // The caller swaps engines only on success, so the old set still decides.
    let decision = current.decide(&read);
    assert!(
        decision.allowed && decision.policy_ids == ["reader-purposes"],
        "{decision:?}"
    );
    assert_eq!(current.text(), DEFAULT_POLICIES);
}

#[test]
fn an_empty_set_denies_everything_but_the_operator() {
    let engine = PolicyEngine::new(Some("// nothing\n")).unwrap();
    assert!(
        !engine
            .decide(&request(key(Role::Admin), Action::ManageKeys, "acme", None))
            .allowed
    );
    let operator = request(
        steward_policy::PrincipalRef::Operator,
        Action::ManageKeys,
        "acme",
        None,
    );
    assert!(engine.decide(&operator).allowed);
}

#[test]
fn diagnostics_display_as_line_column_policy_message() {
    let d = PolicyDiagnostic {
        policy_id: Some("x".into()),
        line: 3,
        column: 7,
        message: "bad".into(),
    };
    assert_eq!(d.to_string(), "3:7: policy \"x\": bad");
}

/// The examples in README.md validate when added to the default set, and the diagnostic shown
/// there is the one produced.
#[test]
fn readme_examples_are_valid() {
    let readme = include_str!("../README.md");
    let blocks: Vec<&str> = readme
        .split("```cedar\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(!blocks.is_empty());
    for block in blocks {
        let text = format!("{DEFAULT_POLICIES}\n{block}");
        if let Err(d) = PolicyEngine::validate(&text) {
            panic!("README example does not validate: {d:#?}\n{block}");
        }
    }
    let text = "// line 1\n@id(\"departments\")\npermit (principal, action == Steward::Action::\"query\", resource)\n  when { principal.department == \"sales\" };";
    let d = &rejected(text)[0];
    let shown = readme
        .lines()
        .find(|l| l.contains("policy \"departments\""))
        .unwrap()
        .trim();
    assert_eq!(
        shown.split_once(": ").unwrap().1,
        d.to_string().split_once(": ").unwrap().1,
        "{d}"
    );
}
