//! The single authorization decision every request goes through.

use crate::Role;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The deployment's operator: manages tenants, sees no tenant data.
    Operator,
    /// A tenant's API key.
    Key { tenant: String, key_id: String, role: Role },
}

/// What a request wants to do; one per route family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    ManageTenants,
    ManageKeys,
    ManageSchemas,
    ReadSchemas,
    Ingest,
    ResolveSubject,
    ReadTimeline,
    /// Seeing sealed (personal, free text, sensitive) fields in the clear.
    ReadPersonal,
    /// Reading the tenant's audit log: heads and proofs.
    ReadAudit,
}

/// Why a request was refused. `OtherTenant` maps to 404 so a key cannot probe which tenants exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    #[error("the key belongs to another tenant")]
    OtherTenant,
    #[error("role {role} may not {action:?}")]
    Role { role: &'static str, action: Action },
    #[error("the operator key manages tenants and keys only")]
    OperatorOnly,
    #[error("only the operator key may {0:?}")]
    NotOperator(Action),
}

/// Decides whether `principal` may perform `action` on `tenant` (None for deployment-wide actions).
pub fn authorize(principal: &Principal, action: Action, tenant: Option<&str>) -> Result<(), Denied> {
    match principal {
        // The operator may also manage a tenant's keys: the way back in when a tenant has
        // lost every admin key. It never reads tenant data.
        Principal::Operator => match action {
            Action::ManageTenants | Action::ManageKeys => Ok(()),
            _ => Err(Denied::OperatorOnly),
        },
        Principal::Key { tenant: own, role, .. } => {
            if action == Action::ManageTenants {
                return Err(Denied::NotOperator(action));
            }
            if tenant != Some(own.as_str()) {
                return Err(Denied::OtherTenant);
            }
            if role_allows(*role, action) {
                Ok(())
            } else {
                Err(Denied::Role { role: role.as_str(), action })
            }
        }
    }
}

fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => true,
        Role::Writer => matches!(action, Ingest | ReadSchemas | ResolveSubject),
        Role::Reader => matches!(action, ReadSchemas | ResolveSubject | ReadTimeline),
        Role::PrivacyOfficer => matches!(action, ReadSchemas | ResolveSubject | ReadTimeline | ReadPersonal | ReadAudit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role) -> Principal {
        Principal::Key { tenant: "a".into(), key_id: "k".into(), role }
    }

    /// The whole decision table, so a change to it is a visible diff.
    #[test]
    fn decision_table() {
        use Action::*;
        let actions = [ManageTenants, ManageKeys, ManageSchemas, ReadSchemas, Ingest, ResolveSubject, ReadTimeline, ReadPersonal, ReadAudit];
        let table: [(Principal, [bool; 9]); 5] = [
            (Principal::Operator, [true, true, false, false, false, false, false, false, false]),
            (key(Role::Admin), [false, true, true, true, true, true, true, true, true]),
            (key(Role::Writer), [false, false, false, true, true, true, false, false, false]),
            (key(Role::Reader), [false, false, false, true, false, true, true, false, false]),
            (key(Role::PrivacyOfficer), [false, false, false, true, false, true, true, true, true]),
        ];
        for (principal, expected) in table {
            for (action, allowed) in actions.iter().zip(expected) {
                let tenant = if *action == ManageTenants { None } else { Some("a") };
                assert_eq!(authorize(&principal, *action, tenant).is_ok(), allowed, "{principal:?} {action:?}");
            }
        }
    }

    #[test]
    fn a_key_never_reaches_another_tenant() {
        for role in Role::ALL {
            assert_eq!(authorize(&key(role), Action::ReadSchemas, Some("b")), Err(Denied::OtherTenant));
        }
    }
}
