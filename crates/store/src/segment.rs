//! Immutable segments: events sorted by (subject, time, seq) in a Parquet file encrypted
//! with Parquet modular encryption under a per-segment key.
//!
//! Why modular encryption rather than encrypting the whole file: readers (and DataFusion
//! later) keep Parquet's random access, row-group pruning and column projection, and only
//! decrypt what they read. The wrapped segment key also rides in the footer key metadata,
//! so a segment is self-describing for the offline forensics tool.

use arrow_array::builder::{
    BinaryBuilder, FixedSizeBinaryBuilder, StringBuilder, TimestampMicrosecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, FixedSizeBinaryArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::encryption::decrypt::FileDecryptionProperties;
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{ChunkReader, Length};
use parquet::schema::types::ColumnPath;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use steward_crypto::{Key256, Pseudonym};
use steward_wal::{ReadSource, SharedVfs, Vfs, VfsFile};

use crate::StoreError;
use crate::catalog::SegmentMeta;
use crate::dedup::EventKey;
use crate::limits::{ROW_GROUP_ROWS, SEGMENT_WRITE_BUFFER_BYTES};
use crate::record::{EventRecord, NewEvent};

/// Column order of the segment format; `format_version` 1.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
const COL_EVENT_KEY: usize = 3;

/// Column names in segment order (format v1).
pub const COLUMN_NAMES: [&str; 9] = [
    "subject",
    "time",
    "seq",
    "event_key",
    "event_id",
    "type",
    "schema_version",
    "public",
    "sealed",
];

pub fn segment_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("subject", DataType::FixedSizeBinary(32), false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("seq", DataType::UInt64, false),
        Field::new("event_key", DataType::FixedSizeBinary(16), false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("schema_version", DataType::UInt32, false),
        Field::new("public", DataType::Binary, false),
        Field::new("sealed", DataType::Binary, false),
    ]))
}

/// Context binding a segment key to its tenant and segment id.
pub fn segment_key_context(tenant: &str, id: u64) -> Vec<u8> {
    steward_crypto::context(&[b"segment", tenant.as_bytes(), &id.to_le_bytes()])
}

/// How hard a segment is compressed: flushes are on the ingest path and compress fast (LZ4);
/// compaction rewrites cold data and compresses tight (zstd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    Fast,
    Tight,
    /// No compression: with encryption at rest off (forensic testing), a plain byte scan of
    /// a segment then sees every value it holds, so a scan that finds nothing proves something.
    Plain,
}

/// Writes `rows` (already sorted) to `path` durably: a temporary file, written and fsynced,
/// renamed into place and its directory fsynced. Returns the file size.
pub fn write_segment(
    vfs: &dyn Vfs,
    path: &Path,
    rows: &[&(EventRecord, EventKey)],
    key: Option<(&Key256, &[u8])>,
    packing: Packing,
) -> Result<u64, StoreError> {
    let perr = |source| StoreError::Parquet {
        path: path.to_owned(),
        source,
    };
    debug_assert!(
        rows.windows(2)
            .all(|w| sort_key(&w[0].0) <= sort_key(&w[1].0)),
        "segment rows unsorted"
    );
    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_compression(match packing {
            Packing::Fast => Compression::LZ4_RAW,
            Packing::Tight => Compression::ZSTD(ZstdLevel::try_new(1).map_err(perr)?),
            Packing::Plain => Compression::UNCOMPRESSED,
        })
        .set_created_by(format!("steward segment v{SEGMENT_FORMAT_VERSION}"))
        // Dictionaries pay off only for the low-cardinality columns; statistics only where
        // reads prune by them (subject, time, seq, type). Ciphertext and JSON blobs get neither.
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("type"), true)
        .set_column_dictionary_enabled(ColumnPath::from("schema_version"), true);
    for column in ["event_key", "event_id", "public", "sealed"] {
        props =
            props.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    if let Some((segment_key, wrapped)) = key {
        let encryption = FileEncryptionProperties::builder(segment_key.expose().to_vec())
            .with_footer_key_metadata(wrapped.to_vec())
            .build()
            .map_err(perr)?;
        props = props.with_file_encryption_properties(encryption);
    }
    let tmp = path.with_extension("parquet.tmp");
    let file = vfs.create_new(&tmp).map_err(StoreError::io(&tmp))?;
    let out = BufWriter::with_capacity(SEGMENT_WRITE_BUFFER_BYTES, FileWriter(file));
    let mut writer =
        ArrowWriter::try_new(out, segment_schema(), Some(props.build())).map_err(perr)?;
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        writer.write(&to_batch(chunk)?).map_err(perr)?;
    }
    let out = writer.into_inner().map_err(perr)?;
    let FileWriter(mut file) = out.into_inner().map_err(|e| StoreError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(StoreError::io(&tmp))?;
    drop(file);
    vfs.rename(&tmp, path).map_err(StoreError::io(path))?;
    sync_dir(vfs, path)?;
    let bytes = vfs.file_len(path).map_err(StoreError::io(path))?;
    Ok(bytes)
}

