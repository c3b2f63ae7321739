//! `AuditRecord`, one decision about data or configuration, and its canonical binary encoding
//! (the Merkle leaf bytes; layout in `FORMAT.md`).
//!
//! Records never carry personal data: subjects appear only as keyed references, and every
//! free string must match the conservative charset `[A-Za-z0-9_:/.-]`, so an e-mail address, a
//! name with a space or any other free text is refused at encoding (and at decoding, so a
//! tampered file cannot smuggle one into an export either).
//!
//! The optional `statement` (the normalized text of a SQL query, literals replaced by `?`) has
//! its own charset: printable ASCII without `'`, `\` and `` ` ``, so a quoted string literal
//! cannot be recorded. A record without a statement encodes as version 1, exactly as before
//! statements existed; one with a statement as version 2 (the version 1 layout, then the
//! statement), so old logs and their hashes stay valid.

use crate::error::RecordError;
use crate::limits::{POLICY_IDS_MAX, STATEMENT_BYTES_MAX, STRING_BYTES_MAX, SUBJECT_REFS_MAX};

/// Version byte that opens an encoded record without a statement (the original layout).
pub const RECORD_VERSION: u8 = 1;
/// Version byte that opens an encoded record with a statement: the version 1 layout followed
/// by `u16 length ‖ statement`.
pub const RECORD_VERSION_STATEMENT: u8 = 2;

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
    /// The normalized text of the SQL query decided on (literals already replaced by `?`), if
    /// any. Non-empty when present, at most [`STATEMENT_BYTES_MAX`] bytes, every byte passing
    /// [`is_statement_char`]. Present makes the record encode as [`RECORD_VERSION_STATEMENT`].
    pub statement: Option<String>,
}

impl AuditRecord {
    /// Sets the subjects of the record: up to [`SUBJECT_REFS_MAX`] are named, more only counted.
    pub fn set_subjects(&mut self, refs: Vec<SubjectRef>) {
        self.subject_count = refs.len() as u64;
        self.subject_refs = if refs.len() <= SUBJECT_REFS_MAX {
            refs
        } else {
            Vec::new()
        };
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
            return Err(RecordError::new(
                "subject_refs",
                "more references than SUBJECT_REFS_MAX",
            ));
        }
        if self.subject_count < self.subject_refs.len() as u64 {
            return Err(RecordError::new(
                "subject_count",
                "smaller than the number of references",
            ));
        }
        if self.policy_ids.len() > POLICY_IDS_MAX {
            return Err(RecordError::new(
                "policy_ids",
                "more ids than POLICY_IDS_MAX",
            ));
        }
        for id in &self.policy_ids {
            check_string("policy_ids", id, false)?;
        }
        check_string("request_id", &self.request_id, true)?;
        if let Some(statement) = &self.statement {
            check_statement(statement.as_bytes())?;
        }
        Ok(())
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
        out.push(if self.statement.is_some() {
            RECORD_VERSION_STATEMENT
        } else {
            RECORD_VERSION
        });
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
        if let Some(statement) = &self.statement {
            // validate() bounded the length by STATEMENT_BYTES_MAX <= u16::MAX.
            out.extend_from_slice(&(statement.len() as u16).to_be_bytes());
            out.extend_from_slice(statement.as_bytes());
        }
        Ok(())
    }

    /// Decodes leaf bytes, refusing anything [`encode`](Self::encode) would not produce (unknown
    /// version, bad flag, trailing bytes, out-of-charset strings, a version 2 record with an
    /// empty statement), so the encoding is canonical. Accepts versions 1 and 2.
    pub fn decode(bytes: &[u8]) -> Result<AuditRecord, RecordError> {
        let view = Parsed::parse(bytes)?;
        let record = AuditRecord {
            time_us: view.time_us,
            principal: ascii(view.principal),
            action: ascii(view.action),
            purpose: view.purpose.map(ascii),
            resource: ascii(view.resource),
            subject_refs: view
                .refs
                .chunks_exact(32)
                .map(|c| c.try_into().unwrap_or([0; 32]))
                .collect(),
            subject_count: view.subject_count,
            decision: view.decision,
            policy_ids: view.policy_ids[..view.policy_count]
                .iter()
                .map(|s| ascii(s))
                .collect(),
            request_id: ascii(view.request_id),
            result_rows: view.result_rows,
            statement: view.statement.map(ascii),
        };
        debug_assert!(
            record.validate().is_ok(),
            "parse checks everything validate does"
        );
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
    /// Present exactly in a version 2 record.
    statement: Option<&'a [u8]>,
}

