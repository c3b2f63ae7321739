//! Event schemas, field privacy classes and event validation for Steward.
//!
//! Main types: [`Schema`] (the fields of one event type, parsed from and written to
//! the JSON document users PUT), [`FieldSpec`] and [`FieldType`] (one field's type,
//! options and class), [`PrivacyClass`] (how a value is protected at rest), and
//! [`ValidatedProperties`] (an event's properties after [`Schema::validate`], grouped
//! into public, identifier and sealed values). [`SchemaVersion`] is the registry's
//! unit. Every bound lives in [`limits`].
//!
//! [`pii`] finds personal data in free text ([`pii::scan`]: e-mail addresses, phone
//! numbers, payment cards, IBANs, IP addresses, US SSNs, dates of birth, personal URLs)
//! and rewrites it under a schema's [`pii::PiiAction`] ([`pii::apply`]).
//!
//! Architecture invariant: no error from this crate carries a property value; field
//! errors name types and bounds only, since values may be personal data.
//! Architecture invariant: the JSON shape of schema documents lives in `wire.rs` alone;
//! the domain types have no serde derives.

mod class;
mod error;
mod field_type;
pub mod limits;
pub mod pii;
mod schema;
mod timestamp;
mod validate;
mod wire;

pub use class::PrivacyClass;
pub use error::{EventTypeError, FieldError, FieldErrorCode, SchemaError};
pub use field_type::FieldType;
pub use schema::{FieldSpec, Schema, SchemaVersion, validate_event_type, validate_field_name};
pub use timestamp::{format_timestamp_micros, normalize_timestamp, parse_timestamp_micros};
pub use validate::ValidatedProperties;
