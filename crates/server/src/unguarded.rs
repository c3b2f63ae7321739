//! The router with authorization and audit switched off, which exists only so benchmarks can
//! measure what authorization and audit cost (`steward-bench http-guard`); never used by the
//! `steward` binary.
//!
//! Compiled only with the `bench-unguarded` feature, which only `steward-bench` enables.
//! [`app_unguarded`] builds the same routes, body limit and observation layer as
//! [`app`](crate::app), but instead of `authorize_route` (authentication, rate limit, Cedar
//! decision, audit record) a middleware hands every request a fixed [`Authorized`]: an admin
//! key of the tenant in the path, no purpose, every field class visible, no policy ids. No
//! audit record is written. [`LoopbackServer`] serves either router on a loopback port from
//! its own thread and runtime, so a benchmark needs neither tokio nor axum itself.

use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use steward_access::{Principal, Role};
use steward_privacy::PrivacyClass;

use crate::auth::Authorized;
use crate::{AppState, limits, observe};

/// [`app`](crate::app) without authentication, authorization or audit. For benchmarks only.
pub fn app_unguarded(state: AppState) -> Router {
    crate::routes()
        .route_layer(axum::middleware::from_fn(allow_everything))
        .layer(axum::extract::DefaultBodyLimit::max(
            limits::JSON_BODY_BYTES_MAX,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// Inserts the fixed [`Authorized`] that `authorize_route` would have decided for a tenant's
/// admin key (the operator on deployment-wide routes), and records nothing.
async fn allow_everything(request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let tenant = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "tenant")
                .map(|(_, value)| value.to_owned())
        });
    let principal = match tenant {
        Some(tenant) => Principal::Key {
            tenant,
            key_id: "unguarded".to_owned(),
            role: Role::Admin,
            purposes: Vec::new(),
            rate_limit: None,
        },
        None => Principal::Operator,
    };
    parts
        .extensions
        .insert(Authorized::unguarded(principal, PrivacyClass::ALL.to_vec()));
    next.run(Request::from_parts(parts, body)).await
}

/// A router served on `127.0.0.1:0` from its own thread and multi-threaded tokio runtime
/// (configured as `steward serve` configures its own), with the client address available to
/// the authorization middleware as in [`serve`](crate::serve). Stopping it drains requests;
/// flushing the engine is the caller's.
pub struct LoopbackServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl LoopbackServer {
    pub fn start(router: Router) -> std::io::Result<LoopbackServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind((
            std::net::Ipv4Addr::LOCALHOST,
            0,
        )))?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("loopback-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    axum::serve(
                        listener,
                        router.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                })
            })?;
        Ok(LoopbackServer {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The bound address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, waits for open requests to finish and the server thread to end.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("loopback server thread panicked")),
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}
