//! Business filters on item properties for serving calls.
//!
//! `{"genre": "rock", "year": {"gte": 1990, "lt": 2000}, "tags": {"in": ["a", "b"]}}`: every
//! condition must hold. A plain value is equality (for a list-of-strings property: the list
//! contains it); `in` takes a list of values (any one matches); `gt`, `gte`, `lt`, `lte` compare
//! numbers, or timestamps and other strings in their text order; `ne` is inequality; `exists`
//! true/false tests presence. An item without the property fails every condition on it except
//! `ne` and `exists: false`. Items missing from the catalog fail a filter with any condition.
//! Bounded: conditions, values per `in`, and the text of each value.

use serde_json::{Map, Value};

use crate::ServeError;

/// Conditions in one filter.
pub const CONDITIONS_MAX: usize = 32;
/// Values in one `in` list.
pub const IN_VALUES_MAX: usize = 1_000;
/// Bytes of one string value.
pub const VALUE_BYTES_MAX: usize = 1_024;

#[derive(Clone, Debug, PartialEq)]
enum Test {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    /// Boxed: four values would make every condition as large as a range.
    Range(Box<Bounds>),
    Exists(bool),
}

#[derive(Clone, Debug, PartialEq)]
struct Bounds {
    gt: Option<Value>,
    gte: Option<Value>,
    lt: Option<Value>,
    lte: Option<Value>,
}

/// A parsed filter: (property, test) pairs, all of which must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemFilter {
    conditions: Vec<(String, Test)>,
}

fn bad(reason: &'static str) -> ServeError {
    ServeError::invalid("invalid_filter", "filter", reason)
}

fn scalar(value: &Value) -> Result<Value, ServeError> {
    match value {
        Value::String(s) if s.len() > VALUE_BYTES_MAX => Err(bad("a value is too long")),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(value.clone()),
        _ => Err(bad("values must be strings, numbers or booleans")),
    }
}

impl ItemFilter {
    pub fn parse(value: &Value) -> Result<ItemFilter, ServeError> {
        let map = match value {
            Value::Null => return Ok(ItemFilter::default()),
            Value::Object(map) => map,
            _ => return Err(bad("expected an object of property conditions")),
        };
        if map.len() > CONDITIONS_MAX {
            return Err(bad("too many conditions"));
        }
        let mut conditions = Vec::with_capacity(map.len());
        for (property, test) in map {
            if property.is_empty() || property.len() > 128 {
                return Err(bad("a property name is empty or too long"));
            }
            conditions.push((property.clone(), Self::test(test)?));
        }
        Ok(ItemFilter { conditions })
    }

