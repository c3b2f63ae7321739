//! Data sets and their versions, subject lineage, and OpenLineage run events.

pub mod openlineage;
