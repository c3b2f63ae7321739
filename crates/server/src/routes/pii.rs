//! `POST .../pii/scan`: try the PII scanner on a text (for designing schemas): the findings,
//! and the text after the chosen action. Tokens use the tenant's own key, as ingest does.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_privacy::pii::{self, PiiAction};

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    text: String,
    /// redact (default), mask, tokenize or seal.
    #[serde(default)]
    action: Option<String>,
}

pub async fn scan(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<ScanBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let action = match request.action.as_deref() {
        None => PiiAction::Redact,
        Some(a) => PiiAction::parse(a).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_action",
                Some("action"),
                "expected redact, mask, tokenize or seal",
            )
        })?,
    };
    if request.text.len() > steward_privacy::limits::PII_SCAN_BYTES_MAX {
        return Err(ApiError::too_large(format!(
            "text is at most {} bytes",
            steward_privacy::limits::PII_SCAN_BYTES_MAX
        )));
    }
    let out = state
        .blocking(move |engine| {
            let findings = pii::scan(&request.text);
            let result = engine.pii_apply(&tenant, &request.text, &findings, action)?;
            let listed: Vec<Value> = findings
                .iter()
                .map(|f| json!({"entity": f.entity.as_str(), "start": f.start, "end": f.end, "confidence": f.confidence, "context": f.context}))
                .collect();
            Ok(json!({"findings": listed, "action": action.as_str(), "result": result}))
        })
        .await?;
    Ok(Json(out))
}
