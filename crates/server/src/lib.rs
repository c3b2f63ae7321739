//! The HTTP API: routes, authentication, the one authorization call per route, problem+json
//! errors, metrics and request logging. The only crate that knows axum and wire shapes.
//!
//! Main items: [`app`] (the router, testable with `oneshot`), [`serve`] (bind, run, shut
//! down gracefully and flush), [`AppState`], [`ApiError`], [`ROUTES`] (the route table
//! the OpenAPI document and the route-enumeration tests are built from).

mod auth;
mod conn;
mod echo;
mod error;
pub mod limits;
mod observe;
mod openapi;
mod ratelimit;
mod routes;
mod state;
#[cfg(feature = "bench-unguarded")]
mod unguarded;
mod wire;

pub use conn::{FdBudget, fd_budget, open_fds, raise_fd_limit};
pub use error::ApiError;
pub use openapi::{ROUTES, RouteSpec, openapi_document};
pub use state::{AppState, ServerOptions, StartError};
#[cfg(feature = "bench-unguarded")]
pub use unguarded::{LoopbackServer, app_unguarded};

use axum::Router;
use axum::routing::{delete, get, post, put};
use std::net::SocketAddr;
use std::sync::Arc;
use steward_engine::Engine;

/// Builds the router over an open engine.
pub fn app(state: AppState) -> Router {
    routes()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize_route,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            limits::JSON_BODY_BYTES_MAX,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            conn::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// Every route and the fallback, before any middleware (shared with `app_unguarded`).
fn routes() -> Router<AppState> {
    use routes::*;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi))
        .route("/console", get(console::index))
        .route("/console/console.css", get(console::css))
        .route("/console/app.js", get(console::app_js))
        .route("/console/api.js", get(console::api_js))
        .route("/console/dom.js", get(console::dom_js))
        .route("/console/charts.js", get(console::charts_js))
        .route("/console/pages.js", get(console::pages_js))
        .route("/console/verify.js", get(console::verify_js))
        .route("/console/favicon.svg", get(console::favicon))
        .route("/v1/tenants/{tenant}/whoami", get(console::whoami))
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route("/v1/backup", post(routes::backup::create))
        .route(
            "/v1/tenants/{tenant}/keys",
            post(keys::create).get(keys::list),
        )
        .route("/v1/tenants/{tenant}/keys/{key_id}", delete(keys::revoke))
        .route(
            "/v1/tenants/{tenant}/identity",
            get(identity::get).put(identity::put),
        )
        .route(
            "/v1/tenants/{tenant}/policies",
            get(policies::get).put(policies::put),
        )
        .route(
            "/v1/tenants/{tenant}/policies/versions",
            get(policies::versions),
        )
        .route("/v1/tenants/{tenant}/policies/check", post(policies::check))
        .route("/v1/tenants/{tenant}/pii/scan", post(pii::scan))
        .route("/v1/tenants/{tenant}/schemas", get(schemas::list))
        .route(
            "/v1/tenants/{tenant}/schemas/{event_type}",
            put(schemas::put).get(schemas::get),
        )
        .route(
            "/v1/tenants/{tenant}/items",
            post(items::bulk).get(items::list),
        )
        .route(
            "/v1/tenants/{tenant}/items/{item_id}",
            put(items::put).get(items::get).delete(items::delete),
        )
        .route("/v1/tenants/{tenant}/events", post(events::ingest))
        .route(
            "/v1/tenants/{tenant}/subjects/resolve",
            post(subjects::resolve),
        )
        .route(
            "/v1/tenants/{tenant}/subjects/{subject}/consents",
            get(consents::get),
        )
        .route(
            "/v1/tenants/{tenant}/subjects/{subject}/consents/{purpose}",
            put(consents::put),
        )
        .route("/v1/tenants/{tenant}/consents", post(consents::import))
        .route(
            "/v1/tenants/{tenant}/consent-regimes",
            get(consents::regimes),
        )
        .route(
            "/v1/tenants/{tenant}/consent-regimes/{purpose}",
            put(consents::put_regime),
        )
        .route(
            "/v1/tenants/{tenant}/access-requests",
            post(access_requests::create),
        )
        .route("/v1/tenants/{tenant}/erasures", post(erasures::create))
        .route(
            "/v1/tenants/{tenant}/erasures/batch",
            post(erasures::create_batch),
        )
        .route(
            "/v1/tenants/{tenant}/erasures/{erasure_id}",
            get(erasures::get),
        )
        .route(
            "/v1/tenants/{tenant}/erasures/{erasure_id}/receipt",
            get(erasures::receipt),
        )
        .route(
            "/v1/tenants/{tenant}/subjects/{subject}/events",
            get(subjects::timeline),
        )
        .route("/v1/tenants/{tenant}/audit/head", get(audit::head))
        .route("/v1/tenants/{tenant}/audit/heads", get(audit::heads))
        .route(
            "/v1/tenants/{tenant}/audit/proofs/inclusion",
            get(audit::inclusion),
        )
        .route(
            "/v1/tenants/{tenant}/audit/proofs/consistency",
            get(audit::consistency),
        )
        .route("/v1/tenants/{tenant}/sql", post(sql::query))
        .route(
            "/v1/tenants/{tenant}/datasets",
            post(datasets::create).get(datasets::list),
        )
        .route(
            "/v1/tenants/{tenant}/datasets/{name}/versions",
            get(datasets::versions),
        )
        .route(
            "/v1/tenants/{tenant}/datasets/{name}/versions/{version}",
            get(datasets::get_version),
        )
        .route(
            "/v1/tenants/{tenant}/datasets/{name}/diff",
            get(datasets::diff),
        )
        .route(
            "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/files/{file}",
            get(datasets::file),
        )
        .route(
            "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/arrow",
            get(datasets::arrow),
        )
        .route(
            "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/links",
            post(datasets::links),
        )
        .route(
            "/v1/tenants/{tenant}/models",
            post(models::create).get(models::list),
        )
        .route("/v1/tenants/{tenant}/models/{name}", get(models::get))
        .route(
            "/v1/tenants/{tenant}/models/{name}/versions/{version}",
            get(models::get_version),
        )
        .route(
            "/v1/tenants/{tenant}/models/{name}/versions/{version}/cancel",
            post(models::cancel),
        )
        .route(
            "/v1/tenants/{tenant}/models/{name}/aliases/{alias}",
            put(models::put_alias),
        )
        .route(
            "/v1/tenants/{tenant}/subjects/{subject}/lineage",
            get(datasets::lineage),
        )
        .route(
            "/v1/tenants/{tenant}/recommendations",
            post(serving::recommend),
        )
        .route("/v1/tenants/{tenant}/rerank", post(serving::rerank))
        .route(
            "/v1/tenants/{tenant}/items/{item_id}/similar",
            post(serving::similar),
        )
        .route("/v1/tenants/{tenant}/popular", post(serving::popular))
        .route("/v1/tenants/{tenant}/embeddings", post(indexes::embeddings))
        .route(
            "/v1/tenants/{tenant}/indexes",
            post(indexes::create).get(indexes::list),
        )
        .route(
            "/v1/tenants/{tenant}/indexes/{name}",
            get(indexes::get).delete(indexes::delete),
        )
        .route(
            "/v1/tenants/{tenant}/indexes/{name}/search",
            post(indexes::search),
        )
        .route(
            "/v1/tenants/{tenant}/indexes/{name}/retrieve",
            post(indexes::retrieve),
        )
        .route(
            "/v1/tenants/{tenant}/indexes/{name}/answer",
            post(indexes::answer),
        )
        .route(
            "/v1/tenants/{tenant}/experiments",
            post(experiments::create).get(experiments::list),
        )
        .route(
            "/v1/tenants/{tenant}/experiments/{name}",
            get(experiments::get),
        )
        .route(
            "/v1/tenants/{tenant}/experiments/{name}/results",
            get(experiments::results),
        )
        .route(
            "/v1/tenants/{tenant}/experiments/{name}/stop",
            post(experiments::stop),
        )
        .route(
            "/v1/tenants/{tenant}/audit/reports/subject",
            post(reports::subject),
        )
        .route(
            "/v1/tenants/{tenant}/audit/reports/principal",
            get(reports::principal),
        )
        .fallback(routes::not_found)
}

