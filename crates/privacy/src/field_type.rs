//! Field types of an event schema, with their per-type options and the checks that keep them sane.

use std::collections::BTreeSet;

use crate::error::SchemaError;
use crate::limits::{
    ENUM_VALUE_BYTES_MAX, ENUM_VALUES_MAX, LIST_ITEMS_MAX, LIST_NESTING_DEPTH_MAX, STRING_BYTES_MAX,
};

/// The type of a field's value, with the options that type accepts.
///
/// Deliberately not `#[non_exhaustive]`: code that maps types to storage columns
/// should fail to compile when a type is added, not fall through a wildcard.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    /// A UTF-8 string, at most `max_length` bytes (and never more than
    /// [`STRING_BYTES_MAX`](crate::limits::STRING_BYTES_MAX)).
    String { max_length: Option<usize> },
    /// A signed 64-bit integer, within `min..=max` when given.
    Int { min: Option<i64>, max: Option<i64> },
    /// A finite 64-bit float (integers accepted), within `min..=max` when given.
    Float { min: Option<f64>, max: Option<f64> },
    /// `true` or `false`.
    Bool,
    /// An RFC 3339 string, normalized to UTC; microsecond precision.
    Timestamp,
    /// A string out of a fixed set of values.
    Enum { values: Vec<String> },
    /// A JSON array whose items all have type `items`.
    List {
        items: Box<FieldType>,
        max_items: Option<usize>,
    },
    /// Any JSON object, bounded in size and depth but otherwise opaque.
    Object,
}

impl FieldType {
    /// The type's name in schema documents and error messages (`"timestamp"`).
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String { .. } => "string",
            FieldType::Int { .. } => "int",
            FieldType::Float { .. } => "float",
            FieldType::Bool => "bool",
            FieldType::Timestamp => "timestamp",
            FieldType::Enum { .. } => "enum",
            FieldType::List { .. } => "list",
            FieldType::Object => "object",
        }
    }

    /// Longest accepted string in bytes: the field's `max_length` capped by the global limit.
    pub fn effective_max_length(max_length: Option<usize>) -> usize {
        max_length.map_or(STRING_BYTES_MAX, |n| n.min(STRING_BYTES_MAX))
    }

    /// Most accepted list items: the field's `max_items` capped by the global limit.
    pub fn effective_max_items(max_items: Option<usize>) -> usize {
        max_items.map_or(LIST_ITEMS_MAX, |n| n.min(LIST_ITEMS_MAX))
    }

    /// Checks the type's options; `path` names the field (`"tags.items"` for list items).
    ///
    /// Runs for schemas built in code as well as parsed ones, so a `Schema` can
    /// only ever hold options that validation can honour.
    pub(crate) fn check(&self, path: &str) -> Result<(), SchemaError> {
        self.check_at(path, 1)
    }

    fn check_at(&self, path: &str, list_depth: usize) -> Result<(), SchemaError> {
        match self {
            FieldType::String { max_length } => {
                check_max(path, "max_length", *max_length, STRING_BYTES_MAX)
            }
            FieldType::Int { min, max } => match (min, max) {
                (Some(lo), Some(hi)) if lo > hi => {
                    Err(bad_bound(path, "min", "must not be greater than `max`"))
                }
                _ => Ok(()),
            },
            FieldType::Float { min, max } => check_float_bounds(path, *min, *max),
            FieldType::Enum { values } => check_enum_values(path, values),
            FieldType::List { items, max_items } => {
                check_max(path, "max_items", *max_items, LIST_ITEMS_MAX)?;
                let items_path = format!("{path}.items");
                if matches!(**items, FieldType::List { .. }) && list_depth >= LIST_NESTING_DEPTH_MAX
                {
                    return Err(SchemaError::TooDeep {
                        field: items_path,
                        max: LIST_NESTING_DEPTH_MAX,
                    });
                }
                items.check_at(&items_path, list_depth + 1)
            }
            FieldType::Bool | FieldType::Timestamp | FieldType::Object => Ok(()),
        }
    }
}

fn bad_bound(path: &str, key: &'static str, reason: &str) -> SchemaError {
    SchemaError::BadBound {
        field: path.to_owned(),
        key,
        reason: reason.to_owned(),
    }
}

/// A `max_*` option must allow at least one unit and must not exceed the global limit.
fn check_max(
    path: &str,
    key: &'static str,
    value: Option<usize>,
    limit: usize,
) -> Result<(), SchemaError> {
    match value {
        Some(0) => Err(bad_bound(path, key, "must be at least 1")),
        Some(n) if n > limit => Err(bad_bound(path, key, &format!("must be at most {limit}"))),
        _ => Ok(()),
    }
}

fn check_float_bounds(path: &str, min: Option<f64>, max: Option<f64>) -> Result<(), SchemaError> {
    if min.is_some_and(|v| !v.is_finite()) {
        return Err(bad_bound(path, "min", "must be a finite number"));
    }
    if max.is_some_and(|v| !v.is_finite()) {
        return Err(bad_bound(path, "max", "must be a finite number"));
    }
    match (min, max) {
        (Some(lo), Some(hi)) if lo > hi => {
            Err(bad_bound(path, "min", "must not be greater than `max`"))
        }
        _ => Ok(()),
    }
}

fn check_enum_values(path: &str, values: &[String]) -> Result<(), SchemaError> {
    let bad = |reason: String| SchemaError::BadEnumValues {
        field: path.to_owned(),
        reason,
    };
    if values.is_empty() {
        return Err(SchemaError::EnumWithoutValues {
            field: path.to_owned(),
        });
    }
    if values.len() > ENUM_VALUES_MAX {
        return Err(bad(format!(
            "{} values, at most {ENUM_VALUES_MAX} allowed",
            values.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for (i, value) in values.iter().enumerate() {
        if value.is_empty() {
            return Err(bad(format!("value {i} is empty")));
        }
        if value.len() > ENUM_VALUE_BYTES_MAX {
            return Err(bad(format!(
                "value {i} is longer than {ENUM_VALUE_BYTES_MAX} bytes"
            )));
        }
        if !seen.insert(value.as_str()) {
            return Err(bad(format!("value {i} repeats an earlier value")));
        }
    }
    Ok(())
}
