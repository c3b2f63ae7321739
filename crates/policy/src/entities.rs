//! Turning a request into Cedar's principal, resource, context and entity store.
//!
//! Speed matters here (the decision budget is 20 µs at p99): every type name and action uid
//! is built once per process, and a request's entity store holds just two entities, the
//! principal and the resource. Roles need no entries of their own (`in` reads the ancestors
//! recorded on the principal), tenants are attributes rather than ancestors (each ancestor
//! edge costs Cedar's transitive closure about a microsecond per request), and the schema
//! declares no action groups, so action entities are not needed either. Which principal and
//! resource types an action applies to is read from the schema once and checked here, in
//! place of Cedar's per-request validation.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression,
};

use crate::request::{Action, AuthzRequest, PrincipalRef, ResourceKind, ResourceRef};
use crate::schema::{NAMESPACE, schema};

/// Names built once: parsing an `EntityTypeName` costs more than a whole decision's worth
/// of hashing. Also the schema's `appliesTo`, as tables.
#[derive(Debug)]
pub(crate) struct Names {
    actions: Vec<EntityUid>,
    /// Per action: which principal types ([`principal_index`]) it applies to.
    action_principals: Vec<[bool; 3]>,
    /// Per action: which resource kinds ([`ResourceKind::index`]) it applies to.
    action_resources: Vec<[bool; ResourceKind::ALL.len()]>,
    resources: Vec<EntityTypeName>,
    api_key: EntityTypeName,
    user: EntityTypeName,
    operator: EntityTypeName,
    role: EntityTypeName,
    tenant: EntityTypeName,
}

fn type_name(name: &str) -> Result<EntityTypeName, String> {
    EntityTypeName::from_str(&format!("{NAMESPACE}::{name}")).map_err(|e| e.to_string())
}

impl Names {
    /// The shared instance; `Err` only if this crate's own names fail to parse (a bug).
    pub(crate) fn get() -> Result<&'static Names, String> {
        static NAMES: OnceLock<Result<Names, String>> = OnceLock::new();
        NAMES
            .get_or_init(Names::build)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build() -> Result<Names, String> {
        let action_type = type_name("Action")?;
        let actions = Action::ALL
            .iter()
            .map(|a| {
                EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.as_str()))
            })
            .collect();
        let resources: Vec<EntityTypeName> = ResourceKind::ALL
            .iter()
            .map(|k| type_name(k.as_str()))
            .collect::<Result<_, _>>()?;
        let principals = [
            type_name("ApiKey")?,
            type_name("User")?,
            type_name("Operator")?,
        ];
        let schema = schema().map_err(|e| e.to_string())?;
        let mut action_principals = Vec::new();
        let mut action_resources = Vec::new();
        for uid in &actions {
            let mut p = [false; 3];
            for t in schema
                .principals_for_action(uid)
                .ok_or_else(|| format!("{uid} is not in the schema"))?
            {
                if let Some(i) = principals.iter().position(|n| n == t) {
                    p[i] = true;
                }
            }
            let mut r = [false; ResourceKind::ALL.len()];
            for t in schema
                .resources_for_action(uid)
                .ok_or_else(|| format!("{uid} is not in the schema"))?
            {
                if let Some(i) = resources.iter().position(|n| n == t) {
                    r[i] = true;
                }
            }
            action_principals.push(p);
            action_resources.push(r);
        }
        let [api_key, user, operator] = principals;
        Ok(Names {
            actions,
            action_principals,
            action_resources,
            resources,
            api_key,
            user,
            operator,
            role: type_name("Role")?,
            tenant: type_name("Tenant")?,
        })
    }

    /// Whether the schema lets `action` apply to this principal and resource; `Err` says
    /// why not.
    pub(crate) fn check_applies(
        &self,
        action: Action,
        request: &AuthzRequest,
    ) -> Result<(), String> {
        let i = action.index();
        if !self.action_principals[i][principal_index(&request.principal)] {
            return Err(format!(
                "{} cannot be the principal of {action}",
                principal_kind(&request.principal)
            ));
        }
        if !self.action_resources[i][request.resource.kind.index()] {
            return Err(format!(
                "{} cannot be the resource of {action}",
                request.resource.kind.as_str()
            ));
        }
        Ok(())
    }

    pub(crate) fn action(&self, action: Action) -> &EntityUid {
        &self.actions[action.index()]
    }

    pub(crate) fn principal_type(&self, principal: &PrincipalRef) -> &EntityTypeName {
        [&self.api_key, &self.user, &self.operator][principal_index(principal)]
    }

    pub(crate) fn role_type(&self) -> &EntityTypeName {
        &self.role
    }

    pub(crate) fn role_uid(&self, role: &str) -> EntityUid {
        Names::uid(&self.role, role)
    }

    fn uid(name: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(name.clone(), EntityId::new(id))
    }

    fn tenant_uid(&self, tenant: &str) -> EntityUid {
        Names::uid(&self.tenant, tenant)
    }

    /// The principal's uid and, for tenant principals, its entity (attributes and parents).
    fn principal(&self, principal: &PrincipalRef) -> Result<(EntityUid, Option<Entity>), String> {
        let (type_name, id, tenant, roles, purposes): (_, &str, _, Vec<_>, _) = match principal {
            PrincipalRef::Operator => return Ok((Names::uid(&self.operator, "operator"), None)),
            PrincipalRef::ApiKey {
                id,
                tenant,
                role,
                purposes,
            } => (&self.api_key, id, tenant, vec![role.as_str()], purposes),
            PrincipalRef::User {
                sub,
                tenant,
                roles,
                purposes,
            } => (
                &self.user,
                sub,
                tenant,
                roles.iter().map(|r| r.as_str()).collect(),
                purposes,
            ),
        };
        let uid = Names::uid(type_name, id);
        let tenant_uid = self.tenant_uid(tenant);
        let parents: HashSet<EntityUid> = roles
            .into_iter()
            .map(|r| Names::uid(&self.role, r))
            .collect();
        let attrs = HashMap::from([
            (
                "tenant".to_owned(),
                RestrictedExpression::new_entity_uid(tenant_uid),
            ),
            (
                "purposes".to_owned(),
                RestrictedExpression::new_set(
                    purposes
                        .iter()
                        .map(|p| RestrictedExpression::new_string(p.clone())),
                ),
            ),
        ]);
        let entity = Entity::new(uid.clone(), attrs, parents).map_err(|e| e.to_string())?;
        Ok((uid, Some(entity)))
    }

    /// The resource's uid and, for resources inside a tenant, its entity. A tenant resource is
    /// compared by uid with the principal's tenant, so it needs no entity.
    fn resource(&self, resource: &ResourceRef) -> Result<(EntityUid, Option<Entity>), String> {
        let type_name = &self.resources[resource.kind.index()];
        match resource.kind {
            ResourceKind::Deployment => Ok((Names::uid(type_name, "deployment"), None)),
            ResourceKind::Tenant => Ok((Names::uid(type_name, &resource.tenant), None)),
            _ => {
                let uid = Names::uid(type_name, &resource.id);
                let tenant_uid = self.tenant_uid(&resource.tenant);
                let attrs = HashMap::from([(
                    "tenant".to_owned(),
                    RestrictedExpression::new_entity_uid(tenant_uid),
                )]);
                let entity =
                    Entity::new(uid.clone(), attrs, HashSet::new()).map_err(|e| e.to_string())?;
                Ok((uid, Some(entity)))
            }
        }
    }
}

