//! Bounds of SQL text and of the threads that plan it, units last.

/// Brackets (`(`, `[`, `{`) open at once in one statement (DataFusion's parser stops at 50
/// levels of recursion on its own).
pub const SQL_NESTING_MAX: usize = 32;
/// Operators in one statement (see `complexity.rs`): a chain of them is a tree as deep as it
/// is long, which parsing, planning, optimizing and dropping walk recursively.
pub const SQL_OPERATORS_MAX: usize = 1_000;
/// Stack of each heavy-work pool thread (tokio's default is 2 MiB). Measured in a debug
/// build (the deepest frames): a chain of 1,000 operators plans and runs in under 2 MiB,
/// one of 10,000 in 64 MiB; 2,000 overflowed tokio's default. Untouched pages cost no memory.
pub const POOL_THREAD_STACK_BYTES: usize = 32 << 20;

/// Bytes every query of the process may hold at once (`STEWARD_QUERY_MEMORY_TOTAL_MB`
/// overrides): four queries of the default 512 MiB, or a data set build (1 GiB) and two.
pub const QUERY_MEMORY_TOTAL_BYTES_DEFAULT: usize = 2 << 30;

const _: () = assert!(SQL_NESTING_MAX < 50);
const _: () = assert!(POOL_THREAD_STACK_BYTES >= 16 << 20);
