//! Compliance reports: every decision about one subject (external id in the body, never the
//! URL), or everything one principal did in a time range; JSON or CSV (`?format=csv`).
//!
//! Audit records hold only ids and names from `[A-Za-z0-9_:/.-]`, so CSV fields never need
//! quoting; a list (policy ids) is joined with `;`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_engine::{Report, ReportFilter};
use steward_privacy::{format_timestamp_micros, parse_timestamp_micros};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState, wire};

const DEFAULT_ROWS: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    principal: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    after_index: Option<u64>,
    limit: Option<usize>,
}

enum Format {
    Json,
    Csv,
}

fn filter(params: &ReportParams) -> Result<(ReportFilter, Format), ApiError> {
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
    let format = match params.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_format",
                Some("format"),
                "expected json or csv",
            ));
        }
    };
    let filter = ReportFilter {
        subject: None,
        principal: params.principal.clone(),
        from_us: time("from", &params.from)?,
        to_us: time("to", &params.to)?,
        after_index: params.after_index,
        limit: params.limit.unwrap_or(DEFAULT_ROWS),
    };
    Ok((filter, format))
}

pub async fn subject(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<ReportParams>, QueryRejection>,
    request: Result<Json<wire::Resolve>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    let request = body(request)?;
    let (mut filter, format) = filter(&params)?;
    let (report, reference) = state
        .blocking(move |engine| {
            let subject = engine.resolve_subject(&tenant, &request.external_id)?;
            filter.subject = Some(subject);
            Ok((
                engine.audit_report(&tenant, &filter)?,
                engine.subject_ref(&tenant, &subject)?,
            ))
        })
        .await?;
    // Reading about a subject is an access to its data: this read is in its own report.
    let mut response = render(&report, format);
    response.extensions_mut().insert(AuditFacts {
        rows: report.rows.len() as u64,
        subjects: reference.into_iter().collect(),
        statement: None,
    });
    Ok(response)
}

pub async fn principal(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    if params.principal.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "invalid_principal",
            Some("principal"),
            "expected ?principal=key:<id>, user:<sub> or operator",
        ));
    }
    let (filter, format) = filter(&params)?;
    let report = state
        .blocking(move |engine| engine.audit_report(&tenant, &filter))
        .await?;
    Ok(render(&report, format))
}

const CSV_HEADER: &str = "index,time,principal,action,purpose,resource,decision,policy_ids,subject_count,result_rows,request_id\n";

fn render(report: &Report, format: Format) -> Response {
    match format {
        Format::Json => Json(json!({
            "subject_known": report.subject_known,
            "scanned": report.scanned,
            "truncated": report.truncated,
            "next_after_index": if report.truncated { report.rows.last().map(|(i, _)| *i) } else { None },
            "records": report.rows.iter().map(|(index, r)| json!({
                "index": index,
                "time": format_timestamp_micros(r.time_us).unwrap_or_default(),
                "principal": r.principal,
                "action": r.action,
                "purpose": r.purpose,
                "resource": r.resource,
                "decision": r.decision.as_str(),
                "policy_ids": r.policy_ids,
                "subject_count": r.subject_count,
                "result_rows": r.result_rows,
                "statement": r.statement,
                "request_id": r.request_id,
            })).collect::<Vec<Value>>(),
        }))
        .into_response(),
        Format::Csv => {
            let mut out = String::from(CSV_HEADER);
            for (index, r) in &report.rows {
                let fields = [
                    index.to_string(),
                    format_timestamp_micros(r.time_us).unwrap_or_default(),
                    r.principal.clone(),
                    r.action.clone(),
                    r.purpose.clone().unwrap_or_default(),
                    r.resource.clone(),
                    r.decision.as_str().to_owned(),
                    r.policy_ids.join(";"),
                    r.subject_count.to_string(),
                    r.result_rows.to_string(),
                    r.request_id.clone(),
                ];
                out.push_str(&fields.join(","));
                out.push('\n');
            }
            let mut response = out.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            if report.truncated {
                response.headers_mut().insert("steward-truncated", HeaderValue::from_static("true"));
            }
            response
        }
    }
}
