//! Event validation: checking an event's properties against its schema and grouping them by privacy class.

use std::fmt::Display;

use serde_json::{Map, Number, Value};

use crate::class::PrivacyClass;
use crate::error::{FieldError, FieldErrorCode, clip};
use crate::field_type::FieldType;
use crate::limits::{FIELDS_MAX, NESTING_DEPTH_MAX, OBJECT_BYTES_MAX, STRING_BYTES_MAX};
use crate::schema::{Schema, validate_field_name};
use crate::timestamp::normalize_timestamp;
use crate::wire::json_type_name;

/// An event's properties after validation, grouped by what the caller must do with them.
///
/// Values are normalized: timestamps are canonical RFC 3339 in UTC (`...Z`), floats
/// given as integers are floats. Properties given as `null` are left out. Every group is
/// ordered by field name, so the same event always yields the same layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidatedProperties {
    /// `public` fields, stored in the clear.
    pub public: Map<String, Value>,
    /// `identifier` fields as (field, subject reference): the caller pseudonymizes them.
    pub identifiers: Vec<(String, String)>,
    /// Fields to seal under the subject key as (field, class, value): `personal`,
    /// `free_text`, `sensitive`, and unknown fields (as `personal`) when the schema allows them.
    pub sealed: Vec<(String, PrivacyClass, Value)>,
    /// Text to scan for PII as (field, action, text): `free_text` fields with a `pii` action
    /// other than `seal`, and undeclared string fields under `unknown_fields_pii`. The caller
    /// replaces what the scanner finds and stores the result in the clear.
    pub scan: Vec<(String, crate::pii::PiiAction, String)>,
}

impl Schema {
    /// Checks an event's properties; on failure returns every field error, sorted by field.
    ///
    /// Messages name the expected type or bound and the kind of value found, never
    /// the value: properties may be personal data and errors are logged and returned.
    /// `null` counts as absent, so it fails only for required fields.
    pub fn validate(
        &self,
        properties: &Map<String, Value>,
    ) -> Result<ValidatedProperties, Vec<FieldError>> {
        if properties.len() > FIELDS_MAX {
            let message = format!(
                "expected at most {FIELDS_MAX} properties, found {}",
                properties.len()
            );
            return Err(vec![FieldError {
                field: String::new(),
                code: FieldErrorCode::TooManyFields,
                message,
            }]);
        }
        let mut checker = Checker::default();
        for (name, spec) in self.fields() {
            if spec.required && properties.get(name).is_none_or(Value::is_null) {
                let message = format!("expected a {} value, found none", spec.field_type.name());
                checker.report(&Cursor::new(name), FieldErrorCode::MissingField, message);
            }
        }
        let mut names: Vec<&String> = properties.keys().collect();
        names.sort_unstable();
        let mut out = ValidatedProperties::default();
        for name in names {
            let value = &properties[name];
            self.check_property(name, value, &mut checker, &mut out);
        }
        if checker.errors.is_empty() {
            Ok(out)
        } else {
            checker.errors.sort_by(|a, b| a.0.cmp(&b.0));
            Err(checker.errors.into_iter().map(|(_, e)| e).collect())
        }
    }

    /// Checks one property and files its normalized value under its class.
    fn check_property(
        &self,
        name: &str,
        value: &Value,
        checker: &mut Checker,
        out: &mut ValidatedProperties,
    ) {
        let at = &mut Cursor::new(name);
        let Some(spec) = self.field(name) else {
            // The name is the caller's, not a path of the schema: the error is about the
            // properties object (empty path) and never repeats it.
            let properties = Cursor::new("");
            if !self.allow_unknown_fields() {
                let message =
                    "fields not named in the schema; expected only fields named in the schema"
                        .to_owned();
                checker.report(&properties, FieldErrorCode::UnknownField, message);
            } else if validate_field_name(name).is_err() {
                let message = "expected a field name matching ^[a-z_][a-z0-9_]{0,63}$".to_owned();
                checker.report(&properties, FieldErrorCode::InvalidFieldName, message);
            } else if !value.is_null() && checker.check_opaque(value, at) {
                match (self.unknown_fields_pii(), value) {
                    (Some(action), Value::String(text))
                        if action != crate::pii::PiiAction::Seal =>
                    {
                        out.scan.push((name.to_owned(), action, text.clone()));
                    }
                    _ => out
                        .sealed
                        .push((name.to_owned(), PrivacyClass::Personal, value.clone())),
                }
            }
            return;
        };
        if value.is_null() {
            return;
        }
        let Some(normalized) = checker.check_value(&spec.field_type, value, at) else {
            return;
        };
        match (spec.class, normalized) {
            (PrivacyClass::Public, v) => {
                out.public.insert(name.to_owned(), v);
            }
            (PrivacyClass::Identifier, Value::String(s)) => {
                out.identifiers.push((name.to_owned(), s))
            }
            // `Schema::new` only lets identifiers be strings; seal anything else rather than leak it.
            (PrivacyClass::Identifier, v) => {
                out.sealed
                    .push((name.to_owned(), PrivacyClass::Personal, v))
            }
            (PrivacyClass::FreeText, Value::String(text))
                if self
                    .pii_action(name)
                    .is_some_and(|a| a != crate::pii::PiiAction::Seal) =>
            {
                let action = self.pii_action(name).unwrap_or(crate::pii::PiiAction::Seal);
                out.scan.push((name.to_owned(), action, text));
            }
            (class, v) => out.sealed.push((name.to_owned(), class, v)),
        }
    }
}

