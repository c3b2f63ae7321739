//! Bounds of the engine's inputs, units last.

/// Events one ingest call takes (a request with more is split by the server or rejected).
pub const INGEST_BATCH_EVENTS_MAX: usize = 10_000;
pub const EXTERNAL_ID_BYTES_MAX: usize = 512;
pub const EVENT_ID_BYTES_MAX: usize = steward_store::limits::EVENT_ID_BYTES_MAX;
pub const TENANT_ID_BYTES_MAX: usize = 63;
pub const KEY_NAME_BYTES_MAX: usize = 128;
pub const KEYS_PER_TENANT_MAX: usize = 1_000;
pub const TENANTS_MAX: usize = 10_000;
pub const TIMELINE_EVENTS_MAX: usize = 1_000;
/// Stored bytes of the events of one timeline page (a response stays within a few times this).
pub const TIMELINE_PAGE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// A tenant's policy text; the default set is about 4 KiB.
pub const POLICY_TEXT_BYTES_MAX: usize = 256 * 1024;
pub const POLICY_VERSIONS_MAX: usize = 100_000;
/// Purposes one key may be scoped to.
pub const KEY_PURPOSES_MAX: usize = 32;
/// Rows of one compliance report page.
pub const REPORT_ROWS_MAX: usize = 10_000;
/// An access-request archive (built in memory).
pub const ACCESS_ARCHIVE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Properties object as serialized JSON.
pub const PROPERTIES_BYTES_MAX: usize = 256 * 1024;

const _: () = assert!(INGEST_BATCH_EVENTS_MAX <= steward_store::limits::BATCH_EVENTS_MAX);
const _: () = assert!(TIMELINE_EVENTS_MAX <= steward_store::limits::SCAN_EVENTS_MAX);

/// Item catalog bounds (items.rs).
pub const ITEM_ID_BYTES_MAX: usize = 256;
pub const ITEM_TEXT_BYTES_MAX: usize = 32 * 1024;
pub const ITEM_PROPERTIES_BYTES_MAX: usize = 64 * 1024;
/// Properties of an item without an item schema (a schema has its own field bound).
pub const ITEM_PROPERTIES_MAX: usize = 128;
pub const ITEM_STRING_BYTES_MAX: usize = 4 * 1024;
pub const ITEM_LIST_FIELD_ITEMS_MAX: usize = 256;
/// Items one bulk upsert takes (one durable commit).
pub const ITEMS_BULK_MAX: usize = 10_000;
pub const ITEMS_PER_TENANT_MAX: u64 = 10_000_000;
/// Items one listing page returns.
pub const ITEMS_PAGE_MAX: usize = 1_000;
