//! `ModelFile`: a model with its id maps and what serving needs of its training data, and its
//! binary file format (version 2; version 1 still reads).
//!
//! All integers and floats little-endian; no platform-width integer anywhere.
//!
//! | bytes | field |
//! | --- | --- |
//! | 8 | magic `STWMODEL` |
//! | 4 | format version (`u32`, 2; 1 for files written before the training section) |
//! | 1 | algorithm: 1 ALS, 2 BPR, 3 item-kNN, 4 popularity |
//! | 3 | zero |
//! | 8 | total file length in bytes (`u64`, checksum included) |
//! | 8 | training seed (`u64`) |
//! | 4 + P | parameters: length P (`u32`), then the algorithm's fields (below) |
//! | 12 | users U, items I, factors F (`u32` each; U = 0 and F = 0 for item-kNN and popularity) |
//! | 32 U | user keys (pseudonyms), in row order |
//! | per item | item key: length (`u16`, at most 1024) and UTF-8 bytes, in index order |
//! | body | ALS: U·F then I·F `f32` factors, row-major. BPR: the same, then I `f32` biases. Item-kNN: I `u32` neighbour counts, then every item's neighbour indices (`u32`), then their similarities (`f32`), best first. Popularity: I `f32` scores |
//! | 1 | version 2 only: training section present (`u8`, 0 or 1); absent in version 1 |
//! | 4 U | if present: seen-list lengths, one `u32` per user row (each at most I) |
//! | 4 S | if present: the seen lists, row after row, each strictly ascending item indices < I (S = the sum of the lengths) |
//! | 4 I | if present: item counts, one `u32` per item: the users who interacted with it in training |
//! | 4 | CRC-32C of every byte before it |
//!
//! The training section (version 2): per user row, the items that user interacted with in the
//! matrix the model was trained on ("seen", which serving excludes from their
//! recommendations), and per item the number of users who interacted with it (serving's
//! non-personalized popularity, for every algorithm). Item-kNN and popularity hold no user rows,
//! so U = 0 and only the counts are stored. For ALS and BPR every training user has a row, so the
//! counts are exactly how many seen lists hold each item, which reading checks.
//!
//! Parameters: ALS `factors u32, regularization f32, alpha f32, iterations u32, cg_steps u32,
//! compute_loss u8`; BPR `factors u32, learning_rate f32, regularization f32, iterations u32,
//! strata u32`, then one byte 1 when negatives are drawn by popularity (absent for uniform, so
//! files written before the option read unchanged); item-kNN `neighbours u32, weighting u8 (0 none, 1 tf-idf, 2 BM25), k1 f32, b f32,
//! work_max u64`; popularity `has_half_life u8, half_life f64`.
//!
//! Reading checks, in order: magic, version, the length (a cut or extended file is refused before
//! its checksum is computed), the checksum (CRC-32C detects every 1-, 2- and 3-bit error and every
//! burst up to 32 bits), then parses every field with bounds checks, refusing out-of-range
//! parameters, counts that do not fit the bytes, invalid UTF-8, repeated keys, neighbours out of
//! range, any non-finite float, a seen list out of range or not strictly ascending, and item
//! counts that disagree with the seen lists. No input makes it panic or allocate more than the
//! input's size.
//!
//! Deletion: [`ModelFile::remove_users`] drops each key, its row of factors and its seen list
//! together (and takes the user out of the item counts), so the bytes written afterwards
//! contain none of them. Memory the old arrays occupied is released, not scrubbed; the file on
//! disk is the artifact erasure is about, and the caller replaces it. Writing always writes
//! version 2 (a version-1 file read and written again gets an empty training section).
//! Changing the layout means a new version number and a reader for the old one
//! (`tests/format.rs` reads committed version-1 and version-2 files).

