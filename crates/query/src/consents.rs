//! The `consents` table: every consent decision in force, for purposes that see personal data.

use std::sync::Arc;

use datafusion::arrow::array::{BooleanBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use steward_engine::TenantReader;

use crate::error::QueryError;
use crate::views::time_type;

pub fn consents_batch(reader: &TenantReader) -> Result<RecordBatch, QueryError> {
    let rows = reader.consents()?;
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
    let schema = Arc::new(Schema::new(vec![
        Field::new("subject", DataType::Utf8, false),
        Field::new("purpose", DataType::Utf8, false),
        Field::new("granted", DataType::Boolean, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("at", time_type(), false),
    ]));
    RecordBatch::try_new(schema, vec![Arc::new(subject.finish()), Arc::new(purpose.finish()), Arc::new(granted.finish()), Arc::new(source.finish()), Arc::new(at.finish())])
        .map_err(|e| QueryError::Internal(e.to_string()))
}
