//! Holds no code: its tests check repository rules (every file opens with a `//!` line,
//! crates depend on each other only in the documented direction).
