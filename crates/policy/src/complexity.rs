//! A cheap scan of a policy text, before Cedar parses it, that bounds how deep its
//! expressions can be. Cedar's parser, validator, evaluator and even the drop of a policy
//! recurse once per nesting level and once per operator of a chain (`a && b && ...` is a
//! left-deep tree), so a text of a few KB could overflow any thread's stack and abort the
//! process. The scan skips string literals and `//` comments; it counts what can only
//! deepen a tree, so it may refuse a text Cedar would take, never the other way round.

use std::fmt;

use crate::limits::{POLICY_NESTING_MAX, POLICY_OPERATORS_MAX};

/// Why a policy text is refused before parsing. Carries no text of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyTooComplex {
    /// Which bound was passed.
    pub bound: ComplexityBound,
    /// Byte offset in the text where it was passed.
    pub offset: usize,
    /// 1-based line and column (characters) of `offset`.
    pub line: u32,
    pub column: u32,
}

/// The two bounds of [`check_complexity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComplexityBound {
    /// More than [`POLICY_NESTING_MAX`] open brackets (`(`, `[`, `{`) at once.
    Nesting,
    /// More than [`POLICY_OPERATORS_MAX`] operators (`&&`, `+`, `.`, `if`, `has`, ...) in
    /// one policy.
    Operators,
}

impl fmt::Display for ComplexityBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComplexityBound::Nesting => {
                write!(f, "brackets nest deeper than {POLICY_NESTING_MAX} levels")
            }
            ComplexityBound::Operators => write!(
                f,
                "a policy has more than {POLICY_OPERATORS_MAX} operators; split it into several policies or use a set (`[..].contains(..)`)"
            ),
        }
    }
}

impl fmt::Display for PolicyTooComplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (line {}, column {})",
            self.bound, self.line, self.column
        )
    }
}

impl std::error::Error for PolicyTooComplex {}

/// Refuses a text whose expressions nest deeper than [`POLICY_NESTING_MAX`] or whose
/// policies (text between `;` at the top level) hold more than [`POLICY_OPERATORS_MAX`]
/// operators. Linear in the text, allocation-free, never recursive.
pub fn check_complexity(text: &str) -> Result<(), PolicyTooComplex> {
    let bytes = text.as_bytes();
    let refuse = |bound, offset| {
        let (line, column) = position(text, offset);
        Err(PolicyTooComplex {
            bound,
            offset,
            line,
            column,
        })
    };
    let (mut depth, mut operators) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        let mut counted = 0;
        let mut step = 1;
        match b {
            b'/' if next == Some(b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i = string_end(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > POLICY_NESTING_MAX {
                    return refuse(ComplexityBound::Nesting, i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b';' if depth == 0 => operators = 0,
            b':' if next == Some(b':') => step = 2,
            b'&' | b'|' | b'=' if next == Some(b) => (counted, step) = (1, 2),
            b'!' | b'<' | b'>' if next == Some(b'=') => (counted, step) = (1, 2),
            b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'.' => counted = 1,
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map_or(bytes.len(), |n| i + n);
                if matches!(&bytes[i..end], b"if" | b"in" | b"has" | b"like" | b"is") {
                    counted = 1;
                }
                step = end - i;
            }
            _ => {}
        }
        operators += counted;
        if operators > POLICY_OPERATORS_MAX {
            return refuse(ComplexityBound::Operators, i);
        }
        i += step;
    }
    Ok(())
}

/// Index just past the string literal opening at `open` (or the end of an unclosed one).
pub(crate) fn string_end(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (u32, u32) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Option<ComplexityBound> {
        check_complexity(text).err().map(|e| e.bound)
    }

    #[test]
    fn nesting_is_bounded_at_the_limit() {
        let at = format!(
            "permit (principal, action, resource) when {{ {}true{} }};",
            "(".repeat(POLICY_NESTING_MAX - 1),
            ")".repeat(POLICY_NESTING_MAX - 1)
        );
        assert_eq!(check(&at), None);
        let past = format!(
            "permit (principal, action, resource) when {{ {}true{} }};",
            "[".repeat(POLICY_NESTING_MAX),
            "]".repeat(POLICY_NESTING_MAX)
        );
        assert_eq!(check(&past), Some(ComplexityBound::Nesting));
    }

    #[test]
    fn operators_are_bounded_per_policy() {
        let chain = |n: usize| vec!["true"; n + 1].join(" && ");
        let policy = |n: usize| {
            format!(
                "permit (principal, action, resource) when {{ {} }};\n",
                chain(n)
            )
        };
        assert_eq!(check(&policy(POLICY_OPERATORS_MAX)), None);
        assert_eq!(
            check(&policy(POLICY_OPERATORS_MAX + 1)),
            Some(ComplexityBound::Operators)
        );
        // Each policy has its own budget.
        assert_eq!(check(&policy(POLICY_OPERATORS_MAX).repeat(3)), None);
        for op in ["+", "||", "==", "<=", "-", "*", "."] {
            let text = format!(
                "permit (principal, action, resource) when {{ {} }};",
                vec!["1"; POLICY_OPERATORS_MAX + 2].join(op)
            );
            assert_eq!(check(&text), Some(ComplexityBound::Operators), "{op}");
        }
        let ifs = format!(
            "permit (principal, action, resource) when {{ {}true{} }};",
            "if true then ".repeat(POLICY_OPERATORS_MAX + 1),
            " else false".repeat(POLICY_OPERATORS_MAX + 1)
        );
        assert_eq!(check(&ifs), Some(ComplexityBound::Operators));
    }

    #[test]
    fn strings_comments_and_paths_do_not_count() {
        let many = "&&(((".repeat(POLICY_OPERATORS_MAX);
        let text = format!(
            "// {many}\n@id(\"{many}\")\npermit (principal in Steward::Role::\"reader\", action, resource) when {{ context.purpose == \"{many}\\\"\" }};"
        );
        assert_eq!(check(&text), None);
        assert_eq!(
            check(&"Steward::Role::\"a\"".repeat(POLICY_OPERATORS_MAX * 2)),
            None
        );
    }

    #[test]
    fn the_error_names_a_position_not_the_text() {
        let text = format!(
            "permit (principal, action, resource)\nwhen {{ {}",
            "(".repeat(POLICY_NESTING_MAX + 5)
        );
        let error = check_complexity(&text).unwrap_err();
        assert_eq!(
            (error.line, error.column),
            (2, 8 + POLICY_NESTING_MAX as u32 - 1)
        );
        assert!(!error.to_string().contains("(("), "{error}");
    }
}