use crate::error::FormatError;
use crate::idmap::{IdMap, UserKey};
use crate::limits::{ITEM_KEY_BYTES_MAX, NEIGHBOURS_MAX, USER_KEY_BYTES};
use crate::matrix::Interactions;
use crate::model::{Body, Factors, Model, Neighbours, Popularity};
use crate::params::{
    Algorithm, AlsParams, BprParams, KnnParams, Negatives, Params, PopularityParams, Weighting,
};

/// The version written; [`ModelFile::from_bytes`] reads this one and version 1.
pub const FORMAT_VERSION: u32 = 2;
/// The first version, without the training section.
const VERSION_1: u32 = 1;
const MAGIC: &[u8; 8] = b"STWMODEL";
/// Magic, version, algorithm, padding, length, seed.
const PREAMBLE_BYTES: usize = 32;
const CHECKSUM_BYTES: usize = 4;
/// Keys are bounded by the file's size anyway; this only keeps an `IdMap` within `u32`.
const KEYS_MAX: u32 = u32::MAX - 1;

/// A model, the id maps that name its rows and items, and (from version 2, when the trainer
/// attached them) each user row's training items and each item's training user count.
#[derive(Debug, Clone)]
pub struct ModelFile {
    model: Model,
    users: IdMap<UserKey>,
    items: IdMap<String>,
    training: Option<Training>,
}

/// The training section: seen lists (CSR over user rows; `offsets` has one entry per row plus
/// one, so just `[0]` for models without user rows) and item counts.
#[derive(Debug, Clone, PartialEq)]
struct Training {
    offsets: Vec<usize>,
    seen: Vec<u32>,
    counts: Vec<u32>,
}

impl Training {
    fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn seen(&self, row: usize) -> &[u32] {
        &self.seen[self.offsets[row]..self.offsets[row + 1]]
    }

    /// Drops the seen lists of `rows` (strictly ascending, each < rows()), taking those users
    /// out of the item counts; later lists move down, and the freed tail is zeroed before the
    /// buffer shrinks (as `Factors::remove_users` does with vectors).
    fn remove_rows(&mut self, rows: &[u32]) {
        let mut write = 0usize;
        let mut offsets = Vec::with_capacity(self.rows() + 1 - rows.len().min(self.rows()));
        offsets.push(0);
        let mut removed = rows.iter().peekable();
        for row in 0..self.rows() {
            let (start, end) = (self.offsets[row], self.offsets[row + 1]);
            if removed.next_if_eq(&&(row as u32)).is_some() {
                for &item in &self.seen[start..end] {
                    let count = &mut self.counts[item as usize];
                    *count = count.saturating_sub(1);
                }
                continue;
            }
            self.seen.copy_within(start..end, write);
            write += end - start;
            offsets.push(write);
        }
        self.seen[write..].fill(0);
        self.seen.truncate(write);
        self.seen.shrink_to_fit();
        self.offsets = offsets;
    }
}

impl ModelFile {
    /// `users` must name exactly the model's user rows (none for item-kNN and popularity, which
    /// hold none: pass an empty map) and `items` its items, each id at most 1024 bytes.
    pub fn new(
        model: Model,
        users: IdMap<UserKey>,
        items: IdMap<String>,
    ) -> Result<ModelFile, FormatError> {
        if users.len() != model.user_count() as usize {
            return Err(FormatError::CountMismatch {
                what: "users",
                keys: users.len(),
                rows: model.user_count() as usize,
            });
        }
        if items.len() != model.item_count() as usize {
            return Err(FormatError::CountMismatch {
                what: "items",
                keys: items.len(),
                rows: model.item_count() as usize,
            });
        }
        if let Some(item) = items
            .keys()
            .iter()
            .position(|k| k.len() > ITEM_KEY_BYTES_MAX)
        {
            return Err(FormatError::ItemKeyTooLong {
                item: item as u32,
                max: ITEM_KEY_BYTES_MAX,
            });
        }
        Ok(ModelFile {
            model,
            users,
            items,
            training: None,
        })
    }

