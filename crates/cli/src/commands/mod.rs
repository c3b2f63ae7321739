//! One module per command.

pub mod admin;
pub mod audit;
pub mod backup;
pub mod consent;
pub mod demo;
pub mod erasure;
pub mod events;
pub mod forensics;
pub mod generate;
pub mod ingest;
pub mod init;
pub mod keys;
pub mod model;
pub mod policy;
pub mod receipt;
pub mod serve;
pub mod sql;
