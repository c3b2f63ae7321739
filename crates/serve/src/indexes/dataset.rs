//! Indexes of a data set version (issue 13 item 3): a frozen copy of one version's rows, read
//! the way a training job reads them (`Datasets::exportable` then `Datasets::batches`, through a
//! read guard for the index's purpose), never followed.
//!
//! - Creation: the request's guard must admit the version for the index's purpose (the
//!   artifact rule: 403 `dataset_purpose_forbidden`, 409 `dataset_version_stale` naming the
//!   successor), the version must have been cut for that purpose (a version cut for another
//!   purpose was masked for that one's classes), and the columns must exist with usable types
//!   (400 `unknown_column`, `column_type`, with the field's path; no value is echoed).
//! - Build: the follower embeds [`INDEX_DATASET_PASS_ROWS`] rows per pass through the shared
//!   embed batcher, one decoded row group in memory at a time (a cursor over the version's
//!   files kept between passes; after a restart it skips to the rows the snapshot holds).
//!   `refresh` runs passes until the version is read. A document's key is the id column's
//!   value (`row-<n>` without one), its subject the pseudonym in the subject column, its time
//!   the time column's.
//! - Search: every search asks the request's guard whether the version held may be read for
//!   its purpose now (the same artifact rule as an export: a held subject erased since the cut,
//!   refusing the purpose, or rows past retention answer 409 stale until the index is rebuilt
//!   from the successor), then each candidate with a subject as today.
//! - Passages: **a data set row's text is kept in the index** (cut to `PASSAGE_BYTES_MAX`),
//!   unlike events and items, whose text is read again through the guard. Re-reading a row by
//!   position would decrypt and decode the version from its first file for every passage, and
//!   the version's files are unreadable from the moment an erasure destroys their keys, while
//!   the index must keep serving the other subjects' rows until it is rebuilt. The text is as
//!   protected as the version's own files: it exists only in memory and inside the sealed
//!   snapshot (its key in the tenant catalog), every read of it passes the same artifact rule,
//!   and a rebuild from the successor writes a new snapshot and destroys the old one's key.
//! - Erasure, opt-out, regime change, retention (`kind.rs`): the index is rebuilt from the
//!   version's newest ready successor, which the data set kind builds without the refused
//!   rows (the ledger waits until it is ready); the version's subjects bitmap is kept in the
//!   index's state, since the data set kind removes the version's own with its files.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use parking_lot::RwLock;
use steward_crypto::Pseudonym;
use steward_engine::ReadGuard;
use steward_lineage::manifest::ColumnEntry;
use steward_lineage::{Datasets, LineageError, VersionBatches};

use super::state::{DatasetCut, Doc, IndexState, text_hash};
use super::{IndexSource, Indexes, Live, TextColumns, bm25, cut, embed};
use crate::ServeError;
use crate::kind::{Successor, newest_successor};
use crate::limits::{
    INDEX_DATASET_EMBED_ROWS, INDEX_DATASET_PASS_ROWS, INDEX_ROW_ID_BYTES_MAX, PASSAGE_BYTES_MAX,
};

/// A document without a time column's value.
pub(crate) const NO_TIME: i64 = i64::MIN;

/// Where the build of a data set index stands (GET shows it).
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildProgress {
    /// The data set version the index holds (the one it was made from, or a successor).
    pub version: u32,
    pub rows: u64,
    pub rows_read: u64,
    pub complete: bool,
}

/// What a rebuild from the successor did.
pub(crate) enum Rebuilt {
    /// The version held is still served for the index's purpose: nothing to do.
    Fresh,
    /// Not yet: the successor is being built (or not yet served for the purpose).
    Wait(String),
    /// Rebuilt from `to`, or emptied when the version has no successor (`to` = None).
    Done {
        from: u32,
        to: Option<u32>,
        removed: usize,
        files_removed: u64,
    },
}

