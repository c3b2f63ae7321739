//! The tables a SQL session sees: `events` (columns every event has), one typed view per
//! event type (its latest schema's fields), `subjects` and, for purposes that see personal
//! data, `consents`. Columns are the same for every purpose; what a purpose may not see
//! reads as NULL, so a query's shape never depends on who runs it.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use steward_privacy::{FieldType, PrivacyClass, SchemaVersion};

/// Columns every view starts with.
pub const COMMON_COLUMNS: [&str; 5] = ["event_id", "type", "time", "subject", "schema_version"];

/// Where a view's column comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnSource {
    EventId,
    Type,
    Time,
    /// The subject's pseudonym as lowercase hex.
    Subject,
    SchemaVersion,
    /// The event's visible properties as one JSON object (the `events` view).
    Properties,
    /// One schema field, read from the clear part or the sealed part of the event.
    Field {
        name: String,
        field_type: FieldType,
    },
}

#[derive(Clone, Debug)]
pub struct ViewColumn {
    pub name: String,
    pub data_type: DataType,
    pub source: ColumnSource,
}

/// One table of a session.
#[derive(Clone, Debug)]
pub struct ViewDef {
    pub name: String,
    /// Rows of this event type only (`None`: every type).
    pub event_type: Option<String>,
    pub columns: Vec<ViewColumn>,
}

impl ViewDef {
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Whether any projected column needs the sealed part opened.
    pub fn needs_sealed(&self, projection: &[usize], sealed_field: impl Fn(&str) -> bool) -> bool {
        projection.iter().any(|&i| match &self.columns[i].source {
            ColumnSource::Properties => true,
            ColumnSource::Field { name, .. } => sealed_field(name),
            _ => false,
        })
    }
}

/// Times are UTC wall-clock microseconds without a zone annotation: every stored time is UTC,
/// and a zone on the column makes DataFusion convert each value through it (`date_trunc` per
/// day cost half a query's time with `"UTC"` on the column).
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn common_columns(with_type: bool) -> Vec<ViewColumn> {
    let mut out = vec![ViewColumn {
        name: "event_id".into(),
        data_type: DataType::Utf8,
        source: ColumnSource::EventId,
    }];
    if with_type {
        out.push(ViewColumn {
            name: "type".into(),
            data_type: DataType::Utf8,
            source: ColumnSource::Type,
        });
    }
    out.push(ViewColumn {
        name: "time".into(),
        data_type: time_type(),
        source: ColumnSource::Time,
    });
    out.push(ViewColumn {
        name: "subject".into(),
        data_type: DataType::Utf8,
        source: ColumnSource::Subject,
    });
    out.push(ViewColumn {
        name: "schema_version".into(),
        data_type: DataType::UInt32,
        source: ColumnSource::SchemaVersion,
    });
    out
}

/// The `events` view.
pub fn events_view() -> ViewDef {
    let mut columns = common_columns(true);
    columns.push(ViewColumn {
        name: "properties".into(),
        data_type: DataType::Utf8,
        source: ColumnSource::Properties,
    });
    ViewDef {
        name: "events".into(),
        event_type: None,
        columns,
    }
}

/// The typed view of one event type, from its latest schema. A field whose name collides
/// with a common column is exposed as `field_<name>`.
pub fn typed_view(schema: &SchemaVersion) -> ViewDef {
    let mut columns = common_columns(false);
    for (name, spec) in schema.schema.fields() {
        let column = if COMMON_COLUMNS.contains(&name) || name == "properties" {
            format!("field_{name}")
        } else {
            name.to_owned()
        };
        columns.push(ViewColumn {
            name: column,
            data_type: arrow_type(&spec.field_type),
            source: ColumnSource::Field {
                name: name.to_owned(),
                field_type: spec.field_type.clone(),
            },
        });
    }
    ViewDef {
        name: schema.event_type.clone(),
        event_type: Some(schema.event_type.clone()),
        columns,
    }
}

/// The SQL type a schema type reads as; lists and objects read as JSON text.
pub fn arrow_type(t: &FieldType) -> DataType {
    match t {
        FieldType::String { .. } | FieldType::Enum { .. } => DataType::Utf8,
        FieldType::Int { .. } => DataType::Int64,
        FieldType::Float { .. } => DataType::Float64,
        FieldType::Bool => DataType::Boolean,
        FieldType::Timestamp => time_type(),
        FieldType::List { .. } | FieldType::Object => DataType::Utf8,
    }
}

/// Whether the `consents` table is offered to a purpose: consent records are about people,
/// so only purposes that see personal fields get them.
pub fn offers_consents(visible: &[PrivacyClass]) -> bool {
    visible.contains(&PrivacyClass::Personal)
}

/// The `subjects` view: every subject with at least one readable event.
pub const SUBJECTS_VIEW: &str = "SELECT subject, min(time) AS first_seen, max(time) AS last_seen, count(*) AS events FROM events GROUP BY subject";
