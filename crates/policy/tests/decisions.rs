//! The default policies as a decision table: roles × actions × purposes × tenants, scoped
//! keys, users, the operator, and the guardrails no tenant policy can lift.

mod common;

use common::{key, request, resource_for, scoped_key, user};
use steward_policy::{
    Action, AuthzRequest, BUILTIN_PURPOSES, Decision, FieldClass, PolicyEngine, PrincipalRef, Role,
};

fn engine() -> PolicyEngine {
    PolicyEngine::new(None).expect("the default policies validate")
}

/// Asserts a decision and the policies that made it.
#[track_caller]
fn check(
    engine: &PolicyEngine,
    request: &AuthzRequest,
    allowed: bool,
    policy_ids: &[&str],
) -> Decision {
    let decision = engine.decide(request);
    assert_eq!(decision.allowed, allowed, "{request:?} → {decision:?}");
    assert_eq!(
        decision.policy_ids, policy_ids,
        "{request:?} → {decision:?}"
    );
    decision
}

/// Purposes each role may read for under the default policies (`None`: any).
fn read_purposes(role: Role) -> Option<&'static [&'static str]> {
    match role {
        Role::Admin => None,
        Role::Reader => Some(&["analytics", "model_training", "personalization", "support"]),
        Role::PrivacyOfficer => Some(&["support", "security", "legal", "analytics"]),
        _ => Some(&[]),
    }
}

/// What the default policies allow, written out independently of them: `Some(policy id)`
/// when allowed.
fn expected(role: Role, action: Action, purpose: Option<&str>) -> Option<&'static str> {
    use Action::*;
    if action == ManageTenants {
        return None;
    }
    let read_ok = |role: Role| {
        purpose.is_some_and(|p| read_purposes(role).is_none_or(|allowed| allowed.contains(&p)))
    };
    match role {
        Role::Admin => (!action.is_read() || purpose.is_some()).then_some("admin"),
        Role::Writer => matches!(
            action,
            Ingest | ReadSchemas | ResolveSubject | ReadItems | ManageItems
        )
        .then_some("writer"),
        Role::Reader => match action {
            ReadSchemas | ResolveSubject | ReadItems => Some("reader"),
            ReadTimeline | ReadPersonal | Query | CutDataset | Export | Train | Serve
                if read_ok(role) =>
            {
                Some("reader-purposes")
            }
            _ => None,
        },
        Role::PrivacyOfficer => match action {
            ReadSchemas | ResolveSubject | ReadItems | ManageConsent | Erase | AccessRequest
            | ReadAudit => Some("privacy-officer"),
            ReadTimeline | ReadPersonal | Query | Export if read_ok(role) => {
                Some("privacy-officer-purposes")
            }
            _ => None,
        },
        _ => None,
    }
}

fn purposes() -> impl Iterator<Item = Option<&'static str>> {
    [None].into_iter().chain(BUILTIN_PURPOSES.map(Some))
}

#[test]
fn roles_actions_purposes_in_own_tenant() {
    let engine = engine();
    let mut allowed = 0;
    for role in Role::ALL {
        for action in Action::ALL {
            for purpose in purposes() {
                let mut r = request(key(role), action, "acme", purpose);
                // Public fields: what every permitted read sees (the class matrix is tested
                // in classes.rs).
                r.field_class = (action == Action::ReadPersonal).then_some(FieldClass::Public);
                let decision = engine.decide(&r);
                match expected(role, action, purpose) {
                    Some(id) => {
                        assert!(
                            decision.allowed,
                            "{role:?} {action} {purpose:?}: {decision:?}"
                        );
                        assert_eq!(decision.policy_ids, [id], "{role:?} {action} {purpose:?}");
                        allowed += 1;
                    }
                    None => assert!(
                        !decision.allowed,
                        "{role:?} {action} {purpose:?}: {decision:?}"
                    ),
                }
                assert!(
                    decision.errors.is_empty() || action == Action::ManageTenants,
                    "{decision:?}"
                );
            }
        }
    }
    assert!(allowed > 150, "{allowed}");
}

