//! One tenant's event store: WAL, memtable, encrypted Parquet segments, catalog, compaction.
//!
//! Main types: [`Partition`] (a tenant's store, opened from its directory), [`EventRecord`]
//! (one stored event: pseudonymized subject, public JSON, sealed blob — the store never
//! opens the sealed blob), [`Catalog`] (the embedded redb catalog), [`SubjectScan`] (a
//! timeline query). Erasure (`erasure.rs`): shred a subject's key, hide its rows, purge
//! them from every file. The store knows the tenant key only to wrap segment keys and to encrypt
//! WAL payloads at rest; it knows nothing of schemas, roles or JSON shapes. Every file operation
//! goes through `steward_wal::Vfs` ([`Partition::open_in`]; tests use the simulated one).

mod catalog;
mod catalog_backend;
mod compaction;
mod dedup;
mod erasure;
mod error;
mod forensics;
pub mod limits;
mod memtable;
mod partition;
mod record;
mod retention;
mod rewrite;
mod scan;
mod segment;
mod seq_scan;
mod subject_scan;

pub use catalog::{Catalog, CatalogError, CatalogFreeze, CatalogTxn, SegmentMeta};
pub use dedup::EventKey;
pub use erasure::{Purged, Shredded};
pub use error::StoreError;
pub use partition::{
    AppendOutcome, Partition, PartitionConfig, PartitionKeys, PartitionStats, QUARANTINE_SEGMENTS,
    SubjectScan,
};
pub use record::{EventRecord, NewEvent, WalBatch, decode_batch, encode_batch};
pub use retention::Expired;
pub use rewrite::Rewritten;
pub use scan::{ReadSnapshot, ScanBounds};
pub use segment::{COLUMN_NAMES, Segment};
pub use seq_scan::SeqScan;
pub use steward_wal::Lsn;
pub use subject_scan::Admit;