/// One data set column, by its role, as a request names it.
fn roles(columns: &TextColumns) -> [(&'static str, Option<&String>); 4] {
    [
        ("source.columns.text", Some(&columns.text)),
        ("source.columns.id", columns.id.as_ref()),
        ("source.columns.subject", columns.subject.as_ref()),
        ("source.columns.time", columns.time.as_ref()),
    ]
}

fn is_text(t: &str) -> bool {
    matches!(t, "Utf8" | "LargeUtf8" | "Utf8View")
}

fn is_integer(t: &str) -> bool {
    matches!(
        t,
        "Int8" | "Int16" | "Int32" | "Int64" | "UInt8" | "UInt16" | "UInt32" | "UInt64"
    )
}

/// The columns must exist in the version's schema with a type their role can read: the text
/// and subject strings, the id a string or an integer, the time a timestamp or whole seconds.
pub(crate) fn check_columns(
    schema: &[ColumnEntry],
    columns: &TextColumns,
) -> Result<(), ServeError> {
    for (field, name) in roles(columns) {
        let Some(name) = name else { continue };
        let Some(column) = schema.iter().find(|c| &c.name == name) else {
            return Err(ServeError::invalid(
                "unknown_column",
                field,
                "the data set version has no column of that name",
            ));
        };
        let t = column.data_type.as_str();
        let (fits, expected) = match field {
            "source.columns.text" => (is_text(t), "a string column"),
            "source.columns.subject" => (is_text(t), "a string column of subject pseudonyms"),
            "source.columns.id" => (is_text(t) || is_integer(t), "a string or integer column"),
            _ => (
                t.starts_with("Timestamp") || is_integer(t),
                "a timestamp or whole Unix seconds",
            ),
        };
        if !fits {
            return Err(ServeError::invalid(
                "column_type",
                field,
                format!("expected {expected}"),
            ));
        }
    }
    Ok(())
}

fn column_type(field: &'static str, expected: &str) -> ServeError {
    ServeError::invalid("column_type", field, format!("expected {expected}"))
}

/// One batch's columns in the shapes the rows are read from.
struct Prepared {
    text: ArrayRef,
    id: Option<ArrayRef>,
    subject: Option<ArrayRef>,
    /// µs.
    time: Option<ArrayRef>,
    len: usize,
}

fn prepare(batch: &RecordBatch, columns: &TextColumns) -> Result<Prepared, ServeError> {
    let find = |name: &str, field: &'static str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| ServeError::invalid("unknown_column", field, "not in the version"))
    };
    let text = cast(
        &find(&columns.text, "source.columns.text")?,
        &DataType::Utf8,
    )
    .map_err(|_| column_type("source.columns.text", "a string column"))?;
    let id = match &columns.id {
        Some(name) => Some(
            cast(&find(name, "source.columns.id")?, &DataType::Utf8)
                .map_err(|_| column_type("source.columns.id", "a string or integer column"))?,
        ),
        None => None,
    };
    let subject = match &columns.subject {
        Some(name) => Some(
            cast(&find(name, "source.columns.subject")?, &DataType::Utf8)
                .map_err(|_| column_type("source.columns.subject", "a string column"))?,
        ),
        None => None,
    };
    let time = match &columns.time {
        Some(name) => Some(micros(&find(name, "source.columns.time")?)?),
        None => None,
    };
    Ok(Prepared {
        text,
        id,
        subject,
        time,
        len: batch.num_rows(),
    })
}

/// A time column as µs: timestamps of any unit, or whole Unix seconds.
fn micros(raw: &ArrayRef) -> Result<ArrayRef, ServeError> {
    let bad = || column_type("source.columns.time", "a timestamp or whole Unix seconds");
    let (scale_up, scale_down): (i64, i64) = match raw.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => (1_000_000, 1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => (1_000, 1),
        DataType::Timestamp(TimeUnit::Microsecond, _) => (1, 1),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => (1, 1_000),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => (1_000_000, 1),
        _ => return Err(bad()),
    };
    let raw = cast(raw, &DataType::Int64).map_err(|_| bad())?;
    let values = raw.as_primitive::<Int64Type>();
    Ok(
        Arc::new(values.unary::<_, Int64Type>(|v| v.saturating_mul(scale_up) / scale_down))
            as ArrayRef,
    )
}

/// A data set version's rows in order, one decoded batch at a time, from a position on.
pub(crate) struct Cursor {
    version: u32,
    batches: VersionBatches,
    prepared: Option<Prepared>,
    /// Rows of `prepared` consumed.
    offset: usize,
    /// Rows consumed in all.
    position: u64,
}

