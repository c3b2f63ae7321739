//! Request and response bodies of the public API, converted by hand from engine types.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_access::ApiKeyRecord;
use steward_engine::{IngestReport, TenantInfo, TimelineEvent};

use crate::limits::REJECTED_LISTED_MAX;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub id: String,
}

pub fn tenant(info: &TenantInfo) -> Value {
    json!({"id": info.id, "created_at": info.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Purposes the key may read for; absent or empty: any its role permits.
    #[serde(default)]
    pub purposes: Vec<String>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitBody {
    pub per_second: u32,
    pub burst: u32,
}

pub fn key(record: &ApiKeyRecord) -> Value {
    let time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": record.id,
        "name": record.name,
        "role": record.role.as_str(),
        "created_at": time(&record.created_at),
        "expires_at": record.expires_at.as_ref().map(time),
        "revoked_at": record.revoked_at.as_ref().map(time),
        "purposes": record.purposes,
        "rate_limit": record.rate_limit.map(|r| json!({"per_second": r.per_second, "burst": r.burst})),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    pub external_id: String,
}

/// The ingest response: counts always complete, rejected events listed up to a bound.
#[derive(Serialize, Default)]
pub struct IngestResponse {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected_count: u64,
    pub rejected: Vec<Value>,
}

impl IngestResponse {
    /// Adds a report whose event `i` is the request's event `offset + i`.
    pub fn add(&mut self, report: &IngestReport, offset: usize) {
        self.add_with(report, |i| offset + i);
    }

    /// Adds a report whose event `i` is the request's event `indexes[i]` (NDJSON line numbers).
    pub fn add_mapped(&mut self, report: &IngestReport, indexes: &[usize]) {
        self.add_with(report, |i| indexes.get(i).copied().unwrap_or(i));
    }

    fn add_with(&mut self, report: &IngestReport, index_of: impl Fn(usize) -> usize) {
        self.accepted += report.accepted() as u64;
        self.duplicates += report.duplicates() as u64;
        for (index, error) in report.rejected() {
            self.rejected_count += 1;
            if self.rejected.len() < REJECTED_LISTED_MAX {
                let details: Vec<Value> = error.all.iter().map(|(code, field, message)| json!({"code": code, "field": field, "message": message})).collect();
                self.rejected.push(json!({
                    "index": index_of(index),
                    "code": error.code,
                    "field": error.field,
                    "message": error.message,
                    "errors": details,
                }));
            }
        }
    }

    pub fn merge(&mut self, other: IngestResponse) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected_count += other.rejected_count;
        let room = REJECTED_LISTED_MAX.saturating_sub(self.rejected.len());
        self.rejected.extend(other.rejected.into_iter().take(room));
    }

    pub fn reject_line(&mut self, index: usize, code: &str, message: &str) {
        self.rejected_count += 1;
        if self.rejected.len() < REJECTED_LISTED_MAX {
            self.rejected
                .push(json!({"index": index, "code": code, "field": null, "message": message}));
        }
    }
}

pub fn timeline_event(event: &TimelineEvent) -> Value {
    json!({
        "event_id": event.event_id,
        "type": event.event_type,
        "time": event.time,
        "schema_version": event.schema_version,
        "properties": event.properties,
    })
}
