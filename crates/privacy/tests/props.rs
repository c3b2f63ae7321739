//! Property tests: schema documents round-trip, and validation never panics on arbitrary JSON.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use steward_privacy::limits::LIST_NESTING_DEPTH_MAX;
use steward_privacy::{FieldSpec, FieldType, PrivacyClass, Schema};

fn field_name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,12}"
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e12..1e12f64,
        any::<f64>().prop_filter("finite", |f| f.is_finite())
    ]
}

fn ordered<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> (Option<T>, Option<T>) {
    match (a, b) {
        (Some(x), Some(y)) if x > y => (Some(y), Some(x)),
        other => other,
    }
}

fn scalar_type() -> impl Strategy<Value = FieldType> {
    prop_oneof![
        proptest::option::of(1..=65_536usize)
            .prop_map(|max_length| FieldType::String { max_length }),
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>())
        )
            .prop_map(|(a, b)| {
                let (min, max) = ordered(a, b);
                FieldType::Int { min, max }
            }),
        (
            proptest::option::of(finite()),
            proptest::option::of(finite())
        )
            .prop_map(|(a, b)| {
                let (min, max) = ordered(a, b);
                FieldType::Float { min, max }
            }),
        Just(FieldType::Bool),
        Just(FieldType::Timestamp),
        Just(FieldType::Object),
        proptest::collection::btree_set("[a-zA-Z0-9 _-]{1,12}", 1..6).prop_map(|values| {
            FieldType::Enum {
                values: values.into_iter().collect(),
            }
        }),
    ]
}

fn field_type() -> impl Strategy<Value = FieldType> {
    scalar_type().prop_recursive(LIST_NESTING_DEPTH_MAX as u32, 8, 1, |inner| {
        (inner, proptest::option::of(1..=1_000usize)).prop_map(|(items, max_items)| {
            FieldType::List {
                items: Box::new(items),
                max_items,
            }
        })
    })
}

fn class() -> impl Strategy<Value = PrivacyClass> {
    proptest::sample::select(PrivacyClass::ALL.to_vec())
}

fn field_spec() -> impl Strategy<Value = FieldSpec> {
    (
        field_type(),
        class(),
        any::<bool>(),
        proptest::option::of(".{0,20}"),
    )
        .prop_map(|(field_type, class, required, description)| {
            // Only strings may be identifiers; anything else becomes public.
            let class = match (&field_type, class) {
                (FieldType::String { .. }, c) => c,
                (_, PrivacyClass::Identifier) => PrivacyClass::Public,
                (_, c) => c,
            };
            FieldSpec {
                field_type,
                class,
                required,
                description,
            }
        })
}

fn schema() -> impl Strategy<Value = Schema> {
    (
        proptest::collection::btree_map(field_name(), field_spec(), 0..12),
        any::<bool>(),
        proptest::option::of(".{0,40}"),
    )
        .prop_map(
            |(fields, allow, description): (BTreeMap<String, FieldSpec>, bool, Option<String>)| {
                Schema::new(fields, allow, description).expect("strategy builds valid schemas")
            },
        )
}

/// Arbitrary JSON, biased toward values that look like what schemas expect.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite().prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
        "(19|20|99)[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9])"
            .prop_map(Value::String),
        proptest::sample::select(vec!["free", "premium", "a", "b"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,6}|.{0,8}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Properties whose keys are mostly the schema's own field names, so values reach the type checks.
fn properties_for(schema: &Schema) -> impl Strategy<Value = Map<String, Value>> + use<> {
    let mut names: Vec<String> = schema.fields().map(|(n, _)| n.to_owned()).collect();
    names.push("unknown_field".to_owned());
    names.push("Not-A-Name".to_owned());
    // No brackets in random names, so error paths parse back into a sort key.
    let key = prop_oneof![3 => proptest::sample::select(names), 1 => "[^\\[\\]]{0,10}"];
    proptest::collection::btree_map(key, json_value(), 0..10).prop_map(|m| m.into_iter().collect())
}

fn brief_schema() -> Schema {
    Schema::from_json(&json!({"fields": {
        "email": {"type": "string", "class": "personal", "required": true, "max_length": 320},
        "plan": {"type": "enum", "values": ["free", "premium"], "class": "public"},
        "tags": {"type": "list", "items": {"type": "list", "items": {"type": "timestamp"}}, "class": "public", "max_items": 3},
        "device": {"type": "object", "class": "sensitive"},
        "user_ref": {"type": "string", "class": "identifier"},
        "ms_played": {"type": "int", "class": "public", "min": 0, "max": 86400000},
        "score": {"type": "float", "class": "public", "min": 0},
        "liked": {"type": "bool", "class": "public"}}, "allow_unknown_fields": true}))
    .expect("valid")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn schema_round_trips_through_json(schema in schema()) {
        let doc = schema.to_json();
        prop_assert_eq!(Schema::from_json(&doc), Ok(schema.clone()));
        // And through text, as the registry stores it.
        let text = serde_json::to_string(&doc).expect("serializes");
        let reparsed: Value = serde_json::from_str(&text).expect("parses");
        prop_assert_eq!(Schema::from_json(&reparsed), Ok(schema));
    }

    #[test]
    fn from_json_never_panics(doc in json_value()) {
        let _ = Schema::from_json(&doc);
        let _ = Schema::from_json(&json!({"fields": {"f": doc}}));
    }

    #[test]
    fn validate_never_panics_and_errors_are_sorted(
        (schema, props) in schema().prop_flat_map(|s| { let p = properties_for(&s); (Just(s), p) })
    ) {
        check_outcome(&schema, &props)?;
    }

    #[test]
    fn validate_brief_schema_on_arbitrary_json(props in properties_for(&brief_schema())) {
        check_outcome(&brief_schema(), &props)?;
    }
}

/// Splits `tags[3][1]` into ("tags", [3, 1]), the order errors are promised in.
fn sort_key(path: &str) -> (String, Vec<usize>) {
    let (name, rest) = path.split_at(path.find('[').unwrap_or(path.len()));
    let indices = rest
        .split(['[', ']'])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("index"))
        .collect();
    (name.to_owned(), indices)
}

/// Validation never panics; errors come sorted and unique per field; successes only hold known or allowed fields.
fn check_outcome(schema: &Schema, props: &Map<String, Value>) -> Result<(), TestCaseError> {
    match schema.validate(props) {
        Ok(v) => {
            let mut seen: Vec<&str> = v.public.keys().map(String::as_str).collect();
            seen.extend(v.identifiers.iter().map(|(k, _)| k.as_str()));
            seen.extend(v.sealed.iter().map(|(k, _, _)| k.as_str()));
            for name in seen {
                let known = schema.field(name).is_some();
                prop_assert!(
                    known || schema.allow_unknown_fields(),
                    "unexpected field {}",
                    name
                );
                prop_assert!(props.contains_key(name));
            }
            for (name, class, _) in &v.sealed {
                prop_assert!(class.is_sealed(), "{} filed as {}", name, class);
            }
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.message.is_empty());
            }
            let keys: Vec<(String, Vec<usize>)> =
                errors.iter().map(|e| sort_key(&e.field)).collect();
            prop_assert!(
                keys.windows(2).all(|w| w[0] < w[1]),
                "not sorted or repeated: {:?}",
                keys
            );
        }
    }
    Ok(())
}