impl Cursor {
    /// Opens the version through the guard (the artifact rule again) at row `skip`.
    fn open(
        datasets: &Datasets,
        guard: &ReadGuard,
        name: &str,
        version: u32,
        skip: u64,
        columns: &TextColumns,
    ) -> Result<Cursor, ServeError> {
        let mut cursor = Cursor {
            version,
            batches: datasets.batches(guard, name, version)?,
            prepared: None,
            offset: 0,
            position: 0,
        };
        while cursor.position < skip {
            let Some(batch) = cursor.batches.next() else {
                break;
            };
            let batch = batch?;
            let left = skip - cursor.position;
            let rows = batch.num_rows() as u64;
            if rows <= left {
                cursor.position += rows;
            } else {
                cursor.prepared = Some(prepare(&batch, columns)?);
                cursor.offset = left as usize;
                cursor.position = skip;
            }
        }
        Ok(cursor)
    }

    /// Up to `max` rows: the documents of rows with a text, and the rows consumed (0: the end).
    fn next_rows(
        &mut self,
        columns: &TextColumns,
        max: usize,
    ) -> Result<(Vec<Row>, usize), ServeError> {
        let mut out = Vec::new();
        let mut consumed = 0;
        while consumed < max {
            if self.prepared.as_ref().is_none_or(|p| self.offset >= p.len) {
                match self.batches.next() {
                    None => break,
                    Some(batch) => {
                        let batch: RecordBatch = batch?;
                        self.prepared = Some(prepare(&batch, columns)?);
                        self.offset = 0;
                        continue;
                    }
                }
            }
            let Some(p) = self.prepared.as_ref() else {
                break;
            };
            let end = p.len.min(self.offset + (max - consumed));
            for row in self.offset..end {
                if let Some(doc) = row_doc(p, row, self.position)? {
                    out.push(doc);
                }
                self.position += 1;
            }
            consumed += end - self.offset;
            self.offset = end;
        }
        Ok((out, consumed))
    }
}

/// One row read: its document (with the text kept for passages) and the text to embed.
struct Row {
    doc: Doc,
    embedded: String,
}

/// One row, or None when its text is null or blank.
fn row_doc(p: &Prepared, row: usize, position: u64) -> Result<Option<Row>, ServeError> {
    let texts = p.text.as_string::<i32>();
    if texts.is_null(row) {
        return Ok(None);
    }
    let full = texts.value(row);
    if full.trim().is_empty() {
        return Ok(None);
    }
    let embedded = cut(full, steward_text::limits::EMBED_TEXT_BYTES_MAX);
    let key = match &p.id {
        Some(ids) if !ids.is_null(row) => {
            cut(ids.as_string::<i32>().value(row), INDEX_ROW_ID_BYTES_MAX).to_owned()
        }
        _ => format!("row-{position}"),
    };
    let subject = match &p.subject {
        Some(subjects) if !subjects.is_null(row) => Some(
            Pseudonym::parse_hex(subjects.as_string::<i32>().value(row)).map_err(|_| {
                column_type(
                    "source.columns.subject",
                    "subject pseudonyms (the subject column of events)",
                )
            })?,
        ),
        _ => None,
    };
    let time_us = match &p.time {
        Some(times) if !times.is_null(row) => times.as_primitive::<Int64Type>().value(row),
        _ => NO_TIME,
    };
    let (terms, length) = bm25::terms(embedded);
    Ok(Some(Row {
        doc: Doc {
            key,
            subject,
            seq: position,
            time_us,
            hash: text_hash(embedded),
            terms,
            length,
            text: Some(cut(full, PASSAGE_BYTES_MAX).to_owned()),
        },
        embedded: embedded.to_owned(),
    }))
}

impl Indexes {
    pub(crate) fn datasets(&self) -> Result<&Arc<Datasets>, ServeError> {
        self.datasets.get().ok_or(ServeError::Conflict {
            code: "datasets_unavailable",
            message: "this server has no data sets service".into(),
        })
    }

    /// Creation's checks for a data set source (see the module doc); the version's manifest.
    pub(crate) fn check_dataset_source(
        &self,
        guard: &ReadGuard,
        dataset: &str,
        version: u32,
        columns: &TextColumns,
    ) -> Result<(), ServeError> {
        let manifest = self.datasets()?.exportable(guard, dataset, version)?;
        if manifest.purpose != guard.purpose_name() {
            return Err(LineageError::Forbidden {
                message: "the data set version was cut for another purpose; cut a version for the index's purpose".into(),
            }
            .into());
        }
        check_columns(&manifest.schema, columns)
    }