/// Serves until `shutdown` resolves, then drains requests and flushes every tenant.
///
/// Raises the soft descriptor limit to the hard one and caps connections so that the
/// descriptors open now plus the configured reserve stay free for storage (see `conn.rs` for
/// the timeouts and the refusal of connections over the cap).
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine: Arc<Engine> = state.engine.clone();
    let router = app(state.clone());
    let addr: SocketAddr = listener.local_addr()?;
    let limits = state.connection_limits();
    let fds_soft = match conn::raise_fd_limit() {
        Ok(soft) => Some(soft),
        Err(error) => {
            tracing::warn!(%error, "descriptor limit unknown; connections capped by configuration only");
            None
        }
    };
    let budget = conn::fd_budget(&limits, fds_soft, conn::open_fds().unwrap_or(0));
    if budget.reserve_short {
        tracing::warn!(
            fds_soft,
            fds_open = budget.fds_open,
            fds_reserved = limits.fds_reserved,
            connections_max = budget.connections_max,
            "the descriptor limit cannot hold the configured reserve; raise `ulimit -n`"
        );
    }
    tracing::info!(%addr, connections_max = budget.connections_max, fds_soft, fds_open = budget.fds_open, "serving");
    conn::accept_loop(listener, router, limits, budget, shutdown).await;
    state.set_not_ready();
    let indexes = state.indexes.clone();
    let _ = tokio::task::spawn_blocking(move || indexes.shutdown()).await;
    tracing::info!("shutting down: flushing memtables");
    let flushed = tokio::task::spawn_blocking(move || engine.shutdown()).await;
    match flushed {
        Ok(Ok(())) => tracing::info!("flushed; bye"),
        Ok(Err(error)) => {
            tracing::error!(%error, "flush at shutdown failed; the WAL still holds every acknowledged event")
        }
        Err(error) => tracing::error!(%error, "flush task failed"),
    }
    Ok(())
}
