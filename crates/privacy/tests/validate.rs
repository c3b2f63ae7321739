//! Event validation cases, all through one `check(schema, event, expect)` helper.

use serde_json::{Map, Value, json};
use steward_privacy::limits::{FIELDS_MAX, NESTING_DEPTH_MAX, OBJECT_BYTES_MAX};
use steward_privacy::{FieldError, Schema, ValidatedProperties};

/// A string no message may ever contain: it stands for personal data in a value.
const CANARY: &str = "CANARY-7f3a-jane@example.org";

/// The schema document from the design brief, plus a list of lists and a list of timestamps.
fn base() -> Value {
    json!({"fields": {
        "email": {"type": "string", "class": "personal", "required": true, "max_length": 320},
        "track_id": {"type": "string", "class": "public"},
        "plan": {"type": "enum", "values": ["free", "premium"], "class": "public"},
        "tags": {"type": "list", "items": {"type": "string", "max_length": 16}, "class": "public", "max_items": 100},
        "device": {"type": "object", "class": "sensitive"},
        "user_ref": {"type": "string", "class": "identifier"},
        "query": {"type": "string", "class": "free_text"},
        "ms_played": {"type": "int", "class": "public", "min": 0, "max": 86400000},
        "score": {"type": "float", "class": "public", "min": -1.5, "max": 100},
        "liked": {"type": "bool", "class": "public"},
        "released_at": {"type": "timestamp", "class": "public"},
        "matrix": {"type": "list", "items": {"type": "list", "items": {"type": "int"}}, "class": "public"},
        "seen_at": {"type": "list", "items": {"type": "timestamp"}, "class": "personal"}
     },
     "allow_unknown_fields": false})
}

/// `base()` with `allow_unknown_fields` switched on.
fn open() -> Value {
    let mut doc = base();
    doc["allow_unknown_fields"] = json!(true);
    doc
}

/// Validates `event` against `schema` and compares a JSON rendering of the outcome with `expect`.
///
/// Success renders as `{"public": {..}, "identifiers": {..}, "sealed": {name: [class, value]}}`
/// (empty groups left out); failure as `{"errors": [[field, code], ..]}` in returned order.
/// Every message is also checked never to contain the canary.
fn check(schema: &Value, event: Value, expect: Value) {
    let schema = Schema::from_json(schema).expect("test schema is valid");
    let Value::Object(properties) = event else {
        panic!("event must be an object")
    };
    let got = match schema.validate(&properties) {
        Ok(v) => render_ok(&v),
        Err(errors) => {
            assert_no_canary(&errors);
            json!({"errors": errors.iter().map(|e| json!([e.field, e.code.code()])).collect::<Vec<_>>()})
        }
    };
    assert_eq!(got, expect, "event: {properties:?}");
}

fn render_ok(v: &ValidatedProperties) -> Value {
    let mut out = Map::new();
    if !v.public.is_empty() {
        out.insert("public".into(), Value::Object(v.public.clone()));
    }
    if !v.identifiers.is_empty() {
        let ids: Map<String, Value> = v
            .identifiers
            .iter()
            .map(|(k, s)| (k.clone(), json!(s)))
            .collect();
        out.insert("identifiers".into(), Value::Object(ids));
    }
    if !v.sealed.is_empty() {
        let sealed: Map<String, Value> = v
            .sealed
            .iter()
            .map(|(k, c, val)| (k.clone(), json!([c.as_str(), val])))
            .collect();
        out.insert("sealed".into(), Value::Object(sealed));
    }
    Value::Object(out)
}

fn assert_no_canary(errors: &[FieldError]) {
    for e in errors {
        assert!(!e.message.contains("CANARY"), "message echoes a value: {e}");
        assert!(
            !e.to_string().contains("CANARY"),
            "display echoes a value: {e}"
        );
        assert!(!e.message.is_empty());
    }
}

fn errors(list: &[(&str, &str)]) -> Value {
    json!({"errors": list.iter().map(|(f, c)| json!([f, c])).collect::<Vec<_>>()})
}

fn nested_objects(levels: usize) -> Value {
    (1..levels).fold(json!({}), |inner, _| json!({"x": inner}))
}

