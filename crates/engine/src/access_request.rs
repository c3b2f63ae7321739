//! Access requests (GDPR articles 15 and 20): one archive with everything held about a
//! subject: its events with every field opened, its consents and their history, its erasure
//! requests, the access report from the audit log, and the derived artifacts that include it
//! (every registered artifact kind's answer).
//!
//! The archive is a ustar file built in memory, bounded by `ACCESS_ARCHIVE_BYTES_MAX`.

use serde_json::{Value, json};

use crate::limits::{ACCESS_ARCHIVE_BYTES_MAX, TIMELINE_EVENTS_MAX};
use crate::{Engine, EngineError, ReadAccess, ReportFilter, TimelineQuery};

/// An access archive and what it holds.
pub struct AccessArchive {
    pub tar: Vec<u8>,
    pub events: u64,
    pub subject_ref: Option<steward_audit::SubjectRef>,
}

impl Engine {
    /// The archive of everything held about one subject, read through a guard with the
    /// subject-access purpose (`access` must be [`ReadAccess::subject_access`]).
    pub fn access_archive(
        &self,
        tenant: &str,
        external_id: &str,
        access: ReadAccess,
    ) -> Result<AccessArchive, EngineError> {
        if access.purpose() != &crate::ReadPurpose::SubjectAccess {
            return Err(EngineError::invalid(
                "invalid_purpose",
                Some("purpose"),
                "an access request reads with the subject-access purpose",
            ));
        }
        let subject = self.resolve_subject(tenant, external_id)?;
        let now = chrono::Utc::now();
        let mtime = now.timestamp().max(0) as u64;
        let mut events = Vec::new();
        let mut count = 0u64;
        let mut query = TimelineQuery {
            subject,
            from_us: None,
            to_us: None,
            types: None,
            cursor: None,
            limit: TIMELINE_EVENTS_MAX,
        };
        // The subject's own data, through the one read path with its own purpose: every class
        // opened, no consent filter; erasure and retention apply.
        let guard = self.read_guard(tenant, access)?;
        loop {
            let page = self.timeline(&guard, &query)?;
            for e in &page.events {
                let line = json!({"event_id": e.event_id, "type": e.event_type, "time": e.time, "schema_version": e.schema_version, "properties": e.properties});
                events.extend_from_slice(line.to_string().as_bytes());
                events.push(b'\n');
                count += 1;
            }
            if events.len() > ACCESS_ARCHIVE_BYTES_MAX {
                return Err(EngineError::Limit(format!(
                    "the subject's events exceed {ACCESS_ARCHIVE_BYTES_MAX} bytes; ask the operator for an offline export"
                )));
            }
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        let consents = json!({
            "in_force": self.consents(tenant, &subject)?,
            "history": self.consent_history(tenant, &subject)?,
        });
        let erasures: Vec<Value> = self
            .erasure_for_subject(tenant, &subject)?
            .map(|r| json!(r))
            .into_iter()
            .collect();
        let report = self.audit_report(
            tenant,
            &ReportFilter {
                subject: Some(subject),
                limit: crate::limits::REPORT_ROWS_MAX,
                ..ReportFilter::default()
            },
        )?;
        let accesses: Vec<Value> = report
            .rows
            .iter()
            .map(|(index, r)| json!({"index": index, "time_us": r.time_us, "principal": r.principal, "action": r.action, "purpose": r.purpose, "decision": r.decision.as_str(), "policy_ids": r.policy_ids}))
            .collect();
        let derived = self.subject_lineage(tenant, &subject)?;
        let subject_ref = self.subject_ref(tenant, &subject)?;
        let summary = json!({
            "tenant": tenant,
            "subject": subject.to_hex(),
            "generated_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "events": count,
            "consents_in_force": consents["in_force"].as_array().map_or(0, Vec::len),
            "erasure_requests": erasures.len(),
            "audit_records": accesses.len(),
            "audit_report_truncated": report.truncated,
            "derived_artifacts": derived.len(),
        });
        let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
        let mut tar = Vec::with_capacity(events.len() + 16 * 1024);
        crate::tar::append(&mut tar, "README.txt", README.as_bytes(), mtime);
        crate::tar::append(&mut tar, "subject.json", &pretty(&summary), mtime);
        crate::tar::append(&mut tar, "events.ndjson", &events, mtime);
        crate::tar::append(&mut tar, "consents.json", &pretty(&consents), mtime);
        crate::tar::append(&mut tar, "erasures.json", &pretty(&json!(erasures)), mtime);
        crate::tar::append(
            &mut tar,
            "access_report.json",
            &pretty(&json!(accesses)),
            mtime,
        );
        crate::tar::append(&mut tar, "derived.json", &pretty(&json!(derived)), mtime);
        crate::tar::finish(&mut tar);
        Ok(AccessArchive {
            tar,
            events: count,
            subject_ref,
        })
    }
}

const README: &str = "Everything this service holds about you (GDPR articles 15 and 20).

subject.json        who this is about (your pseudonym in this tenant) and a summary
events.ndjson       every event recorded about you, one JSON object a line, all fields
consents.json       your consent decisions per purpose, in force and their history
erasures.json       your erasure requests, if any, with each state and its time
access_report.json  every access to your data: when, by which key or user, why, allowed or not
derived.json        data set versions (and later models) built from your data
";
