//! SQL over a tenant's events (DataFusion), shaped per request by its purpose.
//!
//! [`session::start`] builds a session that holds only the tenant's views ([`views`]) over
//! one store snapshot; every row reaches DataFusion through [`scan`], which asks the request's
//! read guard (`steward_engine::ReadGuard`: tombstones, consent, retention, visible fields).
//! [`format`] writes results as JSON, CSV, Arrow IPC or Parquet; [`normalize`] is what the
//! audit log records of the query text; [`pool`] is the runtime heavy work runs on, away
//! from the HTTP runtime.

mod bounded;
pub mod cache;
pub mod complexity;
pub mod consents;
pub mod error;
pub mod format;
pub mod limits;
pub mod memory;
pub mod normalize;
pub mod pool;
pub mod scan;
pub mod session;
pub mod views;

pub use bounded::OutputTooLarge;
pub use complexity::check_complexity;
pub use error::QueryError;
pub use format::{ResultFormat, encode};
pub use normalize::normalize;
pub use pool::{PoolConfig, PoolError, WorkPool};
pub use session::{QueryLimits, QueryOptions, QueryResult, Running, Session, run, start};
