//! Fuzzes what SQL text meets before DataFusion (`POST .../sql`, data set cuts): the
//! normalizer never panics and its output always fits the audit log's statement charset and
//! bound (or the audit append would fail and the query with it), and the read-only check
//! never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    let n = steward_query::normalize(sql, &|w| w == "events" || w == "subject");
    assert!(n.len() <= steward_query::normalize::NORMALIZED_BYTES_MAX + 4);
    assert!(n.bytes().all(steward_audit::is_statement_char), "{n:?}");
    let _ = steward_query::session::check_read_only(sql);
});
