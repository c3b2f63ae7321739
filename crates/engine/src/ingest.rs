//! Ingest: check each event's envelope and properties, pseudonymize, seal, append.
//!
//! Every event gets its own outcome; a bad event never drops good ones unless the caller
//! asks for all-or-nothing. Errors name the event's field and what was expected, never
//! the value (values may be personal data and error reports are logged).

use serde_json::{Map, Value};
use steward_crypto::Pseudonym;
use steward_privacy::{
    FieldError, format_timestamp_micros, parse_timestamp_micros, validate_event_type,
};
use steward_store::NewEvent;

use crate::EngineError;
use crate::limits::{
    EVENT_ID_BYTES_MAX, EXTERNAL_ID_BYTES_MAX, INGEST_BATCH_EVENTS_MAX, PROPERTIES_BYTES_MAX,
};
use crate::sealing::seal_fields;
use crate::tenant::Tenant;

#[derive(Clone, Copy, Debug, Default)]
pub struct IngestOptions {
    /// Store nothing if any event is rejected.
    pub all_or_nothing: bool,
}

/// Why one event was rejected: a stable code, the field (dotted path) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventError {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
    /// Every problem found in the event (the first is repeated above).
    pub all: Vec<(&'static str, Option<String>, String)>,
}

impl EventError {
    fn one(code: &'static str, field: Option<&str>, message: impl Into<String>) -> EventError {
        let message = message.into();
        let field = field.map(str::to_owned);
        EventError {
            code,
            field: field.clone(),
            message: message.clone(),
            all: vec![(code, field, message)],
        }
    }

    fn from_fields(errors: Vec<FieldError>) -> EventError {
        let all: Vec<_> = errors
            .into_iter()
            .map(|e| {
                let field = if e.field.is_empty() {
                    "properties".to_owned()
                } else {
                    format!("properties.{}", e.field)
                };
                (e.code.code(), Some(field), e.message)
            })
            .collect();
        let (code, field, message) =
            all.first()
                .cloned()
                .unwrap_or(("invalid_properties", None, String::new()));
        EventError {
            code,
            field,
            message,
            all,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    Accepted,
    Duplicate,
    Rejected(EventError),
}

#[derive(Clone, Debug, Default)]
pub struct IngestReport {
    pub outcomes: Vec<EventOutcome>,
}

impl IngestReport {
    pub fn accepted(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, EventOutcome::Accepted))
            .count()
    }
    pub fn duplicates(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, EventOutcome::Duplicate))
            .count()
    }
    pub fn rejected(&self) -> impl Iterator<Item = (usize, &EventError)> {
        self.outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                EventOutcome::Rejected(e) => Some((i, e)),
                _ => None,
            })
    }
}

/// A checked event, before sealing.
struct Checked {
    subject: Pseudonym,
    time_us: i64,
    event_id: String,
    event_type: String,
    schema_version: u32,
    /// Public fields as stored: a JSON object.
    public: Vec<u8>,
    sealed: Vec<(String, steward_privacy::PrivacyClass, Value)>,
}

pub(crate) fn ingest(
    tenant: &Tenant,
    events: &[Value],
    options: IngestOptions,
) -> Result<IngestReport, EngineError> {
    if events.len() > INGEST_BATCH_EVENTS_MAX {
        return Err(EngineError::Limit(format!(
            "at most {INGEST_BATCH_EVENTS_MAX} events per batch, got {}",
            events.len()
        )));
    }
    let checked: Vec<Result<Checked, EventError>> =
        events.iter().map(|e| check(tenant, e)).collect();
    let any_bad = checked.iter().any(Result::is_err);
    let tenant_label = tenant.id().to_owned();
    if options.all_or_nothing && any_bad {
        let outcomes = checked
            .into_iter()
            .map(|c| match c {
                Err(e) => EventOutcome::Rejected(e),
                Ok(_) => EventOutcome::Rejected(EventError::one(
                    "batch_aborted",
                    None,
                    "not stored: another event of this all-or-nothing batch was rejected",
                )),
            })
            .collect::<Vec<_>>();
        metrics::counter!("steward_ingest_events_total", "tenant" => tenant_label, "outcome" => "rejected").increment(outcomes.len() as u64);
        return Ok(IngestReport { outcomes });
    }

    let mut new_events = Vec::with_capacity(events.len());
    let mut errors: Vec<Option<EventError>> = Vec::with_capacity(events.len());
    let mut bytes = 0u64;
    for c in checked {
        let c = match c {
            Ok(c) => c,
            Err(e) => {
                errors.push(Some(e));
                continue;
            }
        };
        errors.push(None);
        let key =
            tenant
                .partition()
                .subject_key(&c.subject, true)?
                .ok_or(EngineError::NotFound {
                    what: "subject key",
                })?;
        let sealed = seal_fields(&key, tenant.id(), &c.subject, &c.event_id, &c.sealed);
        bytes += (c.public.len() + sealed.len()) as u64;
        new_events.push(NewEvent {
            subject: c.subject,
            time_us: c.time_us,
            event_id: c.event_id,
            event_type: c.event_type,
            schema_version: c.schema_version,
            public: c.public,
            sealed,
        });
    }
    let stored = if new_events.is_empty() {
        Vec::new()
    } else {
        tenant.partition().append(new_events)?.stored
    };
    let mut stored = stored.into_iter();
    let outcomes: Vec<EventOutcome> = errors
        .into_iter()
        .map(|e| match e {
            Some(e) => EventOutcome::Rejected(e),
            None => match stored.next() {
                Some(true) => EventOutcome::Accepted,
                _ => EventOutcome::Duplicate,
            },
        })
        .collect();
    let report = IngestReport { outcomes };
    let count = |outcome: &'static str, n: usize| {
        if n > 0 {
            metrics::counter!("steward_ingest_events_total", "tenant" => tenant_label.clone(), "outcome" => outcome).increment(n as u64);
        }
    };
    count("accepted", report.accepted());
    count("duplicate", report.duplicates());
    count("rejected", report.rejected().count());
    metrics::counter!("steward_ingest_bytes_total", "tenant" => tenant_label.clone())
        .increment(bytes);
    Ok(report)
}

