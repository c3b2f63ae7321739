//! Experiment exposures: which arm of which experiment a subject was served, stored as events
//! of the reserved type `_exposure` in the tenant's own store. Being ordinary events, they are
//! sealed, retained, erased, refused by an opt-out and exported in an access request by the
//! code every event goes through; nothing here implements a read rule.
//!
//! The type cannot be registered or ingested by a caller (event type names start with a
//! letter); its schema is built in, every field public (experiment and arm names, the model
//! version), so the SQL view `_exposure` reads them like any typed view.

use std::sync::Arc;

use serde_json::json;
use steward_crypto::Pseudonym;
use steward_privacy::{Schema, SchemaVersion};
use steward_store::NewEvent;

use crate::{Engine, EngineError};

/// The reserved event type of exposures (also the SQL view's name).
pub const EXPOSURE_TYPE: &str = "_exposure";

/// At most this many exposures per call (one serving call records one).
pub const EXPOSURES_PER_CALL_MAX: usize = 10_000;

/// One subject served one arm.
#[derive(Clone, Debug)]
pub struct Exposure {
    pub subject: Pseudonym,
    pub experiment: String,
    pub arm: String,
    /// The model version that answered (none for a control arm without a model).
    pub model: Option<(String, u32)>,
    pub time_us: i64,
}

/// The built-in schema of `_exposure`, version 1.
pub(crate) fn exposure_schema() -> Result<SchemaVersion, EngineError> {
    let schema = Schema::from_json(&json!({"fields": {
        "experiment": {"type": "string", "class": "public", "required": true},
        "arm": {"type": "string", "class": "public", "required": true},
        "model": {"type": "string", "class": "public"},
        "model_version": {"type": "int", "class": "public", "min": 1},
    }}))?;
    Ok(SchemaVersion {
        event_type: EXPOSURE_TYPE.to_owned(),
        version: 1,
        schema,
    })
}

pub(crate) fn builtin_schemas() -> Result<Vec<Arc<SchemaVersion>>, EngineError> {
    Ok(vec![Arc::new(exposure_schema()?)])
}

impl Engine {
    /// Appends exposures durably (group-committed with concurrent writers); returns how many
    /// were stored. A subject erased or being erased when the batch is written is skipped: an
    /// exposure recorded after its erasure would outlive it.
    pub fn record_exposures(
        &self,
        tenant: &str,
        exposures: &[Exposure],
    ) -> Result<usize, EngineError> {
        if exposures.len() > EXPOSURES_PER_CALL_MAX {
            return Err(EngineError::Limit(format!(
                "at most {EXPOSURES_PER_CALL_MAX} exposures per call"
            )));
        }
        let tenant = self.tenant(tenant)?;
        let (erasing, _) = tenant.ledger_state().erasing();
        let tombstones = tenant.partition().tombstones();
        let mut events = Vec::with_capacity(exposures.len());
        for exposure in exposures {
            let subject = &exposure.subject;
            if tenant.is_suppressed(subject)
                || erasing.contains_key(subject)
                || tombstones.contains_key(subject)
            {
                continue;
            }
            let mut public = json!({"experiment": exposure.experiment, "arm": exposure.arm});
            if let Some((name, version)) = &exposure.model {
                public["model"] = json!(name);
                public["model_version"] = json!(version);
            }
            // A fresh key's first 16 bytes: an id no retry or other exposure repeats.
            let nonce = steward_crypto::Key256::random();
            let event_id = format!(
                "x-{}",
                data_encoding::HEXLOWER.encode(&nonce.expose()[..16])
            );
            // Creates the subject's key when it has none: exposures of a subject with no other
            // events are erased by the same shred as everything else.
            tenant.partition().subject_key(subject, true)?;
            events.push(NewEvent {
                subject: *subject,
                time_us: exposure.time_us,
                event_id,
                event_type: EXPOSURE_TYPE.to_owned(),
                schema_version: 1,
                public: serde_json::to_vec(&public).unwrap_or_default(),
                sealed: Vec::new(),
            });
        }
        if events.is_empty() {
            return Ok(0);
        }
        let stored = tenant.partition().append(events)?.stored;
        let count = stored.iter().filter(|s| **s).count();
        metrics::counter!("steward_experiment_exposures_total", "tenant" => tenant.id().to_owned())
            .increment(count as u64);
        Ok(count)
    }
}
