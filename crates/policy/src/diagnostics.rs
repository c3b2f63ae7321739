//! Checking a tenant's policy text: parse, name, validate against the schema, and report
//! every problem with the policy it is in and its line and column in the tenant's text.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use cedar_policy::ffi::DetailedError;
use cedar_policy::{Policy, PolicyId, PolicySet, ValidationMode, Validator};

use crate::PolicyError;
use crate::complexity::{check_complexity, string_end};
use crate::limits::POLICY_PARSE_STACK_BYTES;
use crate::scan::{named_purposes, reads_context_attr};
use crate::schema::{PLATFORM_ID_PREFIX, PLATFORM_POLICIES, schema};

/// One problem in a tenant's policy text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    /// The policy's `@id`, or `policyN` (N counting from 0) when it has none. `None` when
    /// the text does not parse far enough to tell.
    pub policy_id: Option<String>,
    /// 1-based line in the tenant's text.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// Cedar's message, with its help text when it has one.
    pub message: String,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if let Some(id) = &self.policy_id {
            write!(f, "policy {id:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A tenant's policy text that parsed and validated: what an engine is built from.
#[derive(Clone, Debug)]
pub struct ValidatedPolicies {
    pub(crate) text: String,
    /// Platform guardrails plus the tenant's policies, renamed to their `@id`s.
    pub(crate) policies: PolicySet,
    pub(crate) tenant_ids: Vec<String>,
    pub(crate) purposes: Vec<String>,
    pub(crate) warnings: Vec<PolicyDiagnostic>,
    /// Whether any policy reads `context.source_ip` (else requests leave it out).
    pub(crate) reads_source_ip: bool,
}

impl ValidatedPolicies {
    /// The tenant's text, as given (what `GET .../policies` returns).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The tenant's policy ids, in text order.
    pub fn policy_ids(&self) -> &[String] {
        &self.tenant_ids
    }

    /// Purposes the text names beyond the built-in six.
    pub fn tenant_purposes(&self) -> &[String] {
        &self.purposes
    }

    /// Cedar's validation warnings (suspicious but valid: e.g. a policy that can never apply).
    pub fn warnings(&self) -> &[PolicyDiagnostic] {
        &self.warnings
    }
}

/// Parses and validates a tenant's policy text; on failure every problem found. A text past
/// the bounds of [`check_complexity`] is refused before Cedar sees it; the rest is parsed on
/// a thread whose stack is sized for those bounds, whatever thread calls.
pub(crate) fn validate(text: &str) -> Result<ValidatedPolicies, PolicyError> {
    check_complexity(text).map_err(PolicyError::TooComplex)?;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("steward-policy-parse".into())
            .stack_size(POLICY_PARSE_STACK_BYTES)
            .spawn_scoped(scope, || parse_and_validate(text))
            .map_err(|e| PolicyError::Parser(format!("could not start the parsing thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(PolicyError::Parser("the policy parser panicked".into())))
    })
}

fn parse_and_validate(text: &str) -> Result<ValidatedPolicies, PolicyError> {
    let schema = schema()?;
    let lines = LineIndex::new(text);
    let statements = statements(text);
    let at = |offset: usize, policy_id: Option<String>, message: String| {
        let (line, column) = lines.position(offset);
        PolicyDiagnostic {
            policy_id,
            line,
            column,
            message,
        }
    };

    let parsed = PolicySet::from_str(text).map_err(|errors| {
        PolicyError::Invalid(tidy(
            errors
                .iter()
                .map(|e| {
                    let detail = DetailedError::from(e);
                    let offset = detail.source_locations.first().map_or(0, |l| l.loc.start);
                    let id = statements
                        .iter()
                        .position(|s| s.contains(offset))
                        .map(|i| statements[i].id(i));
                    at(offset, id, message(&detail))
                })
                .collect(),
        ))
    })?;

    let mut problems = Vec::new();
    if let Some(template) = parsed.templates().next() {
        let index = generated_index(template.id()).unwrap_or(0);
        let offset = statements.get(index).map_or(0, |s| s.start);
        problems.push(at(
            offset,
            None,
            "templates (policies with ?principal or ?resource slots) are not supported".into(),
        ));
    }

    // Rename every policy to its @id (or keep `policyN`), in text order.
    let mut policies = platform()?;
    let mut seen = HashSet::new();
    let mut tenant_ids = Vec::new();
    let mut renamed: Vec<Policy> = parsed.policies().cloned().collect();
    renamed.sort_by_key(|p| generated_index(p.id()));
    for policy in renamed {
        let index = generated_index(policy.id()).unwrap_or(0);
        let statement = statements.get(index);
        let offset = statement.map_or(0, |s| s.id_offset.unwrap_or(s.start));
        let id = policy
            .annotation("id")
            .map_or_else(|| policy.id().to_string(), str::to_owned);
        if id.starts_with(PLATFORM_ID_PREFIX) {
            problems.push(at(offset, Some(id), format!("policy ids starting with {PLATFORM_ID_PREFIX:?} are reserved for the platform guardrails")));
            continue;
        }
        if !seen.insert(id.clone()) {
            problems.push(at(
                offset,
                Some(id),
                "another policy has the same @id".into(),
            ));
            continue;
        }
        if let Err(e) = policies.add(policy.new_id(PolicyId::new(&id))) {
            problems.push(at(offset, Some(id), e.to_string()));
            continue;
        }
        tenant_ids.push(id);
    }
    if !problems.is_empty() {
        return Err(PolicyError::Invalid(problems));
    }

    let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    let located = |id: &PolicyId, detail: DetailedError| {
        let fallback = tenant_ids
            .iter()
            .position(|t| t.as_str() == AsRef::<str>::as_ref(id));
        let offset = detail
            .source_locations
            .first()
            .map(|l| l.loc.start)
            .or_else(|| {
                // No span from Cedar: point at the policy itself.
                fallback
                    .and_then(|i| statements.get(i))
                    .map(|s| s.id_offset.unwrap_or(s.start))
            });
        at(offset.unwrap_or(0), Some(id.to_string()), message(&detail))
    };
    let errors = tidy(
        result
            .validation_errors()
            .map(|e| located(e.policy_id(), DetailedError::from(e)))
            .collect(),
    );
    if !errors.is_empty() {
        return Err(PolicyError::Invalid(errors));
    }
    let warnings = tidy(
        result
            .validation_warnings()
            .filter(|w| !AsRef::<str>::as_ref(w.policy_id()).starts_with(PLATFORM_ID_PREFIX))
            .map(|w| located(w.policy_id(), DetailedError::from(w)))
            .collect(),
    );
    let purposes = named_purposes(&policies);
    let reads_source_ip = reads_context_attr(&policies, "source_ip");
    Ok(ValidatedPolicies {
        text: text.to_owned(),
        policies,
        tenant_ids,
        purposes,
        warnings,
        reads_source_ip,
    })
}

/// The platform guardrails as a policy set, renamed to their `@id`s.
fn platform() -> Result<PolicySet, PolicyError> {
    let broken = |e: &dyn fmt::Display| PolicyError::Schema(format!("platform policies: {e}"));
    let parsed = PolicySet::from_str(PLATFORM_POLICIES).map_err(|e| broken(&e))?;
    let mut out = PolicySet::new();
    for policy in parsed.policies() {
        let id = policy
            .annotation("id")
            .ok_or_else(|| broken(&"a platform policy has no @id"))?;
        out.add(policy.new_id(PolicyId::new(id)))
            .map_err(|e| broken(&e))?;
    }
    Ok(out)
}

/// In text order, one per position: Cedar checks each policy once per action it may apply
/// to and reports the same mistake for each, in no fixed order; the first message in
/// alphabetical order is kept, so the output does not change from run to run.
fn tidy(mut diagnostics: Vec<PolicyDiagnostic>) -> Vec<PolicyDiagnostic> {
    diagnostics.sort_by(|a, b| (a.line, a.column, &a.message).cmp(&(b.line, b.column, &b.message)));
    diagnostics.dedup_by(|later, first| {
        (later.line, later.column, &later.policy_id) == (first.line, first.column, &first.policy_id)
    });
    diagnostics
}

/// Cedar's message and help, without Cedar's "for policy `x`, " opening (the diagnostic
/// carries the policy id in its own field).
fn message(detail: &DetailedError) -> String {
    let text = detail.message.as_str();
    let text = text
        .strip_prefix("for policy `")
        .and_then(|rest| rest.split_once("`, "))
        .map_or(text, |(_, message)| message);
    match &detail.help {
        Some(help) => format!("{text} (help: {help})"),
        None => text.to_owned(),
    }
}

/// `policyN` → N: Cedar names the policies of a parsed text by their position.
fn generated_index(id: &PolicyId) -> Option<usize> {
    AsRef::<str>::as_ref(id)
        .strip_prefix("policy")?
        .parse()
        .ok()
}

/// Byte offsets of line starts, to turn Cedar's byte offsets into line and column.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// 1-based line and column (in characters) of a byte offset; clamped to the text.
    fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column).unwrap_or(u32::MAX),
        )
    }
}

