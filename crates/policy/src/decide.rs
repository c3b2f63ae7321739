//! The engine: one tenant's policies, and the decisions made with them.

use std::collections::HashSet;

use cedar_policy::{Authorizer, Effect, PolicyId, PolicySet, Request};

use crate::cache::DecisionCache;
use crate::diagnostics::{ValidatedPolicies, validate};
use crate::entities::{Names, Parties, context, parties};
use crate::purpose::{BUILTIN_PURPOSES, Purpose, PurposeError};
use crate::request::{Action, AuthzRequest, FieldClass, FieldClasses};
use crate::schema::{DEFAULT_POLICIES, schema};
use crate::slice::Slices;
use crate::{PolicyDiagnostic, PolicyError};

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The policies that decided: the permits that allowed it, or the forbids that refused
    /// it (empty when nothing permitted it: Cedar's default deny). Sorted.
    pub policy_ids: Vec<String>,
    /// Policies that failed to evaluate, or why the request could not be put to Cedar at all
    /// (an unknown purpose, a request the schema does not allow). An error in a `forbid`, or
    /// outside Cedar, refuses the request: the engine fails closed.
    pub errors: Vec<String>,
}

impl Decision {
    fn refused(error: String) -> Decision {
        Decision {
            allowed: false,
            policy_ids: Vec::new(),
            errors: vec![error],
        }
    }
}

/// One tenant's policies, ready to decide. An engine never changes: to change policies the
/// caller builds a new one and swaps it in, so the old set stays in force until the new one
/// has validated. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct PolicyEngine {
    validated: ValidatedPolicies,
    purposes: HashSet<String>,
    names: &'static Names,
    slices: Slices,
    cache: DecisionCache,
    authorizer: Authorizer,
}

impl PolicyEngine {
    /// An engine for the tenant's policy text, or the default set when `None`. The platform
    /// guardrails are always added in front.
    pub fn new(tenant_policies: Option<&str>) -> Result<PolicyEngine, PolicyError> {
        PolicyEngine::from_validated(validate(tenant_policies.unwrap_or(DEFAULT_POLICIES))?)
    }

    /// Checks a tenant's policy text without building an engine: every problem, each with
    /// its policy id, line and column.
    pub fn validate(text: &str) -> Result<ValidatedPolicies, Vec<PolicyDiagnostic>> {
        validate(text).map_err(|e| match e {
            PolicyError::Invalid(diagnostics) => diagnostics,
            PolicyError::TooComplex(e) => vec![PolicyDiagnostic {
                policy_id: None,
                line: e.line,
                column: e.column,
                message: e.bound.to_string(),
            }],
            other => vec![PolicyDiagnostic {
                policy_id: None,
                line: 1,
                column: 1,
                message: other.to_string(),
            }],
        })
    }

    /// An engine for policies already checked with [`validate`](Self::validate) (a `PUT`
    /// validates first, answers, then swaps engines without parsing twice).
    pub fn from_validated(validated: ValidatedPolicies) -> Result<PolicyEngine, PolicyError> {
        schema()?;
        let names = Names::get().map_err(PolicyError::Schema)?;
        let purposes = BUILTIN_PURPOSES
            .iter()
            .map(|p| (*p).to_owned())
            .chain(validated.purposes.iter().cloned())
            .collect();
        let cache = DecisionCache::new(&validated.policies);
        Ok(PolicyEngine {
            validated,
            purposes,
            names,
            slices: Slices::new(),
            cache,
            authorizer: Authorizer::new(),
        })
    }

    /// The tenant's policy text in force.
    pub fn text(&self) -> &str {
        self.validated.text()
    }

    /// What this engine was built from (ids, purposes, warnings).
    pub fn policies(&self) -> &ValidatedPolicies {
        &self.validated
    }

    /// Whether decisions are cached: true unless a tenant policy reads something beyond
    /// roles, key scopes, action, purpose and kind of resource (see `cache.rs`).
    pub fn caches_decisions(&self) -> bool {
        self.cache.is_enabled()
    }

