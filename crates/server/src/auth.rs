//! Authentication and the one authorization decision every route goes through.
//!
//! `authorize_route` is a middleware on the whole router: it finds the route in [`ROUTES`]
//! by method and matched path, authenticates the bearer token, and asks for a decision on
//! the route's action and tenant. Handlers receive the outcome as the [`Authorized`]
//! extractor, which exists only if the middleware allowed the request, so a handler cannot
//! run without a decision. A route missing from the table is refused (fail closed).

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use steward_access::{authorize, Action, Denied, Principal};

use crate::{ApiError, AppState, ROUTES};

/// What the middleware established about an allowed request.
#[derive(Clone, Debug)]
pub struct Authorized {
    pub principal: Principal,
    pub action: Action,
    pub tenant: Option<String>,
}

impl Authorized {
    /// A further decision within an allowed request (e.g. opening personal fields), through
    /// the same decision function.
    pub fn also_may(&self, action: Action) -> bool {
        let allowed = authorize(&self.principal, action, self.tenant.as_deref()).is_ok();
        tracing::debug!(route_action = ?self.action, further = ?action, allowed, "further decision");
        allowed
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Authorized, ApiError> {
        parts.extensions.get::<Authorized>().cloned().ok_or_else(|| {
            tracing::error!("handler reached without an authorization decision");
            ApiError::internal()
        })
    }
}

pub(crate) fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let header = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        tracing::debug!("no Authorization header");
        ApiError::unauthenticated()
    })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(state.engine.authenticate(token)?)
}

pub(crate) async fn authorize_route(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(matched) = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
        // Unmatched requests reach the fallback (404) and carry no data.
        return next.run(Request::from_parts(parts, body)).await;
    };
    let method = parts.method.as_str().to_owned();
    let Some(spec) = ROUTES.iter().find(|r| r.method == method && r.path == matched) else {
        tracing::error!(%method, route = %matched, "route has no authorization rule; refused");
        return ApiError::forbidden("this route has no authorization rule").into_response();
    };
    let Some(action) = spec.action else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let principal = match authenticate(&state, &parts.headers) {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    let tenant = match RawPathParams::from_request_parts(&mut parts, &state).await {
        Ok(params) => params.iter().find(|(name, _)| *name == "tenant").map(|(_, value)| value.to_owned()),
        Err(rejection) => return rejection.into_response(),
    };
    if let Err(denied) = authorize(&principal, action, tenant.as_deref()) {
        tracing::info!(?action, reason = %denied, "denied");
        return match denied {
            Denied::OtherTenant => ApiError::not_found("tenant"),
            other => ApiError::forbidden(other.to_string()),
        }
        .into_response();
    }
    parts.extensions.insert(Authorized { principal, action, tenant });
    next.run(Request::from_parts(parts, body)).await
}
