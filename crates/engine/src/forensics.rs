//! `steward forensics scan`: what someone holding the data directory *and* the master key
//! could read, searched for needles. Every file is scanned as raw bytes; every stored event
//! (segments and WAL, hidden rows included) is also decoded, decrypted, and its sealed fields
//! opened with the subject key where one still exists.
//!
//! A needle of 64 hex digits (a pseudonym) is also searched as the 32 bytes the store keeps.

use std::path::{Path, PathBuf};

use crate::sealing::open_fields;
use crate::{Engine, EngineError};

/// One place a needle was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForensicHit {
    pub file: PathBuf,
    /// Index of the needle in the request.
    pub needle: usize,
    /// `raw` (the file's bytes) or `event` (a decoded, decrypted stored event).
    pub layer: &'static str,
    /// Byte offset of a raw hit.
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

impl Engine {
    /// Searches every file under the data directory (and `extra` files, e.g. server logs)
    /// for each needle, raw and decoded. Run it on a stopped deployment.
    pub fn forensic_scan(&self, needles: &[Vec<u8>], extra: &[PathBuf]) -> Result<Vec<ForensicHit>, EngineError> {
        let forms: Vec<Vec<Vec<u8>>> = needles.iter().map(|n| forms(n)).collect();
        let mut hits = Vec::new();
        let mut files = Vec::new();
        files_under(self.data_dir(), &mut files).map_err(|e| EngineError::DataDir { path: self.data_dir().to_owned(), reason: e.to_string() })?;
        files.extend(extra.iter().cloned());
        for file in &files {
            let Ok(bytes) = std::fs::read(file) else { continue };
            for (i, needle_forms) in forms.iter().enumerate() {
                if let Some(offset) = needle_forms.iter().find_map(|f| find(&bytes, f)) {
                    hits.push(ForensicHit { file: file.clone(), needle: i, layer: "raw", offset: Some(offset as u64) });
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
                for part in [e.event_id.as_bytes(), e.event_type.as_bytes(), e.subject.as_bytes(), e.subject.to_hex().as_bytes(), &e.public, &e.sealed] {
                    text.extend_from_slice(part);
                    text.push(0);
                }
                if let Ok(fields) = open_fields(&e.sealed, key.as_ref(), tenant.id(), &e.subject, &e.event_id) {
                    for field in fields {
                        text.extend_from_slice(field.name.as_bytes());
                        if let Some(value) = field.value {
                            text.extend_from_slice(value.to_string().as_bytes());
                        }
                        text.push(0);
                    }
                }
                for (i, needle_forms) in forms.iter().enumerate() {
                    let already = hits.iter().any(|h: &ForensicHit| h.needle == i && h.file == file && h.layer == "event");
                    if !already && needle_forms.iter().any(|f| find(&text, f).is_some()) {
                        hits.push(ForensicHit { file: file.to_owned(), needle: i, layer: "event", offset: None });
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