    /// Attaches what serving needs of the training data: `matrix` must be the one the model
    /// was trained on (the same items, and for ALS and BPR the same users, in row order). Each
    /// user row gets its items (ascending; every stored entry, whatever its weight), each item
    /// its number of users. Item-kNN and popularity hold no user rows: they get the counts only.
    pub fn with_training(mut self, matrix: &Interactions) -> Result<ModelFile, FormatError> {
        let model = &self.model;
        if matrix.items() != model.item_count() {
            return Err(FormatError::TrainingMismatch {
                what: "items",
                matrix: u64::from(matrix.items()),
                model: u64::from(model.item_count()),
            });
        }
        let has_rows = model.algorithm().has_user_rows();
        if has_rows && matrix.users() != model.user_count() {
            return Err(FormatError::TrainingMismatch {
                what: "users",
                matrix: u64::from(matrix.users()),
                model: u64::from(model.user_count()),
            });
        }
        // Every count is at most the matrix's users, a u32.
        let counts = (0..matrix.items() as usize)
            .map(|i| matrix.by_item().row_len(i) as u32)
            .collect();
        let (offsets, seen) = if has_rows {
            let by_user = matrix.by_user();
            (by_user.indptr.clone(), by_user.indices.clone())
        } else {
            (vec![0], Vec::new())
        };
        self.training = Some(Training {
            offsets,
            seen,
            counts,
        });
        Ok(self)
    }

    /// The items user row `row` interacted with in training, ascending; `None` when the file
    /// has no training section (version 1, or built without [`ModelFile::with_training`]) or
    /// the model holds no such row (item-kNN and popularity hold none).
    pub fn seen(&self, row: u32) -> Option<&[u32]> {
        let training = self.training.as_ref()?;
        ((row as usize) < training.rows()).then(|| training.seen(row as usize))
    }

