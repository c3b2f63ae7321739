//! A model version's manifest (its state of record: written atomically at every state change,
//! `tenants/<t>/models/<name>/v<NNNNNN>/manifest.json`) and a model's aliases
//! (`tenants/<t>/models/<name>/aliases.json`). Neither names a subject: user keys live only in
//! the sealed model file, subjects only in the version's bitmap.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ServeError;
use crate::spec::{Columns, EvaluationSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// Accepted, waiting for a runner.
    Queued,
    /// Reading the data set or fitting (see `progress`). A version a restart finds here (or
    /// evaluating) is failed `training_interrupted`, never resumed.
    Training,
    Evaluating,
    Ready,
    /// See `error` (a stable reason code) and `message`.
    Failed,
    Cancelled,
    /// Held a subject who was erased: user rows removed, then the version retired once its
    /// successor (`retrained_as`) was ready, or with none; files removed.
    Erased,
}

impl ModelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Queued => "queued",
            ModelState::Training => "training",
            ModelState::Evaluating => "evaluating",
            ModelState::Ready => "ready",
            ModelState::Failed => "failed",
            ModelState::Cancelled => "cancelled",
            ModelState::Erased => "erased",
        }
    }

    /// Queued, training or evaluating.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ModelState::Queued | ModelState::Training | ModelState::Evaluating
        )
    }
}

/// The data set version a model was trained from, as the data set records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetLineage {
    pub name: String,
    pub version: u32,
    pub content_sha256: String,
    /// The purpose the data set was cut for, and the one training read it for.
    pub purpose: String,
    /// When the data set's consent was read (its consent snapshot).
    pub consent_snapshot_at: String,
    /// The erasure generation the data set was cut at: erasures of a later generation reach
    /// the model.
    pub generation: u64,
    pub rows: u64,
}

/// One cutoff's figures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsAtK {
    pub k: usize,
    pub recall: f64,
    pub precision: f64,
    pub ndcg: f64,
    pub map: f64,
    pub coverage: f64,
}

/// Evaluation results, the model's beside the popularity baseline's on the same split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsDoc {
    pub split: String,
    pub holdout: f64,
    pub users_evaluated: u32,
    pub users_cold: u32,
    pub at: Vec<MetricsAtK>,
    pub baseline: Vec<MetricsAtK>,
}

/// A running job's progress (in memory; shown while it runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Progress {
    /// `loading`, `evaluation_fit` (on the training half), `evaluating`, `final_fit`, `writing`.
    pub phase: String,
    pub iteration: u32,
    pub iterations: u32,
    /// The algorithm's loss after the last iteration (absent when not computed).
    pub loss: Option<f64>,
}

/// One step erasure did to this version (user rows removed, retrained, retired).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureStep {
    pub action: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<u32>,
    /// User rows removed by this step.
    #[serde(default)]
    pub users: u64,
    /// Files removed by this step.
    #[serde(default)]
    pub files: u64,
}

/// Where a run's time went, in milliseconds: reading the data set version into the matrix
/// (`rows_read` rows, decrypted and checked), the evaluation fit and scoring, the final fit,
/// and sealing the file. Versions written before these were kept read as zeros.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTimings {
    pub read_ms: u64,
    pub rows_read: u64,
    pub evaluation_ms: u64,
    pub fit_ms: u64,
    pub write_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub name: String,
    pub version: u32,
    pub state: ModelState,
    pub algorithm: String,
    /// Every parameter used (`spec::params_to_json`).
    pub params: serde_json::Value,
    pub seed: u64,
    pub columns: Columns,
    pub evaluation: Option<EvaluationSpec>,
    pub dataset: DatasetLineage,
    /// The purpose training read the data set for.
    pub purpose: String,
    /// The field classes that purpose saw (a retrain reads with the same).
    pub visible_classes: Vec<String>,
    pub trained_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: u64,
    #[serde(default)]
    pub timings: PhaseTimings,
    /// The up-front memory estimate of the job (bytes).
    pub memory_estimate_bytes: u64,
    pub metrics: Option<MetricsDoc>,
    /// User rows the model file holds (ALS, BPR), users whose interactions trained it, items,
    /// stored interactions.
    pub user_rows: u64,
    pub users: u64,
    pub items: u64,
    pub interactions: u64,
    /// Plaintext bytes of the model file, and its SHA-256.
    pub bytes: u64,
    pub sha256: String,
    /// The current sealed file (`model-NNNNNN`); a rewrite writes the next one.
    pub file: Option<String>,
    /// Why it failed (a stable code), and a sentence.
    pub error: Option<String>,
    pub message: Option<String>,
    /// Runs started, each written before the run reads anything (a restart then knows a run
    /// was interrupted).
    pub attempts: u32,
    /// The version this one retrains, and why (`erasure`).
    pub replaces: Option<u32>,
    pub reason: Option<String>,
    /// The version trained to replace this one after an erasure.
    pub retrained_as: Option<u32>,
    pub files_removed: bool,
    /// What erasures did to it, in order.
    #[serde(default)]
    pub erasure_steps: Vec<ErasureStep>,
}

impl ModelManifest {
    pub fn read(path: &Path) -> Result<ModelManifest, ServeError> {
        let bytes = std::fs::read(path).map_err(ServeError::io(path))?;
        serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupted {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), ServeError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| ServeError::Corrupted {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(steward_lineage::manifest::write_atomically(path, &bytes)?)
    }

    /// Whether the version serves (ready, files present).
    pub fn serves(&self) -> bool {
        self.state == ModelState::Ready && !self.files_removed && self.file.is_some()
    }
}

/// Where an alias points, who moved it there, and from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasEntry {
    pub version: u32,
    pub moved_at: String,
    pub moved_by: String,
    pub previous: Option<u32>,
}

/// A model's aliases and their recent moves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aliases {
    pub aliases: BTreeMap<String, AliasEntry>,
    /// The latest moves, oldest first (alias, entry); bounded by `ALIAS_HISTORY_MAX`.
    #[serde(default)]
    pub history: Vec<(String, AliasEntry)>,
}

impl Aliases {
    pub fn read(path: &Path) -> Result<Aliases, ServeError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupted {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Aliases::default()),
            Err(e) => Err(ServeError::Io {
                path: path.to_owned(),
                source: e,
            }),
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), ServeError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| ServeError::Corrupted {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(steward_lineage::manifest::write_atomically(path, &bytes)?)
    }

    /// The aliases pointing at `version`.
    pub fn pointing_at(&self, version: u32) -> Vec<String> {
        self.aliases
            .iter()
            .filter(|(_, e)| e.version == version)
            .map(|(a, _)| a.clone())
            .collect()
    }
}
