//! Fuzzes the small parsers of request text: bearer tokens, pseudonyms, timeline cursors, timestamps.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(secret) = steward_access::ApiKeySecret::parse(text) {
        let again = steward_access::ApiKeySecret::parse(&secret.token()).expect("a token parses");
        assert_eq!(again.hash(), secret.hash());
    }
    if let Ok(p) = steward_crypto::Pseudonym::parse_hex(text) {
        assert_eq!(steward_crypto::Pseudonym::parse_hex(&p.to_hex()).ok(), Some(p));
    }
    if let Ok(cursor) = steward_engine::Cursor::decode(text) {
        assert_eq!(steward_engine::Cursor::decode(&cursor.encode()).ok(), Some(cursor));
    }
    if let Some(micros) = steward_privacy::parse_timestamp_micros(text) {
        let _ = steward_privacy::format_timestamp_micros(micros);
    }
});