#[test]
fn reads_without_a_purpose_are_refused_by_the_platform() {
    let engine = engine();
    for action in [
        Action::ReadTimeline,
        Action::Query,
        Action::CutDataset,
        Action::Export,
        Action::Train,
        Action::Serve,
    ] {
        check(
            &engine,
            &request(key(Role::Admin), action, "acme", None),
            false,
            &["platform.reads-name-a-purpose"],
        );
    }
    // Not a read: no purpose needed.
    check(
        &engine,
        &request(key(Role::Admin), Action::ManageKeys, "acme", None),
        true,
        &["admin"],
    );
}

#[test]
fn other_tenants_are_always_refused() {
    let engine = engine();
    for role in Role::ALL {
        for action in Action::ALL {
            if action == Action::ManageTenants {
                continue;
            }
            for purpose in purposes() {
                let mut r = request(key(role), action, "globex", purpose);
                r.field_class = (action == Action::ReadPersonal).then_some(FieldClass::Public);
                let decision = engine.decide(&r);
                assert!(!decision.allowed, "{role:?} {action} {purpose:?}");
                assert!(
                    decision
                        .policy_ids
                        .contains(&"platform.tenant-wall-key".to_owned()),
                    "{decision:?}"
                );
            }
        }
    }
    let r = request(
        user(&[Role::Admin]),
        Action::Query,
        "globex",
        Some("analytics"),
    );
    check(&engine, &r, false, &["platform.tenant-wall-user"]);
    // A resource inside the other tenant, not just the tenant itself.
    let mut r = request(
        key(Role::Admin),
        Action::ReadTimeline,
        "acme",
        Some("support"),
    );
    r.resource = resource_for(Action::ReadTimeline, "globex");
    check(&engine, &r, false, &["platform.tenant-wall-key"]);
}

#[test]
fn keys_scoped_to_purposes_read_for_those_only() {
    let engine = engine();
    let analytics_only = scoped_key(Role::Reader, &["analytics"]);
    check(
        &engine,
        &request(
            analytics_only.clone(),
            Action::Query,
            "acme",
            Some("analytics"),
        ),
        true,
        &["reader-purposes"],
    );
    for purpose in ["model_training", "personalization", "support"] {
        check(
            &engine,
            &request(analytics_only.clone(), Action::Query, "acme", Some(purpose)),
            false,
            &["platform.purpose-scope"],
        );
    }
    // A scope narrows what the role allows; it never widens it.
    let scoped_admin = scoped_key(Role::Admin, &["support", "legal"]);
    check(
        &engine,
        &request(
            scoped_admin.clone(),
            Action::ReadTimeline,
            "acme",
            Some("legal"),
        ),
        true,
        &["admin"],
    );
    check(
        &engine,
        &request(
            scoped_admin.clone(),
            Action::Export,
            "acme",
            Some("analytics"),
        ),
        false,
        &["platform.purpose-scope"],
    );
    check(
        &engine,
        &request(scoped_admin, Action::ManageKeys, "acme", None),
        true,
        &["admin"],
    );
    let reader_legal = scoped_key(Role::Reader, &["legal"]);
    check(
        &engine,
        &request(reader_legal, Action::Query, "acme", Some("legal")),
        false,
        &[],
    );
}

#[test]
fn users_get_the_union_of_their_roles() {
    let engine = engine();
    let both = user(&[Role::Reader, Role::PrivacyOfficer]);
    check(
        &engine,
        &request(both.clone(), Action::Train, "acme", Some("model_training")),
        true,
        &["reader-purposes"],
    );
    check(
        &engine,
        &request(both.clone(), Action::Export, "acme", Some("legal")),
        true,
        &["privacy-officer-purposes"],
    );
    check(
        &engine,
        &request(both.clone(), Action::Query, "acme", Some("analytics")),
        true,
        &["privacy-officer-purposes", "reader-purposes"],
    );
    check(
        &engine,
        &request(both, Action::Ingest, "acme", None),
        false,
        &[],
    );
    check(
        &engine,
        &request(user(&[]), Action::ReadSchemas, "acme", None),
        false,
        &[],
    );
}

