//! A data set version's rows (Arrow batches from the data set's own reader, which asked the
//! read guard) into the training matrix: user pseudonyms and item ids to dense indices, in
//! sorted key order (so a version's model does not depend on the order of its files' rows).
//!
//! Column types: the user column holds subject pseudonyms (64 hex digits, the `subject` column
//! of events); the item column anything castable to text; weight any number (default 1);
//! time a timestamp (any unit, taken as µs) or a whole number of Unix seconds. Rows with a
//! null user, item, weight or time are skipped and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use roaring::RoaringTreemap;
use steward_crypto::Pseudonym;
use steward_ml::{IdMap, Interactions, MatrixLimits, UserKey};

use crate::ServeError;
use crate::spec::Columns;

/// What a data set version became.
pub(crate) struct Loaded {
    pub users: IdMap<UserKey>,
    pub items: IdMap<String>,
    pub matrix: Interactions,
    /// Every user by `subject_bit`.
    pub subjects: RoaringTreemap,
    pub rows: u64,
    pub skipped: u64,
}

fn column_error(column: &'static str, message: &str) -> ServeError {
    ServeError::training("invalid_column", format!("the {column} column {message}"))
}

fn find<'a>(
    batch: &'a RecordBatch,
    name: &str,
    role: &'static str,
) -> Result<&'a std::sync::Arc<dyn Array>, ServeError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| column_error(role, "is not in the data set version"))
}

fn as_text(array: &dyn Array, role: &'static str) -> Result<std::sync::Arc<dyn Array>, ServeError> {
    cast(array, &DataType::Utf8).map_err(|_| column_error(role, "cannot be read as text"))
}