    /// Every purpose usable with this tenant: the built-in six, then the tenant's, sorted.
    pub fn purposes(&self) -> Vec<String> {
        BUILTIN_PURPOSES
            .iter()
            .map(|p| (*p).to_owned())
            .chain(self.validated.purposes.iter().cloned())
            .collect()
    }

    /// Checks a requested purpose: well-formed, and built in or named by these policies.
    pub fn purpose(&self, text: &str) -> Result<Purpose, PurposeError> {
        let purpose = Purpose::parse(text)?;
        if self.purposes.contains(purpose.as_str()) {
            Ok(purpose)
        } else {
            Err(PurposeError::Unknown(purpose.as_str().to_owned()))
        }
    }

    /// Decides one request. Answers are cached when the policies allow it (see
    /// [`caches_decisions`](Self::caches_decisions)); a cached answer is the decision Cedar
    /// gave for an indistinguishable request, policy ids included.
    pub fn decide(&self, request: &AuthzRequest) -> Decision {
        if let Err(refused) = self.precheck(request, request.action) {
            return refused;
        }
        self.cache
            .decision(request, || self.decide_uncached(request))
    }

    /// [`decide`](Self::decide) without the cache: always a fresh Cedar evaluation (for
    /// dry runs, and to measure Cedar itself).
    pub fn decide_uncached(&self, request: &AuthzRequest) -> Decision {
        let field_class = match (request.action, request.field_class) {
            (Action::ReadPersonal, Some(class)) => Some(class.as_str()),
            (Action::ReadPersonal, None) => {
                return Decision::refused("read_personal names no field class".into());
            }
            _ => None,
        };
        match self.prepare(request, request.action) {
            Ok(parties) => self.evaluate(request, request.action, &parties, field_class),
            Err(refused) => refused,
        }
    }

    /// The field classes the request's principal sees in the clear when reading the
    /// request's resource for the request's purpose: one `read_personal` decision per class.
    /// The request's own action and field class are ignored. Public fields are not
    /// special-cased: a tenant may restrict them too. Cached like [`decide`](Self::decide).
    pub fn visible_classes(&self, request: &AuthzRequest) -> FieldClasses {
        if self.precheck(request, Action::ReadPersonal).is_err() {
            return FieldClasses::NONE;
        }
        self.cache.classes(request, || {
            let Ok(parties) = parties(self.names, request) else {
                return FieldClasses::NONE;
            };
            FieldClass::ALL
                .into_iter()
                .filter(|class| {
                    self.evaluate(
                        request,
                        Action::ReadPersonal,
                        &parties,
                        Some(class.as_str()),
                    )
                    .allowed
                })
                .collect()
        })
    }

    /// [`visible_classes`](Self::visible_classes) without the cache: five decisions, each
    /// with the policies that decided it (for `steward policy check` and audits).
    pub fn explain_classes(&self, request: &AuthzRequest) -> Vec<(FieldClass, Decision)> {
        let parties = match self.prepare(request, Action::ReadPersonal) {
            Ok(parties) => parties,
            Err(refused) => {
                return FieldClass::ALL
                    .into_iter()
                    .map(|c| (c, refused.clone()))
                    .collect();
            }
        };
        FieldClass::ALL
            .into_iter()
            .map(|class| {
                (
                    class,
                    self.evaluate(
                        request,
                        Action::ReadPersonal,
                        &parties,
                        Some(class.as_str()),
                    ),
                )
            })
            .collect()
    }

    /// The checks before Cedar, and the request's principal and resource.
    fn prepare(&self, request: &AuthzRequest, action: Action) -> Result<Parties, Decision> {
        self.precheck(request, action)?;
        parties(self.names, request).map_err(Decision::refused)
    }

