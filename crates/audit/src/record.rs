//! `AuditRecord`, one decision about data or configuration, and its canonical binary encoding
//! (the Merkle leaf bytes; layout in `FORMAT.md`).
//!
//! Records never carry personal data: subjects appear only as keyed references, and every
//! free string must match the conservative charset `[A-Za-z0-9_:/.-]`, so an e-mail address, a
//! name with a space or any other free text is refused at encoding (and at decoding, so a
//! tampered file cannot smuggle one into an export either).

use crate::error::RecordError;
use crate::limits::{POLICY_IDS_MAX, STRING_BYTES_MAX, SUBJECT_REFS_MAX};

/// Version byte that opens every encoded record.
pub const RECORD_VERSION: u8 = 1;

/// A keyed subject reference: `HMAC-SHA256(ref key, "audit-subject-ref" ‖ pseudonym)`.
pub type SubjectRef = [u8; 32];

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Deny,
    Allow,
}

impl Decision {
    fn to_byte(self) -> u8 {
        match self {
            Decision::Deny => 0,
            Decision::Allow => 1,
        }
    }

    fn from_byte(byte: u8) -> Option<Decision> {
        match byte {
            0 => Some(Decision::Deny),
            1 => Some(Decision::Allow),
            _ => None,
        }
    }

    /// `"allow"` or `"deny"`, as exported.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Deny => "deny",
            Decision::Allow => "allow",
        }
    }
}

/// One audited decision. Strings name things (key ids, actions, routes, policies); they are
/// checked against `[A-Za-z0-9_:/.-]` and [`STRING_BYTES_MAX`] when the record is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the decision was made, microseconds since the Unix epoch (UTC).
    pub time_us: i64,
    /// Who asked: an API key id, `"operator"`, or `"user:<opaque subject id>"`. Non-empty.
    pub principal: String,
    /// What was asked, e.g. `"events.read"`. Non-empty.
    pub action: String,
    /// The declared purpose of the access, if the request named one. Non-empty when present.
    pub purpose: Option<String>,
    /// What was touched, e.g. `"tenant/acme/events"`. Non-empty.
    pub resource: String,
    /// Keyed references of the subjects touched, at most [`SUBJECT_REFS_MAX`]; a request that
    /// touched more records none of them and only `subject_count`.
    pub subject_refs: Vec<SubjectRef>,
    /// How many subjects the request touched (at least `subject_refs.len()`).
    pub subject_count: u64,
    pub decision: Decision,
    /// Ids of the policies that decided, in evaluation order.
    pub policy_ids: Vec<String>,
    /// The request id of the HTTP request, or empty for work with no request (background jobs).
    pub request_id: String,
    /// Rows (events, subjects, ...) the response carried; 0 for a denial or a write.
    pub result_rows: u64,
}

impl AuditRecord {
    /// Sets the subjects of the record: up to [`SUBJECT_REFS_MAX`] are named, more only counted.
    pub fn set_subjects(&mut self, refs: Vec<SubjectRef>) {
        self.subject_count = refs.len() as u64;
        self.subject_refs = if refs.len() <= SUBJECT_REFS_MAX { refs } else { Vec::new() };
    }

    /// Checks every field against the charset and bounds without encoding.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_string("principal", &self.principal, false)?;
        check_string("action", &self.action, false)?;
        if let Some(purpose) = &self.purpose {
            check_string("purpose", purpose, false)?;
        }
        check_string("resource", &self.resource, false)?;
        if self.subject_refs.len() > SUBJECT_REFS_MAX {
            return Err(RecordError::new("subject_refs", "more references than SUBJECT_REFS_MAX"));
        }
        if self.subject_count < self.subject_refs.len() as u64 {
            return Err(RecordError::new("subject_count", "smaller than the number of references"));
        }
        if self.policy_ids.len() > POLICY_IDS_MAX {
            return Err(RecordError::new("policy_ids", "more ids than POLICY_IDS_MAX"));
        }
        for id in &self.policy_ids {
            check_string("policy_ids", id, false)?;
        }
        check_string("request_id", &self.request_id, true)
    }

    /// The canonical encoding: the leaf bytes hashed into the tree. Fails on an invalid record.
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::with_capacity(128);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the canonical encoding to `out` (unchanged on error).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        self.validate()?;
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.time_us.to_be_bytes());
        put_str(out, &self.principal);
        put_str(out, &self.action);
        match &self.purpose {
            None => out.push(0),
            Some(purpose) => {
                out.push(1);
                put_str(out, purpose);
            }
        }
        put_str(out, &self.resource);
        out.push(self.decision.to_byte());
        out.extend_from_slice(&self.subject_count.to_be_bytes());
        out.push(self.subject_refs.len() as u8);
        for reference in &self.subject_refs {
            out.extend_from_slice(reference);
        }
        out.push(self.policy_ids.len() as u8);
        for id in &self.policy_ids {
            put_str(out, id);
        }
        put_str(out, &self.request_id);
        out.extend_from_slice(&self.result_rows.to_be_bytes());
        Ok(())
    }

    /// Decodes leaf bytes, refusing anything [`encode`](Self::encode) would not produce (unknown
    /// version, bad flag, trailing bytes, out-of-charset strings), so the encoding is canonical.
    pub fn decode(bytes: &[u8]) -> Result<AuditRecord, RecordError> {
        let view = Parsed::parse(bytes)?;
        let record = AuditRecord {
            time_us: view.time_us,
            principal: ascii(view.principal),
            action: ascii(view.action),
            purpose: view.purpose.map(ascii),
            resource: ascii(view.resource),
            subject_refs: view.refs.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect(),
            subject_count: view.subject_count,
            decision: view.decision,
            policy_ids: view.policy_ids[..view.policy_count].iter().map(|s| ascii(s)).collect(),
            request_id: ascii(view.request_id),
            result_rows: view.result_rows,
        };
        debug_assert!(record.validate().is_ok(), "parse checks everything validate does");
        Ok(record)
    }

    /// Checks that leaf bytes are a canonical record without allocating (the verifier's path).
    pub fn check_leaf(bytes: &[u8]) -> Result<(), RecordError> {
        Parsed::parse(bytes).map(|_| ())
    }
}

