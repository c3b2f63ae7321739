//! `steward forensics scan`: what someone holding the data directory *and* the master key
//! could read, searched for needles. Every file is scanned as raw bytes; every stored event
//! (segments and WAL, hidden rows included) is also decoded, decrypted, and its sealed fields
//! opened with the subject key where one still exists.
//!
//! A needle of 64 hex digits (a pseudonym) is also searched as the 32 bytes the store keeps.
//!
//! A sealed data set file (`STWSEAL1`, `steward_crypto::sealed_file`) under
//! `tenants/{id}/` is opened with that tenant's key and its plaintext searched, and, when
//! the plaintext is Parquet, its decoded values too (a compressed page hides them from a byte
//! scan). A sealed file that does not open fails the scan: it cannot vouch for what it holds.

use std::path::{Component, Path, PathBuf};

use steward_crypto::sealed_file::MAGIC as SEALED_MAGIC;

use crate::sealing::open_fields;
use crate::{Engine, EngineError};

/// One place a needle was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForensicHit {
    pub file: PathBuf,
    /// Index of the needle in the request.
    pub needle: usize,
    /// `raw` (the file's bytes), `event` (a decoded, decrypted stored event) or `dataset`
    /// (the decrypted plaintext of a sealed data set file, or its decoded Parquet values).
    pub layer: &'static str,
    /// Byte offset of a raw hit; of a dataset hit, its offset in the plaintext (none when
    /// only the decoded values held it).
    pub offset: Option<u64>,
}

