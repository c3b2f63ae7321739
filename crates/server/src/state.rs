//! Shared state of the HTTP server.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use steward_engine::{Engine, EngineError};
use tokio::sync::Semaphore;

use steward_access::{Principal, RateLimit};

use crate::limits::ENGINE_CALLS_MAX;
use crate::ratelimit::RateLimiter;
use crate::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    ready: Arc<AtomicBool>,
    engine_calls: Arc<Semaphore>,
    pub(crate) limiter: Arc<RateLimiter>,
    /// Queries and data set builds running at once; each holds a memory pool of its own.
    queries: Arc<Semaphore>,
    pub datasets: Arc<steward_lineage::Datasets>,
    options: ServerOptions,
}

/// Queries at once; more wait up to [`QUERY_WAIT`], then get 503.
pub const QUERIES_MAX: usize = 4;
pub const QUERY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Deployment-wide settings of the HTTP edge.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// The rate limit of every key and user that has none of its own (`None`: unlimited).
    pub default_rate_limit: Option<RateLimit>,
    /// Where OpenLineage run events are POSTed, besides the file sink under the data directory.
    pub openlineage_url: Option<String>,
    /// How long a version superseded by an opt-out keeps its files (`None`: 24 hours).
    pub opt_out_grace: Option<std::time::Duration>,
    /// On erasure, only remove affected data set versions' files (no successor).
    pub erasure_marks_only: bool,
}

/// The process-wide Prometheus recorder (metrics has one global recorder).
pub(crate) fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Another recorder may already be installed (tests embedding several servers): keep it.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

impl AppState {
    pub fn new(engine: Arc<Engine>) -> AppState {
        AppState::with_options(engine, ServerOptions::default())
    }

    pub fn with_options(engine: Arc<Engine>, options: ServerOptions) -> AppState {
        prometheus();
        let config = steward_lineage::DatasetConfig {
            on_erasure: if options.erasure_marks_only { steward_lineage::OnErasure::MarkOnly } else { steward_lineage::OnErasure::Rebuild },
            opt_out_grace: options.opt_out_grace.unwrap_or(std::time::Duration::from_secs(24 * 3600)),
        };
        let sink = steward_lineage::openlineage::LineageSink::new(Some(engine.data_dir().join("lineage").join("openlineage.ndjson")), options.openlineage_url.clone());
        let datasets = steward_lineage::Datasets::new(engine.clone(), config, sink);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            engine.set_derived(Arc::new(crate::lineage_hook::LineageHook { datasets: datasets.clone(), handle }));
        }
        AppState {
            datasets,
            engine,
            ready: Arc::new(AtomicBool::new(true)),
            engine_calls: Arc::new(Semaphore::new(ENGINE_CALLS_MAX)),
            limiter: Arc::new(RateLimiter::default()),
            queries: Arc::new(Semaphore::new(QUERIES_MAX)),
            options,
        }
    }

    /// The principal's own limit, else the deployment default; the operator is not limited.
    pub(crate) fn rate_limit_of(&self, principal: &Principal) -> Option<RateLimit> {
        match principal {
            Principal::Operator => None,
            Principal::Key { rate_limit, .. } => rate_limit.or(self.options.default_rate_limit),
            Principal::User { .. } => self.options.default_rate_limit,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }

    /// A slot for a query or data set build.
    pub(crate) async fn query_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(QUERY_WAIT, self.queries.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ApiError::unavailable("shutting down")),
            Err(_) => Err(ApiError::unavailable(format!("{QUERIES_MAX} queries are running; retry later"))),
        }
    }

    /// Runs a blocking engine call on the blocking pool, at most ENGINE_CALLS_MAX at once.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.engine_calls.clone().acquire_owned().await.map_err(|_| ApiError::unavailable("shutting down"))?;
        let engine = self.engine.clone();
        match tokio::task::spawn_blocking(move || f(&engine)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(error) => {
                tracing::error!(%error, "engine task panicked");
                Err(ApiError::internal())
            }
        }
    }
}
