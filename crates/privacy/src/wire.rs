//! The JSON shape of schema documents: parsing them by hand from `serde_json::Value` and writing them back.
//!
//! This is the one place that knows the document's keys, so the domain types stay
//! free of serde and the wire shape can evolve without touching validation.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::class::PrivacyClass;
use crate::error::{SchemaError, clip};
use crate::field_type::FieldType;
use crate::limits::{FIELDS_MAX, LIST_NESTING_DEPTH_MAX};
use crate::pii::PiiAction;
use crate::schema::{DESCRIPTION_EXPECTED, FieldSpec, Schema, validate_field_name};

const DOCUMENT_KEYS: [&str; 5] = [
    "fields",
    "allow_unknown_fields",
    "description",
    "retention",
    "unknown_fields_pii",
];
/// `retention`: a count and a unit, `s`, `m`, `h` or `d` (`"30d"`), at most 100 years.
const RETENTION_EXPECTED: &str =
    "a duration like \"30d\", \"12h\", \"90m\" or \"45s\" (at most 100 years)";
const RETENTION_SECONDS_MAX: u64 = 100 * 365 * 86_400;

/// Parses a retention like `"30d"` into seconds.
fn parse_retention(text: &str) -> Option<u64> {
    let (count, unit) = text.split_at(text.len().checked_sub(1)?);
    let count: u64 = count.parse().ok().filter(|c| *c > 0)?;
    let seconds = count.checked_mul(match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    })?;
    (seconds <= RETENTION_SECONDS_MAX).then_some(seconds)
}

fn format_retention(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}
/// Keys of a top-level field spec that are not type options; list item specs take none of them.
const FIELD_KEYS: [&str; 4] = ["class", "required", "description", "pii"];
const PII_EXPECTED: &str = "one of redact, mask, tokenize, seal";

impl Schema {
    /// Parses and checks a schema document (the body of `PUT .../schemas/{event_type}`).
    ///
    /// `null` counts as absent for optional keys. Fields are checked in name order,
    /// so the first error reported does not depend on the document's key order.
    pub fn from_json(doc: &Value) -> Result<Schema, SchemaError> {
        let obj = doc.as_object().ok_or(SchemaError::NotAnObject {
            found: json_type_name(doc),
        })?;
        if let Some(key) = sorted_keys(obj)
            .into_iter()
            .find(|k| !DOCUMENT_KEYS.contains(k))
        {
            return Err(SchemaError::UnknownDocumentKey { key: clip(key) });
        }
        let fields = match get_opt(obj, "fields") {
            Some(Value::Object(fields)) => fields,
            Some(other) => return Err(bad_doc("fields", "an object", other)),
            None => return Err(SchemaError::MissingFields),
        };
        let allow_unknown_fields = match get_opt(obj, "allow_unknown_fields") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(bad_doc("allow_unknown_fields", "a bool", other)),
        };
        let description = match get_opt(obj, "description") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(bad_doc("description", DESCRIPTION_EXPECTED, other)),
        };
        if fields.len() > FIELDS_MAX {
            return Err(SchemaError::TooManyFields {
                count: fields.len(),
                max: FIELDS_MAX,
            });
        }
        let mut specs = BTreeMap::new();
        let mut pii = BTreeMap::new();
        for name in sorted_keys(fields) {
            validate_field_name(name)?;
            let spec = parse_field(name, &fields[name])?;
            specs.insert(name.to_owned(), spec);
            match fields[name].get("pii") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    let action = PiiAction::parse(s).ok_or(SchemaError::BadKeyValue {
                        field: name.to_owned(),
                        key: "pii",
                        expected: PII_EXPECTED,
                        found: "another string",
                    })?;
                    pii.insert(name.to_owned(), action);
                }
                Some(other) => return Err(bad_key(name, "pii", PII_EXPECTED, other)),
            }
        }
        let unknown_pii = match get_opt(obj, "unknown_fields_pii") {
            None => None,
            Some(Value::String(s)) => {
                Some(PiiAction::parse(s).ok_or(SchemaError::BadDocumentValue {
                    key: "unknown_fields_pii",
                    expected: PII_EXPECTED,
                    found: "another string",
                })?)
            }
            Some(other) => return Err(bad_doc("unknown_fields_pii", PII_EXPECTED, other)),
        };
        let retention = match get_opt(obj, "retention") {
            None => None,
            Some(Value::String(s)) => {
                Some(parse_retention(s).ok_or(SchemaError::BadDocumentValue {
                    key: "retention",
                    expected: RETENTION_EXPECTED,
                    found: "another string",
                })?)
            }
            Some(other) => return Err(bad_doc("retention", RETENTION_EXPECTED, other)),
        };
        Schema::new(specs, allow_unknown_fields, description)?
            .with_retention(retention)
            .with_pii(pii, unknown_pii)
    }

    /// Writes the schema as a document that [`Schema::from_json`] reads back equal.
    ///
    /// Defaults (`required: false`, absent options) are left out; `allow_unknown_fields`
    /// is always written so a reader sees the policy without knowing the default.
    pub fn to_json(&self) -> Value {
        let fields: Map<String, Value> = self
            .fields()
            .map(|(name, spec)| {
                let mut json = field_to_json(spec);
                if let Some(action) = self.pii_action(name) {
                    json["pii"] = Value::from(action.as_str());
                }
                (name.to_owned(), json)
            })
            .collect();
        let mut doc = Map::new();
        doc.insert("fields".into(), Value::Object(fields));
        doc.insert(
            "allow_unknown_fields".into(),
            Value::Bool(self.allow_unknown_fields()),
        );
        if let Some(description) = self.description() {
            doc.insert("description".into(), Value::from(description));
        }
        if let Some(action) = self.unknown_fields_pii() {
            doc.insert("unknown_fields_pii".into(), Value::from(action.as_str()));
        }
        if let Some(seconds) = self.retention_seconds() {
            doc.insert("retention".into(), Value::from(format_retention(seconds)));
        }
        Value::Object(doc)
    }
}

