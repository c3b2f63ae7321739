//! Errors: schema document errors, event type name errors, and per-field event validation errors.

use std::fmt;

use crate::class::PrivacyClass;
use crate::limits::ERROR_NAME_BYTES_MAX;

/// What is wrong with a schema document or a schema built in code.
///
/// Every variant names the field (a dotted path such as `tags.items` for list
/// item specs) so a user can fix the document without guessing. Messages never repeat what
/// the document holds beyond valid field names: an invalid name, an unknown key, type or class
/// is described, not printed (it came from a request and ends up in logs).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    #[error("schema document must be a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    #[error("schema document needs a `fields` object")]
    MissingFields,
    #[error("unknown key in schema document (expected fields, allow_unknown_fields, description)")]
    UnknownDocumentKey { key: String },
    #[error("schema document: `{key}` must be {expected}, found {found}")]
    BadDocumentValue {
        key: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("too many fields: {count}, at most {max} allowed")]
    TooManyFields { count: usize, max: usize },
    #[error("a field name is invalid: it must match ^[a-z_][a-z0-9_]{{0,63}}$")]
    InvalidFieldName { field: String },
    #[error("field `{field}`: spec must be a JSON object, found {found}")]
    SpecNotAnObject { field: String, found: &'static str },
    #[error("field `{field}`: missing `type`")]
    MissingType { field: String },
    #[error(
        "field `{field}`: unknown type (expected string, int, float, bool, timestamp, enum, list or object)"
    )]
    UnknownType { field: String, found: String },
    #[error("field `{field}`: missing `class`")]
    MissingClass { field: String },
    #[error(
        "field `{field}`: unknown class (expected identifier, personal, free_text, sensitive or public)"
    )]
    UnknownClass { field: String, found: String },
    #[error("field `{field}`: an enum needs a non-empty `values` list of strings")]
    EnumWithoutValues { field: String },
    #[error("field `{field}`: bad enum `values`: {reason}")]
    BadEnumValues { field: String, reason: String },
    #[error("field `{field}`: a list needs an `items` type spec")]
    ListWithoutItems { field: String },
    #[error("field `{field}`: `{key}` {reason}")]
    BadBound {
        field: String,
        key: &'static str,
        reason: String,
    },
    #[error("field `{field}`: a key that is not allowed in a `{field_type}` field spec")]
    UnknownKey {
        field: String,
        key: String,
        field_type: &'static str,
    },
    #[error("field `{field}`: `{key}` must be {expected}, found {found}")]
    BadKeyValue {
        field: String,
        key: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `{field}`: class `{class}` is not allowed for type `{field_type}`")]
    ClassNotAllowed {
        field: String,
        class: PrivacyClass,
        field_type: &'static str,
    },
    #[error("field `{field}`: lists nest at most {max} levels deep")]
    TooDeep { field: String, max: usize },
}

impl SchemaError {
    /// The field (dotted path) the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            SchemaError::NotAnObject { .. }
            | SchemaError::MissingFields
            | SchemaError::UnknownDocumentKey { .. }
            | SchemaError::BadDocumentValue { .. }
            | SchemaError::TooManyFields { .. }
            // The invalid name is what the caller sent, not a path to show back.
            | SchemaError::InvalidFieldName { .. } => None,
            SchemaError::SpecNotAnObject { field, .. }
            | SchemaError::MissingType { field }
            | SchemaError::UnknownType { field, .. }
            | SchemaError::MissingClass { field }
            | SchemaError::UnknownClass { field, .. }
            | SchemaError::EnumWithoutValues { field }
            | SchemaError::BadEnumValues { field, .. }
            | SchemaError::ListWithoutItems { field }
            | SchemaError::BadBound { field, .. }
            | SchemaError::UnknownKey { field, .. }
            | SchemaError::BadKeyValue { field, .. }
            | SchemaError::ClassNotAllowed { field, .. }
            | SchemaError::TooDeep { field, .. } => Some(field),
        }
    }
}

/// Why an event type name is invalid; names must match `^[a-z][a-z0-9_]{0,63}$`.
///
/// The name itself is left out: the caller has it, and it may be arbitrary text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventTypeError {
    #[error("event type is empty")]
    Empty,
    #[error("event type is {len} bytes long, at most {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("event type must start with a lowercase ASCII letter")]
    BadFirstChar,
    #[error(
        "event type may only hold lowercase ASCII letters, digits and `_` (bad byte at {index})"
    )]
    BadChar { index: usize },
}

/// One problem with one property of an event.
///
/// `message` says what was expected and what kind of value was found, never the
/// value itself: values may be personal data and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} ({code})")]
pub struct FieldError {
    /// Dotted path of the property, e.g. `tags[3]`; empty for the properties object itself.
    pub field: String,
    pub code: FieldErrorCode,
    pub message: String,
}

/// The machine-readable kind of a [`FieldError`]; [`code`](Self::code) is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FieldErrorCode {
    MissingField,
    UnknownField,
    WrongType,
    NotInEnum,
    TooLong,
    TooManyItems,
    OutOfRange,
    InvalidTimestamp,
    NotFinite,
    TooDeep,
    /// An unknown field (allowed by the schema) whose name is not a valid field name.
    InvalidFieldName,
    /// More properties than [`FIELDS_MAX`](crate::limits::FIELDS_MAX).
    TooManyFields,
}

impl FieldErrorCode {
    /// The stable snake_case code clients match on (`"not_in_enum"`).
    pub fn code(self) -> &'static str {
        match self {
            FieldErrorCode::MissingField => "missing_field",
            FieldErrorCode::UnknownField => "unknown_field",
            FieldErrorCode::WrongType => "wrong_type",
            FieldErrorCode::NotInEnum => "not_in_enum",
            FieldErrorCode::TooLong => "too_long",
            FieldErrorCode::TooManyItems => "too_many_items",
            FieldErrorCode::OutOfRange => "out_of_range",
            FieldErrorCode::InvalidTimestamp => "invalid_timestamp",
            FieldErrorCode::NotFinite => "not_finite",
            FieldErrorCode::TooDeep => "too_deep",
            FieldErrorCode::InvalidFieldName => "invalid_field_name",
            FieldErrorCode::TooManyFields => "too_many_fields",
        }
    }
}

impl fmt::Display for FieldErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Shortens a user-supplied name for an error message, at a char boundary.
///
/// Names are echoed so users can find the culprit, but a megabyte-long key
/// must not become a megabyte-long error.
pub(crate) fn clip(name: &str) -> String {
    if name.len() <= ERROR_NAME_BYTES_MAX {
        return name.to_owned();
    }
    let mut end = ERROR_NAME_BYTES_MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}
