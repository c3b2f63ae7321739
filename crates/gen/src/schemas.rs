//! Schema documents for the five music event types, in the shape `PUT /v1/tenants/{t}/schemas/{type}` accepts.
//!
//! Every property the generator emits is declared here with its class, so a tenant loaded
//! with these schemas accepts every generated event, and the privacy layer knows which
//! fields to seal (personal), scan (free_text) or leave readable (public).

use serde_json::{Value, json};

use crate::names::GENRES;
use crate::users::Device;

/// `(event type, schema document)` for signup, play, skip, like and search.
pub fn music_schemas() -> Vec<(String, Value)> {
    let genre = json!({"type": "enum", "values": GENRES, "class": "public", "required": true});
    let devices: Vec<&str> = Device::ALL.iter().map(|d| d.as_str()).collect();
    let device = json!({"type": "enum", "values": devices, "class": "public", "required": true});
    let track_id = json!({"type": "string", "class": "public", "required": true});
    let ms_played = json!({"type": "int", "class": "public", "min": 0, "required": true});
    let ip = json!({"type": "string", "class": "personal", "required": true});
    vec![
        (
            "signup".to_string(),
            json!({"fields": {
                "email": {"type": "string", "class": "personal", "required": true},
                "name": {"type": "string", "class": "personal", "required": true},
                "ip": ip,
                "country": {"type": "string", "class": "public", "required": true},
                "birth_year": {"type": "int", "class": "public", "min": 1900, "max": 2030, "required": true},
                "plan": {"type": "enum", "values": ["free", "premium"], "class": "public", "required": true},
            }}),
        ),
        (
            "play".to_string(),
            json!({"fields": {
                "track_id": track_id,
                "genre": genre,
                "ms_played": ms_played,
                "device": device,
                "ip": ip,
            }}),
        ),
        (
            "skip".to_string(),
            json!({"fields": {
                "track_id": track_id,
                "genre": genre,
                "ms_played": ms_played,
                "device": device,
            }}),
        ),
        (
            "like".to_string(),
            json!({"fields": {
                "track_id": track_id,
                "genre": genre,
            }}),
        ),
        (
            "search".to_string(),
            json!({"fields": {
                "query": {"type": "string", "class": "free_text", "required": true},
                "device": device,
            }}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_types_with_known_types_and_classes() {
        let s = music_schemas();
        let names: Vec<_> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["signup", "play", "skip", "like", "search"]);
        for (_, doc) in &s {
            for (_, f) in doc["fields"].as_object().unwrap() {
                let t = f["type"].as_str().unwrap();
                let c = f["class"].as_str().unwrap();
                assert!(
                    [
                        "string",
                        "int",
                        "float",
                        "bool",
                        "timestamp",
                        "enum",
                        "list",
                        "object"
                    ]
                    .contains(&t)
                );
                assert!(
                    ["identifier", "personal", "free_text", "sensitive", "public"].contains(&c)
                );
                if t == "enum" {
                    assert!(!f["values"].as_array().unwrap().is_empty());
                }
            }
        }
    }
}
