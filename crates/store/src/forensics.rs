//! Every stored copy of every event, as the files hold it: the rows of each segment and the
//! records of each WAL file (decrypted with the tenant key). For forensic scans that must see
//! what an attacker holding the master key could read, and for erasure tests.

use std::path::Path;

use crate::partition::{open_wal_payload, Partition};
use crate::{decode_batch, EventRecord, StoreError};

impl Partition {
    /// Calls `visit(file, record)` for every event in every segment and WAL file, including
    /// rows a tombstone hides. WAL files are read strictly: run it on a quiescent store.
    pub fn visit_stored_copies(&self, visit: &mut dyn FnMut(&Path, &EventRecord)) -> Result<(), StoreError> {
        let segments = self.state.read().segments.clone();
        for segment in &segments {
            for (record, _) in segment.read_all()? {
                visit(&segment.path, &record);
            }
        }
        for file in self.wal.files() {
            let mut failure = None;
            steward_wal::read_file(&file.path, |lsn, payload| {
                let decoded = open_wal_payload(&self.wal_key, &self.config.tenant, payload).and_then(|plain| decode_batch(&plain));
                match decoded {
                    Ok(batch) => {
                        for (index, event) in batch.events.into_iter().enumerate() {
                            visit(&file.path, &EventRecord { seq: EventRecord::seq_of(lsn, index), event });
                        }
                    }
                    Err(reason) => failure = Some(reason),
                }
                Ok(())
            })?;
            if let Some(reason) = failure {
                return Err(StoreError::Corrupted { what: "wal record", path: file.path.clone(), reason });
            }
        }
        Ok(())
    }
}
