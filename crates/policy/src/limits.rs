//! Bounds of a tenant's policy text, units last. Measured (debug build, the slowest) with
//! the deepest shapes the bounds allow: parse and validation take under 2 MiB of stack,
//! evaluation and drop about 768 KiB, so decisions stay safe on any runtime thread (2 MiB)
//! and parsing runs on a thread of its own with [`POLICY_PARSE_STACK_BYTES`].

/// Brackets (`(`, `[`, `{`) open at once anywhere in the text.
pub const POLICY_NESTING_MAX: usize = 32;
/// Operators (`&&`, `||`, comparisons, `+ - *`, `!`, `.`, `if`, `in`, `has`, `like`, `is`)
/// in one policy: a chain of them is a tree as deep as it is long.
pub const POLICY_OPERATORS_MAX: usize = 128;
/// Stack of the thread that parses and validates a policy text.
pub const POLICY_PARSE_STACK_BYTES: usize = 16 << 20;

/// Evaluation of the deepest policy allowed is measured to fit in 768 KiB (a runtime
/// thread has 2 MiB); these bounds may not grow without measuring again (`tests/depth.rs`).
const _: () = assert!(POLICY_NESTING_MAX <= 32 && POLICY_OPERATORS_MAX <= 128);
const _: () = assert!(POLICY_PARSE_STACK_BYTES >= 8 << 20);
