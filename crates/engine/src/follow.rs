//! Following one event type through the read guard, in acknowledgement order: how a derived
//! artifact kept current as events arrive (a vector index over a text field) reads them.
//!
//! The rows are the guard's (consent, erasure tombstones, retention) and each row's fields are
//! projected with the guard's visibility, exactly as a timeline reads them; the store only
//! says up to where everything is readable ([`ReadGuard::settled_seq`]).

use serde_json::{Map, Value};
use steward_crypto::Pseudonym;
use steward_store::SeqScan;

use crate::EngineError;
use crate::guard::ReadGuard;

/// One event as a follower sees it.
#[derive(Clone, Debug)]
pub struct FollowedEvent {
    pub seq: u64,
    pub subject: Pseudonym,
    pub event_id: String,
    pub time_us: i64,
    pub properties: Map<String, Value>,
}

/// A page of [`ReadGuard::events_since`]: `more` when the limit cut it (continue after the
/// last event's seq), else everything up to `upto` was read.
#[derive(Clone, Debug)]
pub struct FollowPage {
    pub events: Vec<FollowedEvent>,
    pub more: bool,
}

impl ReadGuard {
    /// Every row at or below this seq is readable now.
    pub fn settled_seq(&self) -> u64 {
        self.partition().settled_seq()
    }

    /// The admitted events of `event_type` with `after < seq <= upto`, oldest seq first, at
    /// most `limit`, fields projected for this read.
    pub fn events_since(
        &self,
        event_type: &str,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<FollowPage, EngineError> {
        self.events_since_where(event_type, after, upto, limit, &|_, _| true)
    }

    /// As [`ReadGuard::events_since`], only the events `pick` (subject, seq) also wants: a
    /// follower catching up on what it could not read before (a subject who opted back in),
    /// without decoding what it already holds.
    pub fn events_since_where(
        &self,
        event_type: &str,
        after: u64,
        upto: u64,
        limit: usize,
        pick: &(dyn Fn(&Pseudonym, u64) -> bool + Sync),
    ) -> Result<FollowPage, EngineError> {
        let scan = SeqScan {
            event_type: event_type.to_owned(),
            after,
            upto,
            limit,
        };
        let admits = self.point_rule();
        let rule = |subject: &Pseudonym, seq: u64, event_type: &str, time_us: i64| {
            pick(subject, seq) && admits(subject, seq, event_type, time_us)
        };
        let (records, more) = self.partition().scan_since(&scan, &rule)?;
        let mut events = Vec::with_capacity(records.len());
        for record in &records {
            events.push(FollowedEvent {
                seq: record.seq,
                subject: record.event.subject,
                event_id: record.event.event_id.clone(),
                time_us: record.event.time_us,
                properties: self.project(record)?,
            });
        }
        Ok(FollowPage { events, more })
    }
}
