//! Every stored copy of every event, as the files hold it: the rows of each segment and the
//! records of each WAL file (decrypted with the tenant key). For forensic scans that must see
//! what an attacker holding the master key could read, and for erasure tests. Also the key of
//! a sealed data set file (`steward_crypto::sealed_file`), and the values of a Parquet file as
//! searchable text, so a scan sees through compression.

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use steward_crypto::sealed_file::{SealedReader, dataset_file_key_context, read_wrapped_key};
use steward_crypto::{CryptoError, Key256, WrappedKey};

use crate::partition::{Partition, open_wal_payload};
use crate::{EventRecord, StoreError, decode_batch};

impl Partition {
    /// Calls `visit(file, record)` for every event in every segment and WAL file, including
    /// rows a tombstone hides. WAL files are read strictly: run it on a quiescent store.
    pub fn visit_stored_copies(
        &self,
        visit: &mut dyn FnMut(&Path, &EventRecord),
    ) -> Result<(), StoreError> {
        let segments = self.state.read().segments.clone();
        for segment in &segments {
            for (record, _) in segment.read_all()? {
                visit(&segment.path, &record);
            }
        }
        for file in self.wal.files() {
            let mut failure = None;
            steward_wal::read_file(&file.path, |lsn, payload| {
                let decoded = open_wal_payload(&self.wal_key, &self.config.tenant, payload)
                    .and_then(|plain| decode_batch(&plain));
                match decoded {
                    Ok(batch) => {
                        for (index, event) in batch.events.into_iter().enumerate() {
                            visit(
                                &file.path,
                                &EventRecord {
                                    seq: EventRecord::seq_of(lsn, index),
                                    event,
                                },
                            );
                        }
                    }
                    Err(reason) => failure = Some(reason),
                }
                Ok(())
            })?;
            if let Some(reason) = failure {
                return Err(StoreError::Corrupted {
                    what: "wal record",
                    path: file.path.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Wraps the key of a new sealed data set file with the tenant key, bound to
    /// [`dataset_file_key_context`]: what the file's header stores, and what
    /// [`Partition::open_dataset_file`] unwraps.
    pub fn wrap_dataset_file_key(&self, key: &Key256) -> Vec<u8> {
        self.tenant_key
            .wrap(key, &dataset_file_key_context(&self.config.tenant))
            .as_bytes()
            .to_vec()
    }

    /// Unwraps the key stored in a sealed data set file's header; a key wrapped for another
    /// tenant does not open.
    fn unwrap_dataset_file_key(&self, wrapped: &[u8]) -> Result<Key256, StoreError> {
        let wrapped = WrappedKey::from_bytes(wrapped.to_vec())?;
        Ok(self
            .tenant_key
            .unwrap_key(&wrapped, &dataset_file_key_context(&self.config.tenant))?)
    }

    /// Opens the sealed data set file at `path` as this tenant: its whole plaintext and, when
    /// that is a Parquet file, its values as text ([`parquet_values_text`]). A file that does
    /// not open (another tenant's, tampered, unfinished, undecodable) is an error.
    pub fn open_dataset_file(&self, path: &Path) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
        let sealed = |e: CryptoError| match e {
            CryptoError::SealedFileIo { source } => StoreError::Io {
                path: path.to_owned(),
                source,
            },
            other => StoreError::Corrupted {
                what: "sealed data set file",
                path: path.to_owned(),
                reason: other.to_string(),
            },
        };
        let wrapped = read_wrapped_key(path).map_err(sealed)?;
        let key = self
            .unwrap_dataset_file_key(&wrapped)
            .map_err(|e| match e {
                StoreError::Crypto(e) => sealed(e),
                other => other,
            })?;
        self.open_dataset_file_with(path, &key)
    }

    /// Opens a sealed data set file with a key wrapped under this tenant's key (a key kept in
    /// the tenant catalog, the header naming it), as [`Partition::open_dataset_file`] does.
    pub fn open_dataset_file_wrapped(
        &self,
        path: &Path,
        wrapped: &WrappedKey,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
        let key = self
            .tenant_key
            .unwrap_key(wrapped, &dataset_file_key_context(&self.config.tenant))
            .map_err(|e| StoreError::Corrupted {
                what: "sealed data set file",
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        self.open_dataset_file_with(path, &key)
    }

    fn open_dataset_file_with(
        &self,
        path: &Path,
        key: &Key256,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
        let sealed = |e: CryptoError| match e {
            CryptoError::SealedFileIo { source } => StoreError::Io {
                path: path.to_owned(),
                source,
            },
            other => StoreError::Corrupted {
                what: "sealed data set file",
                path: path.to_owned(),
                reason: other.to_string(),
            },
        };
        let file = std::fs::File::open(path).map_err(StoreError::io(path))?;
        let context = dataset_file_key_context(&self.config.tenant);
        let plain = SealedReader::open(file, key, &context)
            .and_then(|r| r.read_all())
            .map_err(sealed)?;
        let values = parquet_values_text(path, &plain)?;
        Ok((plain, values))
    }
}

/// Every value of the Parquet file `bytes` (from `path`, for errors), decompressed and
/// decoded, as text separated by NUL bytes: strings and binaries as they are, other values
/// in their display form. `None` when `bytes` is not a Parquet file.
pub(crate) fn parquet_values_text(
    path: &Path,
    bytes: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    if bytes.len() < 12 || !bytes.starts_with(b"PAR1") || !bytes.ends_with(b"PAR1") {
        return Ok(None);
    }
    let perr = |source| StoreError::Parquet {
        path: path.to_owned(),
        source,
    };
    let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes)).map_err(perr)?;
    let mut out = Vec::with_capacity(bytes.len());
    for row in reader.get_row_iter(None).map_err(perr)? {
        for (name, field) in row.map_err(perr)?.get_column_iter() {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            push_field(field, &mut out);
        }
    }
    Ok(Some(out))
}

fn push_field(field: &Field, out: &mut Vec<u8>) {
    match field {
        Field::Str(text) => out.extend_from_slice(text.as_bytes()),
        Field::Bytes(bytes) => out.extend_from_slice(bytes.data()),
        Field::Group(row) => {
            for (name, inner) in row.get_column_iter() {
                out.extend_from_slice(name.as_bytes());
                out.push(0);
                push_field(inner, out);
            }
        }
        Field::ListInternal(list) => list
            .elements()
            .iter()
            .for_each(|inner| push_field(inner, out)),
        Field::MapInternal(map) => {
            for (key, value) in map.entries() {
                push_field(key, out);
                push_field(value, out);
            }
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    #[test]
    fn parquet_values_are_found_through_compression() {
        // Between the other values, so the column's min/max statistics (kept uncompressed)
        // do not hold it.
        let needle = "user-321-canary-9c1e@example.org";
        let emails: Vec<String> = (0..500)
            .map(|i| {
                if i == 321 {
                    needle.to_owned()
                } else {
                    format!("user-{i}@example.org")
                }
            })
            .collect();
        let batch = RecordBatch::try_from_iter([
            ("email", Arc::new(StringArray::from(emails)) as ArrayRef),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..500)) as ArrayRef,
            ),
            (
                "raw",
                Arc::new(BinaryArray::from_iter_values(
                    (0..500).map(|i: i32| i.to_le_bytes()),
                )),
            ),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
            .build();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        assert!(
            !file.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "compressed: a raw scan misses it"
        );
        let text = parquet_values_text(Path::new("d.parquet"), &file)
            .unwrap()
            .unwrap();
        assert!(text.windows(needle.len()).any(|w| w == needle.as_bytes()));
        assert!(text.windows(4).any(|w| w == 321i32.to_le_bytes()));
        assert!(
            parquet_values_text(Path::new("x"), b"not parquet")
                .unwrap()
                .is_none()
        );
        let mut broken = file.clone();
        let middle = broken.len() / 2;
        broken.truncate(middle);
        broken.extend_from_slice(b"\0\0\0\0PAR1");
        assert!(parquet_values_text(Path::new("x"), &broken).is_err());
    }
}