/// The JSON kind of a value as named in messages; numbers are `int` or `float` by their form.
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Keys in byte order, independent of whether serde_json preserves insertion order.
fn sorted_keys(obj: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn get_opt<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn bad_doc(key: &'static str, expected: &'static str, found: &Value) -> SchemaError {
    SchemaError::BadDocumentValue {
        key,
        expected,
        found: json_type_name(found),
    }
}

fn bad_key(field: &str, key: &'static str, expected: &'static str, found: &Value) -> SchemaError {
    SchemaError::BadKeyValue {
        field: field.to_owned(),
        key,
        expected,
        found: json_type_name(found),
    }
}

fn parse_field(name: &str, value: &Value) -> Result<FieldSpec, SchemaError> {
    let spec = value
        .as_object()
        .ok_or_else(|| SchemaError::SpecNotAnObject {
            field: name.to_owned(),
            found: json_type_name(value),
        })?;
    let field_type = parse_type(name, spec, true, 1)?;
    let class = match get_opt(spec, "class") {
        None => {
            return Err(SchemaError::MissingClass {
                field: name.to_owned(),
            });
        }
        Some(Value::String(s)) => {
            PrivacyClass::parse(s).ok_or_else(|| SchemaError::UnknownClass {
                field: name.to_owned(),
                found: clip(s),
            })?
        }
        Some(other) => return Err(bad_key(name, "class", "a string", other)),
    };
    let required = match get_opt(spec, "required") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(bad_key(name, "required", "a bool", other)),
    };
    let description = match get_opt(spec, "description") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(bad_key(name, "description", DESCRIPTION_EXPECTED, other)),
    };
    Ok(FieldSpec {
        field_type,
        class,
        required,
        description,
    })
}

/// The type names of documents with the option keys each accepts.
fn type_keys(type_name: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match type_name {
        "string" => ("string", &["max_length"]),
        "int" => ("int", &["min", "max"]),
        "float" => ("float", &["min", "max"]),
        "bool" => ("bool", &[]),
        "timestamp" => ("timestamp", &[]),
        "enum" => ("enum", &["values"]),
        "list" => ("list", &["items", "max_items"]),
        "object" => ("object", &[]),
        _ => return None,
    })
}