impl<'a> Parsed<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Parsed<'a>, RecordError> {
        let mut r = Reader { bytes };
        let version = r.u8("version")?;
        if version != RECORD_VERSION && version != RECORD_VERSION_STATEMENT {
            return Err(RecordError::new("version", "unknown record version"));
        }
        let time_us = i64::from_be_bytes(r.array("time_us")?);
        let principal = r.string("principal", false)?;
        let action = r.string("action", false)?;
        let purpose = match r.u8("purpose")? {
            0 => None,
            1 => Some(r.string("purpose", false)?),
            _ => {
                return Err(RecordError::new(
                    "purpose",
                    "presence flag is neither 0 nor 1",
                ));
            }
        };
        let resource = r.string("resource", false)?;
        let decision = Decision::from_byte(r.u8("decision")?)
            .ok_or_else(|| RecordError::new("decision", "neither 0 nor 1"))?;
        let subject_count = u64::from_be_bytes(r.array("subject_count")?);
        let ref_count = r.u8("subject_refs")? as usize;
        if ref_count > SUBJECT_REFS_MAX {
            return Err(RecordError::new(
                "subject_refs",
                "more references than SUBJECT_REFS_MAX",
            ));
        }
        if subject_count < ref_count as u64 {
            return Err(RecordError::new(
                "subject_count",
                "smaller than the number of references",
            ));
        }
        let refs = r.take("subject_refs", 32 * ref_count)?;
        let policy_count = r.u8("policy_ids")? as usize;
        if policy_count > POLICY_IDS_MAX {
            return Err(RecordError::new(
                "policy_ids",
                "more ids than POLICY_IDS_MAX",
            ));
        }
        let mut policy_ids: [&[u8]; POLICY_IDS_MAX] = [&[]; POLICY_IDS_MAX];
        for id in &mut policy_ids[..policy_count] {
            *id = r.string("policy_ids", false)?;
        }
        let request_id = r.string("request_id", true)?;
        let result_rows = u64::from_be_bytes(r.array("result_rows")?);
        let statement = if version == RECORD_VERSION_STATEMENT {
            Some(r.statement()?)
        } else {
            None
        };
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
            statement,
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

/// Whether `byte` may appear in a statement: printable ASCII (`0x20..=0x7E`) except the single
/// quote, the backslash and the backtick, so a normalized query (literals replaced by `?`)
/// passes and a quoted string literal does not.
pub fn is_statement_char(byte: u8) -> bool {
    (0x20..=0x7E).contains(&byte) && !matches!(byte, b'\'' | b'\\' | b'`')
}

/// Checks a statement (present, hence non-empty); the error names the field, never the value.
fn check_statement(value: &[u8]) -> Result<(), RecordError> {
    if value.is_empty() {
        return Err(RecordError::new("statement", "empty"));
    }
    if value.len() > STATEMENT_BYTES_MAX {
        return Err(RecordError::new(
            "statement",
            "longer than STATEMENT_BYTES_MAX",
        ));
    }
    if !value.iter().all(|b| is_statement_char(*b)) {
        return Err(RecordError::new(
            "statement",
            "character not printable ASCII, or a quote, backslash or backtick",
        ));
    }
    Ok(())
}

/// Checks one free string; the error names the field, never the value (it may be personal).
pub(crate) fn check_string(
    field: &'static str,
    value: &str,
    may_be_empty: bool,
) -> Result<(), RecordError> {
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
        return Err(RecordError::new(
            field,
            "character outside [A-Za-z0-9_:/.-]",
        ));
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

    /// The statement of a version 2 record: length-prefixed, non-empty, in its charset.
    fn statement(&mut self) -> Result<&'a [u8], RecordError> {
        let len = u16::from_be_bytes(self.array("statement")?) as usize;
        if len > STATEMENT_BYTES_MAX {
            return Err(RecordError::new(
                "statement",
                "longer than STATEMENT_BYTES_MAX",
            ));
        }
        let bytes = self.take("statement", len)?;
        check_statement(bytes)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            statement: None,
        }
    }

    /// `sample()` as encoded before statements existed (version 1), kept as a golden vector.
    const SAMPLE_V1_HEX: &str = concat!(
        "0100060a24181e4000000a6b65793a6b5f30314858000b6576656e74732e72656164010007737570706f7274",
        "001274656e616e742f61636d652f6576656e7473010000000000000001010707070707070707070707070707",
        "0707070707070707070707070707070707070200027031000c726f6c652e616e616c79737400077265712d31",
        "3233000000000000002a",
    );

    fn sample_v1() -> Vec<u8> {
        data_encoding::HEXLOWER
            .decode(SAMPLE_V1_HEX.as_bytes())
            .unwrap()
    }

    /// The version 2 bytes of `record` with `statement` appended raw (no check), for decoding tests.
    fn v2_with_raw_statement(record: &AuditRecord, statement: &[u8]) -> Vec<u8> {
        let mut bytes = record.encode().unwrap();
        assert_eq!(bytes[0], RECORD_VERSION);
        bytes[0] = RECORD_VERSION_STATEMENT;
        bytes.extend_from_slice(&(statement.len() as u16).to_be_bytes());
        bytes.extend_from_slice(statement);
        bytes
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
            assert!(
                AuditRecord::decode(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        let mut no_purpose = record.clone();
        no_purpose.purpose = None;
        assert_eq!(
            AuditRecord::decode(&no_purpose.encode().unwrap()).unwrap(),
            no_purpose
        );
    }

    #[test]
    fn version_1_bytes_of_an_old_record_decode_unchanged() {
        let old = sample_v1();
        assert_eq!(AuditRecord::decode(&old).unwrap(), sample());
        assert_eq!(
            sample().encode().unwrap(),
            old,
            "a record without a statement still encodes as version 1"
        );
        assert!(AuditRecord::check_leaf(&old).is_ok());
    }

    #[test]
    fn a_statement_makes_version_2_the_version_1_layout_then_the_statement() {
        let statement = "SELECT subject, count(*) FROM events WHERE kind = ? AND at > ? GROUP BY subject LIMIT ?";
        let record = AuditRecord {
            statement: Some(statement.into()),
            ..sample()
        };
        let bytes = record.encode().unwrap();
        let mut expected = sample_v1();
        expected[0] = 2;
        expected.extend_from_slice(&(statement.len() as u16).to_be_bytes());
        expected.extend_from_slice(statement.as_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(AuditRecord::decode(&bytes).unwrap(), record);
        for cut in 0..bytes.len() {
            assert!(
                AuditRecord::decode(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
    }

    #[test]
    fn non_canonical_versions_are_refused() {
        let v1 = sample_v1();
        // Version 1 never has a statement: the bytes are trailing.
        let mut v1_with_statement = v1.clone();
        v1_with_statement.extend_from_slice(&[0, 1, b'x']);
        assert_eq!(
            AuditRecord::decode(&v1_with_statement).unwrap_err().field,
            "record"
        );
        // Version 2 always has one, and it is not empty.
        let mut v2_without = v1.clone();
        v2_without[0] = RECORD_VERSION_STATEMENT;
        assert_eq!(
            AuditRecord::decode(&v2_without).unwrap_err().field,
            "statement"
        );
        let empty = v2_with_raw_statement(&sample(), b"");
        assert_eq!(AuditRecord::decode(&empty).unwrap_err().field, "statement");
        assert_eq!(
            AuditRecord::check_leaf(&empty).unwrap_err().field,
            "statement"
        );
        assert_eq!(
            AuditRecord {
                statement: Some(String::new()),
                ..sample()
            }
            .encode()
            .unwrap_err()
            .field,
            "statement"
        );
        // A length beyond the bound is refused before the bytes are read.
        let mut long = v2_with_raw_statement(&sample(), b"x");
        let at = long.len() - 3;
        long[at..at + 2].copy_from_slice(&(STATEMENT_BYTES_MAX as u16 + 1).to_be_bytes());
        assert_eq!(AuditRecord::decode(&long).unwrap_err().field, "statement");
        for version in [0u8, 3, 255] {
            let mut other = v1.clone();
            other[0] = version;
            assert_eq!(AuditRecord::decode(&other).unwrap_err().field, "version");
        }
    }

    #[test]
    fn statements_with_quotes_or_non_ascii_are_refused_without_echoing_them() {
        let refused: [&str; 8] = [
            "SELECT * FROM events WHERE email = 'alice@example.com'",
            "SELECT * FROM events WHERE name = ?  -- Zoë alice",
            "SELECT * FROM `alice`",
            "SELECT * FROM events WHERE name = E\\x41alice",
            "SELECT *\nFROM events -- alice",
            "SELECT *\tFROM events -- alice",
            "SELECT \u{7f} alice",
            "SELECT alice",
        ];
        for (i, statement) in refused.iter().enumerate() {
            let statement = if i == refused.len() - 1 {
                format!("{statement} {}", "x".repeat(STATEMENT_BYTES_MAX))
            } else {
                statement.to_string()
            };
            let record = AuditRecord {
                statement: Some(statement.clone()),
                ..sample()
            };
            let error = record.encode().unwrap_err();
            assert_eq!(error.field, "statement", "{statement:?}");
            assert!(!error.to_string().contains("alice"), "{error}");
            // A tampered file cannot smuggle one in either.
            let error =
                AuditRecord::decode(&v2_with_raw_statement(&sample(), statement.as_bytes()))
                    .unwrap_err();
            assert_eq!(error.field, "statement", "{statement:?}");
            assert!(!error.to_string().contains("alice"), "{error}");
        }
        let accepted =
            "SELECT \"subject\", sum(x) / 2 FROM events WHERE a <> ? AND b IN (?, ?) OR c ~ ?;";
        let record = AuditRecord {
            statement: Some(accepted.into()),
            ..sample()
        };
        assert_eq!(
            AuditRecord::decode(&record.encode().unwrap()).unwrap(),
            record
        );
    }

    #[test]
    fn the_statement_charset_is_printable_ascii_without_quotes_and_backslash() {
        let allowed: Vec<u8> = (0..=255u8).filter(|b| is_statement_char(*b)).collect();
        let expected: Vec<u8> = (0x20..=0x7Eu8)
            .filter(|b| !matches!(b, b'\'' | b'\\' | b'`'))
            .collect();
        assert_eq!(allowed, expected);
        assert_eq!(allowed.len(), 95 - 3);
    }

    #[test]
    fn free_text_and_personal_looking_values_are_refused_without_echoing_them() {
        type Change = fn(&mut AuditRecord);
        let cases: [(&str, Change); 6] = [
            ("resource", |r| {
                r.resource = "tenant/acme/alice@example.com".into()
            }),
            ("principal", |r| {
                r.principal = "user:alice@example.com".into()
            }),
            ("action", |r| r.action = "read events".into()),
            ("purpose", |r| r.purpose = Some("Ärztin".into())),
            ("policy_ids", |r| r.policy_ids.push("p;drop".into())),
            ("request_id", |r| {
                r.request_id = "x".repeat(STRING_BYTES_MAX + 1)
            }),
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
            statement: Some("?".repeat(STATEMENT_BYTES_MAX)),
            ..sample()
        };
        let bytes = record.encode().unwrap();
        assert_eq!(bytes.len(), crate::limits::LEAF_BYTES_MAX);
        assert_eq!(AuditRecord::decode(&bytes).unwrap(), record);
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

    fn audit_string(may_be_empty: bool) -> impl Strategy<Value = String> {
        let min = usize::from(!may_be_empty);
        prop::collection::vec(prop::sample::select(AUDIT_ALPHABET.to_vec()), min..24)
            .prop_map(|bytes| ascii(&bytes))
    }

    const AUDIT_ALPHABET: &[u8] = b"ABCXYZabcxyz0189_:/.-";

    /// Statements of any allowed byte, mostly short, sometimes at the bound.
    fn statement() -> impl Strategy<Value = String> {
        let allowed: Vec<u8> = (0..=255u8).filter(|b| is_statement_char(*b)).collect();
        prop_oneof![
            4 => prop::collection::vec(prop::sample::select(allowed.clone()), 1..200),
            1 => prop::collection::vec(prop::sample::select(allowed), STATEMENT_BYTES_MAX - 2..=STATEMENT_BYTES_MAX),
        ]
        .prop_map(|bytes| ascii(&bytes))
    }

    prop_compose! {
        fn record()(
            time_us in any::<i64>(),
            principal in audit_string(false),
            action in audit_string(false),
            purpose in prop::option::of(audit_string(false)),
            resource in audit_string(false),
            subject_refs in prop::collection::vec(any::<[u8; 32]>(), 0..=SUBJECT_REFS_MAX),
            extra_subjects in 0u64..1_000,
            allow in any::<bool>(),
            policy_ids in prop::collection::vec(audit_string(false), 0..4),
            request_id in audit_string(true),
            result_rows in any::<u64>(),
            statement in prop::option::of(statement()),
        ) -> AuditRecord {
            AuditRecord {
                time_us,
                principal,
                action,
                purpose,
                resource,
                subject_count: subject_refs.len() as u64 + extra_subjects,
                subject_refs,
                decision: if allow { Decision::Allow } else { Decision::Deny },
                policy_ids,
                request_id,
                result_rows,
                statement,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn records_round_trip_with_and_without_a_statement(record in record(), extra in any::<u8>()) {
            let bytes = record.encode().unwrap();
            prop_assert_eq!(AuditRecord::decode(&bytes).unwrap(), record.clone());
            prop_assert!(AuditRecord::check_leaf(&bytes).is_ok());
            prop_assert!(bytes.len() <= crate::limits::LEAF_BYTES_MAX);
            let mut longer = bytes.clone();
            longer.push(extra);
            prop_assert!(AuditRecord::decode(&longer).is_err());
            prop_assert!(AuditRecord::decode(&bytes[..bytes.len() - 1]).is_err());
            // Without its statement the record is exactly version 1; with it, version 2 is that
            // layout then the statement.
            let without = AuditRecord { statement: None, ..record.clone() };
            let v1 = without.encode().unwrap();
            prop_assert_eq!(v1[0], RECORD_VERSION);
            match &record.statement {
                None => prop_assert_eq!(&bytes, &v1),
                Some(statement) => {
                    prop_assert_eq!(bytes[0], RECORD_VERSION_STATEMENT);
                    prop_assert_eq!(&bytes[1..v1.len()], &v1[1..]);
                    prop_assert_eq!(&bytes[v1.len()..v1.len() + 2], &(statement.len() as u16).to_be_bytes()[..]);
                    prop_assert_eq!(&bytes[v1.len() + 2..], statement.as_bytes());
                }
            }
        }

        #[test]
        fn a_refused_statement_byte_is_refused_anywhere(record in record(), statement in statement(), at in any::<prop::sample::Index>(), bad in any::<u8>()) {
            prop_assume!(!is_statement_char(bad));
            let mut bytes = statement.into_bytes();
            let at = at.index(bytes.len());
            bytes[at] = bad;
            let with_raw = v2_with_raw_statement(&AuditRecord { statement: None, ..record.clone() }, &bytes);
            prop_assert_eq!(AuditRecord::decode(&with_raw).unwrap_err().field, "statement");
            if let Ok(text) = String::from_utf8(bytes) {
                let error = AuditRecord { statement: Some(text), ..record }.encode().unwrap_err();
                prop_assert_eq!(error.field, "statement");
            }
        }
    }
}
