//! Helpers shared by the policy tests (included with `mod common;`).
#![allow(dead_code)]

use steward_policy::{Action, AuthzRequest, PrincipalRef, ResourceKind, ResourceRef, Role};

pub fn key(role: Role) -> PrincipalRef {
    scoped_key(role, &[])
}

pub fn scoped_key(role: Role, purposes: &[&str]) -> PrincipalRef {
    PrincipalRef::ApiKey {
        id: format!("key-{}", role.as_str()),
        tenant: "acme".into(),
        role,
        purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
    }
}

pub fn user(roles: &[Role]) -> PrincipalRef {
    PrincipalRef::User {
        sub: "alice".into(),
        tenant: "acme".into(),
        roles: roles.to_vec(),
        purposes: vec![],
    }
}

/// A resource the schema lets `action` apply to, in `tenant`.
pub fn resource_for(action: Action, tenant: &str) -> ResourceRef {
    match action {
        Action::ManageTenants => ResourceRef::deployment(),
        Action::ReadTimeline => ResourceRef::subject(tenant, "p-1"),
        Action::Train | Action::Serve | Action::Deploy => {
            ResourceRef::new(ResourceKind::Model, tenant, "recs")
        }
        _ => ResourceRef::tenant(tenant),
    }
}

pub fn request(
    principal: PrincipalRef,
    action: Action,
    tenant: &str,
    purpose: Option<&str>,
) -> AuthzRequest {
    let mut r =
        AuthzRequest::new(principal, action, resource_for(action, tenant)).with_time(1_800_000_000);
    r.purpose = purpose.map(str::to_owned);
    r
}
