//! One index in memory: the vectors ([`VectorIndex`]) and, per document, what it came from
//! (an event or an item), whose it is and when, so that search can ask the read guard about
//! every hit and an erasure can find a subject's vectors.
//!
//! Snapshot (the plaintext of `index-<n>.sealed`): `STWIDX01`, the metadata's length (u64 LE),
//! the metadata as JSON (watermark, next id, documents with their subject pseudonyms; for an
//! index of a data set version also the rows' texts, the version and its subjects bitmap), then
//! [`VectorIndex::to_bytes`]. The sealed file is the only place a document's subject, text and
//! vector are written; they leave it at the next snapshot after a delete.

use std::collections::HashMap;

use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use steward_crypto::Pseudonym;
use steward_ml::ann::{AnnParams, Metric, VectorIndex};

use super::bm25::Bm25;
use crate::ServeError;
use crate::limits::{INDEX_DOCUMENTS_MAX, INDEX_TEXT_BYTES_MAX};

const MAGIC: &[u8; 8] = b"STWIDX01";

/// What one vector stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Doc {
    /// The event id or item id.
    pub key: String,
    /// The event's subject (items have none).
    pub subject: Option<Pseudonym>,
    pub seq: u64,
    pub time_us: i64,
    /// SHA-256 prefix of the embedded text: an item whose text did not change is not embedded
    /// again.
    pub hash: u64,
    /// The text's terms (hashed, with counts) and its length in terms, for BM25.
    pub terms: Vec<(u32, u16)>,
    pub length: u32,
    /// A data set row's text (cut to `PASSAGE_BYTES_MAX`): the version's files are not read
    /// again by position for each passage (see `dataset.rs`). Events and items keep none.
    pub text: Option<String>,
}

/// The data set version an index holds (indexes of a data set version only).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DatasetCut {
    pub version: u32,
    /// The erasure generation the version was cut at: later erasures of its subjects reach it.
    pub generation: u64,
    /// The version's rows, and how many of them were read into the index so far.
    pub rows: u64,
    pub read: u64,
    /// Every subject the version holds (its `subjects.roaring`, by `subject_bit`), kept here
    /// because the data set kind removes the version's bitmap with its files.
    pub subjects: RoaringTreemap,
}

impl DatasetCut {
    pub fn complete(&self) -> bool {
        self.read >= self.rows
    }
}

pub(crate) struct IndexState {
    pub vectors: VectorIndex,
    pub docs: HashMap<u64, Doc>,
    pub by_key: HashMap<String, u64>,
    pub by_subject: HashMap<Pseudonym, Vec<u64>>,
    pub bm25: Bm25,
    pub next_id: u64,
    /// Every source event with a seq at or below this was read.
    pub watermark: u64,
    /// Changed since the last snapshot.
    pub changed: bool,
    /// The data set version held (`None` for events and items, and before a build starts).
    pub cut: Option<DatasetCut>,
    /// Bytes of the documents' kept texts (bounded by `INDEX_TEXT_BYTES_MAX`).
    pub text_bytes: usize,
}

