//! An index's definition: what it embeds, for which purpose, and what that purpose may see.
//! Stored as `indexes/<name>/definition.json` in the tenant directory; it names no subject.

use serde::{Deserialize, Serialize};
use steward_privacy::PrivacyClass;

use crate::ServeError;

/// Where an index's texts come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexSource {
    /// The item catalog's `text` (not personal: items hold no subject).
    Items,
    /// A text field of one event type, followed in acknowledgement order.
    Events { event_type: String, field: String },
    /// The rows of one data set version: a frozen copy (never followed), rebuilt from the
    /// version's successor when an erasure, an opt-out or retention replaces the version.
    /// `version` is the version the index was made from; the one it holds now is in its state.
    Dataset {
        dataset: String,
        version: u32,
        columns: TextColumns,
    },
}

/// Which columns of a data set version an index reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextColumns {
    /// The embedded text (a string column).
    pub text: String,
    /// A document's id (any string or integer column); `row-<n>` (the row's position) without.
    #[serde(default)]
    pub id: Option<String>,
    /// The row's subject (a string column of pseudonyms: the `subject` column of events);
    /// searches ask the request's guard about it row by row.
    #[serde(default)]
    pub subject: Option<String>,
    /// The row's time (a timestamp, or whole Unix seconds).
    #[serde(default)]
    pub time: Option<String>,
}

impl IndexSource {
    pub fn event_type(&self) -> Option<&str> {
        match self {
            IndexSource::Items | IndexSource::Dataset { .. } => None,
            IndexSource::Events { event_type, .. } => Some(event_type),
        }
    }
}

/// What `POST .../indexes` stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDefinition {
    pub name: String,
    pub source: IndexSource,
    /// Every read of the source, and by default every search, is for this purpose.
    pub purpose: String,
    /// The field classes the purpose could see when the index was made (decided by the
    /// policies at the edge); the follower reads the source with exactly these.
    pub visible: Vec<String>,
    /// The embedding model and its dimension.
    pub model: String,
    pub dim: usize,
    pub created_at: String,
}

impl IndexDefinition {
    pub fn visible_classes(&self) -> Vec<PrivacyClass> {
        self.visible
            .iter()
            .filter_map(|c| PrivacyClass::parse(c))
            .collect()
    }

    pub(crate) fn read(path: &std::path::Path) -> Result<IndexDefinition, ServeError> {
        let bytes = std::fs::read(path).map_err(ServeError::io(path))?;
        serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupted {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// The persisted state's pointer (`state.json`): which snapshot file is current and up to
/// which seq of the source it holds everything. No subject, no text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPointer {
    /// `index-<file>.sealed` (0: none yet).
    pub file: u32,
    pub watermark: u64,
    pub documents: u64,
    pub updated_at: Option<String>,
}

impl IndexPointer {
    pub(crate) fn read(path: &std::path::Path) -> Result<IndexPointer, ServeError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupted {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexPointer::default()),
            Err(e) => Err(ServeError::Io {
                path: path.to_owned(),
                source: e,
            }),
        }
    }
}
