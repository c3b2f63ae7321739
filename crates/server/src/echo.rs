//! Error messages about submitted input that never repeat it: serde's messages rewritten
//! without the values and unknown names they quote, framework rejections (JSON bodies, query
//! strings) mapped to problems with field paths and positions only, and the redaction of
//! library messages (SQL planner, Cedar) against the text the caller sent.
//!
//! The rule: a problem may name our own fields, field paths, line and column numbers and the
//! accepted alternatives; it never carries a value the caller sent, nor a name the caller
//! invented (an unknown field, column, function, table or policy attribute).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use std::collections::HashSet;

use crate::ApiError;

/// What replaces a redacted word.
const REDACTED: &str = "…";

/// Words of SQL and Cedar that say nothing about the caller's data; they stay in messages.
const KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "group",
    "by",
    "order",
    "limit",
    "offset",
    "as",
    "and",
    "or",
    "not",
    "null",
    "is",
    "in",
    "join",
    "on",
    "left",
    "right",
    "inner",
    "outer",
    "full",
    "cross",
    "union",
    "all",
    "distinct",
    "having",
    "case",
    "when",
    "then",
    "else",
    "end",
    "cast",
    "with",
    "asc",
    "desc",
    "between",
    "like",
    "ilike",
    "exists",
    "true",
    "false",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "over",
    "partition",
    "insert",
    "update",
    "delete",
    "create",
    "drop",
    "alter",
    "table",
    "into",
    "values",
    "set",
    "permit",
    "forbid",
    "unless",
    "principal",
    "action",
    "resource",
    "context",
    "has",
    "if",
    "steward",
    "int",
    "integer",
    "bigint",
    "varchar",
    "text",
    "string",
    "boolean",
    "bool",
    "double",
    "float",
    "timestamp",
    "date",
    "events",
    "subjects",
    "event_id",
    "type",
    "time",
    "subject",
    "schema_version",
    "properties",
];

/// A serde message (JSON or query string) without the value or unknown name it quotes: the
/// kind of problem, and what was expected where that comes from our own types.
pub(crate) fn serde_message(message: &str) -> String {
    // serde_json appends the position; it is kept by the callers that know it.
    let message = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    };
    let expected = message.rsplit_once(", expected ").map(|(_, e)| e);
    let with_expected = |kind: &str| match expected {
        Some(e) => format!("{kind}, expected {e}"),
        None => kind.to_owned(),
    };
    if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        // The name is one of our own fields.
        return message.to_owned();
    }
    if message.starts_with("unknown field") {
        return with_expected("unknown field");
    }
    if message.starts_with("unknown variant") {
        return with_expected("unknown value");
    }
    if message.starts_with("invalid type") {
        return with_expected("wrong type");
    }
    if message.starts_with("invalid length") {
        return with_expected("wrong number of elements");
    }
    if message.starts_with("invalid value") {
        return with_expected("invalid value");
    }
    "invalid value".to_owned()
}

/// A `serde_json` error: syntax errors as they are (serde_json's syntax messages are fixed
/// phrases with a position), data errors through [`serde_message`], with the position.
pub(crate) fn json_message(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => error.to_string(),
        Category::Data => format!(
            "{} at line {} column {}",
            serde_message(&error.to_string()),
            error.line(),
            error.column()
        ),
    }
}

/// A field path of a JSON body's error, rendered from our struct's fields and array indexes.
/// For an unknown field the last segment is the caller's name and is left out.
fn json_path(path: &serde_path_to_error::Path, unknown_field: bool) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut segments: Vec<&Segment> = path.iter().collect();
    if unknown_field {
        segments.pop();
    }
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                // A struct's own field names; anything else is not shown.
                if key.len() <= 64
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    out.push_str(key);
                } else {
                    out.push('?');
                }
            }
            Segment::Unknown => out.push('?'),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// axum's JSON body rejection as a problem that repeats nothing of the body.
pub(crate) fn json_rejection(rejection: JsonRejection) -> ApiError {
    use JsonRejection::*;
    match rejection {
        MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::too_large("request body too large")
        }
        BytesRejection(_) => {
            ApiError::bad_request("invalid_body", None, "the request body could not be read")
        }
        JsonDataError(e) => match find::<serde_path_to_error::Error<serde_json::Error>>(&e) {
            Some(error) => {
                let message = json_message(error.inner());
                let path = json_path(error.path(), message.starts_with("unknown field"));
                ApiError::bad_request(
                    "invalid_json",
                    path.as_deref(),
                    format!("the JSON body does not match the request's shape: {message}"),
                )
            }
            None => ApiError::bad_request(
                "invalid_json",
                None,
                "the JSON body does not match the request's shape",
            ),
        },
        JsonSyntaxError(e) => match find::<serde_path_to_error::Error<serde_json::Error>>(&e)
            .map(|e| e.inner())
            .or_else(|| find::<serde_json::Error>(&e))
        {
            Some(error) => ApiError::bad_request(
                "invalid_json",
                None,
                format!("the body is not valid JSON: {}", json_message(error)),
            ),
            None => ApiError::bad_request("invalid_json", None, "the body is not valid JSON"),
        },
        _ => ApiError::bad_request("invalid_json", None, "the body is not valid JSON"),
    }
}