#[test]
fn the_operator_manages_tenants_and_keys_and_never_reads() {
    let engine = engine();
    check(
        &engine,
        &request(PrincipalRef::Operator, Action::ManageTenants, "", None),
        true,
        &["platform.operator"],
    );
    check(
        &engine,
        &request(PrincipalRef::Operator, Action::ManageKeys, "acme", None),
        true,
        &["platform.operator"],
    );
    for action in Action::ALL {
        if matches!(action, Action::ManageTenants | Action::ManageKeys) {
            continue;
        }
        for purpose in purposes() {
            let decision = engine.decide(&request(PrincipalRef::Operator, action, "acme", purpose));
            assert!(!decision.allowed, "{action} {purpose:?}");
        }
    }
    assert!(
        engine
            .visible_classes(&request(
                PrincipalRef::Operator,
                Action::ReadTimeline,
                "acme",
                Some("legal")
            ))
            .is_empty()
    );
    // Tenant keys never manage tenants, admin or not.
    let decision = engine.decide(&request(key(Role::Admin), Action::ManageTenants, "", None));
    assert!(
        !decision.allowed && !decision.errors.is_empty(),
        "{decision:?}"
    );
}

#[test]
fn purposes_must_be_known() {
    let engine = engine();
    let decision = engine.decide(&request(
        key(Role::Admin),
        Action::Query,
        "acme",
        Some("marketing"),
    ));
    assert!(!decision.allowed);
    assert!(
        decision.errors[0].contains("unknown purpose"),
        "{decision:?}"
    );
    assert_eq!(engine.purposes(), BUILTIN_PURPOSES.map(str::to_owned));
    assert!(engine.purpose("support").is_ok());
    assert!(engine.purpose("marketing").is_err());
    assert!(engine.purpose("Not A Purpose").is_err());
}

#[test]
fn read_personal_needs_a_field_class() {
    let engine = engine();
    let decision = engine.decide(&request(
        key(Role::Admin),
        Action::ReadPersonal,
        "acme",
        Some("legal"),
    ));
    assert!(
        !decision.allowed && !decision.errors.is_empty(),
        "{decision:?}"
    );
}

/// Tenant policies can widen permits as far as they like; the platform guardrails still hold.
#[test]
fn a_permit_everything_tenant_cannot_lift_the_guardrails() {
    let engine = PolicyEngine::new(Some(
        r#"@id("anything") permit (principal, action, resource);"#,
    ))
    .unwrap();
    check(
        &engine,
        &request(key(Role::Writer), Action::Export, "acme", Some("analytics")),
        true,
        &["anything"],
    );
    check(
        &engine,
        &request(
            key(Role::Writer),
            Action::Export,
            "globex",
            Some("analytics"),
        ),
        false,
        &["platform.tenant-wall-key"],
    );
    check(
        &engine,
        &request(key(Role::Writer), Action::Export, "acme", None),
        false,
        &["platform.reads-name-a-purpose"],
    );
    let scoped = scoped_key(Role::Writer, &["support"]);
    check(
        &engine,
        &request(scoped, Action::Query, "acme", Some("analytics")),
        false,
        &["platform.purpose-scope"],
    );
    assert!(
        !engine
            .decide(&request(
                PrincipalRef::Operator,
                Action::Query,
                "acme",
                Some("analytics")
            ))
            .allowed
    );
    assert!(
        !engine
            .decide(&request(key(Role::Admin), Action::ManageTenants, "", None))
            .allowed
    );
}

#[test]
fn tenant_policies_cannot_use_platform_ids() {
    let errors = PolicyEngine::validate(
        r#"@id("platform.tenant-wall-key") permit (principal, action, resource);"#,
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("reserved"), "{errors:?}");
}

/// Cedar skips a policy that fails to evaluate; for a forbid that would turn an error into
/// a permission, so the engine counts a failed forbid as a refusal.
#[test]
fn a_forbid_that_fails_refuses() {
    let text = format!(
        "{}\n@id(\"overflow\")\nforbid (principal, action, resource) when {{ context.time * 9223372036854775807 > 0 }};",
        steward_policy::DEFAULT_POLICIES
    );
    let engine = PolicyEngine::new(Some(&text)).unwrap();
    let decision = check(
        &engine,
        &request(key(Role::Admin), Action::ManageKeys, "acme", None),
        false,
        &["overflow"],
    );
    assert!(decision.errors[0].contains("overflow"), "{decision:?}");

    // A failing permit is only skipped.
    let text = format!(
        "{}\n@id(\"overflow\")\npermit (principal, action, resource) when {{ context.time * 9223372036854775807 > 0 }};",
        steward_policy::DEFAULT_POLICIES
    );
    let engine = PolicyEngine::new(Some(&text)).unwrap();
    let decision = check(
        &engine,
        &request(key(Role::Admin), Action::ManageKeys, "acme", None),
        true,
        &["admin"],
    );
    assert_eq!(decision.errors.len(), 1);
}