const ENVELOPE_FIELDS: [&str; 5] = ["event_id", "type", "subject", "time", "properties"];

fn check(tenant: &Tenant, event: &Value) -> Result<Checked, EventError> {
    let Some(object) = event.as_object() else {
        return Err(EventError::one(
            "invalid_event",
            None,
            format!("expected a JSON object, found {}", kind(event)),
        ));
    };
    if object
        .keys()
        .any(|k| !ENVELOPE_FIELDS.contains(&k.as_str()))
    {
        // The unknown name is the caller's: not repeated.
        return Err(EventError::one(
            "unknown_field",
            None,
            "an unknown envelope field; expected only event_id, type, subject, time and properties",
        ));
    }
    let event_id = string_field(object, "event_id", "invalid_event_id", EVENT_ID_BYTES_MAX)?;
    if event_id.chars().any(char::is_control) {
        return Err(EventError::one(
            "invalid_event_id",
            Some("event_id"),
            "expected no control characters",
        ));
    }
    let event_type = string_field(object, "type", "invalid_event_type", 64)?;
    validate_event_type(event_type)
        .map_err(|e| EventError::one("invalid_event_type", Some("type"), e.to_string()))?;
    let subject = string_field(object, "subject", "invalid_subject", EXTERNAL_ID_BYTES_MAX)?;
    let time = string_field(object, "time", "invalid_time", 64)?;
    let time_us = parse_timestamp_micros(time)
        .filter(|&us| format_timestamp_micros(us).is_some())
        .ok_or_else(|| {
            EventError::one(
                "invalid_time",
                Some("time"),
                "expected an RFC 3339 timestamp such as 2026-11-22T10:00:00Z",
            )
        })?;
    let empty = Map::new();
    let properties = match object.get("properties") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(EventError::one(
                "invalid_properties",
                Some("properties"),
                format!("expected an object, found {}", kind(other)),
            ));
        }
    };
    let schema = tenant.schema(event_type, None).map_err(|_| {
        EventError::one(
            "unknown_event_type",
            Some("type"),
            "no schema is registered for this event type; PUT one first",
        )
    })?;
    let validated = schema
        .schema
        .validate(properties)
        .map_err(EventError::from_fields)?;
    let mut public = validated.public;
    // Free text with a PII action: what the scanner finds is replaced, the rest kept in the clear.
    for (field, action, text) in &validated.scan {
        let findings = steward_privacy::pii::scan(text);
        for finding in &findings {
            metrics::counter!("steward_pii_findings_total", "entity" => finding.entity.as_str())
                .increment(1);
        }
        let cleaned = steward_privacy::pii::apply(text, &findings, *action, &|entity, value| {
            steward_privacy::pii::hmac_token(tenant.pii_token_key(), entity, value)
        });
        public.insert(field.clone(), Value::String(cleaned));
    }
    for (field, reference) in &validated.identifiers {
        public.insert(
            field.clone(),
            Value::String(tenant.pseudonym_unchecked(reference).to_hex()),
        );
    }
    let public = serde_json::to_vec(&public).unwrap_or_default();
    if public.len() > PROPERTIES_BYTES_MAX {
        return Err(EventError::one(
            "too_large",
            Some("properties"),
            format!("expected at most {PROPERTIES_BYTES_MAX} bytes of properties"),
        ));
    }
    let subject = tenant.pseudonym_unchecked(subject);
    if tenant.is_suppressed(&subject) {
        return Err(EventError::one(
            "subject_suppressed",
            Some("subject"),
            "this subject was erased and asked that no new data about them be accepted",
        ));
    }
    Ok(Checked {
        subject,
        time_us,
        event_id: event_id.to_owned(),
        event_type: event_type.to_owned(),
        schema_version: schema.version,
        public,
        sealed: validated.sealed,
    })
}

fn string_field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    code: &'static str,
    max_bytes: usize,
) -> Result<&'a str, EventError> {
    match object.get(name) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= max_bytes => Ok(s),
        Some(Value::String(_)) => Err(EventError::one(
            code,
            Some(name),
            format!("expected a string of 1 to {max_bytes} bytes"),
        )),
        None | Some(Value::Null) => Err(EventError::one(
            "missing_field",
            Some(name),
            format!("expected a string {name}"),
        )),
        Some(other) => Err(EventError::one(
            code,
            Some(name),
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
