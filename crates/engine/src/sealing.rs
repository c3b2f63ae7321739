//! The sealed-fields blob: each personal field sealed on its own under the subject key, with
//! associated data binding tenant, subject, event id and field name (so a sealed value
//! cannot be moved to another event, field or subject without failing to open).
//!
//! Format v1: `version u8 | count u16 | (class u8, name len u16, name, ct len u32, ct)*`.

use steward_crypto::{Key256, Pseudonym, Sealer};
use steward_privacy::PrivacyClass;

const FORMAT_VERSION: u8 = 1;

pub(crate) fn field_context(
    tenant: &str,
    subject: &Pseudonym,
    event_id: &str,
    field: &str,
) -> Vec<u8> {
    steward_crypto::context(&[
        b"field",
        tenant.as_bytes(),
        subject.as_bytes(),
        event_id.as_bytes(),
        field.as_bytes(),
    ])
}

fn class_code(class: PrivacyClass) -> u8 {
    match class {
        PrivacyClass::Personal => 1,
        PrivacyClass::FreeText => 2,
        PrivacyClass::Sensitive => 3,
        _ => 0,
    }
}

/// Unknown codes read as sensitive: the most restricted class, never one seen more widely.
fn class_of(code: u8) -> PrivacyClass {
    match code {
        1 => PrivacyClass::Personal,
        2 => PrivacyClass::FreeText,
        _ => PrivacyClass::Sensitive,
    }
}

/// Seals every field; `fields` holds (name, class, JSON value).
pub(crate) fn seal_fields(
    key: &Key256,
    tenant: &str,
    subject: &Pseudonym,
    event_id: &str,
    fields: &[(String, PrivacyClass, serde_json::Value)],
) -> Vec<u8> {
    if fields.is_empty() {
        return Vec::new();
    }
    let sealer = Sealer::new(key);
    let mut out = Vec::with_capacity(64 * fields.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&(fields.len() as u16).to_le_bytes());
    for (name, class, value) in fields {
        let plain = serde_json::to_vec(value).unwrap_or_default();
        out.push(class_code(*class));
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        sealer.seal_into(
            &field_context(tenant, subject, event_id, name),
            &plain,
            &mut out,
        );
        let ct_len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&ct_len.to_le_bytes());
    }
    out
}

/// A sealed field as read back: its name, and its value if the key opened it.
pub(crate) struct OpenedField {
    pub name: String,
    pub class: PrivacyClass,
    pub value: Option<serde_json::Value>,
}

/// Lists the sealed fields, opening each when a key is given. A field that fails to open
/// (key destroyed, data tampered) reads as None.
pub(crate) fn open_fields(
    blob: &[u8],
    key: Option<&Key256>,
    tenant: &str,
    subject: &Pseudonym,
    event_id: &str,
) -> Result<Vec<OpenedField>, String> {
    if blob.is_empty() {
        return Ok(Vec::new());
    }
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let end = at
            .checked_add(n)
            .filter(|&e| e <= blob.len())
            .ok_or("truncated sealed blob")?;
        let slice = &blob[at..end];
        at = end;
        Ok(slice)
    };
    if take(1)?[0] != FORMAT_VERSION {
        return Err("unknown sealed blob version".into());
    }
    let sealer = key.map(Sealer::new);
    let count = u16::from_le_bytes(take(2)?.try_into().map_err(|_| "count")?) as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let class = class_of(take(1)?[0]);
        let name_len = u16::from_le_bytes(take(2)?.try_into().map_err(|_| "name length")?) as usize;
        let name = String::from_utf8(take(name_len)?.to_vec()).map_err(|_| "field name")?;
        let ct_len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "ct length")?) as usize;
        let ct = take(ct_len)?;
        let value = sealer.as_ref().and_then(|sealer| {
            let plain = sealer
                .open(&field_context(tenant, subject, event_id, &name), ct)
                .ok()?;
            serde_json::from_slice(&plain).ok()
        });
        out.push(OpenedField { name, class, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_round_trip_and_bind_their_context() {
        let key = Key256::random();
        let subject = Pseudonym::from_bytes([3; 32]);
        let fields = vec![
            (
                "email".to_string(),
                PrivacyClass::Personal,
                json!("canary@example.org"),
            ),
            ("age".to_string(), PrivacyClass::Sensitive, json!(41)),
        ];
        let blob = seal_fields(&key, "acme", &subject, "e-1", &fields);
        assert!(!blob.windows(7).any(|w| w == b"canary@"));
        let opened = open_fields(&blob, Some(&key), "acme", &subject, "e-1").unwrap();
        assert_eq!(opened[0].value, Some(json!("canary@example.org")));
        assert_eq!(opened[1].value, Some(json!(41)));
        let moved = open_fields(&blob, Some(&key), "acme", &subject, "e-2").unwrap();
        assert!(
            moved.iter().all(|f| f.value.is_none()),
            "a sealed value must not open under another event id"
        );
        let masked = open_fields(&blob, None, "acme", &subject, "e-1").unwrap();
        assert_eq!(
            masked.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["email", "age"]
        );
        assert!(open_fields(&blob[..blob.len() - 3], Some(&key), "acme", &subject, "e-1").is_err());
    }
}