/// Where in the properties a value sits: a top-level name, then list indices.
struct Cursor {
    name: String,
    indices: Vec<usize>,
}

impl Cursor {
    fn new(name: &str) -> Cursor {
        Cursor {
            name: clip(name),
            indices: Vec::new(),
        }
    }

    /// The dotted path clients see, e.g. `tags[3]`.
    fn render(&self) -> String {
        let mut path = self.name.clone();
        for i in &self.indices {
            path.push_str(&format!("[{i}]"));
        }
        path
    }
}

/// Collects errors with a sort key that orders `tags[2]` before `tags[10]`.
#[derive(Default)]
struct Checker {
    errors: Vec<((String, Vec<usize>), FieldError)>,
}

impl Checker {
    fn report(&mut self, at: &Cursor, code: FieldErrorCode, message: String) {
        // Errors about the properties object itself (unknown or invalid names, which are not
        // repeated) are reported once: errors stay unique per field.
        if at.name.is_empty()
            && at.indices.is_empty()
            && self
                .errors
                .iter()
                .any(|((name, indices), _)| name.is_empty() && indices.is_empty())
        {
            return;
        }
        let error = FieldError {
            field: at.render(),
            code,
            message,
        };
        self.errors
            .push(((at.name.clone(), at.indices.clone()), error));
    }

    fn wrong_type(&mut self, expected: &FieldType, value: &Value, at: &Cursor) {
        let message = format!(
            "expected {}, found {}",
            expected.name(),
            json_type_name(value)
        );
        self.report(at, FieldErrorCode::WrongType, message);
    }

    /// Checks `value` against `field_type`; the normalized value, or `None` after reporting.
    ///
    /// Recursion follows the schema's list nesting, which `Schema::new` bounds, never the value's.
    fn check_value(
        &mut self,
        field_type: &FieldType,
        value: &Value,
        at: &mut Cursor,
    ) -> Option<Value> {
        match (field_type, value) {
            (FieldType::String { max_length }, Value::String(s)) => {
                let max = FieldType::effective_max_length(*max_length);
                if s.len() > max {
                    let message = format!(
                        "expected a string of at most {max} bytes, found {} bytes",
                        s.len()
                    );
                    self.report(at, FieldErrorCode::TooLong, message);
                    return None;
                }
                Some(value.clone())
            }
            (FieldType::Int { min, max }, Value::Number(n)) if !n.is_f64() => {
                let lo = min.unwrap_or(i64::MIN);
                let hi = max.unwrap_or(i64::MAX);
                match n.as_i64() {
                    Some(i) if (lo..=hi).contains(&i) => Some(Value::from(i)),
                    _ => {
                        self.report(
                            at,
                            FieldErrorCode::OutOfRange,
                            range_message("int", Some(lo), Some(hi)),
                        );
                        None
                    }
                }
            }
            (FieldType::Float { min, max }, Value::Number(n)) => {
                self.check_float(*min, *max, n, at)
            }
            (FieldType::Bool, Value::Bool(_)) => Some(value.clone()),
            (FieldType::Timestamp, Value::String(s)) => {
                let normalized = normalize_timestamp(s).map(Value::String);
                if normalized.is_none() {
                    let message = "expected an RFC 3339 timestamp such as 2026-11-22T10:00:00Z, \
                                   found a string that is not one"
                        .to_owned();
                    self.report(at, FieldErrorCode::InvalidTimestamp, message);
                }
                normalized
            }
            (FieldType::Enum { values }, Value::String(s)) => {
                if values.iter().any(|v| v == s) {
                    return Some(value.clone());
                }
                self.report(at, FieldErrorCode::NotInEnum, enum_message(values));
                None
            }
            (FieldType::List { items, max_items }, Value::Array(list)) => {
                let max = FieldType::effective_max_items(*max_items);
                if list.len() > max {
                    let message = format!(
                        "expected a list of at most {max} items, found {} items",
                        list.len()
                    );
                    self.report(at, FieldErrorCode::TooManyItems, message);
                    return None;
                }
                self.check_items(items, list, at)
            }
            (FieldType::Object, Value::Object(_)) => {
                self.check_opaque(value, at).then(|| value.clone())
            }
            (expected, found) => {
                self.wrong_type(expected, found, at);
                None
            }
        }
    }

