//! Fuzzes the schema document parser (tenant input): never panics; accepted documents round-trip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(schema) = steward_privacy::Schema::from_json(&value) {
        let again = steward_privacy::Schema::from_json(&schema.to_json()).expect("a written schema parses");
        assert_eq!(again, schema);
    }
});
