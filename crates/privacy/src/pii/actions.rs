//! What to do with the PII found in a text: redact, mask, tokenize (keyed HMAC tokens), or seal.

use std::fmt;

use steward_crypto::{Key256, hmac_sha256};

use super::{PiiEntity, PiiFinding, scan};

/// The per-field action a schema names for PII found in the field's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiAction {
    /// Replace each span with its entity's placeholder: `[EMAIL]`, `[PHONE]`.
    Redact,
    /// Replace each letter and digit of a span with `*`, keeping separators
    /// (`***-***-****`), so the shape survives and the value does not.
    Mask,
    /// Replace each span with a token from a keyed HMAC of its normalized value
    /// (`tok_email_3f9a…`): stable per tenant key, so equal values stay joinable.
    Tokenize,
    /// Seal the whole field under the subject key. Sealing is the caller's (it holds the
    /// key); [`apply`] redacts under `Seal`, so any clear copy it makes holds no PII.
    Seal,
}

impl PiiAction {
    /// Every action, in declaration order.
    pub const ALL: [PiiAction; 4] = [
        PiiAction::Redact,
        PiiAction::Mask,
        PiiAction::Tokenize,
        PiiAction::Seal,
    ];

    /// The action's name in schema documents (`"tokenize"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiAction::Redact => "redact",
            PiiAction::Mask => "mask",
            PiiAction::Tokenize => "tokenize",
            PiiAction::Seal => "seal",
        }
    }

    /// Parses an action name as written in schema documents; `None` if unknown.
    pub fn parse(name: &str) -> Option<PiiAction> {
        PiiAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for PiiAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rewrites `text`, replacing each finding's span under `action`.
///
/// `tokenizer` makes the replacement under [`PiiAction::Tokenize`] from the entity and the
/// span's text (usually [`hmac_token`] with the tenant's key); other actions ignore it.
/// Findings may come in any order; overlapping spans are merged, and spans that do not lie
/// on char boundaries inside `text` are widened to the nearest ones, so no byte of a
/// finding is ever copied through.
pub fn apply(
    text: &str,
    findings: &[PiiFinding],
    action: PiiAction,
    tokenizer: &dyn Fn(PiiEntity, &str) -> String,
) -> String {
    let spans = merged_spans(text, findings);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (entity, start, end) in spans {
        out.push_str(&text[copied..start]);
        let span = &text[start..end];
        match action {
            PiiAction::Redact | PiiAction::Seal => out.push_str(entity.placeholder()),
            PiiAction::Mask => out.extend(span.chars().map(mask_char)),
            PiiAction::Tokenize => out.push_str(&tokenizer(entity, span)),
        }
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Scans `text` and redacts every finding: `apply(text, &scan(text), Redact, ..)`.
pub fn redact(text: &str) -> String {
    apply(text, &scan(text), PiiAction::Redact, &|entity, _| {
        entity.placeholder().to_owned()
    })
}

/// Letters and digits become `*`; separators and punctuation stay.
fn mask_char(c: char) -> char {
    if c.is_alphanumeric() { '*' } else { c }
}

/// The findings' spans clamped to `text`, widened to char boundaries, sorted and merged
/// where they overlap (the merged span keeps the first finding's entity).
fn merged_spans(text: &str, findings: &[PiiFinding]) -> Vec<(PiiEntity, usize, usize)> {
    let mut spans: Vec<(PiiEntity, usize, usize)> = findings
        .iter()
        .filter_map(|f| {
            let mut start = f.start.min(text.len());
            let mut end = f.end.min(text.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            (start < end).then_some((f.entity, start, end))
        })
        .collect();
    spans.sort_by_key(|&(_, start, end)| (start, std::cmp::Reverse(end)));
    let mut merged: Vec<(PiiEntity, usize, usize)> = Vec::with_capacity(spans.len());
    for (entity, start, end) in spans {
        match merged.last_mut() {
            Some(last) if start < last.2 => last.2 = last.2.max(end),
            _ => merged.push((entity, start, end)),
        }
    }
    merged
}

/// A token for a value: `tok_<entity>_<16 hex digits>`, from HMAC-SHA256 under `key` of the
/// entity name and the value as [`normalize_for_token`] writes it.
///
/// The same key and value give the same token, so tokens join within a tenant and not
/// across tenants (each has its own key). 64 bits: collisions are unlikely below billions
/// of distinct values per entity.
pub fn hmac_token(key: &Key256, entity: PiiEntity, value: &str) -> String {
    let normalized = normalize_for_token(entity, value);
    let mac = hmac_sha256(
        key,
        &[
            b"steward-pii-token\0",
            entity.as_str().as_bytes(),
            b"\0",
            normalized.as_bytes(),
        ],
    );
    let mut out = String::with_capacity(5 + entity.as_str().len() + 17);
    out.push_str("tok_");
    out.push_str(entity.as_str());
    out.push('_');
    for byte in &mac[..8] {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The form of a value that tokens are made from, so one value written two ways gets one
/// token: e-mail addresses and URLs lowercased, numbers (phone, card, SSN) as their digits
/// (a phone's leading `+` kept), IBANs upper-case without separators, others trimmed.
pub fn normalize_for_token(entity: PiiEntity, value: &str) -> String {
    let value = value.trim();
    match entity {
        PiiEntity::Email | PiiEntity::UrlPersonal | PiiEntity::IpAddress => value.to_lowercase(),
        PiiEntity::Phone => {
            let plus = if value.starts_with('+') { "+" } else { "" };
            plus.chars()
                .chain(value.chars().filter(char::is_ascii_digit))
                .collect()
        }
        PiiEntity::CreditCard | PiiEntity::UsSsn => {
            value.chars().filter(char::is_ascii_digit).collect()
        }
        PiiEntity::Iban => value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        PiiEntity::DateOfBirth => value.to_owned(),
    }
}