pub(crate) fn text_hash(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

/// Cosine, 12 links per node (16 on layer 0 would cost 0.02x of a float32 index more for no
/// recall the search width does not already give: BENCHMARKS.md, "Vector index").
fn params(dim: usize) -> AnnParams {
    AnnParams {
        m: 12,
        ..AnnParams::new(Metric::Cosine, dim as u32)
    }
}

impl IndexState {
    pub fn new(dim: usize) -> Result<IndexState, ServeError> {
        Ok(IndexState {
            vectors: VectorIndex::new(params(dim)).map_err(|e| ServeError::Invalid {
                code: "index_invalid",
                field: None,
                message: e.to_string(),
            })?,
            docs: HashMap::new(),
            by_key: HashMap::new(),
            by_subject: HashMap::new(),
            bm25: Bm25::default(),
            next_id: 1,
            watermark: 0,
            changed: false,
            cut: None,
            text_bytes: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Adds or replaces the document `doc.key` with `vector`.
    pub fn upsert(&mut self, doc: Doc, vector: &[f32]) -> Result<(), ServeError> {
        if let Some(&old) = self.by_key.get(&doc.key) {
            self.remove_id(old);
        }
        if self.docs.len() >= INDEX_DOCUMENTS_MAX {
            return Err(ServeError::Conflict {
                code: "index_full",
                message: format!("an index holds at most {INDEX_DOCUMENTS_MAX} documents"),
            });
        }
        let text_len = doc.text.as_ref().map_or(0, String::len);
        if self.text_bytes + text_len > INDEX_TEXT_BYTES_MAX {
            return Err(ServeError::Conflict {
                code: "index_full",
                message: format!("an index keeps at most {INDEX_TEXT_BYTES_MAX} bytes of text"),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.vectors
            .upsert(id, vector)
            .map_err(|e| ServeError::Invalid {
                code: "index_vector_invalid",
                field: None,
                message: e.to_string(),
            })?;
        if let Some(subject) = doc.subject {
            self.by_subject.entry(subject).or_default().push(id);
        }
        self.by_key.insert(doc.key.clone(), id);
        self.bm25.add(id, &doc.terms, doc.length);
        self.text_bytes += text_len;
        self.docs.insert(id, doc);
        self.changed = true;
        Ok(())
    }

    fn remove_id(&mut self, id: u64) -> bool {
        let Some(doc) = self.docs.remove(&id) else {
            return false;
        };
        self.vectors.delete(id);
        self.bm25.remove(id, &doc.terms);
        self.text_bytes -= doc.text.as_ref().map_or(0, String::len);
        self.by_key.remove(&doc.key);
        if let Some(subject) = doc.subject
            && let Some(ids) = self.by_subject.get_mut(&subject)
        {
            ids.retain(|&i| i != id);
            if ids.is_empty() {
                self.by_subject.remove(&subject);
            }
        }
        self.changed = true;
        true
    }

    /// Removes every document of the subject; how many went.
    pub fn remove_subject(&mut self, subject: &Pseudonym) -> usize {
        let ids = self.by_subject.get(subject).cloned().unwrap_or_default();
        ids.into_iter().filter(|&id| self.remove_id(id)).count()
    }

    /// Removes documents `drop` picks; how many went.
    pub fn remove_where(&mut self, drop: impl Fn(&Doc) -> bool) -> usize {
        let ids: Vec<u64> = self
            .docs
            .iter()
            .filter(|(_, d)| drop(d))
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter().filter(|&id| self.remove_id(id)).count()
    }

    pub fn encode(&mut self) -> Vec<u8> {
        // Deleted slots are zeroed already; consolidating first also drops their links.
        self.vectors.consolidate();
        let meta = SnapshotMeta {
            watermark: self.watermark,
            next_id: self.next_id,
            docs: self
                .docs
                .iter()
                .map(|(&id, d)| SnapshotDoc {
                    id,
                    key: d.key.clone(),
                    subject: d.subject.map(|s| s.to_hex()),
                    seq: d.seq,
                    time_us: d.time_us,
                    hash: d.hash,
                    terms: d.terms.clone(),
                    length: d.length,
                    text: d.text.clone(),
                })
                .collect(),
            dataset: self.cut.as_ref().map(|c| {
                let mut bitmap = Vec::with_capacity(c.subjects.serialized_size());
                // A RoaringTreemap serializes into a Vec without error.
                let _ = c.subjects.serialize_into(&mut bitmap);
                SnapshotCut {
                    version: c.version,
                    generation: c.generation,
                    rows: c.rows,
                    read: c.read,
                    subjects: to_hex(&bitmap),
                }
            }),
        };
        let meta = serde_json::to_vec(&meta).unwrap_or_default();
        let vectors = self.vectors.to_bytes();
        let mut out = Vec::with_capacity(16 + meta.len() + vectors.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&vectors);
        out
    }

    /// Reads [`IndexState::encode`]; every document must have its vector and the reverse.
    pub fn decode(bytes: &[u8], dim: usize) -> Result<IndexState, String> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err("not an index snapshot".into());
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| "length")?);
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(16))
            .filter(|&e| e <= bytes.len())
            .ok_or("metadata length past the end")?;
        let meta: SnapshotMeta =
            serde_json::from_slice(&bytes[16..end]).map_err(|e| format!("metadata: {e}"))?;
        let vectors = VectorIndex::from_bytes(&bytes[end..]).map_err(|e| e.to_string())?;
        if vectors.index().params().dim as usize != dim {
            return Err("the vectors' dimension is not the index's".into());
        }
        let mut state = IndexState {
            vectors,
            docs: HashMap::new(),
            by_key: HashMap::new(),
            by_subject: HashMap::new(),
            bm25: Bm25::default(),
            next_id: meta.next_id,
            watermark: meta.watermark,
            changed: false,
            cut: None,
            text_bytes: 0,
        };
        if let Some(c) = meta.dataset {
            let bytes = from_hex(&c.subjects).ok_or("the subjects bitmap is not hex")?;
            let subjects = RoaringTreemap::deserialize_from(&bytes[..])
                .map_err(|e| format!("subjects bitmap: {e}"))?;
            state.cut = Some(DatasetCut {
                version: c.version,
                generation: c.generation,
                rows: c.rows,
                read: c.read,
                subjects,
            });
        }
        for d in meta.docs {
            let subject = match d.subject {
                Some(hex) => {
                    Some(Pseudonym::parse_hex(&hex).map_err(|_| "a subject is not a pseudonym")?)
                }
                None => None,
            };
            if d.id >= meta.next_id || !state.vectors.contains(d.id) {
                return Err("a document has no vector".into());
            }
            if let Some(s) = subject {
                state.by_subject.entry(s).or_default().push(d.id);
            }
            state.by_key.insert(d.key.clone(), d.id);
            state.bm25.add(d.id, &d.terms, d.length);
            state.text_bytes += d.text.as_ref().map_or(0, String::len);
            state.docs.insert(
                d.id,
                Doc {
                    key: d.key,
                    subject,
                    seq: d.seq,
                    time_us: d.time_us,
                    hash: d.hash,
                    terms: d.terms,
                    length: d.length,
                    text: d.text,
                },
            );
        }
        if state.docs.len() != state.vectors.len() || state.by_key.len() != state.docs.len() {
            return Err("documents and vectors disagree".into());
        }
        Ok(state)
    }
}

#[derive(Serialize, Deserialize)]
struct SnapshotMeta {
    watermark: u64,
    next_id: u64,
    docs: Vec<SnapshotDoc>,
    #[serde(default)]
    dataset: Option<SnapshotCut>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotCut {
    version: u32,
    generation: u64,
    rows: u64,
    read: u64,
    /// The version's subjects bitmap (`RoaringTreemap` bytes), hex.
    subjects: String,
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[derive(Serialize, Deserialize)]
struct SnapshotDoc {
    id: u64,
    key: String,
    subject: Option<String>,
    seq: u64,
    time_us: i64,
    hash: u64,
    #[serde(default)]
    terms: Vec<(u32, u16)>,
    #[serde(default)]
    length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector (as the embedder makes them).
    fn vector(seed: u64, dim: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.into_iter().map(|a| a / norm).collect()
    }

    fn doc(key: &str, subject: Option<u8>, text: &str) -> Doc {
        let (terms, length) = super::super::bm25::terms(text);
        Doc {
            key: key.into(),
            subject: subject.map(|s| Pseudonym::from_bytes([s; 32])),
            seq: 7,
            time_us: 42,
            hash: text_hash(text),
            terms,
            length,
            text: None,
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn snapshots_round_trip_and_forget_removed_subjects() {
        let dim = 16;
        let mut state = IndexState::new(dim).unwrap();
        for i in 0..50u8 {
            let text = format!("message number {i}");
            state
                .upsert(
                    doc(&format!("event-{i}"), Some(i % 5), &text),
                    &vector(u64::from(i), dim),
                )
                .unwrap();
        }
        // An upsert of the same key replaces it.
        state
            .upsert(doc("event-3", Some(3), "replaced"), &vector(999, dim))
            .unwrap();
        assert_eq!(state.len(), 50);
        let bytes = state.encode();
        let back = IndexState::decode(&bytes, dim).unwrap();
        assert_eq!(back.len(), 50);
        assert_eq!(back.docs, state.docs);
        assert_eq!(back.watermark, state.watermark);

        let gone = Pseudonym::from_bytes([2; 32]);
        // Subject 2's documents include event-2, embedded as vector(2).
        let removed_vector = vector(2, dim);
        let raw: Vec<u8> = removed_vector
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert!(find(&bytes, gone.to_hex().as_bytes()));
        assert!(find(&bytes, &raw[..16]), "the needle is there before");
        assert_eq!(state.remove_subject(&gone), 10);
        let bytes = state.encode();
        assert!(
            !find(&bytes, gone.to_hex().as_bytes()),
            "the subject left the snapshot"
        );
        assert!(!find(&bytes, b"\"event-2\""), "its documents too");
        assert!(!find(&bytes, &raw[..16]), "and its vector's bytes");
        assert!(find(&bytes, b"\"event-1\""), "others stay");
        let back = IndexState::decode(&bytes, dim).unwrap();
        assert_eq!(back.len(), 40);
        // event-3 was replaced by a text without "message".
        assert_eq!(back.bm25.search("message", 100, &|_| true).len(), 39);
    }

    #[test]
    fn a_data_set_cut_and_row_texts_round_trip_and_leave_with_their_rows() {
        let dim = 8;
        let mut state = IndexState::new(dim).unwrap();
        let mut subjects = RoaringTreemap::new();
        subjects.insert(7);
        subjects.insert(u64::MAX - 3);
        state.cut = Some(DatasetCut {
            version: 3,
            generation: 9,
            rows: 10,
            read: 4,
            subjects,
        });
        for i in 0..4u8 {
            let mut d = doc(&format!("row-{i}"), Some(i), "text");
            d.text = Some(format!("the passage of row {i}"));
            state.upsert(d, &vector(u64::from(i), dim)).unwrap();
        }
        assert_eq!(state.text_bytes, 4 * "the passage of row 0".len());
        let bytes = state.encode();
        let back = IndexState::decode(&bytes, dim).unwrap();
        assert_eq!(back.cut, state.cut);
        assert_eq!(back.docs, state.docs);
        assert_eq!(back.text_bytes, state.text_bytes);
        assert!(find(&bytes, b"the passage of row 2"));
        state.remove_subject(&Pseudonym::from_bytes([2; 32]));
        let bytes = state.encode();
        assert!(!find(&bytes, b"the passage of row 2"), "its text left");
        assert!(find(&bytes, b"the passage of row 1"));
        assert_eq!(state.text_bytes, 3 * "the passage of row 0".len());
        assert_eq!(
            from_hex(&to_hex(&[0, 1, 0xab, 0xff])),
            Some(vec![0, 1, 0xab, 0xff])
        );
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn damaged_snapshots_are_refused_not_trusted() {
        let dim = 8;
        let mut state = IndexState::new(dim).unwrap();
        for i in 0..20u8 {
            state
                .upsert(
                    doc(&format!("e{i}"), Some(i), "text"),
                    &vector(u64::from(i), dim),
                )
                .unwrap();
        }
        let bytes = state.encode();
        assert!(IndexState::decode(&bytes[..bytes.len() - 3], dim).is_err());
        assert!(IndexState::decode(&bytes[..10], dim).is_err());
        assert!(
            IndexState::decode(&bytes, dim + 1).is_err(),
            "another dimension"
        );
        let mut huge = bytes.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(IndexState::decode(&huge, dim).is_err());
        for i in (0..bytes.len()).step_by(97) {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x40;
            // Either refused or, when the flip hit a JSON number, still consistent.
            if let Ok(s) = IndexState::decode(&flipped, dim) {
                assert_eq!(s.docs.len(), s.vectors.len());
            }
        }
    }
}
