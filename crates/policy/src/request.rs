//! What a caller asks: principal, action, resource, purpose and the request's circumstances.

use std::fmt;
use std::net::IpAddr;

use steward_access::Role;

/// Every action a route can ask for; the names are the Cedar action ids in the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    Ingest,
    ReadSchemas,
    ManageSchemas,
    ResolveSubject,
    ReadTimeline,
    /// Whether one field class is seen in the clear; asked per class by
    /// [`PolicyEngine::visible_classes`](crate::PolicyEngine::visible_classes).
    ReadPersonal,
    Query,
    CutDataset,
    Export,
    Train,
    Deploy,
    Serve,
    ManageConsent,
    Erase,
    AccessRequest,
    ManageKeys,
    ManagePolicies,
    ReadAudit,
    Admin,
    /// Deployment-wide: create and list tenants (the operator only).
    ManageTenants,
    /// Read the item catalog (items are never personal).
    ReadItems,
    /// Upsert and delete items.
    ManageItems,
}

impl Action {
    /// Every action, in schema order.
    pub const ALL: [Action; 22] = [
        Action::Ingest,
        Action::ReadSchemas,
        Action::ManageSchemas,
        Action::ResolveSubject,
        Action::ReadTimeline,
        Action::ReadPersonal,
        Action::Query,
        Action::CutDataset,
        Action::Export,
        Action::Train,
        Action::Deploy,
        Action::Serve,
        Action::ManageConsent,
        Action::Erase,
        Action::AccessRequest,
        Action::ManageKeys,
        Action::ManagePolicies,
        Action::ReadAudit,
        Action::Admin,
        Action::ManageTenants,
        Action::ReadItems,
        Action::ManageItems,
    ];

    /// The Cedar action id (`Steward::Action::"<this>"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ingest => "ingest",
            Action::ReadSchemas => "read_schemas",
            Action::ManageSchemas => "manage_schemas",
            Action::ResolveSubject => "resolve_subject",
            Action::ReadTimeline => "read_timeline",
            Action::ReadPersonal => "read_personal",
            Action::Query => "query",
            Action::CutDataset => "cut_dataset",
            Action::Export => "export",
            Action::Train => "train",
            Action::Deploy => "deploy",
            Action::Serve => "serve",
            Action::ManageConsent => "manage_consent",
            Action::Erase => "erase",
            Action::AccessRequest => "access_request",
            Action::ManageKeys => "manage_keys",
            Action::ManagePolicies => "manage_policies",
            Action::ReadAudit => "read_audit",
            Action::Admin => "admin",
            Action::ManageTenants => "manage_tenants",
            Action::ReadItems => "read_items",
            Action::ManageItems => "manage_items",
        }
    }

    /// Parses a Cedar action id (`"read_timeline"`); `None` if unknown.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Reads of event data: each must name a purpose.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Action::ReadTimeline
                | Action::ReadPersonal
                | Action::Query
                | Action::CutDataset
                | Action::Export
                | Action::Train
                | Action::Serve
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field's privacy class, by the names of event schemas (`steward_privacy::PrivacyClass`
/// spells them the same; this crate does not depend on `privacy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldClass {
    Identifier,
    Personal,
    FreeText,
    Sensitive,
    Public,
}

impl FieldClass {
    /// Every class, in the order of `steward_privacy::PrivacyClass::ALL`.
    pub const ALL: [FieldClass; 5] = [
        FieldClass::Identifier,
        FieldClass::Personal,
        FieldClass::FreeText,
        FieldClass::Sensitive,
        FieldClass::Public,
    ];