    /// The version held, or the definition's before the build starts.
    fn held_version(live: &Live) -> Option<(String, u32)> {
        let IndexSource::Dataset {
            dataset, version, ..
        } = &live.def.source
        else {
            return None;
        };
        let held = live.state.read().cut.as_ref().map(|c| c.version);
        Some((dataset.clone(), held.unwrap_or(*version)))
    }

    /// A search's check: the request's guard must admit the version the index holds.
    pub(crate) fn dataset_admits(
        &self,
        guard: &ReadGuard,
        live: &Live,
        state: &IndexState,
    ) -> Result<(), ServeError> {
        let IndexSource::Dataset {
            dataset, version, ..
        } = &live.def.source
        else {
            return Ok(());
        };
        let held = state.cut.as_ref().map_or(*version, |c| c.version);
        self.datasets()?.exportable(guard, dataset, held)?;
        Ok(())
    }

    pub(crate) fn build_progress(live: &Live) -> Option<BuildProgress> {
        let (_, version) = Self::held_version(live)?;
        let state = live.state.read();
        Some(match &state.cut {
            Some(c) => BuildProgress {
                version: c.version,
                rows: c.rows,
                rows_read: c.read,
                complete: c.complete(),
            },
            None => BuildProgress {
                version,
                rows: 0,
                rows_read: 0,
                complete: false,
            },
        })
    }