/// One `...;` statement of a policy text, found without parsing (so it works on text that
/// does not parse): its byte range and where its `@id("...")` annotation is.
struct Statement {
    start: usize,
    end: usize,
    id: Option<String>,
    id_offset: Option<usize>,
}

impl Statement {
    fn contains(&self, offset: usize) -> bool {
        (self.start..=self.end).contains(&offset)
    }

    /// The id decisions would name this statement by (its @id, or Cedar's `policyN`).
    fn id(&self, index: usize) -> String {
        self.id.clone().unwrap_or_else(|| format!("policy{index}"))
    }
}

/// Splits a policy text at the `;` that end statements, skipping strings and `//` comments.
fn statements(text: &str) -> Vec<Statement> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = None;
    let mut id = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                start.get_or_insert(i);
                i = string_end(bytes, i);
                continue;
            }
            b';' => {
                let s = start.take().unwrap_or(i);
                let (id, id_offset) = id.take().unzip();
                out.push(Statement {
                    start: s,
                    end: i,
                    id,
                    id_offset,
                });
            }
            b'@' => {
                let at = i;
                start.get_or_insert(at);
                if id.is_none()
                    && let Some(value) = id_annotation(text, at)
                {
                    id = Some((value, at));
                }
            }
            b if !b.is_ascii_whitespace() => {
                start.get_or_insert(i);
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(s) = start {
        let (id, id_offset) = id.unzip();
        out.push(Statement {
            start: s,
            end: text.len(),
            id,
            id_offset,
        });
    }
    out
}

/// The value of `@id("...")` at `at`, when that is what is there (escapes are rare in ids
/// and kept as written).
fn id_annotation(text: &str, at: usize) -> Option<String> {
    let rest = text.get(at + 1..)?.trim_start();
    let rest = rest
        .strip_prefix("id")?
        .trim_start()
        .strip_prefix('(')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let index = LineIndex::new("ab\né x\n");
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(3), (2, 1));
        assert_eq!(index.position(6), (2, 3)); // after "é " (é is two bytes)
        assert_eq!(index.position(999), (3, 1));
    }

    #[test]
    fn statements_skip_strings_and_comments() {
        let text = "// a; comment\n@id(\"x;y\")\npermit(principal, action, resource) when { \"a;b\" == \"\\\";\" };\n\nforbid(principal, action, resource);";
        let found = statements(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].id.as_deref(), Some("x;y"));
        assert_eq!(found[0].start, text.find('@').unwrap());
        assert_eq!(found[1].id(1), "policy1");
        assert_eq!(&text[found[1].start..found[1].start + 6], "forbid");
    }
}
