//! Every bound the privacy crate enforces on schemas and event properties, with the unit last.
//!
//! Gathered here so the limits are reviewed together and their relations are
//! checked at compile time. Per-field options (`max_length`, `max_items`) may only
//! lower these, never raise them.

/// Longest string value, in UTF-8 bytes; a field's `max_length` may lower it.
pub const STRING_BYTES_MAX: usize = 65_536;

/// Largest `object` value (or unknown field value), measured as compact JSON bytes.
pub const OBJECT_BYTES_MAX: usize = 65_536;

/// Most items in one list value; a field's `max_items` may lower it.
pub const LIST_ITEMS_MAX: usize = 1_000;

/// Most fields in one schema, and most properties in one event.
pub const FIELDS_MAX: usize = 256;

/// Deepest nesting of arrays and objects inside one `object` or unknown field value, in levels.
pub const NESTING_DEPTH_MAX: usize = 16;

/// Deepest nesting of `list` types in a schema (a list of lists is 2), in levels.
pub const LIST_NESTING_DEPTH_MAX: usize = 4;

/// Most allowed values of one `enum` field.
pub const ENUM_VALUES_MAX: usize = 1_024;

/// Longest allowed `enum` value, in UTF-8 bytes.
pub const ENUM_VALUE_BYTES_MAX: usize = 256;

/// Longest field name or event type name, in bytes (they are ASCII).
pub const NAME_BYTES_MAX: usize = 64;

/// Longest `description` of a schema or a field, in UTF-8 bytes.
pub const DESCRIPTION_BYTES_MAX: usize = 4_096;

/// Longest timestamp string worth parsing, in bytes; RFC 3339 needs about 35.
pub const TIMESTAMP_BYTES_MAX: usize = 64;

/// Longest field name echoed back in an error, in bytes; longer names are clipped.
pub const ERROR_NAME_BYTES_MAX: usize = 80;

/// Most bytes of one text the PII scanner reads; anything after is not scanned.
///
/// Every value that passes validation is shorter, so a validated field is always
/// scanned whole; callers scanning other text must seal or refuse what is longer.
pub const PII_SCAN_BYTES_MAX: usize = 1 << 20;

/// Bytes before a candidate span searched for context words (for example "phone").
pub const PII_CONTEXT_BEFORE_BYTES: usize = 40;

/// Bytes after a candidate span searched for context words.
pub const PII_CONTEXT_AFTER_BYTES: usize = 20;

/// Bytes after a birth keyword ("born", "DOB") searched for the date it introduces (room
/// for a place name and a weekday: "born in New York City on Monday, 3 March 1987").
pub const PII_DOB_WINDOW_BYTES: usize = 64;

const _: () = assert!(ENUM_VALUE_BYTES_MAX <= STRING_BYTES_MAX);
const _: () = assert!(TIMESTAMP_BYTES_MAX <= STRING_BYTES_MAX);
const _: () = assert!(NAME_BYTES_MAX <= ERROR_NAME_BYTES_MAX);
const _: () = assert!(
    PII_SCAN_BYTES_MAX >= STRING_BYTES_MAX && PII_SCAN_BYTES_MAX >= OBJECT_BYTES_MAX,
    "a validated value must always be scanned whole"
);
const _: () = assert!(
    LIST_NESTING_DEPTH_MAX >= 2,
    "lists of lists must be allowed"
);
const _: () = assert!(NESTING_DEPTH_MAX >= 1);
const _: () = assert!(FIELDS_MAX >= 1 && LIST_ITEMS_MAX >= 1);