    fn check_float(
        &mut self,
        min: Option<f64>,
        max: Option<f64>,
        n: &Number,
        at: &Cursor,
    ) -> Option<Value> {
        let Some(f) = n.as_f64().filter(|f| f.is_finite()) else {
            self.report(
                at,
                FieldErrorCode::NotFinite,
                "expected a finite float, found one that is not".to_owned(),
            );
            return None;
        };
        if min.is_some_and(|lo| f < lo) || max.is_some_and(|hi| f > hi) {
            self.report(
                at,
                FieldErrorCode::OutOfRange,
                range_message("float", min, max),
            );
            return None;
        }
        Number::from_f64(f).map(Value::Number)
    }

    /// Checks every item, so one event reports all its bad items at once.
    fn check_items(&mut self, items: &FieldType, list: &[Value], at: &mut Cursor) -> Option<Value> {
        let mut out = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, item) in list.iter().enumerate() {
            at.indices.push(i);
            match self.check_value(items, item, at) {
                Some(v) if ok => out.push(v),
                Some(_) => {}
                None => ok = false,
            }
            at.indices.pop();
        }
        ok.then_some(Value::Array(out))
    }

    /// Bounds a value whose inside the schema does not describe (objects, unknown fields).
    ///
    /// Depth is checked first, which also bounds the recursion of the size check.
    fn check_opaque(&mut self, value: &Value, at: &Cursor) -> bool {
        if exceeds_depth(value, NESTING_DEPTH_MAX) {
            let message =
                format!("expected at most {NESTING_DEPTH_MAX} levels of nesting, found more");
            self.report(at, FieldErrorCode::TooDeep, message);
            return false;
        }
        let too_long = match value {
            Value::String(s) if s.len() > STRING_BYTES_MAX => Some(format!(
                "expected a string of at most {STRING_BYTES_MAX} bytes, found {} bytes",
                s.len()
            )),
            _ if !fits_json_bytes(value, OBJECT_BYTES_MAX) => Some(format!(
                "expected at most {OBJECT_BYTES_MAX} bytes of JSON, found more"
            )),
            _ => None,
        };
        match too_long {
            Some(message) => {
                self.report(at, FieldErrorCode::TooLong, message);
                false
            }
            None => true,
        }
    }
}

fn range_message<T: Display>(kind: &str, min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("expected {kind} between {lo} and {hi}, found one outside"),
        (Some(lo), None) => format!("expected {kind} of at least {lo}, found a smaller one"),
        (None, Some(hi)) => format!("expected {kind} of at most {hi}, found a larger one"),
        (None, None) => format!("expected {kind} in range, found one outside"),
    }
}

/// Names the allowed values (they come from the schema, not the event), a few at most.
fn enum_message(values: &[String]) -> String {
    const SHOWN_MAX: usize = 8;
    let shown: Vec<&str> = values.iter().take(SHOWN_MAX).map(String::as_str).collect();
    let more = if values.len() > SHOWN_MAX {
        format!(" and {} more", values.len() - SHOWN_MAX)
    } else {
        String::new()
    };
    format!(
        "expected one of {}{more}, found another string",
        shown.join(", ")
    )
}

/// Whether `value` nests arrays and objects more than `budget` levels deep.
///
/// Stops descending once the budget is spent, so recursion is bounded by `budget`
/// whatever the value's depth.
fn exceeds_depth(value: &Value, budget: usize) -> bool {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return false,
    };
    match budget.checked_sub(1) {
        None => true,
        Some(left) => children.into_iter().any(|child| exceeds_depth(child, left)),
    }
}

/// Whether `value` serializes to at most `max` bytes of compact JSON; stops writing at the limit.
fn fits_json_bytes(value: &Value, max: usize) -> bool {
    struct Budget(usize);
    impl std::io::Write for Budget {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self
                .0
                .checked_sub(buf.len())
                .ok_or_else(|| std::io::Error::other("over budget"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Budget(max), value).is_ok()
}