    /// The version a build starts from: the definition's, or its newest ready successor when
    /// it was replaced (an erasure or opt-out before the build started, or a snapshot lost).
    fn start_version(
        &self,
        guard: &ReadGuard,
        dataset: &str,
        version: u32,
    ) -> Result<u32, ServeError> {
        let datasets = self.datasets()?;
        match datasets.exportable(guard, dataset, version) {
            Ok(_) => Ok(version),
            Err(e @ (LineageError::Stale { .. } | LineageError::Gone { .. })) => {
                match newest_successor(datasets, guard.tenant(), dataset, version)? {
                    Successor::Ready(m) => Ok(m.version),
                    Successor::Wait(_) | Successor::None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One follower pass over a data set index: up to `rows_max` more rows embedded.
    pub(crate) fn follow_dataset(
        &self,
        tenant: &str,
        live: &Live,
        rows_max: usize,
    ) -> Result<usize, ServeError> {
        let IndexSource::Dataset {
            dataset,
            version,
            columns,
        } = &live.def.source
        else {
            return Ok(0);
        };
        let _write = live.write.lock();
        if live.dropped.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(0);
        }
        let held = live
            .state
            .read()
            .cut
            .as_ref()
            .map(|c| (c.version, c.read, c.complete()));
        if held.is_some_and(|(_, _, complete)| complete) {
            *live.cursor.lock() = None;
            return Ok(0);
        }
        let datasets = self.datasets()?;
        let guard = self
            .engine
            .read_guard(tenant, Self::follower_access(&live.def))?;
        let (version, read) = match held {
            Some((v, read, _)) => {
                // Refused (withdrawn by an erasure, stale): the build stops here and the
                // ledger's task rebuilds the index from the successor.
                datasets.exportable(&guard, dataset, v)?;
                (v, read)
            }
            None => {
                let v = self.start_version(&guard, dataset, *version)?;
                let manifest = datasets.exportable(&guard, dataset, v)?;
                let subjects = datasets.bitmap(tenant, dataset, v)?.unwrap_or_default();
                let mut state = live.state.write();
                state.cut = Some(DatasetCut {
                    version: v,
                    generation: manifest.generation,
                    rows: manifest.rows,
                    read: 0,
                    subjects,
                });
                state.changed = true;
                (v, 0)
            }
        };
        let mut slot = live.cursor.lock();
        let mut cursor = match slot.take() {
            Some(c) if c.version == version && c.position == read => c,
            _ => Cursor::open(datasets, &guard, dataset, version, read, columns)?,
        };
        let added = self.fill(&live.state, &mut cursor, columns, rows_max)?;
        if live
            .state
            .read()
            .cut
            .as_ref()
            .is_some_and(|c| !c.complete())
        {
            *slot = Some(cursor);
        }
        metrics::counter!("steward_index_documents_added_total").increment(added as u64);
        Ok(added)
    }

    /// Reads up to `rows_max` rows from the cursor into `state`, embedding them in batches;
    /// marks the version read when the cursor ends.
    fn fill(
        &self,
        state: &RwLock<IndexState>,
        cursor: &mut Cursor,
        columns: &TextColumns,
        rows_max: usize,
    ) -> Result<usize, ServeError> {
        let embedder = self.embedder()?;
        let mut added = 0;
        let mut consumed_all = 0usize;
        while consumed_all < rows_max {
            let want = INDEX_DATASET_EMBED_ROWS.min(rows_max - consumed_all);
            let (rows, consumed) = cursor.next_rows(columns, want)?;
            let texts: Vec<String> = rows.iter().map(|r| r.embedded.clone()).collect();
            let vectors = if texts.is_empty() {
                Vec::new()
            } else {
                embed(embedder, texts)?
            };
            let mut s = state.write();
            for (row, vector) in rows.into_iter().zip(vectors) {
                s.upsert(row.doc, &vector)?;
                added += 1;
            }
            s.changed = true;
            let ended = consumed < want;
            if let Some(c) = s.cut.as_mut() {
                c.read = cursor.position;
                if ended {
                    // The files hold what the manifest counted; should they hold fewer, the
                    // version is read all the same.
                    c.rows = c.read;
                }
            }
            s.watermark = cursor.position;
            consumed_all += consumed;
            if ended {
                break;
            }
        }
        Ok(added)
    }

    /// Replaces a data set index's contents with the newest ready successor of the version it
    /// holds (see the module doc). `force`: rebuild even when the version held is still
    /// served (an erasure found a held subject); otherwise only when the index's purpose may no
    /// longer read the version.
    pub(crate) fn rebuild_dataset(
        &self,
        tenant: &str,
        live: &Live,
        force: bool,
    ) -> Result<Rebuilt, ServeError> {
        let IndexSource::Dataset {
            dataset, columns, ..
        } = &live.def.source
        else {
            return Ok(Rebuilt::Fresh);
        };
        let _write = live.write.lock();
        if live.dropped.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(Rebuilt::Fresh);
        }
        let Some((from, generation)) = live
            .state
            .read()
            .cut
            .as_ref()
            .map(|c| (c.version, c.generation))
        else {
            // Nothing read yet: the build starts from the newest successor itself.
            return Ok(Rebuilt::Fresh);
        };
        let datasets = self.datasets()?;
        let guard = self
            .engine
            .read_guard(tenant, Self::follower_access(&live.def))?;
        if !force {
            match datasets.exportable(&guard, dataset, from) {
                Ok(_) | Err(LineageError::Forbidden { .. }) => return Ok(Rebuilt::Fresh),
                Err(LineageError::Stale { .. } | LineageError::Gone { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut fresh = IndexState::new(live.def.dim)?;
        let to = match newest_successor(datasets, tenant, dataset, from)? {
            Successor::Wait(reason) => return Ok(Rebuilt::Wait(reason)),
            Successor::None => {
                // No successor will come: the index is emptied (searches answer why).
                fresh.cut = Some(DatasetCut {
                    version: from,
                    generation,
                    rows: 0,
                    read: 0,
                    subjects: Default::default(),
                });
                None
            }
            Successor::Ready(m) => {
                let manifest = match datasets.exportable(&guard, dataset, m.version) {
                    Ok(manifest) => manifest,
                    Err(LineageError::Stale { .. }) => {
                        return Ok(Rebuilt::Wait(
                            "the successor is not yet served for the index's purpose".into(),
                        ));
                    }
                    Err(e) => return Err(e.into()),
                };
                fresh.cut = Some(DatasetCut {
                    version: m.version,
                    generation: manifest.generation,
                    rows: manifest.rows,
                    read: 0,
                    subjects: datasets
                        .bitmap(tenant, dataset, m.version)?
                        .unwrap_or_default(),
                });
                let fresh_lock = RwLock::new(fresh);
                let mut cursor = Cursor::open(datasets, &guard, dataset, m.version, 0, columns)?;
                self.fill(&fresh_lock, &mut cursor, columns, usize::MAX)?;
                fresh = fresh_lock.into_inner();
                Some(m.version)
            }
        };
        fresh.changed = true;
        let removed = {
            let mut state = live.state.write();
            let removed = state.len().saturating_sub(fresh.len());
            *state = fresh;
            removed
        };
        *live.cursor.lock() = None;
        let files_removed = self.snapshot(tenant, live)?;
        tracing::info!(tenant, index = %live.def.name, from, to = ?to, "index rebuilt from a data set successor");
        Ok(Rebuilt::Done {
            from,
            to,
            removed,
            files_removed,
        })
    }

    /// Runs follower passes until the version is read (refresh).
    pub(crate) fn finish_dataset(&self, tenant: &str, live: &Live) -> Result<usize, ServeError> {
        let mut added = 0;
        loop {
            added += self.follow_dataset(tenant, live, INDEX_DATASET_PASS_ROWS)?;
            if live.state.read().cut.as_ref().is_none_or(|c| c.complete()) {
                return Ok(added);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<ColumnEntry> {
        [
            ("subject", "Utf8"),
            ("event_id", "Utf8"),
            ("n", "Int64"),
            ("body", "Utf8"),
            ("time", "Timestamp(Microsecond, Some(\"UTC\"))"),
            ("score", "Float64"),
        ]
        .into_iter()
        .map(|(n, t)| ColumnEntry {
            name: n.into(),
            data_type: t.into(),
        })
        .collect()
    }

    /// `columns` as `text,id,subject,time` ("" for none) against the schema: Ok or the
    /// error's code and field.
    fn check(columns: &str, expect: Result<(), (&str, &str)>) {
        let parts: Vec<Option<String>> = columns
            .split(',')
            .map(|p| (!p.is_empty()).then(|| p.to_owned()))
            .collect();
        let columns = TextColumns {
            text: parts[0].clone().unwrap_or_default(),
            id: parts[1].clone(),
            subject: parts[2].clone(),
            time: parts[3].clone(),
        };
        let got = check_columns(&schema(), &columns).map_err(|e| match e {
            ServeError::Invalid { code, field, .. } => (code, field.unwrap_or("")),
            other => panic!("{other}"),
        });
        assert_eq!(got, expect, "{columns:?}");
    }

    #[test]
    fn columns_must_exist_with_a_type_their_role_reads() {
        check("body,,,", Ok(()));
        check("body,event_id,subject,time", Ok(()));
        check("body,n,subject,n", Ok(()));
        check("nope,,,", Err(("unknown_column", "source.columns.text")));
        check("body,nope,,", Err(("unknown_column", "source.columns.id")));
        check(
            "body,,nope,",
            Err(("unknown_column", "source.columns.subject")),
        );
        check(
            "body,,,nope",
            Err(("unknown_column", "source.columns.time")),
        );
        check("n,,,", Err(("column_type", "source.columns.text")));
        check("time,,,", Err(("column_type", "source.columns.text")));
        check("body,score,,", Err(("column_type", "source.columns.id")));
        check("body,,n,", Err(("column_type", "source.columns.subject")));
        check("body,,,body", Err(("column_type", "source.columns.time")));
        check("body,,,score", Err(("column_type", "source.columns.time")));
    }

    #[test]
    fn errors_name_the_field_not_the_value() {
        let columns = TextColumns {
            text: "secret-column-name".into(),
            id: None,
            subject: None,
            time: None,
        };
        let e = check_columns(&schema(), &columns).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn times_of_any_unit_become_microseconds() {
        use datafusion::arrow::array::{
            Int64Array, TimestampMillisecondArray, TimestampNanosecondArray,
        };
        let seconds: ArrayRef = Arc::new(Int64Array::from(vec![Some(2), None]));
        let got = micros(&seconds).unwrap();
        let got = got.as_primitive::<Int64Type>();
        assert_eq!(got.value(0), 2_000_000);
        assert!(got.is_null(1));
        let ms: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![3]));
        assert_eq!(
            micros(&ms).unwrap().as_primitive::<Int64Type>().value(0),
            3_000
        );
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![5_000]));
        assert_eq!(micros(&ns).unwrap().as_primitive::<Int64Type>().value(0), 5);
        let text: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec!["x"]));
        assert!(micros(&text).is_err());
    }
}
