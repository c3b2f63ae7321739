//! Authentication as an extractor, and the one authorization decision every route makes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::header;
use steward_access::{authorize, Action, Denied, Principal};

use crate::{ApiError, AppState};

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            tracing::debug!("no Authorization header");
            ApiError::unauthenticated()
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(ApiError::unauthenticated)?
            .to_owned();
        // Authentication reads the catalog; cheap enough to do inline.
        let principal = state.engine.authenticate(&token)?;
        Ok(Caller(principal))
    }
}

impl Caller {
    /// The decision for this request; denials are logged with their precise reason.
    pub fn may(&self, action: Action, tenant: Option<&str>) -> Result<(), ApiError> {
        authorize(&self.0, action, tenant).map_err(|denied| {
            tracing::info!(?action, reason = %denied, "denied");
            match denied {
                Denied::OtherTenant => ApiError::not_found("tenant"),
                other => ApiError::forbidden(other.to_string()),
            }
        })
    }
}
