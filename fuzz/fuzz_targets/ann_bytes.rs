//! Fuzzes the vector index readers (bytes read back from a sealed file): never panics, and
//! whatever reads searches and writes back to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ix) = steward_ml::VectorIndex::from_bytes(data) {
        let dim = ix.index().params().dim as usize;
        let _ = ix.search(&vec![1.0; dim], 5, 32, None);
        assert_eq!(ix.to_bytes(), data);
    }
    if let Ok(ix) = steward_ml::AnnIndex::from_bytes(data) {
        let rows = steward_ml::F32Rows::new(ix.params().dim as usize);
        let dim = ix.params().dim as usize;
        let _ = ix.search(&vec![1.0; dim], 5, 32, None, &rows);
        assert_eq!(ix.to_bytes(), data);
    }
    let _ = steward_ml::F32Rows::from_bytes(data);
});