/// A [`VfsFile`] as the writer Parquet needs.
struct FileWriter(Box<dyn VfsFile>);

impl Write for FileWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(bytes)?;
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fsyncs the directory holding `path`, so a creation, rename or removal there survives a crash.
pub(crate) fn sync_dir(vfs: &dyn Vfs, path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        vfs.sync_dir(dir).map_err(StoreError::io(dir))?;
    }
    Ok(())
}

/// A segment file as Parquet reads it: the open file (random access, only the pages a read
/// needs) or, on a simulated file system, its bytes in memory.
pub(crate) enum SegmentSource {
    File(std::fs::File),
    Bytes(bytes::Bytes),
}

impl From<ReadSource> for SegmentSource {
    fn from(source: ReadSource) -> SegmentSource {
        match source {
            ReadSource::File(file) => SegmentSource::File(file),
            ReadSource::Bytes(bytes) => SegmentSource::Bytes(bytes.into()),
        }
    }
}

/// A sequential reader of a [`SegmentSource`].
pub(crate) enum SegmentRead {
    File(<std::fs::File as ChunkReader>::T),
    Bytes(<bytes::Bytes as ChunkReader>::T),
}

impl Read for SegmentRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SegmentRead::File(r) => r.read(out),
            SegmentRead::Bytes(r) => r.read(out),
        }
    }
}

impl Length for SegmentSource {
    fn len(&self) -> u64 {
        match self {
            SegmentSource::File(f) => Length::len(f),
            SegmentSource::Bytes(b) => Length::len(b),
        }
    }
}

