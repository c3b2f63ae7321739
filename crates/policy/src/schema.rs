//! The shipped Cedar schema and policy texts, parsed once per process.

use std::sync::OnceLock;

use cedar_policy::Schema;

use crate::PolicyError;

/// The Cedar schema (human syntax) every tenant's policies are validated against.
pub const SCHEMA_TEXT: &str = include_str!("../schema/steward.cedarschema");

/// The policy set a tenant starts with, and gets back by storing no policies of its own.
pub const DEFAULT_POLICIES: &str = include_str!("../policies/default.cedar");

/// Guardrails in force for every tenant in front of its own set; not editable by tenants.
pub const PLATFORM_POLICIES: &str = include_str!("../policies/platform.cedar");

/// Prefix of the platform policies' ids; tenant policies may not use it.
pub const PLATFORM_ID_PREFIX: &str = "platform.";

/// The Cedar namespace of every Steward type and action.
pub const NAMESPACE: &str = "Steward";

/// The parsed schema, shared by every engine (parsing it costs about a millisecond).
///
/// The schema is a compile-time constant, so a failure here is a bug in this crate; it is
/// still reported as an error rather than a panic because every engine build goes through it.
pub(crate) fn schema() -> Result<&'static Schema, PolicyError> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Schema::from_cedarschema_str(SCHEMA_TEXT)
                .map(|(schema, _warnings)| schema)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|message| PolicyError::Schema(message.clone()))
}