/// Tenant policies may use the request's address and time.
#[test]
fn address_and_time_conditions() {
    let text = format!(
        "{}\n@id(\"office-only\")\nforbid (principal, action, resource)\nunless {{ context has source_ip && context.source_ip.isInRange(ip(\"10.0.0.0/8\")) }};\n\
         @id(\"not-before\")\nforbid (principal, action, resource) when {{ context.time < 1700000000 }};",
        steward_policy::DEFAULT_POLICIES
    );
    let engine = PolicyEngine::new(Some(&text)).unwrap();
    let base = request(key(Role::Admin), Action::ManageKeys, "acme", None);
    check(&engine, &base, false, &["office-only"]);
    let inside = base.clone().with_source_ip("10.1.2.3".parse().unwrap());
    check(&engine, &inside, true, &["admin"]);
    check(
        &engine,
        &inside.clone().with_time(1_600_000_000),
        false,
        &["not-before"],
    );
    check(
        &engine,
        &base.with_source_ip("192.0.2.1".parse().unwrap()),
        false,
        &["office-only"],
    );
}

/// Cached answers equal fresh ones, for every action, role, purpose and tenant, both with
/// the default policies (cached) and with a policy that reads the resource (not cached).
#[test]
fn the_cache_never_changes_a_decision() {
    let reads_resource = format!(
        "{}\n@id(\"vip\")\nforbid (principal, action, resource is Steward::Subject) when {{ resource == Steward::Subject::\"vip\" }};",
        steward_policy::DEFAULT_POLICIES
    );
    let default = engine();
    let uncached = PolicyEngine::new(Some(&reads_resource)).unwrap();
    assert!(default.caches_decisions());
    assert!(!uncached.caches_decisions());
    let mut principals: Vec<PrincipalRef> = Role::ALL.into_iter().map(key).collect();
    principals.push(scoped_key(Role::Reader, &["analytics"]));
    principals.push(user(&[Role::Reader, Role::PrivacyOfficer]));
    principals.push(PrincipalRef::Operator);
    for engine in [&default, &uncached] {
        for _round in 0..2 {
            for principal in &principals {
                for action in Action::ALL {
                    for purpose in purposes().chain([Some("nope")]) {
                        for tenant in ["acme", "globex"] {
                            for subject in ["p-1", "vip"] {
                                let mut r = request(principal.clone(), action, tenant, purpose);
                                if action == Action::ReadTimeline {
                                    r.resource.id = subject.to_owned();
                                }
                                r.field_class = (action == Action::ReadPersonal)
                                    .then_some(FieldClass::Personal);
                                assert_eq!(engine.decide(&r), engine.decide_uncached(&r), "{r:?}");
                            }
                        }
                    }
                }
            }
        }
    }
    let mut vip = request(
        key(Role::Admin),
        Action::ReadTimeline,
        "acme",
        Some("legal"),
    );
    vip.resource.id = "vip".into();
    assert_eq!(uncached.decide(&vip).policy_ids, ["vip"]);
    assert_eq!(default.decide(&vip).policy_ids, ["admin"]);
}

#[test]
fn access_types_convert() {
    use steward_access::Principal;
    let principal = Principal::Key {
        tenant: "acme".into(),
        key_id: "k1".into(),
        role: Role::Reader,
        purposes: vec!["analytics".into()],
        rate_limit: None,
    };
    let converted = PrincipalRef::from_access(&principal);
    assert_eq!(
        converted,
        PrincipalRef::ApiKey {
            id: "k1".into(),
            tenant: "acme".into(),
            role: Role::Reader,
            purposes: vec!["analytics".into()]
        }
    );
    assert_eq!(
        PrincipalRef::from_access(&Principal::Operator),
        PrincipalRef::Operator
    );
    for action in Action::ALL {
        assert_eq!(Action::parse(action.as_str()), Some(action));
    }
}
