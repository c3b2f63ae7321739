//! Event schemas: the fields an event type may carry, their types and privacy classes, and name rules.

use std::collections::BTreeMap;

use crate::class::PrivacyClass;
use crate::error::{EventTypeError, SchemaError, clip};
use crate::field_type::FieldType;
use crate::limits::{DESCRIPTION_BYTES_MAX, FIELDS_MAX, NAME_BYTES_MAX};

/// One field of a schema: its type, privacy class, and whether events must carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub field_type: FieldType,
    pub class: PrivacyClass,
    /// Events without this property (or with `null`) are rejected. Defaults to false.
    pub required: bool,
    /// Free documentation for people reading the schema; at most
    /// [`DESCRIPTION_BYTES_MAX`](crate::limits::DESCRIPTION_BYTES_MAX) bytes.
    pub description: Option<String>,
}

impl FieldSpec {
    /// An optional field without description; the common case in code and tests.
    pub fn new(field_type: FieldType, class: PrivacyClass) -> FieldSpec {
        FieldSpec {
            field_type,
            class,
            required: false,
            description: None,
        }
    }
}

/// The schema of one event type of one tenant.
///
/// Fields are private so every `Schema` has passed [`Schema::new`]'s checks:
/// validation can then trust names, limits and class/type pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    fields: BTreeMap<String, FieldSpec>,
    allow_unknown_fields: bool,
    description: Option<String>,
    /// Events of this type are purged this long after their event time.
    retention_seconds: Option<u64>,
    /// `free_text` fields scanned for PII, and what to do with what is found.
    pii: BTreeMap<String, crate::pii::PiiAction>,
    /// The same for undeclared fields (when they are allowed).
    unknown_fields_pii: Option<crate::pii::PiiAction>,
}

impl Schema {
    /// Builds a schema after checking field names, the field count, each type's
    /// options and each class/type pair.
    ///
    /// `allow_unknown_fields`: accept properties the schema does not name, sealed
    /// as personal (the safe default for data nobody classified).
    pub fn new(
        fields: BTreeMap<String, FieldSpec>,
        allow_unknown_fields: bool,
        description: Option<String>,
    ) -> Result<Schema, SchemaError> {
        if fields.len() > FIELDS_MAX {
            return Err(SchemaError::TooManyFields {
                count: fields.len(),
                max: FIELDS_MAX,
            });
        }
        if description
            .as_ref()
            .is_some_and(|d| d.len() > DESCRIPTION_BYTES_MAX)
        {
            return Err(SchemaError::BadDocumentValue {
                key: "description",
                expected: DESCRIPTION_EXPECTED,
                found: "a longer string",
            });
        }
        for (name, spec) in &fields {
            check_field(name, spec)?;
        }
        Ok(Schema {
            fields,
            allow_unknown_fields,
            description,
            retention_seconds: None,
            pii: BTreeMap::new(),
            unknown_fields_pii: None,
        })
    }

    /// Sets PII handling: per `free_text` string field, and for undeclared string fields.
    /// Checks that each named field exists, is `free_text` and a string, and that undeclared
    /// fields are allowed when they get an action.
    pub fn with_pii(
        mut self,
        fields: BTreeMap<String, crate::pii::PiiAction>,
        unknown: Option<crate::pii::PiiAction>,
    ) -> Result<Schema, SchemaError> {
        for name in fields.keys() {
            let ok = self.fields.get(name).is_some_and(|f| {
                f.class == PrivacyClass::FreeText
                    && matches!(f.field_type, FieldType::String { .. })
            });
            if !ok {
                return Err(SchemaError::BadKeyValue {
                    field: name.clone(),
                    key: "pii",
                    expected: "an action on a free_text string field",
                    found: "another field",
                });
            }
        }
        if unknown.is_some() && !self.allow_unknown_fields {
            return Err(SchemaError::BadDocumentValue {
                key: "unknown_fields_pii",
                expected: "an action only with allow_unknown_fields: true",
                found: "allow_unknown_fields: false",
            });
        }
        self.pii = fields;
        self.unknown_fields_pii = unknown;
        Ok(self)
    }

