//! Who may do what, for which purpose: Steward's authorization on Cedar policies.
//!
//! Each tenant has a policy set (the [`DEFAULT_POLICIES`] until it stores its own), checked
//! against one shipped [`SCHEMA_TEXT`], with the [`PLATFORM_POLICIES`] (tenant walls, the
//! operator's limits, key purpose scopes) always in force in front of it. A [`PolicyEngine`]
//! holds one validated set and answers [`AuthzRequest`]s with a [`Decision`] naming the
//! policies that decided it; [`PolicyEngine::visible_classes`] says which field classes a
//! read sees in the clear for its purpose. Invalid policy text yields [`PolicyDiagnostic`]s
//! with the policy id, line and column; the caller keeps its previous engine meanwhile.
//! See README.md for the schema and the default policies.

mod cache;
mod complexity;
mod decide;
mod diagnostics;
mod entities;
mod error;
pub mod limits;
mod purpose;
mod request;
mod scan;
mod schema;
mod slice;

pub use complexity::{ComplexityBound, PolicyTooComplex, check_complexity};
pub use decide::{Decision, PolicyEngine};
pub use diagnostics::{PolicyDiagnostic, ValidatedPolicies};
pub use error::PolicyError;
pub use purpose::{BUILTIN_PURPOSES, MAX_PURPOSE_LEN, Purpose, PurposeError};
pub use request::{
    Action, AuthzRequest, FieldClass, FieldClasses, PrincipalRef, ResourceKind, ResourceRef,
};
pub use schema::{DEFAULT_POLICIES, NAMESPACE, PLATFORM_ID_PREFIX, PLATFORM_POLICIES, SCHEMA_TEXT};
pub use steward_access::Role;