    /// Per item, the number of users who interacted with it in training (minus users removed
    /// since); `None` without a training section.
    pub fn item_counts(&self) -> Option<&[u32]> {
        self.training.as_ref().map(|t| t.counts.as_slice())
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn users(&self) -> &IdMap<UserKey> {
        &self.users
    }

    pub fn items(&self) -> &IdMap<String> {
        &self.items
    }

    pub fn into_parts(self) -> (Model, IdMap<UserKey>, IdMap<String>) {
        (self.model, self.users, self.items)
    }

    /// The model row of a user, if the model holds one.
    pub fn user_row(&self, key: &UserKey) -> Option<u32> {
        self.users.get(key)
    }

    pub fn item_index(&self, id: &str) -> Option<u32> {
        self.items.get(id)
    }

    /// Removes these users' keys, rows and seen lists (keys the model does not hold are ignored)
    /// and returns how many were removed; the item counts no longer count them. Later rows
    /// move down in all three, staying aligned.
    pub fn remove_users(&mut self, keys: &[UserKey]) -> usize {
        let mut rows: Vec<u32> = keys.iter().filter_map(|k| self.users.get(k)).collect();
        rows.sort_unstable();
        rows.dedup();
        if rows.is_empty() {
            return 0;
        }
        // Both accept `rows`: strictly ascending, each a row of the map and of the model (their
        // counts are equal by construction), so neither can fail; checked anyway.
        let model = self.model.remove_users(&rows);
        let map = self.users.remove_ids(&rows);
        debug_assert!(model.is_ok() && map.is_ok());
        if let Some(training) = &mut self.training {
            // The seen lists have the model's rows (checked when attached and when read).
            debug_assert_eq!(training.rows(), self.users.len() + rows.len());
            training.remove_rows(&rows);
        }
        rows.len()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(algorithm_code(self.model.algorithm()));
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&0u64.to_le_bytes()); // length, patched below
        out.extend_from_slice(&self.model.seed().to_le_bytes());
        let params = encode_params(self.model.params());
        out.extend_from_slice(&(params.len() as u32).to_le_bytes());
        out.extend_from_slice(&params);
        out.extend_from_slice(&self.model.user_count().to_le_bytes());
        out.extend_from_slice(&self.model.item_count().to_le_bytes());
        out.extend_from_slice(&(self.model.factors() as u32).to_le_bytes());
        for key in self.users.keys() {
            out.extend_from_slice(key);
        }
        for key in self.items.keys() {
            // Lengths are at most ITEM_KEY_BYTES_MAX (checked in `new`).
            out.extend_from_slice(&(key.len() as u16).to_le_bytes());
            out.extend_from_slice(key.as_bytes());
        }
        match self.model.body() {
            Body::Factors(f) => {
                put_f32s(&mut out, &f.user_factors);
                put_f32s(&mut out, &f.item_factors);
                if let Some(bias) = &f.item_bias {
                    put_f32s(&mut out, bias);
                }
            }
            Body::Neighbours(n) => {
                for w in n.offsets.windows(2) {
                    out.extend_from_slice(&((w[1] - w[0]) as u32).to_le_bytes());
                }
                for &i in &n.neighbours {
                    out.extend_from_slice(&i.to_le_bytes());
                }
                put_f32s(&mut out, &n.similarities);
            }
            Body::Popularity(p) => put_f32s(&mut out, &p.scores),
        }
        match &self.training {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                for w in t.offsets.windows(2) {
                    // At most the item count (strictly ascending items), a u32.
                    out.extend_from_slice(&((w[1] - w[0]) as u32).to_le_bytes());
                }
                put_u32s(&mut out, &t.seen);
                put_u32s(&mut out, &t.counts);
            }
        }
        let total = (out.len() + CHECKSUM_BYTES) as u64;
        out[16..24].copy_from_slice(&total.to_le_bytes());
        let checksum = crc32c::crc32c(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    fn encoded_len_hint(&self) -> usize {
        let f = self.model.factors();
        let rows = self.model.user_count() as usize + self.model.item_count() as usize;
        128 + self.users.len() * USER_KEY_BYTES
            + self.items.keys().iter().map(|k| k.len() + 2).sum::<usize>()
            + rows * f * 4
            + self.model.heap_bytes() / 2
            + self
                .training
                .as_ref()
                .map_or(0, |t| 4 * (t.offsets.len() + t.seen.len() + t.counts.len()))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile, FormatError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(FormatError::NotAModelFile);
        }
        let mut r = Reader { bytes, pos: 8 };
        let version = r.u32()?;
        if version != FORMAT_VERSION && version != VERSION_1 {
            return Err(FormatError::UnsupportedVersion {
                version,
                supported: FORMAT_VERSION,
            });
        }
        let code = r.u8()?;
        if r.take(3)? != [0; 3] {
            return Err(FormatError::Invalid { what: "padding" });
        }
        let total = r.u64()?;
        if total != bytes.len() as u64 || bytes.len() < PREAMBLE_BYTES + CHECKSUM_BYTES {
            return Err(FormatError::Length {
                expected: total,
                actual: bytes.len() as u64,
            });
        }
        let (content, stored) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if crc32c::crc32c(content)
            != u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]])
        {
            return Err(FormatError::Checksum);
        }
        // From here every field is parsed within `content`, so nothing reads the checksum.
        let mut r = Reader {
            bytes: content,
            pos: 24,
        };
        let seed = r.u64()?;
        let algorithm = algorithm_from_code(code)?;
        let params_len = r.u32()? as usize;
        let params = decode_params(
            algorithm,
            &mut Reader {
                bytes: r.take(params_len)?,
                pos: 0,
            },
        )?;
        params.validate().map_err(|_| FormatError::Invalid {
            what: "parameters out of range",
        })?;
        let users = r.u32()?;
        let items = r.u32()?;
        let factors = r.u32()?;
        if factors != params.factors() || (!algorithm.has_user_rows() && users != 0) {
            return Err(FormatError::Invalid {
                what: "dimensions disagree with the parameters",
            });
        }
        let user_keys: Vec<UserKey> = r
            .array(users as usize, USER_KEY_BYTES)?
            .chunks_exact(USER_KEY_BYTES)
            .map(|c| c.try_into().unwrap_or([0; 32]))
            .collect();
        let users_map =
            IdMap::from_ordered(user_keys, KEYS_MAX).map_err(|_| FormatError::Invalid {
                what: "repeated user key",
            })?;
        r.fits(items as usize, 2)?;
        let mut item_keys = Vec::with_capacity(items as usize);
        for _ in 0..items {
            let len = r.u16()? as usize;
            if len > ITEM_KEY_BYTES_MAX {
                return Err(FormatError::Invalid {
                    what: "item key too long",
                });
            }
            let key = std::str::from_utf8(r.take(len)?).map_err(|_| FormatError::Invalid {
                what: "item key is not UTF-8",
            })?;
            item_keys.push(key.to_owned());
        }
        let items_map =
            IdMap::from_ordered(item_keys, KEYS_MAX).map_err(|_| FormatError::Invalid {
                what: "repeated item key",
            })?;
        let body = match params {
            Params::Als(_) | Params::Bpr(_) => {
                let f = factors as usize;
                let user_factors = r.f32s(users as usize, f)?;
                let item_factors = r.f32s(items as usize, f)?;
                let bias = match params {
                    Params::Bpr(_) => Some(r.f32s(items as usize, 1)?),
                    _ => None,
                };
                Body::Factors(Factors::new(
                    f,
                    users,
                    items,
                    user_factors,
                    item_factors,
                    bias,
                ))
            }
            Params::ItemKnn(p) => {
                let counts = r.u32s(items as usize)?;
                let mut offsets = Vec::with_capacity(items as usize + 1);
                offsets.push(0usize);
                for &c in &counts {
                    if c > p.neighbours.min(NEIGHBOURS_MAX) {
                        return Err(FormatError::Invalid {
                            what: "more neighbours than the parameters allow",
                        });
                    }
                    offsets.push(offsets[offsets.len() - 1] + c as usize);
                }
                let total = offsets[offsets.len() - 1];
                let neighbours = r.u32s(total)?;
                let similarities = r.f32s(total, 1)?;
                for (item, w) in offsets.windows(2).enumerate() {
                    if neighbours[w[0]..w[1]]
                        .iter()
                        .any(|&n| n >= items || n as usize == item)
                    {
                        return Err(FormatError::Invalid {
                            what: "neighbour out of range",
                        });
                    }
                }
                Body::Neighbours(Neighbours {
                    offsets,
                    neighbours,
                    similarities,
                })
            }
            Params::Popularity(_) => Body::Popularity(Popularity {
                scores: r.f32s(items as usize, 1)?,
            }),
        };
        let training = match version {
            VERSION_1 => None,
            _ if r.flag()? => Some(read_training(
                &mut r,
                users,
                items,
                algorithm.has_user_rows(),
            )?),
            _ => None,
        };
        if r.pos != content.len() {
            return Err(FormatError::Invalid {
                what: "trailing bytes before the checksum",
            });
        }
        let model = Model::new(params, seed, body);
        let mut file =
            ModelFile::new(model, users_map, items_map).map_err(|_| FormatError::Invalid {
                what: "counts disagree",
            })?;
        file.training = training;
        Ok(file)
    }
}

