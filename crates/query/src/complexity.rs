//! A cheap scan of SQL text, before anything parses it, that bounds how deep the trees built
//! from it can be. sqlparser, DataFusion's planner and optimizer, and the drop of an
//! expression recurse once per level of a chain (`1+1+...+1` is a left-deep tree; so are
//! `AND`/`OR`/`||` chains, joins and unions), and DataFusion's own recursion protection does
//! not cover every such path: a 4 KB text used to overflow a thread's stack and abort the
//! process. The scan uses sqlparser's tokenizer (a loop; strings, quoted names and comments
//! are single tokens, so nothing inside them counts) and refuses, with a position and never
//! the text, a statement past [`SQL_NESTING_MAX`] open brackets or [`SQL_OPERATORS_MAX`]
//! operators. Planning then runs on the heavy-work pool, whose threads' stacks are sized
//! for those bounds (`limits.rs`).

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::QueryError;
use crate::limits::{SQL_NESTING_MAX, SQL_OPERATORS_MAX};

/// Refuses SQL whose brackets nest deeper than [`SQL_NESTING_MAX`] or that holds more than
/// [`SQL_OPERATORS_MAX`] operators (arithmetic, comparison, `||`, `::`, `AND`, `OR`, `NOT`,
/// `IS`, `IN`, `LIKE`, `BETWEEN`, `CASE`, `JOIN`, `UNION`, ...). Text that does not tokenize
/// is left to the parser, which words the error (the tokenizer itself never recurses).
pub fn check_complexity(sql: &str) -> Result<(), QueryError> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return Ok(());
    };
    let (mut depth, mut operators) = (0usize, 0usize);
    for token in &tokens {
        let refuse = |reason: String| QueryError::TooComplex {
            reason,
            line: token.span.start.line,
            column: token.span.start.column,
        };
        match &token.token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                depth += 1;
                if depth > SQL_NESTING_MAX {
                    return Err(refuse(format!(
                        "brackets nest deeper than {SQL_NESTING_MAX} levels"
                    )));
                }
            }
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            other if is_operator(other) => {
                operators += 1;
                if operators > SQL_OPERATORS_MAX {
                    return Err(refuse(format!(
                        "the query has more than {SQL_OPERATORS_MAX} operators; use IN (...) lists, fewer conditions or a CASE"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a token can add a level to a tree built from the text: every operator sqlparser
/// knows (anything that is not a word, literal, bracket, separator or whitespace) and the
/// keywords that combine expressions or relations.
fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(w) if w.quote_style.is_none() => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::IN
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::CASE
                | Keyword::JOIN
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
                | Keyword::AT
                | Keyword::COLLATE
                | Keyword::OVERLAPS
        ),
        Token::Word(_)
        | Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::Whitespace(_)
        | Token::Comma
        | Token::SemiColon
        | Token::Colon
        | Token::Placeholder(_)
        | Token::LParen
        | Token::RParen
        | Token::LBracket
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace => false,
        // Every string or byte literal form.
        Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::QuoteDelimitedStringLiteral(_)
        | Token::NationalQuoteDelimitedStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_) => false,
        // `.` joins the parts of a name (a flat list), never an expression tree.
        Token::Period => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> Option<String> {
        match check_complexity(sql) {
            Ok(()) => None,
            Err(QueryError::TooComplex { reason, .. }) => Some(reason),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn operators_are_bounded_at_the_limit() {
        let plus = |n: usize| format!("SELECT {} FROM events", vec!["1"; n + 1].join("+"));
        assert_eq!(refused(&plus(SQL_OPERATORS_MAX)), None);
        assert!(refused(&plus(SQL_OPERATORS_MAX + 1)).is_some_and(|r| r.contains("operators")));
        for op in [
            " AND ", " OR ", " || ", " * ", " = ", " <> ", "::int::", " IS NOT ",
        ] {
            let sql = format!(
                "SELECT x FROM t WHERE {}",
                vec!["x"; SQL_OPERATORS_MAX + 2].join(op)
            );
            assert!(refused(&sql).is_some(), "{op}");
        }
        let joins = format!(
            "SELECT 1 FROM t{}",
            " JOIN t USING (x)".repeat(SQL_OPERATORS_MAX + 1)
        );
        assert!(refused(&joins).is_some());
        let unions = vec!["SELECT 1"; SQL_OPERATORS_MAX + 2].join(" UNION ALL ");
        assert!(refused(&unions).is_some());
    }

    #[test]
    fn nesting_is_bounded_at_the_limit() {
        let nested = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(refused(&nested(SQL_NESTING_MAX)), None);
        assert!(refused(&nested(SQL_NESTING_MAX + 1)).is_some_and(|r| r.contains("nest")));
        let subqueries = |n: usize| {
            format!(
                "SELECT x FROM {}t{}",
                "(SELECT x FROM ".repeat(n),
                ") AS s".repeat(n)
            )
        };
        assert_eq!(refused(&subqueries(SQL_NESTING_MAX)), None);
        assert!(refused(&subqueries(SQL_NESTING_MAX + 1)).is_some());
    }

    #[test]
    fn strings_quoted_names_and_comments_do_not_count() {
        let many = "+((AND ".repeat(SQL_OPERATORS_MAX);
        let sql = format!(
            "SELECT '{many}', \"{many}\", $${many}$$ FROM t -- {many}\n/* {many} /* {many} */ */ WHERE x = E'{many}\\''"
        );
        assert_eq!(refused(&sql), None);
        // Names and lists do not deepen a tree.
        let list = (0..5_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            refused(&format!("SELECT a.b.c, d FROM s.t WHERE x IN ({list})")),
            None
        );
    }

    #[test]
    fn the_error_names_a_position_not_the_text() {
        let sql = format!("SELECT 1\nFROM t WHERE {}", "(".repeat(SQL_NESTING_MAX + 3));
        match check_complexity(&sql) {
            Err(
                e @ QueryError::TooComplex {
                    line: 2, column, ..
                },
            ) => {
                assert_eq!(column, 14 + SQL_NESTING_MAX as u64);
                assert!(!e.to_string().contains("(("), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
