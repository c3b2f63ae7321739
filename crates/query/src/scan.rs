//! The scan under every SQL table: a store snapshot read segment by segment and row group
//! by row group, pruned by the bounds the query's filters imply, each batch passed through
//! the read guard's columnar rule (erasure tombstones, the purpose's consent, retention) and
//! the query's bounds (the data set's snapshot among them) before DataFusion sees it, and
//! only the projected columns decoded, as the guard says they may be.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanBuilder, FixedSizeBinaryArray, Float64Builder,
    Int64Builder, RecordBatch, RecordBatchOptions, StringArray, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Array,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::{Map, Value};
use steward_crypto::Pseudonym;
use steward_engine::{Admitted, ReadGuard};
use steward_privacy::FieldType;
use steward_store::{ReadSnapshot, ScanBounds, Segment};

use crate::views::{ColumnSource, ViewDef};

/// What one query's scans share: the read guard (purpose, consent, tombstones, retention,
/// keys), one snapshot so every table of the query sees the same instant, the deadline, and
/// what lineage needs.
pub struct ScanContext {
    pub guard: Arc<ReadGuard>,
    pub snapshot: Arc<ReadSnapshot>,
    pub deadline: Instant,
    /// What the query's scans admitted (a data set's lineage); None when not tracked.
    pub admitted: Option<Arc<Admitted>>,
    pub segments_read: Mutex<HashSet<u64>>,
    pub row_groups_read: AtomicU64,
    pub row_groups_pruned: AtomicU64,
    pub rows_scanned: AtomicU64,
}

impl ScanContext {
    pub fn new(
        guard: Arc<ReadGuard>,
        snapshot: Arc<ReadSnapshot>,
        deadline: Instant,
        track_subjects: bool,
    ) -> ScanContext {
        ScanContext {
            guard,
            snapshot,
            deadline,
            admitted: track_subjects.then(|| Arc::new(Admitted::default())),
            segments_read: Mutex::new(HashSet::new()),
            row_groups_read: AtomicU64::new(0),
            row_groups_pruned: AtomicU64::new(0),
            rows_scanned: AtomicU64::new(0),
        }
    }
}

/// One view as a DataFusion table.
pub struct ViewTable {
    view: Arc<ViewDef>,
    schema: SchemaRef,
    ctx: Arc<ScanContext>,
}

impl fmt::Debug for ViewTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ViewTable({})", self.view.name)
    }
}

impl ViewTable {
    pub fn new(view: ViewDef, ctx: Arc<ScanContext>) -> ViewTable {
        let schema = view.schema();
        ViewTable {
            view: Arc::new(view),
            schema,
            ctx,
        }
    }
}

