//! Consent and opt-out: a subject's decision per purpose (with its history), bulk import by
//! external id (NDJSON), and the tenant's regime per purpose (opt-out by default, or opt-in).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_crypto::Pseudonym;
use steward_engine::{Consent, ConsentSource, Regime};

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState};

/// Lines of one import request; the CLI sends bigger files in chunks.
pub const IMPORT_LINES_MAX: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    granted: bool,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    external_id: String,
    purpose: String,
    granted: bool,
    #[serde(default)]
    source: Option<String>,
    /// RFC 3339; default: now.
    #[serde(default)]
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimeBody {
    regime: String,
}

fn consent_json(c: &Consent) -> Value {
    json!({"purpose": c.purpose, "granted": c.granted, "source": c.source.as_str(), "at": c.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)})
}

fn source(text: Option<&str>, default: ConsentSource) -> Result<ConsentSource, ApiError> {
    match text {
        None => Ok(default),
        Some(s) => ConsentSource::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_source",
                Some("source"),
                "expected api, import or gpc",
            )
        }),
    }
}

fn subject(hex: &str) -> Result<Pseudonym, ApiError> {
    Pseudonym::parse_hex(hex).map_err(|_| {
        ApiError::bad_request(
            "invalid_subject",
            Some("subject"),
            "expected a 64-hex-digit pseudonym from subjects/resolve",
        )
    })
}

pub async fn put(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, subject_hex, purpose)): Path<(String, String, String)>,
    request: Result<Json<ConsentBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let subject = subject(&subject_hex)?;
    let source = source(request.source.as_deref(), ConsentSource::Api)?;
    let (t, p) = (tenant.clone(), purpose.clone());
    let consent = state
        .blocking(move |engine| engine.set_consent(&t, &subject, &p, request.granted, source, None))
        .await?;
    if request.granted {
        // After the commit: indexes catch up on the events they could not read before.
        state
            .indexes
            .consent_granted(&tenant, &purpose, vec![subject]);
    }
    Ok(Json(consent_json(&consent)))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, subject_hex)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let subject = subject(&subject_hex)?;
    let (current, history, regimes) = state
        .blocking(move |engine| {
            Ok((
                engine.consents(&tenant, &subject)?,
                engine.consent_history(&tenant, &subject)?,
                engine.consent_regimes(&tenant)?,
            ))
        })
        .await?;
    Ok(Json(json!({
        "consents": current.iter().map(consent_json).collect::<Vec<_>>(),
        "history": history.iter().map(consent_json).collect::<Vec<_>>(),
        "regimes": regimes.iter().map(|(p, r)| (p.clone(), json!(r))).collect::<serde_json::Map<_, _>>(),
    })))
}

/// NDJSON lines `{"external_id", "purpose", "granted", "source"?, "at"?}`; each line is
/// checked and applied on its own, and the answer lists the refused lines by number.
pub async fn import(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    text: Bytes,
) -> Result<Json<Value>, ApiError> {
    let text = std::str::from_utf8(&text)
        .map_err(|_| ApiError::bad_request("invalid_ndjson", None, "expected UTF-8 NDJSON"))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    if lines.len() > IMPORT_LINES_MAX {
        return Err(ApiError::too_large(format!(
            "at most {IMPORT_LINES_MAX} lines per request"
        )));
    }
    let mut parsed = Vec::with_capacity(lines.len());
    let mut rejected = Vec::new();
    for (index, line) in lines {
        let outcome = serde_json::from_str::<ImportLine>(line)
            .map_err(|e| ("invalid_json", crate::echo::json_message(&e)))
            .and_then(|l| {
                let source = source(l.source.as_deref(), ConsentSource::Import)
                    .map_err(|e| (e.code, e.detail))?;
                let at = l
                    .at
                    .as_deref()
                    .map(|t| {
                        chrono::DateTime::parse_from_rfc3339(t)
                            .map(|d| d.with_timezone(&chrono::Utc))
                            .map_err(|_| ("invalid_time", "expected an RFC 3339 time".to_owned()))
                    })
                    .transpose()?;
                Ok((l, source, at))
            });
        match outcome {
            Ok(ok) => parsed.push((index, ok)),
            Err((code, message)) => {
                rejected.push(json!({"index": index, "code": code, "message": message}))
            }
        }
    }
    // Every line checked first (subjects resolved, purposes and values valid), then the valid
    // ones applied together: one commit, and one ledger task per refused purpose, so data sets
    // are redone once per version, not once per line.
    let (accepted, more_rejected, granted, tenant) = state
        .blocking(move |engine| {
            let mut rejected = Vec::new();
            let mut changes = Vec::with_capacity(parsed.len());
            for (index, (line, source, at)) in parsed {
                match engine.resolve_subject(&tenant, &line.external_id) {
                    Ok(subject) => {
                        if let Err(steward_engine::EngineError::Invalid { code, message, .. }) =
                            engine.check_purpose(&line.purpose)
                        {
                            rejected
                                .push(json!({"index": index, "code": code, "message": message}));
                            continue;
                        }
                        changes.push(steward_engine::ConsentChange {
                            subject,
                            purpose: line.purpose,
                            granted: line.granted,
                            source,
                            at,
                        });
                    }
                    Err(steward_engine::EngineError::Invalid { code, message, .. }) => {
                        rejected.push(json!({"index": index, "code": code, "message": message}))
                    }
                    Err(other) => return Err(other),
                }
            }
            let accepted = if changes.is_empty() {
                0
            } else {
                engine.set_consents(&tenant, &changes)?.len() as u64
            };
            let mut granted: HashMap<String, Vec<Pseudonym>> = HashMap::new();
            for c in changes.iter().filter(|c| c.granted) {
                granted
                    .entry(c.purpose.clone())
                    .or_default()
                    .push(c.subject);
            }
            Ok((accepted, rejected, granted, tenant))
        })
        .await?;
    for (purpose, subjects) in granted {
        state.indexes.consent_granted(&tenant, &purpose, subjects);
    }
    rejected.extend(more_rejected);
    Ok(Json(
        json!({"accepted": accepted, "rejected_count": rejected.len(), "rejected": rejected}),
    ))
}

pub async fn put_regime(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, purpose)): Path<(String, String)>,
    request: Result<Json<RegimeBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let regime = match request.regime.as_str() {
        "opt_in" => Regime::OptIn,
        "opt_out" => Regime::OptOut,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_regime",
                Some("regime"),
                "expected opt_in or opt_out",
            ));
        }
    };
    let (t, p) = (tenant.clone(), purpose.clone());
    state
        .blocking(move |engine| engine.set_consent_regime(&t, &p, regime))
        .await?;
    state.indexes.regime_changed(&tenant, &purpose);
    Ok(Json(json!({"purpose": purpose, "regime": request.regime})))
}

pub async fn regimes(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let regimes = state
        .blocking(move |engine| engine.consent_regimes(&tenant))
        .await?;
    Ok(Json(
        json!({"default": "opt_out", "regimes": regimes.iter().map(|(p, r)| (p.clone(), json!(r))).collect::<serde_json::Map<_, _>>()}),
    ))
}