/// A string the parser checked against the (ASCII) charset.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// A record parsed in place; one parser serves both decoding and the allocation-free check.
struct Parsed<'a> {
    time_us: i64,
    principal: &'a [u8],
    action: &'a [u8],
    purpose: Option<&'a [u8]>,
    resource: &'a [u8],
    decision: Decision,
    subject_count: u64,
    /// The references, 32 bytes each.
    refs: &'a [u8],
    policy_ids: [&'a [u8]; POLICY_IDS_MAX],
    policy_count: usize,
    request_id: &'a [u8],
    result_rows: u64,
}

impl<'a> Parsed<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Parsed<'a>, RecordError> {
        let mut r = Reader { bytes };
        if r.u8("version")? != RECORD_VERSION {
            return Err(RecordError::new("version", "unknown record version"));
        }
        let time_us = i64::from_be_bytes(r.array("time_us")?);
        let principal = r.string("principal", false)?;
        let action = r.string("action", false)?;
        let purpose = match r.u8("purpose")? {
            0 => None,
            1 => Some(r.string("purpose", false)?),
            _ => return Err(RecordError::new("purpose", "presence flag is neither 0 nor 1")),
        };
        let resource = r.string("resource", false)?;
        let decision =
            Decision::from_byte(r.u8("decision")?).ok_or_else(|| RecordError::new("decision", "neither 0 nor 1"))?;
        let subject_count = u64::from_be_bytes(r.array("subject_count")?);
        let ref_count = r.u8("subject_refs")? as usize;
        if ref_count > SUBJECT_REFS_MAX {
            return Err(RecordError::new("subject_refs", "more references than SUBJECT_REFS_MAX"));
        }
        if subject_count < ref_count as u64 {
            return Err(RecordError::new("subject_count", "smaller than the number of references"));
        }
        let refs = r.take("subject_refs", 32 * ref_count)?;
        let policy_count = r.u8("policy_ids")? as usize;
        if policy_count > POLICY_IDS_MAX {
            return Err(RecordError::new("policy_ids", "more ids than POLICY_IDS_MAX"));
        }
        let mut policy_ids: [&[u8]; POLICY_IDS_MAX] = [&[]; POLICY_IDS_MAX];
        for id in &mut policy_ids[..policy_count] {
            *id = r.string("policy_ids", false)?;
        }
        let request_id = r.string("request_id", true)?;
        let result_rows = u64::from_be_bytes(r.array("result_rows")?);
        if !r.bytes.is_empty() {
            return Err(RecordError::new("record", "trailing bytes"));
        }
        Ok(Parsed {
            time_us,
            principal,
            action,
            purpose,
            resource,
            decision,
            subject_count,
            refs,
            policy_ids,
            policy_count,
            request_id,
            result_rows,
        })
    }
}

/// Whether `byte` is in the audit charset `[A-Za-z0-9_:/.-]`.
pub fn is_audit_char(byte: u8) -> bool {
    AUDIT_CHARS[byte as usize]
}

/// The charset as a table: the verifier checks every string byte of every record.
static AUDIT_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'/' | b'.' | b'-');
        b += 1;
    }
    table
};