fn principal_index(principal: &PrincipalRef) -> usize {
    match principal {
        PrincipalRef::ApiKey { .. } => 0,
        PrincipalRef::User { .. } => 1,
        PrincipalRef::Operator => 2,
    }
}

fn principal_kind(principal: &PrincipalRef) -> &'static str {
    ["ApiKey", "User", "Operator"][principal_index(principal)]
}

/// The request's principal and resource, and the two-entity store they live in; shared by
/// the five decisions of `visible_classes`.
pub(crate) struct Parties {
    pub principal: EntityUid,
    pub resource: EntityUid,
    pub entities: Entities,
}

pub(crate) fn parties(names: &Names, request: &AuthzRequest) -> Result<Parties, String> {
    let (principal, principal_entity) = names.principal(&request.principal)?;
    let (resource, resource_entity) = names.resource(&request.resource)?;
    let entities =
        Entities::from_entities(principal_entity.into_iter().chain(resource_entity), None)
            .map_err(|e| e.to_string())?;
    Ok(Parties {
        principal,
        resource,
        entities,
    })
}

/// The request's context, built to the schema's shape (so Cedar need not check it per
/// request). `field_class` goes into the context of `read_personal`, which the schema gives
/// a context of its own. `source_ip` is optional in the schema and left out when no policy
/// reads it (`with_ip`): building an `ip` value costs a parse.
pub(crate) fn context(
    request: &AuthzRequest,
    field_class: Option<&str>,
    with_ip: bool,
) -> Result<Context, String> {
    let mut pairs = Vec::with_capacity(5);
    pairs.push((
        "purpose".to_owned(),
        RestrictedExpression::new_string(request.purpose.clone().unwrap_or_default()),
    ));
    pairs.push((
        "time".to_owned(),
        RestrictedExpression::new_long(request.time_s),
    ));
    pairs.push((
        "subject_in_request".to_owned(),
        RestrictedExpression::new_bool(request.subject_in_request),
    ));
    if let Some(ip) = request.source_ip.filter(|_| with_ip) {
        pairs.push((
            "source_ip".to_owned(),
            RestrictedExpression::new_ip(ip.to_string()),
        ));
    }
    if let Some(class) = field_class {
        pairs.push((
            "field_class".to_owned(),
            RestrictedExpression::new_string(class.to_owned()),
        ));
    }
    Context::from_pairs(pairs).map_err(|e| e.to_string())
}