    /// What is refused before Cedar is asked: unknown purposes, requests outside the schema.
    fn precheck(&self, request: &AuthzRequest, action: Action) -> Result<(), Decision> {
        // An unknown purpose would otherwise reach policies that allow any purpose (admins).
        if let Some(purpose) = &request.purpose
            && !self.purposes.contains(purpose)
        {
            // The text is echoed only when it has a purpose's form (it ends up in logs).
            return Err(Decision::refused(match Purpose::parse(purpose) {
                Ok(p) => PurposeError::Unknown(p.as_str().to_owned()).to_string(),
                Err(e) => e.to_string(),
            }));
        }
        // The schema's `appliesTo` is binding: the operator cannot be the principal of a
        // data action, whatever a policy says.
        self.names
            .check_applies(action, request)
            .map_err(|e| Decision::refused(format!("request outside the schema: {e}")))
    }

    fn evaluate(
        &self,
        request: &AuthzRequest,
        action: Action,
        parties: &Parties,
        field_class: Option<&str>,
    ) -> Decision {
        let policies = self.slices.get(
            &self.validated.policies,
            self.names,
            action,
            &request.principal,
        );
        self.evaluate_in(policies, request, action, parties, field_class)
    }

    /// One Cedar decision against `policies` (the request's slice, or in tests the whole set).
    fn evaluate_in(
        &self,
        policies: &PolicySet,
        request: &AuthzRequest,
        action: Action,
        parties: &Parties,
        field_class: Option<&str>,
    ) -> Decision {
        let context = match context(request, field_class, self.validated.reads_source_ip) {
            Ok(context) => context,
            Err(e) => return Decision::refused(e),
        };
        // No schema here: `check_applies` and `context` already give the request the
        // schema's shape, and Cedar's own check costs about a tenth of a decision.
        let cedar_request = match Request::new(
            parties.principal.clone(),
            self.names.action(action).clone(),
            parties.resource.clone(),
            context,
            None,
        ) {
            Ok(r) => r,
            Err(e) => return Decision::refused(format!("request outside the schema: {e}")),
        };
        let all = &self.validated.policies;
        let response = self
            .authorizer
            .is_authorized(&cedar_request, policies, &parties.entities);
        let cedar_allowed = response.decision() == cedar_policy::Decision::Allow;
        let mut allowed = cedar_allowed;
        let mut policy_ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        let mut errors = Vec::new();
        for error in response.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = error;
            errors.push(format!("policy {}: {}", e.policy_id(), e.inner()));
            if is_forbid(all, e.policy_id()) {
                // Cedar skips a policy that errors; for a forbid that would turn an error into
                // a permission, so count it as satisfied instead.
                allowed = false;
                policy_ids.push(e.policy_id().to_string());
            }
        }
        if cedar_allowed && !allowed {
            // Name the failed forbids, not the permits.
            policy_ids.retain(|id| is_forbid(all, &PolicyId::new(id)));
        }
        policy_ids.sort();
        Decision {
            allowed,
            policy_ids,
            errors,
        }
    }
}