#[async_trait]
impl TableProvider for ViewTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::common::Result<Vec<TableProviderFilterPushDown>> {
        // Bounds prune, and `admit` applies them to every row; a filter the bounds express
        // exactly needs no second pass (nor its column) in DataFusion.
        Ok(filters
            .iter()
            .map(|f| match narrows(f, &mut ScanBounds::default()) {
                true if exact(f) => TableProviderFilterPushDown::Exact,
                true => TableProviderFilterPushDown::Inexact,
                false => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let projection: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let mut bounds = ScanBounds {
            max_seq: Some(self.ctx.snapshot.max_seq),
            ..ScanBounds::default()
        };
        for filter in filters {
            narrows(filter, &mut bounds);
        }
        if let Some(t) = &self.view.event_type {
            bounds.types = Some(match bounds.types.take() {
                Some(types) => types.into_iter().filter(|x| x == t).collect(),
                None => vec![t.clone()],
            });
        }
        let mut sources = Vec::new();
        for batch in &self.ctx.snapshot.memtable {
            sources.push(Source::Memtable(batch.clone()));
        }
        for segment in &self.ctx.snapshot.segments {
            let m = &segment.meta;
            if bounds.from_us.is_some_and(|f| m.max_time_us < f)
                || bounds.to_us.is_some_and(|t| m.min_time_us >= t)
                || bounds
                    .subject
                    .is_some_and(|s| s < m.min_subject || s > m.max_subject)
            {
                continue;
            }
            let groups = segment.row_groups_within(&bounds).map_err(external)?;
            for g in groups {
                sources.push(Source::RowGroup(segment.clone(), g));
            }
        }
        let partitions = state
            .config()
            .target_partitions()
            .clamp(1, 64)
            .min(sources.len().max(1));
        let mut split: Vec<Vec<Source>> = (0..partitions).map(|_| Vec::new()).collect();
        for (i, source) in sources.into_iter().enumerate() {
            split[i % partitions].push(source);
        }
        let schema = Arc::new(self.schema.project(&projection)?);
        let sealed = sealed_needed(&self.view, &projection, &self.ctx.guard);
        let decodes = projection.iter().any(|&i| {
            matches!(
                self.view.columns[i].source,
                ColumnSource::Properties | ColumnSource::Field { .. } | ColumnSource::Subject
            )
        });
        let cache = crate::cache::global();
        let cache_shape = (cache.enabled() && decodes && !sealed).then(|| {
            let columns: Vec<String> = projection
                .iter()
                .map(|&i| {
                    format!(
                        "{}:{}",
                        self.view.columns[i].name, self.view.columns[i].data_type
                    )
                })
                .collect();
            let visible: Vec<&str> = self
                .ctx
                .guard
                .visible()
                .iter()
                .map(|c| c.as_str())
                .collect();
            Arc::from(format!(
                "{}|{}|{}",
                self.view.name,
                columns.join(","),
                visible.join(",")
            ))
        });
        if cache.enabled() {
            let live = self
                .ctx
                .snapshot
                .segments
                .iter()
                .map(|s| s.meta.id)
                .collect();
            cache.retain_segments(self.ctx.guard.tenant(), &live);
        }
        if let Some(admitted) = &self.ctx.admitted {
            admitted.add_classes(classes_out(&self.view, &projection, &self.ctx.guard));
        }
        let plan = Arc::new(ScanPlan {
            view: self.view.clone(),
            projection: Arc::new(projection),
            bounds: Arc::new(bounds),
            ctx: self.ctx.clone(),
            sealed,
            cache_shape,
        });
        let streams: Vec<Arc<dyn PartitionStream>> = split
            .into_iter()
            .map(|sources| {
                Arc::new(ScanPartition {
                    schema: schema.clone(),
                    plan: plan.clone(),
                    sources: Mutex::new(Some(sources)),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            streams,
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[derive(Clone)]
enum Source {
    Memtable(RecordBatch),
    RowGroup(Arc<Segment>, usize),
}

struct ScanPlan {
    view: Arc<ViewDef>,
    projection: Arc<Vec<usize>>,
    bounds: Arc<ScanBounds>,
    ctx: Arc<ScanContext>,
    /// A projected column needs the sealed part opened (never cached).
    sealed: bool,
    /// The cache key's shape when decoded row groups may be cached.
    cache_shape: Option<Arc<str>>,
}

struct ScanPartition {
    schema: SchemaRef,
    plan: Arc<ScanPlan>,
    sources: Mutex<Option<Vec<Source>>>,
}

impl fmt::Debug for ScanPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScanPartition({})", self.plan.view.name)
    }
}

impl PartitionStream for ScanPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let sources = self.sources.lock().take().unwrap_or_default();
        let plan = self.plan.clone();
        let schema = self.schema.clone();
        let stream = futures_util::stream::iter(sources)
            .map(move |source| plan.read(&schema, source))
            .filter_map(|r| async move {
                match r {
                    Ok(Some(batch)) => Some(Ok(batch)),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }
            });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Whether a projected column needs a visible sealed field opened.
fn sealed_needed(view: &ViewDef, projection: &[usize], guard: &ReadGuard) -> bool {
    let any_sealed_visible = steward_privacy::PrivacyClass::ALL
        .into_iter()
        .any(|c| c.is_sealed() && guard.sees(c));
    if !any_sealed_visible {
        return false;
    }
    let latest: HashMap<String, _> = guard
        .schemas()
        .into_iter()
        .map(|s| (s.event_type.clone(), s))
        .collect();
    let event_type = view.event_type.as_deref();
    view.needs_sealed(projection, |name| {
        match event_type.and_then(|t| latest.get(t)) {
            Some(schema) => schema.schema.field(name).is_none_or(|f| {
                f.class.is_sealed() || f.class == steward_privacy::PrivacyClass::FreeText
            }),
            None => true,
        }
    })
}

/// The field classes a projection can put in its output in the clear (a superset): each
/// projected field's classes across the type's schema versions, every visible class for the
/// `properties` column; only those the guard lets through.
fn classes_out(
    view: &ViewDef,
    projection: &[usize],
    guard: &ReadGuard,
) -> Vec<steward_privacy::PrivacyClass> {
    let mut out = Vec::new();
    for &i in projection {
        match &view.columns[i].source {
            ColumnSource::Properties => out.extend(guard.visible().iter().copied()),
            ColumnSource::Field { name, .. } => match view.event_type.as_deref() {
                // A field reads as the class of the schema version each row was written under.
                Some(t) => {
                    for version in guard.schema_versions(t) {
                        let class = match version.schema.field(name) {
                            Some(field) if field.class.is_sealed() => field.class,
                            _ => guard.stored_class(Some(&version), name),
                        };
                        out.push(class);
                    }
                }
                None => out.extend(guard.visible().iter().copied()),
            },
            _ => {}
        }
    }
    out.retain(|c| guard.sees(*c));
    out.sort_by_key(|c| c.as_str());
    out.dedup();
    out
}

/// The raw segment columns a projection needs.
fn raw_columns(view: &ViewDef, projection: &[usize], sealed: bool) -> Vec<&'static str> {
    let mut need = vec!["subject", "time", "seq", "type"];
    let mut add = |c: &'static str| {
        if !need.contains(&c) {
            need.push(c);
        }
    };
    for &i in projection {
        match &view.columns[i].source {
            ColumnSource::EventId => add("event_id"),
            ColumnSource::SchemaVersion => add("schema_version"),
            ColumnSource::Properties | ColumnSource::Field { .. } => {
                add("schema_version");
                add("public");
                if sealed {
                    add("event_id");
                    add("sealed");
                }
            }
            _ => {}
        }
    }
    // Keep segment order so a projection mask reads them in one pass.
    need.sort_by_key(|c| steward_store::COLUMN_NAMES.iter().position(|n| n == c));
    need
}

impl ScanPlan {
    fn read(
        &self,
        schema: &SchemaRef,
        source: Source,
    ) -> datafusion::common::Result<Option<RecordBatch>> {
        if Instant::now() > self.ctx.deadline {
            return Err(DataFusionError::ResourcesExhausted(
                "query_timeout: the query ran past its time limit".into(),
            ));
        }
        let sealed = self.sealed;
        if let (Source::RowGroup(segment, group), Some(shape)) = (&source, &self.cache_shape) {
            let cache = crate::cache::global();
            let key = crate::cache::CacheKey {
                tenant: self.ctx.guard.tenant().to_owned(),
                segment: segment.meta.id,
                group: *group,
                shape: shape.clone(),
            };
            self.ctx.segments_read.lock().insert(segment.meta.id);
            self.ctx.row_groups_read.fetch_add(1, Ordering::Relaxed);
            let decoded = match cache.get(&key) {
                Some(hit) => hit,
                None => {
                    let Some(raw) = self.read_group(segment, *group, false)? else {
                        return Ok(None);
                    };
                    // A typed view keeps only its type: row groups mix every type, and the
                    // type never changes, so this filter is not one of the per-query rules.
                    let raw = match &self.view.event_type {
                        Some(t) => {
                            let types = col::<StringArray>(&raw, "type")?;
                            let mask: datafusion::arrow::array::BooleanArray =
                                types.iter().map(|v| Some(v == Some(t.as_str()))).collect();
                            filter_record_batch(&raw, &mask)?
                        }
                        None => raw,
                    };
                    let outputs = self.project(schema, &raw, false)?;
                    let rules = raw.project(
                        &["subject", "seq", "time", "type"]
                            .map(|c| raw.schema().index_of(c))
                            .into_iter()
                            .collect::<Result<Vec<_>, _>>()?,
                    )?;
                    let decoded = Arc::new(crate::cache::Decoded { rules, outputs });
                    cache.insert(key, decoded.clone());
                    decoded
                }
            };
            self.ctx
                .rows_scanned
                .fetch_add(decoded.rules.num_rows() as u64, Ordering::Relaxed);
            let mask = self.admit(&decoded.rules)?;
            if mask.true_count() == 0 {
                return Ok(None);
            }
            return Ok(Some(filter_record_batch(&decoded.outputs, &mask)?));
        }
        let raw = match source {
            Source::Memtable(batch) => batch,
            Source::RowGroup(segment, group) => {
                self.ctx.segments_read.lock().insert(segment.meta.id);
                self.ctx.row_groups_read.fetch_add(1, Ordering::Relaxed);
                match self.read_group(&segment, group, sealed)? {
                    Some(raw) => raw,
                    None => return Ok(None),
                }
            }
        };
        self.ctx
            .rows_scanned
            .fetch_add(raw.num_rows() as u64, Ordering::Relaxed);
        let mask = self.admit(&raw)?;
        if mask.true_count() == 0 {
            return Ok(None);
        }
        let kept = filter_record_batch(&raw, &mask)?;
        Ok(Some(self.project(schema, &kept, sealed)?))
    }

    fn read_group(
        &self,
        segment: &Segment,
        group: usize,
        sealed: bool,
    ) -> datafusion::common::Result<Option<RecordBatch>> {
        let columns = raw_columns(&self.view, &self.projection, sealed);
        let batches = segment
            .read_columns(vec![group], &columns)
            .map_err(external)?;
        Ok(match batches.len() {
            0 => None,
            1 => batches.into_iter().next(),
            _ => Some(datafusion::arrow::compute::concat_batches(
                &batches[0].schema(),
                &batches,
            )?),
        })
    }

    /// The rows to keep: the read guard's rules and the query's bounds, in one pass.
    fn admit(
        &self,
        raw: &RecordBatch,
    ) -> datafusion::common::Result<datafusion::arrow::array::BooleanArray> {
        self.ctx
            .guard
            .admit_batch(
                raw,
                &self.ctx.snapshot,
                &self.bounds,
                self.ctx.admitted.as_deref(),
            )
            .map_err(external)
    }

    fn project(
        &self,
        schema: &SchemaRef,
        raw: &RecordBatch,
        sealed: bool,
    ) -> datafusion::common::Result<RecordBatch> {
        let n = raw.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.projection.len());
        let needs_rows = self.projection.iter().any(|&i| {
            matches!(
                self.view.columns[i].source,
                ColumnSource::Properties | ColumnSource::Field { .. }
            )
        });
        let decoded = if needs_rows {
            Some(self.decode_rows(raw, sealed)?)
        } else {
            None
        };
        for &i in self.projection.iter() {
            let column = &self.view.columns[i];
            let array: ArrayRef = match &column.source {
                ColumnSource::EventId => raw_col(raw, "event_id")?,
                ColumnSource::Type => raw_col(raw, "type")?,
                // Stored with a "UTC" annotation; the same values without it (see `time_type`).
                ColumnSource::Time => datafusion::arrow::compute::cast(
                    &raw_col(raw, "time")?,
                    &crate::views::time_type(),
                )?,
                ColumnSource::SchemaVersion => raw_col(raw, "schema_version")?,
                ColumnSource::Subject => {
                    let subjects = col::<FixedSizeBinaryArray>(raw, "subject")?;
                    let mut b = StringBuilder::with_capacity(n, n * 64);
                    let mut hex = [0u8; 64];
                    for i in 0..n {
                        b.append_value(hex_into(subjects.value(i), &mut hex));
                    }
                    Arc::new(b.finish())
                }
                ColumnSource::Properties => {
                    let rows = decoded
                        .as_ref()
                        .ok_or_else(|| DataFusionError::Internal("rows not decoded".into()))?;
                    let mut b = StringBuilder::with_capacity(n, n * 64);
                    for row in rows {
                        b.append_value(Value::Object(row.clone()).to_string());
                    }
                    Arc::new(b.finish())
                }
                ColumnSource::Field { name, field_type } => {
                    let rows = decoded
                        .as_ref()
                        .ok_or_else(|| DataFusionError::Internal("rows not decoded".into()))?;
                    build_field(rows, name, field_type, &column.data_type)?
                }
            };
            columns.push(array);
        }
        Ok(RecordBatch::try_new_with_options(
            schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?)
    }

    /// Each row's visible properties: clear fields by the class of the schema version the
    /// row was written under, sealed fields opened only for visible classes.
    fn decode_rows(
        &self,
        raw: &RecordBatch,
        sealed: bool,
    ) -> datafusion::common::Result<Vec<Map<String, Value>>> {
        let reader = &self.ctx.guard;
        let publics = col::<BinaryArray>(raw, "public")?;
        let versions = col::<UInt32Array>(raw, "schema_version")?;
        let types = col::<StringArray>(raw, "type")?;
        let sealed_col = if sealed {
            Some((
                col::<BinaryArray>(raw, "sealed")?,
                col::<StringArray>(raw, "event_id")?,
                col::<FixedSizeBinaryArray>(raw, "subject")?,
            ))
        } else {
            None
        };
        let mut schemas: HashMap<(String, u32), Option<Arc<steward_privacy::SchemaVersion>>> =
            HashMap::new();
        // Typed views decode only the fields they project; `properties` needs them all.
        let wanted: Option<Vec<&str>> = if self
            .projection
            .iter()
            .any(|&i| matches!(self.view.columns[i].source, ColumnSource::Properties))
        {
            None
        } else {
            Some(
                self.projection
                    .iter()
                    .filter_map(|&i| match &self.view.columns[i].source {
                        ColumnSource::Field { name, .. } => Some(name.as_str()),
                        _ => None,
                    })
                    .collect(),
            )
        };
        let mut out = Vec::with_capacity(raw.num_rows());
        for i in 0..raw.num_rows() {
            let mut props: Map<String, Value> = match &wanted {
                Some(names) => {
                    let mut de = serde_json::Deserializer::from_slice(publics.value(i));
                    serde::de::DeserializeSeed::deserialize(Wanted(names), &mut de)
                }
                None => serde_json::from_slice(publics.value(i)),
            }
            .map_err(|e| {
                DataFusionError::Internal(format!("stored public fields are not JSON: {e}"))
            })?;
            let key = (types.value(i).to_owned(), versions.value(i));
            let schema = schemas
                .entry(key.clone())
                .or_insert_with(|| reader.schema(&key.0, key.1))
                .clone();
            for (name, value) in props.iter_mut() {
                if !reader.sees(reader.stored_class(schema.as_deref(), name)) {
                    *value = Value::Null;
                }
            }
            if let Some((blobs, ids, subjects)) = sealed_col
                && !blobs.value(i).is_empty()
            {
                let subject = Pseudonym::from_slice(subjects.value(i))
                    .map_err(|e| DataFusionError::Internal(e.to_string()))?;
                for field in reader
                    .open_sealed(&subject, ids.value(i), blobs.value(i))
                    .map_err(external)?
                {
                    props.insert(field.name, field.value.unwrap_or(Value::Null));
                }
            }
            out.push(props);
        }
        Ok(out)
    }
}

/// Decodes a JSON object keeping only the named keys; the others are skipped unparsed.
struct Wanted<'a>(&'a [&'a str]);

impl<'de> serde::de::DeserializeSeed<'de> for Wanted<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Wanted<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let name = key.as_str();
            if self.0.contains(&name) {
                out.insert(name.to_owned(), map.next_value::<Value>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// An object key, borrowed from the input unless it had escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

fn build_field(
    rows: &[Map<String, Value>],
    name: &str,
    field_type: &FieldType,
    data_type: &DataType,
) -> datafusion::common::Result<ArrayRef> {
    let n = rows.len();
    let get = |i: usize| rows[i].get(name).filter(|v| !v.is_null());
    Ok(match data_type {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(n);
            (0..n).for_each(|i| b.append_option(get(i).and_then(Value::as_i64)));
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(n);
            (0..n).for_each(|i| b.append_option(get(i).and_then(Value::as_f64)));
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            (0..n).for_each(|i| b.append_option(get(i).and_then(Value::as_bool)));
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n);
            (0..n).for_each(|i| {
                b.append_option(
                    get(i)
                        .and_then(Value::as_str)
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.timestamp_micros()),
                )
            });
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            let json_text = matches!(field_type, FieldType::List { .. } | FieldType::Object);
            for i in 0..n {
                match get(i) {
                    Some(Value::String(s)) if !json_text => b.append_value(s),
                    Some(v) => b.append_value(v.to_string()),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    })
}

fn hex_into<'a>(bytes: &[u8], out: &'a mut [u8; 64]) -> &'a str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().take(32).enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    std::str::from_utf8(&out[..bytes.len().min(32) * 2]).unwrap_or_default()
}

fn raw_col(raw: &RecordBatch, name: &str) -> datafusion::common::Result<ArrayRef> {
    raw.column_by_name(name)
        .cloned()
        .ok_or_else(|| DataFusionError::Internal(format!("segment column {name} not read")))
}

fn col<'a, T: 'static>(raw: &'a RecordBatch, name: &str) -> datafusion::common::Result<&'a T> {
    raw.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            DataFusionError::Internal(format!("segment column {name} missing or of another type"))
        })
}

/// Narrows `bounds` by a filter on time, type or subject; true if it could.
fn narrows(filter: &Expr, bounds: &mut ScanBounds) -> bool {
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let a = narrows(left, bounds);
            let b = narrows(right, bounds);
            a || b
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (column, value, op) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) => (c.name.as_str(), v, *op),
                (Expr::Literal(v, _), Expr::Column(c)) => match op.swap() {
                    Some(op) => (c.name.as_str(), v, op),
                    None => return false,
                },
                _ => return false,
            };
            match (column, op) {
                ("time", _) => {
                    let Some(t) = micros(value) else { return false };
                    match op {
                        Operator::Gt => {
                            bounds.from_us = Some(
                                bounds
                                    .from_us
                                    .map_or(t.saturating_add(1), |f| f.max(t.saturating_add(1))),
                            )
                        }
                        Operator::GtEq => {
                            bounds.from_us = Some(bounds.from_us.map_or(t, |f| f.max(t)))
                        }
                        // `t` may be rounded down from nanoseconds: then `< t` keeps `t` too.
                        Operator::Lt if micros_exact(value) => {
                            bounds.to_us = Some(bounds.to_us.map_or(t, |x| x.min(t)))
                        }
                        Operator::Lt | Operator::LtEq => {
                            bounds.to_us = Some(
                                bounds
                                    .to_us
                                    .map_or(t.saturating_add(1), |x| x.min(t.saturating_add(1))),
                            )
                        }
                        Operator::Eq => {
                            bounds.from_us = Some(bounds.from_us.map_or(t, |f| f.max(t)));
                            bounds.to_us = Some(
                                bounds
                                    .to_us
                                    .map_or(t.saturating_add(1), |x| x.min(t.saturating_add(1))),
                            );
                        }
                        _ => return false,
                    }
                    true
                }
                ("type", Operator::Eq) => match value {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => {
                        bounds.types = Some(match bounds.types.take() {
                            Some(ts) => ts.into_iter().filter(|t| t == s).collect(),
                            None => vec![s.clone()],
                        });
                        true
                    }
                    _ => false,
                },
                ("subject", Operator::Eq) => match value {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => match Pseudonym::parse_hex(s) {
                        Ok(p) => {
                            bounds.subject = Some(p);
                            true
                        }
                        Err(_) => false,
                    },
                    _ => false,
                },
                _ => false,
            }
        }
        Expr::Between(b) if !b.negated => {
            let (Expr::Column(c), Expr::Literal(lo, _), Expr::Literal(hi, _)) =
                (b.expr.as_ref(), b.low.as_ref(), b.high.as_ref())
            else {
                return false;
            };
            if c.name != "time" {
                return false;
            }
            let (Some(lo), Some(hi)) = (micros(lo), micros(hi)) else {
                return false;
            };
            bounds.from_us = Some(bounds.from_us.map_or(lo, |f| f.max(lo)));
            bounds.to_us = Some(
                bounds
                    .to_us
                    .map_or(hi.saturating_add(1), |x| x.min(hi.saturating_add(1))),
            );
            true
        }
        Expr::InList(list) if !list.negated => {
            let Expr::Column(c) = list.expr.as_ref() else {
                return false;
            };
            if c.name != "type" {
                return false;
            }
            let mut names = Vec::new();
            for item in &list.list {
                match item {
                    Expr::Literal(
                        ScalarValue::Utf8(Some(s))
                        | ScalarValue::LargeUtf8(Some(s))
                        | ScalarValue::Utf8View(Some(s)),
                        _,
                    ) => names.push(s.clone()),
                    _ => return false,
                }
            }
            bounds.types = Some(match bounds.types.take() {
                Some(ts) => ts.into_iter().filter(|t| names.contains(t)).collect(),
                None => names,
            });
            true
        }
        _ => false,
    }
}