/// The columns a batch must have, checked against the data set's schema before a job runs.
pub(crate) fn check_schema(
    schema: &[(String, String)],
    columns: &Columns,
) -> Result<(), ServeError> {
    let roles: [(&'static str, Option<&String>); 4] = [
        ("columns.user", Some(&columns.user)),
        ("columns.item", Some(&columns.item)),
        ("columns.weight", columns.weight.as_ref()),
        ("columns.time", columns.time.as_ref()),
    ];
    for (field, name) in roles {
        if let Some(name) = name
            && !schema.iter().any(|(n, _)| n == name)
        {
            return Err(ServeError::invalid(
                "unknown_column",
                field,
                "the data set version has no column of that name",
            ));
        }
    }
    Ok(())
}

/// Reads every batch into the matrix. `cancel` is looked at between batches.
pub(crate) fn load(
    batches: impl Iterator<Item = Result<RecordBatch, steward_lineage::LineageError>>,
    columns: &Columns,
    limits: MatrixLimits,
    cancel: &AtomicBool,
) -> Result<Loaded, ServeError> {
    let mut user_ids: HashMap<UserKey, u32> = HashMap::new();
    let mut user_keys: Vec<UserKey> = Vec::new();
    let mut item_ids: HashMap<String, u32> = HashMap::new();
    let mut item_keys: Vec<String> = Vec::new();
    let mut triples: Vec<(u32, u32, f32)> = Vec::new();
    let mut times: Vec<i64> = Vec::new();
    let (mut rows, mut skipped) = (0u64, 0u64);
    for batch in batches {
        if cancel.load(Ordering::SeqCst) {
            return Err(ServeError::Cancelled);
        }
        let batch = batch?;
        let users = as_text(find(&batch, &columns.user, "user")?, "user")?;
        let users = users.as_string::<i32>();
        let items = as_text(find(&batch, &columns.item, "item")?, "item")?;
        let items = items.as_string::<i32>();
        let weights = match &columns.weight {
            Some(name) => Some(
                cast(find(&batch, name, "weight")?, &DataType::Float64)
                    .map_err(|_| column_error("weight", "is not a number"))?,
            ),
            None => None,
        };
        let weights = weights.as_ref().map(|w| w.as_primitive::<Float64Type>());
        let times_column = match &columns.time {
            Some(name) => {
                let raw = find(&batch, name, "time")?;
                let micros = match raw.data_type() {
                    DataType::Timestamp(_, _) => cast(
                        &cast(raw, &DataType::Timestamp(TimeUnit::Microsecond, None))
                            .map_err(|_| column_error("time", "is not a time"))?,
                        &DataType::Int64,
                    ),
                    DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => {
                        cast(raw, &DataType::Int64).map(|a| {
                            let seconds = a.as_primitive::<Int64Type>();
                            std::sync::Arc::new(
                                seconds.unary::<_, Int64Type>(|s| s.saturating_mul(1_000_000)),
                            ) as std::sync::Arc<dyn Array>
                        })
                    }
                    _ => {
                        return Err(column_error(
                            "time",
                            "is neither a timestamp nor whole Unix seconds",
                        ));
                    }
                }
                .map_err(|_| column_error("time", "is not a time"))?;
                Some(micros)
            }
            None => None,
        };
        let times_array = times_column.as_ref().map(|t| t.as_primitive::<Int64Type>());
        for row in 0..batch.num_rows() {
            rows += 1;
            let null_time = times_array.is_some_and(|t| t.is_null(row));
            let null_weight = weights.is_some_and(|w| w.is_null(row));
            if users.is_null(row) || items.is_null(row) || null_time || null_weight {
                skipped += 1;
                continue;
            }
            let subject = Pseudonym::parse_hex(users.value(row)).map_err(|_| {
                column_error(
                    "user",
                    "must hold subject pseudonyms (the subject column of events)",
                )
            })?;
            let key: UserKey = *subject.as_bytes();
            let user = match user_ids.get(&key) {
                Some(&u) => u,
                None => {
                    let u = u32::try_from(user_keys.len())
                        .ok()
                        .filter(|&u| u < limits.users_max)
                        .ok_or_else(|| {
                            ServeError::training(
                                "too_many_users",
                                format!("more than {} users", limits.users_max),
                            )
                        })?;
                    user_ids.insert(key, u);
                    user_keys.push(key);
                    u
                }
            };
            let item_id = items.value(row);
            if item_id.len() > steward_ml::limits::ITEM_KEY_BYTES_MAX {
                return Err(column_error("item", "holds an id longer than 1024 bytes"));
            }
            let item = match item_ids.get(item_id) {
                Some(&i) => i,
                None => {
                    let i = u32::try_from(item_keys.len())
                        .ok()
                        .filter(|&i| i < limits.items_max)
                        .ok_or_else(|| {
                            ServeError::training(
                                "too_many_items",
                                format!("more than {} items", limits.items_max),
                            )
                        })?;
                    item_ids.insert(item_id.to_owned(), i);
                    item_keys.push(item_id.to_owned());
                    i
                }
            };
            let weight = weights.map_or(1.0, |w| w.value(row) as f32);
            if triples.len() as u64 >= limits.nnz_max {
                return Err(ServeError::training(
                    "too_many_interactions",
                    format!("more than {} interactions", limits.nnz_max),
                ));
            }
            triples.push((user, item, weight));
            if let Some(t) = times_array {
                times.push(t.value(row));
            }
        }
    }
    drop(user_ids);
    drop(item_ids);
    // Sorted key order: the first-seen index of each key → its rank.
    let rank = |n: usize, order: &[u32]| -> Vec<u32> {
        let mut out = vec![0u32; n];
        for (r, &first) in order.iter().enumerate() {
            out[first as usize] = r as u32;
        }
        out
    };
    let mut user_order: Vec<u32> = (0..user_keys.len() as u32).collect();
    user_order.sort_by(|&a, &b| user_keys[a as usize].cmp(&user_keys[b as usize]));
    let user_rank = rank(user_keys.len(), &user_order);
    let mut item_order: Vec<u32> = (0..item_keys.len() as u32).collect();
    item_order.sort_by(|&a, &b| item_keys[a as usize].cmp(&item_keys[b as usize]));
    let item_rank = rank(item_keys.len(), &item_order);
    let mut subjects = RoaringTreemap::new();
    for key in &user_keys {
        subjects.insert(u64::from_be_bytes([
            key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
        ]));
    }
    let users = IdMap::from_sorted(user_keys, u32::MAX - 1)
        .map_err(|e| ServeError::training("invalid_users", e))?;
    let items = IdMap::from_sorted(item_keys, u32::MAX - 1)
        .map_err(|e| ServeError::training("invalid_items", e))?;
    let mut builder = Interactions::builder(users.len() as u32, items.len() as u32, limits)
        .map_err(|e| ServeError::training("matrix_limits", e))?;
    for (position, &(u, i, w)) in triples.iter().enumerate() {
        let (u, i) = (user_rank[u as usize], item_rank[i as usize]);
        let pushed = if columns.time.is_some() {
            builder.push_timed(u, i, w, times[position])
        } else {
            builder.push(u, i, w)
        };
        pushed.map_err(|e| ServeError::training("invalid_interactions", e))?;
    }
    drop(triples);
    let matrix = builder
        .build()
        .map_err(|e| ServeError::training("invalid_interactions", e))?;
    Ok(Loaded {
        users,
        items,
        matrix,
        subjects,
        rows,
        skipped,
    })
}