/// The version-2 training section: `users` seen lists (each strictly ascending, < `items`),
/// then `items` counts, which must equal how many lists hold each item when the model has user
/// rows. Every allocation is at most the bytes it is read from, or `8 (users + 1)` and `4 items`
/// (offsets and the check's tally), both below the user keys' and counts' bytes already read.
fn read_training(
    r: &mut Reader<'_>,
    users: u32,
    items: u32,
    has_rows: bool,
) -> Result<Training, FormatError> {
    let lengths = r.u32s(users as usize)?;
    let mut offsets = Vec::with_capacity(lengths.len() + 1);
    offsets.push(0usize);
    for &len in &lengths {
        if len > items {
            return Err(FormatError::Invalid {
                what: "a seen list is longer than the catalogue",
            });
        }
        // Bounded by users * items < 2^64; `u32s` then refuses a total the bytes do not hold.
        let end = offsets[offsets.len() - 1]
            .checked_add(len as usize)
            .ok_or(TRUNCATED)?;
        offsets.push(end);
    }
    drop(lengths);
    let seen = r.u32s(offsets[offsets.len() - 1])?;
    for w in offsets.windows(2) {
        let list = &seen[w[0]..w[1]];
        if list.iter().any(|&i| i >= items) || list.windows(2).any(|p| p[0] >= p[1]) {
            return Err(FormatError::Invalid {
                what: "a seen list is out of range or not strictly ascending",
            });
        }
    }
    let counts = r.u32s(items as usize)?;
    if has_rows {
        let mut tally = vec![0u32; items as usize];
        for &i in &seen {
            // At most `users` lists hold an item (each once): no overflow.
            tally[i as usize] += 1;
        }
        if tally != counts {
            return Err(FormatError::Invalid {
                what: "item counts disagree with the seen lists",
            });
        }
    }
    Ok(Training {
        offsets,
        seen,
        counts,
    })
}

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_f32s(out: &mut Vec<u8>, values: &[f32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn algorithm_code(a: Algorithm) -> u8 {
    match a {
        Algorithm::Als => 1,
        Algorithm::Bpr => 2,
        Algorithm::ItemKnn => 3,
        Algorithm::Popularity => 4,
    }
}

fn algorithm_from_code(code: u8) -> Result<Algorithm, FormatError> {
    match code {
        1 => Ok(Algorithm::Als),
        2 => Ok(Algorithm::Bpr),
        3 => Ok(Algorithm::ItemKnn),
        4 => Ok(Algorithm::Popularity),
        _ => Err(FormatError::Invalid {
            what: "unknown algorithm",
        }),
    }
}

fn encode_params(params: &Params) -> Vec<u8> {
    let mut out = Vec::new();
    match *params {
        Params::Als(p) => {
            out.extend_from_slice(&p.factors.to_le_bytes());
            out.extend_from_slice(&p.regularization.to_le_bytes());
            out.extend_from_slice(&p.alpha.to_le_bytes());
            out.extend_from_slice(&p.iterations.to_le_bytes());
            out.extend_from_slice(&p.cg_steps.to_le_bytes());
            out.push(u8::from(p.compute_loss));
        }
        Params::Bpr(p) => {
            out.extend_from_slice(&p.factors.to_le_bytes());
            out.extend_from_slice(&p.learning_rate.to_le_bytes());
            out.extend_from_slice(&p.regularization.to_le_bytes());
            out.extend_from_slice(&p.iterations.to_le_bytes());
            out.extend_from_slice(&p.strata.to_le_bytes());
            if p.negatives == Negatives::Popularity {
                out.push(1);
            }
        }
        Params::ItemKnn(p) => {
            out.extend_from_slice(&p.neighbours.to_le_bytes());
            let (code, k1, b) = match p.weighting {
                Weighting::None => (0u8, 0f32, 0f32),
                Weighting::TfIdf => (1, 0.0, 0.0),
                Weighting::Bm25 { k1, b } => (2, k1, b),
            };
            out.push(code);
            out.extend_from_slice(&k1.to_le_bytes());
            out.extend_from_slice(&b.to_le_bytes());
            out.extend_from_slice(&p.work_max.to_le_bytes());
        }
        Params::Popularity(p) => {
            out.push(u8::from(p.half_life.is_some()));
            out.extend_from_slice(&p.half_life.unwrap_or(0.0).to_le_bytes());
        }
    }
    out
}

fn decode_params(algorithm: Algorithm, r: &mut Reader<'_>) -> Result<Params, FormatError> {
    let params = match algorithm {
        Algorithm::Als => Params::Als(AlsParams {
            factors: r.u32()?,
            regularization: r.f32()?,
            alpha: r.f32()?,
            iterations: r.u32()?,
            cg_steps: r.u32()?,
            compute_loss: r.flag()?,
        }),
        Algorithm::Bpr => {
            let (factors, learning_rate, regularization, iterations, strata) =
                (r.u32()?, r.f32()?, r.f32()?, r.u32()?, r.u32()?);
            // One encoding per value: uniform is the absent byte, never a 0.
            let negatives = match r.bytes.len() - r.pos {
                0 => Negatives::Uniform,
                _ if r.u8()? == 1 => Negatives::Popularity,
                _ => {
                    return Err(FormatError::Invalid {
                        what: "unknown negative sampler",
                    });
                }
            };
            Params::Bpr(BprParams {
                factors,
                learning_rate,
                regularization,
                iterations,
                strata,
                negatives,
            })
        }
        Algorithm::ItemKnn => {
            let neighbours = r.u32()?;
            let code = r.u8()?;
            let (k1, b) = (r.f32()?, r.f32()?);
            let weighting = match (code, k1, b) {
                (0, 0.0, 0.0) => Weighting::None,
                (1, 0.0, 0.0) => Weighting::TfIdf,
                (2, k1, b) => Weighting::Bm25 { k1, b },
                _ => {
                    return Err(FormatError::Invalid {
                        what: "unknown weighting",
                    });
                }
            };
            Params::ItemKnn(KnnParams {
                neighbours,
                weighting,
                work_max: r.u64()?,
            })
        }
        Algorithm::Popularity => {
            let has = r.flag()?;
            let half_life = f64::from_le_bytes(r.fixed::<8>()?);
            match (has, half_life) {
                (false, 0.0) => Params::Popularity(PopularityParams { half_life: None }),
                (true, h) => Params::Popularity(PopularityParams { half_life: Some(h) }),
                _ => {
                    return Err(FormatError::Invalid {
                        what: "half-life without its flag",
                    });
                }
            }
        }
    };
    if r.pos != r.bytes.len() {
        return Err(FormatError::Invalid {
            what: "parameter block length",
        });
    }
    Ok(params)
}

/// Bounds-checked little-endian reads; every failure is a typed error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

const TRUNCATED: FormatError = FormatError::Invalid {
    what: "a field runs past the end",
};

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(TRUNCATED)?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.fixed::<1>()?[0])
    }

    fn flag(&mut self) -> Result<bool, FormatError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(FormatError::Invalid {
                what: "flag is neither 0 nor 1",
            }),
        }
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.fixed()?))
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.fixed()?))
    }

    fn f32(&mut self) -> Result<f32, FormatError> {
        Ok(f32::from_le_bytes(self.fixed()?))
    }

    /// Refuses `count` elements of `size` bytes that cannot fit what is left, before any
    /// allocation sized by `count`.
    fn fits(&self, count: usize, size: usize) -> Result<usize, FormatError> {
        let bytes = count.checked_mul(size).ok_or(TRUNCATED)?;
        if bytes > self.bytes.len() - self.pos {
            Err(TRUNCATED)
        } else {
            Ok(bytes)
        }
    }

    fn array(&mut self, count: usize, size: usize) -> Result<&'a [u8], FormatError> {
        let bytes = self.fits(count, size)?;
        self.take(bytes)
    }

    fn u32s(&mut self, count: usize) -> Result<Vec<u32>, FormatError> {
        Ok(self
            .array(count, 4)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// `rows x width` finite floats.
    fn f32s(&mut self, rows: usize, width: usize) -> Result<Vec<f32>, FormatError> {
        let count = rows.checked_mul(width).ok_or(TRUNCATED)?;
        let values: Vec<f32> = self
            .array(count, 4)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(FormatError::Invalid {
                what: "a value is not finite",
            });
        }
        Ok(values)
    }
}
