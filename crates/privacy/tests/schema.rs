//! Schema document cases: parse errors, round trips and name rules, through one `check` helper.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use steward_privacy::limits::{
    FIELDS_MAX, LIST_ITEMS_MAX, LIST_NESTING_DEPTH_MAX, STRING_BYTES_MAX,
};
use steward_privacy::{
    EventTypeError, FieldSpec, FieldType, PrivacyClass, Schema, SchemaError, SchemaVersion,
    validate_event_type,
};

/// Parses `doc`; on success checks that writing it back and parsing again gives the same schema.
fn check(doc: Value, expect: Result<(), SchemaError>) {
    let got = Schema::from_json(&doc);
    match (&got, &expect) {
        (Ok(schema), Ok(())) => {
            let again = Schema::from_json(&schema.to_json()).expect("written schema parses");
            assert_eq!(&again, schema, "round trip of {doc}");
        }
        (Err(e), Err(want)) => {
            assert_eq!(e, want, "document {doc}");
            assert!(!e.to_string().is_empty());
        }
        _ => panic!("document {doc}: got {got:?}, expected {expect:?}"),
    }
}

/// A one-field document.
fn one(spec: Value) -> Value {
    json!({"fields": {"f": spec}})
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn valid_documents_round_trip() {
    let docs = [
        json!({"fields": {}}),
        json!({"fields": {}, "allow_unknown_fields": true, "description": "anything goes"}),
        json!({"fields": {"_x": {"type": "bool", "class": "public", "required": false, "description": null}}}),
        json!({"fields": {
            "email": {"type": "string", "class": "personal", "required": true, "max_length": 320, "description": "login"},
            "plan": {"type": "enum", "values": ["free", "premium"], "class": "public"},
            "tags": {"type": "list", "items": {"type": "string", "max_length": 10}, "class": "public", "max_items": 100},
            "grid": {"type": "list", "items": {"type": "list", "items": {"type": "enum", "values": ["a"]}}, "class": "sensitive"},
            "device": {"type": "object", "class": "sensitive"},
            "user_ref": {"type": "string", "class": "identifier"},
            "query": {"type": "string", "class": "free_text"},
            "ms_played": {"type": "int", "class": "public", "min": 0, "max": 86400000},
            "score": {"type": "float", "class": "public", "min": -0.5, "max": 1e300},
            "whole": {"type": "float", "class": "public", "min": 0},
            "released_at": {"type": "timestamp", "class": "public"}}}),
    ];
    for doc in docs {
        check(doc, Ok(()));
    }
}

#[test]
fn to_json_writes_the_canonical_document() {
    let doc = json!({"fields": {"plan": {"type": "enum", "values": ["a", "b"], "class": "public", "required": false},
                                "n": {"type": "int", "class": "personal", "required": true, "min": 1}}});
    let schema = Schema::from_json(&doc).expect("valid");
    assert_eq!(
        schema.to_json(),
        json!({"fields": {"n": {"type": "int", "class": "personal", "required": true, "min": 1},
                          "plan": {"type": "enum", "values": ["a", "b"], "class": "public"}},
               "allow_unknown_fields": false})
    );
}

#[test]
fn document_errors() {
    check(json!([]), Err(SchemaError::NotAnObject { found: "list" }));
    check(json!({}), Err(SchemaError::MissingFields));
    check(json!({"fields": null}), Err(SchemaError::MissingFields));
    check(
        json!({"fields": []}),
        Err(SchemaError::BadDocumentValue {
            key: "fields",
            expected: "an object",
            found: "list",
        }),
    );
    check(
        json!({"fields": {}, "strict": true}),
        Err(SchemaError::UnknownDocumentKey { key: s("strict") }),
    );
    check(
        json!({"fields": {}, "allow_unknown_fields": "yes"}),
        Err(SchemaError::BadDocumentValue {
            key: "allow_unknown_fields",
            expected: "a bool",
            found: "string",
        }),
    );
    check(
        json!({"fields": {}, "description": "x".repeat(5000)}),
        Err(SchemaError::BadDocumentValue {
            key: "description",
            expected: "a string of at most 4096 bytes",
            found: "a longer string",
        }),
    );
    let many: serde_json::Map<String, Value> = (0..=FIELDS_MAX)
        .map(|i| (format!("f{i}"), json!({"type": "bool", "class": "public"})))
        .collect();
    check(
        json!({"fields": many}),
        Err(SchemaError::TooManyFields {
            count: FIELDS_MAX + 1,
            max: FIELDS_MAX,
        }),
    );
}

#[test]
fn field_name_errors() {
    let spec = json!({"type": "bool", "class": "public"});
    for bad in ["", "Email", "1st", "e-mail", "a.b", "é", &"a".repeat(65)] {
        check(
            json!({"fields": {bad: spec.clone()}}),
            Err(SchemaError::InvalidFieldName {
                field: bad.to_owned(),
            }),
        );
    }
    for good in ["_", "a", "a1_b", &"a".repeat(64)] {
        check(json!({"fields": {good: spec.clone()}}), Ok(()));
    }
    // Long names are clipped in the error.
    let long = "A".repeat(1000);
    let err = Schema::from_json(&json!({"fields": {long: spec}})).expect_err("bad name");
    assert!(err.to_string().len() < 200);
}

#[test]
fn field_spec_errors() {
    let f = || s("f");
    let cases = [
        (
            json!("string"),
            SchemaError::SpecNotAnObject {
                field: f(),
                found: "string",
            },
        ),
        (
            json!({"class": "public"}),
            SchemaError::MissingType { field: f() },
        ),
        (
            json!({"type": 1, "class": "public"}),
            SchemaError::BadKeyValue {
                field: f(),
                key: "type",
                expected: "a string",
                found: "int",
            },
        ),
        (
            json!({"type": "strin", "class": "public"}),
            SchemaError::UnknownType {
                field: f(),
                found: s("strin"),
            },
        ),
        (
            json!({"type": "string"}),
            SchemaError::MissingClass { field: f() },
        ),
        (
            json!({"type": "string", "class": "secret"}),
            SchemaError::UnknownClass {
                field: f(),
                found: s("secret"),
            },
        ),
        (
            json!({"type": "string", "class": "public", "required": "yes"}),
            SchemaError::BadKeyValue {
                field: f(),
                key: "required",
                expected: "a bool",
                found: "string",
            },
        ),
        (
            json!({"type": "enum", "class": "public"}),
            SchemaError::EnumWithoutValues { field: f() },
        ),
        (
            json!({"type": "enum", "class": "public", "values": []}),
            SchemaError::EnumWithoutValues { field: f() },
        ),
        (
            json!({"type": "enum", "class": "public", "values": ["a", 2]}),
            SchemaError::BadEnumValues {
                field: f(),
                reason: s("value 1 is int, not a string"),
            },
        ),
        (
            json!({"type": "enum", "class": "public", "values": ["a", "a"]}),
            SchemaError::BadEnumValues {
                field: f(),
                reason: s("value 1 repeats an earlier value"),
            },
        ),
        (
            json!({"type": "enum", "class": "public", "values": [""]}),
            SchemaError::BadEnumValues {
                field: f(),
                reason: s("value 0 is empty"),
            },
        ),
        (
            json!({"type": "list", "class": "public"}),
            SchemaError::ListWithoutItems { field: f() },
        ),
        (
            json!({"type": "list", "class": "public", "items": "string"}),
            SchemaError::SpecNotAnObject {
                field: s("f.items"),
                found: "string",
            },
        ),
        (
            json!({"type": "list", "class": "public", "items": {"type": "nope"}}),
            SchemaError::UnknownType {
                field: s("f.items"),
                found: s("nope"),
            },
        ),
        (
            json!({"type": "list", "class": "public", "items": {"type": "string", "class": "public"}}),
            SchemaError::UnknownKey {
                field: s("f.items"),
                key: s("class"),
                field_type: "string",
            },
        ),
        (
            json!({"type": "list", "class": "public", "items": {"type": "enum"}}),
            SchemaError::EnumWithoutValues {
                field: s("f.items"),
            },
        ),
        (
            json!({"type": "int", "class": "public", "min": 5, "max": 1}),
            SchemaError::BadBound {
                field: f(),
                key: "min",
                reason: s("must not be greater than `max`"),
            },
        ),
        (
            json!({"type": "int", "class": "public", "min": 0.5}),
            SchemaError::BadBound {
                field: f(),
                key: "min",
                reason: s("must be a whole number that fits in 64 bits"),
            },
        ),
        (
            json!({"type": "int", "class": "public", "max": "10"}),
            SchemaError::BadKeyValue {
                field: f(),
                key: "max",
                expected: "a number",
                found: "string",
            },
        ),
        (
            json!({"type": "float", "class": "public", "min": 2.5, "max": 2}),
            SchemaError::BadBound {
                field: f(),
                key: "min",
                reason: s("must not be greater than `max`"),
            },
        ),
        (
            json!({"type": "string", "class": "public", "max_length": 0}),
            SchemaError::BadBound {
                field: f(),
                key: "max_length",
                reason: s("must be at least 1"),
            },
        ),
        (
            json!({"type": "string", "class": "public", "max_length": -3}),
            SchemaError::BadBound {
                field: f(),
                key: "max_length",
                reason: s("must be a whole number of at least 1"),
            },
        ),
        (
            json!({"type": "string", "class": "public", "max_length": STRING_BYTES_MAX + 1}),
            SchemaError::BadBound {
                field: f(),
                key: "max_length",
                reason: format!("must be at most {STRING_BYTES_MAX}"),
            },
        ),
        (
            json!({"type": "list", "class": "public", "items": {"type": "int"}, "max_items": LIST_ITEMS_MAX + 1}),
            SchemaError::BadBound {
                field: f(),
                key: "max_items",
                reason: format!("must be at most {LIST_ITEMS_MAX}"),
            },
        ),
        (
            json!({"type": "int", "class": "public", "max_length": 3}),
            SchemaError::UnknownKey {
                field: f(),
                key: s("max_length"),
                field_type: "int",
            },
        ),
        (
            json!({"type": "string", "class": "public", "requird": true}),
            SchemaError::UnknownKey {
                field: f(),
                key: s("requird"),
                field_type: "string",
            },
        ),
        (
            json!({"type": "int", "class": "identifier"}),
            SchemaError::ClassNotAllowed {
                field: f(),
                class: PrivacyClass::Identifier,
                field_type: "int",
            },
        ),
        (
            json!({"type": "string", "class": "public", "description": 7}),
            SchemaError::BadKeyValue {
                field: f(),
                key: "description",
                expected: "a string of at most 4096 bytes",
                found: "int",
            },
        ),
    ];
    for (spec, err) in cases {
        check(one(spec), Err(err));
    }
}

#[test]
fn list_nesting_is_bounded() {
    fn nest(levels: usize) -> Value {
        (0..levels).fold(
            json!({"type": "int"}),
            |inner, _| json!({"type": "list", "items": inner}),
        )
    }
    let deepest = {
        let mut spec = nest(LIST_NESTING_DEPTH_MAX);
        spec["class"] = json!("public");
        spec
    };
    check(one(deepest), Ok(()));
    let mut too_deep = nest(LIST_NESTING_DEPTH_MAX + 1);
    too_deep["class"] = json!("public");
    let path = format!("f{}", ".items".repeat(LIST_NESTING_DEPTH_MAX));
    check(
        one(too_deep),
        Err(SchemaError::TooDeep {
            field: path.clone(),
            max: LIST_NESTING_DEPTH_MAX,
        }),
    );
    // Schemas built in code get the same check.
    let mut field_type = FieldType::Int {
        min: None,
        max: None,
    };
    for _ in 0..=LIST_NESTING_DEPTH_MAX {
        field_type = FieldType::List {
            items: Box::new(field_type),
            max_items: None,
        };
    }
    let fields = BTreeMap::from([(s("f"), FieldSpec::new(field_type, PrivacyClass::Public))]);
    assert_eq!(
        Schema::new(fields, false, None),
        Err(SchemaError::TooDeep {
            field: path,
            max: LIST_NESTING_DEPTH_MAX
        })
    );
}

#[test]
fn schema_built_in_code_is_checked() {
    let bad_name = BTreeMap::from([(
        s("Nope"),
        FieldSpec::new(FieldType::Bool, PrivacyClass::Public),
    )]);
    assert_eq!(
        Schema::new(bad_name, false, None),
        Err(SchemaError::InvalidFieldName { field: s("Nope") })
    );
    let nan = BTreeMap::from([(
        s("x"),
        FieldSpec::new(
            FieldType::Float {
                min: Some(f64::NAN),
                max: None,
            },
            PrivacyClass::Public,
        ),
    )]);
    assert_eq!(
        Schema::new(nan, false, None),
        Err(SchemaError::BadBound {
            field: s("x"),
            key: "min",
            reason: s("must be a finite number")
        })
    );
    let ok = BTreeMap::from([(
        s("x"),
        FieldSpec::new(FieldType::Timestamp, PrivacyClass::Public),
    )]);
    let schema = Schema::new(ok, true, Some(s("d"))).expect("valid");
    assert!(schema.allow_unknown_fields());
    assert_eq!(schema.description(), Some("d"));
    assert_eq!(schema.fields().len(), 1);
    assert_eq!(
        schema.field("x").map(|f| f.class),
        Some(PrivacyClass::Public)
    );
    let version = SchemaVersion {
        event_type: s("play"),
        version: 1,
        schema: schema.clone(),
    };
    assert_eq!(version.schema, schema);
}

#[test]
fn schema_error_names_its_field() {
    let err = Schema::from_json(&one(
        json!({"type": "list", "class": "public", "items": {"type": "x"}}),
    ))
    .expect_err("bad");
    assert_eq!(err.field(), Some("f.items"));
    assert_eq!(SchemaError::MissingFields.field(), None);
}

#[test]
fn event_type_names() {
    let cases = [
        ("play", Ok(())),
        ("a", Ok(())),
        ("track_played_2", Ok(())),
        (&"a".repeat(64), Ok(())),
        ("", Err(EventTypeError::Empty)),
        (
            &"a".repeat(65),
            Err(EventTypeError::TooLong { len: 65, max: 64 }),
        ),
        ("_play", Err(EventTypeError::BadFirstChar)),
        ("1play", Err(EventTypeError::BadFirstChar)),
        ("Play", Err(EventTypeError::BadFirstChar)),
        ("play-ed", Err(EventTypeError::BadChar { index: 4 })),
        ("plaY", Err(EventTypeError::BadChar { index: 3 })),
        ("pläy", Err(EventTypeError::BadChar { index: 2 })),
    ];
    for (name, expect) in cases {
        assert_eq!(validate_event_type(name), expect, "event type {name:?}");
    }
}

#[test]
fn privacy_classes() {
    for class in PrivacyClass::ALL {
        assert_eq!(PrivacyClass::parse(class.as_str()), Some(class));
        assert_eq!(class.to_string(), class.as_str());
    }
    let sealed: Vec<_> = PrivacyClass::ALL
        .into_iter()
        .filter(|c| c.is_sealed())
        .map(PrivacyClass::as_str)
        .collect();
    assert_eq!(sealed, ["personal", "free_text", "sensitive"]);
    assert_eq!(PrivacyClass::parse("Personal"), None);
}
