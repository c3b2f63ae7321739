//! Which field classes each purpose sees in the clear, under the default policies; tenant
//! purposes; and the cache behind `visible_classes` never answering differently from Cedar.

mod common;

use common::{key, request, scoped_key, user};
use steward_policy::{
    Action, AuthzRequest, BUILTIN_PURPOSES, FieldClass, FieldClasses, PolicyEngine, PrincipalRef,
    ResourceKind, ResourceRef, Role,
};

use FieldClass::{FreeText, Identifier, Personal, Public, Sensitive};

fn classes(list: &[FieldClass]) -> FieldClasses {
    list.iter().copied().collect()
}

/// A read of one subject's timeline (`subject_in_request`), or a bulk query.
fn read(principal: PrincipalRef, purpose: &str, one_subject: bool) -> AuthzRequest {
    let action = if one_subject {
        Action::ReadTimeline
    } else {
        Action::Query
    };
    request(principal, action, "acme", Some(purpose))
}

/// The matrix of README.md, role by role.
#[test]
fn purpose_class_matrix() {
    let engine = PolicyEngine::new(None).unwrap();
    #[rustfmt::skip]
    let table: &[(Role, &str, bool, &[FieldClass])] = &[
        // analytics: pseudonyms and public fields only.
        (Role::Reader, "analytics", false, &[Identifier, Public]),
        (Role::Reader, "analytics", true, &[Identifier, Public]),
        (Role::Admin, "analytics", true, &[Identifier, Public]),
        (Role::PrivacyOfficer, "analytics", false, &[Identifier, Public]),
        // model_training and personalization: public fields only.
        (Role::Reader, "model_training", false, &[Public]),
        (Role::Admin, "model_training", true, &[Public]),
        (Role::Reader, "personalization", true, &[Public]),
        (Role::Admin, "personalization", false, &[Public]),
        // support: personal fields for the one subject being served, not in bulk.
        (Role::Reader, "support", true, &[Identifier, Personal, FreeText, Public]),
        (Role::Reader, "support", false, &[Identifier, Public]),
        (Role::PrivacyOfficer, "support", true, &[Identifier, Personal, FreeText, Public]),
        (Role::Admin, "support", true, &[Identifier, Personal, FreeText, Public]),
        // security and legal: personal for privacy officers and admins; sensitive for legal.
        (Role::PrivacyOfficer, "security", false, &[Identifier, Personal, FreeText, Public]),
        (Role::Admin, "security", true, &[Identifier, Personal, FreeText, Public]),
        (Role::PrivacyOfficer, "legal", true, &[Identifier, Personal, FreeText, Sensitive, Public]),
        (Role::Admin, "legal", false, &[Identifier, Personal, FreeText, Sensitive, Public]),
        // Purposes a role may not use at all: nothing.
        (Role::Reader, "security", true, &[]),
        (Role::Reader, "legal", true, &[]),
        (Role::PrivacyOfficer, "personalization", true, &[]),
        (Role::PrivacyOfficer, "model_training", true, &[]),
        (Role::Writer, "support", true, &[]),
        (Role::Writer, "analytics", false, &[]),
    ];
    for (role, purpose, one_subject, expected) in table {
        let r = read(key(*role), purpose, *one_subject);
        assert_eq!(
            engine.visible_classes(&r),
            classes(expected),
            "{role:?} {purpose} one_subject={one_subject}"
        );
        // Every (role, purpose) that sees anything may also do the read itself.
        assert_eq!(
            engine.decide(&r).allowed,
            !expected.is_empty(),
            "{role:?} {purpose} {one_subject}"
        );
    }
}