    /// What to do with PII found in this field (`None`: not scanned; the class decides).
    pub fn pii_action(&self, field: &str) -> Option<crate::pii::PiiAction> {
        self.pii.get(field).copied()
    }

    /// What to do with PII found in undeclared string fields.
    pub fn unknown_fields_pii(&self) -> Option<crate::pii::PiiAction> {
        self.unknown_fields_pii
    }

    /// Sets how long events of this type are kept after their event time (`None`: forever).
    pub fn with_retention(mut self, seconds: Option<u64>) -> Schema {
        self.retention_seconds = seconds;
        self
    }

    /// How long events of this type are kept after their event time.
    pub fn retention_seconds(&self) -> Option<u64> {
        self.retention_seconds
    }

    /// The fields, ordered by name.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &FieldSpec)> {
        self.fields.iter().map(|(name, spec)| (name.as_str(), spec))
    }

    /// The spec of the field called `name`, if the schema has one.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.get(name)
    }

    /// Whether properties the schema does not name are accepted (and sealed as personal).
    pub fn allow_unknown_fields(&self) -> bool {
        self.allow_unknown_fields
    }

    /// The schema's free documentation, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

/// What a description must be, shared by the schema and field checks' messages.
pub(crate) const DESCRIPTION_EXPECTED: &str = "a string of at most 4096 bytes";
const _: () = assert!(
    DESCRIPTION_BYTES_MAX == 4_096,
    "update DESCRIPTION_EXPECTED"
);

fn check_field(name: &str, spec: &FieldSpec) -> Result<(), SchemaError> {
    if validate_field_name(name).is_err() {
        return Err(SchemaError::InvalidFieldName { field: clip(name) });
    }
    if spec
        .description
        .as_ref()
        .is_some_and(|d| d.len() > DESCRIPTION_BYTES_MAX)
    {
        return Err(SchemaError::BadKeyValue {
            field: name.to_owned(),
            key: "description",
            expected: DESCRIPTION_EXPECTED,
            found: "a longer string",
        });
    }
    // Identifiers are replaced by pseudonyms, which are keyed hashes of a string.
    if spec.class == PrivacyClass::Identifier
        && !matches!(spec.field_type, FieldType::String { .. })
    {
        return Err(SchemaError::ClassNotAllowed {
            field: name.to_owned(),
            class: spec.class,
            field_type: spec.field_type.name(),
        });
    }
    spec.field_type.check(name)
}

/// Checks a field name against `^[a-z_][a-z0-9_]{0,63}$`.
///
/// Names become storage column names and SQL identifiers, hence the tight alphabet.
pub fn validate_field_name(name: &str) -> Result<(), SchemaError> {
    let bytes = name.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || *b == b'_');
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if first_ok && rest_ok && bytes.len() <= NAME_BYTES_MAX {
        Ok(())
    } else {
        Err(SchemaError::InvalidFieldName { field: clip(name) })
    }
}

/// Checks an event type name against `^[a-z][a-z0-9_]{0,63}$`.
///
/// Event types appear in URLs and storage paths, so they are plain lowercase ASCII.
pub fn validate_event_type(name: &str) -> Result<(), EventTypeError> {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return Err(EventTypeError::Empty);
    };
    if bytes.len() > NAME_BYTES_MAX {
        return Err(EventTypeError::TooLong {
            len: bytes.len(),
            max: NAME_BYTES_MAX,
        });
    }
    if !first.is_ascii_lowercase() {
        return Err(EventTypeError::BadFirstChar);
    }
    match bytes
        .iter()
        .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_'))
    {
        Some(index) => Err(EventTypeError::BadChar { index }),
        None => Ok(()),
    }
}

/// One version of an event type's schema, as the registry keeps it.
///
/// Versions start at 1 and grow by one per accepted PUT; events record the
/// version they were validated against. Persisting this is another crate's job.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaVersion {
    pub event_type: String,
    pub version: u32,
    pub schema: Schema,
}