#[test]
fn valid_events_per_type() {
    let s = base();
    let cases = [
        (
            json!({"email": "a@b.c"}),
            json!({"sealed": {"email": ["personal", "a@b.c"]}}),
        ),
        (
            json!({"email": "a@b.c", "track_id": "t1", "plan": "premium", "liked": false,
                   "ms_played": 86400000, "score": 99.5, "tags": ["x", "y"],
                   "released_at": "2026-11-22T10:00:00Z", "matrix": [[1, 2], [], [3]]}),
            json!({"public": {"track_id": "t1", "plan": "premium", "liked": false, "ms_played": 86400000,
                              "score": 99.5, "tags": ["x", "y"], "released_at": "2026-11-22T10:00:00Z",
                              "matrix": [[1, 2], [], [3]]},
                   "sealed": {"email": ["personal", "a@b.c"]}}),
        ),
        (
            json!({"email": "a@b.c", "user_ref": "acct-42", "query": "hello", "device": {"os": "linux", "v": [1]},
                   "seen_at": ["2026-01-01T00:00:00Z"]}),
            json!({"identifiers": {"user_ref": "acct-42"},
                   "sealed": {"device": ["sensitive", {"os": "linux", "v": [1]}], "email": ["personal", "a@b.c"],
                              "query": ["free_text", "hello"], "seen_at": ["personal", ["2026-01-01T00:00:00Z"]]}}),
        ),
        // Ints are accepted as floats and stored as floats; bounds are inclusive.
        (
            json!({"email": "e", "score": 3}),
            json!({"public": {"score": 3.0}, "sealed": {"email": ["personal", "e"]}}),
        ),
        (
            json!({"email": "e", "score": -1.5}),
            json!({"public": {"score": -1.5}, "sealed": {"email": ["personal", "e"]}}),
        ),
        (
            json!({"email": "e", "ms_played": 0}),
            json!({"public": {"ms_played": 0}, "sealed": {"email": ["personal", "e"]}}),
        ),
        // Null counts as absent for optional fields.
        (
            json!({"email": "e", "plan": null, "tags": null}),
            json!({"sealed": {"email": ["personal", "e"]}}),
        ),
        // A string exactly at max_length (bytes) is fine.
        (
            json!({"email": "é".repeat(160)}),
            json!({"sealed": {"email": ["personal", "é".repeat(160)]}}),
        ),
    ];
    for (event, expect) in cases {
        check(&s, event, expect);
    }
}

#[test]
fn each_error_code_with_its_field_path() {
    let s = base();
    let cases = [
        (json!({}), errors(&[("email", "missing_field")])),
        (
            json!({"email": null}),
            errors(&[("email", "missing_field")]),
        ),
        (
            json!({"email": "e", "bogus": CANARY}),
            errors(&[("", "unknown_field")]),
        ),
        (json!({"email": 42}), errors(&[("email", "wrong_type")])),
        (
            json!({"email": "e", "liked": "true"}),
            errors(&[("liked", "wrong_type")]),
        ),
        (
            json!({"email": "e", "ms_played": 3.5}),
            errors(&[("ms_played", "wrong_type")]),
        ),
        (
            json!({"email": "e", "device": [CANARY]}),
            errors(&[("device", "wrong_type")]),
        ),
        (
            json!({"email": "e", "tags": CANARY}),
            errors(&[("tags", "wrong_type")]),
        ),
        (
            json!({"email": "e", "plan": CANARY}),
            errors(&[("plan", "not_in_enum")]),
        ),
        (
            json!({"email": "e", "plan": "FREE"}),
            errors(&[("plan", "not_in_enum")]),
        ),
        (
            json!({"email": format!("{CANARY}{}", "x".repeat(320))}),
            errors(&[("email", "too_long")]),
        ),
        (
            json!({"email": "é".repeat(161)}),
            errors(&[("email", "too_long")]),
        ),
        (
            json!({"email": "e", "tags": vec!["t"; 101]}),
            errors(&[("tags", "too_many_items")]),
        ),
        (
            json!({"email": "e", "ms_played": -1}),
            errors(&[("ms_played", "out_of_range")]),
        ),
        (
            json!({"email": "e", "ms_played": 86400001}),
            errors(&[("ms_played", "out_of_range")]),
        ),
        (
            json!({"email": "e", "ms_played": u64::MAX}),
            errors(&[("ms_played", "out_of_range")]),
        ),
        (
            json!({"email": "e", "score": 100.01}),
            errors(&[("score", "out_of_range")]),
        ),
        (
            json!({"email": "e", "released_at": CANARY}),
            errors(&[("released_at", "invalid_timestamp")]),
        ),
        (
            json!({"email": "e", "released_at": "2026-11-22"}),
            errors(&[("released_at", "invalid_timestamp")]),
        ),
        (
            json!({"email": "e", "released_at": "2026-13-01T00:00:00Z"}),
            errors(&[("released_at", "invalid_timestamp")]),
        ),
        (
            json!({"email": "e", "released_at": 1_700_000_000}),
            errors(&[("released_at", "wrong_type")]),
        ),
        (
            json!({"email": "e", "device": nested_objects(NESTING_DEPTH_MAX + 1)}),
            errors(&[("device", "too_deep")]),
        ),
        (
            json!({"email": "e", "device": {"blob": "x".repeat(OBJECT_BYTES_MAX)}}),
            errors(&[("device", "too_long")]),
        ),
    ];
    for (event, expect) in cases {
        check(&s, event, expect);
    }
    // The deepest allowed object passes.
    let deepest = nested_objects(NESTING_DEPTH_MAX);
    check(
        &s,
        json!({"email": "e", "device": deepest.clone()}),
        json!({"sealed": {"device": ["sensitive", deepest], "email": ["personal", "e"]}}),
    );
}

