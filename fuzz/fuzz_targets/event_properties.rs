//! Fuzzes event validation (client input) against a schema with every field type: never
//! panics, and no error message echoes a string value of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn schema() -> &'static steward_privacy::Schema {
    static SCHEMA: OnceLock<steward_privacy::Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let doc = serde_json::json!({"fields": {
            "email": {"type": "string", "class": "personal", "required": true, "max_length": 64},
            "n": {"type": "int", "class": "public", "min": 0, "max": 10},
            "f": {"type": "float", "class": "public"},
            "b": {"type": "bool", "class": "public"},
            "t": {"type": "timestamp", "class": "public"},
            "e": {"type": "enum", "values": ["a", "b"], "class": "public"},
            "l": {"type": "list", "items": {"type": "int"}, "class": "public", "max_items": 3},
            "o": {"type": "object", "class": "sensitive"},
            "r": {"type": "string", "class": "identifier"},
            "q": {"type": "string", "class": "free_text"}
        }});
        steward_privacy::Schema::from_json(&doc).expect("fuzz schema is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(properties)) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Err(errors) = schema().validate(&properties) {
        for error in errors {
            for value in properties.values() {
                if let serde_json::Value::String(s) = value {
                    if s.len() >= 12 {
                        assert!(!error.message.contains(s.as_str()), "error message echoes a value");
                    }
                }
            }
        }
    }
});
