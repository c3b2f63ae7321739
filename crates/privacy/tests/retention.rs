//! A schema's `retention`: parsed from "30d"-style durations, written back the same way,
//! and refused with a precise error otherwise.

use serde_json::json;
use steward_privacy::{Schema, SchemaError};

fn with(retention: serde_json::Value) -> Result<Schema, SchemaError> {
    Schema::from_json(
        &json!({"fields": {"a": {"type": "string", "class": "public"}}, "retention": retention}),
    )
}

#[test]
fn retention_round_trips_and_bad_values_are_refused() {
    for (text, seconds, written) in [
        ("30d", 2_592_000, "30d"),
        ("12h", 43_200, "12h"),
        ("90m", 5_400, "90m"),
        ("45s", 45, "45s"),
        ("120s", 120, "2m"),
        ("48h", 172_800, "2d"),
    ] {
        let schema = with(json!(text)).unwrap();
        assert_eq!(schema.retention_seconds(), Some(seconds), "{text}");
        assert_eq!(schema.to_json()["retention"], written, "{text}");
        assert_eq!(
            Schema::from_json(&schema.to_json()).unwrap(),
            schema,
            "{text} round trips"
        );
    }
    assert_eq!(
        with(serde_json::Value::Null).unwrap().retention_seconds(),
        None,
        "null is absent"
    );
    for bad in [
        json!("10x"),
        json!("d"),
        json!("0d"),
        json!("-1d"),
        json!("36501d"),
        json!(30),
        json!("1.5h"),
        json!(""),
    ] {
        let error = with(bad.clone()).unwrap_err();
        assert!(
            matches!(
                error,
                SchemaError::BadDocumentValue {
                    key: "retention",
                    ..
                }
            ),
            "{bad}: {error:?}"
        );
    }
}
