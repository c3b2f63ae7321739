//! Reading a subject's timeline, with sealed fields opened only when the caller may see them.

use serde_json::{Map, Value};
use steward_crypto::Pseudonym;
use steward_privacy::{format_timestamp_micros, PrivacyClass};
use steward_store::SubjectScan;

use crate::limits::{TIMELINE_EVENTS_MAX, TIMELINE_PAGE_BYTES_MAX};
use crate::sealing::open_fields;
use crate::tenant::Tenant;
use crate::EngineError;

/// An opaque position in a timeline: (time, seq) of the last event returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub time_us: i64,
    pub seq: u64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.time_us.to_be_bytes());
        bytes[8..].copy_from_slice(&self.seq.to_be_bytes());
        data_encoding::BASE64URL_NOPAD.encode(&bytes)
    }

    pub fn decode(text: &str) -> Result<Cursor, EngineError> {
        let bad = || EngineError::invalid("invalid_cursor", Some("cursor"), "expected a cursor returned by a previous page");
        let bytes = data_encoding::BASE64URL_NOPAD.decode(text.as_bytes()).map_err(|_| bad())?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| bad())?;
        Ok(Cursor {
            time_us: i64::from_be_bytes(bytes[..8].try_into().map_err(|_| bad())?),
            seq: u64::from_be_bytes(bytes[8..].try_into().map_err(|_| bad())?),
        })
    }
}

#[derive(Clone, Debug)]
pub struct TimelineQuery {
    pub subject: Pseudonym,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub types: Option<Vec<String>>,
    pub cursor: Option<Cursor>,
    pub limit: usize,
    /// The read's purpose: a subject who withholds consent for it is in no row. `None` only
    /// for the subject's own access request and operator tools, never for an API read.
    pub purpose: Option<String>,
    /// The classes the caller sees in the clear (decided by the policies for its purpose);
    /// every other field reads as null.
    pub visible: Vec<PrivacyClass>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEvent {
    pub event_id: String,
    pub event_type: String,
    pub time: String,
    pub schema_version: u32,
    pub properties: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimelinePage {
    pub events: Vec<TimelineEvent>,
    pub next_cursor: Option<Cursor>,
}

pub(crate) fn read(tenant: &Tenant, query: &TimelineQuery) -> Result<TimelinePage, EngineError> {
    if query.limit == 0 || query.limit > TIMELINE_EVENTS_MAX {
        return Err(EngineError::invalid("invalid_limit", Some("limit"), format!("expected 1 to {TIMELINE_EVENTS_MAX}")));
    }
    let scan = SubjectScan {
        subject: query.subject,
        from_us: query.from_us,
        to_us: query.to_us,
        types: query.types.clone(),
        after: query.cursor.map(|c| (c.time_us, c.seq)),
        limit: query.limit,
    };
    let (records, more) = tenant.partition().scan_subject(&scan)?;
    let sees = |class: PrivacyClass| query.visible.contains(&class);
    let any_sealed = PrivacyClass::ALL.into_iter().any(|c| c.is_sealed() && sees(c));
    let key = if any_sealed { tenant.partition().subject_key(&query.subject, false)? } else { None };
    let mut events = Vec::with_capacity(records.len());
    // A page also ends at a byte bound, so a page of large events stays a bounded response;
    // the cursor then resumes after the last event included.
    let mut bytes = 0usize;
    let mut cut_short = false;
    let now_us = chrono::Utc::now().timestamp_micros();
    for record in &records {
        let e = &record.event;
        // Past its type's retention: unreadable from the moment it expires, before the purge.
        if tenant.retention_s(&e.event_type).is_some_and(|ttl| e.time_us.saturating_add((ttl as i64).saturating_mul(1_000_000)) <= now_us) {
            continue;
        }
        if !events.is_empty() && bytes > TIMELINE_PAGE_BYTES_MAX {
            cut_short = true;
            break;
        }
        bytes += e.public.len() + e.sealed.len() + e.event_id.len() + e.event_type.len();
        let mut properties: Map<String, Value> = serde_json::from_slice(&e.public).map_err(|err| EngineError::DataDir {
            path: tenant.partition().wal_dir(),
            reason: format!("stored public fields are not JSON: {err}"),
        })?;
        // Stored in the clear are public fields and identifiers (already pseudonyms); the
        // schema version the event was written under says which is which.
        if !(sees(PrivacyClass::Public) && sees(PrivacyClass::Identifier)) {
            let schema = tenant.schema(&e.event_type, Some(e.schema_version)).ok();
            for (name, value) in properties.iter_mut() {
                let class = stored_class(schema.as_deref().map(|s| &s.schema), name);
                if !sees(class) {
                    *value = Value::Null;
                }
            }
        }
        let opened = open_fields(&e.sealed, key.as_ref(), tenant.id(), &e.subject, &e.event_id)
            .map_err(|reason| EngineError::DataDir { path: tenant.partition().wal_dir(), reason })?;
        for field in opened {
            let value = if sees(field.class) { field.value } else { None };
            properties.insert(field.name, value.unwrap_or(Value::Null));
        }
        events.push(TimelineEvent {
            event_id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            time: format_timestamp_micros(e.time_us).unwrap_or_default(),
            schema_version: e.schema_version,
            properties,
        });
    }
    let last = records.get(events.len().saturating_sub(1));
    let next_cursor = if more || cut_short { last.map(|r| Cursor { time_us: r.event.time_us, seq: r.seq }) } else { None };
    Ok(TimelinePage { events, next_cursor })
}

/// The class a field stored in the clear is read as: free text cleaned of PII (a `pii`
/// action other than `seal`) reads as public; a field the schema does not know reads as an
/// identifier (the narrower class) unless undeclared fields are cleaned.
pub(crate) fn stored_class(schema: Option<&steward_privacy::Schema>, name: &str) -> PrivacyClass {
    use steward_privacy::pii::PiiAction;
    let Some(schema) = schema else { return PrivacyClass::Identifier };
    match schema.field(name) {
        Some(_) if schema.pii_action(name).is_some_and(|a| a != PiiAction::Seal) => PrivacyClass::Public,
        Some(field) => field.class,
        None if schema.unknown_fields_pii().is_some_and(|a| a != PiiAction::Seal) => PrivacyClass::Public,
        None => PrivacyClass::Identifier,
    }
}
