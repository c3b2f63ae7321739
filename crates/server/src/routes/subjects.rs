//! Subjects: resolve an external id (in the body, never the URL) to its pseudonym; read a
//! timeline for a declared purpose, with the field classes that purpose may not see masked.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;
use steward_crypto::Pseudonym;
use steward_engine::{Cursor, TimelineQuery};
use steward_privacy::{PrivacyClass, parse_timestamp_micros};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState, wire};
use axum::response::IntoResponse;

const DEFAULT_LIMIT: usize = 100;

pub async fn resolve(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<wire::Resolve>, JsonRejection>,
) -> Result<axum::response::Response, ApiError> {
    let request = body(request)?;
    let (subject, reference) = state
        .blocking(move |engine| {
            let subject = engine.resolve_subject(&tenant, &request.external_id)?;
            Ok((subject, engine.subject_ref(&tenant, &subject)?))
        })
        .await?;
    let mut response = Json(json!({"subject": subject.to_hex()})).into_response();
    response.extensions_mut().insert(AuditFacts {
        rows: 1,
        subjects: reference.into_iter().collect(),
        statement: None,
    });
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    #[allow(
        dead_code,
        reason = "read by the authorization middleware; listed so the query is checked whole"
    )]
    purpose: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "type")]
    types: Option<String>,
}

pub async fn timeline(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, subject)): Path<(String, String)>,
    params: Result<Query<TimelineParams>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    let subject = Pseudonym::parse_hex(&subject).map_err(|_| {
        ApiError::bad_request(
            "invalid_subject",
            Some("subject"),
            "expected a 64-hex-digit pseudonym from subjects/resolve",
        )
    })?;
    // The middleware refused a read without a purpose; what it decided is what the caller sees.
    let purpose = auth.purpose.clone().unwrap_or_default();
    let visible = auth.visible.clone();
    let time = |field: &str, text: &Option<String>| -> Result<Option<i64>, ApiError> {
        text.as_deref()
            .map(|t| {
                parse_timestamp_micros(t).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_time",
                        Some(field),
                        "expected an RFC 3339 timestamp",
                    )
                })
            })
            .transpose()
    };
    let query = TimelineQuery {
        subject,
        from_us: time("from", &params.from)?,
        to_us: time("to", &params.to)?,
        types: params
            .types
            .map(|t| t.split(',').map(str::to_owned).collect()),
        cursor: params.cursor.as_deref().map(Cursor::decode).transpose()?,
        limit: params.limit.unwrap_or(DEFAULT_LIMIT),
    };
    let access = auth.read_access();
    let (page, reference) = state
        .blocking(move |engine| {
            let guard = engine.read_guard(&tenant, access)?;
            let page = engine.timeline(&guard, &query)?;
            let reference = engine.subject_ref(&tenant, &query.subject)?;
            Ok((page, reference))
        })
        .await?;
    let facts = AuditFacts {
        rows: page.events.len() as u64,
        subjects: reference.into_iter().collect(),
        statement: None,
    };
    let mut response = Json(json!({
        "subject": subject.to_hex(),
        "purpose": purpose,
        "decided_by": auth.policy_ids,
        "visible_classes": visible.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "masked_classes": PrivacyClass::ALL.into_iter().filter(|c| !visible.contains(c)).map(|c| c.as_str()).collect::<Vec<_>>(),
        "events": page.events.iter().map(wire::timeline_event).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.encode()),
    }))
    .into_response();
    response.extensions_mut().insert(facts);
    Ok(response)
}