/// Checks one free string; the error names the field, never the value (it may be personal).
pub(crate) fn check_string(field: &'static str, value: &str, may_be_empty: bool) -> Result<(), RecordError> {
    check_bytes(field, value.as_bytes(), may_be_empty)
}

/// [`check_string`] on raw bytes: anything that passes is ASCII, hence UTF-8.
fn check_bytes(field: &'static str, value: &[u8], may_be_empty: bool) -> Result<(), RecordError> {
    if value.is_empty() && !may_be_empty {
        return Err(RecordError::new(field, "empty"));
    }
    if value.len() > STRING_BYTES_MAX {
        return Err(RecordError::new(field, "longer than STRING_BYTES_MAX"));
    }
    if !value.iter().all(|b| is_audit_char(*b)) {
        return Err(RecordError::new(field, "character outside [A-Za-z0-9_:/.-]"));
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    // validate() bounded the length by STRING_BYTES_MAX <= u16::MAX.
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// A cursor over leaf bytes whose errors name the field being read.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], RecordError> {
        if self.bytes.len() < n {
            return Err(RecordError::new(field, "record ends early"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.take(field, 1)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    /// A length-prefixed string, checked against the charset (so it is ASCII).
    fn string(&mut self, field: &'static str, may_be_empty: bool) -> Result<&'a [u8], RecordError> {
        let len = u16::from_be_bytes(self.array(field)?) as usize;
        if len > STRING_BYTES_MAX {
            return Err(RecordError::new(field, "longer than STRING_BYTES_MAX"));
        }
        let bytes = self.take(field, len)?;
        check_bytes(field, bytes, may_be_empty)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> AuditRecord {
        AuditRecord {
            time_us: 1_700_000_000_000_000,
            principal: "key:k_01HX".into(),
            action: "events.read".into(),
            purpose: Some("support".into()),
            resource: "tenant/acme/events".into(),
            subject_refs: vec![[7; 32]],
            subject_count: 1,
            decision: Decision::Allow,
            policy_ids: vec!["p1".into(), "role.analyst".into()],
            request_id: "req-123".into(),
            result_rows: 42,
        }
    }

    #[test]
    fn encoding_round_trips_and_is_canonical() {
        let record = sample();
        let bytes = record.encode().unwrap();
        assert_eq!(AuditRecord::decode(&bytes).unwrap(), record);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(AuditRecord::decode(&longer).is_err());
        for cut in 0..bytes.len() {
            assert!(AuditRecord::decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
        let mut no_purpose = record.clone();
        no_purpose.purpose = None;
        assert_eq!(AuditRecord::decode(&no_purpose.encode().unwrap()).unwrap(), no_purpose);
    }

    #[test]
    fn free_text_and_personal_looking_values_are_refused_without_echoing_them() {
        type Change = fn(&mut AuditRecord);
        let cases: [(&str, Change); 6] = [
            ("resource", |r| r.resource = "tenant/acme/alice@example.com".into()),
            ("principal", |r| r.principal = "user:alice@example.com".into()),
            ("action", |r| r.action = "read events".into()),
            ("purpose", |r| r.purpose = Some("Ärztin".into())),
            ("policy_ids", |r| r.policy_ids.push("p;drop".into())),
            ("request_id", |r| r.request_id = "x".repeat(STRING_BYTES_MAX + 1)),
        ];
        for (field, change) in cases {
            let mut record = sample();
            change(&mut record);
            let error = record.encode().unwrap_err();
            assert_eq!(error.field, field);
            assert!(!error.to_string().contains("alice"), "{error}");
        }
    }

    #[test]
    fn the_largest_record_is_leaf_bytes_max() {
        let long = "x".repeat(STRING_BYTES_MAX);
        let record = AuditRecord {
            principal: long.clone(),
            action: long.clone(),
            purpose: Some(long.clone()),
            resource: long.clone(),
            subject_refs: vec![[0; 32]; SUBJECT_REFS_MAX],
            subject_count: u64::MAX,
            policy_ids: vec![long.clone(); POLICY_IDS_MAX],
            request_id: long,
            ..sample()
        };
        assert_eq!(record.encode().unwrap().len(), crate::limits::LEAF_BYTES_MAX);
    }

    #[test]
    fn bulk_requests_keep_only_the_count() {
        let mut record = sample();
        record.set_subjects(vec![[1; 32]; SUBJECT_REFS_MAX + 1]);
        assert!(record.subject_refs.is_empty());
        assert_eq!(record.subject_count, SUBJECT_REFS_MAX as u64 + 1);
        record.set_subjects(vec![[1; 32]; 3]);
        assert_eq!((record.subject_refs.len(), record.subject_count), (3, 3));
        record.subject_count = 2;
        assert_eq!(record.encode().unwrap_err().field, "subject_count");
    }
}
