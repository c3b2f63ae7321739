//! The text of a query as the audit log keeps it: every literal replaced by `?` and comments
//! dropped, so a query that names an email address never writes it into the log (delta-rs,
//! for one, keeps a DELETE's predicate in its commit log, and with it the erased email).

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// Bound on the normalized text kept in the audit log.
pub const NORMALIZED_BYTES_MAX: usize = 4000;

/// The query with literals replaced by `?`, and every word that is neither a keyword nor
/// `known` (tables, columns, functions of the session) replaced too: an alias or a mistyped
/// name may be anything a person typed. Text that does not tokenize is recorded as a
/// placeholder, never as itself.
pub fn normalize(sql: &str, known: &dyn Fn(&str) -> bool) -> String {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return "<untokenizable query>".to_owned();
    };
    let mut out = String::with_capacity(sql.len().min(NORMALIZED_BYTES_MAX));
    let mut space = false;
    for token in tokens {
        let text = match &token {
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            )
            | Token::Whitespace(_) => {
                space = true;
                continue;
            }
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::Placeholder(_)
            | Token::Char(_) => "?".to_owned(),
            // A double-quoted identifier is a name, but a careless client may quote a value
            // with it: identifiers keep their shape, not their text, when they look like data.
            Token::Word(w)
                if w.quote_style.is_some() && !(plain_identifier(&w.value) && known(&w.value)) =>
            {
                "\"?\"".to_owned()
            }
            Token::Word(w) if w.quote_style.is_some() => format!("\"{}\"", w.value),
            Token::Word(w)
                if w.quote_style.is_none()
                    && w.keyword == Keyword::NoKeyword
                    && !known(&w.value.to_ascii_lowercase()) =>
            {
                "?".to_owned()
            }
            other => other.to_string(),
        };
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        // Only printable ASCII without quotes or backslashes reaches the log.
        let text: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && !matches!(c, '\'' | '\\' | '`') || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if out.len() + text.len() > NORMALIZED_BYTES_MAX {
            out.push_str(" ...");
            break;
        }
        out.push_str(&text);
    }
    // A statement with no tokens (empty, only whitespace or comments) is still named: an
    // audit record's statement is never empty (an empty one would fail the append, and the
    // request with it).
    if out.is_empty() {
        return "<empty query>".to_owned();
    }
    out
}

fn plain_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_without_tokens_is_named_never_empty() {
        for sql in ["", "   ", "\n\t", "-- only a comment", "/* x */"] {
            assert_eq!(normalize(sql, &|_| false), "<empty query>", "{sql:?}");
        }
    }

    #[test]
    fn literals_and_comments_never_survive() {
        let sql = "SELECT * FROM play WHERE email = 'ann@example.org' AND n > 42 -- ann@example.org\n/* bob@x.org */ AND \"bob@x.org\" = x";
        let n = normalize(sql, &|w| ["play", "email", "n", "x"].contains(&w));
        assert_eq!(
            n,
            "SELECT * FROM play WHERE email = ? AND n > ? AND \"?\" = x"
        );
        assert!(!n.contains("example") && !n.contains("42") && !n.contains("bob"));
    }

    #[test]
    fn identifiers_and_shape_are_kept() {
        let known = |w: &str| ["type", "count", "events", "track_id", "play"].contains(&w);
        assert_eq!(
            normalize("select type, count(*) from events group by type", &known),
            "select type, count(*) from events group by type"
        );
        assert_eq!(
            normalize("SELECT \"track_id\" FROM play", &known),
            "SELECT \"track_id\" FROM play"
        );
        assert_eq!(
            normalize("SELECT count(*) AS annsmith FROM play", &known),
            "SELECT count(*) AS ? FROM play"
        );
    }

    #[test]
    fn only_the_audit_charset_comes_out() {
        let known = |w: &str| w == "x";
        for sql in [
            "SELECT `x` FROM t",
            "SELECT a \\ b",
            "SELECT 'it''s'",
            "SELECT \"ü\" FROM t",
            "SELECT x → y",
        ] {
            let n = normalize(sql, &known);
            assert!(
                n.bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) && !matches!(b, b'\'' | b'\\' | b'`')),
                "{sql} → {n}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn a_quoted_value_never_appears(value in "[a-z0-9@._+-]{6,30}") {
            let sql = format!("SELECT * FROM events WHERE subject = '{value}' OR x = E'{value}' OR y = $${value}$$");
            let n = normalize(&sql, &|w| w == "events" || w == "subject" || w == "x" || w == "y");
            // The whole shape, not `!n.contains(value)`: a value such as `events` or `subject`
            // is also a word the normalized text keeps.
            proptest::prop_assert_eq!(n, "SELECT * FROM events WHERE subject = ? OR x = ? OR y = ?");
        }
    }
}