#[test]
fn unknown_fields_rejected_or_allowed_and_sealed() {
    let event = json!({"email": "e", "extra": {"k": CANARY}, "note": "n", "gone": null});
    check(
        &base(),
        event.clone(),
        errors(&[
            // The caller's names are not repeated: one error about the properties object.
            ("", "unknown_field"),
        ]),
    );
    check(
        &open(),
        event,
        json!({"sealed": {"email": ["personal", "e"], "extra": ["personal", {"k": CANARY}], "note": ["personal", "n"]}}),
    );
    // Allowed unknown fields still need a proper name and bounded size and depth.
    check(
        &open(),
        json!({"email": "e", "Bad-Name": 1}),
        errors(&[("", "invalid_field_name")]),
    );
    check(
        &open(),
        json!({"email": "e", "big": "x".repeat(OBJECT_BYTES_MAX + 1)}),
        errors(&[("big", "too_long")]),
    );
    check(
        &open(),
        json!({"email": "e", "deep": nested_objects(NESTING_DEPTH_MAX + 1)}),
        errors(&[("deep", "too_deep")]),
    );
    // A very long unknown name is clipped in the error path.
    let long = "a".repeat(10_000);
    let schema = Schema::from_json(&base()).expect("valid");
    let mut props = Map::new();
    props.insert("email".into(), json!("e"));
    props.insert(long, json!(1));
    let errs = schema.validate(&props).expect_err("unknown field");
    assert!(
        errs[0].field.len() < 100,
        "field path not clipped: {}",
        errs[0].field.len()
    );
}

#[test]
fn too_many_properties() {
    let mut event = Map::new();
    for i in 0..=FIELDS_MAX {
        event.insert(format!("f{i}"), json!(i));
    }
    check(
        &open(),
        Value::Object(event),
        errors(&[("", "too_many_fields")]),
    );
}

#[test]
fn list_items_report_every_bad_item_in_index_order() {
    let s = base();
    let mut tags: Vec<Value> = (0..12).map(|i| json!(format!("t{i}"))).collect();
    tags[1] = json!(1);
    tags[2] = json!(null);
    tags[10] = json!("x".repeat(17));
    check(
        &s,
        json!({"email": "e", "tags": tags}),
        errors(&[
            ("tags[1]", "wrong_type"),
            ("tags[2]", "wrong_type"),
            ("tags[10]", "too_long"),
        ]),
    );
    check(
        &s,
        json!({"email": "e", "matrix": [[1, 2], [3, CANARY], "row", [[4]]]}),
        errors(&[
            ("matrix[1][1]", "wrong_type"),
            ("matrix[2]", "wrong_type"),
            ("matrix[3][0]", "wrong_type"),
        ]),
    );
    check(
        &s,
        json!({"email": "e", "seen_at": ["2026-01-01T00:00:00Z", CANARY]}),
        errors(&[("seen_at[1]", "invalid_timestamp")]),
    );
}

