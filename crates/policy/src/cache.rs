//! Caching decisions: reused across requests that the policies cannot tell apart.
//!
//! Most requests differ only in what no policy looks at (which key, which subject, when), so
//! the answer for one is the answer for all. The cache is used only when the tenant's
//! policies provably look at nothing but the cache key: principal kind, roles and purposes;
//! action; resource kind and whether it is in the principal's tenant; the purpose, the field
//! class and `subject_in_request`. The platform guardrails read exactly those (the tenant
//! wall reads the principal's and the resource's tenants, which the key reduces to "same
//! tenant"). A tenant policy reading anything else (an id, a tenant, the time, the address)
//! turns the cache off for that engine, and every call then asks Cedar. Decisions are cached
//! whole, with the policies that made them, so a cached answer is the same value Cedar gave.

use std::collections::HashMap;
use std::sync::RwLock;

use cedar_policy::PolicySet;
use serde_json::Value;

use crate::Decision;
use crate::Role;
use crate::request::{Action, AuthzRequest, FieldClass, FieldClasses, PrincipalRef, ResourceKind};
use crate::schema::{NAMESPACE, PLATFORM_ID_PREFIX};

/// Entries kept before the cache is emptied; each is a few dozen bytes, and the number of
/// distinct keys a tenant produces is small (roles × purposes × key scopes).
const MAX_ENTRIES: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    /// `None` for `visible_classes` (all five classes at once).
    action: Option<Action>,
    field_class: Option<FieldClass>,
    principal_kind: u8,
    roles: Vec<Role>,
    purposes: Vec<String>,
    resource: ResourceKind,
    same_tenant: bool,
    purpose: Option<String>,
    subject_in_request: bool,
}

#[derive(Debug)]
struct Maps {
    decisions: RwLock<HashMap<Key, Decision>>,
    classes: RwLock<HashMap<Key, FieldClasses>>,
}

#[derive(Debug, Default)]
pub(crate) struct DecisionCache {
    /// `None`: the policies read something outside the key; never cache.
    maps: Option<Maps>,
}

impl DecisionCache {
    pub(crate) fn new(policies: &PolicySet) -> DecisionCache {
        let cacheable = policies.policies().all(|p| {
            AsRef::<str>::as_ref(p.id()).starts_with(PLATFORM_ID_PREFIX)
                || p.to_json().is_ok_and(|json| policy_reads_only_key(&json))
        });
        let maps = Maps {
            decisions: RwLock::new(HashMap::new()),
            classes: RwLock::new(HashMap::new()),
        };
        DecisionCache {
            maps: cacheable.then_some(maps),
        }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.maps.is_some()
    }

    /// The cached decision for `request`, or `compute()`'s (stored when the cache is on).
    pub(crate) fn decision(
        &self,
        request: &AuthzRequest,
        compute: impl FnOnce() -> Decision,
    ) -> Decision {
        let (Some(maps), Some(key)) = (&self.maps, key(request, Some(request.action))) else {
            return compute();
        };
        get_or(&maps.decisions, key, compute)
    }

    /// The cached visible classes for `request`, or `compute()`'s.
    pub(crate) fn classes(
        &self,
        request: &AuthzRequest,
        compute: impl FnOnce() -> FieldClasses,
    ) -> FieldClasses {
        let (Some(maps), Some(key)) = (&self.maps, key(request, None)) else {
            return compute();
        };
        get_or(&maps.classes, key, compute)
    }
}

fn get_or<V: Clone>(map: &RwLock<HashMap<Key, V>>, key: Key, compute: impl FnOnce() -> V) -> V {
    if let Some(found) = map.read().ok().and_then(|m| m.get(&key).cloned()) {
        return found;
    }
    let value = compute();
    if let Ok(mut m) = map.write() {
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(key, value.clone());
    }
    value
}

fn key(request: &AuthzRequest, action: Option<Action>) -> Option<Key> {
    let (principal_kind, roles, purposes, tenant) = match &request.principal {
        PrincipalRef::ApiKey {
            role,
            purposes,
            tenant,
            ..
        } => (0, vec![*role], purposes.clone(), tenant),
        PrincipalRef::User {
            roles,
            purposes,
            tenant,
            ..
        } => (1, roles.clone(), purposes.clone(), tenant),
        // The operator never reads; not worth a key.
        PrincipalRef::Operator => return None,
    };
    Some(Key {
        action,
        field_class: action.and(request.field_class),
        principal_kind,
        roles,
        purposes,
        resource: request.resource.kind,
        same_tenant: request.resource.tenant == *tenant,
        purpose: request.purpose.clone(),
        subject_in_request: request.subject_in_request,
    })
}

