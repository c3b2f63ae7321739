//! What a policy set refers to, read from Cedar's JSON form of each policy (so formatting
//! of the text does not matter): the purposes it names, and the context attributes it reads.

use std::collections::BTreeSet;

use cedar_policy::PolicySet;
use serde_json::Value;

use crate::purpose::{BUILTIN_PURPOSES, is_well_formed};

/// The purposes a policy set names beyond the built-in ones: every string literal compared
/// with `context.purpose` (`==`, `!=`, `.contains(...)`, `in` a literal set), in any policy.
///
/// Literals that are not well-formed purpose names are ignored (they can never match a
/// request, whose purpose was checked by [`Purpose::parse`]).
pub(crate) fn named_purposes(policies: &PolicySet) -> Vec<String> {
    let mut found = BTreeSet::new();
    for policy in policies.policies() {
        if let Ok(json) = policy.to_json() {
            collect(&json, &mut found);
        }
    }
    found
        .into_iter()
        .filter(|p| is_well_formed(p) && !BUILTIN_PURPOSES.contains(&p.as_str()))
        .collect()
}

fn collect(node: &Value, found: &mut BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            // A binary operator's operands are {"left": .., "right": ..}; a method call's
            // (`contains`) are the same in Cedar's JSON form.
            if let (Some(left), Some(right)) = (map.get("left"), map.get("right")) {
                if is_context_purpose(left) {
                    strings(right, found);
                } else if is_context_purpose(right) {
                    strings(left, found);
                }
            }
            map.values().for_each(|v| collect(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
        _ => {}
    }
}

/// `{".": {"left": {"Var": "context"}, "attr": "purpose"}}`
fn is_context_purpose(node: &Value) -> bool {
    node.get(".").is_some_and(|dot| {
        dot.get("attr").and_then(Value::as_str) == Some("purpose")
            && dot
                .get("left")
                .and_then(|l| l.get("Var"))
                .and_then(Value::as_str)
                == Some("context")
    })
}

/// String literals in an operand: `{"Value": "x"}` or a set of them.
fn strings(node: &Value, found: &mut BTreeSet<String>) {
    if let Some(s) = node.get("Value").and_then(Value::as_str) {
        found.insert(s.to_owned());
    }
    if let Some(items) = node.get("Set").and_then(Value::as_array) {
        items.iter().for_each(|item| strings(item, found));
    }
}

/// Whether any policy reads (or tests with `has`) the context attribute `name`. Attributes no
/// policy reads are left out of requests' contexts when the schema makes them optional: they
/// cannot change a decision, and some cost time to build (an `ip` value does).
pub(crate) fn reads_context_attr(policies: &PolicySet, name: &str) -> bool {
    policies
        .policies()
        .any(|policy| policy.to_json().map_or(true, |json| mentions(&json, name)))
}

fn mentions(node: &Value, name: &str) -> bool {
    match node {
        Value::Object(map) => {
            map.get("attr").and_then(Value::as_str) == Some(name)
                || map.values().any(|v| mentions(v, name))
        }
        Value::Array(items) => items.iter().any(|v| mentions(v, name)),
        _ => false,
    }
}