fn forms(needle: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![needle.to_vec()];
    if needle.len() == 64
        && let Ok(raw) = data_encoding::HEXLOWER_PERMISSIVE.decode(needle)
    {
        out.push(raw);
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            files_under(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// A sealed file's plaintext and, when it is Parquet, its decoded values as text.
type Opened = (Vec<u8>, Option<Vec<u8>>);

impl Engine {
    /// Opens a sealed data set file with the key of the tenant whose directory holds it: the
    /// key its header names in that tenant's catalog (or, for files written before keys moved
    /// to the catalog, the wrapped key in the header). `None`: the catalog says an erasure
    /// destroyed its key, so nobody, the master key's holder included, can read it.
    fn open_dataset_file(&self, file: &Path) -> Result<Option<Opened>, EngineError> {
        let refuse = |reason: &str| EngineError::DataDir {
            path: file.to_owned(),
            reason: format!("sealed data set file {reason}"),
        };
        let tenant = file
            .strip_prefix(self.data_dir().join("tenants"))
            .ok()
            .and_then(|rest| match rest.components().next() {
                Some(Component::Normal(id)) => id.to_str(),
                _ => None,
            })
            .ok_or_else(|| refuse("outside any tenant directory: no key to open it with"))?;
        let t = self
            .tenant(tenant)
            .map_err(|_| refuse("in the directory of an unknown tenant"))?;
        let header = steward_crypto::sealed_file::read_wrapped_key(file)
            .map_err(|e| refuse(&format!("has an unreadable header: {e}")))?;
        match header.strip_prefix(b"ref:".as_slice()) {
            Some(name) => {
                let name = std::str::from_utf8(name).map_err(|_| refuse("names its key badly"))?;
                match self.file_key(tenant, name)? {
                    crate::FileKey::Live(wrapped) => Ok(Some(
                        t.partition().open_dataset_file_wrapped(file, &wrapped)?,
                    )),
                    crate::FileKey::Destroyed => Ok(None),
                    crate::FileKey::Unknown => {
                        Err(refuse("names a key this tenant's catalog does not hold"))
                    }
                }
            }
            None => Ok(Some(t.partition().open_dataset_file(file)?)),
        }
    }

    /// Searches every file under the data directory (and `extra` files, e.g. server logs)
    /// for each needle, raw and decoded. Run it on a stopped deployment.
    pub fn forensic_scan(
        &self,
        needles: &[Vec<u8>],
        extra: &[PathBuf],
    ) -> Result<Vec<ForensicHit>, EngineError> {
        let forms: Vec<Vec<Vec<u8>>> = needles.iter().map(|n| forms(n)).collect();
        let mut hits = Vec::new();
        let mut files = Vec::new();
        files_under(self.data_dir(), &mut files).map_err(|e| EngineError::DataDir {
            path: self.data_dir().to_owned(),
            reason: e.to_string(),
        })?;
        files.extend(extra.iter().cloned());
        for file in &files {
            let Ok(bytes) = std::fs::read(file) else {
                continue;
            };
            for (i, needle_forms) in forms.iter().enumerate() {
                if let Some(offset) = needle_forms.iter().find_map(|f| find(&bytes, f)) {
                    hits.push(ForensicHit {
                        file: file.clone(),
                        needle: i,
                        layer: "raw",
                        offset: Some(offset as u64),
                    });
                }
            }
            if bytes.starts_with(SEALED_MAGIC) {
                let Some((plain, values)) = self.open_dataset_file(file)? else {
                    tracing::info!(file = %file.display(), "sealed data set file whose key an erasure destroyed: unreadable, skipped");
                    continue;
                };
                for (i, needle_forms) in forms.iter().enumerate() {
                    let offset = needle_forms.iter().find_map(|f| find(&plain, f));
                    let in_values = || {
                        values
                            .as_ref()
                            .is_some_and(|v| needle_forms.iter().any(|f| find(v, f).is_some()))
                    };
                    if offset.is_some() || in_values() {
                        hits.push(ForensicHit {
                            file: file.clone(),
                            needle: i,
                            layer: "dataset",
                            offset: offset.map(|o| o as u64),
                        });
                    }
                }
            }
        }
        for tenant in self.tenant_list() {
            let partition = tenant.partition();
            let mut failure = None;
            partition.visit_stored_copies(&mut |file, record| {
                let e = &record.event;
                let key = match partition.subject_key(&e.subject, false) {
                    Ok(key) => key,
                    Err(error) => {
                        failure = Some(error);
                        None
                    }
                };
                let mut text = Vec::with_capacity(e.public.len() + 256);
                for part in [
                    e.event_id.as_bytes(),
                    e.event_type.as_bytes(),
                    e.subject.as_bytes(),
                    e.subject.to_hex().as_bytes(),
                    &e.public,
                    &e.sealed,
                ] {
                    text.extend_from_slice(part);
                    text.push(0);
                }
                if let Ok(fields) = open_fields(
                    &e.sealed,
                    key.as_ref(),
                    tenant.id(),
                    &e.subject,
                    &e.event_id,
                ) {
                    for field in fields {
                        text.extend_from_slice(field.name.as_bytes());
                        if let Some(value) = field.value {
                            text.extend_from_slice(value.to_string().as_bytes());
                        }
                        text.push(0);
                    }
                }
                for (i, needle_forms) in forms.iter().enumerate() {
                    let already = hits.iter().any(|h: &ForensicHit| {
                        h.needle == i && h.file == file && h.layer == "event"
                    });
                    if !already && needle_forms.iter().any(|f| find(&text, f).is_some()) {
                        hits.push(ForensicHit {
                            file: file.to_owned(),
                            needle: i,
                            layer: "event",
                            offset: None,
                        });
                    }
                }
            })?;
            if let Some(error) = failure {
                return Err(error.into());
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;
    use std::io::Write;
    use steward_crypto::Key256;
    use steward_crypto::sealed_file::{CHUNK_BYTES, SealedWriter, dataset_file_key_context};

    #[test]
    fn sealed_dataset_files_are_opened_with_their_tenants_key() {
        let dir = tempfile::tempdir().unwrap();
        crate::init(dir.path()).unwrap();
        let mut config = EngineConfig::new(dir.path());
        config.background = false;
        let engine = Engine::open(config).unwrap();
        engine.create_tenant("acme").unwrap();
        engine.create_tenant("beta").unwrap();
        let needle = b"canary-dataset-5d2b@example.org";
        let datasets = dir.path().join("tenants").join("acme").join("datasets");
        std::fs::create_dir_all(&datasets).unwrap();
        let path = datasets.join("d1.parquet");
        let key = Key256::random();
        let wrapped = engine
            .tenant("acme")
            .unwrap()
            .partition()
            .wrap_dataset_file_key(&key);
        let mut file = std::fs::File::create(&path).unwrap();
        let mut writer =
            SealedWriter::new(&mut file, &key, &dataset_file_key_context("acme"), &wrapped)
                .unwrap();
        // The needle straddles the first chunk boundary.
        let at = CHUNK_BYTES as usize - 10;
        writer
            .write_all(&[vec![b'x'; at].as_slice(), needle.as_slice(), &[b'y'; 1000]].concat())
            .unwrap();
        writer.finish().unwrap();
        drop(file);
        assert!(
            !std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle),
            "sealed at rest"
        );

        let hits = engine.forensic_scan(&[needle.to_vec()], &[]).unwrap();
        assert_eq!(
            hits,
            vec![ForensicHit {
                file: path.clone(),
                needle: 0,
                layer: "dataset",
                offset: Some(at as u64)
            }]
        );
        assert!(
            engine
                .forensic_scan(&[b"absent-needle".to_vec()], &[])
                .unwrap()
                .is_empty()
        );

        // Moved into another tenant's directory it does not open, and the scan says so
        // rather than vouching for a file it could not read.
        let moved = dir.path().join("tenants").join("beta").join("d1.parquet");
        std::fs::rename(&path, &moved).unwrap();
        assert!(engine.forensic_scan(&[needle.to_vec()], &[]).is_err());
        let outside = dir.path().join("d1.parquet");
        std::fs::rename(&moved, &outside).unwrap();
        assert!(engine.forensic_scan(&[needle.to_vec()], &[]).is_err());
    }

    #[test]
    fn files_whose_key_lives_in_the_catalog_open_until_the_key_is_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        crate::init(dir.path()).unwrap();
        let mut config = EngineConfig::new(dir.path());
        config.background = false;
        let engine = Engine::open(config).unwrap();
        engine.create_tenant("acme").unwrap();
        let needle = b"canary-catalog-key-91c4@example.org";
        let folder = dir
            .path()
            .join("tenants")
            .join("acme")
            .join("datasets")
            .join("d")
            .join("v000001");
        std::fs::create_dir_all(&folder).unwrap();
        let write = |name: &str, reference: &[u8]| {
            let path = folder.join(name);
            let key = Key256::random();
            let mut file = std::fs::File::create(&path).unwrap();
            let mut writer = SealedWriter::new(
                &mut file,
                &key,
                &dataset_file_key_context("acme"),
                reference,
            )
            .unwrap();
            writer
                .write_all(&[b"xx".as_slice(), needle.as_slice()].concat())
                .unwrap();
            writer.finish().unwrap();
            (path, key)
        };
        let (path, key) = write("a.sealed", b"ref:datasets/d/v000001/a");
        let wrapped = engine
            .wrap_tenant_key("acme", &key, &dataset_file_key_context("acme"))
            .unwrap();
        engine
            .put_file_keys("acme", &[("datasets/d/v000001/a".into(), wrapped)])
            .unwrap();
        let hits = engine.forensic_scan(&[needle.to_vec()], &[]).unwrap();
        assert_eq!(
            hits,
            vec![ForensicHit {
                file: path.clone(),
                needle: 0,
                layer: "dataset",
                offset: Some(2)
            }]
        );
        // Destroyed: nobody can open it any more, so it holds nothing readable.
        assert_eq!(
            engine
                .destroy_file_keys("acme", &["datasets/d/".into()])
                .unwrap(),
            1
        );
        assert!(
            engine
                .forensic_scan(&[needle.to_vec()], &[])
                .unwrap()
                .is_empty()
        );
        // A file naming a key the catalog never held cannot be vouched for.
        write("b.sealed", b"ref:datasets/d/v000001/nowhere");
        assert!(engine.forensic_scan(&[needle.to_vec()], &[]).is_err());
    }
}
