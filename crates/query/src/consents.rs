//! The `consents` table: every consent decision in force, for purposes that see personal
//! data, read through the read guard (subjects being erased are not named) and only when a
//! query scans it. A data set that reads it counts its subjects in its lineage.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    BooleanBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use steward_engine::{Admitted, ReadGuard};

use crate::error::QueryError;
use crate::views::time_type;

pub fn consents_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("subject", DataType::Utf8, false),
        Field::new("purpose", DataType::Utf8, false),
        Field::new("granted", DataType::Boolean, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("at", time_type(), false),
    ]))
}

/// The table, built from the guard when scanned.
pub struct ConsentsTable {
    guard: Arc<ReadGuard>,
    admitted: Option<Arc<Admitted>>,
}

impl ConsentsTable {
    pub fn new(guard: Arc<ReadGuard>, admitted: Option<Arc<Admitted>>) -> ConsentsTable {
        ConsentsTable { guard, admitted }
    }
}

impl fmt::Debug for ConsentsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsentsTable")
    }
}

pub fn consents_batch(
    guard: &ReadGuard,
    admitted: Option<&Admitted>,
) -> Result<RecordBatch, QueryError> {
    let rows = guard.consents()?;
    if let Some(admitted) = admitted {
        admitted.add_subjects(rows.iter().map(|(s, _)| *s));
    }
    let mut subject = StringBuilder::new();
    let mut purpose = StringBuilder::new();
    let mut granted = BooleanBuilder::new();
    let mut source = StringBuilder::new();
    let mut at = TimestampMicrosecondBuilder::new();
    for (s, c) in rows {
        subject.append_value(s.to_hex());
        purpose.append_value(&c.purpose);
        granted.append_value(c.granted);
        source.append_value(c.source.as_str());
        at.append_value(c.at.timestamp_micros());
    }
    RecordBatch::try_new(
        consents_schema(),
        vec![
            Arc::new(subject.finish()),
            Arc::new(purpose.finish()),
            Arc::new(granted.finish()),
            Arc::new(source.finish()),
            Arc::new(at.finish()),
        ],
    )
    .map_err(|e| QueryError::Internal(e.to_string()))
}

#[async_trait]
impl TableProvider for ConsentsTable {
    fn schema(&self) -> SchemaRef {
        consents_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let batch = consents_batch(&self.guard, self.admitted.as_deref())
            .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
        MemTable::try_new(consents_schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