/// Whether a tenant policy (Cedar JSON) reads only what the key holds.
fn policy_reads_only_key(policy: &Value) -> bool {
    let scope_ok = |scope: Option<&Value>, allow_role_in: bool| {
        let Some(scope) = scope else { return false };
        match scope.get("op").and_then(Value::as_str) {
            Some("All") => true,
            // `is T` reads only the kind, which is in the key.
            Some("is") => scope
                .get("in")
                .is_none_or(|i| allow_role_in && i.get("entity").is_some_and(is_role)),
            Some("in") => allow_role_in && scope.get("entity").is_some_and(is_role),
            _ => false,
        }
    };
    scope_ok(policy.get("principal"), true)
        && scope_ok(policy.get("resource"), false)
        && policy
            .get("conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .all(|c| c.get("body").is_some_and(expr_reads_only_key))
            })
}

/// `{"type": "Steward::Role", "id": ..}` (scope form) or `{"__entity": {..}}` (value form).
fn is_role(entity: &Value) -> bool {
    let entity = entity.get("__entity").unwrap_or(entity);
    entity.get("type").and_then(Value::as_str) == Some(&format!("{NAMESPACE}::Role"))
}

fn var(node: &Value) -> Option<&str> {
    node.get("Var").and_then(Value::as_str)
}

fn expr_reads_only_key(node: &Value) -> bool {
    match node {
        Value::Object(map) => {
            // `context.x`, `principal.purposes` (and the same with `has`).
            for op in [".", "has"] {
                if let Some(access) = map.get(op)
                    && let Some(v) = access.get("left").and_then(var)
                {
                    let attr = access.get("attr").and_then(Value::as_str).unwrap_or("");
                    return matches!(
                        (v, attr),
                        ("context", "purpose" | "field_class" | "subject_in_request")
                            | ("principal", "purposes")
                    );
                }
            }
            // `principal in Role::"x"` or `principal in [Role::"x", ..]`.
            if let Some(op) = map.get("in")
                && op.get("left").and_then(var) == Some("principal")
            {
                let right = op.get("right");
                let one = right.and_then(|r| r.get("Value")).is_some_and(is_role);
                let set = right
                    .and_then(|r| r.get("Set"))
                    .and_then(Value::as_array)
                    .is_some_and(|items| items.iter().all(|i| i.get("Value").is_some_and(is_role)));
                return one || set;
            }
            // `principal is T` / `resource is T` (without `in`): the kinds are in the key.
            if let Some(op) = map.get("is")
                && matches!(op.get("left").and_then(var), Some("principal" | "resource"))
            {
                return op.get("in").is_none();
            }
            if let Some(v) = var(node) {
                return v == "action";
            }
            map.values().all(expr_reads_only_key)
        }
        Value::Array(items) => items.iter().all(expr_reads_only_key),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::schema::DEFAULT_POLICIES;

    fn cacheable(text: &str) -> bool {
        DecisionCache::new(&PolicySet::from_str(text).unwrap()).is_enabled()
    }

    #[test]
    fn default_policies_are_cacheable() {
        assert!(cacheable(DEFAULT_POLICIES));
    }

    #[test]
    fn reading_anything_else_turns_the_cache_off() {
        for text in [
            r#"permit(principal == Steward::ApiKey::"k", action, resource);"#,
            r#"permit(principal, action, resource == Steward::Subject::"s");"#,
            r#"permit(principal, action, resource) when { context.time > 5 };"#,
            r#"permit(principal, action, resource) when { context has source_ip };"#,
            r#"permit(principal, action, resource) when { principal.tenant == Steward::Tenant::"a" };"#,
            r#"permit(principal, action, resource) when { resource.tenant == principal.tenant };"#,
            r#"permit(principal, action, resource) when { principal in Steward::Tenant::"a" };"#,
            r#"permit(principal, action, resource) when { principal has tenant };"#,
            r#"permit(principal, action, resource) when { principal == principal };"#,
        ] {
            assert!(!cacheable(text), "{text}");
        }
        assert!(cacheable(
            r#"permit(principal is Steward::User in Steward::Role::"reader", action, resource is Steward::Subject)
               when { principal in [Steward::Role::"admin"] && principal.purposes.contains(context.purpose) };"#
        ));
    }
}
