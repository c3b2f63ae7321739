//! Reading a subject's timeline through the read guard, one page at a time.

use serde_json::{Map, Value};
use steward_crypto::Pseudonym;
use steward_privacy::{PrivacyClass, format_timestamp_micros};
use steward_store::SubjectScan;

use crate::limits::{TIMELINE_EVENTS_MAX, TIMELINE_PAGE_BYTES_MAX};
use crate::{EngineError, ReadGuard};

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
        let bad = || {
            EngineError::invalid(
                "invalid_cursor",
                Some("cursor"),
                "expected a cursor returned by a previous page",
            )
        };
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| bad())?;
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

/// One page: the store seeks to the cursor and yields rows the guard admits (consent,
/// tombstones, retention), and the guard projects each row's visible fields.
pub(crate) fn read(guard: &ReadGuard, query: &TimelineQuery) -> Result<TimelinePage, EngineError> {
    if query.limit == 0 || query.limit > TIMELINE_EVENTS_MAX {
        return Err(EngineError::invalid(
            "invalid_limit",
            Some("limit"),
            format!("expected 1 to {TIMELINE_EVENTS_MAX}"),
        ));
    }
    if !guard.admits_subject(&query.subject) {
        return Ok(TimelinePage {
            events: Vec::new(),
            next_cursor: None,
        });
    }
    let scan = SubjectScan {
        subject: query.subject,
        from_us: query.from_us,
        to_us: query.to_us,
        types: query.types.clone(),
        after: query.cursor.map(|c| (c.time_us, c.seq)),
        limit: query.limit,
    };
    let rule = guard.point_rule();
    let (records, more) = guard.partition().scan_subject(&scan, &rule)?;
    let mut events = Vec::with_capacity(records.len());
    // A page also ends at a byte bound, so a page of large events stays a bounded response;
    // the cursor then resumes after the last event included.
    let mut bytes = 0usize;
    let mut cut_short = false;
    for record in &records {
        let e = &record.event;
        if !events.is_empty() && bytes > TIMELINE_PAGE_BYTES_MAX {
            cut_short = true;
            break;
        }
        bytes += e.public.len() + e.sealed.len() + e.event_id.len() + e.event_type.len();
        events.push(TimelineEvent {
            event_id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            time: format_timestamp_micros(e.time_us).unwrap_or_default(),
            schema_version: e.schema_version,
            properties: guard.project(record)?,
        });
    }
    // `records` holds only admitted rows, so the last one included is the cursor.
    let last = records.get(events.len().saturating_sub(1));
    let next_cursor = if more || cut_short {
        last.map(|r| Cursor {
            time_us: r.event.time_us,
            seq: r.seq,
        })
    } else {
        None
    };
    Ok(TimelinePage {
        events,
        next_cursor,
    })
}

/// The class a field stored in the clear is read as: free text cleaned of PII (a `pii`
/// action other than `seal`) reads as public; a field the schema does not know reads as an
/// identifier (the narrower class) unless undeclared fields are cleaned.
pub(crate) fn stored_class(schema: Option<&steward_privacy::Schema>, name: &str) -> PrivacyClass {
    use steward_privacy::pii::PiiAction;
    let Some(schema) = schema else {
        return PrivacyClass::Identifier;
    };
    match schema.field(name) {
        Some(_)
            if schema
                .pii_action(name)
                .is_some_and(|a| a != PiiAction::Seal) =>
        {
            PrivacyClass::Public
        }
        Some(field) => field.class,
        None if schema
            .unknown_fields_pii()
            .is_some_and(|a| a != PiiAction::Seal) =>
        {
            PrivacyClass::Public
        }
        None => PrivacyClass::Identifier,
    }
}