/// axum's query-string rejection as a problem without the parameters' names or values.
pub(crate) fn query_rejection(rejection: QueryRejection) -> ApiError {
    let message = match &rejection {
        QueryRejection::FailedToDeserializeQueryString(e) => {
            // axum prefixes "Failed to deserialize query string: " and the path.
            let text = std::error::Error::source(e)
                .map(ToString::to_string)
                .unwrap_or_default();
            serde_message(&text)
        }
        _ => "invalid value".to_owned(),
    };
    ApiError::bad_request(
        "invalid_query",
        None,
        format!("the query string does not match the route's parameters: {message}"),
    )
}

/// The first error of type `T` in `error`'s source chain (itself included).
fn find<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The words of `submitted` (identifiers, numbers, the insides of quoted literals) that could
/// identify what the caller sent: all but keywords and one-character words.
fn vocabulary(submitted: &str) -> HashSet<String> {
    submitted
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() > 1 && !KEYWORDS.contains(&w.to_ascii_lowercase().as_str()))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// `message` with every word that occurs in `submitted` replaced by `…` (keywords and
/// one-character words excepted): a library message (DataFusion, Cedar) may quote the
/// caller's identifiers and literals, and this keeps them out while leaving the rest.
#[must_use]
pub(crate) fn redact(message: &str, submitted: &str) -> String {
    let words = vocabulary(submitted);
    if words.is_empty() {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            if words.contains(&word.to_ascii_lowercase()) {
                out.push_str(REDACTED);
            } else {
                out.push_str(word);
            }
            word.clear();
        }
    };
    for c in message.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

impl ApiError {
    /// The problem with its detail, field and listed messages redacted against `submitted`
    /// (see [`redact`]).
    #[must_use]
    pub(crate) fn redacted(mut self, submitted: &str) -> ApiError {
        self.detail = redact(&self.detail, submitted);
        self.field = self.field.map(|f| redact(&f, submitted));
        self.redacted_entries(submitted)
    }

    /// Only the listed entries (`errors[].message`, `policy_id`, `detail`) redacted: for
    /// problems whose own detail is ours and whose entries come from a library.
    #[must_use]
    pub(crate) fn redacted_entries(mut self, submitted: &str) -> ApiError {
        for entry in &mut self.errors {
            if let Some(object) = entry.as_object_mut() {
                for key in ["message", "policy_id", "detail"] {
                    if let Some(serde_json::Value::String(text)) = object.get(key) {
                        let cleaned = redact(text, submitted);
                        object.insert(key.to_owned(), serde_json::Value::String(cleaned));
                    }
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_values_and_unknown_names() {
        let cases = [
            (
                "unknown field `zq1`, expected one of `name`, `role` at line 1 column 9",
                "unknown field, expected one of `name`, `role`",
            ),
            (
                "invalid type: string \"zq1, expected x\", expected a boolean",
                "wrong type, expected a boolean",
            ),
            (
                "unknown variant `zq1`, expected `opt_in` or `opt_out`",
                "unknown value, expected `opt_in` or `opt_out`",
            ),
            ("missing field `granted`", "missing field `granted`"),
            ("unknown role zq1", "invalid value"),
            (
                "invalid value: integer `123456`, expected u8",
                "invalid value, expected u8",
            ),
        ];
        for (input, expect) in cases {
            assert_eq!(serde_message(input), expect, "{input}");
        }
    }

    #[test]
    fn redaction_removes_the_callers_words_and_keeps_the_rest() {
        let sql = "SELECT zq_col FROM events WHERE name = 'Jane Doe' AND n = 12345";
        let message = "No field named zq_col. Valid fields are events.event_id, events.name; 'Jane Doe' vs 12345 at Line: 1, Column: 8";
        let redacted = redact(message, sql);
        for gone in ["zq_col", "Jane", "Doe", "12345", "events.name"] {
            assert!(!redacted.contains(gone), "{redacted}");
        }
        assert!(
            redacted.contains("Valid fields are events.event_id")
                && redacted.contains("Line: 1, Column: 8"),
            "{redacted}"
        );
    }
}