    fn test(value: &Value) -> Result<Test, ServeError> {
        let Value::Object(ops) = value else {
            return Ok(Test::Eq(scalar(value)?));
        };
        if let Some(list) = ops.get("in") {
            if ops.len() != 1 {
                return Err(bad("in stands alone in its condition"));
            }
            let Value::Array(values) = list else {
                return Err(bad("in takes a list"));
            };
            if values.len() > IN_VALUES_MAX {
                return Err(bad("too many values in a list"));
            }
            return Ok(Test::In(
                values.iter().map(scalar).collect::<Result<_, _>>()?,
            ));
        }
        if let Some(v) = ops.get("ne") {
            if ops.len() != 1 {
                return Err(bad("ne stands alone in its condition"));
            }
            return Ok(Test::Ne(scalar(v)?));
        }
        if let Some(v) = ops.get("exists") {
            if ops.len() != 1 {
                return Err(bad("exists stands alone in its condition"));
            }
            return v
                .as_bool()
                .map(Test::Exists)
                .ok_or_else(|| bad("exists takes true or false"));
        }
        let mut range = (None, None, None, None);
        for (op, v) in ops {
            let v = Some(scalar(v)?);
            match op.as_str() {
                "gt" => range.0 = v,
                "gte" => range.1 = v,
                "lt" => range.2 = v,
                "lte" => range.3 = v,
                _ => return Err(bad("unknown operator (in, ne, exists, gt, gte, lt, lte)")),
            }
        }
        if ops.is_empty() {
            return Err(bad("an empty condition"));
        }
        Ok(Test::Range(Box::new(Bounds {
            gt: range.0,
            gte: range.1,
            lt: range.2,
            lte: range.3,
        })))
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Whether an item with these properties passes (`None`: not in the catalog).
    pub fn keeps(&self, properties: Option<&Map<String, Value>>) -> bool {
        if self.conditions.is_empty() {
            return true;
        }
        let Some(properties) = properties else {
            return false;
        };
        self.conditions
            .iter()
            .all(|(name, test)| passes(test, properties.get(name)))
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(list), wanted) => list.iter().any(|v| equal(v, wanted)),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn passes(test: &Test, value: Option<&Value>) -> bool {
    use std::cmp::Ordering::{Greater, Less};
    match (test, value) {
        (Test::Exists(wanted), v) => v.is_some_and(|v| !v.is_null()) == *wanted,
        (Test::Ne(x), Some(v)) => !equal(v, x),
        (Test::Ne(_), None) => true,
        (_, None) => false,
        (Test::Eq(x), Some(v)) => equal(v, x),
        (Test::In(xs), Some(v)) => xs.iter().any(|x| equal(v, x)),
        (Test::Range(bounds), Some(v)) => {
            let Bounds { gt, gte, lt, lte } = &**bounds;
            let ok = |bound: &Option<Value>, good: &[std::cmp::Ordering]| {
                bound
                    .as_ref()
                    .is_none_or(|b| order(v, b).is_some_and(|o| good.contains(&o)))
            };
            ok(gt, &[Greater])
                && ok(gte, &[Greater, std::cmp::Ordering::Equal])
                && ok(lt, &[Less])
                && ok(lte, &[Less, std::cmp::Ordering::Equal])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn conditions_hold_as_documented() {
        let item = props(
            json!({"genre": "rock", "year": 1994, "tags": ["live", "90s"], "price": 9.5, "ok": true}),
        );
        let keeps = |f: Value| ItemFilter::parse(&f).unwrap().keeps(Some(&item));
        assert!(keeps(json!({})));
        assert!(keeps(json!({"genre": "rock"})));
        assert!(!keeps(json!({"genre": "pop"})));
        assert!(keeps(json!({"tags": "live"})));
        assert!(!keeps(json!({"tags": "studio"})));
        assert!(keeps(json!({"genre": {"in": ["pop", "rock"]}})));
        assert!(!keeps(json!({"genre": {"in": ["pop", "jazz"]}})));
        assert!(keeps(json!({"year": {"gte": 1990, "lt": 2000}})));
        assert!(!keeps(json!({"year": {"gt": 1994}})));
        assert!(keeps(json!({"year": {"lte": 1994}, "price": {"lt": 10}})));
        assert!(keeps(json!({"year": 1994.0})));
        assert!(keeps(json!({"ok": true, "genre": {"ne": "pop"}})));
        assert!(!keeps(json!({"missing": "x"})));
        assert!(keeps(json!({"missing": {"ne": "x"}})));
        assert!(keeps(json!({"missing": {"exists": false}})));
        assert!(!keeps(json!({"genre": {"exists": false}})));
        assert!(
            !keeps(json!({"genre": {"gt": 5}})),
            "a string never compares with a number"
        );
        let filter = ItemFilter::parse(&json!({"genre": "rock"})).unwrap();
        assert!(
            !filter.keeps(None),
            "an item outside the catalog fails a filter"
        );
        assert!(ItemFilter::default().keeps(None));
    }

    #[test]
    fn bad_filters_are_typed_errors_that_never_echo() {
        let long = "x".repeat(VALUE_BYTES_MAX + 1);
        let many: Map<String, Value> = (0..=CONDITIONS_MAX)
            .map(|i| (format!("p{i}"), json!(1)))
            .collect();
        for bad in [
            json!("CANARY"),
            json!({"a": {"op": "CANARY"}}),
            json!({"a": {"in": "CANARY"}}),
            json!({"a": {"in": [1], "gt": 2}}),
            json!({"a": {}}),
            json!({"a": {"exists": "CANARY"}}),
            json!({"a": [1, 2]}),
            json!({"a": {"in": [{"x": "CANARY"}]}}),
            json!({ "a": long }),
            json!({"a": {"in": vec![1; IN_VALUES_MAX + 1]}}),
            Value::Object(many),
        ] {
            let e = ItemFilter::parse(&bad).unwrap_err();
            assert_eq!(e.code(), "invalid_filter");
            assert!(!e.to_string().contains("CANARY"), "{e}");
        }
    }
}
