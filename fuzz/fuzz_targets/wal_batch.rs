//! Fuzzes the WAL batch decoder (bytes read back from disk): never panics, and whatever
//! decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = steward_store::decode_batch(data) {
        assert_eq!(steward_store::encode_batch(&batch), data);
    }
});