    /// The name policies compare `context.field_class` with.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldClass::Identifier => "identifier",
            FieldClass::Personal => "personal",
            FieldClass::FreeText => "free_text",
            FieldClass::Sensitive => "sensitive",
            FieldClass::Public => "public",
        }
    }

    /// Parses a class name; `None` if unknown.
    pub fn parse(name: &str) -> Option<FieldClass> {
        FieldClass::ALL.into_iter().find(|c| c.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for FieldClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of field classes (the ones a read sees in the clear); `Copy`, so a read path can
/// keep it per request for free.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldClasses(u8);

impl FieldClasses {
    /// No class: everything masked.
    pub const NONE: FieldClasses = FieldClasses(0);

    pub fn contains(self, class: FieldClass) -> bool {
        self.0 & class.bit() != 0
    }

    pub fn insert(&mut self, class: FieldClass) {
        self.0 |= class.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The classes in the set, in [`FieldClass::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = FieldClass> {
        FieldClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    pub fn to_vec(self) -> Vec<FieldClass> {
        self.iter().collect()
    }
}

impl FromIterator<FieldClass> for FieldClasses {
    fn from_iter<I: IntoIterator<Item = FieldClass>>(iter: I) -> Self {
        let mut set = FieldClasses::NONE;
        for class in iter {
            set.insert(class);
        }
        set
    }
}

/// The authenticated caller, as the policies see it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrincipalRef {
    /// A tenant API key. `purposes` empty: any purpose its role permits.
    ApiKey {
        id: String,
        tenant: String,
        role: Role,
        purposes: Vec<String>,
    },
    /// A user authenticated by a JWT from an issuer the tenant configured; `sub` is the
    /// token's subject, `roles` and `purposes` come from its claims.
    User {
        sub: String,
        tenant: String,
        roles: Vec<Role>,
        purposes: Vec<String>,
    },
    /// The deployment's operator.
    Operator,
}

impl PrincipalRef {
    /// The policy principal for an authenticated `steward_access::Principal`, with the
    /// purposes its key (or token) is scoped to.
    pub fn from_access(principal: &steward_access::Principal) -> PrincipalRef {
        use steward_access::Principal as P;
        match principal {
            P::Operator => PrincipalRef::Operator,
            P::Key {
                tenant,
                key_id,
                role,
                purposes,
                ..
            } => PrincipalRef::ApiKey {
                id: key_id.clone(),
                tenant: tenant.clone(),
                role: *role,
                purposes: purposes.clone(),
            },
            P::User {
                tenant,
                sub,
                roles,
                purposes,
            } => PrincipalRef::User {
                sub: sub.clone(),
                tenant: tenant.clone(),
                roles: roles.clone(),
                purposes: purposes.clone(),
            },
        }
    }

    /// The tenant the principal belongs to (`None` for the operator).
    pub fn tenant(&self) -> Option<&str> {
        match self {
            PrincipalRef::ApiKey { tenant, .. } | PrincipalRef::User { tenant, .. } => Some(tenant),
            PrincipalRef::Operator => None,
        }
    }
}

/// The kind of thing a request acts on; the names are the Cedar entity types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// The deployment (for `manage_tenants`); has no tenant.
    Deployment,
    Tenant,
    Subject,
    EventType,
    Dataset,
    Model,
    PolicySet,
    AuditLog,
}

impl ResourceKind {
    /// The Cedar entity type name, without the namespace.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Deployment => "Deployment",
            ResourceKind::Tenant => "Tenant",
            ResourceKind::Subject => "Subject",
            ResourceKind::EventType => "EventType",
            ResourceKind::Dataset => "Dataset",
            ResourceKind::Model => "Model",
            ResourceKind::PolicySet => "PolicySet",
            ResourceKind::AuditLog => "AuditLog",
        }
    }

    pub const ALL: [ResourceKind; 8] = [
        ResourceKind::Deployment,
        ResourceKind::Tenant,
        ResourceKind::Subject,
        ResourceKind::EventType,
        ResourceKind::Dataset,
        ResourceKind::Model,
        ResourceKind::PolicySet,
        ResourceKind::AuditLog,
    ];

    /// Parses a Cedar entity type name (`"Subject"`); `None` if unknown.
    pub fn parse(name: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What a request acts on. For [`ResourceKind::Tenant`] the id is the tenant; for
/// [`ResourceKind::Deployment`] both are empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRef {
    pub kind: ResourceKind,
    pub id: String,
    pub tenant: String,
}

impl ResourceRef {
    pub fn new(
        kind: ResourceKind,
        tenant: impl Into<String>,
        id: impl Into<String>,
    ) -> ResourceRef {
        ResourceRef {
            kind,
            id: id.into(),
            tenant: tenant.into(),
        }
    }

    /// The tenant itself (most tenant-wide routes).
    pub fn tenant(tenant: impl Into<String>) -> ResourceRef {
        let tenant = tenant.into();
        ResourceRef {
            kind: ResourceKind::Tenant,
            id: tenant.clone(),
            tenant,
        }
    }

    /// One subject, by pseudonym.
    pub fn subject(tenant: impl Into<String>, pseudonym: impl Into<String>) -> ResourceRef {
        ResourceRef::new(ResourceKind::Subject, tenant, pseudonym)
    }

    /// The deployment (for `manage_tenants`).
    pub fn deployment() -> ResourceRef {
        ResourceRef {
            kind: ResourceKind::Deployment,
            id: String::new(),
            tenant: String::new(),
        }
    }
}

/// One authorization question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthzRequest {
    pub principal: PrincipalRef,
    pub action: Action,
    pub resource: ResourceRef,
    /// The declared purpose; reads without one are refused.
    pub purpose: Option<String>,
    /// The client's address, when known.
    pub source_ip: Option<IpAddr>,
    /// Request time, Unix seconds.
    pub time_s: i64,
    /// True when the request concerns one named subject (a timeline, a subject request).
    pub subject_in_request: bool,
    /// For [`Action::ReadPersonal`] only: the field class asked about. Without one,
    /// `read_personal` is refused.
    pub field_class: Option<FieldClass>,
}

impl AuthzRequest {
    /// A request with no purpose, address or time; fill those in with struct update syntax
    /// or the `with_*` methods.
    pub fn new(principal: PrincipalRef, action: Action, resource: ResourceRef) -> AuthzRequest {
        let subject_in_request = resource.kind == ResourceKind::Subject;
        AuthzRequest {
            principal,
            action,
            resource,
            purpose: None,
            source_ip: None,
            time_s: 0,
            subject_in_request,
            field_class: None,
        }
    }

    pub fn with_purpose(mut self, purpose: impl Into<String>) -> AuthzRequest {
        self.purpose = Some(purpose.into());
        self
    }

    pub fn with_source_ip(mut self, ip: IpAddr) -> AuthzRequest {
        self.source_ip = Some(ip);
        self
    }

    pub fn with_time(mut self, time_s: i64) -> AuthzRequest {
        self.time_s = time_s;
        self
    }

    pub fn with_subject_in_request(mut self, yes: bool) -> AuthzRequest {
        self.subject_in_request = yes;
        self
    }
}