impl ChunkReader for SegmentSource {
    type T = SegmentRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<SegmentRead> {
        Ok(match self {
            SegmentSource::File(f) => SegmentRead::File(f.get_read(start)?),
            SegmentSource::Bytes(b) => SegmentRead::Bytes(b.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        match self {
            SegmentSource::File(f) => f.get_bytes(start, length),
            SegmentSource::Bytes(b) => b.get_bytes(start, length),
        }
    }
}

pub(crate) fn sort_key(r: &EventRecord) -> (&[u8; 32], i64, u64) {
    (r.event.subject.as_bytes(), r.event.time_us, r.seq)
}

pub(crate) fn to_batch(rows: &[&(EventRecord, EventKey)]) -> Result<RecordBatch, StoreError> {
    let n = rows.len();
    let mut subject = FixedSizeBinaryBuilder::with_capacity(n, 32);
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut seq = UInt64Builder::with_capacity(n);
    let mut event_key = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut event_id = StringBuilder::new();
    let mut event_type = StringBuilder::new();
    let mut version = UInt32Builder::with_capacity(n);
    let mut public = BinaryBuilder::new();
    let mut sealed = BinaryBuilder::new();
    let internal = |e: arrow_schema::ArrowError| StoreError::Corrupted {
        what: "segment batch",
        path: PathBuf::new(),
        reason: e.to_string(),
    };
    for &(r, key) in rows {
        subject
            .append_value(r.event.subject.as_bytes())
            .map_err(internal)?;
        time.append_value(r.event.time_us);
        seq.append_value(r.seq);
        event_key.append_value(key.to_bytes()).map_err(internal)?;
        event_id.append_value(&r.event.event_id);
        event_type.append_value(&r.event.event_type);
        version.append_value(r.event.schema_version);
        public.append_value(&r.event.public);
        sealed.append_value(&r.event.sealed);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(subject.finish()),
        Arc::new(time.finish()),
        Arc::new(seq.finish()),
        Arc::new(event_key.finish()),
        Arc::new(event_id.finish()),
        Arc::new(event_type.finish()),
        Arc::new(version.finish()),
        Arc::new(public.finish()),
        Arc::new(sealed.finish()),
    ];
    RecordBatch::try_new(segment_schema(), columns).map_err(internal)
}

/// An open segment. Files of segments replaced by compaction are deleted when the last
/// reader drops its handle, so a scan never meets a vanished file.
pub struct Segment {
    pub meta: SegmentMeta,
    pub path: PathBuf,
    key: Option<Key256>,
    vfs: SharedVfs,
    reader_meta: OnceLock<ArrowReaderMetadata>,
    obsolete: AtomicBool,
}

impl Segment {
    pub fn new(vfs: SharedVfs, meta: SegmentMeta, path: PathBuf, key: Option<Key256>) -> Segment {
        Segment {
            meta,
            path,
            key,
            vfs,
            reader_meta: OnceLock::new(),
            obsolete: AtomicBool::new(false),
        }
    }

    fn source(&self) -> Result<SegmentSource, StoreError> {
        Ok(self
            .vfs
            .open_read(&self.path)
            .map_err(StoreError::io(&self.path))?
            .into())
    }

    /// Marks the file for deletion once no reader holds this segment.
    pub fn retire(&self) {
        self.obsolete.store(true, Ordering::SeqCst);
    }

    fn perr(&self) -> impl Fn(parquet::errors::ParquetError) -> StoreError + '_ {
        move |source| StoreError::Parquet {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn reader_meta(&self) -> Result<ArrowReaderMetadata, StoreError> {
        if let Some(meta) = self.reader_meta.get() {
            return Ok(meta.clone());
        }
        let file = self.source()?;
        let mut options = ArrowReaderOptions::new();
        if let Some(key) = &self.key {
            let props = FileDecryptionProperties::builder(key.expose().to_vec())
                .build()
                .map_err(self.perr())?;
            options = options.with_file_decryption_properties(props);
        }
        let meta = ArrowReaderMetadata::load(&file, options).map_err(self.perr())?;
        Ok(self.reader_meta.get_or_init(|| meta).clone())
    }

    pub(crate) fn reader(
        &self,
        row_groups: Vec<usize>,
        columns: Option<&[usize]>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, StoreError> {
        let meta = self.reader_meta()?;
        let file = self.source()?;
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta)
            .with_row_groups(row_groups);
        if let Some(columns) = columns {
            let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        builder.build().map_err(self.perr())
    }

    /// A reader of some root columns of some row groups, optionally only the selected rows,
    /// in batches of a whole row group.
    pub(crate) fn reader_with(
        &self,
        row_groups: Vec<usize>,
        columns: Option<&[usize]>,
        selection: Option<parquet::arrow::arrow_reader::RowSelection>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, StoreError> {
        let meta = self.reader_meta()?;
        let file = self.source()?;
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta)
            .with_row_groups(row_groups)
            .with_batch_size(ROW_GROUP_ROWS);
        if let Some(columns) = columns {
            let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        builder.build().map_err(self.perr())
    }

    /// Every row with its event key (for compaction).
    pub fn read_all(&self) -> Result<Vec<(EventRecord, EventKey)>, StoreError> {
        let groups = (0..self.reader_meta()?.metadata().num_row_groups()).collect();
        let mut out = Vec::with_capacity(self.meta.rows as usize);
        for batch in self.reader(groups, None)? {
            let batch = batch.map_err(|e| self.corrupt(e.to_string()))?;
            for i in 0..batch.num_rows() {
                out.push(self.row(&batch, i)?);
            }
        }
        Ok(out)
    }

    /// Only the event keys (to rebuild the idempotency index at start).
    pub fn read_event_keys(&self, mut f: impl FnMut(EventKey)) -> Result<(), StoreError> {
        let groups = (0..self.reader_meta()?.metadata().num_row_groups()).collect();
        for batch in self.reader(groups, Some(&[COL_EVENT_KEY]))? {
            let batch = batch.map_err(|e| self.corrupt(e.to_string()))?;
            let keys = column::<FixedSizeBinaryArray>(&batch, 0, &self.path)?;
            for i in 0..keys.len() {
                let bytes: [u8; 16] = keys
                    .value(i)
                    .try_into()
                    .map_err(|_| self.corrupt("event key width".into()))?;
                f(EventKey::from_bytes(bytes));
            }
        }
        Ok(())
    }

    pub(crate) fn row(
        &self,
        batch: &RecordBatch,
        i: usize,
    ) -> Result<(EventRecord, EventKey), StoreError> {
        let p = &self.path;
        let subject = Pseudonym::from_slice(column::<FixedSizeBinaryArray>(batch, 0, p)?.value(i))
            .map_err(|e| self.corrupt(e.to_string()))?;
        let key: [u8; 16] = column::<FixedSizeBinaryArray>(batch, 3, p)?
            .value(i)
            .try_into()
            .map_err(|_| self.corrupt("event key width".into()))?;
        let record = EventRecord {
            seq: column::<UInt64Array>(batch, 2, p)?.value(i),
            event: NewEvent {
                subject,
                time_us: column::<TimestampMicrosecondArray>(batch, 1, p)?.value(i),
                event_id: column::<StringArray>(batch, 4, p)?.value(i).to_owned(),
                event_type: column::<StringArray>(batch, 5, p)?.value(i).to_owned(),
                schema_version: column::<UInt32Array>(batch, 6, p)?.value(i),
                public: column::<BinaryArray>(batch, 7, p)?.value(i).to_vec(),
                sealed: column::<BinaryArray>(batch, 8, p)?.value(i).to_vec(),
            },
        };
        Ok((record, EventKey::from_bytes(key)))
    }

    pub(crate) fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupted {
            what: "segment",
            path: self.path.clone(),
            reason,
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::SeqCst)
            && let Err(error) = self.vfs.remove(&self.path)
        {
            tracing::warn!(path = %self.path.display(), %error, "could not remove retired segment; it is removed at next start");
        }
    }
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    i: usize,
    path: &Path,
) -> Result<&'a T, StoreError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| StoreError::Corrupted {
            what: "segment",
            path: path.to_owned(),
            reason: format!("column {i} has type {}", batch.column(i).data_type()),
        })
}