#[test]
fn class_decisions_name_their_policies() {
    let engine = PolicyEngine::new(None).unwrap();
    let explained = engine.explain_classes(&read(key(Role::Reader), "analytics", true));
    let by_class = |class| {
        explained
            .iter()
            .find(|(c, _)| *c == class)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(by_class(Public).policy_ids, ["reader-purposes"]);
    assert_eq!(by_class(Personal).policy_ids, ["personal-by-purpose"]);
    assert_eq!(by_class(Sensitive).policy_ids, ["sensitive-by-purpose"]);
    assert!(!by_class(Personal).allowed);
}

#[test]
fn scoped_keys_see_nothing_outside_their_scope() {
    let engine = PolicyEngine::new(None).unwrap();
    let support_only = scoped_key(Role::PrivacyOfficer, &["support"]);
    assert_eq!(
        engine.visible_classes(&read(support_only.clone(), "support", true)),
        classes(&[Identifier, Personal, FreeText, Public])
    );
    assert!(
        engine
            .visible_classes(&read(support_only, "legal", true))
            .is_empty()
    );
}

#[test]
fn other_tenants_and_unknown_purposes_see_nothing() {
    let engine = PolicyEngine::new(None).unwrap();
    let mut r = read(key(Role::Admin), "legal", true);
    r.resource = ResourceRef::subject("globex", "p-1");
    assert!(engine.visible_classes(&r).is_empty());
    assert!(
        engine
            .visible_classes(&read(key(Role::Admin), "marketing", true))
            .is_empty()
    );
    let mut r = read(key(Role::Admin), "legal", true);
    r.purpose = None;
    assert!(engine.visible_classes(&r).is_empty());
}

/// A tenant adds a purpose by naming it in a policy; until a class rule names it too, it
/// sees public fields only.
#[test]
fn tenant_defined_purposes() {
    let text = format!(
        "{}\n@id(\"fraud-review\")\npermit (principal in Steward::Role::\"reader\",\n  \
         action in [Steward::Action::\"query\", Steward::Action::\"read_personal\"], resource)\n\
         when {{ context.purpose == \"fraud_review\" }};",
        steward_policy::DEFAULT_POLICIES
    );
    let engine = PolicyEngine::new(Some(&text)).unwrap();
    assert_eq!(engine.policies().tenant_purposes(), ["fraud_review"]);
    assert!(engine.purposes().contains(&"fraud_review".to_owned()));
    assert_eq!(
        engine.purpose("fraud_review").unwrap().as_str(),
        "fraud_review"
    );
    let r = read(key(Role::Reader), "fraud_review", false);
    let decision = engine.decide(&r);
    assert!(
        decision.allowed && decision.policy_ids == ["fraud-review"],
        "{decision:?}"
    );
    assert_eq!(engine.visible_classes(&r), classes(&[Public]));
    // The default engine does not know it.
    assert!(
        PolicyEngine::new(None)
            .unwrap()
            .purpose("fraud_review")
            .is_err()
    );
}

/// Every combination, answered with and without the cache, agrees; both for the default
/// policies (cached) and for policies that read the resource (not cached).
#[test]
fn the_cache_never_changes_an_answer() {
    let reads_resource = format!(
        "{}\n@id(\"vip\")\nforbid (principal, action, resource is Steward::Subject) when {{ resource == Steward::Subject::\"vip\" }};",
        steward_policy::DEFAULT_POLICIES
    );
    let default = PolicyEngine::new(None).unwrap();
    let uncached = PolicyEngine::new(Some(&reads_resource)).unwrap();
    assert!(default.caches_decisions());
    assert!(!uncached.caches_decisions());
    let mut principals: Vec<PrincipalRef> = Role::ALL.into_iter().map(key).collect();
    principals.extend(
        Role::ALL
            .into_iter()
            .map(|r| scoped_key(r, &["support", "analytics"])),
    );
    principals.push(user(&[Role::Reader, Role::PrivacyOfficer]));
    principals.push(PrincipalRef::Operator);
    for engine in [&default, &uncached] {
        for _round in 0..2 {
            for principal in &principals {
                for purpose in BUILTIN_PURPOSES
                    .iter()
                    .map(|p| Some(*p))
                    .chain([None, Some("nope")])
                {
                    for (kind, tenant, id) in [
                        (ResourceKind::Subject, "acme", "p-1"),
                        (ResourceKind::Subject, "acme", "vip"),
                        (ResourceKind::Subject, "globex", "p-1"),
                        (ResourceKind::Tenant, "acme", "acme"),
                        (ResourceKind::Dataset, "acme", "d"),
                    ] {
                        for one_subject in [true, false] {
                            let mut r = AuthzRequest::new(
                                principal.clone(),
                                Action::ReadPersonal,
                                ResourceRef::new(kind, tenant, id),
                            )
                            .with_subject_in_request(one_subject);
                            r.purpose = purpose.map(str::to_owned);
                            let fresh: FieldClasses = engine
                                .explain_classes(&r)
                                .into_iter()
                                .filter(|(_, d)| d.allowed)
                                .map(|(c, _)| c)
                                .collect();
                            assert_eq!(engine.visible_classes(&r), fresh, "{r:?}");
                        }
                    }
                }
            }
        }
    }
    // And the uncached engine does tell the VIP apart.
    let vip = AuthzRequest::new(
        key(Role::Admin),
        Action::ReadPersonal,
        ResourceRef::subject("acme", "vip"),
    )
    .with_purpose("legal");
    assert!(uncached.visible_classes(&vip).is_empty());
    assert!(!default.visible_classes(&vip).is_empty());
}
