//! Per-request policy slices: only the policies whose scope can match the request's action
//! and principal are handed to Cedar.
//!
//! Cedar evaluates every policy of the set it is given, and most of a decision's time goes
//! to policies whose scope rules them out at once (a writer's request still walks the
//! admin's and the privacy officer's policies). A slice drops exactly the policies whose
//! scope is false for every request with this action, principal type and role set, so the
//! decision, the policies named and the errors are the same as with the whole set:
//! - the schema declares no action groups, so `action in [..]` holds exactly for the listed
//!   actions;
//! - a principal's ancestors are exactly its roles (the request's store has no other
//!   entities, and roles have no parents), so `principal in Role::"x"` holds exactly when x
//!   is one of its roles;
//! - scope constraints never error, and Cedar evaluates a policy's scope before its
//!   conditions, so a dropped policy would have been "not satisfied" without error.
//!
//! The policies kept are also specialized: a scope constraint that holds for every request
//! of the slot (`action in [...]` listing the action, `principal in Role::"x"` for a holder
//! of x, `principal is ApiKey` for a key) becomes unconstrained. Cedar rebuilds and evaluates
//! each policy's scope as an expression on every request, and an `action in [..]` list costs
//! a set of entity uids each time; an unconstrained scope costs nothing.
//!
//! Slices are built on first use and kept for the engine's life.

use std::sync::OnceLock;

use cedar_policy::{
    ActionConstraint, EntityTypeName, EntityUid, Policy, PolicySet, PrincipalConstraint,
};

use crate::Role;
use crate::entities::Names;
use crate::request::{Action, PrincipalRef};

/// Role sets are bit masks over `Role::ALL`.
const ROLE_SETS: usize = 1 << Role::ALL.len();
/// ApiKey, User, Operator.
const PRINCIPAL_KINDS: usize = 3;

pub(crate) struct Slices {
    slots: Vec<OnceLock<PolicySet>>,
}

impl std::fmt::Debug for Slices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = self.slots.iter().filter(|s| s.get().is_some()).count();
        write!(f, "Slices({built} of {} built)", self.slots.len())
    }
}

impl Slices {
    pub(crate) fn new() -> Slices {
        Slices {
            slots: (0..Action::ALL.len() * PRINCIPAL_KINDS * ROLE_SETS)
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// The slice of `all` for this action and principal; `all` itself when the principal's
    /// roles cannot be put in a mask (a role this crate does not know).
    pub(crate) fn get<'a>(
        &'a self,
        all: &'a PolicySet,
        names: &Names,
        action: Action,
        principal: &PrincipalRef,
    ) -> &'a PolicySet {
        let Some((kind, mask)) = key(principal) else {
            return all;
        };
        let slot = (action.index() * PRINCIPAL_KINDS + kind) * ROLE_SETS + mask;
        let Some(cell) = self.slots.get(slot) else {
            return all;
        };
        cell.get_or_init(|| {
            let action_uid = names.action(action);
            let principal_type = names.principal_type(principal);
            let roles: Vec<EntityUid> = Role::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, r)| names.role_uid(r.as_str()))
                .collect();
            let mut slice = PolicySet::new();
            for policy in all.policies() {
                let scope = scope(
                    policy,
                    action_uid,
                    principal_type,
                    names.role_type(),
                    &roles,
                );
                if scope == Scope::Never {
                    continue;
                }
                let policy = specialize(policy, scope == Scope::AlwaysPrincipal);
                // Ids are unique in `all`, so adding cannot fail; if it somehow did, the
                // whole set is the safe answer.
                if slice.add(policy).is_err() {
                    return all.clone();
                }
            }
            slice
        })
    }
}

/// Principal kind and role mask, or `None` for a role outside `Role::ALL`.
fn key(principal: &PrincipalRef) -> Option<(usize, usize)> {
    match principal {
        PrincipalRef::ApiKey { role, .. } => Some((0, mask(std::slice::from_ref(role))?)),
        PrincipalRef::User { roles, .. } => Some((1, mask(roles)?)),
        PrincipalRef::Operator => Some((2, 0)),
    }
}

fn mask(roles: &[Role]) -> Option<usize> {
    roles.iter().try_fold(0usize, |m, role| {
        Role::ALL.iter().position(|r| r == role).map(|i| m | 1 << i)
    })
}

/// What a policy's principal and action scope does for every request of a slot. The
/// action constraint, when not `Never`, always holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Never satisfied: the policy is left out.
    Never,
    /// Action holds; the principal constraint is left to Cedar.
    Maybe,
    /// Action and principal constraints both hold.
    AlwaysPrincipal,
}

fn scope(
    policy: &Policy,
    action: &EntityUid,
    principal_type: &EntityTypeName,
    role_type: &EntityTypeName,
    roles: &[EntityUid],
) -> Scope {
    let action_ok = match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(a) => &a == action,
        ActionConstraint::In(list) => list.contains(action),
    };
    if !action_ok {
        return Scope::Never;
    }
    // Roles are the only ancestors ruled in or out here; anything else (a tenant, the
    // principal itself) is left to Cedar.
    let role_in = |target: &EntityUid| {
        if target.type_name() != role_type {
            Scope::Maybe
        } else if roles.contains(target) {
            Scope::AlwaysPrincipal
        } else {
            Scope::Never
        }
    };
    match policy.principal_constraint() {
        PrincipalConstraint::Any => Scope::AlwaysPrincipal,
        PrincipalConstraint::Is(t) if &t == principal_type => Scope::AlwaysPrincipal,
        PrincipalConstraint::IsIn(t, target) if &t == principal_type => role_in(&target),
        PrincipalConstraint::In(target) => role_in(&target),
        PrincipalConstraint::Eq(target) if target.type_name() == principal_type => Scope::Maybe,
        PrincipalConstraint::Is(_) | PrincipalConstraint::IsIn(..) | PrincipalConstraint::Eq(_) => {
            Scope::Never
        }
    }
}

/// The policy with its action constraint (and, when `principal_holds`, its principal
/// constraint) removed, through Cedar's JSON form; the policy unchanged if that fails.
fn specialize(policy: &Policy, principal_holds: bool) -> Policy {
    let Ok(mut json) = policy.to_json() else {
        return policy.clone();
    };
    let all = serde_json::json!({ "op": "All" });
    json["action"] = all.clone();
    if principal_holds {
        json["principal"] = all;
    }
    Policy::from_json(Some(policy.id().clone()), json).unwrap_or_else(|_| policy.clone())
}