/// Whether the bounds `narrows` takes from a filter select exactly the rows it selects.
fn exact(filter: &Expr) -> bool {
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => exact(left) && exact(right),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (column, value) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => {
                    (c.name.as_str(), v)
                }
                _ => return false,
            };
            match column {
                "time" => {
                    micros_exact(value)
                        && matches!(
                            op,
                            Operator::Gt
                                | Operator::GtEq
                                | Operator::Lt
                                | Operator::LtEq
                                | Operator::Eq
                        )
                }
                "type" => *op == Operator::Eq,
                // The bound admits the pseudonym; the column compares text, so only the
                // canonical lowercase spelling means the same.
                "subject" => match value {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => {
                        *op == Operator::Eq
                            && Pseudonym::parse_hex(s).is_ok_and(|p| p.to_hex() == *s)
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        Expr::Between(b) => {
            matches!((b.low.as_ref(), b.high.as_ref()), (Expr::Literal(lo, _), Expr::Literal(hi, _)) if micros_exact(lo) && micros_exact(hi))
        }
        Expr::InList(_) => true,
        _ => false,
    }
}

/// Whether a timestamp literal is a whole number of microseconds.
fn micros_exact(value: &ScalarValue) -> bool {
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => v % 1_000 == 0,
        other => micros(other).is_some(),
    }
}

/// A timestamp literal in microseconds (rounded down for finer units).
fn micros(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000)),
        _ => None,
    }
}