fn is_forbid(policies: &PolicySet, id: &PolicyId) -> bool {
    policies
        .policy(id)
        .is_none_or(|p| p.effect() == Effect::Forbid)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use cedar_policy::Entities;

    use super::*;
    use crate::entities::context;
    use crate::request::{PrincipalRef, ResourceKind, ResourceRef};
    use crate::{BUILTIN_PURPOSES, Role};

    fn principals() -> Vec<PrincipalRef> {
        let mut out = vec![PrincipalRef::Operator];
        for role in Role::ALL {
            for purposes in [vec![], vec!["support".to_owned()]] {
                out.push(PrincipalRef::ApiKey {
                    id: "k".into(),
                    tenant: "a".into(),
                    role,
                    purposes,
                });
            }
        }
        out.push(PrincipalRef::User {
            sub: "u".into(),
            tenant: "a".into(),
            roles: vec![Role::Reader, Role::PrivacyOfficer],
            purposes: vec![],
        });
        out.push(PrincipalRef::User {
            sub: "u".into(),
            tenant: "a".into(),
            roles: vec![],
            purposes: vec![],
        });
        out
    }

    /// Every combination of principal, action, resource kind and tenant, purpose and field
    /// class the tests below go through.
    fn requests() -> Vec<AuthzRequest> {
        let mut out = Vec::new();
        for principal in principals() {
            for action in Action::ALL {
                for kind in ResourceKind::ALL {
                    for tenant in ["a", "b"] {
                        let resource = match kind {
                            ResourceKind::Deployment => ResourceRef::deployment(),
                            ResourceKind::Tenant => ResourceRef::tenant(tenant),
                            kind => ResourceRef::new(kind, tenant, "x"),
                        };
                        for purpose in [None].into_iter().chain(BUILTIN_PURPOSES.map(Some)) {
                            for class in [None].into_iter().chain(FieldClass::ALL.map(Some)) {
                                if (action == Action::ReadPersonal) != class.is_some() {
                                    continue;
                                }
                                let mut r =
                                    AuthzRequest::new(principal.clone(), action, resource.clone())
                                        .with_source_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                                        .with_time(1_800_000_000);
                                r.purpose = purpose.map(str::to_owned);
                                r.field_class = class;
                                out.push(r);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The tenant wall is written so that a missing entity refuses rather than errs its way
    /// past: a resource that cannot be looked up, or a principal that cannot.
    #[test]
    fn missing_entities_fail_closed() {
        let engine =
            PolicyEngine::new(Some(r#"@id("all") permit (principal, action, resource);"#)).unwrap();
        let request = AuthzRequest::new(
            PrincipalRef::ApiKey {
                id: "k".into(),
                tenant: "a".into(),
                role: Role::Reader,
                purposes: vec![],
            },
            Action::ResolveSubject,
            ResourceRef::subject("a", "p"),
        );
        let full = engine.prepare(&request, request.action).unwrap();
        assert!(
            engine
                .evaluate(&request, request.action, &full, None)
                .allowed
        );
        for keep in [&full.principal, &full.resource] {
            let only: Vec<_> = full
                .entities
                .iter()
                .filter(|e| e.uid() == *keep)
                .cloned()
                .collect();
            let parties = Parties {
                principal: full.principal.clone(),
                resource: full.resource.clone(),
                entities: Entities::from_entities(only, None).unwrap(),
            };
            let decision = engine.evaluate(&request, request.action, &parties, None);
            assert!(!decision.allowed, "{decision:?}");
            assert_eq!(decision.policy_ids, ["platform.tenant-wall-key"]);
        }
    }

    #[test]
    fn engines_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<PolicyEngine>();
    }

    /// Slicing the policy set per action and principal never changes a decision.
    #[test]
    fn slices_decide_like_the_whole_set() {
        let engine = PolicyEngine::new(None).unwrap();
        let mut compared = 0;
        for request in requests() {
            let Ok(parties) = engine.prepare(&request, request.action) else {
                continue;
            };
            let class = request.field_class.map(FieldClass::as_str);
            let sliced = engine.evaluate(&request, request.action, &parties, class);
            let whole = engine.evaluate_in(
                &engine.validated.policies,
                &request,
                request.action,
                &parties,
                class,
            );
            assert_eq!(sliced, whole, "{request:?}");
            compared += 1;
        }
        assert!(compared > 5_000, "{compared}");
    }

    /// The shortcuts that replace Cedar's per-request schema checks agree with them: the
    /// `appliesTo` tables refuse exactly what Cedar refuses, and the entities and contexts
    /// built conform to the schema.
    #[test]
    fn requests_are_built_to_the_schema() {
        let schema = schema().unwrap();
        let names = Names::get().unwrap();
        for request in requests() {
            let ours = names.check_applies(request.action, &request);
            let parties = parties(names, &request).unwrap();
            let class = request.field_class.map(FieldClass::as_str);
            let cedar = Request::new(
                parties.principal.clone(),
                names.action(request.action).clone(),
                parties.resource.clone(),
                context(&request, class, true).unwrap(),
                Some(schema),
            );
            assert_eq!(
                ours.is_ok(),
                cedar.is_ok(),
                "{request:?}: ours {ours:?}, Cedar {:?}",
                cedar.err()
            );
            let entities: Vec<_> = parties.entities.iter().cloned().collect();
            Entities::from_entities(entities, Some(schema)).unwrap();
        }
    }
}
