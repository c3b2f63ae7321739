//! The one API error type and its single mapping to status codes and problem+json bodies.
//!
//! Authentication failures are vague to the client and precise in the logs; internal
//! errors never leak details. Every body carries a stable `code` clients can match on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use steward_engine::EngineError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub errors: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
        }
    }

    pub fn bad_request(
        code: &'static str,
        field: Option<&str>,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            field: field.map(str::to_owned),
            ..ApiError::new(StatusCode::BAD_REQUEST, code, detail)
        }
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn too_large(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// The tenant's stored state failed a check at start; the detail says so without naming
    /// files (the server log does).
    pub fn tenant_unavailable(tenant: &str) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant_unavailable",
            format!(
                "tenant {tenant} is unavailable: its stored data failed an integrity check when the server started; an operator must restore it (the server log names the file)"
            ),
        )
    }

    /// A stored file failed its integrity check while being read. Logged with the file and
    /// counted; the answer names no file. Nothing is deleted or rewritten because of it.
    pub fn storage_damaged(file: &str, reason: &str) -> ApiError {
        tracing::error!(
            file,
            error = reason,
            "a stored file failed its integrity check while being read; it was left as it is. \
             Stop the server and restore the file from a backup; until then reads that reach it fail"
        );
        metrics::counter!("steward_storage_damaged_total").increment(1);
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_damaged",
            "a stored file this request read failed its integrity check; nothing was changed, and the server log names the file for the operator",
        )
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has details under this request id",
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        match error {
            EngineError::Unauthenticated { reason } => {
                tracing::warn!(reason, "authentication failed");
                ApiError::unauthenticated()
            }
            EngineError::NotFound { what } => ApiError::not_found(what),
            EngineError::TenantUnavailable { tenant } => ApiError::tenant_unavailable(&tenant),
            EngineError::Conflict { what } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            EngineError::Invalid {
                code,
                field,
                message,
            } => ApiError::bad_request(code, field.as_deref(), message),
            EngineError::Schema(e) => {
                ApiError::bad_request("invalid_schema", e.field(), e.to_string())
            }
            EngineError::Fields(errors) => {
                let mut api = ApiError::bad_request(
                    "invalid_properties",
                    None,
                    "properties do not match the schema",
                );
                api.errors = errors
                    .iter()
                    .map(|e| json!({"field": e.field, "code": e.code.code(), "message": e.message}))
                    .collect();
                api
            }
            EngineError::Limit(message) => ApiError::too_large(message),
            other if other.damaged_file().is_some() => {
                let file = other
                    .damaged_file()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default();
                ApiError::storage_damaged(&file, &other.to_string())
            }
            EngineError::Store(steward_store::StoreError::Poisoned) => {
                tracing::error!("store poisoned after an I/O failure");
                ApiError::unavailable("storage failed; the server must be restarted to recover")
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl ApiError {
    /// The problem document (what the response body holds; also sent as a server-sent
    /// `error` event when a stream fails after it started).
    pub fn problem_json(&self) -> Value {
        let mut body = json!({
            "type": format!("https://steward.dev/problems/{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(field) = &self.field {
            body["field"] = Value::String(field.clone());
        }
        if !self.errors.is_empty() {
            body["errors"] = Value::Array(self.errors.clone());
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.problem_json();
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Maps axum's body/JSON extraction failures to our problem shape.
/// The problem names the field path and position, never the value or an unknown field's name.
pub(crate) fn from_json_rejection(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    crate::echo::json_rejection(rejection)
}

impl From<steward_query::QueryError> for ApiError {
    fn from(error: steward_query::QueryError) -> ApiError {
        use steward_query::QueryError as Q;
        let code = error.code();
        match error {
            Q::Engine(e) => ApiError::from(e),
            Q::Damaged {
                ref file,
                ref reason,
            } => ApiError::storage_damaged(&file.display().to_string(), reason),
            Q::Internal(message) => {
                tracing::error!(%message, "query failed");
                ApiError::internal()
            }
            Q::InvalidRequest { field, ref message } => {
                ApiError::bad_request(code, Some(field), message.clone())
            }
            Q::InvalidSql { .. }
            | Q::NotAllowed { .. }
            | Q::UnknownTable { .. }
            | Q::TooComplex { .. }
            | Q::ResourceLimit(_)
            | Q::Evaluation { .. } => ApiError::bad_request(code, Some("sql"), error.to_string()),
            Q::TooManyRows { .. } | Q::TooManyBytes { .. } | Q::Memory { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, error.to_string())
            }
            Q::MemoryBusy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, error.to_string())
            }
            Q::Timeout { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, code, error.to_string())
            }
            Q::Pool(steward_query::PoolError::Busy { .. }) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, error.to_string())
            }
            Q::Pool(other) => {
                tracing::error!(error = %other, "heavy work failed");
                ApiError::internal()
            }
        }
    }
}

impl From<steward_lineage::LineageError> for ApiError {
    fn from(error: steward_lineage::LineageError) -> ApiError {
        use steward_lineage::LineageError as L;
        match error {
            L::Invalid {
                code,
                field,
                message,
            } => ApiError::bad_request(code, field, message),
            L::NotFound { what } => ApiError::not_found(what),
            L::Gone { message } => ApiError::new(StatusCode::GONE, "dataset_version_gone", message),
            L::Stale { message, successor } => {
                let mut api = ApiError::new(StatusCode::CONFLICT, "dataset_version_stale", message);
                api.errors = successor
                    .map(|v| json!({"successor": v}))
                    .into_iter()
                    .collect();
                api
            }
            L::Forbidden { message } => {
                ApiError::new(StatusCode::FORBIDDEN, "dataset_purpose_forbidden", message)
            }
            L::Query(q) => ApiError::from(q),
            L::Engine(e) => ApiError::from(e),
            other => {
                tracing::error!(error = %other, "data set failure");
                ApiError::internal()
            }
        }
    }
}

impl From<steward_serve::ServeError> for ApiError {
    fn from(error: steward_serve::ServeError) -> ApiError {
        use steward_serve::ServeError as S;
        match error {
            S::Invalid {
                code,
                field,
                message,
            } => ApiError::bad_request(code, field, message),
            S::NotFound { what } => ApiError::not_found(what),
            S::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            S::OverBudget { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "model_memory_over_budget",
                error.to_string(),
            ),
            S::QueueFull { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model_queue_full",
                error.to_string(),
            ),
            S::Lineage(l) => ApiError::from(l),
            S::Engine(e) => ApiError::from(e),
            S::Upstream { code, message } => {
                tracing::warn!(code, error = %message, "upstream failure");
                ApiError::new(StatusCode::BAD_GATEWAY, code, message)
            }
            S::Busy { code, message } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            }
            other => {
                tracing::error!(error = %other, "model registry failure");
                ApiError::internal()
            }
        }
    }
}

impl From<steward_query::PoolError> for ApiError {
    fn from(error: steward_query::PoolError) -> ApiError {
        ApiError::from(steward_query::QueryError::Pool(error))
    }
}