#[test]
fn all_errors_are_returned_sorted_by_field() {
    check(
        &base(),
        json!({"zzz": 1, "ms_played": "x", "plan": "gold", "tags": [1], "liked": 0, "device": 1}),
        errors(&[
            // Unknown names are not repeated: the properties object (empty path) comes first.
            ("", "unknown_field"),
            ("device", "wrong_type"),
            ("email", "missing_field"),
            ("liked", "wrong_type"),
            ("ms_played", "wrong_type"),
            ("plan", "not_in_enum"),
            ("tags[0]", "wrong_type"),
        ]),
    );
}

#[test]
fn timestamps_are_normalized_to_utc() {
    let s = base();
    let cases = [
        ("2026-11-22T11:30:00+01:30", "2026-11-22T10:00:00Z"),
        ("2026-11-22T10:00:00.5Z", "2026-11-22T10:00:00.500Z"),
        (
            "2026-11-22T10:00:00.123456789Z",
            "2026-11-22T10:00:00.123456Z",
        ),
        ("2026-11-22t10:00:00z", "2026-11-22T10:00:00Z"),
        ("2026-11-21T23:00:00-11:00", "2026-11-22T10:00:00Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    ];
    for (given, normalized) in cases {
        check(
            &s,
            json!({"email": "e", "released_at": given}),
            json!({"public": {"released_at": normalized}, "sealed": {"email": ["personal", "e"]}}),
        );
    }
    check(
        &s,
        json!({"email": "e", "seen_at": ["2026-01-01T01:00:00+01:00"]}),
        json!({"sealed": {"email": ["personal", "e"], "seen_at": ["personal", ["2026-01-01T00:00:00Z"]]}}),
    );
    // An offset that pushes the instant past year 9999 cannot be written as RFC 3339.
    check(
        &s,
        json!({"email": "e", "released_at": "9999-12-31T23:30:00-01:00"}),
        errors(&[("released_at", "invalid_timestamp")]),
    );
}

#[test]
fn timestamp_helpers_round_trip() {
    use steward_privacy::{format_timestamp_micros, normalize_timestamp, parse_timestamp_micros};
    assert_eq!(
        parse_timestamp_micros("1970-01-01T00:00:01.000002Z"),
        Some(1_000_002)
    );
    assert_eq!(
        format_timestamp_micros(1_000_002).as_deref(),
        Some("1970-01-01T00:00:01.000002Z")
    );
    assert_eq!(parse_timestamp_micros("nope"), None);
    assert_eq!(
        normalize_timestamp("1969-12-31T23:59:59.9999999Z").as_deref(),
        Some("1969-12-31T23:59:59.999999Z")
    );
}

#[test]
fn messages_say_expected_and_found_without_the_value() {
    let schema = Schema::from_json(&base()).expect("valid");
    let Value::Object(props) =
        json!({"email": 123456789, "ms_played": 987654321, "plan": CANARY, "tags": ["ok", 5]})
    else {
        unreachable!()
    };
    let errs = schema.validate(&props).expect_err("invalid");
    let messages: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            ("email", "expected string, found int"),
            (
                "ms_played",
                "expected int between 0 and 86400000, found one outside"
            ),
            (
                "plan",
                "expected one of free, premium, found another string"
            ),
            ("tags[1]", "expected string, found int"),
        ]
    );
    for e in &errs {
        assert!(!e.message.contains("123456789") && !e.message.contains("987654321"));
    }
}

#[test]
fn error_codes_are_stable_strings() {
    use steward_privacy::FieldErrorCode as C;
    let codes = [
        (C::MissingField, "missing_field"),
        (C::UnknownField, "unknown_field"),
        (C::WrongType, "wrong_type"),
        (C::NotInEnum, "not_in_enum"),
        (C::TooLong, "too_long"),
        (C::TooManyItems, "too_many_items"),
        (C::OutOfRange, "out_of_range"),
        (C::InvalidTimestamp, "invalid_timestamp"),
        (C::NotFinite, "not_finite"),
        (C::TooDeep, "too_deep"),
        (C::InvalidFieldName, "invalid_field_name"),
        (C::TooManyFields, "too_many_fields"),
    ];
    for (code, text) in codes {
        assert_eq!(code.code(), text);
        assert_eq!(code.to_string(), text);
    }
}