/// Parses the type part of a spec; `is_field` is false for list item specs.
///
/// `list_depth` bounds the recursion through `items`, so a hostile document
/// cannot nest lists until the stack runs out.
fn parse_type(
    path: &str,
    spec: &Map<String, Value>,
    is_field: bool,
    list_depth: usize,
) -> Result<FieldType, SchemaError> {
    let type_name = match get_opt(spec, "type") {
        None => {
            return Err(SchemaError::MissingType {
                field: path.to_owned(),
            });
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(bad_key(path, "type", "a string", other)),
    };
    let (name, options) = type_keys(type_name).ok_or_else(|| SchemaError::UnknownType {
        field: path.to_owned(),
        found: clip(type_name),
    })?;
    let allowed = |key: &str| {
        key == "type" || options.contains(&key) || (is_field && FIELD_KEYS.contains(&key))
    };
    if let Some(key) = sorted_keys(spec).into_iter().find(|k| !allowed(k)) {
        return Err(SchemaError::UnknownKey {
            field: path.to_owned(),
            key: clip(key),
            field_type: name,
        });
    }
    Ok(match name {
        "string" => FieldType::String {
            max_length: opt_count(path, spec, "max_length")?,
        },
        "int" => FieldType::Int {
            min: opt_i64(path, spec, "min")?,
            max: opt_i64(path, spec, "max")?,
        },
        "float" => FieldType::Float {
            min: opt_f64(path, spec, "min")?,
            max: opt_f64(path, spec, "max")?,
        },
        "bool" => FieldType::Bool,
        "timestamp" => FieldType::Timestamp,
        "enum" => FieldType::Enum {
            values: enum_values(path, spec)?,
        },
        "list" => parse_list(path, spec, list_depth)?,
        _ => FieldType::Object,
    })
}

fn parse_list(
    path: &str,
    spec: &Map<String, Value>,
    list_depth: usize,
) -> Result<FieldType, SchemaError> {
    let items_path = format!("{path}.items");
    let items = match get_opt(spec, "items") {
        None => {
            return Err(SchemaError::ListWithoutItems {
                field: path.to_owned(),
            });
        }
        Some(Value::Object(items)) => items,
        Some(other) => {
            return Err(SchemaError::SpecNotAnObject {
                field: items_path,
                found: json_type_name(other),
            });
        }
    };
    let items_are_list = matches!(items.get("type"), Some(Value::String(t)) if t == "list");
    if items_are_list && list_depth >= LIST_NESTING_DEPTH_MAX {
        return Err(SchemaError::TooDeep {
            field: items_path,
            max: LIST_NESTING_DEPTH_MAX,
        });
    }
    let items = parse_type(&items_path, items, false, list_depth + 1)?;
    Ok(FieldType::List {
        items: Box::new(items),
        max_items: opt_count(path, spec, "max_items")?,
    })
}

fn enum_values(path: &str, spec: &Map<String, Value>) -> Result<Vec<String>, SchemaError> {
    let values = match get_opt(spec, "values") {
        None => {
            return Err(SchemaError::EnumWithoutValues {
                field: path.to_owned(),
            });
        }
        Some(Value::Array(values)) => values,
        Some(other) => return Err(bad_key(path, "values", "a list of strings", other)),
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(SchemaError::BadEnumValues {
                field: path.to_owned(),
                reason: format!("value {i} is {}, not a string", json_type_name(other)),
            }),
        })
        .collect()
}

fn bad_bound(path: &str, key: &'static str, reason: &str) -> SchemaError {
    SchemaError::BadBound {
        field: path.to_owned(),
        key,
        reason: reason.to_owned(),
    }
}

/// A `max_*` count: a whole number; zero and the upper limit are checked by `FieldType::check`.
fn opt_count(
    path: &str,
    spec: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<usize>, SchemaError> {
    match get_opt(spec, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| Some(usize::try_from(v).unwrap_or(usize::MAX)))
            .ok_or_else(|| bad_bound(path, key, "must be a whole number of at least 1")),
        Some(other) => Err(bad_key(path, key, "a whole number", other)),
    }
}

fn opt_i64(
    path: &str,
    spec: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<i64>, SchemaError> {
    match get_opt(spec, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad_bound(path, key, "must be a whole number that fits in 64 bits")),
        Some(other) => Err(bad_key(path, key, "a number", other)),
    }
}

fn opt_f64(
    path: &str,
    spec: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<f64>, SchemaError> {
    match get_opt(spec, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| bad_bound(path, key, "must be a finite number")),
        Some(other) => Err(bad_key(path, key, "a number", other)),
    }
}

fn field_to_json(spec: &FieldSpec) -> Value {
    let mut obj = type_to_json(&spec.field_type);
    obj.insert("class".into(), Value::from(spec.class.as_str()));
    if spec.required {
        obj.insert("required".into(), Value::Bool(true));
    }
    if let Some(description) = &spec.description {
        obj.insert("description".into(), Value::from(description.as_str()));
    }
    Value::Object(obj)
}

fn type_to_json(field_type: &FieldType) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("type".into(), Value::from(field_type.name()));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            obj.insert(key.into(), value);
        }
    };
    match field_type {
        FieldType::String { max_length } => put("max_length", max_length.map(Value::from)),
        FieldType::Int { min, max } => {
            put("min", min.map(Value::from));
            put("max", max.map(Value::from));
        }
        FieldType::Float { min, max } => {
            put("min", min.and_then(float_json));
            put("max", max.and_then(float_json));
        }
        FieldType::Enum { values } => put("values", Some(Value::from(values.clone()))),
        FieldType::List { items, max_items } => {
            put("items", Some(Value::Object(type_to_json(items))));
            put("max_items", max_items.map(Value::from));
        }
        FieldType::Bool | FieldType::Timestamp | FieldType::Object => {}
    }
    obj
}

/// Float bounds are finite (checked by `Schema::new`), so this never drops one.
fn float_json(v: f64) -> Option<Value> {
    serde_json::Number::from_f64(v).map(Value::Number)
}
